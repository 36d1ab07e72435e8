//! Results of replays, the lower bound, and the printed table.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::setup::{allows, Setup};
use super::trace::{Action, Trace};
use crate::scheduling::Resources;

/// One point of a run's timeline.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Sample {
    /// Simulated seconds.
    pub at: u64,
    /// Nodes (launching and Ready).
    pub nodes: u32,
    /// EUR spent so far.
    pub cost_eur: f64,
}

/// Pending-time percentiles in seconds (nearest rank).
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
}

/// Nearest-rank percentiles of `values` (sorted in place).
pub fn percentiles(values: &mut [u64]) -> Percentiles {
    values.sort_unstable();
    let at = |q: f64| -> u64 {
        if values.is_empty() {
            return 0;
        }
        let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
        values[rank - 1]
    };
    Percentiles {
        p50: at(0.5),
        p90: at(0.9),
        p99: at(0.99),
        max: values.last().copied().unwrap_or(0),
    }
}

/// One disruption command a strategy carried out.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct DisruptionRecord {
    /// Simulated second it was carried out (a replacement's old nodes go once its new ones
    /// are Ready).
    pub at: u64,
    /// NodePool.
    pub nodepool: String,
    /// `empty`, `underutilized-delete`, `underutilized-replace`, `drifted` or `expired`.
    pub kind: String,
    /// Nodes it removes.
    pub nodes: u32,
    /// Flavors of the nodes it launches in their place.
    pub replacements: Vec<String>,
    /// Expected saving in EUR per hour.
    pub savings_per_hour: f64,
}

/// What one strategy did on a trace.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct RunResult {
    /// Strategy name.
    pub name: String,
    /// Total EUR (hourly prices, per second of node life).
    pub total_eur: f64,
    /// Node-hours per flavor.
    pub node_hours: BTreeMap<String, f64>,
    /// Most nodes at once.
    pub peak_nodes: u32,
    /// Pods of the trace.
    pub pods: u64,
    /// From a pod's creation to its start (pods never started count until they left or the
    /// trace ended).
    pub pending_seconds: Percentiles,
    /// Pods that never started.
    pub pods_never_started: u64,
    /// Nodes removed by disruption.
    pub disruptions: u64,
    /// The same by kind: `empty`, `underutilized-delete`, `underutilized-replace` (the
    /// consolidation of the Karpenter-like strategies), `scale-down-empty`,
    /// `scale-down-underutilized` (the cluster-autoscaler baseline).
    pub disrupted_nodes: BTreeMap<String, u64>,
    /// Nodes launched to replace consolidated ones.
    pub replacements_launched: u64,
    /// Consolidation commands the host refused after simulating them.
    pub commands_refused: u64,
    /// Commands held back by a NodePool's disruption budget (counted per pass).
    pub budget_blocked: u64,
    /// Consolidation policy calls (passes with a consolidatable node).
    pub consolidation_calls: u64,
    /// Of those, calls the embedded default answered because the policy failed.
    pub consolidation_fallbacks: u64,
    /// The commands carried out, in order.
    pub disruption_log: Vec<DisruptionRecord>,
    /// Pods evicted by those removals.
    pub evicted_pods: u64,
    /// OVH writes: one per pool per provisioning batch (create or scale up) and per pool per
    /// removal pass (PUT nodesToRemove or DELETE).
    pub ovh_writes: u64,
    /// Flavor-selection calls.
    pub policy_calls: u64,
    /// Calls whose answer was refused, the default deciding instead.
    pub fallbacks: u64,
    /// Calls with no usable answer at all.
    pub failed_batches: u64,
    /// Nodes and cost over time.
    pub timeline: Vec<Sample>,
}

/// Every run on one trace, with the lower bound.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    /// Trace name.
    pub trace: String,
    /// Simulated seconds.
    pub duration_seconds: u64,
    /// How nodes were removed by the Karpenter-like strategies.
    pub disruption_model: String,
    /// The lower bound in EUR.
    pub lower_bound_eur: f64,
    /// The runs, in the order given.
    pub runs: Vec<RunResult>,
}

/// Cheapest EUR per hour of one allocatable vCPU, GiB and GPU over the flavors some NodePool
/// allows.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct Rates {
    /// EUR per vCPU-hour.
    pub cpu: f64,
    /// EUR per GiB-hour.
    pub memory: f64,
    /// EUR per GPU-hour (0 when no flavor has GPUs).
    pub gpu: f64,
}

