//! Toleration matching, with Kubernetes' semantics: the contract's rules
//! ([`karpenter_ovhcloud_contract::taints`]), the ones the host validates answers with. The
//! WIT records lend their fields to them through [`AsTaint`] and [`AsToleration`].

use karpenter_ovhcloud_contract::taints as contract;
pub use karpenter_ovhcloud_contract::taints::{AsTaint, AsToleration};

use crate::types::{Taint, TaintEffect, Toleration, TolerationOperator};

impl From<TaintEffect> for contract::TaintEffect {
    fn from(e: TaintEffect) -> Self {
        match e {
            TaintEffect::NoSchedule => Self::NoSchedule,
            TaintEffect::PreferNoSchedule => Self::PreferNoSchedule,
            TaintEffect::NoExecute => Self::NoExecute,
        }
    }
}

impl From<contract::TaintEffect> for TaintEffect {
    fn from(e: contract::TaintEffect) -> Self {
        match e {
            contract::TaintEffect::NoSchedule => Self::NoSchedule,
            contract::TaintEffect::PreferNoSchedule => Self::PreferNoSchedule,
            contract::TaintEffect::NoExecute => Self::NoExecute,
        }
    }
}

impl From<TolerationOperator> for contract::TolerationOperator {
    fn from(op: TolerationOperator) -> Self {
        match op {
            TolerationOperator::Equal => Self::Equal,
            TolerationOperator::Exists => Self::Exists,
        }
    }
}

impl From<contract::TolerationOperator> for TolerationOperator {
    fn from(op: contract::TolerationOperator) -> Self {
        match op {
            contract::TolerationOperator::Equal => Self::Equal,
            contract::TolerationOperator::Exists => Self::Exists,
        }
    }
}

impl AsTaint for Taint {
    fn as_taint(&self) -> contract::Taint<'_> {
        contract::Taint {
            key: &self.key,
            value: &self.value,
            effect: self.effect.into(),
        }
    }
}

impl AsToleration for Toleration {
    fn as_toleration(&self) -> contract::Toleration<'_> {
        contract::Toleration {
            key: self.key.as_deref(),
            operator: self.operator.into(),
            value: &self.value,
            effect: self.effect.map(Into::into),
        }
    }
}

impl Toleration {
    /// Whether this toleration tolerates `taint` ([`karpenter_ovhcloud_contract::tolerates`]).
    pub fn tolerates(&self, taint: &Taint) -> bool {
        contract::tolerates(&self.as_toleration(), &taint.as_taint())
    }
}

impl Taint {
    /// `key=value:Effect`, as kubectl prints it.
    pub fn describe(&self) -> String {
        let effect = contract::TaintEffect::from(self.effect).as_str();
        if self.value.is_empty() {
            format!("{}:{effect}", self.key)
        } else {
            format!("{}={}:{effect}", self.key, self.value)
        }
    }
}

/// The first taint of `taints` that keeps a pod with `tolerations` off the node.
/// `PreferNoSchedule` taints never do ([`karpenter_ovhcloud_contract::first_untolerated`]).
pub fn first_untolerated<'t>(taints: &'t [Taint], tolerations: &[Toleration]) -> Option<&'t Taint> {
    contract::first_untolerated(taints, tolerations)
}

/// Whether a pod with `tolerations` may schedule on a node with `taints`
/// ([`karpenter_ovhcloud_contract::all_tolerated`]).
pub fn all_tolerated(taints: &[Taint], tolerations: &[Toleration]) -> bool {
    contract::all_tolerated(taints, tolerations)
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
            first_untolerated(&taints, &[]).map(|t| t.describe()),
            Some("hard=x:NoExecute".into())
        );
        let ok = [tol(Some("hard"), TolerationOperator::Exists, "", None)];
        assert!(all_tolerated(&taints, &ok));
        assert!(!all_tolerated(&taints, &[]));
        assert_eq!(taints[0].describe(), "soft:PreferNoSchedule");
    }
}
