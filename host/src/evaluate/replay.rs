//! Deterministic replay of a trace in simulated time, for one strategy.
//!
//! Time advances from one interesting instant to the next (a trace event, a node becoming
//! Ready, a job ending, a provisioning batch closing, a 10 s disruption pass); nothing reads a
//! wall clock and every collection is ordered, so the same trace and policies give the same
//! result to the byte.
//!
//! Each provisioning batch (Karpenter's 1 s idle / 10 s max window, [`BatchWindow`]) runs the
//! host's own scheduling pass, [`crate::provisioning::plan`], over a [`Snapshot`] of the
//! simulated cluster: pending pods go to Ready nodes, then to in-flight nodes, and the rest to
//! the strategy's flavor-selection (a Wasm policy through [`plan_with`], or a baseline), whose
//! answer is validated as in the controller. New nodes are Ready after the trace's startup
//! delay; their pods start then. Disruption passes run every 10 s through [`disrupt`].

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::baseline::{FixedFlavor, Naive};
use super::report::{percentiles, DisruptionRecord, RunResult, Sample};
use super::setup::Setup;
use super::trace::{Action, Trace};
use crate::clock::Clock;
use crate::disruption::decide::{Command, PoolSettings, Reason};
use crate::disruption::pass::{self, Verdict};
use crate::disruption::plan;
use crate::policy::types::consolidation::ConsolidationRequest;
use crate::policy::{ActivePolicy, PolicySet};
use crate::provisioning::{
    plan, plan_with, BatchWindow, FlavorPolicy, Input, NodeClaimSpec, Outcome, Plan,
    WasmFlavorPolicy,
};
use crate::scheduling::{wellknown, FlavorSpec, NodeState, PoolSpec, Resources, SimNode};
use crate::state::{ObjectKey, Snapshot};

/// Seconds between two disruption passes (Karpenter's cadence, the controller's default
/// `--disruption-interval`).
pub const DISRUPTION_PERIOD: u64 = 10;
/// The controller's default `--consolidation-validation-delay`.
pub const VALIDATION_DELAY: Duration = Duration::from_secs(15);
/// Seconds before pods a batch could not place are tried again.
pub const RETRY_SECONDS: u64 = 60;
/// The cluster-autoscaler baseline removes a node below this utilization...
pub const CA_UTILIZATION: f64 = 0.5;
/// ... for this long.
pub const CA_UNNEEDED_SECONDS: u64 = 600;
/// Timeline samples kept per run (for the plot and the JSON).
pub const MAX_SAMPLES: usize = 400;

/// Who chooses new nodes.
pub enum Provisioner<'a> {
    /// A flavor-selection policy of `set` (falls back to the set's embedded default).
    Policy {
        /// The set (runtime and default).
        set: &'a PolicySet,
        /// The policy.
        policy: Arc<ActivePolicy>,
    },
    /// Alphabetical first fit, one OVH pool per burst.
    Naive,
    /// Fixed flavor per pool, seeded random zone expander.
    FixedFlavor {
        /// Seed of the random expander.
        seed: u64,
    },
}

/// Who removes nodes.
pub enum Disruptor<'a> {
    /// A consolidation policy of `set` (falls back to the set's embedded default).
    Policy {
        /// The set.
        set: &'a PolicySet,
        /// The policy.
        policy: Arc<ActivePolicy>,
    },
    /// Cluster-autoscaler scale-down: below 50% for 10 minutes and the pods fit elsewhere.
    ClusterAutoscaler,
}

/// One strategy to replay.
pub struct Strategy<'a> {
    /// Name in reports.
    pub name: String,
    /// New nodes.
    pub provisioner: Provisioner<'a>,
    /// Node removal.
    pub disruptor: Disruptor<'a>,
}

/// How far a replay is, for progress output.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    /// Simulated seconds done.
    pub at: u64,
    /// Simulated seconds in all.
    pub of: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    Pending,
    Nominated(u64),
    Bound(u64),
}

#[derive(Clone, Debug)]
struct Pod {
    workload: usize,
    created: u64,
    pending_since: u64,
    retry_at: u64,
    started: bool,
    place: Place,
    run_seconds: Option<u64>,
    ends_at: Option<u64>,
}

#[derive(Clone, Debug)]
struct Node {
    sim: SimNode,
    pool: usize,
    flavor: usize,
    ovh_pool: String,
    price: f64,
    launched: u64,
    ready_at: u64,
    ready: bool,
    low_since: Option<u64>,
}

/// A replacement in flight: its new nodes are launching, the old ones go when they are Ready.
#[derive(Clone, Debug)]
struct InFlight {
    command: Command,
    old: Vec<u64>,
    new: Vec<u64>,
}

/// How a command is counted in [`RunResult::disrupted_nodes`].
fn disruption_kind(command: &Command) -> &'static str {
    match (command.reason, command.replacements.is_empty()) {
        (Reason::Empty, _) => "empty",
        (Reason::Underutilized, true) => "underutilized-delete",
        (Reason::Underutilized, false) => "underutilized-replace",
        (Reason::Drifted, _) => "drifted",
        (Reason::Expired, _) => "expired",
    }
}

struct Sim<'s, 'a> {
    trace: &'s Trace,
    setup: &'s Setup,
    strategy: &'s Strategy<'a>,
    now: u64,
    pods: BTreeMap<u64, Pod>,
    replicas: Vec<Vec<u64>>,
    nodes: BTreeMap<u64, Node>,
    next_pod: u64,
    next_node: u64,
    closed_cost: f64,
    node_seconds: BTreeMap<String, f64>,
    pending_times: Vec<u64>,
    result: RunResult,
    ovh_pools: BTreeMap<String, u32>,
    bursts: u64,
    fixed: Option<FixedFlavor>,
    /// Simulated time 0 as an instant (budget schedules read the time of day).
    start: Timestamp,
    /// The disruption pass's clock, moved with `now`.
    clock: Clock,
    memory: pass::Memory,
    in_flight: Vec<InFlight>,
}

