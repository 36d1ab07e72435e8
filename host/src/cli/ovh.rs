//! `karpenter-ovhcloud ovh`: check credentials and permissions, list pools, nodes, flavors and
//! the cluster, with the guide's environment variables.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};

use crate::ovh::{ClientConfig, ClusterRef, Credentials, Endpoint, OvhClient};

/// Arguments of `karpenter-ovhcloud ovh`. Credentials come from `OVH_APPLICATION_KEY`,
/// `OVH_APPLICATION_SECRET` and `OVH_CONSUMER_KEY` only (never from the command line, which
/// other users can read).
#[derive(clap::Args, Debug)]
pub struct Args {
    /// ovh-eu, ovh-ca, ovh-us, or a base URL such as the simulator's.
    #[arg(long, env = "OVH_ENDPOINT", default_value = "ovh-eu", global = true)]
    endpoint: String,
    /// Public Cloud project id (32 hex characters).
    #[arg(long, env = "OVH_SERVICE_NAME", global = true)]
    service_name: Option<String>,
    /// MKS cluster id.
    #[arg(long, env = "OVH_KUBE_ID", global = true)]
    kube_id: Option<String>,
    /// Region, e.g. EU-WEST-PAR.
    #[arg(long, env = "OVH_REGION", global = true)]
    region: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Verify the API is reachable, the credentials valid and every permission the guide lists.
    Check,
    /// Node pools of the cluster.
    Pools,
    /// Nodes of the cluster (or of one pool).
    Nodes {
        /// Only this pool (name or id).
        #[arg(long)]
        pool: Option<String>,
    },
    /// Flavors of the region (capabilities) or, without a region, of the cluster.
    Flavors,
    /// The cluster.
    Cluster,
    /// Public catalog prices per flavor.
    Prices {
        /// OVH subsidiary.
        #[arg(long, default_value = "FR")]
        subsidiary: String,
    },
}

fn need<'a>(v: &'a Option<String>, env: &str, flag: &str) -> Result<&'a str> {
    v.as_deref()
        .filter(|s| !s.trim().is_empty())
        .with_context(|| format!("{env} is not set (or pass {flag})"))
}

impl Args {
    fn cluster(&self) -> Result<ClusterRef> {
        Ok(ClusterRef::new(
            need(&self.service_name, "OVH_SERVICE_NAME", "--service-name")?,
            need(&self.kube_id, "OVH_KUBE_ID", "--kube-id")?,
        ))
    }
}

fn print_json<T: serde::Serialize>(v: &T) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

