//! The OVHNodeClass reconciler: checks the credentials Secret (exists, has the three keys),
//! the OVH cluster (kubeId exists, region matches the controller's), discovers the region's
//! flavors and zones, and reports it all in the `Ready` condition with a reason and message
//! (`kubectl describe ovhnodeclass` is the guide's first troubleshooting step), with an Event
//! when the verdict changes. Impossible settings (monthly billing for a NodePool that allows no
//! gen2 flavor) are refused up front: `NodeClassReady=False` and an Event on the NodePool, and
//! provisioning leaves that NodePool out.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::condition::{self, ConditionStatus};
use crate::api::nodeclass::{
    region_zones, DiscoveredFlavor, REASON_API_ERROR, REASON_CLUSTER_NOT_FOUND,
    REASON_CREDENTIALS_NOT_FOUND, REASON_READY, REASON_REGION_NOT_FOUND, REASON_UNAUTHORIZED,
};
use crate::api::{NodePool, OVHNodeClass};
use crate::catalog::{Catalog, CatalogInput, FlavorInfo, PriceInfo};
use crate::controller::context::Context;
use crate::controller::provisioning::nodeclass_of;
use crate::controller::watch::{list, readable};
use crate::ovh::{ClusterRef, Credentials, ErrorKind, OvhClient};

/// The verdict on a class.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// Ready or not.
    pub ready: bool,
    /// Condition reason.
    pub reason: String,
    /// Condition message.
    pub message: String,
}

impl Verdict {
    fn not_ready(reason: &str, message: String) -> Self {
        Self {
            ready: false,
            reason: reason.into(),
            message,
        }
    }
}

/// Reads the credentials a class names (or the controller's own when it names none).
pub async fn class_credentials(
    ctx: &Context,
    class: &OVHNodeClass,
) -> Result<Credentials, Verdict> {
    let Some(r) = &class.spec.credentials_secret_ref else {
        return ctx.ovh.own_credentials.get().cloned().ok_or_else(|| {
            Verdict::not_ready(
                REASON_CREDENTIALS_NOT_FOUND,
                "no credentialsSecretRef and the controller has no OVH credentials of its own"
                    .into(),
            )
        });
    };
    let secrets: Api<Secret> = Api::namespaced(ctx.kube.client.clone(), &r.namespace);
    let secret = match secrets.get_opt(&r.name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Verdict::not_ready(
                REASON_CREDENTIALS_NOT_FOUND,
                format!("Secret {}/{} not found", r.namespace, r.name),
            ))
        }
        Err(e) => {
            return Err(Verdict::not_ready(
                REASON_CREDENTIALS_NOT_FOUND,
                format!("cannot read Secret {}/{}: {e}", r.namespace, r.name),
            ))
        }
    };
    let mut data: BTreeMap<String, Vec<u8>> = secret
        .data
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    for (k, v) in secret.string_data.unwrap_or_default() {
        data.insert(k, v.into_bytes());
    }
    Credentials::from_bytes_map(&data).map_err(|e| {
        Verdict::not_ready(
            REASON_CREDENTIALS_NOT_FOUND,
            format!("Secret {}/{}: {e}", r.namespace, r.name),
        )
    })
}

/// What a successful check found.
pub struct Discovery {
    /// Flavors of the region.
    pub flavors: Vec<FlavorInfo>,
    /// Prices from OVH's public catalog (may be empty).
    pub prices: HashMap<String, PriceInfo>,
}

