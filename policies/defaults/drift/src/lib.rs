//! The default drift policy.
//!
//! A NodeClaim whose NodePool is known is drifted, for the first reason that applies:
//!
//! 1. `nodepool-drifted`: its `karpenter.sh/nodepool-hash` differs from the NodePool's
//!    current template hash;
//! 2. `requirements-drifted`: its labels (completed by the well-known labels its flavor and
//!    zone imply) no longer satisfy the NodePool's requirements;
//! 3. `flavor-unavailable`: its flavor left the catalog, or is no longer offered in its zone
//!    (being out of stock is not drift: the node runs);
//! 4. `nodeclass-drifted`: the OVHNodeClass hash, region, monthly billing or anti-affinity
//!    differs from what it was launched with.
//!
//! NodeClaims of an unknown NodePool are left to the host's garbage collection.
//!
//! # Config (`data.config.json`, optional)
//!
//! ```json
//! { "disabledReasons": ["flavor-unavailable"] }
//! ```
//!
//! - `disabledReasons` (default none): reasons never reported, among `nodepool-drifted`,
//!   `requirements-drifted`, `flavor-unavailable`, `nodeclass-drifted`.

use std::borrow::Cow;

use karpenter_ovhcloud_policy_sdk::labels::{FlavorLabels, LabelSource};
use karpenter_ovhcloud_policy_sdk::types::{
    DriftDecision, DriftReason, DriftRequest, Drifted, Flavor, Label, Nodeclaim, Nodepool,
    PolicyMetadata,
};
use karpenter_ovhcloud_policy_sdk::{config, export_drift, Drift};

/// The policy's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Reasons never reported.
    pub disabled_reasons: Vec<String>,
}

/// The kebab-case name of a reason, as in the WIT and the config.
pub fn reason_name(reason: DriftReason) -> &'static str {
    match reason {
        DriftReason::NodepoolDrifted => "nodepool-drifted",
        DriftReason::RequirementsDrifted => "requirements-drifted",
        DriftReason::FlavorUnavailable => "flavor-unavailable",
        DriftReason::NodeclassDrifted => "nodeclass-drifted",
    }
}

const REASONS: [DriftReason; 4] = [
    DriftReason::NodepoolDrifted,
    DriftReason::RequirementsDrifted,
    DriftReason::FlavorUnavailable,
    DriftReason::NodeclassDrifted,
];

impl Config {
    /// Parses and validates a config string ("" is the default).
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c = config::Config::parse(text)?;
        let cfg = Config {
            disabled_reasons: c.strings("disabledReasons")?.unwrap_or_default(),
        };
        c.finish()?;
        for r in &cfg.disabled_reasons {
            if !REASONS.iter().any(|x| reason_name(*x) == r) {
                return Err(format!(
                    "invalid policy config: unknown drift reason `{r}` in disabledReasons"
                ));
            }
        }
        Ok(cfg)
    }

    fn enabled(&self, reason: DriftReason) -> bool {
        !self
            .disabled_reasons
            .iter()
            .any(|r| r == reason_name(reason))
    }
}

/// The policy's metadata.
pub fn metadata() -> PolicyMetadata {
    PolicyMetadata {
        name: "default-drift".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "NodePool template, requirement, flavor availability and NodeClass drift"
            .into(),
    }
}

/// A NodeClaim's labels, completed by the well-known labels of its flavor and zone.
struct ClaimLabels<'a> {
    labels: &'a [Label],
    implied: Option<FlavorLabels<'a>>,
}

impl LabelSource for ClaimLabels<'_> {
    fn label(&self, key: &str) -> Option<Cow<'_, str>> {
        self.labels
            .label(key)
            .or_else(|| self.implied.and_then(|f| f.get(key)))
    }
}

