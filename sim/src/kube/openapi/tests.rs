use super::*;
use crate::kube::schema::{FieldValidation, FieldsOrigin, Who};

fn crd_registry() -> Registry {
    let mut reg = Registry::builtin();
    let crd = json!({"spec": {"group": "karpenter.sh", "scope": "Cluster",
        "names": {"plural": "nodepools", "singular": "nodepool", "kind": "NodePool"},
        "versions": [{"name": "v1", "served": true, "storage": true,
            "schema": {"openAPIV3Schema": {"type": "object", "description": "NodePool is the Schema",
                "properties": {"spec": {"type": "object", "properties": {
                    "template": {"type": "object", "description": "Template of nodes", "properties": {
                        "metadata": {"type": "object", "properties": {"labels": {"type": "object", "additionalProperties": {"type": "string"}}}}}},
                    "weight": {"type": "integer", "nullable": true},
                    "limits": {"anyOf": [{"type": "integer"}, {"type": "string"}], "x-kubernetes-int-or-string": true}}}}}}}]}});
    reg.register_crd(&crd);
    reg
}

fn doc(reg: &Registry, g: &str, v: &str) -> Value {
    let d = v3_document(reg, g, v).expect("served group/version");
    serde_json::from_slice(&d.json).expect("JSON document")
}

#[test]
fn every_ref_of_every_document_resolves_in_it() {
    let reg = crd_registry();
    for (g, vs) in reg.group_versions() {
        for v in vs {
            let d = doc(&reg, &g, &v);
            assert!(
                !d["components"]["schemas"]
                    .as_object()
                    .expect("schemas")
                    .is_empty(),
                "{g}/{v}"
            );
            assert_eq!(dangling_refs(&d), BTreeSet::new(), "{g}/{v}");
        }
    }
    let v2: Value = serde_json::from_slice(&v2_document(&reg).json).expect("v2");
    assert_eq!(dangling_refs(&v2), BTreeSet::new());
}

