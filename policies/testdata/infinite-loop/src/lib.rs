//! Test component: `select` never returns, so the host must stop it (fuel or epoch deadline).

use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, FlavorSelection};

/// The component's export.
pub struct Policy;

impl FlavorSelection for Policy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "testdata-infinite-loop".into(),
            version: "0.1.0".into(),
            description: "select never returns".into(),
        }
    }

    fn select(_request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        let mut i: u64 = 0;
        loop {
            i = std::hint::black_box(i.wrapping_add(1));
        }
    }
}

export_flavor_selection!(Policy);
