//! `karpenter-ovhcloud demo`: the user guide, end to end, on the embedded simulators.
//!
//! It starts the simulated OVH API and Kubernetes cluster (EU-WEST-PAR, three zones), installs
//! what the guide installs over the API server's HTTP API (the chart's CRDs, `01` through
//! `envsubst`, the chart rendered for the simulators, `02`), runs the controller with the
//! chart's arguments, ServiceAccount and default policies, then walks the guide's scenarios
//! ([`scenarios::SCENARIOS`]) in order, each waiting (bounded) for what the guide says comes of
//! it, with a live status line on stderr ([`progress`]) and a closing table on stdout
//! ([`summary`]). It fails (exit code 1) when a scenario fails. `--keep` leaves it all running
//! with a kubeconfig and an env file, for the guide's own kubectl commands.

pub(crate) mod manifests;
mod observe;
mod progress;
mod scenarios;
mod summary;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use karpenter_ovhcloud_sim::cluster::{ClusterConfig, SimCluster};
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::api::{condition, OVHNodeClass};
use manifests::{Applier, RenderedController};
use progress::Progress;
use scenarios::{Scenario, Step, Verdict};
use summary::{Outcome, Row};

/// Region of the guide's multi-zone steps.
const REGION: &str = "EU-WEST-PAR";
/// How often the cluster is looked at (real time).
const POLL: Duration = Duration::from_millis(250);
/// Least real time a scenario is given, however high the time scale (the controller's own
/// work does not speed up with it).
const MIN_WAIT: Duration = Duration::from_secs(30);
/// Bound on the install (real time): the API server and the OVHNodeClass becoming Ready.
const INSTALL_WAIT: Duration = Duration::from_secs(60);

/// Arguments of `karpenter-ovhcloud demo`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Guide seconds per real second, shared by the simulators and the controller (20: a node's
    /// 2-minute install takes 6 s and the whole demo about a minute; 1: the guide's real pace).
    #[arg(long, default_value_t = 20.0)]
    time_scale: f64,
    /// Leave the simulators and the controller running after the scenarios, to follow the
    /// guide by hand with kubectl, until Ctrl-C.
    #[arg(long)]
    keep: bool,
    /// Run only these scenarios (comma-separated or repeated), with those they build on:
    /// basic, scale-up, consolidation, small-workload, large-workload, zone-spread, monthly,
    /// anti-affinity; `all` (the default) or `none` (install only, e.g. with --keep).
    #[arg(long, value_delimiter = ',', value_name = "NAME")]
    scenario: Vec<String>,
    /// Directory for the kubeconfig, the env file and the controller's log (created if missing).
    #[arg(long, default_value = ".karpenter-ovhcloud-demo")]
    dir: PathBuf,
    /// Install Karpenter's own NodePool and NodeClaim CRDs from this directory
    /// (`karpenter.sh_nodepools.yaml`, `karpenter.sh_nodeclaims.yaml`, e.g. upstream's
    /// `pkg/apis/crds`) instead of the chart's, as the guide's install step does.
    #[arg(long, value_name = "DIR")]
    karpenter_crds: Option<PathBuf>,
}

/// The status writes (PUT or PATCH of a `/status` subresource) the API server answered.
struct StatusWrites {
    accepted: usize,
    /// 4xx other than 409: the object or the schema refused the write.
    refused: usize,
    /// 409: written over a stale copy, re-read and retried.
    conflicts: usize,
}

fn status_writes(cluster: &SimCluster) -> StatusWrites {
    let mut w = StatusWrites {
        accepted: 0,
        refused: 0,
        conflicts: 0,
    };
    for r in cluster.kube().request_timings() {
        let write = r.method == http::Method::PATCH || r.method == http::Method::PUT;
        if !write || !r.path.ends_with("/status") {
            continue;
        }
        match r.status {
            409 => w.conflicts += 1,
            400..=499 => {
                tracing::warn!(path = %r.path, status = r.status, "status write refused");
                w.refused += 1
            }
            _ => w.accepted += 1,
        }
    }
    w
}

