//! Test component: `select` panics, which traps (`unreachable`) in the component.

use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, FlavorSelection};

/// The component's export.
pub struct Policy;

impl FlavorSelection for Policy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "testdata-panic".into(),
            version: "0.1.0".into(),
            description: "select panics".into(),
        }
    }

    fn select(_request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        panic!("testdata: deliberate panic in select")
    }
}

export_flavor_selection!(Policy);
