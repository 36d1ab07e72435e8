//! `karpenter-ovhcloud sim` (or `sim cluster`): the whole simulated cluster on loopback, with
//! a kubeconfig and an env file for the guide's commands.

use super::{ClusterConfig, SimCluster, StaticPool};
use anyhow::Context as _;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Command-line arguments of the simulated cluster.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeArgs {
    /// Region of the cluster (3-AZ regions: EU-WEST-PAR, EU-SOUTH-MIL).
    #[arg(long, default_value = crate::ovh::DEFAULT_REGION)]
    pub region: String,
    /// Guide seconds per real second (20: a 2-minute node install takes 6 s).
    #[arg(long, default_value_t = 1.0)]
    pub time_scale: f64,
    /// Directory for the kubeconfig and the env file (created if missing).
    #[arg(long, default_value = ".karpenter-ovhcloud-sim")]
    pub dir: PathBuf,
    /// Serve this file (e.g. the controller's log, as it grows) as `kubectl logs` of the pod
    /// `app.kubernetes.io/name=karpenter-ovhcloud` in namespace `karpenter`.
    #[arg(long, value_name = "FILE")]
    pub controller_log: Option<PathBuf>,
    /// Flavor of the static pool hosting the add-ons.
    #[arg(long, default_value = "b3-16")]
    pub static_pool_flavor: String,
    /// Nodes of the static pool (0: no static pool and no add-ons).
    #[arg(long, default_value_t = 1)]
    pub static_pool_nodes: u32,
    /// Address of the Kubernetes API server (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub kube_listen: SocketAddr,
    /// Address of the OVH API (loopback).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub ovh_listen: SocketAddr,
    /// Seed of the OVH simulator's ids and choices.
    #[arg(long, default_value_t = 0x0f0c)]
    pub seed: u64,
}

/// The configuration these arguments describe.
pub fn config(args: &ServeArgs) -> anyhow::Result<ClusterConfig> {
    anyhow::ensure!(
        args.kube_listen.ip().is_loopback() && args.ovh_listen.ip().is_loopback(),
        "the simulators listen on loopback only"
    );
    anyhow::ensure!(
        crate::ovh::catalog::region(&args.region).is_some(),
        "unknown region {}; known: {}",
        args.region,
        crate::ovh::catalog::REGIONS
            .iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
            .join(", ")
    );
    anyhow::ensure!(
        crate::ovh::catalog::flavor(&args.static_pool_flavor).is_some(),
        "unknown flavor {}",
        args.static_pool_flavor
    );
    let mut c = ClusterConfig::new(&args.region, args.time_scale);
    c.ovh.listen = args.ovh_listen;
    c.ovh.seed = args.seed;
    c.kube.listen = args.kube_listen;
    if args.static_pool_nodes == 0 {
        c.static_pool = None;
        c.addons = false;
    } else {
        c.static_pool = Some(StaticPool {
            flavor: args.static_pool_flavor.clone(),
            nodes: args.static_pool_nodes,
            ..StaticPool::default()
        });
    }
    Ok(c)
}

/// Runs the simulated cluster until interrupted, after writing the kubeconfig and env file and
/// printing how to use them.
pub async fn serve_cli(args: ServeArgs) -> anyhow::Result<()> {
    let config = config(&args)?;
    let cluster = SimCluster::start(config).await?;
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let dir = std::fs::canonicalize(&args.dir).unwrap_or(args.dir.clone());
    let kubeconfig = dir.join("kubeconfig");
    let env_file = dir.join("env");
    cluster.kube().write_kubeconfig(&kubeconfig)?;
    cluster.write_env_file(&env_file, Some(&kubeconfig))?;
    let log_pod = match &args.controller_log {
        Some(path) => Some(cluster.serve_controller_log(path)?),
        None => None,
    };
    let ready = cluster.wait_ready(Duration::from_secs(600)).await;
    let t = cluster.timing();
    let mut out = std::io::stdout().lock();
    // stdout on purpose: this is what the operator copies.
    writeln!(
        out,
        "Simulated OVHcloud MKS cluster, region {}, time scale {}x",
        args.region, t.scale
    )?;
    writeln!(out, "  Kubernetes API: {}", cluster.kube().base_url())?;
    writeln!(out, "  OVH API:        {}", cluster.ovh().base_url())?;
    writeln!(
        out,
        "Wrote {} and {}.",
        kubeconfig.display(),
        env_file.display()
    )?;
    writeln!(out, "Use them with:")?;
    writeln!(out, "  source {}", env_file.display())?;
    writeln!(out, "  kubectl get nodes -L topology.kubernetes.io/zone")?;
    writeln!(out, "  karpenter-ovhcloud ovh check")?;
    writeln!(out, "or directly:")?;
    writeln!(
        out,
        "  KUBECONFIG={} kubectl get nodes",
        kubeconfig.display()
    )?;
    for (k, v) in cluster.env() {
        writeln!(out, "  export {k}={v}")?;
    }
    if let Some(pod) = log_pod {
        writeln!(
            out,
            "The controller log is served as `kubectl logs -n {} {pod}` (label app.kubernetes.io/name={}).",
            super::CONTROLLER_NAMESPACE,
            super::CONTROLLER_APP
        )?;
    }
    if let Err(e) = ready {
        writeln!(out, "warning: {e}")?;
    }
    writeln!(
        out,
        "Inspect OVH: http://{}/_sim/state. Ctrl-C stops.",
        cluster.ovh().addr()
    )?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
