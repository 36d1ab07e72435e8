//! Logging through the host: the one import a policy has.
//!
//! In a component, lines go to the controller's log, tagged with the policy's name and
//! digest. Natively (tests, benchmarks) they are discarded, so native callers need no host.

use crate::types::Level;

/// Writes `message` to the controller's log at `level`.
pub fn log(level: Level, message: &str) {
    #[cfg(target_arch = "wasm32")]
    crate::flavor_selection::karpenter_ovhcloud::policy::host::log(level, message);
    #[cfg(not(target_arch = "wasm32"))]
    let _ = (level, message);
}

/// Logs at debug level.
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Logs at info level.
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs at warn level.
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Logs at error level.
pub fn error(message: &str) {
    log(Level::Error, message)
}
