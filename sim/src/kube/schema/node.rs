//! The compiled schema node: one `openAPIV3Schema` (sub)tree parsed once, at CRD registration,
//! with its patterns and CEL rules compiled.

use super::cel::{compile_rule, Rule};
use super::errors::{BadValue, FieldError};
use regex::Regex;
use serde_json::Value;
use std::collections::BTreeMap;

/// What `additionalProperties` allows.
#[derive(Debug, Default)]
pub enum Additional {
    /// Not set (or `false`): no other fields.
    #[default]
    None,
    /// `true`: any field, unchecked.
    Any,
    /// Values follow this schema.
    Schema(Box<Node>),
}

/// A numeric bound: its value and whether it is exclusive.
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// The bound.
    pub value: f64,
    /// `exclusiveMinimum` / `exclusiveMaximum`.
    pub exclusive: bool,
}

/// One schema node.
#[derive(Debug, Default)]
pub struct Node {
    /// `type` (empty: any).
    pub type_: String,
    /// `nullable`.
    pub nullable: bool,
    /// `x-kubernetes-int-or-string`.
    pub int_or_string: bool,
    /// `x-kubernetes-preserve-unknown-fields`.
    pub preserve_unknown: bool,
    /// `x-kubernetes-embedded-resource`.
    pub embedded: bool,
    /// `properties`.
    pub properties: BTreeMap<String, Node>,
    /// `additionalProperties`.
    pub additional: Additional,
    /// `items`.
    pub items: Option<Box<Node>>,
    /// `required`, in order.
    pub required: Vec<String>,
    /// `enum`.
    pub enum_: Option<Vec<Value>>,
    /// `pattern`: its source (for messages) and the compiled regex.
    pub pattern: Option<(String, Regex)>,
    /// `format`.
    pub format: Option<String>,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `uniqueItems`.
    pub unique_items: bool,
    /// `minProperties`.
    pub min_properties: Option<u64>,
    /// `maxProperties`.
    pub max_properties: Option<u64>,
    /// `minimum`.
    pub minimum: Option<Bound>,
    /// `maximum`.
    pub maximum: Option<Bound>,
    /// `multipleOf`.
    pub multiple_of: Option<f64>,
    /// `default`.
    pub default: Option<Value>,
    /// `x-kubernetes-list-type` (`atomic`, `set`, `map`).
    pub list_type: Option<String>,
    /// `x-kubernetes-list-map-keys`.
    pub map_keys: Vec<String>,
    /// `x-kubernetes-map-type` (`atomic`, `granular`).
    pub map_type: Option<String>,
    /// `allOf` (value validation only).
    pub all_of: Vec<Node>,
    /// `anyOf`.
    pub any_of: Vec<Node>,
    /// `oneOf`.
    pub one_of: Vec<Node>,
    /// `not`.
    pub not: Option<Box<Node>>,
    /// `x-kubernetes-validations`.
    pub rules: Vec<Rule>,
    /// This node or one below has rules.
    pub has_rules: bool,
    /// This node or one below has a transition rule (uses `oldSelf`).
    pub has_transition: bool,
}

