//! Controller at scale: the `karpenter-ovhcloud controller` binary, as its own process, against
//! the whole simulated cluster ([`SimCluster`]: OVH API, API server, scheduler, kubelets,
//! workload controllers, MKS), brought to `pods` pods on about `pods / pods_per_node` nodes,
//! held at steady state, then hit by a burst of `burst` pods.
//!
//! Measured from outside the controller: its memory (`VmRSS`, `VmHWM`) and CPU
//! (`utime + stime`) sampled from `/proc` every [`SAMPLE_EVERY`]; the OVH requests of each
//! phase from the OVH simulator's request log (per real minute and per guide minute: the
//! controller's periodic work runs in guide time); the time from the burst's last pod creation
//! (seen on the API server's own change feed) to the first OVH pool write that follows; the
//! latency of every request both simulators answered.
//!
//! The workload: two steady Deployments, one per NodePool restricted to one flavor (b3-8 and
//! b3-16, so that no OVH pool nears its 100-node cap: 2 NodePools x 3 zones = 6 pools), pods
//! sized so that `pods_per_node` of them fill a node (with the kube-proxy DaemonSet); the
//! burst is a third Deployment on a third NodePool (b3-32) scaled from 0. Every duration of the
//! controller is guide time, the batch windows included (1 s idle, 10 s max: 50 ms and 500 ms
//! of real time at 20x), so the burst's pod-to-write delay measured here holds 1/scale of the
//! idle window where production waits the whole second: [`Report::verdicts`] adds the
//! difference back. (Giving the batch windows in real time instead does not work: the 10 s
//! reconcile pass, in guide time, wakes the batcher every 0.5 s real while pods are pending,
//! and a 1 s real idle window then never elapses.)

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use jiff::Timestamp;
use karpenter_ovhcloud_sim::cluster::{mks, ClusterConfig, SimCluster};
use karpenter_ovhcloud_sim::kube::{EventType, Store};
use karpenter_ovhcloud_sim::ovh::RequestRecord;
use serde_json::{json, Value};
use tokio::sync::broadcast;

use super::proc_stats::{self, Sample};
use crate::catalog::{allocatable, prices};
use crate::cli::demo::manifests::{self, Applier};
use crate::evaluate::report::percentiles;

/// Region of the run (three zones).
const REGION: &str = "EU-WEST-PAR";
/// How often the controller's `/proc` entries are read.
pub const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// How often the cluster is looked at while waiting.
const POLL: Duration = Duration::from_millis(250);
/// How often a waiting phase reports progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);
/// The steady Deployments (name, NodePool, flavor) and the burst's.
const STEADY: [(&str, &str, &str); 2] = [
    ("steady-a", "scale-b3-8", "b3-8"),
    ("steady-b", "scale-b3-16", "b3-16"),
];
const BURST: (&str, &str, &str) = ("burst", "scale-b3-32", "b3-32");
/// Requests of the kube-proxy DaemonSet pod every simulated node runs.
const DAEMONSET_CPU_MILLIS: u64 = 50;
const DAEMONSET_MEMORY: u64 = 64 << 20;

/// What to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// The `karpenter-ovhcloud` binary to run as the controller.
    pub controller: PathBuf,
    /// Pods at steady state (split over the two steady Deployments).
    pub pods: u32,
    /// Pods that fill one node.
    pub pods_per_node: u32,
    /// Pods of the burst.
    pub burst: u32,
    /// Guide seconds per real second, for the simulators and the controller.
    pub time_scale: f64,
    /// Length of the steady-state window (real time).
    pub steady: Duration,
    /// Quiet time (real) after the ramp before the steady window opens: consolidation and
    /// lifecycle passes settle.
    pub settle: Duration,
    /// Bound on each phase (real time).
    pub phase_timeout: Duration,
}

impl Config {
    /// Issue 11's size: 10,000 pods on 500 nodes, a 1,000-pod burst, time scale 5, a
    /// 120-second (10 guide minutes) steady window. Not 20: the simulators' own work is real
    /// time, and with 10,000 pods pending it outlasts the controller's scaled timeouts (at
    /// 20x the 5-minute launch timeout is 15 s, less than the simulated API server took to
    /// answer the 441 NodeClaim creations of the first pass, so every claim timed out).
    pub fn full(controller: PathBuf) -> Self {
        Config {
            controller,
            pods: 10_000,
            pods_per_node: 20,
            burst: 1_000,
            time_scale: 5.0,
            steady: Duration::from_secs(120),
            settle: Duration::from_secs(15),
            phase_timeout: Duration::from_secs(1200),
        }
    }

