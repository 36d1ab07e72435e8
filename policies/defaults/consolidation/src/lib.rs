//! The default consolidation policy.
//!
//! Candidates are managed nodes (a NodeClaim and a known NodePool), `ready`, `disruptable`
//! and `consolidatable`, whose NodePool does not say `consolidateAfter: Never`. Commands, in
//! the order the host should try them:
//!
//! 1. **Empty**: every candidate that runs no movable pod is deleted (one command per node),
//!    in WhenEmpty and WhenEmptyOrUnderutilized pools alike.
//! 2. **Multi-node** (WhenEmptyOrUnderutilized pools), per NodePool: its candidates sorted by
//!    fewest pods, then least CPU requested, then highest price, then name; the longest prefix
//!    (at least 2 nodes, at most 100 and at most `maxDisruptionPercent` of the NodePool's
//!    nodes; Karpenter bisects, this policy tries each length) whose pods fit on the other
//!    nodes' free capacity plus at most ONE new node of the NodePool, priced below the removed
//!    nodes' sum by the configured savings, is removed in one command: deleted when no new
//!    node is needed, else replaced by that node (Karpenter's multi-node consolidation, which
//!    merges several small nodes into one bigger, cheaper one).
//! 3. **Single-node** (WhenEmptyOrUnderutilized pools), each remaining candidate in that
//!    order: deleted when its pods fit on the other nodes, else replaced by one cheaper new
//!    node that takes all its pods.
//!
//! **Balanced** NodePools (`consolidationPolicy: Balanced`) take part in 2 and 3 too, held to
//! Karpenter's score instead of the savings thresholds: a move is made only when its share of
//! the NodePool's price (`savings / nodepool-totals.hourly-price`) is at least half its share of
//! the NodePool's disruption cost (1 per removed node plus each evicted pod's positive
//! `eviction-cost`, over `nodepool-totals.disruption-cost`). Their candidates go in Karpenter's
//! order, highest price per unit of disruption cost first, and a candidate whose deletion
//! alone would not pass is not considered (Karpenter's `CanPassThreshold`).
//!
//! A new node is the cheapest flavor of the NodePool (requirements, zone availability,
//! billing, limits) that takes its pods plus the DaemonSet overhead, in a zone that suits
//! them (the removed nodes' zones first), cheaper than any removed node's flavor that could
//! take them too (else keeping that node and deleting the others is the same with less
//! disruption, Karpenter's rule). Pods only move to nodes whose labels satisfy their
//! requirements and whose taints they tolerate; pods with zone rules (spread, affinity,
//! anti-affinity) stay in their zone; hostname anti-affinity and spread are respected on the
//! destination, new node included; pods with hostname affinity never move. A node that runs
//! no movable pod and may be removed is no destination: it goes as empty once its
//! `consolidateAfter` has passed, so moving pods onto it would only trade one node for another
//! at the price of their eviction (an evicted job starts over). Each command
//! accounts for the previous ones (a node removed is no longer a destination, capacity taken
//! is gone), so they can be executed in order.
//!
//! # Config (`data.config.json`, optional)
//!
//! ```json
//! { "minSavingsPerHour": 0.005, "minSavingsPercent": 10, "maxDisruptionPercent": 10 }
//! ```
//!
//! - `minSavingsPerHour` (EUR, >= 0, default 0.005): the least saving of an underutilized
//!   delete or replace command; empty nodes are always deleted. Not applied to Balanced
//!   NodePools, whose score decides.
//! - `minSavingsPercent` (0-100, default 10): the least saving of a replacement, in percent of
//!   the replaced nodes' price, so a marginally cheaper flavor does not cause churn. Not
//!   applied to Balanced NodePools either.
//! - `maxDisruptionPercent` (1-100, default 10): the most nodes of a NodePool one multi-node
//!   command removes, in percent of the NodePool's nodes, rounded up. The host skips a
//!   command the NodePool's disruption budget does not allow (the NodePool's next command
//!   is tried instead), but the policy does not see the budgets: a larger merge would only
//!   be skipped, pass after pass. This mirrors Karpenter's default budget (`nodes: 10%`),
//!   which bounds Karpenter's own multi-node candidates. Set it to the NodePools' budget
//!   when they have another.

use std::collections::BTreeMap;

use karpenter_ovhcloud_policy_sdk::contract::balanced::{self, PoolTotals};
use karpenter_ovhcloud_policy_sdk::labels::{first_unmet, NewNodeLabels};
use karpenter_ovhcloud_policy_sdk::order::sort_by;
use karpenter_ovhcloud_policy_sdk::packing::{catalog_zones, largest_first};
use karpenter_ovhcloud_policy_sdk::price::format_eur;
use karpenter_ovhcloud_policy_sdk::taints::all_tolerated;
use karpenter_ovhcloud_policy_sdk::types::{
    Action, Assignment, Command, ConsolidationDecision, ConsolidationPolicy, ConsolidationRequest,
    Flavor, Node, NodeState, Nodepool, PodGroup, PolicyMetadata, Reason, Replacement, Resources,
};
use karpenter_ovhcloud_policy_sdk::{config, export_consolidation, Consolidation};

/// Candidates considered for one multi-node command at most.
const MAX_MULTI_NODE: usize = 100;

/// The policy's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Least saving (EUR per hour) of an underutilized delete or a replacement.
    pub min_savings_per_hour: f64,
    /// Least saving of a replacement, in percent of the replaced nodes' price.
    pub min_savings_percent: f64,
    /// Most nodes of a NodePool one command removes, in percent of its nodes (rounded up).
    pub max_disruption_percent: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_savings_per_hour: 0.005,
            min_savings_percent: 10.0,
            max_disruption_percent: 10,
        }
    }
}

impl Config {
    /// Whether a node costing `added` per hour in place of nodes costing `removed` saves
    /// enough (both thresholds).
    pub fn saves_enough(&self, removed: f64, added: f64) -> bool {
        let savings = removed - added;
        savings >= self.min_savings_per_hour
            && savings * 100.0 >= self.min_savings_percent * removed
    }

    /// Parses and validates a config string ("" is the default).
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c = config::Config::parse(text)?;
        let default = Config::default();
        let cfg = Config {
            min_savings_per_hour: c
                .f64("minSavingsPerHour")?
                .unwrap_or(default.min_savings_per_hour),
            min_savings_percent: c
                .f64("minSavingsPercent")?
                .unwrap_or(default.min_savings_percent),
            max_disruption_percent: c
                .u32("maxDisruptionPercent")?
                .unwrap_or(default.max_disruption_percent),
        };
        c.finish()?;
        if !(cfg.min_savings_per_hour.is_finite() && cfg.min_savings_per_hour >= 0.0) {
            return Err("invalid policy config: minSavingsPerHour must be a number >= 0".into());
        }
        if !(0.0..=100.0).contains(&cfg.min_savings_percent) {
            return Err(
                "invalid policy config: minSavingsPercent must be between 0 and 100".into(),
            );
        }
        if !(1..=100).contains(&cfg.max_disruption_percent) {
            return Err(
                "invalid policy config: maxDisruptionPercent must be between 1 and 100".into(),
            );
        }
        Ok(cfg)
    }

    /// Most nodes one command may remove from a NodePool of `nodes` nodes.
    pub fn max_disrupted(&self, nodes: usize) -> usize {
        (nodes * self.max_disruption_percent as usize).div_ceil(100)
    }
}

