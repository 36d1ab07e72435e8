//! The kubelets of every node, plus the parts of kube-controller-manager that act on nodes'
//! pods: node Ready after a delay and Lease heartbeats; bound pods go through
//! ContainerCreating to Running and Ready; graceful deletion waits the pod's grace period
//! before the kubelet removes it; NoExecute taints evict pods that do not tolerate them (after
//! `tolerationSeconds`); pods of a deleted Node are removed (pod GC).
//!
//! Containers end: a pod annotated [`RUN_SECONDS`] (guide seconds), or whose first container
//! runs `sleep N`, exits after that long with the code of [`EXIT_CODE`] (default 0). Under
//! `restartPolicy: Never` (or `OnFailure` with code 0) the pod becomes Succeeded or Failed;
//! otherwise the container restarts in place (`restartCount`, `lastState.terminated`).
//!
//! An image whose registry host ends in `.invalid` (a name RFC 2606 reserves so it never
//! resolves) cannot be pulled: the pod stays Pending with `ImagePullBackOff`, as a stuck
//! rollout does on a real cluster.
//!
//! A Node annotated [`KUBELET_STOPPED`]`: "true"` (from a test or `kubectl annotate`) has a dead
//! kubelet: no Lease renewal, no status, its pods left as they are. After
//! kube-controller-manager's `node-monitor-grace-period` its conditions go Unknown
//! (`NodeStatusUnknown`) and it is tainted `node.kubernetes.io/unreachable` (NoSchedule and
//! NoExecute): pods are evicted once their toleration of it runs out (300 s by the
//! DefaultTolerationSeconds admission) and stay Terminating, since no kubelet confirms it.
//! Removing the annotation brings the kubelet back: Ready again, the taints lifted.

use super::api::{name_of, ns_of, uid_of, Api, PodCache};
use super::model::{condition_true, NodeInfo, PodInfo};
use super::{Reconciler, Timing};
use crate::kube::WatchEvent;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// Pod annotation: how long (guide seconds, a decimal number) its containers run before they
/// exit. Without it, a `sleep N` command runs N seconds; otherwise containers never exit.
pub const RUN_SECONDS: &str = "sim.karpenter-ovhcloud.sh/run-seconds";
/// Pod annotation: the exit code its containers end with (default 0).
pub const EXIT_CODE: &str = "sim.karpenter-ovhcloud.sh/exit-code";

/// How long a pod's containers run (guide time), if they ever end: [`RUN_SECONDS`], else the
/// `N` of a `sleep N` in the first container's command and args (also `sh -c "sleep N"`).
pub fn run_duration(pod: &Value) -> Option<Duration> {
    let secs = |x: &str| {
        x.trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
    };
    if let Some(a) = pod
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(RUN_SECONDS))
        .and_then(Value::as_str)
    {
        return secs(a);
    }
    let c = pod.pointer("/spec/containers/0")?;
    let words: Vec<&str> = ["command", "args"]
        .iter()
        .flat_map(|k| c[*k].as_array().into_iter().flatten())
        .filter_map(Value::as_str)
        .flat_map(str::split_whitespace)
        .collect();
    let at = words
        .iter()
        .position(|w| *w == "sleep" || w.ends_with("/sleep"))?;
    words
        .get(at + 1)
        .and_then(|n| secs(n.trim_end_matches('s')))
}

/// The exit code a pod's containers end with ([`EXIT_CODE`], default 0).
pub fn exit_code(pod: &Value) -> i64 {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(EXIT_CODE))
        .and_then(Value::as_str)
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(0)
}

/// Whether the kubelet fails to pull `image`: its registry host (the first path segment, when
/// it has a dot or a port) ends in `.invalid`, which no resolver answers (RFC 2606).
pub fn unpullable(image: &str) -> bool {
    image
        .split_once('/')
        .map(|(host, _)| host.split(':').next().unwrap_or(host))
        .is_some_and(|host| host.ends_with(".invalid"))
}

/// What [`Kubelet::start_containers`] reports of a pod's containers.
#[derive(Clone, Copy, PartialEq)]
enum Start {
    /// Being created (`ContainerCreating`).
    Creating,
    /// Running and Ready.
    Running,
    /// Not started: an image could not be pulled (`ImagePullBackOff`).
    PullFailed,
}

