//! Karpenter's `minValues`: the flavors a NodeClaim allows span at least that many values of
//! the key, enforced (`Strict`) or relaxed with an annotation (`BestEffort`).

use crate::scheduling_common::k8s::{deployment, run_with};
use crate::scheduling_common::*;
use karpenter_ovhcloud::provisioning::simulate::{Options, PreferencePolicy};
use karpenter_ovhcloud::provisioning::validate::MinValuesPolicy;
use karpenter_ovhcloud::provisioning::{NodeClaimSpec, Outcome, Plan};
use karpenter_ovhcloud::scheduling::{wellknown, Operator, PoolSpec};
use karpenter_ovhcloud::state::ClusterState;
use serde_json::json;

fn flexible(min: u32) -> PoolSpec {
    let mut p = pool(
        "flexible",
        vec![instance_types(&["b3-8", "b3-16", "b3-32", "b3-64"])],
    );
    p.min_values = vec![(wellknown::INSTANCE_TYPE.into(), min)];
    p
}

fn provision(cpu: &str, pools: &[PoolSpec], min_values: MinValuesPolicy) -> Plan {
    let mut s = ClusterState::new();
    deployment(
        &mut s,
        "app",
        2,
        cpu,
        "1Gi",
        json!({"app": "app"}),
        json!({}),
    );
    run_with(
        &s,
        pools,
        ovh_catalog(),
        default_policy(),
        default_policy(),
        Options {
            preferences: PreferencePolicy::Respect,
            min_values,
        },
    )
}

fn instance_types_of(claim: &NodeClaimSpec) -> Vec<String> {
    claim
        .requirements
        .iter()
        .find(|r| r.key == wellknown::INSTANCE_TYPE)
        .filter(|r| r.operator == Operator::In)
        .map(|r| r.values.clone())
        .unwrap_or_default()
}

#[test]
fn nodeclaims_allow_as_many_flavors_as_min_values_asks() {
    let plan = provision("500m", &[flexible(3)], MinValuesPolicy::Strict);
    assert_eq!(plan.outcome, Outcome::Primary, "{:?}", plan.outcome);
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    for claim in &plan.claims {
        let types = instance_types_of(claim);
        // The flavor launched first, then the cheapest alternatives that hold its pods.
        assert_eq!(types[0], claim.flavor);
        assert_eq!(types.len(), 3, "{types:?}");
        assert_eq!(
            claim.min_values,
            [(wellknown::INSTANCE_TYPE.to_string(), 3)]
        );
        assert!(!claim.min_values_relaxed);
    }
    // Without minValues a NodeClaim names its one flavor.
    let plain = provision("500m", &[flexible(1)], MinValuesPolicy::Strict);
    assert!(plain
        .claims
        .iter()
        .all(|c| instance_types_of(c) == [c.flavor.clone()]));
}

#[test]
fn strict_min_values_leaves_pods_no_flavor_set_can_serve_pending_with_the_reason() {
    // Six vCPUs: only b3-32 and b3-64 of the four hold a pod, two values of the three asked.
    let plan = provision("6", &[flexible(3)], MinValuesPolicy::Strict);
    // The policy sees minValues in the NodePool's requirements and leaves them unplaced.
    assert_eq!(plan.outcome, Outcome::Primary, "{:?}", plan.outcome);
    assert!(plan.claims.is_empty(), "{:?}", plan.claims);
    assert_eq!(plan.unplaced.len(), 2);
    assert!(
        plan.unplaced[0].1.contains("minValues 3"),
        "{}",
        plan.unplaced[0].1
    );
}

#[test]
fn best_effort_min_values_launches_with_what_there_is_and_says_so() {
    let plan = provision("6", &[flexible(3)], MinValuesPolicy::BestEffort);
    assert_eq!(plan.outcome, Outcome::Primary, "{:?}", plan.outcome);
    assert!(plan.unplaced.is_empty(), "{:?}", plan.unplaced);
    assert!(!plan.claims.is_empty());
    for claim in &plan.claims {
        let types = instance_types_of(claim);
        assert_eq!(types.len(), 2, "b3-32 and b3-64: {types:?}");
        assert!(claim.min_values_relaxed);
    }
}
