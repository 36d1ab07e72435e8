//! Admission of custom resources against their CRD's structural schema, as kube-apiserver 1.32
//! does it: decoding (pruning of unknown fields, `null`s, defaults at every depth), the
//! OpenAPI checks, the `x-kubernetes-list-type` invariants and the `x-kubernetes-validations`
//! CEL rules, with kube-apiserver's error texts.
//!
//! A schema is compiled once per CRD version ([`Compiled::new`], at CRD registration): a bad
//! `pattern` or a rule that does not parse refuses the CRD.
//!
//! - `node`: the compiled schema node,
//! - `decode`: pruning, nulls and defaults,
//! - `validate`: the OpenAPI keywords,
//! - `listtype`: `set` and `map` list invariants and the correlation of list items,
//! - `cel`: the rules,
//! - `errors`: field errors and Go's value printing.
//!
//! Known differences from kube-apiserver 1.32: no CEL type checking (rules are only parsed, so a
//! type error shows at evaluation as `no such overload`) and no cost budget; a rule's compile
//! error names the rule, not Go's `%#v` of it, and carries cel-rust's parser text; ratcheting
//! (an update leaves a subtree equal to its old value) skips the OpenAPI checks and the
//! non-transition rules there without reporting their failures as warnings; formats other than
//! `date-time`, `int32` and `int64` are not checked; object metadata is not validated beyond the
//! annotations' size; a Go map's random order is the sorted order here.

pub mod cel;
pub mod decode;
pub mod errors;
pub mod listtype;
pub mod node;
pub mod validate;

use super::error::ApiError;
use errors::{BadValue, FieldError};
use node::Node;
use serde_json::Value;

/// `fieldValidation`: what to do with unknown fields.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FieldValidation {
    /// Prune them silently.
    Ignore,
    /// Prune them and answer a `Warning` header per field (the server's default).
    #[default]
    Warn,
    /// Refuse the request (400).
    Strict,
}

impl FieldValidation {
    /// Parses the query parameter (absent: `Warn`).
    pub fn parse(s: Option<&str>) -> Result<Self, ApiError> {
        match s {
            None | Some("") | Some("Warn") => Ok(FieldValidation::Warn),
            Some("Ignore") => Ok(FieldValidation::Ignore),
            Some("Strict") => Ok(FieldValidation::Strict),
            Some(other) => Err(ApiError::bad_request(format!(
                "fieldValidation {other:?} is invalid: valid values are Ignore, Warn and Strict"
            ))),
        }
    }
}

/// A CRD version's schema (or a built-in kind's, expanded from its OpenAPI definitions),
/// compiled.
#[derive(Debug)]
pub struct Compiled {
    root: Node,
    /// The schema it was compiled from (CRDs: served in the OpenAPI documents).
    source: Value,
    /// Unique in the process: identifies this compilation (OpenAPI document caches).
    id: u64,
}

/// Where the object whose unknown fields are checked comes from: each path answers them in
/// its own form, as kube-apiserver does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldsOrigin {
    /// A create or update body: 400 `strict decoding error` under `Strict`.
    Body,
    /// The result of a JSON, merge or strategic merge patch: 422 on `patch` under `Strict`.
    Patch,
    /// A server-side apply configuration: refused (500) whatever the directive, as the
    /// typed conversion of the patch fails.
    Apply,
}

/// What the errors of [`Compiled::prune_fields`] name.
#[derive(Debug, Clone, Copy, Default)]
pub struct Who<'a> {
    /// Kind (`Deployment`).
    pub kind: &'a str,
    /// Version of the request (`v1`).
    pub version: &'a str,
    /// The GVK as Go prints it (`apps/v1, Kind=Deployment`), for apply.
    pub gvk: &'a str,
    /// Namespace of the object, for apply.
    pub ns: &'a str,
    /// Name of the object, for apply.
    pub name: &'a str,
}

/// The text of the notice kube-apiserver appends when blocking errors kept the rules from
/// running.
pub const RULES_NOT_CHECKED: &str = "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation";

impl Compiled {
    /// Compiles an `openAPIV3Schema`; `path` is where it sits in the CRD
    /// (`spec.versions[0].schema.openAPIV3Schema`), for the errors.
    pub fn new(schema: &Value, path: &str) -> Result<Compiled, Vec<FieldError>> {
        let mut errs = Vec::new();
        let root = Node::parse(schema, path, &mut errs);
        if errs.is_empty() {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            Ok(Compiled {
                root,
                source: schema.clone(),
                id: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            })
        } else {
            Err(errs)
        }
    }

