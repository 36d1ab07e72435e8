//! What the scheduler needs to know about a pod, and about a node.

use super::requirements::{first_unmet, LabelSelector, Labels, Requirement};
use super::resources::Resources;
use super::taints::{Taint, Toleration};
use super::wellknown;

/// A topology domain kind that spread and affinity rules refer to. Other topology keys are
/// ignored, as Karpenter does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Topology {
    /// `topology.kubernetes.io/zone`.
    Zone,
    /// `kubernetes.io/hostname`: one domain per node.
    Hostname,
}

impl Topology {
    /// The Kubernetes topology key.
    pub fn key(self) -> &'static str {
        match self {
            Self::Zone => wellknown::ZONE,
            Self::Hostname => wellknown::HOSTNAME,
        }
    }

    /// The topology of a Kubernetes topology key, None when unsupported.
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            wellknown::ZONE => Some(Self::Zone),
            wellknown::HOSTNAME => Some(Self::Hostname),
            _ => None,
        }
    }
}

/// A hard (`DoNotSchedule`) topology spread constraint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spread {
    /// Domain kind.
    pub topology: Topology,
    /// Largest allowed difference between the most and least loaded eligible domains.
    pub max_skew: u32,
    /// Pods counted (in the pod's namespace), `matchLabelKeys` folded in.
    pub selector: LabelSelector,
    /// `minDomains`: while fewer domains are eligible, the least loaded one counts as empty.
    pub min_domains: Option<u32>,
    /// `nodeAffinityPolicy: Honor` (the default): only nodes the pod may run on are domains.
    pub honor_node_affinity: bool,
    /// `nodeTaintsPolicy: Honor` (not the default): nodes whose taints the pod does not
    /// tolerate are no domain.
    pub honor_node_taints: bool,
}

/// A required pod affinity or anti-affinity term.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AffinityTerm {
    /// Domain kind.
    pub topology: Topology,
    /// Pods the term refers to.
    pub selector: LabelSelector,
    /// Namespaces searched; empty means the pod's own namespace.
    pub namespaces: Vec<String>,
}

/// A port a pod's container claims on its node (`ports[].hostPort`): one pod per node and
/// address may hold it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostPort {
    /// `hostIP`; `0.0.0.0` (every address of the node) when unset.
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port.
    pub port: u16,
}

impl HostPort {
    /// kube-scheduler's NodePorts rule: the same protocol and port on overlapping addresses.
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }
}

/// The scheduling-relevant part of a pod. Two pods with equal specs are interchangeable, which
/// is what pod groups rely on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PodSpec {
    /// Owner for humans, e.g. `default/inflate`.
    pub owner: String,
    /// Namespace.
    pub namespace: String,
    /// Pod labels (what selectors of other pods see).
    pub labels: Labels,
    /// Requests of the pod (init containers and overhead included), `pods` = 1.
    pub requests: Resources,
    /// Requirements that always hold: nodeSelector plus the expressions common to the affinity.
    pub requirements: Vec<Requirement>,
    /// Required node affinity terms, ORed; empty means no extra constraint.
    pub alternatives: Vec<Vec<Requirement>>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Hard topology spread constraints.
    pub spreads: Vec<Spread>,
    /// Required pod affinity terms.
    pub affinity: Vec<AffinityTerm>,
    /// Required pod anti-affinity terms.
    pub anti_affinity: Vec<AffinityTerm>,
    /// Preferred pod anti-affinity terms held as required ([`PodSpec::held`]): the pod keeps
    /// out of their domains, but unlike `anti_affinity` they keep no other pod away (upstream
    /// Karpenter tracks no inverse preference: the pod relaxed is not the one holding it).
    pub held_anti_affinity: Vec<AffinityTerm>,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// The `controller.kubernetes.io/pod-deletion-cost` annotation (0 when unset or invalid).
    pub deletion_cost: i32,
    /// Host ports its containers claim.
    pub host_ports: Vec<HostPort>,
    /// Soft constraints the pod still holds as required (see [`PodSpec::held`]).
    pub preferences: Preferences,
    /// Extended resources it requests beyond cpu, memory, ephemeral storage and GPUs, by name:
    /// only a node that offers them may take it, and no OVH flavor does.
    pub extended: Vec<String>,
}

