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
    /// Pods counted (in the pod's namespace).
    pub selector: LabelSelector,
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
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// The `controller.kubernetes.io/pod-deletion-cost` annotation (0 when unset or invalid).
    pub deletion_cost: i32,
    /// Host ports its containers claim.
    pub host_ports: Vec<HostPort>,
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
