//! The OpenAPI checks kube-apiserver runs on custom resources (kube-openapi's validator as
//! apiextensions-apiserver maps its results to field errors), in its order and with its texts.
//!
//! Inside a node: type, allOf/anyOf/oneOf/not, string (maxLength, minLength, pattern; the first
//! failure stops them), format, number, array (items, then minItems/maxItems/uniqueItems), enum,
//! object (min/maxProperties, the fields in sorted order, then `required`). On update a subtree
//! equal to its correlated old value is not checked again (CRD validation ratcheting).

use super::errors::{go_float, go_quote, BadValue, ErrorType, FieldError};
use super::node::{Additional, Node};
use serde_json::Value;

/// Checks an object from its root (`apiVersion`, `kind` and `metadata` are not the schema's).
pub fn check_root(root: &Node, v: &Value, old: Option<&Value>, out: &mut Vec<FieldError>) {
    let Some(map) = v.as_object() else {
        return;
    };
    for (k, s) in &root.properties {
        if matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            continue;
        }
        if let Some(child) = map.get(k) {
            check(s, child, old.and_then(|o| o.get(k)), k, out);
        }
    }
    for r in &root.required {
        if !map.contains_key(r) && r != "metadata" {
            out.push(FieldError::required(r.clone()));
        }
    }
}

/// JSON type names as kube-openapi reports them.
pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn whole(v: &Value) -> bool {
    v.as_f64()
        .is_some_and(|f| f.fract() == 0.0 && f.is_finite())
}

fn composite(detail: String) -> FieldError {
    FieldError::invalid("<nil>", BadValue::Str(String::new()), detail)
}

/// Checks one value against its node; `path` is its field path.
pub fn check(node: &Node, v: &Value, old: Option<&Value>, path: &str, out: &mut Vec<FieldError>) {
    if old == Some(v) {
        return;
    }
    // type
    let allowed: Vec<&str> = if node.int_or_string {
        vec!["integer", "string"]
    } else if node.type_.is_empty() {
        vec![]
    } else {
        vec![node.type_.as_str()]
    };
    if v.is_null() {
        // kube-openapi checks a null against the type and the enum only.
        if !allowed.is_empty() && !node.nullable {
            out.push(FieldError::new(
                ErrorType::TypeInvalid,
                path,
                BadValue::Str("null".into()),
                format!(
                    "{path} in body must be of type {}: \"null\"",
                    allowed.join(",")
                ),
            ));
        }
        check_enum(node, v, path, out);
        return;
    }
    if !allowed.is_empty() {
        let actual = json_type(v);
        let ok = allowed.contains(&actual)
            || (actual == "integer" && allowed.contains(&"number"))
            || (actual == "number" && allowed.contains(&"integer") && whole(v));
        if !ok {
            out.push(FieldError::new(
                ErrorType::TypeInvalid,
                path,
                BadValue::Str(actual.into()),
                format!(
                    "{path} in body must be of type {}: \"{actual}\"",
                    allowed.join(",")
                ),
            ));
        }
    }
    // allOf / anyOf / oneOf / not
    for s in &node.all_of {
        check(s, v, None, path, out);
    }
    if !node.any_of.is_empty() {
        let mut first_failure = None;
        let mut ok = false;
        for s in &node.any_of {
            let mut e = Vec::new();
            check(s, v, None, path, &mut e);
            if e.is_empty() {
                ok = true;
                break;
            }
            first_failure.get_or_insert(e);
        }
        if !ok {
            out.push(composite(format!(
                "\"{path}\" must validate at least one schema (anyOf)"
            )));
            out.extend(first_failure.unwrap_or_default());
        }
    }
    if !node.one_of.is_empty() {
        let mut first_failure = None;
        let mut valid = 0;
        for s in &node.one_of {
            let mut e = Vec::new();
            check(s, v, None, path, &mut e);
            if e.is_empty() {
                valid += 1;
            } else {
                first_failure.get_or_insert(e);
            }
        }
        if valid != 1 {
            out.push(composite(format!(
                "\"{path}\" must validate one and only one schema (oneOf)"
            )));
            if valid == 0 {
                out.extend(first_failure.unwrap_or_default());
            }
        }
    }
    if let Some(not) = &node.not {
        let mut e = Vec::new();
        check(not, v, None, path, &mut e);
        if e.is_empty() {
            out.push(composite(format!(
                "\"{path}\" must not validate the schema (not)"
            )));
        }
    }
    // A type error does not stop the other checks: each applies to its own JSON type.
    match v {
        Value::String(s) => check_string(node, s, path, out),
        Value::Number(_) => check_number(node, v, path, out),
        Value::Array(items) => check_array(node, items, old, path, out),
        _ => {}
    }
    check_enum(node, v, path, out);
    if let Value::Object(map) = v {
        check_object(node, map, old, path, out);
    }
}

