//! Chaos: the controller (its own process) is killed with SIGKILL at seeded random moments
//! while workloads arrive, restarted each time, and must converge: room for every pod, every
//! OVH node in a `karpenter-*` pool backed by exactly one NodeClaim, each pool's desiredNodes
//! equal to its nodes, no empty pool. Short form in CI (`CHAOS_KILLS`, default 4).

use crate::controller_common::{eventually, Env, ONE_BATCH, SCALE};
use k8s_openapi::api::core::v1::Pod;
use karpenter_ovhcloud_sim::ovh::SimConfig;
use kube::api::{Api, ListParams};
use serde_json::json;

/// A small deterministic generator (xorshift), seeded by `CHAOS_SEED`.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_during_scale_up_then_converge() {
    let kills: usize = std::env::var("CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    let mut seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    let mut env = Env::with_demo_pool(SimConfig::default().with_time_scale(SCALE)).await;
    for i in 0..kills {
        let mut child = env.spawn_controller(ONE_BATCH);
        env.pods(
            &format!("w{i}"),
            1 + (next(&mut seed) % 3) as usize,
            "500m",
            "512Mi",
            json!({}),
        )
        .await;
        let wait_ms = next(&mut seed) % 3000;
        tokio::time::sleep(std::time::Duration::from_millis(wait_ms)).await;
        child.kill().await.unwrap();
    }
    env.start_controller(ONE_BATCH).await;
    // This Env runs no kube-scheduler: "no lost pod" is that the nodes the controller bought
    // hold every pending pod's request (b3-8: 1930m allocatable, 3 pods of 500m each).
    let pods: Api<Pod> = Api::namespaced(env.client.clone(), "default");
    let n_pods = pods.list(&ListParams::default()).await.unwrap().items.len();
    eventually("room for every pod", 120, || async {
        let claims = env.nodeclaims().await;
        (claims.len() * 3 >= n_pods).then_some(())
    })
    .await;
    eventually(
        "OVH nodes == NodeClaims == Nodes, desiredNodes == nodes, no empty pool",
        120,
        || async {
            let pools = env.ovh_pools();
            let nodes = env.nodes().await.len();
            let ovh_nodes: usize = pools.values().map(|(_, n)| n.len()).sum();
            let claims = env.nodeclaims().await.len();
            let consistent = pools
                .values()
                .all(|(p, n)| !n.is_empty() && p["desiredNodes"].as_u64() == Some(n.len() as u64));
            (consistent && ovh_nodes == claims && nodes == claims && claims > 0).then_some(())
        },
    )
    .await;
}
