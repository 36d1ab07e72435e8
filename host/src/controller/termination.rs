//! Termination of a NodeClaim being deleted: the node is tainted
//! `karpenter.sh/disrupted:NoSchedule`, its pods are evicted through the Eviction API (a
//! PodDisruptionBudget that refuses is retried on the next pass), pods still there after the
//! NodeClaim's `terminationGracePeriod` are deleted, and only then is the NodeClaim marked
//! `Drained`: the pool pass removes an OVH node only once its NodeClaim is drained, so no OVH
//! node goes while it runs a pod the controller did not evict. DaemonSet pods and mirror pods
//! stay (as with `kubectl drain --ignore-daemonsets`): they belong to the node.
//!
//! [`drain_step`] is the pure decision; [`drain`] carries it out.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, EvictParams, ListParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::condition::ConditionStatus;
use crate::api::labels;
use crate::api::NodeClaim;
use crate::controller::context::Context;

/// Condition a NodeClaim gets once its node holds no pod to evict.
pub use crate::api::nodeclaim::CONDITION_DRAINED;

/// A pod on a node being drained, as the drain decision sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct DrainPod {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Owned by a DaemonSet, or a static (mirror) pod: it stays with the node.
    pub node_bound: bool,
    /// Succeeded or Failed.
    pub finished: bool,
    /// Already being deleted (evicted, in its grace period).
    pub terminating: bool,
}

impl DrainPod {
    /// From a pod object.
    pub fn from_pod(pod: &Pod) -> Self {
        let daemon = crate::state::is_daemon(pod);
        let mirror = pod
            .annotations()
            .contains_key("kubernetes.io/config.mirror");
        let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
        DrainPod {
            namespace: pod.namespace().unwrap_or_default(),
            name: pod.name_any(),
            node_bound: daemon || mirror,
            finished: matches!(phase, Some("Succeeded" | "Failed")),
            terminating: pod.metadata.deletion_timestamp.is_some(),
        }
    }
}

/// What to do next on a node being drained.
#[derive(Clone, Debug, PartialEq)]
pub enum DrainStep {
    /// No pod left to evict: the node may go.
    Drained,
    /// Evict these pods (a PDB may refuse some: retried on the next pass).
    Evict(Vec<(String, String)>),
    /// The grace period is over: delete these pods, PDBs or not.
    Force(Vec<(String, String)>),
    /// Every pod left is terminating: wait.
    Wait,
}

/// The next drain step of a node whose NodeClaim has been deleting for `elapsed` (guide time),
/// with `grace` its `terminationGracePeriod` (None: wait for evictions forever).
pub fn drain_step(pods: &[DrainPod], elapsed: Duration, grace: Option<Duration>) -> DrainStep {
    let blocking: Vec<&DrainPod> = pods
        .iter()
        .filter(|p| !p.node_bound && !p.finished)
        .collect();
    if blocking.is_empty() {
        return DrainStep::Drained;
    }
    let keys = |forced: bool| -> Vec<(String, String)> {
        blocking
            .iter()
            .filter(|p| forced || !p.terminating)
            .map(|p| (p.namespace.clone(), p.name.clone()))
            .collect()
    };
    if grace.is_some_and(|g| elapsed >= g) {
        return DrainStep::Force(keys(true));
    }
    let evict = keys(false);
    if evict.is_empty() {
        DrainStep::Wait
    } else {
        DrainStep::Evict(evict)
    }
}

/// Whether a NodeClaim being deleted may lose its OVH node.
pub fn is_drained(claim: &NodeClaim) -> bool {
    claim.is_condition_true(CONDITION_DRAINED)
}

/// The node's taints with `karpenter.sh/disrupted:NoSchedule` added; None if already there.
pub fn with_disrupted_taint(node: &Node) -> Option<Vec<k8s_openapi::api::core::v1::Taint>> {
    let mut taints = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.clone())
        .unwrap_or_default();
    if taints.iter().any(|t| t.key == labels::DISRUPTED_TAINT) {
        return None;
    }
    taints.push(k8s_openapi::api::core::v1::Taint {
        key: labels::DISRUPTED_TAINT.into(),
        effect: "NoSchedule".into(),
        ..Default::default()
    });
    Some(taints)
}

