//! What every part of the controller shares: clients, caches, the cluster model, the catalog,
//! policies, metrics and the Event recorder.

use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use arc_swap::ArcSwapOption;
use k8s_openapi::api::core::v1::{Node, ObjectReference};
use kube::runtime::reflector::Store;
use kube::{Client, Resource};

use super::args::Args;
use super::metrics::Metrics;
use crate::api::nodeclass::region_zones;
use crate::api::{NodeClaim, NodePool, OVHNodeClass, Tolerant};
use crate::catalog::{AllocatableModel, Catalog, CatalogInput, FlavorInfo, UnavailableOfferings};
use crate::clock::Clock;
use crate::ovh::{ClientConfig, ClusterRef, Credentials, Endpoint, OvhClient};
use crate::policy::PolicySet;
use crate::pools::PoolKeeper;
use crate::state::ClusterState;

/// Settings of the running controller (from [`Args`]).
#[derive(Clone, Debug)]
pub struct Settings {
    /// The controller's namespace.
    pub namespace: String,
    /// OVH endpoint from the flags.
    pub endpoint: Endpoint,
    /// OVH cluster.
    pub cluster: ClusterRef,
    /// Region of the cluster.
    pub region: String,
    /// OVH subsidiary of the price catalog.
    pub subsidiary: String,
    /// Reconcile period (guide time).
    pub reconcile_interval: Duration,
    /// Launch timeout (guide time).
    pub launch_timeout: Duration,
    /// Registration timeout (guide time; GPU x4).
    pub registration_timeout: Duration,
    /// Orphan grace period (guide time).
    pub orphan_grace: Duration,
    /// Disruption pass period (guide time).
    pub disruption_interval: Duration,
    /// Consolidation validation delay (guide time).
    pub validation_delay: Duration,
    /// Scheduling settings (`--preference-policy`, `--min-values-policy`).
    pub scheduling: crate::provisioning::simulate::Options,
}

impl Settings {
    /// From the flags.
    pub fn from_args(args: &Args) -> Self {
        Self {
            namespace: args.namespace.clone(),
            endpoint: args.ovh_endpoint.clone(),
            cluster: ClusterRef::new(&args.service_name, &args.kube_id),
            region: args.region.clone(),
            subsidiary: args.ovh_subsidiary.clone(),
            reconcile_interval: args.reconcile_interval,
            launch_timeout: args.launch_timeout,
            registration_timeout: args.registration_timeout,
            orphan_grace: args.orphan_grace_period,
            disruption_interval: args.disruption_interval,
            validation_delay: args.consolidation_validation_delay,
            scheduling: crate::provisioning::simulate::Options {
                preferences: args.preference_policy,
                min_values: args.min_values_policy,
            },
        }
    }

    /// The endpoint to use for a class: a custom URL from the flags wins (simulators, proxies).
    pub fn endpoint_for(&self, class: &OVHNodeClass) -> Endpoint {
        match &self.endpoint {
            Endpoint::Custom(_) => self.endpoint.clone(),
            _ => class
                .spec
                .endpoint
                .base_url()
                .parse()
                .unwrap_or_else(|_| self.endpoint.clone()),
        }
    }
}

/// Reflector caches of the watched kinds.
#[derive(Clone)]
pub struct Caches {
    /// NodePools, read one by one (see [`crate::api::tolerant`]).
    pub nodepools: Store<Tolerant<NodePool>>,
    /// NodeClaims, read one by one.
    pub nodeclaims: Store<Tolerant<NodeClaim>>,
    /// OVHNodeClasses.
    pub nodeclasses: Store<OVHNodeClass>,
    /// Nodes.
    pub nodes: Store<Node>,
}

/// The shared context: the settings and the clock, plus one narrow part per concern. A loop
/// takes the whole context; a helper takes only the part it reads (e.g. [`Offerings`] to build
/// flavor specs, [`KubeAccess`] to publish an Event), so what it can touch shows in its
/// signature.
pub struct Context {
    /// Settings.
    pub settings: Settings,
    /// The one clock.
    pub clock: Clock,
    /// The Kubernetes API: client, reflector caches, Event publisher.
    pub kube: KubeAccess,
    /// The OVH API: credentials, client, pool bookkeeping.
    pub ovh: OvhAccess,
    /// What the controller believes about the cluster: the cluster model and the pending pods
    /// it follows.
    pub model: Model,
    /// The flavor catalog and what it is built from.
    pub catalog: Offerings,
    /// Decision policies.
    pub policies: Policies,
    /// Metrics (the controller's and disruption's).
    pub metrics: Arc<Metrics>,
    /// Wake-ups between loops.
    pub wake: Wakers,
}

