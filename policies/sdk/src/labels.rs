//! Node labels and requirement matching.
//!
//! A new node's labels are implied by its NodePool, flavor and zone ([`NewNodeLabels`]): the
//! well-known labels of [`well_known`] plus the NodePool's template labels. Requirements (of a
//! pod or of a NodePool) are matched against any [`LabelSource`] without allocating, by the
//! contract's rule ([`karpenter_ovhcloud_contract::matches`]), the one the host validates
//! answers with.

use std::borrow::Cow;

use karpenter_ovhcloud_contract as contract;

use crate::types::{Category, Flavor, Label, Nodepool, Operator, Requirement};

/// Label keys the controller puts on every node it launches, and their fixed values: the
/// contract's ([`karpenter_ovhcloud_contract::labels`]).
pub mod well_known {
    pub use karpenter_ovhcloud_contract::labels::{
        ARCH, CAPACITY_TYPE, FLAVOR_CATEGORY, FLAVOR_FAMILY, FLAVOR_GENERATION, HOSTNAME,
        INSTANCE_TYPE, NODEPOOL, OS, REGION, ZONE,
    };

    /// The only architecture of OVHcloud MKS nodes.
    pub use karpenter_ovhcloud_contract::labels::ARCH_AMD64 as AMD64;
    /// The only capacity type OVHcloud offers.
    pub use karpenter_ovhcloud_contract::labels::CAPACITY_TYPE_ON_DEMAND as ON_DEMAND;
    /// The only OS of OVHcloud MKS nodes.
    pub use karpenter_ovhcloud_contract::labels::OS_LINUX as LINUX;
}

/// The value of the `karpenter.ovhcloud.sh/flavor-category` label for a category.
pub fn category_label(category: Category) -> &'static str {
    use contract::labels::category;
    match category {
        Category::GeneralPurpose => category::GENERAL_PURPOSE,
        Category::ComputeOptimized => category::COMPUTE_OPTIMIZED,
        Category::MemoryOptimized => category::MEMORY_OPTIMIZED,
        Category::Discovery => category::DISCOVERY,
        Category::IopsOptimized => category::IOPS_OPTIMIZED,
        Category::Gpu => category::GPU,
        Category::Other => category::OTHER,
    }
}

impl From<Operator> for contract::Operator {
    fn from(op: Operator) -> Self {
        match op {
            Operator::In => Self::In,
            Operator::NotIn => Self::NotIn,
            Operator::Exists => Self::Exists,
            Operator::DoesNotExist => Self::DoesNotExist,
            Operator::Gt => Self::Gt,
            Operator::Lt => Self::Lt,
            Operator::Gte => Self::Gte,
            Operator::Lte => Self::Lte,
        }
    }
}

impl From<contract::Operator> for Operator {
    fn from(op: contract::Operator) -> Self {
        match op {
            contract::Operator::In => Self::In,
            contract::Operator::NotIn => Self::NotIn,
            contract::Operator::Exists => Self::Exists,
            contract::Operator::DoesNotExist => Self::DoesNotExist,
            contract::Operator::Gt => Self::Gt,
            contract::Operator::Lt => Self::Lt,
            contract::Operator::Gte => Self::Gte,
            contract::Operator::Lte => Self::Lte,
        }
    }
}

/// Anything labels can be looked up in.
pub trait LabelSource {
    /// The value of label `key`, if the node carries it.
    fn label(&self, key: &str) -> Option<Cow<'_, str>>;
}

impl LabelSource for [Label] {
    fn label(&self, key: &str) -> Option<Cow<'_, str>> {
        self.iter()
            .find(|l| l.key == key)
            .map(|l| Cow::Borrowed(l.value.as_str()))
    }
}

impl LabelSource for Vec<Label> {
    fn label(&self, key: &str) -> Option<Cow<'_, str>> {
        self.as_slice().label(key)
    }
}

/// The well-known labels a node of `flavor` in `zone` carries.
#[derive(Debug, Clone, Copy)]
pub struct FlavorLabels<'a> {
    /// The flavor (instance type, family, generation, category).
    pub flavor: &'a Flavor,
    /// The zone (`topology.kubernetes.io/zone`).
    pub zone: &'a str,
    /// The region (`topology.kubernetes.io/region`).
    pub region: &'a str,
    /// The NodePool (`karpenter.sh/nodepool`).
    pub nodepool: &'a str,
}

