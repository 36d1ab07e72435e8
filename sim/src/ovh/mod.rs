//! The simulated OVH API.
//!
//! A real HTTP server on loopback that serves the MKS endpoints the controller uses, checks
//! signatures and timestamps like OVH, keeps projects, clusters, pools and nodes with their
//! state machines in scaled time, enforces OVH's rules (docs/ARCHITECTURE.md), and can inject
//! faults. Start it in-process with [`OvhSim::start`] or standalone with
//! `karpenter-ovhcloud sim ovh --listen 127.0.0.1:PORT`.
//!
//! Inspection: [`OvhSim::state`] / `GET /_sim/state` (every project, cluster, pool and node,
//! including pools GET does not show yet), [`OvhSim::requests`] / `GET /_sim/requests` (every
//! request with its status), [`OvhSim::set_fault`] / `PUT /_sim/faults`, and node events on
//! [`OvhSim::subscribe`] for a cluster simulator that mirrors nodes as Kubernetes Nodes.

pub mod auth;
pub mod catalog;
pub mod error;
pub mod faults;
mod server;
pub mod state;

use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, oneshot};
use tokio::task::JoinHandle;

pub use auth::{AccessRule, SimCredential};
pub use faults::FaultSpec;
pub use server::{RequestRecord, API_PREFIX};
pub use state::{
    ClusterConfig, Node, NodeEvent, NodeEventKind, ProjectConfig, Quota, StateSnapshot, Timing,
};

use server::{lock, Shared};
use state::{World, WorldConfig};

/// Project id of the default configuration.
pub const DEFAULT_SERVICE_NAME: &str = "5f1b7a3c9d2e4f60a8b7c6d5e4f3a2b1";
/// Cluster id of the default configuration.
pub const DEFAULT_KUBE_ID: &str = "9c2e8a14-5b7d-4f3e-a1c6-0d8e7f6a5b4c";
/// Region of the default configuration (the guide's).
pub const DEFAULT_REGION: &str = "EU-WEST-PAR";
/// Application key of the default configuration.
pub const DEFAULT_APPLICATION_KEY: &str = "simAppKey0000001";
/// Application secret of the default configuration.
pub const DEFAULT_APPLICATION_SECRET: &str = "simAppSecret00000000000000000001";
/// Consumer key of the default configuration.
pub const DEFAULT_CONSUMER_KEY: &str = "simConsumerKey000000000000000001";

/// Endpoint keys, as used by the request log and [`FaultSpec`]s.
pub const ENDPOINTS: &[&str] = &[
    "GET /auth/time",
    "GET /auth/currentCredential",
    "GET /order/catalog/public/cloud",
    "GET /cloud/project/{serviceName}/capabilities/kube/flavors",
    "GET /cloud/project/{serviceName}/kube/{kubeId}",
    "GET /cloud/project/{serviceName}/kube/{kubeId}/flavors",
    "GET /cloud/project/{serviceName}/kube/{kubeId}/nodepool",
    "POST /cloud/project/{serviceName}/kube/{kubeId}/nodepool",
    "GET /cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}",
    "PUT /cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}",
    "DELETE /cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}",
    "GET /cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}/nodes",
    "GET /cloud/project/{serviceName}/kube/{kubeId}/node",
    "GET /cloud/project/{serviceName}/kube/{kubeId}/node/{nodeId}",
    "DELETE /cloud/project/{serviceName}/kube/{kubeId}/node/{nodeId}",
];

/// Configuration of a simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Listen address (loopback; port 0 picks a free port).
    pub listen: SocketAddr,
    /// Guide seconds per real second: with 60, a "minute" of the guide lasts one second.
    pub time_scale: f64,
    /// State machine durations (guide time).
    pub timing: Timing,
    /// Projects and clusters.
    pub projects: Vec<ProjectConfig>,
    /// Accepted credentials and their access rules.
    pub credentials: Vec<SimCredential>,
    /// Pools per cluster (OVH's default limit is 100).
    pub max_pools_per_cluster: u32,
    /// Template label prefixes MKS drops from pools (default `karpenter.sh/`).
    pub dropped_label_prefixes: Vec<String>,
    /// Refuse PUT on non-READY pools with 409 (default false: only DELETE while UPSCALING and
    /// anything on a DELETING pool are refused).
    pub strict_busy_put: bool,
    /// Seed of generated ids and fault injection.
    pub seed: u64,
    /// Offset of the server clock from the local one, in seconds (clients must learn it from
    /// `GET /auth/time`).
    pub clock_skew_secs: i64,
    /// Accepted distance between a request's timestamp and the server time, in seconds.
    pub timestamp_window_secs: i64,
    /// Real interval of the state machine ticker (node events are published on ticks).
    pub tick_interval: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self::single_cluster(DEFAULT_REGION)
    }
}

