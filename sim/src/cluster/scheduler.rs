//! The scheduler: binds pending pods to nodes through `pods/binding`, as kube-scheduler does.
//!
//! Its own implementation, on purpose independent of the controller's scheduling simulation
//! (in a real cluster they are two programs; a shared bug would hide). The filters are pure
//! functions over a [`Snapshot`]: requests vs allocatable (cpu, memory, ephemeral-storage,
//! `nvidia.com/gpu`, pod count), cordoned nodes, taints (NoSchedule, NoExecute), nodeSelector
//! and required node affinity, hard topology spread constraints, required pod affinity and
//! anti-affinity (both the pod's and existing pods'). A pod that fits nowhere gets
//! `PodScheduled=False, reason=Unschedulable` with kube-scheduler's message and a
//! `FailedScheduling` Event. Preemption is not simulated.

use super::api::{name_of, ns_of, uid_of, Api, PodCache};
use super::model::{
    label_selector_matches, tolerated, Labels, NodeInfo, PodAffinityTerm, PodInfo, Resources,
    SpreadConstraint, Taint,
};
use super::{Reconciler, Timing};
use crate::kube::{subresources, WatchEvent};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The scheduler's name (pods' `spec.schedulerName`, field manager, Event source).
pub const SCHEDULER_NAME: &str = "default-scheduler";

/// Reason of a node that fails the node affinity/selector filter.
pub const REASON_NODE_AFFINITY: &str = "node(s) didn't match Pod's node affinity/selector";
/// Reason of a cordoned node.
pub const REASON_UNSCHEDULABLE: &str = "node(s) were unschedulable";
/// Reason of a node failing a hard topology spread constraint.
pub const REASON_SPREAD: &str = "node(s) didn't match pod topology spread constraints";
/// Reason of a node lacking a topology spread constraint's key.
pub const REASON_SPREAD_LABEL: &str =
    "node(s) didn't match pod topology spread constraints (missing required label)";
/// Reason of a node failing the pod's affinity.
pub const REASON_AFFINITY: &str = "node(s) didn't match pod affinity rules";
/// kube-scheduler's NodePorts filter.
pub const REASON_PORTS: &str = "node(s) didn't have free ports for the requested pod ports";
/// Reason of a node failing the pod's anti-affinity.
pub const REASON_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
/// Reason of a node where an existing pod's anti-affinity forbids the pod.
pub const REASON_EXISTING_ANTI_AFFINITY: &str =
    "node(s) didn't satisfy existing pods anti-affinity rules";

/// What the scheduler knows of the cluster: nodes, pods bound to them, namespace labels.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    nodes: Vec<NodeInfo>,
    by_name: HashMap<String, usize>,
    pods: Vec<Arc<PodInfo>>,
    /// Indices in `pods` of the pods with anti-affinity terms.
    with_anti: Vec<usize>,
    ns_labels: HashMap<String, Labels>,
    used: HashMap<String, Resources>,
}

impl Snapshot {
    /// A snapshot over nodes and pods (pods not bound, or finished, are ignored).
    pub fn new(
        nodes: Vec<NodeInfo>,
        pods: impl IntoIterator<Item = impl Into<Arc<PodInfo>>>,
        ns_labels: HashMap<String, Labels>,
    ) -> Self {
        let by_name = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name.clone(), i))
            .collect();
        let mut s = Snapshot {
            nodes,
            by_name,
            pods: Vec::new(),
            with_anti: Vec::new(),
            ns_labels,
            used: HashMap::new(),
        };
        for p in pods {
            let p = p.into();
            if let Some(n) = p.node_name.clone() {
                if !p.is_terminal() {
                    s.assume(p, &n);
                }
            }
        }
        s
    }

    /// Records a pod as running on `node` (after binding it).
    pub fn assume(&mut self, pod: impl Into<Arc<PodInfo>>, node: &str) {
        let mut pod = pod.into();
        if pod.node_name.as_deref() != Some(node) {
            Arc::make_mut(&mut pod).node_name = Some(node.to_string());
        }
        let used = self.used.entry(node.to_string()).or_default();
        *used = used.add(&pod.requests);
        if !pod.anti_affinity.is_empty() {
            self.with_anti.push(self.pods.len());
        }
        self.pods.push(pod);
    }

    fn node(&self, name: &str) -> Option<&NodeInfo> {
        self.by_name.get(name).map(|i| &self.nodes[*i])
    }

    /// Resources requested by the pods on a node.
    pub fn used(&self, node: &str) -> Resources {
        self.used.get(node).copied().unwrap_or_default()
    }

    fn node_of(&self, pod: &PodInfo) -> Option<&NodeInfo> {
        pod.node_name.as_deref().and_then(|n| self.node(n))
    }
}

/// Why a pod fits on no node: how many nodes failed for each reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FitError {
    /// Nodes considered.
    pub nodes: usize,
    /// Reason -> number of nodes.
    pub reasons: BTreeMap<String, usize>,
}

impl FitError {
    /// kube-scheduler's message, e.g. `0/3 nodes are available: 1 Insufficient cpu, 2 node(s)
    /// had untolerated taint {CriticalAddonsOnly: true}. preemption: ...`.
    pub fn message(&self) -> String {
        if self.nodes == 0 {
            return "no nodes available to schedule pods".to_string();
        }
        let parts: Vec<String> = self
            .reasons
            .iter()
            .map(|(r, n)| format!("{n} {r}"))
            .collect();
        format!(
            "0/{n} nodes are available: {}. preemption: 0/{n} nodes are available: {n} Preemption is not helpful for scheduling.",
            parts.join(", "),
            n = self.nodes
        )
    }
}

