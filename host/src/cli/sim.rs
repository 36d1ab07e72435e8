//! `karpenter-ovhcloud sim`: the simulators on loopback.

use karpenter_ovhcloud_sim as sim;

/// Arguments of `karpenter-ovhcloud sim`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    which: Which,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// The simulated OVH API alone.
    Ovh(sim::ovh::ServeArgs),
    /// The simulated Kubernetes API server alone.
    Kube(sim::kube::ServeArgs),
}

/// Runs `karpenter-ovhcloud sim`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.which {
        Which::Ovh(a) => sim::ovh::serve_cli(a).await,
        Which::Kube(a) => sim::kube::serve_cli(a).await,
    }
}
