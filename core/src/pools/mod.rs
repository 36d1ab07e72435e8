//! OVH pool bookkeeping, the pure part: from the NodeClaims and what OVH reports, the writes
//! that bring OVH in line and the bindings of new OVH nodes to NodeClaims ([`plan`]). The pass
//! that reads OVH and carries the plan out is the host's (`karpenter_ovhcloud::pools`).

pub mod plan;

use crate::api::labels;
use crate::ovh::{NodePoolTemplate, Taint, TaintEffect, TemplateMetadata, TemplateSpec};

/// The template every pool the controller creates carries: every field present (OVH rejects a
/// body without them), and the unregistered taint so nothing schedules before the controller
/// labelled the node.
pub fn pool_template(name: &str) -> NodePoolTemplate {
    NodePoolTemplate {
        metadata: TemplateMetadata {
            labels: [(labels::OVH_POOL.to_string(), name.to_string())].into(),
            annotations: Default::default(),
            finalizers: Vec::new(),
        },
        spec: TemplateSpec {
            unschedulable: false,
            taints: vec![Taint {
                key: labels::UNREGISTERED_TAINT.to_string(),
                value: None,
                effect: TaintEffect::NoExecute,
            }],
        },
    }
}

/// Whether a NodeClaim's OVH pool name says monthly billing / anti-affinity (immutable pool
/// settings are encoded in the name, see `provisioning::claims::ovh_pool_name`).
pub fn pool_settings(name: &str) -> (bool, bool) {
    (name.contains("-monthly"), name.contains("-aa-"))
}
