//! Toleration matching, with Kubernetes' semantics.

use crate::types::{Taint, TaintEffect, Toleration, TolerationOperator};

impl Toleration {
    /// Whether this toleration tolerates `taint`.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        match (&self.key, self.operator) {
            (None, TolerationOperator::Exists) => true,
            (None, TolerationOperator::Equal) => false,
            (Some(k), TolerationOperator::Exists) => *k == taint.key,
            (Some(k), TolerationOperator::Equal) => *k == taint.key && self.value == taint.value,
        }
    }
}

impl Taint {
    /// `key=value:Effect`, as kubectl prints it.
    pub fn describe(&self) -> String {
        let effect = match self.effect {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        };
        if self.value.is_empty() {
            format!("{}:{effect}", self.key)
        } else {
            format!("{}={}:{effect}", self.key, self.value)
        }
    }
}

/// The first taint of `taints` that keeps a pod with `tolerations` off the node.
/// `PreferNoSchedule` taints never do.
pub fn first_untolerated<'t>(tolerations: &[Toleration], taints: &'t [Taint]) -> Option<&'t Taint> {
    taints.iter().find(|t| {
        t.effect != TaintEffect::PreferNoSchedule && !tolerations.iter().any(|tol| tol.tolerates(t))
    })
}

/// Whether a pod with `tolerations` may schedule on a node with `taints`.
pub fn tolerates_all(tolerations: &[Toleration], taints: &[Taint]) -> bool {
    first_untolerated(tolerations, taints).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn taint(key: &str, value: &str, effect: TaintEffect) -> Taint {
        Taint {
            key: key.into(),
            value: value.into(),
            effect,
        }
    }

    fn tol(
        key: Option<&str>,
        op: TolerationOperator,
        value: &str,
        effect: Option<TaintEffect>,
    ) -> Toleration {
        Toleration {
            key: key.map(Into::into),
            operator: op,
            value: value.into(),
            effect,
        }
    }

    #[test]
    fn tolerations_follow_kubernetes() {
        let gpu = taint("nvidia.com/gpu", "true", TaintEffect::NoSchedule);
        use TolerationOperator::*;
        assert!(tol(Some("nvidia.com/gpu"), Equal, "true", None).tolerates(&gpu));
        assert!(!tol(Some("nvidia.com/gpu"), Equal, "false", None).tolerates(&gpu));
        assert!(tol(
            Some("nvidia.com/gpu"),
            Exists,
            "",
            Some(TaintEffect::NoSchedule)
        )
        .tolerates(&gpu));
        assert!(!tol(
            Some("nvidia.com/gpu"),
            Exists,
            "",
            Some(TaintEffect::NoExecute)
        )
        .tolerates(&gpu));
        assert!(tol(None, Exists, "", None).tolerates(&gpu));
        assert!(!tol(None, Equal, "", None).tolerates(&gpu));
        assert!(!tol(Some("other"), Exists, "", None).tolerates(&gpu));
    }

    #[test]
    fn prefer_no_schedule_never_blocks() {
        let taints = [
            taint("soft", "", TaintEffect::PreferNoSchedule),
            taint("hard", "x", TaintEffect::NoExecute),
        ];
        assert_eq!(
            first_untolerated(&[], &taints).map(|t| t.describe()),
            Some("hard=x:NoExecute".into())
        );
        let ok = [tol(Some("hard"), TolerationOperator::Exists, "", None)];
        assert!(tolerates_all(&ok, &taints));
        assert_eq!(taints[0].describe(), "soft:PreferNoSchedule");
    }
}
