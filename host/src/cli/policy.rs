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
    /// What-if: replay a workload trace (docs/traces.md) in simulated time with the given
    /// policies, the embedded defaults, a naive baseline and a cluster-autoscaler-like one, and
    /// print cost, node-hours, peak nodes, pending times, disruptions and OVH writes beside a
    /// lower bound. Deterministic: same trace and policies, same output.
    Evaluate(EvaluateArgs),
    /// Generate a reference workload trace (YAML on stdout, or --out).
    TraceGen {
        /// The kind of workload.
        #[arg(long, value_enum)]
        kind: crate::evaluate::Kind,
        /// Seed: the same kind and seed give the same trace.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
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
        Command::Evaluate(args) => evaluate(args),
        Command::TraceGen { kind, seed, out } => {
            let text = format!(
                "# Generated by `karpenter-ovhcloud policy trace-gen --kind {} --seed {seed}`.\n# Format: docs/traces.md.\n{}",
                kind.name(),
                crate::evaluate::generate(kind, seed).to_yaml()
            );
            match out {
                Some(path) => std::fs::write(&path, text)
                    .with_context(|| format!("writing {}", path.display()))?,
                None => print!("{text}"),
            }
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

/// Arguments of `policy evaluate`.
#[derive(clap::Args, Debug)]
struct EvaluateArgs {
    /// The trace (YAML or JSON; `-` for stdin). Several with `--markdown`.
    #[arg(long, required = true)]
    trace: Vec<PathBuf>,
    /// Print the BENCHMARKS.md section (every trace, with the gap analysis of the defaults)
    /// instead of the table.
    #[arg(long)]
    markdown: bool,
    /// A flavor-selection component (.wasm) to compare with the defaults.
    #[arg(long)]
    policy: Option<PathBuf>,
    /// Its JSON configuration, or `@file`.
    #[arg(long)]
    config: Option<String>,
    /// A consolidation component (.wasm); default: the embedded default.
    #[arg(long)]
    consolidation: Option<PathBuf>,
    /// Also write the report as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also write an SVG of nodes and cost over time here.
    #[arg(long)]
    plot: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long)]
    quiet: bool,
}

fn evaluate(args: EvaluateArgs) -> Result<()> {
    use crate::evaluate::{self, Trace};
    if !args.markdown && args.trace.len() > 1 {
        anyhow::bail!("several --trace need --markdown");
    }
    if args.markdown && (args.json.is_some() || args.plot.is_some()) {
        anyhow::bail!("--markdown writes no --json or --plot");
    }
    let traces = args
        .trace
        .iter()
        .map(|path| {
            let text = read_input(path)?;
            Trace::parse(&text).with_context(|| format!("reading {}", path.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let set = policy_set()?;
    let load = |path: &PathBuf, world: World, config: String| -> Result<_> {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        set.prepare(
            world,
            &bytes,
            config,
            PolicySource::Loaded(path.display().to_string()),
        )
        .with_context(|| format!("loading {} as a {world} policy", path.display()))
    };
    let given = match (&args.policy, &args.consolidation) {
        (None, None) => {
            if args.config.is_some() {
                anyhow::bail!("--config applies to a --policy");
            }
            None
        }
        (flavor, consolidation) => {
            let config = match &args.config {
                Some(c) => read_config(c)?,
                None => String::new(),
            };
            let flavor = match flavor {
                Some(p) => load(p, World::FlavorSelection, config)?,
                None => set.default_policy(World::FlavorSelection),
            };
            let consolidation = match consolidation {
                Some(p) => load(p, World::Consolidation, String::new())?,
                None => set.default_policy(World::Consolidation),
            };
            let name = format!(
                "{} {}",
                flavor.policy.metadata.name, flavor.policy.metadata.version
            );
            Some((name, flavor, consolidation))
        }
    };
    let strategies = evaluate::strategies(&set, given);
    let quiet = args.quiet;
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let mut progress = |_: usize, name: &str, p: evaluate::Progress| {
        let done = p.at >= p.of;
        if quiet || !(terminal || done) {
            return;
        }
        let percent = p.at * 100 / p.of.max(1);
        let hours = p.of as f64 / 3600.0;
        if terminal {
            eprint!("\r{name}: {percent:>3}% of {hours:.1} h simulated   ");
        }
        if done {
            eprintln!(
                "{}{name}: {hours:.1} h simulated",
                if terminal { "\r" } else { "" }
            );
        }
    };
    if args.markdown {
        let mut entries = Vec::new();
        for trace in &traces {
            entries.push(evaluate::evaluate_with_gaps(
                trace,
                &strategies,
                &mut progress,
            )?);
        }
        let mut command = String::from("karpenter-ovhcloud policy evaluate --markdown --quiet");
        for t in &args.trace {
            command.push_str(&format!(" --trace {}", t.display()));
        }
        if let Some(p) = &args.policy {
            command.push_str(&format!(" --policy {}", p.display()));
        }
        print!("{}", evaluate::markdown::section(&entries, &command));
        return Ok(());
    }
    let report = evaluate::evaluate(&traces[0], &strategies, &mut progress)?;
    print!("{}", evaluate::table(&report));
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)? + "\n";
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, evaluate::plot::svg(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
