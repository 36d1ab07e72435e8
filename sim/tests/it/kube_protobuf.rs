//! Protobuf over HTTP, with raw kube-rs requests whose bodies are built and read with k8s-pb:
//! create/get/list/watch of a built-in kind, the watch framing, and the negotiation errors
//! (406 for a custom resource asked in protobuf only, 400 for a protobuf custom resource body,
//! 415 for an unknown body type).

use http_body_util::BodyExt;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_pb::api::core::v1 as core;
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};
use karpenter_ovhcloud_sim::kube::{Config as SimConfig, KubeSim};
use kube::api::{Api, PostParams};
use kube::client::Body;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::Client;
use prost::Message;
use std::time::Duration;

const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";
const KUBECTL_ACCEPT: &str = "application/vnd.kubernetes.protobuf,application/json";

async fn start() -> (KubeSim, Client) {
    let sim = KubeSim::start(SimConfig::default()).await.expect("sim");
    let kc = Kubeconfig::from_yaml(&sim.kubeconfig_yaml()).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    (sim, Client::try_from(cfg).expect("client"))
}

fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
    let u = Unknown {
        type_meta: Some(TypeMeta {
            api_version: Some(api_version.into()),
            kind: Some(kind.into()),
        }),
        raw: Some(raw),
        content_encoding: Some(String::new()),
        content_type: Some(String::new()),
    };
    [b"k8s\0".to_vec(), u.encode_to_vec()].concat()
}

fn unwrap(body: &[u8]) -> Unknown {
    assert_eq!(&body[..4], b"k8s\0", "protobuf magic");
    Unknown::decode(&body[4..]).expect("Unknown")
}

