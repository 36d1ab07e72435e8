//! Built-in admission: what kube-apiserver's default admission plugins and the built-in
//! types' validation do to a write of a built-in kind, past the generic checks of `write.rs`.
//! The schema admission of custom resources lives in `crate::kube::schema`; this is its
//! counterpart for the few built-in rules clients notice:
//! - `Priority`: a pod's `priorityClassName` resolves to `spec.priority` and
//!   `spec.preemptionPolicy` (the `globalDefault` class, or 0, without one); an unknown class,
//!   or a body priority that differs from the class's, is refused with 403;
//! - PriorityClass validation: the `system-` prefix is reserved for the built-in classes, user
//!   values are at most 1e9, one `globalDefault` at most, `value` and `preemptionPolicy` are
//!   immutable;
//! - Job validation: the pod template's `restartPolicy` is `OnFailure` or `Never`.
//!
//! Admission runs before a dry run returns, so `--dry-run=server` reports the same refusals.

use super::meta::meta;
use super::State;
use crate::kube::error::{ApiError, ApiResult};
use crate::kube::resources::{ResourceDef, StorageKey};
use crate::kube::schema::errors::{BadValue, ErrorType, FieldError};
use serde_json::{json, Value};

/// Highest `value` of a PriorityClass not built in (`HighestUserDefinablePriority`).
pub const HIGHEST_USER_PRIORITY: i64 = 1_000_000_000;

/// The built-in PriorityClasses kube-apiserver creates at start-up: name, value, description.
pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64, &str)] = &[
    (
        "system-node-critical",
        2_000_001_000,
        "Used for system critical pods that must not be moved from their current node.",
    ),
    (
        "system-cluster-critical",
        2_000_000_000,
        "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary.",
    ),
];

/// The default preemption policy.
const PREEMPT_LOWER: &str = "PreemptLowerPriority";

fn priority_classes(st: &State) -> impl Iterator<Item = &Value> {
    let key: StorageKey = ("scheduling.k8s.io".into(), "priorityclasses".into());
    st.collections
        .get(&key)
        .into_iter()
        .flat_map(|c| c.values())
        .map(|s| &s.value)
}

fn name_of(v: &Value) -> &str {
    meta(v)["name"].as_str().unwrap_or_default()
}

/// Admits a create (`old` None) or an update of a built-in object, possibly mutating it.
pub(super) fn admit(
    st: &State,
    def: &ResourceDef,
    v: &mut Value,
    old: Option<&Value>,
) -> ApiResult<()> {
    if def.custom {
        return Ok(());
    }
    let pod_spec = match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => Some("spec"),
        ("apps", "Deployment" | "ReplicaSet" | "DaemonSet" | "StatefulSet") | ("batch", "Job") => {
            Some("spec.template.spec")
        }
        _ => None,
    };
    if let Some(path) = pod_spec {
        validate_node_selector_operators(def, v, path)?;
    }
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => admit_pod(st, v, old),
        ("scheduling.k8s.io", "PriorityClass") => admit_priority_class(st, def, v, old),
        ("batch", "Job") => validate_job(def, v),
        _ => Ok(()),
    }
}

/// The node selector operators Kubernetes knows (Karpenter's `Gte`/`Lte` are not among them).
const NODE_SELECTOR_OPERATORS: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];

