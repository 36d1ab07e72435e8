//! Garbage OVH responses: a loopback HTTP server answers every API call with a generated
//! status and body (arbitrary bytes, truncated or mistyped JSON, OVH-shaped error bodies) and
//! the client must never panic, keep the status, class and query id of every error answer,
//! report an undecodable success as a decode error, and never echo a credential. The
//! committed corpus (`tests/fuzz/ovh_responses/`, one file per case: the status on the first
//! line, the body after it) is replayed first; proptest's failures are persisted to
//! `tests/fuzz/ovh_responses.regressions` and replayed on every run. More cases:
//! `PROPTEST_CASES=5000 cargo nextest run -p karpenter-ovhcloud --test it -E 'test(/^ovh_fuzz::/)'`.

use std::sync::{Arc, Mutex};

use karpenter_ovhcloud::ovh::error::{classify, OvhError};
use karpenter_ovhcloud::ovh::{ClientConfig, ClusterRef, Credentials, OvhClient, RetryPolicy};
use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence, TestCaseError, TestRunner};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const APP_KEY: &str = "fuzzappkey0123456789";
const APP_SECRET: &str = "fuzzsecret0123456789abcdef";
const CONSUMER_KEY: &str = "fuzzconsumer0123456789abcdef";
const QUERY_ID: &str = "EU.ext-1.fuzz.1234";

/// What the server answers to every call but `/auth/time`.
#[derive(Clone, Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// A loopback HTTP/1.1 server answering `/auth/time` truthfully (so signed calls reach the
/// garbage) and everything else with the current [`Answer`].
async fn serve(answer: Arc<Mutex<Answer>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut req = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as much body as Content-Length says (bounded).
                let head_end = loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                    if let Some(i) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                    if req.len() > 1 << 20 {
                        return;
                    }
                };
                let head = String::from_utf8_lossy(&req[..head_end]).to_ascii_lowercase();
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0)
                    .min(1 << 20);
                while req.len() < head_end + len {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => req.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = if head.starts_with("get /1.0/auth/time ") {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs();
                    (200, now.to_string().into_bytes())
                } else {
                    let a = answer.lock().unwrap().clone();
                    (a.status, a.body)
                };
                let mut out = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\
                     X-Ovh-QueryID: {QUERY_ID}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                out.extend_from_slice(&body);
                let _ = sock.write_all(&out).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}/1.0")
}

/// No retries (a 5xx answer is final) and no rate limit to wait on.
fn client(base: &str) -> OvhClient {
    let creds = Credentials::new(APP_KEY, APP_SECRET, CONSUMER_KEY).unwrap();
    let mut cfg = ClientConfig::new(base.parse().unwrap(), creds);
    cfg.retry = RetryPolicy::none();
    cfg.rate_limit.per_minute = 6_000_000.0;
    cfg.rate_limit.burst = 1_000_000;
    OvhClient::new(cfg).unwrap()
}

/// Checks one error against the answer that caused it.
fn check_error(a: &Answer, call: &str, e: &OvhError) -> Result<(), String> {
    let shown = format!("{e} {e:?}");
    for secret in [APP_KEY, APP_SECRET, CONSUMER_KEY] {
        if shown.contains(secret) {
            return Err(format!("{call}: a credential in the error: {shown}"));
        }
    }
    if (200..300).contains(&a.status) {
        // A success whose body is not the documented shape.
        return match e {
            OvhError::Decode { query_id, .. } if query_id.as_deref() == Some(QUERY_ID) => Ok(()),
            // A 204 carries no body whatever the server sends.
            OvhError::Transport { .. } if a.status == 204 => Ok(()),
            other => Err(format!("{call}: {} answered, got {other:?}", a.status)),
        };
    }
    let OvhError::Api {
        status,
        class,
        error_code,
        message,
        query_id,
        kind,
        ..
    } = e
    else {
        return Err(format!("{call}: {} answered, got {e:?}", a.status));
    };
    if *status != a.status || query_id.as_deref() != Some(QUERY_ID) {
        return Err(format!("{call}: status or query id lost: {e:?}"));
    }
    // A 304 carries no body (RFC 9110 15.4.5): HTTP clients drop what the server sent.
    let body: &[u8] = if a.status == 304 { &[] } else { &a.body };
    let parsed: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    let field = |k: &str| parsed.get(k).and_then(|v| v.as_str());
    if class.as_deref() != field("class") || error_code.as_deref() != field("errorCode") {
        return Err(format!("{call}: class or errorCode lost: {e:?}"));
    }
    if let Some(m) = field("message") {
        if message != m {
            return Err(format!("{call}: message lost: {e:?}"));
        }
    }
    if *kind != classify(*status, class.as_deref(), error_code.as_deref(), message) {
        return Err(format!("{call}: misclassified: {e:?}"));
    }
    Ok(())
}

/// Every kind of call (each decodes a different model) against one answer.
async fn exercise(
    client: &OvhClient,
    answer: &Arc<Mutex<Answer>>,
    a: Answer,
) -> Result<(), String> {
    *answer.lock().unwrap() = a.clone();
    let c = ClusterRef::new("0123456789abcdef0123456789abcdef", "kube-fuzz");
    macro_rules! call {
        ($name:literal, $fut:expr) => {
            match $fut.await {
                Ok(_) if (200..300).contains(&a.status) => {}
                Ok(v) => return Err(format!("{}: {} answered, got Ok({v:?})", $name, a.status)),
                Err(e) => check_error(&a, $name, &e)?,
            }
        };
    }
    call!("cluster", client.cluster(&c));
    call!("list_node_pools", client.list_node_pools(&c));
    call!("node_pool", client.node_pool(&c, "pool-1"));
    call!("node_pool_nodes", client.node_pool_nodes(&c, "pool-1"));
    call!("list_nodes", client.list_nodes(&c));
    call!("cluster_flavors", client.cluster_flavors(&c));
    call!("current_credential", client.current_credential());
    call!("delete_node", client.delete_node(&c, "node-1"));
    Ok(())
}

