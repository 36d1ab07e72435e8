//! The HTTP face of the simulated OVH API: routes, authentication, fault injection, the request
//! log and the `/_sim/*` inspection endpoints.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::auth::{self, SimCredential};
use super::catalog;
use super::error::ApiError;
use super::faults::{Fault, FaultSpec, Faults};
use super::state::{NodeEvent, World};

/// Prefix of every OVH route.
pub const API_PREFIX: &str = "/1.0";

/// One request as the simulator saw it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestRecord {
    /// Order of arrival, from 1.
    pub seq: u64,
    /// When it arrived.
    pub at: Timestamp,
    /// HTTP method.
    pub method: String,
    /// Path under `/1.0`, e.g. `/cloud/project/x/kube/y/nodepool`.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// Endpoint key (`"PUT /cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}"`).
    pub endpoint: String,
    /// JSON body, if any (non-JSON bodies are kept as a string).
    pub body: Option<Value>,
    /// Status answered.
    pub status: u16,
    /// Injected fault, if any.
    pub fault: Option<String>,
    /// The `X-Ovh-QueryID` answered.
    pub query_id: String,
    /// Microseconds from its arrival to the answer (injected latency included).
    #[serde(default)]
    pub micros: u64,
}

/// State shared by the handlers.
pub(crate) struct Shared {
    pub(crate) world: Mutex<World>,
    pub(crate) faults: Mutex<Faults>,
    pub(crate) log: Mutex<Vec<RequestRecord>>,
    pub(crate) credentials: Mutex<Vec<SimCredential>>,
    pub(crate) events: broadcast::Sender<NodeEvent>,
    pub(crate) clock_skew_secs: i64,
    pub(crate) timestamp_window_secs: i64,
    pub(crate) seq: AtomicU64,
    pub(crate) started: Instant,
}

/// Locks a mutex, recovering from poisoning (a panicking handler must not wedge the server).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Shared {
    /// Server time as OVH reports it (Unix seconds, with the configured skew).
    pub(crate) fn server_time(&self) -> i64 {
        Timestamp::now().as_second() + self.clock_skew_secs
    }

    /// An `X-Ovh-QueryID` in OVH's style.
    pub(crate) fn query_id(&self, seq: u64) -> String {
        format!(
            "EU.ext-sim.{:08x}.{seq}.{:04x}",
            self.started.elapsed().as_millis() as u32,
            seq % 0xffff
        )
    }

    /// The world, advanced to now.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        let mut w = lock(&self.world);
        w.tick(Instant::now());
        w
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Routes that need no signature.
fn is_public(route: &str) -> bool {
    route == "/auth/time" || route.starts_with("/order/catalog/public/")
}

/// Builds the router.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let kube = "/1.0/cloud/project/{serviceName}/kube/{kubeId}";
    Router::new()
        .route("/1.0/auth/time", get(auth_time))
        .route("/1.0/auth/currentCredential", get(current_credential))
        .route("/1.0/order/catalog/public/cloud", get(public_catalog))
        .route(
            "/1.0/cloud/project/{serviceName}/capabilities/kube/flavors",
            get(capability_flavors),
        )
        .route(kube, get(get_cluster))
        .route(&format!("{kube}/flavors"), get(cluster_flavors))
        .route(
            &format!("{kube}/nodepool"),
            get(list_pools).post(create_pool),
        )
        .route(
            &format!("{kube}/nodepool/{{nodePoolId}}"),
            get(get_pool).put(update_pool).delete(delete_pool),
        )
        .route(
            &format!("{kube}/nodepool/{{nodePoolId}}/nodes"),
            get(pool_nodes),
        )
        .route(&format!("{kube}/node"), get(cluster_nodes))
        .route(
            &format!("{kube}/node/{{nodeId}}"),
            get(get_node).delete(delete_node),
        )
        .route_layer(axum::middleware::from_fn_with_state(shared.clone(), front))
        .route("/_sim/state", get(sim_state))
        .route(
            "/_sim/requests",
            get(sim_requests).delete(sim_clear_requests),
        )
        .route(
            "/_sim/faults",
            get(sim_faults).put(sim_set_faults).delete(sim_clear_faults),
        )
        .fallback(fallback)
        .with_state(shared)
}

