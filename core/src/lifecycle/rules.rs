//! Pure lifecycle rules: liveness of a NodeClaim, the patch that registers its node, and when
//! the node counts as initialized.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::{Node, Taint};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_core::ResourceExt;
use serde_json::{json, Value};

use crate::api::condition;
use crate::api::labels;
use crate::api::nodeclaim::{CONDITION_LAUNCHED, CONDITION_REGISTERED};
use crate::api::NodeClaim;
use crate::ovh::Node as OvhNode;

/// Whether a NodeClaim is still on track.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Liveness {
    /// On track.
    Ok,
    /// Its OVH node failed (e.g. `FLAVOR_OUT_OF_STOCK_ERROR`): the offering is unavailable.
    NodeFailed(String),
    /// No OVH node was bound within the launch timeout.
    LaunchTimeout,
    /// Its node did not register within the registration timeout.
    RegistrationTimeout,
}

fn age(now: Timestamp, since: Timestamp) -> Duration {
    Duration::try_from(now.duration_since(since)).unwrap_or(Duration::ZERO)
}

/// Liveness of a live NodeClaim. `ovh_node` is its bound OVH node if OVH lists it,
/// `registered` whether a Node with its providerID exists; timeouts are real time (the
/// caller scales guide durations).
pub fn liveness(
    claim: &NodeClaim,
    ovh_node: Option<&OvhNode>,
    registered: bool,
    now: Timestamp,
    launch_timeout: Duration,
    registration_timeout: Duration,
) -> Liveness {
    if let Some(n) = ovh_node {
        if n.status.is_failed() {
            let status = serde_json::to_value(&n.status)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_else(|| format!("{:?}", n.status));
            return Liveness::NodeFailed(status);
        }
    }
    let created = claim
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0)
        .unwrap_or(now);
    let bound = claim.labels().contains_key(labels::OVH_NODE_ID);
    if !bound {
        return if age(now, created) > launch_timeout {
            Liveness::LaunchTimeout
        } else {
            Liveness::Ok
        };
    }
    if registered || claim.is_condition_true(CONDITION_REGISTERED) {
        return Liveness::Ok;
    }
    let launched = condition::find(claim.conditions(), CONDITION_LAUNCHED)
        .filter(|c| c.is_true())
        .map(|c| c.last_transition_time.0)
        .unwrap_or(created);
    if age(now, launched) > registration_timeout {
        Liveness::RegistrationTimeout
    } else {
        Liveness::Ok
    }
}

fn same_taint(a: &Taint, b: &Taint) -> bool {
    a.key == b.key && a.effect == b.effect
}

/// A merge patch of `node` made conditional on the version it was computed from: a merge patch
/// replaces a list (`spec.taints`) whole, so one computed from a stale copy would undo what
/// others wrote since (the node lifecycle controller lifting `node.kubernetes.io/not-ready`
/// from a node that just turned Ready came back and left the node unschedulable for good).
/// The API server refuses it with 409 Conflict when the node changed; read it and retry.
pub fn locked(mut patch: Value, node: &Node) -> Value {
    if let (Some(meta), Some(rv)) = (
        patch
            .as_object_mut()
            .map(|p| p.entry("metadata").or_insert_with(|| json!({}))),
        node.resource_version(),
    ) {
        meta["resourceVersion"] = json!(rv);
    }
    patch
}

/// The merge patch that registers `node` for `claim`, as upstream's `syncNode`: the NodeClaim's
/// labels (MKS drops `karpenter.sh/*` from pool templates) plus `karpenter.sh/registered`, its
/// annotations (the NodePool template's among them), its taints and startup taints added
/// unless the node is labelled `karpenter.sh/do-not-sync-taints=true`, `karpenter.sh/unregistered`
/// removed; [`locked`] to the node's version, since it rewrites the taint list.
pub fn node_patch(claim: &NodeClaim, node: &Node) -> Value {
    let mut node_labels: BTreeMap<String, String> = claim
        .labels()
        .iter()
        .filter(|(k, _)| k.as_str() != labels::OVH_NODE_ID)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    node_labels.insert(labels::REGISTERED.into(), "true".into());
    let mut taints: Vec<Taint> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.key != labels::UNREGISTERED_TAINT)
        .collect();
    let sync_taints = node
        .labels()
        .get(labels::DO_NOT_SYNC_TAINTS)
        .map(String::as_str)
        != Some("true");
    if sync_taints {
        for t in claim.spec.taints.iter().chain(&claim.spec.startup_taints) {
            if !taints.iter().any(|x| same_taint(x, t)) {
                taints.push(t.clone());
            }
        }
    }
    locked(
        json!({
            "metadata": {"labels": node_labels, "annotations": claim.annotations()},
            "spec": {"taints": taints},
        }),
        node,
    )
}

