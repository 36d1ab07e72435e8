//! The scheduling simulation of one batch: pending pods go first onto existing nodes, then onto
//! in-flight NodeClaims; the rest, collapsed into pod groups, goes to the flavor-selection
//! policy, whose answer is validated (falling back to the default policy when it is invalid)
//! and turned into NodeClaim specs.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use super::claims::{node_claims, NodeClaimSpec};
use super::request::{FlavorPolicy, Group, Pool, Request};
use super::validate::{validate, Context, MinValuesPolicy};
use crate::scheduling::taints::first_untolerated;
use crate::scheduling::{
    daemonset_overhead, daemonset_ports, new_node_labels, wellknown, Board, FlavorSpec, Labels,
    PodSpec, PoolSpec, Prepared, Requirement, Topology, Violation,
};
use crate::state::{ObjectKey, Snapshot};

/// Everything one provisioning pass reads besides the policies.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The cluster model.
    pub snapshot: &'a Snapshot,
    /// NodePools (any order).
    pub pools: &'a [PoolSpec],
    /// The flavor catalog of the region.
    pub flavors: &'a Arc<Vec<FlavorSpec>>,
    /// Nodes already in each OVH pool (for anti-affinity pool numbering).
    pub ovh_pool_sizes: &'a HashMap<String, u32>,
    /// The policy's JSON configuration.
    pub config: &'a str,
    /// The controller's scheduling settings.
    pub options: Options,
}

/// How the scheduler treats pods' preferences (`--preference-policy`, upstream's
/// `PREFERENCE_POLICY`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PreferencePolicy {
    /// Held as required first, relaxed one at a time for pods that fit nowhere.
    #[default]
    Respect,
    /// Not looked at.
    Ignore,
}

impl std::str::FromStr for PreferencePolicy {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "Respect" => Ok(Self::Respect),
            "Ignore" => Ok(Self::Ignore),
            other => Err(format!(
                "{other:?} is not a preference policy: Respect or Ignore"
            )),
        }
    }
}

/// The controller's scheduling settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Options {
    /// What pods' preferences are.
    pub preferences: PreferencePolicy,
    /// How NodePools' `minValues` is enforced.
    pub min_values: MinValuesPolicy,
}

/// Why a policy's answer was not used.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// The call failed (trap, limit, `Err` returned, bad output).
    #[error("policy error: {0}")]
    PolicyError(String),
    /// The answer broke a hard rule.
    #[error("rule {rule}: {0}", rule = .0.rule())]
    Invalid(Violation),
}

/// Which policy's answer was used.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// No pod needed a new node.
    NoPolicyCall,
    /// The configured policy's answer was valid.
    Primary,
    /// The configured policy failed or answered invalidly; the default's answer was used.
    Fallback {
        /// Why the configured policy's answer was refused.
        reason: Refusal,
    },
    /// Neither answer was usable: every remaining pod is unplaced.
    Failed {
        /// Why the configured policy's answer was refused.
        primary: Refusal,
        /// Why the default policy's answer was refused.
        fallback: Refusal,
    },
}

/// The result of one pass.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Pods that fit existing nodes: (pod, node).
    pub on_existing: Vec<(ObjectKey, String)>,
    /// Pods that fit in-flight NodeClaims: (pod, NodeClaim or node name).
    pub on_in_flight: Vec<(ObjectKey, String)>,
    /// New NodeClaims to create.
    pub claims: Vec<NodeClaimSpec>,
    /// Pods that cannot be placed, with why (for Events).
    pub unplaced: Vec<(ObjectKey, String)>,
    /// Which answer was used.
    pub outcome: Outcome,
    /// Pod groups sent to the policy, over every round.
    pub groups: usize,
    /// Policy calls made (one per relaxation round, and one more per fallback).
    pub policy_calls: u32,
}

/// Whether the requirements on the keys `labels` has hold (a partial view of a node).
fn meets_known(requirements: &[Requirement], labels: &Labels) -> bool {
    requirements
        .iter()
        .filter(|r| labels.contains_key(&r.key))
        .all(|r| r.matches(labels))
}

