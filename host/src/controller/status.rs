//! The one writer of NodeClaim and NodePool status.
//!
//! Several loops change an object's status (NodeClaim: lifecycle's Launched, Registered,
//! Initialized, disruption's Drifted, termination's Drained; NodePool: validation and the node
//! class check), each from its own possibly stale cache copy. A plain merge patch of the whole
//! status from a stale copy would silently undo what another loop wrote meanwhile. So every write
//! carries the copy's `resourceVersion` (optimistic concurrency): on 409 Conflict the object is
//! read again and the edit re-applied to the fresh status, so both changes survive. Conditions
//! go through [`ConditionSet`], which stamps the generation and keeps `Ready` in step.

use std::fmt::Debug;
use std::marker::PhantomData;

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use crate::api::condition::{Condition, ConditionSet};
use crate::api::{NodeClaim, NodeClaimStatus, NodePool, NodePoolStatus};
use crate::clock::Clock;

/// Attempts of [`update`]: each retry follows a conflict, i.e. another writer's success.
const ATTEMPTS: usize = 5;

/// A resource whose status this controller writes, with conditions summarised into `Ready`.
pub trait WithStatus:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync
{
    /// The status type.
    type Status: Default + Clone + Serialize;
    /// The conditions `Ready` summarises (upstream's `NewReadyConditions`).
    const READY_DEPENDENTS: &'static [&'static str];
    /// The status, if any.
    fn status(&self) -> Option<&Self::Status>;
    /// The conditions of `status`.
    fn conditions_mut(status: &mut Self::Status) -> &mut Vec<Condition>;
}

impl WithStatus for NodeClaim {
    type Status = NodeClaimStatus;
    const READY_DEPENDENTS: &'static [&'static str] = crate::api::nodeclaim::READY_DEPENDENTS;
    fn status(&self) -> Option<&NodeClaimStatus> {
        self.status.as_ref()
    }
    fn conditions_mut(status: &mut NodeClaimStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

impl WithStatus for NodePool {
    type Status = NodePoolStatus;
    const READY_DEPENDENTS: &'static [&'static str] = crate::api::nodepool::READY_DEPENDENTS;
    fn status(&self) -> Option<&NodePoolStatus> {
        self.status.as_ref()
    }
    fn conditions_mut(status: &mut NodePoolStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

/// An object of kind `K` read for its metadata and status conditions alone: the status of an
/// object whose spec this controller cannot read (see `Tolerant`) still goes through
/// [`update`], conflicts retried.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct Raw<K> {
    /// The object's metadata.
    pub metadata: ObjectMeta,
    /// Its conditions; None when it has no status or not one this controller can read.
    #[serde(default, deserialize_with = "lenient")]
    pub status: Option<RawStatus>,
    #[serde(skip)]
    kind: PhantomData<fn() -> K>,
}

/// The conditions of a [`Raw`] object's status (a merge patch of it leaves the rest alone).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RawStatus {
    /// `status.conditions`.
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A status that cannot be read counts as none: the write replaces its conditions.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<RawStatus>, D::Error> {
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

karpenter_ovhcloud_core::resource_of_kind!(Raw);

impl WithStatus for Raw<NodePool> {
    type Status = RawStatus;
    const READY_DEPENDENTS: &'static [&'static str] = crate::api::nodepool::READY_DEPENDENTS;
    fn status(&self) -> Option<&RawStatus> {
        self.status.as_ref()
    }
    fn conditions_mut(status: &mut RawStatus) -> &mut Vec<Condition> {
        &mut status.conditions
    }
}

/// When and on which generation an edit is made.
#[derive(Clone, Copy, Debug)]
pub struct Stamp {
    /// The clock's now.
    pub now: Timestamp,
    /// `metadata.generation` of the copy being edited.
    pub generation: Option<i64>,
    dependents: &'static [&'static str],
}

impl Stamp {
    /// The conditions `list` of the edited object, `Ready` kept in step.
    pub fn conditions<'a>(&self, list: &'a mut Vec<Condition>) -> ConditionSet<'a> {
        ConditionSet::new(list, self.dependents, self.generation, self.now)
    }
}

/// Applies `edit` to the status of `obj` and writes it, locked to the version it was computed
/// from. `edit` gets the status and the [`Stamp`] of the copy, and returns whether it changed
/// anything (false: no write). It may run more than once (after a conflict, on the object read
/// again), so it must be a pure function of what it is given.
///
/// Returns whether a change was written; `Ok(false)` when `edit` had nothing to change.
pub async fn update<K: WithStatus>(
    api: &Api<K>,
    clock: &Clock,
    obj: &K,
    mut edit: impl FnMut(&mut K::Status, &Stamp) -> bool,
) -> kube::Result<bool> {
    let name = obj.name_any();
    let mut current = obj.clone();
    let mut attempt = 1;
    loop {
        let mut status = current.status().cloned().unwrap_or_default();
        let stamp = Stamp {
            now: clock.now(),
            generation: current.meta().generation,
            dependents: K::READY_DEPENDENTS,
        };
        let edited = edit(&mut status, &stamp);
        // A status written before `Ready` was kept (or by an older version) gets it now.
        let ready = stamp
            .conditions(K::conditions_mut(&mut status))
            .recompute_ready();
        if !edited && !ready {
            return Ok(false);
        }
        let mut body = json!({ "status": status });
        // A copy without a resourceVersion (built locally, never read) cannot be locked.
        if let Some(rv) = current.resource_version() {
            body["metadata"] = json!({ "resourceVersion": rv });
        }
        match api
            .patch_status(&name, &PatchParams::default(), &Patch::Merge(&body))
            .await
        {
            Ok(_) => return Ok(true),
            Err(kube::Error::Api(e)) if e.code == 409 && attempt < ATTEMPTS => {
                tracing::debug!(kind = %K::kind(&()), name = %name, attempt, "status changed meanwhile; re-reading it");
                current = api.get_status(&name).await?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
