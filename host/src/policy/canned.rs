//! Small fixed requests, one per world, on which a policy is smoke-tested before it becomes
//! active: it must answer, within its limits, a decision that validates.

use super::types::consolidation::{ConsolidationRequest, NodepoolTotals};
use super::types::drift::{DriftRequest, Nodeclaim};
use super::types::provisioning::ProvisioningRequest;
use super::types::{
    Category, ConsolidationPolicy, Flavor, Label, Node, NodeState, Nodeclass, Nodepool, PodGroup,
    Resources, ZoneOffering,
};

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

fn flavor(name: &str, vcpus: u64, gib: u64, hourly_price: f64) -> Flavor {
    Flavor {
        name: name.into(),
        family: "b3".into(),
        generation: 3,
        category: Category::GeneralPurpose,
        capacity: resources(vcpus * 1000, gib * GIB, 110),
        allocatable: resources(vcpus * 1000 - 150, gib * GIB - GIB, 110),
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
}

fn flavors() -> Vec<Flavor> {
    vec![flavor("b3-8", 2, 8, 0.0512), flavor("b3-16", 4, 16, 0.1023)]
}

fn nodepool() -> Nodepool {
    Nodepool {
        name: "smoke-test".into(),
        weight: 0,
        requirements: vec![],
        labels: vec![],
        taints: vec![],
        remaining: None,
        remaining_nodes: None,
        daemonset_overhead: resources(0, 0, 0),
        nodeclass: Nodeclass {
            name: "default".into(),
            hash: "nodeclass-hash".into(),
            region: "EU-WEST-PAR".into(),
            monthly_billed: false,
            anti_affinity: false,
        },
        template_hash: "template-hash".into(),
        consolidation_policy: ConsolidationPolicy::WhenEmptyOrUnderutilized,
        consolidate_after_seconds: Some(60),
    }
}

/// Two pods of 500m / 512 MiB to place, two b3 flavors, one unconstrained NodePool.
pub fn provisioning() -> ProvisioningRequest {
    ProvisioningRequest {
        pod_groups: vec![PodGroup {
            id: 0,
            name: "default/smoke-test".into(),
            count: 2,
            requests: resources(500, GIB / 2, 1),
            requirements: vec![],
            tolerations: vec![],
            spreads: vec![],
            anti_affinity: vec![],
            affinity: vec![],
            zone_counts: vec![],
            eviction_cost: 1.0,
            preferences: vec![],
        }],
        flavors: flavors(),
        nodepools: vec![nodepool()],
        nodes: vec![],
        config: String::new(),
    }
}

/// One empty, disruptable b3-16 node.
pub fn consolidation() -> ConsolidationRequest {
    let flavor = &flavors()[1];
    ConsolidationRequest {
        nodes: vec![Node {
            name: "smoke-test-node".into(),
            nodeclaim: "smoke-test-claim".into(),
            nodepool: "smoke-test".into(),
            flavor: flavor.name.clone(),
            zone: ZONES[0].into(),
            labels: vec![Label {
                key: "node.kubernetes.io/instance-type".into(),
                value: flavor.name.clone(),
            }],
            taints: vec![],
            allocatable: flavor.allocatable,
            requested: resources(0, 0, 0),
            pods: vec![],
            hourly_price: flavor.hourly_price,
            state: NodeState::Ready,
            age_seconds: 3600,
            disruptable: true,
            consolidatable: true,
        }],
        pod_groups: vec![],
        flavors: flavors(),
        nodepools: vec![nodepool()],
        config: String::new(),
        nodepool_totals: vec![NodepoolTotals {
            nodepool: "smoke-test".into(),
            hourly_price: flavor.hourly_price,
            disruption_cost: 1.0,
        }],
    }
}

/// One NodeClaim launched under an older NodePool template.
pub fn drift() -> DriftRequest {
    DriftRequest {
        nodeclaims: vec![Nodeclaim {
            name: "smoke-test-claim".into(),
            nodepool: "smoke-test".into(),
            flavor: "b3-8".into(),
            zone: ZONES[0].into(),
            labels: vec![],
            nodepool_hash: "older-template-hash".into(),
            nodeclass_hash: "nodeclass-hash".into(),
            region: "EU-WEST-PAR".into(),
            monthly_billed: false,
            anti_affinity: false,
        }],
        nodepools: vec![nodepool()],
        flavors: flavors(),
        config: String::new(),
    }
}
