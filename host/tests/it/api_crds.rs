//! The committed CRDs in the chart are what the API types generate, and the generated CRDs
//! have upstream Karpenter's shape: names, scope, printer columns, subresources, defaults and a
//! structural schema (every node typed), so a real API server accepts them.

use std::collections::BTreeSet;
use std::path::PathBuf;

use karpenter_ovhcloud::api::crdgen;
use karpenter_ovhcloud::api::{NodeClaim, NodePool, OVHNodeClass};
use kube::CustomResourceExt;
use serde_json::Value;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host/ has a parent")
        .to_path_buf()
}

#[test]
fn committed_crds_are_up_to_date() {
    let dir = repo_root().join(crdgen::CHART_CRDS_DIR);
    let mut stale = Vec::new();
    let files = crdgen::render().expect("CRDs render");
    for file in &files {
        let path = dir.join(&file.file_name);
        match std::fs::read_to_string(&path) {
            Ok(committed) if committed == file.yaml => {}
            Ok(_) => stale.push(format!("{} differs", path.display())),
            Err(e) => stale.push(format!("{} unreadable: {e}", path.display())),
        }
    }
    // No leftover CRD file the generator no longer writes.
    let expected: BTreeSet<&str> = files.iter().map(|f| f.file_name.as_str()).collect();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".yaml") && !expected.contains(name.as_str()) {
                stale.push(format!("{name} is not generated any more"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "the chart's CRDs are stale ({}); regenerate them with `{}` from the repository root",
        stale.join("; "),
        crdgen::REGENERATE_COMMAND
    );
}

fn crd_json<K: CustomResourceExt>() -> Value {
    serde_json::to_value(K::crd()).unwrap()
}

fn columns(crd: &Value) -> Vec<(String, Option<i64>)> {
    crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["priority"].as_i64(),
            )
        })
        .collect()
}

fn schema(crd: &Value) -> &Value {
    &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
}

/// Paths of schema nodes without a type (allowed only for int-or-string and preserved fields).
fn untyped(node: &Value, path: &str, out: &mut Vec<String>) {
    let Some(obj) = node.as_object() else { return };
    let exempt = obj.contains_key("x-kubernetes-int-or-string")
        || obj.contains_key("x-kubernetes-preserve-unknown-fields");
    if !obj.contains_key("type") && !exempt {
        out.push(path.to_owned());
    }
    if let Some(props) = obj.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            untyped(child, &format!("{path}.{name}"), out);
        }
    }
    if let Some(items) = obj.get("items") {
        untyped(items, &format!("{path}[]"), out);
    }
    if let Some(additional) = obj.get("additionalProperties") {
        untyped(additional, &format!("{path}{{}}"), out);
    }
}

#[test]
fn schemas_are_structural() {
    for crd in [
        crd_json::<NodePool>(),
        crd_json::<NodeClaim>(),
        crd_json::<OVHNodeClass>(),
    ] {
        let mut missing = Vec::new();
        untyped(schema(&crd), "", &mut missing);
        assert!(
            missing.is_empty(),
            "{}: untyped schema nodes {missing:?}",
            crd["metadata"]["name"]
        );
    }
}

