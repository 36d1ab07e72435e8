//! The pure disruption decision: from a cluster snapshot, the NodePools, the catalog and the
//! candidates (managed nodes with their disruption facts), the consolidation request the
//! policy sees, and the host's validation of every command the policy answers: each command is
//! simulated with the scheduling core ([`crate::provisioning::simulate::plan`]) on a snapshot
//! without the command's nodes, so all pods must fit (requirements, taints, spread,
//! anti-affinity, NodePool limits through the provisioning validation); a delete must need no
//! new node; a replace must need no more nodes than it names, of the flavors it names, and
//! cost less than what it removes. No I/O here: `policy evaluate` and the benchmarks call it
//! as is.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use jiff::Timestamp;

use super::pass::PoolBudget;

use crate::api::nodepool::ConsolidationPolicy;
use crate::policy::types::consolidation::{self as wit_cons, ConsolidationRequest};
use crate::policy::types::{self as wit};
use crate::provisioning::contract as conv;
use crate::provisioning::request::{FlavorPolicy, Group, Pool};
use crate::provisioning::simulate::{plan, pool_overhead, Input as SimInput};
use crate::provisioning::{static_pool, NodeClaimSpec};
use crate::scheduling::{FlavorSpec, NodeState, PodSpec, PoolSpec, SimNode};
use crate::state::Snapshot;
use karpenter_ovhcloud_contract::balanced::{self, PoolTotals, Score};

/// Disruption settings of a NodePool.
#[derive(Clone, Debug, PartialEq)]
pub struct PoolSettings {
    /// NodePool name.
    pub name: String,
    /// Which nodes consolidation may remove or replace.
    pub policy: ConsolidationPolicy,
    /// A static NodePool (`spec.replicas`): never consolidated.
    pub is_static: bool,
    /// `consolidateAfter` in guide seconds; None = `Never`.
    pub consolidate_after_seconds: Option<u64>,
    /// Current template hash.
    pub template_hash: String,
}

/// A managed node and what disruption needs to know about it.
#[derive(Clone, Debug, PartialEq)]
pub struct Candidate {
    /// Node name (as in the snapshot).
    pub node: String,
    /// NodeClaim backing it.
    pub claim: String,
    /// NodePool.
    pub nodepool: String,
    /// Hourly price of the node (EUR).
    pub hourly_price: f64,
    /// Age in guide seconds.
    pub age_seconds: u64,
    /// No `karpenter.sh/do-not-disrupt` on the node, its NodeClaim or its pods, and no pod
    /// whose PodDisruptionBudget allows no disruption.
    pub disruptable: bool,
    /// Its pods have not changed for its NodePool's `consolidateAfter`.
    pub consolidatable: bool,
}

/// Everything one disruption decision reads.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a> {
    /// The cluster model.
    pub snapshot: &'a Snapshot,
    /// NodePools for the simulation (with their remaining limits).
    pub pools: &'a [PoolSpec],
    /// Disruption settings of the NodePools.
    pub settings: &'a [PoolSettings],
    /// The catalog.
    pub flavors: &'a Arc<Vec<FlavorSpec>>,
    /// Managed, initialized nodes not being deleted.
    pub candidates: &'a [Candidate],
    /// Nodes already in each OVH pool (anti-affinity numbering of replacements).
    pub ovh_pool_sizes: &'a HashMap<String, u32>,
    /// The scheduling settings the simulations run with.
    pub options: crate::provisioning::simulate::Options,
}

/// Why a node is disrupted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// It runs no movable pod.
    Empty,
    /// Its pods fit elsewhere or on cheaper capacity.
    Underutilized,
    /// It no longer matches its NodePool or OVHNodeClass.
    Drifted,
    /// It is older than its `expireAfter`.
    Expired,
}