impl<'a> FlavorLabels<'a> {
    /// The value of well-known label `key`, borrowed from the flavor where possible.
    pub fn get(&self, key: &str) -> Option<Cow<'a, str>> {
        use well_known::*;
        let v: Cow<'a, str> = match key {
            INSTANCE_TYPE => Cow::Borrowed(&self.flavor.name),
            ZONE => Cow::Borrowed(self.zone),
            REGION => Cow::Borrowed(self.region),
            NODEPOOL => Cow::Borrowed(self.nodepool),
            CAPACITY_TYPE => Cow::Borrowed(ON_DEMAND),
            FLAVOR_FAMILY => Cow::Borrowed(&self.flavor.family),
            FLAVOR_GENERATION => Cow::Owned(self.flavor.generation.to_string()),
            FLAVOR_CATEGORY => Cow::Borrowed(category_label(self.flavor.category)),
            ARCH => Cow::Borrowed(AMD64),
            OS => Cow::Borrowed(LINUX),
            _ => return None,
        };
        Some(v)
    }
}

impl LabelSource for FlavorLabels<'_> {
    fn label(&self, key: &str) -> Option<Cow<'_, str>> {
        self.get(key)
    }
}

/// The labels of a node that `pool` would launch with `flavor` in `zone`: the well-known
/// labels, then the NodePool's template labels.
#[derive(Debug, Clone, Copy)]
pub struct NewNodeLabels<'a> {
    /// The NodePool that would launch the node (its template labels come last).
    pub pool: &'a Nodepool,
    /// The node's flavor.
    pub flavor: &'a Flavor,
    /// The node's zone.
    pub zone: &'a str,
}

impl<'a> NewNodeLabels<'a> {
    /// Labels of a new node of `pool` with `flavor` in `zone`.
    pub fn new(pool: &'a Nodepool, flavor: &'a Flavor, zone: &'a str) -> Self {
        NewNodeLabels { pool, flavor, zone }
    }

    fn well_known(&self) -> FlavorLabels<'a> {
        FlavorLabels {
            flavor: self.flavor,
            zone: self.zone,
            region: &self.pool.nodeclass.region,
            nodepool: &self.pool.name,
        }
    }

    /// The first NodePool requirement this flavor/zone violates. Only requirements on labels
    /// the node's flavor, zone or template determine are checked: a requirement on any other
    /// key defines a label of the node rather than filtering flavors.
    pub fn unmet_pool_requirement(&self) -> Option<&'a Requirement> {
        let pool: &'a Nodepool = self.pool;
        pool.requirements.iter().find(|r| match self.label(&r.key) {
            Some(v) => !value_matches(r.operator, &r.values, Some(&v)),
            None => false,
        })
    }

    /// True when a pod requirement can be met by this node: by a label the node carries, or,
    /// for a key only the NodePool's requirements mention, by some value they allow.
    pub fn admits_pod_requirement(&self, req: &Requirement) -> bool {
        if let Some(v) = self.label(&req.key) {
            return value_matches(req.operator, &req.values, Some(&v));
        }
        let mut pool_reqs = self
            .pool
            .requirements
            .iter()
            .filter(|r| r.key == req.key)
            .peekable();
        if pool_reqs.peek().is_none() {
            return value_matches(req.operator, &req.values, None);
        }
        let pool_reqs: Vec<&Requirement> = pool_reqs.collect();
        // Values the NodePool pins the label to (intersection of its `In` requirements).
        let pinned: Option<Vec<&str>> = pool_reqs
            .iter()
            .filter(|r| r.operator == Operator::In)
            .fold(None, |acc: Option<Vec<&str>>, r| {
                let vals = r.values.iter().map(String::as_str);
                Some(match acc {
                    None => vals.collect(),
                    Some(prev) => prev
                        .into_iter()
                        .filter(|v| r.values.iter().any(|x| x == v))
                        .collect(),
                })
            });
        let allowed = |v: &str| {
            pool_reqs
                .iter()
                .all(|r| value_matches(r.operator, &r.values, Some(v)))
        };
        match pinned {
            Some(values) => values
                .into_iter()
                .any(|v| allowed(v) && value_matches(req.operator, &req.values, Some(v))),
            // No pinned value: the label can take any value the pool allows, so only
            // requirements that demand its absence, or a value the pool excludes, fail.
            None => match req.operator {
                Operator::DoesNotExist => pool_reqs
                    .iter()
                    .all(|r| matches!(r.operator, Operator::NotIn | Operator::DoesNotExist)),
                Operator::In => req.values.iter().any(|v| allowed(v)),
                _ => true,
            },
        }
    }

    /// The first pod requirement this node cannot meet.
    pub fn unmet_pod_requirement<'r>(&self, reqs: &'r [Requirement]) -> Option<&'r Requirement> {
        reqs.iter().find(|r| !self.admits_pod_requirement(r))
    }
}

