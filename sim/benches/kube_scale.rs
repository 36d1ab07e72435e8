//! Scale benchmark of the simulated API server: 10,000 pods and 1,000 nodes, 20 watchers.
//! Prints a table: list latency over HTTP and the time for one change to reach all watchers.
//!
//! Run: `cargo bench -p karpenter-ovhcloud-sim --bench kube_scale`

use karpenter_ovhcloud_sim::kube::{Config, KubeSim, WriteOptions};
use serde_json::json;
use std::time::{Duration, Instant};

const PODS: usize = 10_000;
const NODES: usize = 1_000;
const WATCHERS: usize = 20;
const ROUNDS: usize = 20;
const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

fn stats(mut v: Vec<Duration>) -> (Duration, Duration, Duration) {
    v.sort();
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

/// Milliseconds: one decimal, three below 1 ms (a single GET's server time is tens of us).
fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 1.0 {
        format!("{ms:.3}")
    } else {
        format!("{ms:.1}")
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sim = KubeSim::start(Config {
        bookmark_interval: Duration::from_secs(3600),
        ..Config::default()
    })
    .await
    .unwrap();
    let store = sim.store().clone();
    let nodes = store.def("", "v1", "nodes").unwrap();
    let pods = store.def("", "v1", "pods").unwrap();
    let opts = WriteOptions {
        field_manager: Some("bench".into()),
        ..Default::default()
    };
    let t = Instant::now();
    for i in 0..NODES {
        let n = json!({"metadata": {"name": format!("node-{i}"), "labels": {"topology.kubernetes.io/zone": format!("eu-west-par-{}", ["a", "b", "c"][i % 3])}},
                       "status": {"capacity": {"cpu": "8", "memory": "32Gi"}, "conditions": [{"type": "Ready", "status": "True"}]}});
        store.create(&nodes, "", n, &opts).unwrap();
    }
    for i in 0..PODS {
        let p = json!({"metadata": {"name": format!("pod-{i}"), "labels": {"app": format!("app-{}", i % 50)}},
                       "spec": {"nodeName": format!("node-{}", i % NODES), "containers": [{"name": "c", "image": "pause:3.9", "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}});
        store.create(&pods, "default", p, &opts).unwrap();
    }
    let create = t.elapsed();

    let http = reqwest::Client::new();
    let base = sim.base_url();
    let token = sim.admin_token().to_string();
    let get_as = |path: String, accept: &'static str| {
        let http = http.clone();
        let token = token.clone();
        let url = format!("{base}{path}");
        async move {
            let t = Instant::now();
            let body = http
                .get(url)
                .bearer_auth(token)
                .header("accept", accept)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            (t.elapsed(), body.len())
        }
    };
    let get = |path: String| get_as(path, "application/json");
    let mut rows = Vec::new();
    for (label, path) in [
        ("list 10,000 pods (JSON)", "/api/v1/pods".to_string()),
        ("list 1,000 nodes (JSON)", "/api/v1/nodes".to_string()),
        (
            "list pods, label selector (200 match)",
            "/api/v1/namespaces/default/pods?labelSelector=app%3Dapp-7".to_string(),
        ),
        (
            "list pods, field selector spec.nodeName",
            "/api/v1/pods?fieldSelector=spec.nodeName%3Dnode-7".to_string(),
        ),
        (
            "list pods, limit=500 page",
            "/api/v1/pods?limit=500".to_string(),
        ),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..10 {
            let (d, n) = get(path.clone()).await;
            times.push(d);
            size = n;
        }
        let (min, med, max) = stats(times);
        rows.push((label.to_string(), min, med, max, size));
    }

    // The same lists in protobuf (what kubectl asks for): encoded per request by reflection.
    for (label, path) in [
        ("list 10,000 pods (protobuf)", "/api/v1/pods"),
        ("list 1,000 nodes (protobuf)", "/api/v1/nodes"),
    ] {
        let mut times = Vec::new();
        let mut size = 0;
        for _ in 0..10 {
            let (d, n) = get_as(path.to_string(), PROTOBUF).await;
            times.push(d);
            size = n;
        }
        let (min, med, max) = stats(times);
        rows.push((label.to_string(), min, med, max, size));
    }
    // The server's own time for one pod GET (arrival to response head, from its request log):
    // the stored JSON bytes as they are, or the object encoded to protobuf.
    for (label, accept) in [
        (
            "get 1 pod, server time (JSON, 200 requests)",
            "application/json",
        ),
        ("get 1 pod, server time (protobuf, 200 requests)", PROTOBUF),
    ] {
        sim.clear_request_timings();
        let mut size = 0;
        for i in 0..200 {
            size = get_as(format!("/api/v1/namespaces/default/pods/pod-{i}"), accept)
                .await
                .1;
        }
        let times = sim
            .request_timings()
            .iter()
            .map(|t| Duration::from_micros(t.micros))
            .collect();
        let (min, med, max) = stats(times);
        rows.push((label.to_string(), min, med, max, size));
    }

    // 20 watchers on all pods; one pod status change per round must reach every one of them.
    let rv = store.resource_version();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<usize>();
    for w in 0..WATCHERS {
        let mut resp = http
            .get(format!("{base}/api/v1/pods?watch=1&resourceVersion={rv}"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        let tx = tx.clone();
        tokio::spawn(async move {
            while let Ok(Some(chunk)) = resp.chunk().await {
                for _ in chunk.iter().filter(|b| **b == b'\n') {
                    let _ = tx.send(w);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut fanout = Vec::new();
    for r in 0..ROUNDS {
        let t = Instant::now();
        let patch = json!({"status": {"phase": "Running", "podIP": format!("10.0.0.{r}")}});
        http.patch(format!(
            "{base}/api/v1/namespaces/default/pods/pod-{r}/status"
        ))
        .bearer_auth(&token)
        .header("content-type", "application/merge-patch+json")
        .body(patch.to_string())
        .send()
        .await
        .unwrap();
        let mut got = 0;
        while got < WATCHERS {
            tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .expect("fan-out timed out")
                .unwrap();
            got += 1;
        }
        fanout.push(t.elapsed());
    }
    let (fmin, fmed, fmax) = stats(fanout);

    println!(
        "objects created in-process: {NODES} nodes + {PODS} pods in {} ms",
        ms(create)
    );
    println!();
    println!("| operation | min ms | median ms | max ms | response bytes |");
    println!("|---|---|---|---|---|");
    for (label, min, med, max, size) in rows {
        println!(
            "| {label} | {} | {} | {} | {size} |",
            ms(min),
            ms(med),
            ms(max)
        );
    }
    println!(
        "| pod status patch -> all {WATCHERS} watchers ({ROUNDS} rounds) | {} | {} | {} | - |",
        ms(fmin),
        ms(fmed),
        ms(fmax)
    );
}
