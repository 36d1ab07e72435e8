//! kube-controller-manager's Job controller and TTL-after-finished controller: a Job runs
//! `parallelism` pods at a time until `completions` of them succeeded (or, without
//! `completions`, until one succeeded and none is left running), gives up after more than
//! `backoffLimit` failures or `activeDeadlineSeconds`, and records it in its status and its
//! `Complete`/`Failed` conditions (so `kubectl wait --for=condition=complete` works). Pods are
//! replaced after a failure with the controller's back-off (10 s doubling, at most 6 min, guide
//! time). A finished Job with `ttlSecondsAfterFinished` is deleted (foreground) that long after
//! it finished. `suspend` deletes the active pods; `Indexed` Jobs give each pod an index.
//!
//! Pods end through the kubelet ([`super::kubelet::RUN_SECONDS`], `sleep N`). Not modelled:
//! the `batch.kubernetes.io/job-tracking` finalizer (counts are kept as the maximum of the
//! status and the pods present), pod failure policies, success policies.

use super::api::{
    controller_ref, controller_uid, name_of, ns_of, uid_of, Api, ParsedPod, PodCache,
};
use super::model::condition_true;
use super::{Reconciler, Timing};
use crate::kube::{DeleteOptions, WatchEvent};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const COMPONENT: &str = "job-controller";
const TTL_COMPONENT: &str = "ttl-after-finished-controller";
/// Annotation and label of an Indexed Job's pods.
const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
/// First back-off after a failed pod (guide time).
const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// Longest back-off (guide time).
const BACKOFF_MAX: Duration = Duration::from_secs(360);

pub(crate) struct Jobs {
    api: Api,
    timing: Timing,
    pod_cache: PodCache,
    /// Per Job uid: failures seen and when the count last went up (back-off).
    failures: HashMap<String, (i64, Instant)>,
    /// Per Job uid: when this controller first saw it running (activeDeadlineSeconds).
    started: HashMap<String, Instant>,
    /// Per Job uid: when it finished (ttlSecondsAfterFinished).
    finished: HashMap<String, Instant>,
}

fn int(v: &Value, path: &str) -> Option<i64> {
    v.pointer(path).and_then(Value::as_i64)
}

/// Whether the Job has condition `t` True.
fn has_condition(job: &Value, t: &str) -> bool {
    condition_true(job, t)
}

/// Real time elapsed since an RFC 3339 timestamp, scaled to guide time by the caller.
fn since_timestamp(ts: &Value) -> Option<Duration> {
    let t: jiff::Timestamp = ts.as_str()?.parse().ok()?;
    let secs = jiff::Timestamp::now().as_second() - t.as_second();
    Some(Duration::from_secs(secs.max(0) as u64))
}

fn condition(t: &str, reason: &str, message: &str, now: &str) -> Value {
    json!({"type": t, "status": "True", "lastProbeTime": now, "lastTransitionTime": now,
           "reason": reason, "message": message})
}

/// What a pass decided about one Job.
struct Counts {
    active: Vec<ParsedPod>,
    succeeded: i64,
    failed: i64,
    ready: i64,
    terminating: i64,
}

impl Jobs {
    pub fn new(api: Api, timing: Timing) -> Self {
        Jobs {
            api,
            timing,
            pod_cache: PodCache::default(),
            failures: HashMap::new(),
            started: HashMap::new(),
            finished: HashMap::new(),
        }
    }

    fn counts(job: &Value, pods: &[&ParsedPod]) -> Counts {
        let on_failure = job
            .pointer("/spec/template/spec/restartPolicy")
            .and_then(Value::as_str)
            == Some("OnFailure");
        let mut c = Counts {
            active: Vec::new(),
            succeeded: 0,
            failed: 0,
            ready: 0,
            terminating: 0,
        };
        for (p, i) in pods {
            match i.phase.as_str() {
                "Succeeded" => c.succeeded += 1,
                "Failed" => c.failed += 1,
                _ if i.terminating => c.terminating += 1,
                _ => {
                    if condition_true(&p.value, "Ready") {
                        c.ready += 1;
                    }
                    if on_failure {
                        // Restarts in place count as failures.
                        c.failed += p
                            .value
                            .pointer("/status/containerStatuses")
                            .and_then(Value::as_array)
                            .map_or(0, |a| {
                                a.iter()
                                    .map(|s| s["restartCount"].as_i64().unwrap_or(0))
                                    .sum()
                            });
                    }
                    c.active.push((p.clone(), i.clone()));
                }
            }
        }
        // Pods deleted since (node gone, by hand) still counted.
        c.succeeded = c.succeeded.max(int(job, "/status/succeeded").unwrap_or(0));
        c.failed = c.failed.max(int(job, "/status/failed").unwrap_or(0));
        c
    }