impl Reason {
    /// Label value (metrics, Events).
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Empty => "empty",
            Reason::Underutilized => "underutilized",
            Reason::Drifted => "drifted",
            Reason::Expired => "expired",
        }
    }

    /// As upstream spells it in Events and conditions (`Underutilized`).
    pub fn title(self) -> &'static str {
        match self {
            Reason::Empty => "Empty",
            Reason::Underutilized => "Underutilized",
            Reason::Drifted => "Drifted",
            Reason::Expired => "Expired",
        }
    }

    /// The budget reason it counts against (expiry is not budgeted, as upstream).
    pub fn budget(self) -> Option<crate::api::nodepool::DisruptionReason> {
        use crate::api::nodepool::DisruptionReason as R;
        match self {
            Reason::Empty => Some(R::Empty),
            Reason::Underutilized => Some(R::Underutilized),
            Reason::Drifted => Some(R::Drifted),
            Reason::Expired => None,
        }
    }
}

/// A command the host validated and may carry out.
#[derive(Clone, Debug, PartialEq)]
pub struct Command {
    /// Nodes removed.
    pub nodes: Vec<String>,
    /// Their NodeClaims.
    pub claims: Vec<String>,
    /// NodePool of the (first) removed node: one command at a time per NodePool.
    pub nodepool: String,
    /// Why.
    pub reason: Reason,
    /// NodeClaims to launch (and see initialized) before the old nodes drain.
    pub replacements: Vec<NodeClaimSpec>,
    /// Expected saving in EUR per hour.
    pub savings_per_hour: f64,
    /// One line on why.
    pub message: String,
}

impl Command {
    /// Identity of the command across passes (for the validation delay).
    pub fn key(&self) -> String {
        let flavors: Vec<&str> = self
            .replacements
            .iter()
            .map(|r| r.flavor.as_str())
            .collect();
        format!(
            "{}:{}:{}",
            self.reason.as_str(),
            self.nodes.join(","),
            flavors.join(",")
        )
    }
}

/// A command the host refused, with why.
#[derive(Clone, Debug, PartialEq)]
pub struct Refused {
    /// Nodes the command named.
    pub nodes: Vec<String>,
    /// Why it was refused.
    pub why: String,
}

fn is_daemon(spec: &PodSpec, snap: &Snapshot) -> bool {
    snap.daemonsets.iter().any(|d| d.owner == spec.owner)
}

/// Movable (non-DaemonSet) pods per node index.
fn movable_by_node(snap: &Snapshot) -> BTreeMap<usize, Vec<Arc<PodSpec>>> {
    let mut out: BTreeMap<usize, Vec<Arc<PodSpec>>> = BTreeMap::new();
    for (spec, i) in &snap.bound {
        if !is_daemon(spec, snap) {
            out.entry(*i).or_default().push(spec.clone());
        }
    }
    out
}