    /// A smoke run: 20 pods on 4 nodes, a 10-pod burst, a 5-second window.
    pub fn quick(controller: PathBuf) -> Self {
        Config {
            controller,
            pods: 20,
            pods_per_node: 5,
            burst: 10,
            time_scale: 20.0,
            steady: Duration::from_secs(5),
            settle: Duration::from_secs(2),
            phase_timeout: Duration::from_secs(180),
        }
    }

    /// Nodes the steady pods need.
    pub fn steady_nodes(&self) -> u32 {
        let ppn = self.pods_per_node.max(1);
        let (a, b) = self.split();
        a.div_ceil(ppn) + b.div_ceil(ppn)
    }

    /// Replicas of the two steady Deployments.
    fn split(&self) -> (u32, u32) {
        (self.pods / 2, self.pods - self.pods / 2)
    }
}

/// Requests of one pod such that `per_node` of them and the DaemonSet pod fit on `flavor`,
/// both by the controller's allocatable estimate and by the simulated kubelet's.
pub fn pod_requests(flavor: &str, per_node: u32) -> anyhow::Result<(u64, u64)> {
    let known = prices::known(flavor).with_context(|| format!("unknown flavor {flavor}"))?;
    let estimate =
        allocatable::estimate(&allocatable::capacity(known.vcpus, known.ram_gib, None, 0));
    let spec = karpenter_ovhcloud_sim::ovh::catalog::flavor(flavor)
        .with_context(|| format!("the simulator has no flavor {flavor}"))?;
    let sim = mks::allocatable(&mks::capacity(spec));
    let cpu = estimate
        .cpu_millis
        .min(u64::try_from(sim.cpu_millis).unwrap_or(0));
    let memory = estimate
        .memory_bytes
        .min(u64::try_from(sim.memory).unwrap_or(0));
    let n = u64::from(per_node.max(1));
    let cpu = cpu.saturating_sub(DAEMONSET_CPU_MILLIS) / n;
    let mib = (memory.saturating_sub(DAEMONSET_MEMORY) / n) >> 20;
    anyhow::ensure!(
        cpu > 0 && mib > 0,
        "{per_node} pods do not fit on a {flavor}"
    );
    Ok((cpu, mib << 20))
}

/// Percentiles of request latencies, microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Latency {
    /// Requests counted.
    pub count: usize,
    /// Median.
    pub p50_us: u64,
    /// 99th percentile.
    pub p99_us: u64,
    /// Slowest.
    pub max_us: u64,
}

impl Latency {
    fn of(mut micros: Vec<u64>) -> Latency {
        let p = percentiles(&mut micros);
        Latency {
            count: micros.len(),
            p50_us: p.p50,
            p99_us: p.p99,
            max_us: p.max,
        }
    }
}

/// OVH requests of one phase.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OvhPhase {
    /// Real length of the phase.
    pub real: Duration,
    /// Requests received.
    pub requests: usize,
    /// Of which pool writes (POST, PUT, DELETE on `/nodepool`).
    pub pool_writes: usize,
    /// Requests by endpoint key, most frequent first.
    pub by_endpoint: Vec<(String, usize)>,
}

impl OvhPhase {
    /// Requests per real minute.
    pub fn per_real_minute(&self) -> f64 {
        self.requests as f64 * 60.0 / self.real.as_secs_f64().max(1e-9)
    }

    /// Requests per guide minute (`time_scale` guide seconds per real second).
    pub fn per_guide_minute(&self, time_scale: f64) -> f64 {
        self.per_real_minute() / time_scale
    }
}

/// CPU and memory of the controller over one phase.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Usage {
    /// Real length.
    pub real: Duration,
    /// CPU seconds used (user + system).
    pub cpu_seconds: f64,
    /// Largest `VmRSS` sampled, KiB.
    pub rss_max_kib: u64,
    /// Mean of the `VmRSS` samples, KiB.
    pub rss_mean_kib: u64,
}

