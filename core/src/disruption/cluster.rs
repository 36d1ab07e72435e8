//! The disruption plan's [`Input`] from the Kubernetes objects, as the controller's loop
//! (`karpenter_ovhcloud::controller::disruption`) reads them: NodeClaims, NodePools and Nodes from its
//! caches, pods from the cluster model. Pure (no API call): a test builds the same situation
//! here and in the replay's builder (`karpenter_ovhcloud::evaluate::replay`) and compares the plans.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use kube_core::ResourceExt;

use super::pass;
use super::plan::{Input, NodeFacts, NodePoolFacts};
use super::PoolSettings;
use crate::api::condition;
use crate::api::nodeclaim::CONDITION_INITIALIZED;
use crate::api::{hash, labels, NodeClaim, NodePool};
use crate::clock::Clock;
use crate::scheduling::{FlavorSpec, PoolSpec};
use crate::state::{BoundPod, Snapshot};

/// What the controller's disruption pass read for one pass.
pub struct ClusterView<'a> {
    /// Every NodeClaim (being deleted or not).
    pub claims: &'a [NodeClaim],
    /// Every NodePool.
    pub nodepools: &'a [NodePool],
    /// Every Node (for its `karpenter.sh/do-not-disrupt` annotation).
    pub nodes: &'a [Node],
    /// The pods bound to a node, from the cluster model (not a list of every pod: the pass
    /// runs every 10 s).
    pub pods_on: &'a dyn Fn(&str) -> Vec<BoundPod>,
    /// The cluster model's snapshot.
    pub snapshot: Snapshot,
    /// NodePools for the simulation (with their remaining limits).
    pub pools: Vec<PoolSpec>,
    /// Static NodePools (`spec.replicas`), whose drifted and expired nodes are replaced from
    /// the template.
    pub static_pools: Vec<PoolSpec>,
    /// The catalog.
    pub flavors: Arc<Vec<FlavorSpec>>,
    /// Nodes in each OVH pool.
    pub ovh_pool_sizes: HashMap<String, u32>,
    /// The drift policy's verdicts: NodeClaim -> why.
    pub drifted: HashMap<String, String>,
    /// Old and new NodeClaims of the replacements in flight.
    pub busy_claims: HashSet<String>,
    /// NodePools with a replacement in flight.
    pub in_flight_nodepools: HashSet<String>,
    /// The instant of the pass.
    pub now: Timestamp,
    /// `--consolidation-validation-delay`.
    pub validation_delay: Duration,
    /// The scheduling settings the simulations run with.
    pub options: crate::provisioning::simulate::Options,
}

fn is_true(v: Option<&String>) -> bool {
    v.is_some_and(|v| v == "true")
}

/// A NodePool's disruption settings.
pub fn nodepool_settings(np: &NodePool) -> PoolSettings {
    PoolSettings {
        name: np.name_any(),
        policy: np.spec.disruption.consolidation_policy,
        is_static: np.is_static(),
        consolidate_after_seconds: np
            .spec
            .disruption
            .consolidate_after()
            .ok()
            .flatten()
            .map(|d| d.as_secs()),
        template_hash: hash::nodepool_hash(np),
    }
}