/// The Kubernetes side of the context.
pub struct KubeAccess {
    /// Kubernetes client.
    pub client: Client,
    /// Reflector caches.
    pub caches: Caches,
    /// Event publisher.
    events: super::events::Publisher,
}

/// The OVH side of the context.
pub struct OvhAccess {
    /// The controller's own OVH credentials (flags/env), if any.
    pub own_credentials: std::sync::OnceLock<Credentials>,
    /// The OVH client, once credentials are known.
    pub client: ArcSwapOption<OvhClient>,
    /// OVH pool bookkeeping (one pass at a time).
    pub pools: tokio::sync::Mutex<PoolKeeper>,
}

/// The controller's model of the cluster.
#[derive(Default)]
pub struct Model {
    /// The cluster model fed by watch events.
    cluster: Mutex<ClusterState>,
    /// Pending pods followed for latency and Events.
    pending_pods: Mutex<crate::provisioning::PendingPods>,
    /// The NodePools' last launch outcomes (`NodeRegistrationHealthy`).
    registration: Mutex<crate::lifecycle::registration_health::RegistrationHealth>,
    /// NodePools with a disruption replacement in flight: from before its NodeClaims are
    /// created until the old ones are deleted. The static NodePool pass leaves them alone
    /// (their node count is one over, on purpose). With the number of changes to the set,
    /// so that a pass can tell whether it changed while it read NodeClaims.
    replacing: Mutex<(std::collections::HashSet<String>, u64)>,
}

/// The flavor catalog of the region, what it is built from, and the two inputs learned at run
/// time (offerings out of stock, allocatable of registered nodes).
pub struct Offerings {
    /// Inputs and the catalog built from them.
    catalog: RwLock<(CatalogInput, Catalog)>,
    /// Out-of-stock / over-quota offerings.
    pub unavailable: UnavailableOfferings,
    /// Allocatable learned from registered nodes.
    allocatable: Mutex<AllocatableModel>,
}

/// The decision policies.
pub struct Policies {
    /// The active policy of every world (the defaults unless swapped).
    pub set: PolicySet,
    /// Flavor-selection policies loaded from ConfigMaps, by ConfigMap name (NodePools name
    /// them with the policy annotation).
    pub loaded: RwLock<std::collections::HashMap<String, Arc<crate::policy::ActivePolicy>>>,
}

/// Wake-ups between loops.
pub struct Wakers {
    /// Wakes the provisioning batcher.
    provision: tokio::sync::mpsc::UnboundedSender<()>,
    /// Wakes the reconcile pass.
    pub reconcile: tokio::sync::Notify,
    /// Wakes the OVHNodeClass reconciler.
    pub nodeclass_changed: tokio::sync::Notify,
}

impl Context {
    /// A context; the catalog starts from the embedded table until OVH is read.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kube: Client,
        settings: Settings,
        clock: Clock,
        caches: Caches,
        policies: PolicySet,
        metrics: Arc<Metrics>,
        identity: &str,
        unavailable_ttl: Duration,
        provision: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Self {
        let unavailable = UnavailableOfferings::new(clock.clone(), unavailable_ttl);
        let input = CatalogInput {
            zones: region_zones(&settings.region),
            flavors: FlavorInfo::embedded(),
            ..Default::default()
        };
        let allocatable = AllocatableModel::new();
        let catalog = Catalog::build(&input, &allocatable, &unavailable);
        let events = super::events::Publisher::new(
            kube.clone(),
            clock.clone(),
            "karpenter-ovhcloud",
            identity,
        );
        Self {
            settings,
            clock,
            kube: KubeAccess {
                client: kube,
                caches,
                events,
            },
            ovh: OvhAccess {
                own_credentials: std::sync::OnceLock::new(),
                client: ArcSwapOption::empty(),
                pools: tokio::sync::Mutex::new(PoolKeeper::default()),
            },
            model: Model::default(),
            catalog: Offerings {
                catalog: RwLock::new((input, catalog)),
                unavailable,
                allocatable: Mutex::new(allocatable),
            },
            policies: Policies {
                set: policies,
                loaded: RwLock::default(),
            },
            metrics,
            wake: Wakers {
                provision,
                reconcile: tokio::sync::Notify::new(),
                nodeclass_changed: tokio::sync::Notify::new(),
            },
        }
    }

    /// An OVH client for these credentials, on this clock, counting into these metrics.
    #[allow(clippy::result_large_err)] // OvhError keeps every field OVH gives; slow path only.
    pub fn ovh_client(
        &self,
        endpoint: Endpoint,
        credentials: Credentials,
    ) -> Result<OvhClient, crate::ovh::OvhError> {
        let mut config = ClientConfig::new(endpoint, credentials);
        config.clock = self.clock.clone();
        config.metrics = Some(self.metrics.ovh.clone());
        OvhClient::new(config)
    }

