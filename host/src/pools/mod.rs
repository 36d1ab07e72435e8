//! OVH pool bookkeeping: one pass reads OVH (two list calls), plans with [`plan::plan`] and
//! carries the writes out, one per pool, in order. The pass is the only writer of pools, and
//! the caller runs one pass at a time, so there is never more than one mutation in flight per
//! pool. Bindings of new OVH nodes to NodeClaims are returned for the caller to record on the
//! NodeClaims (Kubernetes is where intent lives).

pub use karpenter_ovhcloud_core::pools::{plan, pool_settings, pool_template};

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

pub use plan::{Action, ClaimView, NewPool, OvhView, Plan, Settings, POOL_PREFIX};

use crate::ovh::{
    CloudProviderMetrics, ClusterRef, ErrorKind, Node, NodePoolCreate, NodePoolUpdate, OvhClient,
    OvhError,
};
use crate::provisioning::ANTI_AFFINITY_POOL_MAX;

/// How long a created pool may stay invisible to GET before it is created again.
const CREATE_VISIBILITY: Duration = Duration::from_secs(5 * 60);

/// The `controller` label of the pool pass's `karpenter_cloudprovider_*` observations.
const CONTROLLER: &str = "nodeclaim.lifecycle";

/// The `error` label of upstream's `karpenter_cloudprovider_errors_total` for an OVH error.
fn error_label(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::OutOfStock | ErrorKind::Quota => "InsufficientCapacityError",
        _ => "",
    }
}

/// A pool write OVH refused for lack of stock or quota: its waiting NodeClaims must go
/// elsewhere.
#[derive(Clone, Debug)]
pub struct Refused {
    /// Pool name.
    pub pool: String,
    /// Classification.
    pub kind: ErrorKind,
    /// OVH's message (with the query id).
    pub message: String,
}

/// What a pass did.
#[derive(Debug, Default)]
pub struct PassReport {
    /// What OVH reported at the start of the pass.
    pub view: OvhView,
    /// Bindings to record: (NodeClaim, OVH node).
    pub binds: Vec<(String, Node)>,
    /// Bound NodeClaims whose OVH node is gone.
    pub lost: Vec<String>,
    /// Deleting NodeClaims whose OVH node is gone.
    pub released: Vec<String>,
    /// Writes refused for stock or quota.
    pub refused: Vec<Refused>,
    /// Writes done (action, pool).
    pub writes: Vec<(String, String)>,
}

/// State kept between passes: what OVH hides for a while, pools waiting to settle.
#[derive(Debug, Default)]
pub struct PoolKeeper {
    recently_created: HashMap<String, Instant>,
    settling: HashSet<String>,
    /// The last successful listing.
    pub last: Option<OvhView>,
}

impl PoolKeeper {
    /// Pools of the last listing with their desired node counts (anti-affinity numbering).
    pub fn pool_sizes(&self) -> HashMap<String, u32> {
        self.last
            .iter()
            .flat_map(|v| v.pools.iter())
            .map(|p| (p.name.clone(), p.desired_nodes))
            .collect()
    }

