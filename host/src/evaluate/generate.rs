//! The seedable generator of the reference traces (`karpenter-ovhcloud policy trace-gen`).
//! The same kind and seed always give the same trace.

use std::collections::BTreeMap;

use super::trace::{
    ConsolidationPolicy, Event, Run, Scale, Trace, TraceFlavor, TracePool, TraceRequirement,
    Workload,
};
use super::SplitMix64;

/// Kinds of generated traces.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// A web service following the day over 24 h (replicas from ~4 to ~60, 10-minute steps).
    Diurnal,
    /// Bursts of finite batch jobs over 12 h beside a small always-on service.
    Batch,
    /// CPU-heavy and memory-heavy Deployments scaling independently over 12 h.
    Mixed,
    /// A zone-spread HA service and a hostname anti-affine cache over three zones, 12 h.
    Multizone,
    /// GPU training jobs on a GPU NodePool beside a CPU service, 8 h.
    Gpu,
}

impl Kind {
    /// Every kind, in the order of `traces/`.
    pub const ALL: [Kind; 5] = [
        Kind::Diurnal,
        Kind::Batch,
        Kind::Mixed,
        Kind::Multizone,
        Kind::Gpu,
    ];

    /// File-name stem, e.g. `diurnal`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Diurnal => "diurnal",
            Kind::Batch => "batch",
            Kind::Mixed => "mixed",
            Kind::Multizone => "multizone",
            Kind::Gpu => "gpu",
        }
    }
}

fn workload(name: &str, cpu: &str, memory: &str) -> Workload {
    Workload {
        name: name.into(),
        namespace: "default".into(),
        cpu: cpu.into(),
        memory: memory.into(),
        gpu: 0,
        node_selector: BTreeMap::new(),
        zone_spread_max_skew: None,
        hostname_anti_affinity: false,
    }
}

fn scale(at: u64, workload: &str, replicas: u32) -> Event {
    Event {
        at,
        scale: Some(Scale {
            workload: workload.into(),
            replicas,
        }),
        run: None,
    }
}

fn run(at: u64, workload: &str, count: u32, seconds: u64) -> Event {
    Event {
        at,
        scale: None,
        run: Some(Run {
            workload: workload.into(),
            count,
            seconds,
        }),
    }
}

fn pool(name: &str, requirements: Vec<TraceRequirement>) -> TracePool {
    TracePool {
        name: name.into(),
        weight: 0,
        requirements,
        limits: None,
        consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
        consolidate_after_seconds: Some(60),
        baseline_flavor: None,
        budgets: None,
    }
}

fn req(key: &str, operator: &str, values: &[&str]) -> TraceRequirement {
    TraceRequirement {
        key: key.into(),
        operator: operator.into(),
        values: values.iter().map(|v| v.to_string()).collect(),
    }
}

/// The general-purpose and specialised gen3 families, the usual NodePool of the guide's users.
fn gen3_pool() -> TracePool {
    pool(
        "default",
        vec![req(
            "karpenter.ovhcloud.sh/flavor-family",
            "In",
            &["b3", "c3", "r3"],
        )],
    )
}

