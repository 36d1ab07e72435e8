//! The host refuses policy answers that break a hard rule, naming the rule, and falls back to
//! the default policy.

use crate::scheduling_common::k8s::{deployment, pod_affinity, run, zone_spread};
use crate::scheduling_common::*;
use karpenter_ovhcloud::provisioning::{
    Decision, Launch, Outcome, Plan, Refusal, Request, Unplaced,
};
use karpenter_ovhcloud::scheduling::{
    Operator, PoolSpec, Requirement, Resources, Taint, TaintEffect, Topology, Violation,
};
use karpenter_ovhcloud::state::ClusterState;
use serde_json::json;

fn launch(pool: &str, flavor: &str, zone: &str, pods: &[(u32, u32)]) -> Launch {
    Launch {
        nodepool: pool.into(),
        flavor: flavor.into(),
        zone: zone.into(),
        pods: pods.to_vec(),
    }
}

fn answer(launches: Vec<Launch>) -> impl Fn(&Request) -> Result<Decision, String> {
    move |_| {
        Ok(Decision {
            launches: launches.clone(),
            unplaced: Vec::new(),
        })
    }
}

fn no_default(_: &Request) -> Result<Decision, String> {
    Err("no default in this test".into())
}

/// Runs the pass with a hand-crafted answer and returns the violation it was refused for.
fn refused(state: &ClusterState, pools: &[PoolSpec], launches: Vec<Launch>) -> Violation {
    let plan = run(state, pools, ovh_catalog(), &answer(launches), &no_default);
    match plan.outcome {
        Outcome::Failed {
            primary: Refusal::Invalid(v),
            ..
        } => {
            // Nothing is launched and every pod gets the reason.
            assert!(plan.claims.is_empty());
            assert!(plan.unplaced.iter().all(|(_, r)| !r.is_empty()));
            v
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

fn accepted(state: &ClusterState, pools: &[PoolSpec], launches: Vec<Launch>) -> Plan {
    let plan = run(state, pools, ovh_catalog(), &answer(launches), &no_default);
    assert_eq!(plan.outcome, Outcome::Primary, "{:?}", plan.outcome);
    plan
}

fn small(n: usize) -> ClusterState {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "small",
        n,
        "500m",
        "1Gi",
        json!({"app": "small"}),
        json!({}),
    );
    s
}

fn any_pool() -> Vec<PoolSpec> {
    vec![pool("general", vec![])]
}

const A: &str = "eu-west-par-a";
const B: &str = "eu-west-par-b";
const C: &str = "eu-west-par-c";

#[test]
fn a_valid_answer_is_used() {
    let plan = accepted(
        &small(3),
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 3)])],
    );
    assert_eq!(plan.claims.len(), 1);
    assert_eq!(plan.claims[0].pods.len(), 3);
    assert_eq!(plan.claims[0].ovh_pool, "karpenter-b3-8-eu-west-par-a");
}

#[test]
fn fit() {
    let v = refused(
        &small(4),
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 4)])],
    );
    assert!(matches!(v, Violation::DoesNotFit { count: 4, .. }), "{v:?}");
    assert_eq!(v.rule(), "fit");
}

#[test]
fn daemonset_overhead_counts_in_fit() {
    let mut s = small(1);
    accepted(
        &s,
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 1)])],
    );
    let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "a",
            "resources": {"requests": {"cpu": "1500m", "memory": "100Mi"}}}]}}}
    }))
    .unwrap();
    s.apply_daemonset(&ds);
    let v = refused(
        &s,
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 1)])],
    );
    assert!(matches!(v, Violation::DoesNotFit { .. }), "{v:?}");
}