/// The consolidation request of a pass: every ready node, movable pods as groups, the
/// candidates flagged `disruptable`/`consolidatable`.
pub fn consolidation_request(input: &Input<'_>) -> ConsolidationRequest {
    let snap = input.snapshot;
    let movable = movable_by_node(snap);
    // Identical pods collapse into one group.
    let mut groups: Vec<(Arc<PodSpec>, u32)> = Vec::new();
    let mut ids: HashMap<Arc<PodSpec>, u32> = HashMap::new();
    let mut node_pods: BTreeMap<usize, BTreeMap<u32, u32>> = BTreeMap::new();
    for (i, pods) in &movable {
        for p in pods {
            let id = *ids.entry(p.clone()).or_insert_with(|| {
                groups.push((p.clone(), 0));
                groups.len() as u32 - 1
            });
            groups[id as usize].1 += 1;
            *node_pods.entry(*i).or_default().entry(id).or_default() += 1;
        }
    }
    let candidates: HashMap<&str, &Candidate> = input
        .candidates
        .iter()
        .map(|c| (c.node.as_str(), c))
        .collect();
    let nodes = snap
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.state == NodeState::Ready)
        .map(|(i, n)| {
            let mut node = conv::node(n, input.flavors);
            node.pods = node_pods
                .get(&i)
                .into_iter()
                .flatten()
                .map(|(g, c)| wit::Assignment {
                    group: *g,
                    count: *c,
                })
                .collect();
            if let Some(c) = candidates.get(n.name.as_str()) {
                node.hourly_price = c.hourly_price;
                node.age_seconds = c.age_seconds;
                node.disruptable = c.disruptable;
                node.consolidatable = c.consolidatable;
                node.nodeclaim = c.claim.clone();
                node.nodepool = c.nodepool.clone();
            }
            node
        })
        .collect();
    let pod_groups = groups
        .iter()
        .enumerate()
        .map(|(id, (spec, count))| {
            conv::group(&Group {
                id: id as u32,
                name: spec.owner.clone(),
                count: *count,
                spec: spec.clone(),
                // Topology rules are checked by the host's simulation of each command.
                spreads: Vec::new(),
                affinity: Vec::new(),
                anti_affinity: Vec::new(),
                zone_counts: Vec::new(),
                preferences: Vec::new(),
            })
        })
        .collect();
    let nodepools = input
        .pools
        .iter()
        .map(|p| {
            let mut wp = conv::pool(&Pool {
                spec: p.clone(),
                daemonset_overhead: pool_overhead(p, &snap.daemonsets),
            });
            if let Some(s) = input.settings.iter().find(|s| s.name == p.name) {
                // The host holds every move to the NodePool's policy whatever the policy
                // says (see `validate`).
                wp.consolidation_policy = match s.policy {
                    ConsolidationPolicy::WhenEmpty => wit::ConsolidationPolicy::WhenEmpty,
                    ConsolidationPolicy::WhenEmptyOrUnderutilized => {
                        wit::ConsolidationPolicy::WhenEmptyOrUnderutilized
                    }
                    ConsolidationPolicy::Balanced => wit::ConsolidationPolicy::Balanced,
                };
                wp.consolidate_after_seconds = s.consolidate_after_seconds;
                wp.template_hash = s.template_hash.clone();
            }
            wp
        })
        .collect();
    let nodepool_totals = input
        .pools
        .iter()
        .map(|p| {
            let totals = pool_totals(input, &movable, &p.name);
            wit_cons::NodepoolTotals {
                nodepool: p.name.clone(),
                hourly_price: totals.price,
                disruption_cost: totals.disruption_cost,
            }
        })
        .filter(|t| t.hourly_price > 0.0 || t.disruption_cost > 0.0)
        .collect();
    ConsolidationRequest {
        nodes,
        pod_groups,
        flavors: input.flavors.iter().map(conv::flavor).collect(),
        nodepools,
        config: String::new(),
        nodepool_totals,
    }
}

/// The snapshot without `removed` nodes: their movable pods become pending (keyed
/// `node/index`), their DaemonSet pods go with them.
fn without(snap: &Snapshot, removed: &HashSet<&str>) -> Snapshot {
    let mut out = Snapshot {
        in_flight: snap.in_flight.clone(),
        daemonsets: snap.daemonsets.clone(),
        pdbs: snap.pdbs.clone(),
        ..Default::default()
    };
    let mut index: HashMap<usize, usize> = HashMap::new();
    for (i, n) in snap.nodes.iter().enumerate() {
        if !removed.contains(n.name.as_str()) {
            index.insert(i, out.nodes.len());
            out.nodes.push(n.clone());
        }
    }
    for (k, (spec, i)) in snap.bound.iter().enumerate() {
        match index.get(i) {
            Some(j) => out.bound.push((spec.clone(), *j)),
            None if !is_daemon(spec, snap) => out
                .pending
                .push((format!("{}/{k}", snap.nodes[*i].name), spec.clone())),
            None => {}
        }
    }
    out
}

/// Simulates removing `nodes` and placing their pods on the rest, with new nodes only from
/// `pools` and `flavors`. Ok(new NodeClaims) when every pod is placed.
pub fn simulate(
    input: &Input<'_>,
    nodes: &[String],
    pools: &[PoolSpec],
    flavors: &Arc<Vec<FlavorSpec>>,
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
) -> Result<Vec<NodeClaimSpec>, String> {
    let removed: HashSet<&str> = nodes.iter().map(String::as_str).collect();
    let snap = without(input.snapshot, &removed);
    let sim = SimInput {
        snapshot: &snap,
        pools,
        flavors,
        ovh_pool_sizes: input.ovh_pool_sizes,
        config: "",
        options: input.options,
    };
    let plan = plan(&sim, primary, fallback);
    if let Some((pod, why)) = plan.unplaced.first() {
        return Err(format!(
            "{} pod(s) would not fit elsewhere (first: {pod}: {why})",
            plan.unplaced.len()
        ));
    }
    Ok(plan.claims)
}

