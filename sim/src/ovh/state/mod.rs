//! The simulated world: projects, clusters, node pools and nodes, the rules OVH enforces on
//! them, and their state machines in scaled time.
//!
//! Every mutation takes the current instant, so the rules are plain functions of the state;
//! the HTTP layer ([`super::server`]) only parses, authenticates and renders.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use super::catalog::{self, FlavorSpec, RegionSpec};
use super::error::ApiError;

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

#[derive(Clone, Debug)]
struct SimNode {
    node: Node,
    /// When INSTALLING ends.
    ready_at: Instant,
    /// No stock was available: the node ends in FLAVOR_OUT_OF_STOCK_ERROR.
    out_of_stock: bool,
    /// When a DELETING node disappears.
    gone_at: Option<Instant>,
    /// Stock location it took a unit from (returned when it goes).
    stock_location: Option<String>,
}

#[derive(Clone, Debug)]
struct SimPool {
    id: String,
    name: String,
    flavor: &'static FlavorSpec,
    desired: u32,
    min: u32,
    max: u32,
    autoscale: bool,
    anti_affinity: bool,
    monthly_billed: bool,
    availability_zones: Vec<String>,
    template: Value,
    created_at: Timestamp,
    updated_at: Timestamp,
    visible_at: Instant,
    installing_until: Instant,
    /// Still in its first INSTALLING phase.
    initial: bool,
    status: &'static str,
    /// DELETING: when the pool disappears.
    gone_at: Option<Instant>,
    nodes: BTreeMap<String, SimNode>,
}

impl SimPool {
    fn zone(&self) -> Option<&str> {
        self.availability_zones.first().map(String::as_str)
    }

    fn active(&self) -> impl Iterator<Item = &SimNode> {
        self.nodes
            .values()
            .filter(|n| n.node.status != node_status::DELETING)
    }

    fn refresh_status(&mut self, now: Instant) {
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

    fn view(&self, project_id: &str) -> Value {
        let current = self.active().count() as u32;
        let available = self
            .active()
            .filter(|n| n.node.status == node_status::READY)
            .count() as u32;
        let size_status = match available.cmp(&self.desired) {
            std::cmp::Ordering::Less => "UNDER",
            std::cmp::Ordering::Equal => "CAPACITY_OK",
            std::cmp::Ordering::Greater => "OVER",
        };
        json!({
            "id": self.id,
            "projectId": project_id,
            "name": self.name,
            "flavor": self.flavor.name,
            "status": self.status,
            "sizeStatus": size_status,
            "autoscale": self.autoscale,
            "monthlyBilled": self.monthly_billed,
            "antiAffinity": self.anti_affinity,
            "desiredNodes": self.desired,
            "minNodes": self.min,
            "maxNodes": self.max,
            "currentNodes": current,
            "availableNodes": available,
            "upToDateNodes": current,
            "availabilityZones": self.availability_zones,
            "template": self.template,
            "autoscaling": {
                "scaleDownUnneededTimeSeconds": 600,
                "scaleDownUnreadyTimeSeconds": 1200,
                "scaleDownUtilizationThreshold": 0.5
            },
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        })
    }
}

#[derive(Clone, Debug)]
struct SimCluster {
    id: String,
    name: String,
    region: &'static RegionSpec,
    version: String,
    created_at: Timestamp,
    pools: BTreeMap<String, SimPool>,
}

#[derive(Clone, Debug)]
struct SimProject {
    quota: Quota,
    clusters: BTreeMap<String, SimCluster>,
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
    config: WorldConfig,
    projects: BTreeMap<String, SimProject>,
    /// Remaining units per (flavor, location); absent = unlimited. Location = zone or region.
    stock: BTreeMap<(String, String), u32>,
    /// (flavor, location) where OVH accepts new nodes but never creates them.
    stalled: std::collections::BTreeSet<(String, String)>,
    rng: StdRng,
    events: broadcast::Sender<NodeEvent>,
}

/// Full state, for inspection.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StateSnapshot {
    /// Projects.
    pub projects: Vec<ProjectSnapshot>,
    /// Remaining stock per `flavor@location` (only limited ones).
    pub stock: BTreeMap<String, u32>,
}

/// One project in a snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectSnapshot {
    /// Project id.
    pub service_name: String,
    /// Quotas.
    pub quota: Quota,
    /// Current usage.
    pub usage: Usage,
    /// Clusters.
    pub clusters: Vec<ClusterSnapshot>,
}

