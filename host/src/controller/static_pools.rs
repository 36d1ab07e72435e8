//! Static NodePools (`spec.replicas`): after every NodePool check, each valid static NodePool
//! is brought to its replica count: NodeClaims created from its template (the cheapest
//! offering it allows, in its least used zone, within `limits.nodes`), or its surplus removed
//! in upstream's order (see [`crate::provisioning::static_pool`]). Dynamic provisioning and
//! consolidation leave these NodePools alone; `kubectl scale nodepool` sets `spec.replicas`
//! through the scale subresource. Drift and expiry replace their nodes one at a time through
//! the disruption loop (a node of the template first, then the old one goes); while such a
//! replacement is in flight the NodePool is one node over on purpose and this pass leaves it
//! alone.

use std::collections::HashMap;
use std::sync::Arc;

use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};

use crate::api::{labels, NodeClaim};
use crate::controller::context::Context;
use crate::controller::metrics::CreatedLabels;
use crate::controller::provisioning::{
    flavor_specs, is_live, nodeclaim_object, nodeclass_of, static_pool_specs,
};
use crate::controller::watch::{claim_node, list, readable};
use crate::provisioning::static_pool::{self, StaticNode};

/// Reason of the NodeClaims created for a static NodePool (metrics and Events).
pub const REASON_STATIC: &str = "static";
/// Reason of the NodeClaims a static NodePool has too many of (upstream's).
pub const REASON_OVERPROVISIONED: &str = "Overprovisioned";

/// Brings every static NodePool to its replica count.
pub async fn reconcile(ctx: &Arc<Context>) {
    // The loop runs every few seconds: no NodeClaim list when no NodePool is static.
    if !readable(&ctx.kube.caches.nodepools)
        .iter()
        .any(|p| p.is_static())
    {
        return;
    }
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    // Replacements that start or end while the list is read make it stale (see below).
    let changes_before = ctx.model.replacing_changes();
    // The API server's list, not the cache: a NodeClaim created by the last pass counts.
    let claims = match api.list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            tracing::warn!(error = %e, "cannot list NodeClaims for the static NodePools");
            return;
        }
    };
    let pools = static_pool_specs(&ctx.kube.caches, &ctx.catalog, &claims);
    if pools.is_empty() {
        return;
    }
    let flavors = flavor_specs(&ctx.catalog);
    let classes = list(&ctx.kube.caches.nodeclasses);
    let daemonsets = ctx.model.cluster().snapshot().daemonsets;
    let mut sizes = ctx.ovh.pools.lock().await.pool_sizes();
    let mut created = false;
    for (np, spec) in &pools {
        let Some(replicas) = np.spec.replicas else {
            continue;
        };
        let replicas = u32::try_from(replicas.max(0)).unwrap_or(u32::MAX);
        let name = np.name_any();
        // Read after the list: a replacement started before the list is seen marked here,
        // one started or ended during it (its old NodeClaim deleted since) changed the count.
        let (replacing, changes) = ctx.model.replacing(&name);
        if replacing || changes != changes_before {
            tracing::debug!(nodepool = %name, "static NodePool has a replacement in flight; its count waits");
            continue;
        }
        let own: Vec<&NodeClaim> = claims
            .iter()
            .filter(|c| c.nodepool_name() == Some(name.as_str()))
            .collect();
        let live: Vec<&NodeClaim> = own.iter().copied().filter(|c| is_live(c)).collect();
        let node_limit = np
            .spec
            .limits
            .get("nodes")
            .and_then(|q| q.0.trim().parse::<u32>().ok());
        let count =
            static_pool::to_launch(replicas, live.len() as u32, own.len() as u32, node_limit);
        if count == 0 && (live.len() as u32) < replicas {
            tracing::info!(nodepool = %name, replicas, live = live.len(), ?node_limit,
                "static NodePool below its replicas: node limit reached");
        }
        let mut zone_counts: HashMap<String, u32> = HashMap::new();
        for c in &live {
            if let Some(z) = c.labels().get(labels::ZONE) {
                *zone_counts.entry(z.clone()).or_default() += 1;
            }
        }
        for _ in 0..count {
            let Some(claim_spec) =
                static_pool::launch(spec, &flavors, &daemonsets, &zone_counts, &mut sizes)
            else {
                let note =
                    "no available flavor and zone meets the NodePool's requirements".to_string();
                tracing::warn!(nodepool = %name, "static NodePool cannot launch: {note}");
                ctx.kube
                    .event(np, true, "Unschedulable", "Provision", note)
                    .await;
                break;
            };
            *zone_counts.entry(claim_spec.zone.clone()).or_default() += 1;
            let object = nodeclaim_object(&claim_spec, np, nodeclass_of(np, &classes));
            match api.create(&PostParams::default(), &object).await {
                Ok(claim) => {
                    let claim_name = claim.name_any();
                    let node = claim_node(&ctx.catalog, &ctx.model, &claim);
                    ctx.model.cluster().apply_claim(&claim_name, node);
                    ctx.metrics
                        .nodeclaims_created
                        .get_or_create(&CreatedLabels {
                            reason: REASON_STATIC.into(),
                            nodepool: name.clone(),
                            min_values_relaxed: "false".into(),
                        })
                        .inc();
                    tracing::info!(nodepool = %name, nodeclaim = %claim_name, flavor = %claim_spec.flavor,
                        zone = %claim_spec.zone, replicas, "NodeClaim created for a static NodePool");
                    created = true;
                }
                Err(e) => {
                    tracing::warn!(nodepool = %name, error = %e, "cannot create a NodeClaim for a static NodePool");
                    break;
                }
            }
        }
        let excess = live.len().saturating_sub(replicas as usize);
        if excess > 0 {
            let ranked: Vec<StaticNode> = live.iter().map(|c| static_node(ctx, c)).collect();
            for claim_name in static_pool::to_remove(&ranked, excess) {
                let Some(claim) = live.iter().find(|c| c.name_any() == claim_name) else {
                    continue;
                };
                tracing::info!(nodepool = %name, nodeclaim = %claim_name, replicas,
                    "NodeClaim removed: the static NodePool has more than its replicas");
                ctx.kube
                    .event(
                        *claim,
                        false,
                        REASON_OVERPROVISIONED,
                        "Disrupt",
                        format!("NodePool {name} keeps {replicas} node(s)"),
                    )
                    .await;
                crate::controller::lifecycle::remove_claim(ctx, claim, REASON_OVERPROVISIONED)
                    .await;
            }
        }
    }
    if created {
        ctx.wake.reconcile.notify_one();
    }
}

