//! NodePool validation: what the API server's schema lets through but no node can ever
//! satisfy. Upstream's runtime checks (an `In` without values, `Gt`/`Lt` without one
//! non-negative integer, `minValues` above the values given), requirements that contradict
//! each other (`In [b3-8]` with `NotIn [b3-8]`, `Exists` with `DoesNotExist`, `Gt 8` with
//! `Lt 4`), and requirements no flavor or zone of the catalog meets (`instance-type In [nope]`).
//! Each NodePool gets `ValidationSucceeded` with the reason, a Warning Event when it turns
//! bad, and provisioning leaves a failing NodePool out; a NodePool whose `nodeClassRef` names
//! no OVHNodeClass gets `NodeClassReady=False` (`NodeClassNotFound`).

use std::collections::{BTreeSet, HashMap};

use kube::{Api, ResourceExt};

use crate::api::condition::{self, ConditionStatus};
use crate::api::nodepool::{CONDITION_NODECLASS_READY, CONDITION_VALIDATION_SUCCEEDED};
use crate::api::{labels, NodePool, OVHNodeClass};
use crate::catalog::Catalog;
use crate::controller::context::Context;
use crate::controller::provisioning::nodeclass_of;
use crate::controller::watch::{list, readable, unreadable};
use crate::scheduling::convert;
use crate::scheduling::{Labels, Operator, Requirement};

/// `ValidationSucceeded=False`: a requirement is malformed or contradicts another.
pub const REASON_VALIDATION_FAILED: &str = "NodePoolValidationFailed";
/// `ValidationSucceeded=False`: no flavor of the region's catalog meets the requirements.
pub const REASON_NO_MATCHING_FLAVOR: &str = "NoMatchingFlavor";
/// `ValidationSucceeded=False`: no zone of the OVHNodeClass's region meets the requirements.
pub const REASON_NO_MATCHING_ZONE: &str = "NoMatchingZone";
/// `NodeClassReady=False`: the `nodeClassRef` names no OVHNodeClass.
pub const REASON_NODECLASS_NOT_FOUND: &str = "NodeClassNotFound";

/// Why a NodePool can never launch a node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// Condition reason.
    pub reason: &'static str,
    /// What is wrong, naming the requirement.
    pub message: String,
}

fn invalid(message: String) -> Invalid {
    Invalid {
        reason: REASON_VALIDATION_FAILED,
        message,
    }
}

/// The checks that need nothing but the NodePool: each requirement well formed, and the
/// requirements on one key not contradicting each other.
pub fn validate(pool: &NodePool) -> Result<(), Invalid> {
    let reqs = &pool.spec.template.spec.requirements;
    for api_req in reqs {
        let r = convert::nodepool_requirement(api_req);
        let (key, op, n) = (&r.key, r.operator, r.values.len());
        match op {
            Operator::In if n == 0 => {
                return Err(invalid(format!(
                    "requirement {key} In must have at least one value"
                )))
            }
            Operator::Exists | Operator::DoesNotExist if n > 0 => {
                return Err(invalid(format!(
                    "requirement {key} {op:?} must have no values, has {:?}",
                    r.values
                )))
            }
            _ => {}
        }
        // Checked as written: `Gte 0` is `Gt -1` once lowered.
        if api_req.operator.is_numeric()
            && (api_req.values.len() != 1 || api_req.values[0].parse::<u64>().is_err())
        {
            return Err(invalid(format!(
                "requirement {key} {:?} must have a single non-negative integer value, has {:?}",
                api_req.operator, api_req.values
            )));
        }
        if let Some(min) = api_req.min_values {
            let distinct = r.values.iter().collect::<BTreeSet<_>>().len();
            if op == Operator::In && (min < 1 || distinct < min as usize) {
                return Err(invalid(format!(
                    "requirement {key} In has minValues {min} but {distinct} distinct value(s)"
                )));
            }
        }
    }
    let keys: BTreeSet<&str> = reqs.iter().map(|r| r.key.as_str()).collect();
    for key in keys {
        let on_key: Vec<Requirement> = reqs
            .iter()
            .filter(|r| r.key == key)
            .map(convert::nodepool_requirement)
            .collect();
        if !satisfiable(&on_key) {
            let said: Vec<String> = reqs
                .iter()
                .filter(|r| r.key == key)
                .map(|r| format!("{:?} {:?}", r.operator, r.values))
                .collect();
            return Err(invalid(format!(
                "requirements on {key} contradict each other ({}): no value satisfies them all",
                said.join(", ")
            )));
        }
    }
    Ok(())
}