/// Valid-looking bodies, for the mutations to start from.
const SEEDS: &[&str] = &[
    r#"{"id":"p1","name":"karpenter-b3-8-eu-west-par-a","flavor":"b3-8","status":"READY","desiredNodes":1,"minNodes":0,"maxNodes":5,"currentNodes":1,"availableNodes":1,"upToDateNodes":1,"autoscale":false,"monthlyBilled":false,"antiAffinity":false,"availabilityZones":["eu-west-par-a"],"template":{"metadata":{"labels":{},"annotations":{},"finalizers":[]},"spec":{"taints":[],"unschedulable":false}},"createdAt":"2026-01-01T00:00:00Z","updatedAt":"2026-01-01T00:00:00Z"}"#,
    r#"[{"id":"n1","projectId":"0123456789abcdef0123456789abcdef","instanceId":"i1","nodePoolId":"p1","name":"node-1","flavor":"b3-8","status":"READY","isUpToDate":true,"version":"1.31","createdAt":"2026-01-01T00:00:00Z","deployedAt":null,"updatedAt":"2026-01-01T00:00:00Z","availabilityZone":"eu-west-par-a"}]"#,
    r#"{"class":"Client::BadRequest","message":"Not enough quota: cores","errorCode":"QUOTA"}"#,
    r#"{"class":"Client::Forbidden","message":"This call has not been granted","errorCode":"NOT_GRANTED_CALL"}"#,
    r#"[{"name":"b3-8","category":"b","state":"available","gpus":0,"vCPUs":8,"ram":32}]"#,
    r#"{"applicationId":1,"credentialId":2,"status":"validated","rules":[{"method":"GET","path":"/*"}]}"#,
];

fn body() -> impl Strategy<Value = Vec<u8>> {
    let seed = prop::sample::select(SEEDS);
    prop_oneof![
        // Arbitrary bytes.
        prop::collection::vec(any::<u8>(), 0..512),
        // A seed cut anywhere.
        (seed.clone(), any::<prop::sample::Index>())
            .prop_map(|(s, i)| s.as_bytes()[..i.index(s.len() + 1)].to_vec()),
        // A seed with one byte replaced.
        (seed.clone(), any::<prop::sample::Index>(), any::<u8>()).prop_map(|(s, i, b)| {
            let mut v = s.as_bytes().to_vec();
            let i = i.index(v.len());
            v[i] = b;
            v
        }),
        // A seed with a value spliced in (wrong types, huge numbers, nulls).
        (
            seed,
            any::<prop::sample::Index>(),
            prop::sample::select(
                &[
                    "null",
                    "-1",
                    "1e400",
                    "18446744073709551616",
                    "\"\"",
                    "[]",
                    "{}",
                    "true",
                    "\"\\ud800\"",
                    "\"x\"",
                ][..]
            )
        )
            .prop_map(|(s, i, v)| {
                let i = i.index(s.len() + 1);
                let s = s.as_bytes();
                [&s[..i], v.as_bytes(), &s[i..]].concat()
            }),
        // OVH-shaped error bodies with arbitrary fields.
        (
            any::<Option<String>>(),
            any::<Option<String>>(),
            any::<Option<String>>()
        )
            .prop_map(|(class, message, code)| serde_json::to_vec(
                &serde_json::json!({"class": class, "message": message, "errorCode": code})
            )
            .unwrap()),
    ]
}

fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        prop::sample::select(
            &[200u16, 201, 204, 400, 401, 403, 404, 409, 412, 422, 429, 500, 502, 503, 504][..]
        ),
        200u16..600,
    ]
}

/// A runtime, the server it runs and a client of it.
fn fixture() -> (tokio::runtime::Runtime, Arc<Mutex<Answer>>, OvhClient) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let answer = Arc::new(Mutex::new(Answer {
        status: 200,
        body: Vec::new(),
    }));
    let base = rt.block_on(serve(answer.clone()));
    let client = client(&base);
    (rt, answer, client)
}

/// The committed corpus, replayed.
#[test]
fn corpus_of_ovh_responses() {
    let (rt, answer, client) = fixture();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fuzz/ovh_responses");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let split = bytes
            .iter()
            .position(|b| *b == b'\n')
            .unwrap_or(bytes.len());
        let status: u16 = std::str::from_utf8(&bytes[..split])
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let body = bytes.get(split + 1..).unwrap_or_default().to_vec();
        rt.block_on(exercise(&client, &answer, Answer { status, body }))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        n += 1;
    }
    assert!(n >= 10, "the corpus is there: {n} files");
}

/// Generated answers; failures are persisted next to the corpus.
#[test]
fn generated_ovh_responses() {
    let (rt, answer, client) = fixture();
    let config = Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200),
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fuzz/ovh_responses.regressions"
        )))),
        ..Config::default()
    };
    let mut runner = TestRunner::new(config);
    runner
        .run(&(status(), body()), |(status, body)| {
            rt.block_on(exercise(&client, &answer, Answer { status, body }))
                .map_err(TestCaseError::fail)
        })
        .unwrap();
}