/// The policy's metadata.
pub fn metadata() -> PolicyMetadata {
    PolicyMetadata {
        name: "default-consolidation".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Deletes empty nodes, moves pods off under-used nodes, replaces nodes by cheaper flavors".into(),
    }
}

/// The policy, natively: what the component's `consolidate` export runs.
pub fn consolidate(request: &ConsolidationRequest) -> Result<ConsolidationDecision, String> {
    let cfg = Config::parse(&request.config)?;
    let mut sim = Sim::new(request);
    let mut commands = Vec::new();

    let candidates: Vec<usize> = (0..request.nodes.len())
        .filter(|&i| sim.is_candidate(i))
        .collect();

    // 1. Empty nodes.
    for &i in &candidates {
        let node = &request.nodes[i];
        if sim.movable(i) == 0 {
            sim.removed[i] = true;
            commands.push(Command {
                nodes: vec![node.name.clone()],
                action: Action::Delete,
                reason: Reason::Empty,
                savings_per_hour: node.hourly_price,
                message: format!("node {} ({}) runs no movable pod", node.name, node.flavor),
            });
        }
    }

    // Balanced candidates whose deletion alone would not pass the score cannot be part of
    // any move that does (Karpenter's `CanPassThreshold`).
    let mut under: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| {
            !sim.removed[i]
                && match sim.pool_of(i).map(|p| p.consolidation_policy) {
                    Some(ConsolidationPolicy::WhenEmptyOrUnderutilized) => true,
                    Some(ConsolidationPolicy::Balanced) => sim
                        .score(&[i], request.nodes[i].hourly_price)
                        .is_some_and(|s| s.approved()),
                    _ => false,
                }
        })
        .collect();
    // Balanced candidates after the others, by Karpenter's savings ratio (price per unit of
    // disruption cost), highest first.
    sort_by(&mut under, &|&a, &b| {
        let (na, nb) = (&request.nodes[a], &request.nodes[b]);
        let (ba, bb) = (sim.is_balanced(a), sim.is_balanced(b));
        let order = if ba && bb {
            let ratio = |i: usize| sim.node(i).hourly_price / sim.disruption_cost(&[i]);
            ratio(b).total_cmp(&ratio(a))
        } else {
            sim.movable(a)
                .cmp(&sim.movable(b))
                .then(na.requested.cpu_millis.cmp(&nb.requested.cpu_millis))
                .then(nb.hourly_price.total_cmp(&na.hourly_price))
        };
        ba.cmp(&bb).then(order).then(na.name.cmp(&nb.name))
    });

    // 2. Multi-node, per NodePool (one NodePool per command): the longest prefix of its
    // candidates that can go. Longest first, each length tried: Karpenter's binary search
    // assumes a longer prefix never fits when a shorter one does not, which a replacement
    // breaks (two nodes may not merge into a cheaper one where four do).
    let mut pools: Vec<&str> = Vec::new();
    for &i in &under {
        let pool = request.nodes[i].nodepool.as_str();
        if !pools.contains(&pool) {
            pools.push(pool);
        }
    }
    for pool in pools {
        let mine: Vec<usize> = under
            .iter()
            .copied()
            .filter(|&i| request.nodes[i].nodepool == pool)
            .collect();
        let size = request.nodes.iter().filter(|n| n.nodepool == pool).count();
        let longest = mine.len().min(MAX_MULTI_NODE).min(cfg.max_disrupted(size));
        let best = (2..=longest)
            .rev()
            .find_map(|k| sim.removal(&mine[..k], &cfg).map(|r| (k, r)));
        if let Some((k, removal)) = best {
            commands.push(sim.execute(&mine[..k], removal));
        }
    }

    // 3. Single-node: each remaining candidate by the same rule.
    for i in under {
        if sim.removed[i] {
            continue;
        }
        if let Some(removal) = sim.removal(&[i], &cfg) {
            commands.push(sim.execute(&[i], removal));
        }
    }
    Ok(ConsolidationDecision { commands })
}

/// Pods of one group moved from a node to another.
#[derive(Debug, Clone)]
struct Move {
    to: usize,
    group: u32,
    count: u32,
}

/// Pods of one group that no other node takes.
#[derive(Debug, Clone, Copy)]
struct Left<'a> {
    /// The node they come from.
    from: usize,
    group: &'a PodGroup,
    count: u32,
}

/// How some nodes can go.
#[derive(Debug, Clone)]
enum Removal {
    /// Their pods fit on the other nodes.
    Delete(Vec<Move>),
    /// Their pods fit on the other nodes plus one new node, which costs `price` per hour.
    Replace {
        moves: Vec<Move>,
        replacement: Replacement,
        price: f64,
    },
}

/// The cluster as commands change it.
struct Sim<'a> {
    request: &'a ConsolidationRequest,
    groups: BTreeMap<u32, &'a PodGroup>,
    free: Vec<Resources>,
    pods: Vec<Vec<Assignment>>,
    removed: Vec<bool>,
    /// Every zone of the catalog, by name.
    zones: Vec<&'a str>,
    /// Balanced scoring's denominators, by NodePool.
    totals: BTreeMap<&'a str, PoolTotals>,
}

impl<'a> Sim<'a> {
    fn new(request: &'a ConsolidationRequest) -> Self {
        Sim {
            request,
            groups: request.pod_groups.iter().map(|g| (g.id, g)).collect(),
            free: request
                .nodes
                .iter()
                .map(|n| n.allocatable.saturating_sub(&n.requested))
                .collect(),
            pods: request.nodes.iter().map(|n| n.pods.clone()).collect(),
            removed: vec![false; request.nodes.len()],
            zones: catalog_zones(&request.flavors),
            totals: request
                .nodepool_totals
                .iter()
                .map(|t| {
                    let totals = PoolTotals {
                        price: t.hourly_price,
                        disruption_cost: t.disruption_cost,
                    };
                    (t.nodepool.as_str(), totals)
                })
                .collect(),
        }
    }

    /// Node `i` belongs to a Balanced NodePool.
    fn is_balanced(&self, i: usize) -> bool {
        self.pool_of(i)
            .is_some_and(|p| p.consolidation_policy == ConsolidationPolicy::Balanced)
    }

    /// Disruption cost of removing `nodes`: 1 each plus the positive eviction cost of every
    /// pod on them now (including pods earlier commands moved there).
    fn disruption_cost(&self, nodes: &[usize]) -> f64 {
        nodes
            .iter()
            .map(|&i| {
                balanced::node_disruption_cost(self.pods[i].iter().flat_map(|a| {
                    let cost = self.groups.get(&a.group).map_or(1.0, |g| g.eviction_cost);
                    std::iter::repeat_n(cost, a.count as usize)
                }))
            })
            .sum()
    }

