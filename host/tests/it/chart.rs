//! The Helm chart `charts/karpenter-ovhcloud`: rendered by helm-python-sdk (Helm v4's own Go
//! SDK) for the guide's install command and other value sets, linted in strict mode, its schema
//! refusing bad values with messages that name the key, and every rendered manifest applied with
//! the real kubectl to the simulated API server, where the controller's ServiceAccount gets
//! exactly what its RBAC grants.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::chart_support::*;
use karpenter_ovhcloud::controller::args::Args as ControllerArgs;
use karpenter_ovhcloud::ovh::Endpoint;
use karpenter_ovhcloud_sim::ovh::{DEFAULT_KUBE_ID, DEFAULT_REGION, DEFAULT_SERVICE_NAME};
use serde_json::{json, Value};
use tokio::process::Command;

/// The worlds whose default components the chart ships.
const WORLDS: [&str; 3] = ["flavor-selection", "consolidation", "drift"];

/// The guide's `--set` flags.
fn guide_set() -> String {
    format!(
        "ovh.serviceName={DEFAULT_SERVICE_NAME},ovh.kubeId={DEFAULT_KUBE_ID},ovh.region={DEFAULT_REGION}"
    )
}

/// `base64 -w0 FILE`, as the README tells users to encode a custom policy.
async fn base64_of(path: &std::path::Path) -> String {
    let mut c = Command::new("base64");
    c.arg("-w0").arg(path);
    let out = run(c, None, Duration::from_secs(30)).await;
    assert!(out.ok, "base64 {}: {}", path.display(), out.stderr);
    out.stdout
}

fn dist(world: &str) -> std::path::PathBuf {
    repo().join("policies/dist").join(format!("{world}.wasm"))
}

/// A value set exercising every knob that adds or renames something.
async fn full_values() -> Value {
    let example = base64_of(&dist("example-fewest-nodes")).await;
    json!({
        "fullnameOverride": "kov",
        "replicas": 3,
        "image": {"digest": format!("sha256:{}", "ab".repeat(32))},
        "leaderElection": {"leaseName": "kov-lease"},
        "logFormat": "text",
        "logLevel": "karpenter_ovhcloud=debug,info",
        "ovh": {
            "endpoint": "ovh-ca",
            "credentials": {"secretName": "my-ovh", "create": true,
                "applicationKey": "ak", "applicationSecret": "as", "consumerKey": "ck"}
        },
        "metrics": {"serviceMonitor": {"enabled": true, "additionalLabels": {"release": "prom"}}},
        "dashboards": {"enabled": true, "labels": {"grafana_dashboard": "1", "release": "prom"},
                       "annotations": {"grafana_folder": "Karpenter"}},
        "policies": {
            "flavorSelection": {"wasmBase64": example, "config": {"maxNodeCpu": 32000}},
            "extra": [{"name": "fewest-nodes", "world": "flavor-selection",
                       "wasmBase64": example, "config": {"maxNodeCpu": 16000}}]
        },
        "extraArgs": ["--batch-max-duration=10s"],
        "rbac": {"extraSecretNames": ["team-ovh", "my-ovh"]},
        "podAnnotations": {"team": "platform"}
    })
}

/// One controller replica without the optional parts.
fn minimal_values() -> Value {
    json!({
        "replicas": 1,
        "leaderElection": {"enabled": false},
        "serviceAccount": {"create": false, "name": "existing-sa"},
        "metrics": {"service": {"enabled": false}},
        "policies": {"flavorSelection": {"enabled": false}, "consolidation": {"enabled": false},
                     "drift": {"enabled": false}}
    })
}

fn case(values: Value, release: &str, namespace: &str) -> Value {
    json!({"set": guide_set(), "values": values, "release": release, "namespace": namespace})
}

/// Parsed manifests of one rendering, by kind then name.
struct Rendered {
    objects: Vec<Value>,
    notes: String,
}

impl Rendered {
    fn new(answer: &Value) -> Rendered {
        let templates = answer["ok"]
            .as_object()
            .unwrap_or_else(|| panic!("render failed: {}", answer["err"]));
        let mut objects = Vec::new();
        let mut notes = String::new();
        for (path, text) in templates {
            let text = text.as_str().expect("manifest text");
            if path.ends_with("NOTES.txt") {
                notes = text.to_string();
            } else {
                objects.extend(documents(text));
            }
        }
        Rendered { objects, notes }
    }