impl Node {
    /// Parses a schema; `path` is where it sits in the CRD (for compile errors).
    pub fn parse(s: &Value, path: &str, errs: &mut Vec<FieldError>) -> Node {
        let mut n = Node::default();
        let Some(o) = s.as_object() else {
            return n;
        };
        let u = |k: &str| o.get(k).and_then(Value::as_u64);
        let b = |k: &str| o.get(k).and_then(Value::as_bool) == Some(true);
        n.type_ = o
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .into();
        n.nullable = b("nullable");
        n.int_or_string = b("x-kubernetes-int-or-string");
        n.preserve_unknown = b("x-kubernetes-preserve-unknown-fields");
        n.embedded = b("x-kubernetes-embedded-resource");
        if let Some(props) = o.get("properties").and_then(Value::as_object) {
            for (k, v) in props {
                let child = Node::parse(v, &format!("{path}.properties[{k}]"), errs);
                n.properties.insert(k.clone(), child);
            }
        }
        n.additional = match o.get("additionalProperties") {
            Some(Value::Bool(true)) => Additional::Any,
            Some(v @ Value::Object(_)) => Additional::Schema(Box::new(Node::parse(
                v,
                &format!("{path}.additionalProperties"),
                errs,
            ))),
            _ => Additional::None,
        };
        if let Some(items) = o.get("items").filter(|i| i.is_object()) {
            n.items = Some(Box::new(Node::parse(items, &format!("{path}.items"), errs)));
        }
        n.required = o
            .get("required")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        n.enum_ = o.get("enum").and_then(Value::as_array).cloned();
        if let Some(p) = o.get("pattern").and_then(Value::as_str) {
            match Regex::new(p) {
                Ok(re) => n.pattern = Some((p.to_string(), re)),
                Err(e) => errs.push(FieldError::invalid(
                    format!("{path}.pattern"),
                    BadValue::Str(p.into()),
                    format!("must be a valid regular expression, but isn't: {e}"),
                )),
            }
        }
        n.format = o.get("format").and_then(Value::as_str).map(String::from);
        n.min_length = u("minLength");
        n.max_length = u("maxLength");
        n.min_items = u("minItems");
        n.max_items = u("maxItems");
        n.unique_items = b("uniqueItems");
        n.min_properties = u("minProperties");
        n.max_properties = u("maxProperties");
        n.minimum = o.get("minimum").and_then(Value::as_f64).map(|v| Bound {
            value: v,
            exclusive: b("exclusiveMinimum"),
        });
        n.maximum = o.get("maximum").and_then(Value::as_f64).map(|v| Bound {
            value: v,
            exclusive: b("exclusiveMaximum"),
        });
        n.multiple_of = o.get("multipleOf").and_then(Value::as_f64);
        n.default = o.get("default").cloned();
        n.list_type = o
            .get("x-kubernetes-list-type")
            .and_then(Value::as_str)
            .map(String::from);
        n.map_keys = o
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        n.map_type = o
            .get("x-kubernetes-map-type")
            .and_then(Value::as_str)
            .map(String::from);
        let list = |k: &str, errs: &mut Vec<FieldError>| -> Vec<Node> {
            o.get(k)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .enumerate()
                        .map(|(i, x)| Node::parse(x, &format!("{path}.{k}[{i}]"), errs))
                        .collect()
                })
                .unwrap_or_default()
        };
        n.all_of = list("allOf", errs);
        n.any_of = list("anyOf", errs);
        n.one_of = list("oneOf", errs);
        if let Some(x) = o.get("not").filter(|x| x.is_object()) {
            n.not = Some(Box::new(Node::parse(x, &format!("{path}.not"), errs)));
        }
        for (j, r) in o
            .get("x-kubernetes-validations")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            match compile_rule(r, &format!("{path}.x-kubernetes-validations[{j}]")) {
                Ok(rule) => n.rules.push(rule),
                Err(e) => errs.push(e),
            }
        }
        let children = n
            .properties
            .values()
            .chain(match &n.additional {
                Additional::Schema(s) => Some(s.as_ref()),
                _ => None,
            })
            .chain(n.items.as_deref());
        let (mut rules, mut transition) = (!n.rules.is_empty(), false);
        for c in children {
            rules |= c.has_rules;
            transition |= c.has_transition;
        }
        n.has_rules = rules;
        n.has_transition = transition || n.rules.iter().any(|r| r.uses_old_self);
        n
    }

    /// The schema's type as CEL error messages show it (`object`, `array`, `string`, ...).
    pub fn type_name(&self) -> &str {
        &self.type_
    }

    /// The schema of field `k` of an object value, if it is known.
    pub fn field(&self, k: &str) -> Option<&Node> {
        self.properties.get(k).or(match &self.additional {
            Additional::Schema(s) => Some(s),
            _ => None,
        })
    }
}