impl SimConfig {
    /// The default project with one cluster in `region`, the default credentials with the
    /// guide's access rules, real time.
    pub fn single_cluster(region: &str) -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            time_scale: 1.0,
            timing: Timing::default(),
            projects: vec![ProjectConfig {
                service_name: DEFAULT_SERVICE_NAME.into(),
                quota: Quota::default(),
                clusters: vec![ClusterConfig {
                    id: DEFAULT_KUBE_ID.into(),
                    name: "karpenter-demo".into(),
                    region: region.to_string(),
                }],
            }],
            credentials: vec![SimCredential {
                application_key: DEFAULT_APPLICATION_KEY.into(),
                application_secret: DEFAULT_APPLICATION_SECRET.into(),
                consumer_key: DEFAULT_CONSUMER_KEY.into(),
                rules: auth::guide_rules(),
            }],
            max_pools_per_cluster: 100,
            dropped_label_prefixes: vec!["karpenter.sh/".into()],
            strict_busy_put: false,
            seed: 0x0f0c,
            clock_skew_secs: 0,
            timestamp_window_secs: 180,
            tick_interval: Duration::from_millis(20),
        }
    }

    /// Sets the time scale.
    pub fn with_time_scale(mut self, scale: f64) -> Self {
        self.time_scale = if scale.is_finite() && scale > 0.0 {
            scale
        } else {
            1.0
        };
        self
    }
}

/// A running simulator. Dropping it stops the server.
pub struct OvhSim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    config: SimConfig,
    shutdown: Option<oneshot::Sender<()>>,
    server: JoinHandle<()>,
    ticker: JoinHandle<()>,
}

impl OvhSim {
    /// Starts a simulator on `config.listen`.
    pub async fn start(config: SimConfig) -> anyhow::Result<Self> {
        let (events, _) = broadcast::channel(4096);
        let world = World::new(
            WorldConfig {
                timing: config.timing.clone(),
                time_scale: config.time_scale,
                max_pools_per_cluster: config.max_pools_per_cluster,
                dropped_label_prefixes: config.dropped_label_prefixes.clone(),
                strict_busy_put: config.strict_busy_put,
                seed: config.seed,
            },
            &config.projects,
            events.clone(),
        )?;
        let shared = Arc::new(Shared {
            world: Mutex::new(world),
            faults: Mutex::new(faults::Faults::new(config.seed ^ 0x5eed)),
            log: Mutex::new(Vec::new()),
            credentials: Mutex::new(config.credentials.clone()),
            events,
            clock_skew_secs: config.clock_skew_secs,
            timestamp_window_secs: config.timestamp_window_secs,
            seq: AtomicU64::new(0),
            started: Instant::now(),
        });
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = oneshot::channel::<()>();
        let app = server::router(shared.clone());
        let server = tokio::spawn(async move {
            let result = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!(error = %e, "simulated OVH API stopped");
            }
        });
        let tick_shared = shared.clone();
        let interval = config.tick_interval.max(Duration::from_millis(1));
        let ticker = tokio::spawn(async move {
            let mut every = tokio::time::interval(interval);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                every.tick().await;
                lock(&tick_shared.world).tick(Instant::now());
            }
        });
        tracing::info!(%addr, "simulated OVH API listening");
        Ok(Self {
            shared,
            addr,
            config,
            shutdown: Some(tx),
            server,
            ticker,
        })
    }

    /// The listen address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL to give the client as a custom endpoint, e.g. `http://127.0.0.1:4321/1.0`.
    pub fn base_url(&self) -> String {
        format!("http://{}{}", self.addr, API_PREFIX)
    }

    /// The configuration it runs with.
    pub fn config(&self) -> &SimConfig {
        &self.config
    }

    /// Full state: every project, cluster, pool (visible or not) and node.
    pub fn state(&self) -> StateSnapshot {
        self.shared.world().snapshot(Instant::now())
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the request log.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Sets the faults of an endpoint key (see [`ENDPOINTS`]) or `"*"`.
    pub fn set_fault(&self, endpoint: &str, spec: FaultSpec) {
        lock(&self.shared.faults).set(endpoint, spec);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        lock(&self.shared.faults).clear();
    }

    /// Limits the stock of a flavor at a location (a zone of a 3-AZ region, or the region
    /// name of a single-zone one); `None` = unlimited (the default).
    pub fn set_stock(&self, flavor: &str, location: &str, units: Option<u32>) {
        lock(&self.shared.world).set_stock(flavor, location, units);
    }

    /// Makes OVH accept new nodes of a flavor at a location (a zone of a 3-AZ region, or the
    /// region name) without ever creating them: a launch that never comes up.
    pub fn set_stalled(&self, flavor: &str, location: &str, stalled: bool) {
        lock(&self.shared.world).set_stalled(flavor, location, stalled);
    }

    /// Creates an already-installed pool (body and rules of `POST /nodepool`, nodes READY at
    /// once): the pools a cluster has before the controller starts, e.g. for add-ons.
    pub fn seed_pool(
        &self,
        service_name: &str,
        kube_id: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, error::ApiError> {
        lock(&self.shared.world).create_ready_pool(service_name, kube_id, body, Instant::now())
    }

    /// Replaces a project's quotas; false when the project does not exist.
    pub fn set_quota(&self, service_name: &str, quota: Quota) -> bool {
        lock(&self.shared.world).set_quota(service_name, quota)
    }

    /// Replaces the accepted credentials (e.g. to revoke one or change its rules).
    pub fn set_credentials(&self, credentials: Vec<SimCredential>) {
        *lock(&self.shared.credentials) = credentials;
    }

    /// Node events (created, READY, failed, removed), published as the state machines move.
    pub fn subscribe(&self) -> broadcast::Receiver<NodeEvent> {
        self.shared.events.subscribe()
    }

    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.ticker.abort();
        let _ = (&mut self.server).await;
    }
}