/// Taints `node` as disrupted (no new pod lands there).
pub async fn taint_node(client: &kube::Client, node: &str) -> kube::Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let Some(current) = nodes.get_opt(node).await? else {
        return Ok(());
    };
    crate::controller::lifecycle::patch_node(&nodes, current, |n| {
        with_disrupted_taint(n)
            .map(|taints| crate::lifecycle::rules::locked(json!({"spec": {"taints": taints}}), n))
    })
    .await?;
    Ok(())
}

/// One drain step for a NodeClaim being deleted; returns whether it is drained (its OVH node
/// may go). Errors are logged; the next pass retries.
pub async fn drain(ctx: &Context, claim: &NodeClaim) -> bool {
    if is_drained(claim) {
        return true;
    }
    let name = claim.name_any();
    let node_name = claim
        .status
        .as_ref()
        .map(|s| s.node_name.clone())
        .unwrap_or_default();
    let nodes: Api<Node> = Api::all(ctx.kube.client.clone());
    let node = if node_name.is_empty() {
        None
    } else {
        match nodes.get_opt(&node_name).await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(nodeclaim = %name, node = %node_name, error = %e, "cannot read the node to drain");
                return false;
            }
        }
    };
    let step = match node {
        // Never registered (or its Node is gone): nothing runs there that we can see.
        None => DrainStep::Drained,
        Some(_) => {
            if let Err(e) = taint_node(&ctx.kube.client, &node_name).await {
                tracing::warn!(nodeclaim = %name, node = %node_name, error = %e, "cannot taint the node");
                return false;
            }
            let pods: Api<Pod> = Api::all(ctx.kube.client.clone());
            let list = match pods
                .list(&ListParams::default().fields(&format!("spec.nodeName={node_name}")))
                .await
            {
                Ok(l) => l.items,
                Err(e) => {
                    tracing::warn!(nodeclaim = %name, error = %e, "cannot list the node's pods");
                    return false;
                }
            };
            let pods: Vec<DrainPod> = list.iter().map(DrainPod::from_pod).collect();
            let elapsed = claim
                .metadata
                .deletion_timestamp
                .as_ref()
                .map(|t| ctx.clock.guide_since(t.0))
                .unwrap_or_default();
            let grace = claim
                .spec
                .termination_grace_period
                .as_ref()
                .and_then(|g| g.duration().ok());
            drain_step(&pods, elapsed, grace)
        }
    };
    tracing::debug!(nodeclaim = %name, node = %node_name, ?step, "drain step");
    if step != DrainStep::Drained
        && crate::api::condition::find(claim.conditions(), CONDITION_DRAINED).is_none()
    {
        // Upstream's mark of a drain under way.
        set_drained(ctx, claim, ConditionStatus::Unknown, "Draining", "Draining").await;
    }
    match step {
        DrainStep::Drained => {
            mark_drained(ctx, claim).await;
            true
        }
        DrainStep::Wait => false,
        DrainStep::Evict(keys) => {
            // The client retries a 429 (a PDB refusing) with backoff for seconds; the pass does
            // not wait for that: evictions run side by side, each bounded, and an eviction not
            // granted in time is tried again on the next pass.
            let bound = Duration::from_secs(1);
            let calls = keys.into_iter().map(|(ns, pod)| async move {
                let api: Api<Pod> = Api::namespaced(ctx.kube.client.clone(), &ns);
                let r = tokio::time::timeout(bound, api.evict(&pod, &EvictParams::default())).await;
                (ns, pod, r)
            });
            for (ns, pod, r) in futures::future::join_all(calls).await {
                let pod = format!("{ns}/{pod}");
                match r {
                    Ok(Ok(_)) => {
                        ctx.metrics.disruption.eviction(200);
                        tracing::info!(nodeclaim = %name, node = %node_name, %pod, "pod evicted");
                    }
                    Ok(Err(kube::Error::Api(e))) if e.code == 404 => {
                        ctx.metrics.disruption.eviction(404);
                    }
                    Ok(Err(kube::Error::Api(e))) if e.code == 429 => {
                        ctx.metrics.disruption.eviction(429);
                        tracing::info!(nodeclaim = %name, %pod,
                            "eviction refused by a PodDisruptionBudget; retrying");
                    }
                    Err(_) => {
                        tracing::info!(nodeclaim = %name, %pod,
                            "eviction not granted yet (refused by a PodDisruptionBudget?); retrying");
                    }
                    Ok(Err(e)) => {
                        if let kube::Error::Api(status) = &e {
                            ctx.metrics.disruption.eviction(status.code);
                        }
                        tracing::warn!(nodeclaim = %name, %pod, error = %e, "eviction failed")
                    }
                }
            }
            false
        }
        DrainStep::Force(keys) => {
            for (ns, pod) in keys {
                let api: Api<Pod> = Api::namespaced(ctx.kube.client.clone(), &ns);
                match api
                    .delete(&pod, &DeleteParams::default().grace_period(0))
                    .await
                {
                    Ok(_) => {
                        tracing::warn!(nodeclaim = %name, node = %node_name, pod = %format!("{ns}/{pod}"),
                            "terminationGracePeriod over: pod deleted")
                    }
                    Err(kube::Error::Api(e)) if e.code == 404 => {}
                    Err(e) => {
                        tracing::warn!(nodeclaim = %name, pod = %format!("{ns}/{pod}"), error = %e, "cannot delete the pod")
                    }
                }
            }
            false
        }
    }
}

