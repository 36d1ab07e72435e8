//! NodeClaim lifecycle: Launched (an OVH node is bound to it), Registered (the Node with its
//! providerID joined: the controller sets the labels MKS dropped and the NodePool's taints, and
//! removes `karpenter.sh/unregistered`), Initialized (Ready, startup taints gone, resources
//! reported); liveness (launch and registration timeouts, failed OVH nodes), garbage
//! collection (lost nodes, orphan nodes and empty pools through the pool pass) and the
//! termination finalizer.
//!
//! One pass ([`reconcile`]) reads every NodeClaim from the API server and OVH in two list
//! calls, so a restart at any moment rebuilds from Kubernetes and OVH alone.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::StreamExt;
use jiff::Timestamp;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::condition::ConditionStatus;
use crate::api::labels;
use crate::api::nodeclaim::{CONDITION_INITIALIZED, CONDITION_LAUNCHED, CONDITION_REGISTERED};
use crate::api::nodeclass::is_three_az;
use crate::api::NodeClaim;
use crate::controller::context::{Caches, Context};
use crate::controller::metrics::{
    consolidation_policy, resource_type, resource_value, snake_case, DisruptedLabels, NodeLabels,
    NodePoolLabels, ResourceLabels, TerminatedLabels,
};
use crate::lifecycle::rules::{self, liveness, node_patch, Liveness};
use crate::ovh::Node as OvhNode;
use crate::pools::{pool_settings, ClaimView, OvhView, PoolKeeper, Settings};

/// The pool-bookkeeping view of a NodeClaim; None for one the controller did not launch.
pub fn claim_view(claim: &NodeClaim, region: &str) -> Option<ClaimView> {
    claim_view_of(
        &claim.metadata,
        crate::controller::termination::is_drained(claim),
        region,
    )
}

/// The pool-bookkeeping view of a NodeClaim from its metadata alone (`drained`: its `Drained`
/// condition): a NodeClaim that cannot be read still holds its OVH node, which must not be
/// taken for an orphan.
fn claim_view_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    drained: bool,
    region: &str,
) -> Option<ClaimView> {
    let l = meta.labels.as_ref()?;
    let pool = l.get(labels::OVH_POOL)?.clone();
    let (monthly_billed, anti_affinity) = pool_settings(&pool);
    Some(ClaimView {
        name: meta.name.clone().unwrap_or_default(),
        flavor: l.get(labels::INSTANCE_TYPE)?.clone(),
        zone: if is_three_az(region) {
            l.get(labels::ZONE).cloned()
        } else {
            None
        },
        pool,
        monthly_billed,
        anti_affinity,
        node_id: l.get(labels::OVH_NODE_ID).cloned(),
        deleting: meta.deletion_timestamp.is_some(),
        drained,
        created: meta
            .creation_timestamp
            .as_ref()
            .map(|t| t.0)
            .unwrap_or(Timestamp::UNIX_EPOCH),
    })
}

/// One lifecycle pass (takes the pool lock).
pub async fn reconcile(ctx: &Arc<Context>) -> anyhow::Result<()> {
    let mut keeper = ctx.ovh.pools.lock().await;
    reconcile_with(ctx, &mut keeper).await
}

fn zone_of(claim: &NodeClaim) -> String {
    claim
        .labels()
        .get(labels::ZONE)
        .cloned()
        .unwrap_or_default()
}

fn flavor_of(claim: &NodeClaim) -> String {
    claim
        .labels()
        .get(labels::INSTANCE_TYPE)
        .cloned()
        .unwrap_or_default()
}

/// The `capacity_type` label of a NodeClaim (`on-demand`: OVH sells nothing else).
fn capacity_type_of(claim: &NodeClaim) -> String {
    claim
        .labels()
        .get(labels::CAPACITY_TYPE)
        .cloned()
        .unwrap_or_else(|| labels::CAPACITY_TYPE_ON_DEMAND.to_string())
}

