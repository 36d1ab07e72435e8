//! End-to-end fixture: the simulated Kubernetes API and OVH API on loopback, the guide's CRDs
//! and objects, a minimal MKS link (a READY OVH node becomes a Node with providerID
//! `openstack:///{instanceId}`, the pool template's labels and taints, Ready; a removed OVH node
//! takes its Node along), and the controller binary as its own process.

pub mod cluster;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Node, Pod, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use karpenter_ovhcloud::api::{NodeClaim, NodePool, OVHNodeClass};
use karpenter_ovhcloud::catalog::{allocatable, prices};
use karpenter_ovhcloud_sim::cluster::{ClusterConfig, SimCluster};
use karpenter_ovhcloud_sim::kube::{Config as KubeConfig, KubeSim};
use karpenter_ovhcloud_sim::ovh::{
    OvhSim, SimConfig, DEFAULT_APPLICATION_KEY, DEFAULT_APPLICATION_SECRET, DEFAULT_CONSUMER_KEY,
    DEFAULT_KUBE_ID, DEFAULT_SERVICE_NAME,
};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

/// Guide seconds per real second in these tests: a 2-minute node boot takes 2 s.
pub const SCALE: f64 = 60.0;
pub const REGION: &str = "EU-WEST-PAR";

/// Controller flags for tests whose pods are one batch: at [`SCALE`], the guide's 1 s idle gap
/// is 17 ms of real time, shorter than creating a few pods; 1 min is 1 s, which a burst of a
/// dozen pods stays well within even on a loaded machine (0.5 s was seen to split one).
pub const ONE_BATCH: &[&str] = &[
    "--leader-elect",
    "false",
    "--batch-idle-duration",
    "1m",
    "--batch-max-duration",
    "2m",
];

/// The number in environment variable `name` (the long form of a suite), else `default`.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A free loopback port (for the controller's metrics/health servers in tests that scrape them).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The running world.
pub struct Env {
    pub kube: KubeSim,
    pub ovh: OvhSim,
    pub client: Client,
    pub kubeconfig: tempfile::NamedTempFile,
    pub controller: Option<Child>,
    mks: JoinHandle<()>,
    /// Zones whose READY OVH nodes never register as Nodes.
    unregistered_zones: Arc<Mutex<BTreeSet<String>>>,
}

impl Drop for Env {
    fn drop(&mut self) {
        self.mks.abort();
        if let Some(c) = &mut self.controller {
            let _ = c.start_kill();
        }
    }
}

/// A CRD file: Karpenter's own from the run's CRD set, ours from the chart.
fn crd(file: &str) -> CustomResourceDefinition {
    let dir = if file.starts_with("karpenter.sh_") {
        crate::chart_support::karpenter_crds_dir()
    } else {
        crate::chart_support::chart_dir().join("crds")
    };
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap()
}

/// Creates `obj`; an object of that name already there (the simulated cluster creates the
/// `karpenter` namespace itself) is fine, any other refusal fails the test.
async fn create_once<K>(api: &Api<K>, obj: &K)
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    match api.create(&PostParams::default(), obj).await {
        Ok(_) => {}
        Err(kube::Error::Api(e)) if e.code == 409 => {}
        Err(e) => panic!("creating {obj:?}: {e}"),
    }
}

/// What the guide installs before anything else: the three CRDs (Karpenter's from the run's
/// CRD set, see [`crate::chart_support::CRDS_VARIANT`]) and the `karpenter` namespace.
pub async fn install_crds_and_namespace(client: &Client) {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for f in [
        "karpenter.sh_nodepools.yaml",
        "karpenter.sh_nodeclaims.yaml",
        "karpenter.ovhcloud.sh_ovhnodeclasses.yaml",
    ] {
        create_once(&crds, &crd(f)).await;
    }
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "karpenter"}})).unwrap();
    create_once(&Api::all(client.clone()), &ns).await;
}

