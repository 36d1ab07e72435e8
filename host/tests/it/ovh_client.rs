//! The OVH client against the simulated OVH API over real HTTP: every endpoint round-trips,
//! errors are classified with their status/class/message/query id, transient errors are
//! retried with back-off and 4xx are not, the rate limiter holds its budget under a burst, and
//! the clock offset is learned from `GET /auth/time`.

use std::time::{Duration, Instant};

use karpenter_ovhcloud::clock::Clock;
use karpenter_ovhcloud::ovh::{
    ClientConfig, ClusterRef, Credentials, ErrorKind, NodePoolCreate, NodePoolTemplate,
    NodePoolUpdate, NodeStatus, OvhClient, OvhError, PoolStatus, RateLimit, RetryPolicy, Taint,
    TaintEffect,
};
use karpenter_ovhcloud_sim::ovh::{
    auth, FaultSpec, OvhSim, Quota, SimConfig, Timing, DEFAULT_KUBE_ID, DEFAULT_SERVICE_NAME,
};

fn sim_config() -> SimConfig {
    let mut c = SimConfig::default().with_time_scale(100.0);
    c.timing = Timing {
        node_ready: Duration::from_secs(120),
        gpu_node_ready: Duration::from_secs(1200),
        pool_install: Duration::from_secs(30),
        pool_visibility_lag: Duration::from_secs(50),
        node_delete: Duration::from_secs(30),
        pool_delete: Duration::from_secs(30),
        out_of_stock_after: Duration::from_secs(30),
    };
    c.credentials[0].rules = auth::all_rules();
    c
}

fn credentials(sim: &OvhSim) -> Credentials {
    let c = &sim.config().credentials[0];
    Credentials::new(&c.application_key, &c.application_secret, &c.consumer_key).unwrap()
}

fn fast_config(sim: &OvhSim) -> ClientConfig {
    let mut cfg = ClientConfig::new(sim.base_url().parse().unwrap(), credentials(sim));
    cfg.rate_limit = RateLimit {
        per_minute: 60_000.0,
        burst: 1000,
    };
    cfg.retry = RetryPolicy {
        max_attempts: 4,
        initial_backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(40),
    };
    cfg
}

fn cluster() -> ClusterRef {
    ClusterRef::new(DEFAULT_SERVICE_NAME, DEFAULT_KUBE_ID)
}

fn pool_create(name: &str, flavor: &str, desired: u32, zone: &str) -> NodePoolCreate {
    let mut template = NodePoolTemplate::default();
    template
        .metadata
        .labels
        .insert("karpenter.ovhcloud.sh/pool".into(), name.into());
    template.spec.taints.push(Taint {
        key: "karpenter.sh/unregistered".into(),
        value: None,
        effect: TaintEffect::NoExecute,
    });
    NodePoolCreate {
        name: name.into(),
        flavor_name: flavor.into(),
        desired_nodes: desired,
        min_nodes: 0,
        max_nodes: 100,
        autoscale: false,
        anti_affinity: false,
        monthly_billed: false,
        availability_zones: Some(vec![zone.into()]),
        template,
    }
}

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

fn count(sim: &OvhSim, endpoint: &str) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.endpoint == endpoint)
        .count()
}