/// The `{nodepool}` label of a NodeClaim.
fn nodepool_label(claim: &NodeClaim) -> NodePoolLabels {
    NodePoolLabels {
        nodepool: claim.nodepool_name().unwrap_or_default().to_string(),
    }
}

/// The `{nodepool, zone}` labels of a NodeClaim's node.
fn node_labels(claim: &NodeClaim) -> NodeLabels {
    NodeLabels {
        nodepool: claim.nodepool_name().unwrap_or_default().to_string(),
        zone: zone_of(claim),
    }
}

/// Upstream's labels of `karpenter_nodeclaims_disrupted_total` for a NodeClaim deleted for
/// `reason` (an Event reason).
fn disrupted_labels(ctx: &Context, claim: &NodeClaim, reason: &str) -> DisruptedLabels {
    let nodepool = claim.nodepool_name().unwrap_or_default().to_string();
    // Drift also deletes through disruption: only consolidation names a policy.
    let policy = if matches!(reason, "Empty" | "Underutilized") {
        ctx.kube
            .caches
            .nodepools
            .state()
            .iter()
            .filter_map(|o| o.parsed.as_ref().ok())
            .find(|p| p.name_any() == nodepool)
            .map(|p| consolidation_policy(p.spec.disruption.consolidation_policy))
            .unwrap_or_default()
    } else {
        ""
    };
    let termination_mode = match claim
        .spec
        .termination_grace_period
        .as_ref()
        .map(|d| d.duration())
    {
        None => "graceful",
        Some(Ok(d)) if d.is_zero() => "forceful",
        Some(_) => "eventual",
    };
    DisruptedLabels {
        reason: match reason {
            // The OVH node vanished or failed: upstream's garbage collection.
            "NodeVanished" | "LaunchFailed" => "garbage_collected".to_string(),
            other => snake_case(other),
        },
        nodepool,
        capacity_type: capacity_type_of(claim),
        consolidation_policy: policy.to_string(),
        termination_mode: termination_mode.to_string(),
    }
}

/// Attempts of [`patch_node`] (each after a conflict: someone else wrote the node meanwhile).
const NODE_PATCH_ATTEMPTS: usize = 5;

