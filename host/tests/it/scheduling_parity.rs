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