impl Usage {
    /// Share of one core.
    pub fn cpu_share(&self) -> f64 {
        self.cpu_seconds / self.real.as_secs_f64().max(1e-9)
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Time scale of the run.
    pub time_scale: f64,
    /// Steady pods asked for, and pods per node.
    pub pods: u32,
    /// Pods per node the workload is sized for.
    pub pods_per_node: u32,
    /// Burst pods.
    pub burst: u32,
    /// Pod requests of the steady Deployments (cpu millis, memory bytes) by flavor.
    pub requests: Vec<(String, u64, u64)>,
    /// Real time from the controller's start to every steady pod Running.
    pub ramp: Duration,
    /// Nodes the controller launched when the steady window opened, and OVH pools.
    pub steady_nodes: usize,
    /// OVH pools of the controller at steady state.
    pub steady_pools: usize,
    /// Nodes at the end of the steady window (a change means it was not steady).
    pub steady_nodes_end: usize,
    /// Pods Running at steady state.
    pub steady_running: usize,
    /// Controller usage during the ramp.
    pub ramp_usage: Usage,
    /// Controller usage during the steady window.
    pub steady_usage: Usage,
    /// Controller usage during the burst.
    pub burst_usage: Usage,
    /// Peak `VmHWM` of the whole run, KiB.
    pub peak_hwm_kib: u64,
    /// OVH requests during the ramp, the steady window and the burst.
    pub ovh_ramp: OvhPhase,
    /// OVH requests during the steady window.
    pub ovh_steady: OvhPhase,
    /// OVH requests from the burst's scale-up to its last pod Running.
    pub ovh_burst: OvhPhase,
    /// From the burst's scale-up to its last pod created (by the simulated ReplicaSet
    /// controller).
    pub burst_creation: Duration,
    /// Whether the change feed lagged while counting the burst's pods (the last creation
    /// time is then when the count was seen complete: an upper bound).
    pub burst_feed_lagged: bool,
    /// From the burst's last pod created to the first OVH pool write received after it
    /// (`None`: no write came).
    pub last_pod_to_write: Option<Duration>,
    /// From the burst's scale-up to the first OVH pool write received after it.
    pub first_pod_to_write: Option<Duration>,
    /// From the burst's scale-up to its last pod Running.
    pub burst_to_running: Duration,
    /// Nodes after the burst.
    pub burst_nodes: usize,
    /// Latency of the API server's non-watch reads (GET), writes, and OVH requests.
    pub kube_reads: Latency,
    /// Latency of the API server's writes (POST, PUT, PATCH, DELETE).
    pub kube_writes: Latency,
    /// Watches opened (their latency is the time to start streaming, not counted above).
    pub kube_watches: usize,
    /// Latency of every OVH request.
    pub ovh: Latency,
    /// Clock ticks per second used for the CPU figures.
    pub ticks_per_second: u64,
}

/// The running controller process.
struct Controller {
    child: tokio::process::Child,
    pid: u32,
    log: PathBuf,
    samples: Arc<Mutex<Vec<Sample>>>,
    sampler: tokio::task::JoinHandle<()>,
}

impl Controller {
    fn spawn(config: &Config, cluster: &SimCluster, dir: &Path) -> anyhow::Result<Controller> {
        let env = cluster.ovh_env();
        let kubeconfig = dir.join("kubeconfig");
        cluster.kube().write_kubeconfig(&kubeconfig)?;
        let log = dir.join("controller.log");
        let log_file =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let child = tokio::process::Command::new(&config.controller)
            .arg("controller")
            .arg(format!("--kubeconfig={}", kubeconfig.display()))
            .args(["--namespace=karpenter", "--leader-elect=false"])
            .arg(format!("--ovh-endpoint={}", env.endpoint))
            .arg(format!("--service-name={}", env.service_name))
            .arg(format!("--kube-id={}", env.kube_id))
            .arg(format!("--region={}", env.region))
            .arg(format!("--time-scale={}", config.time_scale))
            .args([
                "--metrics-address=127.0.0.1:0",
                "--health-address=127.0.0.1:0",
                "--log-format=json",
            ])
            .env_clear()
            .env("RUST_LOG", "info,kube=warn,tower=warn,hyper=warn")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", config.controller.display()))?;
        let pid = child.id().context("the controller exited at once")?;
        let samples = Arc::new(Mutex::new(Vec::new()));
        let sink = samples.clone();
        let sampler = tokio::spawn(async move {
            let mut every = tokio::time::interval(SAMPLE_EVERY);
            loop {
                every.tick().await;
                match proc_stats::read(pid) {
                    Some(s) => sink.lock().unwrap_or_else(|e| e.into_inner()).push(s),
                    None => return,
                }
            }
        });
        Ok(Controller {
            child,
            pid,
            log,
            samples,
            sampler,
        })
    }

    fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Fails with the log's tail if the process has exited.
    fn check_alive(&mut self) -> anyhow::Result<()> {
        if let Ok(Some(status)) = self.child.try_wait() {
            bail!(
                "the controller exited ({status}); last log lines:\n{}",
                log_tail(&self.log, 20)
            );
        }
        Ok(())
    }

    /// Usage between two instants, from the samples.
    fn usage(&self, from: Instant, to: Instant, tps: u64) -> Usage {
        let samples = self.samples();
        let inside: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.at >= from && s.at <= to)
            .collect();
        let (Some(first), Some(last)) = (inside.first(), inside.last()) else {
            return Usage {
                real: to - from,
                ..Usage::default()
            };
        };
        let rss: Vec<u64> = inside.iter().map(|s| s.rss_kib).collect();
        Usage {
            real: last.at - first.at,
            cpu_seconds: (last.cpu_ticks - first.cpu_ticks) as f64 / tps as f64,
            rss_max_kib: rss.iter().copied().max().unwrap_or(0),
            rss_mean_kib: rss.iter().sum::<u64>() / rss.len() as u64,
        }
    }

