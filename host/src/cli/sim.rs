//! `karpenter-ovhcloud sim`: the simulators on loopback. Without a sub-subcommand (or with
//! `cluster`), the whole simulated MKS cluster; `ovh` and `kube` run one simulator alone.

use karpenter_ovhcloud_sim as sim;

/// Arguments of `karpenter-ovhcloud sim`.
#[derive(clap::Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Args {
    #[command(subcommand)]
    which: Option<Which>,
    #[command(flatten)]
    cluster: sim::cluster::serve::ServeArgs,
}

#[derive(clap::Subcommand, Debug)]
enum Which {
    /// The simulated MKS cluster: OVH API, Kubernetes API, scheduler, kubelets, controllers
    /// (the default).
    Cluster(sim::cluster::serve::ServeArgs),
    /// The simulated OVH API alone.
    Ovh(sim::ovh::ServeArgs),
    /// The simulated Kubernetes API server alone.
    Kube(sim::kube::ServeArgs),
}

/// Runs `karpenter-ovhcloud sim`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.which {
        None => sim::cluster::serve::serve_cli(args.cluster).await,
        Some(Which::Cluster(a)) => sim::cluster::serve::serve_cli(a).await,
        Some(Which::Ovh(a)) => sim::ovh::serve_cli(a).await,
        Some(Which::Kube(a)) => sim::kube::serve_cli(a).await,
    }
}
