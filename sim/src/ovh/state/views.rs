//! Views: the world as OVH's GET endpoints return it (clusters, pools, nodes, flavors) and the
//! full inspection snapshot (`GET /_sim/state`).

use std::collections::BTreeMap;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::model::{node_status, Node, Quota, SimCluster, SimPool, Usage};
use super::World;
use crate::ovh::catalog;
use crate::ovh::error::ApiError;

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

impl SimPool {
    /// The pool as `GET /nodepool/{id}` returns it.
    pub(super) fn view(&self, project_id: &str) -> Value {
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

impl World {
    /// `GET /kube/{kubeId}`.
    pub fn get_cluster(&self, sn: &str, kube: &str) -> Result<Value, ApiError> {
        Ok(Self::cluster_view(self.cluster(sn, kube)?))
    }

    /// The cluster as `GET /kube/{kubeId}` returns it.
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

    /// Full state, including pools not yet visible through GET.
    pub fn snapshot(&self, now: Instant) -> StateSnapshot {
        StateSnapshot {
            projects: self
                .projects
                .iter()
                .map(|(sn, p)| ProjectSnapshot {
                    service_name: sn.clone(),
                    quota: p.quota.clone(),
                    usage: p.usage(),
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