/// A preference with its weight (1-100).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Weighted<T> {
    /// `weight` of the preferred term.
    pub weight: i32,
    /// The term.
    pub term: T,
}

/// The soft constraints of a pod. Upstream Karpenter's scheduler first holds them all as
/// required (of the preferred node affinity terms, the heaviest), then relaxes one at a time
/// for pods that fit nowhere ([`PodSpec::relax`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Preferences {
    /// Preferred node affinity terms, heaviest first.
    pub node_affinity: Vec<Weighted<Vec<Requirement>>>,
    /// Preferred pod affinity terms, heaviest first.
    pub pod_affinity: Vec<Weighted<AffinityTerm>>,
    /// Preferred pod anti-affinity terms, heaviest first.
    pub pod_anti_affinity: Vec<Weighted<AffinityTerm>>,
    /// `ScheduleAnyway` topology spread constraints.
    pub spreads: Vec<Spread>,
}

impl Preferences {
    /// Whether no preference is left.
    pub fn is_empty(&self) -> bool {
        self.node_affinity.is_empty()
            && self.pod_affinity.is_empty()
            && self.pod_anti_affinity.is_empty()
            && self.spreads.is_empty()
    }

    /// What each held preference is, for the policy and for logs.
    pub fn describe(&self) -> Vec<String> {
        let term = |t: &AffinityTerm| format!("{} {}", t.topology.key(), t.selector);
        self.pod_affinity
            .iter()
            .map(|w| {
                format!(
                    "preferred pod affinity (weight {}): {}",
                    w.weight,
                    term(&w.term)
                )
            })
            .chain(self.pod_anti_affinity.iter().map(|w| {
                format!(
                    "preferred pod anti-affinity (weight {}): {}",
                    w.weight,
                    term(&w.term)
                )
            }))
            .chain(self.node_affinity.first().map(|w| {
                let reqs: Vec<String> = w.term.iter().map(ToString::to_string).collect();
                format!(
                    "preferred node affinity (weight {}): {}",
                    w.weight,
                    reqs.join(", ")
                )
            }))
            .chain(self.spreads.iter().map(|s| {
                format!(
                    "ScheduleAnyway spread over {} (maxSkew {}): {}",
                    s.topology.key(),
                    s.max_skew,
                    s.selector
                )
            }))
            .collect()
    }
}

impl PodSpec {
    /// What evicting the pod costs Balanced consolidation
    /// ([`karpenter_ovhcloud_contract::balanced::eviction_cost`]).
    pub fn eviction_cost(&self) -> f64 {
        karpenter_ovhcloud_contract::balanced::eviction_cost(self.deletion_cost, self.priority)
    }

    /// The first requirement the node labels do not meet, with the alternatives reported as
    /// the first unmet requirement of the first alternative.
    pub fn unmet_requirement(&self, labels: &Labels) -> Option<&Requirement> {
        if let Some(r) = first_unmet(&self.requirements, labels) {
            return Some(r);
        }
        if self.alternatives.is_empty()
            || self
                .alternatives
                .iter()
                .any(|alt| first_unmet(alt, labels).is_none())
        {
            return None;
        }
        self.alternatives
            .first()
            .and_then(|alt| first_unmet(alt, labels))
    }

