//! Workload controllers of kube-controller-manager: Deployment -> ReplicaSets (rolling update
//! of the template, Recreate, revision history), ReplicaSet -> Pods, DaemonSet -> a pod on
//! every node it should run on (including new ones), with their status subresources. Owned
//! objects carry controller ownerReferences, so deleting an owner garbage-collects them.
//!
//! Deployments carry the revision of their newest ReplicaSet; a template that comes back
//! (`kubectl rollout undo`) reuses its ReplicaSet, renumbered; `paused` stops rollouts; a pod
//! counts as available once Ready for `minReadySeconds` (guide time).

use super::api::{
    controller_ref, controller_uid, name_of, ns_of, short_hash, uid_of, Api, ParsedPod, PodCache,
};
use super::model::{condition_true, tolerated, NodeInfo, PodInfo, Taint, Toleration};
use super::{Reconciler, Timing};
use crate::kube::selector::LabelSelector;
use crate::kube::subresources::int_or_percent;
use crate::kube::{Stored, WatchEvent};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const DEPLOYMENT_CONTROLLER: &str = "deployment-controller";
const REPLICASET_CONTROLLER: &str = "replicaset-controller";
const DAEMONSET_CONTROLLER: &str = "daemonset-controller";

pub(crate) struct Workloads {
    api: Api,
    timing: Timing,
    pod_cache: PodCache,
    /// When each pod was first seen Ready (`minReadySeconds` counts from there).
    ready_since: HashMap<String, Instant>,
}