#[test]
fn nodepool_crd_matches_upstream_shape() {
    let crd = crd_json::<NodePool>();
    assert_eq!(crd["metadata"]["name"], "nodepools.karpenter.sh");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(
        crd["spec"]["names"]["categories"],
        serde_json::json!(["karpenter"])
    );
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1");
    assert_eq!(
        crd["spec"]["versions"][0]["subresources"]["scale"]["specReplicasPath"],
        ".spec.replicas"
    );
    assert_eq!(
        columns(&crd),
        [
            ("NodeClass".into(), None),
            ("Nodes".into(), None),
            ("Ready".into(), None),
            ("Age".into(), None),
            ("Weight".into(), Some(1)),
            ("CPU".into(), Some(1)),
            ("Memory".into(), Some(1)),
        ]
    );
    let spec = &schema(&crd)["properties"]["spec"];
    assert_eq!(spec["required"], serde_json::json!(["template"]));
    let disruption = &spec["properties"]["disruption"];
    assert_eq!(
        disruption["default"],
        serde_json::json!({"consolidateAfter": "0s"})
    );
    // Upstream defaults the field itself too and requires nothing: a disruption block
    // without consolidateAfter is admitted with 0s.
    assert_eq!(disruption["required"], serde_json::Value::Null);
    assert_eq!(
        disruption["properties"]["consolidateAfter"]["default"],
        "0s"
    );
    let policy = &disruption["properties"]["consolidationPolicy"];
    assert_eq!(policy["default"], "WhenEmptyOrUnderutilized");
    assert_eq!(
        policy["enum"],
        serde_json::json!(["WhenEmpty", "WhenEmptyOrUnderutilized"])
    );
    let budgets = &disruption["properties"]["budgets"];
    assert_eq!(budgets["default"], serde_json::json!([{"nodes": "10%"}]));
    assert_eq!(budgets["maxItems"], 50);
    let budget = &budgets["items"];
    assert_eq!(budget["required"], serde_json::json!(["nodes"]));
    assert_eq!(budget["properties"]["nodes"]["default"], "10%");
    assert_eq!(
        budget["properties"]["nodes"]["pattern"],
        "^((100|[0-9]{1,2})%|[0-9]+)$"
    );
    assert_eq!(
        budget["properties"]["reasons"]["items"]["enum"],
        serde_json::json!(["Underutilized", "Empty", "Drifted"])
    );
    let template_spec = &spec["properties"]["template"]["properties"]["spec"];
    assert_eq!(
        template_spec["required"],
        serde_json::json!(["nodeClassRef", "requirements"])
    );
    assert_eq!(
        template_spec["properties"]["expireAfter"]["default"],
        "720h"
    );
    let node_class_ref = &template_spec["properties"]["nodeClassRef"];
    assert_eq!(
        node_class_ref["required"],
        serde_json::json!(["group", "kind", "name"])
    );
    let requirement = &template_spec["properties"]["requirements"]["items"];
    assert_eq!(
        requirement["properties"]["operator"]["enum"],
        serde_json::json!(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"])
    );
    let key_rules: Vec<&str> = requirement["properties"]["key"]["x-kubernetes-validations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["message"].as_str().unwrap())
        .collect();
    assert!(key_rules.contains(&r#"label "karpenter.sh/nodepool" is restricted"#));
    assert!(key_rules.contains(&r#"label domain "karpenter.ovhcloud.sh" is restricted"#));
    let taint = &template_spec["properties"]["taints"]["items"];
    assert_eq!(
        taint["properties"]["effect"]["enum"],
        serde_json::json!(["NoSchedule", "PreferNoSchedule", "NoExecute"])
    );
    let weight = &spec["properties"]["weight"];
    assert_eq!(
        (weight["minimum"].as_f64(), weight["maximum"].as_f64()),
        (Some(1.0), Some(100.0))
    );
}

#[test]
fn nodeclaim_crd_matches_upstream_shape() {
    let crd = crd_json::<NodeClaim>();
    assert_eq!(crd["metadata"]["name"], "nodeclaims.karpenter.sh");
    assert_eq!(crd["spec"]["scope"], "Cluster");
    // `kubectl get nodeclaims -o wide` shows type, zone, node, ready, age, and the wide columns.
    assert_eq!(
        columns(&crd),
        [
            ("Type".into(), None),
            ("Capacity".into(), None),
            ("Zone".into(), None),
            ("Node".into(), None),
            ("Ready".into(), None),
            ("Age".into(), None),
            ("ID".into(), Some(1)),
            ("NodePool".into(), Some(1)),
            ("NodeClass".into(), Some(1)),
        ]
    );
    let spec = &schema(&crd)["properties"]["spec"];
    assert_eq!(
        spec["x-kubernetes-validations"][0]["rule"],
        "self == oldSelf"
    );
    let key_rules = spec["properties"]["requirements"]["items"]["properties"]["key"]
        ["x-kubernetes-validations"]
        .as_array()
        .unwrap();
    assert!(
        !key_rules
            .iter()
            .any(|r| r["message"] == r#"label "karpenter.sh/nodepool" is restricted"#),
        "a NodeClaim carries its NodePool requirement"
    );
    let status = &schema(&crd)["properties"]["status"]["properties"];
    for field in [
        "nodeName",
        "providerID",
        "imageID",
        "capacity",
        "allocatable",
        "conditions",
        "lastPodEventTime",
    ] {
        assert!(status.get(field).is_some(), "status.{field}");
    }
}

#[test]
fn ovhnodeclass_crd_shape() {
    let crd = crd_json::<OVHNodeClass>();
    assert_eq!(
        crd["metadata"]["name"],
        "ovhnodeclasses.karpenter.ovhcloud.sh"
    );
    assert_eq!(crd["spec"]["scope"], "Cluster");
    assert_eq!(crd["spec"]["versions"][0]["name"], "v1alpha1");
    assert_eq!(
        crd["spec"]["names"]["shortNames"],
        serde_json::json!(["ovhnc", "ovhncs"])
    );
    let names: Vec<String> = columns(&crd).into_iter().map(|(n, _)| n).collect();
    assert_eq!(&names[..3], ["Region", "Ready", "Age"]);
    let spec = &schema(&crd)["properties"]["spec"];
    assert_eq!(
        spec["properties"]["serviceName"]["pattern"],
        "^[a-f0-9]{32}$"
    );
    assert_eq!(spec["properties"]["monthlyBilled"]["default"], false);
    assert_eq!(spec["properties"]["antiAffinity"]["default"], false);
    assert_eq!(
        spec["required"],
        serde_json::json!(["kubeId", "region", "serviceName"])
    );
}
