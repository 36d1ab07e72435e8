//! Admission of custom resources (structural schema and CEL rules), driven by the fixtures of
//! `tests/data/admission/`: each case creates (and maybe updates) an object over HTTP and
//! compares the verdict, the whole Status message, pinned causes, read-back fields and
//! Warning headers. Upstream Karpenter's CRDs are read in place from
//! `../shared/upstream/karpenter/` (never copied); every case of `nodepool.yaml` and
//! `nodeclaim.yaml` also runs against the chart's CRD with its `chart:` overrides.
//!
//! Each run also checks coverage: every `x-kubernetes-validations` rule of the CRD has at
//! least one admitted case that reaches the rule's field (on update for a transition rule)
//! and one refused case whose message carries the rule's error.

use karpenter_ovhcloud_sim::kube::{Config as SimConfig, KubeSim};
use regex::Regex;
use serde_json::{json, Map, Value};

/// The workspace root (fixture paths are relative to it).
fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_file(path: &std::path::Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path:?}: {e}"))
}

fn fixture(name: &str) -> Value {
    yaml_file(&root().join("sim/tests/data/admission").join(name))
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// Splits `a.b[0].c` into segments (`b`, `0`, `c`...); map keys with dots are not supported
/// except as the last segment after a known map (`labels.x.y` is not needed by the fixtures).
fn segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let mut rest = part;
        while let Some(i) = rest.find('[') {
            if i > 0 {
                out.push(rest[..i].to_string());
            }
            let j = rest[i..].find(']').map_or(rest.len(), |j| i + j);
            out.push(rest[i + 1..j].to_string());
            rest = &rest[(j + 1).min(rest.len())..];
        }
        if !rest.is_empty() {
            out.push(rest.to_string());
        }
    }
    out
}

fn pointer_mut<'a>(v: &'a mut Value, path: &str) -> &'a mut Value {
    let mut cur = v;
    for s in segments(path) {
        cur = match cur {
            Value::Array(a) => {
                let i: usize = s.parse().expect("index");
                &mut a[i]
            }
            other => {
                if !other.is_object() {
                    *other = json!({});
                }
                other
                    .as_object_mut()
                    .expect("object")
                    .entry(s)
                    .or_insert(Value::Null)
            }
        };
    }
    cur
}

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = v;
    for s in segments(path) {
        cur = match cur {
            Value::Array(a) => a.get(s.parse::<usize>().ok()?)?,
            Value::Object(m) => m.get(&s)?,
            _ => return None,
        };
    }
    Some(cur)
}

fn expand(item: &Value, i: usize) -> Value {
    match item {
        Value::String(s) => json!(s.replace("{i}", &i.to_string())),
        Value::Object(m) => {
            Value::Object(m.iter().map(|(k, v)| (k.clone(), expand(v, i))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|v| expand(v, i)).collect()),
        other => other.clone(),
    }
}

/// The object a case starts from: `base` ⊕ `create`, then `set`, `generate` and `fill`.
fn build(base: &Value, case: &Value) -> Value {
    let mut obj = base.clone();
    if let Some(c) = case.get("create") {
        merge(&mut obj, c);
    }
    for (path, v) in case["set"].as_object().into_iter().flatten() {
        *pointer_mut(&mut obj, path) = v.clone();
    }
    if let Some(g) = case.get("generate") {
        let count = g["count"].as_u64().expect("count") as usize;
        let item = match g["item_bytes"].as_u64() {
            Some(n) => json!("x".repeat(n as usize)),
            None => g["item"].clone(),
        };
        let target = pointer_mut(&mut obj, g["path"].as_str().expect("path"));
        match g["key"].as_str() {
            Some(key) => {
                let m: Map<String, Value> = (0..count)
                    .map(|i| (key.replace("{i}", &i.to_string()), expand(&item, i)))
                    .collect();
                *target = Value::Object(m);
            }
            None => *target = Value::Array((0..count).map(|i| expand(&item, i)).collect()),
        }
    }
    if let Some(f) = case.get("fill") {
        let n = f["bytes"].as_u64().expect("bytes") as usize;
        *pointer_mut(&mut obj, f["path"].as_str().expect("path")) = json!("x".repeat(n));
    }
    obj
}

struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

struct Answer {
    code: u16,
    body: Value,
    warnings: Vec<String>,
}

impl Api {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Answer {
        self.call_as(method, path, query, body, "application/json")
            .await
    }

    /// A request with a body of content type `ct` (patches).
    async fn call_as(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
        ct: &str,
    ) -> Answer {
        let mut req = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .query(query);
        if let Some(b) = body {
            req = req
                .header("content-type", ct)
                .body(serde_json::to_vec(b).expect("json"));
        }
        let resp = req.send().await.expect("request");
        let code = resp.status().as_u16();
        let warnings = resp
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|h| h.to_str().ok())
            .map(|h| {
                let q = h.strip_prefix("299 - ").unwrap_or(h);
                serde_json::from_str::<String>(q).unwrap_or_else(|_| q.to_string())
            })
            .collect();
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        Answer {
            code,
            body,
            warnings,
        }
    }
}

