//! Status conditions, shaped like upstream's (`operatorpkg` `status.Condition`, itself
//! Kubernetes' `metav1.Condition`), and the helpers to read and set them.

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Condition type every resource summarises its other conditions into.
pub const READY: &str = "Ready";

/// Status of a condition.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// Not known yet.
    #[default]
    Unknown,
}

impl ConditionStatus {
    /// `True` for `true`, `False` for `false`.
    pub fn from_bool(b: bool) -> Self {
        if b {
            Self::True
        } else {
            Self::False
        }
    }
}

/// One condition of a resource's status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(description = "Condition aliases the upstream type and adds additional helper methods")]
#[schemars(transform = no_defaults)]
pub struct Condition {
    /// type of condition in CamelCase or in foo.example.com/CamelCase.
    #[serde(rename = "type")]
    #[schemars(
        length(max = 316),
        regex(
            pattern = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
        )
    )]
    pub type_: String,
    /// status of the condition, one of True, False, Unknown.
    pub status: ConditionStatus,
    /// observedGeneration represents the .metadata.generation that the condition was set based upon.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
    /// lastTransitionTime is the last time the condition transitioned from one status to another.
    pub last_transition_time: Time,
    /// reason contains a programmatic identifier indicating the reason for the condition's last
    /// transition, in CamelCase.
    // Always written, non-empty (upstream's NodePool schema requires it); read leniently.
    #[serde(default)]
    #[schemars(
        length(max = 1024),
        regex(pattern = r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?|)$")
    )]
    pub reason: String,
    /// message is a human readable message indicating details about the transition.
    // Always written, "" when there is nothing to say (upstream's schema requires the field).
    #[serde(default)]
    #[schemars(length(max = 32768))]
    pub message: String,
}

/// `#[serde(default)]` (lenient reading) is not a default of the API: upstream has none.
fn no_defaults(schema: &mut schemars::Schema) {
    if let Some(props) = schema
        .as_object_mut()
        .and_then(|o| o.get_mut("properties"))
        .and_then(|p| p.as_object_mut())
    {
        for field in ["reason", "message"] {
            if let Some(f) = props.get_mut(field).and_then(|f| f.as_object_mut()) {
                f.remove("default");
            }
        }
    }
}

impl Condition {
    /// Whether this condition's status is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// The condition of type `type_`, if set.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of type `type_` is set and `True`.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(Condition::is_true)
}

/// Sets a condition. `lastTransitionTime` moves to `now` only when the status changes, as
/// Kubernetes' `meta.SetStatusCondition` does; an empty `reason` becomes the type (upstream's
/// `SetTrue`), since the schema requires one. Returns whether anything changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
    let reason = if reason.is_empty() { type_ } else { reason };
    match conditions.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            let mut changed = false;
            if existing.status != status {
                existing.status = status;
                existing.last_transition_time = Time(now);
                changed = true;
            }
            if existing.reason != reason {
                existing.reason = reason.to_owned();
                changed = true;
            }
            if existing.message != message {
                existing.message = message.to_owned();
                changed = true;
            }
            if existing.observed_generation != observed_generation {
                existing.observed_generation = observed_generation;
                changed = true;
            }
            changed
        }
        None => {
            conditions.push(Condition {
                type_: type_.to_owned(),
                status,
                observed_generation,
                last_transition_time: Time(now),
                reason: reason.to_owned(),
                message: message.to_owned(),
            });
            true
        }
    }
}

/// Reason of `Ready` when a dependent is False at the current generation.
pub const REASON_UNHEALTHY_DEPENDENTS: &str = "UnhealthyDependents";
/// Reason of `Ready` when a dependent is Unknown, missing or from an older generation.
pub const REASON_RECONCILING_DEPENDENTS: &str = "ReconcilingDependents";

/// A resource's conditions with the root `Ready` kept in step with its dependents, as upstream's
/// `operatorpkg` condition set does: every write stamps the object's generation, then `Ready`
/// is True when every dependent is True at this generation, False (`UnhealthyDependents`) when
/// one is False at this generation, Unknown (`ReconcilingDependents`) otherwise, its message
/// naming the dependents that are not healthy (`NodeClassReady=False, Launched=Unknown`).
pub struct ConditionSet<'a> {
    list: &'a mut Vec<Condition>,
    dependents: &'static [&'static str],
    generation: Option<i64>,
    now: Timestamp,
}

