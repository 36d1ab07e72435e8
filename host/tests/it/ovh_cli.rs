//! `karpenter-ovhcloud ovh ...` with the guide's environment variables, against the standalone
//! simulator (`karpenter-ovhcloud sim ovh`), which prints how to point the client at it.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use karpenter_ovhcloud_sim::ovh::{auth, AccessRule, OvhSim, SimConfig};

const BIN: &str = env!("CARGO_BIN_EXE_karpenter-ovhcloud");

struct Sim(Child);

impl Drop for Sim {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the standalone simulator and reads the exports it prints.
fn standalone(extra: &[&str]) -> (Sim, BTreeMap<String, String>) {
    let mut child = Command::new(BIN)
        .args([
            "sim",
            "ovh",
            "--listen",
            "127.0.0.1:0",
            "--time-scale",
            "60",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let sim = Sim(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut env = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !env.contains_key("OVH_REGION") {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("the simulator prints its exports");
        if let Some((k, v)) = line
            .trim()
            .strip_prefix("export ")
            .and_then(|l| l.split_once('='))
        {
            env.insert(k.to_string(), v.to_string());
        }
    }
    (sim, env)
}

fn ovh(env: &BTreeMap<String, String>, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("ovh")
        .args(args)
        .env_clear()
        .envs(env)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn standalone_sim_prints_exports_and_check_passes_with_the_guides_permissions() {
    let (_sim, env) = standalone(&[]);
    for k in [
        "OVH_ENDPOINT",
        "OVH_APPLICATION_KEY",
        "OVH_APPLICATION_SECRET",
        "OVH_CONSUMER_KEY",
        "OVH_SERVICE_NAME",
        "OVH_KUBE_ID",
        "OVH_REGION",
    ] {
        assert!(env.contains_key(k), "{k} not printed");
    }
    assert!(env["OVH_ENDPOINT"].starts_with("http://127.0.0.1:"));

    let out = ovh(&env, &["check"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("all checks passed"), "{t}");
    for line in [
        "GET /cloud/project/*/kube/*/nodepool",
        "POST /cloud/project/*/kube/*/nodepool",
        "DELETE /cloud/project/*/kube/*/nodepool/*",
        "GET /cloud/project/*/capabilities/kube/*",
    ] {
        assert!(t.contains(line), "{line} not checked: {t}");
    }
    assert!(!t.contains(&env["OVH_APPLICATION_SECRET"]) && !t.contains(&env["OVH_CONSUMER_KEY"]));

    let out = ovh(&env, &["flavors"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("b3-8"));
    let out = ovh(&env, &["cluster", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["region"], "EU-WEST-PAR");
    let out = ovh(&env, &["pools"]);
    assert!(
        out.status.success() && text(&out).contains("DESIRED"),
        "{}",
        text(&out)
    );
    let out = ovh(&env, &["nodes", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap(),
        serde_json::json!([])
    );
    let out = ovh(&env, &["prices"]);
    assert!(text(&out).contains("0.0512"), "{}", text(&out));
}

#[test]
fn check_fails_clearly() {
    let (_sim, env) = standalone(&[]);
    // Missing credentials.
    let mut partial = env.clone();
    partial.remove("OVH_CONSUMER_KEY");
    let out = ovh(&partial, &["check"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("OVH_CONSUMER_KEY is missing"),
        "{}",
        text(&out)
    );
    // Wrong secret.
    let mut wrong = env.clone();
    wrong.insert("OVH_APPLICATION_SECRET".into(), "nope".into());
    let out = ovh(&wrong, &["check"]);
    assert!(!out.status.success());
    assert!(text(&out).contains("Invalid signature"), "{}", text(&out));
    // Bad endpoint.
    let mut bad = env.clone();
    bad.insert("OVH_ENDPOINT".into(), "ovh-mars".into());
    assert!(text(&ovh(&bad, &["pools"])).contains("invalid OVH endpoint"));
    // Missing cluster id.
    let mut no_kube = env.clone();
    no_kube.remove("OVH_KUBE_ID");
    assert!(text(&ovh(&no_kube, &["pools"])).contains("OVH_KUBE_ID is not set"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_a_missing_write_permission() {
    let sim = OvhSim::start(SimConfig::default()).await.unwrap();
    let mut cred = sim.config().credentials[0].clone();
    cred.rules.retain(|r: &AccessRule| r.method != "PUT");
    assert_eq!(cred.rules.len(), auth::guide_rules().len() - 1);
    sim.set_credentials(vec![cred.clone()]);
    let cluster = &sim.config().projects[0];
    let env: BTreeMap<String, String> = [
        ("OVH_ENDPOINT", sim.base_url()),
        ("OVH_APPLICATION_KEY", cred.application_key.clone()),
        ("OVH_APPLICATION_SECRET", cred.application_secret.clone()),
        ("OVH_CONSUMER_KEY", cred.consumer_key.clone()),
        ("OVH_SERVICE_NAME", cluster.service_name.clone()),
        ("OVH_KUBE_ID", cluster.clusters[0].id.clone()),
        ("OVH_REGION", "EU-WEST-PAR".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let out = tokio::task::spawn_blocking(move || ovh(&env, &["check"]))
        .await
        .unwrap();
    let t = text(&out);
    assert!(!out.status.success(), "{t}");
    assert!(
        t.contains("[FAIL] PUT /cloud/project/*/kube/*/nodepool/*"),
        "{t}"
    );
    assert!(t.contains("1 check(s) failed"), "{t}");
}
