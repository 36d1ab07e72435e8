//! Well-known label keys and values the scheduler reads and sets on new nodes: the
//! contract's ([`karpenter_ovhcloud_contract::labels`]), under the names the scheduler uses.

pub use karpenter_ovhcloud_contract::labels::{
    ARCH, CAPACITY_TYPE, FLAVOR_CATEGORY, FLAVOR_FAMILY, FLAVOR_GENERATION, HOSTNAME,
    INSTANCE_TYPE, NODEPOOL, OS, REGION, ZONE,
};

/// The only capacity type OVHcloud offers.
pub use karpenter_ovhcloud_contract::labels::CAPACITY_TYPE_ON_DEMAND as ON_DEMAND;