#[tokio::test]
async fn every_endpoint_round_trips() {
    let sim = OvhSim::start(sim_config()).await.unwrap();
    let client = OvhClient::new(fast_config(&sim)).unwrap();
    let c = cluster();

    let server = client.server_time().await.unwrap();
    assert!((server - jiff::Timestamp::now().as_second()).abs() < 5);
    let cred = client.current_credential().await.unwrap();
    assert_eq!(cred.status, "validated");
    assert!(cred.grants("DELETE", "/cloud/project/x/kube/y/node/z"));

    let kube = client.cluster(&c).await.unwrap();
    assert_eq!(
        (kube.id.as_str(), kube.region.as_str()),
        (DEFAULT_KUBE_ID, "EU-WEST-PAR")
    );
    let flavors = client.cluster_flavors(&c).await.unwrap();
    let b38 = flavors.iter().find(|f| f.name == "b3-8").unwrap();
    assert_eq!((b38.vcpus, b38.ram, b38.gpus), (2, 8, 0));
    assert!(b38.is_available());
    let caps = client
        .capability_flavors(DEFAULT_SERVICE_NAME, "EU-WEST-PAR")
        .await
        .unwrap();
    assert_eq!(caps.len(), flavors.len());
    assert_eq!(caps.iter().find(|f| f.name == "h100-380").unwrap().gpus, 1);

    let prices = client.public_catalog("FR").await.unwrap().flavor_prices();
    assert_eq!(prices["b3-8"].hourly, Some(0.0512));
    assert_eq!(prices["b3-32"].hourly, Some(0.2046));
    assert!(prices["b2-7"].monthly.is_some() && prices["b3-8"].monthly.is_none());

    let created = client
        .create_node_pool(
            &c,
            &pool_create("karpenter-b3-8-eu-west-par-a", "b3-8", 1, "eu-west-par-a"),
        )
        .await
        .unwrap();
    assert_eq!(created.status, PoolStatus::Installing);
    assert_eq!(created.flavor, "b3-8");
    assert_eq!(created.template.spec.taints.len(), 1);
    // Freshly created pools are missing from GET for a moment: wait until visible and READY.
    let pool = until(20, || async {
        client
            .node_pool(&c, &created.id)
            .await
            .ok()
            .filter(|p| p.status == PoolStatus::Ready)
    })
    .await;
    assert_eq!((pool.desired_nodes, pool.available_nodes), (1, 1));
    assert_eq!(pool.availability_zones, ["eu-west-par-a"]);
    let pools = client.list_node_pools(&c).await.unwrap();
    assert_eq!(pools.len(), 1);

    client
        .update_node_pool(
            &c,
            &pool.id,
            &NodePoolUpdate {
                desired_nodes: Some(3),
                ..NodePoolUpdate::default()
            },
        )
        .await
        .unwrap();
    let pool = until(20, || async {
        client
            .node_pool(&c, &created.id)
            .await
            .ok()
            .filter(|p| p.status == PoolStatus::Ready)
    })
    .await;
    assert_eq!(pool.current_nodes, 3);
    let nodes = client.node_pool_nodes(&c, &pool.id).await.unwrap();
    assert_eq!(nodes.len(), 3);
    assert!(nodes.iter().all(|n| n.status == NodeStatus::Ready));
    assert!(nodes[0].provider_id().unwrap().starts_with("openstack:///"));
    let all = client.list_nodes(&c).await.unwrap();
    assert_eq!(all.len(), 3);
    let one = client.node(&c, &nodes[0].id).await.unwrap();
    assert_eq!(one, nodes[0]);

    // Remove one named node with nodesToRemove, another with DELETE /node.
    client
        .update_node_pool(
            &c,
            &pool.id,
            &NodePoolUpdate {
                desired_nodes: Some(2),
                nodes_to_remove: Some(vec![nodes[0].name.clone()]),
                ..NodePoolUpdate::default()
            },
        )
        .await
        .unwrap();
    client.delete_node(&c, &nodes[1].id).await.unwrap();
    let pool = client.node_pool(&c, &pool.id).await.unwrap();
    assert_eq!(pool.desired_nodes, 1);
    let left = until(20, || async {
        let n = client.node_pool_nodes(&c, &pool.id).await.ok()?;
        (n.len() == 1).then_some(n)
    })
    .await;
    assert_eq!(left[0].id, nodes[2].id);

    until(20, || async {
        client
            .node_pool(&c, &pool.id)
            .await
            .ok()
            .filter(|p| p.status == PoolStatus::Ready)
    })
    .await;
    client.delete_node_pool(&c, &pool.id).await.unwrap();
    until(20, || async {
        matches!(client.node_pool(&c, &pool.id).await, Err(e) if e.kind() == ErrorKind::NotFound)
            .then_some(())
    })
    .await;
    assert!(client.list_nodes(&c).await.unwrap().is_empty());
    // Exactly one POST and the PUTs we sent: nothing duplicated by the client.
    assert_eq!(
        count(
            &sim,
            "POST /cloud/project/{serviceName}/kube/{kubeId}/nodepool"
        ),
        1
    );
    assert_eq!(
        count(
            &sim,
            "PUT /cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}"
        ),
        2
    );
}

