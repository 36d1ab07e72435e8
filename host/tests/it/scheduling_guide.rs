//! The guide's provisioning cases, end to end through the simulation and the validation.

use std::collections::HashMap;

use crate::scheduling_common::k8s::{deployment, pod_affinity, provision, run, zone_spread};
use crate::scheduling_common::*;
use karpenter_ovhcloud::provisioning::{plan, Input, Outcome, Plan};
use karpenter_ovhcloud::scheduling::{wellknown, Operator, PoolSpec, Requirement};
use karpenter_ovhcloud::state::ClusterState;
use serde_json::json;

fn guide(state: &ClusterState, pools: &[PoolSpec]) -> Plan {
    let plan = provision(state, pools);
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    plan
}

fn multi_flavor() -> PoolSpec {
    let mut p = pool(
        "multi-flavor",
        vec![instance_types(&["b3-8", "b3-16", "b3-32", "b3-64"])],
    );
    p.labels
        .insert("workload-type".into(), "multi-flavor".into());
    p
}

fn on_multi_flavor() -> serde_json::Value {
    json!({"nodeSelector": {"karpenter.sh/nodepool": "multi-flavor"}})
}

#[test]
fn inflate_3_replicas_on_one_b3_8_in_demo_pool() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "inflate",
        3,
        "500m",
        "512Mi",
        json!({"app": "inflate"}),
        json!({}),
    );
    let pools = vec![pool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])])];
    let plan = guide(&s, &pools);
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.claims[0].flavor, "b3-8");
    assert_eq!(plan.claims[0].pods.len(), 3);
    assert_eq!(plan.claims[0].ovh_pool, "karpenter-b3-8-eu-west-par-a");
}

#[test]
fn small_workload_gets_b3_8() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "small-workload",
        1,
        "500m",
        "1Gi",
        json!({"app": "small"}),
        on_multi_flavor(),
    );
    let plan = guide(
        &s,
        &[
            pool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])]),
            multi_flavor(),
        ],
    );
    assert_eq!(plan.claims.len(), 1);
    let claim = &plan.claims[0];
    assert_eq!(
        (claim.nodepool.as_str(), claim.flavor.as_str()),
        ("multi-flavor", "b3-8")
    );
    assert_eq!(claim.labels["workload-type"], "multi-flavor");
    assert_eq!(claim.labels[wellknown::INSTANCE_TYPE], "b3-8");
    assert!(claim.requirements.contains(&Requirement::new(
        wellknown::INSTANCE_TYPE,
        Operator::In,
        &["b3-8"]
    )));
}

#[test]
fn large_workload_gets_b3_32() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "large-workload",
        1,
        "6",
        "24Gi",
        json!({"app": "large"}),
        on_multi_flavor(),
    );
    let plan = guide(&s, &[multi_flavor()]);
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.claims[0].flavor, "b3-32");
}

#[test]
fn zone_spread_uses_three_zones_two_pods_each() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "zone-spread",
        6,
        "500m",
        "512Mi",
        json!({"app": "zone-spread"}),
        {
            let mut v = zone_spread("zone-spread");
            v["nodeSelector"] = json!({"karpenter.sh/nodepool": "multizone"});
            v
        },
    );
    let zones = Requirement::new(wellknown::ZONE, Operator::In, &ZONES);
    let plan = guide(&s, &[pool("multizone", vec![zones])]);
    let mut per_zone: HashMap<&str, usize> = HashMap::new();
    for c in &plan.claims {
        *per_zone.entry(c.zone.as_str()).or_default() += c.pods.len();
    }
    assert_eq!(per_zone.len(), 3, "{per_zone:?}");
    assert!(per_zone.values().all(|n| *n == 2), "{per_zone:?}");
}