impl Drop for OvhSim {
    fn drop(&mut self) {
        self.ticker.abort();
        self.server.abort();
    }
}

/// Command-line arguments of the standalone server.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Address to listen on (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Guide seconds per real second (60: a guide minute lasts a second).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Region of the simulated cluster.
    #[arg(long, default_value = DEFAULT_REGION)]
    pub region: String,
    /// Seed of generated ids and faults.
    #[arg(long, default_value_t = 0x0f0c)]
    pub seed: u64,
    /// Pools per cluster.
    #[arg(long, default_value_t = 100)]
    pub max_pools: u32,
    /// Grant every call to the consumer key (default: the guide's permissions only).
    #[arg(long)]
    pub grant_all: bool,
}

/// Runs the standalone server until interrupted, after printing how to point the client at it.
pub async fn serve_cli(args: ServeArgs) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "refusing to listen on {}: the simulator serves loopback only",
            args.listen
        );
    }
    if catalog::region(&args.region).is_none() {
        anyhow::bail!(
            "unknown region {}; known: {}",
            args.region,
            catalog::REGIONS
                .iter()
                .map(|r| r.name)
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut config = SimConfig::single_cluster(&args.region).with_time_scale(args.time_scale);
    config.listen = args.listen;
    config.seed = args.seed;
    config.max_pools_per_cluster = args.max_pools;
    if args.grant_all {
        for c in &mut config.credentials {
            c.rules = auth::all_rules();
        }
    }
    let sim = OvhSim::start(config).await?;
    let cred = &sim.config().credentials[0];
    let cluster = &sim.config().projects[0].clusters[0];
    // stdout on purpose: this is what the operator copies.
    println!("Simulated OVH API listening on {}", sim.base_url());
    println!("Point the client at it with:");
    println!("  export OVH_ENDPOINT={}", sim.base_url());
    println!("  export OVH_APPLICATION_KEY={}", cred.application_key);
    println!(
        "  export OVH_APPLICATION_SECRET={}",
        cred.application_secret
    );
    println!("  export OVH_CONSUMER_KEY={}", cred.consumer_key);
    println!(
        "  export OVH_SERVICE_NAME={}",
        sim.config().projects[0].service_name
    );
    println!("  export OVH_KUBE_ID={}", cluster.id);
    println!("  export OVH_REGION={}", cluster.region);
    println!("then e.g. `karpenter-ovhcloud ovh check`.");
    println!(
        "Inspect: http://{}/_sim/state and http://{}/_sim/requests (time scale {}x). Ctrl-C stops.",
        sim.addr(),
        sim.addr(),
        sim.config().time_scale
    );
    use std::io::Write as _;
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    sim.shutdown().await;
    Ok(())
}
