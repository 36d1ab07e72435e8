//! `karpenter-ovhcloud crdgen`: writes the CRDs of NodePool, NodeClaim and OVHNodeClass.

use std::path::PathBuf;

use crate::api::crdgen;

/// Arguments of `karpenter-ovhcloud crdgen`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Directory to write the CRD files into; prints them to stdout when omitted.
    #[arg(long)]
    out: Option<PathBuf>,
}

/// Runs `karpenter-ovhcloud crdgen`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    match args.out {
        Some(dir) => {
            for path in crdgen::write(&dir)? {
                println!("wrote {path}");
            }
        }
        None => {
            for file in crdgen::render()? {
                print!("{}", file.yaml);
            }
        }
    }
    Ok(())
}
