//! Taints and tolerations.

/// Taint effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaintEffect {
    /// Pods that do not tolerate it are not scheduled.
    NoSchedule,
    /// A preference only: never blocks scheduling.
    PreferNoSchedule,
    /// Pods that do not tolerate it are not scheduled (and evicted).
    NoExecute,
}

impl TaintEffect {
    /// Parses the Kubernetes spelling.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "NoSchedule" => Self::NoSchedule,
            "PreferNoSchedule" => Self::PreferNoSchedule,
            "NoExecute" => Self::NoExecute,
            _ => return None,
        })
    }
}

/// A node taint.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value (may be empty).
    pub value: String,
    /// Effect.
    pub effect: TaintEffect,
}

/// A pod toleration.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Toleration {
    /// None with `exists` tolerates every key.
    pub key: Option<String>,
    /// True for `Exists`, false for `Equal`.
    pub exists: bool,
    /// Value compared by `Equal`.
    pub value: String,
    /// None tolerates every effect.
    pub effect: Option<TaintEffect>,
}

impl Toleration {
    /// Whether this toleration tolerates the taint.
    pub fn tolerates(&self, taint: &Taint) -> bool {
        if self.effect.is_some_and(|e| e != taint.effect) {
            return false;
        }
        match &self.key {
            None => self.exists,
            Some(key) => key == &taint.key && (self.exists || self.value == taint.value),
        }
    }
}

/// The first taint that blocks scheduling (NoSchedule or NoExecute) and no toleration tolerates.
pub fn first_untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    taints.iter().find(|t| {
        t.effect != TaintEffect::PreferNoSchedule && !tolerations.iter().any(|tol| tol.tolerates(t))
    })
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

    #[test]
    fn tolerations_follow_kubernetes() {
        let gpu = taint("gpu", "true", TaintEffect::NoSchedule);
        let equal = Toleration {
            key: Some("gpu".into()),
            exists: false,
            value: "true".into(),
            effect: None,
        };
        let wrong_value = Toleration {
            value: "false".into(),
            ..equal.clone()
        };
        let wrong_effect = Toleration {
            effect: Some(TaintEffect::NoExecute),
            ..equal.clone()
        };
        let everything = Toleration {
            key: None,
            exists: true,
            value: String::new(),
            effect: None,
        };
        assert!(equal.tolerates(&gpu));
        assert!(!wrong_value.tolerates(&gpu));
        assert!(!wrong_effect.tolerates(&gpu));
        assert!(everything.tolerates(&gpu));
        let taints = [
            taint("soft", "", TaintEffect::PreferNoSchedule),
            gpu.clone(),
        ];
        assert_eq!(first_untolerated(&taints, &[]), Some(&gpu));
        assert_eq!(first_untolerated(&taints, &[equal]), None);
    }
}
