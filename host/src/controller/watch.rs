//! Watches: every watched kind feeds the cluster model or a reflector cache, and wakes the
//! provisioning batcher or the reconcile pass when something they act on changed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::{self, store::Writer, Store};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;

use super::context::{Caches, Context, Model, Offerings};
use crate::api::{NodeClaim, NodePool, OVHNodeClass, Tolerant, Unreadable};
use crate::scheduling::convert;
use crate::scheduling::{daemonset_overhead, Resources};
use crate::state::is_pending;

/// Writers of the reflector caches, handed to [`spawn`].
pub struct Writers {
    nodepools: Writer<Tolerant<NodePool>>,
    nodeclaims: Writer<Tolerant<NodeClaim>>,
    nodeclasses: Writer<OVHNodeClass>,
    nodes: Writer<Node>,
}

/// Empty caches and their writers.
pub fn caches() -> (Caches, Writers) {
    let (nodepools, w1) = reflector::store();
    let (nodeclaims, w2) = reflector::store();
    let (nodeclasses, w3) = reflector::store();
    let (nodes, w4) = reflector::store();
    (
        Caches {
            nodepools,
            nodeclaims,
            nodeclasses,
            nodes,
        },
        Writers {
            nodepools: w1,
            nodeclaims: w2,
            nodeclasses: w3,
            nodes: w4,
        },
    )
}

/// Counts the watches whose first list is done (readiness).
#[derive(Debug, Default)]
pub struct Synced {
    done: AtomicUsize,
}

/// Number of watches [`spawn`] starts.
pub const WATCHES: usize = 7;

impl Synced {
    /// Whether every watch listed once.
    pub fn all(&self) -> bool {
        self.done.load(Ordering::SeqCst) >= WATCHES
    }
}

fn stream<K>(client: &Client) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(Api::<K>::all(client.clone()), watcher::Config::default()).default_backoff()
}

async fn drive<K, S, F>(name: &'static str, synced: Arc<Synced>, s: S, mut on: F)
where
    S: Stream<Item = Result<Event<K>, watcher::Error>> + Send,
    F: FnMut(&Event<K>) + Send,
{
    let mut s = std::pin::pin!(s);
    let mut first = true;
    while let Some(ev) = s.next().await {
        match ev {
            Ok(ev) => {
                on(&ev);
                if first && matches!(ev, Event::InitDone) {
                    first = false;
                    synced.done.fetch_add(1, Ordering::SeqCst);
                }
            }
            Err(e) => tracing::warn!(watch = name, error = %e, "watch error; retrying"),
        }
    }
}

fn reflect<K>(
    writer: Writer<K>,
    s: impl Stream<Item = Result<Event<K>, watcher::Error>> + Send,
) -> impl Stream<Item = Result<Event<K>, watcher::Error>> + Send
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    reflector::reflector(writer, s)
}

/// The in-flight node of a NodeClaim, with its flavor's allocatable and DaemonSet overhead.
pub fn claim_node(
    catalog: &Offerings,
    model: &Model,
    claim: &NodeClaim,
) -> crate::scheduling::SimNode {
    let flavor = claim
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(crate::api::labels::INSTANCE_TYPE))
        .cloned()
        .unwrap_or_default();
    let allocatable = catalog
        .read()
        .1
        .get(&flavor)
        .map(|f| f.allocatable)
        .unwrap_or_default();
    // Named after its Node once known: the cluster model keeps it in flight until that Node
    // reports allocatable resources ([`crate::state::ClusterState::snapshot`]).
    let node = convert::nodeclaim_node(claim, allocatable, Resources::default());
    let daemonsets = model.cluster().snapshot().daemonsets;
    let overhead = daemonset_overhead(daemonsets.iter().map(|d| &**d), &node.labels, &node.taints);
    crate::scheduling::SimNode {
        requested: overhead,
        ..node
    }
}

fn apply_claim(ctx: &Context, claim: &NodeClaim) {
    let Some(name) = claim.metadata.name.clone() else {
        return;
    };
    if claim.metadata.deletion_timestamp.is_some() {
        // Going away: its pods need another node, it is no destination.
        ctx.model.cluster().delete_claim(&name);
        ctx.wake.provision();
        return;
    }
    let node = claim_node(&ctx.catalog, &ctx.model, claim);
    ctx.model.cluster().apply_claim(&name, node);
}

