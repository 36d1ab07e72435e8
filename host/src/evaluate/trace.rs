//! The workload trace format that `karpenter-ovhcloud policy evaluate` replays.
//!
//! A trace is a YAML or JSON document (JSON is YAML, one parser reads both); every field name
//! is `snake_case` and unknown fields are refused. Times are whole seconds of simulated time
//! from the start of the trace. Example:
//!
//! ```yaml
//! name: diurnal-web
//! description: a web service following the day
//! region: EU-WEST-PAR                       # default
//! zones: [eu-west-par-a, eu-west-par-b, eu-west-par-c]   # default: the region's zones
//! duration_seconds: 86400                   # the replay stops here; nodes are paid until then
//! node_startup_seconds: 180                 # launch -> Ready (default 180)
//! gpu_node_startup_seconds: 600             # same for GPU flavors (default 600)
//! flavors:                                  # optional flavors beyond the embedded table
//!   - {name: t1-45, vcpus: 8, ram_gib: 45, gpus: 1, hourly_eur: 1.9}
//! nodepools:                                # default: one pool `default`, any flavor
//!   - name: default
//!     weight: 0
//!     requirements:
//!       - {key: karpenter.ovhcloud.sh/flavor-family, operator: In, values: [b3, c3, r3]}
//!     limits: {cpu: 1000, memory_gib: 4000} # optional, whole vCPUs and GiB
//!     consolidation_policy: WhenEmptyOrUnderutilized   # or WhenEmpty
//!     consolidate_after_seconds: 60          # null = Never
//!     baseline_flavor: b3-16                 # optional: the cluster-autoscaler baseline's flavor
//! workloads:
//!   - name: web
//!     namespace: default
//!     cpu: 500m                              # Kubernetes quantities
//!     memory: 1Gi
//!     gpu: 0
//!     node_selector: {karpenter.sh/nodepool: default}
//!     zone_spread_max_skew: 1                # hard zone topology spread over its own pods
//!     hostname_anti_affinity: false          # at most one of its pods per node
//! events:
//!   - {at: 0, scale: {workload: web, replicas: 6}}               # Deployment-like replicas
//!   - {at: 600, run: {workload: job, count: 20, seconds: 900}}  # pods that finish after
//!                                                                # running `seconds`
//! ```
//!
//! `scale` sets a workload's replica count (scale-down removes pending pods first, then the
//! newest); `run` adds `count` pods that each leave `seconds` after they start running. A
//! workload may receive both kinds. Events must be in time order. Parsing never panics: a
//! syntax error says its line and column, a semantic one the field path (`events[3].scale`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::api::nodepool::{Budget, DEFAULT_BUDGET_NODES};
use crate::api::quantity;
use crate::disruption::budget;
use crate::scheduling::{Operator, Resources};

/// Why a trace was refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum TraceError {
    /// Not valid YAML/JSON, or a field of the wrong shape (with line and column).
    #[error("trace syntax: {0}")]
    Syntax(String),
    /// Well-formed but inconsistent.
    #[error("trace field {field}: {message}")]
    Invalid {
        /// Path of the field, e.g. `events[3].scale.workload`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> TraceError {
    TraceError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// A workload trace (see the module documentation).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Trace {
    /// Short name, used in reports.
    pub name: String,
    /// What the trace models.
    #[serde(default)]
    pub description: String,
    /// OVH region.
    #[serde(default = "default_region")]
    pub region: String,
    /// Zones of the region; empty: `{region}-a|b|c` in lower case.
    #[serde(default)]
    pub zones: Vec<String>,
    /// Length of the replay in seconds.
    pub duration_seconds: u64,
    /// The instant simulated time 0 stands for (RFC 3339, UTC), which budget schedules read;
    /// default `2026-01-05T00:00:00Z`, a Monday midnight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Seconds from a launch to a Ready node.
    #[serde(default = "default_startup")]
    pub node_startup_seconds: u64,
    /// Same for GPU flavors.
    #[serde(default = "default_gpu_startup")]
    pub gpu_node_startup_seconds: u64,
    /// Flavors added to the embedded catalog (or overriding one of its prices).
    #[serde(default)]
    pub flavors: Vec<TraceFlavor>,
    /// NodePools; empty: one pool `default` allowing every flavor.
    #[serde(default)]
    pub nodepools: Vec<TracePool>,
    /// Pod templates.
    pub workloads: Vec<Workload>,
    /// What happens, in time order.
    pub events: Vec<Event>,
}

fn default_region() -> String {
    "EU-WEST-PAR".into()
}
fn default_startup() -> u64 {
    180
}
fn default_gpu_startup() -> u64 {
    600
}
fn default_consolidate_after() -> Option<u64> {
    Some(60)
}
fn default_namespace() -> String {
    "default".into()
}

/// A flavor of the trace's catalog.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceFlavor {
    /// OVH flavor name, e.g. `t1-45`.
    pub name: String,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in GiB.
    pub ram_gib: u32,
    /// GPUs.
    #[serde(default)]
    pub gpus: u32,
    /// Hourly price in EUR.
    pub hourly_eur: f64,
}

