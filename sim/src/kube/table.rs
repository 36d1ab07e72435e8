//! `meta.k8s.io/v1` Table responses (`kubectl get`) and the JSONPath subset printer columns use.

use super::resources::ResourceDef;
use serde_json::{json, Value};

/// What each row carries besides its cells (`includeObject`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    /// Nothing.
    None,
    /// PartialObjectMetadata (the default).
    Metadata,
    /// The whole object.
    Object,
}

impl IncludeObject {
    /// From the query parameter.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

enum Seg {
    Field(String),
    Index(usize),
    All,
    Filter(String, String),
}

fn parse_path(path: &str) -> Vec<Seg> {
    let p = path
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .trim_start_matches('$');
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = p.chars().peekable();
    let flush = |cur: &mut String, segs: &mut Vec<Seg>| {
        if !cur.is_empty() {
            segs.push(Seg::Field(std::mem::take(cur)));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            '.' => flush(&mut cur, &mut segs),
            '[' => {
                flush(&mut cur, &mut segs);
                let mut inner = String::new();
                for n in chars.by_ref() {
                    if n == ']' {
                        break;
                    }
                    inner.push(n);
                }
                let inner = inner.trim();
                if inner == "*" {
                    segs.push(Seg::All);
                } else if let Ok(i) = inner.parse() {
                    segs.push(Seg::Index(i));
                } else if let Some(f) = inner.strip_prefix("?(@.").and_then(|f| f.strip_suffix(')'))
                {
                    if let Some((k, v)) = f.split_once("==") {
                        let v = v.trim().trim_matches('"').trim_matches('\'');
                        segs.push(Seg::Filter(k.trim().to_string(), v.to_string()));
                    }
                } else {
                    segs.push(Seg::Field(
                        inner.trim_matches('\'').trim_matches('"').to_string(),
                    ));
                }
            }
            _ => cur.push(c),
        }
    }
    flush(&mut cur, &mut segs);
    segs
}

/// Evaluates a kubectl-style JSONPath (`.a.b[0]`, `[*]`, `[?(@.type=="Ready")]`, `\.` escapes).
pub fn eval_path(obj: &Value, path: &str) -> Vec<Value> {
    let mut cur = vec![obj.clone()];
    for seg in parse_path(path) {
        let mut next = Vec::new();
        for v in cur {
            match &seg {
                Seg::Field(f) => {
                    if let Some(x) = v.get(f) {
                        next.push(x.clone());
                    }
                }
                Seg::Index(i) => {
                    if let Some(x) = v.get(*i) {
                        next.push(x.clone());
                    }
                }
                Seg::All => next.extend(v.as_array().cloned().unwrap_or_default()),
                Seg::Filter(k, want) => {
                    for item in v.as_array().into_iter().flatten() {
                        let got = item.pointer(&format!("/{}", k.replace('.', "/")));
                        let s = match got {
                            Some(Value::String(s)) => s.clone(),
                            Some(x) => x.to_string(),
                            None => continue,
                        };
                        if &s == want {
                            next.push(item.clone());
                        }
                    }
                }
            }
        }
        cur = next;
    }
    cur
}

/// kube's `duration.HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let m = s / 60;
    let h = m / 60;
    let d = h / 24;
    let y = d / 365;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 192 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 730 {
        format!("{d}d")
    } else if y < 8 {
        format!("{y}y{}d", d % 365)
    } else {
        format!("{y}y")
    }
}

/// Age of a timestamp, or `<unknown>`.
pub fn age(ts: &Value) -> String {
    match ts.as_str().and_then(|s| s.parse::<jiff::Timestamp>().ok()) {
        Some(t) => human_duration(jiff::Timestamp::now().as_second() - t.as_second()),
        None => "<unknown>".into(),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(x) => x.clone(),
        Value::Null => "<none>".into(),
        other => other.to_string(),
    }
}

fn or_none(v: &Value) -> Value {
    match v {
        Value::Null => json!("<none>"),
        Value::String(x) if x.is_empty() => json!("<none>"),
        other => other.clone(),
    }
}

