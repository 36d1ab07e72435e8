//! Label and field selectors, as list and watch requests carry them.

use serde_json::Value;

/// One label requirement.
#[derive(Debug, Clone, PartialEq)]
pub enum LabelReq {
    /// `k=v`, `k==v`.
    Eq(String, String),
    /// `k!=v` (true when the label is absent).
    Ne(String, String),
    /// `k in (a,b)`.
    In(String, Vec<String>),
    /// `k notin (a,b)` (true when absent).
    NotIn(String, Vec<String>),
    /// `k`.
    Exists(String),
    /// `!k`.
    NotExists(String),
}

/// A parsed label selector (all requirements must hold).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LabelSelector(pub Vec<LabelReq>);

/// Splits on commas outside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect()
}

fn set_values(s: &str) -> Result<Vec<String>, String> {
    let s = s.trim();
    let inner = s
        .strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("expected (values), got {s:?}"))?;
    Ok(inner
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect())
}

impl LabelSelector {
    /// Parses the `labelSelector` query syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut reqs = Vec::new();
        for part in split_top(s) {
            if let Some(k) = part.strip_prefix('!') {
                reqs.push(LabelReq::NotExists(k.trim().to_string()));
            } else if let Some(i) = part.find(" notin ") {
                reqs.push(LabelReq::NotIn(
                    part[..i].trim().into(),
                    set_values(&part[i + 7..])?,
                ));
            } else if let Some(i) = part.find(" in ") {
                reqs.push(LabelReq::In(
                    part[..i].trim().into(),
                    set_values(&part[i + 4..])?,
                ));
            } else if let Some((k, v)) = part.split_once("!=") {
                reqs.push(LabelReq::Ne(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once("==") {
                reqs.push(LabelReq::Eq(k.trim().into(), v.trim().into()));
            } else if let Some((k, v)) = part.split_once('=') {
                reqs.push(LabelReq::Eq(k.trim().into(), v.trim().into()));
            } else if part.contains([' ', '(', ')']) {
                return Err(format!("unable to parse requirement: {part:?}"));
            } else {
                reqs.push(LabelReq::Exists(part.to_string()));
            }
        }
        Ok(LabelSelector(reqs))
    }

    /// A `metav1.LabelSelector` object (matchLabels + matchExpressions).
    pub fn from_object(sel: &Value) -> Self {
        let mut reqs = Vec::new();
        if let Some(m) = sel.get("matchLabels").and_then(Value::as_object) {
            for (k, v) in m {
                reqs.push(LabelReq::Eq(
                    k.clone(),
                    v.as_str().unwrap_or_default().into(),
                ));
            }
        }
        for e in sel
            .get("matchExpressions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let key = e["key"].as_str().unwrap_or_default().to_string();
            let vals: Vec<String> = e["values"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default();
            reqs.push(match e["operator"].as_str().unwrap_or_default() {
                "In" => LabelReq::In(key, vals),
                "NotIn" => LabelReq::NotIn(key, vals),
                "Exists" => LabelReq::Exists(key),
                _ => LabelReq::NotExists(key),
            });
        }
        LabelSelector(reqs)
    }

    /// The selector in query syntax (Scale status.selector).
    pub fn to_query(&self) -> String {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|r| match r {
                LabelReq::Eq(k, v) => format!("{k}={v}"),
                LabelReq::Ne(k, v) => format!("{k}!={v}"),
                LabelReq::In(k, v) => format!("{k} in ({})", v.join(",")),
                LabelReq::NotIn(k, v) => format!("{k} notin ({})", v.join(",")),
                LabelReq::Exists(k) => k.clone(),
                LabelReq::NotExists(k) => format!("!{k}"),
            })
            .collect();
        parts.join(",")
    }

    /// Whether an object's labels match.
    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_labels(obj.pointer("/metadata/labels").and_then(Value::as_object))
    }

    /// Whether a label map (`None`: no labels) matches.
    pub fn matches_labels(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        self.matches_with(|k| labels.and_then(|l| l.get(k)).and_then(Value::as_str))
    }

    /// Whether labels read through `get` (label key -> value) match.
    pub fn matches_with<'a>(&self, get: impl Fn(&str) -> Option<&'a str>) -> bool {
        self.0.iter().all(|r| match r {
            LabelReq::Eq(k, v) => get(k) == Some(v.as_str()),
            LabelReq::Ne(k, v) => get(k) != Some(v.as_str()),
            LabelReq::In(k, vs) => get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::NotIn(k, vs) => !get(k).is_some_and(|x| vs.iter().any(|v| v == x)),
            LabelReq::Exists(k) => get(k).is_some(),
            LabelReq::NotExists(k) => get(k).is_none(),
        })
    }

