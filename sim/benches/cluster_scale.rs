//! Benchmark of the simulated cluster: the scheduler's pure placement (1,000 pods on 100
//! nodes, with and without zone spread, and the unschedulable path), then the whole cluster
//! end to end (20 OVH nodes joining, a 200-replica Deployment going Running, scaling to 0).
//! Prints a table.
//!
//! Run: `cargo bench -p karpenter-ovhcloud-sim --bench cluster_scale --profile dev`

use karpenter_ovhcloud_sim::cluster::model::{NodeInfo, PodInfo};
use karpenter_ovhcloud_sim::cluster::scheduler::{schedule, Snapshot};
use karpenter_ovhcloud_sim::cluster::{ClusterConfig, SimCluster};
use karpenter_ovhcloud_sim::kube::{ListOptions, WriteOptions, WriteTarget};
use karpenter_ovhcloud_sim::ovh::auth;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};

fn node(i: usize) -> NodeInfo {
    let zone = ["a", "b", "c"][i % 3];
    NodeInfo::from_value(&json!({
        "metadata": {"name": format!("node-{i:03}"), "labels": {
            "kubernetes.io/hostname": format!("node-{i:03}"),
            "topology.kubernetes.io/zone": format!("eu-west-par-{zone}")}},
        "spec": {},
        "status": {"allocatable": {"cpu": "3890m", "memory": "13Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    }))
}

fn pod(i: usize, spread: bool) -> PodInfo {
    let mut spec = json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "300m", "memory": "512Mi"}}}]});
    if spread {
        spec["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "s"}}}]);
    }
    PodInfo::from_value(&json!({
        "metadata": {"name": format!("p-{i}"), "namespace": "default", "uid": format!("u-{i}"), "labels": {"app": "s"}},
        "spec": spec, "status": {"phase": "Pending"},
    }))
}

/// Places `pods` one by one as the scheduler loop does; returns (time, placed).
fn place(nodes: usize, pods: usize, spread: bool) -> (Duration, usize) {
    let no_pods: Vec<PodInfo> = vec![];
    let mut snap = Snapshot::new((0..nodes).map(node).collect(), no_pods, HashMap::new());
    let t = Instant::now();
    let mut placed = 0;
    for i in 0..pods {
        let p = pod(i, spread);
        if let Ok(n) = schedule(&p, &snap) {
            snap.assume(p, &n);
            placed += 1;
        }
    }
    (t.elapsed(), placed)
}

async fn signed(c: &SimCluster, method: &str, suffix: &str, body: &Value) -> u16 {
    let e = c.ovh_env();
    let url = format!(
        "{}/cloud/project/{}/kube/{}{suffix}",
        e.endpoint, e.service_name, e.kube_id
    );
    let body = body.to_string();
    let ts = jiff::Timestamp::now().as_second().to_string();
    let sig = auth::expected_signature(
        &e.application_secret,
        &e.consumer_key,
        method,
        &url,
        body.as_bytes(),
        &ts,
    );
    reqwest::Client::new()
        .request(method.parse().unwrap(), &url)
        .header("X-Ovh-Application", &e.application_key)
        .header("X-Ovh-Consumer", &e.consumer_key)
        .header("X-Ovh-Timestamp", &ts)
        .header("X-Ovh-Signature", sig)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn wait(what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !f() {
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "{what} took over 300 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    t.elapsed()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("| operation | total ms | per pod us | placed |");
    println!("|---|---|---|---|");
    for (label, nodes, pods, spread) in [
        ("place 1,000 pods on 100 nodes", 100, 1000, false),
        (
            "place 1,000 pods on 100 nodes, zone spread",
            100,
            1000,
            true,
        ),
        (
            "1,000 pods, 10 full nodes (unschedulable path)",
            10,
            1000,
            false,
        ),
    ] {
        let (d, placed) = place(nodes, pods, spread);
        println!(
            "| {label} | {:.1} | {:.1} | {placed} |",
            d.as_secs_f64() * 1000.0,
            d.as_secs_f64() * 1e6 / pods as f64
        );
    }

    // End to end at scale 1000: a 2-minute OVH install takes 0.12 s.
    let c = SimCluster::start(ClusterConfig::new("EU-WEST-PAR", 1000.0))
        .await
        .unwrap();
    c.wait_ready(Duration::from_secs(60)).await.unwrap();
    let store = c.kube().store().clone();
    let nodes = store.def("", "v1", "nodes").unwrap();
    let pods = store.def("", "v1", "pods").unwrap();
    let deploys = store.def("apps", "v1", "deployments").unwrap();
    let count = |def: &karpenter_ovhcloud_sim::kube::resources::ResourceDef,
                 f: &dyn Fn(&Value) -> bool| {
        store
            .list(def, None, &ListOptions::default())
            .unwrap()
            .items
            .iter()
            .filter(|o| f(&o.value))
            .count()
    };
    let t = Instant::now();
    let status = signed(&c, "POST", "/nodepool", &json!({
        "name": "bench", "flavorName": "b3-16", "desiredNodes": 20, "minNodes": 0, "maxNodes": 100,
        "autoscale": false, "antiAffinity": false, "monthlyBilled": false, "availabilityZones": ["eu-west-par-b"],
        "template": {"metadata": {"labels": {}, "annotations": {}, "finalizers": []}, "spec": {"unschedulable": false, "taints": []}},
    })).await;
    assert_eq!(status, 200);
    let ready = |v: &Value| {
        v.pointer("/metadata/labels/nodepool") == Some(&json!("bench"))
            && v["status"]["conditions"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|x| x["type"] == "Ready" && x["status"] == "True")
            })
    };
    wait("20 nodes", || count(&nodes, &ready) == 20).await;
    let joined = t.elapsed();
    let guide_install = Duration::from_secs(120 + 20).div_f64(1000.0);
    store.create(&deploys, "default", json!({
        "metadata": {"name": "load"},
        "spec": {"replicas": 200, "selector": {"matchLabels": {"app": "load"}},
                 "template": {"metadata": {"labels": {"app": "load"}},
                              "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "c", "image": "pause",
                                       "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}}]}}},
    }), &WriteOptions::default()).unwrap();
    let running = |v: &Value| {
        v.pointer("/metadata/labels/app") == Some(&json!("load"))
            && v["status"]["phase"] == "Running"
    };
    let up = wait("200 running", || count(&pods, &running) == 200).await;
    store
        .patch(
            WriteTarget::object(&deploys, "default", "load"),
            karpenter_ovhcloud_sim::kube::patch::PatchType::Merge,
            &json!({"spec": {"replicas": 0}}),
            &WriteOptions::default(),
        )
        .unwrap();
    let any = |v: &Value| v.pointer("/metadata/labels/app") == Some(&json!("load"));
    let down = wait("0 pods", || count(&pods, &any) == 0).await;
    println!();
    println!("| end to end (scale 1000x) | real ms |");
    println!("|---|---|");
    println!(
        "| 20 OVH nodes created -> 20 Nodes Ready (guide delays alone: {:.0} ms) | {:.0} |",
        guide_install.as_secs_f64() * 1000.0,
        joined.as_secs_f64() * 1000.0
    );
    println!(
        "| Deployment of 200 replicas -> 200 pods Running | {:.0} |",
        up.as_secs_f64() * 1000.0
    );
    println!(
        "| scale to 0 -> every pod gone | {:.0} |",
        down.as_secs_f64() * 1000.0
    );
}
