//! The simulated API server driven by the real `kubectl` (v1.32): apply (client-side and
//! server-side, built-ins, CRDs, custom resources), get in its output forms, describe, scale,
//! patch, delete with finalizers, wait, events, watch, cordon/drain, auth can-i, explain, field
//! validation, edit, and diff and server dry runs.

use karpenter_ovhcloud_sim::kube::{Config as SimConfig, KubeSim, ListOptions};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const KUBECTL: &str = "/usr/bin/kubectl";

struct Env {
    sim: KubeSim,
    dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

struct Out {
    ok: bool,
    /// The exit code (`kubectl diff`: 0 same, 1 different, more: an error).
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Env {
    async fn new() -> Env {
        let sim = KubeSim::start(SimConfig::default()).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sim.write_kubeconfig(&kubeconfig).unwrap();
        Env {
            sim,
            dir,
            kubeconfig,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(KUBECTL);
        c.args(args);
        if std::env::var_os("KUBECTL_DEBUG").is_some() {
            c.arg("-v=9");
        }
        c.env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self.dir.path())
            .env("PATH", "/usr/bin:/bin")
            .kill_on_drop(true)
            .stdin(Stdio::null());
        c
    }

    async fn run(&self, args: &[&str]) -> Out {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .unwrap();
        Out {
            ok: out.status.success(),
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    /// Runs kubectl and expects success; returns stdout.
    async fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args).await;
        assert!(
            o.ok,
            "kubectl {args:?} failed:\nstdout: {}\nstderr: {}",
            o.stdout, o.stderr
        );
        o.stdout
    }

    fn file(&self, name: &str, text: &str) -> String {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }
}

fn data(file: &str) -> String {
    format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

const WORKLOAD: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: demo
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: demo
  labels:
    tier: config
data:
  mode: fast
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: inflate
  namespace: demo
  labels:
    app: inflate
spec:
  replicas: 0
  selector:
    matchLabels:
      app: inflate
  template:
    metadata:
      labels:
        app: inflate
    spec:
      containers:
      - name: inflate
        image: public.ecr.aws/eks-distro/kubernetes/pause:3.7
        resources:
          requests:
            cpu: 500m
            memory: 512Mi
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_get_describe_scale_and_patch_builtins() {
    let env = Env::new().await;
    let f = env.file("workload.yaml", WORKLOAD);
    let out = env.ok(&["apply", "-f", &f]).await;
    assert!(
        out.contains("namespace/demo created") && out.contains("deployment.apps/inflate created"),
        "{out}"
    );
    let out = env.ok(&["apply", "-f", &f]).await;
    assert!(out.contains("deployment.apps/inflate unchanged"), "{out}");
    let changed = env.file(
        "workload2.yaml",
        &WORKLOAD.replace("mode: fast", "mode: slow"),
    );
    let out = env.ok(&["apply", "-f", &changed]).await;
    assert!(out.contains("configmap/settings configured"), "{out}");
    assert!(
        env.ok(&[
            "get",
            "cm",
            "settings",
            "-n",
            "demo",
            "-o",
            "jsonpath={.data.mode}"
        ])
        .await
            == "slow"
    );

    let wide = env.ok(&["get", "deploy", "-n", "demo", "-o", "wide"]).await;
    assert!(
        wide.contains("READY")
            && wide.contains("CONTAINERS")
            && wide.contains("SELECTOR")
            && wide.contains("app=inflate"),
        "{wide}"
    );
    let yaml = env
        .ok(&["get", "deployment", "inflate", "-n", "demo", "-o", "yaml"])
        .await;
    assert!(
        yaml.contains("kubectl.kubernetes.io/last-applied-configuration")
            && yaml.contains("resourceVersion:"),
        "{yaml}"
    );
    let labelled = env
        .ok(&["get", "cm", "-n", "demo", "-l", "tier=config", "-L", "tier"])
        .await;
    assert!(
        labelled.contains("settings") && labelled.contains("TIER") && labelled.contains("config"),
        "{labelled}"
    );
    assert!(!env
        .ok(&["get", "cm", "-n", "demo", "-l", "tier=other"])
        .await
        .contains("settings"));

    let out = env
        .ok(&["scale", "deployment/inflate", "-n", "demo", "--replicas=3"])
        .await;
    assert!(out.contains("scaled"), "{out}");
    assert_eq!(
        env.ok(&[
            "get",
            "deploy",
            "inflate",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.replicas}"
        ])
        .await,
        "3"
    );

    env.ok(&[
        "patch",
        "deploy",
        "inflate",
        "-n",
        "demo",
        "--type=merge",
        "-p",
        r#"{"metadata":{"labels":{"patched":"merge"}}}"#,
    ])
    .await;
    env.ok(&[
        "patch",
        "deploy",
        "inflate",
        "-n",
        "demo",
        "--type=json",
        "-p",
        r#"[{"op":"replace","path":"/spec/replicas","value":2}]"#,
    ])
    .await;
    env.ok(&[
        "patch",
        "deploy",
        "inflate",
        "-n",
        "demo",
        "-p",
        r#"{"spec":{"template":{"spec":{"containers":[{"name":"inflate","image":"pause:3.9"}]}}}}"#,
    ])
    .await;
    let d = env.ok(&["get", "deploy", "inflate", "-n", "demo", "-o", "jsonpath={.metadata.labels.patched} {.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].resources.requests.cpu}"]).await;
    assert_eq!(d, "merge 2 pause:3.9 500m");

    let desc = env
        .ok(&["describe", "deployment", "inflate", "-n", "demo"])
        .await;
    assert!(
        desc.contains("Name:") && desc.contains("inflate") && desc.contains("Replicas:"),
        "{desc}"
    );
    let pod = env.file("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: solo\n  namespace: demo\nspec:\n  containers:\n  - name: c\n    image: pause\n");
    env.ok(&["apply", "-f", &pod]).await;
    let desc = env.ok(&["describe", "pod", "solo", "-n", "demo"]).await;
    assert!(
        desc.contains("Status:") && desc.contains("Pending"),
        "{desc}"
    );
    let pods = env.ok(&["get", "po", "-n", "demo"]).await;
    assert!(
        pods.contains("solo") && pods.contains("0/1") && pods.contains("Pending"),
        "{pods}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn karpenter_crds_custom_resources_and_server_side_apply() {
    let env = Env::new().await;
    env.ok(&[
        "apply",
        "-f",
        &data("karpenter.sh_nodepools.yaml"),
        "-f",
        &data("karpenter.sh_nodeclaims.yaml"),
    ])
    .await;
    env.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/nodepools.karpenter.sh",
        "--timeout=20s",
    ])
    .await;
    let np = env.file(
        "np.yaml",
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: demo-pool\nspec:\n  template:\n    spec:\n      nodeClassRef:\n        group: karpenter.ovhcloud.sh\n        kind: OVHNodeClass\n        name: default\n      requirements:\n      - key: node.kubernetes.io/instance-type\n        operator: In\n        values: [b3-8, b3-16]\n",
    );
    let out = env.ok(&["apply", "-f", &np]).await;
    assert!(
        out.contains("nodepool.karpenter.sh/demo-pool created"),
        "{out}"
    );
    let got = env.ok(&["get", "nodepool", "demo-pool", "-o", "jsonpath={.spec.disruption.consolidateAfter} {.spec.disruption.budgets[0].nodes} {.spec.template.spec.expireAfter} {.spec.disruption.consolidationPolicy}"]).await;
    assert_eq!(got, "0s 10% 720h WhenEmptyOrUnderutilized");
    let table = env.ok(&["get", "nodepools"]).await;
    assert!(
        table.contains("NODECLASS")
            && table.contains("READY")
            && table.contains("demo-pool")
            && table.contains("default"),
        "{table}"
    );
    let wide = env.ok(&["get", "nodepools", "-o", "wide"]).await;
    assert!(wide.contains("WEIGHT") && wide.contains("CPU"), "{wide}");
    assert!(
        env.ok(&["get", "karpenter"]).await.contains("demo-pool"),
        "category lookup"
    );

