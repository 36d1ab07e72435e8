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
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        length(max = 1024),
        regex(pattern = r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?|)$")
    )]
    pub reason: String,
    /// message is a human readable message indicating details about the transition.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 32768))]
    pub message: String,
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
/// Kubernetes' `meta.SetStatusCondition` does. Returns whether anything changed.
pub fn set(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    observed_generation: Option<i64>,
    now: Timestamp,
) -> bool {
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
            })
        );
    }
}