/// How scaling down ranks `claim`'s node.
fn static_node(ctx: &Context, claim: &NodeClaim) -> StaticNode {
    let node = claim
        .status
        .as_ref()
        .map(|s| s.node_name.clone())
        .unwrap_or_default();
    let pods = if node.is_empty() {
        Vec::new()
    } else {
        ctx.model.cluster().pods_on(&node)
    };
    let moved: Vec<_> = pods.iter().filter(|p| !p.daemon).collect();
    let annotated = claim
        .annotations()
        .get(labels::DO_NOT_DISRUPT)
        .is_some_and(|v| v == "true");
    StaticNode {
        claim: claim.name_any(),
        launched: claim.labels().contains_key(labels::OVH_NODE_ID),
        empty: moved.is_empty(),
        do_not_disrupt: annotated || moved.iter().any(|p| p.do_not_disrupt),
        eviction_cost: moved.iter().map(|p| p.spec.eviction_cost()).sum(),
        lifetime_remaining: lifetime_remaining(ctx, claim),
    }
}

/// The share of `claim`'s `expireAfter` still ahead (1 when it never expires).
fn lifetime_remaining(ctx: &Context, claim: &NodeClaim) -> f64 {
    let (Ok(Some(expire)), Some(created)) = (
        claim.spec.expire_after.duration(),
        claim.metadata.creation_timestamp.as_ref(),
    ) else {
        return 1.0;
    };
    if expire.is_zero() {
        return 0.0;
    }
    let age = ctx.clock.guide_since(created.0);
    (1.0 - age.as_secs_f64() / expire.as_secs_f64()).clamp(0.0, 1.0)
}