impl LabelSource for NewNodeLabels<'_> {
    fn label(&self, key: &str) -> Option<Cow<'_, str>> {
        self.well_known()
            .get(key)
            .or_else(|| self.pool.labels.label(key))
    }
}

/// Whether a label value (`None`: absent) satisfies an operator and its values, with
/// Kubernetes' semantics (`NotIn` and `DoesNotExist` hold for an absent label; `Gt`/`Lt`
/// compare a label value and a single value that are both integers, and fail on anything
/// else). The contract's rule: [`karpenter_ovhcloud_contract::matches`].
pub fn value_matches(operator: Operator, values: &[String], value: Option<&str>) -> bool {
    contract::matches(operator.into(), values, value)
}

impl Requirement {
    /// Whether `labels` satisfy this requirement.
    pub fn matches<L: LabelSource + ?Sized>(&self, labels: &L) -> bool {
        value_matches(
            self.operator,
            &self.values,
            labels.label(&self.key).as_deref(),
        )
    }

    /// Kubernetes-like text, e.g. `node.kubernetes.io/instance-type In [b3-8, b3-16]`.
    pub fn describe(&self) -> String {
        let op = contract::Operator::from(self.operator).as_str();
        match self.operator {
            Operator::Exists | Operator::DoesNotExist => format!("{} {op}", self.key),
            _ => format!("{} {} [{}]", self.key, op, self.values.join(", ")),
        }
    }
}