/// Where a CRD serves its kind.
struct Crd {
    path: String,
    collection: String,
    rules: Vec<RuleRef>,
}

/// One `x-kubernetes-validations` rule of a CRD, for the coverage check.
#[derive(Debug)]
struct RuleRef {
    /// `spec.template.spec.requirements[*].key`.
    path: String,
    type_: String,
    message: String,
    transition: bool,
}

fn collect_rules(s: &Value, path: &str, out: &mut Vec<RuleRef>) {
    for r in s["x-kubernetes-validations"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let rule = r["rule"].as_str().unwrap_or_default();
        out.push(RuleRef {
            path: path.to_string(),
            type_: s["type"].as_str().unwrap_or_default().to_string(),
            message: r["message"]
                .as_str()
                .map_or_else(|| format!("failed rule: {rule}"), String::from),
            transition: rule.contains("oldSelf"),
        });
    }
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    for (k, c) in s["properties"].as_object().into_iter().flatten() {
        collect_rules(c, &join(k), out);
    }
    if s["additionalProperties"].is_object() {
        collect_rules(&s["additionalProperties"], &format!("{path}{{*}}"), out);
    }
    if s["items"].is_object() {
        collect_rules(&s["items"], &format!("{path}[*]"), out);
    }
}

async fn install(api: &Api, crd_file: &str) -> Crd {
    let crd = yaml_file(&root().join(crd_file));
    let a = api
        .call(
            reqwest::Method::POST,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &[],
            Some(&crd),
        )
        .await;
    assert_eq!(a.code, 201, "{crd_file}: {}", a.body);
    let spec = &crd["spec"];
    let group = spec["group"].as_str().expect("group");
    let plural = spec["names"]["plural"].as_str().expect("plural");
    let ver = spec["versions"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["storage"] == json!(true)))
        .expect("storage version");
    let version = ver["name"].as_str().expect("version");
    let ns = if spec["scope"] == json!("Namespaced") {
        "namespaces/default/"
    } else {
        ""
    };
    let collection = format!("/apis/{group}/{version}/{ns}{plural}");
    let mut rules = Vec::new();
    collect_rules(&ver["schema"]["openAPIV3Schema"], "", &mut rules);
    Crd {
        path: collection.clone(),
        collection,
        rules,
    }
}

/// What one case did, for the coverage check.
struct Outcome {
    admitted: bool,
    updated: bool,
    object: Value,
    message: String,
}