fn col(name: &str, type_: &str, priority: i64) -> Value {
    let mut c =
        json!({"name": name, "type": type_, "format": "", "description": "", "priority": priority});
    if name == "Name" {
        c["format"] = json!("name");
    }
    c
}

fn containers_images(spec: &Value) -> (String, String) {
    let cs = spec["containers"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    (names.join(","), images.join(","))
}

fn selector_string(sel: &Value) -> String {
    let q = super::selector::LabelSelector::from_object(sel).to_query();
    if q.is_empty() {
        "<none>".into()
    } else {
        q
    }
}

/// The STATUS column of a Job, as kubectl's printer derives it from the conditions.
fn job_status(j: &Value) -> &'static str {
    let has = |t: &str| {
        j.pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| c.iter().any(|x| x["type"] == t && x["status"] == "True"))
    };
    if has("Complete") {
        "Complete"
    } else if has("Failed") {
        "Failed"
    } else if !j
        .pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null)
    {
        "Terminating"
    } else if has("Suspended") {
        "Suspended"
    } else if has("FailureTarget") {
        "FailureTarget"
    } else if has("SuccessCriteriaMet") {
        "SuccessCriteriaMet"
    } else {
        "Running"
    }
}

fn pod_status(p: &Value) -> String {
    if !p
        .pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null)
    {
        return "Terminating".into();
    }
    let mut reason = p
        .pointer("/status/reason")
        .and_then(Value::as_str)
        .or_else(|| p.pointer("/status/phase").and_then(Value::as_str))
        .unwrap_or("Pending")
        .to_string();
    for cs in p
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(r) = cs.pointer("/state/waiting/reason").and_then(Value::as_str) {
            reason = r.to_string();
        } else if let Some(r) = cs
            .pointer("/state/terminated/reason")
            .and_then(Value::as_str)
        {
            reason = r.to_string();
        }
    }
    reason
}

fn node_status(n: &Value) -> String {
    let ready = n
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|x| x["type"] == "Ready"))
        .map(|c| match c["status"].as_str() {
            Some("True") => "Ready",
            Some("False") => "NotReady",
            _ => "Unknown",
        })
        .unwrap_or("Unknown");
    if n.pointer("/spec/unschedulable") == Some(&json!(true)) {
        format!("{ready},SchedulingDisabled")
    } else {
        ready.to_string()
    }
}

fn node_roles(n: &Value) -> String {
    let mut roles: Vec<String> = n
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|l| {
            l.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(String::from))
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    if roles.is_empty() {
        "<none>".into()
    } else {
        roles.join(",")
    }
}

fn node_address(n: &Value, t: &str) -> Value {
    n.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["type"] == t))
        .map(|x| x["address"].clone())
        .unwrap_or(json!("<none>"))
}

fn event_object(e: &Value) -> String {
    let io = &e["involvedObject"];
    format!("{}/{}", s(&io["kind"]).to_lowercase(), s(&io["name"]))
}

fn event_last_seen(e: &Value) -> String {
    for k in ["lastTimestamp", "eventTime", "firstTimestamp"] {
        if e.get(k).is_some_and(|v| !v.is_null()) {
            return age(&e[k]);
        }
    }
    if let Some(t) = e.pointer("/series/lastObservedTime") {
        return age(t);
    }
    age(&e["metadata"]["creationTimestamp"])
}

