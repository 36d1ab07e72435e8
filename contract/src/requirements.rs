//! Requirement operators (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`, and Karpenter's
//! `Gte`, `Lte`) and the one rule deciding whether a label value satisfies them, with
//! Kubernetes' semantics (as `k8s.io/apimachinery/pkg/labels` matches a node selector
//! requirement; `Gte`/`Lte` as Karpenter's `scheduling.Requirement` does).

/// Operator of a requirement, as in Kubernetes' `NodeSelectorRequirement`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// The label is present and its value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's integer value is greater than the single integer value.
    Gt,
    /// The label's integer value is less than the single integer value.
    Lt,
    /// The label's integer value is at least the single integer value (Karpenter's `Gte`).
    Gte,
    /// The label's integer value is at most the single integer value (Karpenter's `Lte`).
    Lte,
}

impl Operator {
    /// Every operator, in declaration order.
    pub const ALL: [Operator; 8] = [
        Self::In,
        Self::NotIn,
        Self::Exists,
        Self::DoesNotExist,
        Self::Gt,
        Self::Lt,
        Self::Gte,
        Self::Lte,
    ];

    /// Parses the Kubernetes spelling (`In`, `NotIn`, ...); None for an unknown operator.
    #[inline]
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|op| op.as_str() == text)
    }

    /// The Kubernetes spelling, e.g. `NotIn`.
    #[inline]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::In => "In",
            Self::NotIn => "NotIn",
            Self::Exists => "Exists",
            Self::DoesNotExist => "DoesNotExist",
            Self::Gt => "Gt",
            Self::Lt => "Lt",
            Self::Gte => "Gte",
            Self::Lte => "Lte",
        }
    }

    /// Whether the operator compares the label as an integer with a single value.
    #[inline]
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Gt | Self::Lt | Self::Gte | Self::Lte)
    }

    /// The same requirement in Kubernetes' six operators: `Gte n` is `Gt n-1` and `Lte n` is
    /// `Lt n+1`, the same set of `i64` label values, except at the ends of `i64`: `Gte
    /// i64::MIN` and `Lte i64::MAX` lose that one end value, which `Gt`/`Lt` cannot include. A
    /// value that is not one integer is kept as it is: it matches nothing under either form.
    pub fn lowered<S: AsRef<str>>(self, values: &[S]) -> (Operator, Vec<String>) {
        let owned = || values.iter().map(|v| v.as_ref().to_owned()).collect();
        let bound = match values {
            [v] => v.as_ref().parse::<i64>().ok(),
            _ => None,
        };
        match (self, bound) {
            (Self::Gte, Some(n)) => (Self::Gt, vec![n.saturating_sub(1).to_string()]),
            (Self::Lte, Some(n)) => (Self::Lt, vec![n.saturating_add(1).to_string()]),
            (Self::Gte, None) => (Self::Gt, owned()),
            (Self::Lte, None) => (Self::Lt, owned()),
            (op, _) => (op, owned()),
        }
    }
}

