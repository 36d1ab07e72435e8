//! Every label, annotation, taint and finalizer key the controller reads or writes, in one
//! place. Keys of the `karpenter.sh` domain are upstream Karpenter's; keys of
//! `karpenter.ovhcloud.sh` are ours.

/// API group of NodePool and NodeClaim.
pub const KARPENTER_GROUP: &str = "karpenter.sh";
/// API group of OVHNodeClass.
pub const OVH_GROUP: &str = "karpenter.ovhcloud.sh";

// Well-known Kubernetes node labels.

/// Flavor name of a node, e.g. `b3-8`.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// Zone of a node, e.g. `eu-west-par-a`.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Region of a node, e.g. `eu-west-par`.
pub const REGION: &str = "topology.kubernetes.io/region";
/// Host name of a node: the domain of hostname topology spread and anti-affinity.
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// CPU architecture of a node (always `amd64` on OVH MKS).
pub const ARCH: &str = "kubernetes.io/arch";
/// Operating system of a node (always `linux` on OVH MKS).
pub const OS: &str = "kubernetes.io/os";

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
/// Value of [`ARCH`] on OVH nodes.
pub const ARCH_AMD64: &str = "amd64";
/// Value of [`OS`] on OVH nodes.
pub const OS_LINUX: &str = "linux";

// karpenter.sh annotations.

/// On a pod or a node: never disrupt voluntarily (`"true"`).
pub const DO_NOT_DISRUPT: &str = "karpenter.sh/do-not-disrupt";
/// Hash of the NodePool template a NodeClaim was made from (drift detection).
pub const NODEPOOL_HASH: &str = "karpenter.sh/nodepool-hash";
/// Version of the hash algorithm of [`NODEPOOL_HASH`]; a different version means re-hash, not drift.
pub const NODEPOOL_HASH_VERSION: &str = "karpenter.sh/nodepool-hash-version";
/// On a NodeClaim: its termination deadline (RFC 3339), from terminationGracePeriod.
pub const NODECLAIM_TERMINATION_TIMESTAMP: &str = "karpenter.sh/nodeclaim-termination-timestamp";

// karpenter.sh taints.

/// Startup taint of a node until its NodeClaim is registered.
pub const UNREGISTERED_TAINT: &str = "karpenter.sh/unregistered";
/// Taint of a node being disrupted (no new pods), effect NoSchedule.
pub const DISRUPTED_TAINT: &str = "karpenter.sh/disrupted";

// karpenter.sh finalizers.

/// Finalizer on NodeClaims and nodes: removed once the OVH node is gone.
pub const TERMINATION_FINALIZER: &str = "karpenter.sh/termination";

// karpenter.ovhcloud.sh labels.

/// Flavor family, e.g. `b3`.
pub const FLAVOR_FAMILY: &str = "karpenter.ovhcloud.sh/flavor-family";
/// Flavor generation, e.g. `3` for b3 (gen2 allows monthly billing).
pub const FLAVOR_GENERATION: &str = "karpenter.ovhcloud.sh/flavor-generation";
/// Flavor category, e.g. `general-purpose`.
pub const FLAVOR_CATEGORY: &str = "karpenter.ovhcloud.sh/flavor-category";
/// Name of the OVH node pool a node belongs to, e.g. `karpenter-b3-8-eu-west-par-a`.
pub const OVH_POOL: &str = "karpenter.ovhcloud.sh/ovh-pool";
/// OVH node id of a node (the MKS node id, not the instance id).
pub const OVH_NODE_ID: &str = "karpenter.ovhcloud.sh/ovh-node-id";
/// OVHNodeClass a NodeClaim was launched with.
pub const OVH_NODECLASS: &str = "karpenter.ovhcloud.sh/ovhnodeclass";

/// The `karpenter.ovhcloud.sh` labels NodePools may require and templates may set.
pub const OVH_WELL_KNOWN: &[&str] = &[FLAVOR_FAMILY, FLAVOR_GENERATION, FLAVOR_CATEGORY];

// karpenter.ovhcloud.sh annotations.

/// Hash of the OVHNodeClass spec a NodeClaim was launched with (drift detection).
pub const NODECLASS_HASH: &str = "karpenter.ovhcloud.sh/nodeclass-hash";
/// Version of the hash algorithm of [`NODECLASS_HASH`].
pub const NODECLASS_HASH_VERSION: &str = "karpenter.ovhcloud.sh/nodeclass-hash-version";
/// On a NodePool: name of the policy ConfigMap it uses instead of the cluster default.
pub const POLICY_ANNOTATION: &str = "karpenter.ovhcloud.sh/policy";

// karpenter.ovhcloud.sh finalizers.

/// Finalizer on OVHNodeClasses: kept while NodeClaims still use the class.
pub const NODECLASS_FINALIZER: &str = "karpenter.ovhcloud.sh/termination";

/// Well-known labels every node the controller launches carries (the scheduler may select on them).
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

/// Provider ID of an OVH node: `openstack:///{instanceId}`.
pub fn provider_id(instance_id: &str) -> String {
    format!("{PROVIDER_ID_PREFIX}{instance_id}")
}

/// Prefix of OVH provider IDs.
pub const PROVIDER_ID_PREFIX: &str = "openstack:///";

/// The instance id in a provider ID, if it is an OVH (OpenStack) one.
pub fn instance_id(provider_id: &str) -> Option<&str> {
    provider_id
        .strip_prefix(PROVIDER_ID_PREFIX)
        .filter(|id| !id.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_id_round_trips() {
        let id = provider_id("0b5c3b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(id, "openstack:///0b5c3b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b");
        assert_eq!(
            instance_id(&id),
            Some("0b5c3b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
        );
        assert_eq!(instance_id("aws:///us-east-1a/i-123"), None);
        assert_eq!(instance_id("openstack:///"), None);
    }
}
