//! The pure part of OVH pool bookkeeping: from the NodeClaims (the intent, kept in Kubernetes)
//! and what OVH reports (pools and nodes), the writes that bring OVH in line, at most one per
//! pool, and the bindings of new OVH nodes to waiting NodeClaims.
//!
//! Rules (docs/ARCHITECTURE.md, "OVH rules the code relies on"):
//! - desired nodes of a `karpenter-*` pool = NodeClaims of that pool that are not being deleted;
//! - a missing pool with a desired node is created (`autoscale: false`, every template field);
//! - scale up raises `desiredNodes` once for every claim of the pass (one PUT per pool);
//! - nodes asked for but never created (their claims timed out) are taken back by lowering
//!   `desiredNodes` down to the nodes that exist, never further;
//! - scale down always names the nodes (`nodesToRemove`), never lets OVH pick; a pool whose last
//!   node goes is deleted instead;
//! - each new OVH node is bound to exactly one waiting NodeClaim, here and nowhere else;
//! - an OVH node no NodeClaim claims (and none waits for) is removed after a grace period;
//! - a busy pool (an operation in flight) is only written to for a scale up.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;

use crate::ovh::{Node, NodePool, NodeStatus};

/// Prefix of the pools the controller owns.
pub const POOL_PREFIX: &str = "karpenter-";

/// Maximum nodes of an OVH pool.
pub const MAX_NODES_PER_POOL: u32 = 100;

/// A NodeClaim as pool bookkeeping sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClaimView {
    /// NodeClaim name.
    pub name: String,
    /// OVH pool it goes to (its `karpenter.ovhcloud.sh/ovh-pool` label).
    pub pool: String,
    /// Flavor.
    pub flavor: String,
    /// Zone (`None` on single-zone regions).
    pub zone: Option<String>,
    /// Monthly billing of the pool.
    pub monthly_billed: bool,
    /// Anti-affinity pool.
    pub anti_affinity: bool,
    /// OVH node id it is bound to.
    pub node_id: Option<String>,
    /// Being deleted: its node goes (once drained).
    pub deleting: bool,
    /// Being deleted and drained (no pod left to evict): its OVH node may be removed now.
    pub drained: bool,
    /// Creation time (binding order).
    pub created: Timestamp,
}

/// Template of a new pool.
#[derive(Clone, Debug, PartialEq)]
pub struct NewPool {
    /// Pool name.
    pub name: String,
    /// Flavor.
    pub flavor: String,
    /// Zone.
    pub zone: Option<String>,
    /// Nodes to start with.
    pub desired: u32,
    /// Monthly billing.
    pub monthly_billed: bool,
    /// Anti-affinity.
    pub anti_affinity: bool,
}

/// One write, or a binding.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// `POST /nodepool`.
    Create(NewPool),
    /// `PUT /nodepool/{id}` with a new `desiredNodes` and no node named: higher to launch,
    /// lower only down to the nodes that exist (nodes OVH was asked for but never created, e.g.
    /// after a launch timeout), so OVH never picks a node to remove.
    Resize {
        /// Pool id.
        id: String,
        /// Pool name.
        name: String,
        /// Desired nodes before.
        from: u32,
        /// New desired nodes.
        desired: u32,
    },
    /// `PUT /nodepool/{id}` with `nodesToRemove` and the matching `desiredNodes`.
    Remove {
        /// Pool id.
        id: String,
        /// Pool name.
        name: String,
        /// Node ids to remove.
        nodes: Vec<String>,
        /// New desired nodes.
        desired: u32,
    },
    /// `DELETE /nodepool/{id}`: the pool is (or becomes) empty.
    Delete {
        /// Pool id.
        id: String,
        /// Pool name.
        name: String,
    },
    /// Record that `node` backs NodeClaim `claim`.
    Bind {
        /// NodeClaim name.
        claim: String,
        /// The OVH node.
        node: Box<Node>,
    },
}

