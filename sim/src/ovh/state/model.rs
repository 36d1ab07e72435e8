//! The model: what the simulated OVH holds (projects, clusters, pools, nodes) and the public
//! types describing it, with no rule or state machine attached.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ovh::catalog::{FlavorSpec, RegionSpec};

/// Hard limit of nodes in one pool.
pub const MAX_NODES_PER_POOL: u32 = 100;
/// Limit of nodes in an anti-affinity pool.
pub const MAX_ANTI_AFFINITY_NODES: u32 = 5;

/// Durations of the state machines, in *guide* time (divided by the time scale to get real
/// time).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Timing {
    /// A CPU node from creation to READY.
    #[serde(with = "secs")]
    pub node_ready: Duration,
    /// A GPU node from creation to READY.
    #[serde(with = "secs")]
    pub gpu_node_ready: Duration,
    /// Minimum time a new pool stays INSTALLING.
    #[serde(with = "secs")]
    pub pool_install: Duration,
    /// How long a freshly created pool is missing from GET.
    #[serde(with = "secs")]
    pub pool_visibility_lag: Duration,
    /// A node from DELETING to gone.
    #[serde(with = "secs")]
    pub node_delete: Duration,
    /// A pool from DELETING to gone.
    #[serde(with = "secs")]
    pub pool_delete: Duration,
    /// A node without stock from creation to FLAVOR_OUT_OF_STOCK_ERROR.
    #[serde(with = "secs")]
    pub out_of_stock_after: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            node_ready: Duration::from_secs(120),
            gpu_node_ready: Duration::from_secs(15 * 60),
            pool_install: Duration::from_secs(60),
            pool_visibility_lag: Duration::from_secs(10),
            node_delete: Duration::from_secs(30),
            pool_delete: Duration::from_secs(60),
            out_of_stock_after: Duration::from_secs(30),
        }
    }
}

/// (De)serializes durations as seconds (fractions allowed) in the JSON config.
mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = f64::deserialize(d)?;
        Duration::try_from_secs_f64(secs).map_err(serde::de::Error::custom)
    }
}

/// Per-project quotas (OVH applies them per region; a project here has one region's worth).
/// `None` means unlimited.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    /// Maximum vCPUs of all instances.
    pub max_vcpus: Option<u32>,
    /// Maximum RAM (GB) of all instances.
    pub max_ram_gb: Option<u32>,
    /// Maximum number of instances.
    pub max_instances: Option<u32>,
}

/// Resources in use in a project.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in GB.
    pub ram_gb: u32,
    /// Instances.
    pub instances: u32,
}

/// Node status strings OVH uses.
pub mod node_status {
    /// Being created.
    pub const INSTALLING: &str = "INSTALLING";
    /// Running and part of the cluster.
    pub const READY: &str = "READY";
    /// Being removed.
    pub const DELETING: &str = "DELETING";
    /// Could not be created: no stock of the flavor in that zone.
    pub const FLAVOR_OUT_OF_STOCK_ERROR: &str = "FLAVOR_OUT_OF_STOCK_ERROR";
}

/// Pool status strings OVH uses.
pub mod pool_status {
    /// Being created.
    pub const INSTALLING: &str = "INSTALLING";
    /// Stable.
    pub const READY: &str = "READY";
    /// Adding nodes.
    pub const UPSCALING: &str = "UPSCALING";
    /// Removing nodes.
    pub const DOWNSCALING: &str = "DOWNSCALING";
    /// Being deleted.
    pub const DELETING: &str = "DELETING";
}

/// A node as OVH's `GET .../node` returns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Node id (UUID).
    pub id: String,
    /// Project id (service name).
    pub project_id: String,
    /// OpenStack instance id (UUID); the Kubernetes providerID is `openstack:///{instanceId}`.
    pub instance_id: String,
    /// Pool id.
    pub node_pool_id: String,
    /// Node name, `{pool}-node-{hash}`; the Kubernetes Node has this name.
    pub name: String,
    /// Flavor name.
    pub flavor: String,
    /// Status (see [`node_status`]).
    pub status: String,
    /// Whether the node runs the cluster's version.
    pub is_up_to_date: bool,
    /// Kubernetes version.
    pub version: String,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last update.
    pub updated_at: Timestamp,
    /// When it became READY.
    pub deployed_at: Option<Timestamp>,
}

/// A node with the simulator's bookkeeping around what OVH shows.
#[derive(Clone, Debug)]
pub(super) struct SimNode {
    /// What OVH shows.
    pub(super) node: Node,
    /// When INSTALLING ends.
    pub(super) ready_at: Instant,
    /// No stock was available: the node ends in FLAVOR_OUT_OF_STOCK_ERROR.
    pub(super) out_of_stock: bool,
    /// When a DELETING node disappears.
    pub(super) gone_at: Option<Instant>,
    /// Stock location it took a unit from (returned when it goes).
    pub(super) stock_location: Option<String>,
}

