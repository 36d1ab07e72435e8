//! SDK for karpenter-ovhcloud decision policies.
//!
//! A policy is a WebAssembly component implementing one world of the contract in `wit/`
//! (`karpenter-ovhcloud:policy@0.2.0`): [`flavor_selection`], [`consolidation`] or [`drift`].
//! This crate gives a policy author, in one dependency:
//!
//! - the bindings of the three worlds, sharing one set of types ([`types`]), with `serde`
//!   derives so native code can convert inputs and outputs;
//! - export macros: [`export_flavor_selection!`], [`export_consolidation!`], [`export_drift!`];
//! - resource arithmetic ([`types::Resources::fits`], saturating add/sub/mul, copies that fit);
//! - requirement matching against the labels a node will carry ([`labels`]);
//! - toleration matching ([`taints`]), prices ([`price`]), config parsing ([`config`]);
//! - [`contract`]: the rules these helpers delegate to (label keys, requirement operators,
//!   resource fit, toleration matching, the flavor table), the same code the host validates
//!   answers with;
//! - a packing engine with a pluggable score ([`packing`]), used by the default
//!   flavor-selection policy and by custom ones;
//! - [`log`], the one import a policy has.
//!
//! Everything also compiles natively: the same policy code can be unit-tested with
//! `cargo test` and benchmarked against its Wasm build. Natively the export macros expand to
//! nothing and [`log`] discards its messages.
//!
//! # A complete policy
//!
//! A flavor-selection policy that packs pods onto the flavor placing the most pods per node
//! (fewest nodes), and refuses any config:
//!
//! ```
//! use karpenter_ovhcloud_policy_sdk::packing::{self, NewNode, Score};
//! use karpenter_ovhcloud_policy_sdk::types::{PolicyMetadata, ProvisioningDecision, ProvisioningRequest};
//! use karpenter_ovhcloud_policy_sdk::{export_flavor_selection, log, FlavorSelection};
//!
//! /// Fewer, larger nodes: the score is lower (better) for flavors that take more pods.
//! struct FewestNodes;
//!
//! impl Score for FewestNodes {
//!     fn score(&self, node: &NewNode<'_>) -> f64 {
//!         -f64::from(node.pods)
//!     }
//! }
//!
//! struct Policy;
//!
//! impl FlavorSelection for Policy {
//!     fn metadata() -> PolicyMetadata {
//!         PolicyMetadata {
//!             name: "fewest-nodes".into(),
//!             version: "1.0.0".into(),
//!             description: "Packs pods onto as few nodes as possible".into(),
//!         }
//!     }
//!
//!     fn select(request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
//!         if !request.config.trim().is_empty() {
//!             return Err("this policy takes no config".into());
//!         }
//!         let decision = packing::select(&request, &FewestNodes, &packing::Options::default());
//!         log::info(&format!("{} launches", decision.launches.len()));
//!         Ok(decision)
//!     }
//! }
//!
//! export_flavor_selection!(Policy);
//! # fn main() {
//! #     let decision = Policy::select(ProvisioningRequest {
//! #         pod_groups: vec![], flavors: vec![], nodepools: vec![], nodes: vec![], config: String::new(),
//! #     }).unwrap();
//! #     assert!(decision.launches.is_empty());
//! # }
//! ```
//!
//! Build it as a `cdylib` for `wasm32-unknown-unknown` and turn the module into a component
//! (`cargo xtask build-policies` does both for the crates of this repository; see
//! `policies/examples/fewest-nodes/README.md` for an out-of-tree policy).

/// The rules shared with the host (the `karpenter-ovhcloud-contract` crate).
pub use karpenter_ovhcloud_contract as contract;

pub mod config;
pub mod labels;
pub mod log;
pub mod order;
pub mod packing;
pub mod price;
pub mod resources;
pub mod taints;
pub mod testing;
pub mod topology;

/// Bindings of the `flavor-selection` world. It owns the shared `types` and `host` modules
/// that the other worlds reuse.
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod flavor_selection {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "flavor-selection",
        pub_export_macro: true,
        default_bindings_module: "karpenter_ovhcloud_policy_sdk::flavor_selection",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        generate_all,
    });
}

/// Bindings of the `consolidation` world.
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod consolidation {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "consolidation",
        pub_export_macro: true,
        default_bindings_module: "karpenter_ovhcloud_policy_sdk::consolidation",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "karpenter-ovhcloud:policy/types@0.2.0": crate::flavor_selection::karpenter_ovhcloud::policy::types,
            "karpenter-ovhcloud:policy/host@0.2.0": crate::flavor_selection::karpenter_ovhcloud::policy::host,
        },
        generate_all,
    });
}

/// Bindings of the `drift` world.
#[allow(missing_docs, clippy::too_many_arguments)]
pub mod drift {
    wit_bindgen::generate!({
        path: "../../wit",
        world: "drift",
        pub_export_macro: true,
        default_bindings_module: "karpenter_ovhcloud_policy_sdk::drift",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
        with: {
            "karpenter-ovhcloud:policy/types@0.2.0": crate::flavor_selection::karpenter_ovhcloud::policy::types,
            "karpenter-ovhcloud:policy/host@0.2.0": crate::flavor_selection::karpenter_ovhcloud::policy::host,
        },
        generate_all,
    });
}

/// Every type of the contract, from all three worlds, in one namespace.
pub mod types {
    pub use crate::consolidation::karpenter_ovhcloud::policy::consolidation_types::{
        Action, Command, ConsolidationDecision, ConsolidationRequest, NodepoolTotals, Reason,
        Replacement,
    };
    pub use crate::drift::karpenter_ovhcloud::policy::drift_types::{
        DriftDecision, DriftReason, DriftRequest, Drifted, Nodeclaim,
    };
    pub use crate::flavor_selection::karpenter_ovhcloud::policy::host::Level;
    pub use crate::flavor_selection::karpenter_ovhcloud::policy::provisioning_types::{
        Launch, ProvisioningDecision, ProvisioningRequest, Unplaced,
    };
    pub use crate::flavor_selection::karpenter_ovhcloud::policy::types::*;
}

/// The trait a consolidation policy implements (`metadata` and `consolidate`).
pub use consolidation::Guest as Consolidation;
/// The trait a drift policy implements (`metadata` and `detect`).
pub use drift::Guest as Drift;
/// The trait a flavor-selection policy implements (`metadata` and `select`).
pub use flavor_selection::Guest as FlavorSelection;

/// The contract version this SDK targets (the `wit/` package version).
pub const CONTRACT_VERSION: &str = "0.2.0";

/// Exports a type implementing [`FlavorSelection`] as the component's `flavor-selection`
/// world. Expands to nothing outside `wasm32`, so the crate also builds natively.
#[macro_export]
macro_rules! export_flavor_selection {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::flavor_selection::export!($ty with_types_in $crate::flavor_selection);
    };
}

/// Exports a type implementing [`Consolidation`] as the component's `consolidation` world.
/// Expands to nothing outside `wasm32`.
#[macro_export]
macro_rules! export_consolidation {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::consolidation::export!($ty with_types_in $crate::consolidation);
    };
}

/// Exports a type implementing [`Drift`] as the component's `drift` world. Expands to nothing
/// outside `wasm32`.
#[macro_export]
macro_rules! export_drift {
    ($ty:ident) => {
        #[cfg(target_arch = "wasm32")]
        $crate::drift::export!($ty with_types_in $crate::drift);
    };
}
