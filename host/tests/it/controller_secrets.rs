//! Credentials never leave the controller: its real log output (at debug, with an injected
//! 403 and a NodeClass holding wrong credentials), its `/metrics` and the Events it writes are
//! searched for every key of both Secrets.

use std::process::Stdio;

use crate::controller_common::{demo_pool, eventually, free_port, Env, ONE_BATCH, SCALE};
use karpenter_ovhcloud::api::ConditionStatus;
use karpenter_ovhcloud_sim::ovh::{
    FaultSpec, SimConfig, DEFAULT_APPLICATION_KEY, DEFAULT_APPLICATION_SECRET, DEFAULT_CONSUMER_KEY,
};
use serde_json::json;

const WRONG_SECRET: &str = "wrongsecret5f3a9c1e7b2d4a6f8e0c";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_never_in_logs_metrics_or_events() {
    let mut env = Env::with_demo_pool(SimConfig::default().with_time_scale(SCALE)).await;
    env.secret(
        "wrong-credentials",
        json!({"applicationKey": DEFAULT_APPLICATION_KEY,
               "applicationSecret": WRONG_SECRET,
               "consumerKey": DEFAULT_CONSUMER_KEY}),
    )
    .await;
    env.nodeclass("wrong", "wrong-credentials", json!({})).await;
    env.nodepool("wrong-pool", "wrong", demo_pool(), json!({}))
        .await;
    // One refusal on a call every reconcile makes: its OVH error body gets logged.
    env.ovh.set_fault(
        "GET /cloud/project/{serviceName}/kube/{kubeId}/node",
        FaultSpec {
            fail_next: [403].into(),
            ..FaultSpec::default()
        },
    );
    let log = tempfile::NamedTempFile::new().unwrap();
    let metrics_addr = format!("127.0.0.1:{}", free_port());
    let mut args = ONE_BATCH.to_vec();
    args.extend(["--metrics-address", &metrics_addr]);
    let mut cmd = env.controller_command(&args);
    cmd.env("RUST_LOG", "debug,kube=debug,tower=info,hyper=info")
        .stderr(Stdio::from(log.reopen().unwrap()))
        .stdout(Stdio::from(log.reopen().unwrap()));
    env.controller = Some(cmd.spawn().unwrap());

    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;
    env.initialized_claim(90).await;
    let wrong = eventually("the wrong-credentials class is refused", 60, || async {
        let c = env.nodeclass_ready("wrong-pool").await;
        (c.status == ConditionStatus::False).then_some(c)
    })
    .await;

    let metrics = reqwest::get(format!("http://{metrics_addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let events = format!("{:?}", env.events().await);
    let logs = std::fs::read_to_string(log.path()).unwrap();
    assert!(
        logs.contains("OVH call ok") && logs.contains("403"),
        "the capture holds the OVH calls and the refusal:\n{logs}"
    );
    assert!(metrics.contains("karpenter_ovhcloud_ovh_requests_total"));
    for (what, text) in [
        ("logs", &logs),
        ("metrics", &metrics),
        ("events", &events),
        ("condition", &format!("{wrong:?}")),
    ] {
        for secret in [
            DEFAULT_APPLICATION_KEY,
            DEFAULT_APPLICATION_SECRET,
            DEFAULT_CONSUMER_KEY,
            WRONG_SECRET,
        ] {
            assert!(!text.contains(secret), "a credential in the {what}");
        }
    }
}
