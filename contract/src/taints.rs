//! Taints and tolerations, with Kubernetes' semantics: the one [`tolerates`] rule and the one
//! rule on which taints keep a pod off a node ([`first_untolerated`]).
//!
//! The rules read plain borrowed views ([`Taint`], [`Toleration`]); each side's own types
//! (the core's model, the SDK's WIT records) implement [`AsTaint`] and [`AsToleration`] to
//! lend them.

/// Effect of a taint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TaintEffect {
    /// Pods that do not tolerate it are not scheduled.
    NoSchedule,
    /// A preference only: never blocks scheduling.
    PreferNoSchedule,
    /// Pods that do not tolerate it are not scheduled (and are evicted).
    NoExecute,
}

impl TaintEffect {
    /// Every effect, in declaration order.
    pub const ALL: [TaintEffect; 3] = [Self::NoSchedule, Self::PreferNoSchedule, Self::NoExecute];

    /// Parses the Kubernetes spelling; None for an unknown effect.
    #[inline]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == text)
    }

    /// The Kubernetes spelling, e.g. `NoSchedule`.
    #[inline]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NoSchedule => "NoSchedule",
            Self::PreferNoSchedule => "PreferNoSchedule",
            Self::NoExecute => "NoExecute",
        }
    }

    /// Whether an untolerated taint of this effect keeps a pod off the node: NoSchedule and
    /// NoExecute do, PreferNoSchedule never does.
    #[inline]
    pub fn blocks_scheduling(self) -> bool {
        self != Self::PreferNoSchedule
    }
}

/// Operator of a toleration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TolerationOperator {
    /// The taint's value must equal the toleration's.
    Equal,
    /// Any value (and, without a key, any key).
    Exists,
}

impl TolerationOperator {
    /// Parses the Kubernetes spelling; None for an unknown operator (Kubernetes reads an empty
    /// operator as `Equal`; that defaulting is the caller's).
    #[inline]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "Equal" => Some(Self::Equal),
            "Exists" => Some(Self::Exists),
            _ => None,
        }
    }

    /// The Kubernetes spelling.
    #[inline]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Equal => "Equal",
            Self::Exists => "Exists",
        }
    }
}

/// A node taint, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Taint<'a> {
    /// Key.
    pub key: &'a str,
    /// Value (may be empty).
    pub value: &'a str,
    /// Effect.
    pub effect: TaintEffect,
}

/// A pod toleration, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Toleration<'a> {
    /// The taint key it applies to; None for Kubernetes' empty key (with `Exists`: every key).
    pub key: Option<&'a str>,
    /// How the value is compared.
    pub operator: TolerationOperator,
    /// Value compared by `Equal` (ignored by `Exists`).
    pub value: &'a str,
    /// The effect it applies to; None for every effect.
    pub effect: Option<TaintEffect>,
}

/// A type that can be read as a [`Taint`].
pub trait AsTaint {
    /// The taint's fields, borrowed.
    fn as_taint(&self) -> Taint<'_>;
}

/// A type that can be read as a [`Toleration`].
pub trait AsToleration {
    /// The toleration's fields, borrowed.
    fn as_toleration(&self) -> Toleration<'_>;
}

impl AsTaint for Taint<'_> {
    #[inline]
    fn as_taint(&self) -> Taint<'_> {
        *self
    }
}

impl AsToleration for Toleration<'_> {
    #[inline]
    fn as_toleration(&self) -> Toleration<'_> {
        *self
    }
}

/// The toleration rule: whether `toleration` tolerates `taint`.
///
/// A toleration with an effect only applies to taints of that effect. Without a key, `Exists`
/// tolerates every taint and `Equal` none (Kubernetes refuses that combination). With a key,
/// the taint's key must be the same, and `Equal` also needs the same value.
#[inline]
pub fn tolerates(toleration: &Toleration<'_>, taint: &Taint<'_>) -> bool {
    if toleration.effect.is_some_and(|e| e != taint.effect) {
        return false;
    }
    match (toleration.key, toleration.operator) {
        (None, TolerationOperator::Exists) => true,
        (None, TolerationOperator::Equal) => false,
        (Some(key), TolerationOperator::Exists) => key == taint.key,
        (Some(key), TolerationOperator::Equal) => {
            key == taint.key && toleration.value == taint.value
        }
    }
}

/// The first of `taints` that keeps a pod with `tolerations` off the node: one that
/// [blocks scheduling](TaintEffect::blocks_scheduling) and that no toleration tolerates.
#[inline]
pub fn first_untolerated<'t, T: AsTaint, L: AsToleration>(
    taints: &'t [T],
    tolerations: &[L],
) -> Option<&'t T> {
    taints.iter().find(|t| {
        let taint = t.as_taint();
        taint.effect.blocks_scheduling()
            && !tolerations
                .iter()
                .any(|tol| tolerates(&tol.as_toleration(), &taint))
    })
}

