//! The simulated OVH API over real HTTP: authentication, every OVH rule of docs/ARCHITECTURE.md with
//! OVH's status and error shape, state machines, stock, quotas, faults and inspection.

use std::time::{Duration, Instant};

use karpenter_ovhcloud_sim::ovh::{
    auth, ClusterConfig, FaultSpec, NodeEventKind, OvhSim, ProjectConfig, Quota, SimConfig,
    SimCredential, Timing, DEFAULT_KUBE_ID, DEFAULT_SERVICE_NAME,
};
use serde_json::{json, Value};

const GRA9_KUBE: &str = "gra9-kube";

/// Scale 100: a guide minute is 0.6 s. Timings long enough to observe intermediate states on a
/// busy machine.
fn config() -> SimConfig {
    let mut c = SimConfig::default().with_time_scale(100.0);
    c.timing = Timing {
        node_ready: Duration::from_secs(120),      // 1.2 s
        gpu_node_ready: Duration::from_secs(1200), // 12 s
        pool_install: Duration::from_secs(30),
        pool_visibility_lag: Duration::from_secs(100), // 1 s
        node_delete: Duration::from_secs(100),
        pool_delete: Duration::from_secs(100),
        out_of_stock_after: Duration::from_secs(30),
    };
    c.projects[0].clusters.push(ClusterConfig {
        id: GRA9_KUBE.into(),
        name: "single-zone".into(),
        region: "GRA9".into(),
    });
    c.credentials[0].rules = auth::all_rules();
    c
}

/// A minimal signed client written against the protocol, not against our own client.
struct Api {
    http: reqwest::Client,
    base: String,
    cred: SimCredential,
    kube: String,
    skew: i64,
}

struct Answer {
    status: u16,
    body: Value,
    query_id: Option<String>,
}

impl Api {
    fn new(sim: &OvhSim) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: sim.base_url(),
            cred: sim.config().credentials[0].clone(),
            kube: format!("/cloud/project/{DEFAULT_SERVICE_NAME}/kube/{DEFAULT_KUBE_ID}"),
            skew: 0,
        }
    }

    fn on(mut self, kube: &str) -> Self {
        self.kube = format!("/cloud/project/{DEFAULT_SERVICE_NAME}/kube/{kube}");
        self
    }

    async fn raw(&self, method: &str, path: &str, body: Option<&Value>, sign: bool) -> Answer {
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let ts = (jiff::Timestamp::now().as_second() + self.skew).to_string();
        let mut req = self
            .http
            .request(method.parse().unwrap(), &url)
            .body(body.clone());
        if !body.is_empty() {
            req = req.header("content-type", "application/json");
        }
        if sign {
            let sig = auth::expected_signature(
                &self.cred.application_secret,
                &self.cred.consumer_key,
                method,
                &url,
                body.as_bytes(),
                &ts,
            );
            req = req
                .header("X-Ovh-Application", &self.cred.application_key)
                .header("X-Ovh-Consumer", &self.cred.consumer_key)
                .header("X-Ovh-Timestamp", &ts)
                .header("X-Ovh-Signature", sig);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let query_id = resp
            .headers()
            .get("x-ovh-queryid")
            .map(|v| v.to_str().unwrap().to_string());
        let bytes = resp.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            query_id,
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.raw(method, path, body, true).await
    }

    async fn kube(&self, method: &str, suffix: &str, body: Option<&Value>) -> Answer {
        self.call(method, &format!("{}{suffix}", self.kube), body)
            .await
    }
}

/// Asserts an OVH-shaped error and returns its message.
fn error(a: &Answer, status: u16, class: &str) -> String {
    assert_eq!(a.status, status, "body {}", a.body);
    assert_eq!(a.body["class"], class, "body {}", a.body);
    assert!(a.query_id.as_deref().is_some_and(|q| !q.is_empty()));
    a.body["message"].as_str().expect("message").to_string()
}