fn price(flavors: &[FlavorSpec], name: &str) -> f64 {
    flavors
        .iter()
        .find(|f| f.name == name)
        .map_or(f64::INFINITY, |f| f.hourly_price)
}

/// The disruption cost of deleting snapshot node `i` (its movable pods' eviction costs).
fn disruption_cost(movable: &BTreeMap<usize, Vec<Arc<PodSpec>>>, i: usize) -> f64 {
    balanced::node_disruption_cost(
        movable
            .get(&i)
            .into_iter()
            .flatten()
            .map(|p| p.eviction_cost()),
    )
}

/// A node's hourly price: a candidate's as disruption knows it, else its flavor's.
fn node_price(input: &Input<'_>, n: &SimNode) -> f64 {
    match input.candidates.iter().find(|c| c.node == n.name) {
        Some(c) => c.hourly_price,
        None => n
            .labels
            .get(karpenter_ovhcloud_contract::labels::INSTANCE_TYPE)
            .map_or(0.0, |f| price(input.flavors, f)),
    }
}

/// A NodePool's totals in the pass's snapshot, the denominators of Balanced scoring: the
/// price and disruption cost of its nodes that are not being deleted.
fn pool_totals(
    input: &Input<'_>,
    movable: &BTreeMap<usize, Vec<Arc<PodSpec>>>,
    pool: &str,
) -> PoolTotals {
    let mut totals = PoolTotals::default();
    for (i, n) in input.snapshot.nodes.iter().enumerate() {
        if n.nodepool.as_deref() == Some(pool) && n.state != NodeState::Deleting {
            totals.price += node_price(input, n);
            totals.disruption_cost += disruption_cost(movable, i);
        }
    }
    totals
}

/// Holds a move on `nodes` saving `savings` (of `removed_price`) to the score of every
/// Balanced NodePool it disrupts, each pool taking its share of the savings by price, as
/// upstream's `EvaluateBalancedMove`; the pool totals come from the pass's snapshot.
fn balanced_score(
    input: &Input<'_>,
    nodes: &[String],
    savings: f64,
    removed_price: f64,
) -> Result<Vec<(String, Score)>, String> {
    let snap = input.snapshot;
    let movable = movable_by_node(snap);
    let mut scores = Vec::new();
    let balanced_pools = input
        .settings
        .iter()
        .filter(|s| s.policy == ConsolidationPolicy::Balanced);
    for pool in balanced_pools {
        let in_pool = |n: &SimNode| n.nodepool.as_deref() == Some(pool.name.as_str());
        let (mut move_price, mut move_cost) = (0.0, 0.0);
        for (i, n) in snap.nodes.iter().enumerate() {
            if nodes.contains(&n.name) && in_pool(n) {
                move_price += node_price(input, n);
                move_cost += disruption_cost(&movable, i);
            }
        }
        if move_cost == 0.0 {
            continue;
        }
        let totals = pool_totals(input, &movable, &pool.name);
        let share = if removed_price > 0.0 {
            savings * move_price / removed_price
        } else {
            0.0
        };
        let score = balanced::score(share, move_cost, totals, balanced::BALANCED_K);
        if !score.approved() {
            return Err(format!(
                "NodePool {} is Balanced and the move does not pay for its disruption: {score}",
                pool.name
            ));
        }
        scores.push((pool.name.clone(), score));
    }
    Ok(scores)
}

