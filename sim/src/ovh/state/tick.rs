//! The tick: state machines advancing over time (nodes INSTALLING to READY or out of stock,
//! DELETING to gone, pools through their statuses), stock returned by removed nodes, and the
//! node events a cluster simulator mirrors.

use std::time::Instant;

use jiff::Timestamp;

use super::model::{node_status, pool_status, Node, NodeEvent, NodeEventKind, SimCluster, SimPool};
use super::World;

impl SimPool {
    /// Derives the pool status from its nodes and phase (INSTALLING until its first nodes are
    /// up and the minimum install time is over).
    pub(super) fn refresh_status(&mut self, now: Instant) {
        let installing = self
            .nodes
            .values()
            .any(|n| n.node.status == node_status::INSTALLING);
        let deleting = self
            .nodes
            .values()
            .any(|n| n.node.status == node_status::DELETING);
        if self.initial && !installing && now >= self.installing_until {
            self.initial = false;
        }
        self.status = if self.gone_at.is_some() {
            pool_status::DELETING
        } else if self.initial {
            pool_status::INSTALLING
        } else if installing {
            pool_status::UPSCALING
        } else if deleting {
            pool_status::DOWNSCALING
        } else {
            pool_status::READY
        };
    }
}

impl World {
    /// Publishes a node event.
    pub(super) fn event(
        &self,
        kind: NodeEventKind,
        sn: &str,
        c: &SimCluster,
        p: &SimPool,
        node: &Node,
    ) {
        // No subscriber is fine.
        let _ = self.events.send(NodeEvent {
            kind,
            service_name: sn.to_string(),
            kube_id: c.id.clone(),
            region: c.region.name.to_string(),
            pool_name: p.name.clone(),
            zone: p.zone().map(str::to_string),
            template: p.template.clone(),
            node: node.clone(),
        });
    }

    /// Advances every state machine to `now`, publishing node events.
    pub fn tick(&mut self, now: Instant) {
        let mut events: Vec<(NodeEventKind, String, String, String, Node)> = Vec::new();
        let mut released: Vec<(String, String)> = Vec::new();
        for (sn, project) in &mut self.projects {
            for cluster in project.clusters.values_mut() {
                for pool in cluster.pools.values_mut() {
                    let mut gone = Vec::new();
                    for n in pool.nodes.values_mut() {
                        if n.node.status == node_status::INSTALLING && now >= n.ready_at {
                            let ts = Timestamp::now();
                            n.node.updated_at = ts;
                            let kind = if n.out_of_stock {
                                n.node.status = node_status::FLAVOR_OUT_OF_STOCK_ERROR.into();
                                NodeEventKind::Failed
                            } else {
                                n.node.status = node_status::READY.into();
                                n.node.deployed_at = Some(ts);
                                NodeEventKind::Ready
                            };
                            events.push((
                                kind,
                                sn.clone(),
                                cluster.id.clone(),
                                pool.id.clone(),
                                n.node.clone(),
                            ));
                        }
                        if n.gone_at.is_some_and(|g| now >= g) {
                            gone.push(n.node.id.clone());
                        }
                    }
                    for id in gone {
                        if let Some(n) = pool.nodes.remove(&id) {
                            if let Some(loc) = n.stock_location {
                                released.push((n.node.flavor.clone(), loc));
                            }
                            events.push((
                                NodeEventKind::Removed,
                                sn.clone(),
                                cluster.id.clone(),
                                pool.id.clone(),
                                n.node,
                            ));
                        }
                    }
                    pool.refresh_status(now);
                }
            }
        }
        for key in released {
            if let Some(n) = self.stock.get_mut(&key) {
                *n += 1;
            }
        }
        for (kind, sn, kube, pool_id, node) in events {
            if let Ok(c) = self.cluster(&sn, &kube) {
                if let Some(p) = c.pools.get(&pool_id) {
                    self.event(kind, &sn, c, p, &node);
                }
            }
        }
        // Pools whose deletion is over disappear once their nodes are gone.
        for project in self.projects.values_mut() {
            for cluster in project.clusters.values_mut() {
                cluster
                    .pools
                    .retain(|_, p| !(p.gone_at.is_some_and(|g| now >= g) && p.nodes.is_empty()));
            }
        }
    }
}
