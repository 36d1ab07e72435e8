//! The controller run as the chart deploys it: the guide's own files (01, 02, 03) and the
//! rendered chart applied with kubectl, the rendered Deployment's arguments and environment,
//! the chart's ServiceAccount with the rendered RBAC enforced by the simulated API server (a
//! service-account token, not the admin), through the guide's scale-up (03 + 04:
//! three pending pods -> one b3-8 NodeClaim in `karpenter-b3-8-eu-west-par-a`, the node
//! registered and initialized), the chart's two replicas electing a leader on the chart's Lease
//! and handing over when it dies, the scale-down consolidated by the new leader (the empty node
//! removed after `consolidateAfter`: OVH node, pool, Node, NodeClaim), the chart's policy
//! ConfigMaps loaded, and no request refused: none in the simulated API server's audit of
//! refusals for the chart's ServiceAccount, none in the controller's logs.

use std::process::Stdio;
use std::time::Duration;

use crate::chart_support::{documents, helm, manifest, NAMESPACE, RELEASE};
use crate::controller_common::{eventually, Env, SCALE};
use karpenter_ovhcloud::api::labels;
use karpenter_ovhcloud::api::nodeclaim::CONDITION_INITIALIZED;
use karpenter_ovhcloud_sim::ovh::{DEFAULT_KUBE_ID, DEFAULT_REGION, DEFAULT_SERVICE_NAME};
use kube::ResourceExt;
use serde_json::{json, Value};

/// The guide's install, rendered: every object, and the controller container.
async fn rendered_guide_install() -> (String, Value) {
    let set = format!(
        "ovh.serviceName={DEFAULT_SERVICE_NAME},ovh.kubeId={DEFAULT_KUBE_ID},ovh.region={DEFAULT_REGION}"
    );
    let answer = helm(&json!({
        "chart": crate::chart_support::chart_dir(),
        "renders": {"guide": {"set": set, "values": {}, "release": RELEASE, "namespace": NAMESPACE}}
    }))
    .await;
    let templates = answer["renders"]["guide"]["ok"]
        .as_object()
        .unwrap_or_else(|| panic!("render: {}", answer["renders"]["guide"]));
    let mut yaml = String::new();
    let mut container = Value::Null;
    for (path, text) in templates {
        let text = text.as_str().unwrap();
        if !path.ends_with(".yaml") {
            continue;
        }
        for doc in documents(text) {
            if doc["kind"] == "Deployment" {
                container = doc["spec"]["template"]["spec"]["containers"][0].clone();
            }
        }
        yaml.push_str("---\n");
        yaml.push_str(text);
        yaml.push('\n');
    }
    assert!(container.is_object(), "no Deployment rendered");
    (yaml, container)
}

