//! The controller as its own process: what it tells an operator. Prometheus metrics of every
//! OVH request (by endpoint template and status, retries included) scraped over HTTP and
//! checked against the OVH simulator's own request log; every metric the chart's Grafana
//! dashboards query exposed by `/metrics`; Events on pods (`Nominated`, and a Warning when no
//! NodePool can take a pod).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::controller_common::cluster::{nodepool, World};
use crate::controller_common::{eventually, free_port, Env, ONE_BATCH, SCALE};
use k8s_openapi::api::events::v1::Event;
use karpenter_ovhcloud_sim::ovh::{FaultSpec, SimConfig, DEFAULT_KUBE_ID, DEFAULT_SERVICE_NAME};
use kube::ResourceExt;
use serde_json::{json, Value};

/// Starts the controller with its metrics on a known port; returns the metrics URL.
async fn start_with_metrics(env: &mut Env) -> String {
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut args = ONE_BATCH.to_vec();
    args.extend(["--metrics-address", &metrics_addr]);
    env.start_controller(&args).await;
    format!("http://{metrics_addr}/metrics")
}

/// `karpenter_ovhcloud_ovh_requests_total` as ("METHOD /route", status) -> count.
fn parse_requests(text: &str) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("karpenter_ovhcloud_ovh_requests_total{") else {
            continue;
        };
        let (labels, value) = rest.rsplit_once("} ").expect("a sample");
        let label = |name: &str| {
            let start = labels.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
            labels[start..start + labels[start..].find('"').unwrap()].to_string()
        };
        out.insert(
            (
                format!("{} {}", label("method"), label("endpoint")),
                label("status"),
            ),
            value.trim().parse().unwrap(),
        );
    }
    out
}

/// The simulator's request log as ("METHOD /route", status) -> count.
fn sim_requests(env: &Env) -> BTreeMap<(String, String), u64> {
    let mut out = BTreeMap::new();
    for r in env.ovh.requests() {
        *out.entry((r.endpoint, r.status.to_string())).or_default() += 1;
    }
    out
}

/// Every request the controller makes is counted once per attempt, under the route template
/// the simulator logs, with the status the simulator answered: injected 503s and 500s (which
/// the client retries) included, ids never in a label.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ovh_requests_are_counted_by_endpoint_and_status() {
    let mut env = Env::with_demo_pool(SimConfig::default().with_time_scale(SCALE)).await;
    let nodes = "GET /cloud/project/{serviceName}/kube/{kubeId}/node";
    let create = "POST /cloud/project/{serviceName}/kube/{kubeId}/nodepool";
    env.ovh.set_fault(
        nodes,
        FaultSpec {
            fail_next: [503, 503].into(),
            ..FaultSpec::default()
        },
    );
    env.ovh.set_fault(
        create,
        FaultSpec {
            fail_next: [500].into(),
            ..FaultSpec::default()
        },
    );
    let url = start_with_metrics(&mut env).await;
    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;
    env.initialized_claim(90).await;

    let http = reqwest::Client::new();
    let before = sim_requests(&env);
    let text = http.get(&url).send().await.unwrap().text().await.unwrap();
    let after = sim_requests(&env);
    let scraped = parse_requests(&text);
    assert!(!scraped.is_empty(), "{text}");
    // The controller is the simulator's only client: between two reads of the log, the
    // metric is exactly what the simulator saw.
    for key in before.keys().chain(after.keys()).chain(scraped.keys()) {
        let m = scraped.get(key).copied().unwrap_or(0);
        let (lo, hi) = (
            before.get(key).copied().unwrap_or(0),
            after.get(key).copied().unwrap_or(0),
        );
        assert!(
            lo <= m && m <= hi,
            "{key:?}: metric {m}, simulator {lo}..{hi}\n{text}"
        );
    }
    assert_eq!(scraped[&(nodes.to_string(), "503".to_string())], 2);
    assert_eq!(scraped[&(create.to_string(), "500".to_string())], 1);
    assert_eq!(scraped[&(create.to_string(), "200".to_string())], 1);
    assert!(scraped.contains_key(&("GET /auth/time".to_string(), "200".to_string())));
    assert!(
        !text.contains(DEFAULT_KUBE_ID) && !text.contains(DEFAULT_SERVICE_NAME),
        "ids in labels:\n{text}"
    );
    assert!(
        text.contains("karpenter_ovhcloud_ovh_request_duration_seconds_count{method=\"PUT\"")
            || text
                .contains("karpenter_ovhcloud_ovh_request_duration_seconds_count{method=\"POST\""),
        "{text}"
    );
}

/// A metric name without a histogram's `_bucket`, `_sum` or `_count` suffix.
fn base_name(name: &str) -> &str {
    ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix))
        .unwrap_or(name)
}