async fn fallback(State(sh): State<Arc<Shared>>) -> Response {
    let mut response = ApiError::not_found("Got an invalid (or empty) URL").into_response();
    if let Ok(v) = HeaderValue::from_str(&sh.query_id(sh.seq.fetch_add(1, Ordering::SeqCst) + 1)) {
        response.headers_mut().insert("x-ovh-queryid", v);
    }
    response
}

/// Front of every OVH route: fault injection, authentication, request log, query id.
async fn front(
    State(sh): State<Arc<Shared>>,
    matched: MatchedPath,
    req: Request,
    next: Next,
) -> Response {
    let arrived = std::time::Instant::now();
    let seq = sh.seq.fetch_add(1, Ordering::SeqCst) + 1;
    let query_id = sh.query_id(seq);
    let (parts, body) = req.into_parts();
    let method = parts.method.clone();
    let route = matched
        .as_str()
        .strip_prefix(API_PREFIX)
        .unwrap_or(matched.as_str())
        .to_string();
    let path = parts
        .uri
        .path()
        .strip_prefix(API_PREFIX)
        .unwrap_or(parts.uri.path())
        .to_string();
    let query = parts.uri.query().map(str::to_string);
    let endpoint = format!("{method} {route}");
    let bytes = axum::body::to_bytes(body, 4 << 20)
        .await
        .unwrap_or_default();
    let logged_body = (!bytes.is_empty()).then(|| {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    });

    let (fault, latency) = lock(&sh.faults).decide(&endpoint);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let mut response = match fault {
        Some(Fault::Drop) => dropped(),
        Some(Fault::Status(429)) => ApiError::too_many_requests().into_response(),
        Some(Fault::Status(s)) => {
            ApiError::server(StatusCode::from_u16(s).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
                .into_response()
        }
        None => {
            let authorized = if is_public(&route) {
                Ok(())
            } else {
                let host = parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or("127.0.0.1");
                let pq = parts
                    .uri
                    .path_and_query()
                    .map_or(parts.uri.path(), |pq| pq.as_str());
                let url = format!("http://{host}{pq}");
                let creds = lock(&sh.credentials);
                auth::authenticate(
                    &creds,
                    &parts.headers,
                    &method,
                    &url,
                    &path,
                    &bytes,
                    sh.server_time(),
                    sh.timestamp_window_secs,
                )
                .map(|_| ())
            };
            match authorized {
                Err(e) => e.into_response(),
                Ok(()) => {
                    let req = Request::from_parts(parts, Body::from(bytes));
                    next.run(req).await
                }
            }
        }
    };
    if let Ok(v) = HeaderValue::from_str(&query_id) {
        response.headers_mut().insert("x-ovh-queryid", v);
    }
    lock(&sh.log).push(RequestRecord {
        seq,
        at: Timestamp::now(),
        method: method.to_string(),
        path,
        query,
        endpoint,
        body: logged_body,
        status: response.status().as_u16(),
        fault: fault.map(|f| f.label()),
        query_id,
        micros: u64::try_from(arrived.elapsed().as_micros()).unwrap_or(u64::MAX),
    });
    response
}

/// A response whose body fails immediately: hyper aborts the connection mid-response.
fn dropped() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated dropped connection",
        ))
    });
    Response::new(Body::from_stream(stream))
}

async fn auth_time(State(sh): State<Arc<Shared>>) -> Json<i64> {
    Json(sh.server_time())
}

