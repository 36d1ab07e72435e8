//! Prometheus metrics of the controller (the policy runtime registers its own). Upstream
//! Karpenter's families keep upstream's names, labels and types (`karpenter_nodeclaims_*`,
//! `karpenter_nodes_*`, `karpenter_nodepools_*`, `karpenter_scheduler_*`,
//! `karpenter_pods_*`, `karpenter_cloudprovider_*`, `karpenter_voluntary_disruption_*`), so
//! that dashboards and alerts written for Karpenter work; what only this provider has stays
//! under `karpenter_ovhcloud_*`.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use super::disruption_metrics::DisruptionMetrics;
use super::state_metrics::{NodeGauges, PodMetrics};
use super::summary::Summary;
use crate::api::nodepool::ConsolidationPolicy;
use crate::api::quantity::parse_quantity;
use crate::ovh::metrics::karpenter_duration_histogram;
use crate::ovh::{CloudProviderMetrics, RequestMetrics};

/// The `controller` label of the provisioning pass (upstream's provisioner).
pub const PROVISIONER: &str = "provisioner";
/// The `controller` label of the disruption pass's simulations.
pub const DISRUPTION: &str = "disruption";

/// Labels `{reason, nodepool, min_values_relaxed}` of `karpenter_nodeclaims_created_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CreatedLabels {
    /// `provisioned`, or the lower-case disruption reason of a replacement.
    pub reason: String,
    /// NodePool.
    pub nodepool: String,
    /// `true` when the NodeClaim's minValues were relaxed (`--min-values-policy BestEffort`).
    pub min_values_relaxed: String,
}

/// Labels `{nodepool, capacity_type, zone}` of `karpenter_nodeclaims_terminated_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TerminatedLabels {
    /// NodePool.
    pub nodepool: String,
    /// `on-demand`.
    pub capacity_type: String,
    /// Zone (empty in a one-zone region).
    pub zone: String,
}

/// Labels of `karpenter_nodeclaims_disrupted_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DisruptedLabels {
    /// Snake case: `empty`, `underutilized`, `drifted`, `expired`, `launch_timeout`,
    /// `registration_timeout`, `insufficient_capacity`, `garbage_collected`.
    pub reason: String,
    /// NodePool.
    pub nodepool: String,
    /// `on-demand`.
    pub capacity_type: String,
    /// The NodePool's consolidation policy in snake case for consolidation, else empty.
    pub consolidation_policy: String,
    /// `graceful` (no terminationGracePeriod), `eventual` or `forceful` (0s).
    pub termination_mode: String,
}

/// Labels `{nodepool, zone}` of `karpenter_nodes_created_total` and `_terminated_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodeLabels {
    /// NodePool.
    pub nodepool: String,
    /// Zone.
    pub zone: String,
}

/// Labels `{resource_type, nodepool}` of `karpenter_nodepools_usage` and `_limit`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResourceLabels {
    /// The resource name in lower case with `-` as `_`: `cpu`, `memory`, `pods`,
    /// `ephemeral_storage`, `nodes`, `nvidia.com/gpu`...
    pub resource_type: String,
    /// NodePool.
    pub nodepool: String,
}

/// Labels `{nodepool}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodePoolLabels {
    /// NodePool.
    pub nodepool: String,
}

/// Labels `{controller}` of the `karpenter_scheduler_*` families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ControllerLabels {
    /// [`PROVISIONER`] or [`DISRUPTION`].
    pub controller: String,
}

/// A gauge family whose series are rewritten all at once: a series not in the new set is
/// removed, so a deleted NodePool leaves no stale series behind.
#[derive(Debug)]
pub struct GaugeSet<S> {
    family: Family<S, Gauge<f64, AtomicU64>>,
    written: Mutex<HashSet<S>>,
}

impl<S: Clone + Hash + Eq> Default for GaugeSet<S> {
    fn default() -> Self {
        Self {
            family: Family::default(),
            written: Mutex::new(HashSet::new()),
        }
    }
}

impl<S: Clone + Hash + Eq> GaugeSet<S> {
    /// The family (to register).
    pub fn family(&self) -> Family<S, Gauge<f64, AtomicU64>> {
        self.family.clone()
    }