fn check_enum(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    if let Some(e) = &node.enum_ {
        if !e.contains(v) {
            let values: Vec<String> = e
                .iter()
                .map(|x| match x {
                    Value::String(s) => go_quote(s),
                    other => go_quote(&other.to_string()),
                })
                .collect();
            out.push(FieldError::new(
                ErrorType::NotSupported,
                path,
                BadValue::of(v),
                format!("supported values: {}", values.join(", ")),
            ));
        }
    }
}

/// kube-openapi's object validator: min/maxProperties, additionalProperties, properties,
/// then `required`.
fn check_object(
    node: &Node,
    map: &serde_json::Map<String, Value>,
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if let Some(min) = node.min_properties {
        if (map.len() as u64) < min {
            out.push(FieldError::invalid(
                path,
                BadValue::Int(map.len() as i64),
                format!("{path} in body should have at least {min} properties"),
            ));
        }
    }
    if let Some(max) = node.max_properties {
        if map.len() as u64 > max {
            out.push(FieldError::too_many(path, map.len(), max));
        }
    }
    let old_map = old.and_then(Value::as_object);
    if let Additional::Schema(s) = &node.additional {
        let mut keys: Vec<&String> = map
            .keys()
            .filter(|k| !node.properties.contains_key(*k))
            .collect();
        keys.sort();
        for k in keys {
            let o = old_map.and_then(|m| m.get(k));
            check(s, &map[k.as_str()], o, &format!("{path}.{k}"), out);
        }
    }
    for (k, s) in &node.properties {
        if let Some(child) = map.get(k) {
            let o = old_map.and_then(|m| m.get(k));
            check(s, child, o, &format!("{path}.{k}"), out);
        }
    }
    for r in &node.required {
        if !map.contains_key(r) {
            out.push(FieldError::required(format!("{path}.{r}")));
        }
    }
}

fn check_string(node: &Node, s: &str, path: &str, out: &mut Vec<FieldError>) {
    let n = s.chars().count() as u64;
    if let Some(max) = node.max_length.filter(|m| n > *m) {
        out.push(FieldError::too_long(path, max));
    } else if let Some(min) = node.min_length.filter(|m| n < *m) {
        out.push(FieldError::invalid(
            path,
            BadValue::Str(s.into()),
            format!("{path} in body should be at least {min} chars long"),
        ));
    } else if let Some((src, re)) = node.pattern.as_ref().filter(|(_, re)| !re.is_match(s)) {
        let _ = re;
        out.push(FieldError::invalid(
            path,
            BadValue::Str(s.into()),
            format!("{path} in body should match '{src}'"),
        ));
    }
    if node.format.as_deref() == Some("date-time") && !is_date_time(s) {
        out.push(FieldError::new(
            ErrorType::TypeInvalid,
            path,
            BadValue::Str(s.into()),
            format!("{path} in body must be of type date-time: {}", go_quote(s)),
        ));
    }
}

/// RFC 3339 date-time (what strfmt's `ParseDateTime` accepts, roughly).
fn is_date_time(s: &str) -> bool {
    s.parse::<jiff::Timestamp>().is_ok()
}

