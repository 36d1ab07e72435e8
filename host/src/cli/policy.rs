//! `karpenter-ovhcloud policy`.

/// Arguments of `karpenter-ovhcloud policy`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `karpenter-ovhcloud policy`.
pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`policy` is not implemented yet")
}
