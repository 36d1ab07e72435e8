//! The everyday kubectl commands, typed as a user types them, against one `karpenter-ovhcloud
//! sim` process (the whole simulated cluster: API server, scheduler, kubelets, Deployment, Job
//! and disruption controllers): each line's exit code and output are checked, and what the
//! cluster does after it (rollouts, Jobs that complete, drains held by a PodDisruptionBudget).

use std::process::Command;
use std::time::Duration;

use crate::chart_support::session::{Background, UserShell};

const BIN: &str = env!("CARGO_BIN_EXE_karpenter-ovhcloud");

/// Runs `line`, which must succeed and print every one of `want` on stdout.
fn says(sh: &UserShell, line: &str, want: &[&str]) -> String {
    let out = sh.ok(line);
    for w in want {
        assert!(out.contains(w), "`{line}` should print {w:?}:\n{out}");
    }
    out
}

/// Runs `line`, which must fail with exit code `code` and say `want` on stderr.
fn refused(sh: &UserShell, line: &str, code: i32, want: &str) {
    let r = sh.run(line);
    assert!(
        r.code == code && r.stderr.contains(want),
        "`{line}` should exit {code} saying {want:?}; exited {}:\n{}{}",
        r.code,
        r.stdout,
        r.stderr
    );
}

/// `kubectl rollout status` of Deployment `name` in `shop` says it finished.
fn rolled_out(sh: &UserShell, name: &str) {
    says(
        sh,
        &format!("kubectl rollout status deployment/{name} -n shop --timeout=60s"),
        &["successfully rolled out"],
    );
}

/// `kubectl scale` of Deployment `web` in `shop`.
fn scale_web(sh: &UserShell, replicas: u32) {
    says(
        sh,
        &format!("kubectl scale deployment web -n shop --replicas={replicas}"),
        &["deployment.apps/web scaled"],
    );
}

/// The `jsonpath` of one object, read until it equals `want`.
fn until_is(sh: &UserShell, what: &str, object: &str, path: &str, want: &str) {
    sh.until(
        &format!("kubectl get {object} -o jsonpath='{path}'"),
        what,
        |out| out.trim() == want,
    );
}

