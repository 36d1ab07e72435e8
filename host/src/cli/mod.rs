//! Subcommands of the `karpenter-ovhcloud` binary beyond the controller itself.

pub mod crdgen;
pub mod demo;
pub mod ovh;
pub mod policy;
pub mod sim;
