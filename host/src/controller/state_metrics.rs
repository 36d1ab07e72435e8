//! Upstream Karpenter's metrics of the cluster's state (`pkg/controllers/metrics/node` and
//! `pkg/controllers/metrics/pod`), with upstream's names, labels and types:
//!
//! - per Node, every 5 s: `karpenter_nodes_allocatable`, `karpenter_nodes_total_pod_requests`,
//!   `karpenter_nodes_total_pod_limits`, `karpenter_nodes_total_daemon_requests`,
//!   `karpenter_nodes_total_daemon_limits`, `karpenter_nodes_system_overhead`,
//!   `karpenter_nodes_current_lifetime_seconds`, and `karpenter_cluster_utilization_percent`;
//! - per pod, on every watch event: `karpenter_pods_state` (1 per pod, its labels saying where it
//!   runs and how it is) and `karpenter_pods_startup_duration_seconds` (from creation to Ready,
//!   for pods first seen Pending).
//!
//! Node series read the Node cache and the cluster model's pods (no API call).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::ResourceExt;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::context::Context;
use super::metrics::{resource_type, resource_value, GaugeSet};
use super::summary::Summary;
use crate::api::labels;
use crate::clock::Clock;
use crate::scheduling::Resources;

/// How often the node series are rebuilt (upstream's requeue).
pub const NODE_METRICS_INTERVAL: Duration = Duration::from_secs(5);

/// Upstream's `getWellKnownLabels`: the node labels every node series carries, under their
/// snake-case names, plus this provider's well-known labels.
const WELL_KNOWN: [(&str, &str); 11] = [
    (labels::NODEPOOL, "nodepool"),
    (labels::ZONE, "zone"),
    (labels::REGION, "region"),
    (labels::INSTANCE_TYPE, "instance_type"),
    (labels::ARCH, "arch"),
    (labels::OS, "os"),
    (labels::CAPACITY_TYPE, "capacity_type"),
    ("node.kubernetes.io/windows-build", "windows_build"),
    (labels::FLAVOR_FAMILY, "flavor_family"),
    (labels::FLAVOR_GENERATION, "flavor_generation"),
    (labels::FLAVOR_CATEGORY, "flavor_category"),
];

/// Labels of the per-node series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeMetricLabels {
    /// Node name.
    pub node_name: String,
    /// `status.phase` (empty on current Kubernetes).
    pub node_phase: String,
    /// `true` when the node belongs to a NodePool.
    pub managed: String,
    /// `karpenter.sh/nodepool`.
    pub nodepool: String,
    /// `topology.kubernetes.io/zone`.
    pub zone: String,
    /// `topology.kubernetes.io/region`.
    pub region: String,
    /// `node.kubernetes.io/instance-type`.
    pub instance_type: String,
    /// `kubernetes.io/arch`.
    pub arch: String,
    /// `kubernetes.io/os`.
    pub os: String,
    /// `karpenter.sh/capacity-type`.
    pub capacity_type: String,
    /// `node.kubernetes.io/windows-build`.
    pub windows_build: String,
    /// `karpenter.ovhcloud.sh/flavor-family`.
    pub flavor_family: String,
    /// `karpenter.ovhcloud.sh/flavor-generation`.
    pub flavor_generation: String,
    /// `karpenter.ovhcloud.sh/flavor-category`.
    pub flavor_category: String,
}

impl NodeMetricLabels {
    /// The labels of `node`'s series.
    pub fn of(node: &Node) -> Self {
        let l = node.labels();
        let get = |key: &str| l.get(key).cloned().unwrap_or_default();
        let named: HashMap<&str, String> = WELL_KNOWN
            .iter()
            .map(|(key, name)| (*name, get(key)))
            .collect();
        let take = |name: &str| named.get(name).cloned().unwrap_or_default();
        NodeMetricLabels {
            node_name: node.name_any(),
            node_phase: node
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_default(),
            managed: l.contains_key(labels::NODEPOOL).to_string(),
            nodepool: take("nodepool"),
            zone: take("zone"),
            region: take("region"),
            instance_type: take("instance_type"),
            arch: take("arch"),
            os: take("os"),
            capacity_type: take("capacity_type"),
            windows_build: take("windows_build"),
            flavor_family: take("flavor_family"),
            flavor_generation: take("flavor_generation"),
            flavor_category: take("flavor_category"),
        }
    }
}