/// The full simulated cluster (kube-scheduler, kubelets, MKS) of the guide's region at
/// [`SCALE`], with the guide's 00-02 installed: CRDs, namespace `karpenter`, Secret
/// `ovh-credentials` with the simulated project's keys and OVHNodeClass `default`. Returns the
/// cluster, its admin kubeconfig file (for the controller) and a client.
pub async fn guide_sim_cluster() -> (SimCluster, tempfile::NamedTempFile, Client) {
    let cluster = SimCluster::start(ClusterConfig::new(REGION, SCALE))
        .await
        .unwrap();
    cluster.wait_ready(Duration::from_secs(30)).await.unwrap();
    let kubeconfig = tempfile::NamedTempFile::new().unwrap();
    cluster.kube().write_kubeconfig(kubeconfig.path()).unwrap();
    let kc = Kubeconfig::from_yaml(&cluster.kube().kubeconfig_yaml()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = Client::try_from(cfg).unwrap();
    install_crds_and_namespace(&client).await;
    let post = PostParams::default();
    let env = cluster.ovh_env();
    Api::<Secret>::namespaced(client.clone(), "karpenter")
        .create(&post, &serde_json::from_value(json!({"metadata": {"name": "ovh-credentials"},
            "stringData": {"applicationKey": env.application_key, "applicationSecret": env.application_secret,
                           "consumerKey": env.consumer_key}})).unwrap())
        .await
        .unwrap();
    Api::<OVHNodeClass>::all(client.clone())
        .create(&post, &serde_json::from_value(json!({"apiVersion": "karpenter.ovhcloud.sh/v1alpha1",
            "kind": "OVHNodeClass", "metadata": {"name": "default"},
            "spec": {"serviceName": env.service_name, "kubeId": env.kube_id, "region": env.region,
                     "credentialsSecretRef": {"name": "ovh-credentials", "namespace": "karpenter"}}})).unwrap())
        .await
        .unwrap();
    (cluster, kubeconfig, client)
}

/// The controller's command line against a [`guide_sim_cluster`]: the cluster's OVH endpoint
/// and ids, the time scale, loopback metrics and health ports, text logs (stderr) appended to
/// `log` (a restarted controller keeps its predecessor's lines), no OVH keys from the
/// environment (they come from the OVHNodeClass's Secret); `extra` flags last.
pub fn sim_cluster_controller(
    cluster: &SimCluster,
    kubeconfig: &std::path::Path,
    log: &std::path::Path,
    extra: &[&str],
) -> Command {
    let env = cluster.ovh_env();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_karpenter-ovhcloud"));
    cmd.arg("controller")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["--namespace", "karpenter", "--ovh-endpoint", &env.endpoint])
        .args(["--service-name", &env.service_name])
        .args(["--kube-id", &env.kube_id, "--region", &env.region])
        .args(["--time-scale", &SCALE.to_string()])
        .args(["--metrics-address", "127.0.0.1:0"])
        .args(["--health-address", "127.0.0.1:0", "--log-format", "text"])
        .args(extra)
        .env_remove("OVH_APPLICATION_KEY")
        .env_remove("OVH_APPLICATION_SECRET")
        .env_remove("OVH_CONSUMER_KEY")
        .env_remove("KUBECONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(log)
                .expect("the controller's log file"),
        ))
        .kill_on_drop(true);
    cmd
}

/// A Deployment of pause pods in `default` (grace period 0); `spec` is merged into the pod
/// spec, `meta` into the pod template's metadata.
pub async fn deploy(
    client: &Client,
    name: &str,
    replicas: i32,
    cpu: &str,
    memory: &str,
    spec: Value,
    meta: Value,
) {
    let mut pod_meta = json!({"labels": {"app": name}});
    merge(&mut pod_meta, meta);
    let mut pod_spec = json!({"terminationGracePeriodSeconds": 0, "containers": [{"name": name,
        "image": "registry.k8s.io/pause:3.9",
        "resources": {"requests": {"cpu": cpu, "memory": memory}}}]});
    merge(&mut pod_spec, spec);
    Api::<Deployment>::namespaced(client.clone(), "default")
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"apiVersion": "apps/v1",
            "kind": "Deployment", "metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                "template": {"metadata": pod_meta, "spec": pod_spec}}}))
            .unwrap(),
        )
        .await
        .unwrap();
}

