//! Soft constraints (preferred node and pod affinity, `ScheduleAnyway` spreads) through the
//! simulation and the product's default policy: held as required first, then relaxed one at a
//! time, in upstream Karpenter's order, for pods that fit nowhere.

use std::collections::BTreeMap;

use crate::scheduling_common::k8s::{deployment, per_zone, provision};
use crate::scheduling_common::*;
use k8s_openapi::api::core::v1::Node;
use karpenter_ovhcloud::scheduling::{wellknown, Operator, PoolSpec, Requirement};
use karpenter_ovhcloud::state::ClusterState;
use serde_json::{json, Value};

const A: &str = "eu-west-par-a";
const B: &str = "eu-west-par-b";
const C: &str = "eu-west-par-c";

/// One preferred pod affinity (`podAffinity`) or anti-affinity (`podAntiAffinity`) term to
/// pods labelled `app: <app>`.
fn preferred(kind: &str, weight: i32, app: &str, key: &str) -> Value {
    json!({"affinity": {kind: {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": weight, "podAffinityTerm": {"topologyKey": key,
            "labelSelector": {"matchLabels": {"app": app}}}}]}}})
}

fn spread(app: &str, when: &str) -> Value {
    json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": wellknown::ZONE,
        "whenUnsatisfiable": when, "labelSelector": {"matchLabels": {"app": app}}}]})
}

fn general() -> Vec<PoolSpec> {
    vec![pool("general", vec![instance_types(&["b3-8", "b3-16"])])]
}

/// A Ready node of `allocatable` cpu in a zone, labelled for NodePool `pool`.
fn node(name: &str, zone: &str, pool: &str, cpu: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {wellknown::ZONE: zone,
            wellknown::NODEPOOL: pool, wellknown::INSTANCE_TYPE: "b3-8"}},
        "status": {"allocatable": {"cpu": cpu, "memory": "6Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

#[test]
fn preferred_zone_anti_affinity_spreads_three_replicas_over_three_zones() {
    let web = |extra: Value| {
        let mut s = ClusterState::new();
        deployment(
            &mut s,
            "web",
            3,
            "500m",
            "1Gi",
            json!({"app": "web"}),
            extra,
        );
        s
    };
    // Without the preference the three small pods share one node.
    let packed = provision(&web(json!({})), &general());
    assert_eq!(packed.claims.len(), 1, "{:?}", packed.claims);

    let spread = provision(
        &web(preferred("podAntiAffinity", 100, "web", wellknown::ZONE)),
        &general(),
    );
    assert!(spread.unplaced.is_empty(), "{:?}", spread.unplaced);
    assert_eq!(
        per_zone(&spread),
        BTreeMap::from([(A.into(), 1), (B.into(), 1), (C.into(), 1)])
    );
    assert_eq!(spread.policy_calls, 1, "held, nothing to relax");
}

#[test]
fn a_fourth_replica_relaxes_the_preference_instead_of_staying_pending() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "web",
        4,
        "500m",
        "1Gi",
        json!({"app": "web"}),
        preferred("podAntiAffinity", 100, "web", wellknown::ZONE),
    );
    let plan = provision(&s, &general());
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    let zones = per_zone(&plan);
    assert_eq!(zones.values().sum::<usize>(), 4);
    assert_eq!(zones.len(), 3, "three zones first: {zones:?}");
    // The first round held the preference (3 pods, one per zone, the fourth left unplaced);
    // relaxed, the fourth pod fits a node the first round planned: no second policy call.
    assert_eq!(plan.policy_calls, 1);
    assert_eq!(plan.claims.len(), 3, "{:?}", plan.claims);
}

#[test]
fn required_anti_affinity_is_never_relaxed() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "db",
        4,
        "500m",
        "1Gi",
        json!({"app": "db"}),
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": wellknown::ZONE, "labelSelector": {"matchLabels": {"app": "db"}}}]}}}),
    );
    let plan = provision(&s, &general());
    assert_eq!(plan.unplaced.len(), 1, "{:?}", plan.unplaced);
    assert!(
        plan.unplaced[0].1.contains("anti-affinity"),
        "{}",
        plan.unplaced[0].1
    );
    assert_eq!(plan.policy_calls, 1);
}

#[test]
fn schedule_anyway_spread_in_a_one_zone_nodepool_schedules_every_pod() {
    // Nodes in zones b and c count as spread domains (the pods may run there) but are full;
    // the only NodePool launches in zone a.
    let pools = vec![pool(
        "zonal",
        vec![Requirement::new(wellknown::ZONE, Operator::In, &[A])],
    )];
    let cluster = |when: &str| {
        let mut s = ClusterState::new();
        s.apply_node(&node("full-b", B, "other", "10m"));
        s.apply_node(&node("full-c", C, "other", "10m"));
        deployment(
            &mut s,
            "batch",
            4,
            "500m",
            "1Gi",
            json!({"app": "batch"}),
            spread("batch", when),
        );
        s
    };
    // As a hard constraint, one pod fits zone a and the others wait for zones b and c.
    let hard = provision(&cluster("DoNotSchedule"), &pools);
    assert_eq!(hard.unplaced.len(), 3, "{:?}", hard.unplaced);
    // As a preference, it is relaxed and every pod goes to zone a.
    let soft = provision(&cluster("ScheduleAnyway"), &pools);
    assert!(soft.unplaced.is_empty(), "{:?}", soft.unplaced);
    assert_eq!(per_zone(&soft), BTreeMap::from([(A.into(), 4)]));
    assert_eq!(soft.policy_calls, 2);
}