fn check_number(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    let f = v.as_f64().unwrap_or(0.0);
    let bad = || match v.as_i64() {
        Some(i) => BadValue::Int(i),
        None => BadValue::Float(f),
    };
    let range = match node.format.as_deref() {
        Some("int32") => Some((i32::MIN as f64, i32::MAX as f64, "int32")),
        Some("int64") => Some((i64::MIN as f64, i64::MAX as f64, "int64")),
        _ => None,
    };
    if let Some((lo, hi, name)) = range {
        if f < lo || f > hi || v.is_u64() && v.as_i64().is_none() {
            out.push(composite(format!(
                "Checked value must be of type integer with format {name} in {path}"
            )));
        }
    }
    if let Some(b) = node.minimum {
        if f < b.value || (b.exclusive && f == b.value) {
            let rel = if b.exclusive {
                "greater than"
            } else {
                "greater than or equal to"
            };
            out.push(FieldError::invalid(
                path,
                bad(),
                format!("{path} in body should be {rel} {}", go_float(b.value)),
            ));
        }
    }
    if let Some(b) = node.maximum {
        if f > b.value || (b.exclusive && f == b.value) {
            let rel = if b.exclusive {
                "less than"
            } else {
                "less than or equal to"
            };
            out.push(FieldError::invalid(
                path,
                bad(),
                format!("{path} in body should be {rel} {}", go_float(b.value)),
            ));
        }
    }
    if let Some(m) = node.multiple_of.filter(|m| *m != 0.0) {
        let q = f / m;
        if (q - q.round()).abs() > 1e-9 {
            out.push(FieldError::invalid(
                path,
                bad(),
                format!("{path} in body should be a multiple of {}", go_float(m)),
            ));
        }
    }
}

