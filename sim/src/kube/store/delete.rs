//! Deletion requests: preconditions, propagation policies, finalizers, graceful pod deletion and
//! delete-collection. What happens to dependents afterwards is in [`super::gc`].

use super::list::ListOptions;
use super::meta::{finalizers, meta, meta_mut, now, same_content, uid_of};
use super::watch::EventType;
use super::{ns_key, State, Store, Stored};
use crate::kube::error::{ApiError, ApiResult};
use crate::kube::resources::ResourceDef;
use serde_json::{json, Value};
use std::sync::Arc;

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

impl Store {
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

    /// Deletes under the lock (also how garbage collection deletes dependents).
    pub(super) fn delete_locked(
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
}
