//! Provisioning: the batcher, the scheduling simulation, the flavor-selection call and its
//! validation, NodeClaim specs.
//!
//! [`simulate::plan`] is the pure pass over a [`crate::state::Snapshot`]; the controller loop
//! around it (watch, batch, create NodeClaims, Events) is glue.

pub mod batcher;
pub mod claims;
pub mod launch;
pub mod pods;
pub mod request;
pub mod simulate;
pub mod validate;
pub mod wit;

pub use batcher::{BatchWindow, Batcher};
pub use claims::{NodeClaimSpec, ANTI_AFFINITY_POOL_MAX};
pub use pods::PendingPods;
pub use request::{Decision, FlavorPolicy, Group, Launch, Pool, Request, Unplaced};
pub use simulate::{plan, Input, Outcome, Plan, Refusal};
pub use validate::{validate, Context, NewNode};
pub use wit::{plan_with, WasmFlavorPolicy};