    /// The constraints the scheduler holds the pod to: its required ones plus every preference
    /// it still holds (of the preferred node affinity terms, the heaviest), as upstream
    /// Karpenter's scheduler does before relaxing. The result holds no preference of its own.
    pub fn held(&self) -> PodSpec {
        let mut held = self.clone();
        let p = std::mem::take(&mut held.preferences);
        if p.is_empty() {
            return held;
        }
        if let Some(w) = p.node_affinity.into_iter().next() {
            held.requirements.extend(w.term);
            held.requirements.sort();
        }
        held.affinity
            .extend(p.pod_affinity.into_iter().map(|w| w.term));
        held.held_anti_affinity
            .extend(p.pod_anti_affinity.into_iter().map(|w| w.term));
        held.spreads.extend(p.spreads);
        held
    }

    /// Whether [`PodSpec::relax`] has anything left to drop.
    pub fn can_relax(&self) -> bool {
        self.alternatives.len() > 1 || !self.preferences.is_empty()
    }

    /// Drops one soft constraint, in upstream Karpenter's order: a required node affinity term
    /// while more than one is left (they are ORed; the next one is tried), then the heaviest
    /// preferred pod affinity term, pod anti-affinity term, node affinity term, then a
    /// `ScheduleAnyway` spread. Returns what was dropped, None when nothing is left to relax.
    pub fn relax(&mut self) -> Option<String> {
        if self.alternatives.len() > 1 {
            self.alternatives.remove(0);
            return Some("removing the first required node affinity term".into());
        }
        // `describe` lists the preferences in the order they are relaxed.
        let what = self.preferences.describe().into_iter().next()?;
        let p = &mut self.preferences;
        if !p.pod_affinity.is_empty() {
            p.pod_affinity.remove(0);
        } else if !p.pod_anti_affinity.is_empty() {
            p.pod_anti_affinity.remove(0);
        } else if !p.node_affinity.is_empty() {
            p.node_affinity.remove(0);
        } else {
            p.spreads.remove(0);
        }
        Some(format!("removing {what}"))
    }

    /// Requirements of the pod for a new node: the common ones plus the first alternative.
    pub fn node_requirements(&self) -> impl Iterator<Item = &Requirement> {
        self.requirements
            .iter()
            .chain(self.alternatives.first().into_iter().flatten())
    }
}

/// Where a node stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum NodeState {
    /// In flight: a NodeClaim launched whose node is not ready yet.
    Launching,
    /// Registered and ready.
    Ready,
    /// Being deleted: never a destination.
    Deleting,
    /// Was Ready and lost it (its kubelet stopped reporting, or reports NotReady): it keeps its
    /// pods but takes no new one, so pods waiting for room get a new node.
    Unhealthy,
}

/// A node (or an in-flight NodeClaim) as the scheduler sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct SimNode {
    /// Node name, or NodeClaim name while in flight.
    pub name: String,
    /// Labels, including zone and hostname.
    pub labels: Labels,
    /// Taints.
    pub taints: Vec<Taint>,
    /// What pods may use.
    pub allocatable: Resources,
    /// Sum of the requests of the pods bound to it (DaemonSet pods included).
    pub requested: Resources,
    /// NodePool of its NodeClaim, for managed nodes.
    pub nodepool: Option<String>,
    /// NodeClaim backing the node, for managed nodes.
    pub nodeclaim: Option<String>,
    /// Lifecycle state.
    pub state: NodeState,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// Extended resources its allocatable offers beyond cpu, memory, ephemeral storage, pods
    /// and GPUs (e.g. a device plugin's `example.com/fpga`), by name.
    pub extended: Vec<String>,
}

impl SimNode {
    /// What is left for new pods.
    pub fn free(&self) -> Resources {
        self.allocatable.saturating_sub(&self.requested)
    }

    /// The node's zone label.
    pub fn zone(&self) -> Option<&str> {
        self.labels.get(wellknown::ZONE).map(String::as_str)
    }

    /// Whether new pods may go there at all.
    pub fn accepts_pods(&self) -> bool {
        matches!(self.state, NodeState::Ready | NodeState::Launching) && !self.unschedulable
    }
}
