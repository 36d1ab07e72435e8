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

/// The CRD of `K` as the generator writes it (upstream's shape).
fn crd_json<K: CustomResourceExt>() -> Value {
    let name = K::crd_name();
    let crd = crdgen::crds()
        .into_iter()
        .find(|c| c.metadata.name.as_deref() == Some(name))
        .expect("the generator writes every CRD");
    serde_json::to_value(crd).unwrap()
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
        serde_json::json!(["WhenEmpty", "WhenEmptyOrUnderutilized", "Balanced"])
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
        serde_json::json!([
            "In",
            "NotIn",
            "Exists",
            "DoesNotExist",
            "Gt",
            "Lt",
            "Gte",
            "Lte"
        ])
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
            ("ImageID".into(), Some(1)),
            ("ID".into(), Some(1)),
            ("NodePool".into(), Some(1)),
            ("NodeClass".into(), Some(1)),
            ("Drifted".into(), Some(1)),
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

/// The schema keywords compared node by node (descriptions are prose, not compared).
const KEYWORDS: &[&str] = &[
    "type",
    "format",
    "enum",
    "default",
    "pattern",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "minItems",
    "maxItems",
    "minProperties",
    "maxProperties",
    "nullable",
    "x-kubernetes-int-or-string",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];

/// The one kind of rule ours may add: the restriction of our own label domain, as every
/// provider restricts its own (upstream's AWS provider does for `karpenter.k8s.aws`).
const OWN_DOMAIN_RULE: &str = r#"label domain "karpenter.ovhcloud.sh" is restricted"#;

/// Every difference between upstream's schema node `up` and ours at `path`.
fn schema_differences(up: &Value, ours: &Value, path: &str, out: &mut Vec<String>) {
    let at = if path.is_empty() { "<root>" } else { path };
    // `1` and `1.0` are the same bound.
    let same = |a: Option<&Value>, b: Option<&Value>| match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        _ => a == b,
    };
    for k in KEYWORDS {
        if !same(up.get(k), ours.get(k)) {
            out.push(format!(
                "{at}: {k} upstream={:?} ours={:?}",
                up.get(k),
                ours.get(k)
            ));
        }
    }
    let set = |v: &Value, k: &str| -> BTreeSet<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .map(|x| x.to_string())
            .collect()
    };
    if set(up, "required") != set(ours, "required") {
        out.push(format!(
            "{at}: required upstream={:?} ours={:?}",
            set(up, "required"),
            set(ours, "required")
        ));
    }
    let rules = |v: &Value| -> Vec<(String, Value)> {
        v["x-kubernetes-validations"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| (r["rule"].as_str().unwrap_or_default().to_owned(), r.clone()))
            .collect()
    };
    let (ru, ro) = (rules(up), rules(ours));
    for (rule, full) in &ru {
        match ro.iter().find(|(r, _)| r == rule) {
            None => out.push(format!("{at}: rule missing: {rule}")),
            Some((_, mine)) if mine != full => {
                out.push(format!("{at}: rule differs: upstream={full} ours={mine}"))
            }
            Some(_) => {}
        }
    }
    for (rule, full) in &ro {
        if !ru.iter().any(|(r, _)| r == rule) && full["message"] != OWN_DOMAIN_RULE {
            out.push(format!("{at}: rule upstream lacks: {rule}"));
        }
    }
    let props = |v: &Value| v["properties"].as_object().cloned().unwrap_or_default();
    let (pu, po) = (props(up), props(ours));
    for (name, node) in &pu {
        match po.get(name) {
            None => out.push(format!(
                "{path}.{name}: missing (upstream type {})",
                node["type"]
            )),
            Some(mine) => schema_differences(node, mine, &format!("{path}.{name}"), out),
        }
    }
    for name in po.keys().filter(|n| !pu.contains_key(*n)) {
        out.push(format!("{path}.{name}: upstream has no such property"));
    }
    for (sub, suffix) in [("items", "[]"), ("additionalProperties", "{}")] {
        match (up.get(sub), ours.get(sub)) {
            (Some(a), Some(b)) if a.is_object() && b.is_object() => {
                schema_differences(a, b, &format!("{path}{suffix}"), out)
            }
            (a, b) if a != b => out.push(format!("{at}: {sub} upstream={a:?} ours={b:?}")),
            _ => {}
        }
    }
}

/// Printer columns with what `kubectl get` uses of them.
fn printer_columns(crd: &Value) -> Vec<Value> {
    crd["spec"]["versions"][0]["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            serde_json::json!({"name": c["name"], "type": c["type"], "jsonPath": c["jsonPath"],
                               "priority": c["priority"], "format": c["format"]})
        })
        .collect()
}

/// Our karpenter.sh CRDs track upstream's field for field: the same properties, types,
/// formats, enums, defaults, bounds, list/map markers, required fields, CEL rules (ours adds only
/// its own label domain's), printer columns, names, scope and subresources. Upstream's files
/// are read from `../shared/upstream/karpenter/` (never copied into the project).
#[test]
fn karpenter_crds_track_upstream_field_for_field() {
    for (file, ours) in [
        ("karpenter.sh_nodepools.yaml", crd_json::<NodePool>()),
        ("karpenter.sh_nodeclaims.yaml", crd_json::<NodeClaim>()),
    ] {
        let path = repo_root().join("../shared/upstream/karpenter").join(file);
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let up: Value = serde_norway::from_str(&text).unwrap();
        let mut out = Vec::new();
        for k in ["group", "scope", "names"] {
            if up["spec"][k] != ours["spec"][k] {
                out.push(format!(
                    "spec.{k}: upstream={} ours={}",
                    up["spec"][k], ours["spec"][k]
                ));
            }
        }
        let (vu, vo) = (&up["spec"]["versions"][0], &ours["spec"]["versions"][0]);
        for k in ["name", "served", "storage", "subresources"] {
            if vu[k] != vo[k] {
                out.push(format!("version {k}: upstream={} ours={}", vu[k], vo[k]));
            }
        }
        if printer_columns(&up) != printer_columns(&ours) {
            out.push(format!(
                "printer columns: upstream={:?} ours={:?}",
                printer_columns(&up),
                printer_columns(&ours)
            ));
        }
        schema_differences(schema(&up), schema(&ours), "", &mut out);
        assert!(
            out.is_empty(),
            "{file}: {} difference(s):\n{}",
            out.len(),
            out.join("\n")
        );
    }
}