/// Runs one case; returns its outcome or the mismatch.
async fn run_case(
    api: &Api,
    crd: &Crd,
    base: &Value,
    case: &Value,
    chart: bool,
) -> Result<Outcome, String> {
    let id = case["id"].as_str().unwrap_or("?");
    let mut want = case.clone();
    if chart {
        if let Some(o) = case.get("chart").and_then(Value::as_object) {
            for k in ["message", "check", "causes", "code"] {
                want.as_object_mut().expect("case").remove(k);
            }
            for (k, v) in o {
                want[k] = v.clone();
            }
        }
    }
    let obj = build(base, case);
    let name = obj["metadata"]["name"].as_str().expect("name").to_string();
    let item = format!("{}/{name}", crd.path);
    // A clean slate: the object of the previous case goes.
    let _ = api.call(reqwest::Method::DELETE, &item, &[], None).await;
    let mut query: Vec<(String, String)> = Vec::new();
    let mut sub = "";
    for (k, v) in case["query"].as_object().into_iter().flatten() {
        let v = v.as_str().unwrap_or_default().to_string();
        if k == "subresource" {
            sub = if v == "status" { "/status" } else { "" };
        } else {
            query.push((k.clone(), v));
        }
    }
    let update = case.get("update");
    let answer = match update {
        None => {
            api.call(reqwest::Method::POST, &crd.collection, &query, Some(&obj))
                .await
        }
        Some(u) => {
            let created = api
                .call(reqwest::Method::POST, &crd.collection, &[], Some(&obj))
                .await;
            if created.code != 201 {
                return Err(format!(
                    "{id}: the create before the update failed: {} {}",
                    created.code, created.body
                ));
            }
            let mut next = created.body.clone();
            merge(&mut next, u);
            api.call(
                reqwest::Method::PUT,
                &format!("{item}{sub}"),
                &query,
                Some(&next),
            )
            .await
        }
    };
    let admitted = (200..300).contains(&answer.code);
    let message = answer.body["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut problems = Vec::new();
    match want["expect"].as_str() {
        Some("admitted") => {
            if !admitted {
                problems.push(format!("want admitted, got {}: {message}", answer.code));
            }
            for (path, v) in want["check"].as_object().into_iter().flatten() {
                let got = get(&answer.body, path);
                let ok = match v.as_str() {
                    Some("<absent>") => got.is_none(),
                    _ => got == Some(v),
                };
                if !ok {
                    problems.push(format!("{path}: want {v}, got {got:?}"));
                }
            }
            if let Some(w) = want["warnings"].as_array() {
                let w: Vec<String> = w
                    .iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect();
                if w != answer.warnings {
                    problems.push(format!("warnings: want {w:?}, got {:?}", answer.warnings));
                }
            }
        }
        Some("refused") => {
            let code = want["code"].as_u64().unwrap_or(422) as u16;
            if answer.code != code {
                problems.push(format!(
                    "want code {code}, got {}: {}",
                    answer.code, answer.body
                ));
            }
            let m = want["message"].as_str().unwrap_or_default();
            if m != message {
                problems.push(format!("message:\n  want: {m}\n  got:  {message}"));
            }
            let causes = answer.body["details"]["causes"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            for c in want["causes"].as_array().into_iter().flatten() {
                if !causes.contains(c) {
                    problems.push(format!("cause {c} not in {causes:?}"));
                }
            }
        }
        other => problems.push(format!("bad expect {other:?}")),
    }
    if problems.is_empty() {
        Ok(Outcome {
            admitted,
            updated: update.is_some(),
            object: answer.body,
            message,
        })
    } else {
        Err(format!(
            "{id}{}: {}",
            if chart { " (chart CRD)" } else { "" },
            problems.join("; ")
        ))
    }
}

/// Whether `v` has a value at a rule path (`[*]`: any item, `{*}`: any map value).
fn reaches(v: &Value, path: &str) -> bool {
    fn go(v: &Value, segs: &[String]) -> bool {
        let Some((first, rest)) = segs.split_first() else {
            return !v.is_null();
        };
        match first.as_str() {
            "*" => match v {
                Value::Array(a) => a.iter().any(|x| go(x, rest)),
                Value::Object(m) => m.values().any(|x| go(x, rest)),
                _ => false,
            },
            k => v.get(k).is_some_and(|x| go(x, rest)),
        }
    }
    let p = path.replace("{*}", ".*").replace("[*]", ".*");
    let segs: Vec<String> = p
        .split('.')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    go(v, &segs)
}

fn rule_error_regex(r: &RuleRef) -> Regex {
    let mut field = String::new();
    let mut rest = r.path.as_str();
    while !rest.is_empty() {
        if let Some(x) = rest.strip_prefix("[*]") {
            field.push_str(r"\[\d+\]");
            rest = x;
        } else if let Some(x) = rest.strip_prefix("{*}") {
            field.push_str(r"\[[^\]]*\]");
            rest = x;
        } else {
            let n = rest.find(['[', '{']).unwrap_or(rest.len());
            field.push_str(&regex::escape(&rest[..n]));
            rest = &rest[n..];
        }
    }
    Regex::new(&format!(
        r#"(^|[\[ ]){field}: Invalid value: "{}": (.* evaluating rule: )?{}"#,
        regex::escape(&r.type_),
        regex::escape(&r.message)
    ))
    .expect("regex")
}

/// Runs fixture files against one CRD (`chart`: with the `chart:` overrides) and checks the
/// coverage of its rules.
async fn run(crd_file: &str, files: &[(&str, bool)]) {
    let sim = KubeSim::start(SimConfig::default()).await.expect("sim");
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.admin_token().to_string(),
    };
    let crd = install(&api, crd_file).await;
    let mut failures = Vec::new();
    let mut outcomes = Vec::new();
    let mut cases = 0;
    for (file, chart) in files {
        let f = fixture(file);
        for case in f["cases"].as_array().expect("cases") {
            cases += 1;
            match run_case(&api, &crd, &f["base"], case, *chart).await {
                Ok(o) => outcomes.push(o),
                Err(e) => failures.push(e),
            }
        }
    }
    for r in &crd.rules {
        let re = rule_error_regex(r);
        let refused = outcomes
            .iter()
            .any(|o| !o.admitted && re.is_match(&o.message));
        let admitted = outcomes
            .iter()
            .any(|o| o.admitted && reaches(&o.object, &r.path) && (!r.transition || o.updated));
        if !refused || !admitted {
            failures.push(format!(
                "rule {} | {}: no {} case",
                r.path,
                r.message,
                if refused {
                    "admitted"
                } else if admitted {
                    "refused"
                } else {
                    "admitted nor refused"
                }
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{crd_file}: {} of {cases} cases or rules failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const UPSTREAM_NODEPOOL: &str = "../shared/upstream/karpenter/karpenter.sh_nodepools.yaml";
const UPSTREAM_NODECLAIM: &str = "../shared/upstream/karpenter/karpenter.sh_nodeclaims.yaml";
const CHART_NODEPOOL: &str = "charts/karpenter-ovhcloud/crds/karpenter.sh_nodepools.yaml";
const CHART_NODECLAIM: &str = "charts/karpenter-ovhcloud/crds/karpenter.sh_nodeclaims.yaml";
const OVHNODECLASS: &str =
    "charts/karpenter-ovhcloud/crds/karpenter.ovhcloud.sh_ovhnodeclasses.yaml";

#[tokio::test]
async fn upstream_nodepool_rules_and_schema() {
    run(UPSTREAM_NODEPOOL, &[("nodepool.yaml", false)]).await;
}

#[tokio::test]
async fn chart_nodepool_rules_and_schema() {
    run(
        CHART_NODEPOOL,
        &[("nodepool.yaml", true), ("chart-nodepool.yaml", false)],
    )
    .await;
}

#[tokio::test]
async fn upstream_nodeclaim_rules_and_schema() {
    run(UPSTREAM_NODECLAIM, &[("nodeclaim.yaml", false)]).await;
}

#[tokio::test]
async fn chart_nodeclaim_rules_and_schema() {
    run(
        CHART_NODECLAIM,
        &[("nodeclaim.yaml", true), ("chart-nodeclaim.yaml", false)],
    )
    .await;
}

#[tokio::test]
async fn ovhnodeclass_schema_and_limits() {
    run(OVHNODECLASS, &[("ovhnodeclass.yaml", false)]).await;
}

#[tokio::test]
async fn fixtures_name_the_crds_they_run_against() {
    for (file, crd) in [
        ("nodepool.yaml", UPSTREAM_NODEPOOL),
        ("nodeclaim.yaml", UPSTREAM_NODECLAIM),
        ("chart-nodepool.yaml", CHART_NODEPOOL),
        ("chart-nodeclaim.yaml", CHART_NODECLAIM),
        ("ovhnodeclass.yaml", OVHNODECLASS),
    ] {
        assert_eq!(fixture(file)["crd"], json!(crd), "{file}");
    }
    assert_eq!(fixture("nodepool.yaml")["chart_crd"], json!(CHART_NODEPOOL));
    assert_eq!(
        fixture("nodeclaim.yaml")["chart_crd"],
        json!(CHART_NODECLAIM)
    );
}

/// A refused write is refused under dry-run too (admission runs before the dry-run return),
/// and an admitted dry-run create stores nothing.
#[tokio::test]
async fn dry_run_is_admitted_like_a_write() {
    let sim = KubeSim::start(SimConfig::default()).await.expect("sim");
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.admin_token().to_string(),
    };
    let crd = install(&api, OVHNODECLASS).await;
    let f = fixture("ovhnodeclass.yaml");
    let dry = [("dryRun".to_string(), "All".to_string())];
    let mut bad = f["base"].clone();
    merge(
        &mut bad,
        &json!({"spec": {"serviceName": "x", "zone": "a"}}),
    );
    let a = api
        .call(reqwest::Method::POST, &crd.collection, &dry, Some(&bad))
        .await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert_eq!(a.body["details"]["causes"][0]["field"], "spec.serviceName");
    assert_eq!(a.warnings, ["unknown field \"spec.zone\""]);
    let a = api
        .call(
            reqwest::Method::POST,
            &crd.collection,
            &dry,
            Some(&f["base"]),
        )
        .await;
    assert_eq!(a.code, 201, "{}", a.body);
    assert_eq!(a.body["spec"]["endpoint"], "ovh-eu");
    let a = api
        .call(reqwest::Method::GET, &format!("{}/c", crd.path), &[], None)
        .await;
    assert_eq!(a.code, 404);
}

/// A CRD whose rule does not parse, or whose pattern is not a regex, is refused.
#[tokio::test]
async fn crds_with_bad_rules_or_patterns_are_refused() {
    let sim = KubeSim::start(SimConfig::default()).await.expect("sim");
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.admin_token().to_string(),
    };
    let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.com"},
        "spec": {"group": "example.com", "scope": "Cluster",
            "names": {"plural": "things", "singular": "thing", "kind": "Thing"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object",
                    "x-kubernetes-validations": [{"rule": "self.a ==", "message": "m"}],
                    "properties": {"a": {"type": "string", "pattern": "("}}}}}}}]}});
    let a = api
        .call(
            reqwest::Method::POST,
            "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
            &[],
            Some(&crd),
        )
        .await;
    assert_eq!(a.code, 422, "{}", a.body);
    let fields: Vec<&str> = a.body["details"]["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        [
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[a].pattern",
            "spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule"
        ]
    );
    let m = a.body["message"].as_str().unwrap_or_default();
    assert!(
        m.starts_with(
            "CustomResourceDefinition.apiextensions.k8s.io \"things.example.com\" is invalid: ["
        ),
        "{m}"
    );
}