/// Zones a pod could run in, the domains its zone spread counts: zones of existing nodes whose
/// labels meet its required node selector and affinity (kube-scheduler's
/// `nodeAffinityPolicy: Honor`; its preferences do not narrow the domains), and offered zones
/// a NodePool allows whose template labels and zone it accepts (upstream Karpenter counts the
/// domains of the NodePools compatible with the pod). Taints count only under
/// `nodeTaintsPolicy: Honor`, node affinity not under `nodeAffinityPolicy: Ignore`. Empty for
/// a pod without a zone spread in `held`, the only reader; `required` is the same pod without
/// its preferences.
fn eligible_zones(
    held: &PodSpec,
    required: &PodSpec,
    offered: &[String],
    board: &Board,
    pools: &[PoolSpec],
) -> Vec<String> {
    // The first zone spread's policies decide (a pod rarely has two).
    let Some(spread) = held.spreads.iter().find(|s| s.topology == Topology::Zone) else {
        return Vec::new();
    };
    let accepts = |labels: &Labels| {
        !spread.honor_node_affinity
            || (meets_known(&required.requirements, labels)
                && (required.alternatives.is_empty()
                    || required
                        .alternatives
                        .iter()
                        .any(|alt| meets_known(alt, labels))))
    };
    let tolerates = |taints: &[crate::scheduling::Taint]| {
        !spread.honor_node_taints || first_untolerated(taints, &required.tolerations).is_none()
    };
    let in_a_pool = |zone: &String| {
        pools.is_empty()
            || pools.iter().any(|p| {
                let mut labels = p.labels.clone();
                labels.insert(wellknown::ZONE.to_string(), zone.clone());
                meets_known(&p.requirements, &labels) && accepts(&labels) && tolerates(&p.taints)
            })
    };
    let mut zones: Vec<String> = board
        .nodes()
        .iter()
        .filter(|n| {
            (!spread.honor_node_affinity || required.unmet_requirement(&n.node.labels).is_none())
                && tolerates(&n.node.taints)
        })
        .filter_map(|n| n.node.zone().map(str::to_string))
        .chain(offered.iter().filter(|z| in_a_pool(z)).cloned())
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

/// Requests of the DaemonSet pods every new node of NodePool `p` would run.
pub fn pool_overhead(p: &PoolSpec, daemonsets: &[Arc<PodSpec>]) -> crate::scheduling::Resources {
    let template = new_node_labels(
        p,
        &FlavorSpec::default(),
        "",
        "",
        std::iter::empty::<&PodSpec>(),
    );
    daemonset_overhead(daemonsets.iter().map(|d| &**d), &template, &p.taints)
}

/// Relaxation rounds before the last one, which drops every preference left at once: each
/// round is one policy call.
pub const MAX_RELAXATION_ROUNDS: usize = 8;

struct Pending {
    /// The pods' spec with the soft constraints not relaxed yet.
    base: Arc<PodSpec>,
    /// The group as the board checks it: `base` with its soft constraints held as required.
    prepared: Prepared,
    pods: Vec<ObjectKey>,
    /// Set aside once already for breaking a rule along with other groups.
    isolated: bool,
}

/// `spec` with its soft constraints held as required ([`PodSpec::held`]), sharing the spec
/// when it has none.
fn held(spec: &Arc<PodSpec>) -> Arc<PodSpec> {
    if spec.preferences.is_empty() {
        spec.clone()
    } else {
        Arc::new(spec.held())
    }
}

/// The more telling of two outcomes: a failure over a fallback over the primary's answer.
fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o: &Outcome| match o {
        Outcome::NoPolicyCall => 0,
        Outcome::Primary => 1,
        Outcome::Fallback { .. } => 2,
        Outcome::Failed { .. } => 3,
    };
    if rank(&b) > rank(&a) {
        b
    } else {
        a
    }
}

/// Where the swept pods of a pass go.
struct Placed<'p> {
    on_existing: &'p mut Vec<(ObjectKey, String)>,
    on_in_flight: &'p mut Vec<(ObjectKey, String)>,
    /// NodeClaims planned by earlier rounds, by board index.
    new_claims: &'p mut [NodeClaimSpec],
    claim_of: &'p HashMap<usize, usize>,
}

