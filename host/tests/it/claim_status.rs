//! The one NodeClaim status writer (`controller::claim_status`) against the simulated API
//! server: writers working from stale copies never undo each other.

use std::time::Duration;

use karpenter_ovhcloud::api::condition::{self, ConditionStatus};
use karpenter_ovhcloud::api::nodeclaim::{CONDITION_DRIFTED, CONDITION_LAUNCHED};
use karpenter_ovhcloud::api::NodeClaim;
use karpenter_ovhcloud::clock::Clock;
use karpenter_ovhcloud::controller::claim_status;
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
) -> impl FnMut(&mut karpenter_ovhcloud::api::NodeClaimStatus, jiff::Timestamp) -> bool {
    move |status, now| {
        condition::set(
            &mut status.conditions,
            type_,
            ConditionStatus::True,
            type_,
            "set by the test",
            None,
            now,
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
        claim_status::update(&api, &clock, &created, set_true(CONDITION_LAUNCHED))
            .await
            .unwrap()
    );
    // The second writes Drifted from the copy taken before Launched: without the
    // resourceVersion lock its whole-status patch would drop Launched.
    assert!(
        claim_status::update(&api, &clock, &stale, set_true(CONDITION_DRIFTED))
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
        !claim_status::update(&api, &clock, &now, set_true(CONDITION_DRIFTED))
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
        tokio::spawn(async move { claim_status::update(&api, &clock, &copy, set_true(t)).await })
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
