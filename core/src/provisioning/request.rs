//! The flavor-selection call in host terms: what the policy is asked and what it answers.
//! These mirror the WIT `provisioning-request` / `provisioning-decision` records; the Wasm
//! runtime converts them at its edge.

use std::sync::Arc;

use crate::scheduling::{FlavorSpec, PodSpec, PoolSpec, Resources, SimNode, Topology};

/// Identical pending pods collapsed into one group.
#[derive(Clone, Debug)]
pub struct Group {
    /// Identifier within the call.
    pub id: u32,
    /// Human-readable name (the owner).
    pub name: String,
    /// Pods in the group.
    pub count: u32,
    /// The pods' spec (requests, requirements, tolerations...), with their soft constraints
    /// held and their zone rules towards other pods as zone requirements.
    pub spec: Arc<PodSpec>,
    /// Hard spread constraints over the group itself, with maxSkew.
    pub spreads: Vec<(Topology, u32, Option<u32>)>,
    /// Required affinity of the group with itself.
    pub affinity: Vec<Topology>,
    /// Required anti-affinity of the group with itself.
    pub anti_affinity: Vec<Topology>,
    /// Matching pods already running per zone.
    pub zone_counts: Vec<(String, u32)>,
    /// The pods' soft constraints held as required in this call (already in `spec`), in the
    /// order the host relaxes them when the pods are left unplaced.
    pub preferences: Vec<String>,
}

/// A NodePool offered to the policy, with the DaemonSet overhead of its future nodes.
#[derive(Clone, Debug)]
pub struct Pool {
    /// The NodePool.
    pub spec: PoolSpec,
    /// Requests of the DaemonSet pods every new node of the pool runs.
    pub daemonset_overhead: Resources,
}

/// One provisioning call.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// Pod groups left after existing nodes and in-flight NodeClaims.
    pub groups: Vec<Group>,
    /// The catalog.
    pub flavors: Arc<Vec<FlavorSpec>>,
    /// NodePools, highest weight first.
    pub pools: Vec<Pool>,
    /// Existing nodes and in-flight NodeClaims (for topology decisions).
    pub nodes: Vec<Arc<SimNode>>,
    /// The policy's JSON configuration, or "".
    pub config: String,
    /// How NodePools' `minValues` is enforced (the policy sees it only under `Strict`).
    pub min_values: super::validate::MinValuesPolicy,
}

/// A new node the policy wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Launch {
    /// NodePool.
    pub nodepool: String,
    /// Flavor.
    pub flavor: String,
    /// Zone.
    pub zone: String,
    /// `(group id, pod count)` going there.
    pub pods: Vec<(u32, u32)>,
}

/// Pods the policy could not place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unplaced {
    /// Group id.
    pub group: u32,
    /// Pods.
    pub count: u32,
    /// Why.
    pub reason: String,
}

/// The policy's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Decision {
    /// New nodes.
    pub launches: Vec<Launch>,
    /// Pods left out.
    pub unplaced: Vec<Unplaced>,
}

/// A flavor-selection policy as the host calls it.
pub trait FlavorPolicy {
    /// Chooses new nodes for the groups; Err(message) when the call fails.
    fn select(&self, request: &Request) -> Result<Decision, String>;
}

impl<F: Fn(&Request) -> Result<Decision, String>> FlavorPolicy for F {
    fn select(&self, request: &Request) -> Result<Decision, String> {
        self(request)
    }
}