async fn current_credential(State(sh): State<Arc<Shared>>, req: Request) -> ApiResult {
    let app = req
        .headers()
        .get("x-ovh-application")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let consumer = req
        .headers()
        .get("x-ovh-consumer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let creds = lock(&sh.credentials);
    let (index, cred) = creds
        .iter()
        .enumerate()
        .find(|(_, c)| c.application_key == app && c.consumer_key == consumer)
        .ok_or_else(|| ApiError::not_found("This credential does not exist"))?;
    Ok(Json(json!({
        "credentialId": 1000 + index,
        "applicationId": 100 + index,
        "status": "validated",
        "rules": cred.rules,
        "creation": Timestamp::UNIX_EPOCH,
        "expiration": null,
        "lastUse": Timestamp::now(),
        "ovhSupport": false,
        "allowedIPs": null,
    })))
}

#[derive(Deserialize)]
struct SubsidiaryQuery {
    #[serde(rename = "ovhSubsidiary")]
    ovh_subsidiary: Option<String>,
}

/// OVH prices are integers in 1e-8 of the currency.
fn micro_cents(eur: f64) -> i64 {
    (eur * 1e8).round() as i64
}

async fn public_catalog(Query(q): Query<SubsidiaryQuery>) -> ApiResult {
    let sub = q
        .ovh_subsidiary
        .ok_or_else(|| ApiError::bad_request("Missing parameter ovhSubsidiary"))?
        .to_ascii_uppercase();
    if !catalog::EUR_SUBSIDIARIES.contains(&sub.as_str()) {
        return Err(ApiError::bad_request(format!(
            "Invalid parameter ovhSubsidiary: {sub} (the simulator serves EUR subsidiaries only)"
        )));
    }
    let mut addons = Vec::new();
    for f in catalog::FLAVORS.iter() {
        let technical = json!({
            "cpu": {"cores": f.vcpus},
            "memory": {"size": f.ram_gb},
            "gpu": {"number": f.gpus},
        });
        addons.push(json!({
            "planCode": format!("{}.consumption", f.name),
            "invoiceName": format!("{} instance", f.name),
            "product": format!("publiccloud-instance-{}", f.name),
            "pricingType": "consumption",
            "pricings": [{
                "capacities": ["consumption"],
                "commitment": 0,
                "description": "Price per hour",
                "interval": 1,
                "intervalUnit": "hour",
                "mode": "consumption",
                "price": micro_cents(f.hourly_eur),
                "tax": 0,
                "type": "consumption",
            }],
            "blobs": {"technical": technical},
        }));
        if f.monthly_allowed() {
            addons.push(json!({
                "planCode": format!("{}.monthly.postpaid", f.name),
                "invoiceName": format!("{} instance (monthly)", f.name),
                "product": format!("publiccloud-instance-{}", f.name),
                "pricingType": "rental",
                "pricings": [{
                    "capacities": ["renew"],
                    "commitment": 0,
                    "description": "Price per month",
                    "interval": 1,
                    "intervalUnit": "month",
                    "mode": "default",
                    "price": micro_cents(f.monthly_eur()),
                    "tax": 0,
                    "type": "rental",
                }],
                "blobs": {"technical": technical},
            }));
        }
    }
    Ok(Json(json!({
        "catalogId": 1,
        "locale": {"currencyCode": "EUR", "subsidiary": sub, "taxRate": 20},
        "plans": [{"planCode": "project.2018", "invoiceName": "Public Cloud Project", "product": "publiccloud-project"}],
        "addons": addons,
    })))
}

#[derive(Deserialize)]
struct RegionQuery {
    region: Option<String>,
}

async fn capability_flavors(
    State(sh): State<Arc<Shared>>,
    Path(sn): Path<String>,
    Query(q): Query<RegionQuery>,
) -> ApiResult {
    let region = q
        .region
        .ok_or_else(|| ApiError::bad_request("Missing parameter region"))?;
    let w = sh.world();
    if !w.has_project(&sn) {
        return Err(ApiError::not_found(format!(
            "This service does not exist ({sn})"
        )));
    }
    w.region_flavors(&region).map(Json)
}

async fn get_cluster(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube)): Path<(String, String)>,
) -> ApiResult {
    sh.world().get_cluster(&sn, &kube).map(Json)
}

