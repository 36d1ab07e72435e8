//! Why a placement or a policy answer is refused: one variant per hard rule.

use super::pod::Topology;

/// A broken hard rule. The variant names the rule; the fields say where.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum Violation {
    /// The node is cordoned or being deleted.
    #[error("pod group {group}: node {node} accepts no new pods")]
    NodeClosed {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
    },
    /// A host port the pods claim is taken on the node (kube-scheduler's NodePorts), or
    /// several of them would claim it there.
    #[error("pod group {group}: host port {port} is taken on node {node}")]
    HostPort {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// The first port of the pods, e.g. `8080/TCP`.
        port: String,
    },
    /// The pods request an extended resource the node does not offer.
    #[error("pod group {group}: node {node} does not offer {resource}")]
    ExtendedResource {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// The resource, e.g. `example.com/fpga`.
        resource: String,
    },
    /// The pods' requests (DaemonSet overhead included) exceed what the node has left.
    #[error("pod group {group}: {count} pod(s) do not fit on node {node}")]
    DoesNotFit {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// Pods placed there at once.
        count: u32,
    },
    /// The node's labels miss one of the pod's node requirements.
    #[error("pod group {group}: node {node} does not satisfy the pod's requirement on {key}")]
    PodRequirement {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// Label key of the unmet requirement.
        key: String,
    },
    /// The new node would not satisfy its NodePool's requirements.
    #[error("nodepool {nodepool}: flavor {flavor} in zone {zone} breaks its requirement on {key}")]
    NodePoolRequirement {
        /// NodePool.
        nodepool: String,
        /// Flavor.
        flavor: String,
        /// Zone.
        zone: String,
        /// Label key of the unmet requirement.
        key: String,
    },
    /// A NoSchedule/NoExecute taint the pod does not tolerate.
    #[error("pod group {group}: taint {taint} of node {node} is not tolerated")]
    Taint {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// Taint key.
        taint: String,
    },
    /// A DoNotSchedule topology spread constraint would be exceeded.
    #[error("pod group {group}: {topology:?} spread skew {skew} on node {node} exceeds maxSkew {max_skew}")]
    TopologySpread {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// Domain kind.
        topology: Topology,
        /// Resulting skew.
        skew: u32,
        /// Allowed skew.
        max_skew: u32,
    },
    /// A required pod affinity term has no matching pod in the node's domain.
    #[error("pod group {group}: required {topology:?} pod affinity not met on node {node}")]
    PodAffinity {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// Domain kind.
        topology: Topology,
    },
    /// A required pod anti-affinity term (the pod's own or a placed pod's) is broken.
    #[error("pod group {group}: required {topology:?} pod anti-affinity broken on node {node}")]
    PodAntiAffinity {
        /// Pod group.
        group: String,
        /// Node.
        node: String,
        /// Domain kind.
        topology: Topology,
    },
    /// The answer names a NodePool that is not eligible.
    #[error("unknown nodepool {0}")]
    UnknownNodePool(String),
    /// The answer names a flavor not in the catalog.
    #[error("unknown flavor {0}")]
    UnknownFlavor(String),
    /// The flavor is not offered (or not available) in that zone.
    #[error("flavor {flavor} is not available in zone {zone}")]
    UnavailableOffering {
        /// Flavor.
        flavor: String,
        /// Zone.
        zone: String,
    },
    /// The answer refers to a pod group that does not exist.
    #[error("unknown pod group {0}")]
    UnknownGroup(u32),
    /// A launch carries no pod.
    #[error("launch {0} carries no pod")]
    EmptyLaunch(usize),
    /// Fewer pods placed and reported unplaced than the group holds.
    #[error("pod group {group}: {accounted} of {count} pods accounted for (pods dropped)")]
    PodsDropped {
        /// Pod group.
        group: String,
        /// Pods in the group.
        count: u32,
        /// Pods placed plus unplaced in the answer.
        accounted: u64,
    },
    /// More pods placed and reported unplaced than the group holds.
    #[error("pod group {group}: {accounted} of {count} pods accounted for (pods duplicated)")]
    PodsDuplicated {
        /// Pod group.
        group: String,
        /// Pods in the group.
        count: u32,
        /// Pods placed plus unplaced in the answer.
        accounted: u64,
    },
    /// The launches exceed what is left of the NodePool's resource limits.
    #[error("nodepool {nodepool}: launches exceed its {resource} limit")]
    NodePoolLimit {
        /// NodePool.
        nodepool: String,
        /// Resource that overflows.
        resource: &'static str,
    },
    /// A pod group went to a NodePool while a compatible one of higher weight was eligible.
    #[error("pod group {group}: nodepool {chosen} chosen over {preferred} of higher weight")]
    NodePoolWeight {
        /// Pod group.
        group: String,
        /// NodePool chosen.
        chosen: String,
        /// Compatible NodePool of higher weight.
        preferred: String,
    },
    /// Monthly billing asked on a flavor that is not gen2.
    #[error("nodepool {nodepool}: monthly billing requires a gen2 flavor, not {flavor}")]
    MonthlyBillingNotGen2 {
        /// NodePool.
        nodepool: String,
        /// Flavor.
        flavor: String,
    },
    /// Fewer flavors could be the new node than its NodePool's `minValues` asks for.
    #[error("pod group {group}: nodepool {nodepool} has minValues {min} on {key}, but the flavors that fit a node of {node} span {found} value(s)")]
    MinValues {
        /// The first pod group of the launch.
        group: String,
        /// NodePool.
        nodepool: String,
        /// The flavor chosen and the zone, e.g. `b3-32 in eu-west-par-a`.
        node: String,
        /// Label key of the requirement.
        key: String,
        /// Its minValues.
        min: u32,
        /// Distinct values the flavors that fit span.
        found: u32,
    },
    /// An anti-affinity OVH pool would hold more than 5 nodes.
    #[error("anti-affinity pool {pool} would hold {nodes} nodes (at most 5)")]
    AntiAffinityPoolFull {
        /// OVH pool name.
        pool: String,
        /// Nodes it would hold.
        nodes: u32,
    },
}