/// One cluster in a snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSnapshot {
    /// As `GET /kube/{kubeId}` returns it.
    pub cluster: Value,
    /// Pools, including those not yet visible through GET.
    pub pools: Vec<PoolSnapshot>,
}

/// One pool in a snapshot.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolSnapshot {
    /// As `GET /nodepool/{id}` returns it.
    pub pool: Value,
    /// Whether GET shows it yet.
    pub visible: bool,
    /// Its nodes, as `GET /nodepool/{id}/nodes` returns them.
    pub nodes: Vec<Node>,
}

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

fn valid_pool_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

/// Keys a pool-create body may carry.
const CREATE_KEYS: &[&str] = &[
    "name",
    "flavorName",
    "desiredNodes",
    "minNodes",
    "maxNodes",
    "autoscale",
    "autoscaling",
    "antiAffinity",
    "monthlyBilled",
    "availabilityZones",
    "template",
    "attachFloatingIps",
];
/// Keys a pool-update body may carry.
const UPDATE_KEYS: &[&str] = &[
    "desiredNodes",
    "minNodes",
    "maxNodes",
    "autoscale",
    "autoscaling",
    "nodesToRemove",
    "template",
];
/// Keys that exist on a pool but cannot change after creation.
const IMMUTABLE_KEYS: &[&str] = &[
    "name",
    "flavorName",
    "flavor",
    "antiAffinity",
    "monthlyBilled",
    "availabilityZones",
];

fn body_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("Invalid body: a JSON object is expected"))
}

fn opt_u32(obj: &Map<String, Value>, key: &str) -> Result<Option<u32>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "Invalid parameter {key}: a non-negative integer is expected"
                ))
            }),
    }
}

fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid parameter {key}: a boolean is expected"
        ))),
    }
}

fn mandatory(path: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid parameter {path}: property is mandatory (the template must carry every field, even empty)"
    ))
}

fn string_map(v: Option<&Value>, path: &str) -> Result<(), ApiError> {
    let obj = v
        .ok_or_else(|| mandatory(path))?
        .as_object()
        .ok_or_else(|| {
            ApiError::bad_request(format!("Invalid parameter {path}: an object is expected"))
        })?;
    if obj.values().all(Value::is_string) {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "Invalid parameter {path}: values must be strings"
        )))
    }
}

/// Checks a node pool template carries every field OVH requires, with valid types, and returns
/// it as MKS stores it (dropped label prefixes removed).
fn validate_template(template: Option<&Value>, dropped: &[String]) -> Result<Value, ApiError> {
    let template = template.ok_or_else(|| mandatory("template"))?;
    let metadata = template
        .get("metadata")
        .ok_or_else(|| mandatory("template.metadata"))?;
    string_map(metadata.get("labels"), "template.metadata.labels")?;
    string_map(metadata.get("annotations"), "template.metadata.annotations")?;
    let finalizers = metadata
        .get("finalizers")
        .ok_or_else(|| mandatory("template.metadata.finalizers"))?;
    if !finalizers
        .as_array()
        .is_some_and(|a| a.iter().all(Value::is_string))
    {
        return Err(ApiError::bad_request(
            "Invalid parameter template.metadata.finalizers: an array of strings is expected",
        ));
    }
    let spec = template
        .get("spec")
        .ok_or_else(|| mandatory("template.spec"))?;
    if !spec
        .get("unschedulable")
        .ok_or_else(|| mandatory("template.spec.unschedulable"))?
        .is_boolean()
    {
        return Err(ApiError::bad_request(
            "Invalid parameter template.spec.unschedulable: a boolean is expected",
        ));
    }
    let taints = spec
        .get("taints")
        .ok_or_else(|| mandatory("template.spec.taints"))?
        .as_array()
        .ok_or_else(|| {
            ApiError::bad_request("Invalid parameter template.spec.taints: an array is expected")
        })?;
    for taint in taints {
        let key_ok = taint
            .get("key")
            .and_then(Value::as_str)
            .is_some_and(|k| !k.is_empty());
        let effect_ok = matches!(
            taint.get("effect").and_then(Value::as_str),
            Some("NoSchedule" | "PreferNoSchedule" | "NoExecute")
        );
        if !key_ok || !effect_ok {
            return Err(ApiError::bad_request(format!(
                "Invalid parameter template.spec.taints: invalid taint {taint}"
            )));
        }
    }
    let mut stored = template.clone();
    if let Some(labels) = stored["metadata"]["labels"].as_object_mut() {
        labels.retain(|k, _| !dropped.iter().any(|p| k.starts_with(p.as_str())));
    }
    Ok(stored)
}

