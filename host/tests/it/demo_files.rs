//! The user guide's files in `demo/`: every file the guide lists exists; the YAML, after the
//! guide's `envsubst`, applies with the real kubectl to the simulated API server and says what
//! the guide says (pools, flavors, zones, billing); the guide's inspection commands work on it;
//! `00-verify-prereqs.sh` passes against the simulated OVH API and names what is wrong when
//! something is; `99-cleanup.sh` removes it all; both scripts pass shellcheck.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::chart_support::*;
use karpenter_ovhcloud_sim::ovh::{
    auth, OvhSim, SimConfig as OvhConfig, DEFAULT_APPLICATION_KEY, DEFAULT_APPLICATION_SECRET,
    DEFAULT_CONSUMER_KEY, DEFAULT_KUBE_ID, DEFAULT_REGION, DEFAULT_SERVICE_NAME,
};
use serde_json::{json, Value};

/// The guide's "Demo structure" table, in order.
const GUIDE_FILES: [&str; 14] = [
    "00-verify-prereqs.sh",
    "01-namespace-secret.yaml",
    "02-ovhnodeclass.yaml",
    "03-nodepool-basic.yaml",
    "04-inflate.yaml",
    "05-nodepool-multi-flavor.yaml",
    "06-small-workload.yaml",
    "07-large-workload.yaml",
    "08-nodepool-multizone.yaml",
    "09-zone-spread.yaml",
    "10-ovhnodeclass-monthly.yaml",
    "11-nodepool-monthly.yaml",
    "12-ovhnodeclass-antiaffinity.yaml",
    "99-cleanup.sh",
];

fn requirement<'a>(pool: &'a Value, key: &str) -> &'a Value {
    pool["spec"]["template"]["spec"]["requirements"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no requirement {key} in {}", pool["metadata"]["name"]))
}

