//! The simulated world: projects, clusters, node pools and nodes, the rules OVH enforces on
//! them, and their state machines in scaled time.
//!
//! Every mutation takes the current instant, so the rules are plain functions of the state.
//! The HTTP layer ([`super::server`]) routes, authenticates and renders; request bodies reach
//! this module as JSON and are checked here, because OVH's rules depend on the world (pool
//! limits, quotas, pool status) as much as on the body. The module is split by concern:
//! - `model`: the data (public types, internal pools and nodes),
//! - `validation`: request checks and OVH rule errors, before anything changes,
//! - `pools`: the writes that apply a validated request (create, update, delete),
//! - `tick`: the state machines advancing over time, and node events,
//! - `views`: reads as OVH's GET endpoints return them, and the inspection snapshot.
//!
//! This file holds the world itself, its lookups and the knobs tests turn (stock, stalls,
//! quotas).

mod model;
mod pools;
mod tick;
mod validation;
mod views;

pub use model::{
    node_status, pool_status, ClusterConfig, Node, NodeEvent, NodeEventKind, ProjectConfig, Quota,
    Timing, Usage, MAX_ANTI_AFFINITY_NODES, MAX_NODES_PER_POOL,
};
pub use views::{ClusterSnapshot, PoolSnapshot, ProjectSnapshot, StateSnapshot};

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::sync::broadcast;

use super::catalog;
use super::error::ApiError;
use model::{SimCluster, SimPool, SimProject};

/// Settings of the world.
#[derive(Clone, Debug)]
pub struct WorldConfig {
    /// Guide durations.
    pub timing: Timing,
    /// Guide seconds per real second.
    pub time_scale: f64,
    /// Pools per cluster.
    pub max_pools_per_cluster: u32,
    /// Template label prefixes MKS drops (it may drop `karpenter.sh/*` labels).
    pub dropped_label_prefixes: Vec<String>,
    /// Refuse any PUT on a pool that is not READY with 409 (OVH refuses at least DELETE while
    /// UPSCALING; this stricter mode tests a controller's one-mutation-in-flight rule).
    pub strict_busy_put: bool,
    /// Seed of ids, names and OVH's choice of victims.
    pub seed: u64,
}

/// The whole simulated OVH state.
pub struct World {
    /// Settings.
    config: WorldConfig,
    /// Projects by service name.
    projects: BTreeMap<String, SimProject>,
    /// Remaining units per (flavor, location); absent = unlimited. Location = zone or region.
    stock: BTreeMap<(String, String), u32>,
    /// (flavor, location) where OVH accepts new nodes but never creates them.
    stalled: std::collections::BTreeSet<(String, String)>,
    /// Seeded source of ids, names and victims, so a seeded run repeats.
    rng: StdRng,
    /// Where node events go.
    events: broadcast::Sender<NodeEvent>,
}

impl World {
    /// A world with the given projects.
    pub fn new(
        config: WorldConfig,
        projects: &[ProjectConfig],
        events: broadcast::Sender<NodeEvent>,
    ) -> anyhow::Result<Self> {
        let now = Timestamp::now();
        let mut map = BTreeMap::new();
        for p in projects {
            let mut clusters = BTreeMap::new();
            for c in &p.clusters {
                let region = catalog::region(&c.region)
                    .ok_or_else(|| anyhow::anyhow!("unknown region {}", c.region))?;
                clusters.insert(
                    c.id.clone(),
                    SimCluster {
                        id: c.id.clone(),
                        name: c.name.clone(),
                        region,
                        version: "1.31".into(),
                        created_at: now,
                        pools: BTreeMap::new(),
                    },
                );
            }
            map.insert(
                p.service_name.clone(),
                SimProject {
                    quota: p.quota.clone(),
                    clusters,
                },
            );
        }
        Ok(Self {
            rng: StdRng::seed_from_u64(config.seed),
            config,
            projects: map,
            stock: BTreeMap::new(),
            stalled: Default::default(),
            events,
        })
    }

    /// A guide duration in real time.
    fn real(&self, guide: Duration) -> Duration {
        guide.div_f64(self.config.time_scale)
    }

    /// A cluster, or OVH's 404 for a missing project or cluster.
    fn cluster(&self, sn: &str, kube: &str) -> Result<&SimCluster, ApiError> {
        self.projects
            .get(sn)
            .ok_or_else(|| ApiError::not_found(format!("This service does not exist ({sn})")))?
            .clusters
            .get(kube)
            .ok_or_else(|| ApiError::not_found(format!("This cluster does not exist ({kube})")))
    }

    /// A cluster, mutably, or OVH's 404 for a missing project or cluster.
    fn cluster_mut(&mut self, sn: &str, kube: &str) -> Result<&mut SimCluster, ApiError> {
        self.projects
            .get_mut(sn)
            .ok_or_else(|| ApiError::not_found(format!("This service does not exist ({sn})")))?
            .clusters
            .get_mut(kube)
            .ok_or_else(|| ApiError::not_found(format!("This cluster does not exist ({kube})")))
    }

    /// OVH's 404 for a pool.
    fn pool_not_found(id: &str) -> ApiError {
        ApiError::not_found(format!("Node pool {id} not found"))
    }

    /// A pool GET shows (created pools appear after a lag), or a 404.
    fn visible_pool<'a>(
        cluster: &'a SimCluster,
        id: &str,
        now: Instant,
    ) -> Result<&'a SimPool, ApiError> {
        cluster
            .pools
            .get(id)
            .filter(|p| now >= p.visible_at)
            .ok_or_else(|| Self::pool_not_found(id))
    }

    /// Whether a project exists (used by the credential rules check).
    pub fn has_project(&self, sn: &str) -> bool {
        self.projects.contains_key(sn)
    }

    /// Sets the remaining stock of a flavor at a location (zone of a 3-AZ region, or region
    /// name); `None` = unlimited.
    pub fn set_stock(&mut self, flavor: &str, location: &str, units: Option<u32>) {
        let key = (flavor.to_string(), location.to_string());
        match units {
            Some(n) => {
                self.stock.insert(key, n);
            }
            None => {
                self.stock.remove(&key);
            }
        }
    }

    /// Makes OVH accept new nodes of a flavor at a location (zone or region) without ever
    /// creating them (`false` restores normal service; nodes already skipped stay missing).
    pub fn set_stalled(&mut self, flavor: &str, location: &str, stalled: bool) {
        let key = (flavor.to_string(), location.to_string());
        if stalled {
            self.stalled.insert(key);
        } else {
            self.stalled.remove(&key);
        }
    }

    /// Replaces a project's quotas.
    pub fn set_quota(&mut self, sn: &str, quota: Quota) -> bool {
        match self.projects.get_mut(sn) {
            Some(p) => {
                p.quota = quota;
                true
            }
            None => false,
        }
    }
}