async fn mark_drained(ctx: &Context, claim: &NodeClaim) {
    if set_drained(
        ctx,
        claim,
        ConditionStatus::True,
        "Drained",
        "no pod left to evict",
    )
    .await
    {
        tracing::info!(nodeclaim = %claim.name_any(), "NodeClaim drained");
    }
}

/// Sets the `Drained` condition of `claim`; whether it was written (failures are logged).
async fn set_drained(
    ctx: &Context,
    claim: &NodeClaim,
    status: ConditionStatus,
    reason: &str,
    message: &str,
) -> bool {
    let api: Api<NodeClaim> = Api::all(ctx.kube.client.clone());
    let r = super::status::update(&api, &ctx.clock, claim, |s, at| {
        at.conditions(&mut s.conditions)
            .set(CONDITION_DRAINED, status, reason, message)
    })
    .await;
    match r {
        Ok(written) => written,
        Err(e) => {
            tracing::warn!(nodeclaim = %claim.name_any(), reason, error = %e, "cannot update Drained");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, node_bound: bool, finished: bool, terminating: bool) -> DrainPod {
        DrainPod {
            namespace: "default".into(),
            name: name.into(),
            node_bound,
            finished,
            terminating,
        }
    }

    fn keys(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| ("default".to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn daemon_and_finished_pods_do_not_hold_the_node() {
        let pods = [
            pod("ds", true, false, false),
            pod("job", false, true, false),
        ];
        assert_eq!(drain_step(&pods, Duration::ZERO, None), DrainStep::Drained);
        assert_eq!(drain_step(&[], Duration::ZERO, None), DrainStep::Drained);
    }

    #[test]
    fn running_pods_are_evicted_and_terminating_ones_waited_for() {
        let pods = [
            pod("a", false, false, false),
            pod("b", false, false, true),
            pod("ds", true, false, false),
        ];
        assert_eq!(
            drain_step(
                &pods,
                Duration::from_secs(10),
                Some(Duration::from_secs(60))
            ),
            DrainStep::Evict(keys(&["a"]))
        );
        let waiting = [pod("b", false, false, true)];
        assert_eq!(
            drain_step(&waiting, Duration::from_secs(10), None),
            DrainStep::Wait
        );
    }

    #[test]
    fn the_grace_period_forces_every_pod_left() {
        let pods = [pod("a", false, false, false), pod("b", false, false, true)];
        assert_eq!(
            drain_step(
                &pods,
                Duration::from_secs(60),
                Some(Duration::from_secs(60))
            ),
            DrainStep::Force(keys(&["a", "b"]))
        );
        // Without a grace period a PDB may hold the node forever.
        assert_eq!(
            drain_step(&pods, Duration::from_secs(86_400), None),
            DrainStep::Evict(keys(&["a"]))
        );
    }

    #[test]
    fn the_disrupted_taint_is_added_once() {
        let node = Node::default();
        let taints = with_disrupted_taint(&node).unwrap();
        assert_eq!(taints.len(), 1);
        assert_eq!(taints[0].key, labels::DISRUPTED_TAINT);
        assert_eq!(taints[0].effect, "NoSchedule");
        let tainted = Node {
            spec: Some(k8s_openapi::api::core::v1::NodeSpec {
                taints: Some(taints),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert!(with_disrupted_taint(&tainted).is_none());
    }
}