fn check_sizes(
    desired: u32,
    min: u32,
    max: u32,
    anti_affinity: bool,
    autoscale: bool,
) -> Result<(), ApiError> {
    if max > MAX_NODES_PER_POOL || desired > MAX_NODES_PER_POOL {
        return Err(ApiError::bad_request(format!(
            "A node pool cannot have more than {MAX_NODES_PER_POOL} nodes (maxNodes {max}, desiredNodes {desired})"
        )));
    }
    if anti_affinity && (max > MAX_ANTI_AFFINITY_NODES || desired > MAX_ANTI_AFFINITY_NODES) {
        return Err(ApiError::bad_request(format!(
            "An anti-affinity node pool cannot have more than {MAX_ANTI_AFFINITY_NODES} nodes (maxNodes {max}, desiredNodes {desired})"
        )));
    }
    if min > max {
        return Err(ApiError::bad_request(format!(
            "minNodes ({min}) must be lower than or equal to maxNodes ({max})"
        )));
    }
    if !autoscale && (desired < min || desired > max) {
        return Err(ApiError::bad_request(format!(
            "desiredNodes ({desired}) must be between minNodes ({min}) and maxNodes ({max})"
        )));
    }
    Ok(())
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

    fn real(&self, guide: Duration) -> Duration {
        guide.div_f64(self.config.time_scale)
    }

    fn cluster(&self, sn: &str, kube: &str) -> Result<&SimCluster, ApiError> {
        self.projects
            .get(sn)
            .ok_or_else(|| ApiError::not_found(format!("This service does not exist ({sn})")))?
            .clusters
            .get(kube)
            .ok_or_else(|| ApiError::not_found(format!("This cluster does not exist ({kube})")))
    }

    fn cluster_mut(&mut self, sn: &str, kube: &str) -> Result<&mut SimCluster, ApiError> {
        self.projects
            .get_mut(sn)
            .ok_or_else(|| ApiError::not_found(format!("This service does not exist ({sn})")))?
            .clusters
            .get_mut(kube)
            .ok_or_else(|| ApiError::not_found(format!("This cluster does not exist ({kube})")))
    }

    fn pool_not_found(id: &str) -> ApiError {
        ApiError::not_found(format!("Node pool {id} not found"))
    }

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

    /// `GET /kube/{kubeId}`.
    pub fn get_cluster(&self, sn: &str, kube: &str) -> Result<Value, ApiError> {
        Ok(Self::cluster_view(self.cluster(sn, kube)?))
    }

    fn cluster_view(c: &SimCluster) -> Value {
        let region = c.region.name.to_ascii_lowercase();
        json!({
            "id": c.id,
            "name": c.name,
            "region": c.region.name,
            "version": c.version,
            "status": "READY",
            "url": format!("{}.c1.{region}.k8s.ovh.net", c.id),
            "nodesUrl": format!("{}.nodes.c1.{region}.k8s.ovh.net", c.id),
            "isUpToDate": true,
            "controlPlaneIsUpToDate": true,
            "updatePolicy": "ALWAYS_UPDATE",
            "kubeProxyMode": "iptables",
            "privateNetworkId": null,
            "createdAt": c.created_at,
            "updatedAt": c.created_at,
        })
    }

    /// `GET /nodepool`.
    pub fn list_pools(&self, sn: &str, kube: &str, now: Instant) -> Result<Value, ApiError> {
        let c = self.cluster(sn, kube)?;
        Ok(Value::Array(
            c.pools
                .values()
                .filter(|p| now >= p.visible_at)
                .map(|p| p.view(sn))
                .collect(),
        ))
    }

    /// `GET /nodepool/{id}`.
    pub fn get_pool(
        &self,
        sn: &str,
        kube: &str,
        id: &str,
        now: Instant,
    ) -> Result<Value, ApiError> {
        Ok(Self::visible_pool(self.cluster(sn, kube)?, id, now)?.view(sn))
    }

    /// `GET /nodepool/{id}/nodes`.
    pub fn pool_nodes(
        &self,
        sn: &str,
        kube: &str,
        id: &str,
        now: Instant,
    ) -> Result<Vec<Node>, ApiError> {
        let pool = Self::visible_pool(self.cluster(sn, kube)?, id, now)?;
        Ok(pool.nodes.values().map(|n| n.node.clone()).collect())
    }

    /// `GET /node`: nodes of every pool of the cluster.
    pub fn cluster_nodes(&self, sn: &str, kube: &str) -> Result<Vec<Node>, ApiError> {
        let c = self.cluster(sn, kube)?;
        Ok(c.pools
            .values()
            .flat_map(|p| p.nodes.values().map(|n| n.node.clone()))
            .collect())
    }

    /// `GET /node/{nodeId}`.
    pub fn get_node(&self, sn: &str, kube: &str, node_id: &str) -> Result<Node, ApiError> {
        self.cluster_nodes(sn, kube)?
            .into_iter()
            .find(|n| n.id == node_id)
            .ok_or_else(|| ApiError::not_found(format!("Node {node_id} not found")))
    }

    /// Flavors of a region, as `GET /flavors` and the capabilities endpoint return them.
    pub fn region_flavors(&self, region: &str) -> Result<Value, ApiError> {
        let region = catalog::region(region)
            .ok_or_else(|| ApiError::bad_request(format!("Invalid region {region}")))?;
        let locations: Vec<String> = if region.is_multi_zone() {
            region.zones()
        } else {
            vec![region.name.to_string()]
        };
        Ok(Value::Array(
            catalog::FLAVORS
                .iter()
                .map(|f| {
                    let out = locations
                        .iter()
                        .all(|l| self.stock.get(&(f.name.to_string(), l.clone())) == Some(&0));
                    json!({
                        "name": f.name,
                        "category": f.category(),
                        "state": if out { "unavailable" } else { "available" },
                        "gpus": f.gpus,
                        "vCPUs": f.vcpus,
                        "ram": f.ram_gb,
                    })
                })
                .collect(),
        ))
    }

    /// `GET /kube/{kubeId}/flavors`.
    pub fn cluster_flavors(&self, sn: &str, kube: &str) -> Result<Value, ApiError> {
        let region = self.cluster(sn, kube)?.region.name;
        self.region_flavors(region)
    }

    fn usage(project: &SimProject) -> Usage {
        let mut u = Usage::default();
        for n in project
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

    fn check_quota(&self, sn: &str, flavor: &FlavorSpec, extra: u32) -> Result<(), ApiError> {
        if extra == 0 {
            return Ok(());
        }
        let Some(project) = self.projects.get(sn) else {
            return Ok(());
        };
        let used = Self::usage(project);
        let q = &project.quota;
        let checks = [
            (
                "InsufficientVCPUsQuota",
                "vCPUs",
                used.vcpus,
                flavor.vcpus * extra,
                q.max_vcpus,
            ),
            (
                "InsufficientRAMQuota",
                "GB of RAM",
                used.ram_gb,
                flavor.ram_gb * extra,
                q.max_ram_gb,
            ),
            (
                "InsufficientInstancesQuota",
                "instances",
                used.instances,
                extra,
                q.max_instances,
            ),
        ];
        for (code, what, used, asked, max) in checks {
            if let Some(max) = max {
                if used + asked > max {
                    return Err(ApiError::precondition_failed(format!(
                        "{code}: not enough quota to create {extra} {} node(s): {asked} {what} requested, {used} used of {max}",
                        flavor.name
                    )));
                }
            }
        }
        Ok(())
    }

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

    #[allow(clippy::too_many_arguments)]
    fn new_node(
        &mut self,
        sn: &str,
        pool_id: &str,
        pool_name: &str,
        flavor: &'static FlavorSpec,
        location: &str,
        version: &str,
        now: Instant,
    ) -> SimNode {
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

    fn event(&self, kind: NodeEventKind, sn: &str, c: &SimCluster, p: &SimPool, node: &Node) {
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
        let mut created = Vec::new();
        for _ in 0..count {
            created.push(self.new_node(sn, pool_id, &name, flavor, &location, &version, now));
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
        let obj = body_object(body)?;
        if let Some(key) = obj.keys().find(|k| !CREATE_KEYS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("Unknown parameter {key}")));
        }
        let region = self.cluster(sn, kube)?.region;
        let flavor_name = obj
            .get("flavorName")
            .and_then(Value::as_str)
            .ok_or_else(|| mandatory("flavorName"))?;
        let flavor = catalog::flavor(flavor_name).ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid parameter flavorName: flavor {flavor_name} is not available in region {}",
                region.name
            ))
        })?;
        let name = match obj.get("name") {
            None | Some(Value::Null) => format!("nodepool-{}", hex::encode(self.rng.random::<[u8; 3]>())),
            Some(Value::String(s)) if valid_pool_name(s) => s.clone(),
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "Invalid parameter name: {other} must match ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ and have at most 63 characters"
                )))
            }
        };
        let autoscale = opt_bool(obj, "autoscale")?.unwrap_or(false);
        let anti_affinity = opt_bool(obj, "antiAffinity")?.unwrap_or(false);
        let monthly = opt_bool(obj, "monthlyBilled")?.unwrap_or(false);
        let min = opt_u32(obj, "minNodes")?.unwrap_or(0);
        let max = opt_u32(obj, "maxNodes")?.unwrap_or(if anti_affinity {
            MAX_ANTI_AFFINITY_NODES
        } else {
            MAX_NODES_PER_POOL
        });
        let desired = opt_u32(obj, "desiredNodes")?.unwrap_or(min.max(1));
        check_sizes(desired, min, max, anti_affinity, autoscale)?;
        if monthly && !flavor.monthly_allowed() {
            return Err(ApiError::bad_request(format!(
                "Monthly billing is only available on generation 2 flavors ({}), not on {}",
                catalog::MONTHLY_FAMILIES.join(", "),
                flavor.name
            )));
        }
        let zones: Vec<String> = match obj.get("availabilityZones") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a
                .iter()
                .map(|z| z.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "Invalid parameter availabilityZones: an array of strings is expected",
                    )
                })?,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "Invalid parameter availabilityZones: an array of strings is expected",
                ))
            }
        };
        if region.is_multi_zone() {
            let valid = region.zones();
            if zones.len() != 1 || !valid.contains(&zones[0]) {
                return Err(ApiError::bad_request(format!(
                    "Invalid parameter availabilityZones: region {} requires exactly one availability zone among {}",
                    region.name,
                    valid.join(", ")
                )));
            }
        } else if !zones.is_empty() {
            return Err(ApiError::bad_request(format!(
                "Invalid parameter availabilityZones: region {} has a single availability zone and does not accept availabilityZones",
                region.name
            )));
        }
        let template = validate_template(obj.get("template"), &self.config.dropped_label_prefixes)?;
        let cluster = self.cluster(sn, kube)?;
        let live_pools = cluster.pools.len() as u32;
        if cluster.pools.values().any(|p| p.name == name) {
            return Err(ApiError::conflict(format!(
                "A node pool named {name} already exists in this cluster"
            )));
        }
        if live_pools >= self.config.max_pools_per_cluster {
            return Err(ApiError::precondition_failed(format!(
                "MaxNodePoolsReached: this cluster already has the maximum of {} node pools",
                self.config.max_pools_per_cluster
            )));
        }
        self.check_quota(sn, flavor, desired)?;

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
        let obj = body_object(body)?;
        if let Some(key) = obj.keys().find(|k| IMMUTABLE_KEYS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!(
                "Invalid parameter {key}: this property cannot be updated after the node pool is created"
            )));
        }
        if let Some(key) = obj.keys().find(|k| !UPDATE_KEYS.contains(&k.as_str())) {
            return Err(ApiError::bad_request(format!("Unknown parameter {key}")));
        }
        let strict = self.config.strict_busy_put;
        let dropped = self.config.dropped_label_prefixes.clone();
        let pool = Self::visible_pool(self.cluster(sn, kube)?, id, now)?;
        if pool.status == pool_status::DELETING {
            return Err(ApiError::bad_request(format!(
                "Node pool {} is being deleted and cannot be updated",
                pool.name
            )));
        }
        if strict && pool.status != pool_status::READY {
            return Err(ApiError::conflict(format!(
                "Node pool {} is {}: wait for it to be READY before updating it",
                pool.name, pool.status
            )));
        }
        let autoscale = opt_bool(obj, "autoscale")?.unwrap_or(pool.autoscale);
        let min = opt_u32(obj, "minNodes")?.unwrap_or(pool.min);
        let max = opt_u32(obj, "maxNodes")?.unwrap_or(pool.max);
        let desired_in = opt_u32(obj, "desiredNodes")?;
        let template = match obj.get("template") {
            None | Some(Value::Null) => None,
            t => Some(validate_template(t, &dropped)?),
        };
        let mut to_remove: Vec<String> = Vec::new();
        match obj.get("nodesToRemove") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                if desired_in.is_none() {
                    return Err(ApiError::bad_request(
                        "Invalid parameter nodesToRemove: desiredNodes must be given with nodesToRemove",
                    ));
                }
                for item in items {
                    let key = item.as_str().ok_or_else(|| {
                        ApiError::bad_request(
                            "Invalid parameter nodesToRemove: an array of strings is expected",
                        )
                    })?;
                    let node = pool
                        .active()
                        .find(|n| {
                            n.node.id == key || n.node.name == key || n.node.instance_id == key
                        })
                        .ok_or_else(|| {
                            ApiError::bad_request(format!(
                                "Invalid parameter nodesToRemove: node {key} is not an active node of node pool {}",
                                pool.name
                            ))
                        })?;
                    if !to_remove.contains(&node.node.id) {
                        to_remove.push(node.node.id.clone());
                    }
                }
            }
            Some(_) => {
                return Err(ApiError::bad_request(
                    "Invalid parameter nodesToRemove: an array of strings is expected",
                ))
            }
        }
        let desired = desired_in.unwrap_or(pool.desired);
        check_sizes(desired, min, max, pool.anti_affinity, autoscale)?;
        let active = pool.active().count() as u32;
        let remaining = active - to_remove.len() as u32;
        let to_add = desired.saturating_sub(remaining);
        let flavor = pool.flavor;
        self.check_quota(sn, flavor, to_add)?;

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
        match pool.status {
            pool_status::UPSCALING => {
                return Err(ApiError::bad_request(format!(
                    "Node pool {} is UPSCALING and cannot be deleted now, retry when the operation is over",
                    pool.name
                )))
            }
            pool_status::DELETING => {
                return Err(ApiError::bad_request(format!(
                    "Node pool {} is already being deleted",
                    pool.name
                )))
            }
            _ => {}
        }
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
        if node.node.status == node_status::DELETING {
            return Err(ApiError::bad_request(format!(
                "Node {} is already being deleted",
                node.node.name
            )));
        }
        Self::start_node_delete(node, gone_at);
        pool.desired = pool.desired.saturating_sub(1);
        pool.min = pool.min.min(pool.desired);
        pool.updated_at = Timestamp::now();
        pool.refresh_status(now);
        Ok(())
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

    /// Full state, including pools not yet visible through GET.
    pub fn snapshot(&self, now: Instant) -> StateSnapshot {
        StateSnapshot {
            projects: self
                .projects
                .iter()
                .map(|(sn, p)| ProjectSnapshot {
                    service_name: sn.clone(),
                    quota: p.quota.clone(),
                    usage: Self::usage(p),
                    clusters: p
                        .clusters
                        .values()
                        .map(|c| ClusterSnapshot {
                            cluster: Self::cluster_view(c),
                            pools: c
                                .pools
                                .values()
                                .map(|pool| PoolSnapshot {
                                    pool: pool.view(sn),
                                    visible: now >= pool.visible_at,
                                    nodes: pool.nodes.values().map(|n| n.node.clone()).collect(),
                                })
                                .collect(),
                        })
                        .collect(),
                })
                .collect(),
            stock: self
                .stock
                .iter()
                .map(|((f, l), n)| (format!("{f}@{l}"), *n))
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_look_like_v4() {
        let mut rng = StdRng::seed_from_u64(1);
        let id = uuid(&mut rng);
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
    }

    #[test]
    fn pool_names_follow_dns_labels() {
        assert!(valid_pool_name("karpenter-b3-8-eu-west-par-a"));
        assert!(!valid_pool_name("Karpenter"));
        assert!(!valid_pool_name("-a"));
        assert!(!valid_pool_name(""));
        assert!(!valid_pool_name(&"a".repeat(64)));
    }

    #[test]
    fn template_requires_every_field() {
        let full = json!({"metadata": {"labels": {"karpenter.sh/nodepool": "x", "a": "b"}, "annotations": {}, "finalizers": []},
                          "spec": {"unschedulable": false, "taints": []}});
        let stored = validate_template(Some(&full), &["karpenter.sh/".into()]).unwrap();
        assert_eq!(stored["metadata"]["labels"], json!({"a": "b"}));
        for path in [
            "/metadata/labels",
            "/metadata/annotations",
            "/metadata/finalizers",
            "/spec/unschedulable",
            "/spec/taints",
        ] {
            let mut t = full.clone();
            let (parent, leaf) = path.rsplit_once('/').unwrap();
            t.pointer_mut(parent)
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove(leaf);
            let err = validate_template(Some(&t), &[]).unwrap_err();
            assert_eq!(err.status, http::StatusCode::BAD_REQUEST);
            assert!(
                err.message
                    .contains(&format!("template{}", path.replace('/', "."))),
                "{}",
                err.message
            );
        }
    }
}
