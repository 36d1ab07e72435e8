//! Prometheus metrics of the controller (the policy runtime registers its own).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of OVH writes.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OvhLabels {
    /// `create`, `scale_up`, `remove`, `delete`, `list_pools`, `list_nodes`.
    pub operation: String,
    /// `ok` or the error kind.
    pub result: String,
}

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
    /// OVH requests by operation and result.
    pub ovh_requests: Family<OvhLabels, Counter>,
    /// NodeClaims created.
    pub nodeclaims_created: Family<ClaimLabels, Counter>,
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
    /// Hourly cost (EUR) of the nodes the controller manages.
    pub hourly_cost: Gauge<f64, AtomicU64>,
    /// Managed nodes (NodeClaims not being deleted).
    pub managed_nodes: Gauge,
    /// 1 while this replica leads.
    pub leader: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            ovh_requests: Family::default(),
            nodeclaims_created: Family::default(),
            nodeclaims_registered: Family::default(),
            nodeclaims_initialized: Family::default(),
            nodeclaims_terminated: Family::default(),
            batches: Counter::default(),
            batch_duration: Histogram::new(exponential_buckets(0.001, 2.0, 16)),
            pods_unplaced: Counter::default(),
            hourly_cost: Gauge::default(),
            managed_nodes: Gauge::default(),
            leader: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric under the `karpenter_ovhcloud` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("karpenter_ovhcloud");
        r.register(
            "ovh_requests",
            "OVH API requests of pool bookkeeping by operation and result",
            self.ovh_requests.clone(),
        );
        r.register(
            "nodeclaims_created",
            "NodeClaims created",
            self.nodeclaims_created.clone(),
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

    /// Counts an OVH request.
    pub fn ovh(&self, operation: &str, result: &str) {
        self.ovh_requests
            .get_or_create(&OvhLabels {
                operation: operation.into(),
                result: result.into(),
            })
            .inc();
    }
}
