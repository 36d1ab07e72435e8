//! The pure rules of a NodeClaim's life: launch and registration timeouts, liveness, the
//! labels and taints a registered Node gets. The controller's loop that applies them is
//! `karpenter_ovhcloud::controller::lifecycle`.

pub mod rules;
