//! Pure views of pods and nodes, parsed from their stored JSON: what the scheduler, the
//! kubelets and the workload controllers reason about. No I/O here.

use crate::kube::selector::{LabelReq, LabelSelector};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Labels of an object.
pub type Labels = BTreeMap<String, String>;

/// Resource amounts in integer units: millicores, bytes, counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// `cpu`, in millicores.
    pub cpu_millis: i64,
    /// `memory`, in bytes.
    pub memory: i64,
    /// `ephemeral-storage`, in bytes.
    pub ephemeral_storage: i64,
    /// `nvidia.com/gpu`.
    pub gpu: i64,
    /// Pod slots.
    pub pods: i64,
}

/// Resource name of GPUs.
pub const GPU: &str = "nvidia.com/gpu";

/// The extended resources of a resource list (names other than cpu, memory, ephemeral
/// storage, pods, GPUs and huge pages) with a quantity above zero.
pub fn extended_resources(list: &Value) -> BTreeMap<String, i64> {
    list.as_object()
        .into_iter()
        .flatten()
        .filter(|(name, _)| {
            !["cpu", "memory", "ephemeral-storage", "pods", GPU].contains(&name.as_str())
                && !name.starts_with("hugepages-")
        })
        .filter_map(|(name, q)| {
            let n = parse_quantity(q)?.ceil() as i64;
            (n > 0).then(|| (name.clone(), n))
        })
        .collect()
}

impl Resources {
    /// Sum.
    pub fn add(&self, o: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis + o.cpu_millis,
            memory: self.memory + o.memory,
            ephemeral_storage: self.ephemeral_storage + o.ephemeral_storage,
            gpu: self.gpu + o.gpu,
            pods: self.pods + o.pods,
        }
    }

    /// Component-wise maximum.
    pub fn max(&self, o: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.max(o.cpu_millis),
            memory: self.memory.max(o.memory),
            ephemeral_storage: self.ephemeral_storage.max(o.ephemeral_storage),
            gpu: self.gpu.max(o.gpu),
            pods: self.pods.max(o.pods),
        }
    }

    /// From a `ResourceList` (`{"cpu": "500m", "memory": "1Gi", ...}`).
    pub fn from_list(list: &Value) -> Resources {
        let q = |k: &str| list.get(k).and_then(parse_quantity);
        Resources {
            cpu_millis: q("cpu").map_or(0, |c| (c * 1000.0).ceil() as i64),
            memory: q("memory").map_or(0, |m| m.ceil() as i64),
            ephemeral_storage: q("ephemeral-storage").map_or(0, |m| m.ceil() as i64),
            gpu: q(GPU).map_or(0, |g| g.ceil() as i64),
            pods: q("pods").map_or(0, |p| p as i64),
        }
    }

    /// As a `ResourceList`.
    pub fn to_list(&self) -> Value {
        let mut m = Map::new();
        m.insert("cpu".into(), Value::String(format_cpu(self.cpu_millis)));
        m.insert("memory".into(), Value::String(format_bytes(self.memory)));
        m.insert(
            "ephemeral-storage".into(),
            Value::String(format_bytes(self.ephemeral_storage)),
        );
        m.insert("hugepages-1Gi".into(), Value::String("0".into()));
        m.insert("hugepages-2Mi".into(), Value::String("0".into()));
        m.insert("pods".into(), Value::String(self.pods.to_string()));
        if self.gpu > 0 {
            m.insert(GPU.into(), Value::String(self.gpu.to_string()));
        }
        Value::Object(m)
    }

    /// Names of the resources of `self` (a request) that do not fit in `free`, as the
    /// scheduler reports them (`Insufficient cpu`, `Too many pods`).
    pub fn shortfalls(&self, free: &Resources) -> Vec<String> {
        let mut out = Vec::new();
        if self.pods > free.pods {
            out.push("Too many pods".to_string());
        }
        for (name, want, have) in [
            ("cpu", self.cpu_millis, free.cpu_millis),
            ("memory", self.memory, free.memory),
            (
                "ephemeral-storage",
                self.ephemeral_storage,
                free.ephemeral_storage,
            ),
            (GPU, self.gpu, free.gpu),
        ] {
            if want > 0 && want > have {
                out.push(format!("Insufficient {name}"));
            }
        }
        out
    }

    /// `free` minus `used`.
    pub fn minus(&self, used: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis - used.cpu_millis,
            memory: self.memory - used.memory,
            ephemeral_storage: self.ephemeral_storage - used.ephemeral_storage,
            gpu: self.gpu - used.gpu,
            pods: self.pods - used.pods,
        }
    }
}