/// The `karpenter_[a-z0-9_]+` names in a PromQL expression.
fn promql_metrics(promql: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut from = 0;
    while let Some(at) = promql[from..].find("karpenter_").map(|i| from + i) {
        let tail = &promql[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let glued = promql[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if !glued {
            names.push(&tail[..len]);
        }
        from = at + len;
    }
    names
}

/// Every metric name the PromQL of a Grafana dashboard uses (the panels' `expr`, the
/// variables' `query` and `definition`), histogram suffixes stripped.
fn dashboard_metrics(value: &Value, out: &mut BTreeSet<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("expr" | "query" | "definition", Value::String(promql)) => out.extend(
                        promql_metrics(promql)
                            .into_iter()
                            .map(|n| base_name(n).to_string()),
                    ),
                    _ => dashboard_metrics(v, out),
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                dashboard_metrics(v, out);
            }
        }
        _ => {}
    }
}

/// The sample names of a Prometheus text, each also without a histogram suffix.
fn sample_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let name = &line[..line.find(['{', ' ']).unwrap_or(line.len())];
        names.insert(name.to_string());
        names.insert(base_name(name).to_string());
    }
    names
}

#[test]
fn dashboard_and_sample_names_are_read() {
    assert_eq!(
        promql_metrics(
            "histogram_quantile(0.9, sum by (le) (rate(karpenter_a_seconds_bucket{x=\"y\"}[5m]))) / karpenter_b_total"
        ),
        ["karpenter_a_seconds_bucket", "karpenter_b_total"]
    );
    assert_eq!(promql_metrics("my_karpenter_x + 1"), Vec::<&str>::new());
    assert_eq!(
        base_name("karpenter_a_seconds_bucket"),
        "karpenter_a_seconds"
    );
    assert_eq!(
        sample_names("# TYPE a counter\na_total{x=\"1\"} 1\nb_count 2\n# EOF\n"),
        ["a_total", "b", "b_count"]
            .into_iter()
            .map(String::from)
            .collect::<BTreeSet<_>>()
    );
}

/// The controller's `/metrics` URL, from its log line `serving metrics and health probes`.
async fn metrics_url(w: &World) -> String {
    eventually("the metrics address in the log", 30, || async {
        let log = w.log();
        let line = log
            .lines()
            .rev()
            .find(|l| l.contains("serving metrics and health probes"))?;
        let addr = line
            .split_whitespace()
            .find_map(|t| t.strip_prefix("metrics="))?;
        Some(format!("http://{addr}/metrics"))
    })
    .await
}

/// Every metric name the PromQL of the chart's Grafana dashboards uses is a sample of
/// `/metrics` once the controller has provisioned a node and consolidated it away (label-less
/// families and those upstream touches at start are there from the start; the others appear
/// with the activity they count).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_a_dashboard_queries_is_exposed() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../charts/karpenter-ovhcloud/dashboards");
    let mut wanted: BTreeMap<String, &str> = BTreeMap::new();
    for name in ["capacity", "performance", "policies"] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.json"))).unwrap();
        let dashboard: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}.json: {e}"));
        assert!(
            dashboard["panels"]
                .as_array()
                .is_some_and(|p| !p.is_empty()),
            "{name}.json has no panel"
        );
        let mut names = BTreeSet::new();
        dashboard_metrics(&dashboard, &mut names);
        assert!(names.len() >= 5, "{name}.json queries {names:?}");
        for n in names {
            wanted.entry(n).or_insert(name);
        }
    }

    let w = World::start(&[nodepool("demo-pool", &["b3-8"], json!({}))]).await;
    w.deploy(
        "inflate",
        1,
        "500m",
        "512Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"}}),
        json!({}),
    )
    .await;
    w.settled("inflate", 1, 1, 60).await;
    // Empty, the node is consolidated away: disruption, termination and their metrics.
    w.scale("inflate", 0).await;
    eventually("the empty node removed", 60, || async {
        (w.claims().await.is_empty() && w.ovh_nodes().is_empty()).then_some(())
    })
    .await;

    let url = metrics_url(&w).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let missing = loop {
        let text = reqwest::get(&url).await.unwrap().text().await.unwrap();
        let exposed = sample_names(&text);
        let missing: Vec<String> = wanted
            .iter()
            .filter(|(n, _)| !exposed.contains(n.as_str()))
            .map(|(n, dashboard)| format!("{n} ({dashboard})"))
            .collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(
        missing.is_empty(),
        "queried by a dashboard, not in /metrics: {missing:?}"
    );
}

async fn pod_events(env: &Env, pod: &str) -> Vec<Event> {
    env.events()
        .await
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.kind.as_deref()) == Some("Pod")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(pod)
        })
        .collect()
}

