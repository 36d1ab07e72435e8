//! Bad input sweep (issue 12.3): one controller process on the simulated cluster gets a table
//! of bad NodePools, OVHNodeClasses and policy ConfigMaps, plus seeded generated ones, while
//! the guide's `demo-pool` keeps serving `inflate` (scaled up in the middle of the sweep).
//! Every input must get a clear verdict: the simulated API server's CRD schema refuses it at
//! admission (with its message), or the controller says why in a status condition or an
//! Event. The controller process must never exit, and no node is launched for a bad input.
//!
//! Short form (CI): the table and 8 generated inputs. Long form:
//! `BAD_INPUT_GENERATED=200 BAD_INPUT_SEED=7 cargo nextest run -p karpenter-ovhcloud --test it
//! --no-capture -E 'test(/^bad_input::/)'`.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::ByteString;
use karpenter_ovhcloud::api::{NodePool, OVHNodeClass};
use karpenter_ovhcloud_sim::ovh::{DEFAULT_APPLICATION_KEY, DEFAULT_APPLICATION_SECRET};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::{Client, ResourceExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

use crate::common::components::clock_importing_select;
use crate::controller_common::cluster::{nodepool, World};
use crate::controller_common::{env_or, event, eventually, merge};

/// What must come of one input.
#[derive(Clone, Debug)]
enum Expect {
    /// The API server refuses it; its message contains this.
    Rejected(&'static str),
    /// Condition `type_` of the object is False with this reason, its message containing
    /// `message`.
    Condition {
        type_: &'static str,
        reason: &'static str,
        message: &'static str,
    },
    /// A Warning Event of `reason` about an object whose name starts with `on` (the input's
    /// own name when empty), its note containing `note`.
    Event {
        on: &'static str,
        reason: &'static str,
        note: &'static str,
    },
    /// Generated: any verdict of condition `type_` (True, or False with one of the reasons);
    /// or a refusal at admission.
    AnyVerdict {
        type_: &'static str,
        reasons: &'static [&'static str],
    },
    /// Generated policy: a `PolicyLoaded` or `PolicyRefused` Event (`PolicyRefused` only when
    /// `refused`).
    PolicyVerdict { refused: bool },
}

/// One bad input.
struct Case {
    /// Object to create (NodePool, OVHNodeClass or ConfigMap, as JSON).
    object: Value,
    expect: Expect,
}

impl Case {
    fn name(&self) -> String {
        self.object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .into()
    }

    fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
}

fn api_for(client: &Client, kind: &str) -> Api<DynamicObject> {
    match kind {
        "NodePool" => Api::all_with(client.clone(), &ApiResource::erase::<NodePool>(&())),
        "OVHNodeClass" => Api::all_with(client.clone(), &ApiResource::erase::<OVHNodeClass>(&())),
        "ConfigMap" => Api::namespaced_with(
            client.clone(),
            "karpenter",
            &ApiResource::erase::<ConfigMap>(&()),
        ),
        other => panic!("no API for {other}"),
    }
}

fn bad_pool(name: &str, requirements: Value, extra: Value) -> Value {
    let mut np = nodepool(name, &["b3-8"], json!({}));
    np["spec"]["template"]["spec"]["requirements"] = requirements;
    merge(&mut np, extra);
    np
}

fn class(name: &str, secret: &str, extra: Value) -> Value {
    let mut c = json!({"apiVersion": "karpenter.ovhcloud.sh/v1alpha1", "kind": "OVHNodeClass",
        "metadata": {"name": name},
        "spec": {"serviceName": karpenter_ovhcloud_sim::ovh::DEFAULT_SERVICE_NAME,
            "kubeId": karpenter_ovhcloud_sim::ovh::DEFAULT_KUBE_ID, "region": "EU-WEST-PAR",
            "credentialsSecretRef": {"name": secret, "namespace": "karpenter"}}});
    merge(&mut c, extra);
    c
}

/// A policy ConfigMap of `world` holding `wasm` (none when None); `extra` merged in.
fn policy_cm(name: &str, world: &str, wasm: Option<&[u8]>, extra: Value) -> Value {
    let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "karpenter",
            "labels": {"karpenter.ovhcloud.sh/policy": world}}});
    if let Some(bytes) = wasm {
        cm["binaryData"] = json!({"policy.wasm": ByteString(bytes.to_vec())});
    }
    merge(&mut cm, extra);
    cm
}

