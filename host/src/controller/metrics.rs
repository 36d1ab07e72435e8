//! Prometheus metrics of the controller (the policy runtime registers its own).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::disruption_metrics::DisruptionMetrics;
use crate::ovh::RequestMetrics;

/// Labels of NodeClaim counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClaimLabels {
    /// NodePool.
    pub nodepool: String,
    /// Why (terminations), or `-`.
    pub reason: String,
}

/// The controller's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Every OVH request by endpoint and status (the OVH clients count into it).
    pub ovh: RequestMetrics,
    /// NodeClaims created.
    pub nodeclaims_created: Family<ClaimLabels, Counter>,
    /// NodeClaims launched (an OVH node bound to them).
    pub nodeclaims_launched: Family<ClaimLabels, Counter>,
    /// NodeClaims whose node registered.
    pub nodeclaims_registered: Family<ClaimLabels, Counter>,
    /// NodeClaims whose node initialized.
    pub nodeclaims_initialized: Family<ClaimLabels, Counter>,
    /// NodeClaims terminated, by reason.
    pub nodeclaims_terminated: Family<ClaimLabels, Counter>,
    /// Provisioning batches.
    pub batches: Counter,
    /// Duration of a provisioning pass (seconds).
    pub batch_duration: Histogram,
    /// Pods left unplaced by a pass.
    pub pods_unplaced: Counter,
    /// From first seen pending (unschedulable) to bound, for pods the controller provisioned
    /// for (guide seconds: real seconds in production).
    pub pod_pending_to_bound: Histogram,
    /// Hourly cost (EUR) of the nodes the controller manages.
    pub hourly_cost: Gauge<f64, AtomicU64>,
    /// Managed nodes (NodeClaims not being deleted).
    pub managed_nodes: Gauge,
    /// 1 while this replica leads.
    pub leader: Gauge,
    /// Disruption's own metrics (under their own prefix).
    pub disruption: DisruptionMetrics,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            ovh: RequestMetrics::default(),
            nodeclaims_created: Family::default(),
            nodeclaims_launched: Family::default(),
            nodeclaims_registered: Family::default(),
            nodeclaims_initialized: Family::default(),
            nodeclaims_terminated: Family::default(),
            batches: Counter::default(),
            batch_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            pods_unplaced: Counter::default(),
            // 1 s .. ~68 min.
            pod_pending_to_bound: Histogram::new(exponential_buckets(1.0, 2.0, 13)),
            hourly_cost: Gauge::default(),
            managed_nodes: Gauge::default(),
            leader: Gauge::default(),
            disruption: DisruptionMetrics::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under the `karpenter_ovhcloud` prefix.
    pub fn register(&self, registry: &mut Registry) {
        self.ovh.register(registry);
        self.disruption.register(registry);
        let r = registry.sub_registry_with_prefix("karpenter_ovhcloud");
        r.register(
            "nodeclaims_created",
            "NodeClaims created",
            self.nodeclaims_created.clone(),
        );
        r.register(
            "nodeclaims_launched",
            "NodeClaims launched (an OVH node bound to them)",
            self.nodeclaims_launched.clone(),
        );
        r.register(
            "nodeclaims_registered",
            "NodeClaims whose node registered",
            self.nodeclaims_registered.clone(),
        );
        r.register(
            "nodeclaims_initialized",
            "NodeClaims whose node initialized",
            self.nodeclaims_initialized.clone(),
        );
        r.register(
            "nodeclaims_terminated",
            "NodeClaims terminated, by reason",
            self.nodeclaims_terminated.clone(),
        );
        r.register(
            "provisioning_batches",
            "Provisioning passes",
            self.batches.clone(),
        );
        r.register(
            "provisioning_duration_seconds",
            "Duration of a provisioning pass",
            self.batch_duration.clone(),
        );
        r.register(
            "pods_unplaced",
            "Pods a provisioning pass could not place",
            self.pods_unplaced.clone(),
        );
        r.register(
            "pod_pending_to_bound_seconds",
            "Time from a pod first seen pending to bound, for pods the controller provisioned for",
            self.pod_pending_to_bound.clone(),
        );
        r.register(
            "managed_nodes_hourly_cost_eur",
            "Hourly cost in EUR of the nodes the controller manages",
            self.hourly_cost.clone(),
        );
        r.register(
            "managed_nodes",
            "NodeClaims not being deleted",
            self.managed_nodes.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader Lease",
            self.leader.clone(),
        );
    }
}