    /// Whether it selects nothing (an empty selector selects everything).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A parsed field selector: `path=value` / `path!=value` terms.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FieldSelector(pub Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses the `fieldSelector` query syntax.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut terms = Vec::new();
        for part in split_top(s) {
            let (k, eq, v) = if let Some((k, v)) = part.split_once("!=") {
                (k, false, v)
            } else if let Some((k, v)) = part.split_once("==") {
                (k, true, v)
            } else if let Some((k, v)) = part.split_once('=') {
                (k, true, v)
            } else {
                return Err(format!(
                    "invalid selector: '{part}'; can't understand '{part}'"
                ));
            };
            terms.push((k.trim().to_string(), eq, v.trim().to_string()));
        }
        Ok(FieldSelector(terms))
    }

    /// Checks that every field is supported for the resource.
    pub fn validate(&self, kind: &str) -> Result<(), String> {
        for (f, _, _) in &self.0 {
            if field_path(kind, f).is_none() {
                return Err(format!("field label not supported: {f}"));
            }
        }
        Ok(())
    }

    /// Whether the object matches.
    pub fn matches(&self, kind: &str, obj: &Value) -> bool {
        self.0.iter().all(|(f, eq, v)| {
            let actual = field_path(kind, f)
                .and_then(|p| obj.pointer(&p).cloned())
                .map(|x| match x {
                    Value::String(s) => s,
                    Value::Null => String::new(),
                    other => other.to_string(),
                })
                .unwrap_or_default();
            (actual == *v) == *eq
        })
    }

    /// A value the selector pins `metadata.name` to, if any (fast path for `kubectl wait`).
    pub fn name(&self) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, eq, _)| f == "metadata.name" && *eq)
            .map(|(_, _, v)| v.as_str())
    }
}

/// JSON pointer of a selectable field, per kind (the fields kube-apiserver indexes).
fn field_path(kind: &str, field: &str) -> Option<String> {
    let generic = matches!(field, "metadata.name" | "metadata.namespace");
    let ok = generic
        || match kind {
            "Pod" => matches!(
                field,
                "spec.nodeName"
                    | "status.phase"
                    | "spec.restartPolicy"
                    | "spec.schedulerName"
                    | "spec.serviceAccountName"
                    | "status.podIP"
                    | "status.nominatedNodeName"
                    | "spec.hostNetwork"
            ),
            "Event" => {
                field.starts_with("involvedObject.")
                    || matches!(
                        field,
                        "reason"
                            | "source"
                            | "type"
                            | "reportingComponent"
                            | "regarding.name"
                            | "regarding.kind"
                            | "regarding.namespace"
                            | "regarding.uid"
                            | "regarding.apiVersion"
                            | "regarding.resourceVersion"
                            | "regarding.fieldPath"
                            | "reportingController"
                    )
            }
            "Node" => field == "spec.unschedulable",
            "Namespace" => field == "status.phase",
            "Secret" => field == "type",
            "ReplicaSet" | "ReplicationController" => field == "status.replicas",
            _ => false,
        };
    if !ok {
        return None;
    }
    // events.k8s.io field names map onto the stored core/v1 layout.
    let f = field
        .replacen("regarding.", "involvedObject.", 1)
        .replace("reportingController", "reportingComponent");
    let f = if f == "source" {
        "source.component".to_string()
    } else {
        f
    };
    Some(format!("/{}", f.replace('.', "/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selector_operators() {
        let o = json!({"metadata": {"labels": {"app": "web", "tier": "fe"}}});
        let t = |s: &str| LabelSelector::parse(s).unwrap().matches(&o);
        assert!(t("app=web"));
        assert!(t("app==web,tier"));
        assert!(!t("app!=web"));
        assert!(t("env!=prod"));
        assert!(t("app in (web, api)"));
        assert!(!t("app notin (web)"));
        assert!(t("!env"));
        assert!(!t("!app"));
        assert!(t("tier in (fe),app"));
        assert!(LabelSelector::parse("a b").is_err());
    }

    #[test]
    fn field_selector_pod_fields() {
        let o = json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}});
        let f = FieldSelector::parse("spec.nodeName=n1,status.phase!=Succeeded").unwrap();
        assert!(f.matches("Pod", &o));
        assert!(!FieldSelector::parse("spec.nodeName=")
            .unwrap()
            .matches("Pod", &o));
        assert!(FieldSelector::parse("spec.foo=x")
            .unwrap()
            .validate("Pod")
            .is_err());
    }
}
