//! Nodes that lose Ready after having been Ready: not room for new pods. The simulated
//! cluster stops a node's kubelet (annotation `sim.karpenter-ovhcloud.sh/kubelet-stopped`):
//! after kube-controller-manager's grace its Ready condition goes Unknown and it is tainted
//! unreachable; its pods are evicted after their 300 s toleration.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::controller_common::cluster::{nodepool, World};
use crate::controller_common::eventually;

/// The Ready condition's status of Node `name`.
async fn ready_status(w: &World, name: &str) -> Option<String> {
    let node = Api::<Node>::all(w.client.clone()).get(name).await.ok()?;
    node.status?
        .conditions?
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status)
}

/// A node whose kubelet stopped takes no new pod: pods that would have fitted there get a new
/// node, and the pod evicted from it (once its toleration runs out) runs elsewhere too. Without
/// the rule the controller counts the dead node as room, nominates the pods onto it and launches
/// nothing, while the kube-scheduler never binds them there (the unreachable taint).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_ready_is_not_room_and_its_pods_get_a_new_node() {
    let w = World::start_with(
        &[nodepool("demo-pool", &["b3-8"], json!({}))],
        &["--disruption-interval", "5s"],
    )
    .await;
    let on_demo_pool = json!({"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"}});
    w.deploy("first", 1, "500m", "512Mi", on_demo_pool.clone(), json!({}))
        .await;
    let live = w.settled("first", 1, 1, 60).await;
    let (claim, (_, dead, _)) = live.into_iter().next().unwrap();

    // The kubelet stops: Unknown and unreachable within the grace (40 guide seconds).
    Api::<Node>::all(w.client.clone())
        .patch(
            &dead,
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"annotations": {
                "sim.karpenter-ovhcloud.sh/kubelet-stopped": "true"}}})),
        )
        .await
        .unwrap();
    eventually("the node's Ready condition Unknown", 30, || async {
        (ready_status(&w, &dead).await.as_deref() == Some("Unknown")).then_some(())
    })
    .await;

    // A pod the dead node had room for gets a node of its own.
    w.deploy(
        "second",
        1,
        "500m",
        "512Mi",
        on_demo_pool.clone(),
        json!({}),
    )
    .await;
    let second = eventually("the second pod running on another node", 90, || async {
        let running = w.running("second").await;
        running.values().next().filter(|n| **n != dead).cloned()
    })
    .await;
    assert!(w.live().await.len() >= 2, "a NodeClaim was launched for it");
    // The first pod is evicted after 300 guide seconds and its replacement runs on a healthy
    // node.
    let first = eventually(
        "the first pod's replacement running elsewhere",
        120,
        || async {
            let running = w.running("first").await;
            running.values().find(|n| **n != dead).cloned()
        },
    )
    .await;
    // Evicted: no pod of it runs on the dead node any more.
    let running = w.running("first").await;
    assert!(running.values().all(|n| *n != dead), "{running:?}");
    // No pod was told to schedule on the dead node once it was lost (Karpenter's `Nominated`
    // Event names the node it expects).
    let nominated: Vec<String> = crate::controller_common::events(&w.client)
        .await
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("Nominated"))
        .filter(|e| {
            e.regarding
                .as_ref()
                .and_then(|r| r.name.as_deref())
                .is_some_and(|n| n.starts_with("second-"))
        })
        .filter_map(|e| e.note)
        .filter(|n| n.ends_with(&dead))
        .collect();
    assert!(nominated.is_empty(), "{nominated:?}");
    assert_ne!(second, dead);
    assert_ne!(first, dead);
    // The dead node's NodeClaim is still there: repairing it is the node health issue's work.
    assert!(w.live().await.contains_key(&claim));
}
