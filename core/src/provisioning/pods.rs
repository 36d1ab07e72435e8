//! Pending pods as provisioning follows them: when each was first seen waiting for a node (for
//! the pending-to-bound time), whether the controller launched a node for it, the identity an
//! Event about it needs, and the last Warning it got (so a pod that stays unplaceable is told
//! once per reason, not on every pass). Pure bookkeeping fed by the pod watch; times are
//! passed in.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ObjectReference, Pod};

use crate::state::{is_pending, key_of, ObjectKey};

#[derive(Clone, Debug)]
struct Entry {
    uid: Option<String>,
    since: Instant,
    nominated: Option<String>,
    warned: Option<String>,
}

/// The followed pods, by `namespace/name`.
#[derive(Debug, Default)]
pub struct PendingPods {
    entries: HashMap<ObjectKey, Entry>,
}

impl PendingPods {
    /// An empty tracker.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pod was added or changed at `now`. Returns how long it waited when a pod the
    /// controller provisioned for is now bound to a node.
    pub fn observe(&mut self, pod: &Pod, now: Instant) -> Option<Duration> {
        let key = key_of(&pod.metadata);
        if is_pending(pod) {
            let uid = pod.metadata.uid.clone();
            let entry = self.entries.entry(key).or_insert_with(|| Entry {
                uid: uid.clone(),
                since: now,
                nominated: None,
                warned: None,
            });
            if entry.uid != uid {
                // Same name, new pod.
                *entry = Entry {
                    uid,
                    since: now,
                    nominated: None,
                    warned: None,
                };
            }
            return None;
        }
        let bound = pod.spec.as_ref().is_some_and(|s| s.node_name.is_some());
        let gone = pod.metadata.deletion_timestamp.is_some()
            || matches!(
                pod.status.as_ref().and_then(|s| s.phase.as_deref()),
                Some("Succeeded" | "Failed")
            );
        if bound || gone {
            let entry = self.entries.remove(&key)?;
            return (bound && entry.nominated.is_some())
                .then(|| now.saturating_duration_since(entry.since));
        }
        None
    }

    /// A pod was deleted.
    pub fn forget(&mut self, pod: &Pod) {
        self.entries.remove(&key_of(&pod.metadata));
    }

    /// Keeps only the pods in `live` (after a relist, which reports no deletion of the pods
    /// that went while the watch was down).
    pub fn retain(&mut self, live: &std::collections::HashSet<ObjectKey>) {
        self.entries.retain(|key, _| live.contains(key));
    }

    /// The controller counts on `target` for `pod` (a new or in-flight NodeClaim, named as
    /// the pod is told, e.g. `Pod should schedule on: nodeclaim/demo-pool-abcde`). Returns
    /// whether that is news (the pod should be told).
    pub fn nominate(&mut self, pod: &ObjectKey, target: &str) -> bool {
        match self.entries.get_mut(pod) {
            Some(e) if e.nominated.as_deref() != Some(target) => {
                e.nominated = Some(target.to_string());
                e.warned = None;
                true
            }
            _ => false,
        }
    }

    /// Whether `pod` should get a Warning for `reason` (not the one it got last, nor since
    /// nominated); records it.
    pub fn warn(&mut self, pod: &ObjectKey, reason: &str) -> bool {
        match self.entries.get_mut(pod) {
            Some(e) if e.warned.as_deref() != Some(reason) => {
                e.warned = Some(reason.to_string());
                true
            }
            _ => false,
        }
    }

    /// The reference an Event about a followed pod needs (with its uid, which
    /// `kubectl describe pod` matches on).
    pub fn reference(&self, pod: &ObjectKey) -> Option<ObjectReference> {
        let e = self.entries.get(pod)?;
        let (namespace, name) = pod.split_once('/')?;
        Some(ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            namespace: Some(namespace.to_string()),
            name: Some(name.to_string()),
            uid: e.uid.clone(),
            ..Default::default()
        })
    }

    /// Pods followed.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no pod is followed.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(uid: &str, node: Option<&str>) -> Pod {
        let mut spec = json!({"containers": [{"name": "c"}]});
        if let Some(n) = node {
            spec["nodeName"] = json!(n);
        }
        serde_json::from_value(json!({"metadata": {"name": "p", "namespace": "ns", "uid": uid},
            "spec": spec,
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable"}]}}))
        .unwrap()
    }

    #[test]
    fn waits_are_measured_for_provisioned_pods_only() {
        let t0 = Instant::now();
        let mut pods = PendingPods::new();
        assert_eq!(pods.observe(&pod("u1", None), t0), None);
        // Seen again later: the first sighting counts.
        assert_eq!(
            pods.observe(&pod("u1", None), t0 + Duration::from_secs(5)),
            None
        );
        assert!(pods.nominate(&"ns/p".to_string(), "nodeclaim/a"));
        assert!(!pods.nominate(&"ns/p".to_string(), "nodeclaim/a"));
        assert_eq!(
            pods.observe(&pod("u1", Some("n")), t0 + Duration::from_secs(70)),
            Some(Duration::from_secs(70))
        );
        assert!(pods.is_empty());
        // A pod bound without the controller's help is not measured.
        pods.observe(&pod("u2", None), t0);
        assert_eq!(
            pods.observe(&pod("u2", Some("n")), t0 + Duration::from_secs(1)),
            None
        );
        assert!(pods.is_empty());
    }

    #[test]
    fn a_new_pod_under_the_same_name_starts_over() {
        let t0 = Instant::now();
        let mut pods = PendingPods::new();
        pods.observe(&pod("u1", None), t0);
        pods.nominate(&"ns/p".to_string(), "nodeclaim/a");
        pods.observe(&pod("u2", None), t0 + Duration::from_secs(10));
        assert!(pods.nominate(&"ns/p".to_string(), "nodeclaim/a"));
        assert_eq!(
            pods.observe(&pod("u2", Some("n")), t0 + Duration::from_secs(15)),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            pods.reference(&"ns/p".to_string()).map(|r| r.uid),
            None,
            "bound pods are no longer followed"
        );
    }

    #[test]
    fn warnings_once_per_reason_and_references_carry_the_uid() {
        let mut pods = PendingPods::new();
        pods.observe(&pod("u1", None), Instant::now());
        let k = "ns/p".to_string();
        assert!(pods.warn(&k, "too big"));
        assert!(!pods.warn(&k, "too big"));
        assert!(pods.warn(&k, "no zone"));
        let r = pods.reference(&k).unwrap();
        assert_eq!(
            (r.kind.as_deref(), r.namespace.as_deref(), r.name.as_deref()),
            (Some("Pod"), Some("ns"), Some("p"))
        );
        assert_eq!(r.uid.as_deref(), Some("u1"));
        assert!(!pods.warn(&"ns/unknown".to_string(), "x"));
    }
}
