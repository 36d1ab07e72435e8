//! The pure rules of disruption (Karpenter's order: empty nodes, drift and expiry, then multi-
//! and single-node consolidation), used by the controller's loop
//! ([`crate::controller::disruption`]) and by `policy evaluate` alike.
//!
//! - [`decide`]: the consolidation request from a snapshot, and the policy's commands validated
//!   by simulating them with the scheduling core.
//! - [`drift`]: the drift request.
//! - [`budget`]: NodePool disruption budgets.
//! - [`pass`]: the rules of one pass (consolidateAfter bookkeeping, nominated nodes, order, one
//!   command per NodePool, budgets, validation delay).

pub mod budget;
pub mod decide;
pub mod drift;
pub mod pass;

pub use decide::{Candidate, Command, PoolSettings, Reason};
