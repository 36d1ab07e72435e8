//! Metrics of disruption: nodes disrupted by reason, expected savings, evictions, commands
//! refused by validation.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// Labels of a disruption counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// NodePool.
    pub nodepool: String,
    /// `empty`, `underutilized`, `drifted` or `expired`.
    pub reason: String,
}

/// Disruption metrics.
#[derive(Debug, Default)]
pub struct DisruptionMetrics {
    /// Nodes disrupted (NodeClaims deleted by a disruption command), by NodePool and reason.
    pub nodes_disrupted: Family<ReasonLabels, Counter>,
    /// Commands executed, by NodePool and reason.
    pub commands: Family<ReasonLabels, Counter>,
    /// Commands refused by the host's simulation or budgets, by NodePool and why.
    pub commands_refused: Family<ReasonLabels, Counter>,
    /// Expected hourly savings of the executed commands, in EUR (sum).
    pub savings_eur_per_hour: Counter<f64, AtomicU64>,
    /// Pods evicted while draining.
    pub pods_evicted: Counter,
    /// NodeClaims marked Drifted.
    pub drifted: Gauge,
}

impl DisruptionMetrics {
    /// Registers every metric under the `karpenter_ovhcloud_disruption` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("karpenter_ovhcloud_disruption");
        r.register(
            "nodes_disrupted",
            "Nodes removed by disruption, by NodePool and reason",
            self.nodes_disrupted.clone(),
        );
        r.register(
            "commands",
            "Disruption commands executed, by NodePool and reason",
            self.commands.clone(),
        );
        r.register(
            "commands_refused",
            "Disruption commands refused by validation or budgets, by NodePool and why",
            self.commands_refused.clone(),
        );
        r.register(
            "savings_eur_per_hour",
            "Expected hourly savings of the executed consolidation commands (EUR, cumulative)",
            self.savings_eur_per_hour.clone(),
        );
        r.register(
            "pods_evicted",
            "Pods evicted while draining nodes",
            self.pods_evicted.clone(),
        );
        r.register(
            "drifted_nodeclaims",
            "NodeClaims currently marked Drifted",
            self.drifted.clone(),
        );
    }
}
