//! Builders for test inputs: the guide's region, flavor catalog and NodePools.
//!
//! Used by the unit tests of the SDK and of the policies, and by native benchmarks. The
//! allocatable figures are a test estimate, not the controller's.

use crate::labels::well_known;
use crate::resources::GIB;
use crate::types::{
    Category, ConsolidationPolicy, Flavor, Label, Nodeclass, Nodepool, Operator, PodGroup,
    Requirement, Resources, ZoneOffering,
};

/// The guide's region.
pub const REGION: &str = "EU-WEST-PAR";
/// Its three zones.
pub const ZONES: [&str; 3] = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"];

/// `(name, vCPU, RAM GB, EUR/hour)` of the embedded price table (`core/src/catalog/prices.rs`).
pub const PRICE_TABLE: &[(&str, u64, u64, f64)] = &[
    ("b3-8", 2, 8, 0.0512),
    ("b3-16", 4, 16, 0.1023),
    ("b3-32", 8, 32, 0.2046),
    ("b3-64", 16, 64, 0.4092),
    ("b3-128", 32, 128, 0.7439),
    ("b3-256", 64, 256, 1.4878),
    ("c3-4", 2, 4, 0.0415),
    ("c3-8", 4, 8, 0.083),
    ("c3-16", 8, 16, 0.1659),
    ("c3-32", 16, 32, 0.3318),
    ("c3-64", 32, 64, 0.6637),
    ("r3-16", 2, 16, 0.0602),
    ("r3-32", 4, 32, 0.1203),
    ("r3-64", 8, 64, 0.2407),
    ("r3-128", 16, 128, 0.4813),
    ("r3-256", 32, 256, 0.9627),
    ("b2-7", 2, 7, 0.0681),
    ("b2-15", 4, 15, 0.129),
    ("b2-30", 8, 30, 0.261),
    ("b2-60", 16, 60, 0.505),
    ("b2-120", 32, 120, 0.993),
    ("c2-7", 2, 7, 0.0978),
    ("c2-15", 4, 15, 0.19),
    ("c2-30", 8, 30, 0.383),
    ("c2-60", 16, 60, 0.749),
    ("c2-120", 32, 120, 1.48),
    ("r2-15", 2, 15, 0.0978),
    ("r2-30", 2, 30, 0.113),
    ("r2-60", 4, 60, 0.22),
    ("r2-120", 8, 120, 0.443),
    ("r2-240", 16, 240, 0.871),
    ("d2-2", 1, 2, 0.0099),
    ("d2-4", 2, 4, 0.0198),
    ("d2-8", 4, 8, 0.0357),
];

/// A test estimate of what pods can use: 10% of the CPU and 10% + 256 MiB of the memory are
/// reserved, 110 pods.
pub fn estimated_allocatable(capacity: &Resources) -> Resources {
    Resources {
        cpu_millis: capacity.cpu_millis - capacity.cpu_millis / 10,
        memory_bytes: capacity
            .memory_bytes
            .saturating_sub(capacity.memory_bytes / 10 + 256 * crate::resources::MIB),
        ephemeral_storage_bytes: capacity.ephemeral_storage_bytes,
        gpu: capacity.gpu,
        pods: capacity.pods,
    }
}

/// A flavor of `cpu_millis` and `mem_gib`, offered and available in the three zones.
/// Family, generation and category come from the name; gen2 flavors get a monthly price.
pub fn flavor(name: &str, cpu_millis: u64, mem_gib: u64, hourly: f64) -> Flavor {
    let family = name.split('-').next().unwrap_or(name).to_string();
    let generation = family
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .parse()
        .unwrap_or(0);
    let category = match family.chars().next() {
        Some('b') => Category::GeneralPurpose,
        Some('c') => Category::ComputeOptimized,
        Some('r') => Category::MemoryOptimized,
        Some('d') => Category::Discovery,
        _ => Category::Other,
    };
    let capacity = Resources {
        cpu_millis,
        memory_bytes: mem_gib * GIB,
        ephemeral_storage_bytes: 50 * GIB,
        gpu: 0,
        pods: 110,
    };
    Flavor {
        name: name.into(),
        family,
        generation,
        category,
        capacity,
        allocatable: estimated_allocatable(&capacity),
        hourly_price: hourly,
        monthly_price: (generation == 2).then_some(hourly * crate::price::HOURS_PER_MONTH * 0.5),
        zones: ZONES
            .iter()
            .map(|z| ZoneOffering {
                zone: (*z).into(),
                available: true,
            })
            .collect(),
    }
}

/// The whole price table as a catalog.
pub fn catalog() -> Vec<Flavor> {
    PRICE_TABLE
        .iter()
        .map(|(n, cpu, mem, price)| flavor(n, cpu * 1000, *mem, *price))
        .collect()
}

/// A requirement.
pub fn req(key: &str, operator: Operator, values: &[&str]) -> Requirement {
    Requirement {
        key: key.into(),
        operator,
        values: values.iter().map(|v| (*v).into()).collect(),
        min_values: None,
    }
}

/// `node.kubernetes.io/instance-type In [flavors]`.
pub fn instance_types(flavors: &[&str]) -> Requirement {
    req(well_known::INSTANCE_TYPE, Operator::In, flavors)
}

/// An unlimited, hourly-billed NodePool of weight 0 in the guide's region, with the template
/// label `workload-type: <name>` and the given requirements.
pub fn nodepool(name: &str, requirements: Vec<Requirement>) -> Nodepool {
    Nodepool {
        name: name.into(),
        weight: 0,
        requirements,
        labels: vec![Label {
            key: "workload-type".into(),
            value: name.into(),
        }],
        taints: vec![],
        remaining: None,
        remaining_nodes: None,
        daemonset_overhead: Resources::ZERO,
        nodeclass: Nodeclass {
            name: "default".into(),
            hash: "nodeclass-hash-1".into(),
            region: REGION.into(),
            monthly_billed: false,
            anti_affinity: false,
        },
        template_hash: format!("{name}-hash-1"),
        consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
        consolidate_after_seconds: Some(60),
    }
}

/// A group of `count` pods requesting `cpu_millis` and `mem_bytes` each, no constraints.
pub fn pod_group(id: u32, name: &str, count: u32, cpu_millis: u64, mem_bytes: u64) -> PodGroup {
    PodGroup {
        id,
        name: name.into(),
        count,
        requests: Resources {
            pods: 1,
            ..Resources::cpu_memory(cpu_millis, mem_bytes)
        },
        requirements: vec![],
        tolerations: vec![],
        spreads: vec![],
        anti_affinity: vec![],
        affinity: vec![],
        zone_counts: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::ProvisioningRequest;

    /// Native callers (the host's benchmark) convert their own copies of the types via serde.
    #[test]
    fn types_round_trip_through_serde() {
        let request = ProvisioningRequest {
            pod_groups: vec![pod_group(1, "default/inflate", 3, 500, GIB)],
            flavors: catalog(),
            nodepools: vec![nodepool("demo-pool", vec![instance_types(&["b3-8"])])],
            nodes: vec![],
            config: "{}".into(),
        };
        let json = serde_json::to_string(&request).unwrap();
        assert!(json.contains(r#""operator":"In""#), "{}", &json[..200]);
        let back: ProvisioningRequest = serde_json::from_str(&json).unwrap();
        assert_eq!(back, request);
    }
}
