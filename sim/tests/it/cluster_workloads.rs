//! Kubelets and workload controllers of the simulated cluster over HTTP with kube-rs:
//! DaemonSets on new nodes, evictions blocked by a PodDisruptionBudget, graceful deletion,
//! NoExecute taints, pod GC of a deleted Node, Deployment rolling update and owner GC.

use crate::common::{client, cluster, eventually, Ovh};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use karpenter_ovhcloud_sim::cluster::SimCluster;
use kube::api::{Api, DeleteParams, EvictParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

async fn labelled(pods: &Api<Pod>, sel: &str) -> Vec<Pod> {
    pods.list(&ListParams::default().labels(sel))
        .await
        .unwrap()
        .items
}

/// Adds `n` b3-8 nodes in a new pool and waits until they are Ready Nodes; returns their names.
async fn add_nodes(c: &SimCluster, pool: &str, n: u32) -> Vec<String> {
    let ovh = Ovh::new(c);
    ovh.create_pool(pool, "b3-8", "eu-west-par-b", n).await;
    let nodes: Api<Node> = Api::all(client(c).await);
    eventually("new nodes Ready", || async {
        let ns = nodes
            .list(&ListParams::default().labels(&format!("nodepool={pool}")))
            .await
            .unwrap()
            .items;
        let ok = ns.len() == n as usize
            && ns.iter().all(|x| {
                x.status
                    .as_ref()
                    .unwrap()
                    .conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            });
        ok.then(|| ns.into_iter().filter_map(|x| x.metadata.name).collect())
    })
    .await
}

fn deployment(name: &str, replicas: i32, grace: i64) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"terminationGracePeriodSeconds": grace, "containers": [{
                    "name": "app", "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]},
            },
        },
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemonsets_run_on_every_matching_node_including_new_ones() {
    let c = cluster().await;
    let kc = client(&c).await;
    let ds_api: Api<DaemonSet> = Api::namespaced(kc.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(kc.clone(), "default");
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {"selector": {"matchLabels": {"app": "agent"}},
                 "template": {"metadata": {"labels": {"app": "agent"}},
                              "spec": {"containers": [{"name": "a", "image": "busybox:1.36"}]}}},
    }))
    .unwrap();
    ds_api.create(&PostParams::default(), &ds).await.unwrap();
    // The static node's CriticalAddonsOnly taint keeps it out.
    eventually("DaemonSet status observed", || async {
        let d = ds_api.get("agent").await.unwrap();
        d.status
            .filter(|s| s.observed_generation == Some(1))
            .map(|_| ())
    })
    .await;
    assert!(labelled(&pods, "app=agent").await.is_empty());

    let first = add_nodes(&c, "pool-one", 1).await;
    eventually("a daemon pod Running on the new node", || async {
        let ps = labelled(&pods, "app=agent").await;
        (ps.len() == 1
            && ready(&ps[0])
            && ps[0].spec.as_ref().unwrap().node_name.as_deref() == Some(first[0].as_str()))
        .then_some(())
    })
    .await;
    let second = add_nodes(&c, "pool-two", 2).await;
    eventually(
        "daemon pods on all three nodes, status up to date",
        || async {
            let ps = labelled(&pods, "app=agent").await;
            let mut on: Vec<String> = ps
                .iter()
                .filter(|p| ready(p))
                .filter_map(|p| p.spec.as_ref().unwrap().node_name.clone())
                .collect();
            on.sort();
            let mut want = [first.clone(), second.clone()].concat();
            want.sort();
            let st = ds_api.get("agent").await.unwrap().status.unwrap();
            (on == want && st.desired_number_scheduled == 3 && st.number_ready == 3).then_some(())
        },
    )
    .await;
    // kube-proxy (tolerates everything) runs on the static node too.
    let system_pods: Api<Pod> = Api::namespaced(kc.clone(), "kube-system");
    eventually("kube-proxy on 4 nodes", || async {
        (labelled(&system_pods, "k8s-app=kube-proxy")
            .await
            .iter()
            .filter(|p| ready(p))
            .count()
            == 4)
            .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_is_blocked_by_a_pdb_and_graceful_deletion_waits() {
    let c = cluster().await;
    let kc = client(&c).await;
    add_nodes(&c, "workers", 1).await;
    let deps: Api<Deployment> = Api::namespaced(kc.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(kc.clone(), "default");
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(kc.clone(), "default");
    // 300 guide seconds of grace: 3 s at the tests' scale.
    deps.create(&PostParams::default(), &deployment("web", 2, 300))
        .await
        .unwrap();
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    let running = eventually("2 ready pods and the PDB status", || async {
        let ps = labelled(&pods, "app=web").await;
        let st = pdbs.get("web").await.unwrap().status?;
        (ps.iter().filter(|p| ready(p)).count() == 2
            && st.current_healthy == 2
            && st.disruptions_allowed == 0)
            .then_some(ps)
    })
    .await;
    let victim = running[0].metadata.name.clone().unwrap();
    match pods.evict(&victim, &EvictParams::default()).await {
        Err(kube::Error::Api(s)) => assert_eq!(s.code, 429, "{s:?}"),
        other => panic!("eviction should be refused: {other:?}"),
    }
    assert!(ready(&pods.get(&victim).await.unwrap()));

    pdbs.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"minAvailable": 1}})),
    )
    .await
    .unwrap();
    eventually("one disruption allowed", || async {
        (pdbs.get("web").await.unwrap().status?.disruptions_allowed == 1).then_some(())
    })
    .await;
    pods.evict(&victim, &EvictParams::default()).await.unwrap();
    // Graceful: the pod stays, terminating with the grace period, not Ready, then goes.
    let terminating = pods.get(&victim).await.unwrap();
    assert!(terminating.metadata.deletion_timestamp.is_some());
    assert_eq!(
        terminating.metadata.deletion_grace_period_seconds,
        Some(300)
    );
    eventually("the terminating pod not Ready", || async {
        let p = pods.get_opt(&victim).await.unwrap()?;
        let not_ready = p
            .status?
            .conditions?
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False");
        not_ready.then_some(())
    })
    .await;
    eventually("the pod gone and replaced", || async {
        let gone = pods.get_opt(&victim).await.unwrap().is_none();
        let ps = labelled(&pods, "app=web").await;
        (gone && ps.iter().filter(|p| ready(p)).count() == 2).then_some(())
    })
    .await;

    // A zero grace period deletes at once; so does deleting a pod no node runs.
    let other = labelled(&pods, "app=web").await[0]
        .metadata
        .name
        .clone()
        .unwrap();
    pods.delete(&other, &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    assert!(
        pods.get_opt(&other).await.unwrap().is_none(),
        "deleted at once"
    );
    deps.patch(
        "web",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"template": {"spec": {"nodeSelector": {"nowhere": "x"}}}}})),
    )
    .await
    .unwrap();
    // A pod of the new template (its node selector matches no node, so it stays unbound): a
    // pod of the old template may be unbound only until the scheduler gets to it, and then its
    // deletion is graceful.
    let unbound = eventually("a pending pod of the new template", || async {
        labelled(&pods, "app=web").await.into_iter().find(|p| {
            let spec = p.spec.as_ref().unwrap();
            spec.node_name.is_none()
                && p.metadata.deletion_timestamp.is_none()
                && spec
                    .node_selector
                    .as_ref()
                    .is_some_and(|s| s.contains_key("nowhere"))
        })
    })
    .await;
    let unbound = unbound.metadata.name.unwrap();
    pods.delete(&unbound, &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        pods.get_opt(&unbound).await.unwrap().is_none(),
        "an unbound pod needs no kubelet to go"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn noexecute_taints_evict_and_a_deleted_node_takes_its_pods() {
    let c = cluster().await;
    let kc = client(&c).await;
    let node = add_nodes(&c, "workers", 1).await.remove(0);
    let nodes: Api<Node> = Api::all(kc.clone());
    let pods: Api<Pod> = Api::namespaced(kc.clone(), "default");
    let pod = |name: &str, tolerations: serde_json::Value| -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "labels": {"t": "x"}},
            "spec": {"terminationGracePeriodSeconds": 0, "tolerations": tolerations,
                     "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]},
        }))
        .unwrap()
    };
    pods.create(&PostParams::default(), &pod("plain", json!([])))
        .await
        .unwrap();
    pods.create(
        &PostParams::default(),
        &pod(
            "tolerant",
            json!([{"key": "maintenance", "operator": "Exists", "effect": "NoExecute"}]),
        ),
    )
    .await
    .unwrap();
    pods.create(&PostParams::default(), &pod("for-a-while", json!([{"key": "maintenance", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 60}]))).await.unwrap();
    eventually("3 pods running on the node", || async {
        (labelled(&pods, "t=x")
            .await
            .iter()
            .filter(|p| ready(p))
            .count()
            == 3)
            .then_some(())
    })
    .await;
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(
                json!({"spec": {"taints": [{"key": "maintenance", "effect": "NoExecute"}]}}),
            ),
        )
        .await
        .unwrap();
    eventually("only the tolerant pod left", || async {
        let names: Vec<String> = labelled(&pods, "t=x")
            .await
            .into_iter()
            .filter_map(|p| p.metadata.name)
            .collect();
        (names == ["tolerant"]).then_some(())
    })
    .await;

    // A Deployment's pods on a deleted Node are removed and replaced.
    let deps: Api<Deployment> = Api::namespaced(kc.clone(), "default");
    nodes
        .patch(
            &node,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"taints": null}})),
        )
        .await
        .unwrap();
    deps.create(&PostParams::default(), &deployment("api", 2, 0))
        .await
        .unwrap();
    let before: Vec<String> = eventually("2 api pods ready", || async {
        let ps = labelled(&pods, "app=api").await;
        (ps.iter().filter(|p| ready(p)).count() == 2)
            .then(|| ps.into_iter().filter_map(|p| p.metadata.name).collect())
    })
    .await;
    nodes.delete(&node, &DeleteParams::default()).await.unwrap();
    eventually("old pods gone, replacements ready", || async {
        let ps = labelled(&pods, "app=api").await;
        let names: Vec<String> = ps
            .iter()
            .filter(|p| ready(p))
            .filter_map(|p| p.metadata.name.clone())
            .collect();
        (names.len() == 2 && names.iter().all(|n| !before.contains(n))).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_roll_out_scale_and_are_garbage_collected() {
    let c = cluster().await;
    let kc = client(&c).await;
    add_nodes(&c, "workers", 1).await;
    let deps: Api<Deployment> = Api::namespaced(kc.clone(), "default");
    let rss: Api<ReplicaSet> = Api::namespaced(kc.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(kc.clone(), "default");
    deps.create(&PostParams::default(), &deployment("app", 3, 0))
        .await
        .unwrap();
    eventually("3 available", || async {
        let st = deps.get("app").await.unwrap().status?;
        (st.available_replicas == Some(3) && st.updated_replicas == Some(3)).then_some(())
    })
    .await;
    deps.patch("app", &PatchParams::default(), &Patch::Merge(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.9", "resources": {"requests": {"cpu": "100m"}}}]}}}})))
        .await
        .unwrap();
    eventually("rolled out to the new template", || async {
        let ps = labelled(&pods, "app=app").await;
        let new = ps
            .iter()
            .filter(|p| {
                ready(p)
                    && p.spec.as_ref().unwrap().containers[0].image.as_deref()
                        == Some("registry.k8s.io/pause:3.9")
            })
            .count();
        let rs = rss.list(&ListParams::default()).await.unwrap().items;
        let old_empty = rs
            .iter()
            .filter(|r| r.spec.as_ref().unwrap().replicas == Some(0))
            .count()
            == 1;
        (new == 3 && ps.len() == 3 && rs.len() == 2 && old_empty).then_some(())
    })
    .await;
    deps.patch_scale(
        "app",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"replicas": 1}})),
    )
    .await
    .unwrap();
    eventually("scaled to 1", || async {
        (labelled(&pods, "app=app").await.len() == 1).then_some(())
    })
    .await;
    deps.delete("app", &DeleteParams::default()).await.unwrap();
    eventually("ReplicaSets and pods collected", || async {
        let none = rss
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .is_empty()
            && labelled(&pods, "app=app").await.is_empty();
        none.then_some(())
    })
    .await;
}
