//! Decoding a custom resource against its structural schema, as kube-apiserver does before
//! validation: pruning of unknown fields, dropping `null`s of non-nullable fields, defaulting.

use super::node::{Additional, Node};
use serde_json::{Map, Value};

/// `ObjectMeta`'s fields: anything else under `metadata` is an unknown field.
const OBJECT_META: &[&str] = &[
    "name",
    "generateName",
    "namespace",
    "selfLink",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
];

/// Removes the fields the schema does not know; returns their paths (`spec.foo`,
/// `spec.x[0].y`).
pub fn prune(root: &Node, v: &mut Value) -> Vec<String> {
    let mut unknown = Vec::new();
    prune_object(root, v, "", true, &mut unknown);
    unknown
}

fn join(path: &str, k: &str) -> String {
    if path.is_empty() {
        k.to_string()
    } else {
        format!("{path}.{k}")
    }
}

fn prune_object(node: &Node, v: &mut Value, path: &str, meta: bool, unknown: &mut Vec<String>) {
    let Value::Object(map) = v else {
        return;
    };
    let mut remove = Vec::new();
    for (k, child) in map.iter_mut() {
        if meta && matches!(k.as_str(), "apiVersion" | "kind" | "metadata") {
            if k == "metadata" {
                prune_meta(child, &join(path, k), unknown);
            }
            continue;
        }
        let p = join(path, k);
        match node.properties.get(k) {
            Some(s) => prune_value(s, child, &p, unknown),
            None => match &node.additional {
                Additional::Schema(s) => prune_value(s, child, &p, unknown),
                Additional::Any => {}
                Additional::None if node.preserve_unknown => {}
                Additional::None => {
                    unknown.push(p);
                    remove.push(k.clone());
                }
            },
        }
    }
    for k in remove {
        map.remove(&k);
    }
}

fn prune_meta(m: &mut Value, path: &str, unknown: &mut Vec<String>) {
    if let Value::Object(map) = m {
        let extra: Vec<String> = map
            .keys()
            .filter(|k| !OBJECT_META.contains(&k.as_str()))
            .cloned()
            .collect();
        for k in extra {
            map.remove(&k);
            unknown.push(join(path, &k));
        }
    }
}

fn prune_value(node: &Node, v: &mut Value, path: &str, unknown: &mut Vec<String>) {
    match v {
        Value::Object(_) => {
            if node.preserve_unknown
                && node.properties.is_empty()
                && matches!(node.additional, Additional::None)
            {
                return;
            }
            prune_object(node, v, path, node.embedded, unknown)
        }
        Value::Array(items) => {
            if let Some(s) = &node.items {
                for (i, item) in items.iter_mut().enumerate() {
                    prune_value(s, item, &format!("{path}[{i}]"), unknown);
                }
            }
        }
        _ => {}
    }
}

/// Drops `null`s of non-nullable properties (replaced by their default when they have one),
/// then applies `default`s at every depth, defaults of defaults included.
pub fn default(node: &Node, v: &mut Value) {
    match v {
        Value::Object(map) => {
            default_props(node, map);
            if let Additional::Schema(s) = &node.additional {
                for (k, child) in map.iter_mut() {
                    if !node.properties.contains_key(k) {
                        default(s, child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = &node.items {
                for i in items {
                    default(s, i);
                }
            }
        }
        _ => {}
    }
}

fn default_props(node: &Node, map: &mut Map<String, Value>) {
    for (k, s) in &node.properties {
        match map.get(k) {
            Some(Value::Null) if !s.nullable => match &s.default {
                Some(d) => {
                    map.insert(k.clone(), d.clone());
                }
                None => {
                    map.remove(k);
                }
            },
            None => {
                if let Some(d) = &s.default {
                    map.insert(k.clone(), d.clone());
                }
            }
            _ => {}
        }
        if let Some(child) = map.get_mut(k) {
            default(s, child);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node(s: Value) -> Node {
        let mut errs = Vec::new();
        let n = Node::parse(&s, "", &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        n
    }

    #[test]
    fn defaults_recurse_into_defaulted_objects() {
        let n = node(
            json!({"type": "object", "properties": {"spec": {"type": "object", "properties": {
            "disruption": {"type": "object", "default": {"consolidateAfter": "0s"}, "properties": {
                "consolidateAfter": {"type": "string"},
                "budgets": {"type": "array", "default": [{"nodes": "10%"}], "items": {"type": "object",
                    "properties": {"nodes": {"type": "string"}, "x": {"type": "string", "default": "d"}}}}}}}}}}),
        );
        let mut o = json!({"spec": {}});
        default(&n, &mut o);
        assert_eq!(o["spec"]["disruption"]["consolidateAfter"], "0s");
        assert_eq!(o["spec"]["disruption"]["budgets"][0]["nodes"], "10%");
        assert_eq!(o["spec"]["disruption"]["budgets"][0]["x"], "d");
    }

    #[test]
    fn nulls_are_dropped_or_defaulted() {
        let n = node(json!({"type": "object", "properties": {
            "a": {"type": "string"}, "b": {"type": "string", "default": "x"},
            "c": {"type": "string", "nullable": true},
            "m": {"type": "object", "additionalProperties": {"type": "string", "default": "y"}}}}));
        let mut o = json!({"a": null, "b": null, "c": null, "m": {"k": null}});
        default(&n, &mut o);
        assert_eq!(o, json!({"b": "x", "c": null, "m": {"k": null}}));
    }

    #[test]
    fn pruning_reports_paths() {
        let n = node(json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {
                "xs": {"type": "array", "items": {"type": "object", "properties": {"y": {"type": "string"}}}},
                "m": {"type": "object", "additionalProperties": {"type": "string"}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}));
        let mut o = json!({"apiVersion": "v", "kind": "K", "metadata": {"name": "n", "bogus": 1},
            "spec": {"foo": 1, "xs": [{"y": "a", "z": 2}], "m": {"any": "v"}, "free": {"q": 1}}, "other": 1});
        let mut u = prune(&n, &mut o);
        u.sort();
        assert_eq!(
            u,
            vec!["metadata.bogus", "other", "spec.foo", "spec.xs[0].z"]
        );
        assert_eq!(
            o,
            json!({"apiVersion": "v", "kind": "K", "metadata": {"name": "n"},
            "spec": {"xs": [{"y": "a"}], "m": {"any": "v"}, "free": {"q": 1}}})
        );
    }
}
