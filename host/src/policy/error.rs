//! Why a policy could not be loaded or could not decide.

use std::time::Duration;

use super::world::World;

/// Every way loading or calling a policy can fail. Each message says what happened and the
/// bound that stopped it; [`PolicyError::reason`] is the short label used in metrics.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PolicyError {
    /// The component is larger than the size limit (ConfigMaps cap at 1 MiB).
    #[error("component is {size} bytes, over the {limit}-byte limit for policies")]
    TooLarge {
        /// Size of the component in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The bytes are not a WebAssembly component of the policy contract.
    #[error("not a policy component: {0}")]
    Malformed(String),
    /// The component implements another world than the one it was loaded for.
    #[error("component implements the `{found}` world, not `{expected}`")]
    WrongWorld {
        /// The world it was loaded for.
        expected: World,
        /// The world its exports implement.
        found: World,
    },
    /// The component targets a version of the contract this host does not implement.
    #[error(
        "component targets karpenter-ovhcloud:policy@{found}; this host implements {supported}"
    )]
    UnsupportedVersion {
        /// The version named by the component's imports.
        found: String,
        /// The versions this host accepts, e.g. `0.1.x`.
        supported: String,
    },
    /// The component imports something beyond `karpenter-ovhcloud:policy/host` (e.g. WASI).
    #[error("component imports `{0}`; a policy may only import karpenter-ovhcloud:policy/host (log) and the contract's type interfaces")]
    ForbiddenImport(String),
    /// Wasmtime could not compile the component.
    #[error("compiling the component failed: {0}")]
    Compile(String),
    /// The component could not be linked or instantiated.
    #[error("instantiating the policy failed: {0}")]
    Instantiate(String),
    /// The call ran past its wall-clock deadline (epoch interruption).
    #[error("policy exceeded its {} ms time limit and was stopped", .limit.as_millis())]
    Deadline {
        /// The deadline of the call.
        limit: Duration,
    },
    /// The call used up its fuel budget.
    #[error("policy used up its fuel budget of {fuel} units and was stopped")]
    OutOfFuel {
        /// The fuel budget of the call.
        fuel: u64,
    },
    /// The policy tried to grow its memory (or tables, or instances) past the cap.
    #[error("policy tried to grow its memory to {requested} bytes, over the {limit}-byte cap, and was stopped")]
    MemoryLimit {
        /// Memory size the policy asked for, in bytes.
        requested: usize,
        /// The cap in bytes.
        limit: usize,
    },
    /// The policy trapped (panic, unreachable, out-of-bounds access, ...).
    #[error("policy trapped: {0}")]
    Trap(String),
    /// The policy returned `Err(message)`, refusing the input (e.g. an invalid config).
    #[error("policy refused the input: {0}")]
    Refused(String),
    /// The decision is larger than the output cap.
    #[error("policy output has {items} items and {bytes} string bytes, over the caps of {max_items} items and {max_bytes} bytes")]
    OutputTooLarge {
        /// List elements in the decision.
        items: usize,
        /// String bytes in the decision.
        bytes: usize,
        /// The cap on list elements.
        max_items: usize,
        /// The cap on string bytes.
        max_bytes: usize,
    },
    /// The decision does not fit the request (unknown flavor, pods dropped, ...).
    #[error("policy output is invalid: {0}")]
    InvalidOutput(String),
}

impl PolicyError {
    /// Short stable label of the failure, used as the `reason` of metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            PolicyError::TooLarge { .. } => "too-large",
            PolicyError::Malformed(_) => "malformed",
            PolicyError::WrongWorld { .. } => "wrong-world",
            PolicyError::UnsupportedVersion { .. } => "version",
            PolicyError::ForbiddenImport(_) => "forbidden-import",
            PolicyError::Compile(_) => "compile",
            PolicyError::Instantiate(_) => "instantiate",
            PolicyError::Deadline { .. } => "deadline",
            PolicyError::OutOfFuel { .. } => "fuel",
            PolicyError::MemoryLimit { .. } => "memory",
            PolicyError::Trap(_) => "trap",
            PolicyError::Refused(_) => "refused",
            PolicyError::OutputTooLarge { .. } => "output-too-large",
            PolicyError::InvalidOutput(_) => "invalid-output",
        }
    }
}
