//! Updates, patches and server-side apply of existing objects, down to the commit that keeps
//! a no-op write from changing the resourceVersion.

use super::defaults::normalize;
use super::meta::{finalizers, meta, meta_mut, now, same_content, spec_part, uid_of};
use super::views::{from_view, to_view};
use super::watch::EventType;
use super::write::{WriteOptions, WriteTarget};
use super::{ns_key, State, Store, Stored};
use crate::kube::apply::{self, Ctx, Part};
use crate::kube::error::{ApiError, ApiResult};
use crate::kube::patch::{apply_patch, PatchType};
use crate::kube::resources::ResourceDef;
use crate::kube::schema::FieldsOrigin;
use serde_json::{json, Value};
use std::sync::Arc;

impl Store {
    /// Replaces an object (`target.sub`: `status` to write status only).
    pub fn update(
        &self,
        target: WriteTarget<'_>,
        body: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let mut st = self.write();
        let v = from_view(target.def, body);
        self.update_locked(&mut st, target, v, opts)
    }

    /// The update path every replacement takes (update, patch, apply): preconditions, the
    /// parts the request may change, generation, validation and managed fields.
    fn update_locked(
        &self,
        st: &mut State,
        target: WriteTarget<'_>,
        mut v: Value,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let WriteTarget { def, ns, name, sub } = target;
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
        Self::decode_object(def, &mut new, opts)?;
        if part != Part::Status && spec_part(&new) != spec_part(&cur.value) {
            let g = meta(&cur.value)["generation"].as_i64().unwrap_or(1);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        Self::validate_write(def, &new, Some(&cur.value))?;
        super::admission::admit(st, def, &mut new, Some(&cur.value))?;
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
        let stored = self.commit_checked(st, &def.storage, new, Some(cur), EventType::Modified)?;
        self.after_write(st, def, &stored.value);
        Ok(stored)
    }

    /// Patches an object (merge, JSON, strategic, or server-side apply); `target.sub`:
    /// `status` to patch status only.
    pub fn patch(
        &self,
        target: WriteTarget<'_>,
        kind: PatchType,
        patch: &Value,
        opts: &WriteOptions,
    ) -> ApiResult<Arc<Stored>> {
        let WriteTarget { def, ns, name, sub } = target;
        let mut st = self.write();
        let key = (ns_key(def, ns), name.to_string());
        let cur = st
            .collections
            .get(&def.storage)
            .and_then(|c| c.get(&key))
            .cloned();
        if kind == PatchType::Strategic && def.custom {
            return Err(ApiError::unsupported_media_type(
                "application/strategic-merge-patch+json",
                &super::super::patch::CUSTOM_PATCH_TYPES,
            ));
        }
        if kind == PatchType::Apply {
            let manager = opts
                .field_manager
                .clone()
                .ok_or_else(|| ApiError::bad_request("PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"))?;
            let mut config = patch.clone();
            Self::check_patch_fields(def, ns, name, &mut config, FieldsOrigin::Apply, opts)?;
            let body = from_view(def, config);
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
            return self.update_after_patch(&mut st, target, &cur, merged, opts, true);
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
        Self::check_patch_fields(def, ns, name, &mut patched, FieldsOrigin::Patch, opts)?;
        // A patch carrying no resourceVersion is unconditional.
        if meta(patch)["resourceVersion"].is_null() && kind != PatchType::Json {
            meta_mut(&mut patched).insert("resourceVersion".into(), json!(cur.rv.to_string()));
        }
        let new = from_view(def, patched);
        self.update_after_patch(&mut st, target, &cur, new, opts, false)
    }

    /// Runs a patched object through the update path (`applied`: server-side apply, whose
    /// managed fields are kept as computed).
    fn update_after_patch(
        &self,
        st: &mut State,
        target: WriteTarget<'_>,
        cur: &Arc<Stored>,
        mut new: Value,
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
            return self.update_locked_keep_fields(st, target, out_new, &o, mf);
        }
        self.update_locked(st, target, new, opts)
    }

    /// The update path with `mf` as the resulting managed fields (server-side apply).
    fn update_locked_keep_fields(
        &self,
        st: &mut State,
        target: WriteTarget<'_>,
        new: Value,
        opts: &WriteOptions,
        mf: Value,
    ) -> ApiResult<Arc<Stored>> {
        let WriteTarget { def, ns, name, .. } = target;
        // Run the common update path, then put back the fields apply computed.
        let dry = WriteOptions {
            dry_run: true,
            ..opts.clone()
        };
        let staged = self.update_locked(st, target, new, &dry)?;
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
}