/// Labels of the per-node, per-resource series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeResourceLabels {
    /// The node's labels.
    #[prometheus(flatten)]
    pub node: NodeMetricLabels,
    /// `cpu`, `memory`, `ephemeral_storage`, `pods`, `nvidia.com/gpu`...
    pub resource_type: String,
}

/// Labels `{resource_type}` of `karpenter_cluster_utilization_percent`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceTypeLabels {
    /// `cpu`, `memory`...
    pub resource_type: String,
}

/// The per-node gauges.
#[derive(Debug, Default)]
pub struct NodeGauges {
    /// `karpenter_nodes_allocatable`.
    pub allocatable: GaugeSet<NodeResourceLabels>,
    /// `karpenter_nodes_total_pod_requests` (DaemonSet pods included).
    pub total_pod_requests: GaugeSet<NodeResourceLabels>,
    /// `karpenter_nodes_total_pod_limits` (DaemonSet pods included).
    pub total_pod_limits: GaugeSet<NodeResourceLabels>,
    /// `karpenter_nodes_total_daemon_requests`.
    pub total_daemon_requests: GaugeSet<NodeResourceLabels>,
    /// `karpenter_nodes_total_daemon_limits`.
    pub total_daemon_limits: GaugeSet<NodeResourceLabels>,
    /// `karpenter_nodes_system_overhead`: capacity minus allocatable.
    pub system_overhead: GaugeSet<NodeResourceLabels>,
    /// `karpenter_nodes_current_lifetime_seconds`.
    pub lifetime: GaugeSet<NodeMetricLabels>,
    /// `karpenter_cluster_utilization_percent`: pod requests over allocatable, every node.
    pub cluster_utilization: GaugeSet<ResourceTypeLabels>,
}

/// Upstream's value of each resource of `r` (CPU in cores), without the pod slot, as a pod's
/// requests and limits list them; GPUs only when there are some.
fn resource_values(r: &Resources) -> Vec<(&'static str, f64)> {
    let mut out = vec![
        ("cpu", r.cpu_millis as f64 / 1000.0),
        ("memory", r.memory_bytes as f64),
        ("ephemeral-storage", r.ephemeral_storage_bytes as f64),
    ];
    if r.gpu > 0 {
        out.push((crate::scheduling::convert::GPU_RESOURCE, f64::from(r.gpu)));
    }
    out
}

/// The series of one resource list of a node.
fn series(
    node: &NodeMetricLabels,
    values: impl IntoIterator<Item = (String, f64)>,
) -> Vec<(NodeResourceLabels, f64)> {
    values
        .into_iter()
        .map(|(name, v)| {
            (
                NodeResourceLabels {
                    node: node.clone(),
                    resource_type: resource_type(&name),
                },
                v,
            )
        })
        .collect()
}

