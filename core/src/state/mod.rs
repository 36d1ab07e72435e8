//! The cluster model: nodes, pods (bound and pending), NodeClaims in flight, DaemonSets (whose
//! pods land on every future node they match) and PDBs, with the capacity left on each node.
//!
//! It is kept up to date incrementally from watch events ([`ClusterState::apply_event`]): each
//! event touches only the object and the node it is bound to, never a full rebuild.
//! [`ClusterState::snapshot`] hands the scheduler a cheap, consistent copy (shared `Arc`s).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::api::labels::DO_NOT_DISRUPT;
use crate::scheduling::convert;
use crate::scheduling::{LabelSelector, NodeState, PodSpec, Resources, SimNode};

/// `namespace/name` of a namespaced object.
pub type ObjectKey = String;

/// One change of a watched kind, borrowed from the watcher that saw it. The variants are those
/// of kube-runtime's `watcher::Event`; the model defines its own so that it stays free of the
/// Kubernetes client (the controller's watch loop translates).
#[derive(Clone, Copy, Debug)]
pub enum Event<'a, K> {
    /// An object was added or modified.
    Apply(&'a K),
    /// An object was deleted.
    Delete(&'a K),
    /// A relist starts: objects not listed before [`Event::InitDone`] are gone.
    Init,
    /// An object listed by the relist.
    InitApply(&'a K),
    /// The relist is complete.
    InitDone,
}

/// The key of an object: `namespace/name`.
pub fn key_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> ObjectKey {
    format!(
        "{}/{}",
        meta.namespace.as_deref().unwrap_or(""),
        meta.name.as_deref().unwrap_or("")
    )
}

/// A PodDisruptionBudget as the disruption logic needs it.
#[derive(Clone, Debug, PartialEq)]
pub struct Pdb {
    /// `namespace/name`.
    pub key: String,
    /// Namespace the selector applies in.
    pub namespace: String,
    /// Pods it protects.
    pub selector: LabelSelector,
    /// `spec.minAvailable` (integer or percentage), as written.
    pub min_available: Option<String>,
    /// `spec.maxUnavailable` (integer or percentage), as written.
    pub max_unavailable: Option<String>,
    /// `status.disruptionsAllowed`.
    pub disruptions_allowed: i32,
}

impl Pdb {
    /// Whether the budget covers the pod.
    pub fn covers(&self, pod: &PodSpec) -> bool {
        pod.namespace == self.namespace && self.selector.matches(&pod.labels)
    }
}

#[derive(Clone, Debug)]
struct PodEntry {
    spec: Arc<PodSpec>,
    limits: Resources,
    node: Option<String>,
    pending: bool,
    uid: String,
    daemon: bool,
    do_not_disrupt: bool,
}

/// A pod bound to a node, as the disruption pass sees it (kept here so the pass never lists
/// every pod from the API server: at 10,000 pods one list is tens of MB).
#[derive(Clone, Debug)]
pub struct BoundPod {
    /// `namespace/name`.
    pub key: String,
    /// `metadata.uid`: a replaced pod of the same name counts as a change.
    pub uid: String,
    /// Owned by a DaemonSet (it runs on every node, so it neither moves nor counts as a change).
    pub daemon: bool,
    /// Annotated `karpenter.sh/do-not-disrupt: "true"`.
    pub do_not_disrupt: bool,
    /// Its scheduling view (labels for PDB selectors, requests).
    pub spec: Arc<PodSpec>,
    /// Its limits (node metrics).
    pub limits: Resources,
}

/// What the scheduler works on: a consistent copy of the model at one instant.
#[derive(Clone, Debug, Default)]
pub struct Snapshot {
    /// Registered nodes (deleting ones included: they are not destinations but hold pods).
    pub nodes: Vec<Arc<SimNode>>,
    /// NodeClaims launched whose node has not registered yet, as nodes in state `Launching`.
    pub in_flight: Vec<Arc<SimNode>>,
    /// Bound pods with the index of their node in `nodes`.
    pub bound: Vec<(Arc<PodSpec>, usize)>,
    /// Pending pods the scheduler could not place, by key.
    pub pending: Vec<(ObjectKey, Arc<PodSpec>)>,
    /// Pod templates of the DaemonSets.
    pub daemonsets: Vec<Arc<PodSpec>>,
    /// PodDisruptionBudgets.
    pub pdbs: Vec<Arc<Pdb>>,
}

/// The kinds of watched objects, for relist bookkeeping.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Pods.
    Pod,
    /// Nodes.
    Node,
    /// DaemonSets.
    DaemonSet,
    /// PodDisruptionBudgets.
    Pdb,
}

/// The cluster model.
#[derive(Debug, Default)]
pub struct ClusterState {
    nodes: HashMap<String, Arc<SimNode>>,
    pods: HashMap<ObjectKey, PodEntry>,
    pods_by_node: HashMap<String, HashSet<ObjectKey>>,
    claims: HashMap<String, Arc<SimNode>>,
    daemonsets: HashMap<ObjectKey, Arc<PodSpec>>,
    pdbs: HashMap<ObjectKey, Arc<Pdb>>,
    relisting: HashMap<Kind, HashSet<String>>,
}

/// Whether a pod waits for a node: not bound, not finished, not terminating, not a DaemonSet
/// pod, and not yet judged schedulable by the kube-scheduler (no PodScheduled condition yet, or
/// PodScheduled=False with reason Unschedulable).
pub fn is_pending(pod: &Pod) -> bool {
    let spec_bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
    let status = pod.status.as_ref();
    let finished = matches!(
        status.and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    );
    let daemon = is_daemon(pod);
    let scheduled = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    let unschedulable = match scheduled {
        None => true,
        Some(c) => c.status == "False" && c.reason.as_deref() == Some("Unschedulable"),
    };
    !spec_bound
        && !finished
        && !daemon
        && pod.metadata.deletion_timestamp.is_none()
        && unschedulable
}

/// Whether a DaemonSet owns the pod.
pub fn is_daemon(pod: &Pod) -> bool {
    pod.metadata
        .owner_references
        .iter()
        .flatten()
        .any(|o| o.kind == "DaemonSet")
}

fn int_or_string(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

impl ClusterState {
    /// An empty model.
    pub fn new() -> Self {
        Self::default()
    }

    fn bind(&mut self, key: &ObjectKey, node: &str, requests: Resources, add: bool) {
        let set = self.pods_by_node.entry(node.to_string()).or_default();
        if add {
            set.insert(key.clone());
        } else {
            set.remove(key);
            if set.is_empty() {
                self.pods_by_node.remove(node);
            }
        }
        if let Some(n) = self.nodes.get_mut(node) {
            let n = Arc::make_mut(n);
            n.requested = if add {
                n.requested + requests
            } else {
                n.requested.saturating_sub(&requests)
            };
        }
    }

    fn remove_pod(&mut self, key: &ObjectKey) {
        if let Some(old) = self.pods.remove(key) {
            if let Some(node) = &old.node {
                self.bind(key, node, old.spec.requests, false);
            }
        }
    }

    /// Applies a pod (added or changed).
    pub fn apply_pod(&mut self, pod: &Pod) {
        let key = key_of(&pod.metadata);
        self.remove_pod(&key);
        let finished = matches!(
            pod.status.as_ref().and_then(|s| s.phase.as_deref()),
            Some("Succeeded" | "Failed")
        );
        if finished {
            return;
        }
        let node = pod.spec.as_ref().and_then(|s| s.node_name.clone());
        let entry = PodEntry {
            spec: Arc::new(convert::pod(pod)),
            limits: pod
                .spec
                .as_ref()
                .map(convert::pod_limits)
                .unwrap_or_default(),
            pending: is_pending(pod),
            node: node.clone(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            daemon: is_daemon(pod),
            do_not_disrupt: pod
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(DO_NOT_DISRUPT))
                .is_some_and(|v| v == "true"),
        };
        if let Some(node) = &node {
            self.bind(&key, node, entry.spec.requests, true);
        }
        self.pods.insert(key, entry);
    }

    /// Whether `node` runs no pod but DaemonSet ones (upstream's "empty"), without copying
    /// its pods.
    pub fn is_empty_node(&self, node: &str) -> bool {
        self.pods_by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get(k))
            .all(|p| p.daemon)
    }

    /// The pods bound to `node` that have not finished.
    pub fn pods_on(&self, node: &str) -> Vec<BoundPod> {
        self.pods_by_node
            .get(node)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get(k).map(|p| (k, p)))
            .map(|(k, p)| BoundPod {
                key: k.clone(),
                uid: p.uid.clone(),
                daemon: p.daemon,
                do_not_disrupt: p.do_not_disrupt,
                spec: p.spec.clone(),
                limits: p.limits,
            })
            .collect()
    }

    /// Removes a pod.
    pub fn delete_pod(&mut self, pod: &Pod) {
        self.remove_pod(&key_of(&pod.metadata));
    }

    /// Applies a node (added or changed); its requested resources are the sum of its pods.
    pub fn apply_node(&mut self, node: &Node) {
        let mut sim = convert::node(node);
        let nodeclaim = self
            .claims
            .iter()
            .find(|(_, c)| c.name == sim.name)
            .map(|(name, _)| name.clone());
        sim.nodeclaim = nodeclaim;
        sim.requested = self
            .pods_by_node
            .get(&sim.name)
            .into_iter()
            .flatten()
            .filter_map(|k| self.pods.get(k))
            .fold(Resources::default(), |s, p| s + p.spec.requests);
        self.nodes.insert(sim.name.clone(), Arc::new(sim));
    }

    /// Removes a node.
    pub fn delete_node(&mut self, node: &Node) {
        if let Some(name) = &node.metadata.name {
            self.nodes.remove(name);
        }
    }

    /// Records a NodeClaim in flight as the node it will become: `node.name` is the name its
    /// Node will have when known (else the NodeClaim's name), `node.requested` its DaemonSet
    /// overhead. Once a Node of that name reports allocatable resources, the claim stops being
    /// in flight.
    pub fn apply_claim(&mut self, claim: &str, node: SimNode) {
        let node = SimNode {
            nodeclaim: Some(claim.to_string()),
            ..node
        };
        if let Some(n) = self.nodes.get_mut(&node.name) {
            Arc::make_mut(n).nodeclaim = Some(claim.to_string());
        }
        self.claims.insert(claim.to_string(), Arc::new(node));
    }

    /// Forgets a NodeClaim.
    pub fn delete_claim(&mut self, claim: &str) {
        self.claims.remove(claim);
    }

    /// Names of the NodeClaims recorded.
    pub fn claim_names(&self) -> Vec<String> {
        self.claims.keys().cloned().collect()
    }

    /// Applies a DaemonSet: its pod template will run on every node it matches.
    pub fn apply_daemonset(&mut self, ds: &DaemonSet) {
        let key = key_of(&ds.metadata);
        let Some(spec) = ds.spec.as_ref() else {
            self.daemonsets.remove(&key);
            return;
        };
        let template = &spec.template;
        let labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        let pod_spec = template.spec.clone().unwrap_or_default();
        let ns = ds.metadata.namespace.as_deref().unwrap_or("default");
        let spec = convert::pod_spec(ns, &key, &labels, &pod_spec);
        self.daemonsets.insert(key, Arc::new(spec));
    }

    /// Removes a DaemonSet.
    pub fn delete_daemonset(&mut self, ds: &DaemonSet) {
        self.daemonsets.remove(&key_of(&ds.metadata));
    }

    /// Applies a PodDisruptionBudget.
    pub fn apply_pdb(&mut self, pdb: &PodDisruptionBudget) {
        let spec = pdb.spec.clone().unwrap_or_default();
        let value = Pdb {
            key: key_of(&pdb.metadata),
            namespace: pdb.metadata.namespace.clone().unwrap_or_default(),
            selector: convert::selector(spec.selector.as_ref()),
            min_available: spec.min_available.as_ref().map(int_or_string),
            max_unavailable: spec.max_unavailable.as_ref().map(int_or_string),
            disruptions_allowed: pdb.status.as_ref().map_or(0, |s| s.disruptions_allowed),
        };
        self.pdbs.insert(key_of(&pdb.metadata), Arc::new(value));
    }

    /// Removes a PodDisruptionBudget.
    pub fn delete_pdb(&mut self, pdb: &PodDisruptionBudget) {
        self.pdbs.remove(&key_of(&pdb.metadata));
    }

    /// Applies one watch event of a watched kind. A relist (`Init` .. `InitDone`) removes the
    /// objects it did not list.
    pub fn apply_event<K: Watched>(&mut self, event: Event<'_, K>) {
        match event {
            Event::Apply(obj) => obj.apply_to(self),
            Event::Delete(obj) => obj.delete_from(self),
            Event::Init => {
                self.relisting.insert(K::KIND, HashSet::new());
            }
            Event::InitApply(obj) => {
                self.relisting.entry(K::KIND).or_default().insert(obj.key());
                obj.apply_to(self);
            }
            Event::InitDone => {
                let seen = self.relisting.remove(&K::KIND).unwrap_or_default();
                self.retain(K::KIND, &seen);
            }
        }
    }

    fn retain(&mut self, kind: Kind, seen: &HashSet<String>) {
        match kind {
            Kind::Pod => {
                let gone: Vec<ObjectKey> = self
                    .pods
                    .keys()
                    .filter(|k| !seen.contains(*k))
                    .cloned()
                    .collect();
                for k in gone {
                    self.remove_pod(&k);
                }
            }
            Kind::Node => self.nodes.retain(|k, _| seen.contains(k)),
            Kind::DaemonSet => self.daemonsets.retain(|k, _| seen.contains(k)),
            Kind::Pdb => self.pdbs.retain(|k, _| seen.contains(k)),
        }
    }

    /// A registered node.
    pub fn node(&self, name: &str) -> Option<&Arc<SimNode>> {
        self.nodes.get(name)
    }

    /// Number of pods known (bound and pending).
    pub fn pod_count(&self) -> usize {
        self.pods.len()
    }

    /// A consistent copy for one scheduling pass.
    pub fn snapshot(&self) -> Snapshot {
        let mut names: Vec<&String> = self.nodes.keys().collect();
        names.sort();
        let index: HashMap<&str, usize> = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let nodes = names.iter().map(|n| self.nodes[*n].clone()).collect();
        // Until its Node reports allocatable resources a NodeClaim stays in flight with the
        // flavor's estimate, under its own name (a joining Node reports nothing yet and would
        // look full); once the Node reports them, the Node alone holds the room (never both).
        // Decided here, from the model as it is now, so the order in which claims and Nodes
        // arrive (a restarted controller lists them concurrently) does not matter.
        let mut in_flight: Vec<Arc<SimNode>> = self
            .claims
            .iter()
            .filter_map(|(claim, c)| {
                let joining = match self.nodes.get(&c.name) {
                    Some(n) if n.allocatable.cpu_millis > 0 => return None,
                    Some(_) => true,
                    None => false,
                };
                let mut c = c.clone();
                if joining || c.state != NodeState::Launching {
                    let node = Arc::make_mut(&mut c);
                    node.state = NodeState::Launching;
                    if joining {
                        node.name = claim.clone();
                    }
                }
                Some(c)
            })
            .collect();
        in_flight.sort_by(|a, b| a.name.cmp(&b.name));
        let mut bound = Vec::new();
        let mut pending = Vec::new();
        for (key, p) in &self.pods {
            match &p.node {
                Some(node) => {
                    if let Some(i) = index.get(node.as_str()) {
                        bound.push((p.spec.clone(), *i));
                    }
                }
                None if p.pending => pending.push((key.clone(), p.spec.clone())),
                None => {}
            }
        }
        pending.sort_by(|a, b| a.0.cmp(&b.0));
        let mut daemonsets: Vec<(&String, &Arc<PodSpec>)> = self.daemonsets.iter().collect();
        daemonsets.sort_by(|a, b| a.0.cmp(b.0));
        Snapshot {
            nodes,
            in_flight,
            bound,
            pending,
            daemonsets: daemonsets.into_iter().map(|(_, d)| d.clone()).collect(),
            pdbs: self.pdbs.values().cloned().collect(),
        }
    }
}

