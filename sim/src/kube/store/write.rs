//! Creation: the checks every write shares (namespace, schema), create with defaulting and
//! managed fields, and the side effects of writes to special resources.

use super::defaults::{default_builtin, normalize};
use super::meta::{meta, meta_mut, now, random_suffix, random_uid};
use super::views::from_view;
use super::watch::EventType;
use super::{ns_key, State, Store, Stored};
use crate::kube::apply::{self, Ctx, Part};
use crate::kube::error::{ApiError, ApiResult};
use crate::kube::openapi;
use crate::kube::resources::{ResourceDef, StorageKey, View};
use crate::kube::schema::errors::FieldError;
use crate::kube::schema::{Compiled, FieldValidation, FieldsOrigin, Who};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};

/// Total size of `metadata.annotations` kube-apiserver accepts (keys and values).
pub const MAX_ANNOTATIONS_BYTES: usize = 256 * 1024;

/// Total size of a ConfigMap's `data` and `binaryData`, or of a Secret's `data` (decoded).
pub const MAX_CONFIG_BYTES: usize = 1024 * 1024;

/// The bytes a base64 text decodes to.
fn base64_len(s: &str) -> usize {
    let pad = s.bytes().rev().take_while(|b| *b == b'=').count();
    (s.len() / 4 * 3).saturating_sub(pad)
}