#[tokio::test]
async fn errors_keep_status_class_message_and_query_id() {
    let sim = OvhSim::start(sim_config()).await.unwrap();
    let client = OvhClient::new(fast_config(&sim)).unwrap();
    let c = cluster();

    let e = client.node_pool(&c, "ghost").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(e.status(), Some(404));
    assert_eq!(e.class(), Some("Client::NotFound"));
    assert!(e.message().unwrap().contains("ghost"));
    let qid = e.query_id().unwrap().to_string();
    assert!(
        sim.requests().iter().any(|r| r.query_id == qid),
        "query id comes from the server"
    );
    assert!(e.to_string().contains(&qid));

    let mut aa = pool_create("aa", "b3-8", 6, "eu-west-par-a");
    aa.anti_affinity = true;
    aa.max_nodes = 6;
    let e = client.create_node_pool(&c, &aa).await.unwrap_err();
    assert_eq!(
        (e.kind(), e.status()),
        (ErrorKind::InvalidRequest, Some(400))
    );

    assert!(sim.set_quota(
        DEFAULT_SERVICE_NAME,
        Quota {
            max_vcpus: Some(2),
            ..Quota::default()
        }
    ));
    let e = client
        .create_node_pool(&c, &pool_create("q", "b3-8", 2, "eu-west-par-a"))
        .await
        .unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::Quota, Some(412)));
    assert!(e.message().unwrap().starts_with("InsufficientVCPUsQuota"));
    sim.set_quota(DEFAULT_SERVICE_NAME, Quota::default());

    // DELETE while UPSCALING: busy.
    let p = client
        .create_node_pool(&c, &pool_create("busy", "b3-8", 1, "eu-west-par-a"))
        .await
        .unwrap();
    until(20, || async {
        client
            .node_pool(&c, &p.id)
            .await
            .ok()
            .filter(|p| p.status == PoolStatus::Ready)
    })
    .await;
    client
        .update_node_pool(
            &c,
            &p.id,
            &NodePoolUpdate {
                desired_nodes: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let e = client.delete_node_pool(&c, &p.id).await.unwrap_err();
    assert_eq!((e.kind(), e.status()), (ErrorKind::Busy, Some(400)));

    // Wrong secret: auth, not retried.
    let mut cfg = fast_config(&sim);
    let k = &sim.config().credentials[0];
    cfg.credentials =
        Credentials::new(&k.application_key, "not-the-secret", &k.consumer_key).unwrap();
    let bad = OvhClient::new(cfg).unwrap();
    sim.clear_requests();
    let e = bad.cluster(&c).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Auth);
    assert!(
        matches!(&e, OvhError::Api { error_code: Some(code), .. } if code == "INVALID_SIGNATURE")
    );
    assert_eq!(
        count(&sim, "GET /cloud/project/{serviceName}/kube/{kubeId}"),
        1
    );
}

#[tokio::test]
async fn transient_errors_are_retried_and_4xx_are_not() {
    let sim = OvhSim::start(sim_config()).await.unwrap();
    let client = OvhClient::new(fast_config(&sim)).unwrap();
    let c = cluster();
    let list = "GET /cloud/project/{serviceName}/kube/{kubeId}/nodepool";
    client.sync_time().await.unwrap();

    // 503, 429 and a dropped connection, then success: 4 requests, one answer.
    sim.set_fault(
        list,
        FaultSpec {
            fail_next: [503, 429, 0].into(),
            ..FaultSpec::default()
        },
    );
    sim.clear_requests();
    assert!(client.list_node_pools(&c).await.unwrap().is_empty());
    let seen: Vec<u16> = sim.requests().iter().map(|r| r.status).collect();
    assert_eq!(count(&sim, list), 4, "statuses {seen:?}");

    // Persistent 5xx: gives up after max_attempts with a transient error.
    sim.set_fault(
        list,
        FaultSpec {
            server_error_rate: 1.0,
            ..FaultSpec::default()
        },
    );
    sim.clear_requests();
    let e = client.list_node_pools(&c).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.status().unwrap() >= 500);
    assert_eq!(count(&sim, list), 4);
    sim.clear_faults();

    // 4xx: exactly one request.
    sim.clear_requests();
    let e = client.node_pool(&c, "ghost").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert_eq!(sim.requests().len(), 1);
    sim.clear_requests();
    let e = client
        .create_node_pool(&c, &pool_create("BAD NAME", "b3-8", 1, "eu-west-par-a"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidRequest);
    assert_eq!(sim.requests().len(), 1);

    // A refused connection is transient and retried, then reported.
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut cfg = fast_config(&sim);
    cfg.endpoint = format!("http://{addr}/1.0").parse().unwrap();
    let dead = OvhClient::new(cfg).unwrap();
    let e = dead.server_time().await.unwrap_err();
    assert!(matches!(e, OvhError::Transport { .. }));
    assert_eq!(e.kind(), ErrorKind::Transient);
}

