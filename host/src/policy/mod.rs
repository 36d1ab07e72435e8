//! The WebAssembly policy runtime: engine, component cache, per-world calls with limits, hot swap and fallback.
