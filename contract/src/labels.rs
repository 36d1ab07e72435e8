//! Label, annotation and taint keys the host and the policies both use, and the well-known
//! label values. Keys of the `karpenter.sh` domain are upstream Karpenter's; keys of
//! `karpenter.ovhcloud.sh` are ours. Keys only the controller reads or writes (API groups,
//! hash annotations, finalizers) stay in the core crate's `api::labels`.

// Well-known Kubernetes node labels.

/// Flavor name of a node, e.g. `b3-8`.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// Zone of a node, e.g. `eu-west-par-a` (the region itself in 1-AZ regions).
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Region of a node, e.g. `EU-WEST-PAR`.
pub const REGION: &str = "topology.kubernetes.io/region";
/// Host name of a node: the domain of hostname topology spread and anti-affinity (unknown for
/// a node not launched yet).
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// CPU architecture of a node (always [`ARCH_AMD64`] on OVH MKS).
pub const ARCH: &str = "kubernetes.io/arch";
/// Operating system of a node (always [`OS_LINUX`] on OVH MKS).
pub const OS: &str = "kubernetes.io/os";

/// Value of [`ARCH`] on OVH nodes.
pub const ARCH_AMD64: &str = "amd64";
/// Value of [`OS`] on OVH nodes.
pub const OS_LINUX: &str = "linux";

// karpenter.sh labels.

/// NodePool that owns a NodeClaim and its node.
pub const NODEPOOL: &str = "karpenter.sh/nodepool";
/// Capacity type of a node; OVH MKS only offers [`CAPACITY_TYPE_ON_DEMAND`].
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
/// The only capacity type OVH offers (no spot).
pub const CAPACITY_TYPE_ON_DEMAND: &str = "on-demand";
/// Set to `true` on a node once its NodeClaim is registered.
pub const REGISTERED: &str = "karpenter.sh/registered";
/// Set to `true` on a node once it is initialized (Ready, startup taints gone, resources reported).
pub const INITIALIZED: &str = "karpenter.sh/initialized";

// karpenter.sh annotations and taints.

/// On a pod or a node: never disrupt voluntarily (`"true"`).
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// Startup taint of a node until its NodeClaim is registered.
pub const UNREGISTERED_TAINT: &str = "karpenter.sh/unregistered";
/// Taint of a node being disrupted (no new pods), effect NoSchedule.
pub const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";

// karpenter.ovhcloud.sh labels.

/// Flavor family, e.g. `b3`.
pub const FLAVOR_FAMILY: &str = "karpenter.ovhcloud.sh/flavor-family";
/// Flavor generation, e.g. `3` for b3 (an integer: usable with `Gt`/`Lt`; gen2 allows
/// monthly billing).
pub const FLAVOR_GENERATION: &str = "karpenter.ovhcloud.sh/flavor-generation";
/// Flavor category, e.g. `general-purpose` (values in [`category`]).
pub const FLAVOR_CATEGORY: &str = "karpenter.ovhcloud.sh/flavor-category";
/// Name of the OVH node pool a node belongs to, e.g. `karpenter-b3-8-eu-west-par-a`.
pub const OVH_POOL: &str = "karpenter.ovhcloud.sh/ovh-pool";
/// OVH node id of a node (the MKS node id, not the instance id).
pub const OVH_NODE_ID: &str = "karpenter.ovhcloud.sh/ovh-node-id";
/// OVHNodeClass a NodeClaim was launched with.
pub const OVH_NODECLASS: &str = "karpenter.ovhcloud.sh/ovhnodeclass";

/// Values of [`FLAVOR_CATEGORY`].
pub mod category {
    /// b2, b3.
    pub const GENERAL_PURPOSE: &str = "general-purpose";
    /// c2, c3.
    pub const COMPUTE_OPTIMIZED: &str = "compute-optimized";
    /// r2, r3.
    pub const MEMORY_OPTIMIZED: &str = "memory-optimized";
    /// d2.
    pub const DISCOVERY: &str = "discovery";
    /// i1.
    pub const IOPS_OPTIMIZED: &str = "iops-optimized";
    /// t1, t2, a10, a100, l4, l40s, h100, rtx5000.
    pub const GPU: &str = "gpu";
    /// Any family the tables do not know.
    pub const OTHER: &str = "other";
}

/// The `karpenter.ovhcloud.sh` labels NodePools may require and templates may set.
pub const OVH_WELL_KNOWN: &[&str] = &[FLAVOR_FAMILY, FLAVOR_GENERATION, FLAVOR_CATEGORY];

/// Well-known labels every node the controller launches carries (the scheduler may select on
/// them).
pub const WELL_KNOWN_NODE_LABELS: &[&str] = &[
    INSTANCE_TYPE,
    ZONE,
    REGION,
    NODEPOOL,
    CAPACITY_TYPE,
    FLAVOR_FAMILY,
    FLAVOR_GENERATION,
    FLAVOR_CATEGORY,
    ARCH,
    OS,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_qualified() {
        let keys = [
            INSTANCE_TYPE,
            ZONE,
            REGION,
            HOSTNAME,
            ARCH,
            OS,
            NODEPOOL,
            CAPACITY_TYPE,
            REGISTERED,
            INITIALIZED,
            DO_NOT_DISRUPT,
            UNREGISTERED_TAINT,
            DISRUPTED_TAINT,
            FLAVOR_FAMILY,
            FLAVOR_GENERATION,
            FLAVOR_CATEGORY,
            OVH_POOL,
            OVH_NODE_ID,
            OVH_NODECLASS,
        ];
        let mut sorted = keys.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), keys.len());
        for key in keys {
            let (prefix, name) = key.split_once('/').expect("a prefixed key");
            assert!(prefix.contains('.') && !name.is_empty(), "{key}");
            assert!(key.len() <= 316, "{key}");
        }
        for key in WELL_KNOWN_NODE_LABELS.iter().chain(OVH_WELL_KNOWN) {
            assert!(keys.contains(key), "{key}");
        }
    }
}
