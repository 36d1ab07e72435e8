//! In-process access to the simulated API server's store for the cluster's controllers: the
//! same semantics as over HTTP (resourceVersions, watch events, subresources), without the
//! round trip. Also the Event recorder every component shares.

use crate::kube::patch::PatchType;
use crate::kube::resources::ResourceDef;
use crate::kube::{ApiResult, DeleteOptions, Store, Stored, WriteOptions, WriteTarget};
use serde_json::{json, Value};
use sha1::{Digest, Sha1};
use std::collections::HashMap;
use std::sync::Arc;

use super::model::PodInfo;

/// The store and the definitions the cluster's loops use.
#[derive(Clone)]
pub(crate) struct Api {
    pub store: Arc<Store>,
    pub pods: Arc<ResourceDef>,
    pub nodes: Arc<ResourceDef>,
    pub events: Arc<ResourceDef>,
    pub deployments: Arc<ResourceDef>,
    pub replicasets: Arc<ResourceDef>,
    pub daemonsets: Arc<ResourceDef>,
    pub pdbs: Arc<ResourceDef>,
    pub jobs: Arc<ResourceDef>,
    pub namespaces: Arc<ResourceDef>,
    pub leases: Arc<ResourceDef>,
}

/// A stored pod and its parsed form.
pub(crate) type ParsedPod = (Arc<Stored>, Arc<PodInfo>);

/// Pods parsed by an earlier pass of a loop, by resourceVersion (unique store-wide, so an
/// unchanged pod is not parsed again). Every loop re-reads all pods on each change; parsing
/// 10,000 pods each time was most of the simulated cluster's CPU.
#[derive(Default)]
pub(crate) struct PodCache {
    by_rv: HashMap<u64, Arc<PodInfo>>,
}

fn def(store: &Store, group: &str, version: &str, plural: &str) -> Arc<ResourceDef> {
    store
        .def(group, version, plural)
        .unwrap_or_else(|| panic!("built-in resource {group}/{version}/{plural}"))
}

impl Api {
    pub fn new(store: Arc<Store>) -> Api {
        Api {
            pods: def(&store, "", "v1", "pods"),
            nodes: def(&store, "", "v1", "nodes"),
            events: def(&store, "", "v1", "events"),
            deployments: def(&store, "apps", "v1", "deployments"),
            replicasets: def(&store, "apps", "v1", "replicasets"),
            daemonsets: def(&store, "apps", "v1", "daemonsets"),
            pdbs: def(&store, "policy", "v1", "poddisruptionbudgets"),
            jobs: def(&store, "batch", "v1", "jobs"),
            namespaces: def(&store, "", "v1", "namespaces"),
            leases: def(&store, "coordination.k8s.io", "v1", "leases"),
            store,
        }
    }

    /// Every object of a collection.
    pub fn all(&self, def: &ResourceDef) -> Vec<Arc<Stored>> {
        self.store
            .with_objects(&def.storage, None, |it| it.cloned().collect())
    }