fn template() -> Value {
    json!({"metadata": {"labels": {"karpenter.sh/nodepool": "demo", "team": "a"}, "annotations": {}, "finalizers": []},
           "spec": {"unschedulable": false, "taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]}})
}

fn pool_body(name: &str, flavor: &str, desired: u32, zone: Option<&str>) -> Value {
    let mut b = json!({"name": name, "flavorName": flavor, "desiredNodes": desired, "minNodes": 0,
        "maxNodes": 100, "autoscale": false, "antiAffinity": false, "monthlyBilled": false,
        "template": template()});
    if let Some(z) = zone {
        b["availabilityZones"] = json!([z]);
    }
    b
}

async fn create(api: &Api, body: &Value) -> Value {
    let a = api.kube("POST", "/nodepool", Some(body)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body
}

/// Polls `f` until it returns Some, at most `secs` seconds.
async fn until<T, F: std::future::Future<Output = Option<T>>>(
    secs: u64,
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "condition not met in {secs} s");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

async fn pool_status(api: &Api, id: &str) -> (String, Value) {
    let a = api.kube("GET", &format!("/nodepool/{id}"), None).await;
    (a.body["status"].as_str().unwrap_or("").to_string(), a.body)
}

async fn wait_status(api: &Api, id: &str, want: &str, secs: u64) -> Value {
    until(secs, || async {
        let (s, body) = pool_status(api, id).await;
        (s == want).then_some(body)
    })
    .await
}

#[tokio::test]
async fn authentication_like_ovh() {
    let mut cfg = config();
    cfg.credentials[0].rules = auth::guide_rules();
    let sim = OvhSim::start(cfg).await.unwrap();
    let api = Api::new(&sim);
    let path = format!("/cloud/project/{DEFAULT_SERVICE_NAME}/kube/{DEFAULT_KUBE_ID}");

    // Unsigned routes.
    let t = api.raw("GET", "/auth/time", None, false).await;
    assert_eq!(t.status, 200);
    assert!((t.body.as_i64().unwrap() - jiff::Timestamp::now().as_second()).abs() < 5);

    let a = api.raw("GET", &path, None, false).await;
    error(&a, 401, "Client::Unauthorized");
    assert_eq!(a.body["errorCode"], "NOT_AUTHENTICATED");

    let ok = api.call("GET", &path, None).await;
    assert_eq!(ok.status, 200, "{}", ok.body);

    let mut bad = Api::new(&sim);
    bad.cred.application_key = "nope".into();
    assert_eq!(
        bad.call("GET", &path, None).await.body["errorCode"],
        "INVALID_KEY"
    );
    let mut bad = Api::new(&sim);
    bad.cred.consumer_key = "nope".into();
    let a = bad.call("GET", &path, None).await;
    error(&a, 403, "Client::Forbidden");
    assert_eq!(a.body["errorCode"], "INVALID_CREDENTIAL");
    let mut bad = Api::new(&sim);
    bad.cred.application_secret = "wrong".into();
    let a = bad.call("GET", &path, None).await;
    error(&a, 400, "Client::BadRequest");
    assert_eq!(a.body["errorCode"], "INVALID_SIGNATURE");
    let mut late = Api::new(&sim);
    late.skew = -3600;
    let a = late.call("GET", &path, None).await;
    assert_eq!(a.status, 400);
    assert_eq!(a.body["errorCode"], "QUERY_TIME_OUT");

    // The signature covers the query string and the body.
    let caps =
        format!("/cloud/project/{DEFAULT_SERVICE_NAME}/capabilities/kube/flavors?region=GRA9");
    assert_eq!(api.call("GET", &caps, None).await.status, 200);

    // The guide's rules grant no DELETE on nodes.
    let a = api.kube("DELETE", "/node/x", None).await;
    error(&a, 403, "Client::Forbidden");
    assert_eq!(a.body["errorCode"], "NOT_GRANTED_CALL");
    // But the credential can always read itself.
    let me = api.call("GET", "/auth/currentCredential", None).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.body["rules"].as_array().unwrap().len(), 8);
}

#[tokio::test]
async fn server_clock_skew_is_enforced() {
    let mut cfg = config();
    cfg.clock_skew_secs = 3600;
    let sim = OvhSim::start(cfg).await.unwrap();
    let mut api = Api::new(&sim);
    let server = api
        .raw("GET", "/auth/time", None, false)
        .await
        .body
        .as_i64()
        .unwrap();
    assert!((server - jiff::Timestamp::now().as_second() - 3600).abs() < 5);
    assert_eq!(
        api.kube("GET", "", None).await.body["errorCode"],
        "QUERY_TIME_OUT"
    );
    api.skew = 3600;
    assert_eq!(api.kube("GET", "", None).await.status, 200);
}

#[tokio::test]
async fn create_body_must_carry_every_template_field() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    for ptr in [
        "/template",
        "/template/metadata",
        "/template/metadata/labels",
        "/template/metadata/annotations",
        "/template/metadata/finalizers",
        "/template/spec",
        "/template/spec/unschedulable",
        "/template/spec/taints",
    ] {
        let mut body = pool_body("p", "b3-8", 1, Some("eu-west-par-a"));
        let (parent, leaf) = ptr.rsplit_once('/').unwrap();
        body.pointer_mut(if parent.is_empty() { "" } else { parent })
            .unwrap()
            .as_object_mut()
            .unwrap()
            .remove(leaf);
        let a = api.kube("POST", "/nodepool", Some(&body)).await;
        let msg = error(&a, 400, "Client::BadRequest");
        assert!(msg.contains(&ptr[1..].replace('/', ".")), "{ptr}: {msg}");
    }
    let mut body = pool_body("p", "b3-8", 1, Some("eu-west-par-a"));
    body["template"]["spec"]["taints"] = json!([{"key": "k", "effect": "Sometimes"}]);
    error(
        &api.kube("POST", "/nodepool", Some(&body)).await,
        400,
        "Client::BadRequest",
    );
    body = pool_body("p", "b3-8", 1, Some("eu-west-par-a"));
    body["surprise"] = json!(1);
    error(
        &api.kube("POST", "/nodepool", Some(&body)).await,
        400,
        "Client::BadRequest",
    );
    let state = sim.state();
    assert!(
        state.projects[0].clusters[0].pools.is_empty(),
        "a rejected create created nothing"
    );
}

#[tokio::test]
async fn availability_zones_by_region_kind() {
    let sim = OvhSim::start(config()).await.unwrap();
    let par = Api::new(&sim);
    let gra = Api::new(&sim).on(GRA9_KUBE);
    for zones in [
        json!(null),
        json!([]),
        json!(["eu-west-par-a", "eu-west-par-b"]),
        json!(["gra9-a"]),
        json!(["EU-WEST-PAR-A"]),
    ] {
        let mut body = pool_body("p", "b3-8", 1, None);
        body["availabilityZones"] = zones.clone();
        let msg = error(
            &par.kube("POST", "/nodepool", Some(&body)).await,
            400,
            "Client::BadRequest",
        );
        assert!(msg.contains("availabilityZones"), "{zones}: {msg}");
    }
    let p = create(&par, &pool_body("p", "b3-8", 1, Some("eu-west-par-b"))).await;
    assert_eq!(p["availabilityZones"], json!(["eu-west-par-b"]));

    let msg = error(
        &gra.kube(
            "POST",
            "/nodepool",
            Some(&pool_body("p", "b3-8", 1, Some("gra9-a"))),
        )
        .await,
        400,
        "Client::BadRequest",
    );
    assert!(msg.contains("single availability zone"), "{msg}");
    let p = create(&gra, &pool_body("p", "b3-8", 1, None)).await;
    assert_eq!(p["availabilityZones"], json!([]));
}

#[tokio::test]
async fn size_limits_anti_affinity_and_monthly() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    let z = Some("eu-west-par-a");

    let mut b = pool_body("big", "b3-8", 1, z);
    b["maxNodes"] = json!(101);
    assert!(error(
        &api.kube("POST", "/nodepool", Some(&b)).await,
        400,
        "Client::BadRequest"
    )
    .contains("100"));
    b["maxNodes"] = json!(100);
    b["desiredNodes"] = json!(101);
    error(
        &api.kube("POST", "/nodepool", Some(&b)).await,
        400,
        "Client::BadRequest",
    );

    let mut aa = pool_body("aa", "b3-8", 5, z);
    aa["antiAffinity"] = json!(true);
    aa["maxNodes"] = json!(6);
    assert!(error(
        &api.kube("POST", "/nodepool", Some(&aa)).await,
        400,
        "Client::BadRequest"
    )
    .contains("anti-affinity"));
    aa["maxNodes"] = json!(5);
    let aa_pool = create(&api, &aa).await;
    let id = aa_pool["id"].as_str().unwrap();
    wait_status(&api, id, "READY", 10).await;
    let a = api
        .kube(
            "PUT",
            &format!("/nodepool/{id}"),
            Some(&json!({"desiredNodes": 6, "maxNodes": 6})),
        )
        .await;
    assert!(error(&a, 400, "Client::BadRequest").contains("anti-affinity"));

    let mut monthly = pool_body("m3", "b3-8", 0, z);
    monthly["monthlyBilled"] = json!(true);
    assert!(error(
        &api.kube("POST", "/nodepool", Some(&monthly)).await,
        400,
        "Client::BadRequest"
    )
    .contains("generation 2"));
    monthly["flavorName"] = json!("b2-7");
    monthly["name"] = json!("m2");
    let m = create(&api, &monthly).await;
    assert_eq!(m["monthlyBilled"], true);
    // Autoscale pools are allowed (ours keep false).
    let mut auto = pool_body("auto", "c3-4", 1, z);
    auto["autoscale"] = json!(true);
    assert_eq!(create(&api, &auto).await["autoscale"], true);
    // Same name twice: conflict.
    error(
        &api.kube("POST", "/nodepool", Some(&monthly)).await,
        409,
        "Client::Conflict",
    );
}

#[tokio::test]
async fn immutable_fields_and_never_back_to_hourly() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    let mut b = pool_body("m", "b2-7", 0, Some("eu-west-par-a"));
    b["monthlyBilled"] = json!(true);
    let id = create(&api, &b).await["id"].as_str().unwrap().to_string();
    wait_status(&api, &id, "READY", 10).await;
    for change in [
        json!({"monthlyBilled": false}),
        json!({"name": "other"}),
        json!({"flavorName": "b2-15"}),
        json!({"antiAffinity": true}),
        json!({"availabilityZones": ["eu-west-par-b"]}),
    ] {
        let a = api
            .kube("PUT", &format!("/nodepool/{id}"), Some(&change))
            .await;
        assert!(
            error(&a, 400, "Client::BadRequest").contains("cannot be updated"),
            "{change}"
        );
    }
    let (_, pool) = pool_status(&api, &id).await;
    assert_eq!(
        (pool["monthlyBilled"].clone(), pool["flavor"].clone()),
        (json!(true), json!("b2-7"))
    );
}

