//! Requirement operators (`In`, `NotIn`, `Exists`, `DoesNotExist`, `Gt`, `Lt`) and the one
//! rule deciding whether a label value satisfies them, with Kubernetes' semantics (as
//! `k8s.io/apimachinery/pkg/labels` matches a node selector requirement).

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
}

impl Operator {
    /// Every operator, in declaration order.
    pub const ALL: [Operator; 6] = [
        Self::In,
        Self::NotIn,
        Self::Exists,
        Self::DoesNotExist,
        Self::Gt,
        Self::Lt,
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
        }
    }
}

/// Whether a label value (`None`: the label is absent) satisfies `operator` with `values`.
///
/// - `In`: present and equal to one of `values`; `NotIn`: absent or equal to none of them.
/// - `Exists` / `DoesNotExist`: present / absent, whatever `values` holds.
/// - `Gt` / `Lt`: present, `values` holds exactly one element, and both the label value and
///   that element parse as `i64` (no trimming, as Kubernetes' `strconv.ParseInt`); the label
///   value is then compared with it. Anything else (absent label, several values, a
///   non-numeric value on either side) does not match.
#[inline]
pub fn matches<S: AsRef<str>>(operator: Operator, values: &[S], label_value: Option<&str>) -> bool {
    let listed = |v: &str| values.iter().any(|x| x.as_ref() == v);
    match operator {
        Operator::In => label_value.is_some_and(listed),
        Operator::NotIn => label_value.is_none_or(|v| !listed(v)),
        Operator::Exists => label_value.is_some(),
        Operator::DoesNotExist => label_value.is_none(),
        Operator::Gt | Operator::Lt => {
            let (Some(value), [bound]) = (label_value, values) else {
                return false;
            };
            match (value.parse::<i64>(), bound.as_ref().parse::<i64>()) {
                (Ok(have), Ok(bound)) if operator == Operator::Gt => have > bound,
                (Ok(have), Ok(bound)) => have < bound,
                _ => false,
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
