//! The simulated cluster: a simulated OVH API and a simulated Kubernetes API server, tied
//! together by what runs in a real MKS cluster.
//!
//! [`SimCluster::start`] starts both servers on loopback and the loops that play
//! kube-scheduler ([`scheduler`]), the kubelets ([`kubelet`]), the workload controllers
//! ([`workloads`]), the Job controller (`jobs`), the disruption controller and MKS ([`mks`]:
//! OVH nodes become Nodes). They
//! talk to the API server's store in-process, with exactly the writes (subresources, field
//! managers, Events, resourceVersions, watch events) the real components make over HTTP, so a
//! controller watching over HTTP sees what it would see on MKS.
//!
//! Time: durations are guide time divided by the time scale, shared with the OVH simulator
//! (`time_scale` 20: a node takes 6 s instead of 2 minutes to be READY at OVH).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use karpenter_ovhcloud_sim::cluster::{ClusterConfig, SimCluster};
//! let cluster = SimCluster::start(ClusterConfig::new("EU-WEST-PAR", 20.0)).await?;
//! cluster.wait_ready(std::time::Duration::from_secs(30)).await?;
//! let kubeconfig = cluster.kube().kubeconfig_yaml();
//! let env = cluster.env(); // OVH_ENDPOINT, OVH_APPLICATION_KEY, ...
//! # let _ = (kubeconfig, env); Ok(()) }
//! ```

mod api;
mod jobs;
pub mod kubelet;
pub mod mks;
pub mod model;
mod pdb;
pub mod scheduler;
pub mod serve;
pub mod workloads;

use crate::kube::{self, KubeSim, Store, WatchEvent};
use crate::ovh::{self, OvhSim};
use anyhow::Context as _;
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;

/// Guide durations and the time scale that compresses them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timing {
    /// Guide seconds per real second.
    pub scale: f64,
    /// From a pod bound to a Ready node to Running and Ready.
    pub pod_start: Duration,
    /// From a Node registered to Ready (CNI and kubelet start-up).
    pub node_ready: Duration,
}

impl Timing {
    /// Real time a guide duration takes.
    pub fn real(&self, guide: Duration) -> Duration {
        guide.div_f64(self.scale)
    }
}

/// A node pool the cluster has before any autoscaler runs (not Karpenter's): it hosts the
/// control-plane add-ons, as on a real MKS cluster.
#[derive(Clone, Debug)]
pub struct StaticPool {
    /// Pool name.
    pub name: String,
    /// Flavor.
    pub flavor: String,
    /// Number of nodes.
    pub nodes: u32,
    /// Taints of its nodes (default `CriticalAddonsOnly=true:NoSchedule`, so workloads wait
    /// for nodes of their own).
    pub taints: Vec<Value>,
}

impl Default for StaticPool {
    fn default() -> Self {
        StaticPool {
            name: "system".into(),
            flavor: "b3-16".into(),
            nodes: 1,
            taints: vec![
                json!({"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}),
            ],
        }
    }
}

/// Configuration of a simulated cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// Simulated OVH API (project, cluster, credentials, OVH timings); its region and time
    /// scale are the cluster's.
    pub ovh: ovh::SimConfig,
    /// Simulated API server.
    pub kube: kube::Config,
    /// Pod start-up and node registration delays, and the time scale.
    pub timing: Timing,
    /// Pre-existing pool for add-ons (None: the cluster starts with no node).
    pub static_pool: Option<StaticPool>,
    /// Create the add-ons (CoreDNS Deployment, kube-proxy DaemonSet) in kube-system.
    pub addons: bool,
}

impl ClusterConfig {
    /// The default project and cluster in `region`, at `time_scale`, with the static pool and
    /// add-ons.
    pub fn new(region: &str, time_scale: f64) -> Self {
        let ovh = ovh::SimConfig::single_cluster(region).with_time_scale(time_scale);
        let scale = ovh.time_scale;
        let mut kube = kube::Config::default();
        kube.store.graceful_pod_deletion = true;
        ClusterConfig {
            ovh,
            kube,
            timing: Timing {
                scale,
                pod_start: Duration::from_secs(3),
                node_ready: Duration::from_secs(20),
            },
            static_pool: Some(StaticPool::default()),
            addons: true,
        }
    }
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self::new(ovh::DEFAULT_REGION, 1.0)
    }
}

/// A loop of the cluster: level-triggered, it looks at the whole store each time.
pub(crate) trait Reconciler: Send + 'static {
    /// Whether a store change concerns it.
    fn interested(&self, ev: &WatchEvent) -> bool;
    /// Brings the world closer to what it wants; returns when to run again at the latest.
    fn reconcile(&mut self) -> Option<Duration>;
}