#[tokio::test]
async fn pools_per_cluster_limit() {
    let mut cfg = config();
    cfg.max_pools_per_cluster = 2;
    let sim = OvhSim::start(cfg).await.unwrap();
    let api = Api::new(&sim);
    create(&api, &pool_body("a", "b3-8", 0, Some("eu-west-par-a"))).await;
    create(&api, &pool_body("b", "b3-8", 0, Some("eu-west-par-b"))).await;
    let a = api
        .kube(
            "POST",
            "/nodepool",
            Some(&pool_body("c", "b3-8", 0, Some("eu-west-par-c"))),
        )
        .await;
    assert!(error(&a, 412, "Client::PreconditionFailed").contains("MaxNodePoolsReached"));
}

#[tokio::test]
async fn new_pool_is_briefly_missing_then_installs_and_scales() {
    let sim = OvhSim::start(config()).await.unwrap();
    let mut events = sim.subscribe();
    let api = Api::new(&sim);
    let created = create(
        &api,
        &pool_body(
            "karpenter-b3-8-eu-west-par-a",
            "b3-8",
            2,
            Some("eu-west-par-a"),
        ),
    )
    .await;
    assert_eq!(created["status"], "INSTALLING");
    let id = created["id"].as_str().unwrap().to_string();
    // Missing from GET right after creation (lag: 1 s real).
    let list = api.kube("GET", "/nodepool", None).await;
    assert_eq!(list.body, json!([]));
    error(
        &api.kube("GET", &format!("/nodepool/{id}"), None).await,
        404,
        "Client::NotFound",
    );
    assert!(!sim.state().projects[0].clusters[0].pools[0].visible);

    let pool = wait_status(&api, &id, "READY", 15).await;
    assert_eq!(
        (
            pool["desiredNodes"].clone(),
            pool["availableNodes"].clone(),
            pool["sizeStatus"].clone()
        ),
        (json!(2), json!(2), json!("CAPACITY_OK"))
    );
    // MKS dropped the karpenter.sh labels from the template.
    assert_eq!(pool["template"]["metadata"]["labels"], json!({"team": "a"}));

    let nodes = api
        .kube("GET", &format!("/nodepool/{id}/nodes"), None)
        .await
        .body;
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    for n in nodes {
        let name = n["name"].as_str().unwrap();
        let suffix = name
            .strip_prefix("karpenter-b3-8-eu-west-par-a-node-")
            .expect(name);
        assert!(
            suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
            "{name}"
        );
        assert_eq!(n["id"].as_str().unwrap().len(), 36);
        assert_eq!(n["instanceId"].as_str().unwrap().len(), 36);
        assert_eq!(n["status"], "READY");
        assert!(n["deployedAt"].is_string());
    }

    // Upscale: UPSCALING until the new node is READY.
    let a = api
        .kube(
            "PUT",
            &format!("/nodepool/{id}"),
            Some(&json!({"desiredNodes": 3})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(pool_status(&api, &id).await.0, "UPSCALING");
    // DELETE while UPSCALING is refused.
    let msg = error(
        &api.kube("DELETE", &format!("/nodepool/{id}"), None).await,
        400,
        "Client::BadRequest",
    );
    assert!(msg.contains("UPSCALING"), "{msg}");
    wait_status(&api, &id, "READY", 15).await;

    // Downscale without naming nodes: OVH picks one.
    api.kube(
        "PUT",
        &format!("/nodepool/{id}"),
        Some(&json!({"desiredNodes": 2})),
    )
    .await;
    assert_eq!(pool_status(&api, &id).await.0, "DOWNSCALING");
    wait_status(&api, &id, "READY", 15).await;
    assert_eq!(
        api.kube("GET", &format!("/nodepool/{id}/nodes"), None)
            .await
            .body
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // Delete: DELETING, then gone with its nodes.
    assert_eq!(
        api.kube("DELETE", &format!("/nodepool/{id}"), None)
            .await
            .status,
        200
    );
    assert_eq!(pool_status(&api, &id).await.0, "DELETING");
    until(15, || async {
        (api.kube("GET", &format!("/nodepool/{id}"), None)
            .await
            .status
            == 404)
            .then_some(())
    })
    .await;
    assert_eq!(api.kube("GET", "/node", None).await.body, json!([]));

    // Events: 3 created, 3 ready, 3 removed, with the pool's zone and template.
    let mut kinds = Vec::new();
    while let Ok(e) = events.try_recv() {
        assert_eq!(e.zone.as_deref(), Some("eu-west-par-a"));
        assert_eq!(e.region, "EU-WEST-PAR");
        kinds.push(e.kind);
    }
    for k in [
        NodeEventKind::Created,
        NodeEventKind::Ready,
        NodeEventKind::Removed,
    ] {
        assert_eq!(
            kinds.iter().filter(|x| **x == k).count(),
            3,
            "{k:?} in {kinds:?}"
        );
    }
}

#[tokio::test]
async fn gpu_nodes_take_longer() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    create(&api, &pool_body("cpu", "b3-8", 1, Some("eu-west-par-a"))).await;
    create(&api, &pool_body("gpu", "l4-90", 1, Some("eu-west-par-a"))).await;
    let nodes = until(15, || async {
        let nodes = api.kube("GET", "/node", None).await.body;
        let cpu_ready = nodes
            .as_array()?
            .iter()
            .any(|n| n["flavor"] == "b3-8" && n["status"] == "READY");
        cpu_ready.then_some(nodes)
    })
    .await;
    let gpu = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["flavor"] == "l4-90")
        .unwrap();
    assert_eq!(gpu["status"], "INSTALLING");
}

#[tokio::test]
async fn nodes_to_remove_by_id_name_or_instance() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    let id = create(&api, &pool_body("p", "b3-8", 4, Some("eu-west-par-c"))).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_status(&api, &id, "READY", 15).await;
    let nodes = api
        .kube("GET", &format!("/nodepool/{id}/nodes"), None)
        .await
        .body;
    let n: Vec<&Value> = nodes.as_array().unwrap().iter().collect();
    let put = |body: Value| {
        let api = &api;
        let id = id.clone();
        async move {
            api.kube("PUT", &format!("/nodepool/{id}"), Some(&body))
                .await
        }
    };
    // nodesToRemove needs desiredNodes.
    error(
        &put(json!({"nodesToRemove": [n[0]["id"]]})).await,
        400,
        "Client::BadRequest",
    );
    // Unknown node.
    error(
        &put(json!({"desiredNodes": 3, "nodesToRemove": ["ghost"]})).await,
        400,
        "Client::BadRequest",
    );
    let a = put(
        json!({"desiredNodes": 1, "nodesToRemove": [n[0]["id"], n[1]["name"], n[2]["instanceId"]]}),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    let after = api
        .kube("GET", &format!("/nodepool/{id}/nodes"), None)
        .await
        .body;
    for (i, node) in n.iter().enumerate() {
        let now = after
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["id"] == node["id"])
            .unwrap();
        let want = if i < 3 { "DELETING" } else { "READY" };
        assert_eq!(now["status"], want, "node {i}");
    }
    let pool = wait_status(&api, &id, "READY", 15).await;
    assert_eq!(pool["desiredNodes"], 1);
    let left = api
        .kube("GET", &format!("/nodepool/{id}/nodes"), None)
        .await
        .body;
    assert_eq!(left.as_array().unwrap().len(), 1);
    assert_eq!(left[0]["id"], n[3]["id"]);
}

