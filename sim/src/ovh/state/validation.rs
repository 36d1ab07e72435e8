//! Validation: request checks (body shape, known and immutable keys, templates, sizes) and
//! the OVH rule errors that depend on the world (pool limits, name clashes, quotas, busy or
//! deleting pools). Each check runs before the model changes, in the order OVH reports them,
//! so the first rule broken is the error returned.

use std::time::Instant;

use rand::Rng;
use serde_json::{Map, Value};

use super::model::{
    node_status, pool_status, SimNode, SimPool, MAX_ANTI_AFFINITY_NODES, MAX_NODES_PER_POOL,
};
use super::World;
use crate::ovh::catalog::{self, FlavorSpec};
use crate::ovh::error::ApiError;

/// A DNS label of at most 63 characters, as OVH requires of pool names.
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

/// The body as a JSON object.
fn body_object(body: &Value) -> Result<&Map<String, Value>, ApiError> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("Invalid body: a JSON object is expected"))
}

/// An optional non-negative integer parameter.
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

/// An optional boolean parameter.
fn opt_bool(obj: &Map<String, Value>, key: &str) -> Result<Option<bool>, ApiError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(ApiError::bad_request(format!(
            "Invalid parameter {key}: a boolean is expected"
        ))),
    }
}

/// OVH's error for a missing required property.
fn mandatory(path: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid parameter {path}: property is mandatory (the template must carry every field, even empty)"
    ))
}

/// A required map of strings (template labels and annotations).
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

/// The node-count rules: per-pool limits (lower with anti-affinity), min <= max, and
/// desiredNodes within them unless autoscaling.
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

/// A `POST /nodepool` request that passed every check: what the new pool is made of.
pub(super) struct PoolCreate {
    /// Pool name (given, or generated).
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
    pub(super) monthly: bool,
    /// `availabilityZones` (one zone in 3-AZ regions, none otherwise).
    pub(super) zones: Vec<String>,
    /// The template as MKS stores it.
    pub(super) template: Value,
}

/// A `PUT /nodepool/{id}` request that passed every check: the pool's new settings and the
/// node changes they imply.
pub(super) struct PoolUpdate {
    /// `autoscale`.
    pub(super) autoscale: bool,
    /// `minNodes`.
    pub(super) min: u32,
    /// `maxNodes`.
    pub(super) max: u32,
    /// `desiredNodes`.
    pub(super) desired: u32,
    /// New template, when the request carries one.
    pub(super) template: Option<Value>,
    /// Ids of the nodes `nodesToRemove` names.
    pub(super) to_remove: Vec<String>,
    /// Active nodes left once `to_remove` are gone.
    pub(super) remaining: u32,
    /// Nodes to create to reach `desired`.
    pub(super) to_add: u32,
}

/// Refuses to delete a pool that is scaling up or already being deleted.
pub(super) fn check_pool_deletable(pool: &SimPool) -> Result<(), ApiError> {
    match pool.status {
        pool_status::UPSCALING => Err(ApiError::bad_request(format!(
            "Node pool {} is UPSCALING and cannot be deleted now, retry when the operation is over",
            pool.name
        ))),
        pool_status::DELETING => Err(ApiError::bad_request(format!(
            "Node pool {} is already being deleted",
            pool.name
        ))),
        _ => Ok(()),
    }
}

/// Refuses to delete a node that is already being deleted.
pub(super) fn check_node_deletable(node: &SimNode) -> Result<(), ApiError> {
    if node.node.status == node_status::DELETING {
        return Err(ApiError::bad_request(format!(
            "Node {} is already being deleted",
            node.node.name
        )));
    }
    Ok(())
}

impl World {
    /// Checks a `POST /nodepool` body and the cluster it targets (name clash, pool limit,
    /// quota). `&mut self` only for the generator a default name draws from.
    pub(super) fn validate_create(
        &mut self,
        sn: &str,
        kube: &str,
        body: &Value,
    ) -> Result<PoolCreate, ApiError> {
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
        // A default name draws from the seeded generator here, before the checks below, as it
        // always has: drawing later would change every id a seeded run produces.
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
        Ok(PoolCreate {
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
        })
    }

    /// Checks a `PUT /nodepool/{id}` body against the pool as it is now (status, sizes,
    /// `nodesToRemove`) and the project's quota.
    pub(super) fn validate_update(
        &self,
        sn: &str,
        kube: &str,
        id: &str,
        body: &Value,
        now: Instant,
    ) -> Result<PoolUpdate, ApiError> {
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
        Ok(PoolUpdate {
            autoscale,
            min,
            max,
            desired,
            template,
            to_remove,
            remaining,
            to_add,
        })
    }

    /// Checks the project's quotas leave room for `extra` more nodes of `flavor`.
    fn check_quota(&self, sn: &str, flavor: &FlavorSpec, extra: u32) -> Result<(), ApiError> {
        if extra == 0 {
            return Ok(());
        }
        let Some(project) = self.projects.get(sn) else {
            return Ok(());
        };
        let used = project.usage();
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