impl NodeGauges {
    /// Rebuilds every series from `nodes` and their pods (`pods_on`: requests and limits of
    /// each pod, and whether a DaemonSet owns it); series of nodes gone are dropped.
    pub fn update(
        &self,
        nodes: &[Arc<Node>],
        pods_on: impl Fn(&str) -> Vec<crate::state::BoundPod>,
        clock: &Clock,
    ) {
        let mut allocatable = Vec::new();
        let mut overhead = Vec::new();
        let mut requests = Vec::new();
        let mut limits = Vec::new();
        let mut daemon_requests = Vec::new();
        let mut daemon_limits = Vec::new();
        let mut lifetime = Vec::new();
        let mut cluster_allocatable: BTreeMap<String, f64> = BTreeMap::new();
        let mut cluster_requested: BTreeMap<String, f64> = BTreeMap::new();
        for node in nodes {
            let labels = NodeMetricLabels::of(node);
            let status = node.status.as_ref();
            let alloc = status
                .and_then(|s| s.allocatable.clone())
                .unwrap_or_default();
            let capacity = status.and_then(|s| s.capacity.clone()).unwrap_or_default();
            let values = |list: &BTreeMap<
                String,
                k8s_openapi::apimachinery::pkg::api::resource::Quantity,
            >| {
                list.iter()
                    .filter_map(|(k, q)| Some((k.clone(), resource_value(k, q)?)))
                    .collect::<BTreeMap<String, f64>>()
            };
            let alloc = values(&alloc);
            let capacity = values(&capacity);
            for (k, v) in &alloc {
                *cluster_allocatable.entry(k.clone()).or_default() += v;
            }
            overhead.extend(series(
                &labels,
                capacity.iter().map(|(k, c)| {
                    let diff = c - alloc.get(k).copied().unwrap_or(0.0);
                    // Cores are read to the millicore: say the difference as exactly.
                    let diff = match k.as_str() {
                        "cpu" => (diff * 1000.0).round() / 1000.0,
                        _ => diff,
                    };
                    (k.clone(), diff)
                }),
            ));
            allocatable.extend(series(&labels, alloc));
            let pods = pods_on(&labels.node_name);
            let total = |daemon_only: bool, of: fn(&crate::state::BoundPod) -> Resources| {
                pods.iter()
                    .filter(|p| !daemon_only || p.daemon)
                    .fold(Resources::default(), |s, p| s + of(p))
            };
            let req = total(false, |p| p.spec.requests);
            for (k, v) in resource_values(&req) {
                *cluster_requested.entry(k.to_owned()).or_default() += v;
            }
            let named = |r: &Resources| {
                resource_values(r)
                    .into_iter()
                    .map(|(k, v)| (k.to_owned(), v))
                    .collect::<Vec<_>>()
            };
            requests.extend(series(&labels, named(&req)));
            limits.extend(series(&labels, named(&total(false, |p| p.limits))));
            daemon_requests.extend(series(&labels, named(&total(true, |p| p.spec.requests))));
            daemon_limits.extend(series(&labels, named(&total(true, |p| p.limits))));
            let age = node
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| clock.guide_since(t.0).as_secs_f64())
                .unwrap_or(0.0);
            lifetime.push((labels, age));
        }
        self.allocatable.replace(allocatable);
        self.system_overhead.replace(overhead);
        self.total_pod_requests.replace(requests);
        self.total_pod_limits.replace(limits);
        self.total_daemon_requests.replace(daemon_requests);
        self.total_daemon_limits.replace(daemon_limits);
        self.lifetime.replace(lifetime);
        self.cluster_utilization.replace(
            cluster_allocatable
                .iter()
                .filter(|(_, a)| **a > 0.0)
                .map(|(k, a)| {
                    let used = cluster_requested.get(k).copied().unwrap_or(0.0);
                    (
                        ResourceTypeLabels {
                            resource_type: resource_type(k),
                        },
                        100.0 * used / a,
                    )
                }),
        );
    }

    /// Registers the families under upstream's names.
    pub fn register(&self, registry: &mut Registry) {
        let gauges = [
            ("karpenter_nodes_allocatable", "Node allocatable are the resources allocatable by nodes", &self.allocatable),
            ("karpenter_nodes_total_pod_requests", "Node total pod requests are the resources requested by pods bound to nodes, including the DaemonSet pods", &self.total_pod_requests),
            ("karpenter_nodes_total_pod_limits", "Node total pod limits are the resources specified by pod limits, including the DaemonSet pods", &self.total_pod_limits),
            ("karpenter_nodes_total_daemon_requests", "Node total daemon requests are the resource requested by DaemonSet pods bound to nodes", &self.total_daemon_requests),
            ("karpenter_nodes_total_daemon_limits", "Node total daemon limits are the resources specified by DaemonSet pod limits", &self.total_daemon_limits),
            ("karpenter_nodes_system_overhead", "Node system daemon overhead are the resources reserved for system overhead, the difference between the node's capacity and allocatable values are reported by the status", &self.system_overhead),
        ];
        for (name, help, set) in gauges {
            registry.register(name, help, set.family());
        }
        registry.register(
            "karpenter_nodes_current_lifetime_seconds",
            "Node age in seconds",
            self.lifetime.family(),
        );
        registry.register(
            "karpenter_cluster_utilization_percent",
            "Utilization of allocatable resources by pod requests",
            self.cluster_utilization.family(),
        );
    }
}