/// A directory on PATH holding a stand-in `helm` that records its arguments (helm itself is
/// not installed here; the scripts only ask its version, whether the release exists, and
/// uninstall it).
fn fake_helm(dir: &Path) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let log = dir.join("helm.log");
    let script = format!(
        "#!/bin/sh\necho \"$*\" >> '{}'\ncase \"$1\" in\n  version) echo v3.16.2+g0123456 ;;\nesac\nexit 0\n",
        log.display()
    );
    let path = bin.join("helm");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn demo_has_every_file_the_guide_lists_and_nothing_else() {
    let present: BTreeSet<String> = std::fs::read_dir(repo().join("demo"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = GUIDE_FILES.iter().map(|f| f.to_string()).collect();
    assert_eq!(present, expected);
    use std::os::unix::fs::PermissionsExt;
    for script in ["00-verify-prereqs.sh", "99-cleanup.sh"] {
        let mode = std::fs::metadata(demo(script))
            .unwrap()
            .permissions()
            .mode();
        assert!(mode & 0o111 != 0, "{script} is not executable");
    }
    // Only the guide's variables, and only in the files the guide pipes through envsubst.
    let guide_vars: BTreeSet<&str> = GUIDE_VARS.into();
    for file in GUIDE_FILES.iter().filter(|f| f.ends_with(".yaml")) {
        let text = std::fs::read_to_string(demo(file)).unwrap();
        let vars: Vec<&str> = text
            .split("${")
            .skip(1)
            .map(|rest| rest.split('}').next().unwrap())
            .collect();
        assert_eq!(
            !vars.is_empty(),
            ENVSUBST.contains(file),
            "{file}: placeholders {vars:?}"
        );
        for v in vars {
            assert!(
                guide_vars.contains(v),
                "{file}: ${{{v}}} is not one of the guide's variables"
            );
        }
    }
}

#[test]
fn demo_scripts_pass_shellcheck() {
    let out = std::process::Command::new("shellcheck")
        .arg("--severity=style")
        .arg(demo("00-verify-prereqs.sh"))
        .arg(demo("99-cleanup.sh"))
        .output()
        .expect("shellcheck is installed by `cargo xtask install-tools`");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_manifests_apply_and_say_what_the_guide_says() {
    let cluster = Cluster::start().await;
    cluster.apply_crds().await;
    for file in GUIDE_FILES.iter().filter(|f| f.ends_with(".yaml")) {
        let text = manifest(file).await;
        assert!(!text.contains("${"), "{file} still has a placeholder");
        let out = cluster.ok(&["apply", "-f", "-"], Some(&text)).await;
        assert_eq!(
            out.lines().count(),
            documents(&text).len(),
            "{file}: one object per document:\n{out}"
        );
    }

    // 01: the credentials Secret the chart and the OVHNodeClasses read.
    let secret = cluster
        .get_json(&["secret", "ovh-credentials", "-n", "karpenter"])
        .await;
    let keys: BTreeSet<&str> = secret["data"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        ["applicationKey", "applicationSecret", "consumerKey"].into()
    );

    // 02, 10, 12: the classes, with the guide's values, defaults filled by the CRD.
    for (name, monthly, anti) in [
        ("default", false, false),
        ("monthly", true, false),
        ("anti-affinity", false, true),
    ] {
        let nc = cluster.get_json(&["ovhnodeclass", name]).await;
        assert_eq!(nc["spec"]["serviceName"], DEFAULT_SERVICE_NAME);
        assert_eq!(nc["spec"]["kubeId"], DEFAULT_KUBE_ID);
        assert_eq!(nc["spec"]["region"], DEFAULT_REGION);
        assert_eq!(
            nc["spec"]["credentialsSecretRef"],
            json!({"name": "ovh-credentials", "namespace": "karpenter"})
        );
        assert_eq!(nc["spec"]["monthlyBilled"], monthly, "{name}");
        assert_eq!(nc["spec"]["antiAffinity"], anti, "{name}");
    }

    // 03: b3-8/b3-16, consolidated after 1 minute, 100 vCPUs.
    let basic = cluster.get_json(&["nodepool", "demo-pool"]).await;
    assert_eq!(
        requirement(&basic, "node.kubernetes.io/instance-type")["values"],
        json!(["b3-8", "b3-16"])
    );
    assert_eq!(
        requirement(&basic, "karpenter.sh/capacity-type")["values"],
        json!(["on-demand"])
    );
    assert_eq!(
        basic["spec"]["disruption"]["consolidationPolicy"],
        "WhenEmptyOrUnderutilized"
    );
    assert_eq!(basic["spec"]["disruption"]["consolidateAfter"], "1m");
    assert_eq!(basic["spec"]["limits"]["cpu"], 100);
    assert_eq!(
        basic["spec"]["template"]["spec"]["nodeClassRef"]["name"],
        "default"
    );
    // 05: b3-8..b3-64 with the workload-type label; 08: the three zones of EU-WEST-PAR.
    let multi = cluster.get_json(&["nodepool", "multi-flavor"]).await;
    assert_eq!(
        requirement(&multi, "node.kubernetes.io/instance-type")["values"],
        json!(["b3-8", "b3-16", "b3-32", "b3-64"])
    );
    assert_eq!(
        multi["spec"]["template"]["metadata"]["labels"]["workload-type"],
        "multi-flavor"
    );
    let zones = cluster.get_json(&["nodepool", "multizone"]).await;
    assert_eq!(
        requirement(&zones, "topology.kubernetes.io/zone")["values"],
        json!(["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"])
    );
    // 11: gen2 general purpose only, on the monthly class, only empty nodes removed.
    let monthly = cluster.get_json(&["nodepool", "monthly"]).await;
    assert_eq!(
        requirement(&monthly, "karpenter.ovhcloud.sh/flavor-family")["values"],
        json!(["b2"])
    );
    assert_eq!(
        monthly["spec"]["template"]["spec"]["nodeClassRef"]["name"],
        "monthly"
    );
    assert_eq!(
        monthly["spec"]["disruption"]["consolidationPolicy"],
        "WhenEmpty"
    );

    // 04, 06, 07, 09: replicas, requests and the pool each workload asks for.
    for (name, replicas, cpu, memory, pool) in [
        ("inflate", 0, "500m", "512Mi", None),
        ("small-workload", 1, "500m", "1Gi", Some("multi-flavor")),
        ("large-workload", 1, "6", "24Gi", Some("multi-flavor")),
        ("zone-spread", 6, "500m", "512Mi", Some("multizone")),
    ] {
        let d = cluster
            .get_json(&["deployment", name, "-n", "default"])
            .await;
        assert_eq!(d["spec"]["replicas"], replicas, "{name}");
        let pod = &d["spec"]["template"]["spec"];
        let requests = &pod["containers"][0]["resources"]["requests"];
        assert_eq!(requests["cpu"], cpu, "{name}");
        assert_eq!(requests["memory"], memory, "{name}");
        match pool {
            Some(p) => assert_eq!(pod["nodeSelector"]["karpenter.sh/nodepool"], p, "{name}"),
            None => assert!(pod.get("nodeSelector").is_none(), "{name}"),
        }
    }
    let spread = cluster
        .get_json(&["deployment", "zone-spread", "-n", "default"])
        .await;
    let tsc = &spread["spec"]["template"]["spec"]["topologySpreadConstraints"][0];
    assert_eq!(tsc["topologyKey"], "topology.kubernetes.io/zone");
    assert_eq!(tsc["maxSkew"], 1);
    // The third zone's node joins after the others: the pods wait for it.
    assert_eq!(tsc["minDomains"], 3);
    assert_eq!(tsc["whenUnsatisfiable"], "DoNotSchedule");

    // The guide's commands on what is there (the controller's effects are the demo's tests).
    cluster
        .ok(
            &[
                "scale",
                "deployment/inflate",
                "--replicas=3",
                "-n",
                "default",
            ],
            None,
        )
        .await;
    let inflate = cluster
        .get_json(&["deployment", "inflate", "-n", "default"])
        .await;
    assert_eq!(inflate["spec"]["replicas"], 3);
    cluster
        .ok(
            &[
                "scale",
                "deployment/inflate",
                "--replicas=0",
                "-n",
                "default",
            ],
            None,
        )
        .await;
    for args in [
        vec!["get", "nodeclaims", "-o", "wide"],
        vec!["get", "nodes", "-L", "topology.kubernetes.io/zone"],
        vec!["describe", "nodepool", "demo-pool"],
        vec!["describe", "ovhnodeclass", "default"],
        vec![
            "get",
            "events",
            "-n",
            "karpenter",
            "--sort-by=.lastTimestamp",
        ],
    ] {
        cluster.ok(&args, None).await;
    }
    let described = cluster
        .ok(&["describe", "nodepool", "demo-pool"], None)
        .await;
    assert!(described.contains("b3-8"), "{described}");
}

/// Runs a demo script with the guide's variables, kubectl pointing at `cluster`.
async fn script(cluster: &Cluster, name: &str, env: &[(String, String)], bin: &Path) -> Out {
    let mut c = cluster.command("/bin/bash", &cluster.admin);
    c.arg(demo(name))
        .envs(env.iter().cloned())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
        .env("CLEANUP_TIMEOUT", "20");
    run(c, None, Duration::from_secs(120)).await
}

/// Environment variables of a script.
type Env = Vec<(String, String)>;

fn with(env: &[(String, String)], key: &str, value: &str) -> Env {
    let mut e: Vec<_> = env.iter().filter(|(k, _)| k != key).cloned().collect();
    e.push((key.into(), value.into()));
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_prereqs_checks_tools_variables_cluster_and_ovh_permissions() {
    let cluster = Cluster::start().await;
    let ovh = OvhSim::start(OvhConfig::default())
        .await
        .expect("OVH simulator");
    let bin = fake_helm(cluster.dir.path());
    let env = guide_env(Some(&ovh.base_url()));

    let good = script(&cluster, "00-verify-prereqs.sh", &env, &bin).await;
    assert!(good.ok, "{}\n{}", good.stdout, good.stderr);
    for line in [
        "[ok]   helm v3.16.2",
        "[ok]   API server reachable",
        "[ok]   consumer key validated",
        "[ok]   permission POST /cloud/project/*/kube/*/nodepool",
        "[ok]   permission GET /cloud/project/*/capabilities/kube/*",
        "[ok]   MKS cluster 9c2e8a14-5b7d-4f3e-a1c6-0d8e7f6a5b4c found (region EU-WEST-PAR)",
        "All checks passed",
    ] {
        assert!(
            good.stdout.contains(line),
            "{line:?} missing:\n{}",
            good.stdout
        );
    }
    assert!(
        !good.stdout.contains(DEFAULT_APPLICATION_SECRET)
            && !good.stdout.contains(DEFAULT_CONSUMER_KEY),
        "secrets printed"
    );
    // Every check is a signed call the simulator verified (a bad signature would be 400/403).
    let calls: Vec<String> = ovh.requests().iter().map(|r| format!("{r:?}")).collect();
    assert!(
        calls.iter().any(|c| c.contains("currentCredential")),
        "{calls:?}"
    );

    let cases: Vec<(&str, Env, &str)> =
        vec![
        (
            "project id",
            with(&env, "OVH_SERVICE_NAME", "not-a-project"),
            "OVH_SERVICE_NAME must be the Public Cloud project id: 32 lower-case hex characters",
        ),
        (
            "variable",
            env.iter().filter(|(k, _)| k != "OVH_KUBE_ID").cloned().collect(),
            "[FAIL] OVH_KUBE_ID is not set",
        ),
        (
            "region",
            with(&env, "OVH_REGION", "GRA7"),
            "OVH_REGION=GRA7 but the cluster is in EU-WEST-PAR",
        ),
        (
            "secret",
            with(&env, "OVH_APPLICATION_SECRET", "wrong-secret"),
            "[FAIL] credentials refused",
        ),
        (
            "cluster",
            with(&env, "OVH_KUBE_ID", "0000-unknown"),
            "[FAIL] MKS cluster 0000-unknown",
        ),
    ];
    for (what, env, expected) in cases {
        let out = script(&cluster, "00-verify-prereqs.sh", &env, &bin).await;
        assert!(!out.ok, "{what}: passed\n{}", out.stdout);
        assert!(
            out.stdout.contains(expected),
            "{what}: {expected:?} missing:\n{}",
            out.stdout
        );
    }

    // A token without the write permissions is named precisely.
    let mut rules = auth::guide_rules();
    rules.retain(|r| !format!("{r:?}").contains("POST"));
    ovh.set_credentials(vec![auth::SimCredential {
        application_key: DEFAULT_APPLICATION_KEY.into(),
        application_secret: DEFAULT_APPLICATION_SECRET.into(),
        consumer_key: DEFAULT_CONSUMER_KEY.into(),
        rules,
    }]);
    let out = script(&cluster, "00-verify-prereqs.sh", &env, &bin).await;
    assert!(!out.ok);
    assert!(
        out.stdout
            .contains("[FAIL] permission POST /cloud/project/*/kube/*/nodepool is missing"),
        "{}",
        out.stdout
    );
    assert!(out
        .stdout
        .contains("[ok]   permission PUT /cloud/project/*/kube/*/nodepool/*"));
    assert!(out.stdout.contains("1 check(s) failed"), "{}", out.stdout);

    // No tool, no cluster: said, not crashed.
    let mut c = cluster.command("/bin/bash", Path::new("/nonexistent/kubeconfig"));
    c.arg(demo("00-verify-prereqs.sh"))
        .envs(env.iter().cloned())
        .env("PATH", "/usr/bin:/bin");
    let out = run(c, None, Duration::from_secs(120)).await;
    assert!(!out.ok);
    assert!(
        out.stdout.contains("[FAIL] helm is not installed"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("[FAIL] kubectl cannot reach a cluster"),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_removes_workloads_pools_classes_release_and_namespace() {
    let cluster = Cluster::start().await;
    cluster.apply_crds().await;
    for file in GUIDE_FILES.iter().filter(|f| f.ends_with(".yaml")) {
        let text = manifest(file).await;
        cluster.ok(&["apply", "-f", "-"], Some(&text)).await;
    }
    let bin = fake_helm(cluster.dir.path());
    let out = script(&cluster, "99-cleanup.sh", &guide_env(None), &bin).await;
    assert!(out.ok, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout
            .contains("no NodeClaim and no Karpenter node left"),
        "{}",
        out.stdout
    );
    for (args, what) in [
        (
            vec!["get", "deployments", "-n", "default", "-o", "name"],
            "deployments",
        ),
        (vec!["get", "nodepools", "-o", "name"], "NodePools"),
        (
            vec!["get", "ovhnodeclasses", "-o", "name"],
            "OVHNodeClasses",
        ),
    ] {
        let left = cluster.ok(&args, None).await;
        assert!(left.trim().is_empty(), "{what} left: {left}");
    }
    let ns = cluster
        .kubectl(&["get", "namespace", "karpenter", "-o", "json"], None)
        .await;
    assert!(
        !ns.ok || ns.stdout.contains("Terminating"),
        "namespace karpenter still active: {}",
        ns.stdout
    );
    let helm = std::fs::read_to_string(cluster.dir.path().join("helm.log")).unwrap();
    assert_eq!(
        helm.lines().collect::<Vec<_>>(),
        [
            "status karpenter-ovhcloud -n karpenter",
            "uninstall karpenter-ovhcloud -n karpenter --wait"
        ]
    );
}
