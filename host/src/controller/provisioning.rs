//! The provisioning glue: one batch of pending pods -> the scheduling pass -> NodeClaims
//! created in Kubernetes (owned by their NodePool, labelled with their flavor, zone and OVH
//! pool) -> the pool pass that launches them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Resource, ResourceExt};

use crate::api::labels;
use crate::api::{
    hash, NodeClaim, NodePool, NodeSelectorRequirementWithMinValues, OVHNodeClass,
    ResourceRequirements,
};
use crate::controller::context::{Caches, Context, Offerings, Policies};
use crate::controller::metrics::{ControllerLabels, CreatedLabels, PROVISIONER};
use crate::controller::watch::{claim_node, list, readable};
use crate::policy::{ActivePolicy, World};
use crate::provisioning::claims::NodeClaimSpec;
use crate::provisioning::pods::PendingPods;
use crate::provisioning::simulate::{Input, Plan};
use crate::provisioning::wit::plan_with;
use crate::scheduling::offer::NodeClassSpec;
use crate::scheduling::{convert, FlavorSpec, PoolSpec, Requirement, Resources};
use crate::state::ObjectKey;

/// A NodeClaim requirement, with its NodePool's `minValues` on the same key; on an `In`, no
/// more than the values it lists (a relaxed one, `BestEffort`, as upstream lowers it), which
/// the NodeClaim CRD's rule requires.
fn api_requirement(
    r: &Requirement,
    min_values: &[(String, u32)],
) -> NodeSelectorRequirementWithMinValues {
    let min = crate::scheduling::offer::min_values_of(min_values, &r.key)
        .map(|n| match r.operator {
            crate::scheduling::Operator::In => n.min(r.values.len() as u32),
            _ => n,
        })
        .and_then(|n| i32::try_from(n).ok());
    NodeSelectorRequirementWithMinValues {
        key: r.key.clone(),
        operator: r.operator.into(),
        values: r.values.clone(),
        min_values: min,
    }
}

/// Whether a NodeClaim counts as a node of its NodePool (not being deleted).
pub fn is_live(claim: &NodeClaim) -> bool {
    claim.metadata.deletion_timestamp.is_none()
}

/// The NodeClass a NodePool uses, if it is an OVHNodeClass that exists.
pub fn nodeclass_of<'a>(pool: &NodePool, classes: &'a [OVHNodeClass]) -> Option<&'a OVHNodeClass> {
    let r = &pool.spec.template.spec.node_class_ref;
    if !r.is_ovh() {
        return None;
    }
    classes.iter().find(|c| c.name_any() == r.name)
}

/// The NodePools provisioning may use (dynamic, not being deleted, valid, with a Ready
/// OVHNodeClass), with what their NodeClaims already use.
pub fn pool_specs(
    caches: &Caches,
    offerings: &Offerings,
    claims: &[NodeClaim],
) -> Vec<(NodePool, PoolSpec)> {
    usable_pools(caches, offerings, claims, false)
}

/// The static NodePools (`spec.replicas`) that may launch nodes, as [`pool_specs`] gives the
/// dynamic ones.
pub fn static_pool_specs(
    caches: &Caches,
    offerings: &Offerings,
    claims: &[NodeClaim],
) -> Vec<(NodePool, PoolSpec)> {
    usable_pools(caches, offerings, claims, true)
}

fn usable_pools(
    caches: &Caches,
    offerings: &Offerings,
    claims: &[NodeClaim],
    static_pools: bool,
) -> Vec<(NodePool, PoolSpec)> {
    let classes = list(&caches.nodeclasses);
    let catalog = offerings.read();
    let mut used: HashMap<String, (Resources, u32)> = HashMap::new();
    for c in claims.iter().filter(|c| is_live(c)) {
        let (Some(pool), Some(flavor)) = (
            c.nodepool_name(),
            c.labels()
                .get(labels::INSTANCE_TYPE)
                .and_then(|f| catalog.1.get(f)),
        ) else {
            continue;
        };
        let e = used.entry(pool.to_string()).or_default();
        e.0 += flavor.capacity;
        e.1 += 1;
    }
    readable(&caches.nodepools)
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none() && p.is_static() == static_pools)
        .filter_map(|p| {
            let class = nodeclass_of(&p, &classes)?;
            if !class.is_ready()
                || crate::controller::nodeclass::impossible(class, &p, &catalog.1)
                || crate::controller::nodepool::check(&p, Some(class), &catalog.1).is_err()
            {
                return None;
            }
            let (u, n) = used.get(&p.name_any()).copied().unwrap_or_default();
            let spec = convert::nodepool(
                &p,
                NodeClassSpec {
                    name: class.name_any(),
                    region: class.spec.region.clone(),
                    monthly_billed: class.spec.monthly_billed,
                    anti_affinity: class.spec.anti_affinity,
                },
                u,
                n,
            );
            Some((p, spec))
        })
        .collect()
}