    /// Balanced score of removing `nodes` (of one NodePool) for `savings` EUR/h; None when
    /// the request gives no totals for their NodePool.
    fn score(&self, nodes: &[usize], savings: f64) -> Option<balanced::Score> {
        let totals = *self
            .totals
            .get(self.node(*nodes.first()?).nodepool.as_str())?;
        Some(balanced::score(
            savings,
            self.disruption_cost(nodes),
            totals,
            balanced::BALANCED_K,
        ))
    }

    /// Whether removing `nodes` for nodes costing `added` per hour in their place is worth
    /// it: Balanced's score in a Balanced NodePool, else the configured savings.
    fn worth(&self, nodes: &[usize], removed: f64, added: f64, cfg: &Config) -> bool {
        match nodes.first().is_some_and(|&i| self.is_balanced(i)) {
            true => {
                removed > added
                    && self
                        .score(nodes, removed - added)
                        .is_some_and(|s| s.approved())
            }
            false if added == 0.0 => removed >= cfg.min_savings_per_hour,
            false => cfg.saves_enough(removed, added),
        }
    }

    fn node(&self, i: usize) -> &'a Node {
        &self.request.nodes[i]
    }

    fn pool_of(&self, i: usize) -> Option<&'a Nodepool> {
        let node = self.node(i);
        self.request
            .nodepools
            .iter()
            .find(|p| p.name == node.nodepool)
    }

    fn is_candidate(&self, i: usize) -> bool {
        self.removable(i) && self.node(i).consolidatable
    }

    /// Node `i` may be removed once its `consolidateAfter` has passed.
    fn removable(&self, i: usize) -> bool {
        let n = self.node(i);
        !n.nodeclaim.is_empty()
            && n.state == NodeState::Ready
            && n.disruptable
            && self
                .pool_of(i)
                .is_some_and(|p| p.consolidate_after_seconds.is_some())
    }

    /// Node `i` runs no movable pod and will be deleted as empty (now or once its
    /// `consolidateAfter` has passed): moving pods onto it would only trade the node they
    /// leave for this one, at the price of their eviction (an evicted job starts over).
    fn awaits_emptiness(&self, i: usize) -> bool {
        self.pods[i].is_empty() && self.removable(i)
    }

    /// Movable pods on node `i`.
    fn movable(&self, i: usize) -> u32 {
        self.node(i).pods.iter().map(|a| a.count).sum()
    }

    fn count_on(&self, node: usize, group: u32) -> u32 {
        self.pods[node]
            .iter()
            .filter(|a| a.group == group)
            .map(|a| a.count)
            .sum()
    }

    /// How `nodes` (of one NodePool) can go, if they can: deleted when their pods fit on the
    /// other nodes and that is [`worth`](Self::worth) it, else replaced by one new node of
    /// their NodePool for the pods the other nodes do not take, when that is worth it.
    fn removal(&self, nodes: &[usize], cfg: &Config) -> Option<Removal> {
        let (moves, left) = self.plan_moves(nodes)?;
        let removed: f64 = nodes.iter().map(|&i| self.node(i).hourly_price).sum();
        if left.is_empty() {
            return self
                .worth(nodes, removed, 0.0, cfg)
                .then_some(Removal::Delete(moves));
        }
        // One node is replaced by a cheaper flavor that takes all its pods. Also moving some
        // of them to other nodes, for a smaller new node, evicts more pods: measured on the
        // reference traces, it made batch (evicted jobs start over) and mixed dearer.
        let (moves, left) = match nodes {
            [i] => (Vec::new(), self.all_pods(*i)?),
            _ => (moves, left),
        };
        let (replacement, price) = self.new_node(nodes, &left, removed, cfg)?;
        Some(Removal::Replace {
            moves,
            replacement,
            price,
        })
    }

    /// Every pod of node `i`.
    fn all_pods(&self, i: usize) -> Option<Vec<Left<'a>>> {
        self.node(i)
            .pods
            .iter()
            .map(|a| {
                Some(Left {
                    from: i,
                    group: self.groups.get(&a.group).copied()?,
                    count: a.count,
                })
            })
            .collect()
    }

    /// Where the pods of `nodes` would go if those nodes were removed, and the pods no other
    /// node takes; None when some pod may not move at all (hostname affinity).
    fn plan_moves(&self, nodes: &[usize]) -> Option<(Vec<Move>, Vec<Left<'a>>)> {
        let mut dests: Vec<usize> = (0..self.request.nodes.len())
            .filter(|&j| {
                !self.removed[j]
                    && !nodes.contains(&j)
                    && matches!(self.node(j).state, NodeState::Ready | NodeState::Launching)
                    && !self.awaits_emptiness(j)
            })
            .collect();
        // Fullest first: consolidation should not spread pods over emptier nodes.
        sort_by(&mut dests, &|&a, &b| {
            (self.free[a].cpu_millis, a).cmp(&(self.free[b].cpu_millis, b))
        });
        let mut free: BTreeMap<usize, Resources> =
            dests.iter().map(|&j| (j, self.free[j])).collect();
        let mut added: BTreeMap<(usize, u32), u32> = BTreeMap::new();

        let mut pending: Vec<(usize, &Assignment, &'a PodGroup)> = Vec::new();
        for &i in nodes {
            for a in &self.node(i).pods {
                pending.push((i, a, self.groups.get(&a.group).copied()?));
            }
        }
        sort_by(&mut pending, &|a, b| largest_first(a.2, b.2));

        let mut moves = Vec::new();
        let mut left = Vec::new();
        for (from, a, g) in pending {
            if g.host_affine() {
                return None;
            }
            let zonal = g.zone_bound();
            let cap = g.max_per_node();
            let source_zone = &self.node(from).zone;
            let mut count = a.count;
            for &j in &dests {
                if count == 0 {
                    break;
                }
                let dest = self.node(j);
                if (zonal && dest.zone != *source_zone)
                    || !all_tolerated(&dest.taints, &g.tolerations)
                    || first_unmet(&g.requirements, &dest.labels).is_some()
                {
                    continue;
                }
                let there = self.count_on(j, g.id) + added.get(&(j, g.id)).copied().unwrap_or(0);
                let room = free.get(&j).copied().unwrap_or(Resources::ZERO);
                let k = count
                    .min(cap.saturating_sub(there))
                    .min(g.requests.copies_within(&room));
                if k == 0 {
                    continue;
                }
                free.insert(j, room.saturating_sub(&g.requests.saturating_mul(k)));
                *added.entry((j, g.id)).or_insert(0) += k;
                moves.push(Move {
                    to: j,
                    group: g.id,
                    count: k,
                });
                count -= k;
            }
            if count > 0 {
                left.push(Left {
                    from,
                    group: g,
                    count,
                });
            }
        }
        Some((moves, left))
    }

    /// The cheapest new node of the NodePool of `nodes` that takes the `left` pods (plus the
    /// DaemonSet overhead) and costs enough less than the `removed` price, with its price per
    /// hour. Its zone is the one of the zone-bound pods (all must share it), else the first of
    /// the removed nodes' zones, then of the catalog's, where the flavor suits.
    fn new_node(
        &self,
        nodes: &[usize],
        left: &[Left<'a>],
        removed: f64,
        cfg: &Config,
    ) -> Option<(Replacement, f64)> {
        let pool = self.pool_of(*nodes.first()?)?;
        let mut need = pool.daemonset_overhead;
        let mut per_group: BTreeMap<u32, (&PodGroup, u32)> = BTreeMap::new();
        let mut pinned: Option<&str> = None;
        for l in left {
            if !all_tolerated(&pool.taints, &l.group.tolerations) {
                return None;
            }
            need = need.saturating_add(&l.group.requests.saturating_mul(l.count));
            per_group.entry(l.group.id).or_insert((l.group, 0)).1 += l.count;
            if l.group.zone_bound() {
                let zone = self.node(l.from).zone.as_str();
                if pinned.is_some_and(|z| z != zone) {
                    return None;
                }
                pinned = Some(zone);
            }
        }
        if per_group.values().any(|(g, n)| *n > g.max_per_node()) || pool.remaining_nodes == Some(0)
        {
            return None;
        }
        let zones: Vec<&str> = match pinned {
            Some(z) => vec![z],
            None => {
                let mut zones: Vec<&str> = Vec::new();
                let removed_zones = nodes.iter().map(|&i| self.node(i).zone.as_str());
                for z in removed_zones.chain(self.zones.iter().copied()) {
                    if !zones.contains(&z) {
                        zones.push(z);
                    }
                }
                zones
            }
        };
        // Flavors that take the pods, with their zone.
        let mut fitting: Vec<(f64, &Flavor, &str)> = Vec::new();
        for f in &self.request.flavors {
            let Some(price) = f.price_per_hour(pool.nodeclass.monthly_billed) else {
                continue;
            };
            if !need.fits(&f.allocatable)
                || pool
                    .remaining
                    .is_some_and(|r| !f.capacity.within_limits(&r))
            {
                continue;
            }
            let zone = zones.iter().copied().find(|z| {
                let labels = NewNodeLabels::new(pool, f, z);
                f.available_in(z)
                    && labels.unmet_pool_requirement().is_none()
                    && per_group
                        .values()
                        .all(|(g, _)| labels.unmet_pod_requirement(&g.requirements).is_none())
            });
            if let Some(zone) = zone {
                fitting.push((price, f, zone));
            }
        }
        // Karpenter's rule: when a flavor being removed could take the pods, the new node must
        // be cheaper than it, else keeping that node and deleting the others does the same
        // with less disruption.
        let below = fitting
            .iter()
            .filter(|(_, f, _)| nodes.iter().any(|&i| self.node(i).flavor == f.name))
            .map(|(price, _, _)| *price)
            .fold(f64::INFINITY, f64::min);
        let best = fitting
            .into_iter()
            .filter(|(price, _, _)| *price < below && self.worth(nodes, removed, *price, cfg))
            .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.name.cmp(&b.1.name)));
        best.map(|(price, f, zone)| {
            (
                Replacement {
                    nodepool: pool.name.clone(),
                    flavor: f.name.clone(),
                    zone: zone.to_string(),
                },
                price,
            )
        })
    }

    /// Removes `nodes` and lands `moves` on their destinations.
    fn apply(&mut self, nodes: &[usize], moves: &[Move]) {
        for &i in nodes {
            self.removed[i] = true;
        }
        for m in moves {
            if let Some(g) = self.groups.get(&m.group) {
                self.free[m.to] =
                    self.free[m.to].saturating_sub(&g.requests.saturating_mul(m.count));
            }
            match self.pods[m.to].iter_mut().find(|a| a.group == m.group) {
                Some(a) => a.count += m.count,
                None => self.pods[m.to].push(Assignment {
                    group: m.group,
                    count: m.count,
                }),
            }
        }
    }

    /// Applies `removal` of `nodes` and says it as a command.
    fn execute(&mut self, nodes: &[usize], removal: Removal) -> Command {
        let removed: f64 = nodes.iter().map(|&i| self.node(i).hourly_price).sum();
        let names: Vec<String> = nodes.iter().map(|&i| self.node(i).name.clone()).collect();
        let what = match nodes {
            [i] => {
                let n = self.node(*i);
                format!("node {} ({})", n.name, n.flavor)
            }
            _ => format!("{} under-used nodes", nodes.len()),
        };
        match removal {
            Removal::Delete(moves) => {
                self.apply(nodes, &moves);
                Command {
                    nodes: names,
                    action: Action::Delete,
                    reason: Reason::Underutilized,
                    savings_per_hour: removed,
                    message: format!(
                        "the pods of {what} fit on the other nodes; saves {} EUR/h",
                        format_eur(removed)
                    ),
                }
            }
            Removal::Replace {
                moves,
                replacement,
                price,
            } => {
                self.apply(nodes, &moves);
                Command {
                    nodes: names,
                    message: format!(
                        "{what} ({} EUR/h) can be replaced by {} ({} EUR/h) in {}",
                        format_eur(removed),
                        replacement.flavor,
                        format_eur(price),
                        replacement.zone
                    ),
                    action: Action::Replace(vec![replacement]),
                    reason: Reason::Underutilized,
                    savings_per_hour: removed - price,
                }
            }
        }
    }
}