impl<'a> ConditionSet<'a> {
    /// The conditions `list` of an object at `generation`, whose `Ready` summarises `dependents`.
    pub fn new(
        list: &'a mut Vec<Condition>,
        dependents: &'static [&'static str],
        generation: Option<i64>,
        now: Timestamp,
    ) -> Self {
        ConditionSet {
            list,
            dependents,
            generation,
            now,
        }
    }

    /// Sets `type_` (see [`set`]) and recomputes `Ready`; returns whether anything changed.
    pub fn set(
        &mut self,
        type_: &str,
        status: ConditionStatus,
        reason: &str,
        message: &str,
    ) -> bool {
        let changed = set(
            self.list,
            type_,
            status,
            reason,
            message,
            self.generation,
            self.now,
        );
        self.recompute_ready() | changed
    }

    /// Sets `type_` True with reason `type_` and no message (upstream's `SetTrue`).
    pub fn set_true(&mut self, type_: &str) -> bool {
        self.set(type_, ConditionStatus::True, type_, "")
    }

    /// Removes `type_` (never `Ready` or a dependent, which always have a value); returns whether
    /// it was there.
    pub fn clear(&mut self, type_: &str) -> bool {
        if type_ == READY || self.dependents.contains(&type_) {
            return false;
        }
        clear(self.list, type_)
    }

    /// Brings `Ready` in step with the dependents; returns whether it changed.
    pub fn recompute_ready(&mut self) -> bool {
        let mut unhealthy: Vec<(&str, ConditionStatus, Option<Timestamp>, bool)> = self
            .dependents
            .iter()
            .filter_map(|d| match find(self.list, d) {
                None => Some((*d, ConditionStatus::Unknown, None, false)),
                Some(c) if !c.is_true() || c.observed_generation != self.generation => {
                    let current = c.observed_generation == self.generation;
                    Some((*d, c.status, Some(c.last_transition_time.0), current))
                }
                Some(_) => None,
            })
            .collect();
        if unhealthy.is_empty() {
            return set(
                self.list,
                READY,
                ConditionStatus::True,
                READY,
                "",
                self.generation,
                self.now,
            );
        }
        // Newest transition first, as upstream lists them.
        unhealthy.sort_by_key(|u| std::cmp::Reverse(u.2));
        let failed = unhealthy
            .iter()
            .any(|(_, s, _, current)| *s == ConditionStatus::False && *current);
        let message = unhealthy
            .iter()
            .map(|(t, s, _, _)| format!("{t}={s:?}"))
            .collect::<Vec<_>>()
            .join(", ");
        let (status, reason) = if failed {
            (ConditionStatus::False, REASON_UNHEALTHY_DEPENDENTS)
        } else {
            (ConditionStatus::Unknown, REASON_RECONCILING_DEPENDENTS)
        };
        set(
            self.list,
            READY,
            status,
            reason,
            &message,
            self.generation,
            self.now,
        )
    }
}

/// Removes the condition of type `type_`; returns whether it was there.
pub fn clear(conditions: &mut Vec<Condition>, type_: &str) -> bool {
    let before = conditions.len();
    conditions.retain(|c| c.type_ != type_);
    conditions.len() != before
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-01T00:05:00Z".parse().unwrap();
        let mut conds = Vec::new();
        assert!(set(
            &mut conds,
            "Launched",
            ConditionStatus::True,
            "Launched",
            "",
            Some(1),
            t0
        ));
        assert!(!set(
            &mut conds,
            "Launched",
            ConditionStatus::True,
            "Launched",
            "",
            Some(1),
            t1
        ));
        assert_eq!(conds[0].last_transition_time, Time(t0));
        assert!(set(
            &mut conds,
            "Launched",
            ConditionStatus::False,
            "OutOfStock",
            "b3-8 out of stock in eu-west-par-a",
            Some(1),
            t1
        ));
        assert_eq!(conds[0].last_transition_time, Time(t1));
        assert!(!is_true(&conds, "Launched"));
        assert!(clear(&mut conds, "Launched"));
        assert!(find(&conds, "Launched").is_none());
    }

    #[test]
    fn serializes_like_kubernetes() {
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let mut conds = Vec::new();
        set(
            &mut conds,
            READY,
            ConditionStatus::True,
            "Ready",
            "",
            None,
            t0,
        );
        assert_eq!(
            serde_json::to_value(&conds[0]).unwrap(),
            serde_json::json!({
                "type": "Ready",
                "status": "True",
                "lastTransitionTime": "2026-01-01T00:00:00Z",
                "reason": "Ready",
                "message": "",
            })
        );
    }

    #[test]
    fn ready_follows_the_dependents_as_upstream_computes_it() {
        const DEPS: &[&str] = &["ValidationSucceeded", "NodeClassReady"];
        let t0: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let t1: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        let mut conds = Vec::new();
        let ready = |c: &[Condition]| {
            let r = find(c, READY).unwrap();
            (r.status, r.reason.clone(), r.message.clone())
        };
        ConditionSet::new(&mut conds, DEPS, Some(1), t0).set_true("ValidationSucceeded");
        assert_eq!(
            ready(&conds),
            (
                ConditionStatus::Unknown,
                REASON_RECONCILING_DEPENDENTS.into(),
                "NodeClassReady=Unknown".into()
            )
        );
        ConditionSet::new(&mut conds, DEPS, Some(1), t1).set(
            "NodeClassReady",
            ConditionStatus::False,
            "NodeClassNotFound",
            "NodeClass not found on cluster",
        );
        assert_eq!(
            ready(&conds),
            (
                ConditionStatus::False,
                REASON_UNHEALTHY_DEPENDENTS.into(),
                "NodeClassReady=False".into()
            )
        );
        let mut set = ConditionSet::new(&mut conds, DEPS, Some(1), t1);
        set.set_true("NodeClassReady");
        assert!(!set.clear("NodeClassReady"), "a dependent is never cleared");
        assert_eq!(
            ready(&conds),
            (ConditionStatus::True, READY.into(), String::new())
        );
        // A new generation: the dependents are stale until written again.
        assert!(ConditionSet::new(&mut conds, DEPS, Some(2), t1).recompute_ready());
        assert_eq!(
            ready(&conds),
            (
                ConditionStatus::Unknown,
                REASON_RECONCILING_DEPENDENTS.into(),
                "NodeClassReady=True, ValidationSucceeded=True".into()
            )
        );
        assert!(conds.iter().all(|c| !c.reason.is_empty()));
    }
}
