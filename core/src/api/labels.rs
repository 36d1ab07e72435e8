//! Every label, annotation, taint and finalizer key the controller reads or writes, in one
//! place. Keys of the `karpenter.sh` domain are upstream Karpenter's; keys of
//! `karpenter.ovhcloud.sh` are ours. The keys and values the policies also see (node labels,
//! the karpenter taints, `do-not-disrupt`) are the contract's
//! ([`karpenter_ovhcloud_contract::labels`]), re-exported here; the ones only the controller
//! uses (API groups, hash annotations, finalizers) are defined here.

pub use karpenter_ovhcloud_contract::labels::{
    ARCH, ARCH_AMD64, CAPACITY_TYPE, CAPACITY_TYPE_ON_DEMAND, DISRUPTED_TAINT, DO_NOT_DISRUPT,
    FLAVOR_CATEGORY, FLAVOR_FAMILY, FLAVOR_GENERATION, HOSTNAME, INITIALIZED, INSTANCE_TYPE,
    NODEPOOL, OS, OS_LINUX, OVH_NODECLASS, OVH_NODE_ID, OVH_POOL, OVH_WELL_KNOWN, REGION,
    REGISTERED, UNREGISTERED_TAINT, WELL_KNOWN_NODE_LABELS, ZONE,
};

/// API group of NodePool and NodeClaim.
pub const KARPENTER_GROUP: &str = "karpenter.sh";
/// API group of OVHNodeClass.
pub const OVH_GROUP: &str = "karpenter.ovhcloud.sh";

/// Node label: with value `true`, registration leaves the node's taints as they are (only the
/// unregistered taint is lifted), as upstream's `NodeDoNotSyncTaintsLabelKey`.
pub const DO_NOT_SYNC_TAINTS: &str = "karpenter.sh/do-not-sync-taints";

// karpenter.sh annotations.

/// Hash of the NodePool template a NodeClaim was made from (drift detection).
pub const NODEPOOL_HASH: &str = "karpenter.sh/nodepool-hash";
/// Version of the hash algorithm of [`NODEPOOL_HASH`]; a different version means re-hash, not drift.
pub const NODEPOOL_HASH_VERSION: &str = "karpenter.sh/nodepool-hash-version";
/// Annotation of a NodeClaim launched with its NodePool's `minValues` relaxed
/// (`--min-values-policy BestEffort`), as upstream writes it.
pub const MIN_VALUES_RELAXED: &str = "karpenter.sh/nodeclaim-min-values-relaxed";
/// On a NodeClaim: its termination deadline (RFC 3339), from terminationGracePeriod.
pub const NODECLAIM_TERMINATION_TIMESTAMP: &str = "karpenter.sh/nodeclaim-termination-timestamp";

// karpenter.sh finalizers.

/// Finalizer on NodeClaims and nodes: removed once the OVH node is gone.
pub const TERMINATION_FINALIZER: &str = "karpenter.sh/termination";

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
