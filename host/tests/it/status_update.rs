//! The one status writer (`controller::status`) against the simulated API server: writers
//! working from stale copies never undo each other, and `Ready` follows the conditions it
//! summarises, as upstream computes it.

use std::time::Duration;

use karpenter_ovhcloud::api::condition::{self, ConditionStatus};
use karpenter_ovhcloud::api::nodeclaim::{CONDITION_DRIFTED, CONDITION_LAUNCHED};
use karpenter_ovhcloud::api::NodeClaim;
use karpenter_ovhcloud::clock::Clock;
use karpenter_ovhcloud::controller::status;
use karpenter_ovhcloud_sim::kube::{Config as KubeConfig, KubeSim};
use kube::api::{Api, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::ResourceExt;
use serde_json::json;

async fn nodeclaims(kube: &KubeSim) -> Api<NodeClaim> {
    let kc = Kubeconfig::from_yaml(&kube.kubeconfig_yaml()).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap();
    let client = kube::Client::try_from(cfg).unwrap();
    crate::controller_common::install_crds_and_namespace(&client).await;
    Api::all(client)
}

fn claim(name: &str) -> NodeClaim {
    serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
        "metadata": {"name": name, "labels": {"karpenter.sh/nodepool": "demo-pool"}},
        "spec": {
            "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
            "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]}],
        },
    }))
    .unwrap()
}

