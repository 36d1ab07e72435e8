//! The default consolidation policy.
//!
//! Candidates are managed nodes (a NodeClaim and a known NodePool), `ready`, `disruptable`
//! and `consolidatable`, whose NodePool does not say `consolidateAfter: Never`. Commands, in
//! the order the host should try them:
//!
//! 1. **Empty**: every candidate that runs no movable pod is deleted (one command per node),
//!    in WhenEmpty and WhenEmptyOrUnderutilized pools alike.
//! 2. **Multi-node** (WhenEmptyOrUnderutilized pools): candidates sorted by fewest pods, then
//!    least CPU requested, then highest price, then name; the longest prefix (at least 2 nodes,
//!    at most 100) whose pods all fit on the other nodes' free capacity is deleted in one
//!    command.
//! 3. **Single-node** (WhenEmptyOrUnderutilized pools), each remaining candidate in that
//!    order: deleted when its pods fit on the other nodes, else replaced by the cheapest single
//!    flavor of its NodePool (requirements, zone availability, billing) that fits its pods plus
//!    the DaemonSet overhead, when that saves enough.
//!
//! Pods only move to nodes whose labels satisfy their requirements and whose taints they
//! tolerate; pods with zone rules (spread, affinity, anti-affinity) stay in their zone;
//! hostname anti-affinity and spread are respected on the destination; pods with hostname
//! affinity never move. Each command accounts for the previous ones (a node removed is no
//! longer a destination, capacity taken is gone), so they can be executed in order.
//!
//! # Config (`data.config.json`, optional)
//!
//! ```json
//! { "minSavingsPerHour": 0.005, "minSavingsPercent": 10 }
//! ```
//!
//! - `minSavingsPerHour` (EUR, >= 0, default 0.005): the least saving of an underutilized
//!   delete or replace command; empty nodes are always deleted.
//! - `minSavingsPercent` (0-100, default 10): the least saving of a replacement, in percent of
//!   the replaced node's price, so a marginally cheaper flavor does not cause churn.

use std::collections::BTreeMap;

use karpenter_ovhcloud_policy_sdk::labels::{first_unmet, NewNodeLabels};
use karpenter_ovhcloud_policy_sdk::order::sort_by;
use karpenter_ovhcloud_policy_sdk::packing::largest_first;
use karpenter_ovhcloud_policy_sdk::price::format_eur;
use karpenter_ovhcloud_policy_sdk::taints::tolerates_all;
use karpenter_ovhcloud_policy_sdk::types::{
    Action, Assignment, Command, ConsolidationDecision, ConsolidationPolicy, ConsolidationRequest,
    Node, NodeState, Nodepool, PodGroup, PolicyMetadata, Reason, Replacement, Resources,
};
use karpenter_ovhcloud_policy_sdk::{config, export_consolidation, Consolidation};

/// Candidates considered for one multi-node command at most.
const MAX_MULTI_NODE: usize = 100;

/// The policy's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Least saving (EUR per hour) of an underutilized delete or a replacement.
    pub min_savings_per_hour: f64,
    /// Least saving of a replacement, in percent of the replaced node's price.
    pub min_savings_percent: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_savings_per_hour: 0.005,
            min_savings_percent: 10.0,
        }
    }
}

impl Config {
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
        Ok(cfg)
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

    let mut under: Vec<usize> = candidates
        .into_iter()
        .filter(|&i| {
            !sim.removed[i]
                && sim.pool_of(i).is_some_and(|p| {
                    p.consolidation_policy == ConsolidationPolicy::WhenEmptyOrUnderutilized
                })
        })
        .collect();
    sort_by(&mut under, &|&a, &b| {
        let (na, nb) = (&request.nodes[a], &request.nodes[b]);
        sim.movable(a)
            .cmp(&sim.movable(b))
            .then(na.requested.cpu_millis.cmp(&nb.requested.cpu_millis))
            .then(nb.hourly_price.total_cmp(&na.hourly_price))
            .then(na.name.cmp(&nb.name))
    });

