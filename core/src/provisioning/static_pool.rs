//! Static NodePools (`spec.replicas`, upstream's `pkg/controllers/static`): a NodePool that
//! keeps exactly that many nodes whatever the pods need. Scaling up launches the cheapest
//! offering the NodePool allows, in its least used zone, within `limits.nodes`; scaling down
//! removes first what was not launched yet, then empty nodes, then the nodes whose pods cost
//! least to move (upstream's order).

use std::collections::HashMap;
use std::sync::Arc;

use super::claims::{narrowed_requirements, next_ovh_pool, NodeClaimSpec};
use crate::scheduling::{
    daemonset_overhead, new_node_labels, wellknown, FlavorSpec, PodSpec, PoolSpec,
};

/// How many NodeClaims to create: up to `replicas` live ones, with every NodeClaim of the
/// NodePool (deleting ones too, `all`) within `node_limit`.
pub fn to_launch(replicas: u32, live: u32, all: u32, node_limit: Option<u32>) -> u32 {
    let wanted = replicas.saturating_sub(live);
    match node_limit {
        Some(limit) => wanted.min(limit.saturating_sub(all)),
        None => wanted,
    }
}

/// The next node of a static NodePool: the cheapest flavor its requirements allow, in the
/// allowed zone where it has the fewest nodes (`zone_counts`) and the flavor is available;
/// `ovh_pool_sizes` counts it. None when nothing is offered.
pub fn launch(
    pool: &PoolSpec,
    flavors: &[FlavorSpec],
    daemonsets: &[Arc<PodSpec>],
    zone_counts: &HashMap<String, u32>,
    ovh_pool_sizes: &mut HashMap<String, u32>,
) -> Option<NodeClaimSpec> {
    let mut by_price: Vec<&FlavorSpec> = flavors.iter().collect();
    by_price.sort_by(|a, b| {
        a.hourly_price
            .total_cmp(&b.hourly_price)
            .then(a.name.cmp(&b.name))
    });
    for flavor in by_price {
        let mut zones: Vec<&str> = flavor
            .zones
            .iter()
            .filter(|(_, available)| *available)
            .map(|(z, _)| z.as_str())
            .collect();
        zones.sort_by_key(|z| (zone_counts.get(*z).copied().unwrap_or(0), z.to_string()));
        for zone in zones {
            let mut labels = new_node_labels(pool, flavor, zone, "", std::iter::empty());
            if !pool.requirements.iter().all(|r| r.matches(&labels)) {
                continue;
            }
            labels.remove(wellknown::HOSTNAME);
            let overhead =
                daemonset_overhead(daemonsets.iter().map(|d| &**d), &labels, &pool.taints);
            return Some(NodeClaimSpec {
                nodepool: pool.name.clone(),
                flavor: flavor.name.clone(),
                zone: zone.to_owned(),
                ovh_pool: next_ovh_pool(&pool.nodeclass, &flavor.name, zone, ovh_pool_sizes),
                requirements: narrowed_requirements(pool, &[&flavor.name], zone),
                labels,
                taints: pool.taints.clone(),
                requests: overhead,
                capacity: flavor.capacity,
                allocatable: flavor.allocatable,
                pods: Vec::new(),
                monthly_billed: pool.nodeclass.monthly_billed,
                anti_affinity: pool.nodeclass.anti_affinity,
                // A static NodePool's nodes are of one flavor; its minValues is not enforced.
                min_values: Vec::new(),
                min_values_relaxed: false,
            });
        }
    }
    None
}

/// A live node of a static NodePool, as scaling down ranks it.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticNode {
    /// Its NodeClaim.
    pub claim: String,
    /// It has an OVH node (a NodeClaim not launched yet costs nothing to remove).
    pub launched: bool,
    /// No pod but DaemonSet ones.
    pub empty: bool,
    /// `karpenter.sh/do-not-disrupt` on it or one of its pods.
    pub do_not_disrupt: bool,
    /// Sum of its pods' eviction costs.
    pub eviction_cost: f64,
    /// Share of its `expireAfter` still ahead, in `[0, 1]` (1 without expiry).
    pub lifetime_remaining: f64,
}

