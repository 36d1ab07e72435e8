//! Patch types: JSON merge (RFC 7386), JSON patch (RFC 6902) and strategic merge.

use super::error::{ApiError, ApiResult};
use serde_json::{Map, Value};

/// The patch a request carries, from its Content-Type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/json-patch+json`.
    Json,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

/// The patch media types of built-in kinds, as kube-apiserver lists them in a 415.
pub const PATCH_TYPES: [&str; 4] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
];

/// The patch media types of custom resources (no strategic merge patch).
pub const CUSTOM_PATCH_TYPES: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

impl PatchType {
    /// From a Content-Type header.
    pub fn from_content_type(ct: &str) -> Option<Self> {
        let base = ct.split(';').next().unwrap_or_default().trim();
        match base {
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/json-patch+json" => Some(PatchType::Json),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// Applies a merge, JSON or strategic patch to a copy of `current`.
pub fn apply_patch(current: &Value, kind: PatchType, patch: &Value) -> ApiResult<Value> {
    let mut out = current.clone();
    match kind {
        PatchType::Merge => json_patch::merge(&mut out, patch),
        PatchType::Json => {
            let p: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            for op in p.0 {
                // As kube-apiserver (evanphx/json-patch): testing a missing path against null passes.
                if let json_patch::PatchOperation::Test(t) = &op {
                    let actual = out.pointer(t.path.as_str()).cloned().unwrap_or(Value::Null);
                    if actual != t.value {
                        return Err(ApiError::invalid("", "", "", vec![(String::new(), format!("the server rejected our request due to an error in our request: testing value {} failed", t.path))]));
                    }
                    continue;
                }
                json_patch::patch(&mut out, &[op]).map_err(|e| {
                    ApiError::invalid("", "", "", vec![(String::new(), e.to_string())])
                })?;
            }
        }
        PatchType::Strategic => strategic_merge(&mut out, patch, ""),
        PatchType::Apply => return Err(ApiError::bad_request("apply is not a plain patch")),
    }
    Ok(out)
}

/// Merge key of a list field, per the built-in types' `patchMergeKey` tags. Lists not named
/// here are atomic: a patch replaces them whole (`spec.taints` of a Node is one, as
/// `+listType=atomic` says; `kubectl taint` sends the whole new list).
pub fn merge_key(field: &str, items: &[Value]) -> Option<&'static str> {
    Some(match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "env"
        | "volumes"
        | "imagePullSecrets"
        | "secrets"
        | "resourceClaims"
        | "containerStatuses"
        | "initContainerStatuses" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" => {
            if items.iter().any(|i| i.get("containerPort").is_some()) {
                "containerPort"
            } else {
                "port"
            }
        }
        "conditions" | "addresses" => "type",
        "ownerReferences" => "uid",
        "hostAliases" => "ip",
        "topologySpreadConstraints" => "topologyKey",
        "readinessGates" => "conditionType",
        _ => return None,
    })
}

/// Lists of scalars merged as sets (`patchStrategy:"merge"`).
fn is_primitive_merge_list(field: &str) -> bool {
    field == "finalizers"
}

fn is_directive(k: &str) -> bool {
    k.starts_with('$')
}

/// Strips patch directives from a value that is being inserted as is.
fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !is_directive(k))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