/// A DaemonSet holding a host port on every node (a node-exporter's 9100): a pod claiming
/// that port fits no new node, and none is launched for it; a pod claiming another port is.
#[test]
fn daemonset_host_ports_are_taken_on_new_nodes() {
    let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "node-exporter", "namespace": "monitoring"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "e",
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}},
            "ports": [{"containerPort": 9100, "hostPort": 9100}]}]}}}
    }))
    .unwrap();
    let with_port = |port: i32| {
        let mut s = ClusterState::new();
        s.apply_daemonset(&ds);
        deployment(
            &mut s,
            "scraper",
            1,
            "100m",
            "128Mi",
            json!({"app": "scraper"}),
            json!({"containers": [{"name": "c", "image": "pause",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "ports": [{"containerPort": port, "hostPort": port}]}]}),
        );
        s
    };
    let v = refused(
        &with_port(9100),
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 1)])],
    );
    assert!(
        matches!(&v, Violation::HostPort { port, .. } if port == "9100/TCP"),
        "{v:?}"
    );
    // The product's default policy cannot see the DaemonSet's port: its answer is refused and
    // the pod stays pending with the reason, nothing launched.
    let plan = run(
        &with_port(9100),
        &any_pool(),
        ovh_catalog(),
        default_policy(),
        default_policy(),
    );
    assert!(plan.claims.is_empty(), "{:?}", plan.claims);
    assert_eq!(plan.unplaced.len(), 1);
    assert!(
        plan.unplaced[0].1.contains("9100/TCP"),
        "{}",
        plan.unplaced[0].1
    );
    accepted(
        &with_port(9200),
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 1)])],
    );
}

#[test]
fn pod_requirement() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "pinned",
        1,
        "500m",
        "1Gi",
        json!({}),
        json!({"nodeSelector": {"node.kubernetes.io/instance-type": "b3-16"}}),
    );
    let v = refused(
        &s,
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 1)])],
    );
    assert!(
        matches!(&v, Violation::PodRequirement { key, .. } if key == "node.kubernetes.io/instance-type"),
        "{v:?}"
    );
    // Custom label: the pool pins `team` to `a`, the pod needs `b`.
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "team-b",
        1,
        "500m",
        "1Gi",
        json!({}),
        json!({"nodeSelector": {"team": "b"}}),
    );
    let pools = vec![pool(
        "team-a",
        vec![Requirement::new("team", Operator::In, &["a"])],
    )];
    let v = refused(&s, &pools, vec![launch("team-a", "b3-8", A, &[(0, 1)])]);
    assert!(
        matches!(&v, Violation::PodRequirement { key, .. } if key == "team"),
        "{v:?}"
    );
}

#[test]
fn nodepool_requirement() {
    let pools = vec![pool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])])];
    let v = refused(
        &small(1),
        &pools,
        vec![launch("demo-pool", "b3-32", A, &[(0, 1)])],
    );
    assert!(
        matches!(&v, Violation::NodePoolRequirement { key, .. } if key == "node.kubernetes.io/instance-type"),
        "{v:?}"
    );
    let pools = vec![pool(
        "gen",
        vec![Requirement::new(
            "karpenter.ovhcloud.sh/flavor-generation",
            Operator::Gt,
            &["2"],
        )],
    )];
    let v = refused(&small(1), &pools, vec![launch("gen", "b2-7", A, &[(0, 1)])]);
    assert!(matches!(v, Violation::NodePoolRequirement { .. }), "{v:?}");
    accepted(&small(1), &pools, vec![launch("gen", "b3-8", A, &[(0, 1)])]);
}

#[test]
fn taint() {
    let mut tainted = pool("gpu", vec![]);
    tainted.taints = vec![Taint {
        key: "dedicated".into(),
        value: "gpu".into(),
        effect: TaintEffect::NoSchedule,
    }];
    let v = refused(
        &small(1),
        &[tainted.clone()],
        vec![launch("gpu", "b3-8", A, &[(0, 1)])],
    );
    assert!(
        matches!(&v, Violation::Taint { taint, .. } if taint == "dedicated"),
        "{v:?}"
    );
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "tolerant",
        1,
        "500m",
        "1Gi",
        json!({}),
        json!({"tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}),
    );
    accepted(&s, &[tainted], vec![launch("gpu", "b3-8", A, &[(0, 1)])]);
}

#[test]
fn zone_topology_spread() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "zone-spread",
        6,
        "500m",
        "512Mi",
        json!({"app": "zs"}),
        zone_spread("zs"),
    );
    let v = refused(
        &s,
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 2)]),
            launch("general", "b3-8", B, &[(0, 3)]),
            launch("general", "b3-8", C, &[(0, 1)]),
        ],
    );
    assert!(
        matches!(
            v,
            Violation::TopologySpread {
                topology: Topology::Zone,
                skew: 2,
                max_skew: 1,
                ..
            }
        ),
        "{v:?}"
    );
    // Order of launches does not matter, only the final spread.
    accepted(
        &s,
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 2)]),
            launch("general", "b3-8", B, &[(0, 2)]),
            launch("general", "b3-8", C, &[(0, 2)]),
        ],
    );
}