/// Capacity and allocatable of `node` once it is initialized for `claim`: Ready, no startup
/// or unregistered taint left, resources reported.
pub fn initialized(
    claim: &NodeClaim,
    node: &Node,
) -> Option<(BTreeMap<String, Quantity>, BTreeMap<String, Quantity>)> {
    let status = node.status.as_ref()?;
    let ready = status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    let taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    let blocked = taints.iter().any(|t| {
        t.key == labels::UNREGISTERED_TAINT
            || claim.spec.startup_taints.iter().any(|s| same_taint(s, t))
    });
    let allocatable = status.allocatable.clone().unwrap_or_default();
    if !ready || blocked || !allocatable.contains_key("cpu") {
        return None;
    }
    Some((status.capacity.clone().unwrap_or_default(), allocatable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ovh::NodeStatus;

    fn claim(bound: bool, launched_at: Option<i64>) -> NodeClaim {
        let mut labels = json!({"karpenter.sh/nodepool": "demo-pool",
            "node.kubernetes.io/instance-type": "b3-8"});
        if bound {
            labels[labels::OVH_NODE_ID] = json!("n1");
        }
        let conditions: Vec<Value> = launched_at
            .map(|t| {
                vec![
                    json!({"type": "Launched", "status": "True", "reason": "Launched",
                "lastTransitionTime": Timestamp::from_second(t).unwrap().to_string()}),
                ]
            })
            .unwrap_or_default();
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": "c", "labels": labels,
                "creationTimestamp": Timestamp::from_second(1000).unwrap().to_string()},
            "spec": {"requirements": [], "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
                "taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}],
                "startupTaints": [{"key": "init", "effect": "NoSchedule"}]},
            "status": {"conditions": conditions}
        }))
        .unwrap()
    }

    fn ovh(status: NodeStatus) -> OvhNode {
        serde_json::from_value(
            json!({"id": "n1", "nodePoolId": "p", "name": "x", "flavor": "b3-8",
            "status": status}),
        )
        .unwrap()
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn timeouts_and_failures() {
        let t = |s: i64| Timestamp::from_second(s).unwrap();
        assert_eq!(
            liveness(&claim(false, None), None, false, t(1030), MIN, MIN),
            Liveness::Ok
        );
        assert_eq!(
            liveness(&claim(false, None), None, false, t(1061), MIN, MIN),
            Liveness::LaunchTimeout
        );
        let launched = claim(true, Some(1050));
        assert_eq!(
            liveness(&launched, None, false, t(1100), MIN, MIN),
            Liveness::Ok
        );
        assert_eq!(
            liveness(&launched, None, false, t(1111), MIN, MIN),
            Liveness::RegistrationTimeout
        );
        assert_eq!(
            liveness(&launched, None, true, t(5000), MIN, MIN),
            Liveness::Ok
        );
        assert_eq!(
            liveness(
                &launched,
                Some(&ovh(NodeStatus::FlavorOutOfStockError)),
                false,
                t(1060),
                MIN,
                MIN
            ),
            Liveness::NodeFailed("FLAVOR_OUT_OF_STOCK_ERROR".into())
        );
        assert_eq!(
            liveness(
                &launched,
                Some(&ovh(NodeStatus::Installing)),
                false,
                t(1060),
                MIN,
                MIN
            ),
            Liveness::Ok
        );
    }

    #[test]
    fn registration_patch_restores_labels_and_taints() {
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": "n", "resourceVersion": "41"},
            "spec": {"taints": [{"key": labels::UNREGISTERED_TAINT, "effect": "NoExecute"},
                                {"key": "other", "effect": "NoSchedule"}]}}))
            .unwrap();
        let c = claim(true, Some(1000));
        let patch = node_patch(&c, &node);
        assert_eq!(
            patch["metadata"]["labels"]["karpenter.sh/nodepool"],
            "demo-pool"
        );
        assert_eq!(patch["metadata"]["labels"][labels::REGISTERED], "true");
        assert!(patch["metadata"]["labels"]
            .get(labels::OVH_NODE_ID)
            .is_none());
        let keys: Vec<&str> = patch["spec"]["taints"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, vec!["other", "team", "init"]);
        // It rewrites the taint list: only over the version it read.
        assert_eq!(patch["metadata"]["resourceVersion"], "41");
    }

    #[test]
    fn registration_copies_annotations_and_honours_do_not_sync_taints() {
        let mut c = claim(true, Some(1000));
        c.annotations_mut()
            .insert("team.example.com/owner".into(), "payments".into());
        let node: Node = serde_json::from_value(json!({"metadata": {"name": "n",
            "labels": {labels::DO_NOT_SYNC_TAINTS: "true"}},
            "spec": {"taints": [{"key": labels::UNREGISTERED_TAINT, "effect": "NoExecute"},
                                {"key": "kept", "effect": "NoSchedule"}]}}))
        .unwrap();
        let patch = node_patch(&c, &node);
        assert_eq!(
            patch["metadata"]["annotations"]["team.example.com/owner"],
            "payments"
        );
        // The NodeClaim's taints are not added; the unregistered taint still goes.
        assert_eq!(
            patch["spec"]["taints"],
            json!([{"key": "kept", "effect": "NoSchedule"}])
        );
    }

    #[test]
    fn initialized_waits_for_ready_and_startup_taints() {
        let c = claim(true, Some(1000));
        let mut node: Node = serde_json::from_value(json!({"metadata": {"name": "n"},
            "spec": {"taints": [{"key": "init", "effect": "NoSchedule"}]},
            "status": {"conditions": [{"type": "Ready", "status": "True"}],
                       "allocatable": {"cpu": "1930m", "memory": "6Gi"},
                       "capacity": {"cpu": "2", "memory": "8Gi"}}}))
        .unwrap();
        assert!(initialized(&c, &node).is_none());
        node.spec.as_mut().unwrap().taints = None;
        let (cap, alloc) = initialized(&c, &node).unwrap();
        assert_eq!(cap["cpu"].0, "2");
        assert_eq!(alloc["cpu"].0, "1930m");
    }
}
