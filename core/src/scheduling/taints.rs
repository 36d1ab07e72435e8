//! Taints and tolerations of the scheduling model. The matching rules are the contract's
//! ([`karpenter_ovhcloud_contract::taints`]), shared with the policy SDK; these owned types
//! lend their fields to it.

use karpenter_ovhcloud_contract::taints::{self as contract, AsTaint, AsToleration};
use karpenter_ovhcloud_contract::TolerationOperator;

pub use karpenter_ovhcloud_contract::TaintEffect;

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

impl AsTaint for Taint {
    fn as_taint(&self) -> contract::Taint<'_> {
        contract::Taint {
            key: &self.key,
            value: &self.value,
            effect: self.effect,
        }
    }
}

impl AsToleration for Toleration {
    fn as_toleration(&self) -> contract::Toleration<'_> {
        contract::Toleration {
            key: self.key.as_deref(),
            operator: if self.exists {
                TolerationOperator::Exists
            } else {
                TolerationOperator::Equal
            },
            value: &self.value,
            effect: self.effect,
        }
    }
}

impl Toleration {
    /// Whether this toleration tolerates the taint ([`karpenter_ovhcloud_contract::tolerates`]).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        contract::tolerates(&self.as_toleration(), &taint.as_taint())
    }
}

/// The first taint that blocks scheduling (NoSchedule or NoExecute) and no toleration
/// tolerates ([`karpenter_ovhcloud_contract::first_untolerated`]).
pub fn first_untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration]) -> Option<&'a Taint> {
    contract::first_untolerated(taints, tolerations)
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
