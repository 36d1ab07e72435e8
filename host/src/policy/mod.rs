//! The WebAssembly policy runtime: engine, component cache, per-world calls with limits, hot
//! swap and fallback.
//!
//! - [`PolicyRuntime`]: one wasmtime engine (component model, epoch deadline, fuel), components
//!   compiled once per sha256 digest (memory cache, optional disk cache), one pre-instantiated
//!   component per policy, a fresh `Store` per call under [`Limits`].
//! - [`PolicySet`]: the active policy of each world, swapped atomically; every call falls back
//!   to the embedded default when the active policy fails, with a metric and a log line.
//! - [`types`]: the contract's types, shared by the three worlds, serde-enabled (the core's
//!   own); [`wire`]: the same as wasmtime's bindings, for calls to a component.
//!
//! ```no_run
//! # fn main() -> Result<(), karpenter_ovhcloud::policy::PolicyError> {
//! use std::sync::Arc;
//! use karpenter_ovhcloud::policy::{canned, PolicyRuntime, PolicySet, RuntimeConfig};
//!
//! let runtime = Arc::new(PolicyRuntime::new(RuntimeConfig::default())?);
//! let policies = PolicySet::new(runtime)?;
//! let decided = policies.select(canned::provisioning())?;
//! for launch in &decided.decision.launches {
//!     println!("{} in {} for pool {}", launch.flavor, launch.zone, launch.nodepool);
//! }
//! # Ok(())
//! # }
//! ```

pub mod bindings;
pub mod canned;
mod convert;
mod convert_v0_1;
mod embedded;
mod error;
pub mod inspect;
mod limits;
pub mod metrics;
pub mod output;
mod runtime;
mod set;
mod v0_1;
pub mod validate;
mod world;

pub use bindings::wire;
pub use bindings::{
    consolidation::{Consolidation, ConsolidationPre},
    drift::{Drift, DriftPre},
    flavor_selection::{FlavorSelection, FlavorSelectionPre},
};
pub use error::PolicyError;
pub use inspect::{inspect, ComponentInfo, Digest, Version, CONTRACT_VERSION, SUPPORTED_VERSIONS};
/// The contract's types as the decision code uses them (the core's own, generated from the WIT).
pub use karpenter_ovhcloud_core::policy::types;
pub use limits::{CallState, Limits};
pub use metrics::PolicyMetrics;
pub use runtime::{CompiledPolicy, PolicyRuntime, RuntimeConfig, WorldPre};
pub use set::{
    ActivePolicy, Decided, DefaultComponents, PolicyRequest, PolicySet, PolicySource, PolicyStatus,
    WireRequest,
};
pub use world::{UnknownWorld, World};
