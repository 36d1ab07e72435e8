//! Test component: packs like the default policy, then silently drops one pod of every group
//! (fewer pods launched than asked, nothing reported unplaced).

use karpenter_ovhcloud_policy_sdk::packing::{self, CheapestPerPod, Options};
use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, FlavorSelection};

/// The component's export.
pub struct Policy;

impl FlavorSelection for Policy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "testdata-drops-pods".into(),
            version: "0.1.0".into(),
            description: "launches fewer pods than asked and hides it".into(),
        }
    }

    fn select(request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        let mut decision = packing::select(&request, &CheapestPerPod, &Options::default());
        for g in &request.pod_groups {
            let assignment = decision
                .launches
                .iter_mut()
                .flat_map(|l| l.pods.iter_mut())
                .find(|a| a.group == g.id && a.count > 0);
            if let Some(a) = assignment {
                a.count -= 1;
            }
        }
        decision.unplaced.clear();
        Ok(decision)
    }
}

export_flavor_selection!(Policy);