/// Labels of `karpenter_pods_state`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PodStateLabels {
    /// Pod name.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Its first owner as a self link, e.g. `/apis/apps/v1/namespaces/default/replicasets/web-1`.
    pub owner: String,
    /// The node it is bound to.
    pub node: String,
    /// `true` once bound.
    pub scheduled: String,
    /// Its node's NodePool.
    pub nodepool: String,
    /// Its node's zone.
    pub zone: String,
    /// Its node's architecture.
    pub arch: String,
    /// Its node's capacity type.
    pub capacity_type: String,
    /// Its node's instance type (OVH flavor).
    pub instance_type: String,
    /// `status.phase`.
    pub phase: String,
    /// `true` when its Ready condition is.
    pub ready: String,
    /// `true` when its node belongs to a NodePool.
    pub managed: String,
}

/// `karpenter_pods_state` and `karpenter_pods_startup_duration_seconds`.
#[derive(Debug)]
pub struct PodMetrics {
    /// `karpenter_pods_state`: 1 per pod.
    pub state: Family<PodStateLabels, Gauge<f64, AtomicU64>>,
    /// `karpenter_pods_startup_duration_seconds`.
    pub startup: Arc<Summary>,
    /// Each pod's current series, and the pods seen Pending that have not started yet.
    pods: Mutex<(HashMap<String, PodStateLabels>, HashSet<String>)>,
}

impl Default for PodMetrics {
    fn default() -> Self {
        PodMetrics {
            state: Family::default(),
            startup: Arc::new(Summary::new(
                "karpenter_pods_startup_duration_seconds",
                "The time from pod creation until the pod is running",
                None,
            )),
            pods: Mutex::default(),
        }
    }
}

impl PodMetrics {
    /// Follows a pod that was added or changed; `node` looks a Node up by name.
    pub fn apply(&self, pod: &Pod, node: impl Fn(&str) -> Option<Arc<Node>>, clock: &Clock) {
        let key = crate::state::key_of(&pod.metadata);
        let labels = pod_labels(pod, node);
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let (series, pending) = &mut *pods;
        if let Some(old) = series.insert(key.clone(), labels.clone()) {
            if old != labels {
                self.state.remove(&old);
            }
        }
        self.state.get_or_create(&labels).set(1.0);
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        if phase == Some("Pending") {
            pending.insert(key);
            return;
        }
        if !pending.contains(&key) {
            return;
        }
        let ready_since = pod
            .status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready" && c.status == "True"))
            .and_then(|c| c.last_transition_time.as_ref());
        if let (Some(ready), Some(created)) = (ready_since, &pod.metadata.creation_timestamp) {
            let took = ready.0.duration_since(created.0);
            let took = Duration::try_from(took).unwrap_or_default();
            self.startup.observe("", clock.guide(took).as_secs_f64());
            pending.remove(&key);
        } else if matches!(phase, Some("Succeeded" | "Failed")) {
            // A terminal pod never became Ready: no startup to measure.
            pending.remove(&key);
        }
    }