/// The component's export.
pub struct DefaultConsolidation;

impl Consolidation for DefaultConsolidation {
    fn metadata() -> PolicyMetadata {
        metadata()
    }

    fn consolidate(request: ConsolidationRequest) -> Result<ConsolidationDecision, String> {
        consolidate(&request)
    }
}

export_consolidation!(DefaultConsolidation);

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_ovhcloud_policy_sdk::labels::{well_known, FlavorLabels};
    use karpenter_ovhcloud_policy_sdk::resources::{GIB, MIB};
    use karpenter_ovhcloud_policy_sdk::testing::{
        catalog, instance_types, nodepool, pod_group, REGION,
    };
    use karpenter_ovhcloud_policy_sdk::types::*;

    /// A ready, consolidatable node of `flavor` in `pool`, running `pods` of `groups`.
    fn node(
        name: &str,
        pool: &str,
        flavor: &str,
        zone: &str,
        pods: &[(u32, u32)],
        groups: &[PodGroup],
    ) -> Node {
        let cat = catalog();
        let f = cat.iter().find(|f| f.name == flavor).unwrap();
        let fl = FlavorLabels {
            flavor: f,
            zone,
            region: REGION,
            nodepool: pool,
        };
        let labels = [
            well_known::INSTANCE_TYPE,
            well_known::ZONE,
            well_known::NODEPOOL,
            well_known::FLAVOR_FAMILY,
        ]
        .iter()
        .map(|k| Label {
            key: (*k).into(),
            value: fl.get(k).unwrap().into_owned(),
        })
        .collect();
        let requested = pods.iter().fold(Resources::ZERO, |acc, (g, n)| {
            let g = groups.iter().find(|x| x.id == *g).unwrap();
            acc.saturating_add(&g.requests.saturating_mul(*n))
        });
        Node {
            name: name.into(),
            nodeclaim: format!("{name}-claim"),
            nodepool: pool.into(),
            flavor: flavor.into(),
            zone: zone.into(),
            labels,
            taints: vec![],
            allocatable: f.allocatable,
            requested,
            pods: pods
                .iter()
                .map(|(g, n)| Assignment {
                    group: *g,
                    count: *n,
                })
                .collect(),
            hourly_price: f.hourly_price,
            state: NodeState::Ready,
            age_seconds: 3600,
            disruptable: true,
            consolidatable: true,
        }
    }

    fn request(
        nodes: Vec<Node>,
        groups: Vec<PodGroup>,
        pools: Vec<Nodepool>,
    ) -> ConsolidationRequest {
        ConsolidationRequest {
            nodes,
            pod_groups: groups,
            flavors: catalog(),
            nodepools: pools,
            config: String::new(),
            nodepool_totals: vec![],
        }
    }

    fn demo_pool() -> Nodepool {
        nodepool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])])
    }

    fn summary(d: &ConsolidationDecision) -> Vec<(Vec<String>, String, Reason)> {
        d.commands
            .iter()
            .map(|c| {
                let action = match &c.action {
                    Action::Delete => "delete".to_string(),
                    Action::Replace(r) => format!(
                        "replace {}",
                        r.iter()
                            .map(|r| r.flavor.clone())
                            .collect::<Vec<_>>()
                            .join(",")
                    ),
                };
                (c.nodes.clone(), action, c.reason)
            })
            .collect()
    }

    #[test]
    fn empty_nodes_are_deleted_unless_protected() {
        let inflate = pod_group(1, "default/inflate", 2, 500, 512 * MIB);
        let groups = vec![inflate];
        let mut busy = node(
            "busy",
            "demo-pool",
            "b3-8",
            "eu-west-par-a",
            &[(1, 2)],
            &groups,
        );
        busy.disruptable = false;
        let empty = node("empty", "demo-pool", "b3-8", "eu-west-par-b", &[], &groups);
        let mut protected = node(
            "protected",
            "demo-pool",
            "b3-8",
            "eu-west-par-c",
            &[],
            &groups,
        );
        protected.disruptable = false;
        let mut young = node("young", "demo-pool", "b3-8", "eu-west-par-c", &[], &groups);
        young.consolidatable = false;
        let mut unmanaged = node("unmanaged", "", "b3-8", "eu-west-par-c", &[], &groups);
        unmanaged.nodeclaim = String::new();
        let d = consolidate(&request(
            vec![busy, empty, protected, young, unmanaged],
            groups,
            vec![demo_pool()],
        ))
        .unwrap();
        assert_eq!(
            summary(&d),
            vec![(vec!["empty".to_string()], "delete".into(), Reason::Empty)]
        );
        assert!((d.commands[0].savings_per_hour - 0.0512).abs() < 1e-9);
    }

    #[test]
    fn pods_do_not_move_onto_a_node_that_goes_as_empty() {
        // A job runs on `busy`; `idle` just finished its own job and waits out its
        // consolidateAfter before going as empty. Moving the job there would evict it (it
        // starts over) and save nothing: `idle` goes anyway.
        let job = pod_group(1, "default/train", 1, 1000, 2 * GIB);
        let groups = vec![job];
        let busy = node(
            "busy",
            "demo-pool",
            "b3-8",
            "eu-west-par-a",
            &[(1, 1)],
            &groups,
        );
        let mut idle = node("idle", "demo-pool", "b3-8", "eu-west-par-a", &[], &groups);
        idle.consolidatable = false;
        let d = consolidate(&request(
            vec![busy.clone(), idle.clone()],
            groups.clone(),
            vec![demo_pool()],
        ))
        .unwrap();
        assert_eq!(summary(&d), vec![]);
        // An empty node that will stay (do-not-disrupt, or not managed by us) is a
        // destination like any other.
        for stays in [
            Node {
                disruptable: false,
                ..idle.clone()
            },
            Node {
                nodeclaim: String::new(),
                ..idle.clone()
            },
        ] {
            let d = consolidate(&request(
                vec![busy.clone(), stays],
                groups.clone(),
                vec![demo_pool()],
            ))
            .unwrap();
            assert_eq!(
                summary(&d),
                vec![(
                    vec!["busy".to_string()],
                    "delete".into(),
                    Reason::Underutilized
                )]
            );
        }
    }

    #[test]
    fn guide_scale_down_consolidates_onto_fewer_nodes() {
        // inflate scaled 10 -> 2: four b3-8 with 3,3,3,1 pods became 1,0,1,0 (+ none).
        let inflate = pod_group(1, "default/inflate", 2, 500, 512 * MIB);
        let groups = vec![inflate];
        let nodes = vec![
            node(
                "n1",
                "demo-pool",
                "b3-8",
                "eu-west-par-a",
                &[(1, 1)],
                &groups,
            ),
            node("n2", "demo-pool", "b3-8", "eu-west-par-b", &[], &groups),
            node(
                "n3",
                "demo-pool",
                "b3-8",
                "eu-west-par-c",
                &[(1, 1)],
                &groups,
            ),
            node("n4", "demo-pool", "b3-8", "eu-west-par-a", &[], &groups),
        ];
        let d = consolidate(&request(nodes, groups, vec![demo_pool()])).unwrap();
        assert_eq!(
            summary(&d),
            vec![
                (vec!["n2".to_string()], "delete".into(), Reason::Empty),
                (vec!["n4".to_string()], "delete".into(), Reason::Empty),
                (
                    vec!["n1".to_string()],
                    "delete".into(),
                    Reason::Underutilized
                ),
            ]
        );
        // n3 keeps the two pods; it is not deleted as well.
    }

    #[test]
    fn multi_node_deletion_when_the_rest_fits() {
        let g = pod_group(1, "default/web", 6, 250, 256 * MIB);
        let groups = vec![g];
        let nodes = vec![
            node(
                "big",
                "demo-pool",
                "b3-16",
                "eu-west-par-a",
                &[(1, 2)],
                &groups,
            ),
            node(
                "s1",
                "demo-pool",
                "b3-8",
                "eu-west-par-a",
                &[(1, 1)],
                &groups,
            ),
            node(
                "s2",
                "demo-pool",
                "b3-8",
                "eu-west-par-b",
                &[(1, 1)],
                &groups,
            ),
            node(
                "s3",
                "demo-pool",
                "b3-8",
                "eu-west-par-c",
                &[(1, 2)],
                &groups,
            ),
        ];
        let mut r = request(nodes, groups, vec![demo_pool()]);
        // Four nodes: the default (10%) allows one node per command.
        assert!(summary(&consolidate(&r).unwrap())
            .iter()
            .all(|c| c.0.len() == 1));
        r.config = r#"{"maxDisruptionPercent": 100}"#.into();
        let d = consolidate(&r).unwrap();
        // Fewest pods first (s1, s2), then the pricier of the 2-pod nodes (big): the pods of
        // s1, s2 and big all fit on s3.
        assert_eq!(
            summary(&d),
            vec![(
                vec!["s1".to_string(), "s2".into(), "big".into()],
                "delete".into(),
                Reason::Underutilized
            )]
        );
        assert!((d.commands[0].savings_per_hour - (2.0 * 0.0512 + 0.1023)).abs() < 1e-9);
    }

    #[test]
    fn replace_by_a_cheaper_flavor_when_nothing_else_fits() {
        let g = pod_group(1, "default/app", 1, 1000, 2 * GIB);
        let groups = vec![g];
        let pool = nodepool("multi", vec![instance_types(&["b3-8", "b3-16", "b3-32"])]);
        let nodes = vec![node(
            "fat",
            "multi",
            "b3-32",
            "eu-west-par-b",
            &[(1, 1)],
            &groups,
        )];
        let d = consolidate(&request(nodes, groups, vec![pool])).unwrap();
        assert_eq!(
            summary(&d),
            vec![(
                vec!["fat".to_string()],
                "replace b3-8".into(),
                Reason::Underutilized
            )]
        );
        let Action::Replace(r) = &d.commands[0].action else {
            unreachable!()
        };
        assert_eq!(r[0].zone, "eu-west-par-b");
        assert_eq!(r[0].nodepool, "multi");
        assert!((d.commands[0].savings_per_hour - (0.2046 - 0.0512)).abs() < 1e-9);
    }

    #[test]
    fn savings_thresholds_prevent_churn() {
        let g = pod_group(1, "default/app", 1, 1000, 2 * GIB);
        let groups = vec![g];
        let pool = nodepool("multi", vec![instance_types(&["b3-8", "b3-16", "b3-32"])]);
        let nodes = vec![node(
            "fat",
            "multi",
            "b3-32",
            "eu-west-par-b",
            &[(1, 1)],
            &groups,
        )];
        let mut r = request(nodes, groups, vec![pool]);
        r.config = r#"{"minSavingsPerHour": 0.2}"#.into();
        assert!(consolidate(&r).unwrap().commands.is_empty());
        // b3-8 saves 75% of the b3-32's price, b3-16 50%.
        r.config = r#"{"minSavingsPercent": 80}"#.into();
        assert!(consolidate(&r).unwrap().commands.is_empty());
        r.config = r#"{"minSavingsPercent": 70}"#.into();
        assert_eq!(summary(&consolidate(&r).unwrap())[0].1, "replace b3-8");
    }

    #[test]
    fn pods_only_move_where_they_may_run() {
        let mut pinned = pod_group(1, "default/pinned", 1, 500, GIB);
        pinned
            .requirements
            .push(karpenter_ovhcloud_policy_sdk::testing::req(
                well_known::ZONE,
                Operator::In,
                &["eu-west-par-a"],
            ));
        let mut spread = pod_group(2, "default/spread", 1, 500, GIB);
        spread.spreads.push(Spread {
            topology: Topology::Zone,
            max_skew: 1,
            min_domains: None,
        });
        let keep = pod_group(3, "default/keep", 1, 500, GIB);
        let groups = vec![pinned, spread, keep];
        let mut a2 = node(
            "a2",
            "demo-pool",
            "b3-16",
            "eu-west-par-a",
            &[(3, 1)],
            &groups,
        );
        a2.disruptable = false;
        let nodes = vec![
            node(
                "a1",
                "demo-pool",
                "b3-8",
                "eu-west-par-a",
                &[(1, 1)],
                &groups,
            ),
            a2,
            node(
                "b1",
                "demo-pool",
                "b3-16",
                "eu-west-par-b",
                &[(2, 1)],
                &groups,
            ),
        ];
        // b1's spread pod must stay in zone b, where no other node is: b1 is replaced by a
        // cheaper b3-8; a1's pod may go to a2 (same zone, requirement met).
        let d = consolidate(&request(nodes.clone(), groups.clone(), vec![demo_pool()])).unwrap();
        assert_eq!(
            summary(&d),
            vec![
                (
                    vec!["b1".to_string()],
                    "replace b3-8".into(),
                    Reason::Underutilized
                ),
                (
                    vec!["a1".to_string()],
                    "delete".into(),
                    Reason::Underutilized
                ),
            ]
        );
        // A taint on a2 that the pinned pod does not tolerate keeps a1.
        let mut tainted = nodes;
        tainted[1].taints.push(Taint {
            key: "x".into(),
            value: String::new(),
            effect: TaintEffect::NoSchedule,
        });
        let d = consolidate(&request(tainted, groups, vec![demo_pool()])).unwrap();
        assert_eq!(
            summary(&d),
            vec![(
                vec!["b1".to_string()],
                "replace b3-8".into(),
                Reason::Underutilized
            )]
        );
    }

    #[test]
    fn when_empty_pools_only_delete_empty_nodes() {
        let g = pod_group(1, "default/app", 1, 100, 128 * MIB);
        let groups = vec![g];
        let mut pool = demo_pool();
        pool.consolidation_policy = ConsolidationPolicy::WhenEmpty;
        let nodes = vec![
            node(
                "n1",
                "demo-pool",
                "b3-8",
                "eu-west-par-a",
                &[(1, 1)],
                &groups,
            ),
            node(
                "n2",
                "demo-pool",
                "b3-8",
                "eu-west-par-a",
                &[(1, 1)],
                &groups,
            ),
        ];
        let d = consolidate(&request(nodes.clone(), groups.clone(), vec![pool.clone()])).unwrap();
        assert!(d.commands.is_empty());
        pool.consolidate_after_seconds = None;
        let mut empty = nodes;
        empty[0].pods.clear();
        let d = consolidate(&request(empty, groups, vec![pool])).unwrap();
        assert!(d.commands.is_empty(), "consolidateAfter: Never");
    }

    /// A config that lets one command remove every node of a NodePool.
    const ALL: &str = r#"{"maxDisruptionPercent": 100}"#;

    /// `n` c3-4 nodes of pool `pool` in `zone`, named `{prefix}{i}`, each running `pods` pods
    /// of group `group`.
    fn c3_4s(
        prefix: &str,
        pool: &str,
        zones: &[&str],
        n: usize,
        pods: (u32, u32),
        groups: &[PodGroup],
    ) -> Vec<Node> {
        (0..n)
            .map(|i| {
                let zone = zones[i % zones.len()];
                node(&format!("{prefix}{i}"), pool, "c3-4", zone, &[pods], groups)
            })
            .collect()
    }

    fn c3_pool(name: &str) -> Nodepool {
        nodepool(name, vec![instance_types(&["c3-4", "c3-8", "c3-16"])])
    }

    fn replacement(c: &Command) -> &Replacement {
        let Action::Replace(r) = &c.action else {
            panic!("not a replacement: {c:?}")
        };
        assert_eq!(r.len(), 1, "one new node at most");
        &r[0]
    }

    #[test]
    fn multi_node_replacement_merges_small_nodes_into_a_cheaper_one() {
        // Six c3-4 with two 500m/1Gi pods each (0.249 EUR/h): one c3-16 (0.1659) takes all 12.
        let g = pod_group(1, "default/web", 12, 500, GIB);
        let groups = vec![g];
        let nodes = c3_4s("n", "c3", &["eu-west-par-b"], 6, (1, 2), &groups);
        let mut r = request(nodes, groups, vec![c3_pool("c3")]);
        r.config = ALL.into();
        let d = consolidate(&r).unwrap();
        let names: Vec<String> = (0..6).map(|i| format!("n{i}")).collect();
        assert_eq!(
            summary(&d),
            vec![(names, "replace c3-16".into(), Reason::Underutilized)]
        );
        let r = replacement(&d.commands[0]);
        assert_eq!(
            (r.nodepool.as_str(), r.zone.as_str()),
            ("c3", "eu-west-par-b")
        );
        assert!((d.commands[0].savings_per_hour - (6.0 * 0.0415 - 0.1659)).abs() < 1e-9);
    }

    #[test]
    fn multi_node_replacement_needs_the_configured_savings() {
        let g = pod_group(1, "default/web", 12, 500, GIB);
        let groups = vec![g];
        let nodes = c3_4s("n", "c3", &["eu-west-par-b"], 6, (1, 2), &groups);
        let mut r = request(nodes, groups, vec![c3_pool("c3")]);
        // Six into a c3-16 saves 33%, five 20%; four into a c3-8 (the other two take two
        // pods) saves 50%.
        r.config = r#"{"minSavingsPercent": 40, "maxDisruptionPercent": 100}"#.into();
        let d = consolidate(&r).unwrap();
        let four: Vec<String> = (0..4).map(|i| format!("n{i}")).collect();
        assert_eq!(
            summary(&d),
            vec![(four, "replace c3-8".into(), Reason::Underutilized)]
        );
        // Above 50% no replacement saves enough: only a deletion whose pods fit on the others.
        r.config = r#"{"minSavingsPercent": 60, "maxDisruptionPercent": 100}"#.into();
        let d = consolidate(&r).unwrap();
        assert_eq!(
            summary(&d),
            vec![(
                vec!["n0".to_string(), "n1".into()],
                "delete".into(),
                Reason::Underutilized
            )]
        );
        // A saving per hour above what any command saves: nothing.
        r.config = r#"{"minSavingsPerHour": 0.2, "maxDisruptionPercent": 100}"#.into();
        assert!(consolidate(&r).unwrap().commands.is_empty());
        // At most four of the six nodes per command: four into a c3-8 (the other two take a
        // pod each); three would leave three pods, which one of the three c3-4 could keep.
        r.config = r#"{"maxDisruptionPercent": 60}"#.into();
        let d = consolidate(&r).unwrap();
        assert_eq!(
            summary(&d)[0],
            (
                (0..4).map(|i| format!("n{i}")).collect(),
                "replace c3-8".into(),
                Reason::Underutilized
            )
        );
    }

    #[test]
    fn multi_node_replacement_keeps_zone_bound_pods_in_their_zone() {
        let mut spread = pod_group(1, "default/ha", 12, 500, GIB);
        spread.spreads.push(Spread {
            topology: Topology::Zone,
            max_skew: 1,
            min_domains: None,
        });
        let groups = vec![spread];
        // Spread over three zones, the pods of two zones never share one new node.
        let zones = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"];
        let nodes = c3_4s("n", "c3", &zones, 6, (1, 2), &groups);
        let mut r = request(nodes, groups.clone(), vec![c3_pool("c3")]);
        r.config = ALL.into();
        let d = consolidate(&r).unwrap();
        assert!(
            d.commands.iter().all(|c| c.nodes.len() == 1),
            "{:?}",
            summary(&d)
        );
        // All in zone b, but no c3-16 there: the new node must still be in zone b, so four go
        // into a c3-8 (the two others take a pod each).
        let mut catalog = catalog();
        for f in catalog.iter_mut().filter(|f| f.name == "c3-16") {
            for o in f.zones.iter_mut().filter(|o| o.zone == "eu-west-par-b") {
                o.available = false;
            }
        }
        let nodes = c3_4s("n", "c3", &["eu-west-par-b"], 6, (1, 2), &groups);
        let mut r = request(nodes.clone(), groups, vec![c3_pool("c3")]);
        r.config = ALL.into();
        r.flavors = catalog.clone();
        let d = consolidate(&r).unwrap();
        assert_eq!(summary(&d)[0].1, "replace c3-8");
        assert_eq!(d.commands[0].nodes.len(), 4);
        assert_eq!(replacement(&d.commands[0]).zone, "eu-west-par-b");
        // Pods without zone rules may go to a c3-16 in another zone.
        let free = vec![pod_group(1, "default/web", 12, 500, GIB)];
        let mut r = request(nodes, free, vec![c3_pool("c3")]);
        r.config = ALL.into();
        r.flavors = catalog;
        let d = consolidate(&r).unwrap();
        assert_eq!(summary(&d)[0].1, "replace c3-16");
        assert_eq!(d.commands[0].nodes.len(), 6);
        assert_eq!(replacement(&d.commands[0]).zone, "eu-west-par-a");
    }

    #[test]
    fn multi_node_commands_stay_within_one_nodepool() {
        // Pool p1: six c3-4 with 2 pods each; pool p2: two c3-4 with one pod each, first in the
        // candidate order. Each command names the nodes of one pool; p1's new node is p1's.
        let mut a = pod_group(1, "default/a", 12, 500, GIB);
        a.requirements
            .push(karpenter_ovhcloud_policy_sdk::testing::req(
                well_known::NODEPOOL,
                Operator::In,
                &["p1"],
            ));
        let mut b = pod_group(2, "default/b", 2, 500, GIB);
        b.requirements
            .push(karpenter_ovhcloud_policy_sdk::testing::req(
                well_known::NODEPOOL,
                Operator::In,
                &["p2"],
            ));
        let groups = vec![a, b];
        let mut nodes = c3_4s("p2-", "p2", &["eu-west-par-a"], 2, (2, 1), &groups);
        nodes.extend(c3_4s("p1-", "p1", &["eu-west-par-a"], 6, (1, 2), &groups));
        let mut r = request(nodes, groups, vec![c3_pool("p1"), c3_pool("p2")]);
        r.config = ALL.into();
        let d = consolidate(&r).unwrap();
        let p1: Vec<String> = (0..6).map(|i| format!("p1-{i}")).collect();
        // p2's two nodes: one new c3-4 for both is no cheaper than keeping one, so one is
        // deleted, its pod moving to the other (not to p1's nodes: its requirement).
        assert_eq!(
            summary(&d),
            vec![
                (p1, "replace c3-16".into(), Reason::Underutilized),
                (
                    vec!["p2-0".to_string()],
                    "delete".into(),
                    Reason::Underutilized
                ),
            ]
        );
        assert_eq!(replacement(&d.commands[0]).nodepool, "p1");
    }

    #[test]
    fn hostname_rules_hold_on_the_new_node() {
        // One pod per node (hostname anti-affinity): no new node takes two of them.
        let mut g = pod_group(1, "default/db", 6, 500, GIB);
        g.anti_affinity.push(Topology::Hostname);
        let groups = vec![g];
        let nodes = c3_4s("n", "c3", &["eu-west-par-a"], 6, (1, 1), &groups);
        let mut r = request(nodes, groups, vec![c3_pool("c3")]);
        r.config = ALL.into();
        let d = consolidate(&r).unwrap();
        assert!(d.commands.is_empty(), "{:?}", summary(&d));
    }

    #[test]
    fn config_is_validated() {
        let mut r = request(vec![], vec![], vec![]);
        r.config = r#"{"minSavingsPercent": 120}"#.into();
        assert!(consolidate(&r).unwrap_err().contains("minSavingsPercent"));
        r.config = r#"{"minSavingsPerHour": -1}"#.into();
        assert!(consolidate(&r).unwrap_err().contains("minSavingsPerHour"));
        r.config = r#"{"maxDisruptionPercent": 0}"#.into();
        assert!(consolidate(&r)
            .unwrap_err()
            .contains("maxDisruptionPercent"));
        r.config = r#"{"minSaving": 1}"#.into();
        assert!(consolidate(&r).unwrap_err().contains("unknown field"));
        r.config = String::new();
        assert_eq!(consolidate(&r).unwrap().commands.len(), 0);
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }

    /// The request's Balanced denominators, as the host computes them: each NodePool's nodes'
    /// prices, and 1 per node plus its pods' positive eviction costs.
    fn with_totals(mut r: ConsolidationRequest) -> ConsolidationRequest {
        let cost = |g: u32| {
            r.pod_groups
                .iter()
                .find(|x| x.id == g)
                .unwrap()
                .eviction_cost
        };
        let mut totals: BTreeMap<String, (f64, f64)> = BTreeMap::new();
        for n in &r.nodes {
            let t = totals.entry(n.nodepool.clone()).or_default();
            t.0 += n.hourly_price;
            t.1 += balanced::node_disruption_cost(
                n.pods
                    .iter()
                    .flat_map(|a| std::iter::repeat_n(cost(a.group), a.count as usize)),
            );
        }
        r.nodepool_totals = totals
            .into_iter()
            .map(
                |(nodepool, (hourly_price, disruption_cost))| NodepoolTotals {
                    nodepool,
                    hourly_price,
                    disruption_cost,
                },
            )
            .collect();
        r
    }

    /// Four b3-8 of a Balanced NodePool; `n0` runs one pod of eviction cost `c`, the three
    /// others (not disruptable) one pod of cost 1 each. Deleting `n0` saves a quarter of the
    /// NodePool's price for (1 + c) / (7 + c) of its disruption cost: a score of
    /// 0.25 (7 + c) / (1 + c), at the threshold 0.5 for c = 5.
    fn balanced_cluster(c: f64) -> ConsolidationRequest {
        let mut cache = pod_group(1, "default/cache", 1, 250, 512 * MIB);
        cache.eviction_cost = c;
        let web = pod_group(2, "default/web", 3, 250, 512 * MIB);
        let groups = vec![cache, web];
        let zone = "eu-west-par-a";
        let mut nodes = vec![node("n0", "balanced", "b3-8", zone, &[(1, 1)], &groups)];
        for name in ["n1", "n2", "n3"] {
            let mut n = node(name, "balanced", "b3-8", zone, &[(2, 1)], &groups);
            n.disruptable = false;
            nodes.push(n);
        }
        let mut pool = nodepool("balanced", vec![instance_types(&["b3-8"])]);
        pool.consolidation_policy = ConsolidationPolicy::Balanced;
        with_totals(request(nodes, groups, vec![pool]))
    }

    #[test]
    fn balanced_moves_just_above_the_threshold_go_and_just_below_stay() {
        // c = 4.75: score 0.25 * 11.75 / 5.75 = 0.511 >= 0.5.
        let d = consolidate(&balanced_cluster(4.75)).unwrap();
        assert_eq!(
            summary(&d),
            vec![(
                vec!["n0".to_string()],
                "delete".into(),
                Reason::Underutilized
            )]
        );
        // c = 5.25: score 0.25 * 12.25 / 6.25 = 0.49 < 0.5, whatever minSavings say.
        let mut r = balanced_cluster(5.25);
        r.config = r#"{"minSavingsPerHour": 0, "minSavingsPercent": 0}"#.into();
        let d = consolidate(&r).unwrap();
        assert!(d.commands.is_empty(), "{:?}", summary(&d));
        // The same cluster under WhenEmptyOrUnderutilized ignores eviction costs.
        r.nodepools[0].consolidation_policy = ConsolidationPolicy::WhenEmptyOrUnderutilized;
        assert_eq!(consolidate(&r).unwrap().commands.len(), 1);
        // Without totals (a host that sends none) a Balanced NodePool is not consolidated.
        let mut r = balanced_cluster(4.75);
        r.nodepool_totals.clear();
        assert!(consolidate(&r).unwrap().commands.is_empty());
    }

    #[test]
    fn balanced_replacements_are_held_to_the_score_not_the_savings_thresholds() {
        // Four full nodes of one Balanced NodePool, only n0 a candidate, its one pod bound to
        // a new node: replacing n0 by the smaller flavor scores 1 - price(small) / price(big).
        // b3-16 -> b3-8: 1 - 0.0512 / 0.1023 = 0.4995, refused; b2-30 -> b2-15:
        // 1 - 0.129 / 0.261 = 0.5057, carried out (both save well over 10%).
        for (big, small, approved) in [("b3-16", "b3-8", false), ("b2-30", "b2-15", true)] {
            let g = pod_group(1, "default/app", 4, 1500, 3 * GIB);
            let groups = vec![g];
            let zone = "eu-west-par-a";
            let mut nodes = Vec::new();
            for i in 0..4 {
                let mut n = node(&format!("n{i}"), "balanced", big, zone, &[(1, 1)], &groups);
                n.disruptable = i == 0;
                if i > 0 {
                    n.requested = n.allocatable;
                }
                nodes.push(n);
            }
            let mut pool = nodepool("balanced", vec![instance_types(&[big, small])]);
            pool.consolidation_policy = ConsolidationPolicy::Balanced;
            let r = with_totals(request(nodes, groups, vec![pool]));
            let d = consolidate(&r).unwrap();
            let expected = match approved {
                true => vec![(
                    vec!["n0".to_string()],
                    format!("replace {small}"),
                    Reason::Underutilized,
                )],
                false => vec![],
            };
            assert_eq!(summary(&d), expected, "{big} -> {small}");
        }
    }
}
