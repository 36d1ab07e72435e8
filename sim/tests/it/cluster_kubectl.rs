//! The guide with the real kubectl against the simulated cluster: its manifests apply, scaling
//! `inflate` leaves 3 pods Pending (no autoscaler here), nodes joining through OVH show their
//! zones, `zone-spread` spreads 2 pods per zone, the controller's log is served by
//! `kubectl logs -l`.

use crate::common::{cluster, eventually, Ovh};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

const KUBECTL: &str = "/usr/bin/kubectl";

struct Kubectl {
    kubeconfig: PathBuf,
    home: PathBuf,
}

impl Kubectl {
    async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let mut c = Command::new(KUBECTL);
        c.args(args)
            .env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", &self.home)
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(Duration::from_secs(60), c.output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into(),
            String::from_utf8_lossy(&out.stderr).into(),
        )
    }

    async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "kubectl {args:?} failed:\n{out}\n{err}");
        out
    }
}

/// `envsubst` on a demo file.
fn substituted(path: &Path, env: &BTreeMap<String, String>, dir: &Path) -> String {
    let mut text = std::fs::read_to_string(path).unwrap();
    for (k, v) in env {
        text = text.replace(&format!("${{{k}}}"), v);
    }
    assert!(!text.contains("${"), "every variable of {path:?} is set");
    let out = dir.join(path.file_name().unwrap());
    std::fs::write(&out, text).unwrap();
    out.to_string_lossy().into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_manifests_apply_inflate_pends_and_nodes_show_zones() {
    let c = cluster().await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    c.kube().write_kubeconfig(&kubeconfig).unwrap();
    let k = Kubectl {
        kubeconfig,
        home: dir.path().to_path_buf(),
    };
    let env: BTreeMap<String, String> = c
        .env()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let demo = repo.join("demo");
    k.ok(&[
        "apply",
        "-f",
        repo.join("charts/karpenter-ovhcloud/crds")
            .to_str()
            .unwrap(),
    ])
    .await;
    for f in ["01-namespace-secret.yaml", "02-ovhnodeclass.yaml"] {
        k.ok(&["apply", "-f", &substituted(&demo.join(f), &env, dir.path())])
            .await;
    }
    for f in [
        "03-nodepool-basic.yaml",
        "04-inflate.yaml",
        "05-nodepool-multi-flavor.yaml",
        "08-nodepool-multizone.yaml",
    ] {
        k.ok(&["apply", "-f", demo.join(f).to_str().unwrap()]).await;
    }
    k.ok(&["scale", "deployment/inflate", "--replicas=3"]).await;
    eventually("3 pending, unschedulable inflate pods", || async {
        let out = k
            .ok(&[
                "get", "pods", "-l", "app=inflate", "-o",
                r#"jsonpath={range .items[*]}{.status.phase}/{.status.conditions[?(@.type=="PodScheduled")].reason}{"\n"}{end}"#,
            ])
            .await;
        let lines: Vec<&str> = out.lines().collect();
        (lines.len() == 3 && lines.iter().all(|l| *l == "Pending/Unschedulable")).then_some(())
    })
    .await;
    let events = k
        .ok(&[
            "get",
            "events",
            "--sort-by=.lastTimestamp",
            "--field-selector",
            "reason=FailedScheduling",
        ])
        .await;
    assert!(
        events.contains("untolerated taint {CriticalAddonsOnly: true}"),
        "{events}"
    );

    // One node per zone through OVH, as the controller would launch them.
    let ovh = Ovh::new(&c);
    for zone in ["a", "b", "c"] {
        let zone = format!("eu-west-par-{zone}");
        ovh.create_pool(&format!("karpenter-b3-8-{zone}"), "b3-8", &zone, 1)
            .await;
    }
    eventually("4 Ready nodes", || async {
        let out = k
            .ok(&["get", "nodes", "-o", r#"jsonpath={range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}"#])
            .await;
        let lines: Vec<&str> = out.lines().collect();
        (lines.len() == 4 && lines.iter().all(|l| *l == "True")).then_some(())
    })
    .await;
    let nodes = k
        .ok(&["get", "nodes", "-L", "topology.kubernetes.io/zone"])
        .await;
    let header = nodes.lines().next().unwrap();
    assert!(header.ends_with("ZONE"), "{nodes}");
    for zone in ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"] {
        assert!(
            nodes
                .lines()
                .filter(|l| l.contains("karpenter-b3-8") && l.trim_end().ends_with(zone))
                .count()
                == 1,
            "{nodes}"
        );
    }
    // inflate has no node selector: it runs on the new nodes now.
    k.ok(&[
        "wait",
        "--for=condition=Ready",
        "pods",
        "-l",
        "app=inflate",
        "--timeout=30s",
    ])
    .await;

    // inflate went to the first node Ready; make room, as consolidation would.
    k.ok(&["scale", "deployment/inflate", "--replicas=0"]).await;
    eventually("inflate pods gone", || async {
        k.ok(&["get", "pods", "-l", "app=inflate", "-o", "name"])
            .await
            .trim()
            .is_empty()
            .then_some(())
    })
    .await;
    // The controller labels its nodes; zone-spread then lands 2 pods per zone.
    k.ok(&[
        "label",
        "nodes",
        "-l",
        "nodepool!=system",
        "karpenter.sh/nodepool=multizone",
    ])
    .await;
    k.ok(&[
        "apply",
        "-f",
        demo.join("09-zone-spread.yaml").to_str().unwrap(),
    ])
    .await;
    let zones = eventually("6 zone-spread pods Running", || async {
        let pods = k
            .ok(&[
                "get",
                "pods",
                "-l",
                "app=zone-spread",
                "-o",
                r#"jsonpath={range .items[*]}{.status.phase} {.spec.nodeName}{"\n"}{end}"#,
            ])
            .await;
        let lines: Vec<String> = pods.lines().map(String::from).collect();
        (lines.len() == 6 && lines.iter().all(|l| l.starts_with("Running "))).then_some(lines)
    })
    .await;
    let node_zone: BTreeMap<String, String> = k
        .ok(&["get", "nodes", "-o", r#"jsonpath={range .items[*]}{.metadata.name} {.metadata.labels.topology\.kubernetes\.io/zone}{"\n"}{end}"#])
        .await
        .lines()
        .filter_map(|l| l.split_once(' ').map(|(a, b)| (a.to_string(), b.to_string())))
        .collect();
    let mut per_zone: BTreeMap<String, usize> = BTreeMap::new();
    for l in &zones {
        let node = l.split_once(' ').unwrap().1;
        *per_zone.entry(node_zone[node].clone()).or_default() += 1;
    }
    let debug = format!(
        "{}\n{}\n{}",
        k.ok(&["get", "nodes", "--show-labels"]).await,
        k.ok(&["get", "pods", "-A", "-o", "wide"]).await,
        k.ok(&["get", "events", "-A"]).await
    );
    assert_eq!(
        per_zone.values().copied().collect::<Vec<_>>(),
        [2, 2, 2],
        "{per_zone:?}\n{debug}"
    );

    // The controller's log, as the guide reads it.
    let log = dir.path().join("controller.log");
    std::fs::write(&log, "INFO disruption: consolidating node x\n").unwrap();
    c.serve_controller_log(&log).unwrap();
    std::fs::write(
        &log,
        "INFO disruption: consolidating node x\nINFO later line\n",
    )
    .unwrap();
    let logs = k
        .ok(&[
            "logs",
            "-n",
            "karpenter",
            "-l",
            "app.kubernetes.io/name=karpenter-ovhcloud",
        ])
        .await;
    assert!(
        logs.contains("consolidating node x") && logs.contains("later line"),
        "{logs}"
    );
    k.ok(&[
        "get",
        "events",
        "-n",
        "karpenter",
        "--sort-by=.lastTimestamp",
    ])
    .await;
    k.ok(&["describe", "nodepool", "demo-pool"]).await;
}
