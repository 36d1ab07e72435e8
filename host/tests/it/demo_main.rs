//! `karpenter-ovhcloud demo`, the main job, run as a user runs it (the binary, a short time
//! scale): every scenario of the guide passes on the simulators (consolidation is checked when
//! the controller does disruption and reported skipped otherwise, never passed); `--keep`
//! leaves a cluster the guide's kubectl commands work on, including `kubectl logs -l` of the
//! controller, until interrupted; an unknown scenario is refused.

use std::process::{Command, Stdio};

use crate::chart_support::session::{Background, UserShell};
use std::time::{Duration, Instant};

use karpenter_ovhcloud::cli::demo::disruption_available;

const BIN: &str = env!("CARGO_BIN_EXE_karpenter-ovhcloud");
/// Guide seconds per real second: a node's 2-minute install takes 4 s (faster makes the
/// controller and the simulated scheduler race more than a user ever sees).
const SCALE: &str = "30";

/// The summary row of `scenario`.
fn row<'a>(stdout: &'a str, scenario: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("| {scenario} ")))
        .unwrap_or_else(|| panic!("no summary row for {scenario}:\n{stdout}"))
}

/// Every scenario but `anti-affinity`, which [`demo_runs_the_anti_affinity_scenario`] runs alone
/// (its six nodes are a test of their own: registration racing the kubelet and the scheduler).
const WALK: &str = "basic,scale-up,consolidation,small-workload,large-workload,zone-spread,monthly";

#[test]
fn demo_walks_the_scenarios_of_the_guide_and_summarises() {
    let dir = tempfile::tempdir().unwrap();
    let proc = Background::spawn(
        Command::new(BIN)
            .args(["demo", "--time-scale", SCALE, "--scenario", WALK, "--dir"])
            .arg(dir.path())
            .arg("--karpenter-crds")
            .arg(crate::chart_support::karpenter_crds_dir())
            .current_dir(dir.path()),
    );
    let (status, stdout, stderr) = proc.finish(Duration::from_secs(240));
    assert!(status.success(), "exit {status}\n{stdout}\n{stderr}");
    // Every status write fits the installed CRDs' schema (upstream's requires each
    // condition's reason and message).
    let writes = stdout
        .lines()
        .find(|l| l.starts_with("Status writes: "))
        .unwrap_or_else(|| panic!("no status write count:\n{stdout}"));
    assert!(writes.contains(" 0 refused "), "{writes}\n{stderr}");
    assert!(!writes.starts_with("Status writes: 0 accepted"), "{writes}");

    let consolidation = row(&stdout, "consolidation");
    if disruption_available() {
        assert!(consolidation.contains("| pass "), "{consolidation}");
    } else {
        assert!(
            consolidation.contains("skipped: disruption not available"),
            "{consolidation}"
        );
    }
    for (scenario, flavors) in [
        ("basic", "1x b3-8"),
        ("small-workload", "1x b3-8"),
        ("large-workload", "1x b3-32"),
        ("monthly", "1x b2-7"),
    ] {
        let r = row(&stdout, scenario);
        assert!(
            r.contains("| pass ") && r.contains(&format!("| {flavors} ")),
            "{r}"
        );
    }
    for scenario in ["scale-up", "zone-spread"] {
        let r = row(&stdout, scenario);
        assert!(r.contains("| pass "), "{r}");
    }
    assert!(row(&stdout, "zone-spread").contains("| a,b,c "));
    assert!(
        stdout.contains("0 failed"),
        "the tally counts no failure:\n{stdout}"
    );
    // The live display, as plain lines (stderr is not a terminal here).
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("[basic ") && l.contains("pending pods") && l.contains("EUR/h")),
        "{stderr}"
    );
    for file in ["kubeconfig", "env", "controller.log"] {
        assert!(dir.path().join(file).exists(), "{file}");
    }
    let log = std::fs::read_to_string(dir.path().join("controller.log")).unwrap();
    assert!(log.contains("NodeClaim created"), "{log}");
    assert!(
        !log.to_lowercase().contains("forbidden"),
        "the chart's RBAC refused the controller:\n{log}"
    );
}