/// Whether some value of one key (or its absence) meets every requirement on it. Candidates:
/// absent, every value named, and the integers just past every bound.
fn satisfiable(on_key: &[Requirement]) -> bool {
    let mut candidates: Vec<Option<String>> = vec![None];
    for r in on_key {
        for v in &r.values {
            candidates.push(Some(v.clone()));
            if let Ok(n) = v.parse::<i64>() {
                candidates.push(Some((n + 1).to_string()));
                candidates.push(Some((n - 1).to_string()));
            }
        }
    }
    // A value no requirement names (what Exists, NotIn or nothing allow).
    candidates.push(Some("\u{1}unnamed".into()));
    candidates
        .iter()
        .any(|c| on_key.iter().all(|r| r.allows(c.as_deref())))
}

/// A NodePool's requirements, as the scheduling core reads them.
pub fn requirements(pool: &NodePool) -> Vec<Requirement> {
    pool.spec
        .template
        .spec
        .requirements
        .iter()
        .map(convert::nodepool_requirement)
        .collect()
}

/// Whether a flavor with these labels meets the requirements on the keys a flavor defines
/// (instance type, family, generation, category, capacity type, arch, os); requirements on
/// other keys (zone, region, custom labels) say nothing about the flavor.
pub fn flavor_allowed(reqs: &[Requirement], flavor_labels: &Labels) -> bool {
    reqs.iter()
        .filter(|r| flavor_labels.contains_key(&r.key))
        .all(|r| r.matches(flavor_labels))
}

/// The checks against what OVH offers: some flavor of `catalog` and some zone of the class's
/// region meet the requirements. An empty catalog (no class checked yet) passes.
pub fn offerable(pool: &NodePool, class: &OVHNodeClass, catalog: &Catalog) -> Result<(), Invalid> {
    let reqs = requirements(pool);
    if !catalog.flavors.is_empty()
        && !catalog
            .flavors
            .iter()
            .any(|f| flavor_allowed(&reqs, &f.labels()))
    {
        return Err(Invalid {
            reason: REASON_NO_MATCHING_FLAVOR,
            message: format!(
                "no flavor of region {} meets the requirements",
                class.spec.region
            ),
        });
    }
    let zones = crate::api::nodeclass::region_zones(&class.spec.region);
    let zone_reqs: Vec<&Requirement> = reqs.iter().filter(|r| r.key == labels::ZONE).collect();
    if !zones
        .iter()
        .any(|z| zone_reqs.iter().all(|r| r.allows(Some(z))))
    {
        return Err(Invalid {
            reason: REASON_NO_MATCHING_ZONE,
            message: format!(
                "no zone of region {} ({}) meets the requirements",
                class.spec.region,
                zones.join(", ")
            ),
        });
    }
    Ok(())
}

/// Every check: [`validate`], then [`offerable`] when the class is known.
pub fn check(
    pool: &NodePool,
    class: Option<&OVHNodeClass>,
    catalog: &Catalog,
) -> Result<(), Invalid> {
    validate(pool)?;
    match class {
        Some(c) => offerable(pool, c, catalog),
        None => Ok(()),
    }
}

/// The verdicts last reported, by NodePool name: (generation, validation, class found).
pub type Reported = HashMap<String, (Option<i64>, Result<(), Invalid>, bool)>;