/// Polls `f` until it returns Some (bounded: `secs` seconds of real time).
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        if std::time::Instant::now() > deadline {
            panic!("timed out after {secs}s waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Env {
    /// Starts both simulators with the guide's namespace, Secret and CRDs.
    pub async fn start() -> Self {
        Self::start_with(SimConfig::default().with_time_scale(SCALE)).await
    }

    /// Starts with a custom OVH simulator configuration.
    pub async fn start_with(ovh_config: SimConfig) -> Self {
        let kube = KubeSim::start(KubeConfig::default()).await.unwrap();
        let ovh = OvhSim::start(ovh_config).await.unwrap();
        let kubeconfig = tempfile::NamedTempFile::new().unwrap();
        kube.write_kubeconfig(kubeconfig.path()).unwrap();
        let kc = Kubeconfig::from_yaml(&kube.kubeconfig_yaml()).unwrap();
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .unwrap();
        cfg.default_retry = false;
        let client = Client::try_from(cfg).unwrap();
        install_crds_and_namespace(&client).await;
        let unregistered_zones = Arc::new(Mutex::new(BTreeSet::new()));
        let mks = tokio::spawn(mks_link(
            client.clone(),
            format!("http://{}/_sim/state", ovh.addr()),
            unregistered_zones.clone(),
        ));
        Self {
            kube,
            ovh,
            client,
            kubeconfig,
            controller: None,
            mks,
            unregistered_zones,
        }
    }

    /// From now on, OVH nodes of `zone` become READY but never join the cluster.
    pub fn never_register(&self, zone: &str) {
        self.unregistered_zones
            .lock()
            .unwrap()
            .insert(zone.to_string());
    }

    /// The guide's 01-03: Secret `ovh-credentials`, OVHNodeClass `default`, NodePool
    /// `demo-pool` (b3-8 or b3-16).
    pub async fn with_demo_pool(ovh_config: SimConfig) -> Self {
        let env = Self::start_with(ovh_config).await;
        env.default_secret().await;
        env.nodeclass("default", "ovh-credentials", json!({})).await;
        env.nodepool("demo-pool", "default", demo_pool(), json!({}))
            .await;
        env
    }

    /// The guide's credentials Secret (01) with the simulator's keys.
    pub async fn secret(&self, name: &str, data: Value) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), "karpenter");
        api.create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))
                .unwrap(),
        )
        .await
        .unwrap();
    }

    /// The default Secret `ovh-credentials`.
    pub async fn default_secret(&self) {
        self.secret(
            "ovh-credentials",
            json!({"applicationKey": DEFAULT_APPLICATION_KEY,
                   "applicationSecret": DEFAULT_APPLICATION_SECRET,
                   "consumerKey": DEFAULT_CONSUMER_KEY}),
        )
        .await;
    }

    /// An OVHNodeClass (02, 10, 12) reading Secret `secret`.
    pub async fn nodeclass(&self, name: &str, secret: &str, extra: Value) {
        let mut spec = json!({"serviceName": DEFAULT_SERVICE_NAME, "kubeId": DEFAULT_KUBE_ID,
            "region": REGION, "credentialsSecretRef": {"name": secret, "namespace": "karpenter"}});
        merge(&mut spec, extra);
        self.apply(
            json!({"apiVersion": "karpenter.ovhcloud.sh/v1alpha1", "kind": "OVHNodeClass",
            "metadata": {"name": name}, "spec": spec}),
        )
        .await;
    }

    /// A NodePool with the given requirements (03, 05, 08, 11).
    pub async fn nodepool(&self, name: &str, class: &str, requirements: Value, extra: Value) {
        let mut np = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": name},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": class},
                "requirements": requirements}},
              "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
              "limits": {"cpu": "100"}}});
        merge(&mut np, extra);
        self.apply(np).await;
    }

    async fn apply(&self, obj: Value) {
        let kind = obj["kind"].as_str().unwrap().to_string();
        match kind.as_str() {
            "OVHNodeClass" => {
                let api: Api<OVHNodeClass> = Api::all(self.client.clone());
                api.create(
                    &PostParams::default(),
                    &serde_json::from_value(obj).unwrap(),
                )
                .await
                .unwrap();
            }
            "NodePool" => {
                let api: Api<NodePool> = Api::all(self.client.clone());
                api.create(
                    &PostParams::default(),
                    &serde_json::from_value(obj).unwrap(),
                )
                .await
                .unwrap();
            }
            other => panic!("unexpected kind {other}"),
        }
    }

    /// `n` identical pending pods of a workload (what a Deployment's ReplicaSet creates).
    pub async fn pods(&self, workload: &str, n: usize, cpu: &str, memory: &str, extra_spec: Value) {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        for i in 0..n {
            let mut spec = json!({"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.9",
                "resources": {"requests": {"cpu": cpu, "memory": memory}}}]});
            merge(&mut spec, extra_spec.clone());
            let pod = json!({"metadata": {"name": format!("{workload}-{i}"), "namespace": "default",
                "labels": {"app": workload},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "name": format!("{workload}-rs"), "uid": format!("uid-{workload}")}]},
                "spec": spec,
                "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                    "reason": "Unschedulable", "message": "0/0 nodes are available"}]}});
            api.create(
                &PostParams::default(),
                &serde_json::from_value(pod).unwrap(),
            )
            .await
            .unwrap();
        }
    }

    /// Starts the controller process.
    pub async fn start_controller(&mut self, extra: &[&str]) {
        self.controller = Some(self.spawn_controller(extra));
    }

    /// A controller process (not kept by the fixture).
    pub fn spawn_controller(&self, extra: &[&str]) -> Child {
        self.controller_command(extra)
            .spawn()
            .expect("start the controller")
    }

    /// The controller's command line (stderr shown with `CONTROLLER_LOG` set, else dropped).
    pub fn controller_command(&self, extra: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_karpenter-ovhcloud"));
        cmd.arg("controller")
            .arg("--kubeconfig")
            .arg(self.kubeconfig.path())
            .args(["--namespace", "karpenter"])
            .args(["--ovh-endpoint", &self.ovh.base_url()])
            .args(["--service-name", DEFAULT_SERVICE_NAME])
            .args(["--kube-id", DEFAULT_KUBE_ID])
            .args(["--region", REGION])
            .args(["--time-scale", &SCALE.to_string()])
            .args(["--log-format", "text"])
            .args(extra)
            .args(
                ["--metrics-address", "--health-address"]
                    .into_iter()
                    .filter(|flag| !extra.contains(flag))
                    .flat_map(|flag| [flag, "127.0.0.1:0"]),
            )
            .env_remove("OVH_APPLICATION_KEY")
            .env_remove("OVH_APPLICATION_SECRET")
            .env_remove("OVH_CONSUMER_KEY")
            .env_remove("KUBECONFIG")
            .env("RUST_LOG", "info,kube=warn,tower=warn,hyper=warn")
            .stdout(Stdio::null())
            .stderr(if std::env::var("CONTROLLER_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .kill_on_drop(true);
        cmd
    }

    /// Every NodeClaim.
    pub async fn nodeclaims(&self) -> Vec<NodeClaim> {
        Api::<NodeClaim>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }

    /// The first NodeClaim to be Initialized (waits up to `secs` seconds).
    pub async fn initialized_claim(&self, secs: u64) -> NodeClaim {
        eventually("a NodeClaim initialized", secs, || async {
            self.nodeclaims().await.into_iter().find(|c| {
                c.is_condition_true(karpenter_ovhcloud::api::nodeclaim::CONDITION_INITIALIZED)
            })
        })
        .await
    }

    /// The `NodeClassReady` condition of NodePool `name`, once it has one (waits up to 60 s).
    pub async fn nodeclass_ready(&self, name: &str) -> karpenter_ovhcloud::api::Condition {
        eventually("the NodePool's NodeClassReady condition", 60, || async {
            let np = Api::<NodePool>::all(self.client.clone())
                .get(name)
                .await
                .ok()?;
            np.status?
                .conditions
                .into_iter()
                .find(|c| c.type_ == "NodeClassReady")
        })
        .await
    }

    /// Every Event (events.k8s.io/v1, all namespaces).
    pub async fn events(&self) -> Vec<Event> {
        events(&self.client).await
    }

    /// An Event of `reason` about the object named `name` (any object when None).
    pub async fn event(&self, name: Option<&str>, reason: &str) -> Option<Event> {
        event(&self.client, name, reason).await
    }

    /// Every Node.
    pub async fn nodes(&self) -> Vec<Node> {
        Api::<Node>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }

    /// OVH pools (name -> pool JSON) of the default cluster, visible or not, with their nodes.
    pub fn ovh_pools(&self) -> BTreeMap<String, (Value, Vec<karpenter_ovhcloud_sim::ovh::Node>)> {
        self.ovh.state().projects[0].clusters[0]
            .pools
            .iter()
            .map(|p| {
                (
                    p.pool["name"].as_str().unwrap_or_default().to_string(),
                    (p.pool.clone(), p.nodes.clone()),
                )
            })
            .collect()
    }

    /// The OVH writes (POST/PUT/DELETE) on node pools, in order: (method, pool id or "", body).
    pub fn pool_writes(&self) -> Vec<(String, String, Option<Value>)> {
        self.ovh
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && r.endpoint.contains("/nodepool"))
            .map(|r| (r.method, r.path, r.body))
            .collect()
    }
}

