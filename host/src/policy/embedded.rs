//! The default policies built into the binary: the fallback of every call.

use std::sync::Arc;

use super::error::PolicyError;
use super::runtime::PolicyRuntime;
use super::set::{DefaultComponents, PolicySet};

impl DefaultComponents {
    /// The default policies built into this binary (`policies/dist/*.wasm`).
    pub const EMBEDDED: DefaultComponents = DefaultComponents {
        flavor_selection: include_bytes!("../../../policies/dist/flavor-selection.wasm"),
        consolidation: include_bytes!("../../../policies/dist/consolidation.wasm"),
        drift: include_bytes!("../../../policies/dist/drift.wasm"),
    };
}

impl PolicySet {
    /// A set running the embedded default policies.
    pub fn new(runtime: Arc<PolicyRuntime>) -> Result<Self, PolicyError> {
        Self::with_defaults(runtime, DefaultComponents::EMBEDDED)
    }
}
