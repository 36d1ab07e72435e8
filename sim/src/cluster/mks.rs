//! MKS behaviour: the link between the simulated OVH API and the cluster.
//!
//! When an OVH node turns READY a Node appears, named like the OVH node, with providerID
//! `openstack:///{instanceId}`, the labels MKS sets (hostname, instance type = flavor, region
//! and zone, arch/os, pool name), the pool template's labels (MKS drops `karpenter.sh/*`,
//! which the OVH simulator already did), annotations, finalizers and taints, capacity from the
//! flavor and allocatable after MKS-like reservations. The node's kubelet
//! ([`super::kubelet`]) turns it Ready after a delay. An OVH node being deleted is cordoned
//! and drained through the Eviction API (PDBs respected); once OVH has removed it, its Node
//! is deleted (finalizers on the Node hold it until their owner lets go).

use super::api::{name_of, Api};
use super::kubelet::NOT_READY_TAINT;
use super::model::{Labels, Resources};
use super::Reconciler;
use crate::kube::{subresources, WatchEvent};
use crate::ovh::catalog::{self, FlavorSpec};
use crate::ovh::state::node_status;
use crate::ovh::{Node, OvhSim};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Label MKS sets on a Node: the name of its node pool.
pub const NODEPOOL_LABEL: &str = "nodepool";
/// Label MKS sets on a Node: `standard` or `gpu`.
pub const NODE_TYPE_LABEL: &str = "node.k8s.ovh/type";
/// Prefix of a Node's providerID on MKS.
pub const PROVIDER_ID_PREFIX: &str = "openstack:///";
const COMPONENT: &str = "mks-node-controller";
const GIB: i64 = 1 << 30;
const MIB: i64 = 1 << 20;

/// Capacity of a node of a flavor, as its kubelet reports it: vCPUs, RAM minus what the
/// kernel keeps (2.5%), a disk sized with the flavor, 110 pods, its GPUs.
pub fn capacity(f: &FlavorSpec) -> Resources {
    let ram = i64::from(f.ram_gb) * GIB;
    let disk_gib = (i64::from(f.ram_gb) * 25 / 4).clamp(50, 400);
    Resources {
        cpu_millis: i64::from(f.vcpus) * 1000,
        memory: (ram - ram / 40) / 1024 * 1024,
        ephemeral_storage: disk_gib * GIB,
        gpu: i64::from(f.gpus),
        pods: 110,
    }
}

/// Sum over bands `(upper bound, per-mille)` of the part of `amount` in each band.
fn banded(amount: i64, bands: &[(i64, i64)], per: i64) -> i64 {
    let mut lower = 0;
    let mut total: i128 = 0;
    for &(upper, share) in bands {
        if amount <= lower {
            break;
        }
        total += i128::from(amount.min(upper) - lower) * i128::from(share);
        lower = upper;
    }
    (total / i128::from(per)) as i64
}

/// Allocatable after MKS-like reservations: kube-reserved CPU (6% of the first core, 1% of
/// the second, 0.5% of the next two, 0.25% above), kube-reserved memory (25% of the first
/// 4 GiB, 20% of the next 4, 10% of the next 8, 6% up to 128 GiB, 2% above), a 100Mi
/// eviction threshold, 10% of the disk for nodefs eviction.
pub fn allocatable(cap: &Resources) -> Resources {
    let cpu_reserved = banded(
        cap.cpu_millis,
        &[(1000, 600), (2000, 100), (4000, 50), (i64::MAX, 25)],
        10_000,
    );
    let mem_reserved = banded(
        cap.memory,
        &[
            (4 * GIB, 250),
            (8 * GIB, 200),
            (16 * GIB, 100),
            (128 * GIB, 60),
            (i64::MAX, 20),
        ],
        1000,
    );
    Resources {
        cpu_millis: cap.cpu_millis - cpu_reserved,
        memory: (cap.memory - mem_reserved - 100 * MIB) / 1024 * 1024,
        ephemeral_storage: cap.ephemeral_storage - cap.ephemeral_storage / 10,
        gpu: cap.gpu,
        pods: cap.pods,
    }
}

/// What MKS knows of an OVH node: the node, its pool's name, zone and template.
#[derive(Clone, Debug)]
pub struct OvhNode {
    /// The OVH node.
    pub node: Node,
    /// Pool name.
    pub pool: String,
    /// Pool zone (3-AZ regions).
    pub zone: Option<String>,
    /// Pool template as MKS applies it.
    pub template: Value,
}

