//! Prometheus metrics of policy calls, fallbacks and the active policies.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels `{world, outcome}` of `karpenter_ovhcloud_policy_calls_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    /// `flavor-selection`, `consolidation` or `drift`.
    pub world: String,
    /// `ok` (the active policy decided), `fallback` (the embedded default decided after the
    /// active policy failed) or `failed` (no decision).
    pub outcome: String,
}

/// Labels `{world, reason}` of `karpenter_ovhcloud_policy_fallbacks_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabels {
    /// The world.
    pub world: String,
    /// [`PolicyError::reason`](super::PolicyError::reason) of the failure.
    pub reason: String,
}

/// Labels `{world}` of the call duration histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorldLabels {
    /// The world.
    pub world: String,
}

/// Labels of `karpenter_ovhcloud_policy_info` (1 for the active policy of each world).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct InfoLabels {
    /// The world.
    pub world: String,
    /// sha256 of the component, hex.
    pub digest: String,
    /// The policy's own name (from `metadata`).
    pub name: String,
    /// The policy's own version (from `metadata`).
    pub version: String,
}

/// The policy runtime's metrics. Cheap to clone (shared handles).
#[derive(Clone)]
pub struct PolicyMetrics {
    /// `karpenter_ovhcloud_policy_calls_total{world,outcome}`.
    pub calls: Family<CallLabels, Counter>,
    /// `karpenter_ovhcloud_policy_fallbacks_total{world,reason}`.
    pub fallbacks: Family<FallbackLabels, Counter>,
    /// `karpenter_ovhcloud_policy_call_duration_seconds{world}`, fallback included.
    pub duration: Family<WorldLabels, Histogram>,
    /// `karpenter_ovhcloud_policy_info{world,digest,name,version}`.
    pub info: Family<InfoLabels, Gauge>,
}

impl Default for PolicyMetrics {
    fn default() -> Self {
        PolicyMetrics {
            calls: Family::default(),
            fallbacks: Family::default(),
            // 10 us .. ~5 s.
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(1e-5, 4.0, 10))
            }),
            info: Family::default(),
        }
    }
}

impl PolicyMetrics {
    /// Registers the metrics under their full names (`karpenter_ovhcloud_policy_...`) in
    /// `registry`, which should therefore carry no prefix of its own.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "karpenter_ovhcloud_policy_calls",
            "Policy calls by world and outcome",
            self.calls.clone(),
        );
        registry.register(
            "karpenter_ovhcloud_policy_fallbacks",
            "Calls answered by the embedded default policy because the active policy failed, by reason",
            self.fallbacks.clone(),
        );
        registry.register(
            "karpenter_ovhcloud_policy_call_duration_seconds",
            "Duration of policy calls, fallback included",
            self.duration.clone(),
        );
        registry.register(
            "karpenter_ovhcloud_policy_info",
            "The active policy of each world (value 1)",
            self.info.clone(),
        );
    }

    /// Value of `calls_total{world,outcome}` (for tests and status output).
    pub fn call_count(&self, world: &str, outcome: &str) -> u64 {
        self.calls
            .get_or_create(&CallLabels {
                world: world.into(),
                outcome: outcome.into(),
            })
            .get()
    }

    /// Value of `fallbacks_total{world,reason}`.
    pub fn fallback_count(&self, world: &str, reason: &str) -> u64 {
        self.fallbacks
            .get_or_create(&FallbackLabels {
                world: world.into(),
                reason: reason.into(),
            })
            .get()
    }
}
