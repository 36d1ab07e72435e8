//! The scheduler over HTTP: nodeSelector, taints and tolerations, required pod anti-affinity,
//! and the Unschedulable condition kube-scheduler writes when nothing fits.

use crate::common::{client, cluster, eventually, Ovh};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selectors_taints_and_anti_affinity_over_http() {
    let c = cluster().await;
    let kc = client(&c).await;
    let ovh = Ovh::new(&c);
    ovh.create_pool("plain", "b3-8", "eu-west-par-a", 1).await;
    ovh.create_pool("gpu-ish", "b3-8", "eu-west-par-b", 1).await;
    let nodes: Api<Node> = Api::all(kc.clone());
    let names = eventually("2 Ready worker nodes", || async {
        let ns = nodes
            .list(&ListParams::default().labels("nodepool!=system"))
            .await
            .unwrap()
            .items;
        let ready = ns.iter().all(|n| {
            n.status
                .as_ref()
                .unwrap()
                .conditions
                .iter()
                .flatten()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        });
        (ns.len() == 2 && ready).then(|| {
            ns.into_iter()
                .map(|n| {
                    (
                        n.metadata.labels.unwrap()["nodepool"].clone(),
                        n.metadata.name.unwrap(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        })
    })
    .await;
    let (plain, tainted) = (names["plain"].clone(), names["gpu-ish"].clone());
    nodes
        .patch(&tainted, &PatchParams::default(), &Patch::Merge(json!({"spec": {"taints": [{"key": "dedicated", "value": "gpu", "effect": "NoSchedule"}]}})))
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(kc.clone(), "default");
    let mk = |name: &str, spec: serde_json::Value| -> Pod {
        let mut s = json!({"terminationGracePeriodSeconds": 0,
                           "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10",
                                           "resources": {"requests": {"cpu": "100m"}}}]});
        json_patch::merge(&mut s, &spec);
        serde_json::from_value(
            json!({"metadata": {"name": name, "labels": {"app": "db"}}, "spec": s}),
        )
        .unwrap()
    };
    let node_of = |p: Pod| p.spec.unwrap().node_name;
    // nodeSelector picks the tainted node, but without a toleration nothing fits.
    pods.create(
        &PostParams::default(),
        &mk("sel", json!({"nodeSelector": {"nodepool": "gpu-ish"}})),
    )
    .await
    .unwrap();
    let msg = eventually("sel unschedulable", || async {
        let p = pods.get("sel").await.unwrap();
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (c.reason.as_deref() == Some("Unschedulable")).then_some(c.message.unwrap_or_default())
    })
    .await;
    assert!(
        msg.contains("1 node(s) had untolerated taint {dedicated: gpu}"),
        "{msg}"
    );
    assert!(
        msg.contains("1 node(s) didn't match Pod's node affinity/selector"),
        "{msg}"
    );
    // With the toleration it is bound there.
    pods.create(&PostParams::default(), &mk("tol", json!({"nodeSelector": {"nodepool": "gpu-ish"}, "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoSchedule"}]}))).await.unwrap();
    let on = eventually("tol bound", || async {
        node_of(pods.get("tol").await.unwrap())
    })
    .await;
    assert_eq!(on, tainted);
    // Anti-affinity on hostname: one per node; a second on the plain node cannot go.
    let anti = json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "db"}}}]}}});
    pods.create(&PostParams::default(), &mk("db-1", anti.clone()))
        .await
        .unwrap();
    let on = eventually("db-1 bound", || async {
        node_of(pods.get("db-1").await.unwrap())
    })
    .await;
    assert_eq!(on, plain, "the only untainted worker");
    pods.create(&PostParams::default(), &mk("db-2", anti))
        .await
        .unwrap();
    let msg = eventually("db-2 unschedulable", || async {
        let p = pods.get("db-2").await.unwrap();
        let c = p
            .status?
            .conditions?
            .into_iter()
            .find(|c| c.type_ == "PodScheduled")?;
        (c.reason.as_deref() == Some("Unschedulable")).then_some(c.message.unwrap_or_default())
    })
    .await;
    assert!(
        msg.contains("1 node(s) didn't satisfy existing pods anti-affinity rules"),
        "{msg}"
    );
}