    async fn stop(mut self) {
        self.sampler.abort();
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

fn log_tail(log: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Counts in the simulated cluster, read in-process.
struct Census {
    store: Arc<Store>,
    pods: (String, String),
    nodes: (String, String),
}

impl Census {
    fn new(store: Arc<Store>) -> anyhow::Result<Census> {
        let pods = store.def("", "v1", "pods").context("pods")?.storage.clone();
        let nodes = store
            .def("", "v1", "nodes")
            .context("nodes")?
            .storage
            .clone();
        Ok(Census { store, pods, nodes })
    }

    /// (pods of Deployment `app` in `default`, of which Running).
    fn pods(&self, app: &str) -> (usize, usize) {
        self.store.with_objects(&self.pods, Some("default"), |it| {
            let mut all = 0;
            let mut running = 0;
            for p in it {
                if p.value
                    .pointer("/metadata/labels/app")
                    .and_then(Value::as_str)
                    == Some(app)
                {
                    all += 1;
                    if p.value.pointer("/status/phase").and_then(Value::as_str) == Some("Running") {
                        running += 1;
                    }
                }
            }
            (all, running)
        })
    }

    /// Nodes launched by the controller: those of its `karpenter-*` OVH pools (MKS labels
    /// each node with its pool), not the static pool's.
    fn karpenter_nodes(&self) -> usize {
        self.store.with_objects(&self.nodes, None, |it| {
            it.filter(|n| {
                n.value
                    .pointer(&format!("/metadata/labels/{}", mks::NODEPOOL_LABEL))
                    .and_then(Value::as_str)
                    .is_some_and(|pool| pool.starts_with("karpenter-"))
            })
            .count()
        })
    }
}

/// When the OVH simulator received a request (its log stamps the answer).
fn arrival(r: &RequestRecord) -> Timestamp {
    r.at.checked_sub(jiff::SignedDuration::from_micros(
        i64::try_from(r.micros).unwrap_or(i64::MAX),
    ))
    .unwrap_or(r.at)
}

fn is_pool_write(r: &RequestRecord) -> bool {
    r.method != "GET" && r.endpoint.contains("/nodepool")
}

fn ovh_phase(log: &[RequestRecord], from: Timestamp, to: Timestamp) -> OvhPhase {
    let inside: Vec<&RequestRecord> = log
        .iter()
        .filter(|r| (from..=to).contains(&arrival(r)))
        .collect();
    let mut by: std::collections::BTreeMap<&str, usize> = Default::default();
    for r in &inside {
        *by.entry(r.endpoint.as_str()).or_default() += 1;
    }
    let mut by_endpoint: Vec<(String, usize)> =
        by.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    by_endpoint.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    OvhPhase {
        real: Duration::try_from(to.duration_since(from)).unwrap_or_default(),
        requests: inside.len(),
        pool_writes: inside.iter().filter(|r| is_pool_write(r)).count(),
        by_endpoint,
    }
}

fn since(from: Timestamp, to: Timestamp) -> Option<Duration> {
    Duration::try_from(to.duration_since(from)).ok()
}

/// Polls `f` every [`POLL`] until it returns `Some`, bounded by the phase timeout, checking the
/// controller is alive and reporting `status()` every [`PROGRESS_EVERY`].
async fn wait_for<T>(
    what: &str,
    config: &Config,
    controller: &mut Controller,
    progress: &dyn Fn(&str),
    mut f: impl FnMut() -> Option<T>,
    status: impl Fn() -> String,
) -> anyhow::Result<T> {
    let start = Instant::now();
    let mut said = Instant::now();
    loop {
        if let Some(v) = f() {
            return Ok(v);
        }
        controller.check_alive()?;
        if start.elapsed() > config.phase_timeout {
            bail!(
                "{what}: not reached after {:?} ({})",
                config.phase_timeout,
                status()
            );
        }
        if said.elapsed() >= PROGRESS_EVERY {
            progress(&format!(
                "  waiting for {what} ({:.0} s): {}",
                start.elapsed().as_secs_f64(),
                status()
            ));
            said = Instant::now();
        }
        tokio::time::sleep(POLL).await;
    }
}

fn nodepool(name: &str, flavor: &str) -> Value {
    json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": name},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
            "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": [flavor]}]}},
          "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
          "limits": {"cpu": "100000"}}})
}