impl ClusterView<'_> {
    /// The plan's input: one [`NodeFacts`] per initialized NodeClaim not being deleted (with
    /// a NodePool), one [`NodePoolFacts`] per NodePool. `clock` measures the NodeClaims' age.
    pub fn plan_input(self, clock: &Clock) -> Input {
        let now = self.now;
        let nodepools = self
            .nodepools
            .iter()
            .map(|np| {
                let settings = nodepool_settings(np);
                let of_pool: Vec<&NodeClaim> = self
                    .claims
                    .iter()
                    .filter(|c| c.nodepool_name() == Some(settings.name.as_str()))
                    .collect();
                NodePoolFacts {
                    budgets: np.spec.disruption.budgets.clone(),
                    total: of_pool.len() as u32,
                    disrupting: of_pool
                        .iter()
                        .filter(|c| c.metadata.deletion_timestamp.is_some())
                        .count() as u32,
                    settings,
                }
            })
            .collect();
        let mut nodes = Vec::new();
        for claim in self.claims.iter().filter(|c| {
            c.metadata.deletion_timestamp.is_none() && c.is_condition_true(CONDITION_INITIALIZED)
        }) {
            let Some(np) = claim.nodepool_name() else {
                continue;
            };
            let node_name = claim
                .status
                .as_ref()
                .map(|s| s.node_name.clone())
                .unwrap_or_default();
            let node_pods = (self.pods_on)(&node_name);
            // Pod fingerprint (consolidateAfter counts from the last change).
            let uids: Vec<&str> = node_pods
                .iter()
                .filter(|p| !p.daemon)
                .map(|p| p.uid.as_str())
                .collect();
            let initialized_at = condition::find(claim.conditions(), CONDITION_INITIALIZED)
                .map(|c| c.last_transition_time.0)
                .unwrap_or(now);
            let k8s_node = self.nodes.iter().find(|n| n.name_any() == node_name);
            // Why the node may not be disrupted, in upstream's words (its DisruptionBlocked
            // Events name the annotation, the pod or the PodDisruptionBudgets).
            let mut blocked_by = Vec::new();
            if is_true(claim.annotations().get(labels::DO_NOT_DISRUPT))
                || k8s_node.is_some_and(|n| is_true(n.annotations().get(labels::DO_NOT_DISRUPT)))
            {
                blocked_by.push(format!(
                    "Disruption is blocked through the \"{}\" annotation",
                    labels::DO_NOT_DISRUPT
                ));
            }
            let annotated = node_pods.iter().find(|p| p.do_not_disrupt);
            if let Some(p) = annotated {
                blocked_by.push(format!(
                    "Pod has \"{}\" annotation (Pod={})",
                    labels::DO_NOT_DISRUPT,
                    p.key
                ));
            }
            let do_not_disrupt = !blocked_by.is_empty();
            let blocking: std::collections::BTreeSet<&str> = node_pods
                .iter()
                .flat_map(|p| {
                    self.snapshot
                        .pdbs
                        .iter()
                        .filter(|b| b.covers(&p.spec) && b.disruptions_allowed <= 0)
                        .map(|b| b.key.as_str())
                })
                .collect();
            let pdb_blocked = !blocking.is_empty();
            if pdb_blocked {
                blocked_by.push(format!(
                    "Pdb prevents pod evictions (PodDisruptionBudget=[{}])",
                    blocking.into_iter().collect::<Vec<_>>().join(" ")
                ));
            }
            let flavor = claim
                .labels()
                .get(labels::INSTANCE_TYPE)
                .cloned()
                .unwrap_or_default();
            let hourly_price = self
                .flavors
                .iter()
                .find(|f| f.name == flavor)
                .map_or(0.0, |f| f.hourly_price);
            let age = claim
                .metadata
                .creation_timestamp
                .as_ref()
                .map(|t| clock.guide_since(t.0))
                .unwrap_or_default();
            let name = claim.name_any();
            nodes.push(NodeFacts {
                node: node_name,
                nodepool: np.to_string(),
                hourly_price,
                age_seconds: age.as_secs(),
                initialized_at,
                pods_fingerprint: pass::fingerprint(uids),
                do_not_disrupt,
                pdb_blocked,
                blocked_by,
                busy: self.busy_claims.contains(&name),
                expire_after: claim.spec.expire_after.clone(),
                claim: name,
            });
        }
        Input {
            now,
            validation_delay: self.validation_delay,
            snapshot: self.snapshot,
            pools: self.pools,
            static_pools: self.static_pools,
            flavors: self.flavors,
            ovh_pool_sizes: self.ovh_pool_sizes,
            nodepools,
            nodes,
            drifted: self.drifted,
            in_flight_nodepools: self.in_flight_nodepools,
            live_claims: self.claims.iter().map(|c| c.name_any()).collect(),
            options: self.options,
        }
    }
}
