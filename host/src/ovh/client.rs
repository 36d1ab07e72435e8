//! The signed OVH client: one request path with rate limiting, signing, clock offset,
//! retries and error classification; one method per endpoint the product uses.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::{HeaderValue, Method};
use rand::SeedableRng;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::{debug, warn};

use super::credentials::Credentials;
use super::endpoint::Endpoint;
use super::error::{classify, OvhError};
use super::metrics::RequestMetrics;
use super::models::*;
use super::ratelimit::{RateLimit, RateLimiter};
use super::retry::RetryPolicy;
use super::signature::sign;
use crate::clock::Clock;

/// Settings of a client.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Which API.
    pub endpoint: Endpoint,
    /// Who calls.
    pub credentials: Credentials,
    /// Client-side request budget.
    pub rate_limit: RateLimit,
    /// Retries of transient errors.
    pub retry: RetryPolicy,
    /// Timeout of one request (real time).
    pub timeout: Duration,
    /// Connect timeout (real time).
    pub connect_timeout: Duration,
    /// How often the clock offset is re-learned from `GET /auth/time` (real time).
    pub time_refresh: Duration,
    /// The controller's clock (the rate limiter counts guide time).
    pub clock: Clock,
    /// Where every exchange is counted (none: not counted).
    pub metrics: Option<RequestMetrics>,
}