fn format_cpu(millis: i64) -> String {
    if millis % 1000 == 0 {
        (millis / 1000).to_string()
    } else {
        format!("{millis}m")
    }
}

fn format_bytes(b: i64) -> String {
    for (suffix, unit) in [("Gi", 1i64 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
        if b != 0 && b % unit == 0 {
            return format!("{}{suffix}", b / unit);
        }
    }
    b.to_string()
}

/// A Kubernetes quantity (`500m`, `1.5`, `512Mi`, `1G`, `1e3`) as a number; strings and
/// JSON numbers both accepted.
pub fn parse_quantity(v: &Value) -> Option<f64> {
    let s = match v {
        Value::Number(n) => return n.as_f64(),
        Value::String(s) => s.trim(),
        _ => return None,
    };
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1_048_576.0),
        ("Gi", 1_073_741_824.0),
        ("Ti", 1_099_511_627_776.0),
        ("Pi", 1_125_899_906_842_624.0),
        ("Ei", 1_152_921_504_606_846_976.0),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("P", 1e15),
        ("E", 1e18),
    ];
    for (suffix, mult) in SUFFIXES {
        if let Some(num) = s.strip_suffix(suffix) {
            return num.parse::<f64>().ok().map(|n| n * mult);
        }
    }
    s.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    pub value: String,
    /// `NoSchedule`, `PreferNoSchedule` or `NoExecute`.
    pub effect: String,
    /// `timeAdded` (NoExecute taints).
    pub time_added: Option<String>,
}

impl Taint {
    fn from_value(v: &Value) -> Taint {
        Taint {
            key: str_of(v, "key"),
            value: str_of(v, "value"),
            effect: str_of(v, "effect"),
            time_added: v["timeAdded"].as_str().map(String::from),
        }
    }

    /// Whether it keeps new pods away (`NoSchedule`, `NoExecute`).
    pub fn blocks_scheduling(&self) -> bool {
        self.effect == "NoSchedule" || self.effect == "NoExecute"
    }
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Toleration {
    /// Key (empty with `Exists`: every key).
    pub key: String,
    /// `Equal` or `Exists`.
    pub exists: bool,
    /// Value for `Equal`.
    pub value: String,
    /// Effect (empty: every effect).
    pub effect: String,
    /// For NoExecute: how long the pod stays after the taint appears.
    pub toleration_seconds: Option<i64>,
}

impl Toleration {
    /// From a `toleration` object.
    pub fn from_value(v: &Value) -> Toleration {
        Toleration {
            key: str_of(v, "key"),
            exists: v["operator"].as_str() == Some("Exists"),
            value: str_of(v, "value"),
            effect: str_of(v, "effect"),
            toleration_seconds: v["tolerationSeconds"].as_i64(),
        }
    }

