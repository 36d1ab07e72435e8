//! Bounds on one policy call, and the store data that enforces them.

use std::sync::Arc;
use std::time::Duration;

use super::bindings::host;
use super::inspect::Digest;
use super::world::World;

/// Bounds on every policy call. A call that crosses one is stopped and the host falls back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time of one call, enforced by epoch interruption (default 100 ms).
    pub deadline: Duration,
    /// Deterministic fuel budget of one call (roughly one unit per Wasm instruction); `None`
    /// disables it. Needs [`RuntimeConfig::fuel`](super::RuntimeConfig::fuel). Default 1e9: far
    /// above what a 10,000-pod batch needs, so the deadline bounds wall time and fuel makes an
    /// endless policy fail the same way on every machine.
    pub fuel: Option<u64>,
    /// Linear memory of all instances of one call together, in bytes (default 64 MiB).
    pub memory_bytes: usize,
    /// Core instances per call (a wrapped component makes 3; default 8).
    pub instances: usize,
    /// Table elements per table (default 100,000).
    pub table_elements: usize,
    /// List elements in one decision, all lists together (default 200,000).
    pub output_items: usize,
    /// String bytes in one decision, all strings together (default 16 MiB).
    pub output_bytes: usize,
    /// Size of a component in bytes (default 1 MiB, the ConfigMap cap).
    pub component_bytes: usize,
    /// Lines a policy may log per call; later lines are dropped (default 100).
    pub log_lines: u32,
    /// Bytes of one log line; longer lines are truncated (default 2 KiB).
    pub log_line_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            deadline: Duration::from_millis(100),
            fuel: Some(1_000_000_000),
            memory_bytes: 64 << 20,
            instances: 8,
            table_elements: 100_000,
            output_items: 200_000,
            output_bytes: 16 << 20,
            component_bytes: 1 << 20,
            log_lines: 100,
            log_line_bytes: 2048,
        }
    }
}

/// Who is running, for the lines a policy logs.
#[derive(Debug)]
pub(crate) struct PolicyLabel {
    pub world: World,
    pub digest: Digest,
    pub name: String,
}

/// Data of the fresh `Store` of one call: the resource limiter and the `host.log` import.
pub struct CallState {
    pub(crate) limiter: CallLimiter,
    label: Arc<PolicyLabel>,
    log_lines: u32,
    max_log_lines: u32,
    max_log_line_bytes: usize,
}

impl CallState {
    pub(crate) fn new(limits: &Limits, label: Arc<PolicyLabel>) -> Self {
        CallState {
            limiter: CallLimiter {
                memory_cap: limits.memory_bytes,
                memory_used: 0,
                table_elements: limits.table_elements,
                instances: limits.instances,
                denied_memory: None,
                denied_table: None,
            },
            label,
            log_lines: 0,
            max_log_lines: limits.log_lines,
            max_log_line_bytes: limits.log_line_bytes,
        }
    }
}

impl host::Host for CallState {
    fn log(&mut self, level: host::Level, message: String) {
        self.log_lines += 1;
        if self.log_lines > self.max_log_lines {
            if self.log_lines == self.max_log_lines + 1 {
                tracing::warn!(world = %self.label.world, policy = %self.label.name,
                    digest = %self.label.digest.short(),
                    "policy logged more than {} lines in one call; dropping the rest", self.max_log_lines);
            }
            return;
        }
        let mut message = message;
        if message.len() > self.max_log_line_bytes {
            let mut end = self.max_log_line_bytes;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }
        let (world, policy, digest) = (
            self.label.world.as_str(),
            self.label.name.as_str(),
            self.label.digest.short(),
        );
        match level {
            host::Level::Debug => tracing::debug!(world, policy, digest, "{message}"),
            host::Level::Info => tracing::info!(world, policy, digest, "{message}"),
            host::Level::Warn => tracing::warn!(world, policy, digest, "{message}"),
            host::Level::Error => tracing::error!(world, policy, digest, "{message}"),
        }
    }
}

/// Caps the memory of all instances of a call together, and records what it denied so the
/// error can say why (a denied growth surfaces as a generic error, not a `Trap`).
pub(crate) struct CallLimiter {
    memory_cap: usize,
    memory_used: usize,
    table_elements: usize,
    instances: usize,
    pub(crate) denied_memory: Option<usize>,
    pub(crate) denied_table: Option<usize>,
}

impl wasmtime::ResourceLimiter for CallLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.memory_used - current.min(self.memory_used) + desired;
        if total > self.memory_cap {
            self.denied_memory = Some(total);
            wasmtime::bail!("memory cap of {} bytes reached", self.memory_cap);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.denied_table = Some(desired);
            wasmtime::bail!("table cap of {} elements reached", self.table_elements);
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.instances
    }

    fn memories(&self) -> usize {
        self.instances
    }
}

// The types-only interfaces have no functions; their host traits are empty.
impl super::bindings::flavor_selection::karpenter_ovhcloud::policy::types::Host for CallState {}
impl super::bindings::flavor_selection::karpenter_ovhcloud::policy::provisioning_types::Host
    for CallState
{
}
impl super::bindings::consolidation::karpenter_ovhcloud::policy::consolidation_types::Host
    for CallState
{
}
impl super::bindings::drift::karpenter_ovhcloud::policy::drift_types::Host for CallState {}