#[tokio::test]
async fn delete_node_lowers_desired_nodes() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    let id = create(&api, &pool_body("p", "b3-8", 2, Some("eu-west-par-a"))).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_status(&api, &id, "READY", 15).await;
    let nodes = api.kube("GET", "/node", None).await.body;
    let victim = nodes[0]["id"].as_str().unwrap();
    assert_eq!(
        api.kube("GET", &format!("/node/{victim}"), None).await.body["name"],
        nodes[0]["name"]
    );
    assert_eq!(
        api.kube("DELETE", &format!("/node/{victim}"), None)
            .await
            .status,
        200
    );
    let (_, pool) = pool_status(&api, &id).await;
    assert_eq!(pool["desiredNodes"], 1);
    until(15, || async {
        (api.kube("GET", &format!("/node/{victim}"), None)
            .await
            .status
            == 404)
            .then_some(())
    })
    .await;
    error(
        &api.kube("DELETE", "/node/ghost", None).await,
        404,
        "Client::NotFound",
    );
}

#[tokio::test]
async fn quotas_answer_412_with_ovh_codes() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    let z = Some("eu-west-par-a");
    let cases = [
        (
            Quota {
                max_vcpus: Some(4),
                ..Quota::default()
            },
            "InsufficientVCPUsQuota",
        ),
        (
            Quota {
                max_ram_gb: Some(16),
                ..Quota::default()
            },
            "InsufficientRAMQuota",
        ),
        (
            Quota {
                max_instances: Some(2),
                ..Quota::default()
            },
            "InsufficientInstancesQuota",
        ),
    ];
    for (quota, code) in cases {
        assert!(sim.set_quota(DEFAULT_SERVICE_NAME, quota));
        let a = api
            .kube("POST", "/nodepool", Some(&pool_body("q", "b3-8", 3, z)))
            .await;
        assert!(
            error(&a, 412, "Client::PreconditionFailed").starts_with(code),
            "{}",
            a.body
        );
    }
    // Within quota, then a PUT beyond it.
    let id = create(&api, &pool_body("q", "b3-8", 2, z)).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    wait_status(&api, &id, "READY", 15).await;
    let a = api
        .kube(
            "PUT",
            &format!("/nodepool/{id}"),
            Some(&json!({"desiredNodes": 3})),
        )
        .await;
    assert!(error(&a, 412, "Client::PreconditionFailed").starts_with("InsufficientInstancesQuota"));
    let snap = sim.state();
    assert_eq!(snap.projects[0].usage.instances, 2);
}