fn taint_reason(t: &Taint) -> String {
    format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value)
}

/// Runs every filter of `pod` on `node`; the reasons it fails, if it does.
pub fn filter(pod: &PodInfo, node: &NodeInfo, snap: &Snapshot) -> Result<(), Vec<String>> {
    filter_with(pod, node, snap, &spread_counts(pod, snap))
}

fn filter_with(
    pod: &PodInfo,
    node: &NodeInfo,
    snap: &Snapshot,
    spread: &[BTreeMap<String, i64>],
) -> Result<(), Vec<String>> {
    if node.terminating {
        return Err(vec![REASON_UNSCHEDULABLE.to_string()]);
    }
    if node.unschedulable {
        let cordon = Taint {
            key: "node.kubernetes.io/unschedulable".into(),
            value: String::new(),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        if !super::model::tolerated(&pod.tolerations, &cordon) {
            return Err(vec![REASON_UNSCHEDULABLE.to_string()]);
        }
    }
    if let Some(t) = pod.untolerated(node, &["NoSchedule", "NoExecute"]) {
        return Err(vec![taint_reason(t)]);
    }
    if !pod.matches_node_affinity(node) {
        return Err(vec![REASON_NODE_AFFINITY.to_string()]);
    }
    if !pod.host_ports.is_empty() {
        let mut taken = snap
            .pods
            .iter()
            .filter(|p| p.node_name.as_deref() == Some(node.name.as_str()))
            .flat_map(|p| &p.host_ports);
        if taken.any(|t| pod.host_ports.iter().any(|h| h.conflicts(t))) {
            return Err(vec![REASON_PORTS.to_string()]);
        }
    }
    let free = node.allocatable.minus(&snap.used(&node.name));
    let mut short = pod.requests.shortfalls(&free);
    for (name, want) in &pod.extended {
        let used: i64 = snap
            .pods
            .iter()
            .filter(|p| p.node_name.as_deref() == Some(node.name.as_str()) && !p.is_terminal())
            .filter_map(|p| p.extended.get(name))
            .sum();
        if node.extended.get(name).copied().unwrap_or(0) - used < *want {
            short.push(format!("Insufficient {name}"));
        }
    }
    if !short.is_empty() {
        return Err(short);
    }
    spread_check(pod, node, spread).map_err(|r| vec![r.to_string()])?;
    inter_pod_filter(pod, node, snap).map_err(|r| vec![r.to_string()])?;
    Ok(())
}

/// Pods a spread constraint of `pod` counts, per domain: every domain of a node the constraint
/// counts (its node affinity and taint policies) is listed, empty ones with 0.
fn domain_counts(pod: &PodInfo, c: &SpreadConstraint, snap: &Snapshot) -> BTreeMap<String, i64> {
    let eligible = |n: &NodeInfo| {
        n.labels.contains_key(&c.topology_key)
            && (!c.honor_node_affinity || pod.matches_node_affinity(n))
            && (!c.honor_taints || pod.untolerated(n, &["NoSchedule", "NoExecute"]).is_none())
    };
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for n in snap.nodes.iter().filter(|n| eligible(n)) {
        counts.entry(n.labels[&c.topology_key].clone()).or_insert(0);
    }
    for p in &snap.pods {
        if p.namespace != pod.namespace
            || p.terminating
            || !label_selector_matches(&c.selector, Some(&p.labels))
        {
            continue;
        }
        if let Some(n) = snap.node_of(p).filter(|n| eligible(n)) {
            *counts.entry(n.labels[&c.topology_key].clone()).or_insert(0) += 1;
        }
    }
    counts
}

/// Pods counted per domain for each hard spread constraint of `pod` (the part of the
/// topology spread filter that does not depend on the candidate node).
pub fn spread_counts(pod: &PodInfo, snap: &Snapshot) -> Vec<BTreeMap<String, i64>> {
    pod.spread
        .iter()
        .filter(|c| c.hard)
        .map(|c| domain_counts(pod, c, snap))
        .collect()
}

/// Hard topology spread constraints (`whenUnsatisfiable: DoNotSchedule`), with the counts of
/// [`spread_counts`].
pub fn spread_check(
    pod: &PodInfo,
    node: &NodeInfo,
    counts: &[BTreeMap<String, i64>],
) -> Result<(), &'static str> {
    for (c, counts) in pod.spread.iter().filter(|c| c.hard).zip(counts) {
        let Some(domain) = node.labels.get(&c.topology_key) else {
            return Err(REASON_SPREAD_LABEL);
        };
        let self_match = i64::from(label_selector_matches(&c.selector, Some(&pod.labels)));
        let too_few_domains = c.min_domains.is_some_and(|m| (counts.len() as i64) < m);
        let min = if too_few_domains {
            0
        } else {
            counts.values().copied().min().unwrap_or(0)
        };
        let mine = counts.get(domain).copied().unwrap_or(0);
        if mine + self_match - min > c.max_skew {
            return Err(REASON_SPREAD);
        }
    }
    Ok(())
}

/// Hard topology spread constraints of `pod` on `node`.
pub fn spread_filter(pod: &PodInfo, node: &NodeInfo, snap: &Snapshot) -> Result<(), &'static str> {
    spread_check(pod, node, &spread_counts(pod, snap))
}

fn same_domain(a: &NodeInfo, b: &NodeInfo, key: &str) -> bool {
    matches!((a.labels.get(key), b.labels.get(key)), (Some(x), Some(y)) if x == y)
}

