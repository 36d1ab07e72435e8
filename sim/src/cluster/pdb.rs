//! The disruption controller: keeps every PodDisruptionBudget's status (currentHealthy,
//! desiredHealthy, expectedPods, disruptionsAllowed, DisruptionAllowed condition) in step with
//! its pods. The numbers come from the same function the eviction subresource decides with.

use super::api::{name_of, ns_of, Api};
use super::Reconciler;
use crate::kube::subresources::pdb_status;
use crate::kube::{Stored, WatchEvent};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

pub(crate) struct Disruption {
    api: Api,
}

impl Disruption {
    pub fn new(api: Api) -> Self {
        Disruption { api }
    }
}

impl Reconciler for Disruption {
    fn interested(&self, ev: &WatchEvent) -> bool {
        ev.storage == self.api.pods.storage || ev.storage == self.api.pdbs.storage
    }

    fn reconcile(&mut self) -> Option<Duration> {
        let pdbs = self.api.all(&self.api.pdbs);
        if pdbs.is_empty() {
            return None;
        }
        let pods = self.api.all(&self.api.pods);
        for pdb in pdbs {
            let v = &pdb.value;
            let ns = ns_of(v);
            let in_ns: Vec<Arc<Stored>> = pods
                .iter()
                .filter(|p| ns_of(&p.value) == ns)
                .cloned()
                .collect();
            let mut status = pdb_status(v, &in_ns);
            // Keep the condition's transition time while its status holds.
            if let Some(prev) = v
                .pointer("/status/conditions/0")
                .filter(|c| c["status"] == status["conditions"][0]["status"])
            {
                status["conditions"][0]["lastTransitionTime"] = prev["lastTransitionTime"].clone();
            }
            let mut merged = v["status"].clone();
            json_patch::merge(&mut merged, &status);
            if merged == v["status"] {
                continue;
            }
            let _ = self.api.merge(
                &self.api.pdbs,
                ns,
                name_of(v),
                &json!({"status": status}),
                Some("status"),
                "disruption-controller",
            );
        }
        None
    }
}
