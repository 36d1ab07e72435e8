//! Kubernetes objects for the scheduling tests.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Pod;
use karpenter_ovhcloud::provisioning::simulate::Options;
use karpenter_ovhcloud::provisioning::{plan, FlavorPolicy, Input, Plan};
use karpenter_ovhcloud::scheduling::{FlavorSpec, PoolSpec};
use karpenter_ovhcloud::state::ClusterState;
use serde_json::{json, Value};

/// A pending pod of deployment `owner` with requests and extra spec fields merged in.
pub fn pod(owner: &str, i: usize, cpu: &str, memory: &str, labels: Value, extra: Value) -> Pod {
    let mut spec = json!({
        "containers": [{"name": "c", "image": "pause",
                        "resources": {"requests": {"cpu": cpu, "memory": memory}}}]
    });
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            s.insert(k.clone(), v.clone());
        }
    }
    serde_json::from_value(json!({
        "metadata": {"name": format!("{owner}-{i}"), "namespace": "default", "labels": labels,
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner, "uid": owner}]},
        "spec": spec,
        "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}]}
    }))
    .expect("valid pod")
}

/// `n` replicas of a deployment.
pub fn deployment(
    state: &mut ClusterState,
    owner: &str,
    n: usize,
    cpu: &str,
    memory: &str,
    labels: Value,
    extra: Value,
) {
    for i in 0..n {
        state.apply_pod(&pod(owner, i, cpu, memory, labels.clone(), extra.clone()));
    }
}

/// Zone spread over the pods labelled `app: <app>`.
pub fn zone_spread(app: &str) -> Value {
    json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": app}}}]})
}

/// Required pod (anti-)affinity to pods labelled `app: <app>` on a topology key.
pub fn pod_affinity(kind: &str, app: &str, key: &str) -> Value {
    json!({"affinity": {kind: {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": key, "labelSelector": {"matchLabels": {"app": app}}}]}}})
}

/// One provisioning pass over the state with the product's default policy, whose answer must
/// be used as it is (no fallback, no failure).
pub fn provision(state: &ClusterState, pools: &[PoolSpec]) -> Plan {
    let plan = run(
        state,
        pools,
        crate::scheduling_common::ovh_catalog(),
        crate::scheduling_common::default_policy(),
        crate::scheduling_common::default_policy(),
    );
    assert_eq!(
        plan.outcome,
        karpenter_ovhcloud::provisioning::Outcome::Primary,
        "{:?}",
        plan.outcome
    );
    plan
}

/// Pods per zone of the plan's new NodeClaims.
pub fn per_zone(plan: &Plan) -> std::collections::BTreeMap<String, usize> {
    let mut zones = std::collections::BTreeMap::new();
    for c in &plan.claims {
        *zones.entry(c.zone.clone()).or_default() += c.pods.len();
    }
    zones
}

/// One provisioning pass over the state.
pub fn run(
    state: &ClusterState,
    pools: &[PoolSpec],
    flavors: Vec<FlavorSpec>,
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
) -> Plan {
    run_with(state, pools, flavors, primary, fallback, Options::default())
}

/// One provisioning pass over the state with the controller's scheduling settings.
pub fn run_with(
    state: &ClusterState,
    pools: &[PoolSpec],
    flavors: Vec<FlavorSpec>,
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
    options: Options,
) -> Plan {
    let snapshot = state.snapshot();
    let flavors = std::sync::Arc::new(flavors);
    let sizes = HashMap::new();
    plan(
        &Input {
            snapshot: &snapshot,
            pools,
            flavors: &flavors,
            ovh_pool_sizes: &sizes,
            config: "",
            options,
        },
        primary,
        fallback,
    )
}
