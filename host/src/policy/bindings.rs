//! Host-side bindings of the policy contract (`wit/policy.wit`, `karpenter-ovhcloud:policy@0.1.0`).
//!
//! The three worlds share one set of Rust types: the `flavor-selection` bindings generate the
//! `types` and `host` interfaces, the two other worlds reuse them through `with`. Every generated
//! type derives `serde::Serialize`/`Deserialize` (field names in `snake_case`, enum cases in
//! `CamelCase`, the same JSON shape as the policy SDK's types), `Clone`, `Debug` and `PartialEq`.
//!
//! Use the re-exports in [`types`]: shared types at its root, each world's request and decision
//! types in [`types::provisioning`], [`types::consolidation`] and [`types::drift`].

/// Bindings of the `flavor-selection` world; owner of the shared `types` and `host` interfaces.
pub(crate) mod flavor_selection {
    wasmtime::component::bindgen!({
        world: "flavor-selection",
        path: "../wit",
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

/// Bindings of the `consolidation` world.
pub(crate) mod consolidation {
    wasmtime::component::bindgen!({
        world: "consolidation",
        path: "../wit",
        with: {
            "karpenter-ovhcloud:policy/types": crate::policy::bindings::flavor_selection::karpenter_ovhcloud::policy::types,
            "karpenter-ovhcloud:policy/host": crate::policy::bindings::flavor_selection::karpenter_ovhcloud::policy::host,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

/// Bindings of the `drift` world.
pub(crate) mod drift {
    wasmtime::component::bindgen!({
        world: "drift",
        path: "../wit",
        with: {
            "karpenter-ovhcloud:policy/types": crate::policy::bindings::flavor_selection::karpenter_ovhcloud::policy::types,
            "karpenter-ovhcloud:policy/host": crate::policy::bindings::flavor_selection::karpenter_ovhcloud::policy::host,
        },
        additional_derives: [serde::Serialize, serde::Deserialize, PartialEq],
    });
}

/// The `host` interface: what a policy may import (only `log`).
pub(crate) use flavor_selection::karpenter_ovhcloud::policy::host;

/// The types of the policy contract, as the host builds and reads them.
///
/// Field documentation lives in `wit/policy.wit`; names follow the WIT (`pod-groups` ->
/// `pod_groups`, `nodepool` -> [`Nodepool`], with [`NodePool`], [`NodeClass`] as aliases).
pub mod types {
    pub use super::flavor_selection::karpenter_ovhcloud::policy::types::{
        Assignment, Category, ConsolidationPolicy, DomainCount, Flavor, Label, Node, NodeState,
        Nodeclass, Nodepool, Operator, PodGroup, PolicyMetadata, Requirement, Resources, Spread,
        Taint, TaintEffect, Toleration, TolerationOperator, Topology, ZoneOffering,
    };

    /// Level of a line a policy logs through the `host.log` import.
    pub use super::host::Level as LogLevel;

    /// Alias of [`Nodepool`] (the WIT record `nodepool`).
    pub type NodePool = Nodepool;
    /// Alias of [`Nodeclass`] (the WIT record `nodeclass`).
    pub type NodeClass = Nodeclass;

    /// Request and decision of the `flavor-selection` world.
    pub mod provisioning {
        pub use crate::policy::bindings::flavor_selection::karpenter_ovhcloud::policy::provisioning_types::{
            Launch, ProvisioningDecision, ProvisioningRequest, Unplaced,
        };
    }

    /// Request and decision of the `consolidation` world.
    pub mod consolidation {
        pub use crate::policy::bindings::consolidation::karpenter_ovhcloud::policy::consolidation_types::{
            Action, Command, ConsolidationDecision, ConsolidationRequest, Reason, Replacement,
        };
    }

    /// Request and decision of the `drift` world.
    pub mod drift {
        pub use crate::policy::bindings::drift::karpenter_ovhcloud::policy::drift_types::{
            DriftDecision, DriftReason, DriftRequest, Drifted, Nodeclaim,
        };

        /// Alias of [`Nodeclaim`] (the WIT record `nodeclaim`).
        pub type NodeClaim = Nodeclaim;
    }
}
