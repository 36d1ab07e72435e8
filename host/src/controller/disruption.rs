//! The disruption loop (docs/ARCHITECTURE.md): every `--disruption-interval` (10 s), in Karpenter's
//! order: empty nodes, drift and expiry, then multi- and single-node consolidation. Decisions
//! come from the consolidation and drift policies; the host validates every command by
//! simulating it with the scheduling core ([`crate::disruption::decide`]), applies the NodePool's budgets
//! ([`crate::disruption::budget`]) and `karpenter.sh/do-not-disrupt`, waits the validation delay before a
//! consolidation, launches replacements and waits until they are initialized before the old
//! NodeClaims are deleted; the termination finalizer then drains them ([`super::termination`]).
//!
//! The decision of a pass is [`plan::plan`], shared with `policy evaluate`: this loop fills its
//! input from the caches ([`crate::disruption::cluster::ClusterView`]), runs it under
//! `spawn_blocking`, then carries out the commands, marks drift, logs and counts. Pure entry
//! points (no cluster needed): [`decide::consolidation_request`] builds the policy's request
//! from a snapshot, [`decide::validate_all`] turns the policy's commands into validated
//! [`decide::Command`]s, [`drift::drift_request`] builds the drift request,
//! [`crate::disruption::budget::allowed`] applies budgets, [`pass`] holds the rules of a pass
//! (consolidateAfter bookkeeping, nominated nodes, order, one command per NodePool, budgets,
//! validation delay).

use super::disruption_metrics as metrics;
use crate::disruption::cluster::ClusterView;
use crate::disruption::{budget, decide, drift, pass, plan};

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use kube::api::{ListParams, PostParams};
use kube::{Api, ResourceExt};

pub use super::disruption_metrics::DisruptionMetrics;
pub use decide::{Candidate, Command, PoolSettings, Reason};

use crate::api::condition::ConditionStatus;
use crate::api::nodeclaim::{
    CONDITION_CONSOLIDATABLE, CONDITION_DISRUPTION_REASON, CONDITION_DRIFTED, CONDITION_INITIALIZED,
};
use crate::api::{NodeClaim, NodePool};
use crate::controller::context::Context;
use crate::controller::metrics::{ControllerLabels, CreatedLabels, DISRUPTION};
use crate::controller::provisioning::{
    flavor_specs, nodeclaim_object, nodeclass_of, pool_specs, static_pool_specs,
};
use crate::controller::watch::{claim_node, list, readable};
use crate::policy::types::consolidation::ConsolidationRequest;
use crate::provisioning::WasmFlavorPolicy;

/// A replacement in progress: new NodeClaims launched, old ones deleted once they are
/// initialized.
#[derive(Clone, Debug)]
struct InFlight {
    command: Command,
    new_claims: Vec<String>,
}

