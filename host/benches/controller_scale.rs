//! Controller at scale (issue 11): the controller binary (this build's, release under
//! `cargo bench`) against the simulated cluster at 10,000 pods / 500 nodes, then a 1,000-pod
//! burst. Prints Markdown on stdout, progress on stderr. See
//! `karpenter_ovhcloud::benchmark::scale` for what is measured and how.
//!
//! ```text
//! cargo bench -p karpenter-ovhcloud --bench controller_scale [-- --quick] [--pods N]
//!     [--pods-per-node N] [--burst N] [--time-scale X] [--steady-secs N]
//! ```

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use karpenter_ovhcloud::benchmark::scale::{self, Config};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_karpenter-ovhcloud"));
    let mut config = if args.iter().any(|a| a == "--quick") {
        Config::quick(bin)
    } else {
        Config::full(bin)
    };
    let value = |flag: &str| -> anyhow::Result<Option<f64>> {
        match args.iter().position(|a| a == flag) {
            None => Ok(None),
            Some(i) => {
                let v = args
                    .get(i + 1)
                    .with_context(|| format!("{flag} needs a value"))?;
                Ok(Some(v.parse().with_context(|| format!("{flag} {v}"))?))
            }
        }
    };
    if let Some(v) = value("--pods")? {
        config.pods = v as u32;
    }
    if let Some(v) = value("--pods-per-node")? {
        config.pods_per_node = v as u32;
    }
    if let Some(v) = value("--burst")? {
        config.burst = v as u32;
    }
    if let Some(v) = value("--time-scale")? {
        config.time_scale = v;
    }
    if let Some(v) = value("--steady-secs")? {
        config.steady = Duration::from_secs_f64(v);
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let report = runtime.block_on(scale::run(&config, &|line| eprintln!("{line}")))?;
    print!("{}", report.markdown());
    Ok(())
}
