//! The one writer of NodeClaim status.
//!
//! Several loops change a NodeClaim's status (lifecycle: Launched, Registered, Initialized;
//! disruption: Drifted; termination: Drained), each from its own possibly stale cache copy. A
//! plain merge patch of the whole status from a stale copy would silently undo what another loop
//! wrote meanwhile. So every write carries the copy's `resourceVersion` (optimistic
//! concurrency): on 409 Conflict the NodeClaim is read again and the edit re-applied to the
//! fresh status, so both changes survive.

use jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::api::{NodeClaim, NodeClaimStatus};
use crate::clock::Clock;

/// Attempts of [`update`]: each retry follows a conflict, i.e. another writer's success.
const ATTEMPTS: usize = 5;

/// Applies `edit` to the status of `claim` and writes it, locked to the version it was
/// computed from. `edit` gets the status and the clock's now, and returns whether it changed
/// anything (false: no write). It may run more than once (after a conflict, on the NodeClaim
/// read again), so it must be a pure function of the status it is given.
///
/// Returns whether a change was written; `Ok(false)` when `edit` had nothing to change.
pub async fn update(
    api: &Api<NodeClaim>,
    clock: &Clock,
    claim: &NodeClaim,
    mut edit: impl FnMut(&mut NodeClaimStatus, Timestamp) -> bool,
) -> kube::Result<bool> {
    let name = claim.name_any();
    let mut current = claim.clone();
    let mut attempt = 1;
    loop {
        let mut status = current.status.clone().unwrap_or_default();
        if !edit(&mut status, clock.now()) {
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
                tracing::debug!(nodeclaim = %name, attempt, "NodeClaim status changed meanwhile; re-reading it");
                current = api.get_status(&name).await?;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