/// The taint a Node carries until it is Ready.
pub const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";
/// The taint of a Node whose kubelet stopped posting its status.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";
/// Node annotation: `"true"` stops the node's kubelet (see the module documentation).
pub const KUBELET_STOPPED: &str = "sim.karpenter-ovhcloud.sh/kubelet-stopped";
/// kube-controller-manager's `--node-monitor-grace-period` (guide time): how long a node may go
/// without a heartbeat before its conditions turn Unknown.
pub const NODE_MONITOR_GRACE: Duration = Duration::from_secs(40);

/// Whether a Node's kubelet is stopped ([`KUBELET_STOPPED`]).
pub fn kubelet_stopped(node: &Value) -> bool {
    node.pointer("/metadata/annotations")
        .and_then(|a| a.get(KUBELET_STOPPED))
        .and_then(Value::as_str)
        == Some("true")
}
const COMPONENT: &str = "kubelet";
/// Guide interval between Lease renewals.
const LEASE_RENEW: Duration = Duration::from_secs(10);

pub(crate) struct Kubelet {
    api: Api,
    timing: Timing,
    node_seen: HashMap<String, Instant>,
    lease_renewed: HashMap<String, Instant>,
    pod_started: HashMap<String, Instant>,
    /// When each pod's containers (last) started running, for those that end.
    running_since: HashMap<String, Instant>,
    /// Pods reported `ImagePullBackOff`.
    pull_failed: HashSet<String>,
    terminating_since: HashMap<String, Instant>,
    noexecute_since: HashMap<(String, String), Instant>,
    /// UID of the Node each pod was first seen on: a Node deleted and registered again (same
    /// name, new UID) does not get the old one's pods back.
    pod_node: HashMap<String, String>,
    next_ip: u32,
    pod_cache: PodCache,
}

/// A MicroTime (RFC 3339 with microseconds), as Leases carry.
fn micro_now() -> String {
    let t = jiff::Timestamp::now();
    format!("{}", t.strftime("%Y-%m-%dT%H:%M:%S.%6fZ"))
}

