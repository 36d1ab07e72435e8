//! Garbage collection: dependents of deleted owners (background, foreground, orphan), CRDs
//! taking their objects with them, and namespaces finalized once empty.

use super::delete::DeleteOptions;
use super::meta::{finalizers, meta, meta_mut, owner_uids, uid_of};
use super::watch::EventType;
use super::{ObjRef, State, Store, Stored};
use crate::kube::resources::{ResourceDef, StorageKey, View};
use serde_json::{json, Value};
use std::ops::Bound;
use std::sync::Arc;

impl Store {
    /// Garbage collection and bookkeeping after an object is gone.
    pub(super) fn after_delete(&self, st: &mut State, def: &ResourceDef, v: &Value) {
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

    /// The object with a uid, and the native resource storing it.
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

    /// Whether any object names `uid` as its owner.
    pub(super) fn has_dependents(&self, st: &State, uid: &str) -> bool {
        st.dependents.get(uid).is_some_and(|s| !s.is_empty())
    }

    /// The native resource of a collection.
    fn storage_def(st: &State, key: &StorageKey) -> Option<ResourceDef> {
        st.registry
            .all()
            .find(|d| &d.storage == key && d.view == View::Native)
            .map(|d| (**d).clone())
    }

    /// Deletes the dependents of `uid` with propagation `policy`.
    pub(super) fn delete_dependents(&self, st: &mut State, uid: &str, policy: &str) {
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

    /// Removes the owner reference to `uid` from its dependents (Orphan propagation).
    pub(super) fn orphan_dependents(&self, st: &mut State, uid: &str) {
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
    pub(super) fn release_foreground(
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

    /// Deletes every namespaced object of a terminating namespace.
    pub(super) fn empty_namespace(&self, st: &mut State, ns: &str) {
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
    pub(super) fn try_finalize_namespace(&self, st: &mut State, ns: &str) -> Option<Arc<Stored>> {
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
}
