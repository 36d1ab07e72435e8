//! The resource types the server knows: built-ins and those registered by CRDs.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

/// Where objects of a resource live: one collection per (group, plural), shared by all the
/// versions and views of that resource (core and events.k8s.io Events share one).
pub type StorageKey = (String, String);

/// How a served version presents the stored object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum View {
    /// As stored (only apiVersion rewritten for other CRD versions).
    Native,
    /// events.k8s.io/v1 view of core/v1 Events.
    EventsV1,
}

/// Scale subresource paths (`.spec.replicas` style).
#[derive(Debug, Clone)]
pub struct ScalePaths {
    /// Desired replicas.
    pub spec_replicas: String,
    /// Observed replicas.
    pub status_replicas: String,
    /// Label selector as a string, if any.
    pub label_selector: Option<String>,
}

/// An additionalPrinterColumn.
#[derive(Debug, Clone)]
pub struct PrinterColumn {
    /// Header.
    pub name: String,
    /// `string`, `integer`, `number`, `boolean`, `date`.
    pub type_: String,
    /// Display format.
    pub format: String,
    /// Description.
    pub description: String,
    /// 0 shown always, >0 only with `-o wide`.
    pub priority: i64,
    /// JSONPath into the object.
    pub json_path: String,
}

/// One served group/version/resource.
#[derive(Debug, Clone)]
pub struct ResourceDef {
    /// API group (`""` for core).
    pub group: String,
    /// Version.
    pub version: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular name.
    pub singular: String,
    /// Kind.
    pub kind: String,
    /// Namespaced or cluster-scoped.
    pub namespaced: bool,
    /// Short names (`po`, `deploy`).
    pub short_names: Vec<String>,
    /// Categories (`all`).
    pub categories: Vec<String>,
    /// Subresources served (`status`, `scale`, `eviction`, ...).
    pub subresources: Vec<String>,
    /// Storage collection.
    pub storage: StorageKey,
    /// Presentation of the stored object.
    pub view: View,
    /// Scale paths, when `scale` is served.
    pub scale: Option<ScalePaths>,
    /// Compiled structural schema (CRDs): decoding, defaulting and validation.
    pub schema: Option<Arc<crate::kube::schema::Compiled>>,
    /// Printer columns (CRDs).
    pub columns: Vec<PrinterColumn>,
    /// Whether this resource is a custom resource.
    pub custom: bool,
    /// Only `create` is served (review APIs): nothing is stored.
    pub create_only: bool,
}

impl ResourceDef {
    /// `apiVersion` of this version.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Whether a subresource is served.
    pub fn has_sub(&self, sub: &str) -> bool {
        self.subresources.iter().any(|s| s == sub)
    }

    /// Verbs for discovery.
    pub fn verbs(&self) -> Vec<&'static str> {
        if self.create_only {
            vec!["create"]
        } else {
            vec![
                "create",
                "delete",
                "deletecollection",
                "get",
                "list",
                "patch",
                "update",
                "watch",
            ]
        }
    }
}

struct Builtin {
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    subs: &'static [&'static str],
}

#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    categories: &'static [&'static str],
    subs: &'static [&'static str],
) -> Builtin {
    Builtin {
        group,
        plural,
        singular,
        kind,
        namespaced,
        short,
        categories,
        subs,
    }
}

const BUILTINS: &[Builtin] = &[
    b(
        "",
        "namespaces",
        "namespace",
        "Namespace",
        false,
        &["ns"],
        &[],
        &["status", "finalize"],
    ),
    b(
        "",
        "pods",
        "pod",
        "Pod",
        true,
        &["po"],
        &["all"],
        &["status", "binding", "eviction", "log"],
    ),
    b(
        "",
        "nodes",
        "node",
        "Node",
        false,
        &["no"],
        &[],
        &["status"],
    ),
    b(
        "",
        "configmaps",
        "configmap",
        "ConfigMap",
        true,
        &["cm"],
        &[],
        &[],
    ),
    b("", "secrets", "secret", "Secret", true, &[], &[], &[]),
    b(
        "",
        "services",
        "service",
        "Service",
        true,
        &["svc"],
        &["all"],
        &["status"],
    ),
    b(
        "",
        "serviceaccounts",
        "serviceaccount",
        "ServiceAccount",
        true,
        &["sa"],
        &[],
        &[],
    ),
    b("", "events", "event", "Event", true, &["ev"], &[], &[]),
    b(
        "events.k8s.io",
        "events",
        "event",
        "Event",
        true,
        &["ev"],
        &[],
        &[],
    ),
    b(
        "apps",
        "deployments",
        "deployment",
        "Deployment",
        true,
        &["deploy"],
        &["all"],
        &["status", "scale"],
    ),
    b(
        "apps",
        "replicasets",
        "replicaset",
        "ReplicaSet",
        true,
        &["rs"],
        &["all"],
        &["status", "scale"],
    ),
    b(
        "apps",
        "daemonsets",
        "daemonset",
        "DaemonSet",
        true,
        &["ds"],
        &["all"],
        &["status"],
    ),
    b(
        "batch",
        "jobs",
        "job",
        "Job",
        true,
        &[],
        &["all"],
        &["status"],
    ),
    b(
        "batch",
        "cronjobs",
        "cronjob",
        "CronJob",
        true,
        &["cj"],
        &["all"],
        &["status"],
    ),
    b(
        "scheduling.k8s.io",
        "priorityclasses",
        "priorityclass",
        "PriorityClass",
        false,
        &["pc"],
        &[],
        &[],
    ),
    b(
        "policy",
        "poddisruptionbudgets",
        "poddisruptionbudget",
        "PodDisruptionBudget",
        true,
        &["pdb"],
        &[],
        &["status"],
    ),
    b(
        "coordination.k8s.io",
        "leases",
        "lease",
        "Lease",
        true,
        &[],
        &[],
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "roles",
        "role",
        "Role",
        true,
        &[],
        &[],
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "rolebindings",
        "rolebinding",
        "RoleBinding",
        true,
        &[],
        &[],
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "clusterroles",
        "clusterrole",
        "ClusterRole",
        false,
        &[],
        &[],
        &[],
    ),
    b(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "clusterrolebinding",
        "ClusterRoleBinding",
        false,
        &[],
        &[],
        &[],
    ),
    b(
        "apiextensions.k8s.io",
        "customresourcedefinitions",
        "customresourcedefinition",
        "CustomResourceDefinition",
        false,
        &["crd", "crds"],
        &["api-extensions"],
        &["status"],
    ),
    b(
        "authorization.k8s.io",
        "selfsubjectaccessreviews",
        "selfsubjectaccessreview",
        "SelfSubjectAccessReview",
        false,
        &[],
        &[],
        &[],
    ),
];