    /// Sets every series of `values` and removes the others.
    pub fn replace(&self, values: impl IntoIterator<Item = (S, f64)>) {
        let mut written = self
            .written
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut now = HashSet::new();
        for (labels, value) in values {
            self.family.get_or_create(&labels).set(value);
            now.insert(labels);
        }
        for stale in written.difference(&now) {
            self.family.remove(stale);
        }
        *written = now;
    }
}

/// Upstream's `resource_type` label of a resource name: lower case, `-` as `_`.
pub fn resource_type(name: &str) -> String {
    name.to_lowercase().replace('-', "_")
}

/// Upstream's value of a quantity: CPU in cores, anything else in whole units (bytes, pods,
/// nodes); None when it cannot be read.
pub fn resource_value(name: &str, quantity: &Quantity) -> Option<f64> {
    let amount = parse_quantity(quantity).ok()?;
    Some(if name == "cpu" {
        amount.millis_ceil() as f64 / 1000.0
    } else {
        amount.units_ceil() as f64
    })
}

/// `CamelCase` as `snake_case` (upstream's `pretty.ToSnakeCase` on reasons and policies).
pub fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The `consolidation_policy` label of a NodePool's policy.
pub fn consolidation_policy(policy: ConsolidationPolicy) -> &'static str {
    match policy {
        ConsolidationPolicy::WhenEmpty => "when_empty",
        ConsolidationPolicy::WhenEmptyOrUnderutilized => "when_empty_or_underutilized",
        ConsolidationPolicy::Balanced => "balanced",
    }
}

/// The controller's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Every OVH request by endpoint and status (the OVH clients count into it).
    pub ovh: RequestMetrics,
    /// `karpenter_cloudprovider_*`: the pool pass's operations.
    pub cloudprovider: CloudProviderMetrics,
    /// `karpenter_nodeclaims_created_total{reason,nodepool,min_values_relaxed}`.
    pub nodeclaims_created: Family<CreatedLabels, Counter>,
    /// `karpenter_nodeclaims_terminated_total{nodepool,capacity_type,zone}`: finalizer gone.
    pub nodeclaims_terminated: Family<TerminatedLabels, Counter>,
    /// `karpenter_nodeclaims_disrupted_total{reason,nodepool,capacity_type,...}`: deleted
    /// by the controller.
    pub nodeclaims_disrupted: Family<DisruptedLabels, Counter>,
    /// `karpenter_nodes_created_total{nodepool,zone}`: registered.
    pub nodes_created: Family<NodeLabels, Counter>,
    /// `karpenter_nodes_terminated_total{nodepool,zone}`: Node deleted.
    pub nodes_terminated: Family<NodeLabels, Counter>,
    /// `karpenter_nodepools_usage{resource_type,nodepool}`: the NodePool's `status.resources`.
    pub nodepools_usage: GaugeSet<ResourceLabels>,
    /// `karpenter_nodepools_limit{resource_type,nodepool}`: its `spec.limits`.
    pub nodepools_limit: GaugeSet<ResourceLabels>,
    /// `karpenter_nodepools_cost_total{nodepool}`: hourly price (EUR) of its live NodeClaims.
    pub nodepools_cost: GaugeSet<NodePoolLabels>,
    /// `karpenter_scheduler_scheduling_duration_seconds{controller}`: one scheduling
    /// simulation (a provisioning pass, a disruption plan).
    pub scheduling_duration: Family<ControllerLabels, Histogram, fn() -> Histogram>,
    /// `karpenter_scheduler_unschedulable_pods_count{controller}`: pods the last pass could
    /// not place.
    pub unschedulable_pods: Family<ControllerLabels, Gauge>,
    /// `karpenter_pods_provisioning_bound_duration_seconds`: from a pod first seen pending
    /// to bound, for pods the controller provisioned for (guide seconds: real seconds in
    /// production).
    pub pods_provisioning_bound: Histogram,
    /// NodeClaims launched (an OVH node bound to them).
    pub nodeclaims_launched: Family<NodePoolLabels, Counter>,
    /// NodeClaims whose node initialized.
    pub nodeclaims_initialized: Family<NodePoolLabels, Counter>,
    /// Provisioning batches.
    pub batches: Counter,
    /// Hourly cost (EUR) of the nodes the controller manages.
    pub hourly_cost: Gauge<f64, AtomicU64>,
    /// 1 while this replica leads.
    pub leader: Gauge,
    /// Disruption's own metrics.
    pub disruption: DisruptionMetrics,
    /// `karpenter_nodes_*` of each Node and `karpenter_cluster_utilization_percent`.
    pub nodes: NodeGauges,
    /// `karpenter_pods_state` and `karpenter_pods_startup_duration_seconds`.
    pub pods: PodMetrics,
    /// `karpenter_nodes_termination_duration_seconds{nodepool}`: from the deletion request of
    /// a NodeClaim to the removal of its finalizer (its Node and OVH node gone).
    pub node_termination: Arc<Summary>,
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Self {
            ovh: RequestMetrics::default(),
            cloudprovider: CloudProviderMetrics::default(),
            nodeclaims_created: Family::default(),
            nodeclaims_terminated: Family::default(),
            nodeclaims_disrupted: Family::default(),
            nodes_created: Family::default(),
            nodes_terminated: Family::default(),
            nodepools_usage: GaugeSet::default(),
            nodepools_limit: GaugeSet::default(),
            nodepools_cost: GaugeSet::default(),
            scheduling_duration: Family::new_with_constructor(karpenter_duration_histogram),
            unschedulable_pods: Family::default(),
            pods_provisioning_bound: karpenter_duration_histogram(),
            nodeclaims_launched: Family::default(),
            nodeclaims_initialized: Family::default(),
            batches: Counter::default(),
            hourly_cost: Gauge::default(),
            leader: Gauge::default(),
            disruption: DisruptionMetrics::default(),
            nodes: NodeGauges::default(),
            pods: PodMetrics::default(),
            node_termination: Arc::new(Summary::new(
                "karpenter_nodes_termination_duration_seconds",
                "The time taken between a node's deletion request and the removal of its finalizer",
                Some("nodepool"),
            )),
        };
        // The scheduler's series exist from the start (nothing unschedulable yet).
        for controller in [PROVISIONER, DISRUPTION] {
            let labels = ControllerLabels {
                controller: controller.into(),
            };
            drop(metrics.scheduling_duration.get_or_create(&labels));
        }
        metrics
            .unschedulable_pods
            .get_or_create(&ControllerLabels {
                controller: PROVISIONER.into(),
            })
            .set(0);
        metrics
    }
}

