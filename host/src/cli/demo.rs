//! `karpenter-ovhcloud demo` (interim, until the full demo on the simulators exists): runs the
//! embedded default flavor-selection policy through the Wasm runtime on the user guide's
//! scenarios and prints what it would launch.

use std::collections::BTreeSet;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::policy::types::provisioning::ProvisioningRequest;
use crate::policy::types::{
    ConsolidationPolicy, Flavor, Label, Nodeclass, Nodepool, Operator, PodGroup, Requirement,
    Resources, Spread, Topology,
};
use crate::policy::{PolicyRuntime, PolicySet, RuntimeConfig};

/// Arguments of `karpenter-ovhcloud demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Print each decision as JSON after the table.
    #[arg(long)]
    json: bool,
}

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;
const REGION: &str = "EU-WEST-PAR";
const ZONES: [&str; 3] = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"];
const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
const ZONE: &str = "topology.kubernetes.io/zone";
const NODEPOOL: &str = "karpenter.sh/nodepool";

/// One scenario of the guide: a NodePool file and a workload file.
struct Scenario {
    name: &'static str,
    expected: &'static str,
    request: ProvisioningRequest,
}

/// Runs `karpenter-ovhcloud demo`.
pub async fn run(args: Args) -> Result<()> {
    let runtime = Arc::new(PolicyRuntime::new(RuntimeConfig::default())?);
    let set = PolicySet::new(runtime)?;
    let fs = set.active(crate::policy::World::FlavorSelection);
    println!(
        "karpenter-ovhcloud demo (interim): the embedded default flavor-selection policy `{}` {} ({}, {} bytes, WIT {})",
        fs.policy.metadata.name,
        fs.policy.metadata.version,
        fs.policy.info.digest,
        fs.policy.info.size,
        fs.policy.info.wit_version,
    );
    println!("run through the Wasm runtime on the guide's scenarios, region {REGION}\n");
    println!(
        "| {:<34} | {:<22} | {:<40} | {:>5} | {:>9} | {:>9} | {:<28} |",
        "scenario", "flavors chosen", "zones (nodes)", "nodes", "EUR/hour", "call", "guide expects"
    );
    println!(
        "|{}|",
        [
            "-".repeat(36),
            "-".repeat(24),
            "-".repeat(42),
            "-".repeat(7),
            "-".repeat(11),
            "-".repeat(11),
            "-".repeat(30)
        ]
        .join("|")
    );
    let flavors = catalog();
    let mut decisions = Vec::new();
    for scenario in scenarios(&flavors) {
        let decided = tokio::task::block_in_place(|| set.select(scenario.request.clone()))
            .with_context(|| format!("scenario {}", scenario.name))?;
        if let Some(failure) = &decided.failure {
            println!("(the active policy failed: {failure}; the default decided)");
        }
        let d = &decided.decision;
        let chosen: BTreeSet<&str> = d.launches.iter().map(|l| l.flavor.as_str()).collect();
        let zones: BTreeSet<&str> = d.launches.iter().map(|l| l.zone.as_str()).collect();
        let zones: Vec<String> = zones
            .iter()
            .map(|z| {
                format!(
                    "{z} ({})",
                    d.launches.iter().filter(|l| l.zone == *z).count()
                )
            })
            .collect();
        let price: f64 = d
            .launches
            .iter()
            .filter_map(|l| flavors.iter().find(|f| f.name == l.flavor))
            .map(|f| f.hourly_price)
            .sum();
        println!(
            "| {:<34} | {:<22} | {:<40} | {:>5} | {:>9.4} | {:>6.2} ms | {:<28} |",
            scenario.name,
            chosen.into_iter().collect::<Vec<_>>().join(", "),
            zones.join(", "),
            d.launches.len(),
            price,
            decided.elapsed.as_secs_f64() * 1e3,
            scenario.expected,
        );
        for u in &d.unplaced {
            println!(
                "|   unplaced: {} pods of group {}: {}",
                u.count, u.group, u.reason
            );
        }
        decisions.push((scenario.name, decided.decision));
    }
    if args.json {
        for (name, decision) in &decisions {
            println!("\n{name}:\n{}", serde_json::to_string_pretty(decision)?);
        }
    }
    Ok(())
}

fn unlimited() -> Resources {
    Resources {
        cpu_millis: u64::MAX,
        memory_bytes: u64::MAX,
        ephemeral_storage_bytes: u64::MAX,
        gpu: u32::MAX,
        pods: u32::MAX,
    }
}

fn requirement(key: &str, values: &[&str]) -> Requirement {
    Requirement {
        key: key.into(),
        operator: Operator::In,
        values: values.iter().map(|v| (*v).into()).collect(),
        min_values: None,
    }
}

fn nodepool(name: &str, requirements: Vec<Requirement>, labels: Vec<Label>) -> Nodepool {
    Nodepool {
        name: name.into(),
        weight: 0,
        requirements,
        labels,
        taints: vec![],
        // limits: cpu 100.
        remaining: Some(Resources {
            cpu_millis: 100_000,
            ..unlimited()
        }),
        remaining_nodes: None,
        daemonset_overhead: Resources {
            cpu_millis: 0,
            memory_bytes: 0,
            ephemeral_storage_bytes: 0,
            gpu: 0,
            pods: 0,
        },
        nodeclass: Nodeclass {
            name: "default".into(),
            hash: "demo".into(),
            region: REGION.into(),
            monthly_billed: false,
            anti_affinity: false,
        },
        template_hash: "demo".into(),
        consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
        consolidate_after_seconds: Some(60),
    }
}