impl ClientConfig {
    /// Defaults: 40 requests/minute burst 5, 4 attempts, 30 s timeout, offset refreshed every
    /// 15 minutes, real-time clock.
    pub fn new(endpoint: Endpoint, credentials: Credentials) -> Self {
        Self {
            endpoint,
            credentials,
            rate_limit: RateLimit::default(),
            retry: RetryPolicy::default(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            time_refresh: Duration::from_secs(15 * 60),
            clock: Clock::default(),
            metrics: None,
        }
    }
}

/// Routes as OVH documents them: the `endpoint` label of [`RequestMetrics`] (never a path with
/// ids in it).
pub mod route {
    /// `GET /auth/time`.
    pub const AUTH_TIME: &str = "/auth/time";
    /// `GET /auth/currentCredential`.
    pub const CURRENT_CREDENTIAL: &str = "/auth/currentCredential";
    /// `GET /order/catalog/public/cloud`.
    pub const PUBLIC_CATALOG: &str = "/order/catalog/public/cloud";
    /// `GET /cloud/project/{serviceName}/capabilities/kube/flavors`.
    pub const CAPABILITY_FLAVORS: &str = "/cloud/project/{serviceName}/capabilities/kube/flavors";
    /// The cluster.
    pub const CLUSTER: &str = "/cloud/project/{serviceName}/kube/{kubeId}";
    /// Flavors of the cluster.
    pub const CLUSTER_FLAVORS: &str = "/cloud/project/{serviceName}/kube/{kubeId}/flavors";
    /// Node pools.
    pub const POOLS: &str = "/cloud/project/{serviceName}/kube/{kubeId}/nodepool";
    /// One node pool.
    pub const POOL: &str = "/cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}";
    /// Nodes of one pool.
    pub const POOL_NODES: &str =
        "/cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}/nodes";
    /// Nodes of the cluster.
    pub const NODES: &str = "/cloud/project/{serviceName}/kube/{kubeId}/node";
    /// One node.
    pub const NODE: &str = "/cloud/project/{serviceName}/kube/{kubeId}/node/{nodeId}";
}

#[derive(Clone, Copy, Debug)]
struct TimeOffset {
    /// Server time minus local time, seconds.
    secs: i64,
    learned: Instant,
}

struct Inner {
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    limiter: RateLimiter,
    retry: RetryPolicy,
    time_refresh: Duration,
    offset: Mutex<Option<TimeOffset>>,
    sync_lock: tokio::sync::Mutex<()>,
    rng: Mutex<rand::rngs::StdRng>,
    metrics: Option<RequestMetrics>,
}

/// The OVH API client. Cheap to clone; clones share the rate limiter and clock offset.
#[derive(Clone)]
pub struct OvhClient {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OvhClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OvhClient")
            .field("base", &self.inner.base)
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

fn local_now_secs() -> i64 {
    jiff::Timestamp::now().as_second()
}

impl OvhClient {
    /// Builds a client.
    pub fn new(config: ClientConfig) -> Result<Self, OvhError> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("karpenter-ovhcloud/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OvhError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                base: config.endpoint.base_url().trim_end_matches('/').to_string(),
                credentials: config.credentials,
                limiter: RateLimiter::new(config.rate_limit, config.clock),
                retry: config.retry,
                time_refresh: config.time_refresh,
                offset: Mutex::new(None),
                sync_lock: tokio::sync::Mutex::new(()),
                rng: Mutex::new(rand::rngs::StdRng::from_os_rng()),
                metrics: config.metrics,
            }),
        })
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// The rate limiter (e.g. to report its budget).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The learned offset of the server clock (seconds), if learned yet.
    pub fn clock_offset(&self) -> Option<i64> {
        self.lock_offset().map(|o| o.secs)
    }

    fn lock_offset(&self) -> Option<TimeOffset> {
        *self.inner.offset.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<url::Url, OvhError> {
        let mut url = url::Url::parse(&format!("{}{path}", self.inner.base))
            .map_err(|e| OvhError::Config(format!("invalid URL for {path}: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Makes sure the clock offset is fresh, learning it (once, however many callers wait)
    /// when missing or older than the refresh period. Returns it.
    async fn fresh_offset(&self) -> Result<i64, OvhError> {
        let fresh = |o: Option<TimeOffset>| {
            o.filter(|o| o.learned.elapsed() < self.inner.time_refresh)
                .map(|o| o.secs)
        };
        if let Some(secs) = fresh(self.lock_offset()) {
            return Ok(secs);
        }
        let _one_sync = self.inner.sync_lock.lock().await;
        match fresh(self.lock_offset()) {
            Some(secs) => Ok(secs),
            None => self.sync_time().await,
        }
    }

    /// Learns the server clock offset from `GET /auth/time` now; returns it.
    ///
    /// The future's type is spelled out (boxed, `Send`) because `call` learns the offset through
    /// this function: async recursion, whose auto traits the compiler cannot infer.
    pub fn sync_time(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<i64, OvhError>> + Send + '_>>
    {
        Box::pin(async move {
            let server = self.server_time().await?;
            let secs = server - local_now_secs();
            *self.inner.offset.lock().unwrap_or_else(|e| e.into_inner()) = Some(TimeOffset {
                secs,
                learned: Instant::now(),
            });
            debug!(offset_secs = secs, "OVH clock offset learned");
            Ok(secs)
        })
    }

    #[allow(clippy::too_many_arguments)]
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<String>,
        signed: bool,
    ) -> Result<T, OvhError> {
        let url = self.url(path, query)?;
        let body = body.unwrap_or_default();
        let mut attempt = 0u32;
        let mut resynced = false;
        loop {
            attempt += 1;
            // The offset first: learning it is a request of its own, with its own token.
            let offset = if signed {
                Some(self.fresh_offset().await?)
            } else {
                None
            };
            self.inner.limiter.acquire().await;
            let timestamp = offset.map(|o| local_now_secs() + o);
            let started = Instant::now();
            let result = self.send_once(&method, path, &url, &body, timestamp).await;
            let elapsed = started.elapsed();
            let elapsed_ms = elapsed.as_millis() as u64;
            if let Some(m) = &self.inner.metrics {
                let status = match &result {
                    Ok((_, _, status)) => status.to_string(),
                    Err(OvhError::Api { status, .. }) => status.to_string(),
                    Err(_) => "transport".to_string(),
                };
                m.observe(method.as_str(), route, &status, elapsed.as_secs_f64());
            }
            match result {
                Ok((bytes, query_id, _)) => {
                    debug!(%method, path, attempt, elapsed_ms, query_id = query_id.as_deref().unwrap_or("-"), "OVH call ok");
                    let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
                    return serde_json::from_slice(bytes).map_err(|source| OvhError::Decode {
                        method: method.to_string(),
                        path: path.to_string(),
                        query_id,
                        source,
                    });
                }
                Err(e) if signed && e.is_time_error() && !resynced => {
                    warn!(%method, path, error = %e, "OVH refused the timestamp; re-learning the clock offset");
                    resynced = true;
                    self.sync_time().await?;
                }
                Err(e) if e.is_transient() && attempt < self.inner.retry.max_attempts => {
                    let backoff = {
                        let mut rng = self.inner.rng.lock().unwrap_or_else(|e| e.into_inner());
                        self.inner.retry.backoff(attempt, &mut *rng)
                    };
                    warn!(%method, path, attempt, backoff_ms = backoff.as_millis() as u64, error = %e, "transient OVH error, retrying");
                    tokio::time::sleep(backoff).await;
                }
                Err(e) => {
                    debug!(%method, path, attempt, elapsed_ms, error = %e, "OVH call failed");
                    return Err(e);
                }
            }
        }
    }

    /// One HTTP exchange: the body bytes, query id and status of a success, or a classified
    /// error.
    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        url: &url::Url,
        body: &str,
        timestamp: Option<i64>,
    ) -> Result<(bytes::Bytes, Option<String>, u16), OvhError> {
        let transport = |source| OvhError::Transport {
            method: method.to_string(),
            path: path.to_string(),
            source,
        };
        let mut req = self
            .inner
            .http
            .request(method.clone(), url.clone())
            .header(http::header::ACCEPT, "application/json");
        if !body.is_empty() {
            req = req
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
        }
        if let Some(ts) = timestamp {
            let c = &self.inner.credentials;
            let signature = sign(
                c.application_secret(),
                c.consumer_key(),
                method.as_str(),
                url.as_str(),
                body,
                ts,
            );
            req = req
                .header("X-Ovh-Application", sensitive(c.application_key()))
                .header("X-Ovh-Consumer", sensitive(c.consumer_key()))
                .header("X-Ovh-Timestamp", ts.to_string())
                .header("X-Ovh-Signature", sensitive(&signature));
        }
        let resp = req.send().await.map_err(transport)?;
        let status = resp.status();
        let query_id = resp
            .headers()
            .get("x-ovh-queryid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let bytes = resp.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok((bytes, query_id, status.as_u16()));
        }
        let parsed: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let field = |k: &str| parsed.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let class = field("class");
        let error_code = field("errorCode");
        let message = field("message").unwrap_or_else(|| {
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).into_owned()
        });
        let kind = classify(
            status.as_u16(),
            class.as_deref(),
            error_code.as_deref(),
            &message,
        );
        Err(OvhError::Api {
            method: method.to_string(),
            path: path.to_string(),
            status: status.as_u16(),
            class,
            error_code,
            message,
            query_id,
            kind,
        })
    }

    async fn get<T: DeserializeOwned>(
        &self,
        route: &'static str,
        path: &str,
    ) -> Result<T, OvhError> {
        self.call(Method::GET, route, path, &[], None, true).await
    }

    async fn send_json<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        route: &'static str,
        path: &str,
        body: &B,
    ) -> Result<T, OvhError> {
        let body = serde_json::to_string(body)
            .map_err(|e| OvhError::Config(format!("cannot encode the request body: {e}")))?;
        self.call(method, route, path, &[], Some(body), true).await
    }

    /// `GET /auth/time` (unsigned): the server's Unix time.
    pub async fn server_time(&self) -> Result<i64, OvhError> {
        self.call(
            Method::GET,
            route::AUTH_TIME,
            "/auth/time",
            &[],
            None,
            false,
        )
        .await
    }

    /// `GET /auth/currentCredential`: the consumer key's status and access rules.
    pub async fn current_credential(&self) -> Result<CurrentCredential, OvhError> {
        self.get(route::CURRENT_CREDENTIAL, "/auth/currentCredential")
            .await
    }

    /// `GET /cloud/project/{serviceName}/kube/{kubeId}`.
    pub async fn cluster(&self, c: &ClusterRef) -> Result<KubeCluster, OvhError> {
        self.get(route::CLUSTER, &c.path()).await
    }

    /// `GET .../nodepool`.
    pub async fn list_node_pools(&self, c: &ClusterRef) -> Result<Vec<NodePool>, OvhError> {
        self.get(route::POOLS, &format!("{}/nodepool", c.path()))
            .await
    }

    /// `GET .../nodepool/{id}`.
    pub async fn node_pool(&self, c: &ClusterRef, pool_id: &str) -> Result<NodePool, OvhError> {
        self.get(route::POOL, &format!("{}/nodepool/{pool_id}", c.path()))
            .await
    }

    /// `POST .../nodepool`: the created pool (it may be missing from GET for a short while).
    pub async fn create_node_pool(
        &self,
        c: &ClusterRef,
        body: &NodePoolCreate,
    ) -> Result<NodePool, OvhError> {
        self.send_json(
            Method::POST,
            route::POOLS,
            &format!("{}/nodepool", c.path()),
            body,
        )
        .await
    }

    /// `PUT .../nodepool/{id}`.
    pub async fn update_node_pool(
        &self,
        c: &ClusterRef,
        pool_id: &str,
        body: &NodePoolUpdate,
    ) -> Result<(), OvhError> {
        let _: serde_json::Value = self
            .send_json(
                Method::PUT,
                route::POOL,
                &format!("{}/nodepool/{pool_id}", c.path()),
                body,
            )
            .await?;
        Ok(())
    }

    /// `DELETE .../nodepool/{id}`.
    pub async fn delete_node_pool(&self, c: &ClusterRef, pool_id: &str) -> Result<(), OvhError> {
        let _: serde_json::Value = self
            .call(
                Method::DELETE,
                route::POOL,
                &format!("{}/nodepool/{pool_id}", c.path()),
                &[],
                None,
                true,
            )
            .await?;
        Ok(())
    }

    /// `GET .../nodepool/{id}/nodes`.
    pub async fn node_pool_nodes(
        &self,
        c: &ClusterRef,
        pool_id: &str,
    ) -> Result<Vec<Node>, OvhError> {
        self.get(
            route::POOL_NODES,
            &format!("{}/nodepool/{pool_id}/nodes", c.path()),
        )
        .await
    }

    /// `GET .../node`: every node of the cluster in one call.
    pub async fn list_nodes(&self, c: &ClusterRef) -> Result<Vec<Node>, OvhError> {
        self.get(route::NODES, &format!("{}/node", c.path())).await
    }

    /// `GET .../node/{nodeId}`.
    pub async fn node(&self, c: &ClusterRef, node_id: &str) -> Result<Node, OvhError> {
        self.get(route::NODE, &format!("{}/node/{node_id}", c.path()))
            .await
    }

    /// `DELETE .../node/{nodeId}` (also lowers the pool's desiredNodes). Not in the guide's
    /// permission list: the controller removes nodes with `nodesToRemove` instead.
    pub async fn delete_node(&self, c: &ClusterRef, node_id: &str) -> Result<(), OvhError> {
        let _: serde_json::Value = self
            .call(
                Method::DELETE,
                route::NODE,
                &format!("{}/node/{node_id}", c.path()),
                &[],
                None,
                true,
            )
            .await?;
        Ok(())
    }

    /// `GET .../flavors`: flavors the cluster can use.
    pub async fn cluster_flavors(&self, c: &ClusterRef) -> Result<Vec<KubeFlavor>, OvhError> {
        self.get(route::CLUSTER_FLAVORS, &format!("{}/flavors", c.path()))
            .await
    }

    /// `GET /cloud/project/{serviceName}/capabilities/kube/flavors?region=`.
    pub async fn capability_flavors(
        &self,
        service_name: &str,
        region: &str,
    ) -> Result<Vec<KubeFlavor>, OvhError> {
        self.call(
            Method::GET,
            route::CAPABILITY_FLAVORS,
            &format!("/cloud/project/{service_name}/capabilities/kube/flavors"),
            &[("region", region)],
            None,
            true,
        )
        .await
    }

    /// `GET /order/catalog/public/cloud?ovhSubsidiary=` (unsigned): public prices.
    pub async fn public_catalog(&self, subsidiary: &str) -> Result<PublicCatalog, OvhError> {
        self.call(
            Method::GET,
            route::PUBLIC_CATALOG,
            "/order/catalog/public/cloud",
            &[("ovhSubsidiary", subsidiary)],
            None,
            false,
        )
        .await
    }
}

fn sensitive(value: &str) -> HeaderValue {
    let mut v = HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""));
    v.set_sensitive(true);
    v
}