    /// Whether it tolerates `t`.
    pub fn tolerates(&self, t: &Taint) -> bool {
        if !self.effect.is_empty() && self.effect != t.effect {
            return false;
        }
        if self.key.is_empty() {
            return self.exists;
        }
        self.key == t.key && (self.exists || self.value == t.value)
    }
}

/// Whether some toleration tolerates `t`.
pub fn tolerated(tolerations: &[Toleration], t: &Taint) -> bool {
    tolerations.iter().any(|x| x.tolerates(t))
}

/// One requirement of a node selector term.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeRequirement {
    /// Label (or field) key.
    pub key: String,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`.
    pub operator: String,
    /// Values.
    pub values: Vec<String>,
}

impl NodeRequirement {
    fn from_value(v: &Value) -> NodeRequirement {
        NodeRequirement {
            key: str_of(v, "key"),
            operator: str_of(v, "operator"),
            values: strings(&v["values"]),
        }
    }

    /// Whether a value (None: absent) satisfies it.
    pub fn matches(&self, value: Option<&str>) -> bool {
        let int = |s: &str| s.parse::<i64>().ok();
        match self.operator.as_str() {
            "In" => value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            "NotIn" => !value.is_some_and(|v| self.values.iter().any(|x| x == v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            "Gt" | "Lt" => {
                let (Some(v), Some(bound)) = (
                    value.and_then(int),
                    self.values.first().and_then(|b| int(b)),
                ) else {
                    return false;
                };
                if self.operator == "Gt" {
                    v > bound
                } else {
                    v < bound
                }
            }
            _ => false,
        }
    }
}

/// A node selector term: every requirement must hold; an empty term matches nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeSelectorTerm {
    /// On labels.
    pub match_expressions: Vec<NodeRequirement>,
    /// On fields (`metadata.name`).
    pub match_fields: Vec<NodeRequirement>,
}

impl NodeSelectorTerm {
    fn from_value(v: &Value) -> NodeSelectorTerm {
        let reqs = |k: &str| {
            v[k].as_array()
                .map(|a| a.iter().map(NodeRequirement::from_value).collect())
                .unwrap_or_default()
        };
        NodeSelectorTerm {
            match_expressions: reqs("matchExpressions"),
            match_fields: reqs("matchFields"),
        }
    }

    /// Whether a node matches.
    pub fn matches(&self, node_name: &str, labels: &Labels) -> bool {
        if self.match_expressions.is_empty() && self.match_fields.is_empty() {
            return false;
        }
        self.match_expressions
            .iter()
            .all(|r| r.matches(labels.get(&r.key).map(String::as_str)))
            && self
                .match_fields
                .iter()
                .all(|r| r.matches((r.key == "metadata.name").then_some(node_name)))
    }
}

/// Which namespaces a pod affinity term looks at.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NamespaceScope {
    /// Listed namespaces (with no selector and no names: the pod's own namespace).
    pub names: Vec<String>,
    /// `namespaceSelector` (an empty selector: every namespace).
    pub selector: Option<LabelSelector>,
}

impl NamespaceScope {
    /// Whether a namespace (with its labels) is in scope.
    pub fn contains(&self, ns: &str, ns_labels: Option<&Labels>) -> bool {
        if self.names.iter().any(|n| n == ns) {
            return true;
        }
        match &self.selector {
            Some(sel) => label_selector_matches(sel, ns_labels),
            None => false,
        }
    }
}

/// A required pod (anti-)affinity term.
#[derive(Clone, Debug, PartialEq)]
pub struct PodAffinityTerm {
    /// Pods the term is about.
    pub selector: LabelSelector,
    /// Namespaces of those pods.
    pub namespaces: NamespaceScope,
    /// Node label defining the domain.
    pub topology_key: String,
}

impl PodAffinityTerm {
    fn from_value(v: &Value, own_ns: &str, own_labels: &Labels) -> PodAffinityTerm {
        let mut selector = if v["labelSelector"].is_object() {
            LabelSelector::from_object(&v["labelSelector"])
        } else {
            // A term with no selector matches no pod.
            LabelSelector(vec![LabelReq::In("\u{0}none".into(), vec![])])
        };
        add_label_keys(&mut selector, v, own_labels);
        let mut names = strings(&v["namespaces"]);
        let ns_sel = v["namespaceSelector"]
            .is_object()
            .then(|| LabelSelector::from_object(&v["namespaceSelector"]));
        if names.is_empty() && ns_sel.is_none() {
            names.push(own_ns.to_string());
        }
        PodAffinityTerm {
            selector,
            namespaces: NamespaceScope {
                names,
                selector: ns_sel,
            },
            topology_key: str_of(v, "topologyKey"),
        }
    }

    /// Whether a pod is one the term is about.
    pub fn matches_pod(&self, pod: &PodInfo, ns_labels: Option<&Labels>) -> bool {
        self.namespaces.contains(&pod.namespace, ns_labels)
            && label_selector_matches(&self.selector, Some(&pod.labels))
    }
}

/// `matchLabelKeys` (and `mismatchLabelKeys`): the pod's own values become requirements.
fn add_label_keys(selector: &mut LabelSelector, v: &Value, own: &Labels) {
    for k in strings(&v["matchLabelKeys"]) {
        if let Some(val) = own.get(&k) {
            selector.0.push(LabelReq::Eq(k, val.clone()));
        }
    }
    for k in strings(&v["mismatchLabelKeys"]) {
        if let Some(val) = own.get(&k) {
            selector.0.push(LabelReq::Ne(k, val.clone()));
        }
    }
}

/// Whether a selector matches a label map.
pub fn label_selector_matches(sel: &LabelSelector, labels: Option<&Labels>) -> bool {
    sel.matches_with(|k| labels.and_then(|l| l.get(k)).map(String::as_str))
}

/// A topology spread constraint.
#[derive(Clone, Debug, PartialEq)]
pub struct SpreadConstraint {
    /// Maximum skew between domains.
    pub max_skew: i64,
    /// Node label defining the domains.
    pub topology_key: String,
    /// `DoNotSchedule` (a filter) rather than `ScheduleAnyway` (a preference).
    pub hard: bool,
    /// Pods counted.
    pub selector: LabelSelector,
    /// Minimum number of domains.
    pub min_domains: Option<i64>,
    /// Only nodes matching the pod's node affinity/selector count (`Honor`, the default).
    pub honor_node_affinity: bool,
    /// Only nodes whose taints the pod tolerates count (`Ignore` by default).
    pub honor_taints: bool,
}

impl SpreadConstraint {
    fn from_value(v: &Value, own: &Labels) -> SpreadConstraint {
        let mut selector = LabelSelector::from_object(&v["labelSelector"]);
        if !v["labelSelector"].is_object() {
            selector = LabelSelector(vec![LabelReq::In("\u{0}none".into(), vec![])]);
        }
        add_label_keys(&mut selector, v, own);
        SpreadConstraint {
            max_skew: v["maxSkew"].as_i64().unwrap_or(1),
            topology_key: str_of(v, "topologyKey"),
            hard: v["whenUnsatisfiable"].as_str() != Some("ScheduleAnyway"),
            selector,
            min_domains: v["minDomains"].as_i64(),
            honor_node_affinity: v["nodeAffinityPolicy"].as_str() != Some("Ignore"),
            honor_taints: v["nodeTaintsPolicy"].as_str() == Some("Honor"),
        }
    }
}

/// A pod, as scheduling and the controllers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct PodInfo {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// UID.
    pub uid: String,
    /// Labels.
    pub labels: Labels,
    /// Node it is bound to.
    pub node_name: Option<String>,
    /// Effective requests (containers, init containers, overhead) with one pod slot.
    pub requests: Resources,
    /// `nodeSelector`.
    pub node_selector: Labels,
    /// Required node affinity terms (any must match); None: no requirement.
    pub node_affinity: Option<Vec<NodeSelectorTerm>>,
    /// Tolerations.
    pub tolerations: Vec<Toleration>,
    /// Topology spread constraints.
    pub spread: Vec<SpreadConstraint>,
    /// Required pod affinity terms.
    pub affinity: Vec<PodAffinityTerm>,
    /// Required pod anti-affinity terms.
    pub anti_affinity: Vec<PodAffinityTerm>,
    /// Priority.
    pub priority: i64,
    /// creationTimestamp.
    pub created: String,
    /// Has a deletionTimestamp.
    pub terminating: bool,
    /// `status.phase`.
    pub phase: String,
    /// `spec.schedulerName`.
    pub scheduler_name: String,
    /// Host ports its containers claim.
    pub host_ports: Vec<HostPort>,
    /// Extended resources its containers request (limits standing in), by name.
    pub extended: BTreeMap<String, i64>,
    /// Preferred node affinity terms with their weights (scoring only).
    pub preferred_node_affinity: Vec<(i64, NodeSelectorTerm)>,
    /// Preferred pod affinity terms with their weights (scoring only).
    pub preferred_affinity: Vec<(i64, PodAffinityTerm)>,
    /// Preferred pod anti-affinity terms with their weights (scoring only).
    pub preferred_anti_affinity: Vec<(i64, PodAffinityTerm)>,
}

/// A host port a container claims on its node (`ports[].hostPort`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostPort {
    /// `hostIP`, `0.0.0.0` when unset (every address).
    pub ip: String,
    /// `TCP`, `UDP` or `SCTP`.
    pub protocol: String,
    /// The port.
    pub port: i64,
}

impl HostPort {
    /// kube-scheduler's NodePorts rule: the same protocol and port on overlapping addresses
    /// (`0.0.0.0` overlaps every address).
    pub fn conflicts(&self, other: &HostPort) -> bool {
        self.protocol == other.protocol
            && self.port == other.port
            && (self.ip == other.ip || self.ip == "0.0.0.0" || other.ip == "0.0.0.0")
    }

    /// The host ports of a pod spec's containers.
    pub fn of(spec: &Value) -> Vec<HostPort> {
        spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .filter_map(|p| {
                let port = p["hostPort"].as_i64().filter(|p| *p > 0)?;
                Some(HostPort {
                    ip: p["hostIP"]
                        .as_str()
                        .filter(|ip| !ip.is_empty())
                        .unwrap_or("0.0.0.0")
                        .to_string(),
                    protocol: p["protocol"].as_str().unwrap_or("TCP").to_string(),
                    port,
                })
            })
            .collect()
    }
}

impl PodInfo {
    /// Parses a stored pod.
    pub fn from_value(v: &Value) -> PodInfo {
        let m = &v["metadata"];
        let spec = &v["spec"];
        let namespace = str_of(m, "namespace");
        let labels = string_map(&m["labels"]);
        let node_affinity = spec
            .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
            .and_then(Value::as_array)
            .map(|a| a.iter().map(NodeSelectorTerm::from_value).collect());
        let terms = |path: &str| -> Vec<PodAffinityTerm> {
            spec.pointer(path)
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|t| PodAffinityTerm::from_value(t, &namespace, &labels))
                        .collect()
                })
                .unwrap_or_default()
        };
        let weighted_terms = |path: &str| -> Vec<(i64, PodAffinityTerm)> {
            spec.pointer(path)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|t| {
                    (
                        t["weight"].as_i64().unwrap_or(0),
                        PodAffinityTerm::from_value(&t["podAffinityTerm"], &namespace, &labels),
                    )
                })
                .collect()
        };
        let preferred_node_affinity = spec
            .pointer("/affinity/nodeAffinity/preferredDuringSchedulingIgnoredDuringExecution")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|t| {
                (
                    t["weight"].as_i64().unwrap_or(0),
                    NodeSelectorTerm::from_value(&t["preference"]),
                )
            })
            .collect();
        let mut extended: BTreeMap<String, i64> = BTreeMap::new();
        for c in spec["containers"].as_array().into_iter().flatten() {
            let mut list = extended_resources(&c["resources"]["limits"]);
            list.extend(extended_resources(&c["resources"]["requests"]));
            for (name, n) in list {
                *extended.entry(name).or_default() += n;
            }
        }
        PodInfo {
            extended,
            preferred_node_affinity,
            preferred_affinity: weighted_terms(
                "/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution",
            ),
            preferred_anti_affinity: weighted_terms(
                "/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution",
            ),
            name: str_of(m, "name"),
            uid: str_of(m, "uid"),
            node_name: spec["nodeName"]
                .as_str()
                .filter(|n| !n.is_empty())
                .map(String::from),
            requests: pod_requests(spec),
            node_selector: string_map(&spec["nodeSelector"]),
            node_affinity,
            tolerations: spec["tolerations"]
                .as_array()
                .map(|a| a.iter().map(Toleration::from_value).collect())
                .unwrap_or_default(),
            spread: spec["topologySpreadConstraints"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| SpreadConstraint::from_value(c, &labels))
                        .collect()
                })
                .unwrap_or_default(),
            affinity: terms("/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution"),
            anti_affinity: terms(
                "/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution",
            ),
            priority: spec["priority"].as_i64().unwrap_or(0),
            created: str_of(m, "creationTimestamp"),
            terminating: !m["deletionTimestamp"].is_null(),
            phase: v
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("Pending")
                .to_string(),
            scheduler_name: spec["schedulerName"]
                .as_str()
                .unwrap_or("default-scheduler")
                .to_string(),
            host_ports: HostPort::of(spec),
            namespace,
            labels,
        }
    }

    /// Finished (its resources are free).
    pub fn is_terminal(&self) -> bool {
        self.phase == "Succeeded" || self.phase == "Failed"
    }

    /// Whether the node matches the pod's nodeSelector and required node affinity.
    pub fn matches_node_affinity(&self, node: &NodeInfo) -> bool {
        self.node_selector
            .iter()
            .all(|(k, v)| node.labels.get(k) == Some(v))
            && self
                .node_affinity
                .as_ref()
                .is_none_or(|terms| terms.iter().any(|t| t.matches(&node.name, &node.labels)))
    }

    /// The first taint of the node with `effects` the pod does not tolerate.
    pub fn untolerated<'a>(&self, node: &'a NodeInfo, effects: &[&str]) -> Option<&'a Taint> {
        node.taints
            .iter()
            .filter(|t| effects.contains(&t.effect.as_str()))
            .find(|t| !tolerated(&self.tolerations, t))
    }
}

/// What a pod requests: the sum over containers (limits stand in for missing requests),
/// at least each init container, plus the pod overhead, plus one pod slot.
pub fn pod_requests(spec: &Value) -> Resources {
    let container = |c: &Value| {
        let req = Resources::from_list(&c["resources"]["requests"]);
        let lim = Resources::from_list(&c["resources"]["limits"]);
        let pick = |r: i64, l: i64| if r > 0 { r } else { l };
        Resources {
            cpu_millis: pick(req.cpu_millis, lim.cpu_millis),
            memory: pick(req.memory, lim.memory),
            ephemeral_storage: pick(req.ephemeral_storage, lim.ephemeral_storage),
            gpu: pick(req.gpu, lim.gpu),
            pods: 0,
        }
    };
    let each = |k: &str| -> Vec<Resources> {
        spec[k]
            .as_array()
            .map(|a| a.iter().map(container).collect())
            .unwrap_or_default()
    };
    let mut sum = each("containers")
        .iter()
        .fold(Resources::default(), |acc, r| acc.add(r));
    for init in each("initContainers") {
        sum = sum.max(&init);
    }
    sum = sum.add(&Resources::from_list(&spec["overhead"]));
    sum.pods = 1;
    sum
}

/// A node, as scheduling and the controllers see it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeInfo {
    /// Name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// Taints.
    pub taints: Vec<Taint>,
    /// `spec.unschedulable` (cordoned).
    pub unschedulable: bool,
    /// `status.allocatable`.
    pub allocatable: Resources,
    /// Extended resources of `status.allocatable` (a device plugin's), by name.
    pub extended: BTreeMap<String, i64>,
    /// Ready condition True.
    pub ready: bool,
    /// Has a deletionTimestamp.
    pub terminating: bool,
}

impl NodeInfo {
    /// Parses a stored node.
    pub fn from_value(v: &Value) -> NodeInfo {
        NodeInfo {
            name: str_of(&v["metadata"], "name"),
            labels: string_map(&v["metadata"]["labels"]),
            taints: v["spec"]["taints"]
                .as_array()
                .map(|a| a.iter().map(Taint::from_value).collect())
                .unwrap_or_default(),
            unschedulable: v["spec"]["unschedulable"].as_bool().unwrap_or(false),
            allocatable: Resources::from_list(&v["status"]["allocatable"]),
            extended: extended_resources(&v["status"]["allocatable"]),
            ready: condition_true(v, "Ready"),
            terminating: !v["metadata"]["deletionTimestamp"].is_null(),
        }
    }
}

/// Whether an object's status condition of `type_` is True.
pub fn condition_true(v: &Value, type_: &str) -> bool {
    v.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|x| x["type"] == type_ && x["status"] == "True")
        })
}

fn str_of(v: &Value, k: &str) -> String {
    v[k].as_str().unwrap_or_default().to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A JSON string map as [`Labels`].
pub fn string_map(v: &Value) -> Labels {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn quantities() {
        let q = |s: &str| parse_quantity(&json!(s)).unwrap();
        assert_eq!(q("500m"), 0.5);
        assert_eq!(q("2"), 2.0);
        assert_eq!(q("512Mi"), 536_870_912.0);
        assert_eq!(q("1G"), 1e9);
        assert_eq!(q("1.5Gi"), 1.5 * 1_073_741_824.0);
        assert_eq!(q("1e3"), 1000.0);
        assert!(parse_quantity(&json!("abc")).is_none());
        assert_eq!(parse_quantity(&json!(3)), Some(3.0));
    }

    #[test]
    fn requests_sum_containers_and_take_init_max() {
        let spec = json!({
            "containers": [
                {"resources": {"requests": {"cpu": "250m", "memory": "256Mi"}}},
                {"resources": {"limits": {"cpu": "250m", "nvidia.com/gpu": "1"}}},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "2"}}}],
            "overhead": {"memory": "10Mi"},
        });
        let r = pod_requests(&spec);
        assert_eq!(r.cpu_millis, 2000);
        assert_eq!(r.memory, (256 + 10) << 20);
        assert_eq!(r.gpu, 1);
        assert_eq!(r.pods, 1);
    }

    #[test]
    fn tolerations_match_taints() {
        let t = Taint {
            key: "k".into(),
            value: "v".into(),
            effect: "NoSchedule".into(),
            time_added: None,
        };
        let tol = |v: Value| Toleration::from_value(&v);
        assert!(tol(json!({"key": "k", "value": "v"})).tolerates(&t));
        assert!(
            tol(json!({"key": "k", "operator": "Exists", "effect": "NoSchedule"})).tolerates(&t)
        );
        assert!(tol(json!({"operator": "Exists"})).tolerates(&t));
        assert!(!tol(json!({"key": "k", "value": "w"})).tolerates(&t));
        assert!(
            !tol(json!({"key": "k", "operator": "Exists", "effect": "NoExecute"})).tolerates(&t)
        );
    }

    #[test]
    fn node_requirements() {
        let r = |op: &str, vals: &[&str]| NodeRequirement {
            key: "k".into(),
            operator: op.into(),
            values: vals.iter().map(|s| s.to_string()).collect(),
        };
        assert!(r("In", &["a", "b"]).matches(Some("b")));
        assert!(!r("In", &["a"]).matches(None));
        assert!(r("NotIn", &["a"]).matches(None));
        assert!(r("Gt", &["4"]).matches(Some("8")));
        assert!(!r("Lt", &["4"]).matches(Some("8")));
        assert!(!r("Gt", &["4"]).matches(Some("x")));
        assert!(r("DoesNotExist", &[]).matches(None));
    }
}