fn deployment(name: &str, pool: &str, replicas: u32, cpu_millis: u64, memory: u64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
          "template": {"metadata": {"labels": {"app": name}},
            "spec": {"nodeSelector": {"karpenter.sh/nodepool": pool},
              "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                "resources": {"requests": {"cpu": format!("{cpu_millis}m"),
                                           "memory": format!("{}Mi", memory >> 20)}}}]}}}})
}

/// Counts the pods of `app` the API server creates from now on; returns when the `n`-th was
/// created, and whether the change feed lagged (the time is then an upper bound).
fn watch_creations(
    census: &Census,
    app: &'static str,
    n: usize,
) -> tokio::task::JoinHandle<Option<(Timestamp, bool)>> {
    let mut rx = census.store.subscribe();
    let store = census.store.clone();
    let pods = census.pods.clone();
    tokio::spawn(async move {
        let mut seen = 0;
        let mut lagged = false;
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    if ev.type_ == EventType::Added
                        && ev.storage == pods
                        && ev
                            .obj
                            .value
                            .pointer("/metadata/labels/app")
                            .and_then(Value::as_str)
                            == Some(app)
                    {
                        seen += 1;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    lagged = true;
                    seen = store.with_objects(&pods, Some("default"), |it| {
                        it.filter(|p| {
                            p.value
                                .pointer("/metadata/labels/app")
                                .and_then(Value::as_str)
                                == Some(app)
                        })
                        .count()
                    });
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
            if seen >= n {
                return Some((Timestamp::now(), lagged));
            }
        }
    })
}

