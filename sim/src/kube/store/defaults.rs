//! Built-in defaulting and normalization: what kube-apiserver fills in or rewrites on writes
//! (pod and workload defaults, Service cluster IPs, Secret `stringData`, CRD status), so clients
//! read back what a real server would return. Schema defaults of custom resources are applied
//! at admission (`write.rs`, `crate::kube::schema`).

use super::meta::{meta, meta_mut, now};
use crate::kube::resources::ResourceDef;
use serde_json::{json, Map, Value};

/// Standard base64 with padding (Secret `stringData` to `data`).
fn base64(data: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Container defaults (pull policy, termination message, resources).
fn default_container(c: &mut Value) {
    let image = c["image"].as_str().unwrap_or_default().to_string();
    let o = c.as_object_mut().expect("container");
    let latest =
        !image.rsplit('/').next().unwrap_or_default().contains(':') || image.ends_with(":latest");
    o.entry("imagePullPolicy")
        .or_insert(json!(if latest { "Always" } else { "IfNotPresent" }));
    o.entry("terminationMessagePath")
        .or_insert(json!("/dev/termination-log"));
    o.entry("terminationMessagePolicy").or_insert(json!("File"));
    o.entry("resources").or_insert(json!({}));
}

/// The QoS class of a pod spec, as kube-apiserver records it in `status.qosClass`.
pub fn qos_class(spec: &Value) -> &'static str {
    let containers: Vec<&Value> = spec["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let res = |c: &Value, k: &str, r: &str| c["resources"][k][r].clone();
    let any = containers.iter().any(|c| {
        ["cpu", "memory"]
            .iter()
            .any(|r| !res(c, "requests", r).is_null() || !res(c, "limits", r).is_null())
    });
    if !any {
        return "BestEffort";
    }
    let guaranteed = containers.iter().all(|c| {
        ["cpu", "memory"].iter().all(|r| {
            let l = res(c, "limits", r);
            !l.is_null() && (res(c, "requests", r).is_null() || res(c, "requests", r) == l)
        })
    });
    if guaranteed {
        "Guaranteed"
    } else {
        "Burstable"
    }
}

/// Defaults kube-apiserver (and its default admission plugins) set on pod specs.
fn default_pod_spec(spec: &mut Value, is_pod: bool) {
    let Some(o) = spec.as_object_mut() else {
        return;
    };
    o.entry("restartPolicy").or_insert(json!("Always"));
    o.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    o.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    o.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    o.entry("securityContext").or_insert(json!({}));
    if is_pod {
        o.entry("serviceAccountName").or_insert(json!("default"));
        let sa = o["serviceAccountName"].clone();
        o.entry("serviceAccount").or_insert(sa);
        o.entry("enableServiceLinks").or_insert(json!(true));
        let tol = o.entry("tolerations").or_insert(json!([]));
        if let Some(t) = tol.as_array_mut() {
            for key in [
                "node.kubernetes.io/not-ready",
                "node.kubernetes.io/unreachable",
            ] {
                if !t
                    .iter()
                    .any(|x| x["key"] == key && x["effect"] == "NoExecute")
                {
                    t.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
                }
            }
        }
    }
    for list in ["containers", "initContainers"] {
        for c in o
            .get_mut(list)
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if c.is_object() {
                default_container(c);
            }
        }
    }
    // `SetDefaults_PodSpec`: on the host's network a container port is a host port.
    if o.get("hostNetwork") == Some(&json!(true)) {
        for list in ["containers", "initContainers"] {
            let ports = o
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
                .filter_map(|c| c.get_mut("ports").and_then(Value::as_array_mut))
                .flatten();
            for p in ports {
                if p["hostPort"].as_i64().unwrap_or(0) == 0 {
                    p["hostPort"] = p["containerPort"].clone();
                }
            }
        }
    }
}

/// Label of a Job's pods naming the Job's uid (the generated selector's key).
pub const JOB_CONTROLLER_UID: &str = "batch.kubernetes.io/controller-uid";
/// Label of a Job's pods naming the Job.
pub const JOB_NAME: &str = "batch.kubernetes.io/job-name";