/// Whether this build's controller does disruption (consolidation, drift): the scenario that
/// needs it is checked only then, and reported skipped otherwise. The controller's flags say
/// it: the disruption loop has its own.
pub fn disruption_available() -> bool {
    use clap::Args as _;
    let cmd = crate::controller::Args::augment_args(clap::Command::new("controller"));
    let found = cmd.get_arguments().any(|a| {
        a.get_long()
            .is_some_and(|l| l.starts_with("disruption") || l.starts_with("consolidation"))
    });
    found
}

/// Files the demo writes in `--dir`.
struct Files {
    kubeconfig: PathBuf,
    env: PathBuf,
    log: PathBuf,
    controller_kubeconfig: PathBuf,
}

impl Files {
    fn new(dir: &Path) -> anyhow::Result<Files> {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        let dir = std::fs::canonicalize(dir).with_context(|| format!("{}", dir.display()))?;
        Ok(Files {
            kubeconfig: dir.join("kubeconfig"),
            env: dir.join("env"),
            log: dir.join("controller.log"),
            controller_kubeconfig: dir.join("controller.kubeconfig"),
        })
    }
}

/// The controller, run as a child process of this same binary rather than as a task of the
/// demo: it is the chart's pod, with a process, a log file (served as that pod's `kubectl
/// logs`) and a tracing subscriber of its own, so the demo's stderr stays the progress display;
/// and when it dies the demo sees it, as an operator sees a crashed pod.
struct Controller {
    child: tokio::process::Child,
    log: PathBuf,
    metrics: SocketAddr,
}

/// A loopback address with a port free right now (the controller binds it a moment later).
fn free_loopback() -> anyhow::Result<SocketAddr> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