/// Validates one policy command against the candidates and the simulation.
pub fn validate(
    input: &Input<'_>,
    command: &wit_cons::Command,
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
) -> Result<Command, String> {
    if command.nodes.is_empty() {
        return Err("names no node".into());
    }
    let mut claims = Vec::new();
    let mut removed_price = 0.0;
    let mut nodepool = String::new();
    let movable = movable_by_node(input.snapshot);
    for name in &command.nodes {
        let c = input
            .candidates
            .iter()
            .find(|c| &c.node == name)
            .ok_or_else(|| format!("{name} is not a managed, initialized node"))?;
        if !c.disruptable {
            return Err(format!(
                "{name} may not be disrupted (do-not-disrupt or a PodDisruptionBudget)"
            ));
        }
        let settings = input
            .settings
            .iter()
            .find(|s| s.name == c.nodepool)
            .ok_or_else(|| format!("{name}: unknown NodePool {}", c.nodepool))?;
        if settings.is_static {
            return Err(format!(
                "{name}: NodePool {} is static (spec.replicas): consolidation does not apply",
                c.nodepool
            ));
        }
        let Some(_) = settings.consolidate_after_seconds else {
            return Err(format!(
                "{name}: NodePool {} says consolidateAfter Never",
                c.nodepool
            ));
        };
        if !c.consolidatable {
            return Err(format!("{name}: its pods changed within consolidateAfter"));
        }
        let index = input.snapshot.nodes.iter().position(|n| &n.name == name);
        let empty = index.is_none_or(|i| movable.get(&i).is_none_or(Vec::is_empty));
        if settings.policy == ConsolidationPolicy::WhenEmpty && !empty {
            return Err(format!(
                "{name}: NodePool {} is WhenEmpty and the node runs pods",
                c.nodepool
            ));
        }
        if command.reason == wit_cons::Reason::Empty && !empty {
            return Err(format!("{name} is not empty"));
        }
        if nodepool.is_empty() {
            nodepool = c.nodepool.clone();
        }
        claims.push(c.claim.clone());
        removed_price += c.hourly_price;
    }
    let reason = match command.reason {
        wit_cons::Reason::Empty => Reason::Empty,
        wit_cons::Reason::Underutilized => Reason::Underutilized,
    };
    let (replacements, savings) = match &command.action {
        wit_cons::Action::Delete => {
            let new = simulate(
                input,
                &command.nodes,
                input.pools,
                input.flavors,
                primary,
                fallback,
            )?;
            if !new.is_empty() {
                return Err(format!(
                    "the pods need {} new node(s): not a deletion",
                    new.len()
                ));
            }
            (new, removed_price)
        }
        wit_cons::Action::Replace(list) => {
            if list.is_empty() {
                return Err("a replacement names no node".into());
            }
            let names: HashSet<&str> = list.iter().map(|r| r.flavor.as_str()).collect();
            let pools: HashSet<&str> = list.iter().map(|r| r.nodepool.as_str()).collect();
            let flavors: Arc<Vec<FlavorSpec>> = Arc::new(
                input
                    .flavors
                    .iter()
                    .filter(|f| names.contains(f.name.as_str()))
                    .cloned()
                    .collect(),
            );
            let specs: Vec<PoolSpec> = input
                .pools
                .iter()
                .filter(|p| pools.contains(p.name.as_str()))
                .cloned()
                .collect();
            let new = simulate(input, &command.nodes, &specs, &flavors, primary, fallback)?;
            if new.len() > list.len() {
                return Err(format!(
                    "the pods need {} new nodes, the command names {}",
                    new.len(),
                    list.len()
                ));
            }
            let added: f64 = new.iter().map(|c| price(input.flavors, &c.flavor)).sum();
            if added >= removed_price {
                return Err(format!(
                    "replacements cost {added:.4} EUR/h, not less than the {removed_price:.4} EUR/h removed"
                ));
            }
            (new, removed_price - added)
        }
    };
    if reason == Reason::Underutilized {
        balanced_score(input, &command.nodes, savings, removed_price)?;
    }
    Ok(Command {
        nodes: command.nodes.clone(),
        claims,
        nodepool,
        reason,
        replacements,
        savings_per_hour: savings,
        message: command.message.clone(),
    })
}

