//! Pieces of OpenAPI schema that `schemars` cannot derive on its own: upstream Karpenter's
//! patterns, CEL rules and Kubernetes list/map markers, applied through
//! `#[schemars(schema_with = ..)]` and `#[schemars(transform = ..)]`.
//!
//! The patterns and rules are those of upstream's published CRDs (`pkg/apis/crds/` of
//! kubernetes-sigs/karpenter), so a manifest accepted there is accepted here and vice versa,
//! plus one rule restricting our own label domain `karpenter.ovhcloud.sh` (as each provider
//! does for its own domain).

use schemars::{json_schema, Schema, SchemaGenerator};
use serde_json::{json, Value};

use super::labels;

/// Pattern of a Kubernetes resource quantity (int-or-string).
pub const QUANTITY_PATTERN: &str = r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$";
/// Pattern of a qualified name: a label key or a taint key.
pub const QUALIFIED_NAME_PATTERN: &str = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*(\/))?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$";
/// Pattern of a label value (may be empty).
pub const LABEL_VALUE_PATTERN: &str = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$";
/// Pattern of `consolidateAfter` and `expireAfter`: a duration in s/m/h, or `Never`.
pub const NILLABLE_DURATION_PATTERN: &str = r"^(([0-9]+(s|m|h))+|Never)$";
/// Pattern of `terminationGracePeriod`: a duration in s/m/h.
pub const DURATION_PATTERN: &str = r"^([0-9]+(s|m|h))+$";
/// Pattern of a budget's `duration`: minutes and hours only (cron has no seconds).
pub const BUDGET_DURATION_PATTERN: &str = r"^((([0-9]+(h|m))|([0-9]+h[0-9]+m))(0s)?)$";
/// Pattern of a budget's `nodes`: a count or a percentage.
pub const BUDGET_NODES_PATTERN: &str = r"^((100|[0-9]{1,2})%|[0-9]+)$";
/// Pattern of a budget's `schedule`: a cron macro or five cron fields.
pub const BUDGET_SCHEDULE_PATTERN: &str =
    r"^(@(annually|yearly|monthly|weekly|daily|midnight|hourly))|((.+)\s(.+)\s(.+)\s(.+)\s(.+))$";
/// Pattern of an OVH public cloud project id (`serviceName`).
pub const SERVICE_NAME_PATTERN: &str = r"^[a-f0-9]{32}$";

/// A CEL rule with its message, as `x-kubernetes-validations` holds it.
fn rule(rule: impl Into<String>, message: impl Into<String>) -> Value {
    json!({ "message": message.into(), "rule": rule.into() })
}

/// The `karpenter.ovhcloud.sh` labels a user may set or require: the flavor labels.
fn ovh_allowed() -> String {
    let keys: Vec<String> = labels::OVH_WELL_KNOWN
        .iter()
        .map(|k| format!("\"{k}\""))
        .collect();
    format!("[{}]", keys.join(", "))
}

/// Rules on one requirement key (`self` is the key). A NodePool may not require
/// `karpenter.sh/nodepool` (the controller sets it); a NodeClaim carries it.
fn requirement_key_rules(nodepool: bool) -> Value {
    let mut rules = vec![rule(
        r#"self in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"] || !self.find("^([^/]+)").endsWith("karpenter.sh")"#,
        r#"label domain "karpenter.sh" is restricted"#,
    )];
    if nodepool {
        rules.push(rule(
            r#"self != "karpenter.sh/nodepool""#,
            r#"label "karpenter.sh/nodepool" is restricted"#,
        ));
    }
    rules.push(rule(
        r#"self != "kubernetes.io/hostname""#,
        r#"label "kubernetes.io/hostname" is restricted"#,
    ));
    rules.push(rule(
        format!(
            r#"self in {} || !self.find("^([^/]+)").endsWith("karpenter.ovhcloud.sh")"#,
            ovh_allowed()
        ),
        r#"label domain "karpenter.ovhcloud.sh" is restricted"#,
    ));
    Value::Array(rules)
}

/// Rules on a template's label map (`self` is the map; `x` a key).
fn template_label_rules() -> Value {
    json!([
        rule(
            r#"self.all(x, x in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"] || !x.find("^([^/]+)").endsWith("karpenter.sh"))"#,
            r#"label domain "karpenter.sh" is restricted"#
        ),
        rule(
            r#"self.all(x, x != "karpenter.sh/nodepool")"#,
            r#"label "karpenter.sh/nodepool" is restricted"#
        ),
        rule(
            r#"self.all(x, x != "kubernetes.io/hostname")"#,
            r#"label "kubernetes.io/hostname" is restricted"#
        ),
        rule(
            format!(
                r#"self.all(x, x in {} || !x.find("^([^/]+)").endsWith("karpenter.ovhcloud.sh"))"#,
                ovh_allowed()
            ),
            r#"label domain "karpenter.ovhcloud.sh" is restricted"#
        ),
    ])
}

/// Schema of a resource list (`map[ResourceName]Quantity`), as upstream writes it.
pub fn quantity_map(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": {
            "anyOf": [{ "type": "integer" }, { "type": "string" }],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": true,
        },
    })
}