fn testdata(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../policies/testdata/dist/{name}.wasm",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn default_policy() -> Vec<u8> {
    std::fs::read(format!(
        "{}/../policies/dist/flavor-selection.wasm",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

const IT: &str = "node.kubernetes.io/instance-type";
const ZONE: &str = "topology.kubernetes.io/zone";

/// The fixed table.
fn table() -> Vec<Case> {
    let cond = |type_, reason, message| Expect::Condition {
        type_,
        reason,
        message,
    };
    let validation = |reason, message| cond("ValidationSucceeded", reason, message);
    let refused = |note| Expect::Event {
        on: "",
        reason: "PolicyRefused",
        note,
    };
    let mut garbage = vec![0u8; 4096];
    StdRng::seed_from_u64(1).fill(&mut garbage[..]);
    vec![
        // NodePools.
        Case {
            object: bad_pool(
                "bad-operator",
                json!([{"key": IT, "operator": "Between", "values": ["b3-8"]}]),
                json!({}),
            ),
            expect: Expect::Rejected("Unsupported value: \"Between\""),
        },
        Case {
            object: bad_pool(
                "in-without-values",
                json!([{"key": IT, "operator": "In", "values": []}]),
                json!({}),
            ),
            // The CRD's CEL rule refuses it at admission.
            expect: Expect::Rejected("requirements with operator 'In' must have a value defined"),
        },
        Case {
            object: bad_pool(
                "gt-not-a-number",
                json!([{"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": "Gt", "values": ["many"]}]),
                json!({}),
            ),
            // The CRD's CEL rule fails to evaluate `int("many")`: refused at admission.
            expect: Expect::Rejected(
                "type conversion error from 'string' to 'int' evaluating rule",
            ),
        },
        Case {
            object: bad_pool(
                "instance-type-nope",
                json!([{"key": IT, "operator": "In", "values": ["nope"]}]),
                json!({}),
            ),
            expect: validation(
                "NoMatchingFlavor",
                "no flavor of region EU-WEST-PAR meets the requirements",
            ),
        },
        Case {
            object: bad_pool(
                "in-and-notin",
                json!([{"key": IT, "operator": "In", "values": ["b3-8"]},
                       {"key": IT, "operator": "NotIn", "values": ["b3-8"]}]),
                json!({}),
            ),
            expect: validation("NodePoolValidationFailed", "contradict each other"),
        },
        Case {
            object: bad_pool(
                "exists-and-not",
                json!([{"key": "team", "operator": "Exists"},
                       {"key": "team", "operator": "DoesNotExist"}]),
                json!({}),
            ),
            expect: validation("NodePoolValidationFailed", "team contradict each other"),
        },
        Case {
            object: bad_pool(
                "zone-elsewhere",
                json!([{"key": ZONE, "operator": "In", "values": ["gra-a"]}]),
                json!({}),
            ),
            expect: validation("NoMatchingZone", "no zone of region EU-WEST-PAR"),
        },
        Case {
            object: bad_pool(
                "unknown-class",
                json!([{"key": IT, "operator": "In", "values": ["b3-8"]}]),
                json!({"spec": {"template": {"spec": {"nodeClassRef": {"name": "does-not-exist"}}}}}),
            ),
            expect: cond(
                "NodeClassReady",
                "NodeClassNotFound",
                "OVHNodeClass does-not-exist not found",
            ),
        },
        Case {
            object: bad_pool(
                "aws-class",
                json!([{"key": IT, "operator": "In", "values": ["b3-8"]}]),
                json!({"spec": {"template": {"spec": {"nodeClassRef": {
                    "group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}}}}}),
            ),
            expect: cond(
                "NodeClassReady",
                "NodeClassNotFound",
                "is not an OVHNodeClass",
            ),
        },
        Case {
            object: bad_pool(
                "missing-operator",
                json!([{"key": IT, "values": ["b3-8"]}]),
                json!({}),
            ),
            expect: Expect::Rejected("operator: Required value"),
        },
        Case {
            object: bad_pool(
                "weight-as-text",
                json!([{"key": IT, "operator": "In", "values": ["b3-8"]}]),
                json!({"spec": {"weight": "heavy"}}),
            ),
            expect: Expect::Rejected("must be of type integer"),
        },
        // Its limits are below a single node: every pod sent there is told so.
        Case {
            object: bad_pool(
                "capped",
                json!([{"key": IT, "operator": "In", "values": ["b3-8"]}]),
                json!({"spec": {"limits": {"cpu": "1"}}}),
            ),
            expect: Expect::Event {
                on: "capped-",
                reason: "FailedScheduling",
                note: "limits reached",
            },
        },
        // OVHNodeClasses, each with a NodePool on it.
        Case {
            object: class(
                "bad-service-name",
                "ovh-credentials",
                json!({"spec": {"serviceName": "not-32-hex"}}),
            ),
            // The CRD's pattern refuses it at admission.
            expect: Expect::Rejected("spec.serviceName in body should match '^[a-f0-9]{32}$'"),
        },
        Case {
            object: class("missing-secret", "no-such-secret", json!({})),
            expect: cond(
                "Ready",
                "CredentialsNotFound",
                "Secret karpenter/no-such-secret not found",
            ),
        },
        Case {
            object: class("wrong-credentials", "wrong-credentials", json!({})),
            expect: cond("Ready", "Unauthorized", "HTTP 403"),
        },
        Case {
            object: {
                let mut c = class("no-region", "ovh-credentials", json!({}));
                c["spec"].as_object_mut().unwrap().remove("region");
                c
            },
            expect: Expect::Rejected("region: Required value"),
        },
        Case {
            object: bad_pool(
                "on-missing-secret",
                json!([{"key": IT, "operator": "In", "values": ["b3-8"]}]),
                json!({"spec": {"template": {"spec": {"nodeClassRef": {"name": "missing-secret"}}}}}),
            ),
            expect: cond("NodeClassReady", "NodeClassNotReady", "CredentialsNotFound"),
        },
        // Policy ConfigMaps.
        Case {
            object: policy_cm("garbage", "flavor-selection", Some(&garbage), json!({})),
            expect: refused("not a policy component"),
        },
        Case {
            object: policy_cm(
                "oversized",
                "flavor-selection",
                Some(&testdata("oversize")),
                json!({}),
            ),
            // Over a ConfigMap's 1 MiB: kube-apiserver refuses it before the controller sees it.
            expect: Expect::Rejected("[]: Too long: may not be more than 1048576 bytes"),
        },
        Case {
            object: policy_cm(
                "wrong-world",
                "flavor-selection",
                Some(&testdata("wrong-world")),
                json!({}),
            ),
            expect: refused("implements the `drift` world, not `flavor-selection`"),
        },
        Case {
            object: policy_cm(
                "core-module",
                "flavor-selection",
                Some(&wat::parse_str("(module (func (export \"select\")))").unwrap()),
                json!({}),
            ),
            expect: refused("not a policy component"),
        },
        Case {
            object: policy_cm(
                "imports-a-clock",
                "flavor-selection",
                Some(&clock_importing_select()),
                json!({}),
            ),
            expect: refused("imports `karpenter-ovhcloud:policy/clock@0.2.0`"),
        },
        Case {
            object: policy_cm(
                "panics",
                "flavor-selection",
                Some(&testdata("panic")),
                json!({}),
            ),
            expect: refused("policy trapped"),
        },
        Case {
            object: policy_cm(
                "unknown-world",
                "packing",
                Some(&default_policy()),
                json!({}),
            ),
            expect: refused("karpenter.ovhcloud.sh/policy=\"packing\""),
        },
        Case {
            object: policy_cm(
                "config-not-json",
                "flavor-selection",
                Some(&default_policy()),
                json!({"data": {"config.json": "{not json"}}),
            ),
            expect: refused("data.config.json is not JSON"),
        },
        Case {
            object: policy_cm("no-component", "flavor-selection", None, json!({})),
            expect: refused("binaryData.policy.wasm is missing"),
        },
    ]
}

/// `n` seeded inputs: NodePools with random requirements, and policy ConfigMaps of random
/// bytes, cut components or components with bytes flipped (never the world's active policy:
/// annotated `policy-default: "false"`).
fn generated(seed: u64, n: usize) -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(seed);
    let component = default_policy();
    let keys = [
        IT,
        ZONE,
        "karpenter.ovhcloud.sh/flavor-family",
        "karpenter.ovhcloud.sh/flavor-generation",
        "team",
    ];
    let operators = [
        "In",
        "NotIn",
        "Exists",
        "DoesNotExist",
        "Gt",
        "Lt",
        "Between",
    ];
    let values = [
        "b3-8",
        "b3-16",
        "nope",
        "eu-west-par-a",
        "gra-a",
        "b3",
        "c2",
        "2",
        "3",
        "many",
        "x",
    ];
    (0..n)
        .map(|i| {
            if i % 2 == 0 {
                let reqs: Vec<Value> = (0..rng.random_range(1..4))
                    .map(|_| {
                        let count = rng.random_range(0..3);
                        let vals: Vec<&str> = (0..count)
                            .map(|_| values[rng.random_range(0..values.len())])
                            .collect();
                        json!({"key": keys[rng.random_range(0..keys.len())],
                               "operator": operators[rng.random_range(0..operators.len())],
                               "values": vals})
                    })
                    .collect();
                Case {
                    object: bad_pool(&format!("generated-{i}"), json!(reqs), json!({})),
                    expect: Expect::AnyVerdict {
                        type_: "ValidationSucceeded",
                        reasons: &["NodePoolValidationFailed", "NoMatchingFlavor", "NoMatchingZone"],
                    },
                }
            } else {
                let (bytes, refused) = match rng.random_range(0..3) {
                    0 => {
                        let mut b = vec![0u8; rng.random_range(0..8192)];
                        rng.fill(&mut b[..]);
                        (b, true)
                    }
                    1 => (component[..rng.random_range(0..component.len())].to_vec(), true),
                    _ => {
                        let mut b = component.clone();
                        for _ in 0..rng.random_range(1..8) {
                            let at = rng.random_range(0..b.len());
                            b[at] = rng.random();
                        }
                        (b, false)
                    }
                };
                Case {
                    object: policy_cm(
                        &format!("generated-{i}"),
                        "flavor-selection",
                        Some(&bytes),
                        json!({"metadata": {"annotations": {"karpenter.ovhcloud.sh/policy-default": "false"}}}),
                    ),
                    expect: Expect::PolicyVerdict { refused },
                }
            }
        })
        .collect()
}

/// The condition `type_` of a NodePool or OVHNodeClass: (status, reason, message).
async fn condition(
    api: &Api<DynamicObject>,
    name: &str,
    type_: &str,
) -> Option<(String, String, String)> {
    let obj = api.get_opt(name).await.ok()??;
    let c = obj.data["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)?
        .clone();
    let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
    Some((s("status"), s("reason"), s("message")))
}

/// A Warning Event of `reason` about the object `name` (any object whose name starts with it
/// when `prefix`) whose note contains `note`: its note.
async fn warning(
    client: &Client,
    name: &str,
    prefix: bool,
    reason: &str,
    note: &str,
) -> Option<String> {
    crate::controller_common::events(client)
        .await
        .into_iter()
        .find(|e| {
            e.reason.as_deref() == Some(reason)
                && e.type_.as_deref() == Some("Warning")
                && e.regarding
                    .as_ref()
                    .and_then(|r| r.name.as_deref())
                    .is_some_and(|n| n == name || (prefix && n.starts_with(name)))
                && e.note.as_deref().is_some_and(|n| n.contains(note))
        })
        .and_then(|e| e.note)
}

/// Every Warning note of `reason` about objects whose name starts with `prefix`.
async fn warnings(client: &Client, prefix: &str, reason: &str) -> Vec<String> {
    crate::controller_common::events(client)
        .await
        .into_iter()
        .filter(|e| {
            e.reason.as_deref() == Some(reason)
                && e.regarding
                    .as_ref()
                    .and_then(|r| r.name.as_deref())
                    .is_some_and(|n| n.starts_with(prefix))
        })
        .filter_map(|e| e.note)
        .collect()
}

/// Tallies of the sweep.
#[derive(Debug, Default)]
struct Tally {
    tried: usize,
    rejected: usize,
    conditions: usize,
    events: usize,
}

/// Creates the input, then waits for its verdict (bounded: 60 s).
async fn try_input(w: &World, case: &Case, tally: &mut Tally) {
    let client = &w.client;
    let name = case.name();
    let api = api_for(client, case.kind());
    let obj: DynamicObject = serde_json::from_value(case.object.clone()).unwrap();
    tally.tried += 1;
    let created = api.create(&PostParams::default(), &obj).await;
    match (&case.expect, created) {
        (Expect::Rejected(message), Err(kube::Error::Api(e))) => {
            assert!(
                e.message.contains(message),
                "{name}: refused with {e:?}, expected {message:?}"
            );
            tally.rejected += 1;
        }
        (Expect::AnyVerdict { .. }, Err(kube::Error::Api(e))) => {
            assert_eq!(e.code, 422, "{name}: {e:?}");
            tally.rejected += 1;
        }
        (Expect::Rejected(message), Ok(_)) => {
            panic!("{name}: accepted, expected a refusal with {message:?}")
        }
        (_, Err(e)) => panic!("{name}: refused: {e}"),
        (
            Expect::Condition {
                type_,
                reason,
                message,
            },
            Ok(_),
        ) => {
            let (status, got_reason, got_message) =
                eventually(&format!("{name}: {type_}"), 60, || async {
                    condition(&api, &name, type_)
                        .await
                        .filter(|(s, r, _)| s == "False" && r == reason)
                })
                .await;
            assert_eq!(
                (status.as_str(), got_reason.as_str()),
                ("False", *reason),
                "{name}"
            );
            assert!(
                got_message.contains(message),
                "{name}: {got_message:?} lacks {message:?}"
            );
            tally.conditions += 1;
        }
        (Expect::AnyVerdict { type_, reasons }, Ok(_)) => {
            let (status, reason, message) = eventually(&format!("{name}: {type_}"), 60, || async {
                condition(&api, &name, type_).await
            })
            .await;
            if status == "False" {
                assert!(
                    reasons.contains(&reason.as_str()),
                    "{name}: {reason} {message}"
                );
                assert!(!message.is_empty(), "{name}: a reason without a message");
                let note = eventually(&format!("{name}: its Event"), 60, || {
                    warning(client, &name, false, &reason, &message)
                })
                .await;
                assert_eq!(note, message, "{name}");
            } else {
                assert_eq!(status, "True", "{name}: {reason} {message}");
            }
            tally.conditions += 1;
        }
        (Expect::Event { on, reason, note }, Ok(_)) => {
            let (target, prefix) = if on.is_empty() {
                (name.as_str(), false)
            } else {
                (*on, true)
            };
            let mut got = None;
            for _ in 0..600 {
                got = warning(client, target, prefix, reason, note).await;
                if got.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            let Some(got) = got else {
                let notes = warnings(client, target, reason).await;
                panic!(
                    "{name}: no {reason} Event with {note:?}; the notes: {notes:?}\n{}",
                    w.log()
                )
            };
            assert!(got.contains(note), "{name}: {got:?} lacks {note:?}");
            tally.events += 1;
        }
        (Expect::PolicyVerdict { refused }, Ok(_)) => {
            let verdict = eventually(&format!("{name}: a policy verdict"), 60, || async {
                if event(client, Some(&name), "PolicyRefused").await.is_some() {
                    return Some(true);
                }
                event(client, Some(&name), "PolicyLoaded")
                    .await
                    .map(|_| false)
            })
            .await;
            if *refused {
                assert!(verdict, "{name}: loaded, expected a refusal");
            }
            tally.events += 1;
        }
    }
}

fn alive(w: &mut World) {
    let status = w.controller.as_mut().unwrap().try_wait().unwrap();
    assert!(
        status.is_none(),
        "the controller exited ({status:?}):\n{}",
        w.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_a_verdict_while_the_good_pool_keeps_serving() {
    let generated_count: usize = env_or("BAD_INPUT_GENERATED", 8);
    let seed: u64 = env_or("BAD_INPUT_SEED", 12);
    let mut w = World::start(&[nodepool("demo-pool", &["b3-8", "b3-16"], json!({}))]).await;
    let secrets: Api<Secret> = Api::namespaced(w.client.clone(), "karpenter");
    secrets
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "wrong-credentials"},
                "stringData": {"applicationKey": DEFAULT_APPLICATION_KEY,
                    "applicationSecret": DEFAULT_APPLICATION_SECRET,
                    "consumerKey": "notAValidConsumerKey0000000000000"}}))
            .unwrap(),
        )
        .await
        .unwrap();
    let on_demo = json!({"nodeSelector": {"karpenter.sh/nodepool": "demo-pool"}});
    w.deploy("inflate", 3, "500m", "512Mi", on_demo, json!({}))
        .await;
    eventually("3 inflate pods running", 90, || async {
        (w.running("inflate").await.len() == 3).then_some(())
    })
    .await;
    w.deploy(
        "capped",
        1,
        "500m",
        "512Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "capped"}}),
        json!({}),
    )
    .await;

    let mut cases = table();
    let fixed = cases.len();
    cases.extend(generated(seed, generated_count));
    let mut tally = Tally::default();
    let half = cases.len() / 2;
    for (i, case) in cases.iter().enumerate() {
        if i == half {
            // The good pool must keep serving during the sweep.
            w.scale("inflate", 6).await;
        }
        try_input(&w, case, &mut tally).await;
        alive(&mut w);
    }

    let running = eventually("6 inflate pods running", 120, || async {
        let r = w.running("inflate").await;
        (r.len() == 6).then_some(r)
    })
    .await;
    let claims = w.claims().await;
    for node in running.values() {
        assert!(
            claims
                .iter()
                .any(|c| c.status.as_ref().is_some_and(|s| &s.node_name == node)
                    && c.labels()["karpenter.sh/nodepool"] == "demo-pool"),
            "{node} is not a demo-pool node"
        );
    }
    // Nothing launched for a bad input.
    for c in &claims {
        assert_eq!(
            c.labels()["karpenter.sh/nodepool"],
            "demo-pool",
            "{}",
            c.metadata.name.as_deref().unwrap_or_default()
        );
    }
    alive(&mut w);
    let log = w.log();
    assert!(!log.contains("panicked"), "{log}");
    eprintln!(
        "bad input: {} inputs tried ({fixed} fixed, {generated_count} generated, seed {seed}): \
         {} refused at admission, {} conditions, {} events; controller alive; {} NodeClaims, all demo-pool",
        tally.tried,
        tally.rejected,
        tally.conditions,
        tally.events,
        claims.len()
    );
    assert_eq!(
        tally.tried,
        tally.rejected + tally.conditions + tally.events
    );
}