/// Sets `ValidationSucceeded` (and `NodeClassReady` when the class is missing) on every
/// NodePool whose verdict changed since `reported`, with a Warning Event when it turns bad.
pub async fn reconcile(ctx: &Context, reported: &mut Reported) {
    let classes = list(&ctx.kube.caches.nodeclasses);
    let pools = readable(&ctx.kube.caches.nodepools);
    for pool in pools
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
    {
        let name = pool.name_any();
        let class = nodeclass_of(pool, &classes);
        let verdict = check(pool, class, &ctx.catalog.read().1);
        let found = class.is_some();
        let generation = pool.metadata.generation;
        let now = (generation, verdict.clone(), found);
        registration_health(ctx, pool, class).await;
        if reported.get(&name) == Some(&now) && up_to_date(pool, &verdict, found) {
            continue;
        }
        if reported.get(&name).map(|(_, v, f)| (v, *f)) != Some((&verdict, found)) {
            announce(ctx, pool, &verdict, found).await;
        }
        write_conditions(ctx, &name, &verdict, found).await;
        reported.insert(name, now);
    }
    // NodePools this controller cannot read: reported on the object, the others go on.
    let unreadable = unreadable(&ctx.kube.caches.nodepools);
    for (meta, why) in &unreadable {
        let name = meta.name.clone().unwrap_or_default();
        let verdict = Err(invalid(why.to_string()));
        let now = (meta.generation, verdict, true);
        if reported.get(&name) == Some(&now) {
            continue;
        }
        let message = why.to_string();
        tracing::warn!(nodepool = %name, error = %message, "cannot read NodePool; it launches nothing until fixed");
        let object = crate::api::Tolerant::<NodePool> {
            metadata: meta.clone(),
            parsed: Err(why.clone()),
        };
        ctx.kube
            .event(
                &object,
                true,
                REASON_VALIDATION_FAILED,
                "Validate",
                message.clone(),
            )
            .await;
        write_unreadable(ctx, &name, &message).await;
        reported.insert(name, now);
    }
    let live: BTreeSet<String> = pools
        .iter()
        .map(|p| p.name_any())
        .chain(unreadable.iter().filter_map(|(m, _)| m.name.clone()))
        .collect();
    reported.retain(|k, _| live.contains(k));
}

