//! The `karpenter-ovhcloud` binary: the controller and its operator subcommands.

use anyhow::Result;
use clap::{Parser, Subcommand};
use karpenter_ovhcloud::cli;

/// Karpenter-style node autoscaler for OVHcloud Managed Kubernetes.
#[derive(Parser, Debug)]
#[command(name = "karpenter-ovhcloud", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the controller (the default when no subcommand is given; flags via environment).
    Controller(Box<karpenter_ovhcloud::controller::Args>),
    /// Check OVH credentials and permissions, list pools, nodes and flavors.
    Ovh(cli::ovh::Args),
    /// Inspect, run and evaluate decision policies.
    Policy(cli::policy::Args),
    // `sim` and `demo` exist only with the `simulators` feature: the production image is built
    // without it and carries no simulator.
    /// Run the simulators (OVH API, Kubernetes API) on loopback.
    #[cfg(feature = "simulators")]
    Sim(Box<cli::sim::Args>),
    /// Run the guide's scenarios end to end on the embedded simulators.
    #[cfg(feature = "simulators")]
    Demo(cli::demo::Args),
    /// Write the CRDs (NodePool, NodeClaim, OVHNodeClass) generated from the API types.
    Crdgen(cli::crdgen::Args),
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Ovh(args)) => cli::ovh::run(args).await,
        Some(Command::Policy(args)) => cli::policy::run(args).await,
        #[cfg(feature = "simulators")]
        Some(Command::Sim(args)) => cli::sim::run(*args).await,
        #[cfg(feature = "simulators")]
        Some(Command::Demo(args)) => cli::demo::run(args).await,
        Some(Command::Crdgen(args)) => cli::crdgen::run(args).await,
        Some(Command::Controller(args)) => karpenter_ovhcloud::controller::run(*args).await,
        None => {
            // `karpenter-ovhcloud` alone runs the controller with its environment.
            #[derive(Parser)]
            struct Default {
                #[command(flatten)]
                args: karpenter_ovhcloud::controller::Args,
            }
            karpenter_ovhcloud::controller::run(Default::parse().args).await
        }
    }
}