/// Replays `trace` with `strategy`. `progress` is called about every 5% of simulated time.
pub fn replay(
    trace: &Trace,
    setup: &Setup,
    strategy: &Strategy<'_>,
    progress: &mut dyn FnMut(Progress),
) -> RunResult {
    let mut sim = Sim::new(trace, setup, strategy);
    sim.run(progress);
    sim.result
}

impl<'s, 'a> Sim<'s, 'a> {
    /// An empty cluster at simulated time 0.
    fn new(trace: &'s Trace, setup: &'s Setup, strategy: &'s Strategy<'a>) -> Self {
        let fixed = match strategy.provisioner {
            Provisioner::FixedFlavor { seed } => Some(FixedFlavor::new(
                setup
                    .pools
                    .iter()
                    .filter_map(|p| {
                        let f = p.baseline_flavor?;
                        Some((p.spec.name.clone(), setup.flavors[f].name.clone()))
                    })
                    .collect(),
                seed,
            )),
            _ => None,
        };
        Sim {
            trace,
            setup,
            strategy,
            now: 0,
            pods: BTreeMap::new(),
            replicas: vec![Vec::new(); trace.workloads.len()],
            nodes: BTreeMap::new(),
            next_pod: 0,
            next_node: 0,
            closed_cost: 0.0,
            node_seconds: BTreeMap::new(),
            pending_times: Vec::new(),
            result: RunResult {
                name: strategy.name.clone(),
                ..RunResult::default()
            },
            ovh_pools: BTreeMap::new(),
            bursts: 0,
            fixed,
            start: setup.start,
            clock: Clock::manual(setup.start),
            memory: pass::Memory::default(),
            in_flight: Vec::new(),
        }
    }
}

impl Sim<'_, '_> {
    fn run(&mut self, progress: &mut dyn FnMut(Progress)) {
        let end = self.trace.duration_seconds;
        let window = BatchWindow::default();
        let (idle, max) = (window.idle.as_secs(), window.max.as_secs());
        let mut event = 0;
        let mut next_disruption = DISRUPTION_PERIOD;
        let step = (end / 20).max(1);
        let mut next_progress = step;
        let sample_every = (end / MAX_SAMPLES as u64).max(1);
        let mut next_sample = 0;
        loop {
            let t = self.now;
            while event < self.trace.events.len() && self.trace.events[event].at <= t {
                if let Some(action) = self.trace.action(event) {
                    self.apply(action);
                }
                event += 1;
            }
            self.finish_jobs();
            self.ready_nodes();
            // The batch closes after `idle` without a new pending pod, or `max` after its first.
            let waiting = self
                .pods
                .values()
                .filter(|p| p.place == Place::Pending)
                .map(|p| p.pending_since.max(p.retry_at));
            let (first, last) = waiting.fold((u64::MAX, 0), |(f, l), s| (f.min(s), l.max(s)));
            let close = if first == u64::MAX {
                u64::MAX
            } else {
                (last + idle).min(first + max).max(first)
            };
            if close <= t {
                self.provision();
            }
            if t >= next_disruption {
                self.disrupt();
                next_disruption = t - t % DISRUPTION_PERIOD + DISRUPTION_PERIOD;
            }
            if t >= next_sample || t >= end {
                self.sample();
                next_sample = t + sample_every;
            }
            if t >= next_progress || t >= end {
                progress(Progress { at: t, of: end });
                next_progress = t + step;
            }
            if t >= end {
                break;
            }
            let mut next = end.min(next_disruption);
            if let Some(e) = self.trace.events.get(event) {
                next = next.min(e.at);
            }
            if close != u64::MAX && close > t {
                next = next.min(close);
            }
            for p in self.pods.values() {
                if let Some(e) = p.ends_at {
                    next = next.min(e);
                }
                if p.place == Place::Pending && p.retry_at > t {
                    next = next.min(p.retry_at);
                }
            }
            for n in self.nodes.values() {
                if !n.ready {
                    next = next.min(n.ready_at);
                }
            }
            self.now = next.max(t + 1);
            self.clock.advance(Duration::from_secs(self.now - t));
        }
        self.finish();
    }

    fn new_pod(&mut self, workload: usize, run_seconds: Option<u64>) -> u64 {
        let id = self.next_pod;
        self.next_pod += 1;
        self.pods.insert(
            id,
            Pod {
                workload,
                created: self.now,
                pending_since: self.now,
                retry_at: 0,
                started: false,
                place: Place::Pending,
                run_seconds,
                ends_at: None,
            },
        );
        id
    }

    fn apply(&mut self, action: Action) {
        match action {
            Action::Scale { workload, replicas } => {
                let want = replicas as usize;
                while self.replicas[workload].len() < want {
                    let id = self.new_pod(workload, None);
                    self.replicas[workload].push(id);
                }
                if self.replicas[workload].len() > want {
                    // Scale down: pending pods first, then in flight, then the newest.
                    let mut ids = std::mem::take(&mut self.replicas[workload]);
                    ids.sort_by_key(|id| {
                        let rank = match self.pods[id].place {
                            Place::Pending => 0,
                            Place::Nominated(_) => 1,
                            Place::Bound(_) => 2,
                        };
                        (rank, std::cmp::Reverse(*id))
                    });
                    let gone: Vec<u64> = ids.drain(..ids.len() - want).collect();
                    ids.sort();
                    self.replicas[workload] = ids;
                    for id in gone {
                        self.remove_pod(id);
                    }
                }
            }
            Action::Run {
                workload,
                count,
                seconds,
            } => {
                for _ in 0..count {
                    self.new_pod(workload, Some(seconds));
                }
            }
        }
    }