/// Starts every watch; returns the readiness tracker.
pub fn spawn(ctx: Arc<Context>, writers: Writers) -> Arc<Synced> {
    let synced = Arc::new(Synced::default());
    let client = ctx.kube.client.clone();

    let c = ctx.clone();
    let mut relisted: std::collections::HashSet<crate::state::ObjectKey> = Default::default();
    tokio::spawn(drive(
        "pods",
        synced.clone(),
        stream::<Pod>(&client),
        move |ev| {
            // Pods a relist returns: the others went while the watch was down.
            if let Event::InitApply(p) = ev {
                relisted.insert(crate::state::key_of(&p.metadata));
            }
            let wake = match ev {
                Event::Init => {
                    relisted.clear();
                    false
                }
                Event::Apply(p) | Event::InitApply(p) => {
                    let nodes = &c.kube.caches.nodes;
                    let node =
                        |name: &str| nodes.get(&kube::runtime::reflector::ObjectRef::new(name));
                    c.metrics.pods.apply(p, node, &c.clock);
                    let waited = c.model.pending_pods().observe(p, std::time::Instant::now());
                    if let Some(waited) = waited {
                        c.metrics
                            .pods_provisioning_bound
                            .observe(c.clock.guide(waited).as_secs_f64());
                    }
                    is_pending(p)
                }
                Event::Delete(p) => {
                    c.model.pending_pods().forget(p);
                    c.metrics.pods.delete(p);
                    false
                }
                Event::InitDone => {
                    let live = std::mem::take(&mut relisted);
                    c.model.pending_pods().retain(&live);
                    c.metrics.pods.retain(&live);
                    true
                }
            };
            c.model.cluster().apply_event(model_event(ev));
            if wake {
                c.wake.provision();
            }
        },
    ));

    let c = ctx.clone();
    tokio::spawn(drive(
        "nodes",
        synced.clone(),
        reflect(writers.nodes, stream::<Node>(&client)),
        move |ev| {
            c.model.cluster().apply_event(model_event(ev));
            if matches!(ev, Event::Apply(_) | Event::Delete(_)) {
                c.wake.reconcile.notify_one();
            }
        },
    ));

    let c = ctx.clone();
    tokio::spawn(drive(
        "daemonsets",
        synced.clone(),
        stream::<DaemonSet>(&client),
        move |ev| c.model.cluster().apply_event(model_event(ev)),
    ));

    let c = ctx.clone();
    tokio::spawn(drive(
        "pdbs",
        synced.clone(),
        stream::<PodDisruptionBudget>(&client),
        move |ev| c.model.cluster().apply_event(model_event(ev)),
    ));

    let c = ctx.clone();
    tokio::spawn(drive(
        "nodeclaims",
        synced.clone(),
        reflect(writers.nodeclaims, stream::<Tolerant<NodeClaim>>(&client)),
        move |ev| match ev {
            Event::Apply(claim) | Event::InitApply(claim) => match &claim.parsed {
                Ok(claim) => apply_claim(&c, claim),
                Err(why) => {
                    tracing::warn!(nodeclaim = ?claim.metadata.name, error = %why, "cannot read NodeClaim; leaving it as it is")
                }
            },
            Event::Delete(claim) => {
                if let Some(name) = &claim.metadata.name {
                    c.model.cluster().delete_claim(name);
                }
                c.wake.provision();
            }
            Event::Init => {}
            Event::InitDone => {
                // Forget claims the relist did not return.
                let live: std::collections::HashSet<String> = c
                    .kube
                    .caches
                    .nodeclaims
                    .state()
                    .iter()
                    .filter_map(|n| n.metadata.name.clone())
                    .collect();
                let mut state = c.model.cluster();
                for gone in state
                    .claim_names()
                    .into_iter()
                    .filter(|n| !live.contains(n))
                {
                    state.delete_claim(&gone);
                }
            }
        },
    ));

    let c = ctx.clone();
    tokio::spawn(drive(
        "nodepools",
        synced.clone(),
        reflect(writers.nodepools, stream::<Tolerant<NodePool>>(&client)),
        move |ev| {
            if matches!(ev, Event::Apply(_) | Event::InitDone) {
                c.wake.provision();
                // Validation runs in the node class loop.
                c.wake.nodeclass_changed.notify_one();
            }
        },
    ));

    let c = ctx.clone();
    tokio::spawn(drive(
        "ovhnodeclasses",
        synced.clone(),
        reflect(writers.nodeclasses, stream::<OVHNodeClass>(&client)),
        move |ev| {
            if matches!(ev, Event::Apply(_) | Event::InitDone) {
                c.wake.nodeclass_changed.notify_one();
            }
        },
    ));
    synced
}

/// A store's objects, cloned out of their `Arc`s.
pub fn list<K: Resource<DynamicType = ()> + Clone>(store: &Store<K>) -> Vec<K> {
    store.state().iter().map(|o| (**o).clone()).collect()
}

/// The objects of a store read one by one that could be read.
pub fn readable<K>(store: &Store<Tolerant<K>>) -> Vec<K>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter_map(|o| o.parsed.as_ref().ok().cloned())
        .collect()
}

/// The objects of a store read one by one that could not be read, with why.
pub fn unreadable<K>(
    store: &Store<Tolerant<K>>,
) -> Vec<(
    k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    Unreadable,
)>
where
    K: Resource<DynamicType = ()> + Clone + 'static,
{
    store
        .state()
        .iter()
        .filter_map(|o| {
            o.parsed
                .as_ref()
                .err()
                .map(|e| (o.metadata.clone(), e.clone()))
        })
        .collect()
}

/// The cluster model's view of a watch event (the core crate has its own event type so that it
/// does not depend on kube-runtime).
fn model_event<K>(event: &Event<K>) -> crate::state::Event<'_, K> {
    use crate::state::Event as Model;
    match event {
        Event::Apply(obj) => Model::Apply(obj),
        Event::Delete(obj) => Model::Delete(obj),
        Event::Init => Model::Init,
        Event::InitApply(obj) => Model::InitApply(obj),
        Event::InitDone => Model::InitDone,
    }
}
