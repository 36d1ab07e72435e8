//! Validation of the flavor-selection policy's answer. The host never trusts a policy: each
//! launch and each pod assignment goes through the scheduling core's rules, plus the rules only
//! new nodes have (known NodePool/flavor/zone, NodePool requirements, limits and weights,
//! monthly billing on gen2 only, every pod accounted for exactly once).

use std::collections::HashMap;
use std::sync::Arc;

use super::request::{Decision, Group, Pool};
use crate::scheduling::requirements::first_unmet;
use crate::scheduling::taints::first_untolerated;
use crate::scheduling::{
    daemonset_overhead, daemonset_ports, new_node_labels, Board, FlavorSpec, Labels, NodeIndex,
    NodeState, PodSpec, Prepared, Resources, SimNode, Taint, Violation,
};

/// What the validator checks an answer against.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    /// Groups of the request; a group's id is its index.
    pub groups: &'a [Group],
    /// The same groups prepared on the board.
    pub prepared: &'a [Prepared],
    /// NodePools offered, highest weight first.
    pub pools: &'a [Pool],
    /// The catalog.
    pub flavors: &'a [FlavorSpec],
    /// DaemonSet pod templates (their overhead on each new node).
    pub daemonsets: &'a [Arc<PodSpec>],
    /// What a launch whose NodePool's `minValues` cannot be met becomes.
    pub min_values: MinValuesPolicy,
}

/// How Karpenter's `minValues` is enforced (`--min-values-policy`, upstream's
/// `MIN_VALUES_POLICY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MinValuesPolicy {
    /// A node whose possible flavors span fewer values than asked is not launched.
    #[default]
    Strict,
    /// It is launched with the flavors there are, and its NodeClaim is annotated
    /// `karpenter.sh/nodeclaim-min-values-relaxed: "true"`.
    BestEffort,
}

impl std::str::FromStr for MinValuesPolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "Strict" => Ok(Self::Strict),
            "BestEffort" => Ok(Self::BestEffort),
            other => Err(format!(
                "{other:?} is not a min-values policy: Strict or BestEffort"
            )),
        }
    }
}

/// A validated new node.
#[derive(Clone, Debug, PartialEq)]
pub struct NewNode {
    /// Index of its NodePool in the context.
    pub pool: usize,
    /// Index of its flavor in the catalog.
    pub flavor: usize,
    /// Zone.
    pub zone: String,
    /// Labels it will carry.
    pub labels: Labels,
    /// Taints it will carry.
    pub taints: Vec<Taint>,
    /// DaemonSet requests on it.
    pub overhead: Resources,
    /// `(group id, count)` going there.
    pub pods: Vec<(u32, u32)>,
    /// Its index on the board.
    pub board_index: NodeIndex,
    /// Flavors (catalog indices) its NodeClaim allows: the chosen one first, then as many
    /// alternatives as its NodePool's `minValues` asks for.
    pub options: Vec<usize>,
    /// Whether `minValues` could not be met and was relaxed (`BestEffort`).
    pub min_values_relaxed: bool,
}

/// The flavors a new node of `pool` in `zone` holding `needed` (DaemonSets included) for pods
/// of `specs` could have been, cheapest first after the `chosen` one: just the chosen one when
/// the NodePool has no `minValues`, else as many of the cheapest alternatives as it takes for
/// each key to span its minimum. With them, the first key the flavors that fit fall short of:
/// (key, minValues, distinct values found).
fn flavor_options(
    pool: &Pool,
    flavors: &[FlavorSpec],
    chosen: usize,
    zone: &str,
    needed: Resources,
    specs: &[&PodSpec],
) -> (Vec<usize>, Option<(String, u32, u32)>) {
    let mins = &pool.spec.min_values;
    if mins.is_empty() {
        return (vec![chosen], None);
    }
    let labels_of =
        |f: &FlavorSpec| new_node_labels(&pool.spec, f, zone, "", specs.iter().copied());
    let fits = |f: &FlavorSpec| {
        f.available_in(zone)
            && (!pool.spec.nodeclass.monthly_billed || f.generation == 2)
            && needed.fits_in(&f.allocatable)
            && pool
                .spec
                .remaining
                .is_none_or(|left| f.capacity.within_limits(&left))
            && {
                let labels = labels_of(f);
                first_unmet(&pool.spec.requirements, &labels).is_none()
                    && specs.iter().all(|s| s.unmet_requirement(&labels).is_none())
            }
    };
    let mut others: Vec<usize> = (0..flavors.len())
        .filter(|&i| i != chosen && fits(&flavors[i]))
        .collect();
    others.sort_by(|&a, &b| {
        flavors[a]
            .hourly_price
            .total_cmp(&flavors[b].hourly_price)
            .then_with(|| flavors[a].name.cmp(&flavors[b].name))
    });
    let value = |i: usize, key: &str| labels_of(&flavors[i]).get(key).cloned();
    let distinct = |options: &[usize], key: &str| {
        let mut values: Vec<String> = options.iter().filter_map(|&i| value(i, key)).collect();
        values.sort();
        values.dedup();
        values.len() as u32
    };
    let mut options = vec![chosen];
    for i in others {
        let short: Vec<&str> = mins
            .iter()
            .filter(|(key, min)| distinct(&options, key) < *min)
            .map(|(key, _)| key.as_str())
            .collect();
        if short.is_empty() {
            break;
        }
        // An alternative is worth listing when it brings a new value to a key still short.
        if short.iter().any(|key| {
            value(i, key)
                .is_some_and(|v| options.iter().all(|&o| value(o, key).as_ref() != Some(&v)))
        }) {
            options.push(i);
        }
    }
    let short = mins
        .iter()
        .find(|(key, min)| distinct(&options, key) < *min)
        .map(|(key, min)| (key.clone(), *min, distinct(&options, key)));
    (options, short)
}

