//! Topology spread as kube-scheduler counts it: `matchLabelKeys`, `minDomains`,
//! `nodeTaintsPolicy` and `nodeAffinityPolicy`, through the simulation and the default policy.

use std::collections::BTreeMap;

use crate::scheduling_common::k8s::{deployment, per_zone, pod, provision};
use crate::scheduling_common::*;
use k8s_openapi::api::core::v1::Node;
use karpenter_ovhcloud::scheduling::{wellknown, Operator, PoolSpec, Requirement};
use karpenter_ovhcloud::state::ClusterState;
use serde_json::{json, Value};

const A: &str = "eu-west-par-a";
const B: &str = "eu-west-par-b";
const C: &str = "eu-west-par-c";

/// A Ready node with no room left, optionally tainted.
fn full_node(s: &mut ClusterState, name: &str, zone: &str, taints: Value) {
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {wellknown::ZONE: zone, wellknown::INSTANCE_TYPE: "b3-8"}},
        "spec": {"taints": taints},
        "status": {"allocatable": {"cpu": "10m", "memory": "64Mi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap();
    s.apply_node(&node);
}

fn zone_a_only() -> Vec<PoolSpec> {
    vec![pool(
        "zone-a",
        vec![
            instance_types(&["b3-8"]),
            Requirement::new(wellknown::ZONE, Operator::In, &[A]),
        ],
    )]
}

fn spread(extra: Value) -> Value {
    let mut c = json!({"maxSkew": 1, "topologyKey": wellknown::ZONE,
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "web"}}});
    if let (Some(c), Value::Object(e)) = (c.as_object_mut(), extra) {
        c.extend(e);
    }
    json!({"topologySpreadConstraints": [c]})
}

#[test]
fn match_label_keys_count_only_the_pods_of_the_same_revision() {
    let cluster = |keys: Value| {
        let mut s = ClusterState::new();
        full_node(&mut s, "old-a", A, json!([]));
        // Two pods of the previous revision run in zone a.
        for i in 0..2 {
            let mut p = pod(
                "web-v1",
                i,
                "10m",
                "16Mi",
                json!({"app": "web", "pod-template-hash": "v1"}),
                json!({"nodeName": "old-a"}),
            );
            p.status = Some(serde_json::from_value(json!({"phase": "Running"})).unwrap());
            s.apply_pod(&p);
        }
        deployment(
            &mut s,
            "web-v2",
            3,
            "1200m",
            "1Gi",
            json!({"app": "web", "pod-template-hash": "v2"}),
            spread(keys),
        );
        s
    };
    let pools = vec![pool("general", vec![instance_types(&["b3-8"])])];
    // Counting the old pods too, zone a is skipped.
    let all = provision(&cluster(json!({})), &pools);
    assert_eq!(per_zone(&all).get(A), None, "{:?}", per_zone(&all));
    // Counting the new revision only, one new pod per zone.
    let own = provision(
        &cluster(json!({"matchLabelKeys": ["pod-template-hash"]})),
        &pools,
    );
    assert_eq!(
        per_zone(&own),
        BTreeMap::from([(A.into(), 1), (B.into(), 1), (C.into(), 1)])
    );
}

#[test]
fn min_domains_treats_missing_zones_as_empty() {
    let cluster = |extra: Value| {
        let mut s = ClusterState::new();
        deployment(
            &mut s,
            "web",
            3,
            "1200m",
            "1Gi",
            json!({"app": "web"}),
            spread(extra),
        );
        s
    };
    // One zone is the only domain: all three go there.
    let one = provision(&cluster(json!({})), &zone_a_only());
    assert!(one.unplaced.is_empty(), "{:?}", one.unplaced);
    assert_eq!(per_zone(&one), BTreeMap::from([(A.into(), 3)]));
    // minDomains 3 with one domain: the minimum counts as 0, so one pod per zone at most.
    let min3 = provision(&cluster(json!({"minDomains": 3})), &zone_a_only());
    assert_eq!(per_zone(&min3), BTreeMap::from([(A.into(), 1)]));
    assert_eq!(min3.unplaced.len(), 2, "{:?}", min3.unplaced);
}

#[test]
fn node_taints_policy_honor_leaves_untolerated_zones_out() {
    let cluster = |extra: Value| {
        let mut s = ClusterState::new();
        let taint = json!([{"key": "dedicated", "value": "db", "effect": "NoSchedule"}]);
        full_node(&mut s, "db-b", B, taint.clone());
        full_node(&mut s, "db-c", C, taint);
        deployment(
            &mut s,
            "web",
            3,
            "1200m",
            "1Gi",
            json!({"app": "web"}),
            spread(extra),
        );
        s
    };
    // Ignore (the default): the tainted nodes' zones are domains holding 0 pods.
    let ignore = provision(&cluster(json!({})), &zone_a_only());
    assert_eq!(per_zone(&ignore), BTreeMap::from([(A.into(), 1)]));
    assert_eq!(ignore.unplaced.len(), 2);
    // Honor: zones b and c are no domain, all three go to zone a.
    let honor = provision(
        &cluster(json!({"nodeTaintsPolicy": "Honor"})),
        &zone_a_only(),
    );
    assert!(honor.unplaced.is_empty(), "{:?}", honor.unplaced);
    assert_eq!(per_zone(&honor), BTreeMap::from([(A.into(), 3)]));
}

#[test]
fn node_affinity_policy_ignore_counts_zones_the_pod_cannot_use() {
    let cluster = |extra: Value| {
        let mut s = ClusterState::new();
        full_node(&mut s, "other-b", B, json!([]));
        let mut spec = spread(extra);
        spec["nodeSelector"] = json!({wellknown::ZONE: A});
        deployment(
            &mut s,
            "web",
            3,
            "1200m",
            "1Gi",
            json!({"app": "web"}),
            spec,
        );
        s
    };
    // Honor (the default): the pods select zone a, zone b is no domain.
    let honor = provision(&cluster(json!({})), &zone_a_only());
    assert_eq!(per_zone(&honor), BTreeMap::from([(A.into(), 3)]));
    // Ignore: the node in zone b is a domain with 0 pods.
    let ignore = provision(
        &cluster(json!({"nodeAffinityPolicy": "Ignore"})),
        &zone_a_only(),
    );
    assert_eq!(per_zone(&ignore), BTreeMap::from([(A.into(), 1)]));
    assert_eq!(ignore.unplaced.len(), 2);
}