/// Job defaults (kube-apiserver's `SetDefaults_Job` and the generated selector of
/// `job.Strategy`); `uid` and `job` empty: a CronJob's template, which gets no selector.
fn default_job_spec(spec: &mut Value, uid: &str, job: &str) {
    let Some(s) = spec.as_object_mut() else {
        return;
    };
    if s.get("completions").is_none_or(Value::is_null)
        && s.get("parallelism").is_none_or(Value::is_null)
    {
        s.insert("completions".into(), json!(1));
    }
    s.entry("parallelism").or_insert(json!(1));
    s.entry("backoffLimit").or_insert(json!(6));
    s.entry("completionMode").or_insert(json!("NonIndexed"));
    s.entry("suspend").or_insert(json!(false));
    s.entry("podReplacementPolicy")
        .or_insert(json!("TerminatingOrFailed"));
    let manual = s.get("manualSelector") == Some(&json!(true));
    if !uid.is_empty() && !manual && s.get("selector").is_none_or(Value::is_null) {
        s.insert(
            "selector".into(),
            json!({"matchLabels": {JOB_CONTROLLER_UID: uid}}),
        );
        let t = s.entry("template").or_insert(json!({}));
        if !t.is_object() {
            return;
        }
        if !t["metadata"].is_object() {
            t["metadata"] = json!({});
        }
        if !t["metadata"]["labels"].is_object() {
            t["metadata"]["labels"] = json!({});
        }
        let labels = &mut t["metadata"]["labels"];
        for (k, x) in [
            (JOB_CONTROLLER_UID, uid),
            ("controller-uid", uid),
            (JOB_NAME, job),
            ("job-name", job),
        ] {
            labels[k] = json!(x);
        }
    }
    if let Some(ps) = spec.pointer_mut("/template/spec") {
        default_pod_spec(ps, false);
    }
}

/// Built-in defaulting on create (the part of kube-apiserver's defaulters clients notice).
pub(super) fn default_builtin(def: &ResourceDef, v: &mut Value, cluster_ip: u64) {
    if def.custom {
        return;
    }
    let name = meta(v)["name"].clone();
    match (def.group.as_str(), def.kind.as_str()) {
        ("", "Namespace") => {
            let labels = meta_mut(v).entry("labels").or_insert(json!({}));
            labels["kubernetes.io/metadata.name"] = name;
            v["spec"] = json!({"finalizers": ["kubernetes"]});
            v["status"] = json!({"phase": "Active"});
        }
        ("", "Pod") => {
            if let Some(spec) = v.get_mut("spec") {
                default_pod_spec(spec, true);
            }
            if v.pointer("/status/phase").is_none() {
                let qos = qos_class(&v["spec"]);
                let o = v.as_object_mut().expect("object");
                let st = o.entry("status").or_insert(json!({}));
                st["phase"] = json!("Pending");
                st["qosClass"] = json!(qos);
            }
        }
        ("apps", "Deployment") | ("apps", "ReplicaSet") | ("apps", "DaemonSet") => {
            let kind = def.kind.clone();
            let spec = v
                .as_object_mut()
                .expect("object")
                .entry("spec")
                .or_insert(json!({}));
            if let Some(s) = spec.as_object_mut() {
                if kind != "DaemonSet" {
                    s.entry("replicas").or_insert(json!(1));
                }
                if kind != "ReplicaSet" {
                    s.entry("revisionHistoryLimit").or_insert(json!(10));
                }
                if kind == "Deployment" {
                    s.entry("progressDeadlineSeconds").or_insert(json!(600));
                    s.entry("strategy").or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
                }
                if kind == "DaemonSet" {
                    s.entry("updateStrategy").or_insert(json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}));
                }
            }
            if let Some(ps) = v.pointer_mut("/spec/template/spec") {
                default_pod_spec(ps, false);
            }
        }
        ("batch", "Job") => {
            let uid = meta(v)["uid"].as_str().unwrap_or_default().to_string();
            let job = name.as_str().unwrap_or_default().to_string();
            if let Some(spec) = v.get_mut("spec") {
                default_job_spec(spec, &uid, &job);
            }
        }
        ("batch", "CronJob") => {
            if let Some(s) = v.get_mut("spec").and_then(Value::as_object_mut) {
                s.entry("concurrencyPolicy").or_insert(json!("Allow"));
                s.entry("suspend").or_insert(json!(false));
                s.entry("successfulJobsHistoryLimit").or_insert(json!(3));
                s.entry("failedJobsHistoryLimit").or_insert(json!(1));
            }
            if let Some(spec) = v.pointer_mut("/spec/jobTemplate/spec") {
                default_job_spec(spec, "", "");
            }
        }
        ("scheduling.k8s.io", "PriorityClass") => {
            if let Some(o) = v.as_object_mut() {
                o.entry("preemptionPolicy")
                    .or_insert(json!("PreemptLowerPriority"));
            }
        }
        ("", "Service") => {
            let spec = v
                .as_object_mut()
                .expect("object")
                .entry("spec")
                .or_insert(json!({}));
            if let Some(s) = spec.as_object_mut() {
                s.entry("type").or_insert(json!("ClusterIP"));
                s.entry("sessionAffinity").or_insert(json!("None"));
                if s.get("clusterIP").is_none() {
                    let ip = format!(
                        "10.96.{}.{}",
                        (cluster_ip / 250) % 250,
                        cluster_ip % 250 + 1
                    );
                    s.insert("clusterIP".into(), json!(ip));
                    s.insert("clusterIPs".into(), json!([ip]));
                }
                s.entry("ipFamilies").or_insert(json!(["IPv4"]));
                for p in s
                    .get_mut("ports")
                    .and_then(Value::as_array_mut)
                    .into_iter()
                    .flatten()
                {
                    if let Some(po) = p.as_object_mut() {
                        po.entry("protocol").or_insert(json!("TCP"));
                        if let Some(port) = po.get("port").cloned() {
                            po.entry("targetPort").or_insert(port);
                        }
                    }
                }
            }
            v.as_object_mut()
                .expect("object")
                .entry("status")
                .or_insert(json!({"loadBalancer": {}}));
        }
        _ => {}
    }
}

