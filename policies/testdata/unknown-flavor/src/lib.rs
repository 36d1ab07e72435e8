//! Test component: launches one node of flavor `x9-imaginary`, which no catalog has, for
//! every pod group.

use karpenter_ovhcloud_policy_sdk::types::{Assignment, Launch};
use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, FlavorSelection};

/// The component's export.
pub struct Policy;

/// The flavor no catalog has.
pub const UNKNOWN_FLAVOR: &str = "x9-imaginary";

impl FlavorSelection for Policy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "testdata-unknown-flavor".into(),
            version: "0.1.0".into(),
            description: "answers a flavor that is not in the catalog".into(),
        }
    }

    fn select(request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        let nodepool = request
            .nodepools
            .first()
            .map(|p| p.name.clone())
            .unwrap_or_default();
        let zone = request
            .flavors
            .iter()
            .flat_map(|f| &f.zones)
            .map(|z| z.zone.clone())
            .next()
            .unwrap_or_else(|| "eu-west-par-a".into());
        let launches = request
            .pod_groups
            .iter()
            .map(|g| Launch {
                nodepool: nodepool.clone(),
                flavor: UNKNOWN_FLAVOR.into(),
                zone: zone.clone(),
                pods: vec![Assignment {
                    group: g.id,
                    count: g.count,
                }],
            })
            .collect();
        Ok(ProvisioningDecision {
            launches,
            unplaced: vec![],
        })
    }
}

export_flavor_selection!(Policy);
