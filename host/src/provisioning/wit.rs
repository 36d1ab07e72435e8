//! The flavor-selection call through a Wasm policy: a [`Request`] becomes the WIT
//! `provisioning-request`, a component of a [`PolicySet`] answers, its
//! `provisioning-decision` becomes a [`Decision`]. [`plan_with`] is the provisioning pass the
//! controller runs: the chosen policy first, the embedded default when its answer fails or
//! breaks a rule, the outcome counted in the policy metrics.

use std::sync::Arc;
use std::time::Instant;

use super::request::{Decision, FlavorPolicy, Request};
use super::simulate::{plan, Input, Outcome, Plan, Refusal};
use crate::policy::{ActivePolicy, PolicySet, World};

// The request/decision conversions are pure: the core's. Re-exported under this module's
// path, where the disruption requests have always found them.
pub use karpenter_ovhcloud_core::provisioning::contract::*;

/// One flavor-selection component of a [`PolicySet`], called as a [`FlavorPolicy`].
pub struct WasmFlavorPolicy<'a> {
    set: &'a PolicySet,
    policy: Arc<ActivePolicy>,
}

impl<'a> WasmFlavorPolicy<'a> {
    /// Calls `policy` (with its own configuration) through `set`'s runtime.
    pub fn new(set: &'a PolicySet, policy: Arc<ActivePolicy>) -> Self {
        Self { set, policy }
    }

    /// The set's active flavor-selection policy.
    pub fn active(set: &'a PolicySet) -> Self {
        Self::new(set, set.active(World::FlavorSelection))
    }

    /// The set's embedded default flavor-selection policy.
    pub fn default_policy(set: &'a PolicySet) -> Self {
        Self::new(set, set.default_policy(World::FlavorSelection))
    }
}

impl FlavorPolicy for WasmFlavorPolicy<'_> {
    fn select(&self, request: &Request) -> Result<Decision, String> {
        let request = to_wit(request);
        self.set
            .call_policy(&self.policy, request)
            .map(|d| from_wit(&d))
            .map_err(|e| e.to_string())
    }
}

/// Runs one provisioning pass with `policy` (the active flavor-selection policy, or the one a
/// NodePool names), falling back to `set`'s embedded default when its answer fails or breaks a
/// hard rule. The call, its wall time and any fallback are counted in `set`'s metrics and a
/// fallback is logged with its reason.
pub fn plan_with(input: &Input<'_>, set: &PolicySet, policy: Arc<ActivePolicy>) -> Plan {
    let started = Instant::now();
    let name = policy.policy.metadata.name.clone();
    let primary = WasmFlavorPolicy::new(set, policy);
    let fallback = WasmFlavorPolicy::default_policy(set);
    let plan = plan(input, &primary, &fallback);
    let world = World::FlavorSelection;
    let outcome = match &plan.outcome {
        Outcome::NoPolicyCall => return plan,
        Outcome::Primary => "ok",
        Outcome::Fallback { reason } => {
            tracing::warn!(policy = %name, %reason, "flavor-selection answer refused; the embedded default decided this batch");
            set.record_fallback(world, refusal_label(reason));
            "fallback"
        }
        Outcome::Failed { primary, fallback } => {
            tracing::error!(policy = %name, %primary, %fallback, "no usable flavor-selection answer; the batch stays pending");
            set.record_fallback(world, refusal_label(primary));
            "failed"
        }
    };
    set.record_call(world, outcome, started.elapsed());
    plan
}

/// Short metric label of a refusal: `error` for a failed call, else the broken rule.
fn refusal_label(refusal: &Refusal) -> &'static str {
    match refusal {
        Refusal::PolicyError(_) => "error",
        Refusal::Invalid(v) => v.rule(),
    }
}