/// Longest sleep of a loop with nothing scheduled (a safety resync).
const RESYNC: Duration = Duration::from_secs(2);

fn spawn_loop<R: Reconciler>(
    store: Arc<Store>,
    mut r: R,
    extra: Option<Arc<Notify>>,
) -> JoinHandle<()> {
    let mut rx = store.subscribe();
    tokio::spawn(async move {
        let never = Arc::new(Notify::new());
        let extra = extra.unwrap_or(never);
        let mut next = Instant::now();
        loop {
            let wake = tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(e) => r.interested(&e),
                    Err(broadcast::error::RecvError::Lagged(_)) => true,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = tokio::time::sleep_until(next.into()) => true,
                _ = extra.notified() => true,
            };
            if !wake {
                continue;
            }
            // Let a burst of writes land, then look once.
            tokio::time::sleep(Duration::from_millis(10)).await;
            while let Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) = rx.try_recv() {}
            // A pass over 10,000 pods takes a while: on the blocking pool, so the API
            // server's HTTP tasks keep their worker threads and clients are not starved.
            let Ok((back, after)) = tokio::task::spawn_blocking(move || {
                let after = r.reconcile();
                (r, after)
            })
            .await
            else {
                return;
            };
            r = back;
            let after = after.unwrap_or(RESYNC).min(RESYNC);
            next = Instant::now() + after.max(Duration::from_millis(1));
        }
    })
}

/// The OVH settings a controller needs, as the guide's environment variables.
#[derive(Clone, Debug)]
pub struct OvhEnv {
    /// `OVH_ENDPOINT`: the simulated API's base URL.
    pub endpoint: String,
    /// `OVH_APPLICATION_KEY`.
    pub application_key: String,
    /// `OVH_APPLICATION_SECRET`.
    pub application_secret: String,
    /// `OVH_CONSUMER_KEY`.
    pub consumer_key: String,
    /// `OVH_SERVICE_NAME`.
    pub service_name: String,
    /// `OVH_KUBE_ID`.
    pub kube_id: String,
    /// `OVH_REGION`.
    pub region: String,
}

/// A running simulated cluster. Dropping it stops everything.
pub struct SimCluster {
    kube: KubeSim,
    ovh: Arc<OvhSim>,
    config: ClusterConfig,
    tasks: Vec<JoinHandle<()>>,
}

/// Namespace and labels of the controller pod whose log `--controller-log` serves.
pub const CONTROLLER_NAMESPACE: &str = "karpenter";
/// `app.kubernetes.io/name` of the controller pod.
pub const CONTROLLER_APP: &str = "karpenter-ovhcloud";

