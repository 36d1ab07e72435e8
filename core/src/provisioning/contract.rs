//! The provisioning request and decision in the policy contract's types: the plan's
//! [`Request`] becomes the contract's `provisioning-request`, a `provisioning-decision` becomes
//! a [`Decision`]. The host's Wasm runtime then moves these into the component's bindings.
//! Also used by the disruption requests, which describe pools, flavors and nodes the same way.

use super::request::{Decision, Group, Launch, Pool, Request, Unplaced};
use super::validate::MinValuesPolicy;
use crate::catalog::Category;
use crate::policy::types::provisioning::{self as wit_prov, ProvisioningRequest};
use crate::policy::types::{self as wit};
use crate::scheduling::{
    wellknown, FlavorSpec, Labels, NodeState, Operator, Requirement, Resources, SimNode, Taint,
    TaintEffect, Toleration, Topology,
};

/// The WIT request of a provisioning call.
pub fn to_wit(request: &Request) -> ProvisioningRequest {
    ProvisioningRequest {
        pod_groups: request.groups.iter().map(group).collect(),
        flavors: request.flavors.iter().map(flavor).collect(),
        nodepools: request
            .pools
            .iter()
            .map(|p| {
                let mut wp = pool(p);
                // Under BestEffort the host relaxes what cannot be met: nothing to enforce.
                if request.min_values == MinValuesPolicy::BestEffort {
                    wp.requirements.iter_mut().for_each(|r| r.min_values = None);
                }
                wp
            })
            .collect(),
        nodes: request
            .nodes
            .iter()
            .map(|n| node(n, &request.flavors))
            .collect(),
        config: request.config.clone(),
    }
}

/// A WIT decision in host terms.
pub fn from_wit(decision: &wit_prov::ProvisioningDecision) -> Decision {
    Decision {
        launches: decision
            .launches
            .iter()
            .map(|l| Launch {
                nodepool: l.nodepool.clone(),
                flavor: l.flavor.clone(),
                zone: l.zone.clone(),
                pods: l.pods.iter().map(|a| (a.group, a.count)).collect(),
            })
            .collect(),
        unplaced: decision
            .unplaced
            .iter()
            .map(|u| Unplaced {
                group: u.group,
                count: u.count,
                reason: u.reason.clone(),
            })
            .collect(),
    }
}

/// Host resources as the WIT record.
pub fn resources(r: &Resources) -> wit::Resources {
    wit::Resources {
        cpu_millis: r.cpu_millis,
        memory_bytes: r.memory_bytes,
        ephemeral_storage_bytes: r.ephemeral_storage_bytes,
        gpu: r.gpu,
        pods: r.pods,
    }
}

fn requirement(r: &Requirement) -> wit::Requirement {
    wit::Requirement {
        key: r.key.clone(),
        operator: match r.operator {
            Operator::In => wit::Operator::In,
            Operator::NotIn => wit::Operator::NotIn,
            Operator::Exists => wit::Operator::Exists,
            Operator::DoesNotExist => wit::Operator::DoesNotExist,
            Operator::Gt => wit::Operator::Gt,
            Operator::Lt => wit::Operator::Lt,
            Operator::Gte => wit::Operator::Gte,
            Operator::Lte => wit::Operator::Lte,
        },
        values: r.values.clone(),
        // A NodePool's minValues is added by `pool`: pods have none.
        min_values: None,
    }
}

fn effect(e: TaintEffect) -> wit::TaintEffect {
    match e {
        TaintEffect::NoSchedule => wit::TaintEffect::NoSchedule,
        TaintEffect::PreferNoSchedule => wit::TaintEffect::PreferNoSchedule,
        TaintEffect::NoExecute => wit::TaintEffect::NoExecute,
    }
}

fn taint(t: &Taint) -> wit::Taint {
    wit::Taint {
        key: t.key.clone(),
        value: t.value.clone(),
        effect: effect(t.effect),
    }
}

fn toleration(t: &Toleration) -> wit::Toleration {
    wit::Toleration {
        key: t.key.clone(),
        operator: if t.exists {
            wit::TolerationOperator::Exists
        } else {
            wit::TolerationOperator::Equal
        },
        value: t.value.clone(),
        effect: t.effect.map(effect),
    }
}

fn topology(t: Topology) -> wit::Topology {
    match t {
        Topology::Zone => wit::Topology::Zone,
        Topology::Hostname => wit::Topology::Hostname,
    }
}

fn labels(labels: &Labels) -> Vec<wit::Label> {
    labels
        .iter()
        .map(|(key, value)| wit::Label {
            key: key.clone(),
            value: value.clone(),
        })
        .collect()
}

