//! What the demo sees of the cluster, as an operator would: pods, Nodes and NodeClaims listed
//! over the API server's HTTP API, and the OVH pools as the OVH API knows them (what is billed).
//! The views are plain data so that the scenario checks and the progress line are pure.

use std::collections::BTreeMap;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams};
use kube::ResourceExt as _;
use serde_json::Value;

use crate::api::labels;
use crate::api::NodeClaim;
use crate::catalog::prices;

/// A pod.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodView {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its `app` label (the guide's workloads select on it).
    pub app: String,
    /// Node it is bound to.
    pub node: Option<String>,
    /// Phase is Running.
    pub running: bool,
    /// Being deleted.
    pub terminating: bool,
}

impl PodView {
    /// Pending and not bound: waiting for room (what the autoscaler acts on).
    pub fn pending(&self) -> bool {
        self.node.is_none() && !self.terminating
    }
}

/// A Node.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeView {
    /// Name (the OVH node's name).
    pub name: String,
    /// Ready condition is True.
    pub ready: bool,
    /// `node.kubernetes.io/instance-type`.
    pub flavor: String,
    /// `topology.kubernetes.io/zone`.
    pub zone: String,
    /// `karpenter.sh/nodepool` (empty: not a Karpenter node).
    pub nodepool: String,
    /// Every label.
    pub labels: BTreeMap<String, String>,
}

/// A NodeClaim.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ClaimView {
    /// Name.
    pub name: String,
    /// NodePool.
    pub nodepool: String,
    /// Flavor.
    pub flavor: String,
    /// Zone.
    pub zone: String,
    /// OVH pool it was launched into.
    pub ovh_pool: String,
    /// Its Node, once registered.
    pub node: Option<String>,
    /// Launched, Registered and Initialized.
    pub ready: bool,
    /// Being deleted.
    pub terminating: bool,
}

/// An OVH node pool.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolView {
    /// Pool name, e.g. `karpenter-b3-8-eu-west-par-a`.
    pub name: String,
    /// Flavor.
    pub flavor: String,
    /// Monthly billing.
    pub monthly: bool,
    /// Anti-affinity.
    pub anti_affinity: bool,
    /// Names of its nodes (any status).
    pub nodes: Vec<String>,
}

impl PoolView {
    /// Whether the autoscaler made it (`karpenter-*`), as opposed to the cluster's static pool.
    pub fn is_karpenter(&self) -> bool {
        self.name.starts_with("karpenter-")
    }
}

/// One look at the cluster.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Observation {
    /// Every pod.
    pub pods: Vec<PodView>,
    /// Every Node.
    pub nodes: Vec<NodeView>,
    /// Every NodeClaim.
    pub claims: Vec<ClaimView>,
    /// Every OVH pool of the cluster.
    pub pools: Vec<PoolView>,
}

/// EUR per hour of a node of `flavor` (monthly billing: the month's price spread over its
/// hours), from the embedded price table; None for an unknown flavor.
pub fn hourly_cost(flavor: &str, monthly: bool) -> Option<f64> {
    let hourly = prices::known(flavor)?.hourly_eur;
    Some(if monthly {
        prices::estimated_monthly(hourly) / prices::HOURS_PER_MONTH
    } else {
        hourly
    })
}

impl Observation {
    /// Pods of a workload (`app` label) in `namespace`, except those being deleted.
    pub fn workload(&self, namespace: &str, app: &str) -> Vec<&PodView> {
        self.pods
            .iter()
            .filter(|p| p.namespace == namespace && p.app == app && !p.terminating)
            .collect()
    }

    /// The Node named `name`.
    pub fn node(&self, name: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.name == name)
    }

    /// The OVH pool holding the node named `node`.
    pub fn pool_of(&self, node: &str) -> Option<&PoolView> {
        self.pools
            .iter()
            .find(|p| p.nodes.iter().any(|n| n == node))
    }

    /// EUR per hour of a node, from its OVH pool (flavor and billing).
    pub fn node_cost(&self, node: &str) -> Option<f64> {
        let pool = self.pool_of(node)?;
        hourly_cost(&pool.flavor, pool.monthly)
    }

    /// EUR per hour of a NodeClaim's node, from its flavor and OVH pool's billing.
    pub fn claim_cost(&self, claim: &ClaimView) -> Option<f64> {
        let monthly = self
            .pools
            .iter()
            .find(|p| p.name == claim.ovh_pool)
            .is_some_and(|p| p.monthly);
        hourly_cost(&claim.flavor, monthly)
    }

    /// Pods waiting for room.
    pub fn pending_pods(&self) -> usize {
        self.pods.iter().filter(|p| p.pending()).count()
    }

    /// NodeClaims of `nodepool`, except those being deleted.
    pub fn claims_of(&self, nodepool: &str) -> Vec<&ClaimView> {
        self.claims
            .iter()
            .filter(|c| c.nodepool == nodepool && !c.terminating)
            .collect()
    }

    /// Nodes of `nodepool`.
    pub fn nodes_of(&self, nodepool: &str) -> Vec<&NodeView> {
        self.nodes
            .iter()
            .filter(|n| n.nodepool == nodepool)
            .collect()
    }

    /// What the autoscaler's OVH nodes cost per hour, every node billed from its creation
    /// (installing ones included), as OVH bills them.
    pub fn karpenter_cost(&self) -> f64 {
        self.pools
            .iter()
            .filter(|p| p.is_karpenter())
            .map(|p| hourly_cost(&p.flavor, p.monthly).unwrap_or(0.0) * p.nodes.len() as f64)
            // An empty sum is -0.0; shown as "-0.0000" otherwise.
            .fold(0.0, |a, b| a + b)
    }
}