/// Merge-patches `node` with what `build` makes of its current version ([`rules::locked`] to
/// that version by `build`); on 409 Conflict the node is read again and the patch rebuilt.
/// `build` returning None means nothing to change. Returns whether the node was patched (false:
/// nothing to do, or the node is gone).
pub async fn patch_node(
    nodes: &Api<Node>,
    mut node: Node,
    build: impl Fn(&Node) -> Option<serde_json::Value>,
) -> kube::Result<bool> {
    let name = node.name_any();
    let mut attempt = 1;
    loop {
        let Some(patch) = build(&node) else {
            return Ok(false);
        };
        match nodes
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 && attempt < NODE_PATCH_ATTEMPTS => {
                attempt += 1;
                match nodes.get_opt(&name).await? {
                    Some(fresh) => node = fresh,
                    None => return Ok(false),
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Deletes a NodeClaim (its finalizer keeps it until its OVH node is gone).
pub async fn delete_claim(ctx: &Context, claim: &NodeClaim, reason: &str, note: String) {
    tracing::warn!(nodeclaim = %claim.name_any(), reason, %note, "deleting NodeClaim");
    ctx.kube.event(claim, true, reason, "Terminate", note).await;
    remove_claim(ctx, claim, reason).await;
}

/// Deletes `claim` (its finalizer drains and removes its node) and counts it under `reason`;
/// the caller has said why.
pub async fn remove_claim(ctx: &Context, claim: &NodeClaim, reason: &str) {
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    if let Err(e) = api
        .delete(&claim.name_any(), &DeleteParams::default())
        .await
    {
        tracing::warn!(nodeclaim = %claim.name_any(), error = %e, "cannot delete NodeClaim");
        return;
    }
    ctx.metrics
        .nodeclaims_disrupted
        .get_or_create(&disrupted_labels(ctx, claim, reason))
        .inc();
}

/// Records a launch outcome of `claim`'s NodePool (registered, or failed to launch or
/// register) and turns its `NodeRegistrationHealthy` condition as upstream does: True on a
/// success that leaves it healthy, False once at least half of its last four launches failed.
async fn registration_outcome(ctx: &Context, claim: &NodeClaim, registered: bool) {
    use crate::api::nodepool::CONDITION_NODE_REGISTRATION_HEALTHY as HEALTHY;
    use crate::lifecycle::registration_health::Health;
    let Some(pool) = crate::controller::watch::readable(&ctx.kube.caches.nodepools)
        .into_iter()
        .find(|p| Some(p.name_any().as_str()) == claim.nodepool_name())
    else {
        return;
    };
    // A NodeClaim of an older NodePool of the same name says nothing about this one.
    let uid = pool.uid().unwrap_or_default();
    if !claim.owner_references().iter().any(|o| o.uid == uid) {
        return;
    }
    let after = ctx.model.registration().dry_run(&uid, registered);
    let already_false = crate::api::condition::find(pool.conditions(), HEALTHY)
        .is_some_and(|c| c.status == ConditionStatus::False);
    let change: Option<(ConditionStatus, &str, &str)> = match (registered, after) {
        (true, Health::Healthy) => Some((ConditionStatus::True, HEALTHY, "")),
        (false, Health::Unhealthy) if !already_false => {
            Some(if claim.is_condition_true(CONDITION_LAUNCHED) {
                (
                    ConditionStatus::False,
                    "RegistrationFailed",
                    "Failed to register node",
                )
            } else {
                (
                    ConditionStatus::False,
                    "LaunchFailed",
                    "Failed to launch node",
                )
            })
        }
        _ => None,
    };
    if let Some((status, reason, message)) = change {
        let api: Api<crate::api::NodePool> = Api::all(ctx.kube.client.clone());
        let r = super::status::update(&api, &ctx.clock, &pool, |s, at| {
            at.conditions(&mut s.conditions)
                .set(HEALTHY, status, reason, message)
        })
        .await;
        match r {
            Ok(true) if status == ConditionStatus::False => {
                tracing::warn!(nodepool = %pool.name_any(), reason, "NodePool's nodes fail to register")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(nodepool = %pool.name_any(), error = %e, "cannot update NodeRegistrationHealthy")
            }
        }
    }
    ctx.model.registration().record(&uid, registered);
}

/// Every NodeClaim, read one by one: those that can be read, and the metadata of those that
/// cannot (logged; the pass goes on with the others).
async fn list_claims(
    ctx: &Context,
) -> kube::Result<(
    Vec<NodeClaim>,
    Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>,
)> {
    let api: Api<crate::api::Tolerant<NodeClaim>> = Api::all(ctx.kube.client.clone());
    let mut claims = Vec::new();
    let mut unreadable = Vec::new();
    for t in api.list(&ListParams::default()).await?.items {
        match t.parsed {
            Ok(c) => claims.push(c),
            Err(why) => {
                tracing::warn!(nodeclaim = ?t.metadata.name, error = %why, "cannot read NodeClaim; its node is kept as it is");
                unreadable.push(t.metadata);
            }
        }
    }
    Ok((claims, unreadable))
}

/// One lifecycle pass with the pool lock held.
pub async fn reconcile_with(ctx: &Arc<Context>, keeper: &mut PoolKeeper) -> anyhow::Result<()> {
    let Some(ovh) = ctx.ovh.client.load_full() else {
        return Ok(());
    };
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let (mut claims, mut unreadable) = list_claims(ctx).await?;
    // Drain the NodeClaims being deleted first; those that become drained are read again so
    // the pool pass removes their node in this pass.
    let mut drained_now = false;
    for claim in claims.iter().filter(|c| {
        c.metadata.deletion_timestamp.is_some()
            && !crate::controller::termination::is_drained(c)
            && c.finalizers()
                .iter()
                .any(|f| f == labels::TERMINATION_FINALIZER)
    }) {
        drained_now |= crate::controller::termination::drain(ctx, claim).await;
    }
    if drained_now {
        (claims, unreadable) = list_claims(ctx).await?;
    }
    let views: Vec<ClaimView> = claims
        .iter()
        .filter_map(|c| claim_view(c, &ctx.settings.region))
        .chain(
            unreadable
                .iter()
                .filter_map(|m| claim_view_of(m, false, &ctx.settings.region)),
        )
        .collect();
    let settings = Settings {
        orphan_grace: ctx.real(ctx.settings.orphan_grace),
    };
    let report = keeper
        .pass(
            &ovh,
            &ctx.settings.cluster,
            &views,
            settings,
            ctx.clock.now(),
            &ctx.metrics.cloudprovider,
        )
        .await?;
    let by_name: BTreeMap<String, &NodeClaim> = claims.iter().map(|c| (c.name_any(), c)).collect();

    for (name, node) in &report.binds {
        if let Some(claim) = by_name.get(name) {
            bind(ctx, &api, claim, node).await;
        }
    }
    let mut wake = false;
    for refused in &report.refused {
        for claim in claims.iter().filter(|c| {
            c.labels().get(labels::OVH_POOL) == Some(&refused.pool)
                && !c.labels().contains_key(labels::OVH_NODE_ID)
                && c.metadata.deletion_timestamp.is_none()
        }) {
            ctx.catalog.unavailable.mark(
                &flavor_of(claim),
                &zone_of(claim),
                &format!("{:?}", refused.kind),
            );
            delete_claim(
                ctx,
                claim,
                "InsufficientCapacity",
                format!(
                    "OVH refused {} in {}: {}; trying the next choice",
                    flavor_of(claim),
                    zone_of(claim),
                    refused.message
                ),
            )
            .await;
            wake = true;
        }
    }
    for name in &report.lost {
        if let Some(claim) = by_name.get(name) {
            delete_claim(
                ctx,
                claim,
                "NodeVanished",
                "its OVH node no longer exists; its pods are provisioned again".into(),
            )
            .await;
            wake = true;
        }
    }
    for name in &report.released {
        if let Some(claim) = by_name.get(name) {
            release(ctx, &api, claim).await;
        }
    }
    // Each claim advances on its own (a few API calls each): concurrently, so registering a
    // few hundred new nodes is not one long queue of round trips.
    let node_of = nodes_by_provider_id(&ctx.kube.caches);
    let mut advancing = Vec::new();
    for claim in &claims {
        let name = claim.name_any();
        if claim.metadata.deletion_timestamp.is_none()
            && !report.binds.iter().any(|(n, _)| *n == name)
        {
            advancing.push(advance(ctx, &api, claim, &report.view, &node_of));
        }
    }
    // Futures built first (not in a stream's closure): keeps the pass's future `Send`.
    let woken: Vec<bool> = futures::stream::iter(advancing)
        .buffer_unordered(ADVANCE_CONCURRENCY)
        .collect()
        .await;
    wake |= woken.into_iter().any(|w| w);
    // Gauges and NodePool status (nodes, resources and hourly cost of their live NodeClaims).
    let per_pool = {
        let catalog = ctx.catalog.read();
        let live: Vec<&NodeClaim> = claims
            .iter()
            .filter(|c| c.metadata.deletion_timestamp.is_none())
            .collect();
        ctx.metrics.hourly_cost.set(
            live.iter()
                .filter_map(|c| catalog.1.get(&flavor_of(c)))
                .map(|f| f.hourly)
                .sum(),
        );
        let mut per_pool: BTreeMap<String, PoolUse> = BTreeMap::new();
        for c in &live {
            if let (Some(pool), Some(f)) = (c.nodepool_name(), catalog.1.get(&flavor_of(c))) {
                let e = per_pool.entry(pool.to_string()).or_default();
                e.0 += 1;
                e.1 += f.capacity;
                e.2 += f.hourly;
            }
        }
        per_pool
    };
    update_nodepools(ctx, &per_pool).await;
    if wake {
        ctx.catalog.rebuild(None);
        ctx.wake.provision();
    }
    Ok(())
}

/// What the live NodeClaims of one NodePool use: nodes, resources, hourly price (EUR).
type PoolUse = (i64, crate::scheduling::Resources, f64);

/// Writes each NodePool's `status.nodes` and `status.resources`, and sets upstream's
/// `karpenter_nodepools_usage`, `_limit` and `_cost_total` from them and `spec.limits`.
async fn update_nodepools(ctx: &Context, per_pool: &BTreeMap<String, PoolUse>) {
    let mut usage = Vec::new();
    let mut limits = Vec::new();
    let mut cost = Vec::new();
    let mut patches = Vec::new();
    for pool in crate::controller::watch::readable(&ctx.kube.caches.nodepools) {
        let name = pool.name_any();
        let (nodes, used, hourly) = per_pool.get(&name).copied().unwrap_or_default();
        let status = pool.status.clone().unwrap_or_default();
        let mut resources = crate::scheduling::convert::resource_list(&used);
        resources.insert("nodes".into(), Quantity(nodes.to_string()));
        usage.extend(resource_series(&name, &resources));
        limits.extend(resource_series(&name, &pool.spec.limits));
        cost.push((
            NodePoolLabels {
                nodepool: name.clone(),
            },
            hourly,
        ));
        if status.nodes != nodes || status.resources != resources {
            patches.push((name, json!({"nodes": nodes, "resources": resources})));
        }
    }
    // The gauges first: once the status shows a figure, /metrics does too.
    ctx.metrics.nodepools_usage.replace(usage);
    ctx.metrics.nodepools_limit.replace(limits);
    ctx.metrics.nodepools_cost.replace(cost);
    for (name, patch) in patches {
        ctx.kube.patch_nodepool_status(&name, patch).await;
    }
}

/// The series of a resource list of NodePool `nodepool`, labelled and valued as upstream's
/// `karpenter_nodepools_usage` and `_limit` (CPU in cores, memory in bytes).
fn resource_series(
    nodepool: &str,
    list: &BTreeMap<String, Quantity>,
) -> Vec<(ResourceLabels, f64)> {
    list.iter()
        .filter_map(|(resource, quantity)| {
            let labels = ResourceLabels {
                resource_type: resource_type(resource),
                nodepool: nodepool.to_string(),
            };
            Some((labels, resource_value(resource, quantity)?))
        })
        .collect()
}

/// Records that `node` backs `claim`: its OVH node id (label), providerID, Launched.
async fn bind(ctx: &Context, api: &Api<NodeClaim>, claim: &NodeClaim, node: &OvhNode) {
    let name = claim.name_any();
    let patch = json!({"metadata": {"labels": {labels::OVH_NODE_ID: node.id}}});
    if let Err(e) = api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        tracing::warn!(nodeclaim = %name, error = %e, "cannot record the OVH node on the NodeClaim");
        return;
    }
    let provider_id = node.provider_id();
    let r = super::status::update(api, &ctx.clock, claim, |s, at| {
        if let Some(p) = &provider_id {
            s.provider_id = p.clone();
        }
        at.conditions(&mut s.conditions).set(
            CONDITION_LAUNCHED,
            ConditionStatus::True,
            "Launched",
            &format!("OVH node {} ({})", node.name, node.id),
        );
        true
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(nodeclaim = %name, error = %e, "cannot set Launched");
    }
    ctx.metrics
        .nodeclaims_launched
        .get_or_create(&nodepool_label(claim))
        .inc();
    tracing::info!(nodeclaim = %name, ovh_node = %node.id, node_name = %node.name,
        provider_id = provider_id.as_deref().unwrap_or("-"), "OVH node bound to NodeClaim");
    ctx.kube
        .event(
            claim,
            false,
            "Launched",
            "Launch",
            format!("OVH node {} ({})", node.name, node.id),
        )
        .await;
}

/// Removes the Node and the termination finalizer of a NodeClaim whose OVH node is gone.
async fn release(ctx: &Context, api: &Api<NodeClaim>, claim: &NodeClaim) {
    let name = claim.name_any();
    let node_name = claim
        .status
        .as_ref()
        .map(|s| s.node_name.clone())
        .unwrap_or_default();
    if !node_name.is_empty() {
        let nodes: Api<Node> = Api::all(ctx.kube.client.clone());
        match nodes.delete(&node_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => {
                tracing::warn!(nodeclaim = %name, node = %node_name, error = %e, "cannot delete the Node");
                return;
            }
        }
    }
    let finalizers: Vec<String> = claim
        .finalizers()
        .iter()
        .filter(|f| *f != labels::TERMINATION_FINALIZER)
        .cloned()
        .collect();
    let patch = json!({"metadata": {"finalizers": finalizers}});
    match api
        .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {
            ctx.metrics
                .nodeclaims_terminated
                .get_or_create(&TerminatedLabels {
                    nodepool: claim.nodepool_name().unwrap_or_default().to_string(),
                    capacity_type: capacity_type_of(claim),
                    zone: zone_of(claim),
                })
                .inc();
            if let Some(asked) = &claim.metadata.deletion_timestamp {
                ctx.metrics.node_termination.observe(
                    claim.nodepool_name().unwrap_or_default(),
                    ctx.clock.guide_since(asked.0).as_secs_f64(),
                );
            }
            // Its Node is gone too (deleted here, or already by MKS with the OVH node).
            if !node_name.is_empty() {
                ctx.metrics
                    .nodes_terminated
                    .get_or_create(&node_labels(claim))
                    .inc();
            }
            tracing::info!(nodeclaim = %name, "NodeClaim terminated: OVH node gone")
        }
        Err(e) => {
            tracing::warn!(nodeclaim = %name, error = %e, "cannot remove the termination finalizer")
        }
    }
}

/// NodeClaims a lifecycle pass advances at once.
const ADVANCE_CONCURRENCY: usize = 16;

/// The cached Nodes by `spec.providerID` (how a NodeClaim finds its Node).
fn nodes_by_provider_id(caches: &Caches) -> HashMap<String, Arc<Node>> {
    caches
        .nodes
        .state()
        .into_iter()
        .filter_map(|n| Some((n.spec.as_ref()?.provider_id.clone()?, n)))
        .collect()
}

/// Moves one live NodeClaim along; returns whether provisioning should run again.
async fn advance(
    ctx: &Context,
    api: &Api<NodeClaim>,
    claim: &NodeClaim,
    view: &OvhView,
    node_of: &HashMap<String, Arc<Node>>,
) -> bool {
    let name = claim.name_any();
    let node_id = claim.labels().get(labels::OVH_NODE_ID).cloned();
    let ovh_node = node_id
        .as_deref()
        .and_then(|id| view.nodes.iter().find(|n| n.id == id));
    let status = claim.status.clone().unwrap_or_default();
    // The instance id may come after the binding.
    if status.provider_id.is_empty() {
        if let Some(p) = ovh_node.and_then(OvhNode::provider_id) {
            let _ = super::status::update(api, &ctx.clock, claim, |s, _| {
                s.provider_id = p.clone();
                true
            })
            .await;
            return false;
        }
    }
    let k8s_node = (!status.provider_id.is_empty())
        .then(|| node_of.get(&status.provider_id).cloned())
        .flatten();
    let flavor = flavor_of(claim);
    let gpu = crate::catalog::family::family_of(&flavor)
        .gpu_model
        .is_some();
    let verdict = liveness(
        claim,
        ovh_node,
        k8s_node.is_some(),
        ctx.clock.now(),
        ctx.real(ctx.settings.launch_timeout),
        ctx.real(ctx.settings.registration_timeout) * if gpu { 4 } else { 1 },
    );
    match verdict {
        Liveness::Ok => {}
        Liveness::NodeFailed(status) => {
            registration_outcome(ctx, claim, false).await;
            ctx.catalog
                .unavailable
                .mark(&flavor, &zone_of(claim), &status);
            delete_claim(
                ctx,
                claim,
                "LaunchFailed",
                format!(
                    "OVH node failed with {status}; {flavor} in {} is skipped for a while",
                    zone_of(claim)
                ),
            )
            .await;
            return true;
        }
        Liveness::LaunchTimeout | Liveness::RegistrationTimeout => {
            // Retry elsewhere: the same offering is likely to fail the same way.
            let (reason, what) = if matches!(verdict, Liveness::LaunchTimeout) {
                ("LaunchTimeout", "no OVH node appeared in time")
            } else {
                (
                    "RegistrationTimeout",
                    "the node did not join the cluster in time",
                )
            };
            registration_outcome(ctx, claim, false).await;
            ctx.catalog
                .unavailable
                .mark(&flavor, &zone_of(claim), reason);
            delete_claim(
                ctx,
                claim,
                reason,
                format!(
                    "{what}; {flavor} in {} is skipped for a while and its pods provisioned again",
                    zone_of(claim)
                ),
            )
            .await;
            return true;
        }
    }
    let Some(node) = k8s_node else {
        return false;
    };
    let node_name = node.name_any();
    if !claim.is_condition_true(CONDITION_REGISTERED) {
        let nodes: Api<Node> = Api::all(ctx.kube.client.clone());
        // The cache's copy may be behind the kubelet's and the node lifecycle controller's
        // writes: the patch only applies over the version it was computed from.
        match patch_node(&nodes, (*node).clone(), |n| Some(node_patch(claim, n))).await {
            Ok(true) => {}
            Ok(false) => return false,
            Err(e) => {
                tracing::warn!(nodeclaim = %name, node = %node_name, error = %e, "cannot label the registered node");
                return false;
            }
        }
        let r = super::status::update(api, &ctx.clock, claim, |s, at| {
            s.node_name = node_name.clone();
            at.conditions(&mut s.conditions).set(
                CONDITION_REGISTERED,
                ConditionStatus::True,
                "Registered",
                &format!("node {node_name} joined"),
            );
            true
        })
        .await;
        if r.is_ok() {
            registration_outcome(ctx, claim, true).await;
            ctx.metrics
                .nodes_created
                .get_or_create(&node_labels(claim))
                .inc();
            tracing::info!(nodeclaim = %name, node = %node_name, "NodeClaim registered");
            ctx.kube
                .event(
                    claim,
                    false,
                    "Registered",
                    "Register",
                    format!("node {node_name} joined"),
                )
                .await;
        }
        return false;
    }
    if !claim.is_condition_true(CONDITION_INITIALIZED) {
        if let Some((capacity, allocatable)) = rules::initialized(claim, &node) {
            let learned = crate::scheduling::convert::resources(&allocatable);
            ctx.catalog.observe_allocatable(&flavor, learned);
            let r = super::status::update(api, &ctx.clock, claim, |s, at| {
                s.capacity = capacity.clone();
                s.allocatable = allocatable.clone();
                at.conditions(&mut s.conditions)
                    .set_true(CONDITION_INITIALIZED);
                true
            })
            .await;
            if r.is_ok() {
                let nodes: Api<Node> = Api::all(ctx.kube.client.clone());
                let _ = nodes
                    .patch(
                        &node_name,
                        &PatchParams::default(),
                        &Patch::Merge(
                            json!({"metadata": {"labels": {labels::INITIALIZED: "true"}}}),
                        ),
                    )
                    .await;
                ctx.metrics
                    .nodeclaims_initialized
                    .get_or_create(&nodepool_label(claim))
                    .inc();
                tracing::info!(nodeclaim = %name, node = %node_name, "NodeClaim initialized");
                ctx.kube
                    .event(
                        claim,
                        false,
                        "Initialized",
                        "Initialize",
                        format!("node {node_name} is ready"),
                    )
                    .await;
            }
        }
    }
    false
}