#[test]
fn everyday_kubectl_commands_work_on_the_simulated_cluster() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path();
    let mut sim = Background::spawn(
        Command::new(BIN)
            .args([
                "sim",
                "--time-scale",
                "100",
                "--static-pool-nodes",
                "2",
                "--dir",
            ])
            .arg(home.join("sim")),
    );
    sim.wait_for("Ctrl-C stops", Duration::from_secs(60));
    let env_text = std::fs::read_to_string(home.join("sim/env")).unwrap();
    let env = crate::chart_support::parse_env_file(&env_text);
    // The editor `kubectl edit` runs: it changes the owner annotation in the file it is given.
    let editor = home.join("editor.sh");
    std::fs::write(
        &editor,
        "#!/bin/sh\nsed -i 's/owner: team-a/owner: team-b/' \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&editor, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let sh = UserShell::new(&env, home, home).with_editor(&editor.display().to_string());

    // The static pool's nodes only take critical add-ons, and no autoscaler runs here.
    says(
        &sh,
        "kubectl taint nodes --all CriticalAddonsOnly-",
        &["untainted"],
    );
    sh.until("kubectl get nodes", "two Ready nodes", |o| {
        o.lines().filter(|l| l.contains(" Ready ")).count() == 2
    });

    // create: namespace, configmap (a text file, a binary file and a literal), secret,
    // serviceaccount.
    says(
        &sh,
        "kubectl create namespace shop",
        &["namespace/shop created"],
    );
    std::fs::write(home.join("app.properties"), "color=blue\n").unwrap();
    let blob: Vec<u8> = (0u8..=255).rev().collect();
    std::fs::write(home.join("blob.bin"), &blob).unwrap();
    says(
        &sh,
        "kubectl create configmap app -n shop --from-file=app.properties \
         --from-file=blob.bin --from-literal=mode=fast",
        &["configmap/app created"],
    );
    says(
        &sh,
        "kubectl get configmap app -n shop -o jsonpath='{.data.mode} {.data.app\\.properties}'",
        &["fast color=blue"],
    );
    // Not UTF-8: it travels as binaryData and comes back byte for byte.
    sh.ok(
        "kubectl get configmap app -n shop -o jsonpath='{.binaryData.blob\\.bin}' \
           | base64 -d | cmp - blob.bin",
    );
    says(
        &sh,
        "kubectl create secret generic db -n shop --from-literal=password=s3cret",
        &["secret/db created"],
    );
    says(
        &sh,
        "kubectl get secret db -n shop -o jsonpath='{.data.password}' | base64 -d",
        &["s3cret"],
    );
    says(
        &sh,
        "kubectl create serviceaccount builder -n shop",
        &["serviceaccount/builder created"],
    );

    // create deployment; rollout status waits until its pods are Ready.
    says(
        &sh,
        "kubectl create deployment web -n shop --image=nginx:1.27 --replicas=3",
        &["deployment.apps/web created"],
    );
    rolled_out(&sh, "web");

    // create job: its pod runs `sleep 2` (guide seconds) and the Job completes.
    says(
        &sh,
        "kubectl create job hello -n shop --image=busybox -- sleep 2",
        &["job.batch/hello created"],
    );
    says(
        &sh,
        "kubectl wait --for=condition=complete job/hello -n shop --timeout=60s",
        &["job.batch/hello condition met"],
    );
    let jobs = says(&sh, "kubectl get jobs -n shop", &["COMPLETIONS"]);
    assert!(
        jobs.lines()
            .any(|l| l.starts_with("hello ") && l.contains("Complete") && l.contains("1/1")),
        "{jobs}"
    );
    says(
        &sh,
        "kubectl get pods -n shop -l job-name=hello",
        &["Completed"],
    );

    // create priorityclass: a pod naming it gets its value at admission; an unknown one is refused.
    says(
        &sh,
        "kubectl create priorityclass high --value=100000 --description='batch that must run'",
        &["priorityclass.scheduling.k8s.io/high created"],
    );
    says(
        &sh,
        "kubectl run urgent -n shop --image=nginx \
         --overrides='{\"apiVersion\":\"v1\",\"spec\":{\"priorityClassName\":\"high\"}}'",
        &["pod/urgent created"],
    );
    says(
        &sh,
        "kubectl get pod urgent -n shop -o jsonpath='{.spec.priority}'",
        &["100000"],
    );
    refused(
        &sh,
        "kubectl run stray -n shop --image=nginx \
         --overrides='{\"apiVersion\":\"v1\",\"spec\":{\"priorityClassName\":\"nope\"}}'",
        1,
        "no PriorityClass with name nope was found",
    );
    says(
        &sh,
        "kubectl get priorityclass",
        &["system-node-critical", "high"],
    );

    // create pdb: at least two of web's pods stay up through voluntary disruptions.
    says(
        &sh,
        "kubectl create pdb web -n shop --selector=app=web --min-available=2",
        &["poddisruptionbudget.policy/web created"],
    );
    until_is(
        &sh,
        "the PDB sees web's pods",
        "pdb web -n shop",
        "{.status.currentHealthy}",
        "3",
    );

    // scale.
    scale_web(&sh, 4);
    until_is(
        &sh,
        "four web pods Ready",
        "deployment web -n shop",
        "{.status.readyReplicas}",
        "4",
    );

    // rollout restart: a new ReplicaSet replaces every pod.
    let before = sh.ok("kubectl get pods -n shop -l app=web -o name");
    says(
        &sh,
        "kubectl rollout restart deployment/web -n shop",
        &["deployment.apps/web restarted"],
    );
    rolled_out(&sh, "web");
    sh.until(
        "kubectl get pods -n shop -l app=web -o name",
        "the old pods gone",
        |now| now.lines().count() == 4 && now.lines().all(|p| !before.contains(p)),
    );

    // An image that cannot be pulled: the rollout stalls and keeps enough pods available
    // (maxUnavailable 25% of 4), then `rollout undo` brings the last good template back.
    says(
        &sh,
        "kubectl set image deployment/web -n shop nginx=registry.invalid/nginx:broken",
        &["deployment.apps/web image updated"],
    );
    sh.until(
        "kubectl get pods -n shop -l app=web",
        "a pod stuck pulling",
        |o| o.contains("ImagePullBackOff"),
    );
    refused(
        &sh,
        "kubectl rollout status deployment/web -n shop --timeout=3s",
        1,
        "timed out waiting for the condition",
    );
    let available: i64 = sh
        .ok("kubectl get deployment web -n shop -o jsonpath='{.status.availableReplicas}'")
        .trim()
        .parse()
        .unwrap();
    assert!(
        available >= 3,
        "{available} available during the stalled rollout"
    );
    says(
        &sh,
        "kubectl events -n shop --types=Warning",
        &["Failed to pull image \"registry.invalid/nginx:broken\""],
    );
    says(
        &sh,
        "kubectl rollout undo deployment/web -n shop",
        &["deployment.apps/web rolled back"],
    );
    rolled_out(&sh, "web");
    says(
        &sh,
        "kubectl get deployment web -n shop -o jsonpath='{.spec.template.spec.containers[0].image}'",
        &["nginx:1.27"],
    );
    sh.until(
        "kubectl get pods -n shop -l app=web",
        "the stuck pod removed",
        |o| !o.contains("ImagePullBackOff") && o.lines().count() == 5,
    );
    says(
        &sh,
        "kubectl rollout history deployment/web -n shop",
        &["REVISION"],
    );

    // cordon / uncordon.
    let node = sh
        .ok("kubectl get pods -n shop -l app=web -o jsonpath='{.items[0].spec.nodeName}'")
        .trim()
        .to_string();
    says(
        &sh,
        &format!("kubectl cordon {node}"),
        &[&format!("node/{node} cordoned")],
    );
    says(
        &sh,
        &format!("kubectl get node {node}"),
        &["SchedulingDisabled"],
    );
    says(
        &sh,
        &format!("kubectl uncordon {node}"),
        &[&format!("node/{node} uncordoned")],
    );

    // drain: the bare pod must go first (drain refuses pods no controller recreates), then
    // with two replicas and minAvailable 2 the PDB refuses every eviction; with four the drain
    // goes through, leaving the DaemonSet's pod.
    says(
        &sh,
        "kubectl delete pod urgent -n shop",
        &["pod \"urgent\" deleted"],
    );
    scale_web(&sh, 2);
    sh.until(
        "kubectl get pods -n shop -l app=web -o name",
        "two web pods",
        |o| o.lines().count() == 2,
    );
    until_is(
        &sh,
        "both Ready",
        "deployment web -n shop",
        "{.status.availableReplicas}",
        "2",
    );
    until_is(
        &sh,
        "the PDB allows nothing",
        "pdb web -n shop",
        "{.status.disruptionsAllowed}",
        "0",
    );
    let node = sh
        .ok("kubectl get pods -n shop -l app=web -o jsonpath='{.items[0].spec.nodeName}'")
        .trim()
        .to_string();
    let held = sh.run(&format!(
        "kubectl drain {node} --ignore-daemonsets --timeout=3s"
    ));
    assert!(
        held.code != 0
            && held
                .stderr
                .contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "drain held by the PDB: exit {}\n{}{}",
        held.code,
        held.stdout,
        held.stderr
    );
    scale_web(&sh, 4);
    until_is(
        &sh,
        "four available",
        "deployment web -n shop",
        "{.status.availableReplicas}",
        "4",
    );
    let drained = sh.run(&format!(
        "kubectl drain {node} --ignore-daemonsets --delete-emptydir-data --timeout=60s"
    ));
    assert!(
        drained.code == 0
            && drained.stdout.contains(&format!("node/{node} drained"))
            && drained.stdout.contains("evicting pod shop/web-")
            && drained
                .stderr
                .contains("ignoring DaemonSet-managed Pods: kube-system/kube-proxy-"),
        "drain: exit {}\n{}{}",
        drained.code,
        drained.stdout,
        drained.stderr
    );
    let wide = says(&sh, "kubectl get pods -A -o wide", &["NOMINATED NODE"]);
    assert!(
        wide.lines()
            .any(|l| l.starts_with("kube-system") && l.contains("kube-proxy") && l.contains(&node)),
        "the DaemonSet pod stays: {wide}"
    );
    assert!(
        !wide
            .lines()
            .any(|l| l.starts_with("shop ") && l.contains("web-") && l.contains(&node)),
        "no web pod left on {node}: {wide}"
    );
    says(&sh, &format!("kubectl uncordon {node}"), &["uncordoned"]);

    // taint: two effects of one key, then one removed; the other stays.
    says(
        &sh,
        &format!("kubectl taint nodes {node} dedicated=batch:NoSchedule dedicated=batch:PreferNoSchedule"),
        &[&format!("node/{node} tainted")],
    );
    says(
        &sh,
        &format!("kubectl taint nodes {node} dedicated=batch:PreferNoSchedule-"),
        &[&format!("node/{node} untainted")],
    );
    until_is(
        &sh,
        "one taint left",
        &format!("node {node}"),
        "{range .spec.taints[*]}{.key}={.value}:{.effect} {end}",
        "dedicated=batch:NoSchedule",
    );
    says(
        &sh,
        &format!("kubectl taint nodes {node} dedicated-"),
        &["untainted"],
    );

    // label, annotate.
    says(
        &sh,
        "kubectl label deployment web -n shop tier=frontend",
        &["deployment.apps/web labeled"],
    );
    says(
        &sh,
        "kubectl get deployments -n shop -l tier=frontend -o name",
        &["deployment.apps/web"],
    );
    says(
        &sh,
        "kubectl label deployment web -n shop tier-",
        &["deployment.apps/web unlabeled"],
    );
    says(
        &sh,
        "kubectl annotate deployment web -n shop owner=team-a",
        &["deployment.apps/web annotated"],
    );

    // patch: merge, json, strategic (containers merge by name: the image stays).
    says(
        &sh,
        "kubectl patch deployment web -n shop --type=merge -p '{\"spec\":{\"revisionHistoryLimit\":5}}'",
        &["deployment.apps/web patched"],
    );
    says(
        &sh,
        "kubectl patch deployment web -n shop --type=json \
         -p '[{\"op\":\"replace\",\"path\":\"/spec/replicas\",\"value\":3}]'",
        &["deployment.apps/web patched"],
    );
    let strategic = "kubectl patch deployment web -n shop -p \
         '{\"spec\":{\"template\":{\"spec\":{\"containers\":[{\"name\":\"nginx\",\"env\":[{\"name\":\"MODE\",\"value\":\"fast\"}]}]}}}}'";
    says(&sh, strategic, &["deployment.apps/web patched"]);
    says(&sh, strategic, &["deployment.apps/web patched (no change)"]);
    says(
        &sh,
        "kubectl get deployment web -n shop -o jsonpath='{.spec.revisionHistoryLimit} {.spec.replicas} \
         {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].env[0].value}'",
        &["5 3 nginx:1.27 fast"],
    );
    rolled_out(&sh, "web");

    // edit: the editor script changes the annotation; an editor that changes nothing cancels.
    says(
        &sh,
        "kubectl edit deployment web -n shop",
        &["deployment.apps/web edited"],
    );
    says(
        &sh,
        "kubectl get deployment web -n shop -o jsonpath='{.metadata.annotations.owner}'",
        &["team-b"],
    );
    let cancelled = sh.run("KUBE_EDITOR=true kubectl edit deployment web -n shop");
    assert!(
        cancelled.code == 0
            && cancelled
                .stderr
                .contains("Edit cancelled, no changes made."),
        "{cancelled:?}"
    );

    // explain: built-in kinds, and Karpenter's once its CRDs are installed.
    says(
        &sh,
        "kubectl explain deployment.spec.replicas",
        &["FIELD: replicas <integer>"],
    );
    let crds = crate::chart_support::chart_dir().join("crds");
    says(
        &sh,
        &format!("kubectl apply --server-side -f {}", crds.display()),
        &["customresourcedefinition.apiextensions.k8s.io/nodepools.karpenter.sh serverside-applied"],
    );
    sh.until(
        "kubectl api-resources --api-group=karpenter.sh",
        "NodePools served",
        |o| o.contains("nodepools"),
    );
    says(
        &sh,
        "kubectl explain nodepool.spec.disruption",
        &["consolidateAfter", "budgets"],
    );

    // diff and apply --server-side: a new object differs (exit 1), applying it makes the diff
    // empty (exit 0), a change shows as a hunk.
    let api = |replicas: u32| {
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: api\n  namespace: shop\n\
             spec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: api}}\n  template:\n\
             \x20   metadata:\n      labels: {{app: api}}\n    spec:\n      containers:\n\
             \x20     - name: api\n        image: nginx:1.27\n"
        )
    };
    std::fs::write(home.join("api.yaml"), api(1)).unwrap();
    let new = sh.run("kubectl diff --server-side -f api.yaml");
    assert!(
        new.code == 1 && new.stdout.contains("+  replicas: 1"),
        "{new:?}"
    );
    says(
        &sh,
        "kubectl apply --server-side -f api.yaml",
        &["deployment.apps/api serverside-applied"],
    );
    // Settled first: a status written between diff's GET and its dry run would show.
    rolled_out(&sh, "api");
    let same = sh.run("kubectl diff --server-side -f api.yaml");
    assert!(same.code == 0 && same.stdout.is_empty(), "{same:?}");
    std::fs::write(home.join("api.yaml"), api(2)).unwrap();
    let changed = sh.run("kubectl diff --server-side -f api.yaml");
    assert!(
        changed.code == 1
            && changed.stdout.contains("-  replicas: 1")
            && changed.stdout.contains("+  replicas: 2"),
        "{changed:?}"
    );
    says(
        &sh,
        "kubectl apply --server-side -f api.yaml",
        &["deployment.apps/api serverside-applied"],
    );
    until_is(
        &sh,
        "api scaled by apply",
        "deployment api -n shop",
        "{.status.readyReplicas}",
        "2",
    );

    // get in every output format.
    says(
        &sh,
        "kubectl get deployment web -n shop -o yaml",
        &["kind: Deployment", "replicas: 3"],
    );
    let json: serde_json::Value =
        serde_json::from_str(&sh.ok("kubectl get deployments -n shop -o json")).unwrap();
    let names: Vec<&str> = json["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(names, ["api", "web"]);
    says(
        &sh,
        "kubectl get deployments -n shop -o wide",
        &["CONTAINERS", "IMAGES", "SELECTOR", "app=web"],
    );
    let columns = says(
        &sh,
        "kubectl get deployments -n shop \
         -o custom-columns=NAME:.metadata.name,IMAGE:.spec.template.spec.containers[0].image",
        &["NAME"],
    );
    assert!(
        columns
            .lines()
            .any(|l| l.split_whitespace().eq(["web", "nginx:1.27"])),
        "{columns}"
    );
    says(
        &sh,
        "kubectl get jobs,pdb,sa -n shop -o jsonpath='{range .items[*]}{.kind}/{.metadata.name} {end}'",
        &["Job/hello", "PodDisruptionBudget/web", "ServiceAccount/builder"],
    );

    // wait, events, api-resources.
    says(
        &sh,
        "kubectl wait --for=condition=Available deployment/web -n shop --timeout=60s",
        &["deployment.apps/web condition met"],
    );
    says(
        &sh,
        "kubectl events -n shop --for deployment/web",
        &["ScalingReplicaSet"],
    );
    says(
        &sh,
        "kubectl api-resources --api-group=batch",
        &["jobs", "cronjobs"],
    );
    says(
        &sh,
        "kubectl api-resources",
        &["priorityclasses", "poddisruptionbudgets", "nodepools"],
    );

    // auth can-i, as the admin and as the service account before and after a RoleBinding.
    says(
        &sh,
        "kubectl auth can-i create deployments -n shop",
        &["yes"],
    );
    let as_builder = "kubectl auth can-i list pods -n shop --as=system:serviceaccount:shop:builder";
    let no = sh.run(as_builder);
    assert!(no.code == 1 && no.stdout.trim() == "no", "{no:?}");
    says(
        &sh,
        "kubectl create role pod-reader -n shop --verb=get,list --resource=pods",
        &["role.rbac.authorization.k8s.io/pod-reader created"],
    );
    says(
        &sh,
        "kubectl create rolebinding builder-reads -n shop --role=pod-reader \
         --serviceaccount=shop:builder",
        &["rolebinding.rbac.authorization.k8s.io/builder-reads created"],
    );
    says(&sh, as_builder, &["yes"]);
    drop(sim);
}