/// Required pod affinity and anti-affinity, the pod's and the existing pods'.
pub fn inter_pod_filter(
    pod: &PodInfo,
    node: &NodeInfo,
    snap: &Snapshot,
) -> Result<(), &'static str> {
    let ns_labels = |ns: &str| snap.ns_labels.get(ns);
    for p in snap.with_anti.iter().map(|i| &snap.pods[*i]) {
        let Some(pn) = snap.node_of(p) else { continue };
        for t in &p.anti_affinity {
            if same_domain(pn, node, &t.topology_key)
                && t.matches_pod(pod, ns_labels(&pod.namespace))
            {
                return Err(REASON_EXISTING_ANTI_AFFINITY);
            }
        }
    }
    for t in &pod.anti_affinity {
        for p in &snap.pods {
            let Some(pn) = snap.node_of(p) else { continue };
            if same_domain(pn, node, &t.topology_key) && t.matches_pod(p, ns_labels(&p.namespace)) {
                return Err(REASON_ANTI_AFFINITY);
            }
        }
    }
    for t in &pod.affinity {
        if !node.labels.contains_key(&t.topology_key) {
            return Err(REASON_AFFINITY);
        }
        let matching = || {
            snap.pods
                .iter()
                .filter(|p| t.matches_pod(p, ns_labels(&p.namespace)))
        };
        let in_domain = matching().any(|p| {
            snap.node_of(p)
                .is_some_and(|pn| same_domain(pn, node, &t.topology_key))
        });
        // The first pod of a group that selects itself may go anywhere.
        let first_of_group =
            matching().next().is_none() && t.matches_pod(pod, ns_labels(&pod.namespace));
        if !in_domain && !first_of_group {
            return Err(REASON_AFFINITY);
        }
    }
    Ok(())
}

/// Least-allocated score (higher is better) of `node` once `pod` is on it, 0..=2000.
fn least_allocated(pod: &PodInfo, node: &NodeInfo, snap: &Snapshot) -> i64 {
    let used = snap.used(&node.name).add(&pod.requests);
    let free = |used: i64, alloc: i64| {
        if alloc <= 0 {
            0
        } else {
            (alloc - used).max(0) * 1000 / alloc
        }
    };
    free(used.cpu_millis, node.allocatable.cpu_millis) + free(used.memory, node.allocatable.memory)
}

/// What the preference scores of a pod read from the cluster, once per pod rather than per
/// candidate node: per preferred pod (anti-)affinity term, the domains holding a pod it
/// matches; per `ScheduleAnyway` spread, its counts per domain.
struct Preferred<'p> {
    affinity: Vec<(i64, &'p str, BTreeSet<&'p str>)>,
    anti_affinity: Vec<(i64, &'p str, BTreeSet<&'p str>)>,
    spread: Vec<(&'p str, BTreeMap<String, i64>)>,
}

impl<'p> Preferred<'p> {
    fn of(pod: &'p PodInfo, snap: &'p Snapshot) -> Self {
        let ns_labels = |ns: &str| snap.ns_labels.get(ns);
        let domains = |terms: &'p [(i64, PodAffinityTerm)]| {
            terms
                .iter()
                .map(|(w, t)| {
                    let held: BTreeSet<&str> = snap
                        .pods
                        .iter()
                        .filter(|p| t.matches_pod(p, ns_labels(&p.namespace)))
                        .filter_map(|p| snap.node_of(p)?.labels.get(&t.topology_key))
                        .map(String::as_str)
                        .collect();
                    (*w, t.topology_key.as_str(), held)
                })
                .collect()
        };
        Preferred {
            affinity: domains(&pod.preferred_affinity),
            anti_affinity: domains(&pod.preferred_anti_affinity),
            spread: pod
                .spread
                .iter()
                .filter(|c| !c.hard)
                .map(|c| (c.topology_key.as_str(), domain_counts(pod, c, snap)))
                .collect(),
        }
    }
}

/// The raw scores of kube-scheduler's preference plugins for `pod` on `node`: NodeAffinity
/// (weights of the preferred terms it matches), InterPodAffinity (weights of the preferred
/// affinity terms with a matching pod in the node's domain, minus those of the anti-affinity
/// terms), PodTopologySpread (matching pods in the node's domain of each `ScheduleAnyway`
/// spread: fewer is better) and TaintToleration (untolerated `PreferNoSchedule` taints: fewer
/// is better).
fn preference_scores(pod: &PodInfo, node: &NodeInfo, preferred: &Preferred<'_>) -> [i64; 4] {
    let node_affinity = pod
        .preferred_node_affinity
        .iter()
        .filter(|(_, t)| t.matches(&node.name, &node.labels))
        .map(|(w, _)| *w)
        .sum();
    let in_domain = |terms: &[(i64, &str, BTreeSet<&str>)]| -> i64 {
        terms
            .iter()
            .filter(|(_, key, held)| {
                node.labels
                    .get(*key)
                    .is_some_and(|d| held.contains(d.as_str()))
            })
            .map(|(w, ..)| *w)
            .sum()
    };
    let inter_pod = in_domain(&preferred.affinity) - in_domain(&preferred.anti_affinity);
    let spread = preferred
        .spread
        .iter()
        .map(|(key, counts)| {
            node.labels
                .get(*key)
                .and_then(|d| counts.get(d))
                .copied()
                .unwrap_or(0)
        })
        .sum();
    let taints = node
        .taints
        .iter()
        .filter(|t| t.effect == "PreferNoSchedule" && !tolerated(&pod.tolerations, t))
        .count() as i64;
    [node_affinity, inter_pod, spread, taints]
}