/// Whether a pod with `tolerations` may schedule on a node with `taints` (no taint of
/// [`first_untolerated`]).
#[inline]
pub fn all_tolerated<T: AsTaint, L: AsToleration>(taints: &[T], tolerations: &[L]) -> bool {
    first_untolerated(taints, tolerations).is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use TaintEffect::*;
    use TolerationOperator::*;

    fn taint<'a>(key: &'a str, value: &'a str, effect: TaintEffect) -> Taint<'a> {
        Taint { key, value, effect }
    }

    fn tol<'a>(
        key: Option<&'a str>,
        operator: TolerationOperator,
        value: &'a str,
        effect: Option<TaintEffect>,
    ) -> Toleration<'a> {
        Toleration {
            key,
            operator,
            value,
            effect,
        }
    }

    #[test]
    fn spellings_round_trip() {
        for e in TaintEffect::ALL {
            assert_eq!(TaintEffect::parse(e.as_str()), Some(e));
        }
        assert_eq!(TaintEffect::parse("noschedule"), None);
        for op in [Equal, Exists] {
            assert_eq!(TolerationOperator::parse(op.as_str()), Some(op));
        }
        assert_eq!(TolerationOperator::parse(""), None);
    }

    #[test]
    fn equal_needs_key_and_value() {
        let gpu = taint("nvidia.com/gpu", "true", NoSchedule);
        assert!(tolerates(
            &tol(Some("nvidia.com/gpu"), Equal, "true", None),
            &gpu
        ));
        assert!(!tolerates(
            &tol(Some("nvidia.com/gpu"), Equal, "false", None),
            &gpu
        ));
        assert!(!tolerates(
            &tol(Some("nvidia.com/gpu"), Equal, "", None),
            &gpu
        ));
        assert!(!tolerates(&tol(Some("other"), Equal, "true", None), &gpu));
        // An empty value equals an empty value.
        let bare = taint("dedicated", "", NoSchedule);
        assert!(tolerates(&tol(Some("dedicated"), Equal, "", None), &bare));
    }

    #[test]
    fn exists_ignores_the_value() {
        let gpu = taint("nvidia.com/gpu", "true", NoSchedule);
        assert!(tolerates(
            &tol(Some("nvidia.com/gpu"), Exists, "", None),
            &gpu
        ));
        assert!(tolerates(
            &tol(Some("nvidia.com/gpu"), Exists, "x", None),
            &gpu
        ));
        assert!(!tolerates(&tol(Some("other"), Exists, "", None), &gpu));
    }

    #[test]
    fn empty_key() {
        let gpu = taint("nvidia.com/gpu", "true", NoSchedule);
        let evict = taint("node.kubernetes.io/unreachable", "", NoExecute);
        // Exists without a key tolerates every taint, of any effect...
        assert!(tolerates(&tol(None, Exists, "", None), &gpu));
        assert!(tolerates(&tol(None, Exists, "", None), &evict));
        // ...or of its effect only.
        assert!(tolerates(&tol(None, Exists, "", Some(NoExecute)), &evict));
        assert!(!tolerates(&tol(None, Exists, "", Some(NoExecute)), &gpu));
        // Equal without a key tolerates nothing, even an equal value.
        assert!(!tolerates(&tol(None, Equal, "true", None), &gpu));
        assert!(!tolerates(&tol(None, Equal, "", None), &evict));
    }

    #[test]
    fn effects_must_match() {
        let no_schedule = taint("k", "v", NoSchedule);
        let no_execute = taint("k", "v", NoExecute);
        let prefer = taint("k", "v", PreferNoSchedule);
        let for_no_execute = tol(Some("k"), Equal, "v", Some(NoExecute));
        let for_no_schedule = tol(Some("k"), Equal, "v", Some(NoSchedule));
        let for_any = tol(Some("k"), Equal, "v", None);
        assert!(tolerates(&for_no_execute, &no_execute));
        assert!(!tolerates(&for_no_execute, &no_schedule));
        assert!(tolerates(&for_no_schedule, &no_schedule));
        assert!(!tolerates(&for_no_schedule, &no_execute));
        assert!(!tolerates(&for_no_schedule, &prefer));
        for t in [no_schedule, no_execute, prefer] {
            assert!(tolerates(&for_any, &t));
        }
    }

    #[test]
    fn only_no_schedule_and_no_execute_block() {
        assert!(NoSchedule.blocks_scheduling());
        assert!(NoExecute.blocks_scheduling());
        assert!(!PreferNoSchedule.blocks_scheduling());
        let taints = [
            taint("soft", "", PreferNoSchedule),
            taint("hard", "x", NoExecute),
            taint("gpu", "true", NoSchedule),
        ];
        let none: [Toleration<'_>; 0] = [];
        assert_eq!(first_untolerated(&taints, &none), Some(&taints[1]));
        let hard = [tol(Some("hard"), Exists, "", None)];
        assert_eq!(first_untolerated(&taints, &hard), Some(&taints[2]));
        assert!(!all_tolerated(&taints, &hard));
        let both = [hard[0], tol(Some("gpu"), Equal, "true", Some(NoSchedule))];
        assert_eq!(first_untolerated(&taints, &both), None);
        assert!(all_tolerated(&taints, &both));
        // A NoSchedule toleration does not let a pod onto a NoExecute taint.
        let wrong_effect = [tol(Some("hard"), Exists, "", Some(NoSchedule)), both[1]];
        assert_eq!(first_untolerated(&taints, &wrong_effect), Some(&taints[1]));
        let untainted: [Taint<'_>; 0] = [];
        assert!(all_tolerated(&untainted, &none));
    }
}