/// Pod validation of node affinity: every `matchExpressions` and `matchFields` operator of the
/// required and preferred terms must be one Kubernetes knows (kube-apiserver's
/// `ValidateNodeSelectorRequirement`).
fn validate_node_selector_operators(
    def: &ResourceDef,
    v: &Value,
    spec_path: &str,
) -> ApiResult<()> {
    let pointer = format!("/{}", spec_path.replace('.', "/"));
    let Some(affinity) = v.pointer(&format!("{pointer}/affinity/nodeAffinity")) else {
        return Ok(());
    };
    let base = format!("{spec_path}.affinity.nodeAffinity");
    let mut terms: Vec<(String, &Value)> = Vec::new();
    let required = "requiredDuringSchedulingIgnoredDuringExecution";
    for (i, t) in affinity[required]["nodeSelectorTerms"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        terms.push((format!("{base}.{required}.nodeSelectorTerms[{i}]"), t));
    }
    let preferred = "preferredDuringSchedulingIgnoredDuringExecution";
    for (i, t) in affinity[preferred]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        terms.push((
            format!("{base}.{preferred}[{i}].preference"),
            &t["preference"],
        ));
    }
    let mut errors = Vec::new();
    for (path, term) in terms {
        for list in ["matchExpressions", "matchFields"] {
            for (j, expr) in term[list].as_array().into_iter().flatten().enumerate() {
                let op = expr["operator"].as_str().unwrap_or_default();
                if !NODE_SELECTOR_OPERATORS.contains(&op) {
                    errors.push(FieldError::new(
                        ErrorType::Invalid,
                        format!("{path}.{list}[{j}].operator"),
                        BadValue::Str(op.into()),
                        "not a valid selector operator",
                    ));
                }
            }
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    Err(ApiError::invalid_fields(
        &def.group,
        &def.kind,
        name_of(v),
        &errors,
    ))
}

/// The `Priority` admission plugin.
fn admit_pod(st: &State, v: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    if !v["spec"].is_object() {
        return Ok(());
    }
    if let Some(old) = old {
        // Priority was set on create: an update that leaves it out keeps it.
        for k in ["priority", "preemptionPolicy"] {
            if v["spec"].get(k).is_none_or(Value::is_null) {
                if let Some(x) = old["spec"].get(k).filter(|x| !x.is_null()) {
                    v["spec"][k] = x.clone();
                }
            }
        }
        return Ok(());
    }
    let pod = name_of(v).to_string();
    let forbidden =
        |msg: String| ApiError::forbidden(format!("pods \"{pod}\" is forbidden: {msg}"));
    let class_name = v["spec"]["priorityClassName"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (priority, policy) = if class_name.is_empty() {
        // The global default (the lowest value if several), else 0.
        let default = priority_classes(st)
            .filter(|pc| pc["globalDefault"] == json!(true))
            .min_by_key(|pc| pc["value"].as_i64().unwrap_or(0));
        match default {
            Some(pc) => {
                v["spec"]["priorityClassName"] = json!(name_of(pc));
                (
                    pc["value"].as_i64().unwrap_or(0),
                    pc["preemptionPolicy"].as_str().unwrap_or(PREEMPT_LOWER),
                )
            }
            None => (0, PREEMPT_LOWER),
        }
    } else {
        let pc = priority_classes(st)
            .find(|pc| name_of(pc) == class_name)
            .ok_or_else(|| {
                forbidden(format!("no PriorityClass with name {class_name} was found"))
            })?;
        (
            pc["value"].as_i64().unwrap_or(0),
            pc["preemptionPolicy"].as_str().unwrap_or(PREEMPT_LOWER),
        )
    };
    if let Some(given) = v["spec"]["priority"].as_i64() {
        if given != priority {
            return Err(forbidden(format!("the integer value of priority ({given}) must not be provided in pod spec; priority admission controller computed {priority} from the given PriorityClass name")));
        }
    }
    if let Some(given) = v["spec"]["preemptionPolicy"].as_str() {
        if given != policy {
            return Err(forbidden(format!("the string value of PreemptionPolicy ({given}) must not be provided in pod spec; priority admission controller computed {policy} from the given PriorityClass name")));
        }
    }
    let policy = policy.to_string();
    v["spec"]["priority"] = json!(priority);
    v["spec"]["preemptionPolicy"] = json!(policy);
    default_toleration_seconds(v);
    Ok(())
}

/// The `DefaultTolerationSeconds` admission plugin: a pod that does not tolerate the
/// `not-ready` and `unreachable` NoExecute taints already tolerates each for 300 s, so its
/// node's failure evicts it after five minutes.
fn default_toleration_seconds(v: &mut Value) {
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        let tolerated = v["spec"]["tolerations"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|t| {
                let key_matches = t["key"].as_str() == Some(key)
                    || (t["key"].as_str().unwrap_or_default().is_empty()
                        && t["operator"] == "Exists");
                let effect = t["effect"].as_str().unwrap_or_default();
                key_matches && (effect.is_empty() || effect == "NoExecute")
            });
        if tolerated {
            continue;
        }
        let toleration = json!({"key": key, "operator": "Exists", "effect": "NoExecute",
            "tolerationSeconds": 300});
        match v["spec"]["tolerations"].as_array_mut() {
            Some(list) => list.push(toleration),
            None => v["spec"]["tolerations"] = json!([toleration]),
        }
    }
}

/// PriorityClass validation and the `Priority` plugin's one-default rule.
fn admit_priority_class(
    st: &State,
    def: &ResourceDef,
    v: &mut Value,
    old: Option<&Value>,
) -> ApiResult<()> {
    let name = name_of(v).to_string();
    let value = v["value"].as_i64().unwrap_or(0);
    let mut errs = Vec::new();
    if name.starts_with("system-") {
        let known = SYSTEM_PRIORITY_CLASSES
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, val, _)| *val);
        let why = match known {
            None => Some(format!("{name} is not a known system priority class")),
            Some(val) if val != value => {
                Some(format!("value of {name} PriorityClass must be {val}"))
            }
            Some(_) if v["globalDefault"] == json!(true) => Some(format!(
                "globalDefault of {name} PriorityClass must be false"
            )),
            Some(_) => None,
        };
        if let Some(why) = why {
            errs.push(FieldError::new(
                ErrorType::Forbidden,
                "metadata.name",
                BadValue::Omit,
                format!("priority class names with 'system-' prefix are reserved for system use only. error: {why}"),
            ));
        }
    } else if value > HIGHEST_USER_PRIORITY {
        errs.push(FieldError::new(
            ErrorType::Forbidden,
            "value",
            BadValue::Omit,
            format!("maximum allowed value of a user defined priority is {HIGHEST_USER_PRIORITY}"),
        ));
    }
    if let Some(p) = v["preemptionPolicy"].as_str() {
        if p != PREEMPT_LOWER && p != "Never" {
            errs.push(FieldError::new(
                ErrorType::NotSupported,
                "preemptionPolicy",
                BadValue::Str(p.into()),
                "supported values: \"Never\", \"PreemptLowerPriority\"",
            ));
        }
    }
    if let Some(old) = old {
        if old["value"] != v["value"] {
            errs.push(FieldError::new(
                ErrorType::Forbidden,
                "value",
                BadValue::Omit,
                "may not be changed in an update.",
            ));
        }
        if old["preemptionPolicy"] != v["preemptionPolicy"] {
            errs.push(FieldError::invalid(
                "preemptionPolicy",
                BadValue::of(&v["preemptionPolicy"]),
                "field is immutable",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(ApiError::invalid_fields(
            &def.group, &def.kind, &name, &errs,
        ));
    }
    if v["globalDefault"] == json!(true) {
        if let Some(other) = priority_classes(st)
            .find(|pc| pc["globalDefault"] == json!(true) && name_of(pc) != name)
        {
            return Err(ApiError::forbidden(format!(
                "priorityclasses.scheduling.k8s.io \"{name}\" is forbidden: PriorityClass {} is already marked as default. Only one default can exist",
                name_of(other)
            )));
        }
    }
    Ok(())
}

/// Job validation: the pods of a Job end, so they may not restart `Always`.
fn validate_job(def: &ResourceDef, v: &Value) -> ApiResult<()> {
    let policy = v
        .pointer("/spec/template/spec/restartPolicy")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if policy == "OnFailure" || policy == "Never" {
        return Ok(());
    }
    // An absent policy was defaulted to Always: both are "Required", as kube-apiserver says.
    let err = if policy.is_empty() || policy == "Always" {
        FieldError::new(
            ErrorType::Required,
            "spec.template.spec.restartPolicy",
            BadValue::Omit,
            "valid values: \"OnFailure\", \"Never\"",
        )
    } else {
        FieldError::new(
            ErrorType::NotSupported,
            "spec.template.spec.restartPolicy",
            BadValue::Str(policy.into()),
            "supported values: \"OnFailure\", \"Never\"",
        )
    };
    Err(ApiError::invalid_fields(
        &def.group,
        &def.kind,
        name_of(v),
        &[err],
    ))
}

/// The built-in PriorityClasses as objects to create.
pub(super) fn system_priority_classes() -> impl Iterator<Item = Value> {
    SYSTEM_PRIORITY_CLASSES.iter().map(|(name, value, desc)| {
        json!({
            "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
            "metadata": {"name": name},
            "value": value, "description": desc, "preemptionPolicy": PREEMPT_LOWER,
        })
    })
}