fn cond(type_: &str, ok: bool, reason: Option<&str>, now: &str) -> Value {
    let mut c = json!({"type": type_, "status": if ok { "True" } else { "False" },
                       "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    c
}

fn node_ip(node: &Value) -> String {
    node.pointer("/status/addresses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|x| x["type"] == "InternalIP"))
        .and_then(|x| x["address"].as_str())
        .unwrap_or("10.0.0.1")
        .to_string()
}

impl Kubelet {
    pub fn new(api: Api, timing: Timing) -> Self {
        Kubelet {
            api,
            timing,
            node_seen: HashMap::new(),
            lease_renewed: HashMap::new(),
            pod_started: HashMap::new(),
            running_since: HashMap::new(),
            pull_failed: HashSet::new(),
            terminating_since: HashMap::new(),
            noexecute_since: HashMap::new(),
            pod_node: HashMap::new(),
            next_ip: 0,
            pod_cache: PodCache::default(),
        }
    }

    fn pod_ip(&mut self) -> String {
        self.next_ip += 1;
        format!(
            "10.2.{}.{}",
            (self.next_ip / 250) % 250,
            self.next_ip % 250 + 2
        )
    }

    /// Node Ready after the registration delay; Lease heartbeats. Returns the next deadline.
    fn nodes(&mut self, now: Instant, nodes: &[(Value, NodeInfo)]) -> Option<Instant> {
        let mut next: Option<Instant> = None;
        let mut wake = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        let names: HashSet<&str> = nodes.iter().map(|(_, n)| n.name.as_str()).collect();
        self.node_seen.retain(|n, _| names.contains(n.as_str()));
        self.lease_renewed.retain(|n, _| names.contains(n.as_str()));
        for (raw, node) in nodes {
            if node.terminating {
                continue;
            }
            let first = *self.node_seen.entry(node.name.clone()).or_insert_with(|| {
                self.api.event(
                    raw,
                    "Normal",
                    "Starting",
                    "Starting kubelet.",
                    COMPONENT,
                    Some(&node.name),
                );
                now
            });
            if kubelet_stopped(raw) {
                // No heartbeat: the node lifecycle controller gives up on it after the grace.
                let last = self.lease_renewed.get(&node.name).copied().unwrap_or(first);
                let at = last + self.timing.real(NODE_MONITOR_GRACE);
                if now >= at {
                    self.mark_unreachable(raw, node);
                } else {
                    wake(at);
                }
                continue;
            }
            if !node.ready {
                let at = first + self.timing.real(self.timing.node_ready);
                if now >= at {
                    // The status write wakes this loop again: the taint pass follows.
                    self.mark_ready(raw, node);
                } else {
                    wake(at);
                }
            }
            self.lift_not_ready(raw, node);
            let renew = self.timing.real(LEASE_RENEW);
            let due = self
                .lease_renewed
                .get(&node.name)
                .is_none_or(|t| now.duration_since(*t) >= renew);
            if due {
                self.renew_lease(&node.name);
                self.lease_renewed.insert(node.name.clone(), now);
            }
            wake(self.lease_renewed[&node.name] + renew);
        }
        next
    }

    fn mark_ready(&self, raw: &Value, node: &NodeInfo) {
        let now = crate::kube::store::now();
        let c = |t: &str, s: &str, reason: &str, msg: &str| {
            json!({"type": t, "status": s, "reason": reason, "message": msg,
                   "lastHeartbeatTime": now, "lastTransitionTime": now})
        };
        let conditions = json!([
            c(
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available"
            ),
            c(
                "DiskPressure",
                "False",
                "KubeletHasNoDiskPressure",
                "kubelet has no disk pressure"
            ),
            c(
                "PIDPressure",
                "False",
                "KubeletHasSufficientPID",
                "kubelet has sufficient PID available"
            ),
            c(
                "Ready",
                "True",
                "KubeletReady",
                "kubelet is posting ready status"
            ),
        ]);
        self.set_conditions(raw, node, conditions, "NodeReady", COMPONENT);
    }

    /// Writes a Node's conditions and says its new status in an Event (`NodeReady`,
    /// `NodeNotReady`), as `component`.
    fn set_conditions(
        &self,
        raw: &Value,
        node: &NodeInfo,
        conditions: Value,
        status: &str,
        component: &str,
    ) {
        let _ = self.api.merge(
            &self.api.nodes,
            "",
            &node.name,
            &json!({"status": {"conditions": conditions}}),
            Some("status"),
            component,
        );
        self.api.event(
            raw,
            "Normal",
            status,
            &format!("Node {} status is now: {status}", node.name),
            component,
            Some(&node.name),
        );
    }

    /// The node lifecycle controller on a node without heartbeats: every condition Unknown,
    /// the unreachable taints (NoSchedule and NoExecute) in place of not-ready; once.
    fn mark_unreachable(&self, raw: &Value, node: &NodeInfo) {
        let unknown = raw
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "Unknown")
            });
        let tainted = node.taints.iter().any(|t| t.key == UNREACHABLE_TAINT);
        if unknown && tainted {
            return;
        }
        let now = crate::kube::store::now();
        let conditions: Vec<Value> = ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
            .iter()
            .map(|t| {
                json!({"type": t, "status": "Unknown", "reason": "NodeStatusUnknown",
                    "message": "Kubelet stopped posting node status.",
                    "lastHeartbeatTime": raw.pointer("/status/conditions/0/lastHeartbeatTime"),
                    "lastTransitionTime": now})
            })
            .collect();
        if !unknown {
            self.set_conditions(
                raw,
                node,
                json!(conditions),
                "NodeNotReady",
                "node-controller",
            );
        }
        let mut taints: Vec<Value> = raw["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["key"] != NOT_READY_TAINT && t["key"] != UNREACHABLE_TAINT)
            .cloned()
            .collect();
        for effect in ["NoSchedule", "NoExecute"] {
            taints.push(json!({"key": UNREACHABLE_TAINT, "effect": effect, "timeAdded": now}));
        }
        // Over the version it was computed from, as `PatchNodeTaints`: a conflict (the status
        // write above, or anyone else's) is left to the next look.
        let _ = self.api.merge(
            &self.api.nodes,
            "",
            &node.name,
            &json!({
                "metadata": {"resourceVersion": raw["metadata"]["resourceVersion"]},
                "spec": {"taints": taints},
            }),
            None,
            "node-controller",
        );
    }

    /// The node lifecycle controller's taint pass, level-triggered like kube-controller-manager's
    /// (it runs on every look at a Ready node, not once on the transition): lifts
    /// `node.kubernetes.io/not-ready` and `node.kubernetes.io/unreachable` from a Ready node. The merge patch replaces the whole
    /// taint list, so, like `PatchNodeTaints`, it only applies over the version it was computed
    /// from: a conflict (someone else wrote the node since, e.g. the autoscaler lifting its own
    /// taint) is left to the next look, never written over.
    fn lift_not_ready(&self, raw: &Value, node: &NodeInfo) {
        let lifted = |key: &str| key == NOT_READY_TAINT || key == UNREACHABLE_TAINT;
        if !node.ready || !node.taints.iter().any(|t| lifted(&t.key)) {
            return;
        }
        let taints: Vec<Value> = raw["spec"]["taints"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| !t["key"].as_str().is_some_and(lifted))
            .cloned()
            .collect();
        let _ = self.api.merge(
            &self.api.nodes,
            "",
            &node.name,
            &json!({
                "metadata": {"resourceVersion": raw["metadata"]["resourceVersion"]},
                "spec": {"taints": if taints.is_empty() { Value::Null } else { json!(taints) }},
            }),
            None,
            "node-controller",
        );
    }

    fn renew_lease(&self, node: &str) {
        let ns = "kube-node-lease";
        let renew = micro_now();
        if self.api.get(&self.api.leases, ns, node).is_some() {
            let _ = self.api.merge(
                &self.api.leases,
                ns,
                node,
                &json!({"spec": {"renewTime": renew}}),
                None,
                COMPONENT,
            );
        } else {
            let _ = self.api.create(
                &self.api.leases,
                ns,
                json!({"metadata": {"name": node},
                       "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": renew}}),
                COMPONENT,
            );
        }
    }

    fn start_containers(&mut self, raw: &Value, node: &Value, what: Start) {
        let running = what == Start::Running;
        let now = crate::kube::store::now();
        let spec = &raw["spec"];
        let ip = raw
            .pointer("/status/podIP")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| {
                if spec["hostNetwork"] == json!(true) {
                    node_ip(node)
                } else {
                    self.pod_ip()
                }
            });
        let host_ip = node_ip(node);
        let statuses: Vec<Value> = spec["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .map(|(i, c)| {
                let image = c["image"].as_str().unwrap_or_default();
                let state = match what {
                    Start::Running => json!({"running": {"startedAt": now}}),
                    Start::PullFailed if unpullable(image) => json!({"waiting": {
                        "reason": "ImagePullBackOff",
                        "message": format!("Back-off pulling image \"{image}\""),
                    }}),
                    _ => json!({"waiting": {"reason": "ContainerCreating"}}),
                };
                json!({
                    "name": c["name"], "image": image,
                    "imageID": format!("{image}@sha256:{}", super::api::short_hash(&json!(image))),
                    "containerID": if running { json!(format!("containerd://{}{i}", super::api::short_hash(&json!([uid_of(raw), i])))) } else { Value::Null },
                    "ready": running, "started": running, "restartCount": 0,
                    "state": state, "lastState": {},
                })
            })
            .collect();
        let scheduled = raw
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .and_then(|c| c.iter().find(|x| x["type"] == "PodScheduled"))
            .cloned()
            .unwrap_or_else(|| cond("PodScheduled", true, None, &now));
        let not_ready = (!running).then_some("ContainersNotReady");
        let conditions = json!([
            cond("PodReadyToStartContainers", running, None, &now),
            cond("Initialized", true, None, &now),
            cond("Ready", running, not_ready, &now),
            cond("ContainersReady", running, not_ready, &now),
            scheduled,
        ]);
        let start = raw
            .pointer("/status/startTime")
            .cloned()
            .unwrap_or(json!(now));
        let status = json!({
            "phase": if running { "Running" } else { "Pending" },
            "conditions": conditions,
            "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
            "podIP": ip, "podIPs": [{"ip": ip}],
            "startTime": start,
            "containerStatuses": statuses,
            "qosClass": crate::kube::store::qos_class(spec),
        });
        let node_name = name_of(node).to_string();
        if what == Start::PullFailed {
            for image in spec["containers"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["image"].as_str())
                .filter(|i| unpullable(i))
            {
                let host = image.split('/').next().unwrap_or(image);
                self.api.event(
                    raw,
                    "Warning",
                    "Failed",
                    &format!(
                        "Failed to pull image \"{image}\": dial tcp: lookup {host}: no such host"
                    ),
                    COMPONENT,
                    Some(&node_name),
                );
            }
        }
        let _ = self.api.merge(
            &self.api.pods,
            ns_of(raw),
            name_of(raw),
            &json!({"status": status}),
            Some("status"),
            COMPONENT,
        );
        if running {
            for c in spec["containers"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or_default();
                let image = c["image"].as_str().unwrap_or_default();
                self.api.event(
                    raw,
                    "Normal",
                    "Pulled",
                    &format!("Container image \"{image}\" already present on machine"),
                    COMPONENT,
                    Some(&node_name),
                );
                self.api.event(
                    raw,
                    "Normal",
                    "Created",
                    &format!("Created container {name}"),
                    COMPONENT,
                    Some(&node_name),
                );
                self.api.event(
                    raw,
                    "Normal",
                    "Started",
                    &format!("Started container {name}"),
                    COMPONENT,
                    Some(&node_name),
                );
            }
        }
    }

    /// Ends the containers of a running pod whose run time is over: the pod Succeeded or
    /// Failed, or its containers restarted in place. Returns the deadline while running.
    fn run_out(&mut self, now: Instant, raw: &Value, uid: &str) -> Option<Instant> {
        let run = run_duration(raw)?;
        let since = *self.running_since.entry(uid.to_string()).or_insert(now);
        let at = since + self.timing.real(run);
        if now < at {
            return Some(at);
        }
        let code = exit_code(raw);
        let policy = raw["spec"]["restartPolicy"].as_str().unwrap_or("Always");
        let ends = policy == "Never" || (policy == "OnFailure" && code == 0);
        let t = crate::kube::store::now();
        let reason = if code == 0 { "Completed" } else { "Error" };
        let host = raw["spec"]["nodeName"].as_str();
        let mut statuses: Vec<Value> = raw
            .pointer("/status/containerStatuses")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for c in statuses.iter_mut().filter(|c| c.is_object()) {
            let started = c
                .pointer("/state/running/startedAt")
                .cloned()
                .unwrap_or(json!(t));
            let terminated = json!({"exitCode": code, "reason": reason, "startedAt": started,
                                    "finishedAt": t, "containerID": c["containerID"]});
            if ends {
                c["state"] = json!({"terminated": terminated});
                c["ready"] = json!(false);
                c["started"] = json!(false);
            } else {
                c["lastState"] = json!({"terminated": terminated});
                c["state"] = json!({"running": {"startedAt": t}});
                c["restartCount"] = json!(c["restartCount"].as_i64().unwrap_or(0) + 1);
            }
        }
        let status = if ends {
            let phase = if code == 0 { "Succeeded" } else { "Failed" };
            let why = if code == 0 {
                "PodCompleted"
            } else {
                "PodFailed"
            };
            let mut conds: Vec<Value> = raw
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for c in &mut conds {
                let ty = c["type"].as_str().unwrap_or_default().to_string();
                match ty.as_str() {
                    "Ready" | "ContainersReady" => *c = cond(&ty, false, Some(why), &t),
                    "PodReadyToStartContainers" => *c = cond(&ty, false, None, &t),
                    _ => {}
                }
            }
            json!({"phase": phase, "conditions": conds, "containerStatuses": statuses})
        } else {
            json!({"containerStatuses": statuses})
        };
        let _ = self.api.merge(
            &self.api.pods,
            ns_of(raw),
            name_of(raw),
            &json!({"status": status}),
            Some("status"),
            COMPONENT,
        );
        if ends {
            self.running_since.remove(uid);
            None
        } else {
            for c in raw["spec"]["containers"].as_array().into_iter().flatten() {
                let name = c["name"].as_str().unwrap_or_default();
                self.api.event(
                    raw,
                    "Normal",
                    "Started",
                    &format!("Started container {name}"),
                    COMPONENT,
                    host,
                );
            }
            self.running_since.insert(uid.to_string(), now);
            Some(now + self.timing.real(run))
        }
    }

    /// Stops a terminating pod's containers: not Ready any more, deleted once the grace period
    /// is over. Returns the deadline while waiting.
    fn terminate(&mut self, now: Instant, raw: &Value, uid: &str) -> Option<Instant> {
        let grace = raw["metadata"]["deletionGracePeriodSeconds"]
            .as_i64()
            .unwrap_or(0)
            .max(0) as u64;
        let since = *self
            .terminating_since
            .entry(uid.to_string())
            .or_insert_with(|| {
                let host = raw["spec"]["nodeName"].as_str();
                for c in raw["spec"]["containers"].as_array().into_iter().flatten() {
                    let name = c["name"].as_str().unwrap_or_default();
                    self.api.event(
                        raw,
                        "Normal",
                        "Killing",
                        &format!("Stopping container {name}"),
                        COMPONENT,
                        host,
                    );
                }
                if condition_true(raw, "Ready") {
                    let now_s = crate::kube::store::now();
                    let mut conds: Vec<Value> = raw
                        .pointer("/status/conditions")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for c in &mut conds {
                        if c["type"] == "Ready" || c["type"] == "ContainersReady" {
                            *c = cond(
                                c["type"].as_str().unwrap_or_default(),
                                false,
                                Some("ContainersNotReady"),
                                &now_s,
                            );
                        }
                    }
                    let _ = self.api.merge(
                        &self.api.pods,
                        ns_of(raw),
                        name_of(raw),
                        &json!({"status": {"conditions": conds}}),
                        Some("status"),
                        COMPONENT,
                    );
                }
                now
            });
        let at = since + self.timing.real(Duration::from_secs(grace));
        if now >= at {
            let _ = self
                .api
                .delete(&self.api.pods, ns_of(raw), name_of(raw), Some(0));
            None
        } else {
            Some(at)
        }
    }

    /// NoExecute taints the pod does not tolerate (or only for a while) evict it.
    fn noexecute(
        &mut self,
        now: Instant,
        raw: &Value,
        pod: &PodInfo,
        node: &NodeInfo,
    ) -> Option<Instant> {
        // A taint lifted and put back starts its toleration over.
        self.noexecute_since.retain(|(uid, key), _| {
            *uid != pod.uid
                || node
                    .taints
                    .iter()
                    .any(|t| t.effect == "NoExecute" && t.key == *key)
        });
        let mut deadline: Option<Instant> = None;
        for t in node.taints.iter().filter(|t| t.effect == "NoExecute") {
            let matching: Vec<_> = pod.tolerations.iter().filter(|x| x.tolerates(t)).collect();
            let evict_after = if matching.is_empty() {
                Some(Duration::ZERO)
            } else if matching.iter().all(|x| x.toleration_seconds.is_some()) {
                matching
                    .iter()
                    .filter_map(|x| x.toleration_seconds)
                    .min()
                    .map(|s| self.timing.real(Duration::from_secs(s.max(0) as u64)))
            } else {
                None
            };
            if let Some(after) = evict_after {
                let since = *self
                    .noexecute_since
                    .entry((pod.uid.clone(), t.key.clone()))
                    .or_insert(now);
                let at = since + after;
                deadline = Some(deadline.map_or(at, |d| d.min(at)));
            }
        }
        match deadline {
            Some(at) if now >= at => {
                self.api.event(
                    raw,
                    "Normal",
                    "TaintManagerEviction",
                    &format!("Marking for deletion Pod {}/{}", pod.namespace, pod.name),
                    "taint-eviction-controller",
                    None,
                );
                let _ = self
                    .api
                    .delete(&self.api.pods, &pod.namespace, &pod.name, None);
                None
            }
            other => other,
        }
    }
}

