//! `karpenter-ovhcloud sim`: the simulated cluster as a process, used as the guide uses a
//! cluster: the env file it writes, `kubectl get nodes` through its kubeconfig, the controller
//! log served by `kubectl logs -l`, and `karpenter-ovhcloud ovh check` on its OVH endpoint.

use std::process::Command;
use std::time::Duration;

use crate::chart_support::session::Background;

const BIN: &str = env!("CARGO_BIN_EXE_karpenter-ovhcloud");

#[test]
fn sim_writes_env_and_kubeconfig_and_serves_the_controller_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("controller.log");
    std::fs::write(
        &log,
        "INFO provisioning: launched nodeclaim demo-pool-abcde\n",
    )
    .unwrap();
    let mut sim = Background::spawn(
        Command::new(BIN)
            .args(["sim", "--time-scale", "100", "--dir"])
            .arg(dir.path().join("sim"))
            .arg("--controller-log")
            .arg(&log),
    );
    sim.wait_for("Ctrl-C stops", Duration::from_secs(60));
    let printed = &sim.printed;
    assert!(printed
        .iter()
        .any(|l| l.trim() == "kubectl get nodes -L topology.kubernetes.io/zone"));
    let env_text = std::fs::read_to_string(dir.path().join("sim/env")).unwrap();
    let env = crate::chart_support::parse_env_file(&env_text);
    for key in [
        "KUBECONFIG",
        "OVH_ENDPOINT",
        "OVH_APPLICATION_KEY",
        "OVH_APPLICATION_SECRET",
        "OVH_CONSUMER_KEY",
        "OVH_SERVICE_NAME",
        "OVH_KUBE_ID",
        "OVH_REGION",
    ] {
        assert!(env.iter().any(|(k, _)| k == key), "{key} in {env_text}");
    }
    assert!(env.contains(&("KARPENTER_TIME_SCALE".to_string(), "100".to_string())));
    let kubectl = |args: &[&str]| crate::chart_support::kubectl_with_env(&env, dir.path(), args);
    let nodes = kubectl(&["get", "nodes", "-L", "topology.kubernetes.io/zone"]);
    assert!(
        nodes
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with("system-node-")
                && l.contains(" Ready ")
                && l.ends_with("eu-west-par-a")),
        "{nodes}"
    );
    let logs = kubectl(&[
        "logs",
        "-n",
        "karpenter",
        "-l",
        "app.kubernetes.io/name=karpenter-ovhcloud",
    ]);
    assert!(
        logs.contains("launched nodeclaim demo-pool-abcde"),
        "{logs}"
    );
    let check = Command::new(BIN)
        .args(["ovh", "check"])
        .env_clear()
        .envs(env.iter().cloned())
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "ovh check: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
}