#[test]
fn the_heaviest_preferred_node_affinity_wins_then_the_next() {
    let affinity = |zones: &[(i32, &str)]| {
        let terms: Vec<Value> = zones
            .iter()
            .map(|(w, z)| {
                json!({"weight": w, "preference": {"matchExpressions": [
                {"key": wellknown::ZONE, "operator": "In", "values": [z]}]}})
            })
            .collect();
        json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": terms}}})
    };
    let pods = |extra: Value| {
        let mut s = ClusterState::new();
        deployment(
            &mut s,
            "api",
            2,
            "500m",
            "1Gi",
            json!({"app": "api"}),
            extra,
        );
        s
    };
    let plan_c = provision(&pods(affinity(&[(10, B), (90, C)])), &general());
    assert_eq!(per_zone(&plan_c), BTreeMap::from([(C.into(), 2)]));
    assert_eq!(plan_c.policy_calls, 1);
    // Zone c is not allowed by the NodePool: the heaviest term is relaxed, the next is held.
    let no_c = vec![pool(
        "general",
        vec![
            instance_types(&["b3-8", "b3-16"]),
            Requirement::new(wellknown::ZONE, Operator::NotIn, &[C]),
        ],
    )];
    let plan_b = provision(&pods(affinity(&[(10, B), (90, C)])), &no_c);
    assert!(plan_b.unplaced.is_empty(), "{:?}", plan_b.unplaced);
    assert_eq!(per_zone(&plan_b), BTreeMap::from([(B.into(), 2)]));
    assert_eq!(plan_b.policy_calls, 2);
}

#[test]
fn required_node_affinity_terms_are_tried_in_turn() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "api",
        1,
        "500m",
        "1Gi",
        json!({"app": "api"}),
        json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [
            {"matchExpressions": [{"key": wellknown::INSTANCE_TYPE, "operator": "In", "values": ["c3-4"]}]},
            {"matchExpressions": [{"key": wellknown::INSTANCE_TYPE, "operator": "In", "values": ["b3-16"]}]}
        ]}}}}),
    );
    // The NodePool offers no c3-4: the first term is given up for the second.
    let plan = provision(&s, &general());
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.claims[0].flavor, "b3-16");
    assert_eq!(plan.policy_calls, 2);
}

#[test]
fn preferred_pod_affinity_joins_the_zone_of_its_target() {
    let mut s = ClusterState::new();
    s.apply_node(&node("cache-node", B, "general", "1"));
    let mut cache = crate::scheduling_common::k8s::pod(
        "cache",
        0,
        "100m",
        "128Mi",
        json!({"app": "cache"}),
        json!({"nodeName": "cache-node"}),
    );
    cache.status = Some(serde_json::from_value(json!({"phase": "Running"})).unwrap());
    s.apply_pod(&cache);
    deployment(
        &mut s,
        "web",
        2,
        "1500m",
        "1Gi",
        json!({"app": "web"}),
        preferred("podAffinity", 50, "cache", wellknown::ZONE),
    );
    let plan = provision(&s, &general());
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    assert_eq!(per_zone(&plan), BTreeMap::from([(B.into(), 2)]));
}

#[test]
fn ignore_policy_does_not_look_at_preferences() {
    use crate::scheduling_common::k8s::run_with;
    use karpenter_ovhcloud::provisioning::simulate::{Options, PreferencePolicy};
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "web",
        3,
        "500m",
        "1Gi",
        json!({"app": "web"}),
        preferred("podAntiAffinity", 100, "web", wellknown::ZONE),
    );
    let options = Options {
        preferences: PreferencePolicy::Ignore,
        ..Options::default()
    };
    let plan = run_with(
        &s,
        &general(),
        ovh_catalog(),
        default_policy(),
        default_policy(),
        options,
    );
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    assert_eq!(plan.claims.len(), 1, "packed as if nothing were preferred");
}

#[test]
fn relaxation_rounds_keep_to_the_nodepool_limits() {
    // Three nodes at most; four replicas, one per b3-8, that prefer distinct zones.
    let mut pools = vec![pool("general", vec![instance_types(&["b3-8"])])];
    pools[0].remaining_nodes = Some(3);
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "web",
        4,
        "1200m",
        "1Gi",
        json!({"app": "web"}),
        preferred("podAntiAffinity", 100, "web", wellknown::ZONE),
    );
    let plan = provision(&s, &pools);
    assert_eq!(plan.claims.len(), 3, "{:?}", plan.claims);
    assert_eq!(plan.unplaced.len(), 1, "{:?}", plan.unplaced);
    assert!(
        plan.unplaced[0].1.contains("limit"),
        "{}",
        plan.unplaced[0].1
    );
}
