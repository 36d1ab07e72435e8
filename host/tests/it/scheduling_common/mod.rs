//! Fixtures shared by the scheduling tests and the scheduling benchmark.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use karpenter_ovhcloud::catalog::prices::KNOWN_FLAVORS;
use karpenter_ovhcloud::policy::{PolicyRuntime, PolicySet, RuntimeConfig};
use karpenter_ovhcloud::provisioning::{
    Decision, FlavorPolicy, Launch, Request, Unplaced, WasmFlavorPolicy,
};
use karpenter_ovhcloud::scheduling::offer::NodeClassSpec;
use karpenter_ovhcloud::scheduling::{
    wellknown, FlavorSpec, Operator, PoolSpec, Requirement, Resources, Topology,
};

pub const ZONES: [&str; 3] = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"];
pub const GIB: u64 = 1 << 30;

fn category(family: &str) -> &'static str {
    match &family[..1] {
        "b" => "general-purpose",
        "c" => "compute-optimized",
        "r" => "memory-optimized",
        "d" => "discovery",
        _ => "other",
    }
}

/// A flavor with an allocatable estimate (kube and system reserved, eviction threshold).
pub fn flavor(name: &str, vcpus: u64, ram_gb: u64, hourly: f64, zones: &[&str]) -> FlavorSpec {
    let family = name.split('-').next().unwrap_or(name).to_string();
    let generation = family[1..].parse().unwrap_or(3);
    let capacity = Resources {
        cpu_millis: vcpus * 1000,
        memory_bytes: ram_gb * GIB,
        ephemeral_storage_bytes: 50 * GIB,
        gpu: 0,
        pods: 110,
    };
    let allocatable = Resources {
        cpu_millis: capacity.cpu_millis - 100 - capacity.cpu_millis / 20,
        memory_bytes: capacity.memory_bytes - GIB / 2 - capacity.memory_bytes / 10,
        ephemeral_storage_bytes: 45 * GIB,
        ..capacity
    };
    FlavorSpec {
        name: name.to_string(),
        category: category(&family).to_string(),
        family,
        generation,
        capacity,
        allocatable,
        hourly_price: hourly,
        monthly_price: (generation == 2).then_some(hourly * 730.0 * 0.5),
        zones: zones.iter().map(|z| (z.to_string(), true)).collect(),
    }
}

/// The OVH catalog of docs/ARCHITECTURE.md, "OVH rules the code relies on" in EU-WEST-PAR's three zones.
pub fn ovh_catalog() -> Vec<FlavorSpec> {
    KNOWN_FLAVORS
        .iter()
        .map(|f| {
            let (vcpus, ram) = (u64::from(f.vcpus), u64::from(f.ram_gib));
            flavor(f.name, vcpus, ram, f.hourly_eur, &ZONES)
        })
        .collect()
}

pub fn class(name: &str) -> NodeClassSpec {
    NodeClassSpec {
        name: name.to_string(),
        region: "EU-WEST-PAR".into(),
        monthly_billed: false,
        anti_affinity: false,
    }
}

pub fn pool(name: &str, requirements: Vec<Requirement>) -> PoolSpec {
    PoolSpec {
        name: name.to_string(),
        weight: 0,
        requirements,
        labels: [(wellknown::NODEPOOL.to_string(), name.to_string())].into(),
        taints: Vec::new(),
        remaining: None,
        remaining_nodes: None,
        min_values: Vec::new(),
        nodeclass: class("default"),
    }
}

pub fn instance_types(names: &[&str]) -> Requirement {
    Requirement::new(wellknown::INSTANCE_TYPE, Operator::In, names)
}

/// A simple first-fit-decreasing flavor-selection policy written for the tests (not the
/// product's default policy): per group, the cheapest flavor of the heaviest pool that holds
/// one pod; zone-spread groups rotate over the offered zones starting at the least loaded,
/// hostname anti-affinity/spread puts one pod per node, zone affinity keeps one zone.
pub fn test_policy(request: &Request) -> Result<Decision, String> {
    let mut decision = Decision::default();
    for g in &request.groups {
        let mut choice = None;
        'pools: for p in &request.pools {
            let mut flavors: Vec<&FlavorSpec> = request.flavors.iter().collect();
            flavors.sort_by(|a, b| a.hourly_price.total_cmp(&b.hourly_price));
            for f in flavors {
                let zones: Vec<&str> = f
                    .zones
                    .iter()
                    .filter(|(_, ok)| *ok)
                    .map(|(z, _)| z.as_str())
                    .filter(|z| {
                        let labels = karpenter_ovhcloud::scheduling::new_node_labels(
                            &p.spec,
                            f,
                            z,
                            "x",
                            [&*g.spec],
                        );
                        p.spec.requirements.iter().all(|r| r.matches(&labels))
                            && g.spec.unmet_requirement(&labels).is_none()
                    })
                    .collect();
                let room = f.allocatable.saturating_sub(&p.daemonset_overhead);
                if !zones.is_empty()
                    && g.spec.requests.fits_in(&room)
                    && p.spec
                        .taints
                        .iter()
                        .all(|t| g.spec.tolerations.iter().any(|tol| tol.tolerates(t)))
                {
                    choice = Some((p, f, zones, room));
                    break 'pools;
                }
            }
        }
        let Some((p, f, mut zones, room)) = choice else {
            decision.unplaced.push(Unplaced {
                group: g.id,
                count: g.count,
                reason: "no flavor fits".into(),
            });
            continue;
        };
        let counts: HashMap<&str, u32> = g
            .zone_counts
            .iter()
            .map(|(z, c)| (z.as_str(), *c))
            .collect();
        zones.sort_by_key(|z| (counts.get(z).copied().unwrap_or(0), *z));
        let per_node_max = if g.anti_affinity.contains(&Topology::Hostname)
            || g.spreads.iter().any(|(t, ..)| *t == Topology::Hostname)
        {
            1
        } else {
            g.spec.requests.copies_within(&room)
        };
        let zone_spread = g.spreads.iter().any(|(t, ..)| *t == Topology::Zone);
        let mut left = g.count;
        let mut i = 0usize;
        while left > 0 {
            let zone = if zone_spread {
                zones[i % zones.len()]
            } else {
                zones[0]
            };
            let per_node = if zone_spread {
                1
            } else {
                per_node_max.min(left)
            };
            let n = per_node.min(left).max(1);
            decision.launches.push(Launch {
                nodepool: p.spec.name.clone(),
                flavor: f.name.clone(),
                zone: zone.to_string(),
                pods: vec![(g.id, n)],
            });
            left -= n;
            i += 1;
        }
    }
    Ok(decision)
}

/// The product's default flavor-selection policy (`policies/dist/flavor-selection.wasm`) in
/// the Wasm runtime, loaded once.
pub fn default_policy() -> &'static dyn FlavorPolicy {
    static SET: OnceLock<PolicySet> = OnceLock::new();
    static POLICY: OnceLock<WasmFlavorPolicy<'static>> = OnceLock::new();
    POLICY.get_or_init(|| {
        let set = SET.get_or_init(|| {
            let runtime = PolicyRuntime::new(RuntimeConfig::default()).expect("runtime");
            PolicySet::new(Arc::new(runtime)).expect("embedded defaults")
        });
        WasmFlavorPolicy::default_policy(set)
    })
}

pub fn arc_catalog(c: Vec<FlavorSpec>) -> Arc<Vec<FlavorSpec>> {
    Arc::new(c)
}
pub mod k8s;
