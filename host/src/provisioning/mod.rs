//! Provisioning at the edge: the batcher that collects pending pods, and the flavor-selection
//! call through a Wasm policy ([`wit`]).
//!
//! The pure plan (scheduling simulation, request, validation, NodeClaim specs) lives in the
//! core crate and is re-exported here; the controller's loop around it (watch, batch, create
//! NodeClaims, Events) is [`crate::controller::provisioning`].

pub mod batcher;
pub mod wit;

pub use karpenter_ovhcloud_core::provisioning::*;

pub use batcher::{BatchWindow, Batcher};
pub use wit::{plan_with, WasmFlavorPolicy};