    /// Forgets a deleted pod.
    pub fn delete(&self, pod: &Pod) {
        let key = crate::state::key_of(&pod.metadata);
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = pods.0.remove(&key) {
            self.state.remove(&old);
        }
        pods.1.remove(&key);
    }

    /// Forgets the pods not in `live` (after a relist, which reports no deletion of the pods
    /// that went while the watch was down).
    pub fn retain(&self, live: &std::collections::HashSet<crate::state::ObjectKey>) {
        let mut pods = self.pods.lock().unwrap_or_else(|e| e.into_inner());
        let (series, pending) = &mut *pods;
        series.retain(|key, labels| {
            let keep = live.contains(key);
            if !keep {
                self.state.remove(labels);
            }
            keep
        });
        pending.retain(|key| live.contains(key));
    }

    /// Registers the families under upstream's names (the summary is encoded apart).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "karpenter_pods_state",
            "Pod state is the current state of pods. This metric can be used several ways as it is labeled by the pod name, namespace, owner, node, nodepool name, zone, architecture, capacity type, instance type, pod phase, and pod readiness",
            self.state.clone(),
        );
    }
}

/// A pod's `karpenter_pods_state` labels, as upstream's `makeLabels`.
fn pod_labels(pod: &Pod, node: impl Fn(&str) -> Option<Arc<Node>>) -> PodStateLabels {
    let namespace = pod.namespace().unwrap_or_default();
    let owner = pod
        .owner_references()
        .first()
        .map(|o| {
            format!(
                "/apis/{}/namespaces/{namespace}/{}s/{}",
                o.api_version,
                o.kind.to_lowercase(),
                o.name
            )
        })
        .unwrap_or_default();
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let host = (!node_name.is_empty()).then(|| node(&node_name)).flatten();
    let label = |key: &str| {
        host.as_ref()
            .and_then(|n| n.labels().get(key).cloned())
            .unwrap_or_default()
    };
    let status = pod.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    let nodepool = label(labels::NODEPOOL);
    PodStateLabels {
        name: pod.name_any(),
        namespace,
        owner,
        scheduled: (!node_name.is_empty()).to_string(),
        node: node_name,
        zone: label(labels::ZONE),
        arch: label(labels::ARCH),
        capacity_type: label(labels::CAPACITY_TYPE),
        instance_type: label(labels::INSTANCE_TYPE),
        phase: status.and_then(|s| s.phase.clone()).unwrap_or_default(),
        ready: ready.to_string(),
        managed: (!nodepool.is_empty()).to_string(),
        nodepool,
    }
}

