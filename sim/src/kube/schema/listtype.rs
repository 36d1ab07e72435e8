//! `x-kubernetes-list-type` invariants (`set`: unique items; `map`: unique keys) and the
//! correlation of list items with their old values (by key, for `map` lists only).

use super::errors::{go_sharp_v, BadValue, ErrorType, FieldError};
use super::node::{Additional, Node};
use serde_json::{Map, Value};

/// The key values of a `map` list's item (the key fields it has; none for a null item).
fn key_of(node: &Node, item: &Value) -> Option<Value> {
    let mut m = Map::new();
    if let Some(o) = item.as_object() {
        for k in &node.map_keys {
            if let Some(v) = o.get(k) {
                m.insert(k.clone(), v.clone());
            }
        }
    } else if !item.is_null() {
        return None;
    }
    Some(Value::Object(m))
}

/// The indexes of the second occurrences of repeated values (a third is not reported again),
/// as `validateListSet` does.
fn repeated(values: &[&Value]) -> Vec<usize> {
    (0..values.len())
        .filter(|&i| values[..i].iter().filter(|p| **p == values[i]).count() == 1)
        .collect()
}

/// The old item a new item of list `node` correlates with: same key values in a `map` list;
/// none for atomic lists and sets.
pub fn correlate<'a>(node: &Node, old: Option<&'a Value>, item: &Value) -> Option<&'a Value> {
    if node.list_type.as_deref() != Some("map") {
        return None;
    }
    item.as_object()?;
    let key = key_of(node, item)?;
    old?.as_array()?
        .iter()
        .find(|o| key_of(node, o).as_ref() == Some(&key))
}

/// The duplicate items and keys of the object's `set` and `map` lists.
pub fn check(root: &Node, v: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    if let Some(map) = v.as_object() {
        for (k, s) in &root.properties {
            if k != "metadata" {
                if let Some(c) = map.get(k) {
                    walk(s, c, k, &mut out);
                }
            }
        }
    }
    out
}

fn walk(node: &Node, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    match v {
        Value::Object(map) => {
            for (k, c) in map {
                let s = node.properties.get(k).or(match &node.additional {
                    Additional::Schema(s) => Some(s.as_ref()),
                    _ => None,
                });
                if let Some(s) = s {
                    walk(s, c, &format!("{path}.{k}"), out);
                }
            }
        }
        Value::Array(items) => {
            match node.list_type.as_deref() {
                Some("set") => {
                    let all: Vec<&Value> = items.iter().collect();
                    for i in repeated(&all) {
                        out.push(FieldError::new(
                            ErrorType::Duplicate,
                            format!("{path}[{i}]"),
                            BadValue::of(&items[i]),
                            "",
                        ));
                    }
                }
                Some("map") => {
                    let keys: Option<Vec<Value>> = items.iter().map(|x| key_of(node, x)).collect();
                    match keys {
                        None => {
                            if let Some(i) = items.iter().position(|x| key_of(node, x).is_none()) {
                                out.push(FieldError::invalid(
                                    format!("{path}[{i}]"),
                                    BadValue::of(&items[i]),
                                    "must be an object for an array of list-type map",
                                ));
                            }
                        }
                        Some(keys) => {
                            let refs: Vec<&Value> = keys.iter().collect();
                            for i in repeated(&refs) {
                                out.push(FieldError::new(
                                    ErrorType::Duplicate,
                                    format!("{path}[{i}]"),
                                    BadValue::Raw(go_sharp_v(&keys[i])),
                                    "",
                                ));
                            }
                        }
                    }
                }
                _ => {}
            }
            if let Some(s) = &node.items {
                for (i, x) in items.iter().enumerate() {
                    walk(s, x, &format!("{path}[{i}]"), out);
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
    fn duplicates_in_sets_and_maps() {
        let mut e = Vec::new();
        let n = Node::parse(
            &json!({"type": "object", "properties": {
                "s": {"type": "array", "x-kubernetes-list-type": "set", "items": {"type": "string"}},
                "m": {"type": "array", "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"],
                      "items": {"type": "object"}},
                "a": {"type": "array", "items": {"type": "string"}}}}),
            "",
            &mut e,
        );
        let v = json!({"s": ["a", "b", "a", "a"], "m": [{"type": "R", "x": 1}, {"type": "R", "x": 2}, {"x": 3}, {"x": 4}], "a": ["x", "x"]});
        let out: Vec<String> = check(&n, &v).iter().map(ToString::to_string).collect();
        assert_eq!(
            out,
            [
                "m[1]: Duplicate value: map[string]interface {}{\"type\":\"R\"}",
                "m[3]: Duplicate value: map[string]interface {}{}",
                "s[2]: Duplicate value: \"a\""
            ]
        );
        let old = json!([{"type": "Q"}, {"type": "R", "x": 0}]);
        let m = &n.properties["m"];
        assert_eq!(
            correlate(m, Some(&old), &json!({"type": "R"})),
            Some(&json!({"type": "R", "x": 0}))
        );
    }
}