/// The cheapest rates of the catalog (see [`Rates`]).
pub fn rates(setup: &Setup) -> Rates {
    let mut r = Rates {
        cpu: f64::INFINITY,
        memory: f64::INFINITY,
        gpu: f64::INFINITY,
    };
    for f in setup.flavors.iter() {
        let allowed = setup
            .pools
            .iter()
            .any(|p| f.zones.iter().any(|(z, _)| allows(&p.spec, f, z, None)));
        if !allowed {
            continue;
        }
        let a = f.allocatable;
        if a.cpu_millis > 0 {
            r.cpu = r.cpu.min(f.hourly_price / (a.cpu_millis as f64 / 1000.0));
        }
        if a.memory_bytes > 0 {
            r.memory = r
                .memory
                .min(f.hourly_price / (a.memory_bytes as f64 / (1u64 << 30) as f64));
        }
        if a.gpu > 0 {
            r.gpu = r.gpu.min(f.hourly_price / a.gpu as f64);
        }
    }
    let finite = |x: f64| if x.is_finite() { x } else { 0.0 };
    Rates {
        cpu: finite(r.cpu),
        memory: finite(r.memory),
        gpu: finite(r.gpu),
    }
}

/// The lower bound: at each instant, the requests of the pods that exist (Deployment pods
/// between their scale events, job pods for their running time from their creation, as if
/// they started at once) priced at the cheapest rate of their scarcest resource
/// (max of CPU, memory and GPU cost at [`rates`]), integrated over the trace. Any set of nodes
/// that runs those pods costs at least this much.
pub fn lower_bound(trace: &Trace, setup: &Setup) -> f64 {
    let rates = rates(setup);
    // Pods alive per workload, as changes at instants.
    let mut changes: BTreeMap<u64, Vec<(usize, i64)>> = BTreeMap::new();
    let mut replicas = vec![0i64; trace.workloads.len()];
    for i in 0..trace.events.len() {
        let at = trace.events[i].at;
        match trace.action(i) {
            Some(Action::Scale {
                workload,
                replicas: r,
            }) => {
                let delta = r as i64 - replicas[workload];
                replicas[workload] = r as i64;
                changes.entry(at).or_default().push((workload, delta));
            }
            Some(Action::Run {
                workload,
                count,
                seconds,
            }) => {
                changes
                    .entry(at)
                    .or_default()
                    .push((workload, count as i64));
                changes
                    .entry(at.saturating_add(seconds))
                    .or_default()
                    .push((workload, -(count as i64)));
            }
            None => {}
        }
    }
    let requests: Vec<Resources> = setup.specs.iter().map(|s| s.requests).collect();
    let mut alive = vec![0i64; trace.workloads.len()];
    let mut total = 0.0;
    let mut last = 0u64;
    let end = trace.duration_seconds;
    let rate_now = |alive: &[i64]| {
        let (mut cpu, mut mem, mut gpu) = (0.0, 0.0, 0.0);
        for (n, r) in alive.iter().zip(&requests) {
            let n = *n as f64;
            cpu += n * r.cpu_millis as f64 / 1000.0;
            mem += n * r.memory_bytes as f64 / (1u64 << 30) as f64;
            gpu += n * r.gpu as f64;
        }
        (cpu * rates.cpu)
            .max(mem * rates.memory)
            .max(gpu * rates.gpu)
    };
    for (at, deltas) in changes {
        let at = at.min(end);
        total += rate_now(&alive) * (at - last) as f64 / 3600.0;
        last = at;
        for (w, d) in deltas {
            alive[w] += d;
        }
    }
    total += rate_now(&alive) * (end - last) as f64 / 3600.0;
    total
}

/// The report as a text table.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "trace {} ({:.1} h simulated); lower bound {:.2} EUR",
        report.trace,
        report.duration_seconds as f64 / 3600.0,
        report.lower_bound_eur
    );
    let _ = writeln!(out, "disruption: {}", report.disruption_model);
    let _ = writeln!(
        out,
        "{:<28} {:>10} {:>8} {:>6} {:>8} {:>8} {:>8} {:>6} {:>7} {:>6}  node-hours",
        "strategy", "EUR", "vs LB", "peak", "p50 s", "p90 s", "p99 s", "disr", "writes", "unsch"
    );
    for r in &report.runs {
        let vs = if report.lower_bound_eur > 0.0 {
            format!(
                "{:+.1}%",
                (r.total_eur / report.lower_bound_eur - 1.0) * 100.0
            )
        } else {
            "-".into()
        };
        let hours: Vec<String> = r
            .node_hours
            .iter()
            .map(|(f, h)| format!("{f}:{h:.1}"))
            .collect();
        let _ = writeln!(
            out,
            "{:<28} {:>10.2} {:>8} {:>6} {:>8} {:>8} {:>8} {:>6} {:>7} {:>6}  {}",
            r.name,
            r.total_eur,
            vs,
            r.peak_nodes,
            r.pending_seconds.p50,
            r.pending_seconds.p90,
            r.pending_seconds.p99,
            r.disruptions,
            r.ovh_writes,
            r.pods_never_started,
            hours.join(" ")
        );
    }
    for r in &report.runs {
        let kinds: Vec<String> = r
            .disrupted_nodes
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "{}: nodes removed: {}; replacements launched {}; commands refused {}, over budget {}",
            r.name,
            if kinds.is_empty() {
                "none".into()
            } else {
                kinds.join(", ")
            },
            r.replacements_launched,
            r.commands_refused,
            r.budget_blocked
        );
    }
    out
}
