//! Conversion between the stored form of an object and the versions that serve it (events.k8s.io
//! v1 events are stored as core v1 events, renamed on the way in and out).

use crate::kube::resources::{ResourceDef, View};
use serde_json::{json, Map, Value};

/// Converts a stored object to how a served version presents it.
pub fn to_view(def: &ResourceDef, v: &Value) -> Value {
    let mut out = match def.view {
        View::Native => v.clone(),
        View::EventsV1 => core_event_to_v1(v),
    };
    out["apiVersion"] = json!(def.api_version());
    out["kind"] = json!(def.kind);
    out
}

/// Converts a body of a served version to the stored form.
pub fn from_view(def: &ResourceDef, v: Value) -> Value {
    match def.view {
        View::Native => v,
        View::EventsV1 => v1_event_to_core(&v),
    }
}

/// Field names of core v1 events and their events.k8s.io v1 names.
const EVENT_RENAMES: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("count", "deprecatedCount"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("source", "deprecatedSource"),
    ("reportingComponent", "reportingController"),
];

/// Renames event fields (`from_core`: core to events.k8s.io, else back).
fn rename(v: &Value, from_core: bool) -> Value {
    let mut out = Map::new();
    if let Some(m) = v.as_object() {
        for (k, x) in m {
            let nk = EVENT_RENAMES
                .iter()
                .find(|(c, e)| if from_core { c == k } else { e == k })
                .map(|(c, e)| if from_core { *e } else { *c })
                .unwrap_or(k.as_str());
            out.insert(nk.to_string(), x.clone());
        }
    }
    Value::Object(out)
}

/// A stored core event as events.k8s.io v1 serves it.
fn core_event_to_v1(v: &Value) -> Value {
    rename(v, true)
}

/// An events.k8s.io v1 body in the stored core form.
fn v1_event_to_core(v: &Value) -> Value {
    let mut c = rename(v, false);
    c["apiVersion"] = json!("v1");
    c["kind"] = json!("Event");
    if c.get("source").is_none() {
        if let Some(rc) = c["reportingComponent"].as_str() {
            c["source"] = json!({"component": rc});
        }
    }
    c
}