/// The flavors of the catalog, for the scheduling pass.
pub fn flavor_specs(offerings: &Offerings) -> Arc<Vec<FlavorSpec>> {
    Arc::new(offerings.read().1.specs())
}

/// The NodeClaim object of a planned node.
pub fn nodeclaim_object(
    spec: &NodeClaimSpec,
    pool: &NodePool,
    class: Option<&OVHNodeClass>,
) -> NodeClaim {
    let mut claim_labels: BTreeMap<String, String> = spec.labels.clone().into_iter().collect();
    claim_labels.extend(pool.spec.template.metadata.labels.clone());
    claim_labels.insert(labels::NODEPOOL.into(), pool.name_any());
    claim_labels.insert(labels::OVH_POOL.into(), spec.ovh_pool.clone());
    if let Some(c) = class {
        claim_labels.insert(labels::OVH_NODECLASS.into(), c.name_any());
    }
    let mut annotations = pool.spec.template.metadata.annotations.clone();
    annotations.insert(labels::NODEPOOL_HASH.into(), hash::nodepool_hash(pool));
    annotations.insert(
        labels::NODEPOOL_HASH_VERSION.into(),
        hash::NODEPOOL_HASH_VERSION.into(),
    );
    if let Some(c) = class {
        annotations.insert(labels::NODECLASS_HASH.into(), hash::nodeclass_hash(&c.spec));
        annotations.insert(
            labels::NODECLASS_HASH_VERSION.into(),
            hash::NODECLASS_HASH_VERSION.into(),
        );
    }
    let suffix: String = (0..5)
        .map(|_| (b'a' + rand::random_range(0..26u8)) as char)
        .collect();
    let mut claim_spec = pool.spec.template.to_nodeclaim_spec();
    claim_spec.requirements = spec
        .requirements
        .iter()
        .map(|r| api_requirement(r, &spec.min_values))
        .collect();
    if spec.min_values_relaxed {
        annotations.insert(labels::MIN_VALUES_RELAXED.into(), "true".into());
    }
    claim_spec.resources = ResourceRequirements {
        requests: convert::resource_list(&spec.requests),
    };
    NodeClaim {
        metadata: ObjectMeta {
            name: Some(format!("{}-{suffix}", pool.name_any())),
            labels: Some(claim_labels),
            annotations: Some(annotations),
            finalizers: Some(vec![labels::TERMINATION_FINALIZER.into()]),
            owner_references: Some(vec![OwnerReference {
                api_version: NodePool::api_version(&()).into(),
                kind: NodePool::kind(&()).into(),
                name: pool.name_any(),
                uid: pool.uid().unwrap_or_default(),
                block_owner_deletion: Some(true),
                controller: None,
            }]),
            ..Default::default()
        },
        spec: claim_spec,
        status: None,
    }
}

/// The flavor-selection policy a NodePool asks for (its policy annotation naming a loaded
/// policy ConfigMap), else the active one.
pub fn policy_for(policies: &Policies, pool: &NodePool) -> Arc<ActivePolicy> {
    pool.annotations()
        .get(labels::POLICY_ANNOTATION)
        .and_then(|name| policies.named(name))
        .unwrap_or_else(|| policies.set.active(World::FlavorSelection))
}

/// Publishes `reason` Events with these notes on the pods, each only when `record` says the
/// note is news for that pod (once per target or per cause, not on every pass).
async fn tell_pods(
    ctx: &Context,
    notes: Vec<(&ObjectKey, String)>,
    record: fn(&mut PendingPods, &ObjectKey, &str) -> bool,
    warning: bool,
    reason: &str,
) {
    let news: Vec<_> = {
        let mut pending = ctx.model.pending_pods();
        let mut news = Vec::new();
        for (pod, note) in notes {
            if record(&mut pending, pod, &note) {
                news.extend(pending.reference(pod).map(|r| (r, note)));
            }
        }
        news
    };
    // Concurrently: a 1,000-pod burst is 1,000 Events, one request each.
    futures::stream::iter(news)
        .for_each_concurrent(EVENT_CONCURRENCY, |(reference, note)| async move {
            ctx.kube
                .event_on(&reference, warning, reason, "Provision", note)
                .await;
        })
        .await;
}

/// Pod Events published at once.
const EVENT_CONCURRENCY: usize = 16;