struct Answer {
    code: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

async fn send(
    client: &Client,
    method: &str,
    uri: &str,
    content_type: Option<&str>,
    accept: &str,
    body: Vec<u8>,
) -> Answer {
    let mut req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("accept", accept);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let res = client
        .send(req.body(Body::from(body)).unwrap())
        .await
        .expect("response");
    let code = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|c| c.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = res.into_body().collect_bytes().await.unwrap().to_vec();
    Answer {
        code,
        content_type,
        body,
    }
}

fn config_map(name: &str, value: &str) -> Vec<u8> {
    let cm = core::ConfigMap {
        metadata: Some(meta::ObjectMeta {
            name: Some(name.into()),
            generate_name: Some(String::new()),
            namespace: Some(String::new()),
            generation: Some(0),
            creation_timestamp: Some(meta::Time::default()),
            ..Default::default()
        }),
        data: [("k".to_string(), value.to_string())].into(),
        binary_data: [("bin".to_string(), vec![0u8, 1, 255])].into(),
        immutable: None,
    };
    envelope("v1", "ConfigMap", cm.encode_to_vec())
}

/// Reads watch frames (4-byte length + WatchEvent) until `n` arrived.
async fn frames(body: &mut Body, buf: &mut Vec<u8>, n: usize) -> Vec<meta::WatchEvent> {
    let mut out = Vec::new();
    loop {
        while buf.len() >= 4 {
            let len = u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize;
            if buf.len() < 4 + len {
                break;
            }
            out.push(meta::WatchEvent::decode(&buf[4..4 + len]).expect("WatchEvent"));
            buf.drain(..4 + len);
            if out.len() == n {
                return out;
            }
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("watch frame in time")
            .expect("stream open")
            .expect("frame");
        if let Ok(data) = frame.into_data() {
            buf.extend_from_slice(&data);
        }
    }
}

#[tokio::test]
async fn built_in_kinds_speak_protobuf_both_ways() {
    let (_sim, client) = start().await;
    let base = "/api/v1/namespaces/default/configmaps";
    let created = send(
        &client,
        "POST",
        base,
        Some(PROTOBUF),
        KUBECTL_ACCEPT,
        config_map("a", "1"),
    )
    .await;
    assert_eq!(
        created.code,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    assert_eq!(created.content_type, PROTOBUF);
    let u = unwrap(&created.body);
    let tm = u.type_meta.clone().unwrap();
    assert_eq!((tm.api_version(), tm.kind()), ("v1", "ConfigMap"));
    let cm = core::ConfigMap::decode(u.raw()).unwrap();
    let m = cm.metadata.unwrap();
    assert_eq!(m.name(), "a");
    assert!(
        m.creation_timestamp.unwrap().seconds() > 0,
        "set by the server"
    );
    assert!(!m.uid().is_empty());
    assert_eq!(cm.binary_data["bin"], vec![0, 1, 255]);

    // get: protobuf when asked, JSON otherwise.
    let got = send(
        &client,
        "GET",
        &format!("{base}/a"),
        None,
        KUBECTL_ACCEPT,
        vec![],
    )
    .await;
    assert_eq!((got.code, got.content_type.as_str()), (200, PROTOBUF));
    let cm = core::ConfigMap::decode(unwrap(&got.body).raw()).unwrap();
    assert_eq!(cm.data["k"], "1");
    let json = send(
        &client,
        "GET",
        &format!("{base}/a"),
        None,
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(json.content_type, "application/json");
    assert_eq!(json.json()["binaryData"]["bin"], "AAH/");

    // list.
    send(
        &client,
        "POST",
        base,
        Some(PROTOBUF),
        KUBECTL_ACCEPT,
        config_map("b", "2"),
    )
    .await;
    let list = send(&client, "GET", base, None, KUBECTL_ACCEPT, vec![]).await;
    assert_eq!((list.code, list.content_type.as_str()), (200, PROTOBUF));
    let u = unwrap(&list.body);
    assert_eq!(u.type_meta.clone().unwrap().kind(), "ConfigMapList");
    let items = core::ConfigMapList::decode(u.raw()).unwrap();
    let names: Vec<&str> = items
        .items
        .iter()
        .map(|i| i.metadata.as_ref().unwrap().name())
        .collect();
    assert_eq!(names, ["a", "b"]);
    let rv = items.metadata.unwrap().resource_version().to_string();

    // Errors follow the negotiated type.
    let missing = send(
        &client,
        "GET",
        &format!("{base}/nope"),
        None,
        KUBECTL_ACCEPT,
        vec![],
    )
    .await;
    assert_eq!(
        (missing.code, missing.content_type.as_str()),
        (404, PROTOBUF)
    );
    let u = unwrap(&missing.body);
    assert_eq!(u.type_meta.clone().unwrap().kind(), "Status");
    let status = meta::Status::decode(u.raw()).unwrap();
    assert_eq!((status.code(), status.reason()), (404, "NotFound"));

    // Delete answers the object in protobuf.
    let deleted = send(
        &client,
        "DELETE",
        &format!("{base}/b"),
        None,
        KUBECTL_ACCEPT,
        vec![],
    )
    .await;
    assert_eq!(
        (deleted.code, deleted.content_type.as_str()),
        (200, PROTOBUF)
    );

    // Watch: `;stream=watch`, length-prefixed WatchEvents whose raw is the full encoding.
    let req = http::Request::builder()
        .uri(format!(
            "{base}?watch=1&resourceVersion={rv}&allowWatchBookmarks=true"
        ))
        .header("accept", KUBECTL_ACCEPT)
        .body(Body::empty())
        .unwrap();
    let res = client.send(req).await.unwrap();
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.kubernetes.protobuf;stream=watch"
    );
    let mut body = res.into_body();
    let mut buf = Vec::new();
    send(
        &client,
        "POST",
        base,
        Some(PROTOBUF),
        KUBECTL_ACCEPT,
        config_map("c", "3"),
    )
    .await;
    let evs = frames(&mut body, &mut buf, 2).await;
    assert_eq!(evs[0].r#type(), "DELETED");
    assert_eq!(evs[1].r#type(), "ADDED");
    let raw = evs[1].object.clone().unwrap().raw.unwrap();
    let u = unwrap(&raw);
    assert_eq!(u.type_meta.clone().unwrap().kind(), "ConfigMap");
    assert_eq!(core::ConfigMap::decode(u.raw()).unwrap().data["k"], "3");
    // A bookmark (every second by default) carries a metadata-only ConfigMap.
    let bookmark = loop {
        let ev = frames(&mut body, &mut buf, 1).await.remove(0);
        if ev.r#type() == "BOOKMARK" {
            break ev;
        }
    };
    let u = unwrap(&bookmark.object.unwrap().raw.unwrap());
    let cm = core::ConfigMap::decode(u.raw()).unwrap();
    assert!(!cm.metadata.unwrap().resource_version().is_empty());
}

#[tokio::test]
async fn negotiation_errors_match_kube_apiserver() {
    let (_sim, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/karpenter.sh_nodepools.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    crds.create(
        &PostParams::default(),
        &serde_norway::from_str(&text).unwrap(),
    )
    .await
    .unwrap();
    let nodepools = "/apis/karpenter.sh/v1/nodepools";
    // Custom resources have no protobuf form: protobuf alone is 406, protobuf,json is JSON.
    let only = send(&client, "GET", nodepools, None, PROTOBUF, vec![]).await;
    assert_eq!(
        (only.code, only.content_type.as_str()),
        (406, "application/json")
    );
    assert_eq!(only.json()["reason"], "NotAcceptable");
    assert!(only.json()["message"]
        .as_str()
        .unwrap()
        .contains("application/json, application/yaml, application/vnd.kubernetes.protobuf"));
    let both = send(&client, "GET", nodepools, None, KUBECTL_ACCEPT, vec![]).await;
    assert_eq!(
        (both.code, both.content_type.as_str()),
        (200, "application/json")
    );
    assert_eq!(both.json()["kind"], "NodePoolList");
    // A protobuf body for a custom resource passes negotiation, then cannot be decoded.
    let body = envelope("karpenter.sh/v1", "NodePool", vec![]);
    let cr = send(
        &client,
        "POST",
        nodepools,
        Some(PROTOBUF),
        KUBECTL_ACCEPT,
        body,
    )
    .await;
    assert_eq!(cr.code, 400);
    assert!(cr.json()["message"]
        .as_str()
        .unwrap()
        .contains("NodePool in version \"v1\" cannot be handled as a NodePool"));
    // Unknown body types: 415 listing the three.
    let cbor = send(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some("application/cbor"),
        "application/json",
        b"\xa0".to_vec(),
    )
    .await;
    assert_eq!(cbor.code, 415);
    assert_eq!(cbor.json()["reason"], "UnsupportedMediaType");
    assert!(cbor.json()["message"].as_str().unwrap().ends_with(
        "accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"
    ));
    // Garbage protobuf: 400, never a panic.
    let garbage = send(
        &client,
        "POST",
        "/api/v1/namespaces/default/configmaps",
        Some(PROTOBUF),
        KUBECTL_ACCEPT,
        b"k8s\0\x0a\xff\xff".to_vec(),
    )
    .await;
    assert_eq!(garbage.code, 400);
    // text/plain for a built-in: 406.
    let text = send(
        &client,
        "GET",
        "/api/v1/namespaces",
        None,
        "text/plain",
        vec![],
    )
    .await;
    assert_eq!(text.code, 406);
}

/// The OpenAPI documents through raw kube-rs requests: `/openapi/v2` in JSON (406 for the
/// gnostic protobuf kubectl asks alone), the `/openapi/v3` index and a custom resource's
/// group/version document at its hashed URL; then a create without `fieldValidation` (the
/// server's default, Warn) prunes an unknown field with a `Warning` header.
#[tokio::test]
async fn openapi_documents_and_default_field_validation() {
    let (_sim, client) = start().await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let text = std::fs::read_to_string(format!(
        "{}/tests/data/karpenter.sh_nodepools.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    crds.create(
        &PostParams::default(),
        &serde_norway::from_str(&text).unwrap(),
    )
    .await
    .unwrap();
    let v2 = send(
        &client,
        "GET",
        "/openapi/v2",
        None,
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(v2.code, 200);
    let doc = v2.json();
    assert_eq!(doc["swagger"], "2.0");
    assert!(doc["definitions"]["io.k8s.api.core.v1.Pod"].is_object());
    assert!(doc["definitions"]["sh.karpenter.v1.NodePool"].is_object());
    let gnostic = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
    let refused = send(&client, "GET", "/openapi/v2", None, gnostic, vec![]).await;
    assert_eq!(refused.code, 406);
    let root = send(
        &client,
        "GET",
        "/openapi/v3",
        None,
        "application/json",
        vec![],
    )
    .await;
    let url = root.json()["paths"]["apis/karpenter.sh/v1"]["serverRelativeURL"]
        .as_str()
        .expect("karpenter.sh/v1 listed")
        .to_string();
    assert!(
        url.starts_with("/openapi/v3/apis/karpenter.sh/v1?hash="),
        "{url}"
    );
    let gv = send(&client, "GET", &url, None, "application/json", vec![]).await;
    assert_eq!(gv.code, 200);
    let gv = gv.json();
    let np = &gv["components"]["schemas"]["sh.karpenter.v1.NodePool"];
    assert_eq!(
        np["x-kubernetes-group-version-kind"],
        serde_json::json!([{"group": "karpenter.sh", "kind": "NodePool", "version": "v1"}])
    );
    assert!(gv["components"]["schemas"]["sh.karpenter.v1.NodePoolList"].is_object());
    // The same document again: same hash.
    let again = send(
        &client,
        "GET",
        "/openapi/v3",
        None,
        "application/json",
        vec![],
    )
    .await;
    assert_eq!(
        again.json()["paths"]["apis/karpenter.sh/v1"]["serverRelativeURL"],
        url.as_str()
    );
    // Warn is the default: the unknown field is dropped and named in a Warning header.
    let cm = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "w", "namespace": "default"}, "data": {"a": "b"}, "foo": 1});
    let req = http::Request::builder()
        .method("POST")
        .uri("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/json")
        .body(Body::from(serde_json::to_vec(&cm).unwrap()))
        .unwrap();
    let res = client.send(req).await.expect("response");
    assert_eq!(res.status().as_u16(), 201);
    let warnings: Vec<String> = res
        .headers()
        .get_all("warning")
        .iter()
        .filter_map(|w| w.to_str().ok().map(String::from))
        .collect();
    assert_eq!(warnings, ["299 - \"unknown field \\\"foo\\\"\""]);
    let body = res.into_body().collect_bytes().await.unwrap();
    let created: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(created.get("foo").is_none(), "{created}");
}