/// Rebuilds the node series every [`NODE_METRICS_INTERVAL`].
pub async fn run(ctx: Arc<Context>) {
    loop {
        let nodes = ctx.kube.caches.nodes.state();
        ctx.metrics
            .nodes
            .update(&nodes, |n| ctx.model.cluster().pods_on(n), &ctx.clock);
        tokio::time::sleep(NODE_METRICS_INTERVAL).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node() -> Arc<Node> {
        Arc::new(
            serde_json::from_value(json!({
                "metadata": {"name": "n1", "creationTimestamp": "2026-01-01T00:00:00Z",
                    "labels": {"karpenter.sh/nodepool": "demo", "node.kubernetes.io/instance-type": "b3-8",
                        "topology.kubernetes.io/zone": "eu-west-par-a", "kubernetes.io/arch": "amd64"}},
                "status": {"capacity": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                    "allocatable": {"cpu": "1850m", "memory": "7Gi", "pods": "110"}}
            }))
            .unwrap(),
        )
    }

    fn pod(name: &str, phase: &str, ready_at: Option<&str>) -> Pod {
        let mut conditions = vec![];
        if let Some(at) = ready_at {
            conditions.push(json!({"type": "Ready", "status": "True", "lastTransitionTime": at}));
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-1", "uid": "u"}]},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "pause",
                "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "500m", "memory": "1Gi"}}}]},
            "status": {"phase": phase, "conditions": conditions}
        }))
        .unwrap()
    }

    fn encode(register: impl FnOnce(&mut Registry)) -> String {
        let mut registry = Registry::default();
        register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        text
    }

    #[test]
    fn node_series_carry_upstream_labels_and_values() {
        let gauges = NodeGauges::default();
        let mut state = crate::state::ClusterState::new();
        state.apply_pod(&pod("web", "Running", None));
        gauges.update(&[node()], |n| state.pods_on(n), &Clock::system(1.0));
        let text = encode(|r| gauges.register(r));
        let labels = "node_name=\"n1\",node_phase=\"\",managed=\"true\",nodepool=\"demo\",zone=\"eu-west-par-a\",region=\"\",instance_type=\"b3-8\",arch=\"amd64\",os=\"\",capacity_type=\"\",windows_build=\"\",flavor_family=\"\",flavor_generation=\"\",flavor_category=\"\"";
        for line in [
            format!("karpenter_nodes_allocatable{{{labels},resource_type=\"cpu\"}} 1.85"),
            format!("karpenter_nodes_system_overhead{{{labels},resource_type=\"cpu\"}} 0.15"),
            format!("karpenter_nodes_system_overhead{{{labels},resource_type=\"memory\"}} 1073741824.0"),
            format!("karpenter_nodes_total_pod_requests{{{labels},resource_type=\"cpu\"}} 0.25"),
            format!("karpenter_nodes_total_pod_limits{{{labels},resource_type=\"memory\"}} 1073741824.0"),
            format!("karpenter_nodes_total_daemon_requests{{{labels},resource_type=\"cpu\"}} 0.0"),
        ] {
            assert!(text.contains(&line), "{line} not in\n{text}");
        }
        assert!(
            text.contains("karpenter_cluster_utilization_percent{resource_type=\"cpu\"} 13.51"),
            "{text}"
        );
        assert!(
            text.contains("karpenter_nodes_current_lifetime_seconds{"),
            "{text}"
        );
        // A node gone takes its series along.
        gauges.update(&[], |n| state.pods_on(n), &Clock::system(1.0));
        assert!(!encode(|r| gauges.register(r)).contains("node_name=\"n1\""));
    }

    #[test]
    fn pod_state_follows_the_pod_and_startup_counts_pods_seen_pending() {
        let pods = PodMetrics::default();
        let clock = Clock::system(1.0);
        let lookup = |_: &str| Some(node());
        pods.apply(&pod("web", "Pending", None), lookup, &clock);
        pods.apply(
            &pod("web", "Running", Some("2026-01-01T00:00:42Z")),
            lookup,
            &clock,
        );
        // Seen Running first: no startup measured.
        pods.apply(
            &pod("old", "Running", Some("2026-01-01T00:00:07Z")),
            lookup,
            &clock,
        );
        let text = encode(|r| pods.register(r));
        assert!(text.contains("karpenter_pods_state{name=\"web\",namespace=\"default\",owner=\"/apis/apps/v1/namespaces/default/replicasets/web-1\",node=\"n1\",scheduled=\"true\",nodepool=\"demo\",zone=\"eu-west-par-a\",arch=\"amd64\",capacity_type=\"\",instance_type=\"b3-8\",phase=\"Running\",ready=\"true\",managed=\"true\"} 1.0"), "{text}");
        assert!(
            !text.contains("phase=\"Pending\""),
            "the Pending series is replaced: {text}"
        );
        let mut summary = String::new();
        pods.startup
            .encode(&mut summary, std::time::Instant::now())
            .unwrap();
        assert!(
            summary.contains("karpenter_pods_startup_duration_seconds_count 1\n"),
            "{summary}"
        );
        assert!(
            summary.contains("karpenter_pods_startup_duration_seconds_sum 42\n"),
            "{summary}"
        );
        pods.delete(&pod("web", "Running", None));
        assert!(!encode(|r| pods.register(r)).contains("name=\"web\""));
    }
}
