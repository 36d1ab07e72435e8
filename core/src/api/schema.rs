//! Pieces of OpenAPI schema that `schemars` cannot derive on its own: upstream Karpenter's
//! patterns, CEL rules and Kubernetes list/map markers, applied through
//! `#[schemars(schema_with = ..)]` and `#[schemars(transform = ..)]`.
//!
//! The patterns and rules are those of upstream's published CRDs (`pkg/apis/crds/` of
//! kubernetes-sigs/karpenter), so a manifest accepted there is accepted here and vice versa,
//! plus one rule restricting our own label domain `karpenter.ovhcloud.sh`.

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

/// Well-known labels Kubernetes lets node labels and requirements use in its own domains.
const KUBERNETES_ALLOWED: &str = r#"["beta.kubernetes.io/instance-type", "failure-domain.beta.kubernetes.io/region", "beta.kubernetes.io/os", "beta.kubernetes.io/arch", "failure-domain.beta.kubernetes.io/zone", "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "node.kubernetes.io/instance-type", "kubernetes.io/arch", "kubernetes.io/os", "node.kubernetes.io/windows-build"]"#;

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
    let mut rules = vec![
        rule(
            format!(
                r#"self in {KUBERNETES_ALLOWED} || self.find("^([^/]+)").endsWith("node.kubernetes.io") || self.find("^([^/]+)").endsWith("node-restriction.kubernetes.io") || !self.find("^([^/]+)").endsWith("kubernetes.io")"#
            ),
            r#"label domain "kubernetes.io" is restricted"#,
        ),
        rule(
            r#"self.find("^([^/]+)").endsWith("kops.k8s.io") || !self.find("^([^/]+)").endsWith("k8s.io")"#,
            r#"label domain "k8s.io" is restricted"#,
        ),
        rule(
            r#"self in ["karpenter.sh/capacity-type", "karpenter.sh/nodepool"] || !self.find("^([^/]+)").endsWith("karpenter.sh")"#,
            r#"label domain "karpenter.sh" is restricted"#,
        ),
    ];
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
    // Upstream's list for template labels omits instance-type (the node.kubernetes.io clause
    // still admits it); kept identical so manifests validate the same way.
    let kubernetes_allowed =
        KUBERNETES_ALLOWED.replace(r#", "node.kubernetes.io/instance-type""#, "");
    json!([
        rule(
            format!(
                r#"self.all(x, x in {kubernetes_allowed} || x.find("^([^/]+)").endsWith("node.kubernetes.io") || x.find("^([^/]+)").endsWith("node-restriction.kubernetes.io") || !x.find("^([^/]+)").endsWith("kubernetes.io"))"#
            ),
            r#"label domain "kubernetes.io" is restricted"#
        ),
        rule(
            r#"self.all(x, x.find("^([^/]+)").endsWith("kops.k8s.io") || !x.find("^([^/]+)").endsWith("k8s.io"))"#,
            r#"label domain "k8s.io" is restricted"#
        ),
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
        "x-kubernetes-validations": template_label_rules(),
    })
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
                "self.all(x, (x.operator == 'Gt' || x.operator == 'Lt') ? (x.values.size() == 1 && int(x.values[0]) >= 0) : true)",
                "requirements operator 'Gt' or 'Lt' must have a single positive integer value"
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
