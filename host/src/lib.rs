//! karpenter-ovhcloud: a Karpenter-style node autoscaler for OVHcloud Managed Kubernetes.
//!
//! Data flows one way: watch -> [`state`] -> decide ([`policy`]) -> validate -> act
//! ([`ovh`], Kubernetes) -> observe. Decisions are WebAssembly components (see `wit/`); this
//! crate does everything that touches the outside world and every safety check.

// The pure core, re-exported under the paths the host has always used.
pub use karpenter_ovhcloud_core::{api, catalog, clock, disruption, lifecycle, scheduling, state};

// The controller-at-scale harness runs on the simulators: not in the production image.
#[cfg(feature = "simulators")]
pub mod benchmark;
pub mod cli;
pub mod controller;
pub mod evaluate;
pub mod ovh;
pub mod policy;
pub mod pools;
pub mod provisioning;
