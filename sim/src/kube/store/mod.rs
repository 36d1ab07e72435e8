//! The in-memory object store: one global resourceVersion, per-resource collections, a bounded
//! event history for watches, and the semantics kube-apiserver applies on every write.

use super::apply::{self, Ctx, Part};
use super::error::{ApiError, ApiResult};
use super::patch::{apply_patch, PatchType};
use super::resources::{Registry, ResourceDef, StorageKey, View};
use super::schema;
use super::selector::{FieldSelector, LabelSelector};
use bytes::Bytes;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::ops::Bound;
use std::sync::{Arc, OnceLock, RwLock};
use tokio::sync::broadcast;

/// A stored object and its JSON, serialized once per write.
#[derive(Debug)]
pub struct Stored {
    /// The object.
    pub value: Value,
    /// `value` serialized.
    pub json: Bytes,
    /// Its resourceVersion.
    pub rv: u64,
}

impl Stored {
    fn new(value: Value, rv: u64) -> Arc<Self> {
        let json = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
        Arc::new(Stored { value, json, rv })
    }

    /// `metadata.namespace` (empty when cluster-scoped).
    pub fn namespace(&self) -> &str {
        self.value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// Watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Created.
    Added,
    /// Changed.
    Modified,
    /// Removed.
    Deleted,
}

impl EventType {
    /// Wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, shared by every watcher (its JSON line is built once).
#[derive(Debug)]
pub struct WatchEvent {
    /// resourceVersion of the change.
    pub rv: u64,
    /// Collection changed.
    pub storage: StorageKey,
    /// Kind of change.
    pub type_: EventType,
    /// Object after the change (the last state for deletions).
    pub obj: Arc<Stored>,
    /// Object before the change (for selector transitions).
    pub prev: Option<Arc<Stored>>,
    line: OnceLock<Bytes>,
}

impl WatchEvent {
    fn new(
        type_: EventType,
        storage: StorageKey,
        obj: Arc<Stored>,
        prev: Option<Arc<Stored>>,
        rv: u64,
    ) -> Arc<Self> {
        Arc::new(WatchEvent {
            rv,
            storage,
            type_,
            obj,
            prev,
            line: OnceLock::new(),
        })
    }