/// ConfigMap and Secret contents over 1 MiB are refused (422), as kube-apiserver does, before
/// etcd's 1.5 MiB limit could be reached.
#[tokio::test]
async fn configmaps_and_secrets_are_limited_to_1_mib() {
    let sim = KubeSim::start(SimConfig::default()).await.expect("sim");
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.admin_token().to_string(),
    };
    let big = "x".repeat(1024 * 1024 + 1);
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"a": big}});
    let a = api
        .call(
            reqwest::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            &[],
            Some(&cm),
        )
        .await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert_eq!(
        a.body["message"],
        "ConfigMap \"big\" is invalid: []: Too long: may not be more than 1048576 bytes"
    );
    let s = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "big"}, "stringData": {"a": big}});
    let a = api
        .call(
            reqwest::Method::POST,
            "/api/v1/namespaces/default/secrets",
            &[],
            Some(&s),
        )
        .await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert_eq!(
        a.body["message"],
        "Secret \"big\" is invalid: data: Too long: may not be more than 1048576 bytes"
    );
    assert_eq!(
        a.body["details"]["causes"][0]["reason"],
        "FieldValueTooLong"
    );
    let ok = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ok"}, "binaryData": {"a": "eHh4"}});
    let a = api
        .call(
            reqwest::Method::POST,
            "/api/v1/namespaces/default/configmaps",
            &[],
            Some(&ok),
        )
        .await;
    assert_eq!(a.code, 201, "{}", a.body);
}