/// Picks a node for `pod` among the feasible ones as kube-scheduler's default profile scores
/// them: each plugin's score normalized to 0..=100 over the feasible nodes, then weighted
/// (NodeResourcesFit least-allocated 1, NodeAffinity 2, InterPodAffinity 2, PodTopologySpread
/// 2, TaintToleration 3); ties broken by name.
pub fn schedule(pod: &PodInfo, snap: &Snapshot) -> Result<String, FitError> {
    let mut err = FitError {
        nodes: snap.nodes.len(),
        ..Default::default()
    };
    let spread = spread_counts(pod, snap);
    let preferred = Preferred::of(pod, snap);
    let mut feasible: Vec<(&NodeInfo, i64, [i64; 4])> = Vec::new();
    for node in &snap.nodes {
        match filter_with(pod, node, snap, &spread) {
            Ok(()) => feasible.push((
                node,
                least_allocated(pod, node, snap),
                preference_scores(pod, node, &preferred),
            )),
            Err(reasons) => {
                for r in reasons {
                    *err.reasons.entry(r).or_insert(0) += 1;
                }
            }
        }
    }
    // Normalized to 0..=100 over the feasible nodes; `lower_better` flips the scale.
    let normalize = |raw: i64, i: usize, lower_better: bool| -> i64 {
        let (lo, hi) = feasible
            .iter()
            .map(|f| f.2[i])
            .fold((i64::MAX, i64::MIN), |(lo, hi), v| (lo.min(v), hi.max(v)));
        if hi == lo {
            return if lower_better { 100 } else { 0 };
        }
        let s = (raw - lo) * 100 / (hi - lo);
        if lower_better {
            100 - s
        } else {
            s
        }
    };
    let total = |f: &(&NodeInfo, i64, [i64; 4])| {
        f.1 / 20
            + 2 * normalize(f.2[0], 0, false)
            + 2 * normalize(f.2[1], 1, false)
            + 2 * normalize(f.2[2], 2, true)
            + 3 * normalize(f.2[3], 3, true)
    };
    let mut best: Option<(i64, &str)> = None;
    for f in &feasible {
        let s = total(f);
        if best.is_none_or(|(bs, bn)| s > bs || (s == bs && f.0.name.as_str() < bn)) {
            best = Some((s, &f.0.name));
        }
    }
    best.map(|(_, n)| n.to_string()).ok_or(err)
}

/// kube-scheduler's backoff of a pod that could not be placed (`podInitialBackoffSeconds`,
/// `podMaxBackoffSeconds`), guide time: doubled at each failure.
const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// The scheduler loop.
pub(crate) struct Scheduler {
    api: Api,
    timing: Timing,
    /// Last FailedScheduling message and when its Event was recorded, per pod uid.
    failed: HashMap<String, (String, Instant)>,
    /// Pods that failed: when they may be tried again, and their current backoff (guide).
    /// Like kube-scheduler, an unschedulable pod waits out its backoff even when a node
    /// appears; without it every store change re-tried (and re-wrote the condition of) every
    /// pending pod, thousands of writes per node added at 10,000 pending pods.
    backoff: HashMap<String, (Instant, Duration)>,
    pod_cache: PodCache,
}

impl Scheduler {
    pub fn new(api: Api, timing: Timing) -> Self {
        Scheduler {
            api,
            timing,
            failed: HashMap::new(),
            backoff: HashMap::new(),
            pod_cache: PodCache::default(),
        }
    }

    fn bind(&self, pod: &Value, node: &str) -> bool {
        let name = name_of(pod);
        let ns = ns_of(pod);
        let binding = json!({
            "apiVersion": "v1", "kind": "Binding",
            "metadata": {"name": name, "namespace": ns},
            "target": {"apiVersion": "v1", "kind": "Node", "name": node},
        });
        match subresources::bind(&self.api.store, ns, name, &binding) {
            Ok(_) => {
                self.api.event(
                    pod,
                    "Normal",
                    "Scheduled",
                    &format!("Successfully assigned {ns}/{name} to {node}"),
                    SCHEDULER_NAME,
                    None,
                );
                true
            }
            Err(e) => {
                tracing::debug!(pod = name, node, error = %e.message, "binding failed");
                false
            }
        }
    }

    fn unschedulable(&mut self, pod: &Value, message: &str) {
        let cond = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|x| x["type"] == "PodScheduled"));
        let same = cond.is_some_and(|c| {
            c["status"] == "False" && c["reason"] == "Unschedulable" && c["message"] == message
        });
        if !same {
            let conds = json!([{
                "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": message, "lastProbeTime": null,
                "lastTransitionTime": crate::kube::store::now(),
            }]);
            let mut all: Vec<Value> = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            all.retain(|c| c["type"] != "PodScheduled");
            all.extend(conds.as_array().cloned().unwrap_or_default());
            let _ = self.api.merge(
                &self.api.pods,
                ns_of(pod),
                name_of(pod),
                &json!({"status": {"conditions": all}}),
                Some("status"),
                SCHEDULER_NAME,
            );
        }
        // kube-scheduler records an Event per attempt; attempts back off, so re-record at most
        // once per backoff period unless the reason changed.
        let uid = uid_of(pod).to_string();
        let due = match self.failed.get(&uid) {
            Some((m, at)) => {
                m != message || at.elapsed() >= self.timing.real(Duration::from_secs(60))
            }
            None => true,
        };
        if due {
            self.api.event(
                pod,
                "Warning",
                "FailedScheduling",
                message,
                SCHEDULER_NAME,
                None,
            );
            self.failed
                .insert(uid, (message.to_string(), Instant::now()));
        }
    }
}

impl Reconciler for Scheduler {
    fn interested(&self, ev: &WatchEvent) -> bool {
        ev.storage == self.api.pods.storage || ev.storage == self.api.nodes.storage
    }