    fn remove_pod(&mut self, id: u64) {
        if let Some(pod) = self.pods.remove(&id) {
            if !pod.started {
                self.pending_times.push(self.now - pod.created);
            }
        }
    }

    fn finish_jobs(&mut self) {
        let done: Vec<u64> = self
            .pods
            .iter()
            .filter(|(_, p)| p.ends_at.is_some_and(|e| e <= self.now))
            .map(|(id, _)| *id)
            .collect();
        for id in done {
            self.remove_pod(id);
        }
    }

    fn start(&mut self, id: u64, node: u64) {
        let now = self.now;
        if let Some(pod) = self.pods.get_mut(&id) {
            pod.place = Place::Bound(node);
            if !pod.started {
                pod.started = true;
                self.pending_times.push(now - pod.created);
            }
            if let Some(s) = pod.run_seconds {
                pod.ends_at = Some(now + s);
            }
        }
    }

    fn ready_nodes(&mut self) {
        let now = self.now;
        let ready: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(_, n)| !n.ready && n.ready_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in ready {
            if let Some(n) = self.nodes.get_mut(&id) {
                n.ready = true;
                n.sim.state = NodeState::Ready;
            }
            let nominated: Vec<u64> = self
                .pods
                .iter()
                .filter(|(_, p)| p.place == Place::Nominated(id))
                .map(|(pid, _)| *pid)
                .collect();
            for pid in nominated {
                self.start(pid, id);
            }
        }
    }

    fn requested(&self) -> HashMap<u64, Resources> {
        let mut out: HashMap<u64, Resources> = HashMap::new();
        for p in self.pods.values() {
            if let Place::Bound(n) | Place::Nominated(n) = p.place {
                *out.entry(n).or_default() += self.setup.specs[p.workload].requests;
            }
        }
        out
    }

    fn pod_key(&self, id: u64) -> ObjectKey {
        let p = &self.pods[&id];
        format!("{}-{id}", self.setup.specs[p.workload].owner)
    }

