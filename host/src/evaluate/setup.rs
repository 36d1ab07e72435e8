//! What every replay of a trace shares: the catalog, the NodePools and the pod templates, built
//! from the trace with the host's own catalog and scheduling types.

use std::collections::BTreeSet;
use std::sync::Arc;

use jiff::Timestamp;

use super::trace::{ConsolidationPolicy, Trace, TraceError};
use crate::api::nodepool::Budget;
use crate::api::NillableDuration;
use crate::catalog::{AllocatableModel, Catalog, CatalogInput, FlavorInfo, UnavailableOfferings};
use crate::clock::Clock;
use crate::scheduling::{
    new_node_labels, AffinityTerm, FlavorSpec, LabelSelector, NodeClassSpec, Operator, PodSpec,
    PoolSpec, Requirement, Resources, Spread, Topology,
};

/// Label every pod of a workload carries (`app: {workload}`), which its spread and
/// anti-affinity select.
pub const APP_LABEL: &str = "app";

/// A NodePool of the replay.
#[derive(Clone, Debug)]
pub struct Pool {
    /// The NodePool as the scheduling core sees it (limits not yet subtracted).
    pub spec: PoolSpec,
    /// `spec.limits` as resources (unnamed dimensions unlimited), if any.
    pub limits: Option<Resources>,
    /// Consolidation policy.
    pub consolidation_policy: ConsolidationPolicy,
    /// `consolidateAfter`, None = Never.
    pub consolidate_after: Option<u64>,
    /// Flavor of the cluster-autoscaler-like baseline (index in the catalog), if any fits.
    pub baseline_flavor: Option<usize>,
    /// `spec.disruption.budgets`.
    pub budgets: Vec<Budget>,
    /// `expireAfter` of its nodes. The trace format has no such field: always `Never`.
    pub expire_after: NillableDuration,
}

/// The shared inputs of every replay of one trace.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The catalog, cheapest first.
    pub flavors: Arc<Vec<FlavorSpec>>,
    /// NodePools.
    pub pools: Vec<Pool>,
    /// One pod template per workload.
    pub specs: Vec<Arc<PodSpec>>,
    /// The instant simulated time 0 stands for.
    pub start: Timestamp,
    /// Workloads (indices in `specs`) whose pods carry `karpenter.sh/do-not-disrupt: "true"`.
    /// The trace format has no such field: always empty.
    pub do_not_disrupt: BTreeSet<usize>,
}