fn check_array(
    node: &Node,
    items: &[Value],
    old: Option<&Value>,
    path: &str,
    out: &mut Vec<FieldError>,
) {
    if let Some(s) = &node.items {
        for (i, item) in items.iter().enumerate() {
            let o = super::listtype::correlate(node, old, item);
            check(s, item, o, &format!("{path}[{i}]"), out);
        }
    }
    if let Some(min) = node.min_items.filter(|m| (items.len() as u64) < *m) {
        out.push(FieldError::invalid(
            path,
            BadValue::Int(items.len() as i64),
            format!("{path} in body should have at least {min} items"),
        ));
    }
    if let Some(max) = node.max_items.filter(|m| items.len() as u64 > *m) {
        out.push(FieldError::too_many(path, items.len(), max));
    }
    if node.unique_items {
        let dup = items
            .iter()
            .enumerate()
            .any(|(i, x)| items[..i].contains(x));
        if dup {
            out.push(FieldError::invalid(
                path,
                BadValue::Omit,
                format!("{path} in body shouldn't contain duplicates"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errs(schema: Value, v: Value) -> Vec<String> {
        let mut e = Vec::new();
        let n = Node::parse(
            &json!({"type": "object", "properties": {"x": schema}}),
            "",
            &mut e,
        );
        assert!(e.is_empty());
        let mut out = Vec::new();
        check_root(&n, &json!({ "x": v }), None, &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn one_case_per_keyword() {
        assert_eq!(
            errs(json!({"type": "integer"}), json!("a")),
            ["x: Invalid value: \"string\": x in body must be of type integer: \"string\""]
        );
        assert_eq!(
            errs(json!({"type": "integer"}), json!(3.0)),
            Vec::<String>::new()
        );
        assert_eq!(
            errs(json!({"type": "number"}), json!(3)),
            Vec::<String>::new()
        );
        assert_eq!(
            errs(json!({"x-kubernetes-int-or-string": true}), json!(true)),
            ["x: Invalid value: \"boolean\": x in body must be of type integer,string: \"boolean\""]
        );
        assert_eq!(
            errs(json!({"type": "string", "pattern": "^a+$"}), json!("b")),
            ["x: Invalid value: \"b\": x in body should match '^a+$'"]
        );
        assert_eq!(
            errs(
                json!({"type": "string", "maxLength": 2, "pattern": "^a+$"}),
                json!("bbb")
            ),
            ["x: Too long: may not be more than 2 bytes"]
        );
        assert_eq!(
            errs(json!({"type": "string", "minLength": 1}), json!("")),
            ["x: Invalid value: \"\": x in body should be at least 1 chars long"]
        );
        assert_eq!(
            errs(json!({"type": "string", "format": "date-time"}), json!("y")),
            ["x: Invalid value: \"y\": x in body must be of type date-time: \"y\""]
        );
        assert_eq!(
            errs(
                json!({"type": "string", "format": "date-time"}),
                json!("2026-01-01T00:00:00Z")
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            errs(json!({"type": "integer", "format": "int32"}), json!(3_000_000_000i64)),
            ["<nil>: Invalid value: \"\": Checked value must be of type integer with format int32 in x"]
        );
        assert_eq!(
            errs(json!({"type": "integer", "minimum": 1}), json!(0)),
            ["x: Invalid value: 0: x in body should be greater than or equal to 1"]
        );
        assert_eq!(
            errs(
                json!({"type": "number", "maximum": 0.5, "exclusiveMaximum": true}),
                json!(0.5)
            ),
            ["x: Invalid value: 0.5: x in body should be less than 0.5"]
        );
        assert_eq!(
            errs(json!({"type": "array", "maxItems": 1, "items": {"type": "string"}}), json!(["a", 1])),
            [
                "x[1]: Invalid value: \"integer\": x[1] in body must be of type string: \"integer\"",
                "x: Too many: 2: must have at most 1 items"
            ]
        );
        assert_eq!(
            errs(json!({"type": "array", "minItems": 1}), json!([])),
            ["x: Invalid value: 0: x in body should have at least 1 items"]
        );
        assert_eq!(
            errs(
                json!({"type": "object", "maxProperties": 1}),
                json!({"a": 1, "b": 2})
            ),
            ["x: Too many: 2: must have at most 1 items"]
        );
        assert_eq!(
            errs(json!({"type": "string", "enum": ["a", "b"]}), json!("c")),
            ["x: Unsupported value: \"c\": supported values: \"a\", \"b\""]
        );
        assert_eq!(
            errs(
                json!({"type": "object", "required": ["b", "a"], "properties": {"c": {"type": "string"}}}),
                json!({"c": 1})
            ),
            [
                "x.c: Invalid value: \"integer\": x.c in body must be of type string: \"integer\"",
                "x.b: Required value",
                "x.a: Required value"
            ]
        );
        assert_eq!(
            errs(json!({"type": "string"}), json!(null)),
            ["x: Invalid value: \"null\": x in body must be of type string: \"null\""]
        );
        assert_eq!(
            errs(json!({"type": "string", "nullable": true}), json!(null)),
            Vec::<String>::new()
        );
        assert_eq!(
            errs(json!({"type": "string", "enum": ["a"]}), json!(5)),
            [
                "x: Invalid value: \"integer\": x in body must be of type string: \"integer\"",
                "x: Unsupported value: 5: supported values: \"a\""
            ]
        );
        assert_eq!(
            errs(
                json!({"type": "string", "nullable": true, "enum": ["a"]}),
                json!(null)
            ),
            ["x: Unsupported value: \"null\": supported values: \"a\""]
        );
        assert_eq!(
            errs(
                json!({"x-kubernetes-int-or-string": true, "anyOf": [{"type": "integer"}, {"type": "string"}]}),
                json!(true)
            ),
            [
                "x: Invalid value: \"boolean\": x in body must be of type integer,string: \"boolean\"",
                "<nil>: Invalid value: \"\": \"x\" must validate at least one schema (anyOf)",
                "x: Invalid value: \"boolean\": x in body must be of type integer: \"boolean\"",
            ]
        );
    }

    #[test]
    fn unchanged_subtrees_are_ratcheted() {
        let mut e = Vec::new();
        let n = Node::parse(
            &json!({"type": "object", "properties": {"x": {"type": "string", "pattern": "^a$"}}}),
            "",
            &mut e,
        );
        let mut out = Vec::new();
        check_root(&n, &json!({"x": "b"}), Some(&json!({"x": "b"})), &mut out);
        assert!(out.is_empty());
        check_root(&n, &json!({"x": "c"}), Some(&json!({"x": "b"})), &mut out);
        assert_eq!(out.len(), 1);
    }
}