    /// NodePools with what is left of their limits.
    fn pool_specs(&self) -> Vec<PoolSpec> {
        self.setup
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let mut spec = p.spec.clone();
                spec.remaining = p.limits.map(|limits| {
                    let used = self
                        .nodes
                        .values()
                        .filter(|n| n.pool == i)
                        .fold(Resources::default(), |a, n| {
                            a + self.setup.flavors[n.flavor].capacity
                        });
                    limits.saturating_sub(&used)
                });
                spec
            })
            .collect()
    }

    fn snapshot(&self) -> (Snapshot, HashMap<ObjectKey, u64>, Vec<u64>) {
        let requested = self.requested();
        let mut snap = Snapshot::default();
        let mut index = HashMap::new();
        let mut ready_ids = Vec::new();
        for (id, n) in &self.nodes {
            let mut sim = n.sim.clone();
            sim.requested = requested.get(id).copied().unwrap_or_default();
            if n.ready {
                index.insert(*id, snap.nodes.len());
                ready_ids.push(*id);
                snap.nodes.push(Arc::new(sim));
            } else {
                snap.in_flight.push(Arc::new(sim));
            }
        }
        let mut keys = HashMap::new();
        for (id, p) in &self.pods {
            let spec = self.setup.specs[p.workload].clone();
            match p.place {
                Place::Bound(n) => {
                    if let Some(i) = index.get(&n) {
                        snap.bound.push((spec, *i));
                    }
                }
                Place::Pending if p.retry_at <= self.now => {
                    let key = self.pod_key(*id);
                    keys.insert(key.clone(), *id);
                    snap.pending.push((key, spec));
                }
                _ => {}
            }
        }
        (snap, keys, ready_ids)
    }

    fn provision(&mut self) {
        let (snap, keys, _) = self.snapshot();
        if snap.pending.is_empty() {
            return;
        }
        let pools = self.pool_specs();
        let sizes: HashMap<String, u32> = self
            .ovh_pools
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        let input = Input {
            snapshot: &snap,
            pools: &pools,
            flavors: &self.setup.flavors,
            ovh_pool_sizes: &sizes,
            config: "",
            options: Default::default(),
        };
        let plan: Plan = match &self.strategy.provisioner {
            Provisioner::Policy { set, policy } => {
                let mut input = input;
                input.config = &policy.config;
                plan_with(&input, set, policy.clone())
            }
            Provisioner::Naive => plan(&input, &Naive, &Naive),
            Provisioner::FixedFlavor { .. } => {
                let p: &dyn FlavorPolicy = self.fixed.as_ref().expect("built with the strategy");
                plan(&input, p, p)
            }
        };
        match &plan.outcome {
            Outcome::NoPolicyCall => {}
            Outcome::Primary => self.result.policy_calls += 1,
            Outcome::Fallback { .. } => {
                self.result.policy_calls += 1;
                self.result.fallbacks += 1;
            }
            Outcome::Failed { .. } => {
                self.result.policy_calls += 1;
                self.result.failed_batches += 1;
            }
        }
        let node_by_name: HashMap<String, u64> = self
            .nodes
            .iter()
            .map(|(id, n)| (n.sim.name.clone(), *id))
            .collect();
        for (key, node) in &plan.on_existing {
            if let (Some(pid), Some(nid)) = (keys.get(key), node_by_name.get(node)) {
                self.start(*pid, *nid);
            }
        }
        for (key, node) in &plan.on_in_flight {
            if let (Some(pid), Some(nid)) = (keys.get(key), node_by_name.get(node)) {
                if let Some(p) = self.pods.get_mut(pid) {
                    p.place = Place::Nominated(*nid);
                }
            }
        }
        let retry = self.now + RETRY_SECONDS;
        for (key, _) in &plan.unplaced {
            if let Some(p) = keys.get(key).and_then(|id| self.pods.get_mut(id)) {
                p.retry_at = retry;
            }
        }
        if plan.claims.is_empty() {
            return;
        }
        let launched = self.launch(&plan.claims);
        for (claim, id) in plan.claims.iter().zip(launched) {
            let Some(id) = id else { continue };
            for key in &claim.pods {
                if let Some(p) = keys.get(key).and_then(|pid| self.pods.get_mut(pid)) {
                    p.place = Place::Nominated(id);
                }
            }
        }
    }

    /// Launches new nodes for `claims` (one OVH write per pool), each Ready after the trace's
    /// startup delay; the ids of the new nodes, in order (None for a claim of an unknown flavor
    /// or NodePool).
    fn launch(&mut self, claims: &[NodeClaimSpec]) -> Vec<Option<u64>> {
        if claims.is_empty() {
            return Vec::new();
        }
        self.bursts += 1;
        let mut written = BTreeSet::new();
        let mut out = Vec::new();
        for claim in claims {
            let flavor = self
                .setup
                .flavors
                .iter()
                .position(|f| f.name == claim.flavor);
            let pool = self
                .setup
                .pools
                .iter()
                .position(|p| p.spec.name == claim.nodepool);
            let (Some(flavor), Some(pool)) = (flavor, pool) else {
                out.push(None);
                continue;
            };
            let ovh_pool = match self.strategy.provisioner {
                Provisioner::Naive => format!("{}-burst-{}", claim.ovh_pool, self.bursts),
                _ => claim.ovh_pool.clone(),
            };
            written.insert(ovh_pool.clone());
            *self.ovh_pools.entry(ovh_pool.clone()).or_default() += 1;
            let id = self.next_node;
            self.next_node += 1;
            let name = format!("node-{id}");
            let mut labels = claim.labels.clone();
            labels.insert(wellknown::HOSTNAME.to_string(), name.clone());
            let spec: &FlavorSpec = &self.setup.flavors[flavor];
            let startup = if spec.capacity.gpu > 0 {
                self.trace.gpu_node_startup_seconds
            } else {
                self.trace.node_startup_seconds
            };
            self.nodes.insert(
                id,
                Node {
                    sim: SimNode {
                        name: name.clone(),
                        labels,
                        taints: claim.taints.clone(),
                        allocatable: claim.allocatable,
                        requested: Resources::default(),
                        nodepool: Some(claim.nodepool.clone()),
                        nodeclaim: Some(name),
                        state: NodeState::Launching,
                        unschedulable: false,
                        extended: Vec::new(),
                    },
                    pool,
                    flavor,
                    ovh_pool,
                    price: spec.hourly_price,
                    launched: self.now,
                    ready_at: self.now + startup,
                    ready: false,
                    low_since: None,
                },
            );
            out.push(Some(id));
        }
        // One write (create or scale up) per OVH pool per batch.
        self.result.ovh_writes += written.len() as u64;
        out
    }

    fn disrupt(&mut self) {
        if !self.nodes.values().any(|n| n.ready) {
            return;
        }
        match &self.strategy.disruptor {
            Disruptor::Policy { set, policy } => self.karpenter_pass(set, policy),
            Disruptor::ClusterAutoscaler => {
                let remove = self.scale_down();
                self.remove_nodes(&remove);
            }
        }
    }

    /// The disruption plan's input from the simulated cluster (the counterpart of the
    /// controller's [`crate::disruption::cluster::ClusterView`]): every Ready node is a
    /// candidate (its own NodeClaim, initialized when it became Ready), NodePools with their
    /// settings and budgets. Where the trace format has no data for a rule of the controller,
    /// the input is false or empty: no PodDisruptionBudgets, no drift (a trace changes no
    /// NodePool and has no OVHNodeClass), do-not-disrupt and `expireAfter` only as the
    /// [`Setup`] says (traces leave them empty and `Never`).
    fn plan_input(&self) -> plan::Input {
        let (snapshot, _, _) = self.snapshot();
        let busy: BTreeSet<u64> = self
            .in_flight
            .iter()
            .flat_map(|f| f.old.iter().chain(&f.new).copied())
            .collect();
        let mut pods_on: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
        for (id, p) in &self.pods {
            if let Place::Bound(n) = p.place {
                pods_on.entry(n).or_default().push(*id);
            }
        }
        let nodes = self
            .nodes
            .iter()
            .filter(|(_, n)| n.ready)
            .map(|(id, n)| {
                let pods = pods_on.get(id).cloned().unwrap_or_default();
                let do_not_disrupt = pods
                    .iter()
                    .any(|p| self.setup.do_not_disrupt.contains(&self.pods[p].workload));
                let pool = &self.setup.pools[n.pool];
                plan::NodeFacts {
                    node: n.sim.name.clone(),
                    claim: n.sim.name.clone(),
                    nodepool: pool.spec.name.clone(),
                    hourly_price: n.price,
                    age_seconds: self.now - n.launched,
                    initialized_at: self.at(n.ready_at),
                    // The trace's pods have no DaemonSet.
                    pods_fingerprint: pass::fingerprint(pods),
                    do_not_disrupt,
                    // Traces have no PodDisruptionBudgets.
                    pdb_blocked: false,
                    blocked_by: Vec::new(),
                    busy: busy.contains(id),
                    expire_after: pool.expire_after.clone(),
                }
            })
            .collect();
        let nodepools = self
            .setup
            .pools
            .iter()
            .enumerate()
            .map(|(i, p)| plan::NodePoolFacts {
                settings: PoolSettings {
                    name: p.spec.name.clone(),
                    policy: p.consolidation_policy,
                    is_static: false,
                    consolidate_after_seconds: p.consolidate_after,
                    template_hash: String::new(),
                },
                budgets: p.budgets.clone(),
                total: self.nodes.values().filter(|n| n.pool == i).count() as u32,
                // Nodes go at once in the replay: none is ever half-deleted.
                disrupting: 0,
            })
            .collect();
        plan::Input {
            now: self.clock.now(),
            validation_delay: VALIDATION_DELAY,
            snapshot,
            pools: self.pool_specs(),
            // Traces have no static NodePool.
            static_pools: Vec::new(),
            flavors: self.setup.flavors.clone(),
            ovh_pool_sizes: self
                .ovh_pools
                .iter()
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            nodepools,
            nodes,
            // A trace changes no NodePool and has no OVHNodeClass: nothing drifts.
            drifted: HashMap::new(),
            in_flight_nodepools: self
                .in_flight
                .iter()
                .map(|f| f.command.nodepool.clone())
                .collect(),
            options: Default::default(),
            live_claims: self.nodes.values().map(|n| n.sim.name.clone()).collect(),
        }
    }

    /// One pass of the controller's disruption loop: replacements whose new nodes are Ready
    /// let the old nodes go, then the controller's own plan ([`plan::plan`]: consolidateAfter,
    /// nominated nodes, the consolidation policy's commands validated by simulation, drift
    /// and expiry, Karpenter's order, one command per NodePool, budgets, the validation
    /// delay) over [`Sim::plan_input`]; deletes carried out at once, replacements launched
    /// and their old nodes removed once they are Ready.
    fn karpenter_pass(&mut self, set: &PolicySet, policy: &Arc<ActivePolicy>) {
        // The strategy's flavor-selection (and the default it falls back to) places the pods
        // of simulated commands, as the active policy does in the controller.
        let fixed = self.fixed.take();
        let strategy: &Strategy<'_> = self.strategy;
        let fallback = WasmFlavorPolicy::default_policy(set);
        let primary: Box<dyn FlavorPolicy + '_> = match (&strategy.provisioner, &fixed) {
            (Provisioner::Policy { set, policy }, _) => {
                Box::new(WasmFlavorPolicy::new(set, policy.clone()))
            }
            (Provisioner::FixedFlavor { .. }, Some(f)) => {
                Box::new(|r: &crate::provisioning::Request| f.select(r))
            }
            _ => Box::new(Naive),
        };
        self.progress_in_flight();
        let input = self.plan_input();
        let mut fallbacks = 0;
        let mut consolidate =
            |request: ConsolidationRequest| match set.decide_with(policy.clone(), request) {
                Ok(d) => {
                    if d.failure.is_some() {
                        fallbacks += 1;
                    }
                    Ok(d.decision.commands)
                }
                Err(e) => Err(e.to_string()),
            };
        let planned = plan::plan(
            &input,
            &mut self.memory,
            &self.clock,
            &*primary,
            &fallback,
            &mut consolidate,
        );
        drop(primary);
        self.fixed = fixed;
        if planned.policy_called {
            self.result.consolidation_calls += 1;
        }
        self.result.consolidation_fallbacks += fallbacks;
        self.result.commands_refused += planned.refused.len() as u64;
        for (command, verdict) in planned.commands {
            match verdict {
                Verdict::Execute => self.execute(command),
                Verdict::OverBudget { .. } => self.result.budget_blocked += 1,
                Verdict::Validating => {}
            }
        }
    }

    /// Carries out a validated command: a delete at once, a replacement by launching its
    /// nodes (the old ones go when those are Ready, [`Sim::progress_in_flight`]).
    fn execute(&mut self, command: Command) {
        let by_name: HashMap<&str, u64> = self
            .nodes
            .iter()
            .map(|(id, n)| (n.sim.name.as_str(), *id))
            .collect();
        let old: Vec<u64> = command
            .nodes
            .iter()
            .filter_map(|n| by_name.get(n.as_str()).copied())
            .collect();
        let kind = disruption_kind(&command);
        self.result.disruption_log.push(DisruptionRecord {
            at: self.now,
            nodepool: command.nodepool.clone(),
            kind: kind.to_string(),
            nodes: command.nodes.len() as u32,
            replacements: command
                .replacements
                .iter()
                .map(|r| r.flavor.clone())
                .collect(),
            savings_per_hour: command.savings_per_hour,
        });
        if command.replacements.is_empty() {
            let remove: Vec<(u64, &str)> = old.iter().map(|id| (*id, kind)).collect();
            self.remove_nodes(&remove);
            return;
        }
        let new: Vec<u64> = self
            .launch(&command.replacements)
            .into_iter()
            .flatten()
            .collect();
        self.result.replacements_launched += new.len() as u64;
        self.in_flight.push(InFlight { command, old, new });
    }

    /// Replacements whose new nodes are all Ready let the old nodes go; consolidateAfter of
    /// the new nodes counts from then.
    fn progress_in_flight(&mut self) {
        let now = self.clock.now();
        for f in std::mem::take(&mut self.in_flight) {
            if f.new.iter().any(|id| !self.nodes.contains_key(id)) {
                // A replacement is gone: the old nodes stay (as in the controller).
                continue;
            }
            if f.new.iter().all(|id| self.nodes[id].ready) {
                let kind = disruption_kind(&f.command);
                let remove: Vec<(u64, &str)> = f.old.iter().map(|id| (*id, kind)).collect();
                self.remove_nodes(&remove);
                for id in &f.new {
                    self.memory.replaced(self.nodes[id].sim.name.clone(), now);
                }
                continue;
            }
            self.in_flight.push(f);
        }
    }

    /// Seconds of simulated time as an instant of the replay's clock.
    fn at(&self, seconds: u64) -> Timestamp {
        self.start
            .checked_add(jiff::SignedDuration::from_secs(seconds as i64))
            .unwrap_or(self.start)
    }

    /// Cluster-autoscaler scale-down: a node is unneeded while it is below 50% of its
    /// allocatable CPU and memory and its pods fit on the other Ready nodes; after 10 minutes
    /// unneeded, every empty one goes, and at most one non-empty one per pass.
    fn scale_down(&mut self) -> Vec<(u64, &'static str)> {
        let requested = self.requested();
        let now = self.now;
        let free: BTreeMap<u64, Resources> = self
            .nodes
            .iter()
            .filter(|(_, n)| n.ready)
            .map(|(id, n)| {
                let r = requested.get(id).copied().unwrap_or_default();
                (*id, n.sim.allocatable.saturating_sub(&r))
            })
            .collect();
        // Whether the pods of `id` fit first-fit on the free room of the other nodes.
        let movable = |id: u64, free: &BTreeMap<u64, Resources>| -> bool {
            let mut trial = free.clone();
            trial.remove(&id);
            self.pods
                .values()
                .filter(|p| p.place == Place::Bound(id))
                .all(|p| {
                    let req = self.setup.specs[p.workload].requests;
                    match trial.values_mut().find(|f| req.fits_in(f)) {
                        Some(slot) => {
                            *slot = slot.saturating_sub(&req);
                            true
                        }
                        None => false,
                    }
                })
        };
        let unneeded_now: BTreeSet<u64> = self
            .nodes
            .iter()
            .filter(|(id, n)| {
                let r = requested.get(id).copied().unwrap_or_default();
                let a = n.sim.allocatable;
                let share = |x: u64, of: u64| if of == 0 { 0.0 } else { x as f64 / of as f64 };
                let used =
                    share(r.cpu_millis, a.cpu_millis).max(share(r.memory_bytes, a.memory_bytes));
                n.ready && used < CA_UTILIZATION && movable(**id, &free)
            })
            .map(|(id, _)| *id)
            .collect();
        for (id, n) in self.nodes.iter_mut() {
            if unneeded_now.contains(id) {
                n.low_since.get_or_insert(now);
            } else {
                n.low_since = None;
            }
        }
        let unneeded = |n: &Node| n.low_since.is_some_and(|s| now - s >= CA_UNNEEDED_SECONDS);
        let mut out: Vec<(u64, &'static str)> = self
            .nodes
            .iter()
            .filter(|(id, n)| unneeded(n) && !requested.contains_key(id))
            .map(|(id, _)| (*id, "scale-down-empty"))
            .collect();
        let mut free = free;
        free.retain(|id, _| !out.iter().any(|(o, _)| o == id));
        let busy = self
            .nodes
            .iter()
            .find(|(id, n)| unneeded(n) && requested.contains_key(id) && movable(**id, &free))
            .map(|(id, _)| (*id, "scale-down-underutilized"));
        out.extend(busy);
        out
    }

    /// Removes nodes (with the kind of disruption of each, for the counts); their pods go
    /// back to pending, to be placed by the next batch.
    fn remove_nodes(&mut self, ids: &[(u64, &str)]) {
        if ids.is_empty() {
            return;
        }
        let now = self.now;
        let mut written = BTreeSet::new();
        for (id, kind) in ids {
            let Some(node) = self.nodes.remove(id) else {
                continue;
            };
            self.close(&node);
            self.result.disruptions += 1;
            *self
                .result
                .disrupted_nodes
                .entry(kind.to_string())
                .or_default() += 1;
            written.insert(node.ovh_pool.clone());
            if let Some(n) = self.ovh_pools.get_mut(&node.ovh_pool) {
                *n = n.saturating_sub(1);
            }
            for p in self.pods.values_mut() {
                if matches!(p.place, Place::Bound(n) | Place::Nominated(n) if n == *id) {
                    p.place = Place::Pending;
                    p.pending_since = now;
                    p.retry_at = 0;
                    // An evicted job pod is replaced and starts its work over.
                    p.ends_at = None;
                    self.result.evicted_pods += 1;
                }
            }
        }
        self.ovh_pools.retain(|_, n| *n > 0);
        // One write per pool: PUT nodesToRemove, or DELETE when it empties.
        self.result.ovh_writes += written.len() as u64;
    }

    fn close(&mut self, node: &Node) {
        let seconds = (self.now - node.launched) as f64;
        self.closed_cost += node.price * seconds / 3600.0;
        *self
            .node_seconds
            .entry(self.setup.flavors[node.flavor].name.clone())
            .or_default() += seconds;
    }

    fn cost_now(&self) -> f64 {
        self.closed_cost
            + self
                .nodes
                .values()
                .map(|n| n.price * (self.now - n.launched) as f64 / 3600.0)
                .sum::<f64>()
    }

    fn sample(&mut self) {
        let nodes = self.nodes.len() as u32;
        self.result.peak_nodes = self.result.peak_nodes.max(nodes);
        self.result.timeline.push(Sample {
            at: self.now,
            nodes,
            cost_eur: self.cost_now(),
        });
    }

    fn finish(&mut self) {
        let nodes: Vec<Node> = self.nodes.values().cloned().collect();
        for n in &nodes {
            self.close(n);
        }
        let end = self.now;
        let waiting: Vec<u64> = self
            .pods
            .values()
            .filter(|p| !p.started)
            .map(|p| end - p.created)
            .collect();
        self.result.pods_never_started = waiting.len() as u64;
        self.pending_times.extend(waiting);
        self.result.pods = self.pending_times.len() as u64;
        self.result.pending_seconds = percentiles(&mut self.pending_times);
        self.result.total_eur = self.closed_cost;
        self.result.node_hours = self
            .node_seconds
            .iter()
            .map(|(k, s)| (k.clone(), s / 3600.0))
            .collect();
    }
}