/// A NodePool of the trace.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TracePool {
    /// Name.
    pub name: String,
    /// Higher is preferred.
    #[serde(default)]
    pub weight: u32,
    /// Template requirements.
    #[serde(default)]
    pub requirements: Vec<TraceRequirement>,
    /// `spec.limits`.
    #[serde(default)]
    pub limits: Option<Limits>,
    /// `spec.disruption.consolidationPolicy`.
    #[serde(default)]
    pub consolidation_policy: ConsolidationPolicy,
    /// `spec.disruption.consolidateAfter` in seconds; null is `Never`.
    #[serde(default = "default_consolidate_after")]
    pub consolidate_after_seconds: Option<u64>,
    /// The fixed flavor of the cluster-autoscaler-like baseline for this pool; default: the
    /// cheapest allowed flavor that fits every workload able to use the pool.
    #[serde(default)]
    pub baseline_flavor: Option<String>,
    /// `spec.disruption.budgets`, as in a NodePool (`nodes`, optional `schedule` and
    /// `duration`, optional `reasons`); default: Karpenter's one budget of `10%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budgets: Option<Vec<Budget>>,
}

impl TracePool {
    /// Its budgets, else Karpenter's default (one budget of `10%`).
    pub fn budgets_or_default(&self) -> Vec<Budget> {
        self.budgets
            .clone()
            .unwrap_or_else(|| vec![Budget::nodes(DEFAULT_BUDGET_NODES)])
    }
}

/// `spec.disruption.consolidationPolicy`, as a NodePool spells it.
pub use crate::api::nodepool::ConsolidationPolicy;

/// NodePool limits.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Whole vCPUs.
    #[serde(default)]
    pub cpu: Option<u64>,
    /// GiB of memory.
    #[serde(default)]
    pub memory_gib: Option<u64>,
}

/// A node selector requirement.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TraceRequirement {
    /// Label key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`.
    pub operator: String,
    /// Values.
    #[serde(default)]
    pub values: Vec<String>,
}

/// A pod template.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Workload {
    /// Name (pods are `{namespace}/{name}-{n}`).
    pub name: String,
    /// Namespace.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// CPU request (quantity).
    pub cpu: String,
    /// Memory request (quantity).
    pub memory: String,
    /// Whole GPUs.
    #[serde(default)]
    pub gpu: u32,
    /// nodeSelector.
    #[serde(default)]
    pub node_selector: BTreeMap<String, String>,
    /// Hard zone spread over its own pods, with this maxSkew.
    #[serde(default)]
    pub zone_spread_max_skew: Option<u32>,
    /// Required anti-affinity with itself on the hostname.
    #[serde(default)]
    pub hostname_anti_affinity: bool,
}

/// One timed event; exactly one of `scale` and `run`.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Seconds from the start.
    pub at: u64,
    /// Set a workload's replicas.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<Scale>,
    /// Start finite pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<Run>,
}

/// Deployment-like scaling.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// Workload name.
    pub workload: String,
    /// Replicas from now on.
    pub replicas: u32,
}

/// Finite pods (jobs).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Run {
    /// Workload name.
    pub workload: String,
    /// Pods.
    pub count: u32,
    /// Each pod leaves this long after it starts running.
    pub seconds: u64,
}

/// What an event does, resolved to workload indices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Replicas of a workload.
    Scale {
        /// Workload index.
        workload: usize,
        /// Replicas.
        replicas: u32,
    },
    /// Finite pods.
    Run {
        /// Workload index.
        workload: usize,
        /// Pods.
        count: u32,
        /// Running time of each.
        seconds: u64,
    },
}

/// Simulated time 0 when a trace names no `start`.
pub const DEFAULT_START: &str = "2026-01-05T00:00:00Z";

/// Largest accepted trace length (a year), pod count per event and total pods, so a typo
/// cannot make the replay run for ever or exhaust memory.
pub const MAX_DURATION_SECONDS: u64 = 366 * 86_400;
/// See [`MAX_DURATION_SECONDS`].
pub const MAX_PODS_PER_EVENT: u32 = 100_000;

impl Trace {
    /// Parses and checks a YAML or JSON trace.
    pub fn parse(text: &str) -> Result<Trace, TraceError> {
        let mut trace: Trace =
            serde_norway::from_str(text).map_err(|e| TraceError::Syntax(e.to_string()))?;
        trace.check()?;
        if trace.zones.is_empty() {
            trace.zones = ["a", "b", "c"]
                .iter()
                .map(|z| format!("{}-{z}", trace.region.to_ascii_lowercase()))
                .collect();
        }
        Ok(trace)
    }

