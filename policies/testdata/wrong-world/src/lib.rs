//! Test component: a valid `drift` policy (it reports nothing), to be loaded where a
//! flavor-selection policy is expected.

use karpenter_ovhcloud_policy_sdk::types::{DriftDecision, DriftRequest, PolicyMetadata};
use karpenter_ovhcloud_policy_sdk::{export_drift, Drift};

/// The component's export.
pub struct Policy;

impl Drift for Policy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "testdata-wrong-world".into(),
            version: "0.1.0".into(),
            description: "a drift policy".into(),
        }
    }

    fn detect(_request: DriftRequest) -> Result<DriftDecision, String> {
        Ok(DriftDecision { drifted: vec![] })
    }
}

export_drift!(Policy);