fn pods(name: &str, count: u32, cpu_millis: u64, memory_bytes: u64) -> PodGroup {
    PodGroup {
        id: 0,
        name: name.into(),
        count,
        requests: Resources {
            cpu_millis,
            memory_bytes,
            ephemeral_storage_bytes: 0,
            gpu: 0,
            pods: 1,
        },
        requirements: vec![],
        tolerations: vec![],
        spreads: vec![],
        anti_affinity: vec![],
        affinity: vec![],
        zone_counts: vec![],
    }
}

fn request(group: PodGroup, pool: Nodepool, flavors: &[Flavor]) -> ProvisioningRequest {
    ProvisioningRequest {
        pod_groups: vec![group],
        flavors: flavors.to_vec(),
        nodepools: vec![pool],
        nodes: vec![],
        config: String::new(),
    }
}

/// The guide's provisioning scenarios (BRIEF "Canonical demo workloads").
fn scenarios(flavors: &[Flavor]) -> Vec<Scenario> {
    let demo_pool = nodepool(
        "demo-pool",
        vec![requirement(INSTANCE_TYPE, &["b3-8", "b3-16"])],
        vec![],
    );
    let multi_flavor = nodepool(
        "multi-flavor",
        vec![requirement(
            INSTANCE_TYPE,
            &["b3-8", "b3-16", "b3-32", "b3-64"],
        )],
        vec![Label {
            key: "workload-type".into(),
            value: "multi-flavor".into(),
        }],
    );
    let multizone = nodepool("multizone", vec![requirement(ZONE, &ZONES)], vec![]);
    let on = |pool: &str, mut group: PodGroup| {
        group.requirements.push(requirement(NODEPOOL, &[pool]));
        group
    };
    let mut spread = on("multizone", pods("default/zone-spread", 6, 500, 512 * MIB));
    spread.spreads.push(Spread {
        topology: Topology::Zone,
        max_skew: 1,
    });
    vec![
        Scenario {
            name: "04-inflate (scaled to 3)",
            expected: "one b3-8",
            request: request(
                pods("default/inflate", 3, 500, 512 * MIB),
                demo_pool,
                flavors,
            ),
        },
        Scenario {
            name: "06-small-workload",
            expected: "one b3-8",
            request: request(
                on("multi-flavor", pods("default/small-workload", 1, 500, GIB)),
                multi_flavor.clone(),
                flavors,
            ),
        },
        Scenario {
            name: "07-large-workload",
            expected: "one b3-32",
            request: request(
                on(
                    "multi-flavor",
                    pods("default/large-workload", 1, 6000, 24 * GIB),
                ),
                multi_flavor,
                flavors,
            ),
        },
        Scenario {
            name: "09-zone-spread (6 replicas)",
            expected: "2 pods in each of a, b, c",
            request: request(spread, multizone, flavors),
        },
    ]
}

/// The general-purpose, CPU and memory flavors of DESIGN.md's price table, offered in the
/// three zones, with a conservative allocatable (interim: the demo moves to `crate::catalog`
/// when the catalog lands).
fn catalog() -> Vec<Flavor> {
    use crate::policy::types::{Category, ZoneOffering};
    let table: [(&str, Category, u64, u64, f64); 16] = [
        ("b3-8", Category::GeneralPurpose, 2, 8, 0.0512),
        ("b3-16", Category::GeneralPurpose, 4, 16, 0.1023),
        ("b3-32", Category::GeneralPurpose, 8, 32, 0.2046),
        ("b3-64", Category::GeneralPurpose, 16, 64, 0.4092),
        ("b3-128", Category::GeneralPurpose, 32, 128, 0.7439),
        ("b3-256", Category::GeneralPurpose, 64, 256, 1.4878),
        ("c3-4", Category::ComputeOptimized, 2, 4, 0.0415),
        ("c3-8", Category::ComputeOptimized, 4, 8, 0.083),
        ("c3-16", Category::ComputeOptimized, 8, 16, 0.1659),
        ("c3-32", Category::ComputeOptimized, 16, 32, 0.3318),
        ("c3-64", Category::ComputeOptimized, 32, 64, 0.6637),
        ("r3-16", Category::MemoryOptimized, 2, 16, 0.0602),
        ("r3-32", Category::MemoryOptimized, 4, 32, 0.1203),
        ("r3-64", Category::MemoryOptimized, 8, 64, 0.2407),
        ("r3-128", Category::MemoryOptimized, 16, 128, 0.4813),
        ("r3-256", Category::MemoryOptimized, 32, 256, 0.9627),
    ];
    table
        .iter()
        .map(|&(name, category, vcpus, gib, hourly_price)| {
            let capacity = Resources {
                cpu_millis: vcpus * 1000,
                memory_bytes: gib * GIB,
                ephemeral_storage_bytes: 25 * GIB,
                gpu: 0,
                pods: 110,
            };
            // Kube/system reserved and the eviction threshold, roughly as MKS reserves them.
            let allocatable = Resources {
                cpu_millis: capacity.cpu_millis - 100 - 10 * vcpus,
                memory_bytes: capacity.memory_bytes - GIB - gib * GIB / 25,
                ephemeral_storage_bytes: 20 * GIB,
                ..capacity
            };
            Flavor {
                name: name.into(),
                family: name.split('-').next().unwrap_or(name).into(),
                generation: 3,
                category,
                capacity,
                allocatable,
                hourly_price,
                monthly_price: None,
                zones: ZONES
                    .iter()
                    .map(|z| ZoneOffering {
                        zone: (*z).into(),
                        available: true,
                    })
                    .collect(),
            }
        })
        .collect()
}