    /// One pass; each logical operation (the listing, each pool write) is timed into
    /// `metrics` as upstream's CloudProvider `List`, `Create` (a new pool or more nodes) or
    /// `Delete` (fewer nodes, a pool removed).
    pub async fn pass(
        &mut self,
        ovh: &OvhClient,
        cluster: &ClusterRef,
        claims: &[ClaimView],
        settings: Settings,
        now: jiff::Timestamp,
        metrics: &CloudProviderMetrics,
    ) -> Result<PassReport, OvhError> {
        let started = Instant::now();
        let listed = async {
            let pools = ovh.list_node_pools(cluster).await?;
            let nodes = ovh.list_nodes(cluster).await?;
            Ok::<_, OvhError>((pools, nodes))
        }
        .await;
        metrics.observe(
            CONTROLLER,
            "List",
            started.elapsed().as_secs_f64(),
            listed.as_ref().err().map(|e| error_label(e.kind())),
        );
        let (pools, nodes) = listed?;
        let visible: HashSet<&str> = pools.iter().map(|p| p.name.as_str()).collect();
        self.recently_created.retain(|name, at| {
            !visible.contains(name.as_str()) && at.elapsed() < CREATE_VISIBILITY
        });
        let busy: HashSet<&str> = pools
            .iter()
            .filter(|p| p.status.is_busy())
            .map(|p| p.name.as_str())
            .collect();
        self.settling.retain(|n| busy.contains(n.as_str()));
        let view = OvhView {
            pools,
            nodes,
            recently_created: self.recently_created.keys().cloned().collect(),
            settling: self.settling.clone(),
        };
        let planned = plan::plan(claims, &view, settings, now);
        let mut report = PassReport {
            lost: planned.lost,
            released: planned.released,
            ..Default::default()
        };
        for action in planned.actions {
            let pool = action.pool().map(str::to_string);
            let started = Instant::now();
            let (op, result) = match action {
                Action::Bind { claim, node } => {
                    report.binds.push((claim, *node));
                    continue;
                }
                Action::Create(p) => {
                    let body = NodePoolCreate {
                        name: p.name.clone(),
                        flavor_name: p.flavor.clone(),
                        desired_nodes: p.desired,
                        min_nodes: 0,
                        max_nodes: if p.anti_affinity {
                            ANTI_AFFINITY_POOL_MAX
                        } else {
                            plan::MAX_NODES_PER_POOL
                        },
                        autoscale: false,
                        anti_affinity: p.anti_affinity,
                        monthly_billed: p.monthly_billed,
                        availability_zones: p.zone.clone().map(|z| vec![z]),
                        template: pool_template(&p.name),
                    };
                    let r = ovh.create_node_pool(cluster, &body).await.map(|_| ());
                    if r.is_ok() || r.as_ref().is_err_and(|e| e.kind() == ErrorKind::Busy) {
                        // Created (or already there): GET may not show it for a while.
                        self.recently_created.insert(p.name.clone(), Instant::now());
                    }
                    tracing::info!(pool = %p.name, flavor = %p.flavor, zone = ?p.zone, desired = p.desired,
                        ok = r.is_ok(), "OVH pool create");
                    ("create", r)
                }
                Action::Resize {
                    id,
                    name,
                    from,
                    desired,
                } => {
                    let body = NodePoolUpdate {
                        desired_nodes: Some(desired),
                        ..Default::default()
                    };
                    let r = ovh.update_node_pool(cluster, &id, &body).await;
                    tracing::info!(pool = %name, from, desired, ok = r.is_ok(), "OVH pool resize");
                    (if desired > from { "scale_up" } else { "shrink" }, r)
                }
                Action::Remove {
                    id,
                    name,
                    nodes,
                    desired,
                } => {
                    let body = NodePoolUpdate {
                        desired_nodes: Some(desired),
                        nodes_to_remove: Some(nodes.clone()),
                        ..Default::default()
                    };
                    let r = ovh.update_node_pool(cluster, &id, &body).await;
                    tracing::info!(pool = %name, ?nodes, desired, ok = r.is_ok(), "OVH pool remove nodes");
                    ("remove", r)
                }
                Action::Delete { id, name } => {
                    let r = ovh.delete_node_pool(cluster, &id).await;
                    tracing::info!(pool = %name, ok = r.is_ok(), "OVH pool delete");
                    ("delete", r)
                }
            };
            let method = match op {
                "create" | "scale_up" => "Create",
                _ => "Delete",
            };
            metrics.observe(
                CONTROLLER,
                method,
                started.elapsed().as_secs_f64(),
                result.as_ref().err().map(|e| error_label(e.kind())),
            );
            let pool = pool.unwrap_or_default();
            match result {
                Ok(()) => {
                    report.writes.push((op.to_string(), pool));
                }
                Err(e) => {
                    tracing::warn!(pool = %pool, operation = op, kind = ?e.kind(),
                        query_id = e.query_id().unwrap_or("-"), error = %e, "OVH pool write refused");
                    match e.kind() {
                        ErrorKind::Busy => {
                            self.settling.insert(pool);
                        }
                        ErrorKind::OutOfStock | ErrorKind::Quota
                            if op == "create" || op == "scale_up" =>
                        {
                            report.refused.push(Refused {
                                pool,
                                kind: e.kind(),
                                message: e.to_string(),
                            });
                        }
                        ErrorKind::Auth => return Err(e),
                        _ => {}
                    }
                }
            }
        }
        report.view = view;
        self.last = Some(report.view.clone());
        Ok(report)
    }
}
