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

/// A CRD version's schema, compiled.
#[derive(Debug)]
pub struct Compiled {
    root: Node,
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
            Ok(Compiled { root })
        } else {
            Err(errs)
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
        let unknown = decode::prune(&self.root, obj);
        let texts: Vec<String> = unknown
            .iter()
            .map(|u| format!("unknown field \"{u}\""))
            .collect();
        let warnings = match fv {
            FieldValidation::Strict if !texts.is_empty() => {
                return Err(ApiError::bad_request(format!(
                    "{kind} in version \"{version}\" cannot be handled as a {kind}: strict decoding error: {}",
                    texts.join(", ")
                )))
            }
            FieldValidation::Warn => texts,
            _ => Vec::new(),
        };
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