    fn reconcile(&mut self) -> Option<Duration> {
        let raw_pods = self.api.pod_infos(&mut self.pod_cache);
        let nodes = self.api.node_infos();
        let ns_labels: HashMap<String, Labels> = self
            .api
            .all(&self.api.namespaces)
            .iter()
            .map(|n| {
                (
                    name_of(&n.value).to_string(),
                    super::model::string_map(&n.value["metadata"]["labels"]),
                )
            })
            .collect();
        let mut pending = Vec::new();
        let mut assigned = Vec::new();
        for (p, info) in raw_pods {
            if info.node_name.is_some() {
                assigned.push(info);
            } else if !info.terminating
                && info.phase == "Pending"
                && info.scheduler_name == SCHEDULER_NAME
            {
                pending.push((info, p));
            }
        }
        pending.sort_by(|(a, _), (b, _)| {
            b.priority
                .cmp(&a.priority)
                .then_with(|| a.created.cmp(&b.created))
                .then_with(|| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)))
        });
        let live: std::collections::HashSet<&str> =
            pending.iter().map(|(p, _)| p.uid.as_str()).collect();
        self.failed.retain(|uid, _| live.contains(uid.as_str()));
        self.backoff.retain(|uid, _| live.contains(uid.as_str()));
        let mut snap = Snapshot::new(nodes, assigned, ns_labels);
        let now = Instant::now();
        let mut next: Option<Duration> = None;
        let mut soonest = |d: Duration| next = Some(next.map_or(d, |n| n.min(d)));
        for (info, raw) in pending {
            if let Some((at, _)) = self.backoff.get(&info.uid) {
                if *at > now {
                    soonest(*at - now);
                    continue;
                }
            }
            match schedule(&info, &snap) {
                Ok(node) => {
                    if self.bind(&raw.value, &node) {
                        self.failed.remove(&info.uid);
                        self.backoff.remove(&info.uid);
                        snap.assume(info, &node);
                    }
                }
                Err(e) => {
                    self.unschedulable(&raw.value, &e.message());
                    let delay = self
                        .backoff
                        .get(&info.uid)
                        .map_or(INITIAL_BACKOFF, |(_, d)| (*d * 2).min(MAX_BACKOFF));
                    let real = self.timing.real(delay);
                    self.backoff.insert(info.uid.clone(), (now + real, delay));
                    soonest(real);
                }
            }
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, zone: &str, cpu: &str, extra: Value) -> NodeInfo {
        let mut v = json!({
            "metadata": {"name": name, "labels": {
                "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone}},
            "spec": {},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]},
        });
        json_patch::merge(&mut v, &extra);
        NodeInfo::from_value(&v)
    }

    fn pod(name: &str, labels: Value, spec: Value) -> PodInfo {
        let mut s =
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "500m"}}}]});
        json_patch::merge(&mut s, &spec);
        PodInfo::from_value(&json!({
            "metadata": {"name": name, "namespace": "default", "uid": name, "labels": labels},
            "spec": s,
            "status": {"phase": "Pending"},
        }))
    }

    fn on(mut p: PodInfo, node: &str) -> PodInfo {
        p.node_name = Some(node.into());
        p.phase = "Running".into();
        p
    }

    fn snap(nodes: Vec<NodeInfo>, pods: Vec<PodInfo>) -> Snapshot {
        Snapshot::new(nodes, pods, HashMap::new())
    }

    #[test]
    fn host_ports_take_one_pod_per_node_and_address() {
        let web = |name: &str, port: Value| {
            pod(
                name,
                json!({}),
                json!({"containers": [{"name": "c", "ports": [port],
                    "resources": {"requests": {"cpu": "100m"}}}]}),
            )
        };
        let s = snap(
            vec![
                node("n1", "a", "4", json!({})),
                node("n2", "a", "1", json!({})),
            ],
            vec![on(
                web("old", json!({"containerPort": 80, "hostPort": 8080})),
                "n1",
            )],
        );
        // The bigger node n1 would win, but its 8080/TCP is taken.
        let same = web("new", json!({"containerPort": 80, "hostPort": 8080}));
        assert_eq!(schedule(&same, &s), Ok("n2".into()));
        let alone = snap(
            vec![node("n1", "a", "4", json!({}))],
            vec![on(
                web("old", json!({"containerPort": 80, "hostPort": 8080})),
                "n1",
            )],
        );
        assert_eq!(
            schedule(&same, &alone).unwrap_err().message(),
            "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
        // Another protocol, or another port, or a container port alone, does not conflict.
        for free in [
            json!({"containerPort": 80, "hostPort": 8080, "protocol": "UDP"}),
            json!({"containerPort": 80, "hostPort": 8081}),
            json!({"containerPort": 8080}),
        ] {
            assert_eq!(schedule(&web("new", free), &alone), Ok("n1".into()));
        }
        // Two specific addresses do not overlap; 0.0.0.0 overlaps every address.
        let on_ip = |name: &str, ip: &str| {
            web(
                name,
                json!({"containerPort": 80, "hostPort": 9000, "hostIP": ip}),
            )
        };
        let s = snap(
            vec![node("n1", "a", "4", json!({}))],
            vec![on(on_ip("a", "10.0.0.1"), "n1")],
        );
        assert_eq!(schedule(&on_ip("b", "10.0.0.2"), &s), Ok("n1".into()));
        assert!(schedule(&on_ip("c", "0.0.0.0"), &s).is_err());
    }

    #[test]
    fn resources_and_pod_count() {
        let s = snap(
            vec![node("n1", "a", "1", json!({}))],
            vec![on(pod("x", json!({}), json!({})), "n1")],
        );
        assert_eq!(
            schedule(&pod("p", json!({}), json!({})), &s),
            Ok("n1".into())
        );
        let big = pod(
            "big",
            json!({}),
            json!({"containers": [{"name": "c", "resources": {"requests": {"cpu": "600m", "memory": "9Gi", "nvidia.com/gpu": "1"}}}]}),
        );
        let e = schedule(&big, &s).unwrap_err();
        assert_eq!(
            e.message(),
            "0/1 nodes are available: 1 Insufficient cpu, 1 Insufficient memory, 1 Insufficient nvidia.com/gpu. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling."
        );
        let full = snap(
            vec![node(
                "n1",
                "a",
                "4",
                json!({"status": {"allocatable": {"pods": "1"}}}),
            )],
            vec![on(pod("x", json!({}), json!({})), "n1")],
        );
        let e = schedule(&pod("p", json!({}), json!({})), &full).unwrap_err();
        assert_eq!(e.reasons.keys().collect::<Vec<_>>(), ["Too many pods"]);
        assert_eq!(snap(vec![], vec![]).nodes.len(), 0);
        assert_eq!(
            schedule(&pod("p", json!({}), json!({})), &snap(vec![], vec![]))
                .unwrap_err()
                .message(),
            "no nodes available to schedule pods"
        );
    }

    #[test]
    fn finished_pods_free_their_resources() {
        let mut done = on(pod("x", json!({}), json!({})), "n1");
        done.phase = "Succeeded".into();
        let s = snap(vec![node("n1", "a", "500m", json!({}))], vec![done]);
        assert!(schedule(&pod("p", json!({}), json!({})), &s).is_ok());
    }

    #[test]
    fn node_selector_and_required_affinity() {
        let nodes = vec![
            node(
                "n1",
                "a",
                "2",
                json!({"metadata": {"labels": {"size": "8"}}}),
            ),
            node(
                "n2",
                "b",
                "2",
                json!({"metadata": {"labels": {"size": "16"}}}),
            ),
        ];
        let s = snap(nodes, vec![]);
        let sel = pod(
            "p",
            json!({}),
            json!({"nodeSelector": {"topology.kubernetes.io/zone": "b"}}),
        );
        assert_eq!(schedule(&sel, &s), Ok("n2".into()));
        let gt = pod(
            "p",
            json!({}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchExpressions": [{"key": "size", "operator": "Gt", "values": ["10"]}]}]}}}}),
        );
        assert_eq!(schedule(&gt, &s), Ok("n2".into()));
        let field = pod(
            "p",
            json!({}),
            json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["n1"]}]}]}}}}),
        );
        assert_eq!(schedule(&field, &s), Ok("n1".into()));
        let none = pod("p", json!({}), json!({"nodeSelector": {"size": "32"}}));
        let e = schedule(&none, &s).unwrap_err();
        assert_eq!(e.reasons[REASON_NODE_AFFINITY], 2);
    }

    #[test]
    fn taints_tolerations_and_cordon() {
        let nodes = vec![
            node(
                "n1",
                "a",
                "2",
                json!({"spec": {"taints": [{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}]}}),
            ),
            node(
                "n2",
                "a",
                "2",
                json!({"spec": {"taints": [{"key": "gpu", "value": "", "effect": "NoExecute"}]}}),
            ),
            node("n3", "a", "2", json!({"spec": {"unschedulable": true}})),
            node(
                "n4",
                "a",
                "2",
                json!({"spec": {"taints": [{"key": "soft", "effect": "PreferNoSchedule"}]}}),
            ),
        ];
        let s = snap(nodes.clone(), vec![]);
        assert_eq!(
            schedule(&pod("p", json!({}), json!({})), &s),
            Ok("n4".into())
        );
        let s3 = snap(nodes[..3].to_vec(), vec![]);
        let e = schedule(&pod("p", json!({}), json!({})), &s3).unwrap_err();
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {CriticalAddonsOnly: true}, 1 node(s) had untolerated taint {gpu: }, 1 node(s) were unschedulable. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        );
        let tol = pod(
            "p",
            json!({}),
            json!({"tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"}]}),
        );
        assert_eq!(schedule(&tol, &s3), Ok("n1".into()));
        let all = pod(
            "p",
            json!({}),
            json!({"tolerations": [{"operator": "Exists"}], "nodeSelector": {"kubernetes.io/hostname": "n3"}}),
        );
        assert_eq!(
            schedule(&all, &s3),
            Ok("n3".into()),
            "tolerating everything tolerates a cordon"
        );
    }

    #[test]
    fn topology_spread_zone_and_hostname() {
        let nodes = vec![
            node("a1", "a", "8", json!({})),
            node("b1", "b", "8", json!({})),
            node("c1", "c", "8", json!({})),
        ];
        let spread = |key: &str| {
            json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": key,
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "z"}}}]})
        };
        let app = json!({"app": "z"});
        let existing = vec![
            on(pod("x1", app.clone(), json!({})), "a1"),
            on(pod("x2", app.clone(), json!({})), "b1"),
            on(pod("x3", app.clone(), json!({})), "a1"),
        ];
        let s = snap(nodes.clone(), existing.clone());
        let p = pod("p", app.clone(), spread("topology.kubernetes.io/zone"));
        assert_eq!(schedule(&p, &s), Ok("c1".into()));
        assert_eq!(
            filter(&p, &nodes[0], &s),
            Err(vec![REASON_SPREAD.to_string()])
        );
        assert_eq!(
            filter(&p, &nodes[1], &s),
            Err(vec![REASON_SPREAD.to_string()])
        );
        // A pod the selector does not match does not add to its own domain's count.
        let other = pod(
            "q",
            json!({"app": "other"}),
            spread("topology.kubernetes.io/zone"),
        );
        assert!(filter(&other, &nodes[1], &s).is_ok());
        // A node without the key fails with the missing-label reason.
        let s2 = snap(nodes.clone(), vec![]);
        let host = pod("p", app.clone(), spread("example.com/rack"));
        assert_eq!(
            schedule(&host, &s2).unwrap_err().reasons[REASON_SPREAD_LABEL],
            3
        );
        // Hostname spread: two pods on a1 and none on b1/c1 -> a1 refused.
        let h = pod("p", app.clone(), spread("kubernetes.io/hostname"));
        assert_eq!(
            filter(&h, &nodes[0], &s),
            Err(vec![REASON_SPREAD.to_string()])
        );
        assert!(filter(&h, &nodes[2], &s).is_ok());
        // ScheduleAnyway is not a filter.
        let soft = pod(
            "p",
            app,
            json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "z"}}}]}),
        );
        assert!(filter(&soft, &nodes[0], &s).is_ok());
    }

    #[test]
    fn spread_honours_node_affinity_when_counting_domains() {
        let nodes = vec![
            node(
                "a1",
                "a",
                "8",
                json!({"metadata": {"labels": {"pool": "x"}}}),
            ),
            node(
                "b1",
                "b",
                "8",
                json!({"metadata": {"labels": {"pool": "y"}}}),
            ),
        ];
        let app = json!({"app": "z"});
        let s = snap(
            nodes.clone(),
            vec![on(pod("x1", app.clone(), json!({})), "a1")],
        );
        let p = pod(
            "p",
            app,
            json!({"nodeSelector": {"pool": "x"}, "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "z"}}}]}),
        );
        // Zone b is not eligible (pool y), so a is the only domain: skew 0.
        assert!(filter(&p, &nodes[0], &s).is_ok());
    }

    /// The demo's zone-spread Deployment (09) while the third zone's node has not registered
    /// yet: its nodeSelector (`karpenter.sh/nodepool`, set at registration) leaves that zone
    /// out of the domains, so with maxSkew 1 alone kube-scheduler lets two zones take all six
    /// pods (3/3/0, or 3/2/1 when the third node comes in between). With `minDomains: 3`
    /// fewer than three domains count as a global minimum of 0: one pod per present zone,
    /// the rest Pending until the third node is there, then 2/2/2.
    #[test]
    fn spread_over_zones_not_all_registered_needs_min_domains() {
        let labelled = json!({"metadata": {"labels": {"karpenter.sh/nodepool": "multizone"}}});
        let a = node("a1", "a", "8", labelled.clone());
        let b = node("b1", "b", "8", labelled.clone());
        // Registered by MKS, not yet by the controller: no NodePool label.
        let c_joining = node("c1", "c", "8", json!({}));
        let c = node("c1", "c", "8", labelled);
        let app = json!({"app": "zone-spread"});
        let spec = |min_domains: Option<i64>| {
            let mut tsc = json!({"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "zone-spread"}}});
            if let Some(m) = min_domains {
                tsc["minDomains"] = json!(m);
            }
            json!({"nodeSelector": {"karpenter.sh/nodepool": "multizone"},
                   "topologySpreadConstraints": [tsc]})
        };
        // Binds pods one at a time, as the scheduler loop does; returns pods per zone.
        let place = |s: &mut Snapshot, min_domains: Option<i64>, n: usize| {
            for i in 0..n {
                let p = pod(&format!("p{i}"), app.clone(), spec(min_domains));
                if let Ok(node) = schedule(&p, s) {
                    s.assume(p, &node);
                }
            }
            let mut zones: BTreeMap<String, usize> = BTreeMap::new();
            for p in &s.pods {
                let n = s.node_of(p).unwrap();
                *zones
                    .entry(n.labels["topology.kubernetes.io/zone"].clone())
                    .or_default() += 1;
            }
            zones.into_values().collect::<Vec<_>>()
        };
        let mut s = snap(vec![a.clone(), b.clone(), c_joining.clone()], vec![]);
        assert_eq!(
            place(&mut s, None, 6),
            [3, 3],
            "maxSkew alone: c is no domain"
        );
        let mut s = snap(vec![a.clone(), b.clone(), c_joining], vec![]);
        assert_eq!(
            place(&mut s, Some(3), 6),
            [1, 1],
            "the rest wait for a third domain"
        );
        let bound: Vec<PodInfo> = s.pods.iter().map(|p| PodInfo::clone(p)).collect();
        let mut s = snap(vec![a, b, c], bound);
        assert_eq!(place(&mut s, Some(3), 4), [2, 2, 2]);
    }

    #[test]
    fn pod_anti_affinity_both_ways() {
        let nodes = vec![
            node("n1", "a", "8", json!({})),
            node("n2", "a", "8", json!({})),
            node("n3", "b", "8", json!({})),
        ];
        let anti = |key: &str| json!({"affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": key, "labelSelector": {"matchLabels": {"app": "db"}}}]}}});
        let s = snap(
            nodes.clone(),
            vec![on(pod("x", json!({"app": "db"}), json!({})), "n1")],
        );
        let p = pod("p", json!({"app": "db"}), anti("kubernetes.io/hostname"));
        assert_eq!(
            filter(&p, &nodes[0], &s),
            Err(vec![REASON_ANTI_AFFINITY.to_string()])
        );
        assert!(filter(&p, &nodes[1], &s).is_ok());
        let pz = pod(
            "p",
            json!({"app": "db"}),
            anti("topology.kubernetes.io/zone"),
        );
        assert_eq!(schedule(&pz, &s), Ok("n3".into()));
        // An existing pod's anti-affinity keeps matching pods away from its domain.
        let s2 = snap(
            nodes.clone(),
            vec![on(
                pod("x", json!({"app": "web"}), anti("kubernetes.io/hostname")),
                "n1",
            )],
        );
        let plain = pod("p", json!({"app": "db"}), json!({}));
        assert_eq!(
            filter(&plain, &nodes[0], &s2),
            Err(vec![REASON_EXISTING_ANTI_AFFINITY.to_string()])
        );
        assert!(filter(&plain, &nodes[1], &s2).is_ok());
        // Another namespace is out of the term's scope.
        let mut elsewhere = plain.clone();
        elsewhere.namespace = "other".into();
        assert!(filter(&elsewhere, &nodes[0], &s2).is_ok());
    }

    #[test]
    fn pod_affinity_and_first_of_group() {
        let nodes = vec![
            node("n1", "a", "8", json!({})),
            node("n2", "b", "8", json!({})),
        ];
        let aff = json!({"affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": "topology.kubernetes.io/zone", "labelSelector": {"matchLabels": {"app": "cache"}}}]}}});
        let s = snap(
            nodes.clone(),
            vec![on(pod("c", json!({"app": "cache"}), json!({})), "n2")],
        );
        let p = pod("p", json!({"app": "web"}), aff.clone());
        assert_eq!(schedule(&p, &s), Ok("n2".into()));
        assert_eq!(
            filter(&p, &nodes[0], &s),
            Err(vec![REASON_AFFINITY.to_string()])
        );
        // No cache pod anywhere: a web pod cannot go, a cache pod selecting itself can.
        let empty = snap(nodes, vec![]);
        assert_eq!(
            schedule(&p, &empty).unwrap_err().reasons[REASON_AFFINITY],
            2
        );
        let first = pod("c2", json!({"app": "cache"}), aff);
        assert!(schedule(&first, &empty).is_ok());
    }

    #[test]
    fn preferences_score_the_feasible_nodes() {
        // Two equal nodes in zones a and b; a pod of app=web runs on the one in a.
        let nodes = || {
            vec![
                node("n-a", "a", "8", json!({})),
                node("n-b", "b", "8", json!({})),
            ]
        };
        let web = on(pod("w0", json!({"app": "web"}), json!({})), "n-b");
        let term = |w: i64| {
            json!({"weight": w, "podAffinityTerm": {"topologyKey": "topology.kubernetes.io/zone",
                "labelSelector": {"matchLabels": {"app": "web"}}}})
        };
        let anti = pod(
            "w1",
            json!({"app": "web"}),
            json!({"affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term(100)]}}}),
        );
        // Least allocated alone would pick n-a too (n-b holds a pod); make n-a the busier one.
        let busy = on(pod("other", json!({"app": "other"}), json!({})), "n-a");
        let s = snap(nodes(), vec![web.clone(), busy.clone(), busy.clone()]);
        assert_eq!(
            schedule(&anti, &s),
            Ok("n-a".into()),
            "away from the web pod"
        );
        let with = pod(
            "w2",
            json!({"app": "web"}),
            json!({"affinity": {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term(100)]}}}),
        );
        assert_eq!(schedule(&with, &s), Ok("n-b".into()), "next to the web pod");
        // Preferred node affinity, and a ScheduleAnyway spread towards the emptier zone.
        let zone_b = pod(
            "z",
            json!({}),
            json!({"affinity": {"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "preference": {"matchExpressions": [
                    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["b"]}]}}]}}}),
        );
        let s = snap(nodes(), vec![]);
        assert_eq!(schedule(&zone_b, &s), Ok("n-b".into()));
        let spread = pod(
            "s",
            json!({"app": "web"}),
            json!({"topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway", "labelSelector": {"matchLabels": {"app": "web"}}}]}),
        );
        let s = snap(nodes(), vec![web, busy]);
        assert_eq!(schedule(&spread, &s), Ok("n-a".into()));
    }

    #[test]
    fn extended_resources_need_a_node_that_offers_them() {
        let fpga = json!({"containers": [{"name": "c", "resources": {
            "requests": {"cpu": "100m", "example.com/fpga": "1"},
            "limits": {"example.com/fpga": "1"}}}]});
        let nodes = vec![
            node("plain", "a", "4", json!({})),
            node(
                "with-fpga",
                "a",
                "4",
                json!({"status": {"allocatable": {"example.com/fpga": "1"}}}),
            ),
        ];
        let s = snap(nodes.clone(), vec![]);
        assert_eq!(
            schedule(&pod("p", json!({}), fpga.clone()), &s),
            Ok("with-fpga".into())
        );
        // Its one device taken: no node has one free, as kube-scheduler says it.
        let s = snap(
            nodes,
            vec![on(pod("q", json!({}), fpga.clone()), "with-fpga")],
        );
        let err = schedule(&pod("p", json!({}), fpga), &s).unwrap_err();
        assert_eq!(
            err.message(),
            "0/2 nodes are available: 2 Insufficient example.com/fpga. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn least_allocated_node_wins() {
        let nodes = vec![
            node("n1", "a", "4", json!({})),
            node("n2", "a", "4", json!({})),
        ];
        let s = snap(nodes, vec![on(pod("x", json!({}), json!({})), "n1")]);
        assert_eq!(
            schedule(&pod("p", json!({}), json!({})), &s),
            Ok("n2".into())
        );
    }
}
