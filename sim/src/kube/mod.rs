//! The simulated Kubernetes API server.
//!
//! A kube-apiserver stand-in on loopback that kube-rs and the real `kubectl` talk to: discovery,
//! CRUD with a global resourceVersion, list/watch with selectors and bookmarks, patches and
//! server-side apply, finalizers and garbage collection, CRDs whose custom resources are
//! admitted as kube-apiserver admits them (pruning, defaults, the structural schema and the
//! `x-kubernetes-validations` CEL rules, see [`schema`]; request, object and annotation size
//! limits), Tables, subresources (status, scale, eviction, binding, log) and RBAC for
//! service-account tokens.
//!
//! In-process controllers use [`KubeSim::store`] directly (same semantics as over HTTP).

mod apply;
mod discovery;
pub mod error;
mod http;
pub mod media;
pub mod openapi;
pub mod patch;
pub mod pb;
pub mod rbac;
pub mod resources;
pub mod schema;
pub mod selector;
pub mod store;
pub mod subresources;
pub mod table;

pub use error::{ApiError, ApiResult};
pub use http::{LogSource, RequestTiming};
pub use store::{
    DeleteOptions, EventType, ListOptions, Store, StoreConfig, Stored, WatchEvent, WriteOptions,
    WriteTarget,
};

use anyhow::Context;
use rbac::Identity;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

/// Command-line arguments of the standalone server.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Where to write an admin kubeconfig pointing at the server.
    #[arg(long)]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Snapshot file: loaded on start when it exists, written on Ctrl-C (JSON, every object).
    #[arg(long)]
    pub snapshot: Option<std::path::PathBuf>,
}

/// Configuration of a simulated API server.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address (must be loopback; port 0 picks one).
    pub listen: SocketAddr,
    /// Store tunables (watch history length).
    pub store: StoreConfig,
    /// Interval between watch bookmarks.
    pub bookmark_interval: Duration,
    /// Answer built-in kinds in protobuf when clients ask for it (kubectl does); false answers
    /// JSON whatever the Accept header says (a switch for bisecting codec bugs).
    pub protobuf_responses: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            store: StoreConfig::default(),
            bookmark_interval: Duration::from_secs(1),
            protobuf_responses: true,
        }
    }
}

/// A running simulated API server. Stops when dropped.
pub struct KubeSim {
    server: Arc<http::Server>,
    addr: SocketAddr,
    admin_token: String,
    /// Stops the HTTP front (the store lives on, as etcd does across an apiserver restart).
    shutdown: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    serving: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 20]>())
}