/// The rendered arguments, with what differs between a pod and this test: the simulated OVH
/// API's URL, loopback ports, the time scale, and the ServiceAccount's kubeconfig (in a pod the
/// token is mounted).
fn controller_args(container: &Value, ovh_url: &str, kubeconfig: &std::path::Path) -> Vec<String> {
    let mut args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .map(|a| match a.split_once('=') {
            Some(("--ovh-endpoint", _)) => format!("--ovh-endpoint={ovh_url}"),
            Some(("--metrics-address", _)) => "--metrics-address=127.0.0.1:0".into(),
            Some(("--health-address", _)) => "--health-address=127.0.0.1:0".into(),
            _ => a,
        })
        .collect();
    args.push(format!("--kubeconfig={}", kubeconfig.display()));
    args.push(format!("--time-scale={SCALE}"));
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_provisions_under_the_charts_service_account_without_a_forbidden_request() {
    let env = Env::start().await;
    let dir = tempfile::tempdir().unwrap();
    let admin = dir.path().join("admin.kubeconfig");
    env.kube.write_kubeconfig(&admin).unwrap();
    let kubectl_apply = |text: String| {
        let mut c = tokio::process::Command::new(crate::chart_support::KUBECTL);
        c.args(["apply", "-f", "-"])
            .env("KUBECONFIG", &admin)
            .env("HOME", dir.path());
        async move {
            let out = crate::chart_support::run(c, Some(&text), Duration::from_secs(60)).await;
            assert!(out.ok, "kubectl apply: {}", out.stderr);
        }
    };
    // The guide's steps 2 and 3 with its own files: 01, the chart as helm installs it, 02, 03.
    kubectl_apply(manifest("01-namespace-secret.yaml").await).await;
    let (yaml, container) = rendered_guide_install().await;
    kubectl_apply(yaml.clone()).await;
    for file in ["02-ovhnodeclass.yaml", "03-nodepool-basic.yaml"] {
        kubectl_apply(manifest(file).await).await;
    }

    // The controller authenticates with the ServiceAccount's token: RBAC applies.
    let token = env.kube.service_account_token(NAMESPACE, RELEASE);
    let sa_kubeconfig = dir.path().join("sa.kubeconfig");
    std::fs::write(
        &sa_kubeconfig,
        env.kube.kubeconfig_for(RELEASE, &token, NAMESPACE),
    )
    .unwrap();
    // The rendered environment: the credentials from the Secret are optional there and the
    // controller reads the Secret named by --ovh-credentials-secret itself, so none is set here.
    let rendered_env = container["env"].to_string();
    assert!(rendered_env.contains("OVH_CONSUMER_KEY") && rendered_env.contains("POD_NAME"));
    let replicas = documents(&yaml)
        .into_iter()
        .find(|d| d["kind"] == "Deployment")
        .unwrap()["spec"]["replicas"]
        .as_u64()
        .unwrap();
    assert_eq!(replicas, 2);
    // The chart's two replicas, as two processes with their pod names; a short Lease so the
    // hand-over below takes seconds (the chart keeps the controller's default).
    let pod_names = [
        "karpenter-ovhcloud-6d5f7-abcde",
        "karpenter-ovhcloud-6d5f7-fghij",
    ];
    let spawn = |pod: &str| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_karpenter-ovhcloud"));
        cmd.args(controller_args(
            &container,
            &env.ovh.base_url(),
            &sa_kubeconfig,
        ))
        .arg("--lease-duration=3s")
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("HOME", dir.path())
        .env("POD_NAME", pod)
        .env("RUST_LOG", "info,kube=warn,tower=warn,hyper=warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.path().join(format!("{pod}.log"))).unwrap())
        .stderr(std::fs::File::create(dir.path().join(format!("{pod}.err"))).unwrap())
        .kill_on_drop(true);
        cmd.spawn().expect("start the controller")
    };
    let mut controllers: Vec<_> = pod_names.iter().map(|p| spawn(p)).collect();

    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;
    let claim = eventually("the NodeClaim initialized", 120, || async {
        env.nodeclaims()
            .await
            .into_iter()
            .find(|c| c.is_condition_true(CONDITION_INITIALIZED))
    })
    .await;
    assert_eq!(claim.labels()[labels::INSTANCE_TYPE], "b3-8");
    // Two replicas, one writer: a single NodeClaim for the three pods.
    assert_eq!(env.nodeclaims().await.len(), 1);
    assert_eq!(
        claim.labels()[labels::OVH_POOL],
        "karpenter-b3-8-eu-west-par-a"
    );
    let admin_cluster = |args: &[&str]| {
        let mut c = tokio::process::Command::new(crate::chart_support::KUBECTL);
        c.args(args)
            .env("KUBECONFIG", &admin)
            .env("HOME", dir.path());
        c
    };
    // Leader election went through the chart's Lease: one replica holds it.
    let holder = || async {
        let out = crate::chart_support::run(
            admin_cluster(&[
                "get",
                "lease",
                "karpenter-ovhcloud-leader",
                "-n",
                NAMESPACE,
                "-o",
                "jsonpath={.spec.holderIdentity}",
            ]),
            None,
            Duration::from_secs(30),
        )
        .await;
        out.stdout
    };
    let leader = holder().await;
    let leader_index = pod_names
        .iter()
        .position(|p| *p == leader)
        .unwrap_or_else(|| panic!("Lease held by {leader:?}"));
    // The OVHNodeClass status was written (credentials read from the chart's Secret).
    eventually("OVHNodeClass default Ready", 60, || async {
        let out = crate::chart_support::run(
            admin_cluster(&[
                "get",
                "ovhnodeclass",
                "default",
                "-o",
                "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
            ]),
            None,
            Duration::from_secs(30),
        )
        .await;
        (out.stdout == "True").then_some(())
    })
    .await;

    // The leader goes away; the other replica takes the Lease over, under the same RBAC.
    let _ = controllers[leader_index].start_kill();
    let _ = controllers[leader_index].wait().await;
    let follower = pod_names[1 - leader_index];
    eventually("the other replica to take the Lease over", 60, || async {
        (holder().await == follower).then_some(())
    })
    .await;
    // Scale down under the same RBAC: the workload goes and consolidation, by the new leader,
    // removes the empty node once 03's `consolidateAfter: 1m` has passed: it deletes the
    // NodeClaim, drains, removes the OVH node (the last of its pool: the pool goes), the Node,
    // then the finalizer.
    let args = [
        "delete",
        "pod",
        "inflate-0",
        "inflate-1",
        "inflate-2",
        "-n",
        "default",
    ];
    let out = crate::chart_support::run(admin_cluster(&args), None, Duration::from_secs(60)).await;
    assert!(out.ok, "kubectl {args:?}: {}", out.stderr);
    eventually(
        "consolidation: the NodeClaim, its OVH pool and its Node gone",
        90,
        || async {
            (env.nodeclaims().await.is_empty()
                && env.ovh_pools().is_empty()
                && env.nodes().await.is_empty())
            .then_some(())
        },
    )
    .await;
    // The simulated API server's audit of refusals: nothing refused to the chart's
    // ServiceAccount (nor to anyone else) through the whole run.
    let refused = env.kube.forbidden_requests();
    assert!(
        refused.is_empty(),
        "RBAC refused requests:\n{}",
        refused.join("\n")
    );
    let survivor = &mut controllers[1 - leader_index];
    assert!(
        survivor.try_wait().unwrap().is_none(),
        "the new leader exited"
    );
    let _ = survivor.start_kill();
    let _ = survivor.wait().await;
    let mut text = String::new();
    for pod in pod_names {
        for ext in ["log", "err"] {
            text += &std::fs::read_to_string(dir.path().join(format!("{pod}.{ext}")))
                .unwrap_or_default();
        }
    }
    let refused: Vec<&str> = text
        .lines()
        .filter(|l| {
            let l = l.to_lowercase();
            l.contains("forbidden") || l.contains(" 403") || l.contains("\"403")
        })
        .collect();
    assert!(
        refused.is_empty(),
        "the chart's RBAC refused the controller:\n{}",
        refused.join("\n")
    );
    assert!(!text.is_empty(), "the controller logged nothing");
    // It was consolidation that removed the node (not an expiry, not a lost node).
    assert!(
        text.lines().any(|l| l.contains("deleting NodeClaim")
            && l.contains(&claim.name_any())
            && l.contains("Empty")),
        "the NodeClaim was not consolidated:\n{text}"
    );
    // The chart's policy ConfigMaps were accepted and made active.
    for world in ["flavor-selection", "consolidation", "drift"] {
        let cm = format!("karpenter-ovhcloud-policy-{world}");
        assert!(
            text.lines()
                .any(|l| l.contains("policy loaded from ConfigMap") && l.contains(&cm)),
            "{cm} not loaded:\n{text}"
        );
    }
}