/// The Node object MKS registers for an OVH node (`index` numbers its addresses).
pub fn node_object(n: &OvhNode, region: &str, index: u32) -> Value {
    let flavor = catalog::flavor(&n.node.flavor);
    let cap = flavor.map(capacity).unwrap_or_default();
    let region_l = region.to_ascii_lowercase();
    let zone = n.zone.clone().unwrap_or_else(|| region_l.clone());
    let gpu = flavor.is_some_and(|f| f.is_gpu());
    let mut labels: Labels = super::model::string_map(&n.template["metadata"]["labels"]);
    for (k, v) in [
        ("kubernetes.io/hostname", n.node.name.as_str()),
        ("kubernetes.io/arch", "amd64"),
        ("kubernetes.io/os", "linux"),
        ("beta.kubernetes.io/arch", "amd64"),
        ("beta.kubernetes.io/os", "linux"),
        ("node.kubernetes.io/instance-type", n.node.flavor.as_str()),
        ("beta.kubernetes.io/instance-type", n.node.flavor.as_str()),
        ("topology.kubernetes.io/region", region_l.as_str()),
        (
            "failure-domain.beta.kubernetes.io/region",
            region_l.as_str(),
        ),
        ("topology.kubernetes.io/zone", zone.as_str()),
        ("failure-domain.beta.kubernetes.io/zone", zone.as_str()),
        (NODEPOOL_LABEL, n.pool.as_str()),
        (NODE_TYPE_LABEL, if gpu { "gpu" } else { "standard" }),
    ] {
        labels.insert(k.to_string(), v.to_string());
    }
    let mut annotations = n.template["metadata"]["annotations"].clone();
    if !annotations.is_object() {
        annotations = json!({});
    }
    annotations["node.alpha.kubernetes.io/ttl"] = json!("0");
    annotations["volumes.kubernetes.io/controller-managed-attach-detach"] = json!("true");
    let mut taints: Vec<Value> = n.template["spec"]["taints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    taints.push(json!({"key": NOT_READY_TAINT, "effect": "NoSchedule"}));
    let (hi, lo) = (index / 250 % 250, index % 250 + 10);
    let ip = format!("10.0.{hi}.{lo}");
    let now = crate::kube::store::now();
    let mut meta = json!({"name": n.node.name, "labels": labels, "annotations": annotations});
    if let Some(f) = n.template["metadata"]["finalizers"]
        .as_array()
        .filter(|f| !f.is_empty())
    {
        meta["finalizers"] = json!(f);
    }
    json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": meta,
        "spec": {
            "providerID": format!("{PROVIDER_ID_PREFIX}{}", n.node.instance_id),
            "podCIDR": format!("10.2.{hi}.0/24"), "podCIDRs": [format!("10.2.{hi}.0/24")],
            "taints": taints,
            "unschedulable": n.template["spec"]["unschedulable"].as_bool().unwrap_or(false),
        },
        "status": {
            "capacity": cap.to_list(),
            "allocatable": allocatable(&cap).to_list(),
            "conditions": [{
                "type": "Ready", "status": "False", "reason": "KubeletNotReady",
                "message": "container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized",
                "lastHeartbeatTime": now, "lastTransitionTime": now,
            }],
            "addresses": [{"type": "InternalIP", "address": ip}, {"type": "Hostname", "address": n.node.name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64", "operatingSystem": "linux",
                "osImage": "Ubuntu 22.04.5 LTS", "kernelVersion": "5.15.0-125-generic",
                "containerRuntimeVersion": "containerd://1.7.22",
                "kubeletVersion": format!("v{}.4", n.node.version), "kubeProxyVersion": format!("v{}.4", n.node.version),
                "machineID": n.node.id.replace('-', ""), "systemUUID": n.node.instance_id,
                "bootID": n.node.id,
            },
        },
    })
}

/// The MKS node controller of one cluster.
pub(crate) struct Mks {
    api: Api,
    ovh: Arc<OvhSim>,
    service_name: String,
    kube_id: String,
    region: String,
    index: HashMap<String, u32>,
}

impl Mks {
    pub fn new(
        api: Api,
        ovh: Arc<OvhSim>,
        service_name: &str,
        kube_id: &str,
        region: &str,
    ) -> Self {
        Mks {
            api,
            ovh,
            service_name: service_name.into(),
            kube_id: kube_id.into(),
            region: region.into(),
            index: HashMap::new(),
        }
    }