impl KubeSim {
    /// Starts the server on the configured loopback address.
    pub async fn start(config: Config) -> anyhow::Result<Self> {
        anyhow::ensure!(
            config.listen.ip().is_loopback(),
            "the simulated API server only listens on loopback"
        );
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let admin_token = random_token();
        let mut tokens = HashMap::new();
        tokens.insert(admin_token.clone(), Identity::Admin);
        let server = Arc::new(http::Server {
            store: Store::new(config.store.clone()),
            tokens: RwLock::new(tokens),
            logs: Mutex::new(HashMap::new()),
            base_url: RwLock::new(format!("{addr}")),
            bookmark_interval: config.bookmark_interval,
            watch_epoch: tokio::sync::watch::channel(0).0,
            forbidden: Mutex::new(Vec::new()),
            timings: Mutex::new(Vec::new()),
            gone_watches: Default::default(),
            protobuf_responses: config.protobuf_responses,
        });
        let sim = KubeSim {
            server,
            addr,
            admin_token,
            shutdown: Mutex::new(None),
            serving: Mutex::new(None),
        };
        sim.serve(listener);
        tracing::info!(%addr, "simulated Kubernetes API server listening");
        Ok(sim)
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let app = http::router(self.server.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await;
        });
        *self.shutdown.lock().unwrap_or_else(|e| e.into_inner()) = Some(tx);
        *self.serving.lock().unwrap_or_else(|e| e.into_inner()) = Some(task);
    }

    /// Restarts the HTTP front as a kube-apiserver restart with its etcd kept: the port stops
    /// accepting, every watch and connection ends, nothing answers for `down`, then the same
    /// address serves the same store again (resourceVersions go on, so clients resume their
    /// watches, or get 410 Gone if [`Store::compact`] dropped the history).
    pub async fn restart(&self, down: Duration) -> anyhow::Result<()> {
        let tx = self
            .shutdown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(tx) = tx {
            let _ = tx.send(());
        }
        // Open watches never end on their own: end them so the graceful shutdown completes.
        self.drop_watches();
        let task = self
            .serving
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .is_err()
            {
                abort.abort();
            }
        }
        tokio::time::sleep(down).await;
        // The port was free a moment ago; retry briefly in case the OS holds it.
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(e) if std::time::Instant::now() < deadline => {
                    tracing::debug!(error = %e, "rebinding the API server's port");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => {
                    return Err(e)
                        .with_context(|| format!("rebinding {} after a restart", self.addr))
                }
            }
        };
        self.serve(listener);
        tracing::info!(addr = %self.addr, "simulated Kubernetes API server restarted");
        Ok(())
    }

    /// How many watches were answered 410 Gone since the start.
    pub fn gone_watches(&self) -> u64 {
        self.server
            .gone_watches
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every request RBAC refused so far (403), as its message, in order: the audit log's
    /// view of what a ServiceAccount was not allowed to do.
    pub fn forbidden_requests(&self) -> Vec<String> {
        self.server
            .forbidden
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin bearer token (bypasses RBAC).
    pub fn admin_token(&self) -> &str {
        &self.admin_token
    }

    /// An admin kubeconfig (YAML).
    pub fn kubeconfig_yaml(&self) -> String {
        self.kubeconfig_for("admin", &self.admin_token, "default")
    }

    /// A kubeconfig for a token, with a default namespace.
    pub fn kubeconfig_for(&self, user: &str, token: &str, namespace: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: sim\n  cluster:\n    server: {url}\ncontexts:\n- name: sim\n  context:\n    cluster: sim\n    user: {user}\n    namespace: {namespace}\ncurrent-context: sim\nusers:\n- name: {user}\n  user:\n    token: {token}\npreferences: {{}}\n",
            url = self.base_url()
        )
    }

    /// Writes the admin kubeconfig to `path`.
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        std::fs::write(path, self.kubeconfig_yaml())
    }

    /// A bearer token that authenticates as a service account (authorized by RBAC).
    pub fn service_account_token(&self, namespace: &str, name: &str) -> String {
        let token = random_token();
        self.server
            .tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.clone(), Identity::service_account(namespace, name));
        token
    }

    /// The request log so far, in arrival order: method, path, status and how long each
    /// request took to answer.
    pub fn request_timings(&self) -> Vec<http::RequestTiming> {
        self.server
            .timings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets the recorded request timings.
    pub fn clear_request_timings(&self) {
        self.server
            .timings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The store, for in-process controllers.
    pub fn store(&self) -> &Arc<Store> {
        &self.server.store
    }

    /// Ends every open watch stream; clients resume from their last resourceVersion (and get
    /// 410 Gone if [`Store::compact`] dropped the history since).
    pub fn drop_watches(&self) {
        self.server.watch_epoch.send_modify(|e| *e += 1);
    }

    /// Sets what `pods/log` returns for a pod (`container` None: every container).
    pub fn set_pod_log(&self, namespace: &str, pod: &str, container: Option<&str>, text: &str) {
        let key = match container {
            Some(c) => format!("{pod}/{c}"),
            None => pod.to_string(),
        };
        self.server
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (namespace.to_string(), key),
                LogSource::Text(text.to_string()),
            );
    }

    /// Serves a file as the `pods/log` of a pod (every container), read at each request and
    /// followed with `kubectl logs -f`.
    pub fn set_pod_log_file(&self, namespace: &str, pod: &str, path: &Path) {
        self.server
            .logs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(
                (namespace.to_string(), pod.to_string()),
                LogSource::File(path.to_path_buf()),
            );
    }
}

impl Drop for KubeSim {
    fn drop(&mut self) {
        if let Some(tx) = self
            .shutdown
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            let _ = tx.send(());
        }
    }
}

/// Runs the standalone server until interrupted.
pub async fn serve_cli(args: ServeArgs) -> anyhow::Result<()> {
    let sim = KubeSim::start(Config {
        listen: args.listen,
        ..Config::default()
    })
    .await?;
    if let Some(path) = args.snapshot.as_deref().filter(|p| p.exists()) {
        let text =
            std::fs::read(path).with_context(|| format!("reading snapshot {}", path.display()))?;
        let snapshot: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("snapshot {} is not JSON", path.display()))?;
        let n = sim
            .store()
            .restore(&snapshot)
            .map_err(|e| anyhow::anyhow!("snapshot {}: {e}", path.display()))?;
        eprintln!("restored {n} objects from {}", path.display());
    }
    if let Some(p) = &args.kubeconfig {
        sim.write_kubeconfig(p)?;
    }
    println!("{}", sim.base_url());
    tokio::signal::ctrl_c().await?;
    if let Some(path) = &args.snapshot {
        write_snapshot(sim.store(), path)
            .with_context(|| format!("writing snapshot {}", path.display()))?;
        eprintln!("snapshot written to {}", path.display());
    }
    Ok(())
}

/// Writes [`Store::dump`] to `path` atomically (a temporary file renamed over it), so an
/// interrupted write never leaves a truncated snapshot.
pub fn write_snapshot(store: &Store, path: &Path) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&store.dump())?)?;
    std::fs::rename(&tmp, path)
}