    /// One Job; returns its next deadline.
    fn job(&mut self, now: Instant, job: &Value, pods: &[&ParsedPod]) -> Option<Instant> {
        let uid = uid_of(job).to_string();
        let ns = ns_of(job).to_string();
        let name = name_of(job).to_string();
        if has_condition(job, "Complete") || has_condition(job, "Failed") {
            // Pods left over from a failed Job are stopped.
            for (_, i) in pods
                .iter()
                .filter(|(_, i)| !i.terminating && !i.is_terminal())
            {
                let _ = self.api.delete(&self.api.pods, &ns, &i.name, None);
            }
            return self.ttl(now, job, &uid);
        }
        let c = Self::counts(job, pods);
        let t = crate::kube::store::now();
        let completions = int(job, "/spec/completions");
        let parallelism = int(job, "/spec/parallelism").unwrap_or(1).max(0);
        let backoff_limit = int(job, "/spec/backoffLimit").unwrap_or(6);
        let suspended = job.pointer("/spec/suspend") == Some(&json!(true));
        let mut status = json!({
            "startTime": job.pointer("/status/startTime").cloned().unwrap_or(Value::Null),
            "ready": c.ready, "terminating": c.terminating,
            "uncountedTerminatedPods": {},
        });
        for (k, n) in [
            ("active", c.active.len() as i64),
            ("succeeded", c.succeeded),
            ("failed", c.failed),
        ] {
            status[k] = if n > 0 { json!(n) } else { Value::Null };
        }
        if status["startTime"].is_null() && !suspended {
            status["startTime"] = json!(t);
        }
        let mut conditions: Vec<Value> = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut next: Option<Instant> = None;
        let started = *self.started.entry(uid.clone()).or_insert(now);
        let deadline = int(job, "/spec/activeDeadlineSeconds")
            .filter(|_| !suspended)
            .map(|s| started + self.timing.real(Duration::from_secs(s.max(0) as u64)));
        let failure = if c.failed > backoff_limit {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if deadline.is_some_and(|d| now >= d) {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            None
        };
        let complete = match completions {
            Some(n) => c.succeeded >= n,
            None => c.succeeded > 0 && c.active.is_empty(),
        };
        if let Some((reason, message)) = failure {
            for (_, i) in &c.active {
                let _ = self.api.delete(&self.api.pods, &ns, &i.name, None);
            }
            status["active"] = Value::Null;
            conditions.retain(|x| x["type"] != "FailureTarget" && x["type"] != "Failed");
            conditions.push(condition("FailureTarget", reason, message, &t));
            conditions.push(condition("Failed", reason, message, &t));
            self.api
                .event(job, "Warning", reason, message, COMPONENT, None);
            self.finished.insert(uid.clone(), now);
        } else if complete {
            for (_, i) in &c.active {
                let _ = self.api.delete(&self.api.pods, &ns, &i.name, None);
            }
            status["active"] = Value::Null;
            status["completionTime"] = json!(t);
            let (reason, message) = (
                "CompletionsReached",
                "Reached expected number of succeeded pods",
            );
            conditions.retain(|x| x["type"] != "SuccessCriteriaMet" && x["type"] != "Complete");
            conditions.push(condition("SuccessCriteriaMet", reason, message, &t));
            conditions.push(condition("Complete", reason, message, &t));
            self.api
                .event(job, "Normal", "Completed", "Job completed", COMPONENT, None);
            self.finished.insert(uid.clone(), now);
        } else if suspended {
            for (_, i) in &c.active {
                if self.api.delete(&self.api.pods, &ns, &i.name, None).is_ok() {
                    self.deleted_event(job, &i.name);
                }
            }
            if !conditions.iter().any(|x| x["type"] == "Suspended") {
                conditions.push(condition("Suspended", "JobSuspended", "Job suspended", &t));
                self.api
                    .event(job, "Normal", "Suspended", "Job suspended", COMPONENT, None);
            }
        } else {
            if conditions.iter().any(|x| x["type"] == "Suspended") {
                conditions.retain(|x| x["type"] != "Suspended");
                self.api
                    .event(job, "Normal", "Resumed", "Job resumed", COMPONENT, None);
            }
            let want = match completions {
                Some(n) => parallelism.min(n - c.succeeded).max(0),
                None if c.succeeded > 0 => 0,
                None => parallelism,
            };
            let have = c.active.len() as i64;
            // Back-off after failures: 10 s, doubling, from the last new failure.
            let seen = self.failures.entry(uid.clone()).or_insert((0, now));
            if c.failed > seen.0 {
                *seen = (c.failed, now);
            }
            let backoff_until = (c.failed > 0).then(|| {
                let exp = (c.failed - 1).clamp(0, 16) as u32;
                let wait = BACKOFF_BASE
                    .saturating_mul(2u32.saturating_pow(exp))
                    .min(BACKOFF_MAX);
                seen.1 + self.timing.real(wait)
            });
            if have < want {
                match backoff_until {
                    Some(at) if now < at => next = Some(at),
                    _ => {
                        let mut taken: HashSet<i64> = c
                            .active
                            .iter()
                            .chain(pods.iter().copied().filter(|(_, i)| i.phase == "Succeeded"))
                            .filter_map(|(p, _)| completion_index(&p.value))
                            .collect();
                        for _ in have..want {
                            let index = self.free_index(job, &mut taken);
                            self.create_pod(job, index);
                        }
                    }
                }
            } else if have > want {
                let mut extra: Vec<&ParsedPod> = c.active.iter().collect();
                extra.sort_by_key(|(p, i)| {
                    (
                        condition_true(&p.value, "Ready"),
                        std::cmp::Reverse(i.created.clone()),
                    )
                });
                for (_, i) in extra.iter().take((have - want) as usize) {
                    if self.api.delete(&self.api.pods, &ns, &i.name, None).is_ok() {
                        self.deleted_event(job, &i.name);
                    }
                }
            }
            if let Some(d) = deadline {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        status["conditions"] = if conditions.is_empty() {
            Value::Null
        } else {
            json!(conditions)
        };
        self.write_status(job, &ns, &name, status);
        next
    }

    /// Lowest completion index not done or running (Indexed Jobs only).
    fn free_index(&self, job: &Value, taken: &mut HashSet<i64>) -> Option<i64> {
        if job.pointer("/spec/completionMode").and_then(Value::as_str) != Some("Indexed") {
            return None;
        }
        let n = int(job, "/spec/completions").unwrap_or(1);
        let i = (0..n).find(|i| !taken.contains(i))?;
        taken.insert(i);
        Some(i)
    }

    fn deleted_event(&self, job: &Value, pod: &str) {
        self.api.event(
            job,
            "Normal",
            "SuccessfulDelete",
            &format!("Deleted pod: {pod}"),
            COMPONENT,
            None,
        );
    }

    fn create_pod(&self, job: &Value, index: Option<i64>) {
        let ns = ns_of(job);
        let template = &job["spec"]["template"];
        let mut meta = json!({
            "generateName": format!("{}-", name_of(job)),
            "namespace": ns,
            "ownerReferences": [controller_ref(job)],
        });
        if let Some(l) = template["metadata"]["labels"].as_object() {
            meta["labels"] = json!(l);
        }
        if let Some(a) = template["metadata"]["annotations"].as_object() {
            meta["annotations"] = json!(a);
        }
        if let Some(i) = index {
            meta["generateName"] = json!(format!("{}-{i}-", name_of(job)));
            meta["labels"][COMPLETION_INDEX] = json!(i.to_string());
            meta["annotations"][COMPLETION_INDEX] = json!(i.to_string());
        }
        let body =
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template["spec"]});
        match self.api.create(&self.api.pods, ns, body, COMPONENT) {
            Ok(p) => self.api.event(
                job,
                "Normal",
                "SuccessfulCreate",
                &format!("Created pod: {}", name_of(&p.value)),
                COMPONENT,
                None,
            ),
            Err(e) => self.api.event(
                job,
                "Warning",
                "FailedCreate",
                &format!("Error creating: {}", e.message),
                COMPONENT,
                None,
            ),
        }
    }

    /// Deletes a finished Job once its `ttlSecondsAfterFinished` is over.
    fn ttl(&mut self, now: Instant, job: &Value, uid: &str) -> Option<Instant> {
        let ttl = int(job, "/spec/ttlSecondsAfterFinished")?;
        let ttl = self.timing.real(Duration::from_secs(ttl.max(0) as u64));
        let at = match self.finished.get(uid) {
            Some(t) => *t + ttl,
            None => {
                // Finished before this controller started: from the recorded time.
                let when = job
                    .pointer("/status/completionTime")
                    .filter(|x| !x.is_null())
                    .or_else(|| {
                        job.pointer("/status/conditions")
                            .and_then(Value::as_array)
                            .and_then(|c| c.iter().find(|x| x["type"] == "Failed"))
                            .map(|x| &x["lastTransitionTime"])
                    })
                    .and_then(since_timestamp)
                    .unwrap_or_default();
                let t = now.checked_sub(when).unwrap_or(now);
                self.finished.insert(uid.to_string(), t);
                t + ttl
            }
        };
        if now < at {
            return Some(at);
        }
        let opts = DeleteOptions {
            propagation: Some("Foreground".into()),
            precondition_uid: Some(uid.to_string()),
            ..Default::default()
        };
        if self
            .api
            .delete_with(&self.api.jobs, ns_of(job), name_of(job), &opts)
            .is_ok()
        {
            tracing::debug!(
                job = name_of(job),
                component = TTL_COMPONENT,
                "finished Job deleted after its TTL"
            );
        }
        None
    }

    /// Writes the status when it differs from the stored one.
    fn write_status(&self, job: &Value, ns: &str, name: &str, status: Value) {
        let mut merged = job["status"].clone();
        json_patch::merge(&mut merged, &status);
        if merged == job["status"] {
            return;
        }
        let _ = self.api.merge(
            &self.api.jobs,
            ns,
            name,
            &json!({"status": status}),
            Some("status"),
            COMPONENT,
        );
    }
}

/// The completion index of an Indexed Job's pod.
fn completion_index(pod: &Value) -> Option<i64> {
    pod.pointer("/metadata/annotations")
        .and_then(|a| a.get(COMPLETION_INDEX))
        .and_then(Value::as_str)
        .and_then(|i| i.parse().ok())
}

impl Reconciler for Jobs {
    fn interested(&self, ev: &WatchEvent) -> bool {
        ev.storage == self.api.jobs.storage || ev.storage == self.api.pods.storage
    }

