//! `karpenter-ovhcloud policy`: inspect and run decision policies outside the controller.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::policy::types::consolidation::ConsolidationRequest;
use crate::policy::types::drift::DriftRequest;
use crate::policy::types::provisioning::ProvisioningRequest;
use crate::policy::{
    inspect, Decided, PolicyRequest, PolicyRuntime, PolicySet, PolicySource, RuntimeConfig, World,
};

/// Arguments of `karpenter-ovhcloud policy`.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Run a policy on a request (JSON) and print its decision (JSON) on stdout.
    ///
    /// The request has the shape of the world's WIT request record, fields in snake_case
    /// (e.g. `{"pod_groups": [...], "flavors": [...], "nodepools": [...], "nodes": [], "config": ""}`).
    /// Without --policy the embedded default runs. A failing policy falls back to the default,
    /// as in the controller; the reason goes to stderr.
    Run {
        /// The world: flavor-selection, consolidation or drift.
        #[arg(long)]
        world: World,
        /// The request, a JSON file (`-` for stdin).
        #[arg(long)]
        input: PathBuf,
        /// A policy component (.wasm); default: the embedded default of the world.
        #[arg(long)]
        policy: Option<PathBuf>,
        /// The policy's JSON configuration (as `data.config.json` of its ConfigMap), or
        /// `@file` to read it from a file.
        #[arg(long)]
        config: Option<String>,
        /// Print the decision without indentation.
        #[arg(long)]
        compact: bool,
    },
    /// Print what a component is (world, WIT version, metadata, digest, size) as JSON; without
    /// a file, the embedded default policies.
    Info {
        /// A policy component (.wasm).
        file: Option<PathBuf>,
    },
}

/// Runs `karpenter-ovhcloud policy`.
pub async fn run(args: Args) -> Result<()> {
    match args.command {
        Command::Run {
            world,
            input,
            policy,
            config,
            compact,
        } => {
            let set = policy_set()?;
            if let Some(path) = &policy {
                let bytes =
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
                let config = match config {
                    Some(c) => read_config(&c)?,
                    None => String::new(),
                };
                let status = set
                    .load(
                        world,
                        bytes,
                        config,
                        PolicySource::Loaded(path.display().to_string()),
                    )
                    .await
                    .with_context(|| format!("loading {} as a {world} policy", path.display()))?;
                eprintln!(
                    "policy: {} {} ({}, {} bytes, WIT {})",
                    status.name, status.version, status.digest, status.size, status.wit_version
                );
            } else if config.is_some() {
                anyhow::bail!("--config applies to a --policy; the embedded defaults take no configuration here");
            }
            let input = read_input(&input)?;
            let text = match world {
                World::FlavorSelection => decide::<ProvisioningRequest>(&set, &input, compact)?,
                World::Consolidation => decide::<ConsolidationRequest>(&set, &input, compact)?,
                World::Drift => decide::<DriftRequest>(&set, &input, compact)?,
            };
            println!("{text}");
            Ok(())
        }
        Command::Info { file: Some(path) } => {
            let bytes =
                std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
            let runtime = PolicyRuntime::new(RuntimeConfig::default())?;
            let info = inspect(&bytes, runtime.limits().component_bytes)
                .with_context(|| format!("inspecting {}", path.display()))?;
            let policy = runtime
                .compile(info.world, &bytes)
                .with_context(|| format!("compiling {}", path.display()))?;
            let info = serde_json::json!({
                "world": info.world,
                "wit_version": info.wit_version.to_string(),
                "name": policy.metadata.name,
                "version": policy.metadata.version,
                "description": policy.metadata.description,
                "digest": info.digest.to_string(),
                "size": info.size,
            });
            println!("{}", serde_json::to_string_pretty(&info)?);
            Ok(())
        }
        Command::Info { file: None } => {
            let set = policy_set()?;
            println!("{}", serde_json::to_string_pretty(&set.status())?);
            Ok(())
        }
    }
}

fn policy_set() -> Result<PolicySet> {
    let runtime = Arc::new(PolicyRuntime::new(RuntimeConfig::default())?);
    Ok(PolicySet::new(runtime)?)
}

fn read_input(path: &PathBuf) -> Result<String> {
    if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
    }
}

fn read_config(arg: &str) -> Result<String> {
    let text = match arg.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
        None => arg.to_string(),
    };
    serde_json::from_str::<serde_json::Value>(&text).context("--config is not valid JSON")?;
    Ok(text)
}

fn decide<R>(set: &PolicySet, input: &str, compact: bool) -> Result<String>
where
    R: PolicyRequest + DeserializeOwned,
    R::Decision: Serialize,
{
    let request: R = serde_json::from_str(input)
        .with_context(|| format!("the input is not a {} request", R::WORLD))?;
    let Decided {
        decision,
        decided_by,
        failure,
        elapsed,
    } = set.decide(request)?;
    if let Some(failure) = failure {
        eprintln!("the policy failed ({failure}); the embedded default decided instead");
    }
    eprintln!(
        "decided by {} {} in {:.3} ms",
        decided_by.policy.metadata.name,
        decided_by.policy.metadata.version,
        elapsed.as_secs_f64() * 1e3
    );
    Ok(if compact {
        serde_json::to_string(&decision)?
    } else {
        serde_json::to_string_pretty(&decision)?
    })
}
