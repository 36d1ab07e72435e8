//! The controller as its own process: flavor-selection policies from ConfigMaps, swapped
//! without a restart; a bad ConfigMap keeps the previous policy.

use std::collections::BTreeSet;

use crate::controller_common::{eventually, Env};
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::ByteString;
use karpenter_ovhcloud::api::labels;
use kube::api::{Api, PostParams};
use kube::ResourceExt;
use serde_json::json;

fn example_policy() -> Vec<u8> {
    std::fs::read(format!(
        "{}/../policies/dist/example-fewest-nodes.wasm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

async fn configmap(env: &Env, name: &str, wasm: Vec<u8>) {
    let mut cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name,
        "labels": {"karpenter.ovhcloud.sh/policy": "flavor-selection"}}}))
    .unwrap();
    cm.binary_data = Some([("policy.wasm".to_string(), ByteString(wasm))].into());
    Api::<ConfigMap>::namespaced(env.client.clone(), "karpenter")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
}

/// Batch windows for these tests: each burst of 12 pods must be one batch, since the assertions
/// count the NodeClaims one policy decision makes. `ONE_BATCH`'s 1 s idle / 2 s max split a
/// burst in two under the full suite's load (2 of 3 tries failed once, a b3-16 + b3-32 pair
/// where one node was expected).
const ONE_BURST: &[&str] = &[
    "--leader-elect",
    "false",
    "--batch-idle-duration",
    "3m",
    "--batch-max-duration",
    "6m",
];

/// NodePool fields that keep consolidation out of these tests: at 60x a node is
/// consolidatable 1 s after it initializes, and a replacement NodeClaim landing while
/// [`new_claims`] counts would be read as the flavor-selection policy's decision.
fn no_consolidation() -> serde_json::Value {
    json!({"spec": {"disruption": {"consolidateAfter": "Never"}}})
}

/// New NodeClaims (name -> flavor) once the count is stable (bounded: 60 polls).
async fn new_claims(env: &Env, known: &BTreeSet<String>) -> Vec<(String, String)> {
    let mut last = 0;
    for _ in 0..60 {
        let fresh: Vec<(String, String)> = env
            .nodeclaims()
            .await
            .into_iter()
            .filter(|c| !known.contains(&c.name_any()))
            .map(|c| (c.name_any(), c.labels()[labels::INSTANCE_TYPE].clone()))
            .collect();
        if !fresh.is_empty() && fresh.len() == last {
            return fresh;
        }
        last = fresh.len();
        tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    }
    panic!("new NodeClaims did not settle");
}

/// Twelve small pods: the default policy packs them on several small nodes; after the example policy's
/// ConfigMap is applied the same burst gets one larger node, without a restart. A ConfigMap
/// that is not a component is refused with an Event and the example policy stays active.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swapping_the_flavor_selection_configmap_changes_the_next_decision() {
    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool(
        "multi-flavor",
        "default",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In",
                "values": ["b3-8", "b3-16", "b3-32", "b3-64"]}]),
        no_consolidation(),
    )
    .await;
    env.start_controller(ONE_BURST).await;

    env.pods("burst-a", 12, "500m", "512Mi", json!({})).await;
    let a = new_claims(&env, &BTreeSet::new()).await;
    assert!(
        a.len() > 1,
        "the default policy packs small pods on small nodes: {a:?}"
    );
    let mut known: BTreeSet<String> = a.iter().map(|(n, _)| n.clone()).collect();

    configmap(&env, "fewest-nodes", example_policy()).await;
    eventually("the policy loaded", 60, || {
        env.event(Some("fewest-nodes"), "PolicyLoaded")
    })
    .await;
    env.pods("burst-b", 12, "500m", "512Mi", json!({})).await;
    let b = new_claims(&env, &known).await;
    assert_eq!(
        b.len(),
        1,
        "the example policy takes the flavor holding the most pods: {b:?}"
    );
    assert_ne!(b[0].1, "b3-8");
    known.extend(b.iter().map(|(n, _)| n.clone()));

    configmap(&env, "garbage", b"this is not a component".to_vec()).await;
    let refused = eventually("the bad policy refused", 60, || {
        env.event(Some("garbage"), "PolicyRefused")
    })
    .await;
    assert!(
        refused
            .note
            .as_deref()
            .unwrap_or_default()
            .contains("previous policy stays active"),
        "{refused:?}"
    );
    env.pods("burst-c", 12, "500m", "512Mi", json!({})).await;
    let c = new_claims(&env, &known).await;
    assert_eq!(c.len(), 1, "the example policy is still active: {c:?}");
    drop(env.controller.take());
}

/// A NodePool naming a policy ConfigMap (annotation `karpenter.ovhcloud.sh/policy`) uses it;
/// a NodePool without the annotation keeps the cluster default (the ConfigMap is annotated
/// `karpenter.ovhcloud.sh/policy-default: "false"`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodepool_annotation_selects_its_own_policy() {
    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    let flavors = json!([{"key": "node.kubernetes.io/instance-type", "operator": "In",
                          "values": ["b3-8", "b3-16", "b3-32", "b3-64"]}]);
    env.nodepool("plain", "default", flavors.clone(), no_consolidation())
        .await;
    env.nodepool(
        "fewest",
        "default",
        flavors,
        json!({"metadata": {"annotations": {"karpenter.ovhcloud.sh/policy": "fewest-nodes"}},
               "spec": no_consolidation()["spec"]}),
    )
    .await;
    let mut cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "fewest-nodes",
        "labels": {"karpenter.ovhcloud.sh/policy": "flavor-selection"},
        "annotations": {"karpenter.ovhcloud.sh/policy-default": "false"}}}))
    .unwrap();
    cm.binary_data = Some([("policy.wasm".to_string(), ByteString(example_policy()))].into());
    Api::<ConfigMap>::namespaced(env.client.clone(), "karpenter")
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    env.start_controller(ONE_BURST).await;
    eventually("the policy loaded", 60, || {
        env.event(Some("fewest-nodes"), "PolicyLoaded")
    })
    .await;

    env.pods(
        "to-fewest",
        12,
        "500m",
        "512Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "fewest"}}),
    )
    .await;
    let fewest = new_claims(&env, &BTreeSet::new()).await;
    assert_eq!(fewest.len(), 1, "{fewest:?}");
    let known: BTreeSet<String> = fewest.iter().map(|(n, _)| n.clone()).collect();
    env.pods(
        "to-plain",
        12,
        "500m",
        "512Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "plain"}}),
    )
    .await;
    let plain = new_claims(&env, &known).await;
    assert!(
        plain.len() > 1,
        "the default policy decides for the plain NodePool: {plain:?}"
    );
    drop(env.controller.take());
}
