//! Pool and node writes: creating, resizing and deleting pools and nodes once their request
//! has passed [`super::validation`], with ids, names and OVH's choice of victims drawn from the
//! world's seeded generator.

use std::collections::BTreeMap;
use std::time::Instant;

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::Rng;
use serde_json::Value;

use super::model::{node_status, pool_status, Node, NodeEventKind, SimNode, SimPool};
use super::validation::{check_node_deletable, check_pool_deletable, PoolCreate, PoolUpdate};
use super::World;
use crate::ovh::catalog::FlavorSpec;
use crate::ovh::error::ApiError;

/// A v4 UUID from the seeded generator.
fn uuid(rng: &mut StdRng) -> String {
    let mut b: [u8; 16] = rng.random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Where a new node goes: the same for every node a pool grows by, so computed once.
#[derive(Clone, Copy)]
struct NodeSlot<'a> {
    /// Project.
    sn: &'a str,
    /// Pool id.
    pool_id: &'a str,
    /// Pool name (node names start with it).
    pool_name: &'a str,
    /// Flavor.
    flavor: &'static FlavorSpec,
    /// Stock location (pool zone, or region).
    location: &'a str,
    /// Kubernetes version of the cluster.
    version: &'a str,
}

impl World {
    /// Takes one unit of stock, or reports there is none. Returns the location taken from.
    fn take_stock(&mut self, flavor: &str, location: &str) -> Result<Option<String>, ()> {
        match self
            .stock
            .get_mut(&(flavor.to_string(), location.to_string()))
        {
            None => Ok(None),
            Some(0) => Err(()),
            Some(n) => {
                *n -= 1;
                Ok(Some(location.to_string()))
            }
        }
    }

    /// A new INSTALLING node in `slot`, taking a unit of stock if there is one (without, it
    /// will end in FLAVOR_OUT_OF_STOCK_ERROR).
    fn new_node(&mut self, slot: &NodeSlot<'_>, now: Instant) -> SimNode {
        let NodeSlot {
            sn,
            pool_id,
            pool_name,
            flavor,
            location,
            version,
        } = *slot;
        let ts = Timestamp::now();
        let (out_of_stock, stock_location) = match self.take_stock(flavor.name, location) {
            Ok(loc) => (false, loc),
            Err(()) => (true, None),
        };
        let install = if out_of_stock {
            self.config.timing.out_of_stock_after
        } else if flavor.is_gpu() {
            self.config.timing.gpu_node_ready
        } else {
            self.config.timing.node_ready
        };
        let suffix: [u8; 3] = self.rng.random();
        let node = Node {
            id: uuid(&mut self.rng),
            project_id: sn.to_string(),
            instance_id: uuid(&mut self.rng),
            node_pool_id: pool_id.to_string(),
            name: format!("{pool_name}-node-{}", hex::encode(suffix)),
            flavor: flavor.name.to_string(),
            status: node_status::INSTALLING.into(),
            is_up_to_date: true,
            version: version.to_string(),
            created_at: ts,
            updated_at: ts,
            deployed_at: None,
        };
        SimNode {
            node,
            ready_at: now + self.real(install),
            out_of_stock,
            gone_at: None,
            stock_location,
        }
    }

    /// Adds `count` nodes to a pool (quota already checked).
    fn grow(&mut self, sn: &str, kube: &str, pool_id: &str, count: u32, now: Instant) {
        let Ok(cluster) = self.cluster(sn, kube) else {
            return;
        };
        let version = cluster.version.clone();
        let region = cluster.region.name;
        let Some(pool) = cluster.pools.get(pool_id) else {
            return;
        };
        let (name, flavor) = (pool.name.clone(), pool.flavor);
        let location = pool.zone().unwrap_or(region).to_string();
        if self
            .stalled
            .contains(&(flavor.name.to_string(), location.clone()))
        {
            // Accepted (desiredNodes is raised) but never carried out.
            return;
        }
        let slot = NodeSlot {
            sn,
            pool_id,
            pool_name: &name,
            flavor,
            location: &location,
            version: &version,
        };
        let mut created = Vec::new();
        for _ in 0..count {
            created.push(self.new_node(&slot, now));
        }
        let cluster = self.cluster(sn, kube).expect("checked above");
        let pool = &cluster.pools[pool_id];
        for n in &created {
            self.event(NodeEventKind::Created, sn, cluster, pool, &n.node);
        }
        let pool = self
            .cluster_mut(sn, kube)
            .expect("checked above")
            .pools
            .get_mut(pool_id)
            .expect("checked above");
        for n in created {
            pool.nodes.insert(n.node.id.clone(), n);
        }
    }

    /// Marks a node DELETING.
    fn start_node_delete(node: &mut SimNode, gone_at: Instant) {
        node.node.status = node_status::DELETING.into();
        node.node.updated_at = Timestamp::now();
        node.gone_at = Some(gone_at);
    }