    fn reconcile(&mut self) -> Option<Duration> {
        let now = Instant::now();
        let jobs = self.api.all(&self.api.jobs);
        if jobs.is_empty() {
            self.failures.clear();
            self.started.clear();
            self.finished.clear();
            return None;
        }
        let pods = self.api.pod_infos(&mut self.pod_cache);
        let mut by_owner: HashMap<&str, Vec<&ParsedPod>> = HashMap::new();
        for p in &pods {
            if let Some(uid) = controller_uid(&p.0.value) {
                by_owner.entry(uid).or_default().push(p);
            }
        }
        let mut next: Option<Instant> = None;
        let mut live = HashSet::new();
        for j in &jobs {
            let job = &j.value;
            let uid = uid_of(job);
            live.insert(uid.to_string());
            if !job["metadata"]["deletionTimestamp"].is_null() {
                continue;
            }
            let mine: Vec<&ParsedPod> = by_owner
                .get(uid)
                .map(|v| {
                    v.iter()
                        .copied()
                        .filter(|(p, _)| ns_of(&p.value) == ns_of(job))
                        .collect()
                })
                .unwrap_or_default();
            if let Some(t) = self.job(now, job, &mine) {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        }
        self.failures.retain(|u, _| live.contains(u));
        self.started.retain(|u, _| live.contains(u));
        self.finished.retain(|u, _| live.contains(u));
        next.map(|t| t.saturating_duration_since(Instant::now()))
    }
}