    /// The trace as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).unwrap_or_default()
    }

    /// Index of a workload by name.
    pub fn workload(&self, name: &str) -> Option<usize> {
        self.workloads.iter().position(|w| w.name == name)
    }

    /// The action of event `i` (the trace must have been checked by [`Trace::parse`]).
    pub fn action(&self, i: usize) -> Option<Action> {
        let e = &self.events[i];
        match (&e.scale, &e.run) {
            (Some(s), None) => Some(Action::Scale {
                workload: self.workload(&s.workload)?,
                replicas: s.replicas,
            }),
            (None, Some(r)) => Some(Action::Run {
                workload: self.workload(&r.workload)?,
                count: r.count,
                seconds: r.seconds,
            }),
            _ => None,
        }
    }

    /// The instant simulated time 0 stands for.
    pub fn start(&self) -> Result<jiff::Timestamp, TraceError> {
        let text = self.start.as_deref().unwrap_or(DEFAULT_START);
        text.parse()
            .map_err(|e| invalid("start", format!("{text:?} is not an RFC 3339 instant: {e}")))
    }

    fn check(&self) -> Result<(), TraceError> {
        if self.duration_seconds == 0 || self.duration_seconds > MAX_DURATION_SECONDS {
            return Err(invalid(
                "duration_seconds",
                format!("must be between 1 and {MAX_DURATION_SECONDS}"),
            ));
        }
        self.start()?;
        for (i, f) in self.flavors.iter().enumerate() {
            if f.vcpus == 0 || f.ram_gib == 0 {
                return Err(invalid(
                    format!("flavors[{i}]"),
                    "vcpus and ram_gib must be positive",
                ));
            }
            if !f.hourly_eur.is_finite() || f.hourly_eur <= 0.0 {
                return Err(invalid(
                    format!("flavors[{i}].hourly_eur"),
                    "must be a positive number",
                ));
            }
        }
        let mut names = BTreeSet::new();
        for (i, p) in self.nodepools.iter().enumerate() {
            if !names.insert(&p.name) {
                return Err(invalid(
                    format!("nodepools[{i}].name"),
                    format!("duplicate pool `{}`", p.name),
                ));
            }
            for (j, b) in p.budgets.iter().flatten().enumerate() {
                let field = format!("nodepools[{i}].budgets[{j}]");
                if b.parsed_nodes().is_none() {
                    return Err(invalid(
                        format!("{field}.nodes"),
                        format!("{:?} is not a count or a percentage", b.nodes),
                    ));
                }
                if b.schedule.is_some() != b.duration.is_some() {
                    return Err(invalid(field, "schedule and duration go together"));
                }
                budget::is_active(b, jiff::Timestamp::UNIX_EPOCH)
                    .map_err(|e| invalid(field, e.to_string()))?;
            }
            for (j, r) in p.requirements.iter().enumerate() {
                if Operator::parse(&r.operator).is_none() {
                    return Err(invalid(
                        format!("nodepools[{i}].requirements[{j}].operator"),
                        format!(
                            "unknown operator `{}` (In, NotIn, Exists, DoesNotExist, Gt, Lt)",
                            r.operator
                        ),
                    ));
                }
            }
        }
        let mut names = BTreeSet::new();
        for (i, w) in self.workloads.iter().enumerate() {
            if !names.insert(&w.name) {
                return Err(invalid(
                    format!("workloads[{i}].name"),
                    format!("duplicate workload `{}`", w.name),
                ));
            }
            w.requests()
                .map_err(|(field, m)| invalid(format!("workloads[{i}].{field}"), m))?;
            if w.zone_spread_max_skew == Some(0) {
                return Err(invalid(
                    format!("workloads[{i}].zone_spread_max_skew"),
                    "maxSkew must be at least 1",
                ));
            }
        }
        let mut last = 0;
        for (i, e) in self.events.iter().enumerate() {
            if e.at < last {
                return Err(invalid(
                    format!("events[{i}].at"),
                    format!(
                        "{} is before the previous event ({last}): keep events in time order",
                        e.at
                    ),
                ));
            }
            last = e.at;
            let (kind, workload, count) = match (&e.scale, &e.run) {
                (Some(s), None) => ("scale", &s.workload, s.replicas),
                (None, Some(r)) => ("run", &r.workload, r.count),
                _ => {
                    return Err(invalid(
                        format!("events[{i}]"),
                        "needs exactly one of `scale` and `run`",
                    ))
                }
            };
            if self.workload(workload).is_none() {
                return Err(invalid(
                    format!("events[{i}].{kind}.workload"),
                    format!("unknown workload `{workload}`"),
                ));
            }
            if count > MAX_PODS_PER_EVENT {
                return Err(invalid(
                    format!("events[{i}].{kind}"),
                    format!("at most {MAX_PODS_PER_EVENT} pods per event"),
                ));
            }
        }
        Ok(())
    }
}

impl Workload {
    /// Requests of one pod; Err((field, message)) on a bad quantity.
    pub fn requests(&self) -> Result<Resources, (&'static str, String)> {
        let cpu = quantity::parse(&self.cpu).map_err(|e| ("cpu", e.to_string()))?;
        let memory = quantity::parse(&self.memory).map_err(|e| ("memory", e.to_string()))?;
        let (cpu, memory) = (cpu.millis_ceil(), memory.units_ceil());
        if cpu < 0 || memory < 0 {
            return Err(("cpu", "requests must not be negative".into()));
        }
        Ok(Resources {
            gpu: self.gpu,
            ..Resources::pod(cpu as u64, memory as u64)
        })
    }
}