    /// Every pod with its parsed form, from `cache` where the pod has not changed.
    pub fn pod_infos(&self, cache: &mut PodCache) -> Vec<ParsedPod> {
        let pods = self.all(&self.pods);
        let mut next = HashMap::with_capacity(pods.len());
        let out = pods
            .into_iter()
            .map(|p| {
                let info = cache
                    .by_rv
                    .get(&p.rv)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(PodInfo::from_value(&p.value)));
                next.insert(p.rv, Arc::clone(&info));
                (p, info)
            })
            .collect();
        cache.by_rv = next;
        out
    }

    /// Every Node, parsed.
    pub fn node_infos(&self) -> Vec<super::model::NodeInfo> {
        self.all(&self.nodes)
            .iter()
            .map(|n| super::model::NodeInfo::from_value(&n.value))
            .collect()
    }

    /// One object, if it exists.
    pub fn get(&self, def: &ResourceDef, ns: &str, name: &str) -> Option<Arc<Stored>> {
        self.store.get(def, ns, name).ok()
    }

    fn opts(manager: &str) -> WriteOptions {
        WriteOptions {
            field_manager: Some(manager.to_string()),
            ..Default::default()
        }
    }

    /// JSON merge patch (`sub`: `status`).
    pub fn merge(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        patch: &Value,
        sub: Option<&str>,
        manager: &str,
    ) -> ApiResult<Arc<Stored>> {
        self.store.patch(
            WriteTarget::object(def, ns, name).with_sub(sub),
            PatchType::Merge,
            patch,
            &Self::opts(manager),
        )
    }

    /// Creates an object.
    pub fn create(
        &self,
        def: &ResourceDef,
        ns: &str,
        body: Value,
        manager: &str,
    ) -> ApiResult<Arc<Stored>> {
        self.store.create(def, ns, body, &Self::opts(manager))
    }

    /// Deletes an object (`grace`: the grace period, for pods).
    pub fn delete(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        grace: Option<i64>,
    ) -> ApiResult<Arc<Stored>> {
        self.store.delete(
            def,
            ns,
            name,
            &DeleteOptions {
                grace_period: grace,
                ..Default::default()
            },
        )
    }

    /// Deletes an object with explicit options (propagation, preconditions).
    pub fn delete_with(
        &self,
        def: &ResourceDef,
        ns: &str,
        name: &str,
        opts: &DeleteOptions,
    ) -> ApiResult<Arc<Stored>> {
        self.store.delete(def, ns, name, opts)
    }

    /// Records a core/v1 Event about `obj`, aggregated like client-go's recorder: the same
    /// object, reason and message bump `count` and `lastTimestamp` of one Event.
    pub fn event(
        &self,
        obj: &Value,
        type_: &str,
        reason: &str,
        message: &str,
        component: &str,
        host: Option<&str>,
    ) {
        let m = &obj["metadata"];
        let name = m["name"].as_str().unwrap_or_default();
        let uid = m["uid"].as_str().unwrap_or_default();
        let ns = m["namespace"]
            .as_str()
            .filter(|n| !n.is_empty())
            .unwrap_or("default");
        let digest = Sha1::digest(format!("{uid}\u{1}{reason}\u{1}{message}\u{1}{component}"));
        let ev_name = format!("{name}.{}", hex::encode(&digest[..8]));
        let now = crate::kube::store::now();
        if let Some(cur) = self.get(&self.events, ns, &ev_name) {
            let count = cur.value["count"].as_i64().unwrap_or(1) + 1;
            let _ = self.merge(
                &self.events,
                ns,
                &ev_name,
                &json!({"count": count, "lastTimestamp": now}),
                None,
                component,
            );
            return;
        }
        let mut involved = json!({
            "kind": obj["kind"],
            "apiVersion": obj["apiVersion"],
            "name": name,
            "uid": uid,
            "resourceVersion": m["resourceVersion"],
        });
        if let Some(n) = m["namespace"].as_str().filter(|n| !n.is_empty()) {
            involved["namespace"] = json!(n);
        }
        let mut source = json!({"component": component});
        if let Some(h) = host {
            source["host"] = json!(h);
        }
        let body = json!({
            "metadata": {"name": ev_name, "namespace": ns},
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "type": type_,
            "source": source,
            "count": 1,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "reportingComponent": component,
            "reportingInstance": host.unwrap_or(component),
        });
        let _ = self.create(&self.events, ns, body, component);
    }
}

/// `metadata.name` of a stored object.
pub(crate) fn name_of(v: &Value) -> &str {
    v.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `metadata.namespace` of a stored object.
pub(crate) fn ns_of(v: &Value) -> &str {
    v.pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// `metadata.uid` of a stored object.
pub(crate) fn uid_of(v: &Value) -> &str {
    v.pointer("/metadata/uid")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// UID of the controller owner of an object, if any.
pub(crate) fn controller_uid(v: &Value) -> Option<&str> {
    v.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?
        .iter()
        .find(|o| o["controller"] == json!(true))
        .and_then(|o| o["uid"].as_str())
}

/// An ownerReference making `owner` the controller of a dependent.
pub(crate) fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": name_of(owner),
        "uid": uid_of(owner),
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// A short stable hash (hex) of a JSON value.
pub(crate) fn short_hash(v: &Value) -> String {
    let d = Sha1::digest(v.to_string());
    // Kubernetes' pod-template-hash alphabet avoids vowels; hex digits have none but 'a','e'.
    hex::encode(&d[..5])
        .chars()
        .map(|c| match c {
            'a' => 'x',
            'e' => 'z',
            c => c,
        })
        .collect()
}
