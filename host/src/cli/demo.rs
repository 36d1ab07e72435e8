//! `karpenter-ovhcloud demo`.

/// Arguments of `karpenter-ovhcloud demo`.
#[derive(clap::Args, Debug)]
pub struct Args {}

/// Runs `karpenter-ovhcloud demo`.
pub async fn run(_args: Args) -> anyhow::Result<()> {
    anyhow::bail!("`demo` is not implemented yet")
}
