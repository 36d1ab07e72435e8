//! Chaos on the full simulated cluster (kube-scheduler, kubelets, Deployment controller, MKS):
//! two controller processes elect a leader on the Lease; a seeded run cycles four phases
//! (scale-up, scale-down, drift replacement, consolidation replacement) and in each kills the
//! leader with SIGKILL at random moments; the standby must take the Lease over (checked: who
//! holds it), the killed replica comes back right away or after a random delay. Once per cycle
//! the simulated API server restarts, and once its history is compacted and every watch cut
//! (clients resume with 410 Gone). After each phase the world must converge to the invariants
//! of issue 12: OVH nodes in `karpenter-*` pools == live NodeClaims == the Nodes they back; no
//! orphan or empty `karpenter-*` pool; every pool within OVH's rules; desiredNodes == claims;
//! every pod Running, or Pending with the controller's FailedScheduling Event; no empty node;
//! and the phase's own goal (drifted nodes replaced, the under-used b3-32 replaced by a b3-8).
//!
//! Short form in CI (`CHAOS_KILLS`, default 8: one cycle); long form, figures in
//! RELIABILITY.md: `CHAOS_KILLS=120 CHAOS_SEED=<n> cargo nextest run -p karpenter-ovhcloud
//! --test it --profile chaos-long --no-capture -E 'test(/^chaos::kill/)'`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::events::v1::Event;
use karpenter_ovhcloud::api::{labels, NodeClaim, NodePool};
use karpenter_ovhcloud_sim::cluster::SimCluster;
use karpenter_ovhcloud_sim::ovh::Node as OvhNode;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};
use tokio::process::Child;

use crate::controller_common::cluster::nodepool;
use crate::controller_common::{deploy, guide_sim_cluster, sim_cluster_controller};

/// The Lease the replicas elect on (the controller's default name).
const LEASE: &str = "karpenter-ovhcloud-leader";
/// Lease duration of the replicas (real time): a killed leader is replaced after this.
const LEASE_SECS: u64 = 2;
/// Longest wait for the world to converge after a phase (real time; 60 guide minutes).
const CONVERGE_SECS: u64 = 60;
/// The pool-name rule OVH enforces, and the prefix of the controller's pools.
const POOL_PREFIX: &str = "karpenter-";
/// OVH: at most 5 nodes in an anti-affinity pool, 100 in any pool.
const MAX_ANTI_AFFINITY: u64 = 5;
const MAX_NODES: u64 = 100;

/// A small deterministic generator (xorshift), seeded by `CHAOS_SEED`.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn millis(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max))
    }
}

/// What a run counts (the summary line).
#[derive(Debug, Default)]
struct Tally {
    kills: usize,
    phases: usize,
    api_restarts: usize,
    watch_cuts: usize,
    takeovers: usize,
    /// Replicas that exited on their own (e.g. a Lease lost to a slow renewal) and came back.
    self_exits: usize,
    /// Consolidation phases whose small pod sat on the b3-32 (a replacement, not a removal).
    replacements: usize,
    violations: usize,
    leaked: usize,
    lost: usize,
}

/// One controller process.
struct Replica {
    identity: String,
    child: Child,
    log: PathBuf,
}

/// The four phases of a cycle.
#[derive(Clone, Copy, Debug)]
enum Phase {
    ScaleUp,
    ScaleDown,
    Drift,
    Consolidation,
}

const CYCLE: [Phase; 4] = [
    Phase::ScaleUp,
    Phase::ScaleDown,
    Phase::Drift,
    Phase::Consolidation,
];

/// What the converged world must look like besides the invariants.
#[derive(Clone, Debug)]
struct Expect {
    /// demo-pool's current instance types (drift goal).
    demo_types: Vec<String>,
    /// multi-flavor only runs small pods: its nodes must be b3-8 (consolidation goal).
    multi_flavor_small_only: bool,
}

/// Everything the invariants look at, read at one moment.
struct Observed {
    /// `karpenter-*` OVH pools and their nodes.
    pools: Vec<(Value, Vec<OvhNode>)>,
    claims: Vec<NodeClaim>,
    nodes: Vec<Node>,
    pods: Vec<Pod>,
    deployments: Vec<Deployment>,
    events: Vec<Event>,
}