/// Why `claim` drifted from `pool`, if it did, first reason first.
fn drift_of(
    claim: &Nodeclaim,
    pool: &Nodepool,
    flavors: &[Flavor],
    cfg: &Config,
) -> Option<(DriftReason, String)> {
    let flavor = flavors.iter().find(|f| f.name == claim.flavor);
    let mut found = Vec::new();

    if claim.nodepool_hash != pool.template_hash {
        found.push((
            DriftReason::NodepoolDrifted,
            format!(
                "NodePool {} template changed (hash {} -> {})",
                pool.name, claim.nodepool_hash, pool.template_hash
            ),
        ));
    }

    let labels = ClaimLabels {
        labels: &claim.labels,
        implied: flavor.map(|f| FlavorLabels {
            flavor: f,
            zone: &claim.zone,
            region: &claim.region,
            nodepool: &claim.nodepool,
        }),
    };
    if let Some(r) = pool.requirements.iter().find(|r| !r.matches(&labels)) {
        found.push((
            DriftReason::RequirementsDrifted,
            format!(
                "labels no longer satisfy NodePool {} requirement {}",
                pool.name,
                r.describe()
            ),
        ));
    }

    match flavor {
        None => found.push((
            DriftReason::FlavorUnavailable,
            format!("flavor {} is no longer in the catalog", claim.flavor),
        )),
        Some(f) if f.offering(&claim.zone).is_none() => found.push((
            DriftReason::FlavorUnavailable,
            format!(
                "flavor {} is no longer offered in zone {}",
                claim.flavor, claim.zone
            ),
        )),
        Some(_) => {}
    }

    let class = &pool.nodeclass;
    let mut changes = Vec::new();
    if !claim.region.eq_ignore_ascii_case(&class.region) {
        changes.push(format!("region {} -> {}", claim.region, class.region));
    }
    if claim.monthly_billed != class.monthly_billed {
        changes.push(format!(
            "monthlyBilled {} -> {}",
            claim.monthly_billed, class.monthly_billed
        ));
    }
    if claim.anti_affinity != class.anti_affinity {
        changes.push(format!(
            "antiAffinity {} -> {}",
            claim.anti_affinity, class.anti_affinity
        ));
    }
    if !changes.is_empty() || claim.nodeclass_hash != class.hash {
        if changes.is_empty() {
            changes.push(format!("hash {} -> {}", claim.nodeclass_hash, class.hash));
        }
        found.push((
            DriftReason::NodeclassDrifted,
            format!(
                "OVHNodeClass {} changed: {}",
                class.name,
                changes.join(", ")
            ),
        ));
    }

    found.into_iter().find(|(r, _)| cfg.enabled(*r))
}

/// The policy, natively: what the component's `detect` export runs.
pub fn detect(request: &DriftRequest) -> Result<DriftDecision, String> {
    let cfg = Config::parse(&request.config)?;
    let drifted = request
        .nodeclaims
        .iter()
        .filter_map(|claim| {
            let pool = request
                .nodepools
                .iter()
                .find(|p| p.name == claim.nodepool)?;
            let (reason, message) = drift_of(claim, pool, &request.flavors, &cfg)?;
            Some(Drifted {
                nodeclaim: claim.name.clone(),
                reason,
                message,
            })
        })
        .collect();
    Ok(DriftDecision { drifted })
}

/// The component's export.
pub struct DefaultDrift;

impl Drift for DefaultDrift {
    fn metadata() -> PolicyMetadata {
        metadata()
    }

    fn detect(request: DriftRequest) -> Result<DriftDecision, String> {
        detect(&request)
    }
}