    /// `POST /nodepool`.
    pub fn create_pool(
        &mut self,
        sn: &str,
        kube: &str,
        body: &Value,
        now: Instant,
    ) -> Result<Value, ApiError> {
        let PoolCreate {
            name,
            flavor,
            desired,
            min,
            max,
            autoscale,
            anti_affinity,
            monthly,
            zones,
            template,
        } = self.validate_create(sn, kube, body)?;
        let id = uuid(&mut self.rng);
        let ts = Timestamp::now();
        let pool = SimPool {
            id: id.clone(),
            name,
            flavor,
            desired,
            min,
            max,
            autoscale,
            anti_affinity,
            monthly_billed: monthly,
            availability_zones: zones,
            template,
            created_at: ts,
            updated_at: ts,
            visible_at: now + self.real(self.config.timing.pool_visibility_lag),
            installing_until: now + self.real(self.config.timing.pool_install),
            initial: true,
            status: pool_status::INSTALLING,
            gone_at: None,
            nodes: BTreeMap::new(),
        };
        self.cluster_mut(sn, kube)?.pools.insert(id.clone(), pool);
        self.grow(sn, kube, &id, desired, now);
        let pool = &self.cluster(sn, kube)?.pools[&id];
        Ok(pool.view(sn))
    }

    /// Creates a pool (same body and rules as `POST /nodepool`) that is already installed:
    /// visible, its nodes READY (unless out of stock). For the pools a cluster starts with.
    pub fn create_ready_pool(
        &mut self,
        sn: &str,
        kube: &str,
        body: &Value,
        now: Instant,
    ) -> Result<Value, ApiError> {
        let view = self.create_pool(sn, kube, body, now)?;
        let id = view["id"].as_str().unwrap_or_default().to_string();
        if let Some(pool) = self.cluster_mut(sn, kube)?.pools.get_mut(&id) {
            pool.visible_at = now;
            pool.installing_until = now;
            for n in pool.nodes.values_mut() {
                n.ready_at = now;
            }
        }
        self.tick(now);
        Ok(self.cluster(sn, kube)?.pools[&id].view(sn))
    }

    /// `PUT /nodepool/{id}`.
    pub fn update_pool(
        &mut self,
        sn: &str,
        kube: &str,
        id: &str,
        body: &Value,
        now: Instant,
    ) -> Result<(), ApiError> {
        let PoolUpdate {
            autoscale,
            min,
            max,
            desired,
            template,
            to_remove,
            remaining,
            to_add,
        } = self.validate_update(sn, kube, id, body, now)?;

        // Apply.
        let gone_at = now + self.real(self.config.timing.node_delete);
        let pick: Vec<String> = {
            let pool = &self.cluster(sn, kube)?.pools[id];
            let extra = remaining.saturating_sub(desired) as usize;
            // OVH picks the victims itself when desiredNodes drops without nodesToRemove.
            let candidates: Vec<String> = pool
                .active()
                .filter(|n| !to_remove.contains(&n.node.id))
                .map(|n| n.node.id.clone())
                .collect();
            candidates
                .choose_multiple(&mut self.rng, extra)
                .cloned()
                .collect()
        };
        let pool = self
            .cluster_mut(sn, kube)?
            .pools
            .get_mut(id)
            .expect("checked");
        pool.autoscale = autoscale;
        pool.min = min;
        pool.max = max;
        pool.desired = desired;
        if let Some(t) = template {
            pool.template = t;
        }
        pool.updated_at = Timestamp::now();
        for node_id in to_remove.iter().chain(&pick) {
            if let Some(n) = pool.nodes.get_mut(node_id) {
                Self::start_node_delete(n, gone_at);
            }
        }
        self.grow(sn, kube, id, to_add, now);
        let pool = self
            .cluster_mut(sn, kube)?
            .pools
            .get_mut(id)
            .expect("checked");
        pool.refresh_status(now);
        Ok(())
    }

    /// `DELETE /nodepool/{id}`.
    pub fn delete_pool(
        &mut self,
        sn: &str,
        kube: &str,
        id: &str,
        now: Instant,
    ) -> Result<(), ApiError> {
        let gone_at = now + self.real(self.config.timing.pool_delete);
        let node_gone = now + self.real(self.config.timing.node_delete);
        let pool = Self::visible_pool(self.cluster(sn, kube)?, id, now)?;
        check_pool_deletable(pool)?;
        let pool = self
            .cluster_mut(sn, kube)?
            .pools
            .get_mut(id)
            .expect("checked");
        pool.gone_at = Some(gone_at.max(node_gone));
        pool.desired = 0;
        pool.updated_at = Timestamp::now();
        for n in pool.nodes.values_mut() {
            if n.node.status != node_status::DELETING {
                Self::start_node_delete(n, node_gone);
            }
        }
        pool.refresh_status(now);
        Ok(())
    }

    /// `DELETE /node/{nodeId}`: removes the node and lowers its pool's desiredNodes.
    pub fn delete_node(
        &mut self,
        sn: &str,
        kube: &str,
        node_id: &str,
        now: Instant,
    ) -> Result<(), ApiError> {
        let gone_at = now + self.real(self.config.timing.node_delete);
        let cluster = self.cluster_mut(sn, kube)?;
        let pool = cluster
            .pools
            .values_mut()
            .find(|p| p.nodes.contains_key(node_id))
            .ok_or_else(|| ApiError::not_found(format!("Node {node_id} not found")))?;
        let node = pool.nodes.get_mut(node_id).expect("found above");
        check_node_deletable(node)?;
        Self::start_node_delete(node, gone_at);
        pool.desired = pool.desired.saturating_sub(1);
        pool.min = pool.min.min(pool.desired);
        pool.updated_at = Timestamp::now();
        pool.refresh_status(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn uuids_look_like_v4() {
        let mut rng = StdRng::seed_from_u64(1);
        let id = uuid(&mut rng);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }
}