/// What a check found.
#[derive(Debug, Default)]
struct Verdict {
    violations: Vec<String>,
    leaked: usize,
    lost: usize,
}

fn valid_pool_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

fn pod_running(p: &Pod) -> bool {
    p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
}

fn owned_by_daemonset(p: &Pod) -> bool {
    p.owner_references().iter().any(|o| o.kind == "DaemonSet")
}

/// The invariants of issue 12 and the phase's goal over one observation.
fn check(o: &Observed, expect: &Expect) -> Verdict {
    let mut v = Verdict::default();
    let live: Vec<&NodeClaim> = o
        .claims
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_none())
        .collect();
    for c in o
        .claims
        .iter()
        .filter(|c| c.metadata.deletion_timestamp.is_some())
    {
        v.violations
            .push(format!("NodeClaim {} still terminating", c.name_any()));
    }
    // OVH pools: rules, not empty, desiredNodes == claims; every node backed by one claim.
    let mut ovh_ids: HashMap<String, (String, String)> = HashMap::new();
    for (pool, nodes) in &o.pools {
        let name = pool["name"].as_str().unwrap_or_default();
        let desired = pool["desiredNodes"].as_u64().unwrap_or(0);
        let (min, max) = (
            pool["minNodes"].as_u64().unwrap_or(0),
            pool["maxNodes"].as_u64().unwrap_or(0),
        );
        if !valid_pool_name(name) {
            v.violations.push(format!("pool {name}: invalid name"));
        }
        if !(min <= desired && desired <= max && max <= MAX_NODES) {
            v.violations.push(format!(
                "pool {name}: min {min} desired {desired} max {max}"
            ));
        }
        if pool["antiAffinity"] == json!(true) && max > MAX_ANTI_AFFINITY {
            v.violations
                .push(format!("pool {name}: anti-affinity with maxNodes {max}"));
        }
        let active: Vec<&OvhNode> = nodes
            .iter()
            .filter(|n| n.status != "DELETING" && n.status != "DELETED")
            .collect();
        if active.is_empty() {
            v.violations.push(format!("pool {name}: empty"));
            v.leaked += 1;
        }
        if active.len() != nodes.len() {
            v.violations
                .push(format!("pool {name}: nodes still being deleted"));
        }
        let claims = live
            .iter()
            .filter(|c| c.labels().get(labels::OVH_POOL).map(String::as_str) == Some(name))
            .count() as u64;
        if desired != claims {
            v.violations.push(format!(
                "pool {name}: desiredNodes {desired} but {claims} NodeClaims"
            ));
        }
        for n in active {
            let backers = live
                .iter()
                .filter(|c| c.labels().get(labels::OVH_NODE_ID) == Some(&n.id))
                .count();
            if backers != 1 {
                v.violations.push(format!(
                    "OVH node {} ({name}) backed by {backers} NodeClaims",
                    n.name
                ));
                if backers == 0 {
                    v.leaked += 1;
                }
            }
            ovh_ids.insert(n.id.clone(), (name.to_string(), n.instance_id.clone()));
        }
    }
    // Every live claim: its OVH node in its pool, its Node registered with that instance.
    let nodes: HashMap<String, &Node> = o.nodes.iter().map(|n| (n.name_any(), n)).collect();
    for c in &live {
        let name = c.name_any();
        let pool = c
            .labels()
            .get(labels::OVH_POOL)
            .cloned()
            .unwrap_or_default();
        let Some((ovh_pool, instance)) = c
            .labels()
            .get(labels::OVH_NODE_ID)
            .and_then(|id| ovh_ids.get(id))
        else {
            v.violations
                .push(format!("NodeClaim {name}: no live OVH node"));
            continue;
        };
        if *ovh_pool != pool {
            v.violations.push(format!(
                "NodeClaim {name}: node in {ovh_pool}, label says {pool}"
            ));
        }
        let status = c.status.clone().unwrap_or_default();
        let provider = format!("{}{instance}", labels::PROVIDER_ID_PREFIX);
        let node = nodes.get(&status.node_name);
        let node_provider = node
            .and_then(|n| n.spec.as_ref())
            .and_then(|s| s.provider_id.clone());
        if status.provider_id != provider || node_provider.as_deref() != Some(&provider) {
            v.violations.push(format!(
                "NodeClaim {name}: Node {:?} does not back it",
                status.node_name
            ));
        }
        if !c.is_condition_true("Initialized") {
            v.violations
                .push(format!("NodeClaim {name}: not initialized"));
        }
        let nodepool = c.labels().get(labels::NODEPOOL).map(String::as_str);
        let flavor = c.labels().get(labels::INSTANCE_TYPE).cloned();
        if nodepool == Some("demo-pool")
            && !flavor
                .as_ref()
                .is_some_and(|f| expect.demo_types.contains(f))
        {
            v.violations.push(format!(
                "NodeClaim {name}: {flavor:?} not in demo-pool's {:?} (not replaced after drift)",
                expect.demo_types
            ));
        }
        if nodepool == Some("multi-flavor")
            && expect.multi_flavor_small_only
            && flavor.as_deref() != Some("b3-8")
        {
            v.violations.push(format!(
                "NodeClaim {name}: a {flavor:?} for small pods only (not consolidated)"
            ));
        }
        if c.is_condition_true("Drifted") {
            v.violations.push(format!("NodeClaim {name}: Drifted"));
        }
    }
    // Nodes of `karpenter-*` pools: each backed by a live claim and running a pod.
    let claimed: Vec<&str> = live
        .iter()
        .filter_map(|c| c.status.as_ref().map(|s| s.node_name.as_str()))
        .collect();
    for n in &o.nodes {
        let name = n.name_any();
        if !n
            .labels()
            .get("nodepool")
            .is_some_and(|p| p.starts_with(POOL_PREFIX))
        {
            continue;
        }
        if !claimed.contains(&name.as_str()) {
            v.violations
                .push(format!("Node {name}: no NodeClaim backs it"));
        }
        let busy = o.pods.iter().any(|p| {
            p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())
                && p.metadata.deletion_timestamp.is_none()
                && !owned_by_daemonset(p)
        });
        if !busy {
            let spec = n.spec.clone().unwrap_or_default();
            let taints: Vec<String> = spec
                .taints
                .unwrap_or_default()
                .into_iter()
                .map(|t| format!("{}:{}", t.key, t.effect))
                .collect();
            v.violations.push(format!(
                "Node {name}: empty (taints {taints:?}, unschedulable {:?}, labels {:?})",
                spec.unschedulable,
                n.labels()
            ));
        }
    }
    // Pods: Running, or Pending with the controller's reason; each Deployment has them all.
    let explained = |pod: &str| {
        o.events.iter().any(|e| {
            e.reason.as_deref() == Some("FailedScheduling")
                && e.reporting_controller.as_deref() == Some("karpenter-ovhcloud")
                && e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(pod)
        })
    };
    for d in &o.deployments {
        let app = d.name_any();
        let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1) as usize;
        let pods: Vec<&Pod> = o
            .pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
            .filter(|p| p.labels().get("app") == Some(&app))
            .collect();
        let mut fine = 0;
        for p in &pods {
            if pod_running(p) || explained(&p.name_any()) {
                fine += 1;
            } else {
                // What the kube-scheduler last said, for the diagnosis.
                let scheduled = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"))
                    .map(|c| format!("{:?} {:?}", c.reason, c.message));
                v.violations.push(format!(
                    "pod {}: {:?} without a reason (PodScheduled: {scheduled:?})",
                    p.name_any(),
                    p.status.as_ref().and_then(|s| s.phase.clone())
                ));
            }
        }
        if pods.len() != want {
            v.violations
                .push(format!("Deployment {app}: {} pods for {want}", pods.len()));
        }
        v.lost += want.saturating_sub(fine);
    }
    v
}