/// Runs the whole scenario; `progress` gets one line per step (the bench prints it on stderr).
pub async fn run(config: &Config, progress: &dyn Fn(&str)) -> anyhow::Result<Report> {
    let tps = proc_stats::ticks_per_second();
    let mut report = Report {
        time_scale: config.time_scale,
        pods: config.pods,
        pods_per_node: config.pods_per_node,
        burst: config.burst,
        ticks_per_second: tps,
        ..Report::default()
    };
    let dir = std::env::temp_dir().join(format!("karpenter-ovhcloud-scale-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    progress(&format!(
        "controller at scale: {} pods ({} per node, ~{} nodes), burst {}, time scale {}",
        config.pods,
        config.pods_per_node,
        config.steady_nodes(),
        config.burst,
        config.time_scale
    ));
    let cluster = SimCluster::start(ClusterConfig::new(REGION, config.time_scale)).await?;
    cluster.wait_ready(Duration::from_secs(60)).await?;
    let census = Census::new(cluster.kube().store().clone())?;
    let client = {
        let kc = kube::config::Kubeconfig::from_yaml(&cluster.kube().kubeconfig_yaml())?;
        let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default()).await?;
        kube::Client::try_from(cfg)?
    };
    let applier = Applier::new(client);
    for (_, text) in manifests::CRDS {
        applier.apply(text).await?;
    }
    let vars: Vec<(&str, String)> = cluster.env();
    for file in ["01-namespace-secret.yaml", "02-ovhnodeclass.yaml"] {
        applier
            .apply(&manifests::envsubst(manifests::guide_file(file)?, &vars)?)
            .await?;
    }
    let mut objects = Vec::new();
    let (a, b) = config.split();
    for ((app, pool, flavor), replicas) in STEADY.into_iter().zip([a, b]) {
        let (cpu, memory) = pod_requests(flavor, config.pods_per_node)?;
        report.requests.push((flavor.to_string(), cpu, memory));
        objects.push(nodepool(pool, flavor));
        objects.push(deployment(app, pool, replicas, cpu, memory));
    }
    let (cpu, memory) = pod_requests(BURST.2, config.pods_per_node)?;
    objects.push(nodepool(BURST.1, BURST.2));
    objects.push(deployment(BURST.0, BURST.1, 0, cpu, memory));
    let text: Vec<String> = objects.iter().map(Value::to_string).collect();
    applier.apply(&text.join("\n---\n")).await?;

    // Ramp: the controller starts with every steady pod pending.
    let ramp_from = Instant::now();
    let ramp_from_ts = Timestamp::now();
    let mut controller = Controller::spawn(config, &cluster, &dir)?;
    progress(&format!(
        "  controller pid {} started (log {})",
        controller.pid,
        controller.log.display()
    ));
    let steady_total = config.pods as usize;
    let running = || {
        STEADY
            .iter()
            .map(|(app, _, _)| census.pods(app).1)
            .sum::<usize>()
    };
    let status = || {
        format!(
            "{} of {steady_total} pods Running, {} nodes, {} OVH requests",
            running(),
            census.karpenter_nodes(),
            cluster.ovh().requests().len()
        )
    };
    wait_for(
        "every steady pod Running",
        config,
        &mut controller,
        progress,
        || (running() >= steady_total).then_some(()),
        status,
    )
    .await?;
    report.ramp = ramp_from.elapsed();
    let ramp_to_ts = Timestamp::now();
    progress(&format!(
        "  ramp done in {:.1} s: {}",
        report.ramp.as_secs_f64(),
        status()
    ));

    // Steady state: a quiet spell, then the window.
    tokio::time::sleep(config.settle).await;
    controller.check_alive()?;
    let steady_from = Instant::now();
    let steady_from_ts = Timestamp::now();
    report.steady_nodes = census.karpenter_nodes();
    report.steady_pools = cluster.ovh().state().projects[0].clusters[0]
        .pools
        .iter()
        .filter(|p| {
            p.pool["name"]
                .as_str()
                .is_some_and(|n| n.starts_with("karpenter-"))
        })
        .count();
    report.steady_running = running();
    progress(&format!(
        "  steady window: {:.0} s real ({:.1} guide minutes), {} nodes in {} OVH pools",
        config.steady.as_secs_f64(),
        config.steady.as_secs_f64() * config.time_scale / 60.0,
        report.steady_nodes,
        report.steady_pools
    ));
    tokio::time::sleep(config.steady).await;
    controller.check_alive()?;
    let steady_to = Instant::now();
    let steady_to_ts = Timestamp::now();
    report.steady_nodes_end = census.karpenter_nodes();

    // Burst.
    let burst_total = config.burst as usize;
    let created = watch_creations(&census, BURST.0, burst_total);
    let burst_from = Instant::now();
    let burst_from_ts = Timestamp::now();
    applier.scale("default", BURST.0, config.burst).await?;
    progress(&format!(
        "  burst: deployment/{} scaled to {}",
        BURST.0, config.burst
    ));
    let burst_status = || {
        let (all, up) = census.pods(BURST.0);
        format!(
            "{all} burst pods created, {up} Running, {} nodes",
            census.karpenter_nodes()
        )
    };
    wait_for(
        "every burst pod Running",
        config,
        &mut controller,
        progress,
        || (census.pods(BURST.0).1 >= burst_total).then_some(()),
        burst_status,
    )
    .await?;
    report.burst_to_running = burst_from.elapsed();
    let burst_to_ts = Timestamp::now();
    report.burst_nodes = census.karpenter_nodes();
    let burst_to = Instant::now();
    let (last_created, lagged) = tokio::time::timeout(Duration::from_secs(5), created)
        .await
        .ok()
        .and_then(Result::ok)
        .flatten()
        .context("the burst's pod creations were not all seen")?;
    report.burst_feed_lagged = lagged;
    report.burst_creation = since(burst_from_ts, last_created).unwrap_or_default();
    progress(&format!(
        "  burst Running in {:.1} s: {}",
        report.burst_to_running.as_secs_f64(),
        burst_status()
    ));
    tokio::time::sleep(SAMPLE_EVERY * 2).await;

    // Figures.
    let log = cluster.ovh().requests();
    let writes: Vec<Timestamp> = log
        .iter()
        .filter(|r| is_pool_write(r))
        .map(arrival)
        .collect();
    let first_write_after = |t: Timestamp| writes.iter().copied().filter(|w| *w >= t).min();
    report.first_pod_to_write =
        first_write_after(burst_from_ts).and_then(|w| since(burst_from_ts, w));
    report.last_pod_to_write = first_write_after(last_created).and_then(|w| since(last_created, w));
    report.ovh_ramp = ovh_phase(&log, ramp_from_ts, ramp_to_ts);
    report.ovh_steady = ovh_phase(&log, steady_from_ts, steady_to_ts);
    report.ovh_burst = ovh_phase(&log, burst_from_ts, burst_to_ts);
    report.ramp_usage = controller.usage(ramp_from, steady_from, tps);
    report.steady_usage = controller.usage(steady_from, steady_to, tps);
    report.burst_usage = controller.usage(burst_from, burst_to, tps);
    report.peak_hwm_kib = controller
        .samples()
        .iter()
        .map(|s| s.hwm_kib)
        .max()
        .unwrap_or(0);
    let timings = cluster.kube().request_timings();
    report.kube_watches = timings.iter().filter(|t| t.watch).count();
    report.kube_reads = Latency::of(
        timings
            .iter()
            .filter(|t| !t.watch && t.method == http::Method::GET)
            .map(|t| t.micros)
            .collect(),
    );
    report.kube_writes = Latency::of(
        timings
            .iter()
            .filter(|t| t.method != http::Method::GET)
            .map(|t| t.micros)
            .collect(),
    );
    report.ovh = Latency::of(log.iter().map(|r| r.micros).collect());
    controller.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(report)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn ms(d: Duration) -> String {
    format!("{:.0} ms", d.as_secs_f64() * 1000.0)
}

