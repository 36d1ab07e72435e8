//! Test component: answers a huge decision, 1,000,000 `unplaced` entries by default, so the
//! host's output-size cap must refuse it. Config: `{"entries": N, "reasonBytes": M}` (each
//! reason M bytes long; default 0, which allocates nothing per entry).

use karpenter_ovhcloud_policy_sdk::types::Unplaced;
use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, FlavorSelection};

/// The component's export.
pub struct Policy;

impl FlavorSelection for Policy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "testdata-huge-output".into(),
            version: "0.1.0".into(),
            description: "answers millions of entries".into(),
        }
    }

    fn select(request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        let (entries, reason_bytes) = parse_config(&request.config)?;
        let mut unplaced = Vec::with_capacity(entries as usize);
        for i in 0..entries {
            unplaced.push(Unplaced {
                group: i,
                count: 1,
                reason: "x".repeat(reason_bytes as usize),
            });
        }
        Ok(ProvisioningDecision {
            launches: vec![],
            unplaced,
        })
    }
}

/// `(entries, reasonBytes)` from `{"entries": N, "reasonBytes": M}`, defaults (1,000,000, 0).
fn parse_config(text: &str) -> Result<(u32, u32), String> {
    let mut c = karpenter_ovhcloud_policy_sdk::config::Config::parse(text)?;
    let entries = c.u32("entries")?.unwrap_or(1_000_000);
    let reason_bytes = c.u32("reasonBytes")?.unwrap_or(0);
    c.finish()?;
    Ok((entries, reason_bytes))
}

export_flavor_selection!(Policy);
