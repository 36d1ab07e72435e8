//! The controller as its own process against the simulators: OVHNodeClass conditions,
//! out-of-stock fallback, restarts, leader election.

use crate::controller_common::{demo_pool, eventually, Env, ONE_BATCH};
use karpenter_ovhcloud::api::labels;
use karpenter_ovhcloud::api::nodeclaim::CONDITION_INITIALIZED;
use karpenter_ovhcloud::api::OVHNodeClass;
use karpenter_ovhcloud_sim::ovh::{DEFAULT_APPLICATION_KEY, DEFAULT_APPLICATION_SECRET};
use kube::api::Api;
use kube::ResourceExt;
use serde_json::json;

async fn ready_condition(env: &Env, name: &str) -> Option<(String, String, String)> {
    let api: Api<OVHNodeClass> = Api::all(env.client.clone());
    let class = api.get_opt(name).await.ok()??;
    let c = class
        .conditions()
        .iter()
        .find(|c| c.type_ == "Ready")?
        .clone();
    Some((format!("{:?}", c.status), c.reason, c.message))
}

/// A NodeClass whose Secret is missing, one whose Secret lacks a key, one whose credentials OVH
/// refuses: Ready=False with the reason; the good one Ready with the region's flavors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodeclass_conditions_say_what_is_wrong() {
    let mut env = Env::start().await;
    env.default_secret().await;
    env.secret(
        "incomplete",
        json!({"applicationKey": DEFAULT_APPLICATION_KEY, "applicationSecret": DEFAULT_APPLICATION_SECRET}),
    )
    .await;
    env.secret(
        "wrong",
        json!({"applicationKey": DEFAULT_APPLICATION_KEY, "applicationSecret": DEFAULT_APPLICATION_SECRET,
               "consumerKey": "notAValidConsumerKey0000000000000"}),
    )
    .await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodeclass("missing", "does-not-exist", json!({})).await;
    env.nodeclass("incomplete", "incomplete", json!({})).await;
    env.nodeclass("wrong", "wrong", json!({})).await;
    env.nodeclass("elsewhere", "ovh-credentials", json!({"region": "GRA7"}))
        .await;
    env.start_controller(ONE_BATCH).await;

    let cond = |name: &'static str| {
        let env = &env;
        async move { eventually(name, 60, || ready_condition(env, name)).await }
    };
    let (status, reason, message) = cond("default").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("True", "Ready"),
        "{message}"
    );
    let (status, reason, message) = cond("missing").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "CredentialsNotFound")
    );
    assert!(message.contains("karpenter/does-not-exist"), "{message}");
    let (status, reason, message) = cond("incomplete").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "CredentialsNotFound")
    );
    assert!(message.contains("consumerKey"), "{message}");
    let (status, reason, _) = cond("wrong").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "Unauthorized")
    );
    let (status, reason, message) = cond("elsewhere").await;
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "RegionNotFound")
    );
    assert!(message.contains("EU-WEST-PAR"), "{message}");

    let api: Api<OVHNodeClass> = Api::all(env.client.clone());
    let good = api.get("default").await.unwrap();
    let status = good.status.unwrap();
    assert_eq!(
        status.zones,
        ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]
    );
    assert!(status.flavors.iter().any(|f| f.name == "b3-8"));
    // A NodePool on a class that is not Ready launches nothing.
    env.nodepool("broken", "missing", demo_pool(), json!({}))
        .await;
    env.pods(
        "inflate",
        1,
        "500m",
        "512Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "broken"}}),
    )
    .await;
    let np = env.nodeclass_ready("broken").await;
    assert_eq!(
        (format!("{:?}", np.status).as_str(), np.reason.as_str()),
        ("False", "NodeClassNotReady")
    );
    assert!(np.message.contains("CredentialsNotFound"), "{}", np.message);
    let warning = eventually("the pod told why", 30, || {
        env.event(Some("inflate-0"), "FailedScheduling")
    })
    .await;
    assert!(
        warning
            .note
            .as_deref()
            .is_some_and(|n| n.contains("no NodePool with a Ready OVHNodeClass")),
        "{warning:?}"
    );
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(env.nodeclaims().await.is_empty());
    assert!(env.pool_writes().is_empty());
    drop(env.controller.take());
}

