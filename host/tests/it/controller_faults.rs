//! OVH faults (issue 12.2), the controller as its own process on the simulated cluster (pods
//! really run): 10% of the answers of every OVH endpoint are injected faults (5% 5xx, 3% 429,
//! 2% dropped connections: the client's transport-error path, the one its timeouts take) over
//! scale-up and scale-down to zero; out-of-stock flavors and zones fall back to another flavor
//! or zone and the pods run there; a pool whose growth OVH accepts but never carries out is
//! given up for another flavor. Every scenario ends with its pods running on what the
//! controller launched, no leaked OVH node, and a bounded OVH request count over a steady
//! window (counted from the simulator's request log). Quota refusals, orphans and the
//! registration timeout are in `controller_liveness`.
//!
//! Long form: `OVH_FAULT_CYCLES=10 cargo nextest run -p karpenter-ovhcloud --test it
//! --no-capture -E 'test(/^controller_faults::/)'` (scale-up/scale-down cycles under faults).

use std::collections::BTreeMap;

use crate::controller_common::cluster::{nodepool, World};
use crate::controller_common::{env_or, event, eventually, SCALE};
use karpenter_ovhcloud::api::labels;
use karpenter_ovhcloud_sim::ovh::FaultSpec;
use kube::ResourceExt;
use serde_json::json;

/// Requests allowed in a steady window of [`WINDOW_GUIDE_SECS`]: the rate limiter's cap
/// (40 per guide minute) over the window is 200; a controller that only resyncs makes a few
/// dozen.
const STEADY_BOUND: usize = 100;
/// The steady window: five guide minutes.
const WINDOW_GUIDE_SECS: f64 = 300.0;

/// 10% of every endpoint's answers are faults.
fn ten_percent() -> FaultSpec {
    FaultSpec {
        server_error_rate: 0.05,
        too_many_requests_rate: 0.03,
        drop_rate: 0.02,
        ..FaultSpec::default()
    }
}

/// The guide's `inflate` (500m / 512Mi pods) on `demo-pool`, with `replicas`.
async fn inflate(w: &World, replicas: i32) {
    let on_pool = json!({"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"}});
    w.deploy("inflate", replicas, "500m", "512Mi", on_pool, json!({}))
        .await;
}

/// OVH requests in a steady window of five guide minutes, checked against [`STEADY_BOUND`].
async fn steady_window(w: &World) -> usize {
    let before = w.cluster.ovh().requests().len();
    tokio::time::sleep(std::time::Duration::from_secs_f64(
        WINDOW_GUIDE_SECS / SCALE,
    ))
    .await;
    let steady = w.cluster.ovh().requests().len() - before;
    assert!(
        steady <= STEADY_BOUND,
        "{steady} OVH requests in 5 guide minutes:\n{}",
        w.log()
    );
    steady
}

/// Nothing leaked: the live NodeClaims and the OVH nodes of `karpenter-*` pools are the same
/// count, once settled (waits up to 60 s).
async fn claims_match_ovh_nodes(w: &World) -> usize {
    eventually("NodeClaims == OVH nodes", 60, || async {
        let claims = w.live().await.len();
        let nodes: usize = w.ovh_nodes().values().sum();
        (claims == nodes).then_some(claims)
    })
    .await
}