/// Puts each group's pods onto the board's nodes (existing, in flight, and those planned by
/// earlier rounds) while they fit.
fn sweep(board: &mut Board, pending: &mut [Pending], first_in_flight: usize, out: &mut Placed<'_>) {
    for group in pending {
        // A spread constraint can refuse a node now and accept it once other domains have
        // caught up: sweep the nodes again while a sweep places anything. One sweep left pods
        // of a zone-spread Deployment unplaced and launched a new node for them every pass.
        loop {
            let before = group.pods.len();
            for node in 0..board.nodes().len() {
                if group.pods.is_empty() {
                    break;
                }
                loop {
                    let left = group.pods.len() as u32;
                    let room = group
                        .prepared
                        .spec
                        .requests
                        .copies_within(&board.nodes()[node].free);
                    let n = if group.prepared.has_topology() {
                        1
                    } else {
                        left.min(room)
                    };
                    if n == 0 || board.check(&group.prepared, node, n).is_err() {
                        break;
                    }
                    board.place(&group.prepared, node, n);
                    let pods = group.pods.drain(..n as usize);
                    if let Some(&claim) = out.claim_of.get(&node) {
                        let claim = &mut out.new_claims[claim];
                        claim.requests += group.prepared.spec.requests * n;
                        claim.pods.extend(pods);
                    } else {
                        let target = board.nodes()[node].node.name.clone();
                        let dest = if node < first_in_flight {
                            &mut *out.on_existing
                        } else {
                            &mut *out.on_in_flight
                        };
                        dest.extend(pods.map(|p| (p, target.clone())));
                    }
                    if group.pods.is_empty() {
                        break;
                    }
                }
            }
            if group.pods.is_empty() || group.pods.len() == before {
                break;
            }
        }
    }
}