/// Patches (merge and JSON) and server-side apply are decoded and admitted like updates:
/// defaults come back, transition rules hold, unknown fields are refused under Strict.
#[tokio::test]
async fn patches_and_apply_are_decoded_and_admitted() {
    let sim = KubeSim::start(SimConfig::default()).await.expect("sim");
    let api = Api {
        http: reqwest::Client::new(),
        base: sim.base_url(),
        token: sim.admin_token().to_string(),
    };
    let crd = install(&api, UPSTREAM_NODECLAIM).await;
    let base = fixture("nodeclaim.yaml")["base"].clone();
    let a = api
        .call(reqwest::Method::POST, &crd.collection, &[], Some(&base))
        .await;
    assert_eq!(a.code, 201, "{}", a.body);
    let item = format!("{}/nc", crd.path);
    let merge_ct = "application/merge-patch+json";
    // The patch drops the defaulted expireAfter: defaulted again, so spec == oldSelf holds.
    let a = api
        .call_as(
            reqwest::Method::PATCH,
            &item,
            &[],
            Some(&json!({"metadata": {"labels": {"a": "b"}}, "spec": {"expireAfter": null}})),
            merge_ct,
        )
        .await;
    assert_eq!(a.code, 200, "{}", a.body);
    assert_eq!(a.body["spec"]["expireAfter"], "720h");
    let a = api
        .call_as(
            reqwest::Method::PATCH,
            &item,
            &[],
            Some(&json!({"spec": {"nodeClassRef": {"name": "other"}}})),
            merge_ct,
        )
        .await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert_eq!(
        a.body["message"],
        "NodeClaim.karpenter.sh \"nc\" is invalid: spec: Invalid value: \"object\": spec is immutable"
    );
    let a = api
        .call_as(
            reqwest::Method::PATCH,
            &item,
            &[("dryRun".into(), "All".into())],
            Some(&json!([{"op": "replace", "path": "/spec/nodeClassRef/group", "value": ""}])),
            "application/json-patch+json",
        )
        .await;
    assert_eq!(a.code, 422, "{}", a.body);
    let fields: Vec<&str> = a.body["details"]["causes"]
        .as_array()
        .expect("causes")
        .iter()
        .filter_map(|c| c["field"].as_str())
        .collect();
    // The spec's own rule first, then its fields' rules.
    assert_eq!(fields, ["spec", "spec.nodeClassRef.group"]);
    // Server-side apply: an unknown field is refused whatever the directive (the typed patch
    // cannot hold it); without it, the claim is created and defaulted.
    let mut applied = base.clone();
    applied["metadata"]["name"] = json!("nc2");
    applied["spec"]["foo"] = json!(1);
    let apply_ct = "application/apply-patch+yaml";
    let q = |fv: &str| {
        vec![
            ("fieldManager".to_string(), "t".to_string()),
            ("fieldValidation".to_string(), fv.to_string()),
        ]
    };
    let item2 = format!("{}/nc2", crd.path);
    for fv in ["Strict", "Warn", "Ignore"] {
        let a = api
            .call_as(
                reqwest::Method::PATCH,
                &item2,
                &q(fv),
                Some(&applied),
                apply_ct,
            )
            .await;
        assert_eq!(a.code, 500, "{}", a.body);
        assert_eq!(
            a.body["message"],
            "failed to create typed patch object (/nc2; karpenter.sh/v1, Kind=NodeClaim): .spec.foo: field not declared in schema"
        );
    }
    applied["spec"].as_object_mut().expect("spec").remove("foo");
    let a = api
        .call_as(
            reqwest::Method::PATCH,
            &item2,
            &q("Warn"),
            Some(&applied),
            apply_ct,
        )
        .await;
    assert_eq!(a.code, 201, "{}", a.body);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
    assert_eq!(a.body["spec"]["expireAfter"], "720h");
    // Applying a changed spec to the existing claim: refused by the transition rule.
    applied["spec"]["nodeClassRef"]["name"] = json!("other");
    let a = api
        .call_as(
            reqwest::Method::PATCH,
            &item2,
            &q("Ignore"),
            Some(&applied),
            apply_ct,
        )
        .await;
    assert_eq!(a.code, 422, "{}", a.body);
    assert!(a.warnings.is_empty(), "{:?}", a.warnings);
}