/// Schema of a list of node taints, with upstream's key/value patterns and effect enum.
pub fn taints(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "atomic",
        "items": {
            "description": "The node this Taint is attached to has the \"effect\" on\nany pod that does not tolerate the Taint.",
            "type": "object",
            "required": ["effect", "key"],
            "properties": {
                "effect": {
                    "description": "Required. The effect of the taint on pods\nthat do not tolerate the taint.\nValid effects are NoSchedule, PreferNoSchedule and NoExecute.",
                    "type": "string",
                    "enum": ["NoSchedule", "PreferNoSchedule", "NoExecute"],
                },
                "key": {
                    "description": "Required. The taint key to be applied to a node.",
                    "type": "string",
                    "minLength": 1,
                    "pattern": QUALIFIED_NAME_PATTERN,
                },
                "timeAdded": {
                    "description": "TimeAdded represents the time at which the taint was added.\nIt is only written for NoExecute taints.",
                    "type": "string",
                    "format": "date-time",
                },
                "value": {
                    "description": "The taint value corresponding to the taint key.",
                    "type": "string",
                    "pattern": QUALIFIED_NAME_PATTERN,
                },
            },
        },
    })
}

/// Schema of a template's labels: bounded, valid values, restricted domains.
pub fn template_labels(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "maxProperties": 100,
        "additionalProperties": {
            "type": "string",
            "maxLength": 63,
            "pattern": LABEL_VALUE_PATTERN,
        },
        "x-kubernetes-map-type": "atomic",
        "x-kubernetes-validations": template_label_rules(),
    })
}

/// Transform of a requirement's `values`: upstream (controller-gen) puts the value's length and
/// pattern on the list itself, where the API server never applies them; kept identical so that
/// manifests validate the same way under both CRD sets.
pub fn requirement_values(schema: &mut Schema) {
    atomic_list(schema);
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("maxLength".into(), 63.into());
        obj.insert("pattern".into(), LABEL_VALUE_PATTERN.into());
    }
}

/// Drops `format` (upstream's Go `*int` has none, where `i32` says `int32`).
pub fn no_format(schema: &mut Schema) {
    if let Some(obj) = schema.as_object_mut() {
        obj.remove("format");
    }
}

/// Transform of a NodePool template's `requirements`.
pub fn nodepool_requirements(schema: &mut Schema) {
    requirements(schema, true);
}

/// Transform of a NodeClaim's `requirements`.
pub fn nodeclaim_requirements(schema: &mut Schema) {
    requirements(schema, false);
}

/// Adds the rules of a requirement list and of each item's key, and the atomic list marker.
fn requirements(schema: &mut Schema, nodepool: bool) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    obj.insert("x-kubernetes-list-type".into(), "atomic".into());
    obj.insert(
        "x-kubernetes-validations".into(),
        json!([
            rule(
                "self.all(x, x.operator == 'In' ? x.values.size() != 0 : true)",
                "requirements with operator 'In' must have a value defined"
            ),
            rule(
                "self.all(x, (x.operator == 'Gt' || x.operator == 'Lt' || x.operator == 'Gte' || x.operator == 'Lte') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)",
                "requirements operator 'Gt', 'Lt', 'Gte', or 'Lte' must have a single positive integer value"
            ),
            rule(
                "self.all(x, (x.operator == 'In' && has(x.minValues)) ? x.values.size() >= x.minValues : true)",
                "requirements with 'minValues' must have at least that many values specified in the 'values' field"
            ),
        ]),
    );
    if let Some(key) = obj
        .get_mut("items")
        .and_then(|items| items.get_mut("properties"))
        .and_then(|props| props.get_mut("key"))
        .and_then(Value::as_object_mut)
    {
        key.insert(
            "x-kubernetes-validations".into(),
            requirement_key_rules(nodepool),
        );
    }
}

/// Marks a list of conditions as a map keyed by `type`, as upstream does.
pub fn conditions_list(schema: &mut Schema) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("x-kubernetes-list-type".into(), "map".into());
        obj.insert("x-kubernetes-list-map-keys".into(), json!(["type"]));
    }
}

/// Transform of a NodePool's `status.conditions`: a list keyed by type whose items require
/// every field but `observedGeneration`, with a non-empty reason, as upstream's NodePool
/// (`metav1.Condition`; a NodeClaim's conditions are laxer upstream, so the shared type is).
pub fn strict_conditions(schema: &mut Schema) {
    conditions_list(schema);
    let Some(item) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("items"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Some(reason) = item
        .get_mut("properties")
        .and_then(|p| p.get_mut("reason"))
        .and_then(Value::as_object_mut)
    {
        reason.insert("minLength".into(), 1.into());
        reason.insert(
            "pattern".into(),
            r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$".into(),
        );
    }
    let mut item_schema = Schema::from(std::mem::take(item));
    require(
        &mut item_schema,
        &["lastTransitionTime", "message", "reason", "status", "type"],
    );
    if let Some(obj) = item_schema.as_object_mut() {
        *item = std::mem::take(obj);
    }
}

/// Marks a list as atomic (replaced as a whole by server-side apply).
pub fn atomic_list(schema: &mut Schema) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("x-kubernetes-list-type".into(), "atomic".into());
    }
}

/// Moves `fields` into the object's `required` list, keeping their defaults: upstream marks
/// some defaulted fields required (e.g. a budget's `nodes`), which `schemars` never does.
pub fn require(schema: &mut Schema, fields: &[&str]) {
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    let required = obj
        .entry("required")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Value::Array(list) = required {
        for field in fields {
            if !list.iter().any(|v| v == field) {
                list.push(Value::from(*field));
            }
        }
        list.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
    }
}

/// Replaces the schema default of an object (upstream defaults some objects to a partial
/// value and lets nested defaults fill the rest).
pub fn set_default(schema: &mut Schema, default: Value) {
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("default".into(), default);
    }
}