/// Every Event (events.k8s.io/v1, all namespaces).
pub async fn events(client: &Client) -> Vec<Event> {
    Api::<Event>::all(client.clone())
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default()
}

/// An Event of `reason` about the object named `name` (any object when None).
pub async fn event(client: &Client, name: Option<&str>, reason: &str) -> Option<Event> {
    events(client).await.into_iter().find(|e| {
        e.reason.as_deref() == Some(reason)
            && name.is_none_or(|n| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(n))
    })
}

/// Requirements of the guide's `demo-pool` (03).
pub fn demo_pool() -> Value {
    json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16"]}])
}

/// Asserts every pool got at most one write (the scenario is one batch).
pub fn assert_one_write_per_pool(env: &Env) {
    let mut per_pool: BTreeMap<String, usize> = BTreeMap::new();
    for (method, path, body) in env.pool_writes() {
        let key = match method.as_str() {
            "POST" => body
                .and_then(|b| b["name"].as_str().map(str::to_string))
                .unwrap_or_default(),
            _ => path,
        };
        *per_pool.entry(key).or_default() += 1;
    }
    assert!(per_pool.values().all(|n| *n == 1), "{per_pool:?}");
}

/// Deep-merges the object `extra` into `base` (nested objects merged, other values replaced).
pub fn merge(base: &mut Value, extra: Value) {
    if let (Some(b), Value::Object(e)) = (base.as_object_mut(), extra) {
        for (k, v) in e {
            match b.get_mut(&k) {
                Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                _ => {
                    b.insert(k, v);
                }
            }
        }
    }
}

