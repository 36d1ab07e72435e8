//! Serving policies of the frozen contract 0.1.0: the down conversions that need a rule (the
//! rest is generated in `convert_v0_1.rs`) and the host imports of the 0.1.0 worlds.
//!
//! What a 0.1.0 policy is not told: `gte n` / `lte n` reach it as the equivalent `gt n-1` /
//! `lt n+1`; a `balanced` NodePool as `when-empty-or-underutilized` (the host still holds every
//! move on it to Balanced's score, see `core::disruption::decide`); an `unhealthy` node as
//! `deleting` (no new pods, its own stay); `pod-group.eviction-cost` and
//! `consolidation-request.nodepool-totals` are left out.

use karpenter_ovhcloud_contract::Operator as Contract;
use karpenter_ovhcloud_core::policy::types as core;

use super::bindings::v0_1::flavor_selection::karpenter_ovhcloud::policy::{host, types};
use super::limits::CallState;

impl From<core::Requirement> for types::Requirement {
    fn from(r: core::Requirement) -> Self {
        let lower = |op: Contract| op.lowered(&r.values);
        let (operator, values) = match r.operator {
            core::Operator::In => (types::Operator::In, r.values),
            core::Operator::NotIn => (types::Operator::NotIn, r.values),
            core::Operator::Exists => (types::Operator::Exists, r.values),
            core::Operator::DoesNotExist => (types::Operator::DoesNotExist, r.values),
            core::Operator::Gt => (types::Operator::Gt, r.values),
            core::Operator::Lt => (types::Operator::Lt, r.values),
            core::Operator::Gte => (types::Operator::Gt, lower(Contract::Gte).1),
            core::Operator::Lte => (types::Operator::Lt, lower(Contract::Lte).1),
        };
        types::Requirement {
            key: r.key,
            operator,
            values,
            min_values: r.min_values,
        }
    }
}

impl From<core::ConsolidationPolicy> for types::ConsolidationPolicy {
    fn from(p: core::ConsolidationPolicy) -> Self {
        match p {
            core::ConsolidationPolicy::WhenEmpty => Self::WhenEmpty,
            core::ConsolidationPolicy::WhenEmptyOrUnderutilized
            | core::ConsolidationPolicy::Balanced => Self::WhenEmptyOrUnderutilized,
        }
    }
}

impl From<core::NodeState> for types::NodeState {
    fn from(s: core::NodeState) -> Self {
        match s {
            core::NodeState::Launching => Self::Launching,
            core::NodeState::Ready => Self::Ready,
            // What 0.1.0 knows of a node that takes no new pod but holds its own.
            core::NodeState::Deleting | core::NodeState::Unhealthy => Self::Deleting,
        }
    }
}

impl host::Host for CallState {
    fn log(&mut self, level: host::Level, message: String) {
        use super::bindings::host::{Host, Level};
        let level = match level {
            host::Level::Debug => Level::Debug,
            host::Level::Info => Level::Info,
            host::Level::Warn => Level::Warn,
            host::Level::Error => Level::Error,
        };
        Host::log(self, level, message);
    }
}

// The types-only interfaces have no functions; their host traits are empty.
impl types::Host for CallState {}
impl super::bindings::v0_1::flavor_selection::karpenter_ovhcloud::policy::provisioning_types::Host
    for CallState
{
}
impl super::bindings::v0_1::consolidation::karpenter_ovhcloud::policy::consolidation_types::Host
    for CallState
{
}
impl super::bindings::v0_1::drift::karpenter_ovhcloud::policy::drift_types::Host for CallState {}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(operator: core::Operator, value: &str) -> core::Requirement {
        core::Requirement {
            key: "karpenter.ovhcloud.sh/cpu".into(),
            operator,
            values: vec![value.into()],
            min_values: Some(2),
        }
    }

    /// A minor version is a contract: 0.1.0 may never change once released.
    #[test]
    fn the_0_1_0_contract_is_frozen() {
        use sha2::{Digest as _, Sha256};
        let wit = include_bytes!("../../../wit/v0.1/policy.wit");
        assert_eq!(
            hex::encode(Sha256::digest(wit)),
            "9f66e3d50c0865ac17d2246f411b9ed1bfdd7a8a886090e126a7e161c946c16a",
            "wit/v0.1/policy.wit changed: additions go into the current version, wit/policy.wit"
        );
    }

    #[test]
    fn gte_and_lte_reach_a_0_1_policy_as_gt_and_lt() {
        let down = types::Requirement::from(req(core::Operator::Gte, "4"));
        assert_eq!(down.operator, types::Operator::Gt);
        assert_eq!(down.values, ["3"]);
        assert_eq!(down.min_values, Some(2));
        let down = types::Requirement::from(req(core::Operator::Lte, "16"));
        assert_eq!(down.operator, types::Operator::Lt);
        assert_eq!(down.values, ["17"]);
        let down = types::Requirement::from(req(core::Operator::In, "b3-8"));
        assert_eq!(
            (down.operator, down.values),
            (types::Operator::In, vec!["b3-8".to_owned()])
        );
        assert_eq!(
            types::ConsolidationPolicy::from(core::ConsolidationPolicy::Balanced),
            types::ConsolidationPolicy::WhenEmptyOrUnderutilized
        );
    }
}
