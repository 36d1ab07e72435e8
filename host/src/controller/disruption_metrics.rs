//! Metrics of disruption: upstream Karpenter's `karpenter_voluntary_disruption_*`,
//! `karpenter_nodepools_allowed_disruptions`, `_nodes_consuming_budgets` and
//! `karpenter_pods_eviction_requests_total`, plus the expected savings and the drifted
//! NodeClaims under `karpenter_ovhcloud_disruption_*`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

use super::metrics::GaugeSet;
use crate::api::nodepool::DisruptionReason;
use crate::disruption::Reason;

/// Labels `{decision, reason, consolidation_type}` of
/// `karpenter_voluntary_disruption_decisions_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `delete` (no replacement) or `replace`.
    pub decision: String,
    /// `empty`, `underutilized`, `drifted` or `expired`.
    pub reason: String,
    /// `empty`, `single`, `multi`, or empty (drift, expiry).
    pub consolidation_type: String,
}

/// Labels `{nodepool, decision, reason, consolidation_type}` of
/// `karpenter_voluntary_disruption_decisions_by_nodepool_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct NodePoolDecisionLabels {
    /// NodePool.
    pub nodepool: String,
    /// `delete` or `replace`.
    pub decision: String,
    /// The disruption reason.
    pub reason: String,
    /// The consolidation type.
    pub consolidation_type: String,
}

/// Labels `{reason}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `empty`, `underutilized` or `drifted`.
    pub reason: String,
}

/// Labels `{consolidation_type}`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ConsolidationTypeLabels {
    /// `empty`, `single` or `multi`.
    pub consolidation_type: String,
}

/// Labels `{nodepool, reason}` of the NodePool budget gauges.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BudgetLabels {
    /// NodePool.
    pub nodepool: String,
    /// The budget reason as upstream writes it: `Empty`, `Drifted` or `Underutilized`.
    pub reason: String,
}

/// Labels `{code}` of `karpenter_pods_eviction_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CodeLabels {
    /// HTTP status of the eviction request (`200`, `404`, `429`, `500`...).
    pub code: String,
}

/// The budget reasons, as upstream's `karpenter_nodepools_allowed_disruptions` labels them.
pub const BUDGET_REASONS: [(DisruptionReason, &str); 3] = [
    (DisruptionReason::Empty, "Empty"),
    (DisruptionReason::Drifted, "Drifted"),
    (DisruptionReason::Underutilized, "Underutilized"),
];

/// Upstream's `consolidation_type` of a command: `empty`, `single` or `multi` for
/// consolidation, empty for drift and expiry.
pub fn consolidation_type(reason: Reason, nodes: usize) -> &'static str {
    match reason {
        Reason::Empty => "empty",
        Reason::Underutilized if nodes > 1 => "multi",
        Reason::Underutilized => "single",
        Reason::Drifted | Reason::Expired => "",
    }
}

/// Disruption metrics.
#[derive(Debug)]
pub struct DisruptionMetrics {
    /// `karpenter_voluntary_disruption_decisions_total`: commands carried out.
    pub decisions: Family<DecisionLabels, Counter>,
    /// `karpenter_voluntary_disruption_decisions_by_nodepool_total`.
    pub decisions_by_nodepool: Family<NodePoolDecisionLabels, Counter>,
    /// `karpenter_voluntary_disruption_eligible_nodes{reason}`: candidates of the last pass.
    pub eligible_nodes: Family<ReasonLabels, Gauge>,
    /// `karpenter_voluntary_disruption_failed_validations_total{consolidation_type}`:
    /// consolidation commands the host's simulation refused.
    pub failed_validations: Family<ConsolidationTypeLabels, Counter>,
    /// `karpenter_nodepools_allowed_disruptions{nodepool,reason}`: what the budgets allow.
    pub allowed_disruptions: GaugeSet<BudgetLabels>,
    /// `karpenter_nodepools_nodes_consuming_budgets{nodepool,reason}`: nodes being deleted.
    pub nodes_consuming_budgets: GaugeSet<BudgetLabels>,
    /// `karpenter_pods_eviction_requests_total{code}`: eviction requests while draining.
    pub eviction_requests: Family<CodeLabels, Counter>,
    /// Expected hourly savings of the executed commands, in EUR (sum).
    pub savings_eur_per_hour: Counter<f64, AtomicU64>,
    /// NodeClaims marked Drifted.
    pub drifted: Gauge,
}