#[test]
fn hostname_topology_spread() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "hs",
        2,
        "100m",
        "128Mi",
        json!({"app": "hs"}),
        json!({"topologySpreadConstraints": [{"maxSkew": 1,
        "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule",
        "labelSelector": {"matchLabels": {"app": "hs"}}}]}),
    );
    let v = refused(
        &s,
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 2)])],
    );
    assert!(
        matches!(
            v,
            Violation::TopologySpread {
                topology: Topology::Hostname,
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn pod_anti_affinity() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "aa",
        2,
        "100m",
        "128Mi",
        json!({"app": "aa"}),
        pod_affinity("podAntiAffinity", "aa", "kubernetes.io/hostname"),
    );
    let v = refused(
        &s,
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 2)])],
    );
    assert!(
        matches!(
            v,
            Violation::PodAntiAffinity {
                topology: Topology::Hostname,
                ..
            }
        ),
        "{v:?}"
    );
    // The other direction: plain pods matching another group's anti-affinity.
    deployment(
        &mut s,
        "plain",
        1,
        "100m",
        "128Mi",
        json!({"app": "aa"}),
        json!({}),
    );
    let plan = run(&s, &any_pool(), ovh_catalog(), &answer(vec![]), &no_default);
    let groups = plan.groups;
    assert_eq!(groups, 2);
    let v = refused(
        &s,
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 1), (1, 1)]),
            launch("general", "b3-8", A, &[(0, 1)]),
        ],
    );
    assert!(matches!(v, Violation::PodAntiAffinity { .. }), "{v:?}");
}

#[test]
fn pod_affinity_rule() {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "af",
        4,
        "100m",
        "128Mi",
        json!({"app": "af"}),
        pod_affinity("podAffinity", "af", "topology.kubernetes.io/zone"),
    );
    let v = refused(
        &s,
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 2)]),
            launch("general", "b3-8", B, &[(0, 2)]),
        ],
    );
    assert!(
        matches!(
            v,
            Violation::PodAffinity {
                topology: Topology::Zone,
                ..
            }
        ),
        "{v:?}"
    );
    accepted(
        &s,
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 2)]),
            launch("general", "b3-8", A, &[(0, 2)]),
        ],
    );
}

#[test]
fn nodepool_limits() {
    let mut limited = pool("demo-pool", vec![]);
    limited.remaining = Some(Resources {
        cpu_millis: 4000,
        memory_bytes: u64::MAX,
        ephemeral_storage_bytes: u64::MAX,
        gpu: u32::MAX,
        pods: u32::MAX,
    });
    let v = refused(
        &small(8),
        &[limited.clone()],
        vec![
            launch("demo-pool", "b3-8", A, &[(0, 3)]),
            launch("demo-pool", "b3-8", A, &[(0, 3)]),
            launch("demo-pool", "b3-8", A, &[(0, 2)]),
        ],
    );
    assert!(
        matches!(
            v,
            Violation::NodePoolLimit {
                resource: "cpu",
                ..
            }
        ),
        "{v:?}"
    );
    limited.remaining = None;
    limited.remaining_nodes = Some(1);
    let v = refused(
        &small(4),
        &[limited],
        vec![
            launch("demo-pool", "b3-8", A, &[(0, 2)]),
            launch("demo-pool", "b3-8", A, &[(0, 2)]),
        ],
    );
    assert!(
        matches!(
            v,
            Violation::NodePoolLimit {
                resource: "nodes",
                ..
            }
        ),
        "{v:?}"
    );
}

#[test]
fn nodepool_weight() {
    let mut heavy = pool("heavy", vec![instance_types(&["b3-16"])]);
    heavy.weight = 10;
    let light = pool("light", vec![]);
    let v = refused(
        &small(1),
        &[light.clone(), heavy.clone()],
        vec![launch("light", "b3-8", A, &[(0, 1)])],
    );
    assert!(
        matches!(&v, Violation::NodePoolWeight { chosen, preferred, .. } if chosen == "light" && preferred == "heavy"),
        "{v:?}"
    );
    // A heavier pool the pods cannot use does not count.
    heavy.taints = vec![Taint {
        key: "x".into(),
        value: String::new(),
        effect: TaintEffect::NoSchedule,
    }];
    accepted(
        &small(1),
        &[light, heavy],
        vec![launch("light", "b3-8", A, &[(0, 1)])],
    );
}