fn us(v: u64) -> String {
    if v >= 10_000 {
        format!("{:.1} ms", v as f64 / 1000.0)
    } else {
        format!("{v} us")
    }
}

impl Report {
    /// The figures as Markdown tables, with issue 11's targets and Karpenter's anchor.
    pub fn markdown(&self) -> String {
        let s = self.time_scale;
        let mut out = String::new();
        let req: Vec<String> = self
            .requests
            .iter()
            .map(|(f, cpu, mem)| format!("{f}: {cpu}m / {}Mi", mem >> 20))
            .collect();
        out.push_str(&format!(
            "Workload: {} steady pods ({} per node; requests {}) on two NodePools (b3-8, b3-16), \
             then a burst of {} pods on a third (b3-32); time scale {s}x (every duration of the \
             controller and the simulators is guide time divided by {s}). Ramp (controller start \
             to every steady pod Running): {:.1} s.\n\n",
            self.pods,
            self.pods_per_node,
            req.join(", "),
            self.burst,
            self.ramp.as_secs_f64(),
        ));
        out.push_str("| phase | real s | nodes | controller CPU (share of one core) | CPU s per guide minute | RSS max / mean MiB | OVH requests | per real minute | per guide minute | pool writes |\n");
        out.push_str("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
        let row = |name: &str, u: &Usage, o: &OvhPhase, nodes: String| {
            let guide_minutes = u.real.as_secs_f64() * s / 60.0;
            format!(
                "| {name} | {:.1} | {nodes} | {:.1}% | {:.2} | {:.1} / {:.1} | {} | {:.1} | {:.1} | {} |\n",
                u.real.as_secs_f64(),
                100.0 * u.cpu_share(),
                u.cpu_seconds / guide_minutes.max(1e-9),
                mib(u.rss_max_kib),
                mib(u.rss_mean_kib),
                o.requests,
                o.per_real_minute(),
                o.per_guide_minute(s),
                o.pool_writes
            )
        };
        out.push_str(&row(
            "ramp to steady state",
            &self.ramp_usage,
            &self.ovh_ramp,
            self.steady_nodes.to_string(),
        ));
        out.push_str(&row(
            "steady state",
            &self.steady_usage,
            &self.ovh_steady,
            format!("{} -> {}", self.steady_nodes, self.steady_nodes_end),
        ));
        out.push_str(&row(
            &format!("burst of {} pods", self.burst),
            &self.burst_usage,
            &self.ovh_burst,
            format!("{} -> {}", self.steady_nodes_end, self.burst_nodes),
        ));
        out.push_str(&format!(
            "\nPeak RSS of the whole run (VmHWM): {:.1} MiB. OVH pools at steady state: {}.\n",
            mib(self.peak_hwm_kib),
            self.steady_pools
        ));
        let top: Vec<String> = self
            .ovh_steady
            .by_endpoint
            .iter()
            .take(4)
            .map(|(e, n)| format!("`{e}` x{n}"))
            .collect();
        if !top.is_empty() {
            out.push_str(&format!("Steady-state OVH requests: {}.\n", top.join(", ")));
        }
        out.push_str(&format!(
            "\n| burst | real |\n|---|---:|\n\
             | scale-up -> last pod created (simulated ReplicaSet controller) | {} |\n\
             | scale-up -> first OVH pool write | {} |\n\
             | last pod created -> first OVH pool write after it | {}{} |\n\
             | scale-up -> every burst pod Running | {:.1} s |\n",
            ms(self.burst_creation),
            self.first_pod_to_write.map_or("none".into(), ms),
            self.last_pod_to_write.map_or("none".into(), ms),
            if self.burst_feed_lagged {
                " (upper bound: the change feed lagged)"
            } else {
                ""
            },
            self.burst_to_running.as_secs_f64()
        ));
        out.push_str(&format!(
            "\n| simulator requests (whole run, server side) | count | p50 | p99 | max |\n|---|---:|---:|---:|---:|\n\
             | Kubernetes API reads (GET, not watch) | {} | {} | {} | {} |\n\
             | Kubernetes API writes | {} | {} | {} | {} |\n\
             | OVH API (all) | {} | {} | {} | {} |\n\
             \n{} watches opened (not timed).\n",
            self.kube_reads.count, us(self.kube_reads.p50_us), us(self.kube_reads.p99_us), us(self.kube_reads.max_us),
            self.kube_writes.count, us(self.kube_writes.p50_us), us(self.kube_writes.p99_us), us(self.kube_writes.max_us),
            self.ovh.count, us(self.ovh.p50_us), us(self.ovh.p99_us), us(self.ovh.max_us),
            self.kube_watches,
        ));
        out.push_str("\nAgainst the targets of issue 11 and Karpenter's anchor:\n\n");
        for line in self.verdicts() {
            out.push_str(&format!("- {line}\n"));
        }
        out
    }

    /// One line per target: the figure, the target, met or missed by how much.
    pub fn verdicts(&self) -> Vec<String> {
        let size = format!(
            "at {} nodes / {} pods",
            self.steady_nodes, self.steady_running
        );
        let rss = mib(self.steady_usage.rss_max_kib);
        let peak = mib(self.peak_hwm_kib);
        let verdict = |value: f64, target: f64, below: bool| {
            let ok = if below {
                value < target
            } else {
                value <= target
            };
            if ok {
                format!("met ({:.0}% of the target)", 100.0 * value / target)
            } else {
                format!(
                    "MISSED by {:.1} ({:.0}% over)",
                    value - target,
                    100.0 * (value / target - 1.0)
                )
            }
        };
        let per_guide = self.ovh_steady.per_guide_minute(self.time_scale);
        let mut v = vec![
            format!(
                "Controller RSS < 64 MiB {size}: steady-state max {rss:.1} MiB, {}; peak of the whole run (ramp included) {peak:.1} MiB, {}. Anchor: Karpenter's perf test, P95 memory < 260 MB at 1,000 pods.",
                verdict(rss, 64.0, true),
                verdict(peak, 64.0, true)
            ),
            format!(
                "< 60 OVH requests per minute at steady state {size}: {per_guide:.1} per guide minute (= per real minute in production, where the time scale is 1), {}. Per real minute of this accelerated run: {:.1}.",
                verdict(per_guide, 60.0, true),
                self.ovh_steady.per_real_minute()
            ),
        ];
        v.push(match self.last_pod_to_write {
            Some(d) => {
                // Production waits the whole 1 s idle window where this run waited 1/scale of it.
                let production = d.as_secs_f64() + 1.0 - 1.0 / self.time_scale;
                format!(
                    "OVH write <= 1.5 s after a burst ends: {:.2} s from the last pod created to the first pool write at {}x, whose batch idle window is {:.0} ms; with production's 1 s window that is {production:.2} s, {}.",
                    d.as_secs_f64(),
                    self.time_scale,
                    1000.0 / self.time_scale,
                    verdict(production, 1.5, false)
                )
            }
            None => "OVH write <= 1.5 s after a burst ends: no pool write followed the burst's last pod (the first write came before it was created).".into(),
        });
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pods_fill_a_node_with_the_daemonset() {
        for (flavor, n) in [("b3-8", 20), ("b3-16", 20), ("b3-32", 5)] {
            let (cpu, mem) = pod_requests(flavor, n).unwrap();
            let known = prices::known(flavor).unwrap();
            let est =
                allocatable::estimate(&allocatable::capacity(known.vcpus, known.ram_gib, None, 0));
            assert!(cpu * u64::from(n) + DAEMONSET_CPU_MILLIS <= est.cpu_millis);
            assert!(mem * u64::from(n) + DAEMONSET_MEMORY <= est.memory_bytes);
            // The node is full: one pod more does not fit in CPU.
            assert!(
                (cpu + 1) * u64::from(n + 1) + DAEMONSET_CPU_MILLIS > est.cpu_millis,
                "{flavor}"
            );
        }
        assert!(pod_requests("b3-8", 10_000).is_err());
        assert!(pod_requests("nope", 1).is_err());
    }

    #[test]
    fn ovh_phases_count_by_arrival() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let rec = |secs: i64, method: &str, endpoint: &str| RequestRecord {
            seq: 0,
            at: t0 + jiff::SignedDuration::from_secs(secs),
            method: method.into(),
            path: String::new(),
            query: None,
            endpoint: endpoint.into(),
            body: None,
            status: 200,
            fault: None,
            query_id: String::new(),
            micros: 500_000,
        };
        let log = vec![
            rec(1, "GET", "GET /a"),
            rec(10, "PUT", "PUT /x/nodepool/{nodePoolId}"),
            rec(30, "GET", "GET /a"),
            rec(61, "GET", "GET /b"),
        ];
        let p = ovh_phase(&log, t0, t0 + jiff::SignedDuration::from_secs(60));
        assert_eq!(p.requests, 3);
        assert_eq!(p.pool_writes, 1);
        assert_eq!(p.by_endpoint[0], ("GET /a".to_string(), 2));
        assert!((p.per_real_minute() - 3.0).abs() < 1e-9);
        assert!((p.per_guide_minute(20.0) - 0.15).abs() < 1e-9);
    }
}