fn label(labels: &BTreeMap<String, String>, key: &str) -> String {
    labels.get(key).cloned().unwrap_or_default()
}

fn pod_view(p: &Pod) -> PodView {
    PodView {
        namespace: p.namespace().unwrap_or_default(),
        name: p.name_any(),
        app: label(p.labels(), "app"),
        node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
        running: p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"),
        terminating: p.metadata.deletion_timestamp.is_some(),
    }
}

fn node_view(n: &Node) -> NodeView {
    let ready = n
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    NodeView {
        name: n.name_any(),
        ready,
        flavor: label(n.labels(), labels::INSTANCE_TYPE),
        zone: label(n.labels(), labels::ZONE),
        nodepool: label(n.labels(), labels::NODEPOOL),
        labels: n.labels().clone(),
    }
}

fn claim_view(c: &NodeClaim) -> ClaimView {
    ClaimView {
        name: c.name_any(),
        nodepool: c.nodepool_name().unwrap_or_default().to_string(),
        flavor: label(c.labels(), labels::INSTANCE_TYPE),
        zone: label(c.labels(), labels::ZONE),
        ovh_pool: label(c.labels(), labels::OVH_POOL),
        node: c
            .status
            .as_ref()
            .map(|s| s.node_name.clone())
            .filter(|n| !n.is_empty()),
        ready: c.is_ready(),
        terminating: c.metadata.deletion_timestamp.is_some(),
    }
}

/// The OVH pools of a `GET /_sim/state`-shaped snapshot of the cluster.
fn pool_views(cluster: &karpenter_ovhcloud_sim::ovh::state::ClusterSnapshot) -> Vec<PoolView> {
    cluster
        .pools
        .iter()
        .map(|p| {
            let s = |k: &str| p.pool[k].as_str().unwrap_or_default().to_string();
            PoolView {
                name: s("name"),
                flavor: s("flavor"),
                monthly: p.pool["monthlyBilled"] == Value::Bool(true),
                anti_affinity: p.pool["antiAffinity"] == Value::Bool(true),
                nodes: p.nodes.iter().map(|n| n.name.clone()).collect(),
            }
        })
        .collect()
}

/// Looks at the cluster: the Kubernetes side through `client`, the OVH side from the
/// simulator's state.
pub async fn observe(
    client: &kube::Client,
    ovh: &karpenter_ovhcloud_sim::ovh::OvhSim,
) -> anyhow::Result<Observation> {
    let lp = ListParams::default();
    let (pods, nodes, claims) = (
        Api::<Pod>::all(client.clone()),
        Api::<Node>::all(client.clone()),
        Api::<NodeClaim>::all(client.clone()),
    );
    let (pods, nodes, claims) = tokio::try_join!(pods.list(&lp), nodes.list(&lp), claims.list(&lp))
        .context("listing pods, Nodes and NodeClaims")?;
    let state = ovh.state();
    let pools = state
        .projects
        .first()
        .and_then(|p| p.clusters.first())
        .map(pool_views)
        .unwrap_or_default();
    Ok(Observation {
        pods: pods.items.iter().map(pod_view).collect(),
        nodes: nodes.items.iter().map(node_view).collect(),
        claims: claims.items.iter().map(claim_view).collect(),
        pools,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cost_counts_karpenter_pools_only_and_monthly_at_its_hourly_equivalent() {
        let pool = |name: &str, flavor: &str, monthly: bool, n: usize| PoolView {
            name: name.into(),
            flavor: flavor.into(),
            monthly,
            anti_affinity: false,
            nodes: (0..n).map(|i| format!("{name}-node-{i}")).collect(),
        };
        let obs = Observation {
            pools: vec![
                pool("system", "b3-16", false, 1),
                pool("karpenter-b3-8-eu-west-par-a", "b3-8", false, 2),
                pool("karpenter-b2-7-eu-west-par-a-monthly", "b2-7", true, 1),
            ],
            ..Default::default()
        };
        let expected = 2.0 * 0.0512 + 0.0681 * prices::MONTHLY_DISCOUNT;
        assert!(
            (obs.karpenter_cost() - expected).abs() < 1e-9,
            "{}",
            obs.karpenter_cost()
        );
        assert_eq!(
            obs.node_cost("karpenter-b3-8-eu-west-par-a-node-1"),
            Some(0.0512)
        );
        assert_eq!(
            obs.pool_of("system-node-0").map(|p| p.is_karpenter()),
            Some(false)
        );
        assert_eq!(hourly_cost("zz-1", false), None);
    }
}