#[test]
fn demo_keep_leaves_a_cluster_for_the_guides_kubectl_commands() {
    let dir = tempfile::tempdir().unwrap();
    let mut proc = Background::spawn(
        Command::new(BIN)
            .args([
                "demo",
                "--time-scale",
                SCALE,
                "--scenario",
                "small-workload",
                "--keep",
                "--dir",
            ])
            .arg(dir.path()),
    );
    proc.wait_for("Ctrl-C stops them", Duration::from_secs(120));
    // The rest of the instructions.
    while let Ok(l) = proc.lines.recv_timeout(Duration::from_secs(2)) {
        proc.printed.push(l);
    }
    let printed = &proc.printed;
    let text = printed.join("\n");
    assert!(row(&text, "small-workload").contains("| pass "), "{text}");
    assert!(
        text.contains("kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud"),
        "{text}"
    );
    let env_text = std::fs::read_to_string(dir.path().join("env")).unwrap();
    let env = crate::chart_support::parse_env_file(&env_text);
    let kubectl = |args: &[&str]| crate::chart_support::kubectl_with_env(&env, dir.path(), args);
    let claims = kubectl(&["get", "nodeclaims", "-o", "wide"]);
    assert!(
        claims
            .lines()
            .any(|l| l.starts_with("multi-flavor-") && l.contains("b3-8")),
        "{claims}"
    );
    let logs = |extra: &[&str]| {
        let selector = "app.kubernetes.io/name=karpenter-ovhcloud";
        kubectl(&[&["logs", "-n", "karpenter", "-l", selector], extra].concat())
    };
    // With a selector kubectl shows each pod's last 10 lines: the controller's, whatever they say.
    let tail = logs(&[]);
    assert!(tail.contains("karpenter_ovhcloud::"), "{tail}");
    let all = logs(&["--tail=-1"]);
    assert!(all.contains("NodeClaim created"), "{all}");
    // Still running: the controller acts on what the user applies by hand.
    assert!(proc.child.try_wait().unwrap().is_none(), "the demo exited");
    walk_the_guide(&env, dir.path());
    readme_policy_section(&env, dir.path());
    assert!(proc.child.try_wait().unwrap().is_none(), "the demo exited");

    // Ctrl-C ends it cleanly.
    let pid = proc.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = proc.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "Ctrl-C did not stop the demo");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "exit {status}");
}

/// The command lines of the README's section `title` (its `bash` blocks, `\` continuations
/// joined, comments dropped), verbatim.
fn readme_commands(title: &str) -> Vec<String> {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .unwrap();
    let start = readme
        .find(&format!("\n## {title}\n"))
        .unwrap_or_else(|| panic!("README has no section {title:?}"));
    let body = &readme[start + 1..];
    let body = &body[..body[3..].find("\n## ").map_or(body.len(), |e| e + 3)];
    let mut lines = Vec::new();
    let mut in_bash = false;
    let mut pending = String::new();
    for line in body.lines() {
        match line.trim() {
            "```bash" => in_bash = true,
            "```" => in_bash = false,
            l if in_bash => {
                let l = l.split(" # ").next().unwrap_or(l).trim_end();
                if let Some(head) = l.strip_suffix('\\') {
                    pending.push_str(head.trim_end());
                    pending.push(' ');
                } else if !l.is_empty() && !l.starts_with('#') {
                    pending.push_str(l);
                    lines.push(std::mem::take(&mut pending));
                }
            }
            _ => {}
        }
    }
    lines
}