/// b3-8 is out of stock in eu-west-par-a: the node fails, the offering is marked unavailable,
/// the NodeClaim replaced by the next choice, and the failed node removed from OVH.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_stock_flavor_falls_back_to_the_next_choice() {
    let mut env = Env::start().await;
    env.ovh.set_stock("b3-8", "eu-west-par-a", Some(0));
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool("demo-pool", "default", demo_pool(), json!({}))
        .await;
    env.start_controller(ONE_BATCH).await;
    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;

    let ready = env.initialized_claim(90).await;
    let l = ready.labels();
    assert_ne!(
        (l[labels::INSTANCE_TYPE].as_str(), l[labels::ZONE].as_str()),
        ("b3-8", "eu-west-par-a")
    );
    // The failed node and its pool are cleaned up; only the replacement remains.
    eventually("the failed node removed", 60, || async {
        let nodes: Vec<_> = env.ovh_pools().into_values().flat_map(|(_, n)| n).collect();
        let claims = env.nodeclaims().await;
        (nodes.len() == 1 && claims.len() == 1).then_some(())
    })
    .await;
}

/// The controller is killed right after its NodeClaim appears; a new one finishes the
/// scale-up from what Kubernetes and OVH hold: one NodeClaim, one OVH node, no leak.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_in_the_middle_of_a_scale_up_neither_leaks_nor_duplicates() {
    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool("demo-pool", "default", demo_pool(), json!({}))
        .await;
    env.start_controller(ONE_BATCH).await;
    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;
    eventually("a NodeClaim", 60, || async {
        env.nodeclaims().await.into_iter().next()
    })
    .await;
    let mut first = env.controller.take().unwrap();
    first.kill().await.unwrap();
    env.start_controller(ONE_BATCH).await;
    let ready = env.initialized_claim(90).await;
    // A few more passes change nothing.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let claims = env.nodeclaims().await;
    assert_eq!(claims.len(), 1, "no duplicate NodeClaim");
    let nodes: Vec<_> = env.ovh_pools().into_values().flat_map(|(_, n)| n).collect();
    assert_eq!(nodes.len(), 1, "no leaked or duplicate OVH node: {nodes:?}");
    assert_eq!(ready.labels()[labels::OVH_NODE_ID], nodes[0].id);
    assert_eq!(env.nodes().await.len(), 1);
}

/// Two replicas with leader election: one acts; when it dies the other takes over and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_hands_over_to_the_standby() {
    let env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool("demo-pool", "default", demo_pool(), json!({}))
        .await;
    let args = [
        "--leader-elect",
        "true",
        "--lease-duration",
        "2s",
        "--batch-idle-duration",
        "30s",
    ];
    let mut a = env.spawn_controller(&args);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(env.client.clone(), "karpenter");
    let holder = || async {
        leases
            .get_opt("karpenter-ovhcloud-leader")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
    };
    let first = eventually("a leader", 30, &holder).await;
    let mut b = env.spawn_controller(&args);
    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;
    eventually("a NodeClaim", 60, || async {
        env.nodeclaims().await.into_iter().next()
    })
    .await;
    assert_eq!(
        holder().await.as_deref(),
        Some(first.as_str()),
        "the leader keeps the Lease"
    );
    a.kill().await.unwrap();
    let second = eventually("a new leader", 30, || async {
        holder().await.filter(|h| *h != first)
    })
    .await;
    assert_ne!(second, first);
    // The new leader finishes the job.
    env.initialized_claim(90).await;
    assert_eq!(env.nodeclaims().await.len(), 1);
    b.kill().await.unwrap();
}

