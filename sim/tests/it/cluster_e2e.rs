//! The simulated cluster end to end, with no autoscaler: pods that need capacity stay Pending
//! and Unschedulable; raising an OVH pool's desiredNodes makes MKS Nodes appear and the pods
//! run; removing a node with `nodesToRemove` drains exactly that node.

use crate::common::{client, cluster, eventually, Ovh};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Event, Node, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;

fn inflate(replicas: i32) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "inflate", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "inflate"}},
            "template": {
                "metadata": {"labels": {"app": "inflate"}},
                "spec": {"terminationGracePeriodSeconds": 0, "containers": [{
                    "name": "inflate", "image": "public.ecr.aws/eks-distro/kubernetes/pause:3.7",
                    "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]},
            },
        },
    }))
    .unwrap()
}

fn condition<'a>(p: &'a Pod, t: &str) -> Option<&'a k8s_openapi::api::core::v1::PodCondition> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == t)
}

async fn inflate_pods(pods: &Api<Pod>) -> Vec<Pod> {
    pods.list(&ListParams::default().labels("app=inflate"))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_pods_run_once_ovh_nodes_join_and_a_removed_node_drains() {
    let c = cluster().await;
    let kc = client(&c).await;
    let nodes: Api<Node> = Api::all(kc.clone());
    let pods: Api<Pod> = Api::namespaced(kc.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(kc.clone(), "default");

    // The static pool's node hosts the add-ons and keeps workloads away with its taint.
    let system = nodes.list(&ListParams::default()).await.unwrap().items;
    assert_eq!(system.len(), 1);
    assert_eq!(
        system[0].metadata.labels.as_ref().unwrap()["nodepool"],
        "system"
    );

    deployments
        .create(&PostParams::default(), &inflate(3))
        .await
        .unwrap();
    let pending = eventually("3 unschedulable pods", || async {
        let ps = inflate_pods(&pods).await;
        let unschedulable = ps.iter().all(|p| {
            condition(p, "PodScheduled").is_some_and(|c| {
                c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
            })
        });
        (ps.len() == 3 && unschedulable).then_some(ps)
    })
    .await;
    let msg = condition(&pending[0], "PodScheduled")
        .unwrap()
        .message
        .clone()
        .unwrap();
    assert!(
        msg.starts_with(
            "0/1 nodes are available: 1 node(s) had untolerated taint {CriticalAddonsOnly: true}."
        ),
        "{msg}"
    );
    assert_eq!(
        pending[0].status.as_ref().unwrap().phase.as_deref(),
        Some("Pending")
    );
    let events: Api<Event> = Api::namespaced(kc.clone(), "default");
    let failed = events
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("FailedScheduling"))
        .count();
    assert!(failed >= 3, "a FailedScheduling Event per pod");

    // Raise desiredNodes of a shared pool: a Node joins with MKS labels, pods run on it.
    let ovh = Ovh::new(&c);
    let pool = ovh
        .create_pool("karpenter-b3-8-eu-west-par-a", "b3-8", "eu-west-par-a", 0)
        .await;
    ovh.ok(
        "PUT",
        &format!("/nodepool/{pool}"),
        Some(&json!({"desiredNodes": 1})),
    )
    .await;
    let ovh_nodes = eventually("one READY OVH node", || async {
        let ns = ovh
            .ok("GET", &format!("/nodepool/{pool}/nodes"), None)
            .await;
        let ready = ns
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["status"] == "READY");
        (ns.as_array().unwrap().len() == 1 && ready).then_some(ns)
    })
    .await;
    let first = ovh_nodes[0].clone();
    let node_name = first["name"].as_str().unwrap().to_string();
    // Ready, then the node lifecycle controller lifts the not-ready taint (as in a real
    // cluster, a moment after: it reacts to the Ready condition).
    let node = eventually("the Node Ready and untainted", || async {
        let n = nodes.get_opt(&node_name).await.unwrap()?;
        let ready = n
            .status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "True");
        let untainted = n
            .spec
            .as_ref()?
            .taints
            .as_ref()
            .is_none_or(|t| t.is_empty());
        (ready && untainted).then_some(n)
    })
    .await;
    let labels = node.metadata.labels.clone().unwrap();
    assert_eq!(labels["node.kubernetes.io/instance-type"], "b3-8");
    assert_eq!(labels["topology.kubernetes.io/zone"], "eu-west-par-a");
    assert_eq!(labels["topology.kubernetes.io/region"], "eu-west-par");
    assert_eq!(labels["kubernetes.io/hostname"], node_name);
    assert_eq!(labels["kubernetes.io/arch"], "amd64");
    assert_eq!(labels["kubernetes.io/os"], "linux");
    assert_eq!(labels["nodepool"], "karpenter-b3-8-eu-west-par-a");
    assert_eq!(labels["karpenter.ovhcloud.sh/flavor-family"], "b3");
    assert!(
        !labels.contains_key("karpenter.sh/nodepool"),
        "MKS drops karpenter.sh labels"
    );
    assert_eq!(
        node.spec.as_ref().unwrap().provider_id.as_deref(),
        Some(format!("openstack:///{}", first["instanceId"].as_str().unwrap()).as_str())
    );
    let alloc = node.status.as_ref().unwrap().allocatable.clone().unwrap();
    assert_eq!(alloc["cpu"].0, "1930m");
    eventually("3 pods Running on the new node", || async {
        let ps = inflate_pods(&pods).await;
        let ok = ps.len() == 3
            && ps.iter().all(|p| {
                p.spec.as_ref().unwrap().node_name.as_deref() == Some(node_name.as_str())
                    && p.status.as_ref().unwrap().phase.as_deref() == Some("Running")
                    && condition(p, "Ready").is_some_and(|c| c.status == "True")
            });
        ok.then_some(())
    })
    .await;

    // A second node, then remove the first by name: it is drained and deleted, the pods
    // reschedule on the other one.
    ovh.ok(
        "PUT",
        &format!("/nodepool/{pool}"),
        Some(&json!({"desiredNodes": 2})),
    )
    .await;
    let second = eventually("a second Ready Node", || async {
        let ns = nodes
            .list(&ListParams::default().labels("nodepool=karpenter-b3-8-eu-west-par-a"))
            .await
            .unwrap()
            .items;
        ns.into_iter()
            .find(|n| {
                n.metadata.name.as_deref() != Some(node_name.as_str())
                    && n.status
                        .as_ref()
                        .unwrap()
                        .conditions
                        .as_ref()
                        .unwrap()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
            })
            .and_then(|n| n.metadata.name)
    })
    .await;
    ovh.ok(
        "PUT",
        &format!("/nodepool/{pool}"),
        Some(&json!({"desiredNodes": 1, "nodesToRemove": [node_name]})),
    )
    .await;
    eventually(
        "the removed Node gone, pods Running on the other",
        || async {
            let gone = nodes.get_opt(&node_name).await.unwrap().is_none();
            let ps = inflate_pods(&pods).await;
            let moved = ps.len() == 3
                && ps.iter().all(|p| {
                    p.spec.as_ref().unwrap().node_name.as_deref() == Some(second.as_str())
                        && p.status.as_ref().unwrap().phase.as_deref() == Some("Running")
                });
            (gone && moved).then_some(())
        },
    )
    .await;
    assert!(nodes.get_opt(&second).await.unwrap().is_some());
}

