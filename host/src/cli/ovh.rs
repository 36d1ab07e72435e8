//! `karpenter-ovhcloud ovh`.

/// Arguments of `karpenter-ovhcloud ovh`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `karpenter-ovhcloud ovh`.
pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`ovh` is not implemented yet")
}
