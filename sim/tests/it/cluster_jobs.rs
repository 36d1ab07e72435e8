//! Jobs, CronJobs, PriorityClasses, rollout undo and taints with the real kubectl against the
//! simulated cluster: `create job` (protobuf) completes and `wait --for=condition=complete`
//! sees it; parallelism and completions; backoffLimit; ttlSecondsAfterFinished; priority
//! classes resolved onto pods at admission (and the refusals); `rollout undo` twice reuses the
//! ReplicaSets; `kubectl taint` adds and removes one of two taints with the same key.

use crate::common::{cluster, eventually};
use karpenter_ovhcloud_sim::cluster::SimCluster;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const KUBECTL: &str = "/usr/bin/kubectl";

struct Kubectl {
    kubeconfig: PathBuf,
    _dir: tempfile::TempDir,
}

struct Out {
    ok: bool,
    out: String,
    err: String,
}

impl Kubectl {
    fn new(c: &SimCluster) -> Kubectl {
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        c.kube().write_kubeconfig(&kubeconfig).unwrap();
        Kubectl {
            kubeconfig,
            _dir: dir,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(KUBECTL);
        c.args(args)
            .env_clear()
            .env("KUBECONFIG", &self.kubeconfig)
            .env("HOME", self._dir.path())
            .env("PATH", "/usr/bin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        c
    }

    async fn run_with(&self, args: &[&str], stdin: &str) -> Out {
        let mut child = self.command(args).spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        input.write_all(stdin.as_bytes()).await.unwrap();
        drop(input);
        let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
            .await
            .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
            .unwrap();
        Out {
            ok: out.status.success(),
            out: String::from_utf8_lossy(&out.stdout).into(),
            err: String::from_utf8_lossy(&out.stderr).into(),
        }
    }

    async fn run(&self, args: &[&str]) -> Out {
        self.run_with(args, "").await
    }

    async fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args).await;
        assert!(o.ok, "kubectl {args:?} failed:\n{}\n{}", o.out, o.err);
        o.out
    }

    /// `kubectl apply -f -` of a YAML document.
    async fn apply(&self, yaml: &str) -> String {
        let o = self.run_with(&["apply", "-f", "-"], yaml).await;
        assert!(o.ok, "apply failed:\n{}\n{}\n{yaml}", o.out, o.err);
        o.out
    }

    /// A failing command's stderr.
    async fn fails(&self, args: &[&str]) -> String {
        let o = self.run(args).await;
        assert!(!o.ok, "kubectl {args:?} should fail:\n{}", o.out);
        o.err
    }

    async fn jsonpath(&self, what: &[&str], path: &str) -> String {
        let jp = format!("jsonpath={path}");
        let mut args = vec!["get"];
        args.extend_from_slice(what);
        args.extend_from_slice(&["-o", &jp]);
        self.ok(&args).await
    }
}