/// Whether a label value (`None`: the label is absent) satisfies `operator` with `values`.
///
/// - `In`: present and equal to one of `values`; `NotIn`: absent or equal to none of them.
/// - `Exists` / `DoesNotExist`: present / absent, whatever `values` holds.
/// - `Gt` / `Lt` / `Gte` / `Lte`: present, `values` holds exactly one element, and both the
///   label value and that element parse as `i64` (no trimming, as Kubernetes'
///   `strconv.ParseInt`); the label value is then compared with it. Anything else (absent
///   label, several values, a non-numeric value on either side) does not match.
#[inline]
pub fn matches<S: AsRef<str>>(operator: Operator, values: &[S], label_value: Option<&str>) -> bool {
    let listed = |v: &str| values.iter().any(|x| x.as_ref() == v);
    match operator {
        Operator::In => label_value.is_some_and(listed),
        Operator::NotIn => label_value.is_none_or(|v| !listed(v)),
        Operator::Exists => label_value.is_some(),
        Operator::DoesNotExist => label_value.is_none(),
        Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte => {
            let (Some(value), [bound]) = (label_value, values) else {
                return false;
            };
            let (Ok(have), Ok(bound)) = (value.parse::<i64>(), bound.as_ref().parse::<i64>())
            else {
                return false;
            };
            match operator {
                Operator::Gt => have > bound,
                Operator::Lt => have < bound,
                Operator::Gte => have >= bound,
                _ => have <= bound,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(op: Operator, values: &[&str], label: Option<&str>) -> bool {
        matches(op, values, label)
    }

    #[test]
    fn spelling_round_trips() {
        for op in Operator::ALL {
            assert_eq!(Operator::parse(op.as_str()), Some(op));
        }
        assert_eq!(Operator::parse("in"), None);
        assert_eq!(Operator::parse(""), None);
    }

    #[test]
    fn in_and_not_in() {
        assert!(m(Operator::In, &["a", "b"], Some("b")));
        assert!(!m(Operator::In, &["a"], Some("c")));
        assert!(!m(Operator::In, &["a"], None));
        assert!(!m(Operator::In, &[], Some("a")));
        assert!(m(Operator::NotIn, &["a"], None));
        assert!(m(Operator::NotIn, &["a"], Some("b")));
        assert!(!m(Operator::NotIn, &["a", "b"], Some("b")));
        assert!(m(Operator::NotIn, &[], Some("b")));
        // Values are compared exactly.
        assert!(!m(Operator::In, &["A"], Some("a")));
        assert!(!m(Operator::In, &["a "], Some("a")));
    }

    #[test]
    fn exists_and_does_not_exist_ignore_values() {
        assert!(m(Operator::Exists, &[], Some("")));
        assert!(m(Operator::Exists, &["x"], Some("y")));
        assert!(!m(Operator::Exists, &[], None));
        assert!(m(Operator::DoesNotExist, &[], None));
        assert!(!m(Operator::DoesNotExist, &[], Some("")));
    }

    #[test]
    fn gt_and_lt_compare_integers() {
        assert!(m(Operator::Gt, &["2"], Some("3")));
        assert!(!m(Operator::Gt, &["3"], Some("3")));
        assert!(m(Operator::Lt, &["3"], Some("2")));
        assert!(!m(Operator::Lt, &["3"], Some("3")));
        assert!(m(Operator::Gt, &["-5"], Some("-4")));
        assert!(m(Operator::Lt, &["+5"], Some("4")));
        assert!(m(
            Operator::Gt,
            &[&i64::MIN.to_string()],
            Some(&i64::MAX.to_string())
        ));
    }

    #[test]
    fn gte_and_lte_include_the_bound_and_lower_to_the_same_set() {
        assert!(m(Operator::Gte, &["3"], Some("3")));
        assert!(!m(Operator::Gte, &["3"], Some("2")));
        assert!(m(Operator::Lte, &["3"], Some("3")));
        assert!(!m(Operator::Lte, &["3"], Some("4")));
        assert!(!m(Operator::Gte, &["3"], None));
        assert!(!m(Operator::Lte, &["x"], Some("1")));
        for op in [Operator::Gte, Operator::Lte] {
            for bound in ["-2", "0", "3", "x", "9223372036854775806"] {
                let (lower, values) = op.lowered(&[bound]);
                assert!(matches!(lower, Operator::Gt | Operator::Lt));
                for label in [
                    "-3",
                    "-2",
                    "-1",
                    "0",
                    "2",
                    "3",
                    "4",
                    "9223372036854775807",
                    "y",
                ] {
                    assert_eq!(
                        m(op, &[bound], Some(label)),
                        matches(lower, &values, Some(label)),
                        "{op:?} {bound} vs {lower:?} {values:?} on {label}"
                    );
                }
            }
        }
        assert_eq!(
            Operator::In.lowered(&["a"]),
            (Operator::In, vec!["a".to_owned()])
        );
    }

    #[test]
    fn gt_and_lt_fail_on_anything_but_one_integer() {
        // Absent label.
        assert!(!m(Operator::Gt, &["1"], None));
        assert!(!m(Operator::Lt, &["1"], None));
        // Non-numeric label value or bound.
        assert!(!m(Operator::Gt, &["1"], Some("b3")));
        assert!(!m(Operator::Lt, &["x"], Some("2")));
        assert!(!m(Operator::Gt, &["1"], Some("")));
        assert!(!m(Operator::Gt, &["1.5"], Some("2")));
        assert!(!m(Operator::Gt, &["1"], Some("2.0")));
        // Not trimmed, like strconv.ParseInt.
        assert!(!m(Operator::Gt, &["1"], Some(" 2")));
        assert!(!m(Operator::Gt, &[" 1"], Some("2")));
        // Out of i64's range.
        assert!(!m(Operator::Gt, &["1"], Some("9223372036854775808")));
        // Not exactly one value.
        assert!(!m(Operator::Gt, &[], Some("2")));
        assert!(!m(Operator::Gt, &["1", "2"], Some("3")));
        assert!(!m(Operator::Lt, &["9", "1"], Some("0")));
    }

    #[test]
    fn values_may_be_owned_or_borrowed() {
        let owned = vec!["a".to_string()];
        assert!(matches(Operator::In, &owned, Some("a")));
        assert!(matches(Operator::In, &["a"], Some("a")));
    }
}