/// Checks a class against OVH.
pub async fn check(
    ctx: &Context,
    class: &OVHNodeClass,
    client: &OvhClient,
) -> Result<Discovery, Verdict> {
    let spec = &class.spec;
    let mine = &ctx.settings.cluster;
    if spec.kube_id != mine.kube_id || spec.service_name != mine.service_name {
        return Err(Verdict::not_ready(
            REASON_CLUSTER_NOT_FOUND,
            format!(
                "serviceName/kubeId {}/{} is not the cluster this controller manages ({}/{})",
                spec.service_name, spec.kube_id, mine.service_name, mine.kube_id
            ),
        ));
    }
    let cluster_ref = ClusterRef::new(&spec.service_name, &spec.kube_id);
    let cluster = client.cluster(&cluster_ref).await.map_err(|e| {
        let reason = match e.kind() {
            ErrorKind::Auth => REASON_UNAUTHORIZED,
            ErrorKind::NotFound => REASON_CLUSTER_NOT_FOUND,
            _ => REASON_API_ERROR,
        };
        Verdict::not_ready(reason, e.to_string())
    })?;
    if !cluster.region.eq_ignore_ascii_case(&spec.region) {
        return Err(Verdict::not_ready(
            REASON_REGION_NOT_FOUND,
            format!(
                "region {} does not match cluster {}'s region {}",
                spec.region, spec.kube_id, cluster.region
            ),
        ));
    }
    let flavors = client
        .capability_flavors(&spec.service_name, &spec.region)
        .await
        .map_err(|e| {
            let reason = if e.kind() == ErrorKind::Auth {
                REASON_UNAUTHORIZED
            } else {
                REASON_API_ERROR
            };
            Verdict::not_ready(reason, e.to_string())
        })?;
    if flavors.is_empty() {
        return Err(Verdict::not_ready(
            REASON_REGION_NOT_FOUND,
            format!("OVH offers no MKS flavor in region {}", spec.region),
        ));
    }
    let flavors = flavors
        .into_iter()
        .filter(|f| f.is_available())
        .map(|f| FlavorInfo {
            name: f.name,
            vcpus: f.vcpus,
            ram_gib: f.ram,
            disk_gib: None,
            gpus: f.gpus,
            zones: Vec::new(),
        })
        .collect();
    // Prices are best effort: the embedded table covers a failure.
    let prices = match client.public_catalog(&ctx.settings.subsidiary).await {
        Ok(c) => c
            .flavor_prices()
            .into_iter()
            .filter_map(|(name, p)| {
                Some((
                    name,
                    PriceInfo {
                        hourly: p.hourly?,
                        monthly: p.monthly,
                    },
                ))
            })
            .collect(),
        Err(e) => {
            tracing::info!(error = %e, "OVH public price catalog unreachable; using the embedded prices");
            HashMap::new()
        }
    };
    Ok(Discovery { flavors, prices })
}

/// Whether NodePool `pool` can never launch with `class`: the class bills monthly, which OVH
/// offers on gen2 flavors only, and the NodePool's requirements allow none of them (zones,
/// region and custom labels aside: every flavor exists in every zone of the region).
pub fn impossible(class: &OVHNodeClass, pool: &NodePool, catalog: &Catalog) -> bool {
    if !class.spec.monthly_billed {
        return false;
    }
    let reqs = crate::controller::nodepool::requirements(pool);
    !catalog
        .flavors
        .iter()
        .filter(|f| f.monthly_billing)
        .any(|f| crate::controller::nodepool::flavor_allowed(&reqs, &f.labels()))
}

struct Seen {
    generation: i64,
    ready: bool,
    at: Instant,
}

/// Reconciles every class on changes and periodically.
pub async fn run(ctx: Arc<Context>) {
    let mut seen: HashMap<String, Seen> = HashMap::new();
    let mut pools_reported = crate::controller::nodepool::Reported::new();
    // Verdicts from half-listed caches would be wrong: a NodePool listed before its class
    // would be told `NodeClassNotFound`. (Err: the writer is gone, the controller is stopping.)
    if ctx
        .kube
        .caches
        .nodeclasses
        .wait_until_ready()
        .await
        .is_err()
        || ctx.kube.caches.nodepools.wait_until_ready().await.is_err()
    {
        return;
    }
    loop {
        for class in list(&ctx.kube.caches.nodeclasses) {
            let name = class.name_any();
            let generation = class.metadata.generation.unwrap_or(0);
            let due = match seen.get(&name) {
                None => true,
                Some(s) => {
                    s.generation != generation
                        || s.at.elapsed()
                            >= ctx.real(if s.ready {
                                Duration::from_secs(300)
                            } else {
                                Duration::from_secs(30)
                            })
                }
            };
            if !due {
                continue;
            }
            let ready = reconcile(&ctx, &class).await;
            seen.insert(
                name,
                Seen {
                    generation,
                    ready,
                    at: Instant::now(),
                },
            );
        }
        let live: std::collections::HashSet<String> = list(&ctx.kube.caches.nodeclasses)
            .iter()
            .map(|c| c.name_any())
            .collect();
        seen.retain(|k, _| live.contains(k));
        // After the classes: the NodePools' verdicts use the catalog they just rebuilt.
        crate::controller::nodepool::reconcile(&ctx, &mut pools_reported).await;
        crate::controller::static_pools::reconcile(&ctx).await;
        tokio::select! {
            _ = ctx.wake.nodeclass_changed.notified() => {}
            _ = tokio::time::sleep(ctx.real(Duration::from_secs(10))) => {}
        }
    }
}

