//! Helpers shared by the cluster tests: a simulated cluster at a fast time scale, a minimal
//! signed OVH client written against the protocol, kube-rs clients, bounded polling.

use karpenter_ovhcloud_sim::cluster::{ClusterConfig, SimCluster};
use karpenter_ovhcloud_sim::ovh::auth;
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde_json::Value;
use std::time::Duration;

/// Guide seconds per real second in tests: a 2-minute OVH install takes 1.2 s.
pub const SCALE: f64 = 100.0;

/// A started cluster with its static pool Ready.
pub async fn cluster() -> SimCluster {
    cluster_with(ClusterConfig::new("EU-WEST-PAR", SCALE)).await
}

/// A started cluster from a configuration, with its static pool Ready.
pub async fn cluster_with(config: ClusterConfig) -> SimCluster {
    let c = SimCluster::start(config).await.expect("cluster starts");
    c.wait_ready(Duration::from_secs(30))
        .await
        .expect("cluster ready");
    c
}

/// A kube-rs client on the admin kubeconfig (no 429 retries: tests want to see them).
pub async fn client(c: &SimCluster) -> kube::Client {
    let kc = Kubeconfig::from_yaml(&c.kube().kubeconfig_yaml()).expect("kubeconfig");
    let mut cfg = kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .expect("config");
    cfg.default_retry = false;
    kube::Client::try_from(cfg).expect("client")
}

/// Polls `f` until it returns Some (bounded: 30 s), then returns its value.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..600 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A minimal OVH client: signs requests as the protocol says.
pub struct Ovh {
    http: reqwest::Client,
    base: String,
    ak: String,
    secret: String,
    ck: String,
    /// `/cloud/project/{serviceName}/kube/{kubeId}`.
    pub kube: String,
}

impl Ovh {
    /// A client on the cluster's simulated OVH API.
    pub fn new(c: &SimCluster) -> Ovh {
        let e = c.ovh_env();
        Ovh {
            http: reqwest::Client::new(),
            base: e.endpoint,
            ak: e.application_key,
            secret: e.application_secret,
            ck: e.consumer_key,
            kube: format!("/cloud/project/{}/kube/{}", e.service_name, e.kube_id),
        }
    }

    /// A signed call; returns the status and the JSON body.
    pub async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        let url = format!("{}{path}", self.base);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let ts = jiff::Timestamp::now().as_second().to_string();
        let sig =
            auth::expected_signature(&self.secret, &self.ck, method, &url, body.as_bytes(), &ts);
        let mut req = self
            .http
            .request(method.parse().unwrap(), &url)
            .header("X-Ovh-Application", &self.ak)
            .header("X-Ovh-Consumer", &self.ck)
            .header("X-Ovh-Timestamp", &ts)
            .header("X-Ovh-Signature", sig);
        if !body.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(body.clone());
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// A call on the cluster (`suffix` after `/kube/{kubeId}`) that must succeed.
    pub async fn ok(&self, method: &str, suffix: &str, body: Option<&Value>) -> Value {
        let (status, v) = self
            .call(method, &format!("{}{suffix}", self.kube), body)
            .await;
        assert!(status < 300, "{method} {suffix}: {status} {v}");
        v
    }

    /// Creates a pool the way the guide's shared pools are made, waits until GET shows it.
    pub async fn create_pool(&self, name: &str, flavor: &str, zone: &str, desired: u32) -> String {
        let body = serde_json::json!({
            "name": name, "flavorName": flavor, "desiredNodes": desired, "minNodes": 0,
            "maxNodes": 100, "autoscale": false, "antiAffinity": false, "monthlyBilled": false,
            "availabilityZones": [zone],
            "template": {"metadata": {"labels": {"karpenter.sh/nodepool": "demo-pool",
                                                 "karpenter.ovhcloud.sh/flavor-family": "b3"},
                                      "annotations": {}, "finalizers": []},
                         "spec": {"unschedulable": false, "taints": []}},
        });
        let pool = self.ok("POST", "/nodepool", Some(&body)).await;
        let id = pool["id"].as_str().unwrap().to_string();
        let path = format!("{}/nodepool/{id}", self.kube);
        eventually("pool visible", || async {
            (self.call("GET", &path, None).await.0 == 200).then_some(())
        })
        .await;
        id
    }
}
