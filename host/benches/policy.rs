//! Policy runtime benchmark: compile, deserialize, instantiate, marshalling and call time of
//! the default flavor-selection policy through Wasm, against the same logic compiled natively.
//!
//! `cargo bench -p karpenter-ovhcloud --bench policy` prints a table (median of many runs).
//! 100 flavors; pod groups totalling 100, 1,000 and 10,000 pods.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use karpenter_ovhcloud::policy::types::provisioning::ProvisioningRequest;
use karpenter_ovhcloud::policy::types::{
    Category, ConsolidationPolicy, Flavor, Nodeclass, Nodepool, PodGroup, Resources, ZoneOffering,
};
use karpenter_ovhcloud::policy::{
    DefaultComponents, PolicyRuntime, PolicySet, RuntimeConfig, World, WorldPre,
};
use wasmtime::component::Component;

// The integration tests' helpers; a bench uses a few of them.
#[allow(dead_code)]
#[path = "../tests/it/common/components.rs"]
mod components;

const GIB: u64 = 1 << 30;
const ZONES: [&str; 3] = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"];

fn resources(cpu_millis: u64, memory_bytes: u64, pods: u32) -> Resources {
    Resources {
        cpu_millis,
        memory_bytes,
        ephemeral_storage_bytes: 0,
        gpu: 0,
        pods,
    }
}

/// 100 flavors over five families and twenty sizes, priced like OVH's (per vCPU and GiB).
fn flavors() -> Vec<Flavor> {
    let families = [
        ("b3", 4u64, Category::GeneralPurpose, 0.0128),
        ("c3", 2, Category::ComputeOptimized, 0.0104),
        ("r3", 8, Category::MemoryOptimized, 0.0075),
        ("b2", 4, Category::GeneralPurpose, 0.0170),
        ("c2", 2, Category::ComputeOptimized, 0.0245),
    ];
    let mut out = Vec::new();
    for (family, gib_per_vcpu, category, price_per_gib) in families {
        for size in 1..=20u64 {
            let vcpus = size * 2;
            let gib = vcpus * gib_per_vcpu;
            out.push(Flavor {
                name: format!("{family}-{}", gib),
                family: family.into(),
                generation: if family.ends_with('2') { 2 } else { 3 },
                category,
                capacity: resources(vcpus * 1000, gib * GIB, 110),
                allocatable: resources(vcpus * 1000 - 100 - vcpus * 20, gib * GIB * 9 / 10, 110),
                hourly_price: gib as f64 * price_per_gib,
                monthly_price: None,
                zones: ZONES
                    .iter()
                    .map(|z| ZoneOffering {
                        zone: (*z).into(),
                        available: true,
                    })
                    .collect(),
            });
        }
    }
    out
}

fn nodepool() -> Nodepool {
    Nodepool {
        name: "default".into(),
        weight: 10,
        requirements: vec![],
        labels: vec![],
        taints: vec![],
        remaining: None,
        remaining_nodes: None,
        daemonset_overhead: resources(100, 128 << 20, 1),
        nodeclass: Nodeclass {
            name: "default".into(),
            hash: "h".into(),
            region: "EU-WEST-PAR".into(),
            monthly_billed: false,
            anti_affinity: false,
        },
        template_hash: "t".into(),
        consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
        consolidate_after_seconds: Some(60),
    }
}

/// 20 pod groups of varied requests totalling `pods` pods.
fn request(pods: u32) -> ProvisioningRequest {
    let groups = 20u32;
    let pod_groups = (0..groups)
        .map(|i| PodGroup {
            id: i,
            name: format!("bench/deployment-{i}"),
            count: pods / groups + u32::from(i < pods % groups),
            requests: resources(
                250 * u64::from(1 + i % 4),
                (256 << 20) * u64::from(1 + i % 7),
                1,
            ),
            requirements: vec![],
            tolerations: vec![],
            spreads: vec![],
            anti_affinity: vec![],
            affinity: vec![],
            zone_counts: vec![],
            eviction_cost: 1.0,
            preferences: vec![],
        })
        .collect();
    ProvisioningRequest {
        pod_groups,
        flavors: flavors(),
        nodepools: vec![nodepool()],
        nodes: vec![],
        config: String::new(),
    }
}

/// Median wall time of `f` over enough runs to fill ~`budget`.
fn median(budget: Duration, mut f: impl FnMut()) -> Duration {
    f();
    let probe = Instant::now();
    f();
    let once = probe.elapsed().max(Duration::from_nanos(50));
    let runs = (budget.as_nanos() / once.as_nanos()).clamp(5, 20_000) as usize;
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn fmt(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.1} us")
    } else {
        format!("{:.3} ms", us / 1000.0)
    }
}