#[tokio::test]
async fn clock_offset_is_learned_from_auth_time() {
    let mut cfg = sim_config();
    cfg.clock_skew_secs = -7200;
    let sim = OvhSim::start(cfg).await.unwrap();
    let client = OvhClient::new(fast_config(&sim)).unwrap();
    assert_eq!(client.clock_offset(), None);
    client.cluster(&cluster()).await.unwrap();
    let offset = client.clock_offset().unwrap();
    assert!((offset + 7200).abs() <= 2, "offset {offset}");
    // One time request, however many calls.
    client.list_node_pools(&cluster()).await.unwrap();
    assert_eq!(count(&sim, "GET /auth/time"), 1);
}

#[tokio::test]
async fn stale_offset_is_refreshed_periodically() {
    let sim = OvhSim::start(sim_config()).await.unwrap();
    let mut cfg = fast_config(&sim);
    cfg.time_refresh = Duration::from_millis(1);
    let client = OvhClient::new(cfg).unwrap();
    for _ in 0..3 {
        client.cluster(&cluster()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(count(&sim, "GET /auth/time"), 3);
}

#[tokio::test]
async fn rate_limiter_holds_its_budget_under_a_burst() {
    let sim = OvhSim::start(sim_config()).await.unwrap();
    let clock = Clock::manual("2026-01-01T00:00:00Z".parse().unwrap());
    let mut cfg = fast_config(&sim);
    cfg.rate_limit = RateLimit {
        per_minute: 60.0,
        burst: 3,
    };
    cfg.clock = clock.clone();
    let client = OvhClient::new(cfg).unwrap();
    // One token for the clock offset.
    client.sync_time().await.unwrap();
    let total = || sim.requests().len();
    assert_eq!(total(), 1);

    let mut tasks = Vec::new();
    for _ in 0..10 {
        let client = client.clone();
        tasks.push(tokio::spawn(
            async move { client.cluster(&cluster()).await },
        ));
    }
    // Stage by stage: what the bucket allows goes through, nothing more.
    let settle = |want: usize| {
        let total = &total;
        async move {
            until(10, || async { (total() >= want).then_some(()) }).await;
            tokio::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(total(), want, "requests seen by the server");
        }
    };
    settle(3).await; // the rest of the burst
    clock.advance(Duration::from_secs(1)); // one token at 60/minute
    settle(4).await;
    clock.advance(Duration::from_secs(2));
    settle(6).await;
    clock.advance(Duration::from_secs(3600)); // refills only up to the burst
    settle(9).await;
    clock.advance(Duration::from_secs(3600));
    settle(11).await;
    for t in tasks {
        t.await.unwrap().unwrap();
    }
}

#[test]
fn client_debug_redacts_credentials() {
    let creds = Credentials::new("app-key-123", "app-secret-456", "consumer-789").unwrap();
    let client = OvhClient::new(ClientConfig::new(
        "http://127.0.0.1:1/1.0".parse().unwrap(),
        creds.clone(),
    ))
    .unwrap();
    let shown = format!(
        "{client:?} {:?}",
        ClientConfig::new("ovh-eu".parse().unwrap(), creds)
    );
    for s in ["app-key-123", "app-secret-456", "consumer-789"] {
        assert!(!shown.contains(s), "{shown}");
    }
}