/// Generates a trace of `kind` from `seed`.
pub fn generate(kind: Kind, seed: u64) -> Trace {
    let mut rng = SplitMix64::new(seed ^ (kind as u64).wrapping_mul(0x9e37_79b9));
    let mut t = Trace {
        name: format!("{}-seed{seed}", kind.name()),
        description: String::new(),
        region: "EU-WEST-PAR".into(),
        zones: Vec::new(),
        duration_seconds: 12 * 3600,
        start: None,
        node_startup_seconds: 180,
        gpu_node_startup_seconds: 600,
        flavors: Vec::new(),
        nodepools: vec![gen3_pool()],
        workloads: Vec::new(),
        events: Vec::new(),
    };
    match kind {
        Kind::Diurnal => {
            t.description = "web service following the day: 10-minute replica steps between ~4 (night) and ~60 (afternoon peak), +-10% noise".into();
            t.duration_seconds = 24 * 3600;
            t.workloads.push(workload("web", "500m", "1Gi"));
            for step in 0..(24 * 6) {
                let at = step * 600;
                let phase = (at as f64 / 86_400.0 - 0.625) * std::f64::consts::TAU;
                let level = 4.0 + 56.0 * (1.0 + phase.cos()) / 2.0;
                let noise = 1.0 + (rng.unit() - 0.5) * 0.2;
                t.events
                    .push(scale(at, "web", (level * noise).round().max(1.0) as u32));
            }
        }
        Kind::Batch => {
            t.description = "bursts of 10-80 batch pods (1-4 CPU) every 20-60 min, each running 10-60 min, beside a 4-replica API".into();
            t.workloads.push(workload("api", "250m", "512Mi"));
            t.workloads.push(workload("etl", "1", "2Gi"));
            t.workloads.push(workload("render", "4", "8Gi"));
            t.events.push(scale(0, "api", 4));
            let mut at = 300;
            while at < t.duration_seconds - 3600 {
                let which = if rng.below(2) == 0 { "etl" } else { "render" };
                let count = 10 + rng.below(71) as u32;
                let seconds = 600 + rng.below(3001);
                t.events.push(run(at, which, count, seconds));
                at += 1200 + rng.below(2401);
            }
        }
        Kind::Mixed => {
            t.description = "CPU-heavy (2 CPU / 1 GiB) and memory-heavy (250m / 6 GiB) Deployments and a general one, each re-scaled at random every 30 min".into();
            t.workloads.push(workload("encoder", "2", "1Gi"));
            t.workloads.push(workload("cache", "250m", "6Gi"));
            t.workloads.push(workload("app", "500m", "1Gi"));
            for step in 0..24 {
                let at = step * 1800;
                t.events
                    .push(scale(at, "encoder", 2 + rng.below(20) as u32));
                t.events.push(scale(at, "cache", 2 + rng.below(16) as u32));
                t.events.push(scale(at, "app", 4 + rng.below(24) as u32));
            }
        }
        Kind::Multizone => {
            t.description = "HA service spread over the three zones (maxSkew 1) stepping between 6 and 30 replicas every 20 min, and a 3-replica cache with hostname anti-affinity".into();
            let mut web = workload("frontend", "1", "2Gi");
            web.zone_spread_max_skew = Some(1);
            let mut cache = workload("session-cache", "500m", "4Gi");
            cache.hostname_anti_affinity = true;
            cache.zone_spread_max_skew = Some(1);
            t.workloads.push(web);
            t.workloads.push(cache);
            t.events.push(scale(0, "session-cache", 3));
            for step in 0..36 {
                let replicas = 6 + 3 * rng.below(9) as u32;
                t.events.push(scale(step * 1200, "frontend", replicas));
            }
        }
        Kind::Gpu => {
            t.description = "GPU training jobs (1 GPU, 6 CPU, 40 GiB; 1-4 pods running 30-90 min) every 45-90 min on a GPU NodePool, beside a 6-replica CPU API; GPU prices are approximate".into();
            t.duration_seconds = 8 * 3600;
            t.flavors = vec![
                TraceFlavor {
                    name: "t1-45".into(),
                    vcpus: 8,
                    ram_gib: 45,
                    gpus: 1,
                    hourly_eur: 1.93,
                },
                TraceFlavor {
                    name: "t1-90".into(),
                    vcpus: 18,
                    ram_gib: 90,
                    gpus: 2,
                    hourly_eur: 3.86,
                },
                TraceFlavor {
                    name: "l4-90".into(),
                    vcpus: 22,
                    ram_gib: 90,
                    gpus: 1,
                    hourly_eur: 1.25,
                },
            ];
            let mut gpu_pool = pool(
                "gpu",
                vec![req("karpenter.ovhcloud.sh/flavor-category", "In", &["gpu"])],
            );
            gpu_pool.consolidate_after_seconds = Some(300);
            t.nodepools.push(gpu_pool);
            let mut train = workload("train", "6", "40Gi");
            train.gpu = 1;
            train
                .node_selector
                .insert("karpenter.sh/nodepool".into(), "gpu".into());
            let mut api = workload("api", "500m", "1Gi");
            api.node_selector
                .insert("karpenter.sh/nodepool".into(), "default".into());
            t.workloads.push(api);
            t.workloads.push(train);
            t.events.push(scale(0, "api", 6));
            let mut at = 600;
            while at < t.duration_seconds - 5400 {
                let count = 1 + rng.below(4) as u32;
                let seconds = 1800 + rng.below(3601);
                t.events.push(run(at, "train", count, seconds));
                at += 2700 + rng.below(2701);
            }
        }
    }
    t
}
