//! Balanced consolidation's scoring, as upstream Karpenter computes it
//! (`designs/balanced-consolidation.md`, `pkg/controllers/disruption/balanced.go`): a move is
//! worth its disruption when its share of the NodePool's price is at least `1/k` of its share
//! of the NodePool's disruption cost.
//!
//! - A pod's [`eviction_cost`] is `1 + pod-deletion-cost / 2^27 + priority / 2^25`, clamped to
//!   `[-10, 10]`.
//! - A node's [`node_disruption_cost`] is `1` plus the positive eviction costs of its pods.
//! - A move's [`score`] is `(savings / pool price) / (disruption / pool disruption cost)`,
//!   the pool totals taken once per pass; approved when at least `1/k`, `k` =
//!   [`BALANCED_K`].

/// Pod annotation: the pod's deletion cost (an int32), which ReplicaSets and Balanced
/// consolidation read.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

/// Upstream's `k`: a move must save at least half as large a share of the NodePool's price as
/// the share of its disruption cost it causes.
pub const BALANCED_K: u32 = 2;

/// Disruption cost of deleting a node, before its pods.
pub const PER_NODE_DISRUPTION_COST: f64 = 1.0;

/// Karpenter's `EvictionCost` of one pod: 1, plus its `controller.kubernetes.io/pod-deletion-cost`
/// over 2^27, plus its priority over 2^25, clamped to `[-10, 10]`.
pub fn eviction_cost(deletion_cost: i32, priority: i32) -> f64 {
    let cost = 1.0 + f64::from(deletion_cost) / 2f64.powi(27) + f64::from(priority) / 2f64.powi(25);
    cost.clamp(-10.0, 10.0)
}

/// Disruption cost of deleting a node whose pods have `pod_costs` (their [`eviction_cost`]s):
/// [`PER_NODE_DISRUPTION_COST`] plus the positive ones.
pub fn node_disruption_cost(pod_costs: impl IntoIterator<Item = f64>) -> f64 {
    PER_NODE_DISRUPTION_COST + pod_costs.into_iter().map(|c| c.max(0.0)).sum::<f64>()
}

/// A NodePool's totals, the denominators of a score.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PoolTotals {
    /// Sum of the hourly prices of its nodes.
    pub price: f64,
    /// Sum of the [`node_disruption_cost`] of its nodes.
    pub disruption_cost: f64,
}

/// The score of one move on one NodePool.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Score {
    /// The move's savings over the NodePool's price.
    pub savings_fraction: f64,
    /// The move's disruption cost over the NodePool's.
    pub disruption_fraction: f64,
    /// The `k` of the threshold `1/k`.
    pub k: u32,
}

impl Score {
    /// `savings_fraction / disruption_fraction`: 0 when nothing is saved, infinite when
    /// nothing is disrupted.
    pub fn value(&self) -> f64 {
        if self.savings_fraction <= 0.0 {
            0.0
        } else if self.disruption_fraction <= 0.0 {
            f64::INFINITY
        } else {
            self.savings_fraction / self.disruption_fraction
        }
    }

    /// The least approved score, `1/k`.
    pub fn threshold(&self) -> f64 {
        1.0 / f64::from(self.k.max(1))
    }

    /// Whether the move is worth its disruption.
    pub fn approved(&self) -> bool {
        self.value() >= self.threshold()
    }
}

impl std::fmt::Display for Score {
    /// Upstream's wording: `score 0.49 < threshold 0.50 (k: 2, savings 25.0%, disruption 51.0%)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cmp = if self.approved() { ">=" } else { "<" };
        write!(
            f,
            "score {:.2} {cmp} threshold {:.2} (k: {}, savings {:.1}%, disruption {:.1}%)",
            self.value(),
            self.threshold(),
            self.k,
            self.savings_fraction * 100.0,
            self.disruption_fraction * 100.0
        )
    }
}

/// The score of a move saving `savings` (EUR/h) at `disruption_cost` on a NodePool with
/// `totals`. Totals that are zero or negative make both fractions 0 (refused), as upstream.
pub fn score(savings: f64, disruption_cost: f64, totals: PoolTotals, k: u32) -> Score {
    if totals.price <= 0.0 || totals.disruption_cost <= 0.0 {
        return Score {
            savings_fraction: 0.0,
            disruption_fraction: 0.0,
            k,
        };
    }
    Score {
        savings_fraction: savings / totals.price,
        disruption_fraction: disruption_cost / totals.disruption_cost,
        k,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eviction_cost_is_upstreams() {
        assert_eq!(eviction_cost(0, 0), 1.0);
        assert_eq!(eviction_cost(0, 142_606_336), 5.25);
        assert_eq!(eviction_cost(503_316_480, 0), 4.75);
        assert_eq!(eviction_cost(i32::MAX, 0), 10.0);
        assert_eq!(eviction_cost(0, 2_000_000_000), 10.0);
        assert_eq!(eviction_cost(0, -2_000_000_000), -10.0);
        assert_eq!(node_disruption_cost([2.0, -3.0, 0.5]), 3.5);
    }

    #[test]
    fn the_threshold_is_half_the_disruption_share() {
        // Four equal nodes; n0's pod costs c, the others' 1: score = 0.25 (7 + c) / (1 + c).
        let at = |c: f64| {
            let totals = PoolTotals {
                price: 4.0,
                disruption_cost: (1.0 + c) + 3.0 * 2.0,
            };
            score(1.0, node_disruption_cost([c]), totals, BALANCED_K)
        };
        assert!(!at(5.25).approved(), "{}", at(5.25));
        assert!(at(4.75).approved(), "{}", at(4.75));
        assert_eq!(
            at(5.25).to_string(),
            "score 0.49 < threshold 0.50 (k: 2, savings 25.0%, disruption 51.0%)"
        );
        // A one-node pool: deleting it scores 1.
        let one = PoolTotals {
            price: 1.0,
            disruption_cost: 2.0,
        };
        assert_eq!(score(1.0, 2.0, one, BALANCED_K).value(), 1.0);
        assert!(!score(0.0, 2.0, one, BALANCED_K).approved());
        assert!(!score(1.0, 1.0, PoolTotals::default(), BALANCED_K).approved());
    }
}