#[cfg(test)]
mod tests {
    //! The controller's and the replay's input builders give the same plan for the same
    //! cluster.

    use std::time::Duration;

    use k8s_openapi::api::core::v1::{Node as K8sNode, Pod as K8sPod};
    use serde_json::json;

    use super::*;
    use crate::api::{labels, NillableDuration, NodeClaim, NodePool};
    use crate::disruption::cluster::ClusterView;
    use crate::policy::types::consolidation::{
        Action, Command as PolicyCommand, Reason as PolicyReason,
    };
    use crate::scheduling::{convert, new_node_labels};
    use crate::state::ClusterState;

    /// NodePools a (two nodes: one running a do-not-disrupt pod and an empty one), b (an
    /// under-used node and a busier one), c (consolidation off, an expired node) and d (an
    /// empty node, a budget of 0).
    const TRACE: &str = r#"
name: same-plan
duration_seconds: 7200
nodepools:
  - {name: a, budgets: [{nodes: "100%"}]}
  - {name: b, budgets: [{nodes: "100%"}]}
  - {name: c, consolidate_after_seconds: null}
  - {name: d, budgets: [{nodes: "0"}]}
workloads:
  - {name: web, cpu: 500m, memory: 1Gi}
  - {name: guarded, cpu: 500m, memory: 1Gi}
events:
  - {at: 0, scale: {workload: web, replicas: 0}}
"#;