async fn cluster_flavors(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube)): Path<(String, String)>,
) -> ApiResult {
    sh.world().cluster_flavors(&sn, &kube).map(Json)
}

async fn list_pools(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube)): Path<(String, String)>,
) -> ApiResult {
    sh.world().list_pools(&sn, &kube, Instant::now()).map(Json)
}

fn parse_body(bytes: &Bytes) -> Result<Value, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))
}

async fn create_pool(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    sh.world()
        .create_pool(&sn, &kube, &body, Instant::now())
        .map(Json)
}

async fn get_pool(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube, id)): Path<(String, String, String)>,
) -> ApiResult {
    sh.world()
        .get_pool(&sn, &kube, &id, Instant::now())
        .map(Json)
}

async fn update_pool(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube, id)): Path<(String, String, String)>,
    body: Bytes,
) -> ApiResult {
    let body = parse_body(&body)?;
    sh.world()
        .update_pool(&sn, &kube, &id, &body, Instant::now())
        .map(|()| Json(Value::Null))
}

async fn delete_pool(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube, id)): Path<(String, String, String)>,
) -> ApiResult {
    sh.world()
        .delete_pool(&sn, &kube, &id, Instant::now())
        .map(|()| Json(Value::Null))
}

async fn pool_nodes(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube, id)): Path<(String, String, String)>,
) -> ApiResult {
    let nodes = sh.world().pool_nodes(&sn, &kube, &id, Instant::now())?;
    Ok(Json(serde_json::to_value(nodes).unwrap_or_default()))
}

async fn cluster_nodes(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube)): Path<(String, String)>,
) -> ApiResult {
    let nodes = sh.world().cluster_nodes(&sn, &kube)?;
    Ok(Json(serde_json::to_value(nodes).unwrap_or_default()))
}

async fn get_node(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube, id)): Path<(String, String, String)>,
) -> ApiResult {
    let node = sh.world().get_node(&sn, &kube, &id)?;
    Ok(Json(serde_json::to_value(node).unwrap_or_default()))
}

async fn delete_node(
    State(sh): State<Arc<Shared>>,
    Path((sn, kube, id)): Path<(String, String, String)>,
) -> ApiResult {
    sh.world()
        .delete_node(&sn, &kube, &id, Instant::now())
        .map(|()| Json(Value::Null))
}

async fn sim_state(State(sh): State<Arc<Shared>>) -> Json<Value> {
    let snap = sh.world().snapshot(Instant::now());
    Json(serde_json::to_value(snap).unwrap_or_default())
}

async fn sim_requests(State(sh): State<Arc<Shared>>) -> Json<Vec<RequestRecord>> {
    Json(lock(&sh.log).clone())
}

async fn sim_clear_requests(State(sh): State<Arc<Shared>>) -> StatusCode {
    lock(&sh.log).clear();
    StatusCode::NO_CONTENT
}

async fn sim_faults(State(sh): State<Arc<Shared>>) -> Json<BTreeMap<String, FaultSpec>> {
    Json(lock(&sh.faults).specs().clone())
}

async fn sim_set_faults(
    State(sh): State<Arc<Shared>>,
    Json(specs): Json<BTreeMap<String, FaultSpec>>,
) -> StatusCode {
    let mut f = lock(&sh.faults);
    for (k, v) in specs {
        f.set(&k, v);
    }
    StatusCode::NO_CONTENT
}

async fn sim_clear_faults(State(sh): State<Arc<Shared>>) -> StatusCode {
    lock(&sh.faults).clear();
    StatusCode::NO_CONTENT
}