/// The README's "Policies: write, build, swap" commands, verbatim, from the repository's root
/// on the cluster `demo --keep` leaves, with `karpenter-ovhcloud` on the PATH as an installed
/// binary would be (`cargo` lines are the developer's build, left out): the policy is inspected
/// and run, then swapped in with kubectl, and the controller says it loaded it.
fn readme_policy_section(env: &[(String, String)], home: &std::path::Path) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let shell = UserShell::new(env, home, &root).with_binary();
    let commands = readme_commands("Policies: write, build, swap");
    let run: Vec<&String> = commands
        .iter()
        .filter(|c| !c.starts_with("cargo "))
        .collect();
    assert!(run.len() >= 4, "{commands:?}");
    for line in run {
        let stdout = shell.ok(line);
        if line.contains("policy info") {
            assert!(
                stdout.contains("fewest-nodes") && stdout.contains("flavor-selection"),
                "{line}: {stdout}"
            );
        }
        if line.contains("policy run") {
            assert!(stdout.contains("launches"), "{line}: {stdout}");
        }
    }
    guide_until(
        env,
        home,
        "kubectl describe configmap fewest-nodes -n karpenter",
        "the controller loads the swapped-in policy",
        |out| out.contains("PolicyLoaded"),
    );
}

/// The repository's `demo/` directory, where the guide's commands run.
fn demo_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../demo")
}

/// Runs one of the guide's command lines verbatim (`sh -c`, in `demo/`, with nothing but the
/// env file's variables, as a user who sourced it): its stdout; the test fails on a non-zero
/// exit or on a kubectl warning or error on stderr.
fn guide(env: &[(String, String)], home: &std::path::Path, line: &str) -> String {
    UserShell::new(env, home, &demo_dir()).ok(line)
}

/// Repeats a guide line (bounded) until its output satisfies `done`.
fn guide_until(
    env: &[(String, String)],
    home: &std::path::Path,
    line: &str,
    what: &str,
    done: impl Fn(&str) -> bool,
) -> String {
    UserShell::new(env, home, &demo_dir()).until(line, what, done)
}