    /// (NodePool index, workloads of its pods) per node `node-{i}`, all b3-8s launched at 0
    /// and Ready at 180.
    const NODES: &[(usize, &[usize])] = &[
        (0, &[1]),
        (0, &[]),
        (1, &[0]),
        (1, &[0, 0]),
        (2, &[0]),
        (3, &[]),
    ];

    /// The instant of the pass, in simulated seconds: past consolidateAfter (60 s) and the
    /// 30 min expireAfter of NodePool c.
    const NOW: u64 = 3600;

    fn setup(trace: &Trace) -> Setup {
        let mut setup = Setup::new(trace).unwrap();
        // What traces cannot say: a do-not-disrupt workload and an expireAfter.
        setup.do_not_disrupt.insert(1);
        setup.pools[2].expire_after = NillableDuration::from_duration(Duration::from_secs(1800));
        setup
    }

    /// The consolidation policy of this test: delete every consolidatable node on its own,
    /// disruptable or not (the plan refuses what it may not do).
    fn delete_each(request: ConsolidationRequest) -> Result<Vec<PolicyCommand>, String> {
        Ok(request
            .nodes
            .iter()
            .filter(|n| n.consolidatable)
            .map(|n| PolicyCommand {
                nodes: vec![n.name.clone()],
                action: Action::Delete,
                reason: if n.pods.is_empty() {
                    PolicyReason::Empty
                } else {
                    PolicyReason::Underutilized
                },
                savings_per_hour: n.hourly_price,
                message: format!("delete {}", n.name),
            })
            .collect())
    }