/// The node lifecycle controller's not-ready taint pass is level-triggered, as
/// kube-controller-manager's: a Ready node that gets `node.kubernetes.io/not-ready` back (a
/// writer that rewrote the taint list from a copy older than the lift) loses it again, instead
/// of staying unschedulable for good; the other taints stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_node_does_not_keep_the_not_ready_taint() {
    use kube::api::{Patch, PatchParams};
    let c = cluster().await;
    let nodes: Api<Node> = Api::all(client(&c).await);
    let keys = |n: &Node| -> Vec<String> {
        n.spec
            .as_ref()
            .and_then(|s| s.taints.as_ref())
            .map(|t| t.iter().map(|t| t.key.clone()).collect())
            .unwrap_or_default()
    };
    let system = eventually("the system node Ready, not-ready taint lifted", || async {
        let n = nodes.list(&ListParams::default()).await.ok()?.items.pop()?;
        (!keys(&n).iter().any(|k| k == "node.kubernetes.io/not-ready")).then_some(n)
    })
    .await;
    let name = system.metadata.name.clone().unwrap();
    let mut taints = system.spec.unwrap().taints.unwrap_or_default();
    let before: Vec<String> = taints.iter().map(|t| t.key.clone()).collect();
    taints.push(k8s_openapi::api::core::v1::Taint {
        key: "node.kubernetes.io/not-ready".into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    });
    nodes
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": taints}})),
        )
        .await
        .unwrap();
    eventually("the not-ready taint lifted again", || async {
        let n = nodes.get(&name).await.ok()?;
        (keys(&n) == before).then_some(())
    })
    .await;
}
