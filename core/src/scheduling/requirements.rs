//! Node selector requirements (In, NotIn, Exists, DoesNotExist, Gt, Lt) and label selectors.

use std::collections::BTreeMap;

/// Labels of a node or a pod.
pub type Labels = BTreeMap<String, String>;

/// Operator of a requirement, as in Kubernetes' `NodeSelectorRequirement`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is not one of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's integer value is greater than the single value.
    Gt,
    /// The label's integer value is less than the single value.
    Lt,
}

impl Operator {
    /// Parses the Kubernetes spelling; None for an unknown operator.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "In" => Self::In,
            "NotIn" => Self::NotIn,
            "Exists" => Self::Exists,
            "DoesNotExist" => Self::DoesNotExist,
            "Gt" => Self::Gt,
            "Lt" => Self::Lt,
            _ => return None,
        })
    }
}

/// One requirement on labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirement {
    /// Label key.
    pub key: String,
    /// Operator.
    pub operator: Operator,
    /// Values for In/NotIn, one integer for Gt/Lt.
    pub values: Vec<String>,
}

impl Requirement {
    /// A requirement from its parts.
    pub fn new(key: &str, operator: Operator, values: &[&str]) -> Self {
        Self {
            key: key.to_string(),
            operator,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    /// Whether a label value (None when the label is absent) satisfies the requirement.
    pub fn allows(&self, value: Option<&str>) -> bool {
        match (self.operator, value) {
            (Operator::In, Some(v)) => self.values.iter().any(|x| x == v),
            (Operator::In, None) => false,
            (Operator::NotIn, Some(v)) => !self.values.iter().any(|x| x == v),
            (Operator::NotIn, None) => true,
            (Operator::Exists, v) => v.is_some(),
            (Operator::DoesNotExist, v) => v.is_none(),
            (Operator::Gt | Operator::Lt, None) => false,
            (op, Some(v)) => {
                let (Ok(have), Some(Ok(bound))) = (
                    v.parse::<i64>(),
                    self.values.first().map(|b| b.parse::<i64>()),
                ) else {
                    return false;
                };
                if op == Operator::Gt {
                    have > bound
                } else {
                    have < bound
                }
            }
        }
    }

    /// Whether the labels satisfy the requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.allows(labels.get(&self.key).map(String::as_str))
    }
}

/// The first requirement of `requirements` the labels do not satisfy.
pub fn first_unmet<'a>(
    requirements: &'a [Requirement],
    labels: &Labels,
) -> Option<&'a Requirement> {
    requirements.iter().find(|r| !r.matches(labels))
}

/// A Kubernetes label selector: `matchLabels` folded into `In` expressions (Gt/Lt unused).
/// An empty selector matches every pod, as in Kubernetes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LabelSelector {
    /// Every expression must hold.
    pub expressions: Vec<Requirement>,
}

impl LabelSelector {
    /// A selector from `matchLabels` only.
    pub fn labels<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut expressions: Vec<Requirement> = pairs
            .into_iter()
            .map(|(k, v)| Requirement::new(k, Operator::In, &[v]))
            .collect();
        expressions.sort();
        Self { expressions }
    }

    /// Whether the labels match.
    pub fn matches(&self, labels: &Labels) -> bool {
        first_unmet(&self.expressions, labels).is_none()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn operators_follow_kubernetes() {
        let l = labels(&[("a", "x"), ("n", "7")]);
        assert!(Requirement::new("a", Operator::In, &["x", "y"]).matches(&l));
        assert!(!Requirement::new("a", Operator::In, &["y"]).matches(&l));
        assert!(!Requirement::new("b", Operator::In, &["x"]).matches(&l));
        assert!(Requirement::new("a", Operator::NotIn, &["y"]).matches(&l));
        assert!(!Requirement::new("a", Operator::NotIn, &["x"]).matches(&l));
        assert!(Requirement::new("b", Operator::NotIn, &["x"]).matches(&l));
        assert!(Requirement::new("a", Operator::Exists, &[]).matches(&l));
        assert!(!Requirement::new("b", Operator::Exists, &[]).matches(&l));
        assert!(Requirement::new("b", Operator::DoesNotExist, &[]).matches(&l));
        assert!(!Requirement::new("a", Operator::DoesNotExist, &[]).matches(&l));
        assert!(Requirement::new("n", Operator::Gt, &["6"]).matches(&l));
        assert!(!Requirement::new("n", Operator::Gt, &["7"]).matches(&l));
        assert!(Requirement::new("n", Operator::Lt, &["8"]).matches(&l));
        assert!(!Requirement::new("a", Operator::Lt, &["8"]).matches(&l));
        assert!(!Requirement::new("b", Operator::Gt, &["0"]).matches(&l));
        assert!(!Requirement::new("n", Operator::Gt, &["bad"]).matches(&l));
    }

    #[test]
    fn selectors() {
        let l = labels(&[("app", "web")]);
        assert!(LabelSelector::default().matches(&l));
        assert!(LabelSelector::labels([("app", "web")]).matches(&l));
        assert!(!LabelSelector::labels([("app", "db")]).matches(&l));
    }
}