#[test]
fn anti_affinity_pools_hold_at_most_5_nodes() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "spread-out",
        12,
        "500m",
        "512Mi",
        json!({"app": "spread-out"}),
        pod_affinity("podAntiAffinity", "spread-out", "kubernetes.io/hostname"),
    );
    let mut p = pool(
        "anti-affinity",
        vec![
            instance_types(&["b3-8"]),
            Requirement::new(wellknown::ZONE, Operator::In, &["eu-west-par-a"]),
        ],
    );
    p.nodeclass.anti_affinity = true;
    let snapshot = s.snapshot();
    let flavors = arc_catalog(ovh_catalog());
    // Four nodes are already in the first anti-affinity pool.
    let sizes = HashMap::from([("karpenter-b3-8-eu-west-par-a-aa-1".to_string(), 4)]);
    let plan = plan(
        &Input {
            snapshot: &snapshot,
            pools: &[p],
            flavors: &flavors,
            ovh_pool_sizes: &sizes,
            config: "",
            options: Default::default(),
        },
        default_policy(),
        default_policy(),
    );
    assert_eq!(plan.outcome, Outcome::Primary);
    assert_eq!(plan.claims.len(), 12);
    let mut per_pool: HashMap<&str, u32> = HashMap::new();
    for c in &plan.claims {
        assert!(c.anti_affinity);
        assert_eq!(c.pods.len(), 1);
        *per_pool.entry(c.ovh_pool.as_str()).or_default() += 1;
    }
    for (pool, n) in &per_pool {
        let existing = sizes.get(*pool).copied().unwrap_or(0);
        assert!(existing + n <= 5, "{pool}: {existing} + {n}");
    }
    assert_eq!(per_pool["karpenter-b3-8-eu-west-par-a-aa-1"], 1);
    assert_eq!(per_pool["karpenter-b3-8-eu-west-par-a-aa-2"], 5);
    assert_eq!(per_pool["karpenter-b3-8-eu-west-par-a-aa-3"], 5);
    assert_eq!(per_pool["karpenter-b3-8-eu-west-par-a-aa-4"], 1);
}

#[test]
fn existing_nodes_and_in_flight_claims_come_first() {
    use k8s_openapi::api::core::v1::Node;
    let mut s = ClusterState::new();
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "eu-west-par-a",
            "node.kubernetes.io/instance-type": "b3-8", "karpenter.sh/nodepool": "demo-pool"}},
        "status": {"allocatable": {"cpu": "1800m", "memory": "6Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap();
    s.apply_node(&node);
    let mut claim = karpenter_ovhcloud::scheduling::convert::node(&node);
    claim.name = "n2".into();
    claim.state = karpenter_ovhcloud::scheduling::NodeState::Launching;
    s.apply_claim("demo-pool-x", claim);
    deployment(
        &mut s,
        "inflate",
        8,
        "500m",
        "512Mi",
        json!({"app": "inflate"}),
        json!({}),
    );
    let plan = guide(
        &s,
        &[pool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])])],
    );
    assert_eq!(plan.on_existing.len(), 3);
    assert!(plan.on_existing.iter().all(|(_, n)| n == "n1"));
    assert_eq!(plan.on_in_flight.len(), 3);
    assert_eq!(plan.claims.iter().map(|c| c.pods.len()).sum::<usize>(), 2);
}

/// Zone-spread pods already held by three in-flight NodeClaims (one per zone) need no new node:
/// the placement sweeps the claims again once other zones have caught up. (One sweep placed
/// 1/1/2 and launched a node for the rest on every provisioning pass: 36 nodes for 6 pods.)
#[test]
fn zone_spread_pods_fill_in_flight_claims_of_every_zone() {
    use k8s_openapi::api::core::v1::Node;
    let mut s = ClusterState::new();
    for zone in ["a", "b", "c"] {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": format!("n-{zone}"), "labels": {
                "topology.kubernetes.io/zone": format!("eu-west-par-{zone}"),
                "node.kubernetes.io/instance-type": "b3-8", "karpenter.sh/nodepool": "demo-pool"}},
            "status": {"allocatable": {"cpu": "1800m", "memory": "6Gi", "pods": "110"}}
        }))
        .unwrap();
        let mut claim = karpenter_ovhcloud::scheduling::convert::node(&node);
        claim.state = karpenter_ovhcloud::scheduling::NodeState::Launching;
        s.apply_claim(&format!("demo-pool-{zone}"), claim);
    }
    deployment(
        &mut s,
        "zone-spread",
        6,
        "500m",
        "512Mi",
        json!({"app": "zone-spread"}),
        zone_spread("zone-spread"),
    );
    let pools = [pool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])])];
    let plan = run(
        &s,
        &pools,
        ovh_catalog(),
        default_policy(),
        default_policy(),
    );
    assert_eq!(plan.outcome, Outcome::NoPolicyCall, "{plan:#?}");
    assert_eq!(plan.on_in_flight.len(), 6, "{plan:#?}");
    assert!(plan.claims.is_empty(), "{plan:#?}");
    let mut per_node: HashMap<&str, usize> = HashMap::new();
    for (_, n) in &plan.on_in_flight {
        *per_node.entry(n.as_str()).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "{per_node:?}");
    assert!(per_node.values().all(|&n| n == 2), "{per_node:?}");
}
