//! `karpenter-ovhcloud controller`: the controller process. Watches feed the cluster model
//! ([`watch`]), pending pods are batched and provisioned ([`crate::controller::provisioning`]), one
//! periodic pass keeps OVH pools and NodeClaims in line ([`crate::controller::lifecycle`],
//! [`crate::pools`]), OVHNodeClasses are checked ([`crate::controller::nodeclass`]), policies load from
//! ConfigMaps ([`crate::controller::policies`]). Only the holder of the leader Lease acts
//! ([`leader`]); health probes and Prometheus metrics are served over HTTP ([`http`]).

pub mod args;
pub mod context;
pub mod disruption;
pub mod disruption_metrics;
pub mod events;
pub mod http;
pub mod leader;
pub mod lifecycle;
pub mod metrics;
pub mod nodeclass;
pub mod nodepool;
pub mod policies;
pub mod provisioning;
pub mod state_metrics;
pub mod static_pools;
pub mod status;
pub mod summary;
pub mod termination;
pub mod watch;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Secret;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Api;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

pub use args::Args;
use context::{Context, Settings};
use metrics::Metrics;

use crate::clock::Clock;
use crate::ovh::Credentials;
use crate::policy::{PolicyRuntime, PolicySet, RuntimeConfig};
use crate::provisioning::{BatchWindow, Batcher};

fn init_tracing(format: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: a log file or `kubectl logs` gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

async fn kube_client(args: &Args) -> anyhow::Result<kube::Client> {
    let config = match &args.kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => kube::Config::infer().await?,
    };
    Ok(kube::Client::try_from(config)?)
}

/// The controller's own credentials: the Secret the flags name, else the environment.
async fn own_credentials(kube: &kube::Client, args: &Args) -> anyhow::Result<Option<Credentials>> {
    if let Some(reference) = &args.ovh_credentials_secret {
        let (ns, name) = reference
            .split_once('/')
            .unwrap_or((args.namespace.as_str(), reference.as_str()));
        let secrets: Api<Secret> = Api::namespaced(kube.clone(), ns);
        match secrets.get_opt(name).await {
            Ok(Some(secret)) => {
                let data = secret
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect();
                return Ok(Some(
                    Credentials::from_bytes_map(&data)
                        .with_context(|| format!("the credentials Secret {ns}/{name}"))?,
                ));
            }
            Ok(None) => {
                tracing::warn!(secret = %reference, "credentials Secret not found; trying the environment")
            }
            Err(e) => {
                tracing::warn!(secret = %reference, error = %e, "cannot read the credentials Secret; trying the environment")
            }
        }
    }
    Ok(Credentials::from_env().ok())
}

fn identity(args: &Args) -> String {
    args.identity.clone().unwrap_or_else(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "karpenter-ovhcloud".into());
        format!("{host}-{}", std::process::id())
    })
}