impl Action {
    /// Name of the pool the action touches, for writes.
    pub fn pool(&self) -> Option<&str> {
        match self {
            Action::Create(p) => Some(&p.name),
            Action::Resize { name, .. }
            | Action::Remove { name, .. }
            | Action::Delete { name, .. } => Some(name),
            Action::Bind { .. } => None,
        }
    }
}

/// What OVH reports, plus what the controller knows OVH hides for a while.
#[derive(Clone, Debug, Default)]
pub struct OvhView {
    /// Pools (`GET /nodepool`).
    pub pools: Vec<NodePool>,
    /// Nodes of the cluster (`GET /node`).
    pub nodes: Vec<Node>,
    /// Pools created recently that GET may not show yet (names).
    pub recently_created: HashSet<String>,
    /// Pools to leave alone until they settle (a write was refused as busy), by name.
    pub settling: HashSet<String>,
}

/// Settings of a pass.
#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// Unclaimed OVH nodes younger than this are left alone.
    pub orphan_grace: Duration,
}

/// Everything a pass decides.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// Writes, at most one per pool, and bindings.
    pub actions: Vec<Action>,
    /// Bound NodeClaims whose OVH node is gone (they are replaced).
    pub lost: Vec<String>,
    /// NodeClaims being deleted whose OVH node is gone (their finalizer can go).
    pub released: Vec<String>,
}

fn node_gone(n: &Node) -> bool {
    matches!(n.status, NodeStatus::Deleting | NodeStatus::Deleted)
}