/// Whether a NodePool could host one pod of the group on some flavor and zone: used to enforce
/// weights (a group must go to the heaviest pool that can take it).
pub fn pool_admits(
    pool: &Pool,
    flavors: &[FlavorSpec],
    spec: &PodSpec,
    daemonsets: &[Arc<PodSpec>],
) -> bool {
    if pool.spec.remaining_nodes == Some(0)
        || first_untolerated(&pool.spec.taints, &spec.tolerations).is_some()
    {
        return false;
    }
    flavors.iter().any(|f| {
        if pool
            .spec
            .remaining
            .is_some_and(|left| !f.capacity.within_limits(&left))
        {
            return false;
        }
        f.zones.iter().filter(|(_, ok)| *ok).any(|(zone, _)| {
            let labels = new_node_labels(&pool.spec, f, zone, "", [spec]);
            if first_unmet(&pool.spec.requirements, &labels).is_some()
                || spec.unmet_requirement(&labels).is_some()
            {
                return false;
            }
            let overhead =
                daemonset_overhead(daemonsets.iter().map(|d| &**d), &labels, &pool.spec.taints);
            (overhead + spec.requests).fits_in(&f.allocatable)
        })
    })
}

fn limit_exceeded(used: &Resources, left: &Resources) -> Option<&'static str> {
    if used.cpu_millis > left.cpu_millis {
        Some("cpu")
    } else if used.memory_bytes > left.memory_bytes {
        Some("memory")
    } else if used.ephemeral_storage_bytes > left.ephemeral_storage_bytes {
        Some("ephemeral-storage")
    } else if used.gpu > left.gpu {
        Some("nvidia.com/gpu")
    } else {
        None
    }
}

