//! Scheduling benchmark: Karpenter's scheduling benchmark workload rebuilt independently, run
//! through the whole provisioning pass (grouping, existing-node pass, flavor-selection policy
//! call, host validation, NodeClaim specs) on one core.
//!
//! Run: `cargo bench -p karpenter-ovhcloud --bench scheduling` (prints a table).
//!
//! Workload: pods in fifths, as in Karpenter's `scheduling_benchmark_test.go`: plain pods,
//! zone topology spread, hostname topology spread, zone pod affinity, hostname pod
//! anti-affinity; requests drawn from Karpenter's sets (cpu 100m..1500m, memory 100Mi..4Gi)
//! with a fixed seed. Catalogs: 400 synthetic instance types (Karpenter's benchmark size) and
//! the real OVH catalog (34 flavors, 3 zones). A second table runs the workload in sixths, the
//! sixth being pods with a preferred zone pod anti-affinity (held, then relaxed for the pods
//! beyond three per class), the shape real Helm charts use most.

// The integration tests' helpers; a bench uses a few of them.
#[allow(dead_code)]
#[path = "../tests/it/scheduling_common/mod.rs"]
mod scheduling_common;

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use karpenter_ovhcloud::policy::{PolicyRuntime, PolicySet, RuntimeConfig};
use karpenter_ovhcloud::provisioning::{plan, FlavorPolicy, Input, Outcome, WasmFlavorPolicy};
use karpenter_ovhcloud::scheduling::FlavorSpec;
use karpenter_ovhcloud::state::ClusterState;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use scheduling_common::k8s::pod;
use scheduling_common::*;
use serde_json::json;

const CPU: [&str; 5] = ["100m", "250m", "500m", "1000m", "1500m"];
const MEM: [&str; 6] = ["100Mi", "256Mi", "512Mi", "1024Mi", "2048Mi", "4096Mi"];
const LABELS: [&str; 7] = ["a", "b", "c", "d", "e", "f", "g"];

/// The benchmark's pods, applied to a fresh cluster model: Karpenter's five shapes, plus a
/// sixth of preferred zone anti-affinity with `preferred`.
fn workload(count: usize, preferred: bool) -> ClusterState {
    let mut rng = StdRng::seed_from_u64(42);
    let mut state = ClusterState::new();
    let parts = if preferred { 6 } else { 5 };
    let fifth = count / parts;
    // Requests per label class for the constrained fifths: each class is one deployment.
    let mut class_requests: Vec<(&str, &str)> = Vec::new();
    for _ in 0..LABELS.len() * 4 {
        class_requests.push((CPU[rng.random_range(0..5)], MEM[rng.random_range(0..6)]));
    }
    let mut i = 0usize;
    let mut add = |state: &mut ClusterState,
                   owner: String,
                   cpu: &str,
                   mem: &str,
                   labels: serde_json::Value,
                   extra: serde_json::Value| {
        state.apply_pod(&pod(&owner, i, cpu, mem, labels, extra));
        i += 1;
    };
    for n in 0..count {
        let kind = if n / fifth.max(1) >= parts {
            0
        } else {
            n / fifth.max(1)
        };
        let class = rng.random_range(0..LABELS.len());
        let label = LABELS[class];
        match kind {
            1 | 2 => {
                let (key, topo) = if kind == 1 {
                    ("zone-spread", "topology.kubernetes.io/zone")
                } else {
                    ("host-spread", "kubernetes.io/hostname")
                };
                let (cpu, mem) = class_requests[(kind - 1) * LABELS.len() + class];
                add(
                    &mut state,
                    format!("{key}-{label}"),
                    cpu,
                    mem,
                    json!({key: label}),
                    json!({"topologySpreadConstraints": [{
                    "maxSkew": 1, "topologyKey": topo, "whenUnsatisfiable": "DoNotSchedule",
                    "labelSelector": {"matchLabels": {key: label}}}]}),
                );
            }
            3 => {
                let (cpu, mem) = class_requests[2 * LABELS.len() + class];
                add(
                    &mut state,
                    format!("affinity-{label}"),
                    cpu,
                    mem,
                    json!({"my-affinity": label}),
                    json!({"affinity": {"podAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "topology.kubernetes.io/zone",
                    "labelSelector": {"matchLabels": {"my-affinity": label}}}]}}}),
                );
            }
            4 => {
                let (cpu, mem) = class_requests[3 * LABELS.len()];
                add(
                    &mut state,
                    "nginx".into(),
                    cpu,
                    mem,
                    json!({"app": "nginx"}),
                    json!({"affinity": {"podAntiAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "kubernetes.io/hostname",
                    "labelSelector": {"matchLabels": {"app": "nginx"}}}]}}}),
                );
            }
            5 => {
                let (cpu, mem) = class_requests[class];
                add(
                    &mut state,
                    format!("preferred-{label}"),
                    cpu,
                    mem,
                    json!({"preferred": label}),
                    json!({"affinity": {"podAntiAffinity": {
                    "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": {
                    "topologyKey": "topology.kubernetes.io/zone",
                    "labelSelector": {"matchLabels": {"preferred": label}}}}]}}}),
                );
            }
            _ => {
                let (cpu, mem) = (CPU[rng.random_range(0..5)], MEM[rng.random_range(0..6)]);
                add(
                    &mut state,
                    "generic".into(),
                    cpu,
                    mem,
                    json!({"my-label": label}),
                    json!({}),
                );
            }
        }
    }
    state
}