impl Default for DisruptionMetrics {
    fn default() -> Self {
        let metrics = Self {
            decisions: Family::default(),
            decisions_by_nodepool: Family::default(),
            eligible_nodes: Family::default(),
            failed_validations: Family::default(),
            allowed_disruptions: GaugeSet::default(),
            nodes_consuming_budgets: GaugeSet::default(),
            eviction_requests: Family::default(),
            savings_eur_per_hour: Counter::default(),
            drifted: Gauge::default(),
        };
        // Series that exist from the start, as upstream's `Add(0)`: nothing eligible yet,
        // no failed validation.
        for reason in ["empty", "underutilized", "drifted"] {
            metrics
                .eligible_nodes
                .get_or_create(&ReasonLabels {
                    reason: reason.into(),
                })
                .set(0);
        }
        for consolidation_type in ["single", "multi"] {
            metrics
                .failed_validations
                .get_or_create(&ConsolidationTypeLabels {
                    consolidation_type: consolidation_type.into(),
                })
                .inc_by(0);
        }
        metrics
    }
}

impl DisruptionMetrics {
    /// Registers upstream's families under their own names, ours under the
    /// `karpenter_ovhcloud_disruption` prefix.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "karpenter_voluntary_disruption_decisions",
            "Number of disruption decisions performed. Labeled by disruption decision, reason, and consolidation type",
            self.decisions.clone(),
        );
        registry.register(
            "karpenter_voluntary_disruption_decisions_by_nodepool",
            "Number of disruption decisions performed by nodepool. Labeled by nodepool name, disruption decision, reason, and consolidation type",
            self.decisions_by_nodepool.clone(),
        );
        registry.register(
            "karpenter_voluntary_disruption_eligible_nodes",
            "Number of nodes eligible for disruption by Karpenter. Labeled by disruption reason",
            self.eligible_nodes.clone(),
        );
        registry.register(
            "karpenter_voluntary_disruption_failed_validations",
            "Number of candidates that were selected for disruption but failed validation. Labeled by consolidation type",
            self.failed_validations.clone(),
        );
        registry.register(
            "karpenter_nodepools_allowed_disruptions",
            "The number of nodes for a given NodePool that can be concurrently disrupting at a point in time. Labeled by NodePool",
            self.allowed_disruptions.family(),
        );
        registry.register(
            "karpenter_nodepools_nodes_consuming_budgets",
            "The number of nodes consuming the budget of a nodepool at a point in time. Labeled by NodePool",
            self.nodes_consuming_budgets.family(),
        );
        registry.register(
            "karpenter_pods_eviction_requests",
            "The number of pod eviction requests by response code",
            self.eviction_requests.clone(),
        );
        let r = registry.sub_registry_with_prefix("karpenter_ovhcloud_disruption");
        r.register(
            "savings_eur_per_hour",
            "Expected hourly savings of the executed consolidation commands (EUR, cumulative)",
            self.savings_eur_per_hour.clone(),
        );
        r.register(
            "drifted_nodeclaims",
            "NodeClaims currently marked Drifted",
            self.drifted.clone(),
        );
    }

    /// Counts one eviction request answered with `code`.
    pub fn eviction(&self, code: u16) {
        self.eviction_requests
            .get_or_create(&CodeLabels {
                code: code.to_string(),
            })
            .inc();
    }
}