/// The `count` NodeClaims to remove, in upstream's order: not launched, then empty, then the
/// others (without do-not-disrupt first) by eviction cost times remaining lifetime.
pub fn to_remove(nodes: &[StaticNode], count: usize) -> Vec<String> {
    let mut ranked: Vec<&StaticNode> = nodes.iter().collect();
    let tier = |n: &StaticNode| {
        if !n.launched {
            0
        } else if n.empty {
            1
        } else if !n.do_not_disrupt {
            2
        } else {
            3
        }
    };
    ranked.sort_by(|a, b| {
        tier(a)
            .cmp(&tier(b))
            .then(
                (a.eviction_cost * a.lifetime_remaining)
                    .total_cmp(&(b.eviction_cost * b.lifetime_remaining)),
            )
            .then(a.claim.cmp(&b.claim))
    });
    ranked
        .into_iter()
        .take(count)
        .map(|n| n.claim.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheduling::{NodeClassSpec, Operator, Requirement, Resources};

    fn flavor(name: &str, price: f64, zones: &[(&str, bool)]) -> FlavorSpec {
        FlavorSpec {
            name: name.into(),
            family: name.split('-').next().unwrap().into(),
            generation: 3,
            category: "general-purpose".into(),
            capacity: Resources::pod(4000, 16 << 30),
            allocatable: Resources::pod(3800, 14 << 30),
            hourly_price: price,
            monthly_price: None,
            zones: zones.iter().map(|(z, a)| (z.to_string(), *a)).collect(),
        }
    }

    fn pool(requirements: Vec<Requirement>) -> PoolSpec {
        PoolSpec {
            name: "fixed".into(),
            requirements,
            nodeclass: NodeClassSpec {
                name: "default".into(),
                region: "eu-west-par".into(),
                monthly_billed: false,
                anti_affinity: false,
            },
            ..PoolSpec::default()
        }
    }

    #[test]
    fn scale_up_stays_within_replicas_and_the_node_limit() {
        assert_eq!(to_launch(3, 1, 1, None), 2);
        assert_eq!(
            to_launch(3, 1, 2, Some(3)),
            1,
            "a deleting node counts against the limit"
        );
        assert_eq!(to_launch(1, 3, 3, None), 0);
    }

    #[test]
    fn the_cheapest_allowed_flavor_goes_to_the_least_used_available_zone() {
        let flavors = [
            flavor(
                "b3-16",
                0.1,
                &[("eu-west-par-a", true), ("eu-west-par-b", true)],
            ),
            flavor(
                "b3-8",
                0.05,
                &[
                    ("eu-west-par-a", true),
                    ("eu-west-par-b", false),
                    ("eu-west-par-c", true),
                ],
            ),
        ];
        let counts: HashMap<String, u32> = [
            ("eu-west-par-a".to_string(), 2),
            ("eu-west-par-c".to_string(), 1),
        ]
        .into();
        let mut sizes = HashMap::new();
        let spec = launch(&pool(Vec::new()), &flavors, &[], &counts, &mut sizes).unwrap();
        assert_eq!(
            (spec.flavor.as_str(), spec.zone.as_str()),
            ("b3-8", "eu-west-par-c")
        );
        assert_eq!(spec.ovh_pool, "karpenter-b3-8-eu-west-par-c");
        assert_eq!(spec.labels[wellknown::NODEPOOL], "fixed");
        // Requirements rule flavors out.
        let only_16 = pool(vec![Requirement::new(
            wellknown::INSTANCE_TYPE,
            Operator::In,
            &["b3-16"],
        )]);
        let spec = launch(&only_16, &flavors, &[], &counts, &mut sizes).unwrap();
        assert_eq!(
            (spec.flavor.as_str(), spec.zone.as_str()),
            ("b3-16", "eu-west-par-b")
        );
        let none = pool(vec![Requirement::new(
            wellknown::INSTANCE_TYPE,
            Operator::In,
            &["c3-4"],
        )]);
        assert!(launch(&none, &flavors, &[], &counts, &mut sizes).is_none());
    }

    #[test]
    fn scale_down_removes_unlaunched_then_empty_then_the_cheapest_to_move() {
        let node = |claim: &str, launched, empty, dnd, cost| StaticNode {
            claim: claim.into(),
            launched,
            empty,
            do_not_disrupt: dnd,
            eviction_cost: cost,
            lifetime_remaining: 1.0,
        };
        let nodes = [
            node("busy", true, false, false, 5.0),
            node("protected", true, false, true, 0.5),
            node("light", true, false, false, 1.0),
            node("empty", true, true, false, 0.0),
            node("pending", false, true, false, 0.0),
        ];
        assert_eq!(to_remove(&nodes, 4), ["pending", "empty", "light", "busy"]);
    }
}