#[test]
fn monthly_billing_only_on_gen2() {
    let mut monthly = pool("monthly", vec![]);
    monthly.nodeclass.monthly_billed = true;
    let v = refused(
        &small(1),
        &[monthly.clone()],
        vec![launch("monthly", "b3-8", A, &[(0, 1)])],
    );
    assert!(
        matches!(v, Violation::MonthlyBillingNotGen2 { .. }),
        "{v:?}"
    );
    let plan = accepted(
        &small(1),
        &[monthly],
        vec![launch("monthly", "b2-7", A, &[(0, 1)])],
    );
    assert!(plan.claims[0].monthly_billed);
    assert_eq!(
        plan.claims[0].ovh_pool,
        "karpenter-b2-7-eu-west-par-a-monthly"
    );
}

#[test]
fn unknown_names() {
    let v = refused(
        &small(1),
        &any_pool(),
        vec![launch("nope", "b3-8", A, &[(0, 1)])],
    );
    assert_eq!(v, Violation::UnknownNodePool("nope".into()));
    let v = refused(
        &small(1),
        &any_pool(),
        vec![launch("general", "x9-1", A, &[(0, 1)])],
    );
    assert_eq!(v, Violation::UnknownFlavor("x9-1".into()));
    let v = refused(
        &small(1),
        &any_pool(),
        vec![launch("general", "b3-8", "gra9", &[(0, 1)])],
    );
    assert!(matches!(v, Violation::UnavailableOffering { .. }), "{v:?}");
    let v = refused(
        &small(1),
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(7, 1)])],
    );
    assert_eq!(v, Violation::UnknownGroup(7));
    let v = refused(
        &small(1),
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 1)]),
            launch("general", "b3-8", A, &[(0, 0)]),
        ],
    );
    assert_eq!(v, Violation::EmptyLaunch(1));
}

#[test]
fn unavailable_offering() {
    let mut catalog = ovh_catalog();
    catalog[0].zones[0].1 = false; // b3-8 out of stock in zone a
    let plan = run(
        &small(1),
        &any_pool(),
        catalog,
        &answer(vec![launch("general", "b3-8", A, &[(0, 1)])]),
        &no_default,
    );
    assert!(matches!(
        plan.outcome,
        Outcome::Failed {
            primary: Refusal::Invalid(Violation::UnavailableOffering { .. }),
            ..
        }
    ));
}

#[test]
fn pods_dropped_or_duplicated() {
    let v = refused(
        &small(3),
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 2)])],
    );
    assert!(
        matches!(
            v,
            Violation::PodsDropped {
                count: 3,
                accounted: 2,
                ..
            }
        ),
        "{v:?}"
    );
    let v = refused(
        &small(3),
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 3)]),
            launch("general", "b3-8", B, &[(0, 1)]),
        ],
    );
    assert!(
        matches!(
            v,
            Violation::PodsDuplicated {
                count: 3,
                accounted: 4,
                ..
            }
        ),
        "{v:?}"
    );
    // Pods reported unplaced count as accounted for, and carry the policy's reason.
    let unplaced = |_: &Request| {
        Ok(Decision {
            launches: vec![launch("general", "b3-8", A, &[(0, 2)])],
            unplaced: vec![Unplaced {
                group: 0,
                count: 1,
                reason: "limit".into(),
            }],
        })
    };
    let plan = run(
        &small(3),
        &any_pool(),
        ovh_catalog(),
        &unplaced,
        &no_default,
    );
    assert_eq!(plan.outcome, Outcome::Primary);
    assert_eq!(plan.unplaced.len(), 1);
    assert_eq!(plan.unplaced[0].1, "limit");
}

#[test]
fn invalid_answer_falls_back_to_the_default() {
    let bad = answer(vec![launch("general", "b3-8", A, &[(0, 4)])]);
    let plan = run(&small(4), &any_pool(), ovh_catalog(), &bad, &test_policy);
    assert!(
        matches!(
            plan.outcome,
            Outcome::Fallback {
                reason: Refusal::Invalid(Violation::DoesNotFit { .. })
            }
        ),
        "{:?}",
        plan.outcome
    );
    assert_eq!(plan.claims.iter().map(|c| c.pods.len()).sum::<usize>(), 4);
    let failing = |_: &Request| Err("trap".to_string());
    let plan = run(
        &small(1),
        &any_pool(),
        ovh_catalog(),
        &failing,
        &test_policy,
    );
    assert_eq!(
        plan.outcome,
        Outcome::Fallback {
            reason: Refusal::PolicyError("trap".into())
        }
    );
}