impl Reconciler for Kubelet {
    fn interested(&self, ev: &WatchEvent) -> bool {
        ev.storage == self.api.pods.storage || ev.storage == self.api.nodes.storage
    }

    fn reconcile(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let nodes: Vec<(Value, NodeInfo)> = self
            .api
            .all(&self.api.nodes)
            .iter()
            .map(|n| (n.value.clone(), NodeInfo::from_value(&n.value)))
            .collect();
        let mut next = self.nodes(now, &nodes);
        let mut wake = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        let by_name: HashMap<&str, &(Value, NodeInfo)> =
            nodes.iter().map(|n| (n.1.name.as_str(), n)).collect();
        let pods = self.api.pod_infos(&mut self.pod_cache);
        let mut live = HashSet::new();
        for (p, pod) in &pods {
            let raw = &p.value;
            let Some(node_name) = pod.node_name.as_deref() else {
                continue;
            };
            live.insert(pod.uid.clone());
            let node_entry = by_name.get(node_name).map(|n| (&n.0, &n.1));
            let same_node = node_entry.is_some_and(|(raw, _)| {
                let uid = uid_of(raw);
                self.pod_node
                    .entry(pod.uid.clone())
                    .or_insert_with(|| uid.to_string())
                    == uid
            });
            let (Some((node_raw, node)), true) = (node_entry, same_node) else {
                // Pod GC: the node is gone (or is a new Node of the same name), so are its pods.
                let _ = self
                    .api
                    .delete(&self.api.pods, &pod.namespace, &pod.name, Some(0));
                continue;
            };
            if kubelet_stopped(node_raw) {
                // Nothing runs, stops or reports there; the taint manager still evicts.
                if !pod.terminating && !pod.is_terminal() {
                    wake(self.noexecute(now, raw, pod, node));
                }
                continue;
            }
            if pod.terminating {
                if pod.is_terminal() {
                    let _ = self
                        .api
                        .delete(&self.api.pods, &pod.namespace, &pod.name, Some(0));
                } else {
                    let at = self.terminate(now, raw, &pod.uid);
                    wake(at);
                }
                continue;
            }
            if pod.is_terminal() {
                continue;
            }
            wake(self.noexecute(now, raw, pod, node));
            if pod.phase == "Pending" && node.ready {
                let started = match self.pod_started.get(&pod.uid) {
                    Some(t) => *t,
                    None => {
                        self.start_containers(raw, node_raw, Start::Creating);
                        self.pod_started.insert(pod.uid.clone(), now);
                        now
                    }
                };
                let at = started + self.timing.real(self.timing.pod_start);
                let stuck = || {
                    raw["spec"]["containers"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|c| c["image"].as_str().is_some_and(unpullable))
                };
                if now >= at && stuck() {
                    // Reported once: the pod waits until its image is changed (a new pod).
                    if !self.pull_failed.contains(&pod.uid) {
                        self.start_containers(raw, node_raw, Start::PullFailed);
                        self.pull_failed.insert(pod.uid.clone());
                    }
                } else if now >= at {
                    self.start_containers(raw, node_raw, Start::Running);
                    self.running_since.insert(pod.uid.clone(), now);
                    if let Some(run) = run_duration(raw) {
                        wake(Some(now + self.timing.real(run)));
                    }
                } else {
                    wake(Some(at));
                }
            } else if pod.phase == "Running" {
                wake(self.run_out(now, raw, &pod.uid));
            }
        }
        self.pod_started.retain(|u, _| live.contains(u));
        self.running_since.retain(|u, _| live.contains(u));
        self.pull_failed.retain(|u| live.contains(u));
        self.pod_node.retain(|u, _| live.contains(u));
        self.terminating_since.retain(|u, _| live.contains(u));
        self.noexecute_since.retain(|(u, _), _| live.contains(u));
        next.map(|t| t.saturating_duration_since(Instant::now()))
    }
}

#[cfg(test)]
mod tests {
    use super::unpullable;

    #[test]
    fn only_images_from_an_invalid_registry_host_fail_to_pull() {
        for image in ["registry.invalid/web:1", "registry.invalid:5000/team/web:1"] {
            assert!(unpullable(image), "{image}");
        }
        for image in [
            "nginx",
            "nginx:1.27",
            "registry.k8s.io/pause:3.9",
            "team/web.invalid",
            "localhost:5000/web",
        ] {
            assert!(!unpullable(image), "{image}");
        }
    }
}