/// Columns and cells of a built-in kind.
fn builtin(def: &ResourceDef, o: &Value) -> (Vec<Value>, Vec<Value>) {
    let name = o["metadata"]["name"].clone();
    let ag = json!(age(&o["metadata"]["creationTimestamp"]));
    let spec = &o["spec"];
    let st = &o["status"];
    let i = |v: &Value| json!(v.as_i64().unwrap_or(0));
    match def.kind.as_str() {
        "Pod" => {
            let total = spec["containers"].as_array().map_or(0, Vec::len);
            let ready = st["containerStatuses"].as_array().map_or(0, |a| {
                a.iter().filter(|c| c["ready"] == json!(true)).count()
            });
            let restarts: i64 = st["containerStatuses"].as_array().map_or(0, |a| {
                a.iter()
                    .map(|c| c["restartCount"].as_i64().unwrap_or(0))
                    .sum()
            });
            (
                vec![
                    col("Name", "string", 0),
                    col("Ready", "string", 0),
                    col("Status", "string", 0),
                    col("Restarts", "string", 0),
                    col("Age", "string", 0),
                    col("IP", "string", 1),
                    col("Node", "string", 1),
                    col("Nominated Node", "string", 1),
                    col("Readiness Gates", "string", 1),
                ],
                vec![
                    name,
                    json!(format!("{ready}/{total}")),
                    json!(pod_status(o)),
                    json!(restarts.to_string()),
                    ag,
                    or_none(&st["podIP"]),
                    or_none(&spec["nodeName"]),
                    or_none(&st["nominatedNodeName"]),
                    json!("<none>"),
                ],
            )
        }
        "Node" => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Roles", "string", 0),
                col("Age", "string", 0),
                col("Version", "string", 0),
                col("Internal-IP", "string", 1),
                col("External-IP", "string", 1),
                col("OS-Image", "string", 1),
                col("Kernel-Version", "string", 1),
                col("Container-Runtime", "string", 1),
            ],
            vec![
                name,
                json!(node_status(o)),
                json!(node_roles(o)),
                ag,
                json!(s(&st["nodeInfo"]["kubeletVersion"])),
                node_address(o, "InternalIP"),
                node_address(o, "ExternalIP"),
                or_none(&st["nodeInfo"]["osImage"]),
                or_none(&st["nodeInfo"]["kernelVersion"]),
                or_none(&st["nodeInfo"]["containerRuntimeVersion"]),
            ],
        ),
        "Deployment" => {
            let (c, im) = containers_images(&spec["template"]["spec"]);
            (
                vec![
                    col("Name", "string", 0),
                    col("Ready", "string", 0),
                    col("Up-to-date", "string", 0),
                    col("Available", "string", 0),
                    col("Age", "string", 0),
                    col("Containers", "string", 1),
                    col("Images", "string", 1),
                    col("Selector", "string", 1),
                ],
                vec![
                    name,
                    json!(format!(
                        "{}/{}",
                        st["readyReplicas"].as_i64().unwrap_or(0),
                        spec["replicas"].as_i64().unwrap_or(0)
                    )),
                    i(&st["updatedReplicas"]),
                    i(&st["availableReplicas"]),
                    ag,
                    json!(c),
                    json!(im),
                    json!(selector_string(&spec["selector"])),
                ],
            )
        }
        "Job" => {
            let (c, im) = containers_images(&spec["template"]["spec"]);
            let succeeded = st["succeeded"].as_i64().unwrap_or(0);
            let completions = match (spec["completions"].as_i64(), spec["parallelism"].as_i64()) {
                (Some(n), _) => format!("{succeeded}/{n}"),
                (None, None) => format!("{succeeded}/1 of 1"),
                (None, Some(p)) if p > 1 => format!("{succeeded}/1 of {p}"),
                (None, Some(_)) => format!("{succeeded}/1"),
            };
            let ts = |v: &Value| {
                v.as_str()
                    .and_then(|x| x.parse::<jiff::Timestamp>().ok())
                    .map(|t| t.as_second())
            };
            let duration = match (ts(&st["startTime"]), ts(&st["completionTime"])) {
                (None, _) => String::new(),
                (Some(a), None) => human_duration(jiff::Timestamp::now().as_second() - a),
                (Some(a), Some(b)) => human_duration(b - a),
            };
            (
                vec![
                    col("Name", "string", 0),
                    col("Status", "string", 0),
                    col("Completions", "string", 0),
                    col("Duration", "string", 0),
                    col("Age", "string", 0),
                    col("Containers", "string", 1),
                    col("Images", "string", 1),
                    col("Selector", "string", 1),
                ],
                vec![
                    name,
                    json!(job_status(o)),
                    json!(completions),
                    json!(duration),
                    ag,
                    json!(c),
                    json!(im),
                    json!(selector_string(&spec["selector"])),
                ],
            )
        }
        "CronJob" => {
            let job_spec = &spec["jobTemplate"]["spec"];
            let (c, im) = containers_images(&job_spec["template"]["spec"]);
            let suspend = match spec["suspend"].as_bool() {
                Some(true) => "True",
                Some(false) => "False",
                None => "<unset>",
            };
            let last = if st["lastScheduleTime"].is_string() {
                age(&st["lastScheduleTime"])
            } else {
                "<none>".into()
            };
            (
                vec![
                    col("Name", "string", 0),
                    col("Schedule", "string", 0),
                    col("Timezone", "string", 0),
                    col("Suspend", "boolean", 0),
                    col("Active", "integer", 0),
                    col("Last Schedule", "string", 0),
                    col("Age", "string", 0),
                    col("Containers", "string", 1),
                    col("Images", "string", 1),
                    col("Selector", "string", 1),
                ],
                vec![
                    name,
                    json!(s(&spec["schedule"])),
                    json!(s(&spec["timeZone"])),
                    json!(suspend),
                    json!(st["active"].as_array().map_or(0, Vec::len)),
                    json!(last),
                    ag,
                    json!(c),
                    json!(im),
                    json!(selector_string(&job_spec["selector"])),
                ],
            )
        }
        "PriorityClass" => (
            vec![
                col("Name", "string", 0),
                col("Value", "integer", 0),
                col("Global-Default", "boolean", 0),
                col("Age", "string", 0),
                col("PreemptionPolicy", "string", 0),
            ],
            vec![
                name,
                i(&o["value"]),
                json!(o["globalDefault"].as_bool().unwrap_or(false)),
                ag,
                json!(o["preemptionPolicy"]
                    .as_str()
                    .unwrap_or("PreemptLowerPriority")),
            ],
        ),
        "ReplicaSet" => {
            let (c, im) = containers_images(&spec["template"]["spec"]);
            (
                vec![
                    col("Name", "string", 0),
                    col("Desired", "integer", 0),
                    col("Current", "integer", 0),
                    col("Ready", "integer", 0),
                    col("Age", "string", 0),
                    col("Containers", "string", 1),
                    col("Images", "string", 1),
                    col("Selector", "string", 1),
                ],
                vec![
                    name,
                    i(&spec["replicas"]),
                    i(&st["replicas"]),
                    i(&st["readyReplicas"]),
                    ag,
                    json!(c),
                    json!(im),
                    json!(selector_string(&spec["selector"])),
                ],
            )
        }
        "DaemonSet" => {
            let (c, im) = containers_images(&spec["template"]["spec"]);
            let ns = spec["template"]["spec"]["nodeSelector"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", s(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|x| !x.is_empty())
                .unwrap_or("<none>".into());
            (
                vec![
                    col("Name", "string", 0),
                    col("Desired", "integer", 0),
                    col("Current", "integer", 0),
                    col("Ready", "integer", 0),
                    col("Up-to-date", "integer", 0),
                    col("Available", "integer", 0),
                    col("Node Selector", "string", 0),
                    col("Age", "string", 0),
                    col("Containers", "string", 1),
                    col("Images", "string", 1),
                    col("Selector", "string", 1),
                ],
                vec![
                    name,
                    i(&st["desiredNumberScheduled"]),
                    i(&st["currentNumberScheduled"]),
                    i(&st["numberReady"]),
                    i(&st["updatedNumberScheduled"]),
                    i(&st["numberAvailable"]),
                    json!(ns),
                    ag,
                    json!(c),
                    json!(im),
                    json!(selector_string(&spec["selector"])),
                ],
            )
        }
        "Event" => {
            let src = if o["source"]["component"].is_string() {
                s(&o["source"]["component"])
            } else {
                s(&o["reportingComponent"])
            };
            (
                vec![
                    col("Last Seen", "string", 0),
                    col("Type", "string", 0),
                    col("Reason", "string", 0),
                    col("Object", "string", 0),
                    col("Subobject", "string", 1),
                    col("Source", "string", 1),
                    col("Message", "string", 0),
                    col("First Seen", "string", 1),
                    col("Count", "string", 1),
                    col("Name", "string", 1),
                ],
                vec![
                    json!(event_last_seen(o)),
                    json!(s(&o["type"])),
                    json!(s(&o["reason"])),
                    json!(event_object(o)),
                    json!(o["involvedObject"]["fieldPath"].as_str().unwrap_or("")),
                    json!(src),
                    json!(s(&o["message"])),
                    json!(if o["firstTimestamp"].is_null() {
                        event_last_seen(o)
                    } else {
                        age(&o["firstTimestamp"])
                    }),
                    json!(o["count"].as_i64().unwrap_or(1).to_string()),
                    name,
                ],
            )
        }
        "Namespace" => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Age", "string", 0),
            ],
            vec![name, json!(s(&st["phase"])), ag],
        ),
        "ConfigMap" => (
            vec![
                col("Name", "string", 0),
                col("Data", "integer", 0),
                col("Age", "string", 0),
            ],
            vec![
                name,
                json!(
                    o["data"].as_object().map_or(0, |m| m.len())
                        + o["binaryData"].as_object().map_or(0, |m| m.len())
                ),
                ag,
            ],
        ),
        "Secret" => (
            vec![
                col("Name", "string", 0),
                col("Type", "string", 0),
                col("Data", "integer", 0),
                col("Age", "string", 0),
            ],
            vec![
                name,
                json!(s(&o["type"])),
                json!(o["data"].as_object().map_or(0, |m| m.len())),
                ag,
            ],
        ),
        "Service" => {
            let ports: Vec<String> = spec["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|p| format!("{}/{}", p["port"], s(&p["protocol"])))
                .collect();
            let sel = spec["selector"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| format!("{k}={}", s(v)))
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|x| !x.is_empty())
                .unwrap_or("<none>".into());
            (
                vec![
                    col("Name", "string", 0),
                    col("Type", "string", 0),
                    col("Cluster-IP", "string", 0),
                    col("External-IP", "string", 0),
                    col("Port(s)", "string", 0),
                    col("Age", "string", 0),
                    col("Selector", "string", 1),
                ],
                vec![
                    name,
                    json!(s(&spec["type"])),
                    json!(s(&spec["clusterIP"])),
                    json!("<none>"),
                    json!(if ports.is_empty() {
                        "<none>".into()
                    } else {
                        ports.join(",")
                    }),
                    ag,
                    json!(sel),
                ],
            )
        }
        "ServiceAccount" => (
            vec![
                col("Name", "string", 0),
                col("Secrets", "integer", 0),
                col("Age", "string", 0),
            ],
            vec![name, json!(o["secrets"].as_array().map_or(0, Vec::len)), ag],
        ),
        "PodDisruptionBudget" => (
            vec![
                col("Name", "string", 0),
                col("Min Available", "string", 0),
                col("Max Unavailable", "string", 0),
                col("Allowed Disruptions", "integer", 0),
                col("Age", "string", 0),
            ],
            vec![
                name,
                json!(if spec["minAvailable"].is_null() {
                    "N/A".into()
                } else {
                    s(&spec["minAvailable"])
                }),
                json!(if spec["maxUnavailable"].is_null() {
                    "N/A".into()
                } else {
                    s(&spec["maxUnavailable"])
                }),
                i(&st["disruptionsAllowed"]),
                ag,
            ],
        ),
        "Lease" => (
            vec![
                col("Name", "string", 0),
                col("Holder", "string", 0),
                col("Age", "string", 0),
            ],
            vec![
                name,
                json!(spec["holderIdentity"].as_str().unwrap_or("")),
                ag,
            ],
        ),
        "CustomResourceDefinition" | "Role" | "ClusterRole" => (
            vec![col("Name", "string", 0), col("Created At", "date", 0)],
            vec![name, o["metadata"]["creationTimestamp"].clone()],
        ),
        "RoleBinding" | "ClusterRoleBinding" => {
            let subj = |k: &str| -> String {
                let v: Vec<String> = o["subjects"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|x| x["kind"] == k)
                    .map(|x| {
                        if k == "ServiceAccount" {
                            format!("{}/{}", s(&x["namespace"]), s(&x["name"]))
                        } else {
                            s(&x["name"])
                        }
                    })
                    .collect();
                v.join(", ")
            };
            (
                vec![
                    col("Name", "string", 0),
                    col("Role", "string", 0),
                    col("Age", "string", 0),
                    col("Users", "string", 1),
                    col("Groups", "string", 1),
                    col("ServiceAccounts", "string", 1),
                ],
                vec![
                    name,
                    json!(format!(
                        "{}/{}",
                        s(&o["roleRef"]["kind"]),
                        s(&o["roleRef"]["name"])
                    )),
                    ag,
                    json!(subj("User")),
                    json!(subj("Group")),
                    json!(subj("ServiceAccount")),
                ],
            )
        }
        _ => (
            vec![col("Name", "string", 0), col("Age", "string", 0)],
            vec![name, ag],
        ),
    }
}

