//! Subcommands of the `karpenter-ovhcloud` binary beyond the controller itself.

pub mod crdgen;
// `demo` and `sim` run the simulators: only with the `simulators` feature (on by default, off
// in the production image).
#[cfg(feature = "simulators")]
pub mod demo;
pub mod ovh;
pub mod policy;
#[cfg(feature = "simulators")]
pub mod sim;