/// Normalizations applied on every create and update.
pub(super) fn normalize(def: &ResourceDef, v: &mut Value) {
    // Empty lists and maps are omitted, as Go's `omitempty` does in kube-apiserver.
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.retain(|k, x| {
            !(matches!(
                k.as_str(),
                "labels" | "annotations" | "finalizers" | "ownerReferences" | "managedFields"
            ) && (x.is_null()
                || x.as_array().is_some_and(Vec::is_empty)
                || x.as_object().is_some_and(Map::is_empty)))
        });
    }
    if def.group.is_empty() && def.kind == "Secret" {
        if let Some(sd) = v.as_object_mut().and_then(|o| o.remove("stringData")) {
            let o = v.as_object_mut().expect("object");
            let data = o.entry("data").or_insert(json!({}));
            for (k, s) in sd.as_object().into_iter().flatten() {
                data[k] = json!(base64(s.as_str().unwrap_or_default().as_bytes()));
            }
        }
        v.as_object_mut()
            .expect("object")
            .entry("type")
            .or_insert(json!("Opaque"));
    }
    if def.group == "apiextensions.k8s.io" {
        let names = v.pointer("/spec/names").cloned().unwrap_or(json!({}));
        let stored: Vec<Value> = v
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter(|x| x["storage"] == json!(true))
                    .map(|x| x["name"].clone())
                    .collect()
            })
            .unwrap_or_default();
        let t = now();
        let o = v.as_object_mut().expect("object");
        o.insert(
            "status".into(),
            json!({
                "acceptedNames": names,
                "storedVersions": stored,
                "conditions": [
                    {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": t},
                    {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": t},
                ]
            }),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(&json!({"containers": [{}]})), "BestEffort");
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})),
            "Burstable"
        );
        assert_eq!(
            qos_class(
                &json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})
            ),
            "Guaranteed"
        );
    }

    #[test]
    fn host_network_ports_are_host_ports() {
        let mut spec = json!({"hostNetwork": true, "containers": [{"name": "c", "ports": [
            {"containerPort": 9100}, {"containerPort": 8080, "hostPort": 18080}]}]});
        default_pod_spec(&mut spec, true);
        let ports = &spec["containers"][0]["ports"];
        assert_eq!(ports[0]["hostPort"], 9100);
        assert_eq!(ports[1]["hostPort"], 18080, "a port given is kept");
        let mut plain = json!({"containers": [{"name": "c", "ports": [{"containerPort": 80}]}]});
        default_pod_spec(&mut plain, true);
        assert!(plain["containers"][0]["ports"][0].get("hostPort").is_none());
    }

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
    }
}