    /// `{"type":..,"object":..}\n` in the stored form, serialized once for all watchers.
    pub fn native_line(&self) -> Bytes {
        self.line
            .get_or_init(|| event_line(self.type_.as_str(), &self.obj.json))
            .clone()
    }
}

/// A watch stream line around an already-serialized object.
pub fn event_line(type_: &str, obj: &[u8]) -> Bytes {
    let mut v = Vec::with_capacity(obj.len() + 32);
    v.extend_from_slice(b"{\"type\":\"");
    v.extend_from_slice(type_.as_bytes());
    v.extend_from_slice(b"\",\"object\":");
    v.extend_from_slice(obj);
    v.extend_from_slice(b"}\n");
    Bytes::from(v)
}

type ObjKey = (String, String);
type ObjRef = (StorageKey, String, String);

#[derive(Default)]
struct State {
    rv: u64,
    collections: HashMap<StorageKey, BTreeMap<ObjKey, Arc<Stored>>>,
    history: VecDeque<Arc<WatchEvent>>,
    compacted: u64,
    registry: Registry,
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

/// Options of a write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// `fieldManager`.
    pub field_manager: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
    /// `force` (apply).
    pub force: bool,
}

/// `DeleteOptions`.
#[derive(Debug, Clone, Default)]
pub struct DeleteOptions {
    /// `Background` (default), `Foreground` or `Orphan`.
    pub propagation: Option<String>,
    /// `preconditions.uid`.
    pub precondition_uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub precondition_rv: Option<String>,
    /// `gracePeriodSeconds`.
    pub grace_period: Option<i64>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

impl DeleteOptions {
    /// From a `DeleteOptions` body (or Eviction's `deleteOptions`).
    pub fn from_value(v: &Value) -> Self {
        let mut o = DeleteOptions {
            propagation: v["propagationPolicy"].as_str().map(String::from),
            precondition_uid: v
                .pointer("/preconditions/uid")
                .and_then(Value::as_str)
                .map(String::from),
            precondition_rv: v
                .pointer("/preconditions/resourceVersion")
                .and_then(Value::as_str)
                .map(String::from),
            grace_period: v["gracePeriodSeconds"].as_i64(),
            dry_run: v["dryRun"].as_array().is_some_and(|a| !a.is_empty()),
        };
        if o.propagation.is_none() {
            if let Some(orphan) = v["orphanDependents"].as_bool() {
                o.propagation = Some(if orphan { "Orphan" } else { "Background" }.into());
            }
        }
        o
    }
}

/// List options.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Label selector.
    pub labels: LabelSelector,
    /// Field selector.
    pub fields: FieldSelector,
    /// Page size.
    pub limit: Option<usize>,
    /// Continue token.
    pub continue_: Option<String>,
    /// `resourceVersion`.
    pub resource_version: Option<String>,
    /// `resourceVersionMatch`.
    pub resource_version_match: Option<String>,
}

/// One page of a list.
#[derive(Debug)]
pub struct ListPage {
    /// Items, in key order.
    pub items: Vec<Arc<Stored>>,
    /// List resourceVersion.
    pub rv: u64,
    /// Continue token of the next page.
    pub continue_: Option<String>,
    /// Items left after this page.
    pub remaining: Option<usize>,
}

/// Start of a watch: events to replay, then the live receiver.
pub struct WatchStart {
    /// Events before going live (initial ADDED or history replay).
    pub replay: Vec<Arc<WatchEvent>>,
    /// Live events (all collections; filter by `storage`).
    pub rx: broadcast::Receiver<Arc<WatchEvent>>,
    /// Global resourceVersion at subscription.
    pub rv: u64,
}

/// The store shared by the HTTP server and in-process controllers.
pub struct Store {
    state: RwLock<State>,
    tx: broadcast::Sender<Arc<WatchEvent>>,
    config: StoreConfig,
}

/// RFC 3339 timestamp at second precision, as Kubernetes writes them.
pub fn now() -> String {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

fn random_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn random_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

fn meta(v: &Value) -> &Value {
    &v["metadata"]
}

fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    v["metadata"].as_object_mut().expect("metadata object")
}

fn owner_uids(v: &Value) -> Vec<String> {
    meta(v)["ownerReferences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["uid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn uid_of(v: &Value) -> String {
    meta(v)["uid"].as_str().unwrap_or_default().to_string()
}

fn finalizers(v: &Value) -> Vec<String> {
    meta(v)["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The object body without metadata and status (what `generation` tracks).
fn spec_part(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    c
}

/// Comparison of two versions ignoring bookkeeping metadata (no-op writes keep the version).
fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut c = v.clone();
        if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        c
    };
    strip(a) == strip(b)
}

/// Converts a stored object to how a served version presents it.
pub fn to_view(def: &ResourceDef, v: &Value) -> Value {
    let mut out = match def.view {
        View::Native => v.clone(),
        View::EventsV1 => core_event_to_v1(v),
    };
    out["apiVersion"] = json!(def.api_version());
    out["kind"] = json!(def.kind);
    out
}

/// Converts a body of a served version to the stored form.
pub fn from_view(def: &ResourceDef, v: Value) -> Value {
    match def.view {
        View::Native => v,
        View::EventsV1 => v1_event_to_core(&v),
    }
}

const EVENT_RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("count", "deprecatedCount"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("source", "deprecatedSource"),
    ("reportingComponent", "reportingController"),
];

fn rename(v: &Value, from_core: bool) -> Value {
    let mut out = Map::new();
    if let Some(m) = v.as_object() {
        for (k, x) in m {
            let nk = EVENT_RENAMES
                .iter()
                .find(|(c, e)| if from_core { c == k } else { e == k })
                .map(|(c, e)| if from_core { *e } else { *c })
                .unwrap_or(k.as_str());
            out.insert(nk.to_string(), x.clone());
        }
    }
    Value::Object(out)
}

fn core_event_to_v1(v: &Value) -> Value {
    rename(v, true)
}

fn v1_event_to_core(v: &Value) -> Value {
    let mut c = rename(v, false);
    c["apiVersion"] = json!("v1");
    c["kind"] = json!("Event");
    if c.get("source").is_none() {
        if let Some(rc) = c["reportingComponent"].as_str() {
            c["source"] = json!({"component": rc});
        }
    }
    c
}

fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn default_container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default().to_string();
    let o = c.as_object_mut().expect("container");
    let latest =
        !image.rsplit('/').next().unwrap_or_default().contains(':') || image.ends_with(":latest");
    o.entry("imagePullPolicy")
        .or_insert(json!(if latest { "Always" } else { "IfNotPresent" }));
    o.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    o.entry("terminationMessagePolicy").or_insert(json!("File"));
    o.entry("resources").or_insert(json!({}));
}

/// The QoS class of a pod spec, as kube-apiserver records it in `status.qosClass`.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let res = |c: &Value, k: &str, r: &str| c["resources"][k][r].clone();
    let any = containers.iter().any(|c| {
        ["cpu", "memory"]
            .iter()
            .any(|r| !res(c, "requests", r).is_null() || !res(c, "limits", r).is_null())
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let l = res(c, "limits", r);
            !l.is_null() && (res(c, "requests", r).is_null() || res(c, "requests", r) == l)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Defaults kube-apiserver (and its default admission plugins) set on pod specs.
fn default_pod_spec(spec: &mut Value, is_pod: bool) {
    let Some(o) = spec.as_object_mut() else {
        return;
    };
    o.entry("restartPolicy").or_insert(json!("Always"));
    o.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    o.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    o.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    o.entry("securityContext").or_insert(json!({}));
    if is_pod {
        o.entry("serviceAccountName").or_insert(json!("default"));
        let sa = o["serviceAccountName"].clone();
        o.entry("serviceAccount").or_insert(sa);
        o.entry("enableServiceLinks").or_insert(json!(true));
        o.entry("priority").or_insert(json!(0));
        o.entry("preemptionPolicy")
            .or_insert(json!("PreemptLowerPriority"));
        let tol = o.entry("tolerations").or_insert(json!([]));
        if let Some(t) = tol.as_array_mut() {
            for key in [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
            ] {
                if !t
                    .iter()
                    .any(|x| x["key"] == key && x["effect"] == "NoExecute")
                {
                    t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for c in o
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if c.is_object() {
                default_container(c);
            }
        }
    }
}

/// Built-in defaulting on create (the part of kube-apiserver's defaulters clients notice).
fn default_builtin(def: &ResourceDef, v: &mut Value, cluster_ip: u64) {
    if def.custom {
        return;
    }
    let name = meta(v)["name"].clone();
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Namespace") => {
            let labels = meta_mut(v).entry("labels").or_insert(json!({}));
            labels["kubernetes.io/metadata.name"] = name;
            v["spec"] = json!({"finalizers": ["kubernetes"]});
            v["status"] = json!({"phase": "Active"});
        }
        ("", "Pod") => {
            if let Some(spec) = v.get_mut("spec") {
                default_pod_spec(spec, true);
            }
            if v.pointer("/status/phase").is_none() {
                let qos = qos_class(&v["spec"]);
                let o = v.as_object_mut().expect("object");
                let st = o.entry("status").or_insert(json!({}));
                st["phase"] = json!("Pending");
                st["qosClass"] = json!(qos);
            }
        }
        ("apps", "Deployment") | ("apps", "ReplicaSet") | ("apps", "DaemonSet") => {
            let kind = def.kind.clone();
            let spec = v
                .as_object_mut()
                .expect("object")
                .entry("spec")
                .or_insert(json!({}));
            if let Some(s) = spec.as_object_mut() {
                if kind != "DaemonSet" {
                    s.entry("replicas").or_insert(json!(1));
                }
                if kind != "ReplicaSet" {
                    s.entry("revisionHistoryLimit").or_insert(json!(10));
                }
                if kind == "Deployment" {
                    s.entry("progressDeadlineSeconds").or_insert(json!(600));
                    s.entry("strategy").or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
                }
                if kind == "DaemonSet" {
                    s.entry("updateStrategy").or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}));
                }
            }
            if let Some(ps) = v.pointer_mut("/spec/template/spec") {
                default_pod_spec(ps, false);
            }
        }
        ("", "Service") => {
            let spec = v
                .as_object_mut()
                .expect("object")
                .entry("spec")
                .or_insert(json!({}));
            if let Some(s) = spec.as_object_mut() {
                s.entry("type").or_insert(json!("ClusterIP"));
                s.entry("sessionAffinity").or_insert(json!("None"));
                if s.get("clusterIP").is_none() {
                    let ip = format!(
                        "10.96.{}.{}",
                        (cluster_ip / 250) % 250,
                        cluster_ip % 250 + 1
                    );
                    s.insert("clusterIP".into(), json!(ip));
                    s.insert("clusterIPs".into(), json!([ip]));
                }
                s.entry("ipFamilies").or_insert(json!(["IPv4"]));
                for p in s
                    .get_mut("ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(po) = p.as_object_mut() {
                        po.entry("protocol").or_insert(json!("TCP"));
                        if let Some(port) = po.get("port").cloned() {
                            po.entry("targetPort").or_insert(port);
                        }
                    }
                }
            }
            v.as_object_mut()
                .expect("object")
                .entry("status")
                .or_insert(json!({"loadBalancer": {}}));
        }
        _ => {}
    }
}

/// Normalizations applied on every create and update.
fn normalize(def: &ResourceDef, v: &mut Value) {
    // Empty lists and maps are omitted, as Go's `omitempty` does in kube-apiserver.
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.retain(|k, x| {
            !(matches!(
                k.as_str(),
                "labels" | "annotations" | "finalizers" | "ownerReferences" | "managedFields"
            ) && (x.is_null()
                || x.as_array().is_some_and(Vec::is_empty)
                || x.as_object().is_some_and(Map::is_empty)))
        });
    }
    if def.group.is_empty() && def.kind == "Secret" {
        if let Some(sd) = v.as_object_mut().and_then(|o| o.remove("stringData")) {
            let o = v.as_object_mut().expect("object");
            let data = o.entry("data").or_insert(json!({}));
            for (k, s) in sd.as_object().into_iter().flatten() {
                data[k] = json!(base64(s.as_str().unwrap_or_default().as_bytes()));
            }
        }
        v.as_object_mut()
            .expect("object")
            .entry("type")
            .or_insert(json!("Opaque"));
    }
    if def.group == "apiextensions.k8s.io" {
        let names = v.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let stored: Vec<Value> = v
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|x| x["storage"] == json!(true))
                    .map(|x| x["name"].clone())
                    .collect()
            })
            .unwrap_or_default();
        let t = now();
        let o = v.as_object_mut().expect("object");
        o.insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "storedVersions": stored,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
                ]
            }),
        );
    }
    if let Some(s) = &def.schema {
        schema::apply_defaults(v, s);
    }
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
        store
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

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

    /// Lists objects (`ns` None: all namespaces).
    pub fn list(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        opts: &ListOptions,
    ) -> ApiResult<ListPage> {
        opts.fields
            .validate(&def.kind)
            .map_err(ApiError::bad_request)?;
        let st = self.read();
        let (mut list_rv, start) = match &opts.continue_ {
            Some(tok) => decode_continue(tok)?,
            None => (st.rv, None),
        };
        if opts.continue_.is_none() {
            if let Some(rv) = opts
                .resource_version
                .as_deref()
                .filter(|r| !r.is_empty() && *r != "0")
            {
                let want: u64 = rv.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid resource version {rv:?}"))
                })?;
                if want > st.rv {
                    return Err(ApiError {
                        code: 504,
                        reason: "Timeout",
                        message: format!("Too large resource version: {want}, current: {}", st.rv),
                        details: None,
                    });
                }
                if opts.resource_version_match.as_deref() == Some("Exact") {
                    if want < st.compacted || want != st.rv {
                        return Err(ApiError::gone(format!(
                            "too old resource version: {want} ({})",
                            st.rv
                        )));
                    }
                    list_rv = want;
                }
            }
        }
        let Some(coll) = st.collections.get(&def.storage) else {
            return Ok(ListPage {
                items: vec![],
                rv: list_rv,
                continue_: None,
                remaining: None,
            });
        };
        let lower = match (&start, ns) {
            (Some(k), _) => Bound::Excluded(k.clone()),
            (None, Some(n)) => Bound::Included((n.to_string(), String::new())),
            (None, None) => Bound::Unbounded,
        };
        let limit = opts.limit.filter(|l| *l > 0).unwrap_or(usize::MAX);
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0usize;
        let want_name = opts.fields.name();
        for ((ons, oname), o) in coll.range((lower, Bound::Unbounded)) {
            if let Some(n) = ns {
                if ons != n {
                    break;
                }
            }
            if want_name.is_some_and(|w| w != oname) {
                continue;
            }
            if !opts.labels.matches(&o.value) || !opts.fields.matches(&def.kind, &o.value) {
                continue;
            }
            if items.len() >= limit {
                if next.is_none() {
                    let last: &Arc<Stored> = items.last().expect("non-empty page");
                    let lk = (
                        last.namespace().to_string(),
                        last.value
                            .pointer("/metadata/name")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                            .to_string(),
                    );
                    next = Some(encode_continue(list_rv, &lk));
                }
                remaining += 1;
                continue;
            }
            items.push(o.clone());
        }
        Ok(ListPage {
            items,
            rv: list_rv,
            continue_: next,
            remaining: (remaining > 0).then_some(remaining),
        })
    }

    /// Starts a watch on a collection from a resourceVersion (`None`/`0`: current state first).
    pub fn watch(
        &self,
        def: &ResourceDef,
        rv: Option<u64>,
        send_initial: bool,
    ) -> ApiResult<WatchStart> {
        let st = self.read();
        let rx = self.tx.subscribe();
        let replay = match rv {
            Some(r) if r > 0 && !send_initial => {
                if r < st.compacted {
                    return Err(ApiError::gone(format!(
                        "too old resource version: {r} ({})",
                        st.compacted + 1
                    )));
                }
                st.history
                    .iter()
                    .filter(|e| e.rv > r && e.storage == def.storage)
                    .cloned()
                    .collect()
            }
            _ => st
                .collections
                .get(&def.storage)
                .map(|c| {
                    c.values()
                        .map(|o| {
                            WatchEvent::new(
                                EventType::Added,
                                def.storage.clone(),
                                o.clone(),
                                None,
                                o.rv,
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        };
        Ok(WatchStart {
            replay,
            rx,
            rv: st.rv,
        })
    }

    /// Subscribes to every change (for in-process controllers).
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<WatchEvent>> {
        self.tx.subscribe()
    }

    fn commit(
        &self,
        st: &mut State,
        def_storage: &StorageKey,
        mut value: Value,
        prev: Option<Arc<Stored>>,
        type_: EventType,
    ) -> Arc<Stored> {
        st.rv += 1;
        let rv = st.rv;
        let ns = meta(&value)["namespace"].as_str().unwrap_or("").to_string();
        let name = meta(&value)["name"].as_str().unwrap_or("").to_string();
        meta_mut(&mut value).insert("resourceVersion".into(), json!(rv.to_string()));
        let key = (ns.clone(), name.clone());
        let oref: ObjRef = (def_storage.clone(), ns, name);
        if let Some(p) = &prev {
            for o in owner_uids(&p.value) {
                if let Some(s) = st.dependents.get_mut(&o) {
                    s.remove(&oref);
                }
            }
        }
        let stored = Stored::new(value, rv);
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

    fn check_namespace(
        &self,
        st: &State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> ApiResult<()> {
        if !def.namespaced {
            return Ok(());
        }
        if ns.is_empty() {
            return Err(ApiError::bad_request(
                "the server could not find the requested resource: namespace is required",
            ));
        }
        let nsobj = st
            .collections
            .get(&(String::new(), "namespaces".into()))
            .and_then(|c| c.get(&(String::new(), ns.to_string())));
        match nsobj {
            None => Err(ApiError::not_found("", "namespaces", ns)),
            Some(n) if !meta(&n.value)["deletionTimestamp"].is_null() => Err(ApiError::forbidden(format!(
                "{} \"{name}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                def.plural,
            ))),
            Some(_) => Ok(()),
        }
    }

    fn validate_custom(def: &ResourceDef, v: &Value) -> ApiResult<()> {
        if let Some(s) = &def.schema {
            let causes = schema::validate(v, s);
            if !causes.is_empty() {
                let name = meta(v)["name"].as_str().unwrap_or_default();
                return Err(ApiError::invalid(&def.group, &def.kind, name, causes));
            }
        }
        Ok(())
    }

    /// Creates an object.
    pub fn create(
        &self,
        def: &ResourceDef,
        ns: &str,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let mut st = self.write();
        self.create_locked(&mut st, def, ns, body, opts, None)
    }

    fn create_locked(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        body: Value,
        opts: &WriteOptions,
        applied: Option<(&Value, bool)>,
    ) -> ApiResult<Arc<Stored>> {
        let mut v = from_view(def, body);
        if !v.is_object() {
            return Err(ApiError::bad_request("body must be a JSON object"));
        }
        let m = meta_mut(&mut v);
        if let Some(bns) = m.get("namespace").and_then(Value::as_str) {
            if def.namespaced && !bns.is_empty() && bns != ns {
                return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
            }
        }
        let name = match m.get("name").and_then(Value::as_str) {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => match m.get("generateName").and_then(Value::as_str) {
                Some(g) => format!("{g}{}", random_suffix()),
                None => {
                    return Err(ApiError::invalid(
                        &def.group,
                        &def.kind,
                        "",
                        vec![(
                            "metadata.name".into(),
                            "Required value: name or generateName is required".into(),
                        )],
                    ))
                }
            },
        };
        m.insert("name".into(), json!(name));
        self.check_namespace(st, def, ns, &name)?;
        let m = meta_mut(&mut v);
        if def.namespaced {
            m.insert("namespace".into(), json!(ns));
        } else {
            m.remove("namespace");
        }
        let t = now();
        m.insert("uid".into(), json!(random_uid()));
        m.insert("creationTimestamp".into(), json!(t));
        m.remove("deletionTimestamp");
        m.remove("resourceVersion");
        m.insert("generation".into(), json!(1));
        if st
            .collections
            .get(&def.storage)
            .is_some_and(|c| c.contains_key(&(ns_key(def, ns), name.clone())))
        {
            return Err(ApiError::already_exists(&def.group, &def.plural, &name));
        }
        v["apiVersion"] = json!(if def.view == View::Native {
            def.api_version()
        } else {
            "v1".into()
        });
        v["kind"] = json!(def.kind);
        if def.custom && def.has_sub("status") {
            if let Some(o) = v.as_object_mut() {
                o.remove("status");
            }
        }
        let cluster_ip = st.rv;
        default_builtin(def, &mut v, cluster_ip);
        normalize(def, &mut v);
        Self::validate_custom(def, &v)?;
        let manager = opts
            .field_manager
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let ctx = Ctx {
            manager: &manager,
            api_version: &def.api_version(),
            subresource: None,
            part: Part::Main {
                status_separate: def.has_sub("status"),
            },
            now: &t,
        };
        if let Some((cfg, _)) = applied {
            let fields = apply::server_side_apply(None, cfg, false, &ctx)
                .map_err(|c| ApiError::apply_conflict(&def.group, &def.plural, &name, &c))?;
            v["metadata"]["managedFields"] = fields["metadata"]["managedFields"].clone();
        } else {
            apply::record_update(None, &mut v, &ctx);
        }
        if opts.dry_run {
            return Ok(Stored::new(v, st.rv));
        }
        let stored = self.commit(st, &def.storage, v, None, EventType::Added);
        self.after_write(st, def, &stored.value);
        Ok(stored)
    }

    /// Side effects of writes to special resources (CRDs register resources, namespaces get
    /// their default ServiceAccount).
    fn after_write(&self, st: &mut State, def: &ResourceDef, v: &Value) {
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            st.registry.register_crd(v);
        }
        if def.group.is_empty()
            && def.plural == "namespaces"
            && meta(v)["deletionTimestamp"].is_null()
        {
            let ns = meta(v)["name"].as_str().unwrap_or_default().to_string();
            let key: StorageKey = (String::new(), "serviceaccounts".into());
            if !st
                .collections
                .get(&key)
                .is_some_and(|c| c.contains_key(&(ns.clone(), "default".into())))
            {
                if let Some(sa) = st.registry.get("", "v1", "serviceaccounts") {
                    let _ = self.create_locked(
                        st,
                        &sa,
                        &ns,
                        json!({"metadata": {"name": "default"}}),
                        &WriteOptions::default(),
                        None,
                    );
                }
            }
        }
    }

    /// Replaces an object (`sub`: `status` to write status only).
    pub fn update(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        body: Value,
        sub: Option<&str>,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let mut st = self.write();
        self.update_locked(&mut st, def, ns, name, from_view(def, body), sub, opts)
    }

    #[allow(clippy::too_many_arguments)]
    fn update_locked(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        mut v: Value,
        sub: Option<&str>,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let key = (ns_key(def, ns), name.to_string());
        let cur = st
            .collections
            .get(&def.storage)
            .and_then(|c| c.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        if !v.is_object() {
            return Err(ApiError::bad_request("body must be a JSON object"));
        }
        if let Some(n) = meta(&v)["name"].as_str() {
            if n != name {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
        }
        if let Some(rv) = meta(&v)["resourceVersion"].as_str() {
            if !rv.is_empty() && rv != cur.rv.to_string() {
                return Err(ApiError::stale(&def.group, &def.plural, name));
            }
        }
        if let Some(uid) = meta(&v)["uid"].as_str() {
            if !uid.is_empty() && uid != uid_of(&cur.value) {
                return Err(ApiError::conflict(
                    &def.group,
                    &def.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                        uid_of(&cur.value)
                    ),
                ));
            }
        }
        let status_sub = def.has_sub("status");
        let part = match sub {
            Some("status") => Part::Status,
            _ => Part::Main {
                status_separate: status_sub,
            },
        };
        // Which parts of the body are taken from the request.
        let mut new = match part {
            Part::Status => {
                let mut n = cur.value.clone();
                n["status"] = v.get("status").cloned().unwrap_or(Value::Null);
                if n["status"].is_null() {
                    n.as_object_mut().expect("object").remove("status");
                }
                n
            }
            Part::Main { status_separate } => {
                if status_separate {
                    match cur.value.get("status") {
                        Some(s) => v["status"] = s.clone(),
                        None => {
                            v.as_object_mut().expect("object").remove("status");
                        }
                    }
                }
                v
            }
        };
        {
            let cm = meta(&cur.value).clone();
            let m = meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "namespace",
                "name",
                "generation",
            ] {
                match cm.get(k) {
                    Some(x) => {
                        m.insert(k.into(), x.clone());
                    }
                    None => {
                        m.remove(k);
                    }
                }
            }
            if !m.contains_key("managedFields") {
                if let Some(mf) = cm.get("managedFields") {
                    m.insert("managedFields".into(), mf.clone());
                }
            }
        }
        new["apiVersion"] = cur.value["apiVersion"].clone();
        new["kind"] = json!(def.kind);
        if !meta(&cur.value)["deletionTimestamp"].is_null() {
            let old_f = finalizers(&cur.value);
            if finalizers(&new).iter().any(|f| !old_f.contains(f)) {
                return Err(ApiError::forbidden(format!("{} \"{name}\" is forbidden: no new finalizers can be added if the object is being deleted", def.plural)));
            }
        }
        normalize(def, &mut new);
        if part != Part::Status && spec_part(&new) != spec_part(&cur.value) {
            let g = meta(&cur.value)["generation"].as_i64().unwrap_or(1);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        Self::validate_custom(def, &new)?;
        let t = now();
        let manager = opts
            .field_manager
            .clone()
            .unwrap_or_else(|| "unknown".into());
        let ctx = Ctx {
            manager: &manager,
            api_version: &def.api_version(),
            subresource: sub,
            part,
            now: &t,
        };
        apply::record_update(Some(&cur.value), &mut new, &ctx);
        self.finish_update(st, def, cur, new, opts)
    }

    /// Commits an updated object; removes it instead once deletion is pending and no finalizer
    /// is left. A write that changes nothing keeps the resourceVersion.
    fn finish_update(
        &self,
        st: &mut State,
        def: &ResourceDef,
        cur: Arc<Stored>,
        new: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        if opts.dry_run {
            return Ok(Stored::new(new, cur.rv));
        }
        let deleting = !meta(&new)["deletionTimestamp"].is_null();
        // A pod in its grace period stays until its kubelet deletes it.
        let graceful = meta(&new)["deletionGracePeriodSeconds"]
            .as_i64()
            .is_some_and(|g| g > 0);
        if deleting && !graceful && finalizers(&new).is_empty() {
            let stored = self.commit(st, &def.storage, new, Some(cur), EventType::Deleted);
            self.after_delete(st, def, &stored.value);
            return Ok(stored);
        }
        if same_content(&cur.value, &new) {
            return Ok(cur);
        }
        let stored = self.commit(st, &def.storage, new, Some(cur), EventType::Modified);
        self.after_write(st, def, &stored.value);
        Ok(stored)
    }

    /// Patches an object (merge, JSON, strategic, or server-side apply).
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        kind: PatchType,
        patch: &Value,
        sub: Option<&str>,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let mut st = self.write();
        let key = (ns_key(def, ns), name.to_string());
        let cur = st
            .collections
            .get(&def.storage)
            .and_then(|c| c.get(&key))
            .cloned();
        if kind == PatchType::Strategic && def.custom {
            return Err(ApiError::unsupported_media_type("application/strategic-merge-patch+json (strategic merge patch is not supported for custom resources)"));
        }
        if kind == PatchType::Apply {
            let manager = opts
                .field_manager
                .clone()
                .ok_or_else(|| ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"))?;
            let body = from_view(def, patch.clone());
            let t = now();
            let part = match sub {
                Some("status") => Part::Status,
                _ => Part::Main {
                    status_separate: def.has_sub("status"),
                },
            };
            let av = def.api_version();
            let ctx = Ctx {
                manager: &manager,
                api_version: &av,
                subresource: sub,
                part,
                now: &t,
            };
            let Some(cur) = cur else {
                if sub.is_some() {
                    return Err(ApiError::not_found(&def.group, &def.plural, name));
                }
                let mut b = body.clone();
                meta_mut(&mut b).insert("name".into(), json!(name));
                let o = WriteOptions {
                    field_manager: Some(manager.clone()),
                    ..opts.clone()
                };
                return self.create_locked(&mut st, def, ns, b, &o, Some((&body, opts.force)));
            };
            let merged = apply::server_side_apply(Some(&cur.value), &body, opts.force, &ctx)
                .map_err(|c| ApiError::apply_conflict(&def.group, &def.plural, name, &c))?;
            return self.update_after_patch(&mut st, def, ns, name, &cur, merged, sub, opts, true);
        }
        let cur = cur.ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        let view = to_view(def, &cur.value);
        let mut patched = apply_patch(&view, kind, patch).map_err(|mut e| {
            if e.code == 422 {
                e.message = format!(
                    "{} \"{name}\" is invalid: {}",
                    def.kind,
                    e.message
                        .trim_start_matches("\"\" is invalid: ")
                        .trim_start_matches(" \"\" is invalid: ")
                );
            }
            e
        })?;
        // A patch carrying no resourceVersion is unconditional.
        if meta(patch)["resourceVersion"].is_null() && kind != PatchType::Json {
            meta_mut(&mut patched).insert("resourceVersion".into(), json!(cur.rv.to_string()));
        }
        let new = from_view(def, patched);
        self.update_after_patch(&mut st, def, ns, name, &cur, new, sub, opts, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn update_after_patch(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        cur: &Arc<Stored>,
        mut new: Value,
        sub: Option<&str>,
        opts: &WriteOptions,
        applied: bool,
    ) -> ApiResult<Arc<Stored>> {
        if meta(&new)["resourceVersion"].is_null() {
            meta_mut(&mut new).insert("resourceVersion".into(), json!(cur.rv.to_string()));
        }
        if applied {
            // managedFields computed by apply are kept as they are.
            let mf = meta(&new)["managedFields"].clone();
            let o = WriteOptions {
                field_manager: Some("\u{0}apply".into()),
                ..opts.clone()
            };
            let mut out_new = new;
            meta_mut(&mut out_new).insert("managedFields".into(), mf.clone());
            return self.update_locked_keep_fields(st, def, ns, name, out_new, sub, &o, mf);
        }
        self.update_locked(st, def, ns, name, new, sub, opts)
    }

    #[allow(clippy::too_many_arguments)]
    fn update_locked_keep_fields(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        new: Value,
        sub: Option<&str>,
        opts: &WriteOptions,
        mf: Value,
    ) -> ApiResult<Arc<Stored>> {
        // Run the common update path, then put back the fields apply computed.
        let dry = WriteOptions {
            dry_run: true,
            ..opts.clone()
        };
        let staged = self.update_locked(st, def, ns, name, new, sub, &dry)?;
        let mut v = staged.value.clone();
        meta_mut(&mut v).insert("managedFields".into(), mf);
        let cur = st
            .collections
            .get(&def.storage)
            .and_then(|c| c.get(&(ns_key(def, ns), name.to_string())))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        self.finish_update(
            st,
            def,
            cur,
            v,
            &WriteOptions {
                dry_run: opts.dry_run,
                ..Default::default()
            },
        )
    }

    /// Deletes an object; returns its last state (still present if finalizers hold it).
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let mut st = self.write();
        self.delete_locked(&mut st, def, ns, name, opts)
    }

    fn delete_locked(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let key = (ns_key(def, ns), name.to_string());
        let cur = st
            .collections
            .get(&def.storage)
            .and_then(|c| c.get(&key))
            .cloned()
            .ok_or_else(|| ApiError::not_found(&def.group, &def.plural, name))?;
        if let Some(u) = &opts.precondition_uid {
            if *u != uid_of(&cur.value) {
                return Err(ApiError::conflict(
                    &def.group,
                    &def.plural,
                    name,
                    &format!(
                        "Precondition failed: UID in precondition: {u}, UID in object meta: {}",
                        uid_of(&cur.value)
                    ),
                ));
            }
        }
        if let Some(r) = &opts.precondition_rv {
            if *r != cur.rv.to_string() {
                return Err(ApiError::conflict(&def.group, &def.plural, name, &format!("Precondition failed: ResourceVersion in precondition: {r}, ResourceVersion in object meta: {}", cur.rv)));
            }
        }
        if opts.dry_run {
            return Ok(cur);
        }
        if let Some(grace) = self.pod_grace_period(def, &cur.value, opts) {
            return Ok(self.mark_pod_terminating(st, def, cur, grace));
        }
        let uid = uid_of(&cur.value);
        let policy = opts
            .propagation
            .clone()
            .unwrap_or_else(|| "Background".into());
        if policy == "Orphan" {
            self.orphan_dependents(st, &uid);
        }
        let is_ns = def.group.is_empty() && def.plural == "namespaces";
        let mut fins = finalizers(&cur.value);
        if policy == "Foreground"
            && self.has_dependents(st, &uid)
            && !fins.iter().any(|f| f == "foregroundDeletion")
        {
            fins.push("foregroundDeletion".into());
        }
        if !fins.is_empty() || is_ns {
            let mut new = cur.value.clone();
            let m = meta_mut(&mut new);
            if m.get("deletionTimestamp").is_none_or(Value::is_null) {
                m.insert("deletionTimestamp".into(), json!(now()));
                m.insert("deletionGracePeriodSeconds".into(), json!(0));
            }
            m.insert("finalizers".into(), json!(fins));
            if fins.is_empty() {
                m.remove("finalizers");
            }
            if is_ns {
                new["status"]["phase"] = json!("Terminating");
            }
            let stored = if same_content(&cur.value, &new) {
                cur
            } else {
                self.commit(st, &def.storage, new, Some(cur), EventType::Modified)
            };
            if is_ns {
                self.empty_namespace(st, name);
                return Ok(self.try_finalize_namespace(st, name).unwrap_or(stored));
            }
            if fins.iter().any(|f| f == "foregroundDeletion") {
                self.delete_dependents(st, &uid, "Foreground");
                return Ok(self.release_foreground(st, def, ns, name).unwrap_or(stored));
            }
            return Ok(stored);
        }
        let stored = self.commit(
            st,
            &def.storage,
            cur.value.clone(),
            Some(cur),
            EventType::Deleted,
        );
        self.after_delete(st, def, &stored.value);
        Ok(stored)
    }

    /// The grace period a pod deletion gets, when it must be graceful: a pod bound to a node
    /// and not finished waits for its kubelet (`None`: delete now).
    fn pod_grace_period(
        &self,
        def: &ResourceDef,
        pod: &Value,
        opts: &DeleteOptions,
    ) -> Option<i64> {
        if !self.config.graceful_pod_deletion || !def.group.is_empty() || def.plural != "pods" {
            return None;
        }
        let bound = pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_some_and(|n| !n.is_empty());
        let phase = pod.pointer("/status/phase").and_then(Value::as_str);
        if !bound || matches!(phase, Some("Succeeded" | "Failed")) {
            return None;
        }
        let grace = opts
            .grace_period
            .or_else(|| {
                pod.pointer("/spec/terminationGracePeriodSeconds")
                    .and_then(Value::as_i64)
            })
            .unwrap_or(30)
            .max(0);
        // A later deletion may shorten the grace period, never extend it.
        let current = meta(pod)["deletionGracePeriodSeconds"].as_i64();
        match current {
            _ if grace == 0 => None,
            Some(c) if c <= grace => Some(c),
            _ => Some(grace),
        }
    }

    /// Marks a pod terminating with `grace` seconds for its kubelet to stop it.
    fn mark_pod_terminating(
        &self,
        st: &mut State,
        def: &ResourceDef,
        cur: Arc<Stored>,
        grace: i64,
    ) -> Arc<Stored> {
        if meta(&cur.value)["deletionGracePeriodSeconds"].as_i64() == Some(grace) {
            return cur;
        }
        let mut new = cur.value.clone();
        let at = jiff::Timestamp::now().as_second() + grace;
        let ts = jiff::Timestamp::from_second(at)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| now());
        let m = meta_mut(&mut new);
        m.insert("deletionTimestamp".into(), json!(ts));
        m.insert("deletionGracePeriodSeconds".into(), json!(grace));
        self.commit(st, &def.storage, new, Some(cur), EventType::Modified)
    }

    /// Garbage collection and bookkeeping after an object is gone.
    fn after_delete(&self, st: &mut State, def: &ResourceDef, v: &Value) {
        let uid = uid_of(v);
        self.delete_dependents(st, &uid, "Background");
        st.dependents.remove(&uid);
        // Owners in foreground deletion may be waiting for this one.
        for owner in owner_uids(v) {
            if let Some((dk, ons, oname)) = self.find_by_uid(st, &owner) {
                let _ = self.release_foreground(st, &dk, &ons, &oname);
            }
        }
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            let group = v
                .pointer("/spec/group")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let plural = v
                .pointer("/spec/names/plural")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let key: StorageKey = (group.clone(), plural.clone());
            let objs: Vec<Arc<Stored>> = st
                .collections
                .get(&key)
                .map(|c| c.values().cloned().collect())
                .unwrap_or_default();
            for o in objs {
                self.commit(st, &key, o.value.clone(), Some(o), EventType::Deleted);
            }
            st.registry.remove_crd(&group, &plural);
        }
        if let Some(ns) = meta(v)["namespace"].as_str() {
            let ns = ns.to_string();
            let _ = self.try_finalize_namespace(st, &ns);
        }
    }

    fn find_by_uid(&self, st: &State, uid: &str) -> Option<(ResourceDef, String, String)> {
        for (k, c) in &st.collections {
            for ((ns, name), o) in c {
                if uid_of(&o.value) == uid {
                    let def = st
                        .registry
                        .all()
                        .find(|d| &d.storage == k && d.view == View::Native)?;
                    return Some(((**def).clone(), ns.clone(), name.clone()));
                }
            }
        }
        None
    }

    fn has_dependents(&self, st: &State, uid: &str) -> bool {
        st.dependents.get(uid).is_some_and(|s| !s.is_empty())
    }

    fn storage_def(st: &State, key: &StorageKey) -> Option<ResourceDef> {
        st.registry
            .all()
            .find(|d| &d.storage == key && d.view == View::Native)
            .map(|d| (**d).clone())
    }

    fn delete_dependents(&self, st: &mut State, uid: &str, policy: &str) {
        let deps: Vec<ObjRef> = st
            .dependents
            .get(uid)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        for (key, ns, name) in deps {
            if let Some(def) = Self::storage_def(st, &key) {
                let opts = DeleteOptions {
                    propagation: Some(policy.into()),
                    ..Default::default()
                };
                let _ = self.delete_locked(st, &def, &ns, &name, &opts);
            }
        }
    }

    fn orphan_dependents(&self, st: &mut State, uid: &str) {
        let deps: Vec<ObjRef> = st
            .dependents
            .remove(uid)
            .map(|s| s.into_iter().collect())
            .unwrap_or_default();
        for (key, ns, name) in deps {
            let Some(cur) = st
                .collections
                .get(&key)
                .and_then(|c| c.get(&(ns.clone(), name.clone())))
                .cloned()
            else {
                continue;
            };
            let mut new = cur.value.clone();
            if let Some(refs) = meta_mut(&mut new)
                .get_mut("ownerReferences")
                .and_then(Value::as_array_mut)
            {
                refs.retain(|r| r["uid"].as_str() != Some(uid));
            }
            self.commit(st, &key, new, Some(cur), EventType::Modified);
        }
    }

    /// Removes `foregroundDeletion` once no blocking dependent remains.
    fn release_foreground(
        &self,
        st: &mut State,
        def: &ResourceDef,
        ns: &str,
        name: &str,
    ) -> Option<Arc<Stored>> {
        let cur = st
            .collections
            .get(&def.storage)?
            .get(&(ns.to_string(), name.to_string()))?
            .clone();
        if meta(&cur.value)["deletionTimestamp"].is_null()
            || !finalizers(&cur.value)
                .iter()
                .any(|f| f == "foregroundDeletion")
        {
            return None;
        }
        let uid = uid_of(&cur.value);
        if self.has_dependents(st, &uid) {
            return None;
        }
        let mut new = cur.value.clone();
        let fins: Vec<String> = finalizers(&new)
            .into_iter()
            .filter(|f| f != "foregroundDeletion")
            .collect();
        meta_mut(&mut new).insert("finalizers".into(), json!(fins));
        if fins.is_empty() {
            meta_mut(&mut new).remove("finalizers");
            let stored = self.commit(st, &def.storage, new, Some(cur), EventType::Deleted);
            self.after_delete(st, def, &stored.value);
            Some(stored)
        } else {
            Some(self.commit(st, &def.storage, new, Some(cur), EventType::Modified))
        }
    }

    fn empty_namespace(&self, st: &mut State, ns: &str) {
        let mut victims = Vec::new();
        for (key, c) in &st.collections {
            let lower = Bound::Included((ns.to_string(), String::new()));
            for ((ons, name), _) in c.range((lower, Bound::Unbounded)) {
                if ons != ns {
                    break;
                }
                victims.push((key.clone(), name.clone()));
            }
        }
        for (key, name) in victims {
            if let Some(def) = Self::storage_def(st, &key) {
                if def.namespaced {
                    let _ = self.delete_locked(st, &def, ns, &name, &DeleteOptions::default());
                }
            }
        }
    }

    /// Removes a terminating namespace once nothing is left in it.
    fn try_finalize_namespace(&self, st: &mut State, ns: &str) -> Option<Arc<Stored>> {
        let nskey: StorageKey = (String::new(), "namespaces".into());
        let cur = st
            .collections
            .get(&nskey)?
            .get(&(String::new(), ns.to_string()))?
            .clone();
        if meta(&cur.value)["deletionTimestamp"].is_null() {
            return None;
        }
        let left = st.collections.iter().any(|(k, c)| {
            k != &nskey
                && c.range((
                    Bound::Included((ns.to_string(), String::new())),
                    Bound::Unbounded,
                ))
                .next()
                .is_some_and(|((o, _), _)| o == ns)
        });
        if left || !finalizers(&cur.value).is_empty() {
            return None;
        }
        Some(self.commit(st, &nskey, cur.value.clone(), Some(cur), EventType::Deleted))
    }

    /// Deletes every object of a collection that matches.
    pub fn delete_collection(
        &self,
        def: &ResourceDef,
        ns: Option<&str>,
        list: &ListOptions,
        opts: &DeleteOptions,
    ) -> ApiResult<Vec<Arc<Stored>>> {
        let page = self.list(def, ns, list)?;
        let mut st = self.write();
        let mut out = Vec::new();
        for o in page.items {
            let name = o
                .value
                .pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Ok(d) = self.delete_locked(&mut st, def, o.namespace(), &name, opts) {
                out.push(d);
            }
        }
        Ok(out)
    }

    /// Every stored object, CRDs first, then in resourceVersion order: a snapshot
    /// [`Store::restore`] reads back (the `--snapshot` file of the standalone server).
    pub fn dump(&self) -> Value {
        let st = self.read();
        let mut items: Vec<(&StorageKey, &Arc<Stored>)> = st
            .collections
            .iter()
            .flat_map(|(k, c)| c.values().map(move |s| (k, s)))
            .collect();
        items.sort_by_key(|(k, s)| (!is_crd_storage(k), s.rv));
        let items: Vec<Value> = items
            .into_iter()
            .map(|(k, s)| json!({"group": k.0, "resource": k.1, "object": s.value}))
            .collect();
        json!({"kind": "SimulatorSnapshot", "resourceVersion": st.rv.to_string(), "items": items})
    }

    /// Loads a [`Store::dump`]: objects keep their uid, metadata and content (resourceVersions
    /// are renumbered; watchers see them as added or modified), CRDs register their resources
    /// before their objects load. Refuses a snapshot naming a resource the server does not
    /// serve, before changing anything.
    pub fn restore(&self, snapshot: &Value) -> Result<usize, String> {
        let items = snapshot["items"]
            .as_array()
            .filter(|_| snapshot["kind"] == "SimulatorSnapshot")
            .ok_or("not a simulator snapshot (kind SimulatorSnapshot with items)")?;
        let mut parsed = Vec::with_capacity(items.len());
        let mut known: HashSet<StorageKey> = HashSet::new();
        {
            let st = self.read();
            for def in st
                .registry
                .group_versions()
                .iter()
                .flat_map(|(g, versions)| {
                    versions.iter().flat_map(|v| st.registry.resources_of(g, v))
                })
            {
                known.insert(def.storage.clone());
            }
        }
        for (i, item) in items.iter().enumerate() {
            let storage: StorageKey = (
                item["group"].as_str().unwrap_or_default().to_string(),
                item["resource"].as_str().unwrap_or_default().to_string(),
            );
            let object = &item["object"];
            if meta(object)["name"].as_str().is_none_or(str::is_empty) {
                return Err(format!("item {i}: object without metadata.name"));
            }
            if is_crd_storage(&storage) {
                let group = object.pointer("/spec/group").and_then(Value::as_str);
                let plural = object.pointer("/spec/names/plural").and_then(Value::as_str);
                if let (Some(g), Some(p)) = (group, plural) {
                    known.insert((g.to_string(), p.to_string()));
                }
            } else if !known.contains(&storage) {
                return Err(format!(
                    "item {i}: resource {}/{} is not served (its CRD is missing)",
                    storage.0, storage.1
                ));
            }
            parsed.push((storage, object.clone()));
        }
        let mut st = self.write();
        for (storage, object) in parsed {
            let key = (
                meta(&object)["namespace"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                meta(&object)["name"].as_str().unwrap_or("").to_string(),
            );
            let prev = st
                .collections
                .get(&storage)
                .and_then(|c| c.get(&key))
                .cloned();
            let type_ = if prev.is_some() {
                EventType::Modified
            } else {
                EventType::Added
            };
            let stored = self.commit(&mut st, &storage, object, prev, type_);
            if is_crd_storage(&storage) {
                st.registry.register_crd(&stored.value);
            }
        }
        Ok(items.len())
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

fn is_crd_storage(k: &StorageKey) -> bool {
    k.0 == "apiextensions.k8s.io" && k.1 == "customresourcedefinitions"
}

fn ns_key(def: &ResourceDef, ns: &str) -> String {
    if def.namespaced {
        ns.to_string()
    } else {
        String::new()
    }
}

fn encode_continue(rv: u64, key: &ObjKey) -> String {
    hex::encode(format!("{rv}\u{1}{}\u{1}{}", key.0, key.1))
}

fn decode_continue(tok: &str) -> ApiResult<(u64, Option<ObjKey>)> {
    let bad = || ApiError::bad_request("continue key is not valid");
    let raw = String::from_utf8(hex::decode(tok).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = raw.split('\u{1}');
    let rv = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    let ns = parts.next().ok_or_else(bad)?.to_string();
    let name = parts.next().ok_or_else(bad)?.to_string();
    Ok((rv, Some((ns, name))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(&json!({"containers": [{}]})), "BestEffort");
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})),
            "Burstable"
        );
        assert_eq!(
            qos_class(
                &json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})
            ),
            "Guaranteed"
        );
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