    // 2. Multi-node: the longest prefix that fits elsewhere.
    let mut best: Option<(usize, Vec<Move>)> = None;
    for k in 2..=under.len().min(MAX_MULTI_NODE) {
        match sim.plan_moves(&under[..k]) {
            Some(moves) => best = Some((k, moves)),
            None => break,
        }
    }
    if let Some((k, moves)) = best {
        let nodes: Vec<usize> = under.drain(..k).collect();
        let savings: f64 = nodes.iter().map(|&i| request.nodes[i].hourly_price).sum();
        if savings >= cfg.min_savings_per_hour {
            sim.apply(&nodes, &moves);
            commands.push(Command {
                nodes: nodes
                    .iter()
                    .map(|&i| request.nodes[i].name.clone())
                    .collect(),
                action: Action::Delete,
                reason: Reason::Underutilized,
                savings_per_hour: savings,
                message: format!(
                    "the pods of {k} under-used nodes fit on the other nodes; saves {} EUR/h",
                    format_eur(savings)
                ),
            });
        }
    }

    // 3. Single-node: delete, else replace by a cheaper flavor.
    for i in under {
        if sim.removed[i] {
            continue;
        }
        let node = &request.nodes[i];
        if let Some(moves) = sim.plan_moves(&[i]) {
            if node.hourly_price >= cfg.min_savings_per_hour {
                sim.apply(&[i], &moves);
                commands.push(Command {
                    nodes: vec![node.name.clone()],
                    action: Action::Delete,
                    reason: Reason::Underutilized,
                    savings_per_hour: node.hourly_price,
                    message: format!(
                        "the pods of node {} ({}) fit on the other nodes; saves {} EUR/h",
                        node.name,
                        node.flavor,
                        format_eur(node.hourly_price)
                    ),
                });
            }
            continue;
        }
        if let Some((replacement, price)) = sim.cheaper_flavor(i, &cfg) {
            let savings = node.hourly_price - price;
            sim.apply(&[i], &[]);
            commands.push(Command {
                nodes: vec![node.name.clone()],
                message: format!(
                    "node {} ({}, {} EUR/h) can be replaced by {} ({} EUR/h) in {}",
                    node.name,
                    node.flavor,
                    format_eur(node.hourly_price),
                    replacement.flavor,
                    format_eur(price),
                    replacement.zone
                ),
                action: Action::Replace(vec![replacement]),
                reason: Reason::Underutilized,
                savings_per_hour: savings,
            });
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

/// The cluster as commands change it.
struct Sim<'a> {
    request: &'a ConsolidationRequest,
    groups: BTreeMap<u32, &'a PodGroup>,
    free: Vec<Resources>,
    pods: Vec<Vec<Assignment>>,
    removed: Vec<bool>,
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
        let n = self.node(i);
        !n.nodeclaim.is_empty()
            && n.state == NodeState::Ready
            && n.disruptable
            && n.consolidatable
            && self
                .pool_of(i)
                .is_some_and(|p| p.consolidate_after_seconds.is_some())
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

    /// Where the pods of `nodes` would go if those nodes were removed, or None when some pod
    /// fits nowhere.
    fn plan_moves(&self, nodes: &[usize]) -> Option<Vec<Move>> {
        let mut dests: Vec<usize> = (0..self.request.nodes.len())
            .filter(|&j| {
                !self.removed[j] && !nodes.contains(&j) && self.node(j).state != NodeState::Deleting
            })
            .collect();
        // Fullest first: consolidation should not spread pods over emptier nodes.
        sort_by(&mut dests, &|&a, &b| {
            (self.free[a].cpu_millis, a).cmp(&(self.free[b].cpu_millis, b))
        });
        let mut free: BTreeMap<usize, Resources> =
            dests.iter().map(|&j| (j, self.free[j])).collect();
        let mut added: BTreeMap<(usize, u32), u32> = BTreeMap::new();

        let mut pending: Vec<(usize, &Assignment, &PodGroup)> = Vec::new();
        for &i in nodes {
            for a in &self.node(i).pods {
                pending.push((i, a, self.groups.get(&a.group)?));
            }
        }
        sort_by(&mut pending, &|a, b| largest_first(a.2, b.2));

        let mut moves = Vec::new();
        for (from, a, g) in pending {
            if g.host_affine() {
                return None;
            }
            let zonal = g.zone_bound();
            let cap = g.max_per_node();
            let source_zone = &self.node(from).zone;
            let mut left = a.count;
            for &j in &dests {
                if left == 0 {
                    break;
                }
                let dest = self.node(j);
                if (zonal && dest.zone != *source_zone)
                    || !tolerates_all(&g.tolerations, &dest.taints)
                    || first_unmet(&g.requirements, &dest.labels).is_some()
                {
                    continue;
                }
                let there = self.count_on(j, g.id) + added.get(&(j, g.id)).copied().unwrap_or(0);
                let room = free.get(&j).copied().unwrap_or(Resources::ZERO);
                let k = left
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
                left -= k;
            }
            if left > 0 {
                return None;
            }
        }
        Some(moves)
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

    /// The cheapest flavor of node `i`'s NodePool, in its zone, that takes its pods and saves
    /// enough, with its price per hour.
    fn cheaper_flavor(&self, i: usize, cfg: &Config) -> Option<(Replacement, f64)> {
        let node = self.node(i);
        let pool = self.pool_of(i)?;
        let mut need = pool.daemonset_overhead;
        let mut groups = Vec::new();
        for a in &node.pods {
            let g = self.groups.get(&a.group)?;
            need = need.saturating_add(&g.requests.saturating_mul(a.count));
            groups.push(*g);
        }
        let mut best: Option<(f64, &str)> = None;
        for f in &self.request.flavors {
            let Some(price) = f.price_per_hour(pool.nodeclass.monthly_billed) else {
                continue;
            };
            let savings = node.hourly_price - price;
            if savings < cfg.min_savings_per_hour
                || savings * 100.0 < cfg.min_savings_percent * node.hourly_price
                || !f.available_in(&node.zone)
                || !need.fits(&f.allocatable)
            {
                continue;
            }
            let labels = NewNodeLabels::new(pool, f, &node.zone);
            if labels.unmet_pool_requirement().is_some()
                || groups
                    .iter()
                    .any(|g| labels.unmet_pod_requirement(&g.requirements).is_some())
            {
                continue;
            }
            let better = best
                .is_none_or(|(bp, bn)| price.total_cmp(&bp).then(f.name.as_str().cmp(bn)).is_lt());
            if better {
                best = Some((price, &f.name));
            }
        }
        best.map(|(price, name)| {
            (
                Replacement {
                    nodepool: pool.name.clone(),
                    flavor: name.to_string(),
                    zone: node.zone.clone(),
                },
                price,
            )
        })
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
        let d = consolidate(&request(nodes, groups, vec![demo_pool()])).unwrap();
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

    #[test]
    fn config_is_validated() {
        let mut r = request(vec![], vec![], vec![]);
        r.config = r#"{"minSavingsPercent": 120}"#.into();
        assert!(consolidate(&r).unwrap_err().contains("minSavingsPercent"));
        r.config = r#"{"minSavingsPerHour": -1}"#.into();
        assert!(consolidate(&r).unwrap_err().contains("minSavingsPerHour"));
        r.config = r#"{"minSaving": 1}"#.into();
        assert!(consolidate(&r).unwrap_err().contains("unknown field"));
        r.config = String::new();
        assert_eq!(consolidate(&r).unwrap().commands.len(), 0);
        assert_eq!(Config::parse("").unwrap(), Config::default());
    }
}
