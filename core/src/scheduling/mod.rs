//! The scheduling core: pure types and the hard rules on where a pod may go.
//!
//! One piece of code per rule (fit, node requirements, taints, topology spread, pod affinity
//! and anti-affinity, DaemonSet overhead), used by the provisioning simulation and by the
//! validation of the flavor-selection policy's answers alike. Kubernetes objects enter through
//! [`convert`] only.

pub mod board;
pub mod convert;
pub mod offer;
pub mod pod;
pub mod requirements;
pub mod resources;
pub mod taints;
pub mod violation;
pub mod wellknown;

pub use board::{Board, NodeIndex, Prepared};
pub use offer::{
    daemonset_overhead, daemonset_ports, daemonsets_on, new_node_labels, FlavorSpec, NodeClassSpec,
    PoolSpec,
};
pub use pod::{
    AffinityTerm, HostPort, NodeState, PodSpec, Preferences, SimNode, Spread, Topology, Weighted,
};
pub use requirements::{LabelSelector, Labels, Operator, Requirement};
pub use resources::Resources;
pub use taints::{Taint, TaintEffect, Toleration};
pub use violation::Violation;