    /// A guide duration in real time.
    pub fn real(&self, guide: Duration) -> Duration {
        self.clock.real(guide)
    }
}

impl Model {
    /// The cluster model, even if a panicking holder poisoned the lock.
    pub fn cluster(&self) -> std::sync::MutexGuard<'_, ClusterState> {
        self.cluster.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The followed pending pods, even if a panicking holder poisoned the lock.
    pub fn pending_pods(&self) -> std::sync::MutexGuard<'_, crate::provisioning::PendingPods> {
        self.pending_pods.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The NodePools' registration health, even if a panicking holder poisoned the lock.
    pub fn registration(
        &self,
    ) -> std::sync::MutexGuard<'_, crate::lifecycle::registration_health::RegistrationHealth> {
        self.registration.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks (`true`) or unmarks a NodePool as having a disruption replacement in flight.
    pub fn set_replacing(&self, nodepool: &str, replacing: bool) {
        let mut guard = self.replacing.lock().unwrap_or_else(|e| e.into_inner());
        let (set, changes) = &mut *guard;
        let changed = if replacing {
            set.insert(nodepool.to_owned())
        } else {
            set.remove(nodepool)
        };
        if changed {
            *changes += 1;
        }
    }

    /// Whether a disruption replacement is in flight in `nodepool`, and how many times the
    /// in-flight set changed so far: a reader of NodeClaims compares the count taken before
    /// its read with the one after, since a replacement that ended meanwhile left NodeClaims
    /// in its read that are gone now.
    pub fn replacing(&self, nodepool: &str) -> (bool, u64) {
        let guard = self.replacing.lock().unwrap_or_else(|e| e.into_inner());
        (guard.0.contains(nodepool), guard.1)
    }

    /// How many times the in-flight set changed so far (see [`Model::replacing`]).
    pub fn replacing_changes(&self) -> u64 {
        self.replacing.lock().unwrap_or_else(|e| e.into_inner()).1
    }
}

impl Offerings {
    /// The catalog and its inputs (read).
    pub fn read(&self) -> std::sync::RwLockReadGuard<'_, (CatalogInput, Catalog)> {
        self.catalog.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Rebuilds the catalog from new inputs (or the same inputs with fresh availability and
    /// allocatable).
    pub fn rebuild(&self, input: Option<CatalogInput>) {
        let model = self
            .allocatable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut guard = self.catalog.write().unwrap_or_else(|e| e.into_inner());
        if let Some(input) = input {
            guard.0 = input;
        }
        guard.1 = Catalog::build(&guard.0, &model, &self.unavailable);
    }
}

impl Offerings {
    /// Learns a registered node's allocatable for its flavor; rebuilds the catalog when that
    /// changes what a flavor offers.
    pub fn observe_allocatable(&self, flavor: &str, allocatable: crate::scheduling::Resources) {
        let changed = self
            .allocatable
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .observe(flavor, allocatable);
        if changed {
            self.rebuild(None);
        }
    }
}

impl Policies {
    /// The flavor-selection policy loaded from ConfigMap `name`.
    pub fn named(&self, name: &str) -> Option<Arc<crate::policy::ActivePolicy>> {
        self.loaded
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .cloned()
    }
}

impl Wakers {
    /// Wakes the provisioning batcher (a closed channel means the controller is stopping).
    pub fn provision(&self) {
        let _ = self.provision.send(());
    }
}

impl KubeAccess {
    /// Merges `status` (the fields of a NodePool's status the caller owns, e.g. `nodes` and
    /// `resources`, or `conditions`) into NodePool `name`. Writers send only their own fields so
    /// that loops working from different cache copies never undo each other.
    pub async fn patch_nodepool_status(&self, name: &str, status: serde_json::Value) {
        let api: kube::Api<NodePool> = kube::Api::all(self.client.clone());
        if let Err(e) = api
            .patch_status(
                name,
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(serde_json::json!({ "status": status })),
            )
            .await
        {
            tracing::warn!(nodepool = %name, error = %e, "cannot update NodePool status");
        }
    }

    /// Publishes an Event about `obj`; failures are logged, never fatal.
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        self.event_on(&obj.object_ref(&()), warning, reason, action, note)
            .await;
    }

    /// Publishes an Event about the object `reference` names; failures are logged, never
    /// fatal.
    pub async fn event_on(
        &self,
        reference: &ObjectReference,
        warning: bool,
        reason: &str,
        action: &str,
        note: String,
    ) {
        if let Err(e) = self
            .events
            .publish(reference, warning, reason, action, &note)
            .await
        {
            tracing::debug!(error = %e, reason, "cannot publish an Event");
        }
    }
}