export_drift!(DefaultDrift);

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_ovhcloud_policy_sdk::labels::well_known;
    use karpenter_ovhcloud_policy_sdk::testing::{catalog, instance_types, nodepool, req, REGION};
    use karpenter_ovhcloud_policy_sdk::types::Operator;

    fn claim(name: &str, pool: &Nodepool, flavor: &str, zone: &str) -> Nodeclaim {
        Nodeclaim {
            name: name.into(),
            nodepool: pool.name.clone(),
            flavor: flavor.into(),
            zone: zone.into(),
            labels: vec![Label {
                key: "workload-type".into(),
                value: pool.name.clone(),
            }],
            nodepool_hash: pool.template_hash.clone(),
            nodeclass_hash: pool.nodeclass.hash.clone(),
            region: REGION.into(),
            monthly_billed: pool.nodeclass.monthly_billed,
            anti_affinity: pool.nodeclass.anti_affinity,
        }
    }

    fn demo_pool() -> Nodepool {
        nodepool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])])
    }

    fn run(claims: Vec<Nodeclaim>, pools: Vec<Nodepool>) -> Vec<(String, DriftReason, String)> {
        detect(&DriftRequest {
            nodeclaims: claims,
            nodepools: pools,
            flavors: catalog(),
            config: String::new(),
        })
        .unwrap()
        .drifted
        .into_iter()
        .map(|d| (d.nodeclaim, d.reason, d.message))
        .collect()
    }

    #[test]
    fn an_unchanged_claim_has_not_drifted() {
        let pool = demo_pool();
        let c = claim("c1", &pool, "b3-8", "eu-west-par-a");
        assert!(run(vec![c], vec![pool]).is_empty());
    }

    #[test]
    fn nodepool_template_change() {
        let mut pool = demo_pool();
        let c = claim("c1", &pool, "b3-8", "eu-west-par-a");
        pool.template_hash = "demo-pool-hash-2".into();
        let d = run(vec![c], vec![pool]);
        assert_eq!(d[0].1, DriftReason::NodepoolDrifted);
        assert_eq!(
            d[0].2,
            "NodePool demo-pool template changed (hash demo-pool-hash-1 -> demo-pool-hash-2)"
        );
    }

    #[test]
    fn requirements_no_longer_satisfied() {
        let mut pool = demo_pool();
        let c = claim("c1", &pool, "b3-16", "eu-west-par-a");
        pool.requirements = vec![instance_types(&["b3-8"])];
        let d = run(vec![c.clone()], vec![pool.clone()]);
        assert_eq!(d[0].1, DriftReason::RequirementsDrifted);
        assert!(
            d[0].2
                .contains("node.kubernetes.io/instance-type In [b3-8]"),
            "{}",
            d[0].2
        );
        // A requirement on a label the node lacks.
        pool.requirements = vec![req("team", Operator::In, &["a"])];
        assert_eq!(
            run(vec![c.clone()], vec![pool.clone()])[0].1,
            DriftReason::RequirementsDrifted
        );
        // Zone and family requirements use the implied labels.
        pool.requirements = vec![
            req(well_known::ZONE, Operator::In, &["eu-west-par-a"]),
            req(well_known::FLAVOR_FAMILY, Operator::In, &["b3"]),
            req(well_known::FLAVOR_GENERATION, Operator::Gt, &["2"]),
        ];
        assert!(run(vec![c], vec![pool]).is_empty());
    }

    #[test]
    fn flavor_gone_or_not_offered_in_the_zone() {
        let pool = nodepool("any", vec![]);
        let gone = claim("c1", &pool, "b3-7", "eu-west-par-a");
        let elsewhere = claim("c2", &pool, "b3-8", "gra9");
        let d = run(vec![gone, elsewhere], vec![pool]);
        assert_eq!(
            d[0],
            (
                "c1".into(),
                DriftReason::FlavorUnavailable,
                "flavor b3-7 is no longer in the catalog".into()
            )
        );
        assert_eq!(
            d[1],
            (
                "c2".into(),
                DriftReason::FlavorUnavailable,
                "flavor b3-8 is no longer offered in zone gra9".into()
            )
        );
    }

    #[test]
    fn out_of_stock_is_not_drift() {
        let pool = demo_pool();
        let c = claim("c1", &pool, "b3-8", "eu-west-par-a");
        let mut flavors = catalog();
        flavors
            .iter_mut()
            .for_each(|f| f.zones.iter_mut().for_each(|z| z.available = false));
        let d = detect(&DriftRequest {
            nodeclaims: vec![c],
            nodepools: vec![pool],
            flavors,
            config: String::new(),
        })
        .unwrap();
        assert!(d.drifted.is_empty());
    }

    #[test]
    fn nodeclass_changes() {
        let mut pool = demo_pool();
        let c = claim("c1", &pool, "b3-8", "eu-west-par-a");
        pool.nodeclass.monthly_billed = true;
        pool.nodeclass.anti_affinity = true;
        pool.nodeclass.hash = "nodeclass-hash-2".into();
        let d = run(vec![c.clone()], vec![pool.clone()]);
        assert_eq!(d[0].1, DriftReason::NodeclassDrifted);
        assert_eq!(
            d[0].2,
            "OVHNodeClass default changed: monthlyBilled false -> true, antiAffinity false -> true"
        );
        pool.nodeclass.monthly_billed = false;
        pool.nodeclass.anti_affinity = false;
        let d = run(vec![c.clone()], vec![pool.clone()]);
        assert_eq!(
            d[0].2,
            "OVHNodeClass default changed: hash nodeclass-hash-1 -> nodeclass-hash-2"
        );
        pool.nodeclass.hash = c.nodeclass_hash.clone();
        pool.nodeclass.region = "GRA9".into();
        assert!(run(vec![c], vec![pool])[0]
            .2
            .contains("region EU-WEST-PAR -> GRA9"));
    }

    #[test]
    fn first_reason_wins_and_reasons_can_be_disabled() {
        let mut pool = demo_pool();
        let c = claim("c1", &pool, "b3-64", "eu-west-par-a");
        pool.template_hash = "new".into();
        let mut r = DriftRequest {
            nodeclaims: vec![c.clone()],
            nodepools: vec![pool.clone()],
            flavors: catalog(),
            config: String::new(),
        };
        assert_eq!(
            detect(&r).unwrap().drifted[0].reason,
            DriftReason::NodepoolDrifted
        );
        r.config = r#"{"disabledReasons": ["nodepool-drifted"]}"#.into();
        assert_eq!(
            detect(&r).unwrap().drifted[0].reason,
            DriftReason::RequirementsDrifted
        );
        r.config = r#"{"disabledReasons": ["nodepool-drifted", "requirements-drifted"]}"#.into();
        assert!(detect(&r).unwrap().drifted.is_empty());
        r.config = r#"{"disabledReasons": ["bogus"]}"#.into();
        assert!(detect(&r)
            .unwrap_err()
            .contains("unknown drift reason `bogus`"));
        // Claims of an unknown NodePool are not drift.
        r.config = String::new();
        r.nodepools.clear();
        assert!(detect(&r).unwrap().drifted.is_empty());
    }
}
