//! Harnesses of the benchmark suite that need more than a function call: they start the
//! simulators, run the controller binary as its own process and measure it from outside.
//! `cargo bench -p karpenter-ovhcloud --bench controller_scale` runs [`scale`] at full size;
//! the test suite runs it at a tiny size so the harness cannot rot. Numbers, never
//! assertions on timings.

pub mod proc_stats;
pub mod scale;
