//! Drift hashes: the NodePool template hash (`karpenter.sh/nodepool-hash`) and the OVHNodeClass
//! spec hash (`karpenter.ovhcloud.sh/nodeclass-hash`), stamped on NodeClaims at launch and
//! compared later.
//!
//! Like upstream's `hashstructure` options (`SlicesAsSets`, `IgnoreZeroValue`), the hash does not
//! depend on map key order, list order (taints) or on fields left at their zero value, so
//! adding an empty field or reordering a manifest is not drift. Requirements are not hashed
//! (upstream checks them separately: a NodeClaim drifts only if it no longer satisfies them).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::nodeclass::OVHNodeClassSpec;
use super::nodepool::NodePool;

/// Version of the NodePool hash algorithm, written to `karpenter.sh/nodepool-hash-version`.
/// Bump it when the hashed fields or their defaults change, so old hashes are re-stamped
/// instead of read as drift.
pub const NODEPOOL_HASH_VERSION: &str = "v1";

/// Version of the OVHNodeClass hash algorithm (`karpenter.ovhcloud.sh/nodeclass-hash-version`).
pub const NODECLASS_HASH_VERSION: &str = "v1";

/// Hash of a NodePool's template, without its requirements.
pub fn nodepool_hash(nodepool: &NodePool) -> String {
    let mut template = serde_json::to_value(&nodepool.spec.template).unwrap_or(Value::Null);
    if let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("requirements");
    }
    hash_value(&template)
}

/// Hash of an OVHNodeClass spec, without what does not change the nodes themselves (the
/// credentials reference, the API endpoint and price overrides).
pub fn nodeclass_hash(spec: &OVHNodeClassSpec) -> String {
    let mut value = serde_json::to_value(spec).unwrap_or(Value::Null);
    if let Some(obj) = value.as_object_mut() {
        for ignored in ["credentialsSecretRef", "endpoint", "priceOverrides"] {
            obj.remove(ignored);
        }
    }
    hash_value(&value)
}

/// A stable hash of a JSON value: the first 8 bytes of SHA-256 over its canonical form, as a
/// decimal number (the same shape as upstream's hashes).
pub fn hash_value(value: &Value) -> String {
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first).to_string()
}

/// Whether a value counts as unset: null, false, 0, "", [] or {} (after pruning).
fn is_zero(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_zero),
        Value::Object(o) => o.values().all(is_zero),
    }
}

/// Writes `value` with object keys sorted, zero fields dropped and arrays treated as sets
/// (their elements' canonical forms sorted).
fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map
                .iter()
                .filter(|(_, v)| !is_zero(v))
                .map(|(k, _)| k)
                .collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(&map[key], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            let mut parts: Vec<String> = items
                .iter()
                .map(|item| {
                    let mut s = String::new();
                    write_canonical(item, &mut s);
                    s
                })
                .collect();
            parts.sort();
            out.push('[');
            out.push_str(&parts.join(","));
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_order_list_order_and_zero_fields_do_not_matter() {
        let a = json!({"b": 1, "a": [{"key": "x", "effect": "NoSchedule"}, {"key": "y", "effect": "NoExecute"}]});
        let b = json!({"a": [{"effect": "NoExecute", "key": "y"}, {"effect": "NoSchedule", "key": "x"}], "b": 1, "c": "", "d": {}});
        assert_eq!(hash_value(&a), hash_value(&b));
    }

    #[test]
    fn values_matter() {
        assert_ne!(
            hash_value(&json!({"expireAfter": "720h"})),
            hash_value(&json!({"expireAfter": "24h"}))
        );
        assert_ne!(
            hash_value(&json!({"monthlyBilled": true})),
            hash_value(&json!({"monthlyBilled": false}))
        );
    }

    fn pool(template_spec: serde_json::Value, labels: serde_json::Value) -> NodePool {
        serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1",
            "kind": "NodePool",
            "metadata": {"name": "p"},
            "spec": {"template": {"metadata": {"labels": labels}, "spec": template_spec}}
        }))
        .unwrap()
    }

    fn spec(requirements: serde_json::Value, taints: serde_json::Value) -> serde_json::Value {
        json!({
            "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
            "requirements": requirements,
            "taints": taints,
        })
    }

    #[test]
    fn nodepool_hash_ignores_requirements_and_order() {
        let t1 =
            json!([{"key": "a", "effect": "NoSchedule"}, {"key": "b", "effect": "NoSchedule"}]);
        let t2 =
            json!([{"key": "b", "effect": "NoSchedule"}, {"key": "a", "effect": "NoSchedule"}]);
        let r1 = json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]}]);
        let r2 = json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-16"]}]);
        let base = nodepool_hash(&pool(spec(r1.clone(), t1.clone()), json!({"team": "a"})));
        assert_eq!(
            base,
            nodepool_hash(&pool(spec(r2, t2), json!({"team": "a"})))
        );
        assert_ne!(
            base,
            nodepool_hash(&pool(spec(r1.clone(), t1.clone()), json!({"team": "b"})))
        );
        assert_ne!(
            base,
            nodepool_hash(&pool(spec(r1, json!([])), json!({"team": "a"})))
        );
    }

    #[test]
    fn nodeclass_hash_follows_what_changes_nodes() {
        let class = |monthly: bool, price: f64| -> OVHNodeClassSpec {
            serde_json::from_value(json!({
                "serviceName": "0123456789abcdef0123456789abcdef",
                "kubeId": "k",
                "region": "EU-WEST-PAR",
                "monthlyBilled": monthly,
                "priceOverrides": {"b3-8": price},
            }))
            .unwrap()
        };
        assert_eq!(
            nodeclass_hash(&class(false, 1.0)),
            nodeclass_hash(&class(false, 2.0))
        );
        assert_ne!(
            nodeclass_hash(&class(false, 1.0)),
            nodeclass_hash(&class(true, 1.0))
        );
    }
}
