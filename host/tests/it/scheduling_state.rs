//! The cluster model follows watch events incrementally.

use crate::scheduling_common::k8s::pod;
use k8s_openapi::api::core::v1::{Node, Pod};
use karpenter_ovhcloud::scheduling::{NodeState, SimNode};
use karpenter_ovhcloud::state::ClusterState;
use karpenter_ovhcloud::state::Event;
use serde_json::json;

fn node(name: &str, zone: &str) -> Node {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
        "status": {"allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]}
    }))
    .unwrap()
}

fn bound(mut p: Pod, node: &str) -> Pod {
    p.spec.as_mut().unwrap().node_name = Some(node.into());
    p.status = Some(serde_json::from_value(json!({"phase": "Running"})).unwrap());
    p
}

#[test]
fn pods_move_capacity_incrementally() {
    let mut s = ClusterState::new();
    let p0 = pod("web", 0, "500m", "1Gi", json!({"app": "web"}), json!({}));
    // The pod is seen before its node: its requests count once the node arrives.
    s.apply_event(Event::Apply(&bound(p0.clone(), "n1")));
    s.apply_event(Event::Apply(&node("n1", "eu-west-par-a")));
    assert_eq!(s.node("n1").unwrap().requested.cpu_millis, 500);
    // Re-applying the same pod does not count it twice.
    s.apply_event(Event::Apply(&bound(p0.clone(), "n1")));
    assert_eq!(s.node("n1").unwrap().requested.cpu_millis, 500);
    let p1 = pod("web", 1, "250m", "1Gi", json!({"app": "web"}), json!({}));
    s.apply_event(Event::Apply(&p1.clone()));
    assert_eq!(s.snapshot().pending.len(), 1);
    s.apply_event(Event::Apply(&bound(p1.clone(), "n1")));
    let snap = s.snapshot();
    assert!(snap.pending.is_empty());
    assert_eq!(snap.bound.len(), 2);
    assert_eq!(s.node("n1").unwrap().requested.cpu_millis, 750);
    assert_eq!(s.node("n1").unwrap().free().cpu_millis, 1250);
    // A finished pod frees its share; a deleted one too.
    let mut done = bound(p1, "n1");
    done.status = Some(serde_json::from_value(json!({"phase": "Succeeded"})).unwrap());
    s.apply_event(Event::Apply(&done));
    assert_eq!(s.node("n1").unwrap().requested.cpu_millis, 500);
    s.apply_event(Event::Delete(&bound(p0, "n1")));
    assert_eq!(s.node("n1").unwrap().requested.cpu_millis, 0);
    assert_eq!(s.pod_count(), 0);
}

#[test]
fn relist_drops_what_it_did_not_list() {
    let mut s = ClusterState::new();
    for i in 0..3 {
        s.apply_event(Event::Apply(&pod(
            "web",
            i,
            "100m",
            "1Mi",
            json!({}),
            json!({}),
        )));
    }
    s.apply_event(Event::<Pod>::Init);
    s.apply_event(Event::InitApply(&pod(
        "web",
        1,
        "100m",
        "1Mi",
        json!({}),
        json!({}),
    )));
    s.apply_event(Event::<Pod>::InitDone);
    let snap = s.snapshot();
    assert_eq!(snap.pending.len(), 1);
    assert_eq!(snap.pending[0].0, "default/web-1");
    s.apply_event(Event::Apply(&node("n1", "a")));
    s.apply_event(Event::<Node>::Init);
    s.apply_event(Event::<Node>::InitDone);
    assert!(s.node("n1").is_none());
}

/// A demo-pool NodeClaim's in-flight node, named `name` (a b3-8's estimated 1930m).
fn claim_node(name: &str, state: NodeState) -> SimNode {
    SimNode {
        name: name.into(),
        labels: Default::default(),
        taints: vec![],
        allocatable: karpenter_ovhcloud::scheduling::Resources {
            cpu_millis: 1930,
            ..Default::default()
        },
        requested: Default::default(),
        nodepool: Some("demo-pool".into()),
        nodeclaim: None,
        state,
        unschedulable: false,
        extended: Vec::new(),
    }
}

#[test]
fn in_flight_claims_until_their_node_registers() {
    let mut s = ClusterState::new();
    s.apply_claim("demo-pool-abcde", claim_node("n2", NodeState::Launching));
    let snap = s.snapshot();
    assert_eq!(snap.in_flight.len(), 1);
    assert_eq!(
        snap.in_flight[0].nodeclaim.as_deref(),
        Some("demo-pool-abcde")
    );
    s.apply_event(Event::Apply(&node("n2", "eu-west-par-a")));
    let snap = s.snapshot();
    assert!(snap.in_flight.is_empty());
    assert_eq!(snap.nodes[0].nodeclaim.as_deref(), Some("demo-pool-abcde"));
}