#[tokio::test]
async fn out_of_stock_nodes_fail_and_stock_comes_back() {
    let sim = OvhSim::start(config()).await.unwrap();
    let mut events = sim.subscribe();
    sim.set_stock("b3-16", "eu-west-par-b", Some(1));
    let api = Api::new(&sim);
    let id = create(&api, &pool_body("s", "b3-16", 2, Some("eu-west-par-b"))).await["id"]
        .as_str()
        .unwrap()
        .to_string();
    let nodes = until(15, || async {
        let nodes = api.kube("GET", "/node", None).await.body;
        let settled = nodes
            .as_array()?
            .iter()
            .all(|n| n["status"] != "INSTALLING");
        settled.then_some(nodes)
    })
    .await;
    let mut statuses: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["status"].as_str().unwrap())
        .collect();
    statuses.sort_unstable();
    assert_eq!(statuses, ["FLAVOR_OUT_OF_STOCK_ERROR", "READY"]);
    let (_, pool) = pool_status(&api, &id).await;
    assert_eq!(pool["sizeStatus"], "UNDER");
    assert_eq!(sim.state().stock["b3-16@eu-west-par-b"], 0);
    let mut failed = 0;
    while let Ok(e) = events.try_recv() {
        failed += usize::from(e.kind == NodeEventKind::Failed);
    }
    assert_eq!(failed, 1);
    // Other zones are unaffected; removing the READY node gives its unit back.
    let ready = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["status"] == "READY")
        .unwrap();
    let failed_node = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["status"] != "READY")
        .unwrap();
    let a = api
        .kube(
            "PUT",
            &format!("/nodepool/{id}"),
            Some(&json!({"desiredNodes": 0, "nodesToRemove": [ready["id"], failed_node["id"]]})),
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    until(15, || async {
        (sim.state().stock["b3-16@eu-west-par-b"] == 1).then_some(())
    })
    .await;
}

