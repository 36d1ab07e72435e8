//! Upstream-shaped NodePool/NodeClaim manifests and the guide's OVHNodeClasses deserialize into
//! our types without loss: what the types serialize back equals the manifest after the API
//! server's defaulting (done here with the defaults of our generated CRD schemas), so the Rust
//! defaults and the schema defaults cannot disagree either.

use karpenter_ovhcloud::api::{
    self, labels, ConsolidationPolicy, DisruptionReason, NodeClaim, NodePool, OVHNodeClass,
};
use kube::CustomResourceExt;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::time::Duration;

fn fixture(name: &str) -> Vec<Value> {
    let path = format!("{}/tests/fixtures/api/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("{path}: {e}")))
        .collect()
}

/// Applies the schema's defaults the way the API server does: a missing property with a
/// default gets it (and the defaults nested in it); int-or-string values are kept as strings
/// by our types, so integers there are compared as their decimal text.
fn apply_defaults(schema: &Value, value: &mut Value) {
    if schema.get("x-kubernetes-int-or-string") == Some(&Value::Bool(true)) {
        if let Value::Number(n) = value {
            *value = Value::String(n.to_string());
        }
        return;
    }
    match value {
        Value::Object(obj) => {
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props {
                    if !obj.contains_key(name) {
                        if let Some(default) = prop.get("default") {
                            obj.insert(name.clone(), default.clone());
                        }
                    }
                    if let Some(child) = obj.get_mut(name) {
                        apply_defaults(prop, child);
                    }
                }
            }
            if let Some(additional) = schema.get("additionalProperties") {
                if additional.is_object() {
                    for child in obj.values_mut() {
                        apply_defaults(additional, child);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = schema.get("items") {
                for item in items {
                    apply_defaults(item_schema, item);
                }
            }
        }
        _ => {}
    }
}

fn schema_of<K: CustomResourceExt>() -> Value {
    let crd = serde_json::to_value(K::crd()).unwrap();
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"].clone()
}

/// Deserializes `manifest`, serializes it back, and compares with the defaulted manifest.
fn round_trip<K>(manifest: &Value) -> K
where
    K: CustomResourceExt + DeserializeOwned + Serialize,
{
    let typed: K = serde_json::from_value(manifest.clone())
        .unwrap_or_else(|e| panic!("does not deserialize: {e}\n{manifest:#}"));
    let mut expected = manifest.clone();
    apply_defaults(&schema_of::<K>(), &mut expected);
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(
        back, expected,
        "round trip lost or changed something in {}",
        manifest["metadata"]["name"]
    );
    typed
}

fn object(value: &Value) -> &Map<String, Value> {
    value.as_object().unwrap()
}

#[test]
fn the_guides_nodepools_round_trip() {
    let pools: Vec<NodePool> = fixture("guide-nodepools.yaml")
        .iter()
        .map(round_trip::<NodePool>)
        .collect();
    let names: Vec<&str> = pools
        .iter()
        .map(|p| p.metadata.name.as_deref().unwrap())
        .collect();
    assert_eq!(names, ["demo-pool", "multi-flavor", "multizone", "monthly"]);

    let demo = &pools[0];
    assert_eq!(
        demo.spec.disruption.consolidation_policy,
        ConsolidationPolicy::WhenEmptyOrUnderutilized
    );
    assert_eq!(
        demo.spec.disruption.consolidate_after(),
        Ok(Some(Duration::from_secs(60)))
    );
    // Defaults as upstream: one 10% budget, expireAfter 720h.
    assert_eq!(
        demo.spec.disruption.budgets,
        vec![api::Budget::nodes("10%")]
    );
    assert_eq!(
        demo.spec.template.spec.expire_after.duration(),
        Ok(Some(Duration::from_secs(720 * 3600)))
    );
    assert_eq!(demo.spec.limits["cpu"].0, "100");
    assert!(demo.spec.template.spec.node_class_ref.is_ovh());
    assert_eq!(demo.spec.template.spec.node_class_ref.name, "default");
    assert_eq!(
        demo.spec.template.spec.requirements[0].values,
        ["b3-8", "b3-16"]
    );

    let multi = &pools[1];
    assert_eq!(
        multi.spec.template.metadata.labels["workload-type"],
        "multi-flavor"
    );

    let monthly = &pools[3];
    assert_eq!(
        monthly.spec.disruption.consolidation_policy,
        ConsolidationPolicy::WhenEmpty
    );
    assert_eq!(
        monthly.spec.template.spec.requirements[0].key,
        labels::FLAVOR_FAMILY
    );
}

#[test]
fn an_upstream_nodepool_with_every_field_round_trips() {
    let docs = fixture("upstream-nodepool-full.yaml");
    let full: NodePool = round_trip(&docs[0]);
    let spec = &full.spec;
    assert_eq!(spec.weight, Some(50));
    assert_eq!(spec.template.spec.taints.len(), 2);
    assert_eq!(spec.template.spec.startup_taints.len(), 1);
    assert_eq!(spec.template.spec.requirements[0].min_values, Some(2));
    assert!(spec.template.spec.expire_after.is_never());
    assert_eq!(
        spec.template
            .spec
            .termination_grace_period
            .as_ref()
            .map(|d| d.duration()),
        Some(Ok(Duration::from_secs(48 * 3600)))
    );
    let budgets = &spec.disruption.budgets;
    assert_eq!(budgets.len(), 3);
    assert!(budgets[0].applies_to(DisruptionReason::Drifted));
    assert!(!budgets[0].applies_to(DisruptionReason::Underutilized));
    assert!(budgets[2].applies_to(DisruptionReason::Underutilized));
    assert_eq!(
        budgets[0].parsed_nodes().map(|n| n.allowed(11)),
        Some(3),
        "20% of 11 nodes rounds up to 3"
    );
    assert_eq!(budgets[1].parsed_nodes().map(|n| n.allowed(11)), Some(0));
    assert_eq!(
        budgets[2].duration.as_ref().map(|d| d.duration()),
        Some(Ok(Duration::from_secs(5400)))
    );
    assert!(full.is_condition_true("Ready"));
    assert_eq!(full.status.as_ref().map(|s| s.nodes), Some(3));

    let fixed: NodePool = round_trip(&docs[1]);
    assert!(fixed.is_static());
}

#[test]
fn an_upstream_nodeclaim_round_trips() {
    let claim: NodeClaim = round_trip(&fixture("upstream-nodeclaim.yaml")[0]);
    assert_eq!(claim.nodepool_name(), Some("demo-pool"));
    assert!(claim.is_ready());
    let status = claim.status.as_ref().unwrap();
    assert_eq!(
        labels::instance_id(&status.provider_id),
        Some("0b5c3b8e-1c2d-4e5f-8a9b-0c1d2e3f4a5b")
    );
    assert_eq!(claim.spec.resources.requests["cpu"].0, "1500m");
}

#[test]
fn the_guides_ovhnodeclasses_round_trip() {
    let classes: Vec<OVHNodeClass> = fixture("guide-ovhnodeclasses.yaml")
        .iter()
        .map(round_trip::<OVHNodeClass>)
        .collect();
    let default = &classes[0].spec;
    assert!(!default.monthly_billed && !default.anti_affinity);
    assert_eq!(
        default.zones(),
        ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]
    );
    assert!(classes[1].spec.monthly_billed);
    assert!(classes[2].spec.anti_affinity);
    assert_eq!(classes[2].spec.price_overrides["b3-8"], 0.05);
    assert!(!classes[2].is_ready());
}

#[test]
fn defaulting_fills_what_the_guide_leaves_out() {
    // The defaulted manifest carries upstream's defaults: the test above would pass vacuously
    // if the schema had none.
    let mut demo = fixture("guide-nodepools.yaml").remove(0);
    apply_defaults(&schema_of::<NodePool>(), &mut demo);
    let disruption = object(&demo["spec"]["disruption"]);
    assert_eq!(disruption["budgets"], serde_json::json!([{"nodes": "10%"}]));
    assert_eq!(demo["spec"]["template"]["spec"]["expireAfter"], "720h");

    // A NodePool without `disruption` gets upstream's `{consolidateAfter: 0s}` and the rest.
    let mut bare = serde_json::json!({
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "bare"},
        "spec": {"template": {"spec": {
            "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
            "requirements": []
        }}}
    });
    let typed: NodePool = round_trip(&bare);
    apply_defaults(&schema_of::<NodePool>(), &mut bare);
    assert_eq!(
        bare["spec"]["disruption"],
        serde_json::json!({
            "consolidateAfter": "0s",
            "consolidationPolicy": "WhenEmptyOrUnderutilized",
            "budgets": [{"nodes": "10%"}]
        })
    );
    assert_eq!(
        typed.spec.disruption.consolidate_after(),
        Ok(Some(Duration::ZERO))
    );
}

#[test]
fn bad_manifests_are_errors_not_panics() {
    for bad in [
        // Unknown operator.
        serde_json::json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "x"},
            "spec": {"template": {"spec": {"nodeClassRef": {"group": "g", "kind": "k", "name": "n"},
            "requirements": [{"key": "a", "operator": "Near"}]}}}}),
        // Missing nodeClassRef.
        serde_json::json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "x"},
            "spec": {"template": {"spec": {"requirements": []}}}}),
    ] {
        assert!(serde_json::from_value::<NodePool>(bad).is_err());
    }
    // consolidateAfter missing from an explicit disruption block: upstream defaults it to 0s
    // (`+kubebuilder:default:="0s"` on the field itself), so it is no error.
    let partial: NodePool = serde_json::from_value(serde_json::json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool", "metadata": {"name": "x"},
        "spec": {"disruption": {"consolidationPolicy": "WhenEmpty"}, "template": {"spec": {"nodeClassRef": {"group": "g", "kind": "k", "name": "n"}, "requirements": []}}}}))
    .expect("a disruption block without consolidateAfter parses");
    assert_eq!(
        partial.spec.disruption.consolidate_after(),
        Ok(Some(Duration::ZERO))
    );
}
