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

use super::baseline::{FixedFlavor, Naive};
use super::report::{percentiles, RunResult, Sample};
use super::setup::Setup;
use super::trace::{Action, ConsolidationPolicy, Trace};
use crate::policy::types::consolidation::{Action as CAction, ConsolidationRequest};
use crate::policy::types::{self as wit, Assignment};
use crate::policy::{ActivePolicy, PolicySet, World};
use crate::provisioning::wit::{
    flavor as flavor_to_wit, node as node_to_wit, pool as pool_to_wit,
    resources as resources_to_wit,
};
use crate::provisioning::{
    plan, plan_with, BatchWindow, FlavorPolicy, Input, Outcome, Plan, Pool as ReqPool,
};
use crate::scheduling::{wellknown, FlavorSpec, NodeState, PoolSpec, Resources, SimNode};
use crate::state::{ObjectKey, Snapshot};

/// Seconds between two disruption passes (Karpenter's cadence).
pub const DISRUPTION_PERIOD: u64 = 10;
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
    last_change: u64,
    low_since: Option<u64>,
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
}

/// Replays `trace` with `strategy`. `progress` is called about every 5% of simulated time.
pub fn replay(
    trace: &Trace,
    setup: &Setup,
    strategy: &Strategy<'_>,
    progress: &mut dyn FnMut(Progress),
) -> RunResult {
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
    let mut sim = Sim {
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
    };
    sim.run(progress);
    sim.result
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
            if let Place::Bound(n) | Place::Nominated(n) = pod.place {
                if let Some(node) = self.nodes.get_mut(&n) {
                    node.last_change = self.now;
                }
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
        if let Some(n) = self.nodes.get_mut(&node) {
            n.last_change = now;
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
                n.last_change = now;
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
        self.bursts += 1;
        let mut written = BTreeSet::new();
        for claim in &plan.claims {
            let Some(flavor) = self
                .setup
                .flavors
                .iter()
                .position(|f| f.name == claim.flavor)
            else {
                continue;
            };
            let Some(pool) = self
                .setup
                .pools
                .iter()
                .position(|p| p.spec.name == claim.nodepool)
            else {
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
                    },
                    pool,
                    flavor,
                    ovh_pool,
                    price: spec.hourly_price,
                    launched: self.now,
                    ready_at: self.now + startup,
                    ready: false,
                    last_change: self.now,
                    low_since: None,
                },
            );
            for key in &claim.pods {
                if let Some(p) = keys.get(key).and_then(|pid| self.pods.get_mut(pid)) {
                    p.place = Place::Nominated(id);
                }
            }
        }
        // One write (create or scale up) per OVH pool per batch.
        self.result.ovh_writes += written.len() as u64;
    }

    fn disrupt(&mut self) {
        if !self.nodes.values().any(|n| n.ready) {
            return;
        }
        let remove = match &self.strategy.disruptor {
            Disruptor::Policy { set, policy } => self.consolidate(set, policy),
            Disruptor::ClusterAutoscaler => self.scale_down(),
        };
        self.remove_nodes(&remove);
    }

    /// The disruption decision of a Karpenter-like strategy. Until the disruption module's pure
    /// entry point is wired here, this is empty-node removal: the consolidation policy is asked
    /// and only its `delete` commands over empty, consolidatable nodes are carried out.
    fn consolidate(&self, set: &PolicySet, policy: &Arc<ActivePolicy>) -> Vec<u64> {
        let requested = self.requested();
        let now = self.now;
        let mut by_node: BTreeMap<u64, BTreeMap<u32, u32>> = BTreeMap::new();
        for p in self.pods.values() {
            if let Place::Bound(n) | Place::Nominated(n) = p.place {
                *by_node
                    .entry(n)
                    .or_default()
                    .entry(p.workload as u32)
                    .or_default() += 1;
            }
        }
        let consolidatable = |n: &Node| {
            n.ready
                && self.setup.pools[n.pool]
                    .consolidate_after
                    .is_some_and(|after| now - n.last_change >= after)
        };
        if !self
            .nodes
            .iter()
            .any(|(id, n)| consolidatable(n) && !by_node.contains_key(id))
        {
            return Vec::new();
        }
        let flavors: &[FlavorSpec] = &self.setup.flavors;
        let nodes = self
            .nodes
            .iter()
            .filter(|(_, n)| n.ready)
            .map(|(id, n)| {
                let mut sim = n.sim.clone();
                sim.requested = requested.get(id).copied().unwrap_or_default();
                let mut node: wit::Node = node_to_wit(&sim, flavors);
                node.pods = by_node
                    .get(id)
                    .into_iter()
                    .flatten()
                    .map(|(g, c)| Assignment {
                        group: *g,
                        count: *c,
                    })
                    .collect();
                node.age_seconds = now - n.launched;
                node.disruptable = true;
                node.consolidatable = consolidatable(n);
                node
            })
            .collect();
        let pools = self.pool_specs();
        let nodepools = self
            .setup
            .pools
            .iter()
            .zip(&pools)
            .map(|(p, spec)| {
                let mut wit_pool = pool_to_wit(&ReqPool {
                    spec: spec.clone(),
                    daemonset_overhead: Resources::default(),
                });
                wit_pool.consolidation_policy = match p.consolidation_policy {
                    ConsolidationPolicy::WhenEmpty => wit::ConsolidationPolicy::WhenEmpty,
                    ConsolidationPolicy::WhenEmptyOrUnderutilized => {
                        wit::ConsolidationPolicy::WhenEmptyOrUnderutilized
                    }
                };
                wit_pool.consolidate_after_seconds = p.consolidate_after;
                wit_pool
            })
            .collect();
        let pod_groups = self
            .setup
            .specs
            .iter()
            .enumerate()
            .map(|(i, s)| wit::PodGroup {
                id: i as u32,
                name: s.owner.clone(),
                count: 0,
                requests: resources_to_wit(&s.requests),
                requirements: Vec::new(),
                tolerations: Vec::new(),
                spreads: Vec::new(),
                anti_affinity: Vec::new(),
                affinity: Vec::new(),
                zone_counts: Vec::new(),
            })
            .collect();
        let mut request = ConsolidationRequest {
            nodes,
            pod_groups,
            flavors: flavors.iter().map(flavor_to_wit).collect(),
            nodepools,
            config: String::new(),
        };
        let decision = match set.call_policy(policy, &mut request) {
            Ok(d) => Some(d),
            Err(_) => set
                .call_policy(&set.default_policy(World::Consolidation), &mut request)
                .ok(),
        };
        let by_name: HashMap<&str, u64> = self
            .nodes
            .iter()
            .map(|(id, n)| (n.sim.name.as_str(), *id))
            .collect();
        let mut out = Vec::new();
        for command in decision.into_iter().flat_map(|d| d.commands) {
            if !matches!(command.action, CAction::Delete) {
                continue;
            }
            let ids: Option<Vec<u64>> = command
                .nodes
                .iter()
                .map(|name| by_name.get(name.as_str()).copied())
                .collect();
            let Some(ids) = ids else { continue };
            if ids.iter().all(|id| {
                !by_node.contains_key(id)
                    && !out.contains(id)
                    && self.nodes.get(id).is_some_and(consolidatable)
            }) {
                out.extend(ids);
            }
        }
        out
    }

    /// Cluster-autoscaler scale-down: a node is unneeded while it is below 50% of its
    /// allocatable CPU and memory and its pods fit on the other Ready nodes; after 10 minutes
    /// unneeded, every empty one goes, and at most one non-empty one per pass.
    fn scale_down(&mut self) -> Vec<u64> {
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
        let mut out: Vec<u64> = self
            .nodes
            .iter()
            .filter(|(id, n)| unneeded(n) && !requested.contains_key(id))
            .map(|(id, _)| *id)
            .collect();
        let mut free = free;
        free.retain(|id, _| !out.contains(id));
        let busy = self
            .nodes
            .iter()
            .find(|(id, n)| unneeded(n) && requested.contains_key(id) && movable(**id, &free))
            .map(|(id, _)| *id);
        out.extend(busy);
        out
    }

    fn remove_nodes(&mut self, ids: &[u64]) {
        if ids.is_empty() {
            return;
        }
        let now = self.now;
        let mut written = BTreeSet::new();
        for id in ids {
            let Some(node) = self.nodes.remove(id) else {
                continue;
            };
            self.close(&node);
            self.result.disruptions += 1;
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