/// Scale down: deleting a NodeClaim removes exactly its OVH node (`nodesToRemove`, never a bare
/// desiredNodes decrement), deleting the last one deletes the pool; the Nodes and the
/// NodeClaims (finalizer) go too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_nodeclaims_name_their_node_and_the_last_one_deletes_the_pool() {
    use kube::api::DeleteParams;
    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool(
        "demo-pool",
        "default",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]},
               {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-a"]}]),
        json!({}),
    )
    .await;
    env.start_controller(ONE_BATCH).await;
    env.pods(
        "web",
        2,
        "500m",
        "512Mi",
        json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
            {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}]}}}),
    )
    .await;
    let claims = eventually("two NodeClaims initialized", 90, || async {
        let c = env.nodeclaims().await;
        (c.len() == 2 && c.iter().all(|c| c.is_condition_true(CONDITION_INITIALIZED))).then_some(c)
    })
    .await;
    // The workload goes first (as the disruption logic drains nodes before deleting them).
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(env.client.clone(), "default");
    for i in 0..2 {
        pods.delete(&format!("web-{i}"), &DeleteParams::default())
            .await
            .unwrap();
    }
    let api: Api<karpenter_ovhcloud::api::NodeClaim> = Api::all(env.client.clone());
    let victim = &claims[0];
    let victim_node = victim.labels()[labels::OVH_NODE_ID].clone();
    api.delete(&victim.name_any(), &DeleteParams::default())
        .await
        .unwrap();
    eventually("the NodeClaim gone", 60, || async {
        (env.nodeclaims().await.len() == 1).then_some(())
    })
    .await;
    let writes = env.pool_writes();
    let put = writes
        .iter()
        .find(|(m, _, _)| m == "PUT")
        .expect("a PUT naming the node");
    let body = put.2.clone().unwrap();
    assert_eq!(body["nodesToRemove"], json!([victim_node]));
    assert_eq!(body["desiredNodes"], 1);
    let (_, nodes) = env
        .ovh_pools()
        .remove("karpenter-b3-8-eu-west-par-a")
        .unwrap();
    let alive: Vec<_> = nodes.iter().filter(|n| n.status != "DELETING").collect();
    assert_eq!(alive.len(), 1);
    assert_eq!(alive[0].id, claims[1].labels()[labels::OVH_NODE_ID]);
    eventually("its Node gone", 30, || async {
        (env.nodes().await.len() == 1).then_some(())
    })
    .await;

    api.delete(&claims[1].name_any(), &DeleteParams::default())
        .await
        .unwrap();
    eventually("the pool deleted and every NodeClaim gone", 60, || async {
        (env.nodeclaims().await.is_empty() && env.ovh_pools().is_empty()).then_some(())
    })
    .await;
    assert!(env.pool_writes().iter().any(|(m, _, _)| m == "DELETE"));
    eventually("every Node gone", 30, || async {
        env.nodes().await.is_empty().then_some(())
    })
    .await;
    drop(env.controller.take());
}

/// The registration patch rewrites the node's taint list from the controller's copy of the
/// node (its informer cache). When the node lifecycle controller lifted
/// `node.kubernetes.io/not-ready` after that copy was taken, the patch put it back on a Ready
/// node for good: the demo's anti-affinity scenario then left a pod Pending beside a free,
/// Ready node. The same sequence, without timing: a copy, the taint lifted, the patch built
/// from the copy. The lifted taint stays lifted and the registration still lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_over_a_stale_copy_keeps_a_taint_lifted_since() {
    use k8s_openapi::api::core::v1::Node;
    use karpenter_ovhcloud::api::NodeClaim;
    use karpenter_ovhcloud::controller::lifecycle::patch_node;
    use karpenter_ovhcloud::lifecycle::rules::node_patch;
    use karpenter_ovhcloud_sim::kube::{Config as KubeConfig, KubeSim};
    use kube::api::{Patch, PatchParams, PostParams};
    use kube::config::{KubeConfigOptions, Kubeconfig};

    let kube = KubeSim::start(KubeConfig::default()).await.unwrap();
    let kc = Kubeconfig::from_yaml(&kube.kubeconfig_yaml()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let nodes: Api<Node> = Api::all(kube::Client::try_from(cfg).unwrap());
    let node: Node = serde_json::from_value(json!({
        "metadata": {"name": "n1"},
        "spec": {"taints": [
            {"key": labels::UNREGISTERED_TAINT, "effect": "NoExecute"},
            {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"},
        ]},
    }))
    .unwrap();
    nodes.create(&PostParams::default(), &node).await.unwrap();
    let stale = nodes.get("n1").await.unwrap();
    // The node turned Ready: the node lifecycle controller lifts its not-ready taint.
    nodes
        .patch(
            "n1",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": [
                {"key": labels::UNREGISTERED_TAINT, "effect": "NoExecute"},
            ]}})),
        )
        .await
        .unwrap();
    let claim: NodeClaim = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": "demo-pool-abcde", "labels": {labels::NODEPOOL: "demo-pool"}},
        "spec": {
            "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
            "requirements": [],
            "taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}],
        },
    }))
    .unwrap();
    assert!(patch_node(&nodes, stale, |n| Some(node_patch(&claim, n)))
        .await
        .unwrap());
    let now = nodes.get("n1").await.unwrap();
    let taints: Vec<&str> = now
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_deref())
        .unwrap_or_default()
        .iter()
        .map(|t| t.key.as_str())
        .collect();
    assert_eq!(taints, ["team"], "the registered node's taints");
    assert_eq!(now.labels()[labels::NODEPOOL], "demo-pool");
    assert_eq!(now.labels()[labels::REGISTERED], "true");
}