fn replicas(v: &Value) -> i64 {
    v.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn is_active(p: &PodInfo) -> bool {
    !p.terminating && !p.is_terminal()
}

fn pod_ready(v: &Value) -> bool {
    v.pointer("/metadata/deletionTimestamp")
        .is_none_or(Value::is_null)
        && condition_true(v, "Ready")
}

/// The template a controller stamps pods from, with extra labels.
fn template_with_labels(template: &Value, extra: &[(&str, &str)]) -> Value {
    let mut t = template.clone();
    if !t.is_object() {
        t = json!({});
    }
    if !t["metadata"].is_object() {
        t["metadata"] = json!({});
    }
    if !t["metadata"]["labels"].is_object() {
        t["metadata"]["labels"] = json!({});
    }
    for (k, v) in extra {
        t["metadata"]["labels"][*k] = json!(v);
    }
    t
}

/// A pod template without its `null`s (`metadata.creationTimestamp: null` in what kubectl
/// sends back on `rollout undo`), so equal templates hash equal.
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), without_nulls(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

/// DaemonSet pods tolerate what the DaemonSet controller adds to every daemon pod.
fn daemon_tolerations(spec: &mut Value) {
    let defaults = [
        ("node.kubernetes.io/not-ready", "NoExecute"),
        ("node.kubernetes.io/unreachable", "NoExecute"),
        ("node.kubernetes.io/disk-pressure", "NoSchedule"),
        ("node.kubernetes.io/memory-pressure", "NoSchedule"),
        ("node.kubernetes.io/pid-pressure", "NoSchedule"),
        ("node.kubernetes.io/unschedulable", "NoSchedule"),
    ];
    if !spec["tolerations"].is_array() {
        spec["tolerations"] = json!([]);
    }
    let list = spec["tolerations"].as_array_mut().expect("array");
    for (key, effect) in defaults {
        if !list
            .iter()
            .any(|t| t["key"] == key && t["effect"] == effect)
        {
            list.push(json!({"key": key, "operator": "Exists", "effect": effect}));
        }
    }
}

/// Whether a daemon pod (its template, with the default tolerations) should run on a node:
/// node selector and affinity match and every NoSchedule/NoExecute taint is tolerated.
pub fn daemon_should_run(template_spec: &Value, node: &NodeInfo) -> bool {
    let mut spec = template_spec.clone();
    daemon_tolerations(&mut spec);
    let pod = PodInfo::from_value(&json!({"metadata": {}, "spec": spec}));
    let tolerations: Vec<Toleration> = pod.tolerations.clone();
    let blocked = node
        .taints
        .iter()
        .filter(|t: &&Taint| t.blocks_scheduling())
        .any(|t| !tolerated(&tolerations, t));
    !node.terminating && !blocked && pod.matches_node_affinity(node)
}

impl Workloads {
    pub fn new(api: Api, timing: Timing) -> Self {
        Workloads {
            api,
            timing,
            pod_cache: PodCache::default(),
            ready_since: HashMap::new(),
        }
    }

    fn owned<'a>(objs: &'a [Arc<Stored>], owner: &Value) -> Vec<&'a Arc<Stored>> {
        let uid = uid_of(owner);
        objs.iter()
            .filter(|o| ns_of(&o.value) == ns_of(owner) && controller_uid(&o.value) == Some(uid))
            .collect()
    }

    fn deployments(&self) {
        let rss = self.api.all(&self.api.replicasets);
        for d in self.api.all(&self.api.deployments) {
            let d = &d.value;
            if !d["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            self.deployment(d, &rss);
        }
    }

    fn deployment(&self, d: &Value, all_rs: &[Arc<Stored>]) {
        let ns = ns_of(d);
        let name = name_of(d);
        let want = replicas(d);
        let template = &d["spec"]["template"];
        let hash = short_hash(&without_nulls(template));
        let paused = d.pointer("/spec/paused") == Some(&json!(true));
        let owned = Self::owned(all_rs, d);
        let revision = |rs: &Value| -> i64 {
            rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|r| r.parse().ok())
                .unwrap_or(0)
        };
        let max_rev = owned.iter().map(|r| revision(&r.value)).max().unwrap_or(0);
        let new_rs = owned
            .iter()
            .find(|r| {
                r.value
                    .pointer("/metadata/labels/pod-template-hash")
                    .and_then(Value::as_str)
                    == Some(hash.as_str())
            })
            .map(|r| r.value.clone());
        let old: Vec<Value> = owned
            .iter()
            .filter(|r| Some(uid_of(&r.value)) != new_rs.as_ref().map(uid_of))
            .map(|r| r.value.clone())
            .collect();
        let old_replicas: i64 = old.iter().map(replicas).sum();
        let recreate = d.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
        let surge = int_or_percent(
            d.pointer("/spec/strategy/rollingUpdate/maxSurge")
                .unwrap_or(&json!("25%")),
            want,
            true,
        );
        let mut unavailable = int_or_percent(
            d.pointer("/spec/strategy/rollingUpdate/maxUnavailable")
                .unwrap_or(&json!("25%")),
            want,
            false,
        );
        if surge == 0 && unavailable == 0 {
            unavailable = 1;
        }
        let new_rs = match new_rs {
            Some(rs) => {
                // A template that came back (rollout undo) makes its ReplicaSet the newest
                // revision again; the numbers it had are kept in revision-history.
                let others = old.iter().map(revision).max().unwrap_or(0);
                let rev = revision(&rs);
                if rev > others || paused {
                    rs
                } else {
                    let prev = rs
                        .pointer("/metadata/annotations/deployment.kubernetes.io~1revision-history")
                        .and_then(Value::as_str)
                        .filter(|h| !h.is_empty());
                    let history = match prev {
                        Some(h) => format!("{h},{rev}"),
                        None => rev.to_string(),
                    };
                    match self.api.merge(
                        &self.api.replicasets,
                        ns,
                        name_of(&rs),
                        &json!({"metadata": {"annotations": {
                            "deployment.kubernetes.io/revision": (others + 1).to_string(),
                            "deployment.kubernetes.io/revision-history": history}}}),
                        None,
                        DEPLOYMENT_CONTROLLER,
                    ) {
                        Ok(s) => s.value.clone(),
                        Err(_) => return,
                    }
                }
            }
            None if paused => {
                // A paused Deployment makes no new ReplicaSet.
                self.deployment_status(d, None, &old);
                return;
            }
            None => {
                let initial = if recreate {
                    if old_replicas == 0 {
                        want
                    } else {
                        0
                    }
                } else {
                    (want + surge - old_replicas).clamp(0, want)
                };
                let rs_name = format!("{name}-{hash}");
                let tpl = template_with_labels(template, &[("pod-template-hash", &hash)]);
                let mut selector = d["spec"]["selector"].clone();
                if !selector["matchLabels"].is_object() {
                    selector["matchLabels"] = json!({});
                }
                selector["matchLabels"]["pod-template-hash"] = json!(hash);
                let body = json!({
                    "apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {
                        "name": rs_name, "namespace": ns,
                        "labels": tpl["metadata"]["labels"],
                        "annotations": {
                            "deployment.kubernetes.io/revision": (max_rev + 1).to_string(),
                            "deployment.kubernetes.io/desired-replicas": want.to_string(),
                            "deployment.kubernetes.io/max-replicas": (want + surge).to_string(),
                        },
                        "ownerReferences": [controller_ref(d)],
                    },
                    "spec": {"replicas": initial, "selector": selector, "template": tpl,
                             "minReadySeconds": d["spec"]["minReadySeconds"].as_i64().unwrap_or(0)},
                });
                match self
                    .api
                    .create(&self.api.replicasets, ns, body, DEPLOYMENT_CONTROLLER)
                {
                    Ok(rs) => {
                        if initial > 0 {
                            self.api.event(
                                d,
                                "Normal",
                                "ScalingReplicaSet",
                                &format!("Scaled up replica set {rs_name} from 0 to {initial}"),
                                DEPLOYMENT_CONTROLLER,
                                None,
                            );
                        }
                        rs.value.clone()
                    }
                    Err(_) => return,
                }
            }
        };
        let scale = |rs: &Value, to: i64| {
            let from = replicas(rs);
            if from == to {
                return;
            }
            let _ = self.api.merge(
                &self.api.replicasets,
                ns,
                name_of(rs),
                &json!({"metadata": {"annotations": {"deployment.kubernetes.io/desired-replicas": want.to_string(),
                                                     "deployment.kubernetes.io/max-replicas": (want + surge).to_string()}},
                        "spec": {"replicas": to}}),
                None,
                DEPLOYMENT_CONTROLLER,
            );
            let verb = if to > from { "up" } else { "down" };
            self.api.event(
                d,
                "Normal",
                "ScalingReplicaSet",
                &format!(
                    "Scaled {verb} replica set {} from {from} to {to}",
                    name_of(rs)
                ),
                DEPLOYMENT_CONTROLLER,
                None,
            );
        };
        let avail = |rs: &Value| {
            rs.pointer("/status/availableReplicas")
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        // The Deployment carries the revision of its newest ReplicaSet (`rollout undo`
        // replaces these annotations, `rollout history` reads the ReplicaSets').
        let rev = revision(&new_rs).to_string();
        if d.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
            .and_then(Value::as_str)
            != Some(rev.as_str())
        {
            let _ = self.api.merge(
                &self.api.deployments,
                ns,
                name,
                &json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": rev}}}),
                None,
                DEPLOYMENT_CONTROLLER,
            );
        }
        let new_cur = replicas(&new_rs);
        if paused {
            // Paused: scaling only, when no rollout is under way.
            if old.iter().all(|r| replicas(r) == 0) {
                scale(&new_rs, want);
            }
        } else if recreate {
            for rs in &old {
                scale(rs, 0);
            }
            let old_pods: i64 = old
                .iter()
                .map(|r| {
                    r.pointer("/status/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                })
                .sum();
            if old_pods == 0 {
                scale(&new_rs, want);
            }
        } else {
            // Scale the new ReplicaSet up within maxSurge, the old ones down within maxUnavailable.
            let target_new = if old_replicas == 0 {
                want
            } else {
                (want + surge - old_replicas).clamp(new_cur.min(want), want)
            };
            scale(&new_rs, target_new);
            let total_avail: i64 = avail(&new_rs) + old.iter().map(avail).sum::<i64>();
            let min_avail = want - unavailable;
            let unhealthy_old: i64 = old.iter().map(|r| replicas(r) - avail(r)).sum();
            let mut can_remove = (total_avail - min_avail).max(0) + unhealthy_old.max(0);
            let mut sorted = old.clone();
            sorted.sort_by_key(|r| revision(r));
            for rs in &sorted {
                let cur = replicas(rs);
                let cut = cur.min(can_remove);
                if cut > 0 {
                    scale(rs, cur - cut);
                    can_remove -= cut;
                }
            }
        }
        // Revision history: drop empty old ReplicaSets beyond the limit.
        let limit = d["spec"]["revisionHistoryLimit"].as_i64().unwrap_or(10);
        let mut empty: Vec<&Value> = old
            .iter()
            .filter(|r| {
                replicas(r) == 0
                    && r.pointer("/status/replicas")
                        .and_then(Value::as_i64)
                        .unwrap_or(0)
                        == 0
            })
            .collect();
        empty.sort_by_key(|r| revision(r));
        let excess = empty.len() as i64 - limit;
        for rs in empty.iter().take(excess.max(0) as usize) {
            let _ = self
                .api
                .delete(&self.api.replicasets, ns, name_of(rs), None);
        }
        self.deployment_status(d, Some(&new_rs), &old);
    }

    fn deployment_status(&self, d: &Value, new_rs: Option<&Value>, old: &[Value]) {
        let none = json!({});
        let paused = d.pointer("/spec/paused") == Some(&json!(true));
        let new_rs = new_rs.unwrap_or(&none);
        let st = |rs: &Value, k: &str| {
            rs.pointer(&format!("/status/{k}"))
                .and_then(Value::as_i64)
                .unwrap_or(0)
        };
        let all: Vec<&Value> = std::iter::once(new_rs).chain(old.iter()).collect();
        let sum = |k: &str| all.iter().map(|r| st(r, k)).sum::<i64>();
        let want = replicas(d);
        let total = sum("replicas");
        let available = sum("availableReplicas");
        let updated = st(new_rs, "replicas");
        let unavailable = (total - available).max(0);
        let is_available = available
            >= want
                - int_or_percent(
                    d.pointer("/spec/strategy/rollingUpdate/maxUnavailable")
                        .unwrap_or(&json!("25%")),
                    want,
                    false,
                );
        let complete = updated == want && total == want && available == want;
        let now = crate::kube::store::now();
        let keep = |t: &str, status: &str, reason: &str, message: String| {
            let prev = d
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|c| c.iter().find(|x| x["type"] == t));
            let transition = prev
                .filter(|p| p["status"] == status)
                .map_or(json!(now), |p| p["lastTransitionTime"].clone());
            let update = prev
                .filter(|p| p["status"] == status && p["reason"] == reason)
                .map_or(json!(now), |p| p["lastUpdateTime"].clone());
            json!({"type": t, "status": status, "reason": reason, "message": message,
                   "lastUpdateTime": update, "lastTransitionTime": transition})
        };
        let conditions = json!([
            if is_available {
                keep(
                    "Available",
                    "True",
                    "MinimumReplicasAvailable",
                    "Deployment has minimum availability.".into(),
                )
            } else {
                keep(
                    "Available",
                    "False",
                    "MinimumReplicasUnavailable",
                    "Deployment does not have minimum availability.".into(),
                )
            },
            if paused {
                keep(
                    "Progressing",
                    "Unknown",
                    "DeploymentPaused",
                    "Deployment is paused".into(),
                )
            } else if complete {
                keep(
                    "Progressing",
                    "True",
                    "NewReplicaSetAvailable",
                    format!(
                        "ReplicaSet \"{}\" has successfully progressed.",
                        name_of(new_rs)
                    ),
                )
            } else {
                keep(
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    format!("ReplicaSet \"{}\" is progressing.", name_of(new_rs)),
                )
            },
        ]);
        let mut status = json!({
            "observedGeneration": d["metadata"]["generation"],
            "replicas": total, "updatedReplicas": updated,
            "readyReplicas": sum("readyReplicas"), "availableReplicas": available,
            "conditions": conditions,
        });
        if unavailable > 0 {
            status["unavailableReplicas"] = json!(unavailable);
        }
        self.write_status(&self.api.deployments, d, status, DEPLOYMENT_CONTROLLER);
    }

    /// Writes a status only when it differs (no resourceVersion churn).
    fn write_status(
        &self,
        def: &crate::kube::resources::ResourceDef,
        obj: &Value,
        mut status: Value,
        manager: &str,
    ) {
        if let (Some(cur), Some(new)) = (obj["status"].as_object(), status.as_object_mut()) {
            // Absent counters are zero.
            for k in ["unavailableReplicas", "readyReplicas", "availableReplicas"] {
                if !new.contains_key(k) && cur.contains_key(k) {
                    new.insert(k.into(), Value::Null);
                }
            }
        }
        let mut merged = obj["status"].clone();
        json_patch::merge(&mut merged, &status);
        if merged == obj["status"] {
            return;
        }
        let _ = self.api.merge(
            def,
            ns_of(obj),
            name_of(obj),
            &json!({"status": status}),
            Some("status"),
            manager,
        );
    }

    /// Creates or deletes pods so each ReplicaSet has its replicas.
    fn scale_replicasets(&self, pods: &[ParsedPod]) {
        let owned = PodsByOwner::new(pods);
        for rs in self.api.all(&self.api.replicasets) {
            let rs = &rs.value;
            if !rs["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let ns = ns_of(rs);
            let mut active: Vec<&ParsedPod> = owned
                .of(rs)
                .into_iter()
                .filter(|(_, i)| is_active(i))
                .collect();
            let want = replicas(rs);
            let have = active.len() as i64;
            if have < want {
                for _ in have..want {
                    self.create_pod(rs, REPLICASET_CONTROLLER, &rs["spec"]["template"], None);
                }
            } else if have > want {
                // The least useful go first: unscheduled, pending, not ready, then the newest.
                active.sort_by_key(|(p, i)| {
                    (
                        i.node_name.is_some(),
                        i.phase == "Running",
                        pod_ready(&p.value),
                        std::cmp::Reverse(i.created.clone()),
                    )
                });
                for (_, i) in active.iter().take((have - want) as usize) {
                    if self.api.delete(&self.api.pods, ns, &i.name, None).is_ok() {
                        self.api.event(
                            rs,
                            "Normal",
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", i.name),
                            REPLICASET_CONTROLLER,
                            None,
                        );
                    }
                }
            }
        }
    }

    /// ReplicaSet status; a Ready pod is available once Ready for `minReadySeconds` (guide
    /// time). Returns when the next pod becomes available.
    fn replicaset_status(&mut self, pods: &[ParsedPod]) -> Option<Instant> {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut live = std::collections::HashSet::new();
        for (p, i) in pods {
            if pod_ready(&p.value) {
                live.insert(i.uid.as_str());
                self.ready_since.entry(i.uid.clone()).or_insert(now);
            }
        }
        self.ready_since.retain(|u, _| live.contains(u.as_str()));
        let owned = PodsByOwner::new(pods);
        for rs in self.api.all(&self.api.replicasets) {
            let rs = &rs.value;
            let active: Vec<&ParsedPod> = owned
                .of(rs)
                .into_iter()
                .filter(|(_, i)| is_active(i))
                .collect();
            let ready = active.iter().filter(|(p, _)| pod_ready(&p.value)).count() as i64;
            let min_ready = self.timing.real(Duration::from_secs(
                rs.pointer("/spec/minReadySeconds")
                    .and_then(Value::as_i64)
                    .unwrap_or(0)
                    .max(0) as u64,
            ));
            let mut available = 0i64;
            for (_, i) in active.iter().filter(|(p, _)| pod_ready(&p.value)) {
                let at = self.ready_since.get(&i.uid).map_or(now, |t| *t + min_ready);
                if at <= now {
                    available += 1;
                } else {
                    next = Some(next.map_or(at, |n: Instant| n.min(at)));
                }
            }
            let sel = LabelSelector::from_object(
                &rs["spec"]["template"]["metadata"]["labels"]
                    .as_object()
                    .map_or(json!({}), |l| json!({"matchLabels": l})),
            );
            let labeled = active.iter().filter(|(p, _)| sel.matches(&p.value)).count() as i64;
            let mut status = json!({
                "replicas": active.len(), "fullyLabeledReplicas": labeled,
                "observedGeneration": rs["metadata"]["generation"],
            });
            if ready > 0 {
                status["readyReplicas"] = json!(ready);
            }
            if available > 0 {
                status["availableReplicas"] = json!(available);
            }
            self.write_status(&self.api.replicasets, rs, status, REPLICASET_CONTROLLER);
        }
        next
    }

    /// Creates a pod from a template, owned by `owner` (`node`: pinned there by node affinity,
    /// as the DaemonSet controller does).
    fn create_pod(
        &self,
        owner: &Value,
        manager: &str,
        template: &Value,
        daemon: Option<(&str, &str)>,
    ) {
        let ns = ns_of(owner);
        let mut spec = template["spec"].clone();
        let mut labels = template["metadata"]["labels"].clone();
        if let Some((node, revision)) = daemon {
            daemon_tolerations(&mut spec);
            spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] = json!({
                "nodeSelectorTerms": [{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]
            });
            if !labels.is_object() {
                labels = json!({});
            }
            labels["controller-revision-hash"] = json!(revision);
            labels["pod-template-generation"] = json!(owner["metadata"]["generation"]
                .as_i64()
                .unwrap_or(1)
                .to_string());
        }
        let mut meta = json!({
            "generateName": format!("{}-", name_of(owner)),
            "namespace": ns,
            "ownerReferences": [controller_ref(owner)],
        });
        if labels.is_object() {
            meta["labels"] = labels;
        }
        if let Some(a) = template["metadata"]["annotations"].as_object() {
            meta["annotations"] = json!(a);
        }
        let body = json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec});
        match self.api.create(&self.api.pods, ns, body, manager) {
            Ok(p) => self.api.event(
                owner,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {}", name_of(&p.value)),
                manager,
                None,
            ),
            Err(e) => self.api.event(
                owner,
                "Warning",
                "FailedCreate",
                &format!("Error creating: {}", e.message),
                manager,
                None,
            ),
        }
    }

    fn daemonsets(&self, pods: &[ParsedPod], nodes: &[NodeInfo]) {
        let owned = PodsByOwner::new(pods);
        for ds in self.api.all(&self.api.daemonsets) {
            let ds = &ds.value;
            if !ds["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let template = &ds["spec"]["template"];
            let revision = short_hash(template);
            let mine: Vec<&ParsedPod> = owned.of(ds);
            let mut by_node: HashMap<&str, Vec<&ParsedPod>> = HashMap::new();
            for p in &mine {
                if let Some(n) = daemon_node(&p.0.value) {
                    by_node.entry(n).or_default().push(p);
                }
            }
            let (mut desired, mut scheduled, mut ready, mut updated, mut misscheduled) =
                (0, 0, 0, 0, 0);
            let max_unavailable = int_or_percent(
                ds.pointer("/spec/updateStrategy/rollingUpdate/maxUnavailable")
                    .unwrap_or(&json!(1)),
                nodes.len() as i64,
                true,
            )
            .max(1);
            let mut unavailable_now = 0i64;
            let mut outdated = Vec::new();
            for node in nodes {
                let should = daemon_should_run(&template["spec"], node);
                let here: Vec<&&ParsedPod> = by_node
                    .get(node.name.as_str())
                    .map(|v| v.iter().filter(|(_, i)| is_active(i)).collect())
                    .unwrap_or_default();
                if should {
                    desired += 1;
                    if here.is_empty() {
                        self.create_pod(
                            ds,
                            DAEMONSET_CONTROLLER,
                            template,
                            Some((&node.name, &revision)),
                        );
                        unavailable_now += 1;
                        continue;
                    }
                    scheduled += 1;
                    let p = &here[0];
                    let is_ready = pod_ready(&p.0.value);
                    if is_ready {
                        ready += 1;
                    } else {
                        unavailable_now += 1;
                    }
                    let current =
                        p.0.value
                            .pointer("/metadata/labels/controller-revision-hash")
                            .and_then(Value::as_str)
                            == Some(revision.as_str());
                    if current {
                        updated += 1;
                    } else {
                        outdated.push((is_ready, p.1.name.clone()));
                    }
                    for extra in here.iter().skip(1) {
                        let _ = self
                            .api
                            .delete(&self.api.pods, ns_of(ds), &extra.1.name, None);
                    }
                } else if !here.is_empty() {
                    misscheduled += 1;
                    for p in here {
                        let _ = self.api.delete(&self.api.pods, ns_of(ds), &p.1.name, None);
                        self.api.event(
                            ds,
                            "Normal",
                            "SuccessfulDelete",
                            &format!("Deleted pod: {}", p.1.name),
                            DAEMONSET_CONTROLLER,
                            None,
                        );
                    }
                }
            }
            // Daemon pods pinned to nodes that are gone.
            for (p, i) in &mine {
                let pinned = daemon_node(&p.value);
                if pinned.is_some_and(|n| !nodes.iter().any(|x| x.name == n)) && is_active(i) {
                    let _ = self.api.delete(&self.api.pods, ns_of(ds), &i.name, Some(0));
                }
            }
            // Rolling update: replace outdated pods while few enough are unavailable.
            let rolling = ds
                .pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                != Some("OnDelete");
            if rolling {
                outdated.sort();
                for (was_ready, name) in outdated {
                    if was_ready && unavailable_now >= max_unavailable {
                        break;
                    }
                    let _ = self.api.delete(&self.api.pods, ns_of(ds), &name, None);
                    if was_ready {
                        unavailable_now += 1;
                    }
                }
            }
            let status = json!({
                "desiredNumberScheduled": desired, "currentNumberScheduled": scheduled,
                "numberReady": ready, "numberAvailable": ready,
                "numberUnavailable": (desired - ready).max(0),
                "updatedNumberScheduled": updated, "numberMisscheduled": misscheduled,
                "observedGeneration": ds["metadata"]["generation"],
            });
            self.write_status(&self.api.daemonsets, ds, status, DAEMONSET_CONTROLLER);
        }
    }
}

/// The node a daemon pod is pinned to (its matchFields term), or is bound to.
fn daemon_node(pod: &Value) -> Option<&str> {
    pod.pointer("/spec/nodeName")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .or_else(|| {
            pod.pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms/0/matchFields/0/values/0")
                .and_then(Value::as_str)
        })
}

/// Pods by the uid of their controller, built once per step: looking each owner's pods up in
/// every pod was quadratic (10,000 pods x hundreds of ReplicaSets).
struct PodsByOwner<'a>(HashMap<&'a str, Vec<&'a ParsedPod>>);

impl<'a> PodsByOwner<'a> {
    fn new(pods: &'a [ParsedPod]) -> Self {
        let mut index: HashMap<&str, Vec<&ParsedPod>> = HashMap::new();
        for p in pods {
            if let Some(uid) = controller_uid(&p.0.value) {
                index.entry(uid).or_default().push(p);
            }
        }
        PodsByOwner(index)
    }

    /// The pods `owner` controls (same namespace, controller reference to its uid).
    fn of(&self, owner: &Value) -> Vec<&'a ParsedPod> {
        let ns = ns_of(owner);
        self.0
            .get(uid_of(owner))
            .map(|ps| {
                ps.iter()
                    .copied()
                    .filter(|(p, _)| ns_of(&p.value) == ns)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Reconciler for Workloads {
    fn interested(&self, ev: &WatchEvent) -> bool {
        [
            &self.api.pods.storage,
            &self.api.nodes.storage,
            &self.api.deployments.storage,
            &self.api.replicasets.storage,
            &self.api.daemonsets.storage,
        ]
        .contains(&&ev.storage)
    }

    fn reconcile(&mut self) -> Option<Duration> {
        // Each step writes pods the next one must see, so each reads them again (cheaply:
        // unchanged pods come parsed from the cache).
        let mut cache = std::mem::take(&mut self.pod_cache);
        self.deployments();
        self.scale_replicasets(&self.api.pod_infos(&mut cache));
        let nodes = self.api.node_infos();
        self.daemonsets(&self.api.pod_infos(&mut cache), &nodes);
        let pods = self.api.pod_infos(&mut cache);
        let next = self.replicaset_status(&pods);
        self.pod_cache = cache;
        next.map(|t| t.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(taints: Value, labels: Value) -> NodeInfo {
        NodeInfo::from_value(
            &json!({"metadata": {"name": "n", "labels": labels}, "spec": {"taints": taints}}),
        )
    }

    #[test]
    fn daemons_follow_selectors_and_taints() {
        let plain = json!({"containers": [{"name": "c"}]});
        assert!(daemon_should_run(&plain, &node(json!([]), json!({}))));
        // Default tolerations cover cordons and not-ready NoExecute, not other taints.
        assert!(daemon_should_run(
            &plain,
            &node(
                json!([{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]),
                json!({})
            )
        ));
        assert!(!daemon_should_run(
            &plain,
            &node(
                json!([{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}]),
                json!({})
            )
        ));
        let all = json!({"containers": [{"name": "c"}], "tolerations": [{"operator": "Exists"}]});
        assert!(daemon_should_run(
            &all,
            &node(json!([{"key": "x", "effect": "NoExecute"}]), json!({}))
        ));
        let sel = json!({"containers": [{"name": "c"}], "nodeSelector": {"gpu": "true"}});
        assert!(!daemon_should_run(&sel, &node(json!([]), json!({}))));
        assert!(daemon_should_run(
            &sel,
            &node(json!([]), json!({"gpu": "true"}))
        ));
    }

    #[test]
    fn int_or_percent_rounding() {
        assert_eq!(int_or_percent(&json!("25%"), 3, true), 1);
        assert_eq!(int_or_percent(&json!("25%"), 3, false), 0);
        assert_eq!(int_or_percent(&json!(2), 3, false), 2);
    }
}
