//! The controller-at-scale benchmark harness, run at a tiny size (20 pods) so that it cannot
//! rot: every figure it reports is produced and consistent. No timing is asserted.

use std::path::PathBuf;

use karpenter_ovhcloud::benchmark::scale::{self, Config};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quick_run_produces_every_figure() {
    let config = Config::quick(PathBuf::from(env!("CARGO_BIN_EXE_karpenter-ovhcloud")));
    let r = scale::run(&config, &|line| eprintln!("{line}"))
        .await
        .unwrap();
    // Pods are sized so that `pods_per_node` fill a node: fewer nodes cannot hold them.
    assert_eq!(r.steady_running, config.pods as usize);
    assert!(r.steady_nodes >= config.steady_nodes() as usize, "{r:?}");
    assert!(r.steady_pools >= 2, "{r:?}");
    assert!(r.burst_nodes > r.steady_nodes_end, "{r:?}");
    // The controller was sampled in every phase.
    for u in [&r.ramp_usage, &r.steady_usage, &r.burst_usage] {
        assert!(
            u.rss_max_kib > 0 && u.rss_mean_kib <= u.rss_max_kib,
            "{r:?}"
        );
    }
    assert!(r.peak_hwm_kib >= r.steady_usage.rss_max_kib);
    assert!(r.ramp_usage.cpu_seconds > 0.0, "{r:?}");
    // OVH traffic: pools created during the ramp, the burst's pool written after it began,
    // reads at steady state.
    assert!(r.ovh_ramp.pool_writes >= 2, "{:?}", r.ovh_ramp);
    assert!(r.ovh_steady.requests > 0, "{:?}", r.ovh_steady);
    assert!(r.ovh_burst.pool_writes >= 1, "{:?}", r.ovh_burst);
    assert!(r.first_pod_to_write.is_some());
    // Latencies of both simulators were recorded.
    assert!(r.kube_reads.count > 0 && r.kube_writes.count > 0 && r.kube_watches > 0);
    assert!(r.kube_writes.p50_us <= r.kube_writes.p99_us);
    assert!(r.ovh.count >= r.ovh_ramp.requests + r.ovh_steady.requests);
    let md = r.markdown();
    for needle in [
        "| steady state |",
        "RSS < 64 MiB",
        "< 60 OVH requests",
        "<= 1.5 s",
    ] {
        assert!(md.contains(needle), "{needle} missing from:\n{md}");
    }
}