/// Sets `ValidationSucceeded=False` on a NodePool that cannot be read as a [`NodePool`],
/// working on its raw conditions (the typed status cannot be read either).
async fn write_unreadable(ctx: &Context, name: &str, message: &str) {
    let api: Api<super::status::Raw<NodePool>> = Api::all(ctx.kube.client.clone());
    let Some(fresh) = read_fresh(&api, name).await else {
        return;
    };
    let r = super::status::update(&api, &ctx.clock, &fresh, |s, at| {
        at.conditions(&mut s.conditions).set(
            CONDITION_VALIDATION_SUCCEEDED,
            ConditionStatus::False,
            REASON_VALIDATION_FAILED,
            message,
        )
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(nodepool = %name, error = %e, "cannot update NodePool conditions");
    }
}

fn validation_condition(verdict: &Result<(), Invalid>) -> (ConditionStatus, &'static str, String) {
    match verdict {
        Ok(()) => (
            ConditionStatus::True,
            CONDITION_VALIDATION_SUCCEEDED,
            String::new(),
        ),
        Err(e) => (ConditionStatus::False, e.reason, e.message.clone()),
    }
}

fn class_message(pool: &NodePool) -> String {
    let r = &pool.spec.template.spec.node_class_ref;
    if r.is_ovh() {
        format!("OVHNodeClass {} not found", r.name)
    } else {
        format!(
            "nodeClassRef {}/{} {} is not an OVHNodeClass ({}/{})",
            r.group,
            r.kind,
            r.name,
            labels::OVH_GROUP,
            crate::api::nodeclass::KIND
        )
    }
}

/// Whether the cached NodePool already shows the verdict (a status write can be lost to a
/// concurrent writer of the conditions list).
fn up_to_date(pool: &NodePool, verdict: &Result<(), Invalid>, found: bool) -> bool {
    let (status, reason, message) = validation_condition(verdict);
    let shows = |type_: &str, status: ConditionStatus, reason: &str, message: &str| {
        pool.conditions().iter().any(|c| {
            c.type_ == type_ && c.status == status && c.reason == reason && c.message == message
        })
    };
    shows(CONDITION_VALIDATION_SUCCEEDED, status, reason, &message)
        && (found
            || shows(
                CONDITION_NODECLASS_READY,
                ConditionStatus::False,
                REASON_NODECLASS_NOT_FOUND,
                &class_message(pool),
            ))
}

async fn announce(ctx: &Context, pool: &NodePool, verdict: &Result<(), Invalid>, found: bool) {
    let name = pool.name_any();
    if let Err(e) = verdict {
        tracing::warn!(nodepool = %name, reason = e.reason, message = %e.message, "NodePool can never launch a node");
        ctx.kube
            .event(pool, true, e.reason, "Validate", e.message.clone())
            .await;
    }
    if !found {
        let message = class_message(pool);
        tracing::warn!(nodepool = %name, %message, "NodePool's node class not found");
        ctx.kube
            .event(pool, true, REASON_NODECLASS_NOT_FOUND, "Validate", message)
            .await;
    }
}

/// Keeps `NodeRegistrationHealthy` to upstream's rule between launches: Unknown (awaiting
/// reconciliation) with the launch outcomes forgotten when the NodePool or its OVHNodeClass
/// changed since it was set (`status.nodeClassObservedGeneration` records the class's);
/// after a restart, the outcomes seeded from the condition.
async fn registration_health(ctx: &Context, pool: &NodePool, class: Option<&OVHNodeClass>) {
    use crate::api::nodepool::CONDITION_NODE_REGISTRATION_HEALTHY as HEALTHY;
    let uid = pool.uid().unwrap_or_default();
    let class_generation = class.and_then(|c| c.metadata.generation).unwrap_or(0);
    let seen_class = pool
        .status
        .as_ref()
        .map_or(0, |s| s.node_class_observed_generation);
    match condition::find(pool.conditions(), HEALTHY) {
        Some(c)
            if c.observed_generation == pool.metadata.generation
                && seen_class == class_generation =>
        {
            let known = match c.status {
                ConditionStatus::True => Some(true),
                ConditionStatus::False => Some(false),
                ConditionStatus::Unknown => None,
            };
            ctx.model.registration().seed(&uid, known);
        }
        _ => {
            ctx.model.registration().reset(&uid);
            let api: Api<NodePool> = Api::all(ctx.kube.client.clone());
            let r = super::status::update(&api, &ctx.clock, pool, |s, at| {
                let class_changed = s.node_class_observed_generation != class_generation;
                s.node_class_observed_generation = class_generation;
                at.conditions(&mut s.conditions).set(
                    HEALTHY,
                    ConditionStatus::Unknown,
                    "AwaitingReconciliation",
                    "object is awaiting reconciliation",
                ) || class_changed
            })
            .await;
            if let Err(e) = r {
                tracing::warn!(nodepool = %pool.name_any(), error = %e, "cannot update NodeRegistrationHealthy");
            }
        }
    }
}

/// NodePool `name` as the API server holds it now (None when gone or unreadable, logged).
async fn read_fresh<K>(api: &Api<K>, name: &str) -> Option<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get_opt(name).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(nodepool = %name, error = %e, "cannot read NodePool");
            None
        }
    }
}