impl Setup {
    /// Builds the catalog (embedded table plus the trace's flavors), pools and pod templates.
    pub fn new(trace: &Trace) -> Result<Setup, TraceError> {
        let mut input = CatalogInput {
            zones: trace.zones.clone(),
            flavors: FlavorInfo::embedded(),
            ..CatalogInput::default()
        };
        for f in &trace.flavors {
            input.flavors.retain(|i| i.name != f.name);
            input.flavors.push(FlavorInfo {
                name: f.name.clone(),
                vcpus: f.vcpus,
                ram_gib: f.ram_gib,
                disk_gib: None,
                gpus: f.gpus,
                zones: Vec::new(),
            });
            input.overrides.insert(f.name.clone(), f.hourly_eur);
        }
        let unavailable =
            UnavailableOfferings::new(Clock::default(), std::time::Duration::from_secs(0));
        let catalog = Catalog::build(&input, &AllocatableModel::new(), &unavailable);
        if let Some((name, reason)) = catalog.skipped.first() {
            return Err(TraceError::Invalid {
                field: "flavors".into(),
                message: format!("flavor {name} left out of the catalog: {reason}"),
            });
        }
        let flavors = Arc::new(catalog.specs());
        let specs: Vec<Arc<PodSpec>> = trace
            .workloads
            .iter()
            .enumerate()
            .map(|(i, w)| {
                let requests = w
                    .requests()
                    .map_err(|(field, message)| TraceError::Invalid {
                        field: format!("workloads[{i}].{field}"),
                        message,
                    })?;
                let selector = LabelSelector::labels([(APP_LABEL, w.name.as_str())]);
                Ok(Arc::new(PodSpec {
                    owner: format!("{}/{}", w.namespace, w.name),
                    namespace: w.namespace.clone(),
                    labels: [(APP_LABEL.to_string(), w.name.clone())].into(),
                    requests,
                    requirements: w
                        .node_selector
                        .iter()
                        .map(|(k, v)| Requirement::new(k, Operator::In, &[v]))
                        .collect(),
                    spreads: w
                        .zone_spread_max_skew
                        .map(|max_skew| Spread {
                            topology: Topology::Zone,
                            max_skew,
                            selector: selector.clone(),
                            min_domains: None,
                            honor_node_affinity: true,
                            honor_node_taints: false,
                        })
                        .into_iter()
                        .collect(),
                    anti_affinity: if w.hostname_anti_affinity {
                        vec![AffinityTerm {
                            topology: Topology::Hostname,
                            selector,
                            namespaces: Vec::new(),
                        }]
                    } else {
                        Vec::new()
                    },
                    ..PodSpec::default()
                }))
            })
            .collect::<Result<_, TraceError>>()?;
        let default_pool = [super::trace::TracePool {
            name: "default".into(),
            weight: 0,
            requirements: Vec::new(),
            limits: None,
            consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
            consolidate_after_seconds: Some(60),
            baseline_flavor: None,
            budgets: None,
        }];
        let trace_pools = if trace.nodepools.is_empty() {
            &default_pool[..]
        } else {
            &trace.nodepools[..]
        };
        let mut pools = Vec::new();
        for (i, p) in trace_pools.iter().enumerate() {
            let spec = PoolSpec {
                name: p.name.clone(),
                weight: p.weight,
                requirements: p
                    .requirements
                    .iter()
                    .map(|r| Requirement {
                        key: r.key.clone(),
                        // Checked by `Trace::parse`.
                        operator: Operator::parse(&r.operator).unwrap_or(Operator::In),
                        values: r.values.clone(),
                    })
                    .collect(),
                nodeclass: NodeClassSpec {
                    name: "default".into(),
                    region: trace.region.clone(),
                    monthly_billed: false,
                    anti_affinity: false,
                },
                ..PoolSpec::default()
            };
            let limits = p.limits.as_ref().map(|l| Resources {
                cpu_millis: l.cpu.map_or(u64::MAX, |c| c.saturating_mul(1000)),
                memory_bytes: l.memory_gib.map_or(u64::MAX, |m| m.saturating_mul(1 << 30)),
                ephemeral_storage_bytes: u64::MAX,
                gpu: u32::MAX,
                pods: u32::MAX,
            });
            let baseline_flavor = match &p.baseline_flavor {
                Some(name) => Some(flavors.iter().position(|f| &f.name == name).ok_or_else(
                    || TraceError::Invalid {
                        field: format!("nodepools[{i}].baseline_flavor"),
                        message: format!("unknown flavor `{name}`"),
                    },
                )?),
                None => fixed_flavor(&spec, &flavors, &specs),
            };
            pools.push(Pool {
                spec,
                limits,
                consolidation_policy: p.consolidation_policy,
                consolidate_after: p.consolidate_after_seconds,
                baseline_flavor,
                budgets: p.budgets_or_default(),
                expire_after: NillableDuration::never(),
            });
        }
        Ok(Setup {
            flavors,
            pools,
            specs,
            start: trace.start()?,
            do_not_disrupt: BTreeSet::new(),
        })
    }
}

/// Whether a new node of `pool` with `flavor` in `zone` satisfies the pool and, if given, the
/// pod (requirements and offering; fit is the caller's business).
pub fn allows(pool: &PoolSpec, flavor: &FlavorSpec, zone: &str, pod: Option<&PodSpec>) -> bool {
    if !flavor.available_in(zone) {
        return false;
    }
    let labels = new_node_labels(pool, flavor, zone, "", pod);
    pool.requirements.iter().all(|r| r.matches(&labels))
        && pod.is_none_or(|p| p.unmet_requirement(&labels).is_none())
}

fn allowed_somewhere(pool: &PoolSpec, flavor: &FlavorSpec, pod: Option<&PodSpec>) -> bool {
    flavor
        .zones
        .iter()
        .any(|(z, _)| allows(pool, flavor, z, pod))
}

/// The flavor an operator sizing a fixed-flavor node group would pick: the cheapest flavor the
/// pool allows that takes one pod of every workload able to use the pool, else the cheapest
/// that takes the largest of them.
fn fixed_flavor(pool: &PoolSpec, flavors: &[FlavorSpec], specs: &[Arc<PodSpec>]) -> Option<usize> {
    let users: Vec<&PodSpec> = specs
        .iter()
        .filter(|s| flavors.iter().any(|f| allowed_somewhere(pool, f, Some(s))))
        .map(|s| &**s)
        .collect();
    let fits = |f: &FlavorSpec, s: &PodSpec| {
        s.requests.fits_in(&f.allocatable) && allowed_somewhere(pool, f, Some(s))
    };
    flavors
        .iter()
        .position(|f| !users.is_empty() && users.iter().all(|s| fits(f, s)))
        .or_else(|| {
            let largest = users.iter().max_by_key(|s| {
                (
                    s.requests.gpu,
                    s.requests.cpu_millis,
                    s.requests.memory_bytes,
                )
            })?;
            flavors.iter().position(|f| fits(f, largest))
        })
}
