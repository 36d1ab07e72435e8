//! From validated new nodes to NodeClaim specs, with the OVH pool each one goes to.

use std::collections::{HashMap, VecDeque};

use super::request::Request;
use super::validate::NewNode;
use crate::scheduling::offer::{NodeClassSpec, PoolSpec};
use crate::scheduling::{wellknown, Labels, Operator, Requirement, Resources, Taint};
use crate::state::ObjectKey;

/// Nodes an anti-affinity OVH pool may hold.
pub const ANTI_AFFINITY_POOL_MAX: u32 = 5;

/// What the host creates for one new node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeClaimSpec {
    /// NodePool.
    pub nodepool: String,
    /// Flavor.
    pub flavor: String,
    /// Zone.
    pub zone: String,
    /// OVH pool the node goes to, e.g. `karpenter-b3-8-eu-west-par-a`.
    pub ovh_pool: String,
    /// Requirements of the NodeClaim: the NodePool's, narrowed to the chosen zone and to the
    /// chosen flavor (with the alternatives its NodePool's `minValues` asks for).
    pub requirements: Vec<Requirement>,
    /// The NodePool's `minValues`, carried onto the requirements of the same keys.
    pub min_values: Vec<(String, u32)>,
    /// Whether `minValues` could not be met and was relaxed (`--min-values-policy BestEffort`).
    pub min_values_relaxed: bool,
    /// Labels the node gets (hostname excluded: the node names itself).
    pub labels: Labels,
    /// Taints the node gets.
    pub taints: Vec<Taint>,
    /// Requests expected on the node: its pods plus DaemonSet overhead.
    pub requests: Resources,
    /// Raw size of the flavor.
    pub capacity: Resources,
    /// Allocatable estimate of the flavor.
    pub allocatable: Resources,
    /// Pods expected to land there.
    pub pods: Vec<ObjectKey>,
    /// Monthly billing (from the OVHNodeClass).
    pub monthly_billed: bool,
    /// Anti-affinity pool (from the OVHNodeClass).
    pub anti_affinity: bool,
}

/// Name of the shared OVH pool for a flavor and zone; pools with immutable settings get a
/// suffix, anti-affinity pools a number (`-aa-1`, `-aa-2`, ... of at most 5 nodes).
pub fn ovh_pool_name(
    flavor: &str,
    zone: &str,
    monthly: bool,
    anti_affinity: Option<u32>,
) -> String {
    let mut name = format!("karpenter-{flavor}-{zone}");
    if monthly {
        name.push_str("-monthly");
    }
    if let Some(n) = anti_affinity {
        name.push_str(&format!("-aa-{n}"));
    }
    name
}

/// The OVH pool a new node of `flavor` in `zone` goes to (counted in `sizes`): anti-affinity
/// pools are filled up to [`ANTI_AFFINITY_POOL_MAX`] nodes, then the next number is used.
pub fn next_ovh_pool(
    class: &NodeClassSpec,
    flavor: &str,
    zone: &str,
    sizes: &mut HashMap<String, u32>,
) -> String {
    if class.anti_affinity {
        let mut n = 1;
        loop {
            let name = ovh_pool_name(flavor, zone, class.monthly_billed, Some(n));
            let size = sizes.entry(name.clone()).or_default();
            if *size < ANTI_AFFINITY_POOL_MAX {
                *size += 1;
                break name;
            }
            n += 1;
        }
    } else {
        let name = ovh_pool_name(flavor, zone, class.monthly_billed, None);
        *sizes.entry(name.clone()).or_default() += 1;
        name
    }
}

/// A NodeClaim's requirements: its NodePool's, narrowed to the zone and to `flavors` (the
/// chosen one first).
pub fn narrowed_requirements(pool: &PoolSpec, flavors: &[&str], zone: &str) -> Vec<Requirement> {
    let mut requirements: Vec<Requirement> = pool
        .requirements
        .iter()
        .filter(|r| r.key != wellknown::INSTANCE_TYPE && r.key != wellknown::ZONE)
        .cloned()
        .collect();
    requirements.push(Requirement::new(
        wellknown::INSTANCE_TYPE,
        Operator::In,
        flavors,
    ));
    requirements.push(Requirement::new(wellknown::ZONE, Operator::In, &[zone]));
    requirements
}

/// NodeClaim specs for the validated new nodes, taking their pods from each group's queue.
/// `ovh_pool_sizes` are the nodes already in each OVH pool; anti-affinity pools are filled up to
/// [`ANTI_AFFINITY_POOL_MAX`] nodes, then the next number is used; `sizes` counts the new nodes.
pub fn node_claims(
    request: &Request,
    nodes: &[NewNode],
    pods: &mut [VecDeque<ObjectKey>],
    sizes: &mut HashMap<String, u32>,
) -> Vec<NodeClaimSpec> {
    nodes
        .iter()
        .map(|node| {
            let pool = &request.pools[node.pool].spec;
            let flavor = &request.flavors[node.flavor];
            let class = &pool.nodeclass;
            let ovh_pool = next_ovh_pool(class, &flavor.name, &node.zone, sizes);
            let mut requests = node.overhead;
            let mut expected = Vec::new();
            for &(g, n) in &node.pods {
                requests += request.groups[g as usize].spec.requests * n;
                let queue = &mut pods[g as usize];
                expected.extend((0..n).filter_map(|_| queue.pop_front()));
            }
            let options: Vec<&str> = node
                .options
                .iter()
                .map(|&i| request.flavors[i].name.as_str())
                .collect();
            let requirements = narrowed_requirements(pool, &options, &node.zone);
            let mut labels = node.labels.clone();
            labels.remove(wellknown::HOSTNAME);
            NodeClaimSpec {
                nodepool: pool.name.clone(),
                flavor: flavor.name.clone(),
                zone: node.zone.clone(),
                ovh_pool,
                requirements,
                labels,
                taints: node.taints.clone(),
                requests,
                capacity: flavor.capacity,
                allocatable: flavor.allocatable,
                pods: expected,
                monthly_billed: class.monthly_billed,
                anti_affinity: class.anti_affinity,
                min_values: pool.min_values.clone(),
                min_values_relaxed: node.min_values_relaxed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_names_follow_the_guide() {
        assert_eq!(
            ovh_pool_name("b3-8", "eu-west-par-a", false, None),
            "karpenter-b3-8-eu-west-par-a"
        );
        assert_eq!(
            ovh_pool_name("b2-7", "eu-west-par-b", true, Some(2)),
            "karpenter-b2-7-eu-west-par-b-monthly-aa-2"
        );
    }
}
