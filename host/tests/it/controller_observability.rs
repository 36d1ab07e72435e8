//! The controller as its own process: what it tells an operator. Prometheus metrics of every
//! OVH request (by endpoint template and status, retries included) scraped over HTTP and
//! checked against the OVH simulator's own request log; Events on pods (`Nominated`, and a
//! Warning when no NodePool can take a pod).

use std::collections::BTreeMap;

use crate::controller_common::{eventually, free_port, Env, ONE_BATCH, SCALE};
use k8s_openapi::api::events::v1::Event;
use karpenter_ovhcloud_sim::ovh::{FaultSpec, SimConfig, DEFAULT_KUBE_ID, DEFAULT_SERVICE_NAME};
use kube::ResourceExt;
use serde_json::json;

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