    // Server-side apply: a second manager taking an owned field conflicts until forced.
    let ssa = env.file(
        "np-ssa.yaml",
        &std::fs::read_to_string(&np)
            .unwrap()
            .replace("spec:\n  template:", "spec:\n  weight: 10\n  template:"),
    );
    let out = env
        .ok(&["apply", "--server-side", "--field-manager=ops", "-f", &ssa])
        .await;
    assert!(out.contains("serverside-applied"), "{out}");
    let other = env.file(
        "np-ssa2.yaml",
        &std::fs::read_to_string(&ssa)
            .unwrap()
            .replace("weight: 10", "weight: 20"),
    );
    let conflict = env
        .run(&[
            "apply",
            "--server-side",
            "--field-manager=other",
            "-f",
            &other,
        ])
        .await;
    assert!(
        !conflict.ok
            && conflict.stderr.contains("conflict")
            && conflict.stderr.contains(".spec.weight"),
        "{}",
        conflict.stderr
    );
    env.ok(&[
        "apply",
        "--server-side",
        "--field-manager=other",
        "--force-conflicts",
        "-f",
        &other,
    ])
    .await;
    assert_eq!(
        env.ok(&[
            "get",
            "nodepool",
            "demo-pool",
            "-o",
            "jsonpath={.spec.weight}"
        ])
        .await,
        "20"
    );
    let mf = env
        .ok(&[
            "get",
            "nodepool",
            "demo-pool",
            "-o",
            "yaml",
            "--show-managed-fields",
        ])
        .await;
    assert!(
        mf.contains("manager: other") && mf.contains("operation: Apply"),
        "{mf}"
    );
    // Custom resources take merge patches (kubectl picks merge for them).
    env.ok(&[
        "patch",
        "nodepool",
        "demo-pool",
        "--type=merge",
        "-p",
        r#"{"spec":{"limits":{"cpu":100}}}"#,
    ])
    .await;
    assert_eq!(
        env.ok(&[
            "get",
            "nodepool",
            "demo-pool",
            "-o",
            "jsonpath={.spec.limits.cpu}"
        ])
        .await,
        "100"
    );
    let desc = env.ok(&["describe", "nodepool", "demo-pool"]).await;
    assert!(desc.contains("Consolidate After:"), "{desc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_with_finalizers_wait_watch_and_events() {
    let env = Env::new().await;
    let cm = env.file("cm.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  finalizers: [example.com/hold]\n");
    env.ok(&["apply", "-f", &cm]).await;
    env.ok(&["delete", "cm", "held", "--wait=false"]).await;
    let ts = env
        .ok(&[
            "get",
            "cm",
            "held",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(
        !ts.is_empty(),
        "deletion is pending while finalizers remain"
    );
    env.ok(&[
        "patch",
        "cm",
        "held",
        "--type=json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await;
    let gone = env.run(&["get", "cm", "held"]).await;
    assert!(
        !gone.ok && gone.stderr.contains("NotFound"),
        "{}",
        gone.stderr
    );

    // kubectl wait sees a condition set later.
    let pod = env.file("pod.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: w\nspec:\n  containers:\n  - name: c\n    image: pause\n");
    env.ok(&["apply", "-f", &pod]).await;
    let waiter = env
        .command(&["wait", "--for=condition=Ready", "pod/w", "--timeout=30s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.ok(&[
        "patch",
        "pod",
        "w",
        "--subresource=status",
        "--type=merge",
        "-p",
        r#"{"status":{"phase":"Running","conditions":[{"type":"Ready","status":"True"}]}}"#,
    ])
    .await;
    let out = tokio::time::timeout(Duration::from_secs(40), waiter.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("condition met"));

    // get --watch prints changes as they happen.
    let mut watcher = env
        .command(&["get", "cm", "--watch", "--output-watch-events"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(watcher.stdout.take().unwrap()).lines();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let w1 = env.file(
        "w1.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: watched-1\n",
    );
    env.ok(&["apply", "-f", &w1]).await;
    env.ok(&["delete", "-f", &w1]).await;
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(l)) = lines.next_line().await {
            seen.push(l.clone());
            if l.contains("DELETED") && l.contains("watched-1") {
                break;
            }
        }
    })
    .await;
    let _ = watcher.kill().await;
    assert!(
        seen.iter()
            .any(|l| l.contains("ADDED") && l.contains("watched-1")),
        "{seen:?}"
    );
    assert!(
        seen.iter()
            .any(|l| l.contains("DELETED") && l.contains("watched-1")),
        "{seen:?}"
    );

    // Events sorted by lastTimestamp.
    let uid = env
        .ok(&["get", "pod", "w", "-o", "jsonpath={.metadata.uid}"])
        .await;
    for (name, reason, ts) in [
        ("e-late", "Late", "2026-01-01T10:00:00Z"),
        ("e-early", "Early", "2026-01-01T09:00:00Z"),
    ] {
        let ev = format!("apiVersion: v1\nkind: Event\nmetadata:\n  name: {name}\ninvolvedObject:\n  kind: Pod\n  name: w\n  namespace: default\n  uid: {uid}\nreason: {reason}\nmessage: m\ntype: Normal\nfirstTimestamp: \"{ts}\"\nlastTimestamp: \"{ts}\"\ncount: 1\nsource:\n  component: test\n");
        let f = env.file(&format!("{name}.yaml"), &ev);
        env.ok(&["create", "-f", &f]).await;
    }
    let evs = env.ok(&["get", "events", "--sort-by=.lastTimestamp"]).await;
    let (early, late) = (evs.find("Early").unwrap(), evs.find("Late").unwrap());
    assert!(early < late, "{evs}");
    let desc = env.ok(&["describe", "pod", "w"]).await;
    assert!(desc.contains("Events:") && desc.contains("Early"), "{desc}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cordon_and_drain_evict_through_the_api() {
    let env = Env::new().await;
    let node = env.file("node.yaml", "apiVersion: v1\nkind: Node\nmetadata:\n  name: n1\n  labels:\n    kubernetes.io/hostname: n1\n");
    env.ok(&["apply", "-f", &node]).await;
    let ds = env.file(
        "ds.yaml",
        "apiVersion: apps/v1\nkind: DaemonSet\nmetadata:\n  name: agent\nspec:\n  selector:\n    matchLabels: {app: agent}\n  template:\n    metadata:\n      labels: {app: agent}\n    spec:\n      containers:\n      - name: a\n        image: pause\n",
    );
    env.ok(&["apply", "-f", &ds]).await;
    let ds_uid = env
        .ok(&["get", "ds", "agent", "-o", "jsonpath={.metadata.uid}"])
        .await;
    let pods = format!(
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web-1\n  labels: {{app: web}}\nspec:\n  nodeName: n1\n  containers:\n  - name: c\n    image: pause\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: agent-n1\n  labels: {{app: agent}}\n  ownerReferences:\n  - apiVersion: apps/v1\n    kind: DaemonSet\n    name: agent\n    uid: {ds_uid}\n    controller: true\nspec:\n  nodeName: n1\n  containers:\n  - name: a\n    image: pause\n"
    );
    let f = env.file("pods.yaml", &pods);
    env.ok(&["apply", "-f", &f]).await;
    assert!(env.ok(&["cordon", "n1"]).await.contains("cordoned"));
    assert_eq!(
        env.ok(&["get", "node", "n1", "-o", "jsonpath={.spec.unschedulable}"])
            .await,
        "true"
    );
    assert!(env
        .ok(&["get", "nodes"])
        .await
        .contains("SchedulingDisabled"));
    let out = env
        .ok(&[
            "drain",
            "n1",
            "--ignore-daemonsets",
            "--force",
            "--timeout=30s",
        ])
        .await;
    assert!(
        out.contains("evicting pod default/web-1") || out.contains("pod/web-1 evicted"),
        "{out}"
    );
    let left = env.ok(&["get", "pods", "-o", "name"]).await;
    assert!(
        !left.contains("web-1") && left.contains("agent-n1"),
        "{left}"
    );
    // The store saw an eviction, not a plain delete: the pod is gone and the DaemonSet pod stays.
    let pods_def = env.sim.store().def("", "v1", "pods").unwrap();
    assert_eq!(
        env.sim
            .store()
            .list(&pods_def, Some("default"), &ListOptions::default())
            .unwrap()
            .items
            .len(),
        1
    );
    env.ok(&["uncordon", "n1"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_can_i_follows_rbac() {
    let env = Env::new().await;
    let rbac = env.file(
        "rbac.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ctl\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: node-reader\nrules:\n- apiGroups: [\"\"]\n  resources: [nodes]\n  verbs: [get, list, watch]\n- apiGroups: [karpenter.sh]\n  resources: [nodepools/status]\n  verbs: [patch]\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata:\n  name: ctl-node-reader\nroleRef:\n  apiGroup: rbac.authorization.k8s.io\n  kind: ClusterRole\n  name: node-reader\nsubjects:\n- kind: ServiceAccount\n  name: ctl\n  namespace: default\n",
    );
    env.ok(&["apply", "-f", &rbac]).await;
    let sa = "--as=system:serviceaccount:default:ctl";
    assert_eq!(
        env.ok(&["auth", "can-i", "list", "nodes", sa]).await.trim(),
        "yes"
    );
    let no = env.run(&["auth", "can-i", "delete", "nodes", sa]).await;
    assert!(
        !no.ok && no.stdout.trim() == "no",
        "{} {}",
        no.stdout,
        no.stderr
    );
    let no = env.run(&["auth", "can-i", "create", "pods", sa]).await;
    assert_eq!(no.stdout.trim(), "no");
    assert_eq!(
        env.ok(&["auth", "can-i", "create", "pods"]).await.trim(),
        "yes"
    );
}

/// Whether every field of `want` is in `got` with the same value (objects recursively, arrays
/// element by element); `path` names the first difference.
fn contains(want: &serde_json::Value, got: &serde_json::Value, path: &str) -> Result<(), String> {
    use serde_json::Value;
    match (want, got) {
        (Value::Object(w), Value::Object(g)) => w.iter().try_for_each(|(k, v)| {
            let here = format!("{path}.{k}");
            match g.get(k) {
                Some(x) => contains(v, x, &here),
                None => Err(format!("{here} missing (want {v})")),
            }
        }),
        (Value::Array(w), Value::Array(g)) if w.len() == g.len() => w
            .iter()
            .zip(g)
            .enumerate()
            .try_for_each(|(i, (a, b))| contains(a, b, &format!("{path}[{i}]"))),
        _ if want == got => Ok(()),
        _ => Err(format!("{path}: want {want}, got {got}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_generators_send_protobuf_and_read_back() {
    // kubectl's generators POST protobuf bodies (and ask for protobuf answers); what the server
    // stores must be what kubectl meant: Go's JSON of the same object, `--dry-run=client -o json`.
    let env = Env::new().await;
    let text = env.file("notes.txt", "line one\nline two\n");
    let blob = env.dir.path().join("blob.bin");
    std::fs::write(&blob, [0u8, 1, 2, 0xfe, 0xff, b'\n']).unwrap();
    let blob = blob.to_string_lossy().into_owned();
    let from_text = format!("--from-file={text}");
    let from_blob = format!("--from-file={blob}");
    let cases: Vec<(&str, Vec<&str>)> = vec![
        ("namespace/team", vec!["create", "namespace", "team"]),
        (
            "configmap/settings",
            vec![
                "create",
                "configmap",
                "settings",
                "--from-literal=mode=fast",
                &from_text,
                &from_blob,
            ],
        ),
        (
            "secret/creds",
            vec![
                "create",
                "secret",
                "generic",
                "creds",
                "--from-literal=password=s3cr3t",
            ],
        ),
        (
            "deployment/web",
            vec![
                "create",
                "deployment",
                "web",
                "--image=nginx",
                "--replicas=0",
                "--port=80",
            ],
        ),
        (
            "serviceaccount/robot",
            vec!["create", "serviceaccount", "robot"],
        ),
        (
            "poddisruptionbudget/web",
            vec![
                "create",
                "pdb",
                "web",
                "--selector=app=web",
                "--min-available=1",
            ],
        ),
        (
            "service/web",
            vec!["create", "service", "clusterip", "web", "--tcp=80:8080"],
        ),
        (
            "role/reader",
            vec![
                "create",
                "role",
                "reader",
                "--verb=get,list",
                "--resource=pods",
            ],
        ),
        (
            "clusterrole/node-reader",
            vec![
                "create",
                "clusterrole",
                "node-reader",
                "--verb=get",
                "--resource=nodes",
            ],
        ),
        (
            "rolebinding/reader",
            vec![
                "create",
                "rolebinding",
                "reader",
                "--role=reader",
                "--serviceaccount=default:robot",
            ],
        ),
        (
            "clusterrolebinding/node-reader",
            vec![
                "create",
                "clusterrolebinding",
                "node-reader",
                "--clusterrole=node-reader",
                "--user=alice",
            ],
        ),
    ];
    for (what, args) in &cases {
        let mut dry = args.clone();
        dry.extend(["--dry-run=client", "-o", "json"]);
        let mut want: serde_json::Value = serde_json::from_str(&env.ok(&dry).await).unwrap();
        let out = env.ok(args).await;
        assert!(out.contains("created"), "{what}: {out}");
        let got: serde_json::Value =
            serde_json::from_str(&env.ok(&["get", what, "-o", "json"]).await).unwrap();
        // Server fields: creationTimestamp (null client-side) and status.
        let ts = got["metadata"]["creationTimestamp"]
            .as_str()
            .unwrap_or_default();
        assert!(ts.ends_with('Z'), "{what}: creationTimestamp {ts:?}");
        want["metadata"]
            .as_object_mut()
            .unwrap()
            .remove("creationTimestamp");
        if let Some(w) = want.as_object_mut() {
            w.remove("status");
        }
        if let Err(e) = contains(&want, &got, "") {
            panic!("{what}: {e}\nwant {want:#}\ngot {got:#}");
        }
        if *what == "deployment/web" {
            assert_eq!(got["spec"]["replicas"], 0);
            let c = &got["spec"]["template"]["spec"]["containers"][0];
            for noise in ["stdin", "stdinOnce", "tty"] {
                assert!(c.get(noise).is_none(), "{noise} in {c}");
            }
            assert!(got["spec"]["template"]["spec"].get("hostNetwork").is_none());
        }
    }
    let cm: serde_json::Value =
        serde_json::from_str(&env.ok(&["get", "cm", "settings", "-o", "json"]).await).unwrap();
    assert_eq!(cm["data"]["notes.txt"], "line one\nline two\n");
    assert_eq!(cm["binaryData"]["blob.bin"], "AAEC/v8K");
    let secret: serde_json::Value =
        serde_json::from_str(&env.ok(&["get", "secret", "creds", "-o", "json"]).await).unwrap();
    assert_eq!(secret["data"]["password"], "czNjcjN0");
    // Protobuf answers for typed reads.
    let ns = env.ok(&["describe", "namespace", "team"]).await;
    assert!(ns.contains("Status:") && ns.contains("Active"), "{ns}");
    let deploy = env.ok(&["describe", "deployment", "web"]).await;
    assert!(
        deploy.contains("Replicas:") && deploy.contains("nginx"),
        "{deploy}"
    );
}

/// The NodePool CRD, established.
async fn install_nodepools(env: &Env) {
    env.ok(&["apply", "-f", &data("karpenter.sh_nodepools.yaml")])
        .await;
    env.ok(&[
        "wait",
        "--for=condition=Established",
        "crd/nodepools.karpenter.sh",
        "--timeout=20s",
    ])
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_reads_the_openapi_v3_documents() {
    let env = Env::new().await;
    install_nodepools(&env).await;
    let out = env.ok(&["explain", "pods.spec.containers"]).await;
    assert!(out.contains("KIND:       Pod"), "{out}");
    assert!(out.contains("FIELD: containers <[]Container>"), "{out}");
    assert!(
        out.contains("List of containers belonging to the pod."),
        "{out}"
    );
    assert!(out.contains("livenessProbe\t<Probe>"), "{out}");
    let out = env.ok(&["explain", "deploy", "--recursive"]).await;
    assert!(out.contains("GROUP:      apps"), "{out}");
    assert!(out.contains("KIND:       Deployment"), "{out}");
    assert!(out.contains("maxUnavailable\t<IntOrString>"), "{out}");
    assert!(
        out.contains("containers\t<[]Container> -required-"),
        "{out}"
    );
    let out = env.ok(&["explain", "nodepools.spec.template"]).await;
    assert!(out.contains("GROUP:      karpenter.sh"), "{out}");
    assert!(out.contains("KIND:       NodePool"), "{out}");
    assert!(out.contains("FIELD: template <Object>"), "{out}");
    assert!(out.contains("spec\t<Object> -required-"), "{out}");
    let out = env
        .ok(&["explain", "nodepools.spec.template", "--recursive"])
        .await;
    assert!(out.contains("nodeClassRef\t<Object> -required-"), "{out}");
    let o = env.run(&["explain", "pods.spec.foo"]).await;
    assert!(!o.ok);
    assert!(
        o.stderr.contains("field \"foo\" does not exist"),
        "{}",
        o.stderr
    );
}

const STRICT_DEPLOYMENT: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: default\nspec:\n  replicas: 0\n  selector:\n    matchLabels:\n      app: web\n  template:\n    metadata:\n      labels:\n        app: web\n    spec:\n      containers:\n      - name: web\n        image: nginx\n        foo: bar\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_validates_unknown_fields_on_the_server() {
    let env = Env::new().await;
    install_nodepools(&env).await;
    let strict_text =
        "strict decoding error: unknown field \"spec.template.spec.containers[0].foo\"";
    let bad = env.file("bad.yaml", STRICT_DEPLOYMENT);
    // Strict (kubectl's default): refused, with the field's path.
    let o = env.run(&["apply", "-f", &bad]).await;
    assert!(!o.ok, "{}", o.stdout);
    assert!(o.stderr.contains(strict_text), "{}", o.stderr);
    let o = env.run(&["apply", "--validate=strict", "-f", &bad]).await;
    assert!(!o.ok && o.stderr.contains(strict_text), "{}", o.stderr);
    // Warn: created, the field dropped, kubectl prints the server's warning.
    let o = env.run(&["apply", "--validate=warn", "-f", &bad]).await;
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stderr
            .contains("Warning: unknown field \"spec.template.spec.containers[0].foo\""),
        "{}",
        o.stderr
    );
    let got = env
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.spec.template.spec.containers[0]}",
        ])
        .await;
    assert!(!got.contains("foo") && got.contains("nginx"), "{got}");
    // A re-apply (a strategic merge patch) with the unknown field: refused under Strict.
    let o = env.run(&["apply", "-f", &bad]).await;
    assert!(!o.ok, "{}", o.stdout);
    assert!(o.stderr.contains(strict_text), "{}", o.stderr);
    // Ignore: the field is dropped silently.
    let o = env.run(&["apply", "--validate=false", "-f", &bad]).await;
    assert!(o.ok, "{}", o.stderr);
    assert!(!o.stderr.contains("Warning"), "{}", o.stderr);
    let got = env.ok(&["get", "deploy", "web", "-o", "json"]).await;
    assert!(!got.contains("\"foo\""), "{got}");
    // Server-side apply: the typed patch cannot hold the field, whatever the directive.
    let o = env
        .run(&["apply", "--server-side", "--validate=false", "-f", &bad])
        .await;
    assert!(!o.ok, "{}", o.stdout);
    assert!(
        o.stderr
            .contains(".spec.template.spec.containers[0].foo: field not declared in schema"),
        "{}",
        o.stderr
    );
    // The same with a NodePool.
    let np = env.file("np.yaml", &nodepool_np("foo: 1"));
    let o = env.run(&["apply", "-f", &np]).await;
    assert!(!o.ok, "{}", o.stdout);
    assert!(
        o.stderr
            .contains("strict decoding error: unknown field \"spec.foo\""),
        "{}",
        o.stderr
    );
    let o = env.run(&["apply", "--validate=warn", "-f", &np]).await;
    assert!(o.ok, "{}", o.stderr);
    assert!(
        o.stderr.contains("Warning: unknown field \"spec.foo\""),
        "{}",
        o.stderr
    );
    let o = env.run(&["apply", "-f", &np]).await;
    assert!(!o.ok, "{}", o.stdout);
    assert!(
        o.stderr
            .contains("strict decoding error: unknown field \"spec.foo\""),
        "{}",
        o.stderr
    );
    env.ok(&["apply", "--validate=false", "-f", &np]).await;
    let got = env.ok(&["get", "nodepool", "np", "-o", "json"]).await;
    assert!(!got.contains("\"foo\""), "{got}");
    let o = env.run(&["apply", "--server-side", "-f", &np]).await;
    assert!(!o.ok, "{}", o.stdout);
    assert!(
        o.stderr.contains(".spec.foo: field not declared in schema"),
        "{}",
        o.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edit_patches_with_strict_field_validation() {
    let env = Env::new().await;
    let ok = env.file(
        "ok.yaml",
        &STRICT_DEPLOYMENT.replace("        foo: bar\n", ""),
    );
    env.ok(&["apply", "-f", &ok]).await;
    let log = env.dir.path().join("editor.log");
    // An editor that changes a label.
    let label = env.file(
        "label.sh",
        "#!/bin/sh\nsed -i 's/^metadata:$/metadata:\\n  labels:\\n    edited: \"yes\"/' \"$1\"\n",
    );
    // An editor that adds spec.foo (once: it is idempotent) and keeps what it was shown.
    let foo = env.file(
        "foo.sh",
        &format!(
            "#!/bin/sh\ncat \"$1\" >> {log}\ngrep -q '^  foo: 1$' \"$1\" || sed -i 's/^spec:$/spec:\\n  foo: 1/' \"$1\"\n",
            log = log.display()
        ),
    );
    for f in [&label, &foo] {
        std::process::Command::new("chmod")
            .args(["+x", f])
            .status()
            .unwrap();
    }
    let edit = |editor: &str| {
        let mut c = env.command(&["edit", "deploy/web", "-n", "default"]);
        c.env("EDITOR", editor).env("KUBE_EDITOR", editor);
        c
    };
    let out = edit(&label).output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("deployment.apps/web edited"), "{stdout}");
    let got = env
        .ok(&[
            "get",
            "deploy",
            "web",
            "-o",
            "jsonpath={.metadata.labels.edited}",
        ])
        .await;
    assert_eq!(got, "yes");
    let out = edit(&foo).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("Edit cancelled, no valid changes were saved."),
        "{stderr}"
    );
    let shown = std::fs::read_to_string(&log).unwrap();
    assert!(
        shown.contains("strict decoding error: unknown field \"spec.foo\""),
        "{shown}"
    );
    let got = env.ok(&["get", "deploy", "web", "-o", "json"]).await;
    assert!(!got.contains("\"foo\""), "{got}");
}

/// NodePool `np` with one extra line (`field: value`) under `spec`.
fn nodepool_np(spec_line: &str) -> String {
    format!(
        "apiVersion: karpenter.sh/v1\nkind: NodePool\nmetadata:\n  name: np\nspec:\n  {spec_line}\n  template:\n    spec:\n      nodeClassRef:\n        group: karpenter.ovhcloud.sh\n        kind: OVHNodeClass\n        name: default\n      requirements: []\n"
    )
}

/// A resource's `metadata.resourceVersion`, to prove a dry run wrote nothing.
async fn resource_version(env: &Env, args: &[&str]) -> String {
    let mut all = vec!["get"];
    all.extend_from_slice(args);
    all.extend_from_slice(&["-o", "jsonpath={.metadata.resourceVersion}"]);
    env.ok(&all).await
}

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  names: {kind: Widget, plural: widgets, singular: widget, listKind: WidgetList}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_and_server_dry_runs_write_nothing() {
    let env = Env::new().await;
    install_nodepools(&env).await;
    let same = env.file("workload.yaml", WORKLOAD);
    env.ok(&["apply", "-f", &same]).await;
    let deploy = ["deploy", "inflate", "-n", "demo"];
    let rv = resource_version(&env, &deploy).await;

    // Nothing changed: exit 0, no output.
    let o = env.run(&["diff", "-f", &same]).await;
    assert_eq!(o.code, Some(0), "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.is_empty(), "{}", o.stdout);

    // A changed Deployment: exit 1 and a hunk on replicas (client-side: a strategic merge patch
    // with dryRun=All; server-side: an apply patch with dryRun=All, forced because the field
    // belongs to `kubectl-client-side-apply`, which a real server reports as a conflict).
    let changed = env.file(
        "changed.yaml",
        &WORKLOAD.replace("replicas: 0", "replicas: 3"),
    );
    for extra in [&[][..], &["--server-side", "--force-conflicts"][..]] {
        let mut args = vec!["diff", "-f", &changed];
        args.extend_from_slice(extra);
        let o = env.run(&args).await;
        assert_eq!(
            o.code,
            Some(1),
            "diff {extra:?}: {}\n{}",
            o.stdout,
            o.stderr
        );
        assert!(
            o.stdout.contains("-  replicas: 0") && o.stdout.contains("+  replicas: 3"),
            "diff {extra:?}: {}",
            o.stdout
        );
    }
    // Unforced, the server-side diff reports the conflict, as kube-apiserver does.
    let o = env.run(&["diff", "--server-side", "-f", &changed]).await;
    assert!(o.code.unwrap_or(0) > 1, "{}\n{}", o.stdout, o.stderr);
    assert!(
        o.stderr
            .contains("conflict with \"kubectl-client-side-apply\"")
            && o.stderr.contains(".spec.replicas"),
        "{}",
        o.stderr
    );
    // An object that does not exist yet: a dry-run create, shown whole.
    let extra_cm = env.file(
        "new-cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fresh\n  namespace: demo\ndata:\n  k: v\n",
    );
    let o = env.run(&["diff", "-f", &extra_cm]).await;
    assert_eq!(o.code, Some(1), "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("+  name: fresh"), "{}", o.stdout);

    // apply --dry-run=server: kubectl says so, the server keeps the old object.
    let o = env.ok(&["apply", "--dry-run=server", "-f", &changed]).await;
    assert!(
        o.contains("deployment.apps/inflate configured (server dry run)"),
        "{o}"
    );
    let o = env
        .ok(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "--dry-run=server",
            "-f",
            &changed,
        ])
        .await;
    assert!(o.contains("(server dry run)"), "{o}");
    let o = env
        .ok(&["apply", "--dry-run=server", "-f", &extra_cm])
        .await;
    assert!(
        o.contains("configmap/fresh created (server dry run)"),
        "{o}"
    );
    let o = env
        .ok(&[
            "delete",
            "--dry-run=server",
            "deploy",
            "inflate",
            "-n",
            "demo",
        ])
        .await;
    assert!(o.contains("(server dry run)"), "{o}");
    // The witnesses: the same resourceVersion, replicas still 0, no new ConfigMap.
    assert_eq!(resource_version(&env, &deploy).await, rv);
    let replicas = env
        .ok(&[
            "get",
            "deploy",
            "inflate",
            "-n",
            "demo",
            "-o",
            "jsonpath={.spec.replicas}",
        ])
        .await;
    assert_eq!(replicas, "0");
    let o = env.run(&["get", "configmap", "fresh", "-n", "demo"]).await;
    assert!(!o.ok && o.stderr.contains("NotFound"), "{}", o.stderr);

    // A custom resource: diff is a merge patch with dryRun=All.
    let np = &nodepool_np("weight: 10");
    let np_file = env.file("np.yaml", np);
    env.ok(&["apply", "-f", &np_file]).await;
    let np_rv = resource_version(&env, &["nodepool", "np"]).await;
    let heavier = env.file("np2.yaml", &np.replace("weight: 10", "weight: 20"));
    let o = env.run(&["diff", "-f", &heavier]).await;
    assert_eq!(o.code, Some(1), "{}\n{}", o.stdout, o.stderr);
    assert!(o.stdout.contains("+  weight: 20"), "{}", o.stdout);
    let o = env.ok(&["apply", "--dry-run=server", "-f", &heavier]).await;
    assert!(
        o.contains("nodepool.karpenter.sh/np configured (server dry run)"),
        "{o}"
    );
    assert_eq!(resource_version(&env, &["nodepool", "np"]).await, np_rv);

    // A CRD applied as a dry run registers no resource.
    let crd = env.file("widget-crd.yaml", WIDGET_CRD);
    let o = env.ok(&["apply", "--dry-run=server", "-f", &crd]).await;
    assert!(o.contains("(server dry run)"), "{o}");
    let o = env.run(&["get", "crd", "widgets.example.com"]).await;
    assert!(!o.ok && o.stderr.contains("NotFound"), "{}", o.stderr);
    let resources = env.ok(&["api-resources", "--api-group=example.com"]).await;
    assert!(!resources.contains("widgets"), "{resources}");
}