/// Runs the controller until SIGINT/SIGTERM or the loss of the leader Lease.
pub async fn run(args: Args) -> anyhow::Result<()> {
    init_tracing(&args.log_format);
    let clock = Clock::system(args.time_scale);
    let kube = kube_client(&args).await?;
    let identity = identity(&args);
    tracing::info!(%identity, region = %args.region, kube_id = %args.kube_id,
        endpoint = %args.ovh_endpoint, time_scale = args.time_scale, "starting the controller");

    let metrics = Arc::new(Metrics::default());
    let runtime = Arc::new(PolicyRuntime::new(RuntimeConfig::default())?);
    let policies = PolicySet::new(runtime)?;
    let mut registry = Registry::default();
    metrics.register(&mut registry);
    policies.metrics().register(&mut registry);
    let health = Arc::new(http::Health::default());
    http::serve(
        args.metrics_address,
        args.health_address,
        http::Exposition {
            registry: Arc::new(registry),
            summaries: metrics.summaries(),
        },
        health.clone(),
    )
    .await?;

    let elector = leader::LeaderElector::new(
        kube.clone(),
        args.lease_namespace.as_deref().unwrap_or(&args.namespace),
        &args.lease_name,
        &identity,
        args.lease_duration,
    );
    if args.leader_elect {
        tracing::info!(lease = %args.lease_name, "waiting for the leader Lease");
        tokio::select! {
            _ = elector.acquire() => {}
            _ = shutdown_signal() => return Ok(()),
        }
        tracing::info!(%identity, "leading");
    }
    metrics.leader.set(1);

    let (tx, rx) = mpsc::unbounded_channel();
    let (caches, writers) = watch::caches();
    let context = Context::new(
        kube.clone(),
        Settings::from_args(&args),
        clock.clone(),
        caches,
        policies,
        metrics.clone(),
        &identity,
        args.unavailable_offerings_ttl,
        tx,
    );
    let ctx = Arc::new(context);
    match own_credentials(&kube, &args).await {
        Ok(Some(c)) => {
            let client = ctx.ovh_client(args.ovh_endpoint.clone(), c.clone())?;
            let _ = ctx.ovh.own_credentials.set(c);
            ctx.ovh.client.store(Some(Arc::new(client)));
        }
        Ok(None) => {
            tracing::info!("no OVH credentials of its own: waiting for a Ready OVHNodeClass")
        }
        Err(e) => tracing::warn!(error = %e, "cannot read the controller's OVH credentials"),
    }
    let synced = watch::spawn(ctx.clone(), writers);
    health.set_synced(synced);

    let mut tasks = tokio::task::JoinSet::new();
    tasks.spawn(provisioning_loop(
        ctx.clone(),
        Batcher::new(
            rx,
            BatchWindow {
                idle: args.batch_idle_duration,
                max: args.batch_max_duration,
            },
            clock.clone(),
        ),
    ));
    tasks.spawn(reconcile_loop(ctx.clone()));
    tasks.spawn(crate::controller::disruption::run(ctx.clone()));
    tasks.spawn(crate::controller::nodeclass::run(ctx.clone()));
    tasks.spawn(crate::controller::policies::run(ctx.clone()));
    tasks.spawn(crate::controller::state_metrics::run(ctx.clone()));

    let result = tokio::select! {
        _ = shutdown_signal() => { tracing::info!("shutting down"); Ok(()) }
        _ = elector.hold(), if args.leader_elect => {
            tracing::error!("lost the leader Lease; exiting so a fresh replica takes over");
            Err(anyhow::anyhow!("leader Lease lost"))
        }
        r = tasks.join_next() => Err(anyhow::anyhow!("a controller loop stopped: {r:?}")),
    };
    tasks.abort_all();
    if args.leader_elect {
        elector.release().await;
    }
    result
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

async fn provisioning_loop(ctx: Arc<Context>, mut batcher: Batcher<()>) {
    while let Some(batch) = batcher.next_batch().await {
        tracing::debug!(events = batch.len(), "provisioning batch");
        if let Err(e) = crate::controller::provisioning::provision(&ctx).await {
            tracing::warn!(error = %e, "provisioning pass failed; retrying on the next batch");
            ctx.wake.provision();
            tokio::time::sleep(ctx.real(Duration::from_secs(1))).await;
        }
    }
}

async fn reconcile_loop(ctx: Arc<Context>) {
    loop {
        if let Err(e) = crate::controller::lifecycle::reconcile(&ctx).await {
            tracing::warn!(error = %e, "reconcile pass failed");
        }
        // Offerings may have become available again; pods still pending get another pass.
        ctx.catalog.unavailable.prune();
        if !ctx.model.cluster().snapshot().pending.is_empty() {
            ctx.wake.provision();
        }
        tokio::select! {
            _ = ctx.wake.reconcile.notified() => {
                // Coalesce bursts of node events.
                tokio::time::sleep(ctx.real(Duration::from_millis(500))).await;
            }
            _ = tokio::time::sleep(ctx.real(ctx.settings.reconcile_interval)) => {}
        }
    }
}
