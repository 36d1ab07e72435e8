//! The policy what-if evaluator: replays a workload trace ([`trace`]) in simulated time through
//! the host's own scheduling pass and policy calls, for several strategies side by side (the
//! given policies, the embedded defaults, two baselines of [`baseline`]), with a lower bound,
//! and reports cost, node-hours, peak nodes, pending-time percentiles, disruptions and OVH
//! writes ([`report`], [`plot`]).
//!
//! Pure: no I/O and no wall clock; the CLI (`karpenter-ovhcloud policy evaluate`) reads and
//! writes the files. Same trace and policies give the same report, byte for byte.
//!
//! Disruption: the Karpenter-like strategies (the given policies, the defaults, the naive
//! picker) run the controller's own disruption plan every 10 s ([`crate::disruption::plan`]):
//! the consolidation policy's commands validated by simulation, budgets, `consolidateAfter`,
//! `WhenEmpty`, the validation delay, deletes and replacements (do-not-disrupt, PDBs, drift and
//! expiry too, though traces carry no data for them).
//! The cluster-autoscaler baseline uses its own scale-down rule. [`DISRUPTION_MODEL`] says so
//! in reports.

pub mod baseline;
pub mod generate;
pub mod markdown;
pub mod plot;
pub mod replay;
pub mod report;
pub mod setup;
pub mod trace;

use std::sync::Arc;

pub use generate::{generate, Kind};
pub use replay::{replay, Disruptor, Progress, Provisioner, Strategy};
pub use report::{lower_bound, table, Report, RunResult};
pub use setup::Setup;
pub use trace::{Trace, TraceError};

use crate::policy::{ActivePolicy, PolicySet, World};

/// How the policy strategies remove nodes in this version of the evaluator.
pub const DISRUPTION_MODEL: &str = "policy strategies and naive baseline: the controller's disruption pass every 10 s (consolidation policy, commands validated by simulation, budgets, consolidateAfter, 15 s validation delay; deletes at once, replacements Ready before the old nodes go; node removal itself instant); cluster-autoscaler baseline: below 50% for 10 min and its pods fit elsewhere";

/// Seed of the cluster-autoscaler baseline's random expander.
pub const BASELINE_SEED: u64 = 42;

/// A small deterministic generator (SplitMix64), stable across platforms and crate versions,
/// for the trace generator and the random expander.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next_u64() % n
        }
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The standard line-up: `given` (flavor-selection and consolidation policies, if any), the
/// embedded defaults, the naive baseline and the cluster-autoscaler-like baseline.
pub fn strategies<'a>(
    set: &'a PolicySet,
    given: Option<(String, Arc<ActivePolicy>, Arc<ActivePolicy>)>,
) -> Vec<Strategy<'a>> {
    let defaults = || Disruptor::Policy {
        set,
        policy: set.default_policy(World::Consolidation),
    };
    let mut out = Vec::new();
    if let Some((name, flavor, consolidation)) = given {
        out.push(Strategy {
            name,
            provisioner: Provisioner::Policy {
                set,
                policy: flavor,
            },
            disruptor: Disruptor::Policy {
                set,
                policy: consolidation,
            },
        });
    }
    out.push(Strategy {
        name: "defaults".into(),
        provisioner: Provisioner::Policy {
            set,
            policy: set.default_policy(World::FlavorSelection),
        },
        disruptor: defaults(),
    });
    out.push(Strategy {
        name: "naive (alphabetical)".into(),
        provisioner: Provisioner::Naive,
        disruptor: defaults(),
    });
    out.push(Strategy {
        name: "cluster-autoscaler-like".into(),
        provisioner: Provisioner::FixedFlavor {
            seed: BASELINE_SEED,
        },
        disruptor: Disruptor::ClusterAutoscaler,
    });
    out
}

/// Replays `trace` with every strategy, then the defaults on [`markdown::gap_variants`] of
/// the trace, for the BENCHMARKS.md section.
pub fn evaluate_with_gaps(
    trace: &Trace,
    strategies: &[Strategy<'_>],
    progress: &mut dyn FnMut(usize, &str, Progress),
) -> Result<markdown::Entry, TraceError> {
    let report = evaluate(trace, strategies, progress)?;
    let defaults: Vec<&Strategy<'_>> = strategies.iter().filter(|s| s.name == "defaults").collect();
    let mut variants = Vec::new();
    if let Some(d) = defaults.first() {
        for (label, variant) in markdown::gap_variants(trace) {
            let setup = Setup::new(&variant)?;
            let run = replay(&variant, &setup, d, &mut |p| progress(0, label, p));
            variants.push((label.to_string(), run.total_eur));
        }
    }
    Ok(markdown::Entry { report, variants })
}

/// Replays `trace` with every strategy and computes the lower bound. `progress` gets the
/// strategy's index with each progress report.
pub fn evaluate(
    trace: &Trace,
    strategies: &[Strategy<'_>],
    progress: &mut dyn FnMut(usize, &str, Progress),
) -> Result<Report, TraceError> {
    let setup = Setup::new(trace)?;
    let runs = strategies
        .iter()
        .enumerate()
        .map(|(i, s)| replay(trace, &setup, s, &mut |p| progress(i, &s.name, p)))
        .collect();
    Ok(Report {
        trace: trace.name.clone(),
        duration_seconds: trace.duration_seconds,
        disruption_model: DISRUPTION_MODEL.into(),
        lower_bound_eur: lower_bound(trace, &setup),
        runs,
    })
}
