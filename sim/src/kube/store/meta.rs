//! Metadata accessors and the values the server generates (uids, name suffixes, timestamps).

use serde_json::{json, Map, Value};

/// RFC 3339 timestamp at second precision, as Kubernetes writes them.
pub fn now() -> String {
    let t = jiff::Timestamp::now();
    jiff::Timestamp::from_second(t.as_second())
        .unwrap_or(t)
        .to_string()
}

/// A random v4-shaped uid.
pub(super) fn random_uid() -> String {
    let b: [u8; 16] = rand::random();
    let h = hex::encode(b);
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A `generateName` suffix from the alphabet Kubernetes uses.
pub(super) fn random_suffix() -> String {
    const CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

/// `metadata` of an object (`Null` when absent).
pub(super) fn meta(v: &Value) -> &Value {
    &v["metadata"]
}

/// `metadata` of an object, created when absent or not an object.
pub(super) fn meta_mut(v: &mut Value) -> &mut Map<String, Value> {
    if !v.get("metadata").is_some_and(Value::is_object) {
        v["metadata"] = json!({});
    }
    v["metadata"].as_object_mut().expect("metadata object")
}

/// Uids in `metadata.ownerReferences`.
pub(super) fn owner_uids(v: &Value) -> Vec<String> {
    meta(v)["ownerReferences"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|o| o["uid"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// `metadata.uid` (empty when absent).
pub(super) fn uid_of(v: &Value) -> String {
    meta(v)["uid"].as_str().unwrap_or_default().to_string()
}

/// `metadata.finalizers`.
pub(super) fn finalizers(v: &Value) -> Vec<String> {
    meta(v)["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// The object body without metadata and status (what `generation` tracks).
pub(super) fn spec_part(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("apiVersion");
        m.remove("kind");
    }
    c
}

/// Comparison of two versions ignoring bookkeeping metadata (no-op writes keep the version).
pub(super) fn same_content(a: &Value, b: &Value) -> bool {
    let strip = |v: &Value| {
        let mut c = v.clone();
        if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
            m.remove("managedFields");
        }
        c
    };
    strip(a) == strip(b)
}