fn builtin_defs() -> Vec<ResourceDef> {
    BUILTINS
        .iter()
        .map(|x| {
            let storage_group = if x.group == "events.k8s.io" {
                ""
            } else {
                x.group
            };
            let scale = x.subs.contains(&"scale").then(|| ScalePaths {
                spec_replicas: ".spec.replicas".into(),
                status_replicas: ".status.replicas".into(),
                label_selector: Some(".spec.selector".into()),
            });
            ResourceDef {
                group: x.group.into(),
                version: "v1".into(),
                plural: x.plural.into(),
                singular: x.singular.into(),
                kind: x.kind.into(),
                namespaced: x.namespaced,
                short_names: x.short.iter().map(|s| s.to_string()).collect(),
                categories: x.categories.iter().map(|s| s.to_string()).collect(),
                subresources: x.subs.iter().map(|s| s.to_string()).collect(),
                storage: (storage_group.into(), x.plural.into()),
                view: if x.group == "events.k8s.io" {
                    View::EventsV1
                } else {
                    View::Native
                },
                scale,
                schema: None,
                columns: vec![],
                custom: false,
                create_only: x.group == "authorization.k8s.io",
            }
        })
        .collect()
}

/// Kind, group and version of a subresource's body (discovery and responses).
pub fn subresource_kind(def: &ResourceDef, sub: &str) -> (String, String, String) {
    match sub {
        "scale" => ("Scale".into(), "autoscaling".into(), "v1".into()),
        "eviction" => ("Eviction".into(), "policy".into(), "v1".into()),
        "binding" => ("Binding".into(), String::new(), "v1".into()),
        _ => (def.kind.clone(), def.group.clone(), def.version.clone()),
    }
}

/// All served resources, indexed by (group, version, plural).
#[derive(Debug, Clone, Default)]
pub struct Registry {
    defs: HashMap<(String, String, String), Arc<ResourceDef>>,
    /// Group order as registered (discovery lists core groups first).
    group_order: Vec<String>,
}

impl Registry {
    /// The built-in resources.
    pub fn builtin() -> Self {
        let mut r = Registry::default();
        for d in builtin_defs() {
            r.insert(d);
        }
        r
    }

    fn insert(&mut self, d: ResourceDef) {
        if !self.group_order.contains(&d.group) {
            self.group_order.push(d.group.clone());
        }
        self.defs.insert(
            (d.group.clone(), d.version.clone(), d.plural.clone()),
            Arc::new(d),
        );
    }

    /// Looks up a served resource.
    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<Arc<ResourceDef>> {
        self.defs
            .get(&(group.to_string(), version.to_string(), plural.to_string()))
            .cloned()
    }

    /// Looks up by group and kind (any version; the stored one first for CRDs).
    pub fn by_kind(&self, group: &str, kind: &str) -> Option<Arc<ResourceDef>> {
        let mut found: Vec<&Arc<ResourceDef>> = self
            .defs
            .values()
            .filter(|d| d.group == group && d.kind == kind)
            .collect();
        found.sort_by(|a, b| a.version.cmp(&b.version));
        found.first().map(|d| (*d).clone())
    }