/// The first requirement of `reqs` that `labels` do not satisfy.
pub fn first_unmet<'r, L: LabelSource + ?Sized>(
    reqs: &'r [Requirement],
    labels: &L,
) -> Option<&'r Requirement> {
    reqs.iter().find(|r| !r.matches(labels))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{flavor, nodepool, req};

    #[test]
    fn operators_follow_kubernetes() {
        let v = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(value_matches(Operator::In, &v(&["a", "b"]), Some("b")));
        assert!(!value_matches(Operator::In, &v(&["a"]), None));
        assert!(value_matches(Operator::NotIn, &v(&["a"]), None));
        assert!(!value_matches(Operator::NotIn, &v(&["a"]), Some("a")));
        assert!(value_matches(Operator::Exists, &[], Some("")));
        assert!(!value_matches(Operator::Exists, &[], None));
        assert!(value_matches(Operator::DoesNotExist, &[], None));
        assert!(value_matches(Operator::Gt, &v(&["2"]), Some("3")));
        assert!(!value_matches(Operator::Gt, &v(&["3"]), Some("3")));
        assert!(value_matches(Operator::Lt, &v(&["3"]), Some("2")));
        assert!(!value_matches(Operator::Lt, &v(&["x"]), Some("2")));
        assert!(!value_matches(Operator::Gt, &v(&["1", "2"]), Some("3")));
        assert!(!value_matches(Operator::Gt, &v(&["1"]), None));
        // Not trimmed, as in Kubernetes.
        assert!(!value_matches(Operator::Gt, &v(&["1"]), Some(" 3")));
        for op in contract::Operator::ALL {
            assert_eq!(contract::Operator::from(Operator::from(op)), op);
        }
    }

    #[test]
    fn new_node_carries_the_well_known_labels() {
        let f = flavor("b3-16", 4000, 16, 0.1023);
        let p = nodepool("demo-pool", vec![]);
        let l = NewNodeLabels::new(&p, &f, "eu-west-par-b");
        let get = |k: &str| l.label(k).map(|v| v.into_owned());
        assert_eq!(get(well_known::INSTANCE_TYPE).as_deref(), Some("b3-16"));
        assert_eq!(get(well_known::ZONE).as_deref(), Some("eu-west-par-b"));
        assert_eq!(get(well_known::REGION).as_deref(), Some("EU-WEST-PAR"));
        assert_eq!(get(well_known::NODEPOOL).as_deref(), Some("demo-pool"));
        assert_eq!(get(well_known::CAPACITY_TYPE).as_deref(), Some("on-demand"));
        assert_eq!(get(well_known::FLAVOR_FAMILY).as_deref(), Some("b3"));
        assert_eq!(get(well_known::FLAVOR_GENERATION).as_deref(), Some("3"));
        assert_eq!(
            get(well_known::FLAVOR_CATEGORY).as_deref(),
            Some("general-purpose")
        );
        assert_eq!(get(well_known::ARCH).as_deref(), Some("amd64"));
        assert_eq!(get(well_known::OS).as_deref(), Some("linux"));
        assert_eq!(get(well_known::HOSTNAME), None);
        assert_eq!(get("workload-type").as_deref(), Some("demo-pool"));
    }

    #[test]
    fn pool_requirements_filter_flavors_and_zones() {
        let p = nodepool(
            "demo-pool",
            vec![
                req(well_known::INSTANCE_TYPE, Operator::In, &["b3-8", "b3-16"]),
                req(well_known::ZONE, Operator::NotIn, &["eu-west-par-c"]),
                req("team", Operator::In, &["a", "b"]),
            ],
        );
        let b3_8 = flavor("b3-8", 2000, 8, 0.0512);
        let b3_32 = flavor("b3-32", 8000, 32, 0.2046);
        assert!(NewNodeLabels::new(&p, &b3_8, "eu-west-par-a")
            .unmet_pool_requirement()
            .is_none());
        assert_eq!(
            NewNodeLabels::new(&p, &b3_32, "eu-west-par-a")
                .unmet_pool_requirement()
                .map(|r| r.key.as_str()),
            Some(well_known::INSTANCE_TYPE)
        );
        assert!(NewNodeLabels::new(&p, &b3_8, "eu-west-par-c")
            .unmet_pool_requirement()
            .is_some());
    }

    #[test]
    fn pod_requirements_on_pool_defined_labels() {
        let p = nodepool(
            "p",
            vec![
                req("team", Operator::In, &["a", "b"]),
                req("tier", Operator::Exists, &[]),
            ],
        );
        let f = flavor("b3-8", 2000, 8, 0.0512);
        let n = NewNodeLabels::new(&p, &f, "eu-west-par-a");
        assert!(n.admits_pod_requirement(&req("team", Operator::In, &["b", "c"])));
        assert!(!n.admits_pod_requirement(&req("team", Operator::In, &["c"])));
        assert!(n.admits_pod_requirement(&req("team", Operator::NotIn, &["a"])));
        assert!(!n.admits_pod_requirement(&req("team", Operator::NotIn, &["a", "b"])));
        assert!(!n.admits_pod_requirement(&req("team", Operator::DoesNotExist, &[])));
        assert!(n.admits_pod_requirement(&req("tier", Operator::In, &["gold"])));
        assert!(!n.admits_pod_requirement(&req("tier", Operator::DoesNotExist, &[])));
        // A key nobody defines is absent.
        assert!(!n.admits_pod_requirement(&req("gpu", Operator::Exists, &[])));
        assert!(n.admits_pod_requirement(&req("gpu", Operator::DoesNotExist, &[])));
        // Well-known and template labels.
        assert!(n.admits_pod_requirement(&req(well_known::NODEPOOL, Operator::In, &["p"])));
        assert!(!n.admits_pod_requirement(&req(
            well_known::FLAVOR_GENERATION,
            Operator::Lt,
            &["3"]
        )));
        assert!(n.admits_pod_requirement(&req("workload-type", Operator::In, &["p"])));
    }

    #[test]
    fn requirement_text() {
        assert_eq!(
            req(well_known::INSTANCE_TYPE, Operator::In, &["b3-8", "b3-16"]).describe(),
            "node.kubernetes.io/instance-type In [b3-8, b3-16]"
        );
        assert_eq!(req("x", Operator::Exists, &[]).describe(), "x Exists");
    }

    #[test]
    fn first_unmet_on_plain_labels() {
        let labels = vec![Label {
            key: "a".into(),
            value: "1".into(),
        }];
        let reqs = [
            req("a", Operator::In, &["1"]),
            req("b", Operator::Exists, &[]),
        ];
        assert_eq!(
            first_unmet(&reqs[..], &labels).map(|r| r.key.as_str()),
            Some("b")
        );
    }
}