/// kube-apiserver's size checks of ConfigMap and Secret contents (`[]` and `data` are the
/// fields it names).
fn config_size_errors(def: &ResourceDef, v: &Value) -> Option<FieldError> {
    if !def.group.is_empty() {
        return None;
    }
    let strs = |k: &str, decode: bool| -> usize {
        v[k].as_object().map_or(0, |m| {
            m.values()
                .filter_map(Value::as_str)
                .map(|s| if decode { base64_len(s) } else { s.len() })
                .sum()
        })
    };
    match def.kind.as_str() {
        "ConfigMap" if strs("data", false) + strs("binaryData", true) > MAX_CONFIG_BYTES => {
            Some(FieldError::too_long("[]", MAX_CONFIG_BYTES as u64))
        }
        "Secret" if strs("data", true) > MAX_CONFIG_BYTES => {
            Some(FieldError::too_long("data", MAX_CONFIG_BYTES as u64))
        }
        _ => None,
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
    /// `fieldValidation`: what unknown fields get.
    pub field_validation: FieldValidation,
    /// Warnings for the client (`Warning: 299` headers), shared by the clones of these
    /// options that one request's write path makes.
    pub warnings: Arc<Mutex<Vec<String>>>,
}

impl WriteOptions {
    /// Records a warning for the client.
    pub fn warn(&self, text: String) {
        let mut w = self.warnings.lock().unwrap_or_else(|e| e.into_inner());
        if !w.contains(&text) {
            w.push(text);
        }
    }

    /// The warnings recorded so far.
    pub fn take_warnings(&self) -> Vec<String> {
        std::mem::take(&mut *self.warnings.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The object an update or patch addresses. One value instead of four arguments, as every
/// step of the update path (update, patch, apply) needs all of them.
#[derive(Debug, Clone, Copy)]
pub struct WriteTarget<'a> {
    /// Its resource, in the version the request body is written in.
    pub def: &'a ResourceDef,
    /// Its namespace (ignored for cluster-scoped resources).
    pub ns: &'a str,
    /// Its name.
    pub name: &'a str,
    /// The subresource written: `Some("status")` writes the status only.
    pub sub: Option<&'a str>,
}

impl<'a> WriteTarget<'a> {
    /// The object itself (no subresource).
    pub fn object(def: &'a ResourceDef, ns: &'a str, name: &'a str) -> Self {
        WriteTarget {
            def,
            ns,
            name,
            sub: None,
        }
    }

    /// The same object with subresource `sub`.
    pub fn with_sub(self, sub: Option<&'a str>) -> Self {
        WriteTarget { sub, ..self }
    }
}

impl Store {
    /// New objects need an existing namespace that is not terminating.
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

    /// Decodes an object in its stored form as its schema says: unknown fields pruned
    /// (refused under `fieldValidation=Strict`, warned under `Warn`); for custom resources
    /// also `null`s of non-nullable fields dropped and defaults applied at every depth.
    /// Built-in kinds are checked against their upstream OpenAPI definitions.
    pub(super) fn decode_object(
        def: &ResourceDef,
        v: &mut Value,
        opts: &WriteOptions,
    ) -> ApiResult<()> {
        let warnings = if let Some(s) = &def.schema {
            s.decode(v, opts.field_validation, &def.kind, &def.version)?
        } else if let Some(s) = openapi::stored_schema(def) {
            let who = Who {
                kind: &def.kind,
                version: &def.version,
                ..Who::default()
            };
            s.prune_fields(v, opts.field_validation, FieldsOrigin::Body, &who)?
        } else {
            Vec::new()
        };
        for w in warnings {
            opts.warn(w);
        }
        Ok(())
    }

    /// The unknown fields of a patched object (`Patch`, in the request's version) or of a
    /// server-side apply configuration (`Apply`), answered as that path does. What is left
    /// goes through [`Store::decode_object`] like any write.
    pub(super) fn check_patch_fields(
        def: &ResourceDef,
        ns: &str,
        name: &str,
        v: &mut Value,
        origin: FieldsOrigin,
        opts: &WriteOptions,
    ) -> ApiResult<()> {
        let Some(s) = openapi::request_schema(def) else {
            return Ok(());
        };
        let gvk = format!("{}/{}, Kind={}", def.group, def.version, def.kind);
        let who = Who {
            kind: &def.kind,
            version: &def.version,
            gvk: &gvk,
            ns: if def.namespaced { ns } else { "" },
            name,
        };
        for w in s.prune_fields(v, opts.field_validation, origin, &who)? {
            opts.warn(w);
        }
        Ok(())
    }

    /// Admission's validation of a write (`old`: the stored object on update): metadata
    /// (annotations size), ConfigMap and Secret sizes, the schemas of a CRD (they must
    /// compile), and a custom resource's schema and rules.
    pub(super) fn validate_write(
        def: &ResourceDef,
        v: &Value,
        old: Option<&Value>,
    ) -> ApiResult<()> {
        let name = meta(v)["name"].as_str().unwrap_or_default();
        let mut errs = Vec::new();
        if let Some(a) = meta(v)["annotations"].as_object() {
            let size: usize = a
                .iter()
                .map(|(k, x)| k.len() + x.as_str().map_or(0, str::len))
                .sum();
            if size > MAX_ANNOTATIONS_BYTES {
                errs.push(FieldError::too_long(
                    "metadata.annotations",
                    MAX_ANNOTATIONS_BYTES as u64,
                ));
            }
        }
        errs.extend(config_size_errors(def, v));
        if def.group == "apiextensions.k8s.io" && def.plural == "customresourcedefinitions" {
            let versions = v.pointer("/spec/versions").and_then(Value::as_array);
            for (i, ver) in versions.into_iter().flatten().enumerate() {
                if let Some(s) = ver.pointer("/schema/openAPIV3Schema") {
                    let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
                    if let Err(e) = Compiled::new(s, &path) {
                        errs.extend(e);
                    }
                }
            }
        }
        if let Some(s) = &def.schema {
            errs = s.validate(v, old, errs);
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid_fields(&def.group, &def.kind, name, &errs))
        }
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

    /// Creates under the lock (`applied`: the apply configuration and `force`, when server-side
    /// apply creates the object).
    pub(super) fn create_locked(
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
        Self::decode_object(def, &mut v, opts)?;
        Self::validate_write(def, &v, None)?;
        // Before the dry-run return: a dry run is refused as the write would be.
        super::admission::admit(st, def, &mut v, None)?;
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
        let stored = self.commit_checked(st, &def.storage, v, None, EventType::Added)?;
        self.after_write(st, def, &stored.value);
        Ok(stored)
    }

    /// Side effects of writes to special resources (CRDs register resources, namespaces get
    /// their default ServiceAccount).
    pub(super) fn after_write(&self, st: &mut State, def: &ResourceDef, v: &Value) {
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
}