#[tokio::test]
async fn cluster_flavors_capabilities_and_catalog() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    let c = api.kube("GET", "", None).await.body;
    assert_eq!(
        (c["id"].as_str(), c["region"].as_str(), c["status"].as_str()),
        (Some(DEFAULT_KUBE_ID), Some("EU-WEST-PAR"), Some("READY"))
    );
    let flavors = api.kube("GET", "/flavors", None).await.body;
    let b38 = flavors
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "b3-8")
        .unwrap();
    assert_eq!(
        (
            b38["vCPUs"].as_u64(),
            b38["ram"].as_u64(),
            b38["category"].as_str()
        ),
        (Some(2), Some(8), Some("b"))
    );
    let caps_path = format!("/cloud/project/{DEFAULT_SERVICE_NAME}/capabilities/kube/flavors");
    error(
        &api.call("GET", &caps_path, None).await,
        400,
        "Client::BadRequest",
    );
    let caps = api
        .call("GET", &format!("{caps_path}?region=GRA9"), None)
        .await
        .body;
    for family in [
        "b2", "b3", "c2", "c3", "r2", "r3", "d2", "i1", "t1", "t2", "a10", "a100", "l4", "l40s",
        "h100", "rtx5000",
    ] {
        assert!(
            caps.as_array().unwrap().iter().any(|f| f["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{family}-"))),
            "{family}"
        );
    }
    let cat = api
        .raw(
            "GET",
            "/order/catalog/public/cloud?ovhSubsidiary=FR",
            None,
            false,
        )
        .await
        .body;
    assert_eq!(cat["locale"]["currencyCode"], "EUR");
    let b38 = cat["addons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["planCode"] == "b3-8.consumption")
        .unwrap();
    assert_eq!(b38["pricings"][0]["price"], 5_120_000);
    assert!(cat["addons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["planCode"] == "b2-7.monthly.postpaid"));
    assert!(!cat["addons"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["planCode"] == "b3-8.monthly.postpaid"));
    error(
        &api.raw("GET", "/order/catalog/public/cloud", None, false)
            .await,
        400,
        "Client::BadRequest",
    );
    error(
        &api.raw("GET", "/no/such/route", None, false).await,
        404,
        "Client::NotFound",
    );
    // Another cluster id is a 404 with OVH's shape.
    error(
        &Api::new(&sim)
            .on("ghost")
            .kube("GET", "/nodepool", None)
            .await,
        404,
        "Client::NotFound",
    );
}

#[tokio::test]
async fn faults_are_injected_logged_and_deterministic() {
    let sim = OvhSim::start(config()).await.unwrap();
    let api = Api::new(&sim);
    let key = "GET /cloud/project/{serviceName}/kube/{kubeId}/nodepool";
    sim.set_fault(
        key,
        FaultSpec {
            fail_next: [503, 429, 0].into(),
            ..FaultSpec::default()
        },
    );
    let a = api.kube("GET", "/nodepool", None).await;
    error(&a, 503, "Server::ServiceUnavailable");
    let a = api.kube("GET", "/nodepool", None).await;
    error(&a, 429, "Client::TooManyRequests");
    // Dropped connection: the body is cut.
    let url = format!("{}{}/nodepool", sim.base_url(), api.kube);
    let resp = reqwest::get(&url).await;
    assert!(resp.is_err() || resp.unwrap().bytes().await.is_err());
    // Then normal service (even unsigned requests are answered, with 401).
    assert_eq!(api.kube("GET", "/nodepool", None).await.status, 200);
    // Other endpoints are unaffected.
    assert_eq!(api.kube("GET", "", None).await.status, 200);

    let log = sim.requests();
    let faults: Vec<_> = log.iter().filter_map(|r| r.fault.clone()).collect();
    assert_eq!(faults, ["injected 503", "injected 429", "injected drop"]);
    assert!(log.iter().all(|r| r.path.starts_with("/cloud/project/")));
    assert_eq!(log.iter().filter(|r| r.endpoint == key).count(), 4);

    // Inspection over HTTP.
    let http = reqwest::Client::new();
    let root = format!("http://{}", sim.addr());
    let reqs: Value = http
        .get(format!("{root}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(reqs.as_array().unwrap().len(), log.len());
    let state: Value = http
        .get(format!("{root}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["projects"][0]["serviceName"], DEFAULT_SERVICE_NAME);
    let put = http
        .put(format!("{root}/_sim/faults"))
        .json(&json!({"*": {"serverErrorRate": 1.0}}))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 204);
    let a = api.kube("GET", "", None).await;
    assert!(a.status >= 500, "{}", a.status);
    sim.clear_faults();
    assert_eq!(api.kube("GET", "", None).await.status, 200);
}

#[tokio::test]
async fn same_seed_same_ids() {
    let mut ids = Vec::new();
    for _ in 0..2 {
        let sim = OvhSim::start(config()).await.unwrap();
        let api = Api::new(&sim);
        ids.push(
            create(&api, &pool_body("p", "b3-8", 1, Some("eu-west-par-a"))).await["id"].clone(),
        );
    }
    assert_eq!(ids[0], ids[1]);
}

#[tokio::test]
async fn rejects_unknown_region_config() {
    let mut cfg = config();
    cfg.projects = vec![ProjectConfig {
        service_name: DEFAULT_SERVICE_NAME.into(),
        quota: Quota::default(),
        clusters: vec![ClusterConfig {
            id: "x".into(),
            name: "x".into(),
            region: "MARS1".into(),
        }],
    }];
    assert!(OvhSim::start(cfg).await.is_err());
}