/// Validates the policy's commands in order until each NodePool has one that its budget
/// (`budgets`, read at `now`) lets run this pass: a NodePool runs at most one command per pass,
/// and a command over budget must not keep the next one of its NodePool from being tried
/// ([`super::pass::choose`] then skips it).
pub fn validate_all<'a>(
    input: &Input<'_>,
    commands: &[wit_cons::Command],
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
    budgets: &dyn Fn(&str) -> Option<PoolBudget<'a>>,
    now: Timestamp,
) -> (Vec<Command>, Vec<Refused>) {
    let mut accepted: Vec<Command> = Vec::new();
    let mut settled: HashSet<String> = HashSet::new();
    let mut refused = Vec::new();
    for command in commands {
        let busy = command.nodes.iter().any(|n| {
            input
                .candidates
                .iter()
                .find(|c| &c.node == n)
                .is_some_and(|c| settled.contains(&c.nodepool))
        });
        if busy {
            continue;
        }
        match validate(input, command, primary, fallback) {
            Ok(c) => {
                let fits = budgets(&c.nodepool)
                    .is_none_or(|b| b.check(c.reason, c.claims.len(), now).is_ok());
                if fits {
                    settled.insert(c.nodepool.clone());
                }
                accepted.push(c)
            }
            Err(why) => refused.push(Refused {
                nodes: command.nodes.clone(),
                why,
            }),
        }
    }
    (accepted, refused)
}

/// A replacement command for drifted or expired nodes: their pods placed by the scheduling
/// core on the other nodes and on new NodeClaims of any NodePool.
pub fn replace(
    input: &Input<'_>,
    candidate: &Candidate,
    reason: Reason,
    message: String,
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
) -> Result<Command, String> {
    let nodes = vec![candidate.node.clone()];
    let new = simulate(input, &nodes, input.pools, input.flavors, primary, fallback)?;
    let added: f64 = new.iter().map(|c| price(input.flavors, &c.flavor)).sum();
    Ok(Command {
        nodes,
        claims: vec![candidate.claim.clone()],
        nodepool: candidate.nodepool.clone(),
        reason,
        replacements: new,
        savings_per_hour: candidate.hourly_price - added,
        message,
    })
}

/// A replacement of a static NodePool's node: a node of the NodePool's template (as
/// [`static_pool::launch`] picks it for a scale-up, in the zone where the NodePool has the
/// fewest other nodes), whatever the old node's pods need; the kube-scheduler places them.
pub fn replace_static(
    input: &Input<'_>,
    candidate: &Candidate,
    reason: Reason,
    message: String,
    pool: &PoolSpec,
) -> Result<Command, String> {
    // The replacement is launched first: it needs room under `limits.nodes` (upstream's static
    // drift reserves it, and waits when there is none).
    if pool.remaining_nodes == Some(0) {
        return Err(format!(
            "static NodePool {} is at its limits.nodes: no room for a replacement launched first",
            pool.name
        ));
    }
    let mut zones: HashMap<String, u32> = HashMap::new();
    for n in &input.snapshot.nodes {
        if n.nodepool.as_deref() == Some(pool.name.as_str())
            && n.name != candidate.node
            && n.state != NodeState::Deleting
        {
            if let Some(z) = n.labels.get(karpenter_ovhcloud_contract::labels::ZONE) {
                *zones.entry(z.clone()).or_default() += 1;
            }
        }
    }
    let mut sizes = input.ovh_pool_sizes.clone();
    let new = static_pool::launch(
        pool,
        input.flavors,
        &input.snapshot.daemonsets,
        &zones,
        &mut sizes,
    )
    .ok_or_else(|| {
        format!(
            "no available flavor and zone meets the requirements of static NodePool {}",
            pool.name
        )
    })?;
    let added = price(input.flavors, &new.flavor);
    Ok(Command {
        nodes: vec![candidate.node.clone()],
        claims: vec![candidate.claim.clone()],
        nodepool: candidate.nodepool.clone(),
        reason,
        replacements: vec![new],
        savings_per_hour: candidate.hourly_price - added,
        message,
    })
}

/// A node of the snapshot by name.
pub fn node<'a>(snap: &'a Snapshot, name: &str) -> Option<&'a Arc<SimNode>> {
    snap.nodes.iter().find(|n| n.name == name)
}
