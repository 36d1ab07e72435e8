//! Test component: a working default-like policy that carries a 1.2 MiB blob, so the component
//! is over the 1 MiB a ConfigMap can hold and the host must refuse it.

use karpenter_ovhcloud_policy_sdk::packing::{self, CheapestPerPod, Options};
use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, FlavorSelection};

/// The component's export.
pub struct Policy;

/// Non-zero, so it is a data segment rather than zeroed memory.
static BLOB: [u8; 1_200_000] = [0xa5; 1_200_000];

impl FlavorSelection for Policy {
    fn metadata() -> PolicyMetadata {
        let blob = std::hint::black_box(&BLOB);
        let sum = blob
            .iter()
            .fold(0u32, |acc, b| acc.wrapping_add(u32::from(*b)));
        PolicyMetadata {
            name: "testdata-oversize".into(),
            version: "0.1.0".into(),
            description: format!("carries a {} byte blob (checksum {sum})", blob.len()),
        }
    }

    fn select(request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        Ok(packing::select(
            &request,
            &CheapestPerPod,
            &Options::default(),
        ))
    }
}

export_flavor_selection!(Policy);