impl Violation {
    /// The pod group the broken rule is about, when it is about one.
    pub fn group(&self) -> Option<&str> {
        match self {
            Self::NodeClosed { group, .. }
            | Self::HostPort { group, .. }
            | Self::DoesNotFit { group, .. }
            | Self::ExtendedResource { group, .. }
            | Self::PodRequirement { group, .. }
            | Self::Taint { group, .. }
            | Self::TopologySpread { group, .. }
            | Self::PodAffinity { group, .. }
            | Self::PodAntiAffinity { group, .. }
            | Self::PodsDropped { group, .. }
            | Self::PodsDuplicated { group, .. }
            | Self::NodePoolWeight { group, .. }
            | Self::MinValues { group, .. } => Some(group),
            _ => None,
        }
    }

    /// Short stable name of the rule, for metrics and logs.
    pub fn rule(&self) -> &'static str {
        match self {
            Self::NodeClosed { .. } => "node-closed",
            Self::DoesNotFit { .. } => "fit",
            Self::ExtendedResource { .. } => "extended-resource",
            Self::HostPort { .. } => "host-port",
            Self::PodRequirement { .. } => "pod-requirement",
            Self::NodePoolRequirement { .. } => "nodepool-requirement",
            Self::Taint { .. } => "taint",
            Self::TopologySpread { .. } => "topology-spread",
            Self::PodAffinity { .. } => "pod-affinity",
            Self::PodAntiAffinity { .. } => "pod-anti-affinity",
            Self::UnknownNodePool(_) => "unknown-nodepool",
            Self::UnknownFlavor(_) => "unknown-flavor",
            Self::UnavailableOffering { .. } => "unavailable-offering",
            Self::UnknownGroup(_) => "unknown-group",
            Self::EmptyLaunch(_) => "empty-launch",
            Self::PodsDropped { .. } => "pods-dropped",
            Self::PodsDuplicated { .. } => "pods-duplicated",
            Self::NodePoolLimit { .. } => "nodepool-limit",
            Self::NodePoolWeight { .. } => "nodepool-weight",
            Self::MonthlyBillingNotGen2 { .. } => "monthly-billing-gen2",
            Self::AntiAffinityPoolFull { .. } => "anti-affinity-pool-size",
            Self::MinValues { .. } => "min-values",
        }
    }
}