/// The run.
struct Chaos {
    cluster: SimCluster,
    client: Client,
    kubeconfig: tempfile::NamedTempFile,
    logdir: tempfile::TempDir,
    replicas: Vec<Replica>,
    spawned: usize,
    rng: Rng,
    tally: Tally,
    expect: Expect,
    cycle: usize,
}

/// Retries a harness write a few times: the API server may be restarting.
async fn retry<F, Fut, T>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, kube::Error>>,
{
    let mut last = None;
    for _ in 0..50 {
        match f().await {
            Ok(v) => return v,
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("{what}: {last:?}");
}

impl Chaos {
    async fn start(seed: u64) -> Chaos {
        let (cluster, kubeconfig, client) = guide_sim_cluster().await;
        for np in [
            nodepool("demo-pool", &["b3-8", "b3-16"], json!({})),
            nodepool(
                "multi-flavor",
                &["b3-8", "b3-16", "b3-32", "b3-64"],
                json!({"spec": {"template": {"metadata": {"labels": {"workload-type": "multi-flavor"}}}}}),
            ),
        ] {
            Api::<NodePool>::all(client.clone())
                .create(&PostParams::default(), &serde_json::from_value(np).unwrap())
                .await
                .unwrap();
        }
        let mut chaos = Chaos {
            cluster,
            client,
            kubeconfig,
            logdir: tempfile::tempdir().unwrap(),
            replicas: Vec::new(),
            spawned: 0,
            rng: Rng(seed | 1),
            tally: Tally::default(),
            expect: Expect {
                demo_types: vec!["b3-8".into(), "b3-16".into()],
                multi_flavor_small_only: true,
            },
            cycle: 0,
        };
        let demo = json!({"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"}});
        deploy(
            &chaos.client,
            "inflate",
            0,
            "500m",
            "512Mi",
            demo.clone(),
            json!({}),
        )
        .await;
        // Bigger than any flavor: stays Pending, with the controller's FailedScheduling Event.
        deploy(&chaos.client, "too-big", 1, "200", "1Gi", demo, json!({})).await;
        chaos.spawn();
        chaos.spawn();
        chaos
    }

    /// Starts a replica (a new identity, as a new pod would have).
    fn spawn(&mut self) {
        self.spawned += 1;
        let identity = format!("chaos-{}", self.spawned);
        let log = self.logdir.path().join(format!("{identity}.log"));
        let lease = format!("{LEASE_SECS}s");
        let child = sim_cluster_controller(
            &self.cluster,
            self.kubeconfig.path(),
            &log,
            &[
                "--leader-elect",
                "true",
                "--lease-duration",
                &lease,
                "--identity",
                &identity,
            ],
        )
        .env("RUST_LOG", "info,kube=warn,tower=warn,hyper=warn")
        .spawn()
        .expect("start the controller");
        self.replicas.push(Replica {
            identity,
            child,
            log,
        });
    }

    /// Replaces replicas that exited on their own (not those the harness killed: they are
    /// already out of the list).
    fn respawn_exited(&mut self) {
        let before = self.replicas.len();
        self.replicas
            .retain_mut(|r| matches!(r.child.try_wait(), Ok(None)));
        for _ in self.replicas.len()..before {
            self.tally.self_exits += 1;
            self.spawn();
        }
    }

    /// The Lease's holder, if it is a live replica other than `not`.
    async fn holder(&mut self, not: Option<&str>) -> Option<String> {
        let lease = Api::<Lease>::namespaced(self.client.clone(), "karpenter")
            .get_opt(LEASE)
            .await
            .ok()??;
        let holder = lease.spec?.holder_identity?;
        let alive = self
            .replicas
            .iter_mut()
            .any(|r| r.identity == holder && matches!(r.child.try_wait(), Ok(None)));
        (alive && Some(holder.as_str()) != not).then_some(holder)
    }

    /// Waits (bounded) for a live replica other than `not` to hold the Lease.
    async fn leader(&mut self, not: Option<&str>) -> Option<String> {
        let deadline = Instant::now() + Duration::from_secs(LEASE_SECS * 4 + 20);
        while Instant::now() < deadline {
            self.respawn_exited();
            if let Some(h) = self.holder(not).await {
                return Some(h);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }

    /// SIGKILL of the leader; checks the standby takes the Lease over; the killed replica
    /// comes back at once (racing the standby) or after the takeover and a random delay.
    async fn kill_leader(&mut self, violations: &mut Vec<String>) {
        let Some(leader) = self.leader(None).await else {
            violations.push("no leader before a kill".into());
            return;
        };
        let i = self
            .replicas
            .iter()
            .position(|r| r.identity == leader)
            .unwrap();
        let mut dead = self.replicas.remove(i);
        dead.child.start_kill().unwrap();
        let _ = dead.child.wait().await;
        self.tally.kills += 1;
        let standby = self.replicas.first().map(|r| r.identity.clone());
        let at_once = self.rng.below(2) == 0;
        if at_once {
            self.spawn();
        }
        match self.leader(Some(&leader)).await {
            Some(new) if at_once || Some(&new) == standby.as_ref() => self.tally.takeovers += 1,
            Some(new) => violations.push(format!(
                "after killing {leader}, {new} holds the Lease, not the standby {standby:?}"
            )),
            None => violations.push(format!("nobody took the Lease over from {leader}")),
        }
        if !at_once {
            tokio::time::sleep(self.rng.millis(1500)).await;
            self.spawn();
        }
    }

    async fn observe(&self) -> Option<Observed> {
        let pools = self.cluster.ovh().state().projects[0].clusters[0]
            .pools
            .iter()
            .filter(|p| {
                p.pool["name"]
                    .as_str()
                    .is_some_and(|n| n.starts_with(POOL_PREFIX))
            })
            .map(|p| (p.pool.clone(), p.nodes.clone()))
            .collect();
        let lp = ListParams::default();
        let c = &self.client;
        Some(Observed {
            pools,
            claims: Api::<NodeClaim>::all(c.clone()).list(&lp).await.ok()?.items,
            nodes: Api::<Node>::all(c.clone()).list(&lp).await.ok()?.items,
            pods: Api::<Pod>::namespaced(c.clone(), "default")
                .list(&lp)
                .await
                .ok()?
                .items,
            deployments: Api::<Deployment>::namespaced(c.clone(), "default")
                .list(&lp)
                .await
                .ok()?
                .items,
            events: Api::<Event>::namespaced(c.clone(), "default")
                .list(&lp)
                .await
                .ok()?
                .items,
        })
    }

    /// Waits (bounded) until the invariants hold; counts what still fails at the deadline.
    async fn converge(&mut self, phase: Phase, mut violations: Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(CONVERGE_SECS);
        let started = Instant::now();
        let verdict = loop {
            self.respawn_exited();
            let verdict = match self.observe().await {
                Some(o) => check(&o, &self.expect),
                None => Verdict {
                    violations: vec!["cannot read the cluster".into()],
                    ..Verdict::default()
                },
            };
            if verdict.violations.is_empty() && self.holder(None).await.is_some() {
                break verdict;
            }
            if Instant::now() > deadline {
                break verdict;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        violations.extend(verdict.violations);
        self.tally.violations += violations.len();
        self.tally.leaked += verdict.leaked;
        self.tally.lost += verdict.lost;
        let claims = self.observe().await.map_or(0, |o| {
            o.claims
                .iter()
                .filter(|c| c.metadata.deletion_timestamp.is_none())
                .count()
        });
        println!(
            "chaos phase {} {phase:?}: converged in {:.1}s, {claims} NodeClaims, kills so far {}, violations {violations:?}",
            self.tally.phases,
            started.elapsed().as_secs_f64(),
            self.tally.kills
        );
        if !violations.is_empty() {
            for r in &self.replicas {
                let log = std::fs::read_to_string(&r.log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(40).collect();
                eprintln!("--- {} (last lines)", r.identity);
                for l in tail.into_iter().rev() {
                    eprintln!("{l}");
                }
            }
        }
    }

    async fn scale(&self, name: &str, replicas: i32) {
        retry("scaling", || async {
            Api::<Deployment>::namespaced(self.client.clone(), "default")
                .patch(
                    name,
                    &PatchParams::default(),
                    &Patch::Merge(json!({"spec": {"replicas": replicas}})),
                )
                .await
        })
        .await;
    }

    /// Running pods of `app` and the flavor of the node each runs on.
    async fn running_on(&self, app: &str) -> Vec<String> {
        let Some(o) = self.observe().await else {
            return Vec::new();
        };
        o.pods
            .iter()
            .filter(|p| p.labels().get("app").map(String::as_str) == Some(app) && pod_running(p))
            .filter_map(|p| p.spec.as_ref()?.node_name.clone())
            .filter_map(|n| {
                o.nodes
                    .iter()
                    .find(|node| node.name_any() == n)?
                    .labels()
                    .get(labels::INSTANCE_TYPE)
                    .cloned()
            })
            .collect()
    }

    /// Makes the phase's change; returns violations found while preparing it.
    async fn trigger(&mut self, phase: Phase) -> Vec<String> {
        let mut violations = Vec::new();
        match phase {
            Phase::ScaleUp => {
                let n = 4 + self.rng.below(9) as i32;
                self.scale("inflate", n).await;
            }
            Phase::ScaleDown => {
                let n = 1 + self.rng.below(3) as i32;
                self.scale("inflate", n).await;
                // The last cycle's small pod goes too: its b3-8 empties and must be removed
                // before this cycle's pair arrives (so the pair shares a fresh b3-32).
                if self.cycle > 0 {
                    self.scale(&format!("small-{}", self.cycle - 1), 0).await;
                }
            }
            Phase::Drift => {
                // Every demo-pool node drifts: its flavor leaves the requirements.
                let next = if self.expect.demo_types == ["b3-16"] {
                    "b3-8"
                } else {
                    "b3-16"
                };
                self.expect.demo_types = vec![next.to_string()];
                let patch = json!({"spec": {"template": {"spec": {"requirements": [
                    {"key": labels::INSTANCE_TYPE, "operator": "In", "values": [next]}]}}}});
                retry("drifting demo-pool", || async {
                    Api::<NodePool>::all(self.client.clone())
                        .patch("demo-pool", &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                })
                .await;
            }
            Phase::Consolidation => {
                // A 6-CPU pod and a small one launched together share a b3-32; once the big
                // one goes, the b3-32 is under-used and must be replaced by a b3-8.
                let c = self.cycle;
                self.expect.multi_flavor_small_only = false;
                let sel = json!({"nodeSelector": {"karpenter.sh/nodepool": "multi-flavor"}});
                deploy(
                    &self.client,
                    &format!("large-{c}"),
                    1,
                    "6",
                    "24Gi",
                    sel.clone(),
                    json!({}),
                )
                .await;
                deploy(
                    &self.client,
                    &format!("small-{c}"),
                    1,
                    "500m",
                    "1Gi",
                    sel,
                    json!({}),
                )
                .await;
                let deadline = Instant::now() + Duration::from_secs(CONVERGE_SECS);
                let small = loop {
                    let large = self.running_on(&format!("large-{c}")).await;
                    let small = self.running_on(&format!("small-{c}")).await;
                    if large.len() == 1 && small.len() == 1 {
                        break small;
                    }
                    if Instant::now() > deadline {
                        violations.push(format!("large-{c} and small-{c} never both ran"));
                        break small;
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                };
                if small.first().map(String::as_str) == Some("b3-32") {
                    self.tally.replacements += 1;
                }
                self.scale(&format!("large-{c}"), 0).await;
                self.expect.multi_flavor_small_only = true;
            }
        }
        violations
    }

    /// Restarts the API server (down 0.3-1.3 s, every connection and watch cut).
    async fn restart_api(&mut self) {
        let down = Duration::from_millis(300) + self.rng.millis(1000);
        self.cluster.kube().restart(down).await.unwrap();
        self.tally.api_restarts += 1;
    }

    /// Cuts every watch and compacts the history past what any of them saw: resuming clients
    /// get 410 Gone and relist. The write between the cut and the compaction puts every cut
    /// watch behind the compacted revision; without it a watch that had seen the latest
    /// revision resumed normally, and whether any got 410 depended on the cluster's activity
    /// at that instant (the final `gone >= 1` failed now and then under load).
    fn cut_watches(&mut self) {
        let kube = self.cluster.kube();
        kube.drop_watches();
        let store = kube.store();
        let configmaps = store
            .def("", "v1", "configmaps")
            .expect("the simulated API server serves ConfigMaps");
        let marker = json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": format!("chaos-watch-cut-{}", self.tally.watch_cuts)}});
        store
            .create(&configmaps, "karpenter", marker, &Default::default())
            .expect("a write after the cut");
        store.compact();
        self.tally.watch_cuts += 1;
    }

    /// One phase: its change, `kills` kills of the leader at random moments (and, when told,
    /// an API server restart and a watch cut at random points among them), then convergence.
    async fn phase(&mut self, phase: Phase, kills: usize, restart_api: bool, cut: bool) {
        self.tally.phases += 1;
        let mut violations = self.trigger(phase).await;
        let restart_at = self.rng.below(kills as u64 + 1) as usize;
        let cut_at = self.rng.below(kills as u64 + 1) as usize;
        for k in 0..=kills {
            tokio::time::sleep(self.rng.millis(2000)).await;
            if restart_api && k == restart_at {
                self.restart_api().await;
            }
            if cut && k == cut_at {
                self.cut_watches();
            }
            if k < kills {
                self.kill_leader(&mut violations).await;
            }
        }
        self.converge(phase, violations).await;
    }
}

impl Drop for Chaos {
    fn drop(&mut self) {
        for r in &mut self.replicas {
            let _ = r.child.start_kill();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_nine_through_every_phase_with_a_standby_and_api_restarts() {
    let kills: usize = std::env::var("CHAOS_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed_1234_abcd_0001);
    let started = Instant::now();
    let mut chaos = Chaos::start(seed).await;
    // Whole cycles, about three kills per phase; kills spread evenly over the phases.
    let cycles = kills.div_ceil(12).max(1);
    let phases = cycles * CYCLE.len();
    for c in 0..cycles {
        chaos.cycle = c;
        let restart = chaos.rng.below(4) as usize;
        let cut = chaos.rng.below(4) as usize;
        for (i, phase) in CYCLE.into_iter().enumerate() {
            let q = c * CYCLE.len() + i;
            let n = kills * (q + 1) / phases - kills * q / phases;
            chaos.phase(phase, n, i == restart, i == cut).await;
        }
    }
    let gone = chaos.cluster.kube().gone_watches();
    let t = &chaos.tally;
    println!(
        "chaos summary: seed={seed} kills={} phases={} api_restarts={} watch_cuts={} gone_410={gone} takeovers={} self_exits={} replacements={} violations={} leaked={} lost={} wall={:.1}s",
        t.kills,
        t.phases,
        t.api_restarts,
        t.watch_cuts,
        t.takeovers,
        t.self_exits,
        t.replacements,
        t.violations,
        t.leaked,
        t.lost,
        started.elapsed().as_secs_f64()
    );
    if t.violations + t.leaked + t.lost > 0 {
        // The replicas' logs outlive a failed run, for the diagnosis.
        let logs = std::mem::replace(&mut chaos.logdir, tempfile::tempdir().unwrap()).keep();
        println!("chaos: controller logs kept in {}", logs.display());
    }
    let t = &chaos.tally;
    assert_eq!(t.kills, kills, "every planned kill happened");
    assert_eq!(t.takeovers, kills, "every killed leader was replaced");
    assert!(t.api_restarts >= 1 && t.watch_cuts >= 1);
    assert!(gone >= 1, "a cut watch resumed into 410 Gone");
    assert_eq!((t.violations, t.leaked, t.lost), (0, 0, 0), "{t:?}");
}

/// The invariant checker finds each kind of breakage in an otherwise consistent world: an
/// orphan OVH node, an empty pool, desiredNodes off, a pool breaking OVH's rules, a claim
/// without its Node, a pod Pending without the controller's reason, a missing pod, a node of
/// a flavor drift should have replaced.
#[test]
fn the_checker_sees_every_kind_of_breakage() {
    let pool = |name: &str, desired: u64| {
        json!({"name": name, "desiredNodes": desired, "minNodes": 0, "maxNodes": 100,
               "antiAffinity": false})
    };
    let ovh_node = |id: &str, pool: &str| -> OvhNode {
        serde_json::from_value(
            json!({"id": id, "projectId": "p", "instanceId": format!("i-{id}"),
            "nodePoolId": pool, "name": format!("node-{id}"), "flavor": "b3-8", "status": "READY",
            "isUpToDate": true, "version": "1.31", "createdAt": "2026-11-26T00:00:00Z",
            "updatedAt": "2026-11-26T00:00:00Z", "deployedAt": "2026-11-26T00:00:00Z"}),
        )
        .unwrap()
    };
    let claim = |name: &str, id: &str, pool: &str| -> NodeClaim {
        serde_json::from_value(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodeClaim",
            "metadata": {"name": name, "labels": {labels::OVH_POOL: pool, labels::OVH_NODE_ID: id,
                labels::NODEPOOL: "demo-pool", labels::INSTANCE_TYPE: "b3-8"}},
            "spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
                     "requirements": []},
            "status": {"nodeName": format!("node-{id}"), "providerID": format!("openstack:///i-{id}"),
                "conditions": [{"type": "Initialized", "status": "True", "reason": "Initialized",
                    "message": "", "lastTransitionTime": "2026-11-26T00:00:00Z"}]}}))
        .unwrap()
    };
    let node = |id: &str, pool: &str| -> Node {
        serde_json::from_value(
            json!({"metadata": {"name": format!("node-{id}"), "labels": {"nodepool": pool}},
            "spec": {"providerID": format!("openstack:///i-{id}")}}),
        )
        .unwrap()
    };
    let pod = |name: &str, app: &str, node: Option<&str>, phase: &str| -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": name, "namespace": "default", "labels": {"app": app}},
            "spec": {"nodeName": node, "containers": []}, "status": {"phase": phase}}),
        )
        .unwrap()
    };
    let deployment = |name: &str, replicas: i32| -> Deployment {
        serde_json::from_value(json!({"metadata": {"name": name, "namespace": "default"},
            "spec": {"replicas": replicas, "selector": {}, "template": {}}}))
        .unwrap()
    };
    let failed_scheduling = |pod: &str| -> Event {
        serde_json::from_value(
            json!({"metadata": {"name": format!("{pod}.1"), "namespace": "default"},
            "eventTime": "2026-11-26T00:00:00.000000Z", "reason": "FailedScheduling",
            "reportingController": "karpenter-ovhcloud", "reportingInstance": "chaos-1",
            "action": "Provision", "regarding": {"kind": "Pod", "name": pod}}),
        )
        .unwrap()
    };
    let p = "karpenter-b3-8-eu-west-par-a";
    let world = || Observed {
        pools: vec![(pool(p, 2), vec![ovh_node("a", p), ovh_node("b", p)])],
        claims: vec![claim("c-a", "a", p), claim("c-b", "b", p)],
        nodes: vec![node("a", p), node("b", p)],
        pods: vec![
            pod("w-1", "w", Some("node-a"), "Running"),
            pod("w-2", "w", Some("node-b"), "Running"),
            pod("big-1", "big", None, "Pending"),
        ],
        deployments: vec![deployment("w", 2), deployment("big", 1)],
        events: vec![failed_scheduling("big-1")],
    };
    let expect = Expect {
        demo_types: vec!["b3-8".into()],
        multi_flavor_small_only: true,
    };
    let ok = check(&world(), &expect);
    assert!(ok.violations.is_empty(), "{ok:?}");
    assert_eq!((ok.leaked, ok.lost), (0, 0));

    // (mutation, what the verdict must say, leaked, lost)
    type Mutation<'a> = Box<dyn Fn(&mut Observed) + 'a>;
    let cases: Vec<(Mutation<'_>, &str, usize, usize)> = vec![
        (
            Box::new(|o| {
                o.claims.pop();
            }),
            "backed by 0 NodeClaims",
            1,
            0,
        ),
        (
            Box::new(|o| {
                o.pools
                    .push((pool("karpenter-b3-16-eu-west-par-a", 0), vec![]))
            }),
            "empty",
            1,
            0,
        ),
        (
            Box::new(|o| o.pools[0].0["desiredNodes"] = json!(3)),
            "desiredNodes 3 but 2",
            0,
            0,
        ),
        (
            Box::new(|o| o.pools[0].0["maxNodes"] = json!(1)),
            "min 0 desired 2 max 1",
            0,
            0,
        ),
        (
            Box::new(|o| o.pools[0].0["name"] = json!("karpenter-B3")),
            "invalid name",
            0,
            0,
        ),
        (
            Box::new(|o| {
                o.nodes.pop();
            }),
            "does not back it",
            0,
            0,
        ),
        (Box::new(|o| o.events.clear()), "without a reason", 0, 1),
        (
            Box::new(|o| {
                o.pods.remove(1);
            }),
            "1 pods for 2",
            0,
            1,
        ),
        (
            Box::new(|o| o.pods[1].spec.as_mut().unwrap().node_name = Some("node-a".into())),
            "Node node-b: empty",
            0,
            0,
        ),
    ];
    for (mutate, says, leaked, lost) in cases {
        let mut o = world();
        mutate(&mut o);
        let v = check(&o, &expect);
        assert!(
            v.violations.iter().any(|m| m.contains(says)),
            "{says}: {v:?}"
        );
        assert_eq!((v.leaked, v.lost), (leaked, lost), "{says}: {v:?}");
    }
    let drifted = Expect {
        demo_types: vec!["b3-16".into()],
        multi_flavor_small_only: true,
    };
    assert!(check(&world(), &drifted)
        .violations
        .iter()
        .any(|m| m.contains("not replaced after drift")));
}