/// Tells each pod which node it should schedule on (Karpenter's `Nominated` Event).
async fn nominate<'a>(ctx: &Context, pods: impl Iterator<Item = (&'a ObjectKey, &'a str)>) {
    let notes = pods
        .map(|(p, target)| (p, format!("Pod should schedule on: {target}")))
        .collect();
    tell_pods(ctx, notes, PendingPods::nominate, false, "Nominated").await;
}

/// Tells each pod no NodePool can take why (a `FailedScheduling` Warning).
async fn warn_unplaced<'a>(ctx: &Context, pods: impl Iterator<Item = (&'a ObjectKey, &'a str)>) {
    let notes = pods
        .map(|(p, why)| {
            let why = if why.is_empty() {
                "no NodePool can take it"
            } else {
                why
            };
            (p, format!("Failed to schedule pod, {why}"))
        })
        .collect();
    tell_pods(ctx, notes, PendingPods::warn, true, "FailedScheduling").await;
}

/// One provisioning pass over the pending pods. Returns the NodeClaims created.
pub async fn provision(ctx: &Arc<Context>) -> anyhow::Result<usize> {
    let started = Instant::now();
    let claims_api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let claims = readable(&ctx.kube.caches.nodeclaims);
    let pools = pool_specs(&ctx.kube.caches, &ctx.catalog, &claims);
    let mut snapshot = ctx.model.cluster().snapshot();
    if snapshot.pending.is_empty() {
        set_unschedulable(ctx, 0);
        return Ok(0);
    }
    if pools.is_empty() {
        set_unschedulable(ctx, snapshot.pending.len());
        tracing::info!(
            pending = snapshot.pending.len(),
            "pending pods but no NodePool with a Ready OVHNodeClass"
        );
        let why = "no NodePool with a Ready OVHNodeClass can launch a node for it";
        warn_unplaced(ctx, snapshot.pending.iter().map(|(p, _)| (p, why))).await;
        return Ok(0);
    }
    ctx.metrics.batches.inc();
    let flavors = flavor_specs(&ctx.catalog);
    // The pool pass waits for the whole batch: one write per pool per batch.
    let mut keeper = ctx.ovh.pools.lock().await;
    let mut sizes: HashMap<String, u32> = keeper.pool_sizes();
    for c in claims.iter().filter(|c| is_live(c)) {
        if let Some(p) = c.labels().get(labels::OVH_POOL) {
            let n = claims
                .iter()
                .filter(|o| is_live(o) && o.labels().get(labels::OVH_POOL) == Some(p))
                .count() as u32;
            let e = sizes.entry(p.clone()).or_default();
            *e = (*e).max(n);
        }
    }
    // NodePools grouped by the policy they use: each group is one pass, pods the first group
    // cannot place go to the next.
    let mut groups: Vec<(Arc<ActivePolicy>, Vec<PoolSpec>)> = Vec::new();
    for (np, spec) in &pools {
        let policy = policy_for(&ctx.policies, np);
        match groups.iter_mut().find(|(p, _)| {
            p.policy.info.digest == policy.policy.info.digest && p.config == policy.config
        }) {
            Some((_, specs)) => specs.push(spec.clone()),
            None => groups.push((policy, vec![spec.clone()])),
        }
    }
    let mut plans: Vec<Plan> = Vec::new();
    for (policy, specs) in groups {
        if snapshot.pending.is_empty() {
            break;
        }
        let set = ctx.policies.set.clone();
        let flavors = flavors.clone();
        let sizes_now = sizes.clone();
        let snap = snapshot.clone();
        let config = policy.config.clone();
        let options = ctx.settings.scheduling;
        let plan = tokio::task::spawn_blocking(move || {
            let input = Input {
                snapshot: &snap,
                pools: &specs,
                flavors: &flavors,
                ovh_pool_sizes: &sizes_now,
                config: &config,
                options,
            };
            plan_with(&input, &set, policy)
        })
        .await?;
        let unplaced: std::collections::HashSet<&String> =
            plan.unplaced.iter().map(|(k, _)| k).collect();
        snapshot.pending.retain(|(k, _)| unplaced.contains(k));
        for c in &plan.claims {
            *sizes.entry(c.ovh_pool.clone()).or_default() += 1;
        }
        plans.push(plan);
    }

    let classes = list(&ctx.kube.caches.nodeclasses);
    let mut created = 0;
    // Events wait until the OVH pools are written: they are news, the nodes are the point.
    let mut launched: Vec<(NodeClaim, &NodeClaimSpec)> = Vec::new();
    for plan in &plans {
        for spec in &plan.claims {
            let Some((np, _)) = pools.iter().find(|(p, _)| p.name_any() == spec.nodepool) else {
                continue;
            };
            let class = nodeclass_of(np, &classes);
            let object = nodeclaim_object(spec, np, class);
            match claims_api.create(&PostParams::default(), &object).await {
                Ok(claim) => {
                    created += 1;
                    let name = claim.name_any();
                    ctx.metrics
                        .nodeclaims_created
                        .get_or_create(&CreatedLabels {
                            reason: "provisioned".into(),
                            nodepool: spec.nodepool.clone(),
                            min_values_relaxed: spec.min_values_relaxed.to_string(),
                        })
                        .inc();
                    let node = claim_node(&ctx.catalog, &ctx.model, &claim);
                    ctx.model.cluster().apply_claim(&name, node);
                    tracing::info!(nodeclaim = %name, nodepool = %spec.nodepool, flavor = %spec.flavor,
                        zone = %spec.zone, ovh_pool = %spec.ovh_pool, pods = spec.pods.len(), "NodeClaim created");
                    launched.push((claim, spec));
                }
                Err(e) => {
                    tracing::error!(nodepool = %spec.nodepool, error = %e, "cannot create a NodeClaim")
                }
            }
        }
    }
    // The pool pass launches the new NodeClaims (the OVH write), then the news goes out.
    let launch = if created > 0 {
        crate::controller::lifecycle::reconcile_with(ctx, &mut keeper).await
    } else {
        Ok(())
    };
    drop(keeper);
    for (claim, spec) in &launched {
        let target = format!("nodeclaim/{}", claim.name_any());
        nominate(ctx, spec.pods.iter().map(|p| (p, target.as_str()))).await;
        ctx.kube
            .event(
                claim,
                false,
                "Launching",
                "Provision",
                format!(
                    "launching a {} in {} (OVH pool {}) for {} pod(s)",
                    spec.flavor,
                    spec.zone,
                    spec.ovh_pool,
                    spec.pods.len()
                ),
            )
            .await;
    }
    // Pods waiting for a node already on its way: named as upstream does, the NodeClaim and
    // its node as far as they are known.
    let node_of = |c: &NodeClaim| {
        c.status
            .as_ref()
            .map(|s| s.node_name.clone())
            .filter(|n| !n.is_empty())
    };
    let in_flight: Vec<(&String, String)> = plans
        .iter()
        .flat_map(|p| &p.on_in_flight)
        .map(|(pod, target)| {
            let (claim, node) = match claims.iter().find(|c| &c.name_any() == target) {
                Some(c) => (Some(target.clone()), node_of(c)),
                None => (
                    claims
                        .iter()
                        .find(|c| node_of(c).as_ref() == Some(target))
                        .map(|c| c.name_any()),
                    Some(target.clone()),
                ),
            };
            let parts: Vec<String> = claim
                .map(|c| format!("nodeclaim/{c}"))
                .into_iter()
                .chain(node.map(|n| format!("node/{n}")))
                .collect();
            (pod, parts.join(", "))
        })
        .collect();
    nominate(ctx, in_flight.iter().map(|(p, t)| (*p, t.as_str()))).await;
    // Pods nothing can hold: say why on the pods and the NodePools.
    set_unschedulable(ctx, plans.last().map_or(0, |last| last.unplaced.len()));
    if let Some(last) = plans.last() {
        warn_unplaced(ctx, last.unplaced.iter().map(|(p, r)| (p, r.as_str()))).await;
        if !last.unplaced.is_empty() {
            let mut reasons: Vec<&str> = last.unplaced.iter().map(|(_, r)| r.as_str()).collect();
            reasons.sort();
            reasons.dedup();
            let note = format!(
                "{} pod(s) cannot be placed: {}",
                last.unplaced.len(),
                reasons.join("; ")
            );
            tracing::warn!(pods = last.unplaced.len(), reasons = %reasons.join("; "), "pods left unplaced");
            for (np, _) in &pools {
                ctx.kube
                    .event(np, true, "Unschedulable", "Provision", note.clone())
                    .await;
            }
        }
    }
    ctx.metrics
        .scheduling_duration
        .get_or_create(&ControllerLabels {
            controller: PROVISIONER.into(),
        })
        .observe(started.elapsed().as_secs_f64());
    launch?;
    Ok(created)
}

/// `karpenter_scheduler_unschedulable_pods_count{controller="provisioner"}`: the pods the
/// last provisioning pass could not place.
fn set_unschedulable(ctx: &Context, pods: usize) {
    ctx.metrics
        .unschedulable_pods
        .get_or_create(&ControllerLabels {
            controller: PROVISIONER.into(),
        })
        .set(pods as i64);
}