/// Plans one pass. `now` is the wall clock (node ages are wall-clock, the grace is guide time
/// already converted by the caller).
pub fn plan(claims: &[ClaimView], ovh: &OvhView, settings: Settings, now: Timestamp) -> Plan {
    let mut out = Plan::default();
    let pools_by_name: HashMap<&str, &NodePool> =
        ovh.pools.iter().map(|p| (p.name.as_str(), p)).collect();
    let pool_ids: HashMap<&str, &NodePool> = ovh.pools.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut nodes_by_pool: HashMap<&str, Vec<&Node>> = HashMap::new();
    for n in &ovh.nodes {
        if let Some(p) = pool_ids.get(n.node_pool_id.as_str()) {
            nodes_by_pool.entry(p.name.as_str()).or_default().push(n);
        }
    }
    let node_ids: HashSet<&str> = ovh.nodes.iter().map(|n| n.id.as_str()).collect();
    let claimed: HashSet<&str> = claims.iter().filter_map(|c| c.node_id.as_deref()).collect();

    // Claims whose node is gone.
    for c in claims {
        let Some(id) = c.node_id.as_deref() else {
            if c.deleting {
                // Never bound: nothing at OVH to remove.
                out.released.push(c.name.clone());
            }
            continue;
        };
        let alive = ovh.nodes.iter().any(|n| n.id == id && !node_gone(n));
        let pool_hidden = ovh.recently_created.contains(&c.pool);
        if !node_ids.contains(id) && pool_hidden {
            continue;
        }
        if c.deleting && !alive {
            out.released.push(c.name.clone());
        } else if !c.deleting && !node_ids.contains(id) {
            out.lost.push(c.name.clone());
        }
    }

    let mut by_pool: BTreeMap<&str, Vec<&ClaimView>> = BTreeMap::new();
    for c in claims {
        by_pool.entry(c.pool.as_str()).or_default().push(c);
    }
    // Every pool that has claims or is ours.
    let mut names: Vec<&str> = by_pool.keys().copied().collect();
    for p in &ovh.pools {
        if p.name.starts_with(POOL_PREFIX) && !by_pool.contains_key(p.name.as_str()) {
            names.push(p.name.as_str());
        }
    }
    names.sort();
    names.dedup();

    for name in names {
        let pool_claims = by_pool.get(name).cloned().unwrap_or_default();
        let live: Vec<&ClaimView> = pool_claims
            .iter()
            .copied()
            .filter(|c| !c.deleting)
            .collect();
        let desired = live.len() as u32;
        let Some(pool) = pools_by_name.get(name) else {
            if desired > 0 && !ovh.recently_created.contains(name) {
                let first = live[0];
                out.actions.push(Action::Create(NewPool {
                    name: name.to_string(),
                    flavor: first.flavor.clone(),
                    zone: first.zone.clone(),
                    desired: desired.min(MAX_NODES_PER_POOL),
                    monthly_billed: first.monthly_billed,
                    anti_affinity: first.anti_affinity,
                }));
            }
            continue;
        };
        if ovh.settling.contains(name) && pool.status.is_busy() {
            continue;
        }
        let nodes: Vec<&Node> = nodes_by_pool.get(name).cloned().unwrap_or_default();
        let active: Vec<&Node> = nodes.iter().copied().filter(|n| !node_gone(n)).collect();

        // Bind unclaimed nodes to waiting claims, oldest first.
        let mut unclaimed: Vec<&Node> = active
            .iter()
            .copied()
            .filter(|n| !claimed.contains(n.id.as_str()))
            .collect();
        unclaimed.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
        let mut waiting: Vec<&ClaimView> = live
            .iter()
            .copied()
            .filter(|c| c.node_id.is_none())
            .collect();
        waiting.sort_by(|a, b| a.created.cmp(&b.created).then(a.name.cmp(&b.name)));
        let bound = waiting.len().min(unclaimed.len());
        for (c, n) in waiting.iter().zip(&unclaimed) {
            out.actions.push(Action::Bind {
                claim: c.name.clone(),
                node: Box::new((*n).clone()),
            });
        }
        let still_waiting = waiting.len() - bound;

        // Nodes to remove: those of drained claims being deleted (never a node that still runs
        // a pod the controller did not evict), and orphans past the grace period.
        let mut remove: Vec<String> = pool_claims
            .iter()
            .filter(|c| c.deleting && c.drained)
            .filter_map(|c| c.node_id.clone())
            .filter(|id| active.iter().any(|n| &n.id == id))
            .collect();
        for n in &unclaimed[bound..] {
            let age = n
                .created_at
                .map(|t| Duration::try_from(now.duration_since(t)).unwrap_or(Duration::ZERO))
                .unwrap_or(Duration::MAX);
            if age >= settings.orphan_grace {
                remove.push(n.id.clone());
            }
        }
        let remaining = active.len() as u32 - remove.len() as u32;
        if !remove.is_empty() {
            if desired == 0 && remaining == 0 && still_waiting == 0 {
                if !pool.status.is_busy() {
                    out.actions.push(Action::Delete {
                        id: pool.id.clone(),
                        name: name.to_string(),
                    });
                }
            } else {
                // Nodes still wanted but not created count towards desired.
                out.actions.push(Action::Remove {
                    id: pool.id.clone(),
                    name: name.to_string(),
                    nodes: remove,
                    desired: desired.max(remaining).min(MAX_NODES_PER_POOL),
                });
            }
            continue;
        }
        let existing = active.len() as u32;
        if desired > pool.desired_nodes {
            out.actions.push(Action::Resize {
                id: pool.id.clone(),
                name: name.to_string(),
                from: pool.desired_nodes,
                desired: desired.min(MAX_NODES_PER_POOL),
            });
        } else if desired == 0 && existing == 0 {
            if !pool.status.is_busy() {
                out.actions.push(Action::Delete {
                    id: pool.id.clone(),
                    name: name.to_string(),
                });
            }
        } else if pool.desired_nodes > desired.max(existing) {
            out.actions.push(Action::Resize {
                id: pool.id.clone(),
                name: name.to_string(),
                from: pool.desired_nodes,
                desired: desired.max(existing),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovh::{NodePoolTemplate, PoolStatus};

    fn ts(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn claim(name: &str, pool: &str, node: Option<&str>, at: i64) -> ClaimView {
        ClaimView {
            name: name.into(),
            pool: pool.into(),
            flavor: "b3-8".into(),
            zone: Some("eu-west-par-a".into()),
            monthly_billed: false,
            anti_affinity: false,
            node_id: node.map(str::to_string),
            deleting: false,
            drained: false,
            created: ts(at),
        }
    }

    fn pool(id: &str, name: &str, desired: u32, status: PoolStatus) -> NodePool {
        NodePool {
            id: id.into(),
            project_id: None,
            name: name.into(),
            flavor: "b3-8".into(),
            status,
            size_status: None,
            autoscale: false,
            monthly_billed: false,
            anti_affinity: false,
            desired_nodes: desired,
            min_nodes: 0,
            max_nodes: 100,
            current_nodes: desired,
            available_nodes: 0,
            up_to_date_nodes: 0,
            availability_zones: vec![],
            template: NodePoolTemplate::default(),
            created_at: None,
            updated_at: None,
        }
    }

    fn node(id: &str, pool: &str, at: i64) -> Node {
        Node {
            id: id.into(),
            project_id: None,
            instance_id: Some(format!("i-{id}")),
            node_pool_id: pool.into(),
            name: format!("n-{id}"),
            flavor: "b3-8".into(),
            status: NodeStatus::Installing,
            is_up_to_date: true,
            version: None,
            created_at: Some(ts(at)),
            updated_at: None,
            deployed_at: None,
        }
    }

    const P: &str = "karpenter-b3-8-eu-west-par-a";
    const GRACE: Settings = Settings {
        orphan_grace: Duration::from_secs(120),
    };

    #[test]
    fn missing_pool_is_created_once_with_every_claim() {
        let claims = [claim("a", P, None, 0), claim("b", P, None, 1)];
        let plan = plan(&claims, &OvhView::default(), GRACE, ts(5));
        assert_eq!(plan.actions.len(), 1);
        match &plan.actions[0] {
            Action::Create(p) => {
                assert_eq!((p.name.as_str(), p.desired), (P, 2));
                assert_eq!(p.zone.as_deref(), Some("eu-west-par-a"));
            }
            other => panic!("{other:?}"),
        }
        // A pool GET does not show yet is not created twice.
        let ovh = OvhView {
            recently_created: [P.to_string()].into(),
            ..Default::default()
        };
        assert!(super::plan(&claims, &ovh, GRACE, ts(5)).actions.is_empty());
    }

    #[test]
    fn scale_up_is_one_put_and_new_nodes_bind_oldest_first() {
        let claims = [
            claim("a", P, Some("n1"), 0),
            claim("c", P, None, 9),
            claim("b", P, None, 8),
            claim("d", P, None, 10),
        ];
        let ovh = OvhView {
            pools: vec![pool("p1", P, 3, PoolStatus::Upscaling)],
            nodes: vec![
                node("n1", "p1", 0),
                node("n3", "p1", 7),
                node("n2", "p1", 6),
            ],
            ..Default::default()
        };
        let plan = plan(&claims, &ovh, GRACE, ts(10));
        assert_eq!(
            plan.actions,
            vec![
                Action::Bind {
                    claim: "b".into(),
                    node: Box::new(node("n2", "p1", 6))
                },
                Action::Bind {
                    claim: "c".into(),
                    node: Box::new(node("n3", "p1", 7))
                },
                Action::Resize {
                    id: "p1".into(),
                    name: P.into(),
                    from: 3,
                    desired: 4
                },
            ]
        );
    }

    #[test]
    fn deleting_claims_name_their_nodes_and_the_last_one_deletes_the_pool() {
        let mut a = claim("a", P, Some("n1"), 0);
        a.deleting = true;
        let b = claim("b", P, Some("n2"), 0);
        let ovh = OvhView {
            pools: vec![pool("p1", P, 2, PoolStatus::Ready)],
            nodes: vec![node("n1", "p1", 0), node("n2", "p1", 0)],
            ..Default::default()
        };
        // Not drained yet: its node stays, and so does the pool's size.
        let plan = super::plan(&[a.clone(), b.clone()], &ovh, GRACE, ts(500));
        assert_eq!(plan.actions, vec![]);
        assert!(plan.released.is_empty());
        a.drained = true;
        let plan = super::plan(&[a.clone(), b], &ovh, GRACE, ts(500));
        assert_eq!(
            plan.actions,
            vec![Action::Remove {
                id: "p1".into(),
                name: P.into(),
                nodes: vec!["n1".into()],
                desired: 1
            }]
        );
        let ovh = OvhView {
            pools: vec![pool("p1", P, 1, PoolStatus::Ready)],
            nodes: vec![node("n1", "p1", 0)],
            ..Default::default()
        };
        let plan = super::plan(&[a], &ovh, GRACE, ts(500));
        assert_eq!(
            plan.actions,
            vec![Action::Delete {
                id: "p1".into(),
                name: P.into()
            }]
        );
    }

    #[test]
    fn orphans_wait_for_the_grace_period_and_lost_nodes_are_reported() {
        let ovh = OvhView {
            pools: vec![pool("p1", P, 2, PoolStatus::Ready)],
            nodes: vec![node("n1", "p1", 0), node("n2", "p1", 100)],
            ..Default::default()
        };
        let claims = [
            claim("a", P, Some("n1"), 0),
            claim("gone", P, Some("n9"), 0),
        ];
        let young = super::plan(&claims, &ovh, GRACE, ts(150));
        assert!(young.actions.is_empty(), "{young:?}");
        assert_eq!(young.lost, vec!["gone".to_string()]);
        let old = super::plan(&claims[..1], &ovh, GRACE, ts(300));
        assert_eq!(
            old.actions,
            vec![Action::Remove {
                id: "p1".into(),
                name: P.into(),
                nodes: vec!["n2".into()],
                desired: 1
            }]
        );
    }

    fn resize(from: u32, desired: u32) -> Vec<Action> {
        vec![Action::Resize {
            id: "p1".into(),
            name: P.into(),
            from,
            desired,
        }]
    }

    #[test]
    fn nodes_never_created_are_taken_back_without_naming_any_node() {
        // OVH accepted two more nodes but created none; one claim timed out and went.
        let claims = [claim("a", P, Some("n1"), 0), claim("b", P, None, 5)];
        let ovh = OvhView {
            pools: vec![pool("p1", P, 3, PoolStatus::Ready)],
            nodes: vec![node("n1", "p1", 0)],
            ..Default::default()
        };
        assert_eq!(
            super::plan(&claims, &ovh, GRACE, ts(10)).actions,
            resize(3, 2)
        );
        // Never below the nodes that exist: those go by name only.
        let ovh = OvhView {
            pools: vec![pool("p1", P, 3, PoolStatus::Ready)],
            nodes: vec![node("n1", "p1", 0), node("n2", "p1", 9)],
            ..Default::default()
        };
        assert_eq!(
            super::plan(&claims[..1], &ovh, GRACE, ts(10)).actions,
            resize(3, 2)
        );
        // Nothing left and nothing there: the pool goes.
        let ovh = OvhView {
            pools: vec![pool("p1", P, 1, PoolStatus::Ready)],
            ..Default::default()
        };
        assert_eq!(
            super::plan(&[], &ovh, GRACE, ts(10)).actions,
            vec![Action::Delete {
                id: "p1".into(),
                name: P.into()
            }]
        );
    }

    #[test]
    fn empty_owned_pools_are_deleted_and_foreign_pools_left_alone() {
        let ovh = OvhView {
            pools: vec![
                pool("p1", P, 0, PoolStatus::Ready),
                pool("p2", "default-pool", 0, PoolStatus::Ready),
                pool(
                    "p3",
                    "karpenter-b3-16-eu-west-par-a",
                    0,
                    PoolStatus::Installing,
                ),
            ],
            ..Default::default()
        };
        let plan = super::plan(&[], &ovh, GRACE, ts(0));
        assert_eq!(
            plan.actions,
            vec![Action::Delete {
                id: "p1".into(),
                name: P.into()
            }]
        );
    }
}
