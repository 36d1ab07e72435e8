//! The drift request (pure): NodeClaims with what they were launched with, NodePools with
//! their current template and OVHNodeClass hashes, the catalog.

use std::sync::Arc;

use kube_core::ResourceExt;

use crate::api::{hash, labels, NodeClaim, NodePool, OVHNodeClass};
use crate::policy::types::drift::{DriftRequest, Nodeclaim};
use crate::policy::types::{self as wit};
use crate::pools::pool_settings;
use crate::provisioning::contract as conv;
use crate::provisioning::request::Pool;
use crate::scheduling::{FlavorSpec, PoolSpec, Resources};

/// The drift request for the live NodeClaims of the NodePools in `pools` (NodePool object,
/// its scheduling view, its OVHNodeClass).
pub fn drift_request(
    claims: &[NodeClaim],
    pools: &[(NodePool, PoolSpec, Option<OVHNodeClass>)],
    flavors: &Arc<Vec<FlavorSpec>>,
) -> DriftRequest {
    let nodeclaims = claims
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .filter(|c| {
            c.nodepool_name()
                .is_some_and(|p| pools.iter().any(|(np, _, _)| np.name_any() == p))
        })
        .map(|c| {
            let l = c.labels();
            let a = c.annotations();
            let get = |m: &std::collections::BTreeMap<String, String>, k: &str| {
                m.get(k).cloned().unwrap_or_default()
            };
            let (monthly_billed, anti_affinity) =
                pool_settings(l.get(labels::OVH_POOL).map_or("", String::as_str));
            Nodeclaim {
                name: c.name_any(),
                nodepool: get(l, labels::NODEPOOL),
                flavor: get(l, labels::INSTANCE_TYPE),
                zone: get(l, labels::ZONE),
                labels: l
                    .iter()
                    .map(|(key, value)| wit::Label {
                        key: key.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                nodepool_hash: get(a, labels::NODEPOOL_HASH),
                nodeclass_hash: get(a, labels::NODECLASS_HASH),
                region: get(l, labels::REGION),
                monthly_billed,
                anti_affinity,
            }
        })
        .collect();
    let nodepools = pools
        .iter()
        .map(|(np, spec, class)| {
            let mut p = conv::pool(&Pool {
                spec: spec.clone(),
                daemonset_overhead: Resources::default(),
            });
            p.template_hash = hash::nodepool_hash(np);
            if let Some(c) = class {
                p.nodeclass.hash = hash::nodeclass_hash(&c.spec);
            }
            p
        })
        .collect();
    DriftRequest {
        nodeclaims,
        nodepools,
        flavors: flavors.iter().map(conv::flavor).collect(),
        config: String::new(),
    }
}
