//! Subresources with behaviour of their own: scale, eviction (PodDisruptionBudgets), binding.

use super::error::{ApiError, ApiResult};
use super::patch::PatchType;
use super::resources::ResourceDef;
use super::selector::LabelSelector;
use super::store::{DeleteOptions, Store, Stored, WriteOptions, WriteTarget};
use super::table::eval_path;
use serde_json::{json, Value};
use std::sync::Arc;

/// The autoscaling/v1 `Scale` of an object.
pub fn scale_of(def: &ResourceDef, obj: &Value) -> Value {
    let paths = def
        .scale
        .clone()
        .unwrap_or_else(|| super::resources::ScalePaths {
            spec_replicas: ".spec.replicas".into(),
            status_replicas: ".status.replicas".into(),
            label_selector: None,
        });
    let first = |p: &str| eval_path(obj, p).into_iter().next();
    let spec = first(&paths.spec_replicas)
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let status = first(&paths.status_replicas)
        .and_then(|v| v.as_i64())
        .unwrap_or(0);
    let selector = paths
        .label_selector
        .as_deref()
        .and_then(first)
        .map(|s| match s {
            Value::String(s) => s,
            obj => LabelSelector::from_object(&obj).to_query(),
        });
    let m = &obj["metadata"];
    let mut st = json!({"replicas": status});
    if let Some(s) = selector {
        st["selector"] = json!(s);
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1",
        "metadata": {"name": m["name"], "namespace": m["namespace"], "uid": m["uid"],
                     "resourceVersion": m["resourceVersion"], "creationTimestamp": m["creationTimestamp"]},
        "spec": {"replicas": spec},
        "status": st,
    })
}

/// Writes the replicas of a Scale (PUT or patched) back to the object.
pub fn set_scale(
    store: &Store,
    def: &ResourceDef,
    ns: &str,
    name: &str,
    scale: &Value,
    opts: &WriteOptions,
) -> ApiResult<Arc<Stored>> {
    // Go's Scale has a non-pointer `replicas,omitempty`: absent is 0 (a protobuf Scale of 0
    // replicas decodes without it).
    let replicas = scale
        .pointer("/spec/replicas")
        .map_or(Some(0), Value::as_i64)
        .ok_or_else(|| {
            ApiError::invalid(
                "autoscaling",
                "Scale",
                name,
                vec![("spec.replicas".into(), "Required value".into())],
            )
        })?;
    if replicas < 0 {
        return Err(ApiError::invalid(
            "autoscaling",
            "Scale",
            name,
            vec![(
                "spec.replicas".into(),
                format!("Invalid value: {replicas}: must be greater than or equal to 0"),
            )],
        ));
    }
    let path = def
        .scale
        .as_ref()
        .map(|s| s.spec_replicas.clone())
        .unwrap_or_else(|| ".spec.replicas".into());
    let mut patch = json!(replicas);
    for seg in path.trim_start_matches('.').split('.').rev() {
        patch = json!({ seg: patch });
    }
    if let Some(rv) = scale
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        patch["metadata"] = json!({"resourceVersion": rv});
    }
    store.patch(
        WriteTarget::object(def, ns, name),
        PatchType::Merge,
        &patch,
        opts,
    )
}

fn is_healthy(pod: &Value) -> bool {
    pod.pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null)
        && pod.pointer("/status/phase").and_then(Value::as_str) == Some("Running")
        && pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|c| {
                c.iter()
                    .any(|x| x["type"] == "Ready" && x["status"] == "True")
            })
}

/// Resolves an int-or-percent (`minAvailable`, `maxSurge`, ...) against `total`.
pub fn int_or_percent(v: &Value, total: i64, round_up: bool) -> i64 {
    match v {
        Value::String(s) if s.ends_with('%') => {
            let p: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            if round_up {
                (p * total + 99) / 100
            } else {
                p * total / 100
            }
        }
        Value::String(s) => s.parse().unwrap_or(0),
        other => other.as_i64().unwrap_or(0),
    }
}

/// Status numbers of a PodDisruptionBudget over the pods it selects.
pub fn pdb_status(pdb: &Value, pods: &[Arc<Stored>]) -> Value {
    let sel = LabelSelector::from_object(&pdb["spec"]["selector"]);
    let matching: Vec<&Arc<Stored>> = pods
        .iter()
        .filter(|p| !sel.is_empty() && sel.matches(&p.value))
        .collect();
    let expected = matching.len() as i64;
    let healthy = matching.iter().filter(|p| is_healthy(&p.value)).count() as i64;
    let desired = if let Some(min) = pdb.pointer("/spec/minAvailable") {
        int_or_percent(min, expected, true)
    } else if let Some(max) = pdb.pointer("/spec/maxUnavailable") {
        (expected - int_or_percent(max, expected, true)).max(0)
    } else {
        expected
    };
    json!({
        "observedGeneration": pdb.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        "currentHealthy": healthy,
        "desiredHealthy": desired,
        "expectedPods": expected,
        "disruptionsAllowed": (healthy - desired).max(0),
        "conditions": [{
            "type": "DisruptionAllowed",
            "status": if healthy > desired { "True" } else { "False" },
            "reason": if healthy > desired { "SufficientPods" } else { "InsufficientPods" },
            "message": "",
            "lastTransitionTime": pdb.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
            "observedGeneration": pdb.pointer("/metadata/generation").cloned().unwrap_or(json!(1)),
        }],
    })
}