/// Columns and cells from a CRD's additionalPrinterColumns.
fn custom(def: &ResourceDef, o: &Value) -> (Vec<Value>, Vec<Value>) {
    let mut cols = vec![
        json!({"name": "Name", "type": "string", "format": "name", "description": "Name must be unique within a namespace.", "priority": 0}),
    ];
    let mut cells = vec![o["metadata"]["name"].clone()];
    for c in &def.columns {
        cols.push(json!({"name": c.name, "type": c.type_, "format": c.format, "description": c.description, "priority": c.priority}));
        let v = eval_path(o, &c.json_path)
            .into_iter()
            .next()
            .unwrap_or(Value::Null);
        cells.push(match (c.type_.as_str(), &v) {
            (_, Value::Null) => Value::Null,
            ("date", _) => json!(age(&v)),
            ("string", Value::String(_)) => v,
            ("string", other) => json!(other.to_string()),
            _ => v,
        });
    }
    (cols, cells)
}

/// Builds a Table over already-presented objects.
pub fn table(
    def: &ResourceDef,
    objs: &[Value],
    include: IncludeObject,
    rv: &str,
    continue_: Option<&str>,
) -> Value {
    let mut columns = None;
    let mut rows = Vec::with_capacity(objs.len());
    for o in objs {
        let (cols, cells) = if def.custom {
            custom(def, o)
        } else {
            builtin(def, o)
        };
        columns.get_or_insert(cols);
        let mut row = json!({"cells": cells});
        match include {
            IncludeObject::None => {}
            IncludeObject::Object => row["object"] = o.clone(),
            IncludeObject::Metadata => {
                row["object"] = json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": o["metadata"]});
            }
        }
        rows.push(row);
    }
    let columns = columns.unwrap_or_else(|| {
        if def.custom {
            custom(def, &json!({"metadata": {}})).0
        } else {
            builtin(def, &json!({"metadata": {}})).0
        }
    });
    let mut meta = json!({"resourceVersion": rv});
    if let Some(c) = continue_ {
        meta["continue"] = json!(c);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": columns, "rows": rows})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonpath_filters_and_escapes() {
        let o = json!({"status": {"conditions": [{"type": "A", "status": "False"}, {"type": "Ready", "status": "True"}]},
                        "metadata": {"labels": {"node.kubernetes.io/instance-type": "b3-8"}}});
        assert_eq!(
            eval_path(&o, ".status.conditions[?(@.type==\"Ready\")].status"),
            vec![json!("True")]
        );
        assert_eq!(
            eval_path(&o, ".metadata.labels.node\\.kubernetes\\.io/instance-type"),
            vec![json!("b3-8")]
        );
        assert_eq!(eval_path(&o, ".status.conditions[*].type").len(), 2);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600 * 5 + 60), "5h1m");
        assert_eq!(human_duration(86400 * 3), "3d");
    }
}