/// The guide's sections 2 to 8 (what follows the installation), command for command, on the
/// cluster `demo --keep` leaves: each command runs as printed in the guide (`watch` dropped:
/// its command is run), and what the guide says to observe is checked.
fn walk_the_guide(env: &[(String, String)], home: &std::path::Path) {
    // 2. Verify installation.
    let pods = guide(env, home, "kubectl get pods -n karpenter");
    assert!(pods.contains("Running"), "{pods}");
    // 3. Basic autoscaling (the watched commands, then the actions).
    guide(env, home, "kubectl get nodes");
    guide(env, home, "kubectl get nodeclaims");
    for line in [
        "envsubst < 02-ovhnodeclass.yaml | kubectl apply -f -",
        "kubectl apply -f 03-nodepool-basic.yaml",
        "kubectl apply -f 04-inflate.yaml",
        "kubectl scale deployment/inflate --replicas=3",
    ] {
        guide(env, home, line);
    }
    guide_until(
        env,
        home,
        "kubectl get pods -l app=inflate",
        "3 inflate pods Running",
        |o| o.matches("Running").count() == 3,
    );
    guide(env, home, "kubectl scale deployment/inflate --replicas=0");
    // 4. Flavor selection (06 was applied by the scenario: applying it again changes nothing).
    guide(env, home, "kubectl apply -f 05-nodepool-multi-flavor.yaml");
    guide(env, home, "kubectl apply -f 06-small-workload.yaml");
    let wide = guide(env, home, "kubectl get nodeclaims -o wide");
    assert!(
        wide.lines()
            .any(|l| l.starts_with("multi-flavor-") && l.contains("b3-8")),
        "{wide}"
    );
    guide(env, home, "kubectl apply -f 07-large-workload.yaml");
    guide_until(
        env,
        home,
        "kubectl get nodeclaims -o wide",
        "a b3-32 NodeClaim for 07",
        |o| {
            o.lines()
                .any(|l| l.starts_with("multi-flavor-") && l.contains("b3-32"))
        },
    );
    // 5. Multi-zone.
    guide(env, home, "kubectl apply -f 08-nodepool-multizone.yaml");
    guide(env, home, "kubectl apply -f 09-zone-spread.yaml");
    guide_until(
        env,
        home,
        "kubectl get pods -l app=zone-spread",
        "6 zone-spread pods Running",
        |o| o.matches("Running").count() == 6,
    );
    let zones = guide(
        env,
        home,
        "kubectl get nodes -L topology.kubernetes.io/zone",
    );
    for zone in ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"] {
        assert!(zones.contains(zone), "{zones}");
    }
    // 6. Consolidation.
    guide(env, home, "kubectl scale deployment/inflate --replicas=10");
    guide_until(
        env,
        home,
        "kubectl get pods -l app=inflate",
        "10 inflate pods Running",
        |o| o.matches("Running").count() == 10,
    );
    guide(env, home, "kubectl scale deployment/inflate --replicas=2");
    guide_until(
        env,
        home,
        "kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud --tail=-1 | grep -i consolidat || true",
        "a consolidation in the controller's log",
        |o| !o.is_empty(),
    );
    // The guide's own line (kubectl's default --tail=10 with a selector): it runs.
    guide(
        env,
        home,
        "kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud | grep -i consolidat || true",
    );
    // 7. Advanced features.
    guide(
        env,
        home,
        "envsubst < 10-ovhnodeclass-monthly.yaml | kubectl apply -f -",
    );
    guide(env, home, "kubectl apply -f 11-nodepool-monthly.yaml");
    guide(
        env,
        home,
        "envsubst < 12-ovhnodeclass-antiaffinity.yaml | kubectl apply -f -",
    );
    let name = guide(env, home, "kubectl get nodeclaims -o name | head -n 1");
    let described = guide(env, home, &format!("kubectl describe {}", name.trim()));
    assert!(
        described.contains("Registered") && described.contains("Provider ID"),
        "{described}"
    );
    // 8. Monitoring and troubleshooting (`-f` follows until interrupted: 3 s of it).
    let followed = crate::chart_support::user_command("/bin/sh", env, home)
        .args([
            "-c",
            "timeout 3 kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud -f",
        ])
        .output()
        .unwrap();
    assert_eq!(
        followed.status.code(),
        Some(124),
        "kubectl logs -f ended by itself"
    );
    assert!(!followed.stdout.is_empty());
    let pool = guide(env, home, "kubectl describe nodepool demo-pool");
    assert!(pool.contains("NodeClassReady"), "{pool}");
    let class = guide(env, home, "kubectl describe ovhnodeclass default");
    assert!(class.contains("Ready") && class.contains("b3-8"), "{class}");
    guide(env, home, "kubectl get nodeclaims -o wide");
    let events = guide(
        env,
        home,
        "kubectl get events -n karpenter --sort-by='.lastTimestamp'",
    );
    assert!(events.contains("karpenter-ovhcloud"), "{events}");
    // The troubleshooting table's diagnoses.
    let classes = guide(env, home, "kubectl describe ovhnodeclass");
    for name in ["default", "monthly", "anti-affinity"] {
        assert!(
            classes.contains(&format!("Name:         {name}")),
            "{classes}"
        );
    }
    guide(env, home, "kubectl get nodeclaims");
}

#[test]
fn demo_refuses_an_unknown_scenario_and_names_the_known_ones() {
    let out = Command::new(BIN)
        .args(["demo", "--scenario", "basic,nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown scenario \"nope\"") && err.contains("zone-spread"),
        "{err}"
    );
}

/// Six pods that must not share a node, on an anti-affinity NodeClass: six b3-8 in two OVH
/// pools of at most five. It used to leave a pod Pending beside a free Ready node on a loaded
/// machine: three lost updates, each now fixed and tested where it happens (the controller's
/// registration patch over a stale node, `controller_lifecycle`; the simulated node lifecycle
/// controller's taint pass, `cluster_e2e` of the sim; the simulated binding, the sim's
/// `subresources` unit tests).
#[test]
fn demo_runs_the_anti_affinity_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args([
            "demo",
            "--time-scale",
            SCALE,
            "--scenario",
            "anti-affinity",
            "--dir",
        ])
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        row(&stdout, "anti-affinity").contains("| 6x b3-8 "),
        "{stdout}"
    );
}