/// A pod group of the request in the contract's types.
pub fn group(g: &Group) -> wit::PodGroup {
    let spec = &g.spec;
    // The WIT carries one requirement list per group; with alternative affinity terms the
    // first one is sent (any launch satisfying it satisfies the pod), and the host's
    // validation accepts every alternative.
    let requirements = spec
        .requirements
        .iter()
        .chain(spec.alternatives.first().into_iter().flatten())
        .map(requirement)
        .collect();
    wit::PodGroup {
        id: g.id,
        name: g.name.clone(),
        count: g.count,
        requests: resources(&spec.requests),
        requirements,
        tolerations: spec.tolerations.iter().map(toleration).collect(),
        spreads: g
            .spreads
            .iter()
            .map(|(t, max_skew, min_domains)| wit::Spread {
                topology: topology(*t),
                max_skew: *max_skew,
                min_domains: *min_domains,
            })
            .collect(),
        anti_affinity: g
            .anti_affinity
            .iter()
            .copied()
            // Pods claiming a host port go one per node: what contract 0.2.0 says of them.
            .chain(
                (!spec.host_ports.is_empty() && !g.anti_affinity.contains(&Topology::Hostname))
                    .then_some(Topology::Hostname),
            )
            .map(topology)
            .collect(),
        affinity: g.affinity.iter().copied().map(topology).collect(),
        zone_counts: g
            .zone_counts
            .iter()
            .map(|(domain, count)| wit::DomainCount {
                domain: domain.clone(),
                count: *count,
            })
            .collect(),
        eviction_cost: spec.eviction_cost(),
        preferences: g.preferences.clone(),
    }
}

fn category(label: &str) -> wit::Category {
    match Category::from_label(label) {
        Category::GeneralPurpose => wit::Category::GeneralPurpose,
        Category::ComputeOptimized => wit::Category::ComputeOptimized,
        Category::MemoryOptimized => wit::Category::MemoryOptimized,
        Category::Discovery => wit::Category::Discovery,
        Category::IopsOptimized => wit::Category::IopsOptimized,
        Category::Gpu => wit::Category::Gpu,
        Category::Other => wit::Category::Other,
    }
}

/// A catalog flavor as the WIT record.
pub fn flavor(f: &FlavorSpec) -> wit::Flavor {
    wit::Flavor {
        name: f.name.clone(),
        family: f.family.clone(),
        generation: f.generation,
        category: category(&f.category),
        capacity: resources(&f.capacity),
        allocatable: resources(&f.allocatable),
        hourly_price: f.hourly_price,
        monthly_price: f.monthly_price,
        zones: f
            .zones
            .iter()
            .map(|(zone, available)| wit::ZoneOffering {
                zone: zone.clone(),
                available: *available,
            })
            .collect(),
    }
}

/// A NodePool as the WIT record (hashes empty, disruption settings at their defaults: callers that need them set them).
pub fn pool(p: &Pool) -> wit::Nodepool {
    let s = &p.spec;
    wit::Nodepool {
        name: s.name.clone(),
        weight: s.weight,
        requirements: s
            .requirements
            .iter()
            .map(|r| wit::Requirement {
                min_values: crate::scheduling::offer::min_values_of(&s.min_values, &r.key),
                ..requirement(r)
            })
            .collect(),
        labels: labels(&s.labels),
        taints: s.taints.iter().map(taint).collect(),
        remaining: s.remaining.as_ref().map(resources),
        remaining_nodes: s.remaining_nodes,
        daemonset_overhead: resources(&p.daemonset_overhead),
        nodeclass: wit::Nodeclass {
            name: s.nodeclass.name.clone(),
            // Hashes and disruption settings matter to drift and consolidation, not here.
            hash: String::new(),
            region: s.nodeclass.region.clone(),
            monthly_billed: s.nodeclass.monthly_billed,
            anti_affinity: s.nodeclass.anti_affinity,
        },
        template_hash: String::new(),
        consolidation_policy: wit::ConsolidationPolicy::WhenEmptyOrUnderutilized,
        consolidate_after_seconds: None,
    }
}

/// A node as the WIT record (no movable pods, age 0, not disruptable: callers that need them set them).
pub fn node(n: &SimNode, flavors: &[FlavorSpec]) -> wit::Node {
    let label = |key: &str| n.labels.get(key).cloned().unwrap_or_default();
    let flavor = label(wellknown::INSTANCE_TYPE);
    let hourly_price = flavors
        .iter()
        .find(|f| f.name == flavor)
        .map_or(0.0, |f| f.hourly_price);
    wit::Node {
        name: n.name.clone(),
        nodeclaim: n.nodeclaim.clone().unwrap_or_default(),
        nodepool: n.nodepool.clone().unwrap_or_default(),
        zone: label(wellknown::ZONE),
        flavor,
        labels: labels(&n.labels),
        taints: n.taints.iter().map(taint).collect(),
        allocatable: resources(&n.allocatable),
        requested: resources(&n.requested),
        // Provisioning requests carry no movable pods: existing nodes are only topology.
        pods: Vec::new(),
        hourly_price,
        state: match n.state {
            NodeState::Launching => wit::NodeState::Launching,
            NodeState::Ready => wit::NodeState::Ready,
            NodeState::Deleting => wit::NodeState::Deleting,
            NodeState::Unhealthy => wit::NodeState::Unhealthy,
        },
        age_seconds: 0,
        disruptable: false,
        consolidatable: false,
    }
}
