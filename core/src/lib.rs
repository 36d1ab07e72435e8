//! The pure decision core of karpenter-ovhcloud: what the controller decides, with no I/O.
//!
//! Everything here is plain data and functions over it, so it can be unit-tested, benchmarked
//! and fuzzed without a cluster, an OVH account or a Wasm engine. The host crate
//! (`karpenter-ovhcloud`) watches the cluster, calls the policies and carries out the
//! decisions; see `docs/ARCHITECTURE.md` for the layers.
//!
//! - [`api`]: the Kubernetes API types (NodePool, NodeClaim, OVHNodeClass), labels, hashes.
//! - [`clock`]: the one scaled clock every duration goes through.
//! - [`scheduling`]: the scheduling model (pods, nodes, offers, requirements, taints, fit).
//! - [`catalog`]: flavors, prices, allocatable and unavailable offerings.
//! - [`state`]: the cluster model and its consistent snapshots.
//! - [`provisioning`]: the provisioning plan and the validation of policy answers.
//! - [`disruption`]: the disruption plan (candidates, consolidation and drift requests,
//!   validation by simulation, budgets, the order of a pass), shared by the controller and
//!   `policy evaluate`.
//! - [`lifecycle`]: the NodeClaim lifecycle rules (timeouts, liveness, the Node's metadata).
//! - [`ovh`]: the OVH API's data model and access-rule matching.
//! - [`pools`]: the plan of OVH pool writes and node bindings.
//! - [`policy`]: the policy contract's request and decision types.

pub mod api;
pub mod catalog;
pub mod clock;
pub mod disruption;
pub mod lifecycle;
pub mod ovh;
pub mod policy;
pub mod pools;
pub mod provisioning;
pub mod scheduling;
pub mod state;

/// What the crate's exported macros name, so that their users need not depend on it.
#[doc(hidden)]
pub mod __private {
    pub use k8s_openapi;
    pub use kube_core;
}