    /// The cluster as the replay holds it.
    fn replay_cluster(sim: &mut Sim<'_, '_>) {
        let setup = sim.setup;
        let flavor = setup.flavors.iter().position(|f| f.name == "b3-8").unwrap();
        let spec = &setup.flavors[flavor];
        for (id, (pool, pods)) in NODES.iter().enumerate() {
            let id = id as u64;
            let name = format!("node-{id}");
            let pool_spec = &setup.pools[*pool].spec;
            let zone = spec.zones[0].0.clone();
            sim.nodes.insert(
                id,
                Node {
                    sim: SimNode {
                        name: name.clone(),
                        labels: new_node_labels(pool_spec, spec, &zone, &name, []),
                        taints: Vec::new(),
                        allocatable: spec.allocatable,
                        requested: Resources::default(),
                        nodepool: Some(pool_spec.name.clone()),
                        nodeclaim: Some(name.clone()),
                        state: NodeState::Ready,
                        unschedulable: false,
                        extended: Vec::new(),
                    },
                    pool: *pool,
                    flavor,
                    ovh_pool: format!("karpenter-b3-8-{zone}"),
                    price: spec.hourly_price,
                    launched: 0,
                    ready_at: 180,
                    ready: true,
                    low_since: None,
                },
            );
            *sim.ovh_pools
                .entry(format!("karpenter-b3-8-{zone}"))
                .or_default() += 1;
            for workload in *pods {
                let pod = sim.new_pod(*workload, None);
                sim.start(pod, id);
            }
        }
        sim.now = NOW;
        sim.clock.advance(Duration::from_secs(NOW));
    }

