//! Scheduling parity with Karpenter and kube-scheduler, end to end on the simulated cluster
//! (issue 21): what real workloads use beyond the guide's manifests.

use serde_json::json;

use crate::controller_common::cluster::{nodepool, World};

/// Two replicas claiming the same host port cannot share a node (kube-scheduler's NodePorts):
/// the controller launches a node for each, where their requests alone would fit one b3-8,
/// and both run. Without the rule it launches one node for both and the second pod waits
/// forever, nominated onto a node the kube-scheduler will not bind it to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pods_with_the_same_host_port_get_a_node_each() {
    let w = World::start(&[nodepool("demo-pool", &["b3-8"], json!({}))]).await;
    w.deploy(
        "ingress",
        2,
        "100m",
        "128Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"},
            "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}},
                "ports": [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"}]}]}),
        json!({}),
    )
    .await;
    let live = w.settled("ingress", 2, 2, 90).await;
    let running = w.running("ingress").await;
    let nodes: std::collections::BTreeSet<&String> = running.values().collect();
    assert_eq!(nodes.len(), 2, "one pod per node: {running:?}");
    // Each NodeClaim was launched for one of the pods.
    let log = w.log();
    let launches: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("NodeClaim created") && l.contains("pods=1"))
        .collect();
    assert_eq!(launches.len(), 2, "{log}");
    assert_eq!(live.len(), 2);
}

/// The zone of each node running a pod of `app`.
async fn zones_of(w: &World, app: &str) -> Vec<String> {
    use k8s_openapi::api::core::v1::Node;
    let nodes = kube::Api::<Node>::all(w.client.clone());
    let mut zones = Vec::new();
    for node in w.running(app).await.values() {
        let n = nodes.get(node).await.unwrap();
        zones.push(n.metadata.labels.unwrap_or_default()["topology.kubernetes.io/zone"].clone());
    }
    zones.sort();
    zones
}

/// Three replicas that prefer not to share a zone land in three zones. Their requests would
/// fit one b3-16 together, the cheapest answer without the preference; held as required, it
/// makes one b3-8 per zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preferred_zone_anti_affinity_puts_three_replicas_in_three_zones() {
    let w = World::start(&[nodepool("demo-pool", &["b3-8", "b3-16"], json!({}))]).await;
    w.deploy(
        "web",
        3,
        "1200m",
        "1Gi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"},
            "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 100, "podAffinityTerm": {"topologyKey": "topology.kubernetes.io/zone",
                    "labelSelector": {"matchLabels": {"app": "web"}}}}]}}}),
        json!({}),
    )
    .await;
    let live = w.settled("web", 3, 3, 90).await;
    assert!(
        live.values().all(|(flavor, ..)| flavor == "b3-8"),
        "{live:?}"
    );
    assert_eq!(
        zones_of(&w, "web").await,
        ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]
    );
}

/// A `ScheduleAnyway` zone spread never keeps pods pending: four pods whose NodePool launches
/// in one zone of the three all run there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schedule_anyway_spread_in_a_one_zone_nodepool_runs_every_pod() {
    let w = World::start(&[nodepool(
        "zone-a",
        &["b3-8"],
        json!({"spec": {"template": {"spec": {"requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]},
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-a"]}]}}}}),
    )])
    .await;
    w.deploy(
        "batch",
        4,
        "1200m",
        "1Gi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "zone-a"},
            "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "batch"}}}]}),
        json!({}),
    )
    .await;
    w.settled("batch", 4, 4, 90).await;
    assert_eq!(zones_of(&w, "batch").await, ["eu-west-par-a"; 4]);
}

/// A NodePool with `minValues: 3` on the instance type gets NodeClaims that allow three
/// flavors (the one launched first) and carry the `minValues`, as upstream writes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_values_reach_the_nodeclaims() {
    let w = World::start(&[nodepool(
        "flexible",
        &["b3-8", "b3-16", "b3-32", "b3-64"],
        json!({"spec": {"template": {"spec": {"requirements": [
            {"key": "node.kubernetes.io/instance-type", "operator": "In",
             "values": ["b3-8", "b3-16", "b3-32", "b3-64"], "minValues": 3}]}}}}),
    )])
    .await;
    w.deploy(
        "app",
        2,
        "500m",
        "512Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "flexible"}}),
        json!({}),
    )
    .await;
    let live = w.settled("app", 1, 2, 90).await;
    let claims = w.claims().await;
    assert_eq!(claims.len(), 1, "{live:?}");
    let claim = &claims[0];
    let types = claim
        .spec
        .requirements
        .iter()
        .find(|r| r.key == "node.kubernetes.io/instance-type")
        .expect("an instance-type requirement");
    assert_eq!(types.min_values, Some(3));
    assert_eq!(types.values.len(), 3, "{types:?}");
    let flavor = &claim.metadata.labels.as_ref().unwrap()["node.kubernetes.io/instance-type"];
    assert_eq!(&types.values[0], flavor);
    // kubectl shows the same object.
    let home = tempfile::tempdir().unwrap();
    let vars = [(
        "KUBECONFIG".to_string(),
        w.kubeconfig.path().display().to_string(),
    )];
    let shown = crate::chart_support::kubectl_with_env(
        &vars,
        home.path(),
        &[
            "get",
            "nodeclaims",
            "-o",
            r#"jsonpath={.items[0].spec.requirements[?(@.key=="node.kubernetes.io/instance-type")].minValues}"#,
        ],
    );
    assert_eq!(shown.trim(), "3");
}

/// Under `--min-values-policy BestEffort` a pod only two of the four flavors hold still gets a
/// node: its NodeClaim lists those two, lowers `minValues` to 2 (as upstream does; the CRD
/// refuses fewer values than `minValues`) and says it was relaxed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn best_effort_min_values_launch_with_what_there_is_and_say_so() {
    let w = World::start_with(
        &[nodepool(
            "flexible",
            &["b3-8", "b3-16", "b3-32", "b3-64"],
            json!({"spec": {"template": {"spec": {"requirements": [
                {"key": "node.kubernetes.io/instance-type", "operator": "In",
                 "values": ["b3-8", "b3-16", "b3-32", "b3-64"], "minValues": 3}]}}}}),
        )],
        &["--min-values-policy", "BestEffort"],
    )
    .await;
    w.deploy(
        "big",
        1,
        "6",
        "1Gi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "flexible"}}),
        json!({}),
    )
    .await;
    w.settled("big", 1, 1, 90).await;
    let claims = w.claims().await;
    let claim = &claims[0];
    let types = claim
        .spec
        .requirements
        .iter()
        .find(|r| r.key == "node.kubernetes.io/instance-type")
        .expect("an instance-type requirement");
    assert_eq!(types.values, ["b3-32", "b3-64"]);
    assert_eq!(types.min_values, Some(2));
    assert_eq!(
        claim.metadata.annotations.as_ref().unwrap()["karpenter.sh/nodeclaim-min-values-relaxed"],
        "true"
    );
}