/// What the loop remembers between passes.
#[derive(Debug, Default)]
struct LoopState {
    /// The pure bookkeeping of the pass rules (consolidateAfter, validation delay).
    memory: pass::Memory,
    /// Replacements waiting for their new nodes.
    in_flight: Vec<InFlight>,
    /// The Events said about each NodeClaim (reason, message), so a pass repeats none of them.
    announced: HashMap<String, BTreeSet<(&'static str, String)>>,
}

/// Runs the disruption loop forever.
pub async fn run(ctx: Arc<Context>) {
    let mut state = LoopState::default();
    loop {
        tokio::time::sleep(ctx.real(ctx.settings.disruption_interval)).await;
        if let Err(e) = pass(&ctx, &mut state).await {
            tracing::warn!(error = %e, "disruption pass failed");
        }
    }
}

/// One disruption pass: the drift policy's verdicts, then the plan
/// ([`crate::disruption::plan::plan`], off the async workers), then its commands carried out.
async fn pass(ctx: &Arc<Context>, state: &mut LoopState) -> anyhow::Result<()> {
    if ctx.ovh.client.load().is_none() {
        return Ok(());
    }
    let claims_api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let mut claims = claims_api.list(&ListParams::default()).await?.items;
    // A replacement that finished deleted its old NodeClaims: the plan reads them as deleting,
    // not as candidates to replace again.
    if progress_in_flight(ctx, state, &claims).await {
        claims = claims_api.list(&ListParams::default()).await?.items;
    }

    let nodepools: Vec<NodePool> = readable(&ctx.kube.caches.nodepools);
    let classes = list(&ctx.kube.caches.nodeclasses);
    let pools = pool_specs(&ctx.kube.caches, &ctx.catalog, &claims);
    let static_pools = static_pool_specs(&ctx.kube.caches, &ctx.catalog, &claims);
    let flavors = flavor_specs(&ctx.catalog);
    let snapshot = ctx.model.cluster().snapshot();
    let k8s_nodes = list(&ctx.kube.caches.nodes);
    let now = ctx.clock.now();
    let sizes = ctx.ovh.pools.lock().await.pool_sizes();
    let set = ctx.policies.set.clone();

    // Drift: which NodeClaims no longer match their NodePool or OVHNodeClass (the plan
    // replaces them).
    let with_classes: Vec<_> = pools
        .iter()
        .chain(&static_pools)
        .map(|(np, s)| (np.clone(), s.clone(), nodeclass_of(np, &classes).cloned()))
        .collect();
    let drift_req = drift::drift_request(&claims, &with_classes, &flavors);
    let asked: HashSet<String> = drift_req
        .nodeclaims
        .iter()
        .map(|c| c.name.clone())
        .collect();
    let drifted = {
        let set = set.clone();
        tokio::task::spawn_blocking(move || set.detect(drift_req)).await?
    };
    // Without a decision nothing is known to have stopped drifting.
    let (drifted, decided): (HashMap<String, String>, bool) = match drifted {
        Ok(d) => (
            d.decision
                .drifted
                .into_iter()
                .map(|d| (d.nodeclaim, d.message))
                .collect(),
            true,
        ),
        Err(e) => {
            tracing::warn!(error = %e, "no drift decision this pass");
            (HashMap::new(), false)
        }
    };
    ctx.metrics.disruption.drifted.set(drifted.len() as i64);

    // The plan, from the caches, off the async workers (simulations and policy calls are
    // CPU-bound). Old and new NodeClaims of replacements in flight are left alone.
    let busy_claims: HashSet<String> = state
        .in_flight
        .iter()
        .flat_map(|f| f.command.claims.iter().chain(&f.new_claims).cloned())
        .collect();
    let in_flight_nodepools: HashSet<String> = state
        .in_flight
        .iter()
        .map(|f| f.command.nodepool.clone())
        .collect();
    let pods_on = |node: &str| ctx.model.cluster().pods_on(node);
    let input = ClusterView {
        claims: &claims,
        nodepools: &nodepools,
        nodes: &k8s_nodes,
        pods_on: &pods_on,
        snapshot,
        pools: pools.iter().map(|(_, s)| s.clone()).collect(),
        static_pools: static_pools.iter().map(|(_, s)| s.clone()).collect(),
        flavors,
        ovh_pool_sizes: sizes,
        drifted: drifted.clone(),
        busy_claims,
        in_flight_nodepools,
        now,
        validation_delay: ctx.settings.validation_delay,
        options: ctx.settings.scheduling,
    }
    .plan_input(&ctx.clock);
    let facts = input.nodes.clone();
    let pool_facts = input.nodepools.clone();
    // What each NodePool's budgets allow now (upstream's gauges; a command over budget waits).
    let mut allowed = Vec::new();
    let mut consuming = Vec::new();
    for np in &input.nodepools {
        for (reason, label) in metrics::BUDGET_REASONS {
            let labels = metrics::BudgetLabels {
                nodepool: np.settings.name.clone(),
                reason: label.into(),
            };
            let allows = budget::allowed(&np.budgets, reason, np.total, 0, input.now);
            allowed.push((labels.clone(), f64::from(allows)));
            consuming.push((labels, f64::from(np.disrupting)));
        }
    }
    ctx.metrics.disruption.allowed_disruptions.replace(allowed);
    ctx.metrics
        .disruption
        .nodes_consuming_budgets
        .replace(consuming);
    // The memory goes to the blocking task and comes back with the plan (a panic there
    // forgets it, as a restart would).
    let memory = std::mem::take(&mut state.memory);
    let clock = ctx.clock.clone();
    let started = std::time::Instant::now();
    let (planned, memory) = tokio::task::spawn_blocking(move || {
        let primary = WasmFlavorPolicy::active(&set);
        let fallback = WasmFlavorPolicy::default_policy(&set);
        let mut memory = memory;
        let mut consolidate = |request: ConsolidationRequest| {
            set.consolidate(request)
                .map(|d| d.decision.commands)
                .map_err(|e| e.to_string())
        };
        let planned = plan::plan(
            &input,
            &mut memory,
            &clock,
            &primary,
            &fallback,
            &mut consolidate,
        );
        (planned, memory)
    })
    .await?;
    state.memory = memory;
    ctx.metrics
        .scheduling_duration
        .get_or_create(&ControllerLabels {
            controller: DISRUPTION.into(),
        })
        .observe(started.elapsed().as_secs_f64());
    count_eligible(ctx, &planned.candidates, &drifted, &nodepools);

    if let Some(e) = &planned.policy_error {
        tracing::warn!(error = %e, "no consolidation decision this pass");
    }
    for r in &planned.refused {
        tracing::debug!(nodes = ?r.nodes, why = %r.why, "consolidation command refused");
        let consolidation_type = if r.nodes.len() > 1 { "multi" } else { "single" };
        ctx.metrics
            .disruption
            .failed_validations
            .get_or_create(&metrics::ConsolidationTypeLabels {
                consolidation_type: consolidation_type.into(),
            })
            .inc();
    }
    for claim in &claims {
        let name = claim.name_any();
        if let Some(message) = drifted.get(&name) {
            mark_drifted(ctx, claim, message).await;
        } else if decided && asked.contains(&name) && claim.is_condition_true(CONDITION_DRIFTED) {
            clear_drifted(ctx, claim).await;
        }
    }
    explain_candidates(
        ctx,
        state,
        &claims,
        &k8s_nodes,
        &facts,
        &pool_facts,
        &planned.candidates,
    )
    .await;
    for n in &planned.not_replaced {
        tracing::info!(nodeclaim = %n.claim, reason = n.reason.as_str(), why = %n.why, "cannot replace yet");
    }

    for (command, verdict) in planned.commands {
        match verdict {
            pass::Verdict::OverBudget { allowed } => {
                tracing::info!(nodepool = %command.nodepool, reason = command.reason.as_str(),
                    nodes = ?command.nodes, allowed, "disruption blocked by the NodePool's budget");
                if allowed == 0 {
                    if let Some(np) = nodepools.iter().find(|p| p.name_any() == command.nodepool) {
                        ctx.kube
                            .event(
                                np,
                                false,
                                "DisruptionBlocked",
                                "Disrupt",
                                format!(
                                    "No allowed disruptions for disruption reason {} due to blocking budget",
                                    command.reason.title()
                                ),
                            )
                            .await;
                    }
                }
            }
            pass::Verdict::Validating => {
                tracing::debug!(nodepool = %command.nodepool, nodes = ?command.nodes, "consolidation chosen; validating again after the delay");
            }
            pass::Verdict::Execute => {
                let Some(np) = nodepools.iter().find(|p| p.name_any() == command.nodepool) else {
                    continue;
                };
                execute(ctx, state, np, command, &classes).await;
            }
        }
    }
    Ok(())
}

/// Sets (`Some`) or removes the `DisruptionReason` condition of the NodeClaims `names`: why
/// they are being disrupted, while they are.
async fn disruption_reason(ctx: &Context, names: &[String], reason: Option<Reason>) {
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    for name in names {
        let Ok(Some(claim)) = api.get_opt(name).await else {
            continue;
        };
        let r = super::status::update(&api, &ctx.clock, &claim, |s, at| {
            let mut conditions = at.conditions(&mut s.conditions);
            match reason {
                Some(r) => conditions.set(
                    CONDITION_DISRUPTION_REASON,
                    ConditionStatus::True,
                    r.title(),
                    r.title(),
                ),
                None => conditions.clear(CONDITION_DISRUPTION_REASON),
            }
        })
        .await;
        if let Err(e) = r {
            tracing::warn!(nodeclaim = %name, error = %e, "cannot update DisruptionReason");
        }
    }
}

/// What each candidate NodeClaim's status and Events say after a pass, as upstream's: the
/// `Consolidatable` condition (set past `consolidateAfter`, removed otherwise), and
/// `DisruptionBlocked` (do-not-disrupt, PodDisruptionBudgets) and `Unconsolidatable`
/// (consolidation disabled, WhenEmpty with pods) Events on the NodeClaim and its Node, each
/// said once until it changes.
#[allow(clippy::too_many_arguments)]
async fn explain_candidates(
    ctx: &Context,
    state: &mut LoopState,
    claims: &[NodeClaim],
    nodes: &[k8s_openapi::api::core::v1::Node],
    facts: &[plan::NodeFacts],
    pools: &[plan::NodePoolFacts],
    candidates: &[decide::Candidate],
) {
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let mut seen = HashSet::new();
    for f in facts {
        let Some(claim) = claims.iter().find(|c| c.name_any() == f.claim) else {
            continue;
        };
        seen.insert(f.claim.clone());
        let settings = pools
            .iter()
            .find(|p| p.settings.name == f.nodepool)
            .map(|p| &p.settings);
        let consolidation_on = settings.is_some_and(|s| s.consolidate_after_seconds.is_some());
        let consolidatable = consolidation_on
            && candidates
                .iter()
                .any(|c| c.claim == f.claim && c.consolidatable);
        let r = super::status::update(&api, &ctx.clock, claim, |s, at| {
            let mut conditions = at.conditions(&mut s.conditions);
            if consolidatable {
                conditions.set_true(CONDITION_CONSOLIDATABLE)
            } else {
                conditions.clear(CONDITION_CONSOLIDATABLE)
            }
        })
        .await;
        if let Err(e) = r {
            tracing::warn!(nodeclaim = %f.claim, error = %e, "cannot update Consolidatable");
        }
        let mut say: BTreeSet<(&'static str, String)> = f
            .blocked_by
            .iter()
            .map(|why| ("DisruptionBlocked", why.clone()))
            .collect();
        match settings {
            Some(s) if s.consolidate_after_seconds.is_none() => {
                say.insert((
                    "Unconsolidatable",
                    format!("NodePool \"{}\" has consolidation disabled", f.nodepool),
                ));
            }
            Some(s)
                if s.policy == crate::api::nodepool::ConsolidationPolicy::WhenEmpty
                    && !ctx.model.cluster().is_empty_node(&f.node) =>
            {
                say.insert((
                    "Unconsolidatable",
                    format!(
                        "NodePool \"{}\" has consolidation policy WhenEmpty, but node is not empty",
                        f.nodepool
                    ),
                ));
            }
            _ => {}
        }
        let said = state.announced.entry(f.claim.clone()).or_default();
        let node = nodes.iter().find(|n| n.name_any() == f.node);
        for (reason, message) in say.difference(said) {
            tracing::info!(nodeclaim = %f.claim, node = %f.node, reason, %message, "not disrupting");
            ctx.kube
                .event(claim, false, reason, "Disrupt", message.clone())
                .await;
            if let Some(node) = node {
                ctx.kube
                    .event(node, false, reason, "Disrupt", message.clone())
                    .await;
            }
        }
        *said = say;
    }
    state.announced.retain(|claim, _| seen.contains(claim));
}

/// Sets `karpenter_voluntary_disruption_eligible_nodes`: the candidates each disruption
/// method could act on, as upstream counts them (disruptable nodes; consolidatable and empty,
/// consolidatable under a NodePool that allows more than empty nodes, drifted).
fn count_eligible(
    ctx: &Context,
    candidates: &[Candidate],
    drifted: &HashMap<String, String>,
    nodepools: &[NodePool],
) {
    let (mut empty, mut underutilized, mut drifted_nodes) = (0, 0, 0);
    for c in candidates.iter().filter(|c| c.disruptable) {
        if drifted.contains_key(&c.claim) {
            drifted_nodes += 1;
        }
        if !c.consolidatable {
            continue;
        }
        if ctx.model.cluster().is_empty_node(&c.node) {
            empty += 1;
        }
        let when_empty = nodepools.iter().any(|p| {
            p.name_any() == c.nodepool
                && p.spec.disruption.consolidation_policy
                    == crate::api::nodepool::ConsolidationPolicy::WhenEmpty
        });
        if !when_empty {
            underutilized += 1;
        }
    }
    for (reason, n) in [
        ("empty", empty),
        ("underutilized", underutilized),
        ("drifted", drifted_nodes),
    ] {
        ctx.metrics
            .disruption
            .eligible_nodes
            .get_or_create(&metrics::ReasonLabels {
                reason: reason.into(),
            })
            .set(n);
    }
}

/// Removes the Drifted condition of a NodeClaim that matches its NodePool and class again (the
/// change was undone before the node was replaced), as upstream does.
async fn clear_drifted(ctx: &Context, claim: &NodeClaim) {
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let r = super::status::update(&api, &ctx.clock, claim, |status, at| {
        at.conditions(&mut status.conditions)
            .clear(CONDITION_DRIFTED)
    })
    .await;
    match r {
        Ok(true) => tracing::info!(nodeclaim = %claim.name_any(), "NodeClaim no longer drifted"),
        Ok(false) => {}
        Err(e) => {
            tracing::warn!(nodeclaim = %claim.name_any(), error = %e, "cannot clear Drifted")
        }
    }
}

/// Sets the Drifted condition on a NodeClaim (once).
async fn mark_drifted(ctx: &Context, claim: &NodeClaim, message: &str) {
    if claim.is_condition_true(CONDITION_DRIFTED) {
        return;
    }
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let r = super::status::update(&api, &ctx.clock, claim, |status, at| {
        at.conditions(&mut status.conditions).set(
            CONDITION_DRIFTED,
            ConditionStatus::True,
            "Drifted",
            message,
        )
    })
    .await;
    match r {
        Ok(true) => {
            tracing::info!(nodeclaim = %claim.name_any(), %message, "NodeClaim drifted");
            ctx.kube
                .event(claim, false, "Drifted", "Disrupt", message.to_string())
                .await;
        }
        Ok(false) => {}
        Err(e) => tracing::warn!(nodeclaim = %claim.name_any(), error = %e, "cannot set Drifted"),
    }
}

fn describe(command: &Command) -> String {
    let what = if command.replacements.is_empty() {
        "delete".to_string()
    } else {
        let flavors: Vec<&str> = command
            .replacements
            .iter()
            .map(|r| r.flavor.as_str())
            .collect();
        format!("replace with {}", flavors.join(", "))
    };
    format!(
        "{} {} ({}): {}; expected savings {:.4} EUR/hour",
        what,
        command.nodes.join(", "),
        command.reason.as_str(),
        command.message,
        command.savings_per_hour
    )
}

/// Carries out a validated command: replacements launched first (the old NodeClaims go once
/// they are initialized), else the NodeClaims deleted now.
async fn execute(
    ctx: &Arc<Context>,
    state: &mut LoopState,
    np: &NodePool,
    command: Command,
    classes: &[crate::api::OVHNodeClass],
) {
    let kind = match command.reason {
        Reason::Empty | Reason::Underutilized => "consolidation",
        Reason::Drifted => "drift",
        Reason::Expired => "expiration",
    };
    let text = describe(&command);
    tracing::info!(nodepool = %command.nodepool, reason = command.reason.as_str(), nodes = ?command.nodes,
        savings_eur_per_hour = command.savings_per_hour, "disruption {kind}: {text}");
    ctx.kube
        .event(
            np,
            false,
            "Disrupting",
            "Disrupt",
            format!("{kind}: {text}"),
        )
        .await;
    if command.reason != Reason::Expired {
        disruption_reason(ctx, &command.claims, Some(command.reason)).await;
    }
    let decision = if command.replacements.is_empty() {
        "delete"
    } else {
        "replace"
    };
    let consolidation_type = metrics::consolidation_type(command.reason, command.nodes.len());
    ctx.metrics
        .disruption
        .decisions
        .get_or_create(&metrics::DecisionLabels {
            decision: decision.into(),
            reason: command.reason.as_str().into(),
            consolidation_type: consolidation_type.into(),
        })
        .inc();
    ctx.metrics
        .disruption
        .decisions_by_nodepool
        .get_or_create(&metrics::NodePoolDecisionLabels {
            nodepool: command.nodepool.clone(),
            decision: decision.into(),
            reason: command.reason.as_str().into(),
            consolidation_type: consolidation_type.into(),
        })
        .inc();
    if command.replacements.is_empty() {
        finish(ctx, &command).await;
        return;
    }
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let pools = readable(&ctx.kube.caches.nodepools);
    let mut new_claims = Vec::new();
    // Before the first NodeClaim exists: a static NodePool's pass must not see it as surplus.
    ctx.model.set_replacing(&command.nodepool, true);
    for spec in &command.replacements {
        let Some(pool) = pools.iter().find(|p| p.name_any() == spec.nodepool) else {
            continue;
        };
        let object = nodeclaim_object(spec, pool, nodeclass_of(pool, classes));
        match api.create(&PostParams::default(), &object).await {
            Ok(claim) => {
                let name = claim.name_any();
                // claim_node reads the model: the lock is taken only afterwards.
                let node = claim_node(&ctx.catalog, &ctx.model, &claim);
                ctx.model.cluster().apply_claim(&name, node);
                ctx.metrics
                    .nodeclaims_created
                    .get_or_create(&CreatedLabels {
                        reason: command.reason.as_str().into(),
                        nodepool: spec.nodepool.clone(),
                        min_values_relaxed: "false".into(),
                    })
                    .inc();
                tracing::info!(nodeclaim = %name, flavor = %spec.flavor, zone = %spec.zone,
                    replaces = ?command.claims, "replacement NodeClaim created ({kind})");
                ctx.kube
                    .event(
                        &claim,
                        false,
                        "DisruptionLaunching",
                        "Disrupt",
                        format!("Launching NodeClaim: {}", command.reason.title()),
                    )
                    .await;
                new_claims.push(name);
            }
            Err(e) => {
                tracing::warn!(nodepool = %spec.nodepool, error = %e, "cannot create a replacement NodeClaim");
                if new_claims.is_empty() {
                    ctx.model.set_replacing(&command.nodepool, false);
                    disruption_reason(ctx, &command.claims, None).await;
                    return;
                }
                // The NodeClaims created are followed: the command goes on with them.
                break;
            }
        }
    }
    if new_claims.is_empty() {
        // No replacement could be created (its NodePool is gone): the old nodes stay, else
        // an empty in-flight command would count as done and delete them.
        tracing::warn!(nodepool = %command.nodepool, replaces = ?command.claims,
            "no replacement NodeClaim created; the old nodes stay");
        ctx.model.set_replacing(&command.nodepool, false);
        disruption_reason(ctx, &command.claims, None).await;
        return;
    }
    ctx.wake.reconcile.notify_one();
    state.in_flight.push(InFlight {
        command,
        new_claims,
    });
}

/// Deletes the command's NodeClaims (their finalizer drains them) and counts the savings.
async fn finish(ctx: &Context, command: &Command) {
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    for name in &command.claims {
        let Ok(Some(claim)) = api.get_opt(name).await else {
            continue;
        };
        let reason = command.reason.title();
        tracing::info!(nodeclaim = %name, reason, note = %describe(command), "deleting NodeClaim");
        ctx.kube
            .event(
                &claim,
                false,
                "DisruptionTerminating",
                "Disrupt",
                format!("Disrupting NodeClaim: {reason}"),
            )
            .await;
        let node = claim
            .status
            .as_ref()
            .map(|s| s.node_name.as_str())
            .unwrap_or("");
        if let Some(node) = ctx
            .kube
            .caches
            .nodes
            .state()
            .iter()
            .find(|n| n.name_any() == node)
        {
            ctx.kube
                .event(
                    &**node,
                    false,
                    "DisruptionTerminating",
                    "Disrupt",
                    format!("Disrupting Node: {reason}"),
                )
                .await;
        }
        crate::controller::lifecycle::remove_claim(ctx, &claim, reason).await;
    }
    if command.savings_per_hour > 0.0 {
        ctx.metrics
            .disruption
            .savings_eur_per_hour
            .inc_by(command.savings_per_hour);
    }
    ctx.wake.reconcile.notify_one();
}

/// Replacements whose new NodeClaims are all initialized let the old ones go; a replacement
/// that vanished abandons the command (the old nodes stay). Returns whether old NodeClaims
/// were deleted.
async fn progress_in_flight(ctx: &Context, state: &mut LoopState, claims: &[NodeClaim]) -> bool {
    let mut deleted = false;
    let mut keep = Vec::new();
    for f in std::mem::take(&mut state.in_flight) {
        let news: Vec<Option<&NodeClaim>> = f
            .new_claims
            .iter()
            .map(|n| claims.iter().find(|c| &c.name_any() == n))
            .collect();
        if news
            .iter()
            .any(|c| c.is_none_or(|c| c.metadata.deletion_timestamp.is_some()))
        {
            tracing::warn!(replaces = ?f.command.claims, "a replacement NodeClaim is gone; the old nodes stay");
            disruption_reason(ctx, &f.command.claims, None).await;
            ctx.model.set_replacing(&f.command.nodepool, false);
            continue;
        }
        if news
            .iter()
            .all(|c| c.is_some_and(|c| c.is_condition_true(CONDITION_INITIALIZED)))
        {
            tracing::info!(replaced = ?f.command.claims, by = ?f.new_claims, "replacements initialized; draining the old nodes");
            finish(ctx, &f.command).await;
            deleted = true;
            ctx.model.set_replacing(&f.command.nodepool, false);
            for c in &f.new_claims {
                state.memory.replaced(c.clone(), ctx.clock.now());
            }
            continue;
        }
        keep.push(f);
    }
    state.in_flight = keep;
    deleted
}