/// Runs `karpenter-ovhcloud ovh`.
pub async fn run(args: Args) -> Result<()> {
    let endpoint: Endpoint = args.endpoint.parse()?;
    let credentials = Credentials::from_env().context(
        "set OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET and OVH_CONSUMER_KEY (see the guide)",
    )?;
    let client = OvhClient::new(ClientConfig::new(endpoint, credentials))?;
    match &args.command {
        Command::Check => check(&client, &args).await,
        Command::Pools => {
            let pools = client.list_node_pools(&args.cluster()?).await?;
            if args.json {
                return print_json(&pools);
            }
            println!(
                "{:<40} {:<10} {:<15} {:<12} {:>7} {:>7} {:>9} {:>4} {:>4} {:<9} {:<7} ANTI-AFFINITY",
                "NAME", "FLAVOR", "ZONE", "STATUS", "DESIRED", "CURRENT", "AVAILABLE", "MIN", "MAX", "AUTOSCALE", "MONTHLY"
            );
            for p in pools {
                println!(
                    "{:<40} {:<10} {:<15} {:<12} {:>7} {:>7} {:>9} {:>4} {:>4} {:<9} {:<7} {}",
                    p.name,
                    p.flavor,
                    p.availability_zones.first().map_or("-", String::as_str),
                    status_text(&p.status),
                    p.desired_nodes,
                    p.current_nodes,
                    p.available_nodes,
                    p.min_nodes,
                    p.max_nodes,
                    p.autoscale,
                    p.monthly_billed,
                    p.anti_affinity
                );
            }
            Ok(())
        }
        Command::Nodes { pool } => {
            let cluster = args.cluster()?;
            let pools = client.list_node_pools(&cluster).await?;
            let names: BTreeMap<&str, &str> = pools
                .iter()
                .map(|p| (p.id.as_str(), p.name.as_str()))
                .collect();
            let mut nodes = match pool {
                Some(wanted) => {
                    let p = pools
                        .iter()
                        .find(|p| &p.id == wanted || &p.name == wanted)
                        .with_context(|| format!("no node pool named or with id {wanted}"))?;
                    client.node_pool_nodes(&cluster, &p.id).await?
                }
                None => client.list_nodes(&cluster).await?,
            };
            nodes.sort_by(|a, b| a.name.cmp(&b.name));
            if args.json {
                return print_json(&nodes);
            }
            println!(
                "{:<52} {:<40} {:<10} {:<26} {:<36} CREATED",
                "NAME", "POOL", "FLAVOR", "STATUS", "INSTANCE"
            );
            for n in nodes {
                println!(
                    "{:<52} {:<40} {:<10} {:<26} {:<36} {}",
                    n.name,
                    names
                        .get(n.node_pool_id.as_str())
                        .copied()
                        .unwrap_or(n.node_pool_id.as_str()),
                    n.flavor,
                    status_text(&n.status),
                    n.instance_id.as_deref().unwrap_or("-"),
                    n.created_at.map(|t| t.to_string()).unwrap_or_default()
                );
            }
            Ok(())
        }
        Command::Flavors => {
            let flavors = match (&args.region, &args.service_name) {
                (Some(region), Some(sn)) => client.capability_flavors(sn, region).await?,
                _ => client.cluster_flavors(&args.cluster()?).await?,
            };
            if args.json {
                return print_json(&flavors);
            }
            println!(
                "{:<12} {:<8} {:>6} {:>8} {:>5} STATE",
                "NAME", "CATEGORY", "VCPUS", "RAM(GB)", "GPUS"
            );
            for f in flavors {
                println!(
                    "{:<12} {:<8} {:>6} {:>8} {:>5} {}",
                    f.name, f.category, f.vcpus, f.ram, f.gpus, f.state
                );
            }
            Ok(())
        }
        Command::Cluster => {
            let c = client.cluster(&args.cluster()?).await?;
            if args.json {
                return print_json(&c);
            }
            println!("id:       {}", c.id);
            println!("name:     {}", c.name);
            println!("region:   {}", c.region);
            println!("version:  {}", c.version);
            println!("status:   {}", c.status);
            println!("url:      {}", c.url.as_deref().unwrap_or("-"));
            Ok(())
        }
        Command::Prices { subsidiary } => {
            let catalog = client.public_catalog(subsidiary).await?;
            let prices = catalog.flavor_prices();
            if args.json {
                let v: BTreeMap<_, _> = prices
                    .iter()
                    .map(|(k, p)| {
                        (
                            k,
                            serde_json::json!({"hourly": p.hourly, "monthly": p.monthly}),
                        )
                    })
                    .collect();
                return print_json(&v);
            }
            println!(
                "{:<12} {:>10} {:>10}  ({})",
                "FLAVOR", "HOURLY", "MONTHLY", catalog.locale.currency_code
            );
            for (name, p) in prices {
                let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
                println!("{:<12} {:>10} {:>10}", name, fmt(p.hourly), fmt(p.monthly));
            }
            Ok(())
        }
    }
}