/// A NodeClaim recorded under its Node's name before that Node reports allocatable resources
/// (a restarted controller may list NodeClaims before Nodes): in flight under its own name
/// while the Node joins, gone from the in-flight list once the Node reports, so the Node's
/// room is never counted twice (chaos found pods nominated to such a ghost and never
/// provisioned).
#[test]
fn a_claim_listed_before_its_node_reports_is_not_counted_twice() {
    let mut s = ClusterState::new();
    let claim = claim_node("n3", NodeState::Ready);
    s.apply_claim("demo-pool-xyz", claim);
    let joining: Node = serde_json::from_value(json!({"metadata": {"name": "n3"}})).unwrap();
    s.apply_event(Event::Apply(&joining));
    let snap = s.snapshot();
    assert_eq!(
        snap.in_flight.len(),
        1,
        "the joining Node reports nothing yet"
    );
    assert_eq!(snap.in_flight[0].name, "demo-pool-xyz");
    assert_eq!(snap.in_flight[0].state, NodeState::Launching);
    s.apply_event(Event::Apply(&node("n3", "eu-west-par-a")));
    let snap = s.snapshot();
    assert!(snap.in_flight.is_empty(), "{:?}", snap.in_flight);
    assert_eq!(snap.nodes[0].nodeclaim.as_deref(), Some("demo-pool-xyz"));
}

#[test]
fn daemonsets_and_pdbs_are_tracked() {
    let mut s = ClusterState::new();
    let ds: k8s_openapi::api::apps::v1::DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent", "namespace": "kube-system"},
        "spec": {"selector": {}, "template": {"spec": {"containers": [{"name": "a",
            "resources": {"requests": {"cpu": "100m"}}}]}}}
    }))
    .unwrap();
    s.apply_event(Event::Apply(&ds.clone()));
    assert_eq!(s.snapshot().daemonsets[0].requests.cpu_millis, 100);
    s.apply_event(Event::Delete(&ds));
    assert!(s.snapshot().daemonsets.is_empty());
    let pdb: k8s_openapi::api::policy::v1::PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
        "status": {"disruptionsAllowed": 1, "currentHealthy": 3, "desiredHealthy": 2, "expectedPods": 3}
    }))
    .unwrap();
    s.apply_event(Event::Apply(&pdb));
    let snap = s.snapshot();
    let web = karpenter_ovhcloud::scheduling::convert::pod(&pod(
        "web",
        0,
        "1",
        "1Gi",
        json!({"app": "web"}),
        json!({}),
    ));
    assert!(snap.pdbs[0].covers(&web));
    assert_eq!(snap.pdbs[0].min_available.as_deref(), Some("2"));
    assert_eq!(snap.pdbs[0].disruptions_allowed, 1);
}

#[test]
fn pods_on_a_node_carry_what_the_disruption_pass_checks() {
    let mut s = ClusterState::new();
    s.apply_event(Event::Apply(&node("n1", "eu-west-par-a")));
    let mut web = bound(
        pod("web", 0, "100m", "1Mi", json!({"app": "web"}), json!({})),
        "n1",
    );
    web.metadata.uid = Some("uid-web-0".into());
    web.metadata.annotations = Some([("karpenter.sh/do-not-disrupt".into(), "true".into())].into());
    let mut proxy = bound(
        pod("kube-proxy", 0, "50m", "1Mi", json!({}), json!({})),
        "n1",
    );
    proxy.metadata.owner_references = Some(vec![serde_json::from_value(json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet", "name": "kube-proxy", "uid": "ds"
    }))
    .unwrap()]);
    let other = bound(pod("web", 1, "100m", "1Mi", json!({}), json!({})), "n2");
    for p in [&web, &proxy, &other] {
        s.apply_event(Event::Apply(&p.clone()));
    }
    let on = s.pods_on("n1");
    let facts: Vec<(bool, bool, &str)> = on
        .iter()
        .map(|p| (p.daemon, p.do_not_disrupt, p.uid.as_str()))
        .collect();
    assert_eq!(facts.len(), 2, "{on:?}");
    assert!(facts.contains(&(false, true, "uid-web-0")), "{facts:?}");
    assert!(facts.iter().any(|f| f.0 && !f.1), "{facts:?}");
    // A finished pod is no longer on its node; an unknown node has none.
    let mut done = web;
    done.status = Some(serde_json::from_value(json!({"phase": "Succeeded"})).unwrap());
    s.apply_event(Event::Apply(&done));
    assert_eq!(s.pods_on("n1").len(), 1);
    assert!(s.pods_on("n9").is_empty());
}
