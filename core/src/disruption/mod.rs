//! The pure rules of disruption (Karpenter's order: empty nodes, drift and expiry, then multi-
//! and single-node consolidation), used by the controller's loop
//! (`karpenter_ovhcloud::controller::disruption`) and by `policy evaluate` alike.
//!
//! - [`plan`]: the whole decision of one pass, from plain inputs both callers fill, to the
//!   commands with their verdicts (it runs the rules below).
//! - [`cluster`]: the plan's inputs from the Kubernetes objects, as the controller reads them.
//! - [`decide`]: the consolidation request from a snapshot, and the policy's commands validated
//!   by simulating them with the scheduling core.
//! - [`drift`]: the drift request.
//! - [`budget`]: NodePool disruption budgets.
//! - [`pass`]: the rules of one pass (consolidateAfter bookkeeping, nominated nodes, order, one
//!   command per NodePool, budgets, validation delay).

pub mod budget;
pub mod cluster;
pub mod decide;
pub mod drift;
pub mod pass;
pub mod plan;

pub use decide::{Candidate, Command, PoolSettings, Reason};