fn main() {
    // `cargo test --benches` runs bench binaries with no argument beyond `--bench`-less flags;
    // keep that quick by measuring only when invoked by `cargo bench`.
    let quick =
        !std::env::args().any(|a| a == "--bench") || std::env::args().any(|a| a == "--quick");
    let budget = if quick {
        Duration::from_millis(20)
    } else {
        Duration::from_secs(2)
    };
    let config = RuntimeConfig::default();
    let fuel = config.fuel;
    let runtime = Arc::new(PolicyRuntime::new(config).expect("runtime"));
    let engine = runtime.engine().clone();
    let bytes = DefaultComponents::EMBEDDED.get(World::FlavorSelection);

    println!("Policy runtime benchmark (default flavor-selection policy, {} bytes; fuel {}, epoch deadline on)", bytes.len(), if fuel { "on" } else { "off" });
    let compile = median(budget * 2, || {
        black_box(Component::new(&engine, bytes).expect("compile"));
    });
    let component = Component::new(&engine, bytes).expect("compile");
    let artifact = component.serialize().expect("serialize");
    #[allow(
        unsafe_code,
        reason = "measures wasmtime's precompiled-component load, which only exists as an unsafe call"
    )]
    let deserialize = median(budget, || {
        // SAFETY: the artifact was just serialized by this engine.
        black_box(unsafe { Component::deserialize(&engine, &artifact) }.expect("deserialize"));
    });
    println!("compile (cranelift)      {}", fmt(compile));
    println!(
        "deserialize (cached)     {}  ({} KB artifact)",
        fmt(deserialize),
        artifact.len() / 1024
    );

    let policy = runtime
        .compile(World::FlavorSelection, bytes)
        .expect("default policy");
    let noop = runtime
        .compile(World::FlavorSelection, &components::noop_select())
        .expect("noop policy");
    let (WorldPre::FlavorSelection(pre), WorldPre::FlavorSelection(noop_pre)) =
        (&policy.pre, &noop.pre)
    else {
        unreachable!("compiled as flavor-selection")
    };
    let instantiate = median(budget, || {
        let mut store = runtime.new_store(&policy);
        black_box(pre.instantiate(&mut store).expect("instantiate"));
    });
    println!("store + instantiate      {}", fmt(instantiate));
    let set = PolicySet::new(runtime.clone()).expect("policy set");

    println!();
    println!("| pods | launches | marshalling (lower+lift) | call (Wasm) | whole call (store+instantiate+call) | inst.+marsh. share | PolicySet::select (+validation) | native | Wasm/native |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for pods in [100u32, 1_000, 10_000] {
        let req = request(pods);
        // The request as the component call takes it (wasmtime's bindings); `PolicySet::select`
        // takes the core's types and converts once per call, which its row includes.
        let wire_req: karpenter_ovhcloud::policy::wire::provisioning::ProvisioningRequest =
            req.clone().into();
        // Lowering the request and lifting an empty decision (instantiation excluded).
        let marshal = {
            let mut samples = Vec::new();
            for _ in 0..(budget.as_millis().max(1) as usize * 10).min(2000) {
                let mut store = runtime.new_store(&noop);
                let inst = noop_pre.instantiate(&mut store).expect("instantiate");
                let t = Instant::now();
                black_box(
                    inst.call_select(&mut store, &wire_req)
                        .expect("call")
                        .expect("ok"),
                );
                samples.push(t.elapsed());
            }
            samples.sort();
            samples[samples.len() / 2]
        };
        let mut launches = 0;
        let call = {
            let mut samples = Vec::new();
            let runs = if quick { 5 } else { 200 };
            for _ in 0..runs {
                let mut store = runtime.new_store(&policy);
                let inst = pre.instantiate(&mut store).expect("instantiate");
                let t = Instant::now();
                let d = inst
                    .call_select(&mut store, &wire_req)
                    .expect("call")
                    .expect("ok");
                samples.push(t.elapsed());
                launches = d.launches.len();
            }
            samples.sort();
            samples[samples.len() / 2]
        };
        let whole = median(budget, || {
            black_box(runtime.select(&policy, &wire_req).expect("select"));
        });
        let through_set = median(budget, || {
            black_box(set.select(req.clone()).expect("select"));
        });
        // Native: the same crate compiled for the host, input converted through serde.
        let native_req: karpenter_ovhcloud_policy_sdk::types::ProvisioningRequest =
            serde_json::from_value(serde_json::to_value(&req).expect("to json"))
                .expect("from json");
        let native = median(budget, || {
            black_box(
                karpenter_ovhcloud_policy_flavor_selection::select(black_box(&native_req))
                    .expect("native"),
            );
        });
        println!(
            "| {pods} | {launches} | {} | {} | {} | {:.1}% | {} | {} | {:.2}x |",
            fmt(marshal),
            fmt(call),
            fmt(whole),
            100.0 * (instantiate + marshal).as_secs_f64() / whole.as_secs_f64(),
            fmt(through_set),
            fmt(native),
            call.as_secs_f64() / native.as_secs_f64(),
        );
    }
}