    fn kinds(&self) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for o in &self.objects {
            *out.entry(o["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        out
    }

    fn one(&self, kind: &str) -> &Value {
        let all: Vec<_> = self.objects.iter().filter(|o| o["kind"] == kind).collect();
        assert_eq!(all.len(), 1, "one {kind} expected, got {}", all.len());
        all[0]
    }

    fn named(&self, kind: &str, name: &str) -> &Value {
        self.objects
            .iter()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    /// The whole rendering as one YAML stream, for kubectl.
    fn yaml(&self) -> String {
        self.objects
            .iter()
            .map(|o| serde_norway::to_string(o).unwrap())
            .collect::<Vec<_>>()
            .join("---\n")
    }
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn container(deploy: &Value) -> &Value {
    &deploy["spec"]["template"]["spec"]["containers"][0]
}

fn env_secret(deploy: &Value, name: &str) -> (String, String) {
    let env = container(deploy)["env"].as_array().unwrap();
    let e = env
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no env {name}"));
    let r = &e["valueFrom"]["secretKeyRef"];
    (
        r["name"].as_str().unwrap().into(),
        r["key"].as_str().unwrap().into(),
    )
}

fn role_rule<'a>(role: &'a Value, resource: &str) -> Vec<&'a Value> {
    role["rules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| strings(&r["resources"]).contains(&resource))
        .collect()
}

#[test]
fn chart_ships_the_committed_default_policies() {
    let shipped: BTreeSet<String> = std::fs::read_dir(chart_dir().join("policies"))
        .expect("charts/karpenter-ovhcloud/policies")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = WORLDS.iter().map(|w| format!("{w}.wasm")).collect();
    assert_eq!(shipped, expected);
    for world in WORLDS {
        let copy =
            std::fs::read(chart_dir().join("policies").join(format!("{world}.wasm"))).unwrap();
        let committed = std::fs::read(dist(world)).unwrap();
        assert!(
            copy == committed,
            "charts/karpenter-ovhcloud/policies/{world}.wasm differs from policies/dist/{world}.wasm: \
             run `cargo xtask build-policies` (it refreshes the chart's copies)"
        );
        assert!(
            committed.len() < 1024 * 1024,
            "{world}.wasm does not fit a ConfigMap"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_renders_lints_and_validates_values() {
    let full = full_values().await;
    let schema_bad: Vec<(&str, Value, &str)> = vec![
        (
            "nothing",
            json!({}),
            "missing properties 'serviceName', 'kubeId', 'region'",
        ),
        (
            "short-project",
            json!({"ovh": {"serviceName": "abc123", "kubeId": "k", "region": "GRA7"}}),
            "at '/ovh/serviceName': 'abc123' does not match pattern '^[a-f0-9]{32}$'",
        ),
        (
            "upper-project",
            json!({"ovh": {"serviceName": "5F1B7A3C9D2E4F60A8B7C6D5E4F3A2B1", "kubeId": "k", "region": "GRA7"}}),
            "/ovh/serviceName",
        ),
        (
            "region",
            json!({"ovh": {"serviceName": DEFAULT_SERVICE_NAME, "kubeId": "k", "region": "EU WEST"}}),
            "/ovh/region",
        ),
        (
            "kube-id",
            json!({"ovh": {"serviceName": DEFAULT_SERVICE_NAME, "kubeId": "a/b", "region": "GRA7"}}),
            "/ovh/kubeId",
        ),
        (
            "endpoint",
            json!({"ovh": {"serviceName": DEFAULT_SERVICE_NAME, "kubeId": "k", "region": "GRA7", "endpoint": "ovh-xx"}}),
            "/ovh/endpoint",
        ),
        (
            "replicas",
            json!({"replicas": 0}),
            "at '/replicas': minimum: got 0, want 1",
        ),
        (
            "credentials",
            json!({"ovh": {"credentials": {"secretName": "s", "create": true}}}),
            "/ovh/credentials/applicationKey",
        ),
        (
            "typo",
            json!({"replica": 2}),
            "additional properties 'replica'",
        ),
        (
            "world",
            json!({"policies": {"extra": [{"name": "p", "world": "packing", "wasmBase64": "AA=="}]}}),
            "/policies/extra/0/world",
        ),
        (
            "digest",
            json!({"image": {"digest": "latest"}}),
            "/image/digest",
        ),
        (
            "extra-arg",
            json!({"extraArgs": ["verbose"]}),
            "/extraArgs/0",
        ),
        ("log-format", json!({"logFormat": "xml"}), "/logFormat"),
        (
            "dashboards",
            json!({"dashboards": {"enabled": "yes"}}),
            "/dashboards/enabled",
        ),
    ];
    let mut schema = serde_json::Map::new();
    for (name, values, _) in &schema_bad {
        // Every case but the first starts from the guide's values, so only the bad key fails.
        let set = if *name == "nothing" {
            Value::Null
        } else {
            guide_set().into()
        };
        schema.insert(name.to_string(), json!({"set": set, "values": values}));
    }
    for (name, values) in [
        ("guide", json!({})),
        ("full", full.clone()),
        ("minimal", minimal_values()),
    ] {
        schema.insert(
            format!("ok-{name}"),
            json!({"set": guide_set(), "values": values}),
        );
    }
    let request = json!({
        "chart": chart_dir(),
        "renders": {
            "guide": case(json!({}), RELEASE, NAMESPACE),
            "full": case(full.clone(), "kov", "kov-system"),
            "minimal": case(minimal_values(), "mini", "mini-system"),
            "monitor-without-service": case(json!({"metrics": {"service": {"enabled": false},
                "serviceMonitor": {"enabled": true}}}), RELEASE, NAMESPACE),
            "sa-without-name": case(json!({"serviceAccount": {"create": false}}), RELEASE, NAMESPACE),
            "dashboards-elsewhere": case(json!({"dashboards": {"enabled": true, "namespace": "monitoring"}}),
                RELEASE, NAMESPACE),
            "defaults-alone": {"set": null, "values": {}, "release": RELEASE, "namespace": NAMESPACE},
        },
        "schema": schema,
        "lints": {
            "guide": {"set": guide_set(), "values": {}, "namespace": NAMESPACE},
            "full": {"set": guide_set(), "values": full, "namespace": "kov-system"},
            "minimal": {"set": guide_set(), "values": minimal_values(), "namespace": "mini-system"},
            "defaults-alone": {"set": null, "values": {}, "namespace": NAMESPACE},
        }
    });
    let answer = helm(&request).await;

    // Schema: the good sets pass, each bad one fails naming its key.
    for name in ["guide", "full", "minimal"] {
        assert_eq!(
            answer["schema"][format!("ok-{name}")],
            Value::Null,
            "{name}"
        );
    }
    for (name, _, expected) in &schema_bad {
        let err = answer["schema"][*name]
            .as_str()
            .unwrap_or_else(|| panic!("schema accepted the bad value set {name}"));
        assert!(err.contains(expected), "{name}: {err:?} lacks {expected:?}");
    }

    // Lint, strict: nothing above info for the value sets users install with; the defaults
    // alone say which values are missing.
    for name in ["guide", "full", "minimal"] {
        let report = &answer["lints"][name];
        assert_eq!(report["total_charts_linted"], 1, "{report}");
        let serious: Vec<_> = report["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["severity"].as_i64().unwrap_or(3) >= 2)
            .collect();
        assert!(serious.is_empty(), "lint {name}: {serious:?}");
        assert_eq!(report["errors"], json!([]), "lint {name}");
    }
    let defaults = answer["lints"]["defaults-alone"].to_string();
    assert!(
        defaults.contains("missing properties 'serviceName', 'kubeId', 'region'"),
        "{defaults}"
    );

    // Templates that refuse inconsistent values say why.
    for (name, expected) in [
        (
            "monitor-without-service",
            "metrics.serviceMonitor.enabled needs metrics.service.enabled",
        ),
        (
            "sa-without-name",
            "serviceAccount.name is required when serviceAccount.create is false",
        ),
        (
            "defaults-alone",
            "missing properties 'serviceName', 'kubeId', 'region'",
        ),
    ] {
        let err = answer["renders"][name]["err"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} rendered"));
        assert!(err.contains(expected), "{name}: {err}");
    }

    check_guide_rendering(&Rendered::new(&answer["renders"]["guide"])).await;
    check_full_rendering(&Rendered::new(&answer["renders"]["full"])).await;
    // The dashboards can go to the namespace the Grafana sidecar watches.
    let elsewhere = Rendered::new(&answer["renders"]["dashboards-elsewhere"]);
    let dashboards: Vec<&Value> = elsewhere
        .objects
        .iter()
        .filter(|o| o["kind"] == "ConfigMap" && o["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    assert_eq!(dashboards.len(), 3);
    assert!(
        dashboards
            .iter()
            .all(|d| d["metadata"]["namespace"] == "monitoring"),
        "{dashboards:?}"
    );
    check_minimal_rendering(&Rendered::new(&answer["renders"]["minimal"]));

    // The controller's own flag parser accepts what each rendering passes, with these values.
    let parse = |name: &str| {
        let r = Rendered::new(&answer["renders"][name]);
        let args = strings(&container(r.one("Deployment"))["args"])
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>();
        assert_eq!(args[0], "controller");
        controller_args(&args)
    };
    let guide = parse("guide");
    assert_eq!(guide.namespace, NAMESPACE);
    assert_eq!(guide.ovh_endpoint, Endpoint::OvhEu);
    assert_eq!(guide.service_name, DEFAULT_SERVICE_NAME);
    assert_eq!(guide.kube_id, DEFAULT_KUBE_ID);
    assert_eq!(guide.region, DEFAULT_REGION);
    assert_eq!(
        guide.ovh_credentials_secret.as_deref(),
        Some("karpenter/ovh-credentials")
    );
    assert_eq!(guide.metrics_address.port(), 8080);
    assert_eq!(guide.health_address.port(), 8081);
    assert!(guide.leader_elect);
    assert_eq!(guide.lease_name, "karpenter-ovhcloud-leader");
    assert_eq!(guide.lease_namespace.as_deref(), Some(NAMESPACE));
    assert_eq!(guide.log_format, "json");
    let full = parse("full");
    assert_eq!(full.ovh_endpoint, Endpoint::OvhCa);
    assert_eq!(full.namespace, "kov-system");
    assert_eq!(full.lease_name, "kov-lease");
    assert_eq!(full.log_format, "text");
    assert_eq!(full.batch_max_duration, Duration::from_secs(10));
    let minimal = parse("minimal");
    assert!(!minimal.leader_elect);
}

/// Parses `controller ARGS` with the controller's own clap definition.
fn controller_args(args: &[String]) -> ControllerArgs {
    use clap::{Args as _, FromArgMatches as _};
    let matches = ControllerArgs::augment_args(clap::Command::new("controller"))
        .try_get_matches_from(args)
        .unwrap_or_else(|e| panic!("the controller refuses the chart's arguments {args:?}: {e}"));
    ControllerArgs::from_arg_matches(&matches).expect("arguments")
}

async fn check_guide_rendering(r: &Rendered) {
    let kinds = r.kinds();
    let expected: BTreeMap<String, usize> = [
        ("ClusterRole", 1),
        ("ClusterRoleBinding", 1),
        ("ConfigMap", 3),
        ("Deployment", 1),
        ("PodDisruptionBudget", 1),
        ("Role", 1),
        ("RoleBinding", 1),
        ("Service", 1),
        ("ServiceAccount", 1),
    ]
    .into_iter()
    .map(|(k, n)| (k.to_string(), n))
    .collect();
    assert_eq!(kinds, expected);
    for o in &r.objects {
        let cluster_scoped =
            ["ClusterRole", "ClusterRoleBinding"].contains(&o["kind"].as_str().unwrap());
        if !cluster_scoped {
            assert_eq!(
                o["metadata"]["namespace"], NAMESPACE,
                "{}",
                o["metadata"]["name"]
            );
        }
        assert_eq!(
            o["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "Helm"
        );
    }

    let d = r.one("Deployment");
    assert_eq!(d["spec"]["replicas"], 2);
    let pod_labels = &d["spec"]["template"]["metadata"]["labels"];
    // The guide's `kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud`.
    assert_eq!(pod_labels["app.kubernetes.io/name"], "karpenter-ovhcloud");
    for (k, v) in d["spec"]["selector"]["matchLabels"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "selector label {k}");
    }
    let pod = &d["spec"]["template"]["spec"];
    let sa = r.one("ServiceAccount")["metadata"]["name"]
        .as_str()
        .unwrap();
    assert_eq!(pod["serviceAccountName"], sa);
    let c = container(d);
    assert_eq!(
        c["image"],
        "ghcr.io/karpenter-ovhcloud/karpenter-ovhcloud:0.1.0"
    );
    assert_eq!(
        strings(&c["args"]),
        vec![
            "controller".to_string(),
            "--namespace=karpenter".into(),
            "--ovh-endpoint=ovh-eu".into(),
            format!("--service-name={DEFAULT_SERVICE_NAME}"),
            format!("--kube-id={DEFAULT_KUBE_ID}"),
            format!("--region={DEFAULT_REGION}"),
            "--ovh-credentials-secret=karpenter/ovh-credentials".into(),
            "--metrics-address=0.0.0.0:8080".into(),
            "--health-address=0.0.0.0:8081".into(),
            "--leader-elect=true".into(),
            "--lease-name=karpenter-ovhcloud-leader".into(),
            "--lease-namespace=karpenter".into(),
            "--log-format=json".into(),
        ]
    );
    for (env, key) in [
        ("OVH_APPLICATION_KEY", "applicationKey"),
        ("OVH_APPLICATION_SECRET", "applicationSecret"),
        ("OVH_CONSUMER_KEY", "consumerKey"),
    ] {
        assert_eq!(
            env_secret(d, env),
            ("ovh-credentials".to_string(), key.to_string())
        );
    }
    // Probes on the health port the controller is told to serve.
    let port_of = |name: &str| {
        c["ports"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("no port {name}"))["containerPort"]
            .as_i64()
            .unwrap()
    };
    assert_eq!(port_of("http-health"), 8081);
    assert_eq!(port_of("http-metrics"), 8080);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], "http-health");
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], "http-health");
    // Non-root, read-only, no privilege.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert!(c["resources"]["requests"]["cpu"].is_string());
    assert!(c["resources"]["limits"]["memory"].is_string());
    // Never scheduled on a node it may remove.
    let affinity = pod["affinity"]["nodeAffinity"].to_string();
    assert!(affinity.contains("karpenter.sh/nodepool") && affinity.contains("DoesNotExist"));

    let pdb = r.one("PodDisruptionBudget");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        d["spec"]["selector"]["matchLabels"]
    );
    let svc = r.one("Service");
    assert_eq!(
        svc["spec"]["selector"],
        d["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(svc["spec"]["ports"][0]["targetPort"], "http-metrics");

    // The default policies, byte for byte, labelled with their world.
    for world in WORLDS {
        let cm = r.named("ConfigMap", &format!("karpenter-ovhcloud-policy-{world}"));
        assert_eq!(
            cm["metadata"]["labels"]["karpenter.ovhcloud.sh/policy"],
            world
        );
        assert!(
            cm["metadata"].get("annotations").is_none(),
            "the world's active policy: {}",
            cm["metadata"]
        );
        assert_eq!(
            cm["binaryData"]["policy.wasm"].as_str().unwrap(),
            base64_of(&dist(world)).await,
            "{world}"
        );
        assert!(cm.get("data").is_none(), "no config by default");
    }

    // Least privilege in the namespace: one Secret, one Lease.
    let role = r.one("Role");
    let secrets = role_rule(role, "secrets");
    assert_eq!(secrets.len(), 1);
    assert_eq!(strings(&secrets[0]["resourceNames"]), ["ovh-credentials"]);
    assert_eq!(strings(&secrets[0]["verbs"]), ["get"]);
    let leases = role_rule(role, "leases");
    let renew = leases
        .iter()
        .find(|r| strings(&r["verbs"]).contains(&"update"))
        .unwrap();
    assert_eq!(
        strings(&renew["resourceNames"]),
        ["karpenter-ovhcloud-leader"]
    );
    // Cluster-wide: no Secret, no wildcard.
    let cluster_role = r.one("ClusterRole").to_string();
    assert!(!cluster_role.contains("secrets") && !cluster_role.contains("\"*\""));
    for binding in ["ClusterRoleBinding", "RoleBinding"] {
        let b = r.one(binding);
        assert_eq!(b["subjects"][0]["name"], sa);
        assert_eq!(b["subjects"][0]["namespace"], NAMESPACE);
    }

    for line in [
        "kubectl get pods -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud",
        "kubectl logs -n karpenter -l app.kubernetes.io/name=karpenter-ovhcloud -f",
        "Secret karpenter/ovh-credentials",
    ] {
        assert!(
            r.notes.contains(line),
            "NOTES.txt lacks {line:?}:\n{}",
            r.notes
        );
    }
}

async fn check_full_rendering(r: &Rendered) {
    let kinds = r.kinds();
    // Three policies, one extra, three dashboards.
    assert_eq!(kinds["ConfigMap"], 7);
    assert_eq!(kinds["Secret"], 1);
    assert_eq!(kinds["ServiceMonitor"], 1);
    let d = r.named("Deployment", "kov");
    assert_eq!(d["spec"]["replicas"], 3);
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"],
        "karpenter-ovhcloud"
    );
    let annotations = &d["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["team"], "platform");
    assert!(annotations["checksum/credentials"].is_string());
    let c = container(d);
    assert_eq!(
        c["image"],
        format!(
            "ghcr.io/karpenter-ovhcloud/karpenter-ovhcloud@sha256:{}",
            "ab".repeat(32)
        )
    );
    let args = strings(&c["args"]);
    for a in [
        "--ovh-endpoint=ovh-ca",
        "--ovh-credentials-secret=kov-system/my-ovh",
        "--lease-name=kov-lease",
        "--lease-namespace=kov-system",
        "--log-format=text",
        "--batch-max-duration=10s",
    ] {
        assert!(args.contains(&a), "{a} not in {args:?}");
    }
    assert_eq!(
        env_secret(d, "OVH_CONSUMER_KEY"),
        ("my-ovh".to_string(), "consumerKey".to_string())
    );
    let secret = r.named("Secret", "my-ovh");
    assert_eq!(
        secret["stringData"],
        json!({"applicationKey": "ak", "applicationSecret": "as", "consumerKey": "ck"})
    );
    let sm = r.one("ServiceMonitor");
    assert_eq!(sm["metadata"]["labels"]["release"], "prom");
    assert_eq!(sm["spec"]["endpoints"][0]["port"], "http-metrics");
    assert_eq!(
        sm["spec"]["selector"]["matchLabels"],
        r.named("Service", "kov-metrics")["metadata"]["labels"]
            .as_object()
            .map(|l| {
                json!({"app.kubernetes.io/name": l["app.kubernetes.io/name"],
                       "app.kubernetes.io/instance": l["app.kubernetes.io/instance"]})
            })
            .unwrap()
    );
    // A custom component replaces the default; a named extra sits beside it.
    let example = base64_of(&dist("example-fewest-nodes")).await;
    let fs = r.named("ConfigMap", "kov-policy-flavor-selection");
    assert_eq!(fs["binaryData"]["policy.wasm"].as_str().unwrap(), example);
    let config: Value = serde_json::from_str(fs["data"]["config.json"].as_str().unwrap()).unwrap();
    assert_eq!(config, json!({"maxNodeCpu": 32000}));
    let extra = r.named("ConfigMap", "fewest-nodes");
    assert_eq!(
        extra["metadata"]["labels"]["karpenter.ovhcloud.sh/policy"],
        "flavor-selection"
    );
    assert_eq!(
        extra["metadata"]["annotations"]["karpenter.ovhcloud.sh/policy-default"],
        "false"
    );
    assert_eq!(
        extra["binaryData"]["policy.wasm"].as_str().unwrap(),
        example
    );
    let role = r.named("Role", "kov");
    assert_eq!(
        strings(&role_rule(role, "secrets")[0]["resourceNames"]),
        ["my-ovh", "team-ovh"]
    );
    assert!(role.to_string().contains("kov-lease"));
    // One ConfigMap per Grafana dashboard, labelled for the sidecar, holding the chart's JSON.
    for name in ["capacity", "performance", "policies"] {
        let cm = r.named("ConfigMap", &format!("kov-dashboard-{name}"));
        assert_eq!(cm["metadata"]["namespace"], "kov-system");
        assert_eq!(cm["metadata"]["labels"]["grafana_dashboard"], "1");
        assert_eq!(cm["metadata"]["labels"]["release"], "prom");
        assert_eq!(cm["metadata"]["annotations"]["grafana_folder"], "Karpenter");
        let text = cm["data"][format!("karpenter-ovhcloud-{name}.json")]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no dashboard JSON"));
        let dashboard: Value = serde_json::from_str(text).unwrap();
        let shipped: Value = serde_json::from_str(
            &std::fs::read_to_string(chart_dir().join(format!("dashboards/{name}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(dashboard, shipped, "{name}");
        assert_eq!(dashboard["uid"], format!("karpenter-ovhcloud-{name}"));
    }
}

fn check_minimal_rendering(r: &Rendered) {
    let kinds = r.kinds();
    for absent in [
        "ServiceAccount",
        "PodDisruptionBudget",
        "Service",
        "ConfigMap",
        "Secret",
    ] {
        assert!(!kinds.contains_key(absent), "{absent} rendered: {kinds:?}");
    }
    let d = r.one("Deployment");
    assert_eq!(d["spec"]["replicas"], 1);
    assert_eq!(
        d["spec"]["template"]["spec"]["serviceAccountName"],
        "existing-sa"
    );
    let args = strings(&container(d)["args"]);
    assert!(args.contains(&"--leader-elect=false"), "{args:?}");
    assert!(!args.iter().any(|a| a.starts_with("--lease")), "{args:?}");
    let role = r.one("Role").to_string();
    assert!(
        !role.contains("leases"),
        "no Lease rights without leader election: {role}"
    );
    assert_eq!(r.one("RoleBinding")["subjects"][0]["name"], "existing-sa");
    assert!(!r.notes.contains("port-forward"), "no metrics Service");
}

/// prometheus-operator's ServiceMonitor CRD, reduced to what the API server needs to accept one.
const SERVICE_MONITOR_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
"#;

/// A Node, a pod on it, and objects the controller must not reach.
const FIXTURES: &str = r#"
apiVersion: v1
kind: Node
metadata:
  name: node-1
  labels: {karpenter.sh/nodepool: demo-pool}
---
apiVersion: v1
kind: Pod
metadata: {name: victim, namespace: default}
spec:
  nodeName: node-1
  containers: [{name: c, image: registry.k8s.io/pause:3.10}]
---
apiVersion: v1
kind: Secret
metadata: {name: unrelated, namespace: karpenter}
stringData: {token: x}
---
apiVersion: v1
kind: Secret
metadata: {name: ovh-credentials, namespace: default}
stringData: {applicationKey: x}
---
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: someone-else, namespace: karpenter}
spec: {holderIdentity: other}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: app-config, namespace: default}
data: {a: b}
"#;

const NODECLAIM: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodeClaim
metadata:
  name: demo-pool-abcde
  labels: {karpenter.sh/nodepool: demo-pool}
spec:
  nodeClassRef: {group: karpenter.ovhcloud.sh, kind: OVHNodeClass, name: default}
  requirements:
    - {key: node.kubernetes.io/instance-type, operator: In, values: [b3-8]}
"#;

const LEASE: &str = r#"
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: karpenter-ovhcloud-leader, namespace: karpenter}
spec: {holderIdentity: karpenter-ovhcloud-0}
"#;

const EVENT: &str = r#"
apiVersion: v1
kind: Event
metadata: {name: demo-pool.launch, namespace: default}
involvedObject: {apiVersion: karpenter.sh/v1, kind: NodePool, name: demo-pool}
reason: Launched
message: launched b3-8
type: Normal
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rendered_chart_applies_and_its_rbac_is_least_privilege() {
    let full = full_values().await;
    let answer = helm(&json!({
        "chart": chart_dir(),
        "renders": {
            "guide": case(json!({}), RELEASE, NAMESPACE),
            "full": case(full, "kov", "kov-system"),
            "minimal": case(minimal_values(), "mini", "mini-system"),
        }
    }))
    .await;
    let cluster = Cluster::start().await;
    cluster.apply_crds().await;
    cluster
        .ok(&["apply", "-f", "-"], Some(SERVICE_MONITOR_CRD))
        .await;
    // (kubectl's imperative `create namespace` sends protobuf, which the simulator refuses.)
    let namespaces = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kov-system}\n---\n\
        apiVersion: v1\nkind: Namespace\nmetadata: {name: mini-system}\n---\n\
        apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: existing-sa, namespace: mini-system}\n";
    cluster.ok(&["apply", "-f", "-"], Some(namespaces)).await;
    // `envsubst < 01-namespace-secret.yaml | kubectl apply -f -`
    let secret = manifest("01-namespace-secret.yaml").await;
    cluster.ok(&["apply", "-f", "-"], Some(&secret)).await;

    for (name, ns) in [
        ("guide", NAMESPACE),
        ("full", "kov-system"),
        ("minimal", "mini-system"),
    ] {
        let rendered = Rendered::new(&answer["renders"][name]);
        let out = cluster
            .ok(&["apply", "-n", ns, "-f", "-"], Some(&rendered.yaml()))
            .await;
        assert_eq!(
            out.lines().count(),
            rendered.objects.len(),
            "{name}: one line per object applied:\n{out}"
        );
        // Every object reads back from the API server as rendered.
        for o in &rendered.objects {
            let kind = o["kind"].as_str().unwrap().to_lowercase();
            let kind = match o["apiVersion"].as_str().unwrap().split_once('/') {
                Some((group, _)) if !group.is_empty() => format!("{kind}.{group}"),
                _ => kind,
            };
            let obj_name = o["metadata"]["name"].as_str().unwrap();
            let got = cluster.get_json(&[&kind, obj_name, "-n", ns]).await;
            assert_eq!(
                got["metadata"]["labels"], o["metadata"]["labels"],
                "{kind}/{obj_name}"
            );
            if o["kind"] == "ConfigMap" {
                assert_eq!(got["binaryData"], o["binaryData"], "{obj_name}");
            }
        }
    }
    // The policy ConfigMaps the controller will look for.
    let policies = cluster
        .ok(
            &[
                "get",
                "configmaps",
                "-n",
                NAMESPACE,
                "-l",
                "karpenter.ovhcloud.sh/policy",
                "-o",
                "name",
            ],
            None,
        )
        .await;
    assert_eq!(policies.lines().count(), 3, "{policies}");
    // The guide's label selector finds the controller's Deployment.
    let deploys = cluster
        .ok(
            &[
                "get",
                "deployments",
                "-n",
                NAMESPACE,
                "-l",
                "app.kubernetes.io/name=karpenter-ovhcloud",
                "-o",
                "name",
            ],
            None,
        )
        .await;
    assert_eq!(deploys.trim(), "deployment.apps/karpenter-ovhcloud");

    // RBAC, enforced by the API server for the controller's ServiceAccount token.
    cluster.ok(&["apply", "-f", "-"], Some(FIXTURES)).await;
    for file in ["02-ovhnodeclass.yaml", "03-nodepool-basic.yaml"] {
        let text = manifest(file).await;
        cluster.ok(&["apply", "-f", "-"], Some(&text)).await;
    }
    let sa = Cluster::service_account(NAMESPACE, RELEASE);
    let eviction = r#"{"apiVersion":"policy/v1","kind":"Eviction","metadata":{"name":"victim","namespace":"default"}}"#;
    // What the controller writes: a Ready condition on the status subresource.
    let status_patch = |kind: &'static str, name: &'static str| {
        vec![
            "patch",
            kind,
            name,
            "--subresource=status",
            "--type=merge",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}"#,
        ]
    };
    let allowed: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["get", "nodes"], None),
        (vec!["get", "pods", "-A"], None),
        (vec!["get", "daemonsets.apps", "-A"], None),
        (vec!["get", "poddisruptionbudgets.policy", "-A"], None),
        (vec!["get", "nodepools.karpenter.sh"], None),
        (
            vec!["get", "ovhnodeclasses.karpenter.ovhcloud.sh", "default"],
            None,
        ),
        (status_patch("ovhnodeclass", "default"), None),
        (status_patch("nodepool", "demo-pool"), None),
        (
            vec![
                "annotate",
                "nodepool",
                "demo-pool",
                "karpenter.sh/nodepool-hash=1",
            ],
            None,
        ),
        (vec!["create", "-f", "-"], Some(NODECLAIM)),
        (
            vec!["get", "nodeclaims.karpenter.sh", "demo-pool-abcde"],
            None,
        ),
        (status_patch("nodeclaim", "demo-pool-abcde"), None),
        (
            vec!["label", "node", "node-1", "karpenter.sh/registered=true"],
            None,
        ),
        (
            vec![
                "taint",
                "node",
                "node-1",
                "karpenter.sh/disrupted:NoSchedule",
            ],
            None,
        ),
        (vec!["create", "-f", "-"], Some(EVENT)),
        (vec!["get", "configmaps", "-n", NAMESPACE], None),
        (
            vec!["get", "secret", "ovh-credentials", "-n", NAMESPACE],
            None,
        ),
        (vec!["create", "-f", "-"], Some(LEASE)),
        (
            vec![
                "annotate",
                "lease",
                "karpenter-ovhcloud-leader",
                "-n",
                NAMESPACE,
                "renewed=1",
            ],
            None,
        ),
        (
            vec![
                "create",
                "--raw",
                "/api/v1/namespaces/default/pods/victim/eviction",
                "-f",
                "-",
            ],
            Some(eviction),
        ),
        (
            vec!["delete", "nodeclaim", "demo-pool-abcde", "--wait=false"],
            None,
        ),
        (vec!["delete", "node", "node-1", "--wait=false"], None),
    ];
    for (args, stdin) in &allowed {
        let out = cluster.kubectl_as(&sa, args, *stdin).await;
        assert!(
            out.ok,
            "the controller may {args:?}\nstdout: {}\nstderr: {}",
            out.stdout, out.stderr
        );
    }
    let denied: Vec<(Vec<&str>, Option<&str>)> = vec![
        (vec!["get", "secrets", "-n", NAMESPACE], None),
        (vec!["get", "secret", "unrelated", "-n", NAMESPACE], None),
        (
            vec!["get", "secret", "ovh-credentials", "-n", "default"],
            None,
        ),
        (vec!["get", "configmaps", "-n", "default"], None),
        (vec!["get", "deployments.apps", "-A"], None),
        (
            vec![
                "scale",
                "deployment",
                "karpenter-ovhcloud",
                "-n",
                NAMESPACE,
                "--replicas=0",
            ],
            None,
        ),
        (
            vec!["delete", "pod", "victim", "-n", "default", "--wait=false"],
            None,
        ),
        (
            vec!["create", "-f", "-"],
            Some("apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n"),
        ),
        (
            vec!["delete", "nodepool", "demo-pool", "--wait=false"],
            None,
        ),
        (
            vec!["delete", "ovhnodeclass", "default", "--wait=false"],
            None,
        ),
        (vec!["get", "lease", "someone-else", "-n", NAMESPACE], None),
        (
            vec![
                "delete",
                "lease",
                "karpenter-ovhcloud-leader",
                "-n",
                NAMESPACE,
                "--wait=false",
            ],
            None,
        ),
        (vec!["get", "clusterroles.rbac.authorization.k8s.io"], None),
        (
            vec![
                "label",
                "configmap",
                "karpenter-ovhcloud-policy-drift",
                "-n",
                NAMESPACE,
                "x=y",
            ],
            None,
        ),
    ];
    for (args, stdin) in &denied {
        let out = cluster.kubectl_as(&sa, args, *stdin).await;
        assert!(
            !out.ok && out.forbidden(),
            "the controller may not {args:?}\nstdout: {}\nstderr: {}",
            out.stdout,
            out.stderr
        );
    }
}

/// Where the guide's install, rendered for the simulators' project and cluster, is committed:
/// the `demo` main job installs it without Helm or Python.
const RENDERED: &str = "charts/rendered/karpenter-ovhcloud-sim.yaml";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guide_rendering_for_the_simulators_is_committed() {
    let answer = helm(&json!({
        "chart": chart_dir(),
        "renders": {"guide": case(json!({}), RELEASE, NAMESPACE)}
    }))
    .await;
    let templates: BTreeMap<&String, &str> = answer["renders"]["guide"]["ok"]
        .as_object()
        .expect("rendered")
        .iter()
        .filter(|(path, _)| path.ends_with(".yaml"))
        .map(|(path, text)| (path, text.as_str().unwrap()))
        .filter(|(_, text)| !documents(text).is_empty())
        .collect();
    let mut fresh = format!(
        "# The guide's `helm install karpenter-ovhcloud charts/karpenter-ovhcloud --namespace {NAMESPACE}\n\
         # --set ovh.serviceName=... --set ovh.kubeId=... --set ovh.region=...` rendered for the\n\
         # simulated OVH project and cluster. Generated by host/tests/it/chart.rs; refresh with\n\
         # UPDATE_RENDERED=1 cargo nextest run -p karpenter-ovhcloud --test it -E 'test(chart::guide_rendering)'\n"
    );
    for (path, text) in templates {
        fresh.push_str(&format!("---\n# Source: {path}\n{}\n", text.trim()));
    }
    let path = repo().join(RENDERED);
    if std::env::var_os("UPDATE_RENDERED").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{RENDERED} is stale: refresh it with \
         UPDATE_RENDERED=1 cargo nextest run -p karpenter-ovhcloud --test it -E 'test(chart::guide_rendering)'"
    );
}

/// The README's configuration reference keeps up with the code: every flag of
/// `karpenter-ovhcloud controller` has its row (flag and environment variable), and every key
/// of values.yaml down to the second level is named (`a.b`, or `.b` after `a`), maps the chart
/// passes through whole (resources, security contexts, placement) by their top-level key.
#[test]
fn readme_documents_every_controller_flag_and_values_key() {
    use clap::Args as _;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let cmd = ControllerArgs::augment_args(clap::Command::new("controller"));
    for arg in cmd.get_arguments() {
        let Some(long) = arg.get_long() else { continue };
        let env = arg
            .get_env()
            .map(|e| e.to_string_lossy().into_owned())
            .unwrap_or_default();
        let row = readme
            .lines()
            .find(|l| l.starts_with(&format!("| `--{long}` |")))
            .unwrap_or_else(|| panic!("README: no row for --{long}"));
        assert!(
            row.contains(&format!("`{env}`")),
            "README --{long}: {env} missing: {row}"
        );
    }
    let values: Value = serde_norway::from_str(
        &std::fs::read_to_string(root.join("charts/karpenter-ovhcloud/values.yaml")).unwrap(),
    )
    .unwrap();
    let passed_whole = [
        "resources",
        "podSecurityContext",
        "securityContext",
        "nodeSelector",
        "affinity",
        "tolerations",
        "topologySpreadConstraints",
        "podAnnotations",
        "podLabels",
    ];
    for (key, value) in values.as_object().unwrap() {
        assert!(
            readme.contains(&format!("`{key}")),
            "README lacks values key {key}"
        );
        if passed_whole.contains(&key.as_str()) {
            continue;
        }
        for sub in value.as_object().into_iter().flat_map(|o| o.keys()) {
            assert!(
                readme.contains(&format!("`{key}.{sub}"))
                    || readme.contains(&format!("{key}.{{"))
                    || readme.contains(&format!("`{key}.<"))
                    || readme.contains(&format!(".{sub}`"))
                    || readme.contains(&format!("`{sub}`")),
                "README lacks values key {key}.{sub}"
            );
        }
    }
}