/// Runs one provisioning pass: existing nodes and in-flight NodeClaims first, then the policy
/// for the rest. Pods it leaves unplaced that still hold soft constraints are relaxed one step
/// (upstream Karpenter's order, [`PodSpec::relax`]) and tried again in another round, where
/// the nodes planned so far count as in flight.
pub fn plan(input: &Input<'_>, primary: &dyn FlavorPolicy, fallback: &dyn FlavorPolicy) -> Plan {
    let snap = input.snapshot;
    // Collapse identical pods.
    let mut index: HashMap<&PodSpec, usize> = HashMap::new();
    let mut groups: Vec<(Arc<PodSpec>, Vec<ObjectKey>)> = Vec::new();
    for (key, spec) in &snap.pending {
        let i = *index.entry(&**spec).or_insert_with(|| {
            groups.push((spec.clone(), Vec::new()));
            groups.len() - 1
        });
        groups[i].1.push(key.clone());
    }
    if input.options.preferences == PreferencePolicy::Ignore {
        for (spec, _) in &mut groups {
            if !spec.preferences.is_empty() {
                let mut bare = (**spec).clone();
                bare.preferences = Default::default();
                *spec = Arc::new(bare);
            }
        }
    }
    // Larger pods first, as bin packing wants.
    groups.sort_by(|a, b| {
        (b.0.requests.cpu_millis, b.0.requests.memory_bytes)
            .cmp(&(a.0.requests.cpu_millis, a.0.requests.memory_bytes))
            .then_with(|| a.0.owner.cmp(&b.0.owner))
            .then_with(|| a.1.cmp(&b.1))
    });
    let held_specs: Vec<Arc<PodSpec>> = groups.iter().map(|g| held(&g.0)).collect();

    // Every term a group may hold is known to the board before bound pods are counted.
    let mut board = Board::new(
        held_specs.iter().map(|s| &**s).chain(
            snap.bound
                .iter()
                .filter(|(p, _)| !p.anti_affinity.is_empty())
                .map(|(p, _)| &**p),
        ),
    );
    for node in &snap.nodes {
        board.add_node((**node).clone(), node.free());
    }
    for (pod, node) in &snap.bound {
        board.count_existing(pod, *node);
    }
    let first_in_flight = board.nodes().len();
    for node in &snap.in_flight {
        let index = board.add_node((**node).clone(), node.free());
        // Its DaemonSet pods are not bound yet: their host ports are taken all the same.
        board.take_ports(
            index,
            daemonset_ports(
                snap.daemonsets.iter().map(|d| &**d),
                &node.labels,
                &node.taints,
            ),
        );
    }
    let mut offered: Vec<String> = input
        .flavors
        .iter()
        .flat_map(|f| f.zones.iter().filter(|(_, ok)| *ok).map(|(z, _)| z.clone()))
        .collect();
    offered.sort();
    offered.dedup();
    let mut pending: Vec<Pending> = groups
        .into_iter()
        .zip(held_specs)
        .map(|((base, pods), spec)| {
            let eligible = eligible_zones(&spec, &base, &offered, &board, input.pools);
            Pending {
                prepared: board.prepare(&spec.owner.clone(), spec, &eligible),
                base,
                pods,
                isolated: false,
            }
        })
        .collect();

    let daemonsets: &[Arc<PodSpec>] = &snap.daemonsets;
    let mut pools: Vec<Pool> = input
        .pools
        .iter()
        .map(|p| Pool {
            daemonset_overhead: pool_overhead(p, daemonsets),
            spec: p.clone(),
        })
        .collect();
    pools.sort_by(|a, b| {
        b.spec
            .weight
            .cmp(&a.spec.weight)
            .then(a.spec.name.cmp(&b.spec.name))
    });

    let mut result = Plan {
        on_existing: Vec::new(),
        on_in_flight: Vec::new(),
        claims: Vec::new(),
        unplaced: Vec::new(),
        outcome: Outcome::NoPolicyCall,
        groups: 0,
        policy_calls: 0,
    };
    let mut claim_of: HashMap<usize, usize> = HashMap::new();
    let mut ovh_pool_sizes = input.ovh_pool_sizes.clone();
    // Groups that broke a rule the policy could not see along with others, asked for alone
    // once the others are placed.
    let mut set_aside: Vec<Pending> = Vec::new();
    for round in 0..=MAX_RELAXATION_ROUNDS {
        sweep(
            &mut board,
            &mut pending,
            first_in_flight,
            &mut Placed {
                on_existing: &mut result.on_existing,
                on_in_flight: &mut result.on_in_flight,
                new_claims: &mut result.claims,
                claim_of: &claim_of,
            },
        );
        // No OVH flavor offers an extended resource: pods that need one wait for a node that
        // has it (a device plugin's), and no node is launched for them.
        for g in pending.iter_mut().filter(|g| !g.base.extended.is_empty()) {
            let reason = format!(
                "requests {}, which no OVH flavor offers",
                g.base.extended.join(", ")
            );
            result.unplaced.extend(
                std::mem::take(&mut g.pods)
                    .into_iter()
                    .map(|p| (p, reason.clone())),
            );
        }
        // The rest goes to the policy.
        pending.retain(|g| !g.pods.is_empty());
        if pending.is_empty() {
            if set_aside.is_empty() {
                break;
            }
            // One at a time: two set-aside groups may clash with each other as well.
            pending = vec![set_aside.remove(0)];
            continue;
        }
        let request_groups: Vec<Group> = pending
            .iter()
            .enumerate()
            .map(|(i, g)| {
                let (spreads, affinity, anti_affinity) = board.self_terms(&g.prepared);
                // Zone rules towards other pods reach the policy as zone requirements.
                let zones = board.zone_requirements(&g.prepared);
                let spec = if zones.is_empty() {
                    g.prepared.spec.clone()
                } else {
                    let mut spec = (*g.prepared.spec).clone();
                    spec.requirements.extend(zones);
                    spec.requirements.sort();
                    Arc::new(spec)
                };
                Group {
                    id: i as u32,
                    name: g.prepared.name.clone(),
                    count: g.pods.len() as u32,
                    spec,
                    spreads,
                    affinity,
                    anti_affinity,
                    zone_counts: board.zone_counts(&g.prepared),
                    preferences: g.base.preferences.describe(),
                }
            })
            .collect();
        // Nodes planned by earlier rounds are in flight now, with what they already hold.
        let planned = board.nodes()[first_in_flight + snap.in_flight.len()..]
            .iter()
            .map(|b| {
                let mut node = b.node.clone();
                node.requested = node.allocatable.saturating_sub(&b.free);
                Arc::new(node)
            });
        let request = Request {
            groups: request_groups,
            flavors: input.flavors.clone(),
            pools: pools.clone(),
            nodes: snap
                .nodes
                .iter()
                .chain(&snap.in_flight)
                .cloned()
                .chain(planned)
                .collect(),
            config: input.config.to_string(),
            min_values: input.options.min_values,
        };
        let prepared: Vec<Prepared> = pending.iter().map(|g| g.prepared.clone()).collect();
        let ctx = Context {
            groups: &request.groups,
            prepared: &prepared,
            pools: &request.pools,
            flavors: &request.flavors,
            daemonsets,
            min_values: input.options.min_values,
        };
        let attempt = |policy: &dyn FlavorPolicy| {
            let decision = policy.select(&request).map_err(Refusal::PolicyError)?;
            let mut trial = board.clone();
            let nodes = validate(&mut trial, &ctx, &decision).map_err(Refusal::Invalid)?;
            Ok::<_, Refusal>((decision, nodes, trial))
        };
        result.groups += request.groups.len();
        result.policy_calls += 1;
        let (outcome, answer) = match attempt(primary) {
            Ok(answer) => (Outcome::Primary, Some(answer)),
            Err(primary_reason) => {
                tracing::warn!(reason = %primary_reason, "flavor-selection answer refused, using the default policy");
                result.policy_calls += 1;
                match attempt(fallback) {
                    Ok(answer) => (
                        Outcome::Fallback {
                            reason: primary_reason,
                        },
                        Some(answer),
                    ),
                    Err(fallback_reason) => (
                        Outcome::Failed {
                            primary: primary_reason,
                            fallback: fallback_reason,
                        },
                        None,
                    ),
                }
            }
        };
        // Pods left over this round, per group, with why.
        let mut left: BTreeMap<usize, (Vec<ObjectKey>, String)> = BTreeMap::new();
        // Whether the round's outcome tells of the batch (not when its refusal is handled by
        // relaxing a preference the policy could not see).
        let mut record = true;
        match answer {
            Some((decision, nodes, trial)) => {
                board = trial;
                let mut pods: Vec<VecDeque<ObjectKey>> = pending
                    .iter_mut()
                    .map(|g| std::mem::take(&mut g.pods).into())
                    .collect();
                for u in &decision.unplaced {
                    let queue = &mut pods[u.group as usize];
                    let n = (u.count as usize).min(queue.len());
                    let entry = left
                        .entry(u.group as usize)
                        .or_insert_with(|| (Vec::new(), u.reason.clone()));
                    entry.0.extend(queue.drain(..n));
                }
                let claims = node_claims(&request, &nodes, &mut pods, &mut ovh_pool_sizes);
                for (node, claim) in nodes.iter().zip(claims) {
                    // What later rounds may still launch in the NodePool.
                    let spec = &mut pools[node.pool].spec;
                    let capacity = input.flavors[node.flavor].capacity;
                    if let Some(left) = &mut spec.remaining {
                        *left = left.saturating_sub(&capacity);
                    }
                    if let Some(n) = &mut spec.remaining_nodes {
                        *n = n.saturating_sub(1);
                    }
                    claim_of.insert(node.board_index, result.claims.len());
                    result.claims.push(claim);
                }
            }
            None => {
                let Outcome::Failed { fallback, .. } = &outcome else {
                    unreachable!("no answer means both were refused")
                };
                let reason = format!("no valid provisioning decision: {fallback}");
                // Both answers broke a rule. The group the rule names is relaxed when it
                // holds preferences (the policy contract cannot tell every rule), else left
                // unplaced; the other groups are asked for again unchanged. A refusal naming
                // no group relaxes every group that can relax, and leaves the batch
                // unplaced when none can.
                let named = match fallback {
                    Refusal::Invalid(v) => v.group(),
                    Refusal::PolicyError(_) => None,
                };
                let mut targets: Vec<bool> = pending
                    .iter()
                    .map(|g| Some(g.prepared.name.as_str()) == named)
                    .collect();
                if !targets.contains(&true) {
                    targets = pending.iter().map(|g| g.base.can_relax()).collect();
                }
                let relaxable = pending
                    .iter()
                    .zip(&targets)
                    .any(|(g, t)| *t && g.base.can_relax());
                // A group that cannot relax and was not alone yet is asked for again alone
                // (a rule between groups, such as two groups' host ports, the contract cannot
                // tell), after the others.
                let alone = targets.iter().filter(|t| **t).count() == pending.len();
                let isolate = targets.contains(&true)
                    && !relaxable
                    && !alone
                    && round < MAX_RELAXATION_ROUNDS
                    && pending
                        .iter()
                        .zip(&targets)
                        .all(|(g, t)| !*t || !g.isolated);
                if isolate {
                    tracing::debug!(%reason, "asking for the groups the rule names on their own");
                    record = false;
                    let mut others = Vec::new();
                    for (g, t) in std::mem::take(&mut pending).into_iter().zip(&targets) {
                        if *t {
                            set_aside.push(Pending {
                                isolated: true,
                                ..g
                            });
                        } else {
                            others.push(g);
                        }
                    }
                    pending = others;
                    targets = vec![false; pending.len()];
                } else if !targets.contains(&true) || round == MAX_RELAXATION_ROUNDS {
                    targets = vec![true; pending.len()];
                } else if relaxable {
                    tracing::debug!(%reason, "relaxing soft constraints the answers broke");
                    record = false;
                }
                for (i, g) in pending.iter_mut().enumerate() {
                    if targets[i] {
                        left.insert(i, (std::mem::take(&mut g.pods), reason.clone()));
                    }
                }
            }
        }
        if record {
            result.outcome = worse(
                std::mem::replace(&mut result.outcome, Outcome::NoPolicyCall),
                outcome,
            );
        }
        // Relax what is left and try again; what cannot relax stays unplaced. Groups with
        // pods still pending (not asked about) go again unchanged.
        let mut next = Vec::new();
        for (i, (pods, reason)) in left {
            if pods.is_empty() {
                continue;
            }
            let mut base = (*pending[i].base).clone();
            let relaxed: Vec<String> = if round + 1 < MAX_RELAXATION_ROUNDS {
                base.relax().into_iter().collect()
            } else {
                std::iter::from_fn(|| base.relax()).collect()
            };
            if relaxed.is_empty() || round == MAX_RELAXATION_ROUNDS {
                result
                    .unplaced
                    .extend(pods.into_iter().map(|p| (p, reason.clone())));
                continue;
            }
            tracing::debug!(
                group = %pending[i].prepared.name,
                pods = pods.len(),
                relaxed = %relaxed.join("; "),
                %reason,
                "relaxing soft constraints of pods that fit nowhere"
            );
            let base = Arc::new(base);
            let spec = held(&base);
            let eligible = eligible_zones(&spec, &base, &offered, &board, input.pools);
            next.push(Pending {
                prepared: board.prepare(&spec.owner.clone(), spec, &eligible),
                base,
                pods,
                isolated: pending[i].isolated,
            });
        }
        next.extend(pending.into_iter().filter(|g| !g.pods.is_empty()));
        pending = next;
    }
    // Rounds ran out (every round places, relaxes, sets aside or gives up on some group, so
    // only a pass with very many groups to isolate gets here): what is left waits.
    for g in pending.into_iter().chain(set_aside) {
        let reason = format!(
            "not planned within {} rounds of this pass; tried again next pass",
            MAX_RELAXATION_ROUNDS + 1
        );
        result
            .unplaced
            .extend(g.pods.into_iter().map(|p| (p, reason.clone())));
    }
    result
}