/// Evicts a pod unless a PodDisruptionBudget forbids it (429).
pub fn evict(store: &Store, ns: &str, name: &str, eviction: &Value) -> ApiResult<()> {
    let pods_def = store.def("", "v1", "pods").expect("pods");
    let pdb_def = store
        .def("policy", "v1", "poddisruptionbudgets")
        .expect("pdbs");
    let pod = store.get(&pods_def, ns, name)?;
    let opts = DeleteOptions::from_value(&eviction["deleteOptions"]);
    let terminating = !pod
        .value
        .pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null);
    let phase = pod
        .value
        .pointer("/status/phase")
        .and_then(Value::as_str)
        .unwrap_or("");
    if terminating || phase == "Succeeded" || phase == "Failed" {
        store.delete(&pods_def, ns, name, &opts)?;
        return Ok(());
    }
    let pdbs: Vec<Arc<Stored>> = store.with_objects(&pdb_def.storage, Some(ns), |it| {
        it.filter(|p| {
            LabelSelector::from_object(&p.value["spec"]["selector"]).matches(&pod.value)
                && p.value["spec"]["selector"].is_object()
        })
        .cloned()
        .collect()
    });
    if pdbs.len() > 1 {
        return Err(ApiError { code: 500, reason: "InternalError", message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.".into(), details: None });
    }
    if let Some(pdb) = pdbs.first() {
        let pods: Vec<Arc<Stored>> =
            store.with_objects(&pods_def.storage, Some(ns), |it| it.cloned().collect());
        let status = pdb_status(&pdb.value, &pods);
        let pdb_name = pdb
            .value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let healthy = status["currentHealthy"].as_i64().unwrap_or(0);
        let desired = status["desiredHealthy"].as_i64().unwrap_or(0);
        let always = pdb
            .value
            .pointer("/spec/unhealthyPodEvictionPolicy")
            .and_then(Value::as_str)
            == Some("AlwaysAllow");
        let allowed = if is_healthy(&pod.value) {
            healthy > desired
        } else {
            always || healthy >= desired
        };
        if !allowed {
            let _ = store.patch(
                WriteTarget::object(&pdb_def, ns, &pdb_name).with_sub(Some("status")),
                PatchType::Merge,
                &json!({"status": status}),
                &WriteOptions {
                    field_manager: Some("kube-controller-manager".into()),
                    ..Default::default()
                },
            );
            return Err(ApiError::too_many_requests(
                "Cannot evict pod as it would violate the pod's disruption budget.",
                vec![
                    json!({"reason": "DisruptionBudget", "message": format!("The disruption budget {pdb_name} needs {desired} healthy pods and has {healthy} currently")}),
                ],
            ));
        }
        store.delete(&pods_def, ns, name, &opts)?;
        let pods: Vec<Arc<Stored>> =
            store.with_objects(&pods_def.storage, Some(ns), |it| it.cloned().collect());
        let status = pdb_status(&pdb.value, &pods);
        let _ = store.patch(
            WriteTarget::object(&pdb_def, ns, &pdb_name).with_sub(Some("status")),
            PatchType::Merge,
            &json!({"status": status}),
            &WriteOptions {
                field_manager: Some("kube-controller-manager".into()),
                ..Default::default()
            },
        );
        return Ok(());
    }
    store.delete(&pods_def, ns, name, &opts)?;
    Ok(())
}

/// Binds a pod to a node (`pods/binding`): 409 if it is already bound.
pub fn bind(store: &Store, ns: &str, name: &str, binding: &Value) -> ApiResult<Arc<Stored>> {
    let pods_def = store.def("", "v1", "pods").expect("pods");
    let node = binding
        .pointer("/target/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "",
                "Binding",
                name,
                vec![("target.name".into(), "Required value".into())],
            )
        })?;
    let pod = store.get(&pods_def, ns, name)?;
    if let Some(cur) = pod
        .value
        .pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    {
        return Err(ApiError::conflict(
            "",
            "pods/binding",
            name,
            &format!("pod {name} is already assigned to node \"{cur}\""),
        ));
    }
    if !pod
        .value
        .pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null)
    {
        return Err(ApiError::conflict(
            "",
            "pods/binding",
            name,
            "pod is being deleted, cannot be assigned to a host",
        ));
    }
    let scheduled = |pod: &Value| {
        let mut conds: Vec<Value> = pod
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        conds.retain(|c| c["type"] != "PodScheduled");
        conds.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": super::store::now()}));
        let mut st = pod.clone();
        st["status"]["conditions"] = json!(conds);
        st
    };
    let mut new = pod.value.clone();
    new["spec"]["nodeName"] = json!(node);
    let opts = WriteOptions {
        field_manager: Some("default-scheduler".into()),
        ..Default::default()
    };
    // The apiserver's binding storage writes nodeName and the PodScheduled condition in one
    // transaction; here they are two writes, so once nodeName is written the binding has
    // happened, whatever comes of the condition: the condition is written over the pod as it
    // is now (the kubelet may already be starting it), retried on conflict, and the binding
    // answered as done. Answering an error here made the scheduler forget a pod it had bound
    // and put an anti-affine one beside it.
    let pod = WriteTarget::object(&pods_def, ns, name);
    let mut bound = store.update(pod, new, &opts)?;
    for _ in 0..BIND_STATUS_ATTEMPTS {
        match store.update(pod.with_sub(Some("status")), scheduled(&bound.value), &opts) {
            Ok(done) => return Ok(done),
            Err(e) if e.code == 409 => match store.get(&pods_def, ns, name) {
                Ok(fresh) => bound = fresh,
                Err(_) => break,
            },
            Err(_) => break,
        }
    }
    Ok(bound)
}