/// Checks the answer against every hard rule, adding its new nodes and pods to the board.
/// Returns the new nodes, or the first violated rule.
pub fn validate(
    board: &mut Board,
    ctx: &Context<'_>,
    decision: &Decision,
) -> Result<Vec<NewNode>, Violation> {
    let pools: HashMap<&str, usize> = ctx
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| (p.spec.name.as_str(), i))
        .collect();
    let flavors: HashMap<&str, usize> = ctx
        .flavors
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name.as_str(), i))
        .collect();
    let group = |id: u32| {
        ctx.groups
            .get(id as usize)
            .ok_or(Violation::UnknownGroup(id))
    };

    // Every pod accounted for exactly once.
    let mut accounted = vec![0u64; ctx.groups.len()];
    for (id, count) in decision
        .launches
        .iter()
        .flat_map(|l| l.pods.iter().copied())
        .chain(decision.unplaced.iter().map(|u| (u.group, u.count)))
    {
        group(id)?;
        accounted[id as usize] += u64::from(count);
    }
    for (g, n) in ctx.groups.iter().zip(&accounted) {
        let count = u64::from(g.count);
        if *n != count {
            let (group, count) = (g.name.clone(), g.count);
            return Err(if *n < u64::from(count) {
                Violation::PodsDropped {
                    group,
                    count,
                    accounted: *n,
                }
            } else {
                Violation::PodsDuplicated {
                    group,
                    count,
                    accounted: *n,
                }
            });
        }
    }

    // The launches themselves.
    let mut new_nodes = Vec::with_capacity(decision.launches.len());
    let mut used: HashMap<usize, (Resources, u32)> = HashMap::new();
    let mut admits: HashMap<(usize, u32), bool> = HashMap::new();
    for (i, launch) in decision.launches.iter().enumerate() {
        let pi = *pools
            .get(launch.nodepool.as_str())
            .ok_or_else(|| Violation::UnknownNodePool(launch.nodepool.clone()))?;
        let fi = *flavors
            .get(launch.flavor.as_str())
            .ok_or_else(|| Violation::UnknownFlavor(launch.flavor.clone()))?;
        let (pool, flavor) = (&ctx.pools[pi], &ctx.flavors[fi]);
        if !flavor.available_in(&launch.zone) {
            return Err(Violation::UnavailableOffering {
                flavor: flavor.name.clone(),
                zone: launch.zone.clone(),
            });
        }
        if pool.spec.nodeclass.monthly_billed && flavor.generation != 2 {
            return Err(Violation::MonthlyBillingNotGen2 {
                nodepool: pool.spec.name.clone(),
                flavor: flavor.name.clone(),
            });
        }
        if launch.pods.iter().all(|(_, n)| *n == 0) {
            return Err(Violation::EmptyLaunch(i));
        }
        let hostname = format!("new-{i}");
        let specs = launch
            .pods
            .iter()
            .map(|(g, _)| &*ctx.groups[*g as usize].spec);
        let labels = new_node_labels(&pool.spec, flavor, &launch.zone, &hostname, specs);
        if let Some(r) = first_unmet(&pool.spec.requirements, &labels) {
            return Err(Violation::NodePoolRequirement {
                nodepool: pool.spec.name.clone(),
                flavor: flavor.name.clone(),
                zone: launch.zone.clone(),
                key: r.key.clone(),
            });
        }
        // Limits: capacity of the new nodes against what is left.
        let entry = used.entry(pi).or_default();
        entry.0 += flavor.capacity;
        entry.1 += 1;
        if let Some(left) = &pool.spec.remaining {
            if let Some(resource) = limit_exceeded(&entry.0, left) {
                return Err(Violation::NodePoolLimit {
                    nodepool: pool.spec.name.clone(),
                    resource,
                });
            }
        }
        if pool.spec.remaining_nodes.is_some_and(|left| entry.1 > left) {
            return Err(Violation::NodePoolLimit {
                nodepool: pool.spec.name.clone(),
                resource: "nodes",
            });
        }
        // Weights: no heavier pool could have taken these pods.
        for &(g, _) in &launch.pods {
            for (hi, heavier) in ctx.pools.iter().enumerate() {
                if heavier.spec.weight <= pool.spec.weight {
                    continue;
                }
                let ok = *admits.entry((hi, g)).or_insert_with(|| {
                    pool_admits(
                        heavier,
                        ctx.flavors,
                        &ctx.groups[g as usize].spec,
                        ctx.daemonsets,
                    )
                });
                if ok {
                    return Err(Violation::NodePoolWeight {
                        group: ctx.groups[g as usize].name.clone(),
                        chosen: pool.spec.name.clone(),
                        preferred: heavier.spec.name.clone(),
                    });
                }
            }
        }
        let taints = pool.spec.taints.clone();
        let overhead = daemonset_overhead(ctx.daemonsets.iter().map(|d| &**d), &labels, &taints);
        let node = SimNode {
            name: hostname,
            labels: labels.clone(),
            taints: taints.clone(),
            allocatable: flavor.allocatable,
            requested: overhead,
            nodepool: Some(pool.spec.name.clone()),
            nodeclaim: None,
            state: NodeState::Launching,
            unschedulable: false,
            extended: Vec::new(),
        };
        let free = node.free();
        if !overhead.fits_in(&flavor.allocatable) {
            return Err(Violation::DoesNotFit {
                group: "daemonsets".into(),
                node: node.name,
                count: 0,
            });
        }
        let needed = launch.pods.iter().fold(overhead, |sum, &(g, n)| {
            sum + ctx.groups[g as usize].spec.requests * n
        });
        let specs: Vec<&PodSpec> = launch
            .pods
            .iter()
            .map(|(g, _)| &*ctx.groups[*g as usize].spec)
            .collect();
        let (options, short) = flavor_options(pool, ctx.flavors, fi, &launch.zone, needed, &specs);
        let min_values_relaxed = match (short, ctx.min_values) {
            (None, _) => false,
            (Some(_), MinValuesPolicy::BestEffort) => true,
            (Some((key, min, found)), MinValuesPolicy::Strict) => {
                return Err(Violation::MinValues {
                    group: launch
                        .pods
                        .first()
                        .map(|(g, _)| ctx.groups[*g as usize].name.clone())
                        .unwrap_or_default(),
                    nodepool: pool.spec.name.clone(),
                    node: format!("{} in {}", flavor.name, launch.zone),
                    key,
                    min,
                    found,
                })
            }
        };
        let board_index = board.add_node(node, free);
        board.take_ports(
            board_index,
            daemonset_ports(ctx.daemonsets.iter().map(|d| &**d), &labels, &taints),
        );
        new_nodes.push(NewNode {
            pool: pi,
            flavor: fi,
            zone: launch.zone.clone(),
            labels,
            taints,
            overhead,
            pods: launch.pods.clone(),
            board_index,
            options,
            min_values_relaxed,
        });
    }

    // Pods onto the new nodes: pods without affinity first, so affinity targets are placed.
    for affinity_pass in [false, true] {
        for node in &new_nodes {
            for &(g, n) in &node.pods {
                let prepared = &ctx.prepared[g as usize];
                if prepared.spec.affinity.is_empty() == affinity_pass || n == 0 {
                    continue;
                }
                board.check_node(prepared, node.board_index, n)?;
                board.check_affinity(prepared, node.board_index, n)?;
                board.place(prepared, node.board_index, n);
            }
        }
    }
    // Spread on the final state.
    for node in &new_nodes {
        for &(g, n) in &node.pods {
            if n > 0 {
                board.check_spread(&ctx.prepared[g as usize], node.board_index, 0)?;
            }
        }
    }
    Ok(new_nodes)
}
