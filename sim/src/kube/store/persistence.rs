//! Persistence: the snapshot the standalone server writes on exit and loads on start.

use super::meta::meta;
use super::watch::EventType;
use super::{Store, Stored};
use crate::kube::resources::StorageKey;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::Arc;

impl Store {
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
}

/// Whether a collection holds CRDs (loaded first: they register the other resources).
fn is_crd_storage(k: &StorageKey) -> bool {
    k.0 == "apiextensions.k8s.io" && k.1 == "customresourcedefinitions"
}