fn status_text<T: serde::Serialize>(s: &T) -> String {
    serde_json::to_value(s)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// One line of `check`.
struct Report {
    failures: usize,
}

impl Report {
    fn line(&mut self, ok: bool, what: &str, detail: impl std::fmt::Display) {
        if !ok {
            self.failures += 1;
        }
        println!("[{}] {what:<62} {detail}", if ok { " ok " } else { "FAIL" });
    }

    fn result<T>(
        &mut self,
        what: &str,
        r: &Result<T, crate::ovh::OvhError>,
        detail: impl Fn(&T) -> String,
    ) {
        match r {
            Ok(v) => self.line(true, what, detail(v)),
            Err(e) => self.line(false, what, e),
        }
    }
}

/// The guide's permissions that `check` verifies through the credential's rules (writes are
/// not exercised: a check must not change the cluster).
const WRITE_PERMISSIONS: &[(&str, &str)] = &[
    ("POST", "/nodepool"),
    ("PUT", "/nodepool/{nodePoolId}"),
    ("DELETE", "/nodepool/{nodePoolId}"),
];

async fn check(client: &OvhClient, args: &Args) -> Result<()> {
    let mut r = Report { failures: 0 };
    println!("OVH API {}", client.base_url());
    let offset = client.sync_time().await;
    r.result("API reachable (GET /auth/time)", &offset, |o| {
        format!("clock offset {o:+} s")
    });
    let cred = client.current_credential().await;
    r.result(
        "credentials valid (GET /auth/currentCredential)",
        &cred,
        |c| format!("status {}, {} rules", c.status, c.rules.len()),
    );
    if let Ok(c) = &cred {
        r.line(c.status == "validated", "consumer key validated", &c.status);
    }
    let cluster = args.cluster()?;
    let base = cluster.path();
    let kube = client.cluster(&cluster).await;
    r.result("GET /cloud/project/*/kube/*", &kube, |c| {
        format!("cluster {} in {} ({})", c.name, c.region, c.status)
    });
    if let (Ok(k), Some(region)) = (&kube, &args.region) {
        r.line(
            k.region.eq_ignore_ascii_case(region),
            "OVH_REGION matches the cluster",
            format!("OVH_REGION={region}, cluster in {}", k.region),
        );
    }
    let pools = client.list_node_pools(&cluster).await;
    r.result("GET /cloud/project/*/kube/*/nodepool", &pools, |p| {
        format!("{} pools", p.len())
    });
    match pools.as_ref().ok().and_then(|p| p.first()) {
        Some(p) => {
            let nodes = client.node_pool_nodes(&cluster, &p.id).await;
            r.result(
                "GET /cloud/project/*/kube/*/nodepool/*/nodes",
                &nodes,
                |n| format!("{} nodes in {}", n.len(), p.name),
            );
        }
        None => match &cred {
            Ok(c) => {
                let path = format!("{base}/nodepool/00000000-0000-0000-0000-000000000000/nodes");
                r.line(
                    c.grants("GET", &path),
                    "GET /cloud/project/*/kube/*/nodepool/*/nodes",
                    "no pool yet: checked against the credential's rules",
                );
            }
            Err(_) => r.line(
                false,
                "GET /cloud/project/*/kube/*/nodepool/*/nodes",
                "cannot check: no pool and no credential rules",
            ),
        },
    }
    let flavors = client.cluster_flavors(&cluster).await;
    r.result("GET /cloud/project/*/kube/*/flavors", &flavors, |f| {
        format!("{} flavors", f.len())
    });
    let region = args
        .region
        .clone()
        .or_else(|| kube.as_ref().ok().map(|k| k.region.clone()));
    match region {
        Some(region) => {
            let caps = client
                .capability_flavors(&cluster.service_name, &region)
                .await;
            r.result("GET /cloud/project/*/capabilities/kube/*", &caps, |f| {
                format!("{} flavors in {region}", f.len())
            });
        }
        None => r.line(
            false,
            "GET /cloud/project/*/capabilities/kube/*",
            "no region (set OVH_REGION)",
        ),
    }
    for (method, suffix) in WRITE_PERMISSIONS {
        let shown = format!(
            "{method} /cloud/project/*/kube/*{}",
            suffix.replace("{nodePoolId}", "*")
        );
        match &cred {
            Ok(c) => {
                let path = format!(
                    "{base}{}",
                    suffix.replace("{nodePoolId}", "00000000-0000-0000-0000-000000000000")
                );
                let granted = c.grants(method, &path);
                r.line(
                    granted,
                    &shown,
                    if granted {
                        "granted by the credential's rules"
                    } else {
                        "NOT granted: add it to the consumer key"
                    },
                );
            }
            Err(_) => r.line(false, &shown, "cannot check without the credential's rules"),
        }
    }
    if r.failures > 0 {
        bail!("{} check(s) failed", r.failures);
    }
    println!("all checks passed");
    Ok(())
}
