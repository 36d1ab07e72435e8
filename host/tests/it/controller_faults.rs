//! OVH faults on every endpoint: 10% of answers are injected 5xx, 429 or dropped connections.
//! The controller still converges to exactly one node for the pods (no duplicate pool from a
//! retried create), and once converged its OVH request count over a window stays far below
//! what the client's rate limiter would allow a hot loop.

use crate::controller_common::{eventually, Env, ONE_BATCH, SCALE};
use karpenter_ovhcloud_sim::ovh::{FaultSpec, SimConfig};
use serde_json::json;

/// Requests allowed in the steady window: the rate limiter's cap (40 per guide minute) over
/// the window is 200; a controller that only resyncs makes a few dozen.
const STEADY_BOUND: usize = 100;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converges_under_ten_percent_faults_with_a_bounded_request_rate() {
    let mut env = Env::with_demo_pool(SimConfig::default().with_time_scale(SCALE)).await;
    env.ovh.set_fault(
        "*",
        FaultSpec {
            server_error_rate: 0.05,
            too_many_requests_rate: 0.03,
            drop_rate: 0.02,
            ..FaultSpec::default()
        },
    );
    env.start_controller(ONE_BATCH).await;
    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;
    env.initialized_claim(120).await;
    let pools = eventually("one karpenter pool with one node", 60, || async {
        let pools = env.ovh_pools();
        (pools.len() == 1 && pools.values().all(|(_, nodes)| nodes.len() == 1)).then_some(pools)
    })
    .await;
    let log = env.ovh.requests();
    let faults = log.iter().filter(|r| r.fault.is_some()).count();
    eprintln!("{} requests to converge", log.len());
    assert!(faults > 0, "faults were injected");

    // Five guide minutes of steady state, faults still on.
    let before = env.ovh.requests().len();
    tokio::time::sleep(std::time::Duration::from_secs_f64(300.0 / SCALE)).await;
    let steady = env.ovh.requests().len() - before;
    eprintln!("faults {faults}, steady-window requests {steady}");
    assert!(
        steady <= STEADY_BOUND,
        "{steady} OVH requests in 5 guide minutes"
    );
    assert_eq!(env.ovh_pools().len(), pools.len());
    assert_eq!(env.nodeclaims().await.len(), 1);
}