#[test]
fn deployment_has_its_gvk_and_containers_their_merge_key() {
    let reg = Registry::builtin();
    let d = doc(&reg, "apps", "v1");
    let s = &d["components"]["schemas"];
    assert_eq!(
        s["io.k8s.api.apps.v1.Deployment"]["x-kubernetes-group-version-kind"],
        json!([{"group": "apps", "kind": "Deployment", "version": "v1"}])
    );
    let c = &s["io.k8s.api.core.v1.PodSpec"]["properties"]["containers"];
    assert_eq!(c["x-kubernetes-patch-merge-key"], "name");
    assert_eq!(c["x-kubernetes-patch-strategy"], "merge");
    assert_eq!(
        c["items"]["$ref"],
        "#/components/schemas/io.k8s.api.core.v1.Container"
    );
    assert_eq!(
        s["io.k8s.apimachinery.pkg.util.intstr.IntOrString"]["oneOf"],
        json!([{"type": "integer"}, {"type": "string"}])
    );
    // A $ref with siblings becomes a single allOf.
    assert_eq!(
        s["io.k8s.api.apps.v1.Deployment"]["properties"]["metadata"]["allOf"][0]["$ref"],
        "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    );
    let p = &d["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Deployment");
    assert!(p["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object());
    assert!(p["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .any(|x| x["name"] == "fieldValidation"));
    // Cached: the same bytes and hash until the resources change.
    let a = v3_document(&reg, "apps", "v1").expect("doc");
    let b = v3_document(&reg, "apps", "v1").expect("doc");
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn nodepool_schemas_are_named_by_the_reversed_group() {
    let reg = crd_registry();
    let d = doc(&reg, "karpenter.sh", "v1");
    let s = &d["components"]["schemas"];
    let np = &s["sh.karpenter.v1.NodePool"];
    assert_eq!(
        np["x-kubernetes-group-version-kind"],
        json!([{"group": "karpenter.sh", "kind": "NodePool", "version": "v1"}])
    );
    assert_eq!(
        np["properties"]["spec"]["properties"]["template"]["description"],
        "Template of nodes"
    );
    assert_eq!(
        np["properties"]["metadata"]["allOf"][0]["$ref"],
        format!("{V3_PREFIX}{OBJECT_META}")
    );
    let list = &s["sh.karpenter.v1.NodePoolList"];
    assert_eq!(
        list["x-kubernetes-group-version-kind"][0]["kind"],
        "NodePoolList"
    );
    assert_eq!(
        list["properties"]["items"]["items"]["$ref"],
        "#/components/schemas/sh.karpenter.v1.NodePool"
    );
    let p = &d["paths"]["/apis/karpenter.sh/v1/nodepools/{name}"]["patch"];
    assert!(p["requestBody"]["content"]["application/merge-patch+json"].is_object());
    assert!(p["requestBody"]["content"]["application/strategic-merge-patch+json"].is_null());
    let root = v3_root(&reg);
    let url = root["paths"]["apis/karpenter.sh/v1"]["serverRelativeURL"]
        .as_str()
        .unwrap_or_default();
    assert!(
        url.starts_with("/openapi/v3/apis/karpenter.sh/v1?hash="),
        "{url}"
    );
}

#[test]
fn v2_is_swagger_with_definitions_and_no_v3_keywords() {
    let reg = crd_registry();
    let v2: Value = serde_json::from_slice(&v2_document(&reg).json).expect("v2");
    assert_eq!(v2["swagger"], "2.0");
    let defs = &v2["definitions"];
    assert!(defs["io.k8s.api.core.v1.Pod"].is_object());
    let np = &defs["sh.karpenter.v1.NodePool"]["properties"]["spec"]["properties"];
    assert!(np["weight"].get("nullable").is_none());
    assert!(np["limits"].get("anyOf").is_none());
    assert_eq!(np["limits"]["x-kubernetes-int-or-string"], true);
    let p = &v2["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
    assert_eq!(p["x-kubernetes-group-version-kind"]["kind"], "Deployment");
    assert!(p["consumes"].as_array().is_some_and(|c| c.len() == 4));
}

#[test]
fn builtin_schemas_prune_unknown_fields_with_their_paths() {
    let s = builtin_schema("apps", "v1", "Deployment").expect("Deployment schema");
    let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "a", "foo": 1, "managedFields": [{"manager": "m", "fieldsV1": {"f:spec": {}}}]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
            "template": {"metadata": {"labels": {"a": "b"}, "bar": 2}, "spec": {"containers": [
                {"name": "c", "image": "i", "foo": 1, "resources": {"limits": {"cpu": "1"}},
                 "ports": [{"containerPort": 80}], "livenessProbe": {"httpGet": {"port": "http", "path": "/"}}}]}}},
        "status": {"replicas": 0}});
    let who = Who {
        kind: "Deployment",
        version: "v1",
        ..Who::default()
    };
    let mut w = s
        .prune_fields(&mut d, FieldValidation::Warn, FieldsOrigin::Body, &who)
        .expect("warn");
    w.sort();
    assert_eq!(
        w,
        [
            "unknown field \"metadata.foo\"",
            "unknown field \"spec.template.metadata.bar\"",
            "unknown field \"spec.template.spec.containers[0].foo\""
        ]
    );
    assert_eq!(
        d["metadata"]["managedFields"][0]["fieldsV1"],
        json!({"f:spec": {}})
    );
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["port"],
        "http"
    );
    let mut d = json!({"spec": {"foo": 1}});
    let e = s
        .prune_fields(&mut d, FieldValidation::Strict, FieldsOrigin::Body, &who)
        .err()
        .map(|e| (e.code, e.message));
    assert_eq!(
        e,
        Some((400, "Deployment in version \"v1\" cannot be handled as a Deployment: strict decoding error: unknown field \"spec.foo\"".into()))
    );
    let mut d = json!({"spec": {"foo": 1}});
    let e = s
        .prune_fields(&mut d, FieldValidation::Strict, FieldsOrigin::Patch, &who)
        .err()
        .map(|e| (e.code, e.message));
    assert_eq!(
        e,
        Some((422, " \"\" is invalid: patch: Invalid value: \"{\\\"spec\\\":{\\\"foo\\\":1}}\": strict decoding error: unknown field \"spec.foo\"".into()))
    );
    let who = Who {
        gvk: "apps/v1, Kind=Deployment",
        ns: "default",
        name: "a",
        ..who
    };
    let mut d = json!({"spec": {"foo": 1}});
    let e = s
        .prune_fields(&mut d, FieldValidation::Ignore, FieldsOrigin::Apply, &who)
        .err()
        .map(|e| (e.code, e.message));
    assert_eq!(
        e,
        Some((500, "failed to create typed patch object (default/a; apps/v1, Kind=Deployment): .spec.foo: field not declared in schema".into()))
    );
    // A CRD's schemas stay free below the recursion of JSONSchemaProps.
    let crd = builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition")
        .expect("CRD schema");
    let mut c = json!({"spec": {"group": "g", "versions": [{"name": "v1", "schema": {"openAPIV3Schema": {
        "type": "object", "properties": {"spec": {"type": "object", "x-kubernetes-validations": [{"rule": "true"}],
        "properties": {"a": {"type": "string", "default": "x"}}}}}}}]}});
    let before = c.clone();
    let w = crd
        .prune_fields(&mut c, FieldValidation::Warn, FieldsOrigin::Body, &who)
        .expect("warn");
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(c, before);
}