    /// The schema this was compiled from.
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// This compilation's identity: two `Compiled` values never share one.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Prunes the fields the schema does not know and answers them as `fv` and `origin` say:
    /// the warnings to send (`Warn`), nothing (`Ignore`), or the refusal (`Strict`, and any
    /// unknown field of an apply configuration). `kind`, `version` and `object` (the object's
    /// namespace/name, or the GVK and name for apply) word the errors.
    pub fn prune_fields(
        &self,
        obj: &mut Value,
        fv: FieldValidation,
        origin: FieldsOrigin,
        who: &Who<'_>,
    ) -> Result<Vec<String>, ApiError> {
        let before = (origin == FieldsOrigin::Patch && fv == FieldValidation::Strict)
            .then(|| obj.to_string());
        let unknown = decode::prune(&self.root, obj);
        if unknown.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field \"{u}\""))
            .collect();
        if origin == FieldsOrigin::Apply {
            let errs: Vec<String> = unknown
                .iter()
                .map(|u| format!(".{u}: field not declared in schema"))
                .collect();
            return Err(ApiError::typed_patch(who.gvk, who.ns, who.name, &errs));
        }
        match fv {
            FieldValidation::Strict => Err(match (origin, before) {
                (FieldsOrigin::Patch, Some(patched)) => ApiError::strict_patch(
                    &patched,
                    &format!("strict decoding error: {}", texts.join(", ")),
                ),
                _ => ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    texts.join(", "),
                    kind = who.kind,
                    version = who.version,
                )),
            }),
            FieldValidation::Warn => Ok(texts),
            FieldValidation::Ignore => Ok(Vec::new()),
        }
    }

    /// Whether the schema has `x-kubernetes-validations` rules.
    pub fn has_rules(&self) -> bool {
        self.root.has_rules
    }

    /// Decodes a request's object: prunes unknown fields (refused with 400 under `Strict`),
    /// drops `null`s of non-nullable fields and applies defaults. Returns the warnings.
    pub fn decode(
        &self,
        obj: &mut Value,
        fv: FieldValidation,
        kind: &str,
        version: &str,
    ) -> Result<Vec<String>, ApiError> {
        let who = Who {
            kind,
            version,
            ..Who::default()
        };
        let warnings = self.prune_fields(obj, fv, FieldsOrigin::Body, &who)?;
        decode::default(&self.root, obj);
        Ok(warnings)
    }

    /// Validates a decoded object (`old`: the stored one, on update), after the metadata
    /// errors `errs` already found: OpenAPI, list types, then the rules unless a blocking
    /// error keeps them from running.
    pub fn validate(
        &self,
        new: &Value,
        old: Option<&Value>,
        mut errs: Vec<FieldError>,
    ) -> Vec<FieldError> {
        validate::check_root(&self.root, new, old, &mut errs);
        let lt = listtype::check(&self.root, new);
        if !lt.is_empty() && old.is_none_or(|o| listtype::check(&self.root, o).is_empty()) {
            errs.extend(lt);
        }
        if self.root.has_rules {
            if errs.iter().any(|e| e.kind.blocking()) {
                errs.push(FieldError::invalid(
                    "<nil>",
                    BadValue::Null,
                    RULES_NOT_CHECKED,
                ));
            } else {
                cel::validate(&self.root, new, old, &mut errs);
            }
        }
        errs
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn compiled() -> Compiled {
        let s = json!({"type": "object", "properties": {"spec": {"type": "object",
            "x-kubernetes-validations": [{"rule": "self.n >= 0", "message": "n"}],
            "properties": {"n": {"type": "integer", "default": 1}, "e": {"type": "string", "enum": ["a"]}}}}});
        match Compiled::new(&s, "") {
            Ok(c) => c,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[test]
    fn decode_prunes_warns_and_defaults() {
        let c = compiled();
        let mut o = json!({"apiVersion": "g/v1", "kind": "K", "metadata": {"name": "a"}, "spec": {"foo": 1}});
        let w = c.decode(&mut o, FieldValidation::Warn, "K", "v1");
        assert_eq!(w.ok(), Some(vec!["unknown field \"spec.foo\"".to_string()]));
        assert_eq!(o["spec"], json!({"n": 1}));
        let mut o = json!({"spec": {"foo": 1}});
        let e = c.decode(&mut o, FieldValidation::Strict, "K", "v1").err();
        assert_eq!(
            e.map(|e| e.message),
            Some("K in version \"v1\" cannot be handled as a K: strict decoding error: unknown field \"spec.foo\"".into())
        );
        let mut o = json!({"spec": {"foo": 1}});
        assert_eq!(
            c.decode(&mut o, FieldValidation::Ignore, "K", "v1").ok(),
            Some(vec![])
        );
    }

    #[test]
    fn blocking_errors_keep_the_rules_from_running() {
        let c = compiled();
        let errs = c.validate(&json!({"spec": {"n": -1, "e": "b"}}), None, vec![]);
        let texts: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            texts,
            [
                "spec.e: Unsupported value: \"b\": supported values: \"a\"".to_string(),
                format!("<nil>: Invalid value: \"null\": {RULES_NOT_CHECKED}")
            ]
        );
        let errs = c.validate(&json!({"spec": {"n": -1}}), None, vec![]);
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].to_string(), "spec: Invalid value: \"object\": n");
    }

    #[test]
    fn bad_patterns_refuse_the_schema() {
        let e = Compiled::new(
            &json!({"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}}),
            "p",
        )
        .err()
        .unwrap_or_default();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].field, "p.properties[a].pattern");
    }
}
