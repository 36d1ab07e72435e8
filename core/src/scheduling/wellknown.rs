//! Well-known label keys and values the scheduler reads and sets on new nodes.

/// Zone of a node.
pub const ZONE: &str = "topology.kubernetes.io/zone";
/// Region of a node.
pub const REGION: &str = "topology.kubernetes.io/region";
/// Host name of a node.
pub const HOSTNAME: &str = "kubernetes.io/hostname";
/// Flavor of a node.
pub const INSTANCE_TYPE: &str = "node.kubernetes.io/instance-type";
/// NodePool of a managed node.
pub const NODEPOOL: &str = "karpenter.sh/nodepool";
/// Capacity type (on-demand only on OVHcloud).
pub const CAPACITY_TYPE: &str = "karpenter.sh/capacity-type";
/// Flavor family, e.g. `b3`.
pub const FLAVOR_FAMILY: &str = "karpenter.ovhcloud.sh/flavor-family";
/// Flavor generation, e.g. `3`.
pub const FLAVOR_GENERATION: &str = "karpenter.ovhcloud.sh/flavor-generation";
/// Flavor category, e.g. `general-purpose`.
pub const FLAVOR_CATEGORY: &str = "karpenter.ovhcloud.sh/flavor-category";
/// CPU architecture.
pub const ARCH: &str = "kubernetes.io/arch";
/// Operating system.
pub const OS: &str = "kubernetes.io/os";
/// The only capacity type OVHcloud offers.
pub const ON_DEMAND: &str = "on-demand";