/// Each pod the controller provisions for is told where it should go (`Nominated`, as
/// Karpenter says it); a pod no NodePool can take gets a Warning with the reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_get_nominated_and_unplaceable_pods_a_warning() {
    let mut env = Env::with_demo_pool(SimConfig::default().with_time_scale(SCALE)).await;
    env.start_controller(ONE_BATCH).await;
    env.pods("inflate", 2, "500m", "512Mi", json!({})).await;
    // 64 vCPUs: more than b3-16 (the largest flavor demo-pool allows) offers.
    env.pods("huge", 1, "64", "1Gi", json!({})).await;

    let claim = eventually("a NodeClaim", 60, || async {
        env.nodeclaims().await.into_iter().next()
    })
    .await;
    for pod in ["inflate-0", "inflate-1"] {
        let nominated = eventually("a Nominated Event", 30, || async {
            pod_events(&env, pod)
                .await
                .into_iter()
                .find(|e| e.reason.as_deref() == Some("Nominated"))
        })
        .await;
        assert_eq!(nominated.type_.as_deref(), Some("Normal"));
        assert_eq!(
            nominated.note.as_deref(),
            Some(format!("Pod should schedule on: nodeclaim/{}", claim.name_any()).as_str())
        );
        let regarding = nominated.regarding.unwrap();
        assert_eq!(regarding.namespace.as_deref(), Some("default"));
        assert!(regarding.uid.is_some_and(|u| !u.is_empty()));
    }
    let warning = eventually("a FailedScheduling Event", 30, || async {
        pod_events(&env, "huge-0")
            .await
            .into_iter()
            .find(|e| e.reason.as_deref() == Some("FailedScheduling"))
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let note = warning.note.unwrap_or_default();
    assert!(
        note.starts_with("Failed to schedule pod, ")
            && note.contains("NodePool demo-pool")
            && note.contains("exceeds the allocatable of every eligible flavor"),
        "{note}"
    );
    assert!(
        pod_events(&env, "huge-0")
            .await
            .iter()
            .all(|e| e.reason.as_deref() != Some("Nominated")),
        "the unplaceable pod is nominated nowhere"
    );
    assert_eq!(env.nodeclaims().await.len(), 1);
}

/// A pod deleted while the controller's watches were down, and whose deletion the API server
/// no longer holds (410 Gone, a relist), leaves `karpenter_pods_state`: the relist forgets the
/// pods it does not return, as a watched deletion would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pod_gone_while_the_watch_was_down_leaves_the_pod_metrics() {
    use k8s_openapi::api::core::v1::Pod;
    let w = World::start(&[nodepool("demo-pool", &["b3-8"], json!({}))]).await;
    // A bare pod no flavor fits: it stays pending and /metrics follows it.
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "too-big", "namespace": "default"},
        "spec": {"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"},
            "containers": [{"name": "c", "image": "pause",
                "resources": {"requests": {"cpu": "64", "memory": "1Gi"}}}]}
    }))
    .unwrap();
    kube::Api::<Pod>::namespaced(w.client.clone(), "default")
        .create(&Default::default(), &pod)
        .await
        .unwrap();
    let url = metrics_url(&w).await;
    let followed = |text: &str| {
        text.lines()
            .any(|l| l.starts_with("karpenter_pods_state{") && l.contains("name=\"too-big\""))
    };
    eventually("the pod in karpenter_pods_state", 60, || async {
        let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
        followed(&text).then_some(())
    })
    .await;

    // The API server goes down; meanwhile the pod is deleted and the history compacted, so
    // the watches resume with 410 Gone and relist.
    let kube = w.cluster.kube();
    let gone_before = kube.gone_watches();
    let while_down = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let store = kube.store();
        let pods = store.def("", "v1", "pods").expect("pods are served");
        let now_gone = karpenter_ovhcloud_sim::kube::store::DeleteOptions {
            grace_period: Some(0),
            ..Default::default()
        };
        store
            .delete(&pods, "default", "too-big", &now_gone)
            .expect("delete the pod");
        let configmaps = store
            .def("", "v1", "configmaps")
            .expect("configmaps are served");
        store
            .create(
                &configmaps,
                "default",
                json!({"apiVersion": "v1", "kind": "ConfigMap",
                    "metadata": {"name": "after-the-delete"}}),
                &Default::default(),
            )
            .expect("a write after the delete");
        store.compact();
    };
    let (restarted, ()) = tokio::join!(kube.restart(Duration::from_secs(2)), while_down);
    restarted.unwrap();

    eventually("the pod out of karpenter_pods_state", 60, || async {
        let text = reqwest::get(&url).await.ok()?.text().await.ok()?;
        (!followed(&text)).then_some(())
    })
    .await;
    // The witness that it went through a relist, not a watched deletion.
    assert!(
        kube.gone_watches() > gone_before,
        "no watch was answered 410 Gone"
    );
}
