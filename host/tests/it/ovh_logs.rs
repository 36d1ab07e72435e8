//! Credentials never reach the logs: every log line of successful, failing and retried calls
//! (ours and the HTTP stack's, at TRACE) is captured and searched for the secrets.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use karpenter_ovhcloud::ovh::{
    ClientConfig, ClusterRef, Credentials, OvhClient, RateLimit, RetryPolicy,
};
use karpenter_ovhcloud_sim::ovh::{
    FaultSpec, OvhSim, SimConfig, DEFAULT_KUBE_ID, DEFAULT_SERVICE_NAME,
};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn secrets_never_appear_in_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    // Global: nextest runs each test in its own process, and the HTTP stack may log from
    // other threads.
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .init();

    let sim = OvhSim::start(SimConfig::default()).await.unwrap();
    let k = sim.config().credentials[0].clone();
    let creds =
        Credentials::new(&k.application_key, &k.application_secret, &k.consumer_key).unwrap();
    let mut cfg = ClientConfig::new(sim.base_url().parse().unwrap(), creds.clone());
    cfg.rate_limit = RateLimit {
        per_minute: 60_000.0,
        burst: 100,
    };
    cfg.retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(2),
        max_backoff: Duration::from_millis(10),
    };
    let client = OvhClient::new(cfg).unwrap();
    let c = ClusterRef::new(DEFAULT_SERVICE_NAME, DEFAULT_KUBE_ID);

    tracing::info!(?creds, ?client, "client built");
    client.cluster(&c).await.unwrap();
    client.list_node_pools(&c).await.unwrap();
    let _ = client.node_pool(&c, "ghost").await.unwrap_err();
    sim.set_fault(
        "*",
        FaultSpec {
            fail_next: [503, 0].into(),
            ..FaultSpec::default()
        },
    );
    client.list_nodes(&c).await.unwrap();
    // Not granted by the guide's rules: an auth error, logged.
    let e = client.delete_node(&c, "n1").await.unwrap_err();
    tracing::error!(error = %e, debug = ?e, "expected failure");
    let wrong =
        Credentials::new(&k.application_key, "wrong-secret-value", &k.consumer_key).unwrap();
    let mut cfg = ClientConfig::new(sim.base_url().parse().unwrap(), wrong);
    cfg.retry = RetryPolicy::none();
    let e = OvhClient::new(cfg).unwrap().cluster(&c).await.unwrap_err();
    tracing::error!(error = %e, debug = ?e, "expected auth failure");

    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("OVH call ok"), "the capture works: {logs}");
    assert!(logs.contains("transient OVH error, retrying"));
    assert!(logs.contains("INVALID_SIGNATURE") || logs.contains("Invalid signature"));
    for secret in [
        k.application_key.as_str(),
        k.application_secret.as_str(),
        k.consumer_key.as_str(),
        "wrong-secret-value",
    ] {
        assert!(!logs.contains(secret), "secret found in logs");
    }
}