/// A cluster whose static node takes workloads (its CriticalAddonsOnly taint removed by
/// `kubectl taint`), and kubectl on it.
async fn open_cluster() -> (SimCluster, Kubectl) {
    let c = cluster().await;
    let k = Kubectl::new(&c);
    k.ok(&["taint", "nodes", "--all", "CriticalAddonsOnly-"])
        .await;
    (c, k)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_job_completes_and_wait_sees_it() {
    let (_c, k) = open_cluster().await;
    // `create job` POSTs protobuf; `sleep 2` is how long the container runs (guide time).
    k.ok(&[
        "create",
        "job",
        "hello",
        "--image=busybox",
        "--",
        "sleep",
        "2",
    ])
    .await;
    k.ok(&[
        "wait",
        "--for=condition=complete",
        "job/hello",
        "--timeout=30s",
    ])
    .await;
    let table = k.ok(&["get", "jobs"]).await;
    let line = table.lines().find(|l| l.starts_with("hello")).unwrap();
    assert!(line.contains("Complete") && line.contains("1/1"), "{table}");
    assert!(table.starts_with("NAME"), "{table}");
    assert!(
        table.contains("COMPLETIONS") && table.contains("DURATION"),
        "{table}"
    );
    let phases = k
        .jsonpath(
            &["pods", "-l", "job-name=hello"],
            "{.items[*].status.phase}",
        )
        .await;
    assert_eq!(phases, "Succeeded");
    let reason = k
        .jsonpath(
            &["pods", "-l", "batch.kubernetes.io/job-name=hello"],
            "{.items[0].status.containerStatuses[0].state.terminated.reason}",
        )
        .await;
    assert_eq!(reason, "Completed");
    let st = k
        .jsonpath(
            &["job", "hello"],
            "{.status.succeeded}/{.spec.completions}/{.spec.backoffLimit}/{.spec.selector.matchLabels}",
        )
        .await;
    assert!(st.starts_with("1/1/6/"), "{st}");
    assert!(st.contains("batch.kubernetes.io/controller-uid"), "{st}");

    // A Job whose pods would restart Always is refused, dry run or not.
    let err = k
        .run_with(
            &["create", "-f", "-", "--dry-run=server"],
            "apiVersion: batch/v1\nkind: Job\nmetadata: {name: bad}\nspec:\n  template:\n    spec:\n      containers: [{name: c, image: busybox}]\n",
        )
        .await;
    assert!(!err.ok);
    assert!(
        err.err.contains("spec.template.spec.restartPolicy: Required value: valid values: \"OnFailure\", \"Never\""),
        "{}",
        err.err
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_keep_parallelism_until_completions() {
    let (_c, k) = open_cluster().await;
    // 4 completions, 2 at a time, each pod running 50 guide seconds (0.5 s here).
    k.apply(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: batch}
spec:
  completions: 4
  parallelism: 2
  template:
    metadata:
      annotations: {sim.karpenter-ovhcloud.sh/run-seconds: "50"}
    spec:
      restartPolicy: Never
      containers: [{name: work, image: busybox}]
"#,
    )
    .await;
    let mut saw_two = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let out = k
            .jsonpath(
                &["pods", "-l", "job-name=batch"],
                r#"{range .items[*]}{.status.phase}{"\n"}{end}"#,
            )
            .await;
        let running = out
            .lines()
            .filter(|p| *p == "Running" || *p == "Pending")
            .count();
        assert!(running <= 2, "more than parallelism pods at once:\n{out}");
        saw_two |= running == 2;
        let done = k
            .jsonpath(
                &["job", "batch"],
                r#"{.status.conditions[?(@.type=="Complete")].status}"#,
            )
            .await;
        if done == "True" {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "Job never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(saw_two, "two pods ran at once at some point");
    let st = k
        .jsonpath(
            &["job", "batch"],
            "{.status.succeeded}/{.status.active}/{.status.completionTime}",
        )
        .await;
    assert!(st.starts_with("4//"), "{st}");
    assert!(st.len() > 4, "completionTime set: {st}");
    let pods = k
        .jsonpath(
            &["pods", "-l", "job-name=batch"],
            "{.items[*].status.phase}",
        )
        .await;
    assert_eq!(
        pods.split(' ').filter(|p| *p == "Succeeded").count(),
        4,
        "{pods}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_fail_after_the_backoff_limit() {
    let (_c, k) = open_cluster().await;
    k.apply(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: flaky}
spec:
  backoffLimit: 1
  template:
    metadata:
      annotations:
        sim.karpenter-ovhcloud.sh/run-seconds: "1"
        sim.karpenter-ovhcloud.sh/exit-code: "3"
    spec:
      restartPolicy: Never
      containers: [{name: work, image: busybox}]
"#,
    )
    .await;
    k.ok(&[
        "wait",
        "--for=condition=failed",
        "job/flaky",
        "--timeout=30s",
    ])
    .await;
    let st = k
        .jsonpath(
            &["job", "flaky"],
            r#"{.status.failed}/{.status.conditions[?(@.type=="Failed")].reason}"#,
        )
        .await;
    assert_eq!(st, "2/BackoffLimitExceeded");
    let exit = k
        .jsonpath(
            &["pods", "-l", "job-name=flaky"],
            "{.items[*].status.containerStatuses[0].state.terminated.exitCode}",
        )
        .await;
    assert_eq!(exit, "3 3");
    let table = k.ok(&["get", "job", "flaky"]).await;
    assert!(table.contains("Failed") && table.contains("0/1"), "{table}");
    let events = k
        .ok(&["events", "--for", "job/flaky", "--types=Warning"])
        .await;
    assert!(events.contains("BackoffLimitExceeded"), "{events}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_jobs_are_deleted_after_their_ttl() {
    let (_c, k) = open_cluster().await;
    // Finishes after 20 guide seconds, is deleted 100 guide seconds later (1 s here).
    k.apply(
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: brief}
spec:
  ttlSecondsAfterFinished: 100
  template:
    metadata:
      annotations: {sim.karpenter-ovhcloud.sh/run-seconds: "20"}
    spec:
      restartPolicy: Never
      containers: [{name: work, image: busybox}]
"#,
    )
    .await;
    // Witness first: the Job completed and still exists.
    k.ok(&[
        "wait",
        "--for=condition=complete",
        "job/brief",
        "--timeout=30s",
    ])
    .await;
    k.ok(&["wait", "--for=delete", "job/brief", "--timeout=30s"])
        .await;
    eventually("the Job's pods collected", || async {
        k.jsonpath(
            &["pods", "-l", "job-name=brief"],
            "{.items[*].metadata.name}",
        )
        .await
        .is_empty()
        .then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cronjobs_are_served_and_jobs_are_made_from_them() {
    let (_c, k) = open_cluster().await;
    // `create cronjob` and `create job --from` send protobuf.
    k.ok(&[
        "create",
        "cronjob",
        "nightly",
        "--image=busybox",
        "--schedule=0 3 * * *",
        "--",
        "sleep",
        "1",
    ])
    .await;
    let table = k.ok(&["get", "cj"]).await;
    assert!(
        table.contains("SCHEDULE") && table.contains("0 3 * * *"),
        "{table}"
    );
    let line = table.lines().find(|l| l.starts_with("nightly")).unwrap();
    assert!(line.contains("False") && line.contains("<none>"), "{table}");
    let defaults = k
        .jsonpath(
            &["cj", "nightly"],
            "{.spec.concurrencyPolicy}/{.spec.successfulJobsHistoryLimit}/{.spec.failedJobsHistoryLimit}",
        )
        .await;
    assert_eq!(defaults, "Allow/3/1");
    k.ok(&["create", "job", "manual", "--from=cronjob/nightly"])
        .await;
    k.ok(&[
        "wait",
        "--for=condition=complete",
        "job/manual",
        "--timeout=30s",
    ])
    .await;
    let ann = k
        .jsonpath(
            &["job", "manual"],
            "{.metadata.annotations.cronjob\\.kubernetes\\.io/instantiate}",
        )
        .await;
    assert_eq!(ann, "manual");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn priority_classes_resolve_onto_pods_at_admission() {
    let (_c, k) = open_cluster().await;
    let table = k.ok(&["get", "priorityclasses"]).await;
    for want in [
        "system-cluster-critical",
        "2000000000",
        "system-node-critical",
        "2000001000",
        "GLOBAL-DEFAULT",
        "PREEMPTIONPOLICY",
    ] {
        assert!(table.contains(want), "{want} in\n{table}");
    }
    // `create priorityclass` sends protobuf.
    k.ok(&["create", "priorityclass", "high", "--value=1000"])
        .await;
    k.ok(&[
        "create",
        "priorityclass",
        "polite",
        "--value=500",
        "--preemption-policy=Never",
    ])
    .await;
    let line = k.ok(&["get", "pc", "high", "--no-headers"]).await;
    assert!(
        line.contains("1000") && line.contains("false") && line.contains("PreemptLowerPriority"),
        "{line}"
    );

    k.ok(&[
        "run",
        "important",
        "--image=busybox",
        r#"--overrides={"spec":{"priorityClassName":"high"}}"#,
    ])
    .await;
    let p = k
        .jsonpath(
            &["pod", "important"],
            "{.spec.priority}/{.spec.preemptionPolicy}",
        )
        .await;
    assert_eq!(p, "1000/PreemptLowerPriority");
    k.ok(&[
        "run",
        "meek",
        "--image=busybox",
        r#"--overrides={"spec":{"priorityClassName":"polite"}}"#,
    ])
    .await;
    let p = k
        .jsonpath(
            &["pod", "meek"],
            "{.spec.priority}/{.spec.preemptionPolicy}",
        )
        .await;
    assert_eq!(p, "500/Never");
    k.ok(&["run", "plain", "--image=busybox"]).await;
    let p = k
        .jsonpath(
            &["pod", "plain"],
            "{.spec.priority}/{.spec.priorityClassName}",
        )
        .await;
    assert_eq!(p, "0/");

    // Refusals: unknown class (also on a dry run), a priority that differs from the class's.
    for dry in [false, true] {
        let mut args = vec![
            "run",
            "lost",
            "--image=busybox",
            r#"--overrides={"spec":{"priorityClassName":"nope"}}"#,
        ];
        if dry {
            args.push("--dry-run=server");
        }
        let err = k.fails(&args).await;
        assert!(
            err.contains(r#"pods "lost" is forbidden: no PriorityClass with name nope was found"#),
            "{err}"
        );
    }
    let err = k
        .fails(&[
            "run",
            "liar",
            "--image=busybox",
            r#"--overrides={"spec":{"priorityClassName":"high","priority":5}}"#,
        ])
        .await;
    assert!(
        err.contains("the integer value of priority (5) must not be provided in pod spec; priority admission controller computed 1000 from the given PriorityClass name"),
        "{err}"
    );
    let err = k
        .fails(&["create", "priorityclass", "system-mine", "--value=1"])
        .await;
    assert!(
        err.contains("priority class names with 'system-' prefix are reserved for system use only"),
        "{err}"
    );
    let err = k
        .fails(&["create", "priorityclass", "huge", "--value=1000000001"])
        .await;
    assert!(
        err.contains("maximum allowed value of a user defined priority is 1000000000"),
        "{err}"
    );
    let err = k
        .fails(&[
            "patch",
            "pc",
            "high",
            "--type=merge",
            "-p",
            r#"{"value":2}"#,
        ])
        .await;
    assert!(
        err.contains("value: Forbidden: may not be changed in an update."),
        "{err}"
    );

    // A global default applies to pods without a class; only one may exist.
    k.ok(&[
        "create",
        "priorityclass",
        "fallback",
        "--value=7",
        "--global-default",
    ])
    .await;
    let err = k
        .fails(&[
            "create",
            "priorityclass",
            "another",
            "--value=8",
            "--global-default",
        ])
        .await;
    assert!(
        err.contains(
            "PriorityClass fallback is already marked as default. Only one default can exist"
        ),
        "{err}"
    );
    k.ok(&["run", "defaulted", "--image=busybox"]).await;
    let p = k
        .jsonpath(
            &["pod", "defaulted"],
            "{.spec.priority}/{.spec.priorityClassName}",
        )
        .await;
    assert_eq!(p, "7/fallback");
}

/// The image of Deployment `web` and its revision annotation, `image/revision`.
async fn image_and_revision(k: &Kubectl) -> String {
    k.jsonpath(
        &["deploy", "web"],
        "{.spec.template.spec.containers[0].image}/{.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
    )
    .await
}

/// A node's taints, one `key=value:effect` a line.
async fn taints(k: &Kubectl, node: &str) -> String {
    k.jsonpath(
        &["node", node],
        r#"{range .spec.taints[*]}{.key}={.value}:{.effect}{"\n"}{end}"#,
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollout_undo_twice_reuses_the_replicasets() {
    let (_c, k) = open_cluster().await;
    k.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx:1.0",
        "--replicas=2",
    ])
    .await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    let rev = k
        .jsonpath(
            &["deploy", "web"],
            "{.metadata.annotations.deployment\\.kubernetes\\.io/revision}",
        )
        .await;
    assert_eq!(rev, "1");
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:2.0"])
        .await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    assert_eq!(image_and_revision(&k).await, "nginx:2.0/2");

    let out = k.ok(&["rollout", "undo", "deployment/web"]).await;
    assert!(out.contains("rolled back"), "{out}");
    k.ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    eventually("revision 3 on nginx:1.0", || async {
        (image_and_revision(&k).await == "nginx:1.0/3").then_some(())
    })
    .await;
    let out = k.ok(&["rollout", "undo", "deployment/web"]).await;
    assert!(out.contains("rolled back"), "{out}");
    k.ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    eventually("revision 4 on nginx:2.0", || async {
        (image_and_revision(&k).await == "nginx:2.0/4").then_some(())
    })
    .await;
    // The two templates' ReplicaSets were reused: no third one.
    let rss = k
        .jsonpath(
            &["rs", "-l", "app=web"],
            r#"{range .items[*]}{.metadata.annotations.deployment\.kubernetes\.io/revision}:{.spec.replicas}{"\n"}{end}"#,
        )
        .await;
    let mut lines: Vec<&str> = rss.lines().collect();
    lines.sort();
    assert_eq!(lines, ["3:0", "4:2"], "{rss}");
    let history = k.ok(&["rollout", "history", "deployment/web"]).await;
    assert!(history.contains('3') && history.contains('4'), "{history}");

    // A paused Deployment is not rolled back (kubectl refuses) nor rolled out.
    k.ok(&["rollout", "pause", "deployment/web"]).await;
    let err = k.fails(&["rollout", "undo", "deployment/web"]).await;
    assert!(err.contains("paused"), "{err}");
    k.ok(&["set", "image", "deployment/web", "nginx=nginx:3.0"])
        .await;
    eventually("the paused Deployment's status observed", || async {
        let st = k
            .jsonpath(
                &["deploy", "web"],
                r#"{.status.observedGeneration}/{.metadata.generation}/{.status.conditions[?(@.type=="Progressing")].reason}"#,
            )
            .await;
        let parts: Vec<&str> = st.split('/').collect();
        (parts[0] == parts[1] && parts[2] == "DeploymentPaused").then_some(())
    })
    .await;
    let rss = k
        .jsonpath(&["rs", "-l", "app=web"], "{.items[*].metadata.name}")
        .await;
    assert_eq!(
        rss.split(' ').count(),
        2,
        "no ReplicaSet while paused: {rss}"
    );
    k.ok(&["rollout", "resume", "deployment/web"]).await;
    k.ok(&["rollout", "status", "deployment/web", "--timeout=30s"])
        .await;
    assert_eq!(image_and_revision(&k).await, "nginx:3.0/5");
}

/// `ready/available` of the ReplicaSet of Deployment `slow`.
async fn ready_and_available(k: &Kubectl) -> String {
    k.jsonpath(
        &["rs", "-l", "app=slow"],
        "{.items[0].status.readyReplicas}/{.items[0].status.availableReplicas}",
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_ready_seconds_delays_availability() {
    let (_c, k) = open_cluster().await;
    // Pods count as available 200 guide seconds (2 s here) after they are Ready.
    k.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: slow}
spec:
  replicas: 2
  minReadySeconds: 200
  selector: {matchLabels: {app: slow}}
  template:
    metadata: {labels: {app: slow}}
    spec:
      containers: [{name: app, image: registry.k8s.io/pause:3.10}]
"#,
    )
    .await;
    eventually("both pods Ready, none available yet", || async {
        (ready_and_available(&k).await == "2/").then_some(())
    })
    .await;
    eventually("both pods available", || async {
        (ready_and_available(&k).await == "2/2").then_some(())
    })
    .await;
    k.ok(&["rollout", "status", "deployment/slow", "--timeout=30s"])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_taint_adds_and_removes_one_of_two_effects() {
    let (_c, k) = open_cluster().await;
    let node = k.jsonpath(&["nodes"], "{.items[0].metadata.name}").await;
    assert_eq!(taints(&k, &node).await, "", "the static node was untainted");
    k.ok(&["taint", "nodes", &node, "dedicated=x:NoSchedule"])
        .await;
    k.ok(&["taint", "nodes", &node, "dedicated=x:NoExecute"])
        .await;
    k.ok(&["taint", "nodes", &node, "other=y:NoSchedule"]).await;
    let mut all: Vec<String> = taints(&k, &node).await.lines().map(String::from).collect();
    all.sort();
    assert_eq!(
        all,
        [
            "dedicated=x:NoExecute",
            "dedicated=x:NoSchedule",
            "other=y:NoSchedule"
        ]
    );
    k.ok(&["taint", "nodes", &node, "dedicated=x:NoSchedule-"])
        .await;
    let mut left: Vec<String> = taints(&k, &node).await.lines().map(String::from).collect();
    left.sort();
    assert_eq!(left, ["dedicated=x:NoExecute", "other=y:NoSchedule"]);
    k.ok(&["taint", "nodes", &node, "dedicated-"]).await;
    assert_eq!(taints(&k, &node).await, "other=y:NoSchedule\n");
    k.ok(&["taint", "nodes", &node, "other-"]).await;
    assert_eq!(taints(&k, &node).await, "");
}

/// Pods (and workload templates) may not use Karpenter's `Gte`/`Lte` in node affinity: as
/// kube-apiserver, the API server refuses them with the field path.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_affinity_refuses_operators_kubernetes_does_not_know() {
    let (_c, k) = open_cluster().await;
    let affinity = |op: &str| {
        format!(
            r#"--overrides={{"spec":{{"affinity":{{"nodeAffinity":{{"requiredDuringSchedulingIgnoredDuringExecution":{{"nodeSelectorTerms":[{{"matchExpressions":[{{"key":"karpenter.ovhcloud.sh/flavor-generation","operator":"{op}","values":["3"]}}]}}]}}}}}}}}}}"#
        )
    };
    let err = k
        .fails(&["run", "ranged", "--image=busybox", &affinity("Gte")])
        .await;
    assert!(
        err.contains(r#"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator: Invalid value: "Gte": not a valid selector operator"#),
        "{err}"
    );
    k.ok(&["run", "bounded", "--image=busybox", &affinity("Gt")])
        .await;
}