/// A node pool: its settings, its state-machine instants and its nodes.
#[derive(Clone, Debug)]
pub(super) struct SimPool {
    /// Pool id (UUID).
    pub(super) id: String,
    /// Pool name.
    pub(super) name: String,
    /// Flavor of its nodes.
    pub(super) flavor: &'static FlavorSpec,
    /// `desiredNodes`.
    pub(super) desired: u32,
    /// `minNodes`.
    pub(super) min: u32,
    /// `maxNodes`.
    pub(super) max: u32,
    /// `autoscale`.
    pub(super) autoscale: bool,
    /// `antiAffinity`.
    pub(super) anti_affinity: bool,
    /// `monthlyBilled`.
    pub(super) monthly_billed: bool,
    /// `availabilityZones`.
    pub(super) availability_zones: Vec<String>,
    /// Node template as MKS stores it.
    pub(super) template: Value,
    /// Creation time.
    pub(super) created_at: Timestamp,
    /// Last update.
    pub(super) updated_at: Timestamp,
    /// When GET starts showing it.
    pub(super) visible_at: Instant,
    /// Earliest end of its first INSTALLING phase.
    pub(super) installing_until: Instant,
    /// Still in its first INSTALLING phase.
    pub(super) initial: bool,
    /// Status (see [`pool_status`]).
    pub(super) status: &'static str,
    /// DELETING: when the pool disappears.
    pub(super) gone_at: Option<Instant>,
    /// Nodes by id.
    pub(super) nodes: BTreeMap<String, SimNode>,
}

impl SimPool {
    /// Its availability zone (3-AZ regions), where its nodes take stock from.
    pub(super) fn zone(&self) -> Option<&str> {
        self.availability_zones.first().map(String::as_str)
    }

    /// Its nodes that are not being deleted.
    pub(super) fn active(&self) -> impl Iterator<Item = &SimNode> {
        self.nodes
            .values()
            .filter(|n| n.node.status != node_status::DELETING)
    }
}

/// A managed Kubernetes cluster and its pools.
#[derive(Clone, Debug)]
pub(super) struct SimCluster {
    /// Cluster id (`OVH_KUBE_ID`).
    pub(super) id: String,
    /// Display name.
    pub(super) name: String,
    /// Region.
    pub(super) region: &'static RegionSpec,
    /// Kubernetes version.
    pub(super) version: String,
    /// Creation time.
    pub(super) created_at: Timestamp,
    /// Pools by id.
    pub(super) pools: BTreeMap<String, SimPool>,
}

/// A Public Cloud project: its quotas and clusters.
#[derive(Clone, Debug)]
pub(super) struct SimProject {
    /// Quotas.
    pub(super) quota: Quota,
    /// Clusters by id.
    pub(super) clusters: BTreeMap<String, SimCluster>,
}

/// A cluster to create at start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterConfig {
    /// Cluster id (`OVH_KUBE_ID`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// Region, e.g. `EU-WEST-PAR`.
    pub region: String,
}

/// A project to create at start.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectConfig {
    /// Project id (`OVH_SERVICE_NAME`, 32 hex characters).
    pub service_name: String,
    /// Quotas.
    #[serde(default)]
    pub quota: Quota,
    /// Its clusters.
    pub clusters: Vec<ClusterConfig>,
}

/// What happened to a node; published on the event channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NodeEventKind {
    /// The node was created (INSTALLING).
    Created,
    /// The node became READY: a Kubernetes Node should appear.
    Ready,
    /// The node ended in FLAVOR_OUT_OF_STOCK_ERROR.
    Failed,
    /// The node is gone: its Kubernetes Node should disappear.
    Removed,
}

/// A node event, with what a cluster simulator needs to create or delete the Node object.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeEvent {
    /// What happened.
    pub kind: NodeEventKind,
    /// Project.
    pub service_name: String,
    /// Cluster.
    pub kube_id: String,
    /// Cluster region.
    pub region: String,
    /// Pool name.
    pub pool_name: String,
    /// Pool zone (3-AZ regions).
    pub zone: Option<String>,
    /// Pool template (labels, annotations, finalizers, taints, unschedulable) as MKS applies it.
    pub template: Value,
    /// The node.
    pub node: Node,
}

impl SimProject {
    /// Resources its nodes take (nodes that failed for lack of stock take none).
    pub(super) fn usage(&self) -> Usage {
        let mut u = Usage::default();
        for n in self
            .clusters
            .values()
            .flat_map(|c| c.pools.values())
            .flat_map(|p| p.nodes.values().map(move |n| (p.flavor, n)))
            .filter(|(_, n)| n.node.status != node_status::FLAVOR_OUT_OF_STOCK_ERROR)
        {
            u.vcpus += n.0.vcpus;
            u.ram_gb += n.0.ram_gb;
            u.instances += 1;
        }
        u
    }
}