#[test]
fn host_port() {
    let mut s = ClusterState::new();
    let port = json!({"containers": [{"name": "c", "image": "pause",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
        "ports": [{"containerPort": 80, "hostPort": 8080}]}]});
    deployment(
        &mut s,
        "ingress",
        2,
        "100m",
        "128Mi",
        json!({"app": "ingress"}),
        port,
    );
    // Two pods holding 8080/TCP on one new node: refused, naming the port.
    let v = refused(
        &s,
        &any_pool(),
        vec![launch("general", "b3-8", A, &[(0, 2)])],
    );
    assert!(
        matches!(&v, Violation::HostPort { port, .. } if port == "8080/TCP"),
        "{v:?}"
    );
    assert_eq!(v.rule(), "host-port");
    // One per node: accepted.
    let plan = accepted(
        &s,
        &any_pool(),
        vec![
            launch("general", "b3-8", A, &[(0, 1)]),
            launch("general", "b3-8", B, &[(0, 1)]),
        ],
    );
    assert_eq!(plan.claims.len(), 2);
}

/// Two Deployments claiming the same host port: the policy contract tells a policy of ports
/// within a group only, so the default policy packs both onto one node and both of its answers
/// are refused. The group the refusal names is asked for again on its own, after the other:
/// both get a node in the same pass.
#[test]
fn host_port_shared_by_two_groups_gets_a_node_each() {
    let mut s = ClusterState::new();
    for app in ["ingress-a", "ingress-b"] {
        deployment(
            &mut s,
            app,
            1,
            "100m",
            "128Mi",
            json!({"app": app}),
            json!({"containers": [{"name": "c", "image": "pause",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}]}),
        );
    }
    let plan = run(
        &s,
        &any_pool(),
        ovh_catalog(),
        default_policy(),
        default_policy(),
    );
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    assert_eq!(plan.claims.len(), 2, "{:?}", plan.claims);
    assert!(plan.claims.iter().all(|c| c.pods.len() == 1));
    // Not a failure of the batch: the isolation is how the host handles it.
    assert_eq!(plan.outcome, Outcome::Primary, "{:?}", plan.outcome);
}

/// A pod requesting an extended resource (a device plugin's `example.com/fpga`) goes only to a
/// node that offers it; no OVH flavor does, so none is launched for it and it waits, saying
/// why.
#[test]
fn extended_resources_need_a_node_that_offers_them() {
    use k8s_openapi::api::core::v1::Node;
    let fpga = json!({"containers": [{"name": "c", "image": "pause",
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi", "example.com/fpga": "1"},
                      "limits": {"example.com/fpga": "1"}}}]});
    let node = |name: &str, extra: serde_json::Value| -> Node {
        let mut allocatable = json!({"cpu": "4", "memory": "16Gi", "pods": "110"});
        if let (Some(a), Some(e)) = (allocatable.as_object_mut(), extra.as_object()) {
            a.extend(e.clone());
        }
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": A}},
            "status": {"allocatable": allocatable,
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap()
    };
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "accel",
        1,
        "100m",
        "128Mi",
        json!({"app": "accel"}),
        fpga,
    );
    let plan = run(
        &s,
        &any_pool(),
        ovh_catalog(),
        default_policy(),
        default_policy(),
    );
    assert!(plan.claims.is_empty(), "{:?}", plan.claims);
    assert_eq!(plan.unplaced.len(), 1);
    assert!(
        plan.unplaced[0]
            .1
            .contains("requests example.com/fpga, which no OVH flavor offers"),
        "{}",
        plan.unplaced[0].1
    );
    // A node without it is no room; one that offers it is.
    s.apply_node(&node("plain", json!({})));
    s.apply_node(&node("with-fpga", json!({"example.com/fpga": "2"})));
    let plan = run(
        &s,
        &any_pool(),
        ovh_catalog(),
        default_policy(),
        default_policy(),
    );
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    assert_eq!(plan.on_existing.len(), 1);
    assert_eq!(plan.on_existing[0].1, "with-fpga");
}
