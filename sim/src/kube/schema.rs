//! Structural-schema defaulting and the basic validation of custom resources.

use serde_json::Value;

/// Applies `default`s of a structural schema: missing fields with a default are set, then
/// defaulting recurses into every present field (so a defaulted object gets its own defaults).
pub fn apply_defaults(obj: &mut Value, schema: &Value) {
    match obj {
        Value::Object(map) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (k, s) in props {
                    if !map.contains_key(k) {
                        if let Some(d) = s.get("default") {
                            map.insert(k.clone(), d.clone());
                        }
                    }
                    if let Some(v) = map.get_mut(k) {
                        apply_defaults(v, s);
                    }
                }
            }
            if let Some(add) = schema.get("additionalProperties").filter(|a| a.is_object()) {
                let known = schema.get("properties").and_then(Value::as_object);
                for (k, v) in map.iter_mut() {
                    if known.is_none_or(|p| !p.contains_key(k)) {
                        apply_defaults(v, add);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for i in items {
                    apply_defaults(i, s);
                }
            }
        }
        _ => {}
    }
}

/// Validates types, `required` and `enum`; returns (field path, message) causes.
pub fn validate(obj: &Value, schema: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    check(obj, schema, "", &mut out);
    out
}

fn type_name(v: &Value) -> &'static str {
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

fn check(v: &Value, schema: &Value, path: &str, out: &mut Vec<(String, String)>) {
    if v.is_null() && schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        return;
    }
    let int_or_string = schema
        .get("x-kubernetes-int-or-string")
        .and_then(Value::as_bool)
        == Some(true);
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        let actual = type_name(v);
        let ok = actual == t
            || (t == "number" && actual == "integer")
            || (int_or_string && (actual == "integer" || actual == "string"));
        if !ok {
            out.push((
                path.trim_start_matches('.').to_string(),
                format!(
                    "Invalid value: \"{actual}\": {} in body must be of type {t}: \"{actual}\"",
                    path.trim_start_matches('.')
                ),
            ));
            return;
        }
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        if !e.contains(v) {
            let allowed: Vec<String> = e.iter().map(|x| x.to_string()).collect();
            out.push((
                path.trim_start_matches('.').to_string(),
                format!(
                    "Unsupported value: {v}: supported values: {}",
                    allowed.join(", ")
                ),
            ));
        }
    }
    match v {
        Value::Object(map) => {
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(r) = r.as_str() {
                    if !map.contains_key(r) {
                        out.push((
                            format!("{path}.{r}").trim_start_matches('.').to_string(),
                            "Required value".into(),
                        ));
                    }
                }
            }
            let props = schema.get("properties").and_then(Value::as_object);
            for (k, child) in map {
                if path.is_empty() && (k == "metadata" || k == "apiVersion" || k == "kind") {
                    continue;
                }
                if let Some(s) = props.and_then(|p| p.get(k)) {
                    check(child, s, &format!("{path}.{k}"), out);
                } else if let Some(add) =
                    schema.get("additionalProperties").filter(|a| a.is_object())
                {
                    check(child, add, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter().enumerate() {
                    check(item, s, &format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_recurse_into_defaulted_objects() {
        let schema = json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "disruption": {"type": "object", "default": {"consolidateAfter": "0s"}, "properties": {
                "consolidateAfter": {"type": "string"},
                "budgets": {"type": "array", "default": [{"nodes": "10%"}], "items": {"type": "object"}}}}}}}});
        let mut o = json!({"spec": {}});
        apply_defaults(&mut o, &schema);
        assert_eq!(o["spec"]["disruption"]["consolidateAfter"], "0s");
        assert_eq!(o["spec"]["disruption"]["budgets"][0]["nodes"], "10%");
        assert!(validate(&json!({"spec": 3}), &schema).len() == 1);
    }
}
