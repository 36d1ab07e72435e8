//! The OVH API's data model, as plain serde types: the bodies of the MKS endpoints the product
//! uses ([`models`]) and OVH's access-rule matching ([`glob`]). The signed client that sends
//! and receives them is the host's (`karpenter_ovhcloud::ovh`).

pub mod glob;
pub mod models;

pub use models::*;
