//! The scheduling simulation of one batch: pending pods go first onto existing nodes, then onto
//! in-flight NodeClaims; the rest, collapsed into pod groups, goes to the flavor-selection
//! policy, whose answer is validated (falling back to the default policy when it is invalid)
//! and turned into NodeClaim specs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::claims::{node_claims, NodeClaimSpec};
use super::request::{Decision, FlavorPolicy, Group, Pool, Request};
use super::validate::{validate, Context, NewNode};
use crate::scheduling::{
    daemonset_overhead, new_node_labels, wellknown, Board, FlavorSpec, Labels, PodSpec, PoolSpec,
    Prepared, Violation,
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
    /// Pod groups sent to the policy.
    pub groups: usize,
}

/// Zones a pod could run in: offered zones (and zones of existing nodes) its zone requirements
/// allow, restricted to zones some NodePool allows.
fn eligible_zones(spec: &PodSpec, zones: &[String], pools: &[PoolSpec]) -> Vec<String> {
    zones
        .iter()
        .filter(|z| {
            let labels: Labels = [(wellknown::ZONE.to_string(), (*z).clone())].into();
            let zone_ok = |reqs: &mut dyn Iterator<Item = &crate::scheduling::Requirement>| {
                reqs.filter(|r| r.key == wellknown::ZONE)
                    .all(|r| r.matches(&labels))
            };
            zone_ok(&mut spec.node_requirements())
                && (pools.is_empty() || pools.iter().any(|p| zone_ok(&mut p.requirements.iter())))
        })
        .cloned()
        .collect()
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

struct Pending {
    prepared: Prepared,
    pods: Vec<ObjectKey>,
}

/// Runs one provisioning pass.
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
    // Larger pods first, as bin packing wants.
    groups.sort_by(|a, b| {
        (b.0.requests.cpu_millis, b.0.requests.memory_bytes)
            .cmp(&(a.0.requests.cpu_millis, a.0.requests.memory_bytes))
            .then_with(|| a.0.owner.cmp(&b.0.owner))
            .then_with(|| a.1.cmp(&b.1))
    });

    let mut board = Board::new(
        groups.iter().map(|g| &*g.0).chain(
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
        board.add_node((**node).clone(), node.free());
    }
    let mut zones: Vec<String> = input
        .flavors
        .iter()
        .flat_map(|f| f.zones.iter().filter(|(_, ok)| *ok).map(|(z, _)| z.clone()))
        .chain(
            board
                .nodes()
                .iter()
                .filter_map(|n| n.node.zone().map(str::to_string)),
        )
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    zones.sort();
    let mut pending: Vec<Pending> = groups
        .into_iter()
        .map(|(spec, pods)| {
            let eligible = eligible_zones(&spec, &zones, input.pools);
            Pending {
                prepared: board.prepare(&spec.owner, spec.clone(), &eligible),
                pods,
            }
        })
        .collect();

    // Existing nodes, then in-flight NodeClaims.
    let mut on_existing = Vec::new();
    let mut on_in_flight = Vec::new();
    for group in &mut pending {
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
                    let target = board.nodes()[node].node.name.clone();
                    let dest = if node < first_in_flight {
                        &mut on_existing
                    } else {
                        &mut on_in_flight
                    };
                    dest.extend(group.pods.drain(..n as usize).map(|p| (p, target.clone())));
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

    // The rest goes to the policy.
    pending.retain(|g| !g.pods.is_empty());
    if pending.is_empty() {
        return Plan {
            on_existing,
            on_in_flight,
            claims: Vec::new(),
            unplaced: Vec::new(),
            outcome: Outcome::NoPolicyCall,
            groups: 0,
        };
    }
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
    let request_groups: Vec<Group> = pending
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let (spreads, affinity, anti_affinity) = board.self_terms(&g.prepared);
            Group {
                id: i as u32,
                name: g.prepared.name.clone(),
                count: g.pods.len() as u32,
                spec: g.prepared.spec.clone(),
                spreads,
                affinity,
                anti_affinity,
                zone_counts: board.zone_counts(&g.prepared),
            }
        })
        .collect();
    let request = Request {
        groups: request_groups,
        flavors: input.flavors.clone(),
        pools,
        nodes: snap.nodes.iter().chain(&snap.in_flight).cloned().collect(),
        config: input.config.to_string(),
    };
    let prepared: Vec<Prepared> = pending.iter().map(|g| g.prepared.clone()).collect();
    let ctx = Context {
        groups: &request.groups,
        prepared: &prepared,
        pools: &request.pools,
        flavors: &request.flavors,
        daemonsets,
    };
    let attempt = |policy: &dyn FlavorPolicy| -> Result<(Decision, Vec<NewNode>), Refusal> {
        let decision = policy.select(&request).map_err(Refusal::PolicyError)?;
        let mut trial = board.clone();
        let nodes = validate(&mut trial, &ctx, &decision).map_err(Refusal::Invalid)?;
        Ok((decision, nodes))
    };
    let (outcome, answer) = match attempt(primary) {
        Ok(answer) => (Outcome::Primary, Some(answer)),
        Err(primary_reason) => {
            tracing::warn!(reason = %primary_reason, "flavor-selection answer refused, using the default policy");
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
    let mut unplaced = Vec::new();
    let mut claims = Vec::new();
    match answer {
        Some((decision, nodes)) => {
            let mut pods: Vec<std::collections::VecDeque<ObjectKey>> =
                pending.into_iter().map(|g| g.pods.into()).collect();
            for u in &decision.unplaced {
                let queue = &mut pods[u.group as usize];
                for _ in 0..u.count {
                    if let Some(p) = queue.pop_front() {
                        unplaced.push((p, u.reason.clone()));
                    }
                }
            }
            claims = node_claims(&request, &nodes, &mut pods, input.ovh_pool_sizes);
        }
        None => {
            let reason = match &outcome {
                Outcome::Failed { fallback, .. } => {
                    format!("no valid provisioning decision: {fallback}")
                }
                _ => String::new(),
            };
            for g in pending {
                unplaced.extend(g.pods.into_iter().map(|p| (p, reason.clone())));
            }
        }
    }
    Plan {
        on_existing,
        on_in_flight,
        claims,
        unplaced,
        outcome,
        groups: request.groups.len(),
    }
}