/// Reconciles one class; returns whether it is Ready.
pub async fn reconcile(ctx: &Arc<Context>, class: &OVHNodeClass) -> bool {
    let name = class.name_any();
    let result: Result<(Discovery, Credentials), Verdict> = async {
        let credentials = class_credentials(ctx, class).await?;
        let endpoint = ctx.settings.endpoint_for(class);
        let client = ctx
            .ovh_client(endpoint, credentials.clone())
            .map_err(|e| Verdict::not_ready(REASON_API_ERROR, e.to_string()))?;
        let discovery = check(ctx, class, &client).await?;
        Ok((discovery, credentials))
    }
    .await;
    let zones = region_zones(&class.spec.region);
    let (verdict, flavors) = match result {
        Ok((discovery, credentials)) => {
            if ctx.ovh.client.load().is_none() {
                if let Ok(c) = ctx.ovh_client(ctx.settings.endpoint_for(class), credentials) {
                    tracing::info!(nodeclass = %name, "using the OVHNodeClass's credentials for pool bookkeeping");
                    ctx.ovh.client.store(Some(Arc::new(c)));
                }
            }
            let flavors: Vec<DiscoveredFlavor> = discovery
                .flavors
                .iter()
                .map(|f| DiscoveredFlavor {
                    name: f.name.clone(),
                    zones: zones.clone(),
                })
                .collect();
            let count = flavors.len();
            ctx.catalog.rebuild(Some(CatalogInput {
                zones: zones.clone(),
                flavors: discovery.flavors,
                prices: discovery.prices,
                overrides: class.spec.price_overrides.clone(),
            }));
            (
                Verdict {
                    ready: true,
                    reason: REASON_READY.into(),
                    message: format!(
                        "{count} flavors in {} zone(s) of {}",
                        zones.len(),
                        class.spec.region
                    ),
                },
                flavors,
            )
        }
        Err(v) => (v, Vec::new()),
    };
    let was = class.is_ready();
    let mut status = class.status.clone().unwrap_or_default();
    let changed = condition::set(
        &mut status.conditions,
        condition::READY,
        ConditionStatus::from_bool(verdict.ready),
        &verdict.reason,
        &verdict.message,
        class.metadata.generation,
        ctx.clock.now(),
    );
    if verdict.ready {
        status.flavors = flavors;
        status.zones = zones;
    }
    let api: Api<OVHNodeClass> = Api::all(ctx.kube.client.clone());
    if let Err(e) = api
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({"status": status})),
        )
        .await
    {
        tracing::warn!(nodeclass = %name, error = %e, "cannot update OVHNodeClass status");
    }
    if changed || was != verdict.ready {
        if verdict.ready {
            tracing::info!(nodeclass = %name, message = %verdict.message, "OVHNodeClass ready");
        } else {
            tracing::warn!(nodeclass = %name, reason = %verdict.reason, message = %verdict.message, "OVHNodeClass not ready");
        }
        ctx.kube
            .event(
                class,
                !verdict.ready,
                &verdict.reason,
                "Validate",
                verdict.message.clone(),
            )
            .await;
    }
    check_nodepools(ctx, class, &verdict).await;
    if verdict.ready {
        ctx.wake.provision();
    }
    verdict.ready
}

/// Sets `NodeClassReady` on the NodePools using `class`: False when the class is not Ready
/// (with its reason), False with an Event when they can never launch with it (see
/// [`impossible`]), True otherwise.
async fn check_nodepools(ctx: &Context, class: &OVHNodeClass, verdict: &Verdict) {
    let name = class.name_any();
    let classes = [class.clone()];
    for pool in readable(&ctx.kube.caches.nodepools)
        .iter()
        .filter(|p| nodeclass_of(p, &classes).is_some())
    {
        let incompatible = verdict.ready && impossible(class, pool, &ctx.catalog.read().1);
        let bad = incompatible || !verdict.ready;
        let pool_name = pool.name_any();
        let (reason, note) = if !verdict.ready {
            (
                "NodeClassNotReady",
                format!(
                    "OVHNodeClass {name} is not Ready ({}): {}",
                    verdict.reason, verdict.message
                ),
            )
        } else if incompatible {
            (
                "IncompatibleNodeClass",
                format!(
                    "OVHNodeClass {name} bills monthly, which OVH offers on gen2 flavors only (b2, c2, d2, r2), and NodePool {pool_name} allows none"
                ),
            )
        } else {
            (
                crate::api::nodepool::CONDITION_NODECLASS_READY,
                String::new(),
            )
        };
        let api: Api<NodePool> = Api::all(ctx.kube.client.clone());
        let r = super::status::update(&api, &ctx.clock, pool, |s, at| {
            at.conditions(&mut s.conditions).set(
                crate::api::nodepool::CONDITION_NODECLASS_READY,
                ConditionStatus::from_bool(!bad),
                reason,
                &note,
            )
        })
        .await;
        match r {
            Ok(true) => {}
            Ok(false) => continue,
            Err(e) => {
                tracing::warn!(nodepool = %pool_name, error = %e, "cannot update NodeClassReady");
                continue;
            }
        }
        if incompatible {
            tracing::warn!(nodepool = %pool_name, nodeclass = %name, "{note}");
            ctx.kube.event(pool, true, reason, "Validate", note).await;
        }
    }
}