/// An edit that sets condition `type_` to True (a pure function of the status it is given).
fn set_true(
    type_: &'static str,
) -> impl FnMut(&mut karpenter_ovhcloud::api::NodeClaimStatus, &status::Stamp) -> bool {
    move |status, at| {
        at.conditions(&mut status.conditions).set(
            type_,
            ConditionStatus::True,
            type_,
            "set by the test",
        )
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_change_from_a_stale_copy_keeps_the_change_made_meanwhile() {
    let kube = KubeSim::start(KubeConfig::default()).await.unwrap();
    let api = nodeclaims(&kube).await;
    let clock = Clock::default();
    let created = api
        .create(&PostParams::default(), &claim("c1"))
        .await
        .unwrap();

    // Two loops hold the same copy; the first writes Launched.
    let stale = created.clone();
    assert!(
        status::update(&api, &clock, &created, set_true(CONDITION_LAUNCHED))
            .await
            .unwrap()
    );
    // The second writes Drifted from the copy taken before Launched: without the
    // resourceVersion lock its whole-status patch would drop Launched.
    assert!(
        status::update(&api, &clock, &stale, set_true(CONDITION_DRIFTED))
            .await
            .unwrap()
    );
    let now = api.get("c1").await.unwrap();
    assert!(
        now.is_condition_true(CONDITION_LAUNCHED),
        "{:?}",
        now.status
    );
    assert!(now.is_condition_true(CONDITION_DRIFTED), "{:?}", now.status);

    // Nothing to change: no write (the resourceVersion stays).
    let rv = now.resource_version();
    assert!(
        !status::update(&api, &clock, &now, set_true(CONDITION_DRIFTED))
            .await
            .unwrap()
    );
    assert_eq!(api.get("c1").await.unwrap().resource_version(), rv);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_status_changes_all_survive() {
    let kube = KubeSim::start(KubeConfig::default()).await.unwrap();
    let api = nodeclaims(&kube).await;
    let clock = Clock::default();
    let created = api
        .create(&PostParams::default(), &claim("c2"))
        .await
        .unwrap();
    let types = ["A", "B", "C", "D"];
    let writes = types.map(|t| {
        let (api, clock, copy) = (api.clone(), clock.clone(), created.clone());
        tokio::spawn(async move { status::update(&api, &clock, &copy, set_true(t)).await })
    });
    for w in writes {
        assert!(tokio::time::timeout(Duration::from_secs(30), w)
            .await
            .unwrap()
            .unwrap()
            .unwrap());
    }
    let now = api.get("c2").await.unwrap();
    for t in types {
        assert!(now.is_condition_true(t), "{t} lost: {:?}", now.status);
    }
}

/// `status.conditions` as stored, in JSON (what a kubectl user and upstream's schema see).
async fn stored_conditions<K>(api: &Api<K>, name: &str) -> Vec<serde_json::Value>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug,
{
    let obj = serde_json::to_value(api.get(name).await.unwrap()).unwrap();
    obj["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn condition_of<'a>(conditions: &'a [serde_json::Value], type_: &str) -> &'a serde_json::Value {
    conditions
        .iter()
        .find(|c| c["type"] == type_)
        .unwrap_or_else(|| panic!("no {type_} in {conditions:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodeclaim_ready_summarises_launched_registered_initialized() {
    use karpenter_ovhcloud::api::nodeclaim::{CONDITION_INITIALIZED, CONDITION_REGISTERED};
    let kube = KubeSim::start(KubeConfig::default()).await.unwrap();
    let api = nodeclaims(&kube).await;
    let clock = Clock::default();
    let created = api
        .create(&PostParams::default(), &claim("c3"))
        .await
        .unwrap();
    status::update(&api, &clock, &created, set_true(CONDITION_LAUNCHED))
        .await
        .unwrap();
    let conds = stored_conditions(&api, "c3").await;
    let ready = condition_of(&conds, condition::READY);
    assert_eq!(ready["status"], "Unknown");
    assert_eq!(ready["reason"], "ReconcilingDependents");
    assert_eq!(ready["message"], "Registered=Unknown, Initialized=Unknown");
    for t in [CONDITION_REGISTERED, CONDITION_INITIALIZED] {
        let now = api.get("c3").await.unwrap();
        status::update(&api, &clock, &now, set_true(t))
            .await
            .unwrap();
    }
    let conds = stored_conditions(&api, "c3").await;
    let ready = condition_of(&conds, condition::READY);
    assert_eq!(
        (&ready["status"], &ready["reason"], &ready["message"]),
        (&json!("True"), &json!("Ready"), &json!(""))
    );
    // Every condition has the five fields upstream's schema requires, and the generation.
    for c in &conds {
        for field in ["type", "status", "reason", "message", "lastTransitionTime"] {
            assert!(c.get(field).is_some(), "{field} missing in {c}");
        }
        assert_eq!(c["observedGeneration"], 1, "{c}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodepool_ready_summarises_validation_and_node_class_from_stale_copies() {
    use karpenter_ovhcloud::api::nodepool::{
        CONDITION_NODECLASS_READY, CONDITION_VALIDATION_SUCCEEDED,
    };
    use karpenter_ovhcloud::api::NodePool;
    let kube = KubeSim::start(KubeConfig::default()).await.unwrap();
    let client = nodeclaims(&kube).await.into_client();
    let api: Api<NodePool> = Api::all(client);
    let clock = Clock::default();
    let pool: NodePool = serde_json::from_value(json!({
        "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": "p1"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
            "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]}],
        }}},
    }))
    .unwrap();
    let created = api.create(&PostParams::default(), &pool).await.unwrap();
    let stale = created.clone();
    // Writes one condition from `copy` (a stale copy for the second writer).
    let write = |copy: &NodePool,
                 t: &'static str,
                 s: ConditionStatus,
                 reason: &'static str,
                 msg: &'static str| {
        let (api, clock, copy) = (api.clone(), clock.clone(), copy.clone());
        async move {
            status::update(&api, &clock, &copy, |st, at| {
                at.conditions(&mut st.conditions).set(t, s, reason, msg)
            })
            .await
            .unwrap();
        }
    };
    write(
        &created,
        CONDITION_VALIDATION_SUCCEEDED,
        ConditionStatus::True,
        "ValidationSucceeded",
        "",
    )
    .await;
    write(
        &stale,
        CONDITION_NODECLASS_READY,
        ConditionStatus::False,
        "NodeClassNotFound",
        "NodeClass not found on cluster",
    )
    .await;
    let conds = stored_conditions(&api, "p1").await;
    assert_eq!(
        condition_of(&conds, CONDITION_VALIDATION_SUCCEEDED)["status"],
        "True"
    );
    let ready = condition_of(&conds, condition::READY);
    assert_eq!(
        (&ready["status"], &ready["reason"], &ready["message"]),
        (
            &json!("False"),
            &json!("UnhealthyDependents"),
            &json!("NodeClassReady=False")
        )
    );
    write(
        &stale,
        CONDITION_NODECLASS_READY,
        ConditionStatus::True,
        "NodeClassReady",
        "",
    )
    .await;
    let conds = stored_conditions(&api, "p1").await;
    assert_eq!(condition_of(&conds, condition::READY)["status"], "True");
}