/// Writes the conditions on the NodePool as the API server holds it now (not the cache, which
/// may miss another writer's latest conditions).
async fn write_conditions(ctx: &Context, name: &str, verdict: &Result<(), Invalid>, found: bool) {
    let api: Api<NodePool> = Api::all(ctx.kube.client.clone());
    let Some(fresh) = read_fresh(&api, name).await else {
        return;
    };
    let (status, reason, message) = validation_condition(verdict);
    let missing_class = class_message(&fresh);
    let r = super::status::update(&api, &ctx.clock, &fresh, |s, at| {
        let mut conditions = at.conditions(&mut s.conditions);
        let mut changed = conditions.set(CONDITION_VALIDATION_SUCCEEDED, status, reason, &message);
        if !found {
            changed |= conditions.set(
                CONDITION_NODECLASS_READY,
                ConditionStatus::False,
                REASON_NODECLASS_NOT_FOUND,
                &missing_class,
            );
        }
        changed
    })
    .await;
    if let Err(e) = r {
        tracing::warn!(nodepool = %name, error = %e, "cannot update NodePool conditions");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(reqs: serde_json::Value) -> NodePool {
        serde_json::from_value(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "p"},
            "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh",
                "kind": "OVHNodeClass", "name": "default"}, "requirements": reqs}}}}))
        .unwrap()
    }

    fn message(reqs: serde_json::Value) -> String {
        validate(&pool(reqs)).expect_err("invalid").message
    }

    #[test]
    fn well_formed_and_consistent_requirements_pass() {
        for reqs in [
            json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16"]}]),
            json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16"]},
                   {"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["b3-8"]}]),
            json!([{"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": "Gt", "values": ["2"]},
                   {"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": "Lt", "values": ["4"]}]),
            json!([{"key": "workload-type", "operator": "Exists"},
                   {"key": "workload-type", "operator": "NotIn", "values": ["x"]}]),
            json!([{"key": "team", "operator": "DoesNotExist"}, {"key": "team", "operator": "NotIn", "values": ["a"]}]),
        ] {
            assert_eq!(validate(&pool(reqs.clone())), Ok(()), "{reqs}");
        }
    }

    #[test]
    fn malformed_requirements_say_which() {
        let m = message(
            json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": []}]),
        );
        assert!(
            m.contains("instance-type In must have at least one value"),
            "{m}"
        );
        let m = message(json!([{"key": "n", "operator": "Gt", "values": ["many"]}]));
        assert!(m.contains("single non-negative integer"), "{m}");
        let m = message(json!([{"key": "n", "operator": "Lt", "values": ["1", "2"]}]));
        assert!(m.contains("n Lt"), "{m}");
        let m = message(json!([{"key": "a", "operator": "Exists", "values": ["x"]}]));
        assert!(m.contains("must have no values"), "{m}");
        let m =
            message(json!([{"key": "a", "operator": "In", "values": ["x", "x"], "minValues": 2}]));
        assert!(m.contains("minValues 2 but 1 distinct"), "{m}");
    }

    #[test]
    fn contradictions_are_caught() {
        for reqs in [
            json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]},
                   {"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["b3-8"]}]),
            json!([{"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-a"]},
                   {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-b"]}]),
            json!([{"key": "a", "operator": "Exists"}, {"key": "a", "operator": "DoesNotExist"}]),
            json!([{"key": "a", "operator": "In", "values": ["x"]}, {"key": "a", "operator": "DoesNotExist"}]),
            json!([{"key": "n", "operator": "Gt", "values": ["8"]}, {"key": "n", "operator": "Lt", "values": ["4"]}]),
            json!([{"key": "n", "operator": "Gt", "values": ["3"]}, {"key": "n", "operator": "Lt", "values": ["4"]}]),
            json!([{"key": "n", "operator": "Gte", "values": ["5"]}, {"key": "n", "operator": "Lte", "values": ["4"]}]),
        ] {
            let m = message(reqs.clone());
            assert!(m.contains("contradict each other"), "{reqs}: {m}");
        }
        let m = message(json!([{"key": "n", "operator": "Gte", "values": ["5"]},
                               {"key": "n", "operator": "Lte", "values": ["4"]}]));
        assert!(
            m.contains(r#"Gte ["5"], Lte ["4"]"#),
            "said as written: {m}"
        );
    }

    #[test]
    fn inclusive_bounds_are_valid_down_to_zero() {
        for reqs in [
            json!([{"key": "n", "operator": "Gte", "values": ["0"]}]),
            json!([{"key": "n", "operator": "Gte", "values": ["4"]}, {"key": "n", "operator": "Lte", "values": ["4"]}]),
        ] {
            assert_eq!(validate(&pool(reqs.clone())), Ok(()), "{reqs}");
        }
        let m = message(json!([{"key": "n", "operator": "Lte", "values": ["-1"]}]));
        assert!(
            m.contains("n Lte must have a single non-negative integer"),
            "{m}"
        );
    }

    #[test]
    fn custom_keys_say_nothing_about_flavors() {
        let flavor: Labels = [
            (labels::INSTANCE_TYPE.to_string(), "b3-8".to_string()),
            (labels::FLAVOR_FAMILY.to_string(), "b3".to_string()),
        ]
        .into();
        let reqs = |v: serde_json::Value| requirements(&pool(v));
        assert!(flavor_allowed(
            &reqs(
                json!([{"key": "workload-type", "operator": "In", "values": ["multi-flavor"]},
                         {"key": "karpenter.ovhcloud.sh/flavor-family", "operator": "In", "values": ["b3"]}])
            ),
            &flavor
        ));
        assert!(!flavor_allowed(
            &reqs(
                json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["nope"]}])
            ),
            &flavor
        ));
    }
}