    /// The same cluster as the controller reads it: NodeClaims, NodePools, Nodes and pods.
    fn controller_objects(
        sim: &Sim<'_, '_>,
    ) -> (Vec<NodeClaim>, Vec<NodePool>, Vec<K8sNode>, ClusterState) {
        let setup = sim.setup;
        let at = |s: u64| sim.at(s).to_string();
        let nodepools = setup
            .pools
            .iter()
            .map(|p| {
                serde_json::from_value(json!({
                    "metadata": {"name": p.spec.name},
                    "spec": {
                        "template": {"spec": {
                            "nodeClassRef": {"group": "karpenter.ovhcloud.sh",
                                "kind": "OVHNodeClass", "name": "default"},
                            "requirements": [],
                            "expireAfter": p.expire_after.as_str()}},
                        "disruption": {
                            "consolidationPolicy": "WhenEmptyOrUnderutilized",
                            "consolidateAfter": p.consolidate_after
                                .map_or("Never".to_string(), |s| format!("{s}s")),
                            "budgets": p.budgets}}}))
                .unwrap()
            })
            .collect();
        let mut claims = Vec::new();
        let mut nodes = Vec::new();
        let mut state = ClusterState::new();
        for n in sim.nodes.values() {
            let pool = &setup.pools[n.pool];
            claims.push(
                serde_json::from_value(json!({
                    "metadata": {"name": n.sim.name, "creationTimestamp": at(n.launched),
                        "labels": {labels::NODEPOOL: pool.spec.name,
                            labels::INSTANCE_TYPE: setup.flavors[n.flavor].name}},
                    "spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh",
                            "kind": "OVHNodeClass", "name": "default"},
                        "requirements": [],
                        "expireAfter": pool.expire_after.as_str()},
                    "status": {"nodeName": n.sim.name, "conditions": [{"type": "Initialized",
                        "status": "True", "lastTransitionTime": at(n.ready_at),
                        "reason": "Initialized"}]}}))
                .unwrap(),
            );
            let node: K8sNode = serde_json::from_value(json!({
                "metadata": {"name": n.sim.name, "labels": n.sim.labels},
                "status": {"allocatable": convert::resource_list(&n.sim.allocatable),
                    "conditions": [{"type": "Ready", "status": "True"}]}}))
            .unwrap();
            state.apply_node(&node);
            nodes.push(node);
        }
        for (id, p) in &sim.pods {
            let Place::Bound(node) = p.place else {
                continue;
            };
            let workload = &sim.trace.workloads[p.workload];
            let annotations = if setup.do_not_disrupt.contains(&p.workload) {
                json!({labels::DO_NOT_DISRUPT: "true"})
            } else {
                json!({})
            };
            let pod: K8sPod = serde_json::from_value(json!({
                "metadata": {"name": format!("{}-{id}", workload.name), "namespace": "default",
                    "uid": format!("uid-{id}"), "labels": {"app": workload.name},
                    "annotations": annotations,
                    "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                        "name": workload.name, "uid": workload.name}]},
                "spec": {"nodeName": sim.nodes[&node].sim.name,
                    "containers": [{"name": "c", "image": "pause", "resources": {"requests":
                        {"cpu": workload.cpu, "memory": workload.memory}}}]},
                "status": {"phase": "Running",
                    "conditions": [{"type": "PodScheduled", "status": "True"}]}}))
            .unwrap();
            state.apply_pod(&pod);
        }
        (claims, nodepools, nodes, state)
    }

    fn summary(plan: &plan::Plan) -> Vec<(String, Reason, Verdict)> {
        plan.commands
            .iter()
            .map(|(c, v)| (c.nodes.join(","), c.reason, v.clone()))
            .collect()
    }

    #[test]
    fn the_controller_and_the_replay_plan_the_same_commands() {
        let trace = Trace::parse(TRACE).unwrap();
        let setup = setup(&trace);
        let strategy = Strategy {
            name: "test".into(),
            provisioner: Provisioner::Naive,
            disruptor: Disruptor::ClusterAutoscaler,
        };
        let mut sim = Sim::new(&trace, &setup, &strategy);
        replay_cluster(&mut sim);

        // The replay's builder.
        let replay_input = sim.plan_input();
        // The controller's builder, over the same cluster as Kubernetes objects.
        let (claims, nodepools, nodes, state) = controller_objects(&sim);
        let pods_on = |node: &str| state.pods_on(node);
        let clock = Clock::manual(sim.clock.now());
        let controller_input = ClusterView {
            claims: &claims,
            nodepools: &nodepools,
            nodes: &nodes,
            pods_on: &pods_on,
            snapshot: state.snapshot(),
            pools: replay_input.pools.clone(),
            static_pools: Vec::new(),
            flavors: setup.flavors.clone(),
            ovh_pool_sizes: replay_input.ovh_pool_sizes.clone(),
            drifted: HashMap::new(),
            busy_claims: Default::default(),
            in_flight_nodepools: Default::default(),
            now: clock.now(),
            validation_delay: VALIDATION_DELAY,
            options: Default::default(),
        }
        .plan_input(&clock);

        let run = |input: &plan::Input, clock: &Clock| {
            plan::plan(
                input,
                &mut pass::Memory::default(),
                clock,
                &Naive,
                &Naive,
                &mut delete_each,
            )
        };
        let from_replay = run(&replay_input, &sim.clock);
        let from_controller = run(&controller_input, &clock);

        assert_eq!(
            summary(&from_replay),
            vec![
                ("node-1".into(), Reason::Empty, Verdict::Validating),
                (
                    "node-5".into(),
                    Reason::Empty,
                    Verdict::OverBudget { allowed: 0 }
                ),
                ("node-4".into(), Reason::Expired, Verdict::Execute),
                ("node-2".into(), Reason::Underutilized, Verdict::Validating),
            ]
        );
        let refused: Vec<&str> = from_replay
            .refused
            .iter()
            .map(|r| r.nodes[0].as_str())
            .collect();
        assert_eq!(refused, vec!["node-0"], "the do-not-disrupt pod's node");
        assert_eq!(
            from_replay.commands[2].0.message,
            "expired: older than expireAfter 30m0s"
        );

        assert_eq!(from_controller.candidates, from_replay.candidates);
        assert_eq!(from_controller.policy_called, from_replay.policy_called);
        assert_eq!(from_controller.refused, from_replay.refused);
        assert_eq!(from_controller.not_replaced, from_replay.not_replaced);
        assert_eq!(from_controller.commands, from_replay.commands);
    }
}