struct Row {
    catalog: &'static str,
    pods: usize,
    groups: usize,
    calls: u32,
    nodes: usize,
    scheduled: usize,
    per_pass: Duration,
}

fn measure(
    catalog: &'static str,
    flavors: &Arc<Vec<FlavorSpec>>,
    pods: usize,
    policy: &dyn FlavorPolicy,
    preferred: bool,
) -> Row {
    let state = workload(pods, preferred);
    let pools = vec![pool("default", vec![])];
    let sizes = Default::default();
    let run = || {
        let snapshot = state.snapshot();
        plan(
            &Input {
                snapshot: &snapshot,
                pools: &pools,
                flavors,
                ovh_pool_sizes: &sizes,
                config: "",
                options: Default::default(),
            },
            policy,
            policy,
        )
    };
    let first = run();
    assert_eq!(first.outcome, Outcome::Primary, "{:?}", first.outcome);
    let scheduled = first.claims.iter().map(|c| c.pods.len()).sum();
    // Repeat for at least ~2 s (and at least 3 passes).
    let start = Instant::now();
    let mut passes = 0u32;
    while passes < 3 || start.elapsed() < Duration::from_secs(2) {
        black_box(run());
        passes += 1;
    }
    Row {
        catalog,
        pods,
        groups: first.groups,
        calls: first.policy_calls,
        nodes: first.claims.len(),
        scheduled,
        per_pass: start.elapsed() / passes,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once as a smoke test,
    // and `cargo bench -- --quick` (`cargo xtask bench --quick`) is a smoke run.
    let quick =
        !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--quick");
    let runtime = PolicyRuntime::new(RuntimeConfig::default()).expect("policy runtime");
    let set = PolicySet::new(Arc::new(runtime)).expect("embedded default policies");
    let wasm = WasmFlavorPolicy::default_policy(&set);
    let policies: [(&str, &dyn FlavorPolicy); 2] = [
        ("default flavor-selection component (Wasm)", &wasm),
        (
            "tests' first-fit policy (native, host-side cost only)",
            &test_policy,
        ),
    ];
    let sizes: &[usize] = if quick {
        &[1000]
    } else {
        &[1000, 5000, 10000, 20000]
    };
    let catalogs: [(&'static str, Arc<Vec<FlavorSpec>>); 2] = [
        ("synthetic-400", Arc::new(synthetic_catalog(400))),
        ("ovh-34", Arc::new(ovh_catalog())),
    ];
    for preferred in [false, true] {
        for (policy_name, policy) in policies {
            let shapes = if preferred {
                "six shapes, one a preferred zone anti-affinity"
            } else {
                "Karpenter's five shapes"
            };
            println!("policy: {policy_name}; workload: {shapes}");
            println!(
                "{:<14} {:>7} {:>7} {:>6} {:>7} {:>10} {:>12} {:>12}",
                "catalog", "pods", "groups", "calls", "nodes", "scheduled", "ms/pass", "pods/s"
            );
            for (name, flavors) in &catalogs {
                for &n in sizes {
                    let r = measure(name, flavors, n, policy, preferred);
                    let secs = r.per_pass.as_secs_f64();
                    println!(
                        "{:<14} {:>7} {:>7} {:>6} {:>7} {:>10} {:>12.2} {:>12.0}",
                        r.catalog,
                        r.pods,
                        r.groups,
                        r.calls,
                        r.nodes,
                        r.scheduled,
                        secs * 1e3,
                        r.pods as f64 / secs
                    );
                }
            }
            println!();
        }
    }
}

/// Karpenter's benchmark catalog shape, rebuilt: `n` synthetic instance types of growing size
/// (1..n vCPU, 2 GiB per vCPU... ) offered in three zones, price proportional to size.
fn synthetic_catalog(n: u64) -> Vec<FlavorSpec> {
    (1..=n)
        .map(|i| {
            let vcpus = i;
            let ram = i * 4;
            let mut f = flavor(&format!("s3-{i}"), vcpus, ram, 0.025 * i as f64, &ZONES);
            f.allocatable.pods = 110;
            f
        })
        .collect()
}
