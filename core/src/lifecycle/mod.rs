//! The pure rules of a NodeClaim's life: launch and registration timeouts, liveness, the
//! labels and taints a registered Node gets, and NodePool registration health. The controller's loop that applies them is
//! `karpenter_ovhcloud::controller::lifecycle`.

pub mod registration_health;
pub mod rules;