/// Attempts at the PodScheduled condition of a bound pod (each after a conflict).
const BIND_STATUS_ATTEMPTS: usize = 5;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kube::store::{StoreConfig, WatchEvent};

    /// A binding races the kubelet, which writes the pod's status as soon as it sees it bound:
    /// once nodeName is written the binding is done and answered Ok (an error made the
    /// simulated scheduler forget the pod and bind an anti-affine one to the same node), and
    /// the PodScheduled condition lands over the kubelet's write without undoing it.
    #[test]
    fn a_binding_raced_by_the_kubelet_is_answered_as_done() {
        let store = Store::new(StoreConfig::default());
        let pods = store.def("", "v1", "pods").unwrap();
        let opts = WriteOptions::default();
        let mut rx = store.subscribe();
        // The "kubelet": on every pod it sees bound, write its status once.
        let kubelet_store = store.clone();
        let kubelet = std::thread::spawn(move || {
            let pods = kubelet_store.def("", "v1", "pods").unwrap();
            let mut started = std::collections::HashSet::new();
            loop {
                let ev: Arc<WatchEvent> = match rx.blocking_recv() {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return started.len(),
                };
                let v = &ev.obj.value;
                let name = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                if name == "stop" {
                    return started.len();
                }
                if v["spec"]["nodeName"].is_string() && started.insert(name.clone()) {
                    let mut st = v.clone();
                    st["status"]["phase"] = json!("Running");
                    let _ = kubelet_store.update(
                        WriteTarget::object(&pods, "default", &name).with_sub(Some("status")),
                        st,
                        &WriteOptions::default(),
                    );
                }
            }
        });
        for i in 0..200 {
            let name = format!("p{i}");
            store
                .create(
                    &pods,
                    "default",
                    json!({"apiVersion": "v1", "kind": "Pod",
                           "metadata": {"name": name, "namespace": "default"},
                           "spec": {"containers": [{"name": "c", "image": "pause"}]}}),
                    &opts,
                )
                .unwrap();
            let binding = json!({"target": {"kind": "Node", "name": "n1"}});
            let bound = bind(&store, "default", &name, &binding);
            assert!(bound.is_ok(), "binding {name}: {:?}", bound.err());
            let pod = store.get(&pods, "default", &name).unwrap();
            assert_eq!(pod.value["spec"]["nodeName"], "n1");
        }
        store
            .create(
                &pods,
                "default",
                json!({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": "stop", "namespace": "default"},
                       "spec": {"containers": [{"name": "c", "image": "pause"}]}}),
                &opts,
            )
            .unwrap();
        assert_eq!(kubelet.join().unwrap(), 200);
        // Every pod: scheduled, and what the kubelet wrote kept.
        for i in 0..200 {
            let pod = store.get(&pods, "default", &format!("p{i}")).unwrap();
            let conds = pod.value["status"]["conditions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            assert!(
                conds
                    .iter()
                    .any(|c| c["type"] == "PodScheduled" && c["status"] == "True"),
                "p{i}: {}",
                pod.value["status"]
            );
        }
    }
}
