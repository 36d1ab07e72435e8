//! RBAC authorization of service-account requests against the stored Role/ClusterRole objects.

use super::store::Store;
use serde_json::Value;

/// Who is calling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// The admin kubeconfig (system:masters): everything allowed.
    Admin,
    /// A user (service account or impersonated) checked against RBAC.
    User {
        /// `system:serviceaccount:<ns>:<name>` or a plain user name.
        name: String,
        /// Groups.
        groups: Vec<String>,
    },
}

impl Identity {
    /// A service account's identity.
    pub fn service_account(ns: &str, name: &str) -> Self {
        Identity::User {
            name: format!("system:serviceaccount:{ns}:{name}"),
            groups: vec![
                "system:serviceaccounts".into(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".into(),
            ],
        }
    }

    /// User name as kube reports it.
    pub fn username(&self) -> String {
        match self {
            Identity::Admin => "kubernetes-admin".into(),
            Identity::User { name, .. } => name.clone(),
        }
    }
}

/// What a request does.
#[derive(Debug, Clone, Default)]
pub struct Attributes {
    /// get, list, watch, create, update, patch, delete, deletecollection.
    pub verb: String,
    /// API group.
    pub group: String,
    /// Plural resource.
    pub resource: String,
    /// Subresource.
    pub subresource: String,
    /// Object name (empty for collections).
    pub name: String,
    /// Namespace (empty for cluster scope).
    pub namespace: String,
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rule_allows(rule: &Value, a: &Attributes) -> bool {
    let verbs = strs(&rule["verbs"]);
    if !verbs.iter().any(|v| *v == "*" || *v == a.verb) {
        return false;
    }
    if !strs(&rule["apiGroups"])
        .iter()
        .any(|g| *g == "*" || *g == a.group)
    {
        return false;
    }
    let want = if a.subresource.is_empty() {
        a.resource.clone()
    } else {
        format!("{}/{}", a.resource, a.subresource)
    };
    let res_ok = strs(&rule["resources"]).iter().any(|r| {
        *r == "*"
            || *r == want
            || (a.subresource.is_empty() && *r == a.resource) && a.subresource.is_empty()
            || (!a.subresource.is_empty()
                && (*r == format!("*/{}", a.subresource) || *r == format!("{}/*", a.resource)))
    });
    if !res_ok {
        return false;
    }
    let names = strs(&rule["resourceNames"]);
    names.is_empty() || (!a.name.is_empty() && names.contains(&a.name.as_str()))
}

fn subject_matches(s: &Value, user: &str, groups: &[String], binding_ns: &str) -> bool {
    let name = s["name"].as_str().unwrap_or_default();
    match s["kind"].as_str().unwrap_or_default() {
        "User" => name == user,
        "Group" => groups.iter().any(|g| g == name),
        "ServiceAccount" => {
            let ns = s["namespace"]
                .as_str()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_ns);
            user == format!("system:serviceaccount:{ns}:{name}")
        }
        _ => false,
    }
}

fn role_rules(store: &Store, kind: &str, name: &str, ns: &str) -> Vec<Value> {
    let (plural, ns) = if kind == "ClusterRole" {
        ("clusterroles", None)
    } else {
        ("roles", Some(ns))
    };
    let key = ("rbac.authorization.k8s.io".to_string(), plural.to_string());
    store.with_objects(&key, ns, |it| {
        let mut found = None;
        for o in it {
            if o.value["metadata"]["name"].as_str() == Some(name) {
                found = Some(o);
                break;
            }
        }
        found
            .and_then(|o| o.value["rules"].as_array().cloned())
            .unwrap_or_default()
    })
}

/// Whether the identity may perform the request.
pub fn authorize(store: &Store, who: &Identity, a: &Attributes) -> bool {
    let (user, groups) = match who {
        Identity::Admin => return true,
        Identity::User { name, groups } => (name.as_str(), groups.as_slice()),
    };
    if groups.iter().any(|g| g == "system:masters") {
        return true;
    }
    let mut refs: Vec<(String, String, String)> = Vec::new();
    let crb = (
        "rbac.authorization.k8s.io".to_string(),
        "clusterrolebindings".to_string(),
    );
    store.with_objects(&crb, None, |it| {
        for b in it {
            if b.value["subjects"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|s| subject_matches(s, user, groups, ""))
            {
                refs.push((
                    "ClusterRole".into(),
                    b.value["roleRef"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .into(),
                    String::new(),
                ));
            }
        }
    });
    if !a.namespace.is_empty() {
        let rb = (
            "rbac.authorization.k8s.io".to_string(),
            "rolebindings".to_string(),
        );
        store.with_objects(&rb, Some(&a.namespace), |it| {
            for b in it {
                if b.value["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|s| subject_matches(s, user, groups, &a.namespace))
                {
                    refs.push((
                        b.value["roleRef"]["kind"]
                            .as_str()
                            .unwrap_or_default()
                            .into(),
                        b.value["roleRef"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .into(),
                        a.namespace.clone(),
                    ));
                }
            }
        });
    }
    refs.iter().any(|(kind, name, ns)| {
        role_rules(store, kind, name, ns)
            .iter()
            .any(|r| rule_allows(r, a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules_match_subresources_and_names() {
        let a = Attributes {
            verb: "create".into(),
            group: String::new(),
            resource: "pods".into(),
            subresource: "eviction".into(),
            name: "p".into(),
            namespace: "d".into(),
        };
        assert!(rule_allows(
            &json!({"verbs": ["create"], "apiGroups": [""], "resources": ["pods/eviction"]}),
            &a
        ));
        assert!(!rule_allows(
            &json!({"verbs": ["create"], "apiGroups": [""], "resources": ["pods"]}),
            &a
        ));
        let g = Attributes {
            verb: "get".into(),
            resource: "configmaps".into(),
            name: "x".into(),
            ..Default::default()
        };
        assert!(!rule_allows(
            &json!({"verbs": ["get"], "apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["y"]}),
            &g
        ));
        assert!(rule_allows(
            &json!({"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}),
            &g
        ));
    }
}