/// A Node for a READY OVH node, as MKS registers it.
fn node_object(pool: &Value, node: &karpenter_ovhcloud_sim::ovh::Node) -> Node {
    let template = &pool["template"];
    let mut labels: BTreeMap<String, String> =
        serde_json::from_value(template["metadata"]["labels"].clone()).unwrap_or_default();
    labels.insert(
        "node.kubernetes.io/instance-type".into(),
        node.flavor.clone(),
    );
    labels.insert("kubernetes.io/hostname".into(), node.name.clone());
    labels.insert("kubernetes.io/arch".into(), "amd64".into());
    labels.insert("kubernetes.io/os".into(), "linux".into());
    labels.insert(
        "topology.kubernetes.io/region".into(),
        REGION.to_lowercase(),
    );
    if let Some(z) = pool["availabilityZones"].get(0).and_then(Value::as_str) {
        labels.insert("topology.kubernetes.io/zone".into(), z.to_string());
    }
    let known = prices::known(&node.flavor).expect("a flavor of the table");
    let capacity = allocatable::capacity(known.vcpus, known.ram_gib, None, 0);
    let alloc = allocatable::estimate(&capacity);
    serde_json::from_value(json!({
        "metadata": {"name": node.name, "labels": labels},
        "spec": {"providerID": format!("openstack:///{}", node.instance_id),
                 "taints": template["spec"]["taints"].clone()},
        "status": {
            "capacity": {"cpu": capacity.cpu_millis.to_string() + "m", "memory": capacity.memory_bytes.to_string(), "pods": "110"},
            "allocatable": {"cpu": alloc.cpu_millis.to_string() + "m", "memory": alloc.memory_bytes.to_string(), "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}
    }))
    .unwrap()
}

/// The MKS link until the simulated cluster provides it.
async fn mks_link(
    client: Client,
    state_url: String,
    unregistered_zones: Arc<Mutex<BTreeSet<String>>>,
) {
    let nodes: Api<Node> = Api::all(client);
    let http = reqwest::Client::new();
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let Ok(resp) = http.get(&state_url).send().await else {
            continue;
        };
        let Ok(state) = resp
            .json::<karpenter_ovhcloud_sim::ovh::StateSnapshot>()
            .await
        else {
            continue;
        };
        let mut live = std::collections::HashSet::new();
        for pool in state
            .projects
            .iter()
            .flat_map(|p| &p.clusters)
            .flat_map(|c| &c.pools)
        {
            let zone = pool.pool["availabilityZones"]
                .get(0)
                .and_then(Value::as_str)
                .unwrap_or_default();
            let held = unregistered_zones.lock().unwrap().contains(zone);
            for n in &pool.nodes {
                if n.status == "READY" {
                    live.insert(n.name.clone());
                    if !held && nodes.get_opt(&n.name).await.ok().flatten().is_none() {
                        let _ = nodes
                            .create(&PostParams::default(), &node_object(&pool.pool, n))
                            .await;
                    }
                }
            }
        }
        if let Ok(list) = nodes.list(&ListParams::default()).await {
            for n in list.items {
                let ours = n
                    .spec
                    .as_ref()
                    .and_then(|s| s.provider_id.as_deref())
                    .is_some_and(|p| p.starts_with("openstack:///"));
                if ours && !live.contains(&n.name_any()) {
                    let _ = nodes.delete(&n.name_any(), &DeleteParams::default()).await;
                }
            }
        }
    }
}
