//! Builders for test inputs: the guide's region, flavor catalog and NodePools.
//!
//! Used by the unit tests of the SDK and of the policies, and by native benchmarks. The
//! allocatable figures are a test estimate, not the controller's.

use std::sync::LazyLock;

use karpenter_ovhcloud_contract::flavors::MONTHLY_DISCOUNT;

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

/// `(name, vCPU, RAM GB, EUR/hour)` of the contract's flavor table (`contract/flavors.csv`,
/// the host's embedded price table), in file order.
pub static PRICE_TABLE: LazyLock<Vec<(&'static str, u64, u64, f64)>> = LazyLock::new(|| {
    karpenter_ovhcloud_contract::flavors()
        .iter()
        .map(|f| {
            (
                f.name,
                u64::from(f.vcpus),
                u64::from(f.ram_gb),
                f.hourly_eur,
            )
        })
        .collect()
});

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
        monthly_price: (generation == 2)
            .then_some(hourly * crate::price::HOURS_PER_MONTH * MONTHLY_DISCOUNT),
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

/// A group of `count` pods requesting `cpu_millis` and `mem_bytes` each, no constraints, of
/// eviction cost 1.0 (priority 0, no `pod-deletion-cost`).
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
        eviction_cost: 1.0,
        preferences: vec![],
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
