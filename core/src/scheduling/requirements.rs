//! Node selector requirements (In, NotIn, Exists, DoesNotExist, Gt, Lt) and label selectors.
//! The operators and their matching rule are the contract's
//! ([`karpenter_ovhcloud_contract::requirements`]), shared with the policy SDK.

use std::collections::BTreeMap;

pub use karpenter_ovhcloud_contract::Operator;

/// Labels of a node or a pod.
pub type Labels = BTreeMap<String, String>;

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

    /// Whether a label value (None when the label is absent) satisfies the requirement
    /// ([`karpenter_ovhcloud_contract::matches`]).
    pub fn allows(&self, value: Option<&str>) -> bool {
        karpenter_ovhcloud_contract::matches(self.operator, &self.values, value)
    }

    /// Whether the labels satisfy the requirement.
    pub fn matches(&self, labels: &Labels) -> bool {
        self.allows(labels.get(&self.key).map(String::as_str))
    }
}

impl std::fmt::Display for Requirement {
    /// `key In [a, b]`, as `kubectl describe` shows a node selector term.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.key, self.operator.as_str())?;
        if !self.values.is_empty() {
            write!(f, " [{}]", self.values.join(", "))?;
        }
        Ok(())
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

impl std::fmt::Display for LabelSelector {
    /// Its expressions joined with commas; `{}` for the empty selector (every pod).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.expressions.is_empty() {
            return f.write_str("{}");
        }
        let parts: Vec<String> = self.expressions.iter().map(ToString::to_string).collect();
        f.write_str(&parts.join(", "))
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
        // Gt/Lt take exactly one value, as in Kubernetes.
        assert!(!Requirement::new("n", Operator::Gt, &["1", "2"]).matches(&l));
    }

    #[test]
    fn selectors() {
        let l = labels(&[("app", "web")]);
        assert!(LabelSelector::default().matches(&l));
        assert!(LabelSelector::labels([("app", "web")]).matches(&l));
        assert!(!LabelSelector::labels([("app", "db")]).matches(&l));
    }
}