impl SimCluster {
    /// Starts the OVH API, the API server and every loop, seeds the static pool and the
    /// add-ons. Returns once the servers listen (nodes get Ready shortly after: see
    /// [`SimCluster::wait_ready`]).
    pub async fn start(config: ClusterConfig) -> anyhow::Result<SimCluster> {
        let mut ovh_config = config.ovh.clone();
        ovh_config.time_scale = config.timing.scale;
        let ovh = Arc::new(
            OvhSim::start(ovh_config)
                .await
                .context("starting the OVH simulator")?,
        );
        let kube = KubeSim::start(config.kube.clone())
            .await
            .context("starting the API server")?;
        let store = kube.store().clone();
        let project = config
            .ovh
            .projects
            .first()
            .context("no OVH project configured")?;
        let cluster = project
            .clusters
            .first()
            .context("no OVH cluster configured")?;
        let api = api::Api::new(store.clone());

        // OVH node events wake MKS.
        let ovh_events = Arc::new(Notify::new());
        let mut node_rx = ovh.subscribe();
        let notify = ovh_events.clone();
        let mut tasks = vec![tokio::spawn(async move {
            loop {
                match node_rx.recv().await {
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => notify.notify_one(),
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        })];
        let mks = mks::Mks::new(
            api.clone(),
            ovh.clone(),
            &project.service_name,
            &cluster.id,
            &cluster.region,
        );
        tasks.push(spawn_loop(store.clone(), mks, Some(ovh_events)));
        tasks.push(spawn_loop(
            store.clone(),
            scheduler::Scheduler::new(api.clone(), config.timing),
            None,
        ));
        tasks.push(spawn_loop(
            store.clone(),
            kubelet::Kubelet::new(api.clone(), config.timing),
            None,
        ));
        tasks.push(spawn_loop(
            store.clone(),
            workloads::Workloads::new(api.clone(), config.timing),
            None,
        ));
        tasks.push(spawn_loop(
            store.clone(),
            jobs::Jobs::new(api.clone(), config.timing),
            None,
        ));
        tasks.push(spawn_loop(
            store.clone(),
            pdb::Disruption::new(api.clone()),
            None,
        ));

        let sim = SimCluster {
            kube,
            ovh,
            config,
            tasks,
        };
        if let Some(pool) = &sim.config.static_pool {
            sim.seed_static_pool(pool)?;
        }
        if sim.config.addons {
            sim.create_addons()?;
        }
        tracing::info!(kube = %sim.kube.base_url(), ovh = %sim.ovh.base_url(), scale = sim.config.timing.scale, "simulated cluster started");
        Ok(sim)
    }

    fn seed_static_pool(&self, pool: &StaticPool) -> anyhow::Result<()> {
        let env = self.ovh_env();
        let zones: Vec<String> = ovh::catalog::region(&env.region)
            .filter(|r| r.is_multi_zone())
            .map(|r| r.zones().into_iter().take(1).collect())
            .unwrap_or_default();
        let body = json!({
            "name": pool.name, "flavorName": pool.flavor,
            "desiredNodes": pool.nodes, "minNodes": pool.nodes, "maxNodes": pool.nodes.max(1),
            "autoscale": false, "antiAffinity": false, "monthlyBilled": false,
            "availabilityZones": zones,
            "template": {"metadata": {"labels": {}, "annotations": {}, "finalizers": []},
                         "spec": {"unschedulable": false, "taints": pool.taints}},
        });
        self.ovh
            .seed_pool(&env.service_name, &env.kube_id, &body)
            .map_err(|e| anyhow::anyhow!("seeding the static pool: {}", e.message))?;
        Ok(())
    }

    fn create_addons(&self) -> anyhow::Result<()> {
        let store = self.kube.store();
        let ns = "kube-system";
        let critical = json!([{"key": "CriticalAddonsOnly", "operator": "Exists"},
                              {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]);
        let coredns = json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "coredns", "namespace": ns, "labels": {"k8s-app": "kube-dns"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"k8s-app": "kube-dns"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "kube-dns"}},
                    "spec": {
                        "tolerations": critical,
                        "containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.11.3",
                                        "resources": {"requests": {"cpu": "100m", "memory": "70Mi"}, "limits": {"memory": "170Mi"}}}],
                    },
                },
            },
        });
        let kube_proxy = json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "kube-proxy", "namespace": ns, "labels": {"k8s-app": "kube-proxy"}},
            "spec": {
                "selector": {"matchLabels": {"k8s-app": "kube-proxy"}},
                "template": {
                    "metadata": {"labels": {"k8s-app": "kube-proxy"}},
                    "spec": {
                        "hostNetwork": true,
                        "tolerations": [{"operator": "Exists"}],
                        "containers": [{"name": "kube-proxy", "image": "registry.k8s.io/kube-proxy:v1.31.4",
                                        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}}}],
                    },
                },
            },
        });
        let opts = kube::WriteOptions {
            field_manager: Some("mks".into()),
            ..Default::default()
        };
        for (plural, body) in [("deployments", coredns), ("daemonsets", kube_proxy)] {
            let def = store
                .def("apps", "v1", plural)
                .context("apps/v1 resources")?;
            store
                .create(&def, ns, body, &opts)
                .map_err(|e| anyhow::anyhow!("creating add-on {plural}: {}", e.message))?;
        }
        Ok(())
    }

    /// The simulated API server.
    pub fn kube(&self) -> &KubeSim {
        &self.kube
    }

    /// The simulated OVH API.
    pub fn ovh(&self) -> &OvhSim {
        &self.ovh
    }

    /// Durations and time scale.
    pub fn timing(&self) -> Timing {
        self.config.timing
    }

    /// The OVH endpoint, credentials and cluster a controller should use.
    pub fn ovh_env(&self) -> OvhEnv {
        let c = self.ovh.config();
        let cred = &c.credentials[0];
        let project = &c.projects[0];
        let cluster = &project.clusters[0];
        OvhEnv {
            endpoint: self.ovh.base_url(),
            application_key: cred.application_key.clone(),
            application_secret: cred.application_secret.clone(),
            consumer_key: cred.consumer_key.clone(),
            service_name: project.service_name.clone(),
            kube_id: cluster.id.clone(),
            region: cluster.region.clone(),
        }
    }

    /// The guide's environment variables, plus `OVH_ENDPOINT` and the time scale as the
    /// controller reads it (`KARPENTER_TIME_SCALE`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let e = self.ovh_env();
        vec![
            ("OVH_ENDPOINT", e.endpoint),
            ("OVH_APPLICATION_KEY", e.application_key),
            ("OVH_APPLICATION_SECRET", e.application_secret),
            ("OVH_CONSUMER_KEY", e.consumer_key),
            ("OVH_SERVICE_NAME", e.service_name),
            ("OVH_KUBE_ID", e.kube_id),
            ("OVH_REGION", e.region),
            ("KARPENTER_TIME_SCALE", self.config.timing.scale.to_string()),
        ]
    }

    /// Writes [`SimCluster::env`] as a shell file (`export K=V` lines, for `source`).
    pub fn write_env_file(&self, path: &Path, kubeconfig: Option<&Path>) -> std::io::Result<()> {
        let mut text = String::from("# Simulated OVHcloud MKS cluster: `source` this file.\n");
        if let Some(k) = kubeconfig {
            text.push_str(&format!("export KUBECONFIG='{}'\n", k.display()));
        }
        for (k, v) in self.env() {
            text.push_str(&format!("export {k}='{v}'\n"));
        }
        std::fs::write(path, text)
    }

    /// Serves `log` (a file another process writes, read at each request and followed with
    /// `-f`) as the `kubectl logs` of a controller pod `app.kubernetes.io/name=karpenter-ovhcloud`
    /// in namespace `karpenter`, created here on the static pool.
    pub fn serve_controller_log(&self, log: &Path) -> anyhow::Result<String> {
        let store = self.kube.store();
        let opts = kube::WriteOptions {
            field_manager: Some("sim".into()),
            ..Default::default()
        };
        let ns_def = store.def("", "v1", "namespaces").context("namespaces")?;
        if store.get(&ns_def, "", CONTROLLER_NAMESPACE).is_err() {
            store
                .create(
                    &ns_def,
                    "",
                    json!({"metadata": {"name": CONTROLLER_NAMESPACE}}),
                    &opts,
                )
                .map_err(|e| anyhow::anyhow!("creating namespace: {}", e.message))?;
        }
        let name = format!("{CONTROLLER_APP}-sim");
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": CONTROLLER_NAMESPACE,
                         "labels": {"app.kubernetes.io/name": CONTROLLER_APP, "app.kubernetes.io/instance": CONTROLLER_APP}},
            "spec": {
                "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}],
                "containers": [{"name": "controller", "image": "karpenter-ovhcloud:local",
                                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}],
            },
        });
        let pods = store.def("", "v1", "pods").context("pods")?;
        if store.get(&pods, CONTROLLER_NAMESPACE, &name).is_err() {
            store
                .create(&pods, CONTROLLER_NAMESPACE, pod, &opts)
                .map_err(|e| anyhow::anyhow!("creating the controller pod: {}", e.message))?;
        }
        self.kube.set_pod_log_file(CONTROLLER_NAMESPACE, &name, log);
        Ok(name)
    }

    /// Waits (bounded) until every Node is Ready and every pod in kube-system is Running.
    pub async fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let store = self.kube.store();
        let nodes = store.def("", "v1", "nodes").context("nodes")?;
        let pods = store.def("", "v1", "pods").context("pods")?;
        let want_nodes = self
            .config
            .static_pool
            .as_ref()
            .map_or(0, |p| p.nodes as usize);
        let deadline = Instant::now() + timeout;
        loop {
            let ready_nodes = store.with_objects(&nodes.storage, None, |it| {
                let all: Vec<bool> = it
                    .map(|n| model::condition_true(&n.value, "Ready"))
                    .collect();
                (all.len(), all.iter().all(|r| *r))
            });
            let pods_ok = store.with_objects(&pods.storage, Some("kube-system"), |it| {
                let mut ok = true;
                for p in it {
                    ok &=
                        p.value.pointer("/status/phase").and_then(Value::as_str) == Some("Running");
                }
                ok
            });
            let addons_ok = !self.config.addons
                || want_nodes == 0
                || store.with_objects(&pods.storage, Some("kube-system"), |it| it.count()) > 0;
            if ready_nodes.0 >= want_nodes && ready_nodes.1 && pods_ok && addons_ok {
                return Ok(());
            }
            if Instant::now() >= deadline {
                anyhow::bail!("the simulated cluster was not ready after {timeout:?}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for SimCluster {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}
