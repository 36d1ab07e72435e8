//! Test component: `select` allocates 1 MiB blocks without bound, so the host's memory cap
//! must stop it.

use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, FlavorSelection};

/// The component's export.
pub struct Policy;

impl FlavorSelection for Policy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "testdata-memory-bomb".into(),
            version: "0.1.0".into(),
            description: "select allocates memory without bound".into(),
        }
    }

    fn select(_request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        let mut blocks: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; 1 << 20];
            block[0] = 1;
            blocks.push(std::hint::black_box(block));
        }
    }
}

export_flavor_selection!(Policy);