/// Strategic merge of `patch` into `target` (`field` names the map key holding target).
pub fn strategic_merge(target: &mut Value, patch: &Value, field: &str) {
    let Some(pm) = patch.as_object() else {
        *target = strip_directives(patch);
        return;
    };
    if pm.get("$patch").and_then(Value::as_str) == Some("replace") {
        *target = strip_directives(patch);
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let _ = field;
    let tm = target.as_object_mut().expect("object");
    for (k, pv) in pm {
        if let Some(list) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Some(del)) = (tm.get_mut(list), pv.as_array()) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if is_directive(k) {
            continue;
        }
        match pv {
            Value::Null => {
                tm.remove(k);
            }
            Value::Object(o) if o.get("$patch").and_then(Value::as_str) == Some("delete") => {
                tm.remove(k);
            }
            Value::Object(_) => {
                let t = tm.entry(k.clone()).or_insert(Value::Null);
                strategic_merge(t, pv, k);
            }
            Value::Array(items) => {
                let t = tm.entry(k.clone()).or_insert(Value::Array(vec![]));
                merge_list(t, items, k);
            }
            other => {
                tm.insert(k.clone(), other.clone());
            }
        }
    }
    if let Some(Value::Array(keep)) = pm.get("$retainKeys") {
        tm.retain(|k, _| keep.iter().any(|x| x.as_str() == Some(k)));
    }
}

fn merge_list(target: &mut Value, items: &[Value], field: &str) {
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        *target = Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        );
        return;
    }
    if !target.is_array() {
        *target = Value::Array(vec![]);
    }
    let cur = target.as_array_mut().expect("array");
    if is_primitive_merge_list(field) {
        for i in items {
            if !cur.contains(i) {
                cur.push(i.clone());
            }
        }
        return;
    }
    let Some(key) = merge_key(field, items) else {
        *target = Value::Array(items.iter().map(strip_directives).collect());
        return;
    };
    for item in items {
        let id = item.get(key).cloned();
        let pos = id
            .as_ref()
            .and_then(|id| cur.iter().position(|c| c.get(key) == Some(id)));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(p), true) => {
                cur.remove(p);
            }
            (None, true) => {}
            (Some(p), false) => strategic_merge(&mut cur[p], item, field),
            (None, false) => cur.push(strip_directives(item)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name_and_replaces_tolerations() {
        let cur = json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}],
                                   "tolerations": [{"key": "t1"}]}});
        let p = json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}],
                                "tolerations": [{"key": "t2"}]}});
        let out = apply_patch(&cur, PatchType::Strategic, &p).unwrap();
        assert_eq!(out["spec"]["containers"][0]["image"], "x");
        assert_eq!(out["spec"]["containers"][1]["image"], "z");
        assert_eq!(out["spec"]["containers"][2]["name"], "c");
        assert_eq!(out["spec"]["tolerations"], json!([{"key": "t2"}]));
    }

    #[test]
    fn strategic_delete_directive_and_finalizer_union() {
        let cur = json!({"metadata": {"finalizers": ["a"]}, "spec": {"containers": [{"name": "k1"}, {"name": "k2"}]}});
        let p = json!({"metadata": {"finalizers": ["b"]}, "spec": {"containers": [{"name": "k1", "$patch": "delete"}]}});
        let out = apply_patch(&cur, PatchType::Strategic, &p).unwrap();
        assert_eq!(out["metadata"]["finalizers"], json!(["a", "b"]));
        assert_eq!(out["spec"]["containers"], json!([{"name": "k2"}]));
    }

    #[test]
    fn strategic_replaces_taints_whole() {
        // Two taints with one key and two effects stay two; removing one keeps the other
        // (`kubectl taint` sends the whole remaining list).
        let cur = json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "o", "effect": "NoSchedule"}]}});
        let both = json!({"spec": {"taints": [{"key": "k", "effect": "NoSchedule"}, {"key": "k", "effect": "NoExecute"}, {"key": "o", "effect": "NoSchedule"}]}});
        let out = apply_patch(&cur, PatchType::Strategic, &both).unwrap();
        assert_eq!(out["spec"]["taints"], both["spec"]["taints"]);
        let one = json!({"spec": {"taints": [{"key": "o", "effect": "NoSchedule"}]}});
        let out = apply_patch(&out, PatchType::Strategic, &one).unwrap();
        assert_eq!(out["spec"]["taints"], one["spec"]["taints"]);
        let none = json!({"spec": {"taints": null}});
        let out = apply_patch(&out, PatchType::Strategic, &none).unwrap();
        assert!(out["spec"].get("taints").is_none());
    }
}