impl Controller {
    /// Starts `karpenter-ovhcloud controller` with the rendered chart's arguments, against the
    /// simulators: only the OVH endpoint, the listen addresses, the log format (text, for the
    /// reader of `kubectl logs`), the kubeconfig (the chart's ServiceAccount: its RBAC applies)
    /// and the time scale differ from the pod's.
    fn spawn(
        rendered: &RenderedController,
        cluster: &SimCluster,
        files: &Files,
        pod_name: &str,
        scale: f64,
    ) -> anyhow::Result<Controller> {
        let env = cluster.ovh_env();
        let metrics = free_loopback()?;
        let health = free_loopback()?;
        let mut args = Vec::new();
        for a in &rendered.args {
            let replaced = match a.split_once('=') {
                Some(("--ovh-endpoint", _)) => format!("--ovh-endpoint={}", env.endpoint),
                Some(("--metrics-address", _)) => format!("--metrics-address={metrics}"),
                Some(("--health-address", _)) => format!("--health-address={health}"),
                Some(("--log-format", _)) => "--log-format=text".into(),
                Some((flag @ ("--service-name" | "--kube-id" | "--region"), v)) => {
                    let sim = match flag {
                        "--service-name" => &env.service_name,
                        "--kube-id" => &env.kube_id,
                        _ => &env.region,
                    };
                    if v != sim {
                        bail!("the rendered chart says {a} but the simulator has {sim}: re-render charts/rendered");
                    }
                    a.clone()
                }
                _ => a.clone(),
            };
            args.push(replaced);
        }
        args.push(format!(
            "--kubeconfig={}",
            files.controller_kubeconfig.display()
        ));
        args.push(format!("--time-scale={scale}"));

        let token = cluster
            .kube()
            .service_account_token(&rendered.namespace, &rendered.service_account);
        std::fs::write(
            &files.controller_kubeconfig,
            cluster
                .kube()
                .kubeconfig_for(&rendered.service_account, &token, &rendered.namespace),
        )
        .with_context(|| format!("writing {}", files.controller_kubeconfig.display()))?;
        let log = std::fs::File::create(&files.log)
            .with_context(|| format!("creating {}", files.log.display()))?;
        let exe = std::env::current_exe().context("locating this binary")?;
        let child = tokio::process::Command::new(exe)
            .args(&args)
            .env_clear()
            .env("POD_NAME", pod_name)
            .env("RUST_LOG", "info,kube=warn,tower=warn,hyper=warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .context("starting the controller")?;
        Ok(Controller {
            child,
            log: files.log.clone(),
            metrics,
        })
    }

    /// The exit status, once it has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines of its log.
    fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// The running demo.
struct Demo {
    cluster: SimCluster,
    client: kube::Client,
    applier: Applier,
    controller: Controller,
    scale: f64,
    disruption: bool,
    /// The guide's variables with the simulator's values, for `envsubst`.
    vars: Vec<(&'static str, String)>,
}

async fn admin_client(cluster: &SimCluster) -> anyhow::Result<kube::Client> {
    let kc = Kubeconfig::from_yaml(&cluster.kube().kubeconfig_yaml())?;
    let config = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
    Ok(kube::Client::try_from(config)?)
}

/// A guide file as the guide applies it: through `envsubst` when it has placeholders.
fn guide_manifest(file: &str, vars: &[(&str, String)]) -> anyhow::Result<String> {
    manifests::envsubst(manifests::guide_file(file)?, vars)
}

/// The guide's installation (its step 2, with the chart's CRDs as `helm install` applies them,
/// and `02` of its step 3): CRDs, `01`, the rendered chart, `02`.
async fn install(
    applier: &Applier,
    vars: &[(&str, String)],
    rendered: &RenderedController,
    karpenter_crds: Option<&Path>,
    progress: &mut Progress,
) -> anyhow::Result<()> {
    for (file, text) in manifests::CRDS {
        match karpenter_crds.filter(|_| file.starts_with("karpenter.sh_")) {
            Some(dir) => {
                let path = dir.join(file);
                let text = std::fs::read_to_string(&path)
                    .with_context(|| format!("--karpenter-crds: cannot read {}", path.display()))?;
                applier.apply(&text).await?;
                progress.message(&format!("    applied {}", path.display()));
            }
            None => {
                applier.apply(text).await?;
                progress.message(&format!(
                    "    applied charts/karpenter-ovhcloud/crds/{file}"
                ));
            }
        }
    }
    let apply_guide = |file: &'static str| async move {
        applier.apply(&guide_manifest(file, vars)?).await?;
        anyhow::Ok(file)
    };
    let file = apply_guide("01-namespace-secret.yaml").await?;
    progress.message(&format!("    envsubst < {file} | kubectl apply -f -"));
    let objects = applier.apply(manifests::RENDERED_CHART).await?;
    progress.message(&format!(
        "    helm install karpenter-ovhcloud (charts/rendered/karpenter-ovhcloud-sim.yaml: {} objects)",
        objects.len()
    ));
    // The simulated kubelets run no images: this process's controller child stands for the
    // Deployment's pods (its log is served as the pod karpenter-ovhcloud-sim).
    applier
        .scale(&rendered.namespace, "karpenter-ovhcloud", 0)
        .await?;
    progress.message(
        "    the chart's Deployment scaled to 0: the controller runs as a local process (pod karpenter-ovhcloud-sim)",
    );
    let file = apply_guide("02-ovhnodeclass.yaml").await?;
    progress.message(&format!("    envsubst < {file} | kubectl apply -f -"));
    Ok(())
}

impl Demo {
    /// Real time for a guide duration, at least [`MIN_WAIT`].
    fn real_wait(&self, guide: Duration) -> Duration {
        guide.div_f64(self.scale).max(MIN_WAIT)
    }

    async fn step(&self, step: &Step, progress: &mut Progress) -> anyhow::Result<()> {
        match step {
            Step::Guide(file) => {
                let text = manifests::guide_file(file)?;
                if text.contains("${") {
                    self.applier
                        .apply(&manifests::envsubst(text, &self.vars)?)
                        .await?;
                    progress.message(&format!("    envsubst < {file} | kubectl apply -f -"));
                } else {
                    self.applier.apply(text).await?;
                    progress.message(&format!("    kubectl apply -f {file}"));
                }
            }
            Step::Extra(name, yaml) => {
                let objects = self.applier.apply(yaml).await?;
                progress.message(&format!(
                    "    kubectl apply -f - ({name}: {})",
                    objects.join(", ")
                ));
            }
            Step::Scale(deployment, replicas) => {
                self.applier.scale("default", deployment, *replicas).await?;
                progress.message(&format!(
                    "    kubectl scale deployment/{deployment} --replicas={replicas}"
                ));
            }
        }
        Ok(())
    }

    /// Waits until the default OVHNodeClass is Ready (the controller read its credentials and
    /// OVH accepted them).
    async fn wait_nodeclass(&mut self) -> anyhow::Result<()> {
        let api: Api<OVHNodeClass> = Api::all(self.client.clone());
        let deadline = Instant::now() + INSTALL_WAIT;
        loop {
            if let Some(status) = self.controller.exited() {
                bail!(
                    "the controller exited ({status}):\n{}",
                    self.controller.log_tail(20)
                );
            }
            if let Ok(nc) = api.get("default").await {
                let ready = nc
                    .status
                    .as_ref()
                    .is_some_and(|s| condition::is_true(&s.conditions, condition::READY));
                if ready {
                    return Ok(());
                }
            }
            if Instant::now() >= deadline {
                bail!(
                    "OVHNodeClass default not Ready within {INSTALL_WAIT:?}; the controller's log ends with:\n{}",
                    self.controller.log_tail(20)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Runs one scenario to its verdict.
    async fn run_scenario(&mut self, s: &Scenario, progress: &mut Progress) -> Row {
        let mut row = Row::new(s.name, s.action, s.expects);
        progress.message(&format!(
            "==> {}: {} (guide: {})",
            s.name, s.action, s.expects
        ));
        let started = Instant::now();
        // The NodeClaims already there: the others are what this scenario launched.
        let before: BTreeSet<String> =
            match observe::observe(&self.client, self.cluster.ovh()).await {
                Ok(obs) => obs.claims.into_iter().map(|c| c.name).collect(),
                Err(e) => {
                    row.outcome = Outcome::Fail(format!("{e:#}"));
                    return row;
                }
            };
        for step in s.steps {
            if let Err(e) = self.step(step, progress).await {
                row.outcome = Outcome::Fail(format!("{e:#}"));
                return row;
            }
        }
        if s.needs_disruption && !self.disruption {
            progress.message("    skipped: this controller has no disruption (consolidation) yet");
            row.outcome = Outcome::Skipped("disruption not available".into());
            return row;
        }
        let wait = self.real_wait(s.timeout);
        let deadline = started + wait;
        let mut last;
        loop {
            if let Some(status) = self.controller.exited() {
                row.outcome = Outcome::Fail(format!(
                    "the controller exited ({status}); see {}",
                    self.controller.log.display()
                ));
                return row;
            }
            match observe::observe(&self.client, self.cluster.ovh()).await {
                Ok(obs) => {
                    progress.update(s.name, started.elapsed(), &obs);
                    match scenarios::evaluate(s, &obs) {
                        Verdict::Pass => {
                            row.ready_in = Some(started.elapsed());
                            fill(&mut row, s, &obs, &before);
                            row.outcome = Outcome::Pass;
                            progress.message(&format!(
                                "    pass: {} ({} idle), {}",
                                row.flavors,
                                row.idle,
                                summary::duration_text(started.elapsed(), self.scale)
                            ));
                            return row;
                        }
                        Verdict::Fail(why) => {
                            fill(&mut row, s, &obs, &before);
                            progress.message(&format!("    FAIL: {why}"));
                            row.outcome = Outcome::Fail(why);
                            return row;
                        }
                        Verdict::Waiting(what) => last = what,
                    }
                }
                Err(e) => last = format!("{e:#}"),
            }
            if Instant::now() >= deadline {
                let why = format!(
                    "not within {} (real): still waiting for {last}",
                    summary::duration_text(wait, self.scale)
                );
                progress.message(&format!("    FAIL: {why}"));
                row.outcome = Outcome::Fail(why);
                return row;
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

/// The row's measures: the nodes the scenario launched (NodeClaims not in `before`), and how
/// many of them host none of its workload's pods; when it launched none (consolidation), the
/// nodes its workload runs on.
fn fill(row: &mut Row, s: &Scenario, obs: &observe::Observation, before: &BTreeSet<String>) {
    let pods = obs.workload("default", s.workload.app);
    let placement: Vec<_> = pods
        .into_iter()
        .filter_map(|p| p.node.as_deref().and_then(|n| obs.node(n)).map(|n| (p, n)))
        .collect();
    let hosts = scenarios::hosts(&placement);
    let launched: Vec<_> = obs
        .claims
        .iter()
        .filter(|c| !before.contains(&c.name))
        .collect();
    let short_zone = |z: &str| z.rsplit('-').next().unwrap_or_default().to_string();
    let zones: BTreeSet<String>;
    if launched.is_empty() {
        row.flavors = scenarios::flavor_counts(hosts.iter().map(|n| n.flavor.as_str()));
        row.nodes = hosts.len();
        zones = hosts.iter().map(|n| short_zone(&n.zone)).collect();
        row.cost = hosts.iter().map(|n| obs.node_cost(&n.name)).sum();
    } else {
        row.flavors = scenarios::flavor_counts(launched.iter().map(|c| c.flavor.as_str()));
        row.nodes = launched.len();
        row.idle = launched
            .iter()
            .filter(|c| !hosts.iter().any(|h| Some(&h.name) == c.node.as_ref()))
            .count();
        zones = launched.iter().map(|c| short_zone(&c.zone)).collect();
        row.cost = launched.iter().map(|c| obs.claim_cost(c)).sum();
    }
    row.zones = zones.into_iter().collect::<Vec<_>>().join(",");
}

/// What `--keep` prints: where everything is and the guide's commands to run by hand.
fn keep_instructions(demo: &Demo, files: &Files, log_pod: &str) -> String {
    let ovh = demo.cluster.ovh();
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    line("The simulated cluster and the controller keep running; Ctrl-C stops them.".into());
    line(format!(
        "  Kubernetes API: {}",
        demo.cluster.kube().base_url()
    ));
    line(format!(
        "  OVH API:        {} (state: http://{}/_sim/state)",
        ovh.base_url(),
        ovh.addr()
    ));
    line(format!(
        "  controller:     pid {}, log {}, metrics http://{}/metrics",
        demo.controller.child.id().unwrap_or_default(),
        files.log.display(),
        demo.controller.metrics
    ));
    line(format!(
        "  kubeconfig:     {}\n  env file:       {} (KUBECONFIG, OVH_*)",
        files.kubeconfig.display(),
        files.env.display()
    ));
    line("Follow the guide from another terminal, in the repository:".into());
    for cmd in [
        format!("source {}", files.env.display()),
        "kubectl get nodes -L topology.kubernetes.io/zone -L node.kubernetes.io/instance-type".into(),
        "kubectl get nodeclaims -o wide".into(),
        "kubectl get nodepools".into(),
        "kubectl describe ovhnodeclass default".into(),
        "kubectl apply -f demo/03-nodepool-basic.yaml -f demo/04-inflate.yaml".into(),
        "kubectl scale deployment/inflate --replicas=10".into(),
        "kubectl get pods -o wide".into(),
        "kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud".into(),
        "kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud | grep -i consolidat".into(),
        "kubectl get events -n karpenter --sort-by='.lastTimestamp'".into(),
        "envsubst < demo/10-ovhnodeclass-monthly.yaml | kubectl apply -f -".into(),
        "karpenter-ovhcloud ovh check    # the OVH side, with the env file's OVH_* variables".into(),
    ] {
        line(format!("  {cmd}"));
    }
    line(format!(
        "(`kubectl logs` of pod {log_pod} serves {}.)",
        files.log.display()
    ));
    out
}

/// Runs `karpenter-ovhcloud demo`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.time_scale.is_finite() && args.time_scale > 0.0,
        "--time-scale must be a positive number"
    );
    let selected = scenarios::select(&args.scenario)?;
    let rendered = manifests::rendered_controller()?;
    let files = Files::new(&args.dir)?;
    let disruption = disruption_available();
    let mut progress = Progress::new();
    let started = Instant::now();
    progress.message(&format!(
        "karpenter-ovhcloud demo: the guide on a simulated OVHcloud MKS cluster in {REGION}, time scale {}x",
        args.time_scale
    ));

    let cluster = SimCluster::start(ClusterConfig::new(REGION, args.time_scale)).await?;
    cluster.kube().write_kubeconfig(&files.kubeconfig)?;
    cluster.write_env_file(&files.env, Some(&files.kubeconfig))?;
    std::fs::write(&files.log, "")?;
    let log_pod = cluster.serve_controller_log(&files.log)?;
    cluster.wait_ready(INSTALL_WAIT).await?;
    progress.message(&format!(
        "==> install: Kubernetes API {}, OVH API {}",
        cluster.kube().base_url(),
        cluster.ovh().base_url()
    ));
    let client = admin_client(&cluster).await?;
    let applier = Applier::new(client.clone());
    // The guide's exported variables (and OVH_ENDPOINT), with the simulated project's values.
    let vars = cluster.env();
    install(
        &applier,
        &vars,
        &rendered,
        args.karpenter_crds.as_deref(),
        &mut progress,
    )
    .await?;
    let controller = Controller::spawn(&rendered, &cluster, &files, &log_pod, args.time_scale)?;
    let mut demo = Demo {
        cluster,
        client,
        applier,
        controller,
        scale: args.time_scale,
        disruption,
        vars,
    };
    demo.wait_nodeclass().await?;
    progress.message(&format!(
        "    controller running (log {}); OVHNodeClass default Ready",
        files.log.display()
    ));

    let mut rows = Vec::new();
    let mut interrupted = false;
    for s in &selected {
        tokio::select! {
            row = demo.run_scenario(s, &mut progress) => rows.push(row),
            _ = tokio::signal::ctrl_c() => { interrupted = true; break; }
        }
    }
    progress.finish();
    let failed = rows
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail(_)))
        .count();
    {
        let mut out = std::io::stdout().lock();
        if !rows.is_empty() {
            write!(out, "\n{}", summary::render(&rows, args.time_scale))?;
        }
        let writes = status_writes(&demo.cluster);
        writeln!(
            out,
            "Status writes: {} accepted, {} refused by the API server, {} conflicts retried.",
            writes.accepted, writes.refused, writes.conflicts
        )?;
        writeln!(
            out,
            "Total {:.0}s. Kubeconfig {}, env file {}, controller log {}.",
            started.elapsed().as_secs_f64(),
            files.kubeconfig.display(),
            files.env.display(),
            files.log.display()
        )?;
        out.flush()?;
    }
    if interrupted {
        demo.controller.stop().await;
        bail!("interrupted");
    }
    if args.keep {
        {
            let mut out = std::io::stdout().lock();
            write!(out, "\n{}", keep_instructions(&demo, &files, &log_pod))?;
            out.flush()?;
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            status = demo.controller.child.wait() => {
                eprintln!("the controller exited ({status:?}); see {}", files.log.display());
            }
        }
    }
    demo.controller.stop().await;
    if failed > 0 {
        bail!("{failed} scenario(s) failed");
    }
    Ok(())
}