impl Metrics {
    /// The summaries, which `/metrics` encodes apart from the registry.
    pub fn summaries(&self) -> Vec<Arc<Summary>> {
        vec![self.pods.startup.clone(), self.node_termination.clone()]
    }

    /// Registers every metric: upstream's under their own names, ours under the
    /// `karpenter_ovhcloud` prefix.
    pub fn register(&self, registry: &mut Registry) {
        self.ovh.register(registry);
        self.cloudprovider.register(registry);
        self.disruption.register(registry);
        self.nodes.register(registry);
        self.pods.register(registry);
        registry.register(
            "karpenter_nodeclaims_created",
            "Number of nodeclaims created in total by Karpenter. Labeled by reason the nodeclaim was created, the owning nodepool, and if min values was relaxed for this nodeclaim",
            self.nodeclaims_created.clone(),
        );
        registry.register(
            "karpenter_nodeclaims_terminated",
            "Number of nodeclaims terminated in total by Karpenter. Labeled by the owning nodepool, capacity type, and zone",
            self.nodeclaims_terminated.clone(),
        );
        registry.register(
            "karpenter_nodeclaims_disrupted",
            "Number of nodeclaims disrupted in total by Karpenter. Labeled by reason the nodeclaim was disrupted, the owning nodepool, the capacity type, the consolidation policy, and the termination mode",
            self.nodeclaims_disrupted.clone(),
        );
        registry.register(
            "karpenter_nodes_created",
            "Number of nodes created in total by Karpenter. Labeled by owning nodepool and zone",
            self.nodes_created.clone(),
        );
        registry.register(
            "karpenter_nodes_terminated",
            "Number of nodes terminated in total by Karpenter. Labeled by owning nodepool and zone",
            self.nodes_terminated.clone(),
        );
        registry.register(
            "karpenter_nodepools_usage",
            "The amount of resources that have been provisioned for a nodepool. Labeled by nodepool name and resource type",
            self.nodepools_usage.family(),
        );
        registry.register(
            "karpenter_nodepools_limit",
            "Limits specified on the nodepool that restrict the quantity of resources provisioned. Labeled by nodepool name and resource type",
            self.nodepools_limit.family(),
        );
        registry.register(
            "karpenter_nodepools_cost_total",
            "Hourly cost (EUR) of the nodepool's nodes at catalog prices. Not an authoritative source for billing",
            self.nodepools_cost.family(),
        );
        registry.register(
            "karpenter_scheduler_scheduling_duration_seconds",
            "Duration of scheduling simulations used for deprovisioning and provisioning in seconds",
            self.scheduling_duration.clone(),
        );
        registry.register(
            "karpenter_scheduler_unschedulable_pods_count",
            "The number of unschedulable Pods",
            self.unschedulable_pods.clone(),
        );
        registry.register(
            "karpenter_pods_provisioning_bound_duration_seconds",
            "The time from when Karpenter first thinks the pod can schedule until it binds. Note: this calculation assumes that every pod that is pending was provisioned by Karpenter",
            self.pods_provisioning_bound.clone(),
        );
        let r = registry.sub_registry_with_prefix("karpenter_ovhcloud");
        r.register(
            "nodeclaims_launched",
            "NodeClaims launched (an OVH node bound to them)",
            self.nodeclaims_launched.clone(),
        );
        r.register(
            "nodeclaims_initialized",
            "NodeClaims whose node initialized",
            self.nodeclaims_initialized.clone(),
        );
        r.register(
            "provisioning_batches",
            "Provisioning passes",
            self.batches.clone(),
        );
        r.register(
            "managed_nodes_hourly_cost_eur",
            "Hourly cost in EUR of the nodes the controller manages",
            self.hourly_cost.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader Lease",
            self.leader.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_upstream_writes_them() {
        assert_eq!(snake_case("LaunchTimeout"), "launch_timeout");
        assert_eq!(snake_case("Empty"), "empty");
        assert_eq!(resource_type("ephemeral-storage"), "ephemeral_storage");
        assert_eq!(resource_value("cpu", &Quantity("1500m".into())), Some(1.5));
        assert_eq!(
            resource_value("memory", &Quantity("1Gi".into())),
            Some(1073741824.0)
        );
        assert_eq!(resource_value("memory", &Quantity("lots".into())), None);
    }

    #[test]
    fn a_gauge_set_forgets_the_series_it_no_longer_writes() {
        let set: GaugeSet<NodePoolLabels> = GaugeSet::default();
        let pool = |name: &str| NodePoolLabels {
            nodepool: name.into(),
        };
        set.replace([(pool("a"), 1.0), (pool("b"), 2.0)]);
        set.replace([(pool("b"), 3.0)]);
        let family = set.family();
        assert!(family.get(&pool("a")).is_none());
        assert_eq!(family.get_or_create(&pool("b")).get(), 3.0);
    }

    #[test]
    fn scheduler_series_exist_from_the_start() {
        let mut registry = Registry::default();
        Metrics::default().register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        for name in [
            "karpenter_scheduler_scheduling_duration_seconds_count{controller=\"provisioner\"} 0",
            "karpenter_scheduler_unschedulable_pods_count{controller=\"provisioner\"} 0",
            "karpenter_pods_provisioning_bound_duration_seconds_count 0",
            "karpenter_cloudprovider_errors_total{controller=\"nodeclaim.lifecycle\",method=\"Create\",provider=\"ovhcloud\",error=\"\"} 0",
            "karpenter_voluntary_disruption_eligible_nodes{reason=\"empty\"} 0",
        ] {
            assert!(text.contains(name), "{name} not in\n{text}");
        }
        // prometheus_client ends each help text with a period: upstream's texts are given
        // without theirs.
        let doubled: Vec<&str> = text.lines().filter(|l| l.ends_with("..")).collect();
        assert!(doubled.is_empty(), "{doubled:?}");
    }
}