/// A Kubernetes kind the cluster model watches.
pub trait Watched {
    /// Its kind.
    const KIND: Kind;
    /// Its key in the model (`namespace/name`, or the name for nodes).
    fn key(&self) -> String;
    /// Adds or updates it.
    fn apply_to(&self, state: &mut ClusterState);
    /// Removes it.
    fn delete_from(&self, state: &mut ClusterState);
}

impl Watched for Pod {
    const KIND: Kind = Kind::Pod;
    fn key(&self) -> String {
        key_of(&self.metadata)
    }
    fn apply_to(&self, state: &mut ClusterState) {
        state.apply_pod(self)
    }
    fn delete_from(&self, state: &mut ClusterState) {
        state.delete_pod(self)
    }
}

impl Watched for Node {
    const KIND: Kind = Kind::Node;
    fn key(&self) -> String {
        self.metadata.name.clone().unwrap_or_default()
    }
    fn apply_to(&self, state: &mut ClusterState) {
        state.apply_node(self)
    }
    fn delete_from(&self, state: &mut ClusterState) {
        state.delete_node(self)
    }
}

impl Watched for DaemonSet {
    const KIND: Kind = Kind::DaemonSet;
    fn key(&self) -> String {
        key_of(&self.metadata)
    }
    fn apply_to(&self, state: &mut ClusterState) {
        state.apply_daemonset(self)
    }
    fn delete_from(&self, state: &mut ClusterState) {
        state.delete_daemonset(self)
    }
}

impl Watched for PodDisruptionBudget {
    const KIND: Kind = Kind::Pdb;
    fn key(&self) -> String {
        key_of(&self.metadata)
    }
    fn apply_to(&self, state: &mut ClusterState) {
        state.apply_pdb(self)
    }
    fn delete_from(&self, state: &mut ClusterState) {
        state.delete_pdb(self)
    }
}
