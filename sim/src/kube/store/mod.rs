//! The in-memory object store: one global resourceVersion, per-resource collections, a bounded
//! event history for watches, and the semantics kube-apiserver applies on every write.
//!
//! This module owns the shared state and the one commit path every change goes through; the
//! rest is split by concern:
//! - `defaults`: built-in defaulting and normalization on write,
//! - `admission`: the built-in admission plugins and validation (priority classes, Jobs),
//! - `views`: conversion between stored and served versions,
//! - `meta`: metadata accessors and generated names, uids and timestamps,
//! - `write` and `update`: create, update, patch and server-side apply,
//! - `delete`: deletion requests, preconditions and pod grace periods,
//! - `gc`: owner-reference garbage collection and namespace finalization,
//! - `list`: list with selectors, resourceVersion semantics and continue tokens,
//! - `watch`: watch events and their replay,
//! - `persistence`: snapshot dump and restore.

mod admission;
mod defaults;
mod delete;
mod gc;
mod list;
mod meta;
mod persistence;
mod update;
mod views;
mod watch;
mod write;

pub use admission::{HIGHEST_USER_PRIORITY, SYSTEM_PRIORITY_CLASSES};
pub use defaults::{qos_class, JOB_CONTROLLER_UID, JOB_NAME};
pub use delete::DeleteOptions;
pub use list::{ListOptions, ListPage};
pub use meta::now;
pub use views::{from_view, to_view};
pub use watch::{event_line, EventType, WatchEvent, WatchStart};
pub use write::{WriteOptions, WriteTarget};

use super::error::{ApiError, ApiResult};
use super::resources::{Registry, ResourceDef, StorageKey};
use bytes::Bytes;
use meta::{meta, meta_mut, owner_uids};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::broadcast;

/// etcd's `--max-request-bytes` (1.5 MiB): the largest object kube-apiserver can store.
pub const MAX_OBJECT_BYTES: usize = 1536 * 1024;

/// A stored object and its JSON, serialized once per write.
#[derive(Debug)]
pub struct Stored {
    /// The object.
    pub value: Value,
    /// `value` serialized.
    pub json: Bytes,
    /// Its resourceVersion.
    pub rv: u64,
    /// Its protobuf message (no envelope), encoded on first use: a protobuf list
    /// concatenates these instead of converting every object again. `None`: no protobuf form.
    protobuf: OnceLock<Option<Bytes>>,
}

impl Stored {
    /// Wraps an object, serializing it once.
    fn new(value: Value, rv: u64) -> Arc<Self> {
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Arc::new(Stored {
            value,
            json,
            rv,
            protobuf: OnceLock::new(),
        })
    }

    /// The object's protobuf message (as stored, without the `k8s\0` + Unknown envelope),
    /// encoded once; `None` when its kind has no protobuf form.
    pub fn protobuf(&self) -> Option<Bytes> {
        self.protobuf
            .get_or_init(|| match crate::kube::pb::encode_raw(&self.value) {
                Ok(b) => Some(Bytes::from(b)),
                Err(e) => {
                    tracing::debug!(error = %e, "no protobuf form");
                    None
                }
            })
            .clone()
    }

    /// `metadata.namespace` (empty when cluster-scoped).
    pub fn namespace(&self) -> &str {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Key of an object in its collection: (namespace, name); sorted, so a namespace is a range.
type ObjKey = (String, String);
/// An object anywhere in the store: (collection, namespace, name).
type ObjRef = (StorageKey, String, String);

/// Everything behind the store's lock.
#[derive(Default)]
struct State {
    /// Global resourceVersion: the last one committed.
    rv: u64,
    /// Objects per collection.
    collections: HashMap<StorageKey, BTreeMap<ObjKey, Arc<Stored>>>,
    /// Recent events, for watches resuming from a resourceVersion.
    history: VecDeque<Arc<WatchEvent>>,
    /// Oldest resourceVersion a watch can still resume from.
    compacted: u64,
    /// Served resources (built-in and from CRDs).
    registry: Registry,
    /// Owner uid to the objects naming it in `ownerReferences` (garbage collection).
    dependents: HashMap<String, HashSet<ObjRef>>,
}

/// Tunables of the store.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// Events kept for watches resuming from a resourceVersion (older ones get 410 Gone).
    pub history: usize,
    /// Deleting a pod bound to a node only marks it (deletionTimestamp, grace period) and the
    /// node's kubelet removes it, as kube-apiserver does. Off for a bare API server, where no
    /// kubelet would ever finish the deletion.
    pub graceful_pod_deletion: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            history: 50_000,
            graceful_pod_deletion: false,
        }
    }
}

/// The store shared by the HTTP server and in-process controllers.
pub struct Store {
    /// Objects and history.
    state: RwLock<State>,
    /// Live events for watches and in-process controllers.
    tx: broadcast::Sender<Arc<WatchEvent>>,
    /// Tunables.
    config: StoreConfig,
}

