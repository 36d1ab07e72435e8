//! The provisioning plan: pending pods placed on existing nodes, in-flight NodeClaims and new
//! nodes, the flavor-selection request and the validation of its answer, NodeClaim specs.
//!
//! [`simulate::plan`] is the pure pass over a [`crate::state::Snapshot`]; the policy is reached
//! through the [`FlavorPolicy`] trait (the host implements it with the Wasm runtime).

pub mod claims;
pub mod contract;
pub mod pods;
pub mod request;
pub mod simulate;
pub mod static_pool;
pub mod validate;

pub use claims::{NodeClaimSpec, ANTI_AFFINITY_POOL_MAX};
pub use pods::PendingPods;
pub use request::{Decision, FlavorPolicy, Group, Launch, Pool, Request, Unplaced};
pub use simulate::{plan, Input, Outcome, Plan, Refusal};
pub use validate::{validate, Context, NewNode};