    /// OVH nodes of our cluster.
    fn ovh_nodes(&self) -> Vec<OvhNode> {
        let snap = self.ovh.state();
        let mut out = Vec::new();
        for p in snap
            .projects
            .iter()
            .filter(|p| p.service_name == self.service_name)
        {
            for c in p
                .clusters
                .iter()
                .filter(|c| c.cluster["id"] == self.kube_id.as_str())
            {
                for pool in &c.pools {
                    for n in &pool.nodes {
                        out.push(OvhNode {
                            node: n.clone(),
                            pool: pool.pool["name"].as_str().unwrap_or_default().to_string(),
                            zone: pool.pool["availabilityZones"][0].as_str().map(String::from),
                            template: pool.pool["template"].clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Cordons a node OVH is deleting and evicts its pods (DaemonSet pods stay, as
    /// `kubectl drain --ignore-daemonsets` leaves them).
    fn drain(&self, node: &Value) {
        let name = name_of(node);
        if node["spec"]["unschedulable"] != json!(true) {
            let _ = self.api.merge(
                &self.api.nodes,
                "",
                name,
                &json!({"spec": {"unschedulable": true}}),
                None,
                COMPONENT,
            );
            self.api.event(
                node,
                "Normal",
                "NodeNotSchedulable",
                &format!("Node {name} status is now: NodeNotSchedulable"),
                COMPONENT,
                None,
            );
        }
        for p in self.api.all(&self.api.pods) {
            let v = &p.value;
            if v["spec"]["nodeName"] != name || !v["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let daemon = v["metadata"]["ownerReferences"]
                .as_array()
                .is_some_and(|o| {
                    o.iter()
                        .any(|r| r["kind"] == "DaemonSet" && r["controller"] == json!(true))
                });
            if daemon {
                continue;
            }
            let eviction = json!({"apiVersion": "policy/v1", "kind": "Eviction",
                                  "metadata": {"name": name_of(v), "namespace": v["metadata"]["namespace"]}});
            let _ =
                subresources::evict(&self.api.store, super::api::ns_of(v), name_of(v), &eviction);
        }
    }
}

impl Reconciler for Mks {
    fn interested(&self, ev: &WatchEvent) -> bool {
        ev.storage == self.api.nodes.storage
    }

    fn reconcile(&mut self) -> Option<Duration> {
        let ovh = self.ovh_nodes();
        let nodes = self.api.all(&self.api.nodes);
        let existing: HashMap<&str, &Value> = nodes
            .iter()
            .map(|n| (name_of(&n.value), &n.value))
            .collect();
        let mut draining = false;
        let mut wanted = HashSet::new();
        for n in &ovh {
            // A node exists in Kubernetes from its first READY until OVH has removed it.
            if n.node.deployed_at.is_none()
                || n.node.status == node_status::FLAVOR_OUT_OF_STOCK_ERROR
            {
                continue;
            }
            wanted.insert(n.node.name.as_str());
            match existing.get(n.node.name.as_str()) {
                None if n.node.status == node_status::READY => {
                    let next = self.index.len() as u32 + 1;
                    let idx = *self.index.entry(n.node.name.clone()).or_insert(next);
                    let body = node_object(n, &self.region, idx);
                    match self.api.create(&self.api.nodes, "", body, COMPONENT) {
                        Ok(created) => {
                            // Status is written like a kubelet does, through the subresource.
                            let _ = self.api.merge(
                                &self.api.nodes,
                                "",
                                &n.node.name,
                                &json!({"status": node_object(n, &self.region, idx)["status"]}),
                                Some("status"),
                                "kubelet",
                            );
                            self.api.event(
                                &created.value,
                                "Normal",
                                "RegisteredNode",
                                &format!(
                                    "Node {} event: Registered Node {} in Controller",
                                    n.node.name, n.node.name
                                ),
                                "node-controller",
                                None,
                            );
                        }
                        Err(e) => {
                            tracing::warn!(node = %n.node.name, error = %e.message, "registering node")
                        }
                    }
                }
                Some(node) if n.node.status == node_status::DELETING => {
                    self.drain(node);
                    draining = true;
                }
                _ => {}
            }
        }
        for (name, node) in &existing {
            let managed = node["spec"]["providerID"]
                .as_str()
                .is_some_and(|p| p.starts_with(PROVIDER_ID_PREFIX))
                && node["metadata"]["labels"][NODEPOOL_LABEL].is_string();
            if managed && !wanted.contains(name) && node["metadata"]["deletionTimestamp"].is_null()
            {
                let _ = self.api.delete(&self.api.nodes, "", name, None);
            }
        }
        // Drains retry evictions a PDB refused.
        draining.then(|| Duration::from_millis(200))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocatable_leaves_room_for_the_guide_workloads() {
        let b3_8 = allocatable(&capacity(catalog::flavor("b3-8").unwrap()));
        assert_eq!(b3_8.cpu_millis, 1930);
        // inflate: 3 x 500m / 512Mi on one b3-8.
        assert!(b3_8.cpu_millis >= 1500 && b3_8.memory >= 3 * 512 * MIB);
        let b3_16 = allocatable(&capacity(catalog::flavor("b3-16").unwrap()));
        let b3_32 = allocatable(&capacity(catalog::flavor("b3-32").unwrap()));
        // large-workload: 6 CPU / 24Gi needs b3-32.
        assert!(b3_16.cpu_millis < 6000);
        assert!(b3_32.cpu_millis >= 6000 && b3_32.memory >= 24 * GIB);
        let cap = capacity(catalog::flavor("b3-8").unwrap());
        assert!(b3_8.memory < cap.memory && b3_8.memory > 5 * GIB);
    }
}