impl Store {
    /// A store with the built-in resources and the default namespaces.
    pub fn new(config: StoreConfig) -> Arc<Self> {
        let (tx, _) = broadcast::channel(32_768);
        let store = Arc::new(Store {
            state: RwLock::new(State {
                registry: Registry::builtin(),
                ..Default::default()
            }),
            tx,
            config,
        });
        let ns_def = store.def("", "v1", "namespaces").expect("namespaces");
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let _ = store.create(
                &ns_def,
                "",
                json!({"metadata": {"name": ns}}),
                &WriteOptions::default(),
            );
        }
        if let Some(pc_def) = store.def("scheduling.k8s.io", "v1", "priorityclasses") {
            for pc in admission::system_priority_classes() {
                let _ = store.create(&pc_def, "", pc, &WriteOptions::default());
            }
        }
        store
    }

    /// Read lock (a panic while holding it does not poison the store).
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Write lock (a panic while holding it does not poison the store).
    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The resource definition for a group/version/plural.
    pub fn def(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.read().registry.get(group, version, plural)
    }

    /// A snapshot of the registry (discovery).
    pub fn registry(&self) -> Registry {
        self.read().registry.clone()
    }

    /// Current global resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.read().rv
    }

    /// Drops the whole event history: watches from any older resourceVersion get 410 Gone.
    pub fn compact(&self) {
        let mut st = self.write();
        st.history.clear();
        st.compacted = st.rv;
    }

    /// Reads one object.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> ApiResult<Arc<Stored>> {
        let st = self.read();
        st.collections
            .get(&def.storage)
            .and_then(|c| c.get(&(ns.to_string(), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))
    }

    /// Subscribes to every change (for in-process controllers).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    /// The object as it would be committed next: with the next resourceVersion, serialized.
    fn prepare(st: &State, mut value: Value) -> Arc<Stored> {
        let rv = st.rv + 1;
        meta_mut(&mut value).insert("resourceVersion".into(), json!(rv.to_string()));
        Stored::new(value, rv)
    }

    /// The one path every change takes: bumps the resourceVersion, stores or removes the object,
    /// keeps the dependents index, records the event and broadcasts it.
    fn commit(
        &self,
        st: &mut State,
        def_storage: &StorageKey,
        value: Value,
        prev: Option<Arc<Stored>>,
        type_: EventType,
    ) -> Arc<Stored> {
        let stored = Self::prepare(st, value);
        self.commit_stored(st, def_storage, stored, prev, type_)
    }

    /// [`Store::commit`] of a client's write, under etcd's request size limit: an object over
    /// it is tried again without its managed fields, as kube-apiserver does, then refused
    /// (500 `etcdserver: request is too large`).
    fn commit_checked(
        &self,
        st: &mut State,
        def_storage: &StorageKey,
        value: Value,
        prev: Option<Arc<Stored>>,
        type_: EventType,
    ) -> ApiResult<Arc<Stored>> {
        let mut stored = Self::prepare(st, value);
        if stored.json.len() > MAX_OBJECT_BYTES {
            let mut v = stored.value.clone();
            meta_mut(&mut v).remove("managedFields");
            stored = Self::prepare(st, v);
            if stored.json.len() > MAX_OBJECT_BYTES {
                return Err(ApiError::etcd_too_large());
            }
        }
        Ok(self.commit_stored(st, def_storage, stored, prev, type_))
    }

    fn commit_stored(
        &self,
        st: &mut State,
        def_storage: &StorageKey,
        stored: Arc<Stored>,
        prev: Option<Arc<Stored>>,
        type_: EventType,
    ) -> Arc<Stored> {
        st.rv = stored.rv;
        let rv = st.rv;
        let ns = meta(&stored.value)["namespace"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let name = meta(&stored.value)["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let key = (ns.clone(), name.clone());
        let oref: ObjRef = (def_storage.clone(), ns, name);
        if let Some(p) = &prev {
            for o in owner_uids(&p.value) {
                if let Some(s) = st.dependents.get_mut(&o) {
                    s.remove(&oref);
                }
            }
        }
        let coll = st.collections.entry(def_storage.clone()).or_default();
        if type_ == EventType::Deleted {
            coll.remove(&key);
        } else {
            coll.insert(key, stored.clone());
            for o in owner_uids(&stored.value) {
                st.dependents.entry(o).or_default().insert(oref.clone());
            }
        }
        let ev = WatchEvent::new(type_, def_storage.clone(), stored.clone(), prev, rv);
        st.history.push_back(ev.clone());
        while st.history.len() > self.config.history {
            if let Some(old) = st.history.pop_front() {
                st.compacted = old.rv;
            }
        }
        let _ = self.tx.send(ev);
        stored
    }

    /// Runs a read-only closure over the objects of a collection (in-process controllers and
    /// authorization read without copying the store).
    pub fn with_objects<R>(
        &self,
        storage: &StorageKey,
        ns: Option<&str>,
        f: impl FnOnce(&mut dyn Iterator<Item = &Arc<Stored>>) -> R,
    ) -> R {
        let st = self.read();
        let empty = BTreeMap::new();
        let c = st.collections.get(storage).unwrap_or(&empty);
        match ns {
            Some(n) => {
                let mut it = c
                    .range((
                        Bound::Included((n.to_string(), String::new())),
                        Bound::Unbounded,
                    ))
                    .take_while(|((o, _), _)| o == n)
                    .map(|(_, v)| v);
                f(&mut it)
            }
            None => f(&mut c.values()),
        }
    }
}

/// The namespace part of an object's key (empty for cluster-scoped resources).
fn ns_key(def: &ResourceDef, ns: &str) -> String {
    if def.namespaced {
        ns.to_string()
    } else {
        String::new()
    }
}