/// `pods` pods of `app` running on initialized NodeClaims of `pool`: flavor and zone of each
/// node they run on.
async fn running_on(
    w: &World,
    app: &str,
    pods: usize,
    pool: &str,
) -> BTreeMap<String, (String, String)> {
    eventually(&format!("{pods} {app} pods running"), 120, || async {
        let running = w.running(app).await;
        let claims = w.claims().await;
        let placed: BTreeMap<String, (String, String)> = running
            .values()
            .filter_map(|node| {
                let c = claims.iter().find(|c| {
                    c.status.as_ref().is_some_and(|s| &s.node_name == node)
                        && c.labels().get(labels::NODEPOOL).map(String::as_str) == Some(pool)
                })?;
                Some((
                    node.clone(),
                    (
                        c.labels()[labels::INSTANCE_TYPE].clone(),
                        c.labels()[labels::ZONE].clone(),
                    ),
                ))
            })
            .collect();
        (running.len() == pods
            && placed.len()
                == running
                    .values()
                    .collect::<std::collections::BTreeSet<_>>()
                    .len())
        .then_some(placed)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_percent_faults_on_every_endpoint_through_scale_up_and_down() {
    let cycles: usize = env_or("OVH_FAULT_CYCLES", 1);
    let w = World::start(&[nodepool("demo-pool", &["b3-8", "b3-16"], json!({}))]).await;
    w.cluster.ovh().set_fault("*", ten_percent());
    inflate(&w, 0).await;
    let sizes = [3, 7, 12, 5];
    for cycle in 0..cycles {
        let replicas = sizes[cycle % sizes.len()];
        w.scale("inflate", replicas as i32).await;
        running_on(&w, "inflate", replicas, "demo-pool").await;
        let claims = claims_match_ovh_nodes(&w).await;
        assert!(claims >= 1);
        // Scale-down to zero: consolidation removes every node, and the pools go.
        w.scale("inflate", 0).await;
        eventually("every node removed", 120, || async {
            (w.live().await.is_empty() && w.ovh_nodes().is_empty()).then_some(())
        })
        .await;
        eprintln!("cycle {cycle}: {replicas} pods on {claims} node(s), then none");
    }
    // Once more up, then a steady window with the faults still on.
    w.scale("inflate", 3).await;
    running_on(&w, "inflate", 3, "demo-pool").await;
    claims_match_ovh_nodes(&w).await;
    let steady = steady_window(&w).await;

    let log = w.cluster.ovh().requests();
    let faults = log.iter().filter(|r| r.fault.is_some()).count();
    let share = faults as f64 / log.len() as f64;
    eprintln!(
        "{cycles} cycle(s): {} OVH requests, {faults} faults injected ({:.1}%), {steady} requests in the steady window",
        log.len(),
        share * 100.0
    );
    // The injected share is what was asked (10%), within what chance allows on this sample.
    assert!((0.04..0.2).contains(&share), "{faults} of {}", log.len());
    let writes = |m: &str| {
        log.iter()
            .filter(|r| r.method == m && r.endpoint.contains("/nodepool"))
            .count()
    };
    assert!(
        writes("POST") >= 1 && writes("DELETE") + writes("PUT") >= 1,
        "scale-up and scale-down both wrote"
    );
}

/// A NodePool of `flavors` in `zones`, the controller started with `args`.
async fn world(flavors: &[&str], zones: &[&str], args: &[&str]) -> World {
    let extra = json!({"spec": {"template": {"spec": {"requirements": [
        {"key": labels::INSTANCE_TYPE, "operator": "In", "values": flavors},
        {"key": labels::ZONE, "operator": "In", "values": zones}]}}}});
    World::start_with(&[nodepool("demo-pool", flavors, extra)], args).await
}

/// b3-8 has no stock in eu-west-par-a and the NodePool allows `flavors` in `zones`: the
/// first launch (b3-8, the cheapest, in a, the least used zone) fails with
/// FLAVOR_OUT_OF_STOCK_ERROR, the offering is skipped, and `inflate` ends running on
/// NodeClaims of the (flavor, zone) pairs returned; nothing leaks.
async fn out_of_stock_fallback(flavors: &[&str], zones: &[&str]) -> Vec<(String, String)> {
    let w = world(flavors, zones, &[]).await;
    w.cluster.ovh().set_stock("b3-8", "eu-west-par-a", Some(0));
    inflate(&w, 3).await;
    let placed = running_on(&w, "inflate", 3, "demo-pool").await;
    let failed = eventually("the LaunchFailed Event", 30, || {
        event(&w.client, None, "LaunchFailed")
    })
    .await;
    let note = failed.note.unwrap_or_default();
    assert!(
        note.contains("FLAVOR_OUT_OF_STOCK_ERROR") && note.contains("b3-8 in eu-west-par-a"),
        "{note}"
    );
    claims_match_ovh_nodes(&w).await;
    steady_window(&w).await;
    placed.into_values().collect()
}

/// Out of stock in the only zone allowed: the pods run on a b3-16 in that zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_stock_flavor_falls_back_to_another_flavor() {
    let placed = out_of_stock_fallback(&["b3-8", "b3-16"], &["eu-west-par-a"]).await;
    assert!(
        placed
            .iter()
            .all(|(f, z)| f == "b3-16" && z == "eu-west-par-a"),
        "{placed:?}"
    );
}

/// The only flavor allowed is out of stock in eu-west-par-a: the pods run on a b3-8 of
/// another zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_stock_zone_falls_back_to_another_zone() {
    let zones = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"];
    let placed = out_of_stock_fallback(&["b3-8"], &zones).await;
    assert!(
        placed
            .iter()
            .all(|(f, z)| f == "b3-8" && z != "eu-west-par-a"),
        "{placed:?}"
    );
}

/// OVH accepts the b3-8 pool's growth but never carries it out (the pool stays short of its
/// desiredNodes): while it is stuck the controller's OVH request count over a window stays
/// bounded (no hot loop), after the launch timeout it gives the pool up and the pods run on a
/// b3-16. (The shrink of the stuck pool without naming a node is checked in
/// `controller_liveness`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_stuck_growing_is_given_up_for_another_flavor() {
    // A launch timeout longer than the window, so the window falls inside the stall.
    let w = world(
        &["b3-8", "b3-16"],
        &["eu-west-par-a"],
        &["--launch-timeout", "10m"],
    )
    .await;
    w.cluster.ovh().set_stalled("b3-8", "eu-west-par-a", true);
    inflate(&w, 3).await;
    let stuck = eventually("a b3-8 NodeClaim waiting for its node", 60, || async {
        w.claims()
            .await
            .into_iter()
            .find(|c| c.labels()[labels::INSTANCE_TYPE] == "b3-8")
    })
    .await;
    let during = steady_window(&w).await;
    assert!(
        event(&w.client, None, "LaunchTimeout").await.is_none()
            && w.claims()
                .await
                .iter()
                .any(|c| c.name_any() == stuck.name_any()),
        "the window fell inside the stall"
    );
    let placed = running_on(&w, "inflate", 3, "demo-pool").await;
    assert!(placed.values().all(|(f, _)| f == "b3-16"), "{placed:?}");
    let timeout = event(&w.client, Some(&stuck.name_any()), "LaunchTimeout")
        .await
        .expect("the stuck NodeClaim timed out");
    assert_eq!(timeout.type_.as_deref(), Some("Warning"));
    claims_match_ovh_nodes(&w).await;
    let after = steady_window(&w).await;
    eprintln!("{during} OVH requests in a window while stuck, {after} after");
}