    /// All served (group, version) pairs in group order; versions sorted, preferred first.
    pub fn group_versions(&self) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        for g in &self.group_order {
            let mut vs: Vec<String> = self
                .defs
                .values()
                .filter(|d| &d.group == g)
                .map(|d| d.version.clone())
                .collect();
            vs.sort_by_key(|v| std::cmp::Reverse(version_priority(v)));
            vs.dedup();
            if !vs.is_empty() {
                out.push((g.clone(), vs));
            }
        }
        out
    }

    /// Resources of one group/version.
    pub fn resources_of(&self, group: &str, version: &str) -> Vec<Arc<ResourceDef>> {
        let mut v: Vec<Arc<ResourceDef>> = self
            .defs
            .values()
            .filter(|d| d.group == group && d.version == version)
            .cloned()
            .collect();
        v.sort_by(|a, b| a.plural.cmp(&b.plural));
        v
    }

    /// Every definition.
    pub fn all(&self) -> impl Iterator<Item = &Arc<ResourceDef>> {
        self.defs.values()
    }

    /// Removes the resources a CRD registered.
    pub fn remove_crd(&mut self, group: &str, plural: &str) {
        self.defs
            .retain(|(g, _, p), d| !(d.custom && g == group && p == plural));
        if !self.defs.values().any(|d| d.group == group) {
            self.group_order.retain(|g| g != group);
        }
    }

    /// Registers (or re-registers) the served versions of a CRD.
    pub fn register_crd(&mut self, crd: &Value) {
        let spec = &crd["spec"];
        let group = spec["group"].as_str().unwrap_or_default().to_string();
        let names = &spec["names"];
        let plural = names["plural"].as_str().unwrap_or_default().to_string();
        self.remove_crd(&group, &plural);
        let strs = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(String::from))
                        .collect()
                })
                .unwrap_or_default()
        };
        let namespaced = spec["scope"].as_str() != Some("Cluster");
        for (i, ver) in spec["versions"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            if ver["served"].as_bool() == Some(false) {
                continue;
            }
            let schema = ver["schema"].get("openAPIV3Schema").and_then(|s| {
                let path = format!("spec.versions[{i}].schema.openAPIV3Schema");
                match crate::kube::schema::Compiled::new(s, &path) {
                    Ok(c) => Some(Arc::new(c)),
                    Err(e) => {
                        // CRD writes are refused before this; only a restored snapshot gets here.
                        tracing::warn!(crd = %plural, "schema not compiled: {}", crate::kube::schema::errors::aggregate(&e));
                        None
                    }
                }
            });
            let subs = &ver["subresources"];
            let mut subresources = Vec::new();
            if subs.get("status").is_some() {
                subresources.push("status".to_string());
            }
            let scale = subs.get("scale").map(|s| ScalePaths {
                spec_replicas: s["specReplicasPath"]
                    .as_str()
                    .unwrap_or(".spec.replicas")
                    .into(),
                status_replicas: s["statusReplicasPath"]
                    .as_str()
                    .unwrap_or(".status.replicas")
                    .into(),
                label_selector: s["labelSelectorPath"].as_str().map(String::from),
            });
            if scale.is_some() {
                subresources.push("scale".to_string());
            }
            let columns = ver["additionalPrinterColumns"]
                .as_array()
                .map(|cols| {
                    cols.iter()
                        .map(|c| PrinterColumn {
                            name: c["name"].as_str().unwrap_or_default().into(),
                            type_: c["type"].as_str().unwrap_or("string").into(),
                            format: c["format"].as_str().unwrap_or_default().into(),
                            description: c["description"].as_str().unwrap_or_default().into(),
                            priority: c["priority"].as_i64().unwrap_or(0),
                            json_path: c["jsonPath"].as_str().unwrap_or_default().into(),
                        })
                        .collect()
                })
                .unwrap_or_else(|| {
                    vec![PrinterColumn {
                        name: "Age".into(),
                        type_: "date".into(),
                        format: String::new(),
                        description: String::new(),
                        priority: 0,
                        json_path: ".metadata.creationTimestamp".into(),
                    }]
                });
            self.insert(ResourceDef {
                group: group.clone(),
                version: ver["name"].as_str().unwrap_or_default().into(),
                plural: plural.clone(),
                singular: names["singular"]
                    .as_str()
                    .map(String::from)
                    .unwrap_or_else(|| names["kind"].as_str().unwrap_or_default().to_lowercase()),
                kind: names["kind"].as_str().unwrap_or_default().into(),
                namespaced,
                short_names: strs(&names["shortNames"]),
                categories: strs(&names["categories"]),
                subresources,
                storage: (group.clone(), plural.clone()),
                view: View::Native,
                scale,
                schema,
                columns,
                custom: true,
                create_only: false,
            });
        }
    }
}

/// Kubernetes version ordering: GA > beta > alpha, then by number.
pub fn version_priority(v: &str) -> (u8, u32, u32) {
    let Some(rest) = v.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    if tail.is_empty() {
        (3, major, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, major, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, major, n.parse().unwrap_or(0))
    } else {
        (0, major, 0)
    }
}

/// An empty list object of a resource.
pub fn list_header(def: &ResourceDef) -> Value {
    json!({"kind": format!("{}List", def.kind), "apiVersion": def.api_version()})
}
