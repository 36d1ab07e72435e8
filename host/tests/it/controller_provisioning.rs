//! The controller as its own process against the simulators: the guide's provisioning
//! scenarios end to end (pending pods -> NodeClaims -> OVH pools -> registered nodes).

use crate::controller_common::{eventually, Env};
use karpenter_ovhcloud::api::labels;
use karpenter_ovhcloud::api::nodeclaim::{CONDITION_LAUNCHED, CONDITION_REGISTERED};
use kube::ResourceExt;
use serde_json::json;

/// 03 + 04: scale 0 -> 3 pods (500m / 512Mi) -> one b3-8 NodeClaim, one OVH write creating
/// `karpenter-b3-8-eu-west-par-a` (autoscale off, every template field), the node registered
/// with the labels MKS dropped and without the unregistered taint, the NodeClaim initialized.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_nodepool_scales_up_into_the_guide_pool() {
    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool(
        "demo-pool",
        "default",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16"]}]),
        json!({}),
    )
    .await;
    let (metrics_port, health_port) = (
        crate::controller_common::free_port(),
        crate::controller_common::free_port(),
    );
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let health_addr = format!("127.0.0.1:{health_port}");
    let mut args = crate::controller_common::ONE_BATCH.to_vec();
    args.extend([
        "--metrics-address",
        &metrics_addr,
        "--health-address",
        &health_addr,
    ]);
    env.start_controller(&args).await;
    env.pods("inflate", 3, "500m", "512Mi", json!({})).await;

    let claim = eventually("a NodeClaim", 60, || async {
        env.nodeclaims().await.into_iter().next()
    })
    .await;
    let l = claim.labels();
    assert_eq!(l[labels::NODEPOOL], "demo-pool");
    assert_eq!(l[labels::INSTANCE_TYPE], "b3-8");
    assert_eq!(l[labels::OVH_POOL], "karpenter-b3-8-eu-west-par-a");
    assert!(claim
        .finalizers()
        .contains(&labels::TERMINATION_FINALIZER.to_string()));
    let owner = &claim.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str()),
        ("NodePool", "demo-pool")
    );

    let pool_name = "karpenter-b3-8-eu-west-par-a";
    let (pool, _) = eventually("the OVH pool", 60, || async {
        env.ovh_pools().remove(pool_name)
    })
    .await;
    assert_eq!(pool["autoscale"], false);
    assert_eq!(pool["desiredNodes"], 1);
    assert_eq!(pool["flavor"], "b3-8");
    assert_eq!(pool["availabilityZones"], json!(["eu-west-par-a"]));

    // Its first launch registered: the NodePool's registration is healthy.
    let pools: kube::Api<karpenter_ovhcloud::api::NodePool> = kube::Api::all(env.client.clone());
    eventually("NodeRegistrationHealthy True", 60, || async {
        pools
            .get("demo-pool")
            .await
            .ok()?
            .is_condition_true("NodeRegistrationHealthy")
            .then_some(())
    })
    .await;
    let ready = env.initialized_claim(90).await;
    assert!(ready.is_condition_true(CONDITION_LAUNCHED));
    assert!(ready.is_condition_true(CONDITION_REGISTERED));
    let status = ready.status.clone().unwrap();
    assert!(
        status.provider_id.starts_with("openstack:///"),
        "{}",
        status.provider_id
    );
    let node = env
        .nodes()
        .await
        .into_iter()
        .find(|n| n.name_any() == status.node_name)
        .expect("the registered node");
    let nl = node.labels();
    assert_eq!(nl[labels::NODEPOOL], "demo-pool");
    assert_eq!(nl[labels::CAPACITY_TYPE], "on-demand");
    assert_eq!(nl[labels::REGISTERED], "true");
    let taints = node.spec.clone().unwrap().taints.unwrap_or_default();
    assert!(
        taints.iter().all(|t| t.key != labels::UNREGISTERED_TAINT),
        "{taints:?}"
    );
    // The OVH node id recorded on the NodeClaim is the node of the pool.
    let (_, ovh_nodes) = env.ovh_pools().remove(pool_name).unwrap();
    assert_eq!(ovh_nodes.len(), 1);
    assert_eq!(ready.labels()[labels::OVH_NODE_ID], ovh_nodes[0].id);
    assert_eq!(
        status.provider_id,
        format!("openstack:///{}", ovh_nodes[0].instance_id)
    );

    let claim_name = ready.name_any();
    for reason in ["Launching", "Launched", "Registered", "Initialized"] {
        eventually(reason, 30, || env.event(Some(&claim_name), reason)).await;
    }
    // The NodePool counts its node; metrics and probes are served.
    eventually("the NodePool status", 30, || async {
        let api: kube::Api<karpenter_ovhcloud::api::NodePool> = kube::Api::all(env.client.clone());
        let np = api.get("demo-pool").await.ok()?;
        (np.status?.nodes == 1).then_some(())
    })
    .await;
    let http = reqwest::Client::new();
    let ready = http
        .get(format!("http://{health_addr}/readyz"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    let metrics = http
        .get(format!("http://{metrics_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for needle in [
        "karpenter_nodeclaims_created_total{reason=\"provisioned\",nodepool=\"demo-pool\",min_values_relaxed=\"false\"} 1",
        "karpenter_ovhcloud_nodeclaims_launched_total{nodepool=\"demo-pool\"} 1",
        "karpenter_nodes_created_total{nodepool=\"demo-pool\"",
        "karpenter_ovhcloud_ovh_requests_total{method=\"POST\",endpoint=\"/cloud/project/{serviceName}/kube/{kubeId}/nodepool\",status=\"200\"} 1",
        "karpenter_cloudprovider_duration_seconds_count{controller=\"nodeclaim.lifecycle\",method=\"Create\",provider=\"ovhcloud\"} 1",
        "karpenter_nodepools_usage{resource_type=\"nodes\",nodepool=\"demo-pool\"} 1.0",
        "karpenter_nodepools_limit{resource_type=\"cpu\",nodepool=\"demo-pool\"} 100.0",
        "karpenter_scheduler_unschedulable_pods_count{controller=\"provisioner\"} 0",
        "karpenter_ovhcloud_managed_nodes_hourly_cost_eur 0.0512",
    ] {
        assert!(metrics.contains(needle), "{needle} not in\n{metrics}");
    }
    assert!(
        metrics.contains("flavor-selection"),
        "policy metrics: {metrics}"
    );

    // Exactly one write for the whole batch: the pool creation with every template field.
    assert_eq!(env.nodeclaims().await.len(), 1, "no duplicate NodeClaim");
    let writes = env.pool_writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    let (method, _, body) = &writes[0];
    assert_eq!(method, "POST");
    let body = body.clone().unwrap();
    assert_eq!(body["name"], pool_name);
    assert_eq!(body["autoscale"], false);
    for field in ["labels", "annotations", "finalizers"] {
        assert!(body["template"]["metadata"].get(field).is_some(), "{body}");
    }
    for field in ["taints", "unschedulable"] {
        assert!(body["template"]["spec"].get(field).is_some(), "{body}");
    }
}

async fn ready_env(extra_classes: &[(&str, serde_json::Value)]) -> Env {
    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    for (name, extra) in extra_classes {
        env.nodeclass(name, "ovh-credentials", extra.clone()).await;
    }
    env.start_controller(crate::controller_common::ONE_BATCH)
        .await;
    env
}

fn select_pool(pool: &str) -> serde_json::Value {
    json!({"nodeSelector": {"karpenter.sh/nodepool": pool}})
}

/// 05 + 06 -> b3-8, then 05 + 07 -> b3-32.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_flavor_nodepool_picks_the_cheapest_flavor_that_fits() {
    let env = ready_env(&[]).await;
    env.nodepool(
        "multi-flavor",
        "default",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In",
                "values": ["b3-8", "b3-16", "b3-32", "b3-64"]}]),
        json!({"spec": {"template": {"metadata": {"labels": {"workload-type": "multi-flavor"}}}}}),
    )
    .await;
    env.pods(
        "small-workload",
        1,
        "500m",
        "1Gi",
        select_pool("multi-flavor"),
    )
    .await;
    let small = eventually("the small workload's NodeClaim", 60, || async {
        env.nodeclaims().await.into_iter().next()
    })
    .await;
    assert_eq!(small.labels()[labels::INSTANCE_TYPE], "b3-8");
    assert_eq!(small.labels()["workload-type"], "multi-flavor");
    env.pods(
        "large-workload",
        1,
        "6",
        "24Gi",
        select_pool("multi-flavor"),
    )
    .await;
    let large = eventually("the large workload's NodeClaim", 60, || async {
        env.nodeclaims()
            .await
            .into_iter()
            .find(|c| c.name_any() != small.name_any())
    })
    .await;
    assert_eq!(large.labels()[labels::INSTANCE_TYPE], "b3-32");
    eventually("the b3-32 pool", 60, || async {
        env.ovh_pools()
            .keys()
            .find(|k| k.starts_with("karpenter-b3-32-eu-west-par-"))
            .cloned()
    })
    .await;
}

/// 08 + 09: six pods spread over the zones (maxSkew 1, DoNotSchedule) -> nodes in the three
/// zones, one OVH pool per zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zone_spread_uses_the_three_zones() {
    let env = ready_env(&[]).await;
    env.nodepool(
        "multizone",
        "default",
        json!([{"key": "topology.kubernetes.io/zone", "operator": "In",
                "values": ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]}]),
        json!({}),
    )
    .await;
    let mut spec = select_pool("multizone");
    spec["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
        "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"app": "zone-spread"}}}]);
    env.pods("zone-spread", 6, "500m", "512Mi", spec).await;
    let zones = eventually("NodeClaims in three zones", 60, || async {
        let zones: std::collections::BTreeSet<String> = env
            .nodeclaims()
            .await
            .iter()
            .map(|c| c.labels()[labels::ZONE].clone())
            .collect();
        (zones.len() == 3).then_some(zones)
    })
    .await;
    assert_eq!(
        zones.into_iter().collect::<Vec<_>>(),
        ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]
    );
    let pools = eventually("a pool per zone", 60, || async {
        let pools = env.ovh_pools();
        (pools.len() == 3).then_some(pools)
    })
    .await;
    for (name, (pool, _)) in &pools {
        let zone = pool["availabilityZones"][0].as_str().unwrap();
        assert!(name.ends_with(zone), "{name} in {zone}");
    }
    crate::controller_common::assert_one_write_per_pool(&env);
}

/// 10 + 11: a monthly OVHNodeClass with a gen2-only NodePool -> monthly b2 pools.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_nodeclass_launches_monthly_b2_pools() {
    let env = ready_env(&[("monthly", json!({"monthlyBilled": true}))]).await;
    env.nodepool(
        "monthly",
        "monthly",
        json!([{"key": "karpenter.ovhcloud.sh/flavor-family", "operator": "In", "values": ["b2"]}]),
        json!({"spec": {"disruption": {"consolidationPolicy": "WhenEmpty"}}}),
    )
    .await;
    env.pods("monthly-workload", 2, "500m", "1Gi", select_pool("monthly"))
        .await;
    let (name, pool) = eventually("a monthly pool", 60, || async {
        env.ovh_pools()
            .into_iter()
            .find(|(k, _)| k.ends_with("-monthly"))
            .map(|(k, (p, _))| (k, p))
    })
    .await;
    assert!(name.starts_with("karpenter-b2-"), "{name}");
    assert_eq!(pool["monthlyBilled"], true);
    assert!(pool["flavor"].as_str().unwrap().starts_with("b2-"));
    let claims = env.nodeclaims().await;
    assert!(claims
        .iter()
        .all(|c| c.labels()[labels::FLAVOR_FAMILY] == "b2"
            && c.labels()[labels::OVH_POOL].ends_with("-monthly")));
}

/// 12: an anti-affinity OVHNodeClass -> numbered pools of at most 5 nodes each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_pools_hold_at_most_five_nodes() {
    let env = ready_env(&[("anti-affinity", json!({"antiAffinity": true}))]).await;
    env.nodepool(
        "spread",
        "anti-affinity",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]},
               {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-a"]}]),
        json!({}),
    )
    .await;
    let mut spec = select_pool("spread");
    spec["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "spread"}}}]}});
    env.pods("spread", 7, "500m", "512Mi", spec).await;
    let pools = eventually("seven nodes in anti-affinity pools", 60, || async {
        let pools = env.ovh_pools();
        let nodes: usize = pools.values().map(|(_, n)| n.len()).sum();
        (nodes == 7).then_some(pools)
    })
    .await;
    let names: Vec<&String> = pools.keys().collect();
    assert_eq!(
        names,
        [
            "karpenter-b3-8-eu-west-par-a-aa-1",
            "karpenter-b3-8-eu-west-par-a-aa-2"
        ]
    );
    for (pool, nodes) in pools.values() {
        assert_eq!(pool["antiAffinity"], true);
        assert!(nodes.len() <= 5, "{pool}");
    }
    assert_eq!(env.nodeclaims().await.len(), 7);
    crate::controller_common::assert_one_write_per_pool(&env);
}

/// 03 + 04 on the simulated cluster (kube-scheduler, kubelets, Deployment controller, MKS):
/// `kubectl scale deployment/inflate --replicas=3` -> the pods run on a node of
/// `karpenter-b3-8-eu-west-par-a` that the controller registered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inflate_runs_on_the_simulated_cluster() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Node, Pod};
    use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

    let (cluster, kubeconfig, client) = crate::controller_common::guide_sim_cluster().await;
    let post = PostParams::default();
    let env = cluster.ovh_env();
    Api::<karpenter_ovhcloud::api::NodePool>::all(client.clone())
        .create(&post, &serde_json::from_value(json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "demo-pool"},
            "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh",
                "kind": "OVHNodeClass", "name": "default"},
                "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16"]}]}},
              "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
              "limits": {"cpu": "100"}}})).unwrap())
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    deployments
        .create(
            &post,
            &serde_json::from_value(json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "inflate", "namespace": "default"},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "inflate"}},
                "template": {"metadata": {"labels": {"app": "inflate"}},
                    "spec": {"terminationGracePeriodSeconds": 0, "containers": [{"name": "inflate",
                        "image": "public.ecr.aws/eks-distro/kubernetes/pause:3.7",
                        "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}}}]}}}}))
            .unwrap(),
        )
        .await
        .unwrap();

    let metrics_addr = format!("127.0.0.1:{}", crate::controller_common::free_port());
    let mut controller = tokio::process::Command::new(env!("CARGO_BIN_EXE_karpenter-ovhcloud"))
        .arg("controller")
        .arg("--kubeconfig")
        .arg(kubeconfig.path())
        .args(["--namespace", "karpenter", "--ovh-endpoint", &env.endpoint])
        .args([
            "--service-name",
            &env.service_name,
            "--kube-id",
            &env.kube_id,
            "--region",
            &env.region,
        ])
        .args(["--time-scale", &crate::controller_common::SCALE.to_string()])
        .args([
            "--metrics-address",
            &metrics_addr,
            "--health-address",
            "127.0.0.1:0",
        ])
        .args(["--leader-elect", "false", "--log-format", "text"])
        .env_remove("OVH_APPLICATION_KEY")
        .env_remove("OVH_APPLICATION_SECRET")
        .env_remove("OVH_CONSUMER_KEY")
        .env("RUST_LOG", "info,kube=warn")
        .stdout(std::process::Stdio::null())
        .stderr(if std::env::var("CONTROLLER_LOG").is_ok() {
            std::process::Stdio::inherit()
        } else {
            std::process::Stdio::null()
        })
        .kill_on_drop(true)
        .spawn()
        .unwrap();

    deployments
        .patch_scale(
            "inflate",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"replicas": 3}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let running = eventually("three inflate pods running", 120, || async {
        let list = pods
            .list(&ListParams::default().labels("app=inflate"))
            .await
            .ok()?;
        let running: Vec<Pod> = list
            .items
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .collect();
        (running.len() == 3).then_some(running)
    })
    .await;
    let node_names: std::collections::BTreeSet<String> = running
        .iter()
        .filter_map(|p| p.spec.as_ref()?.node_name.clone())
        .collect();
    assert_eq!(node_names.len(), 1, "{node_names:?}");
    let node = Api::<Node>::all(client.clone())
        .get(node_names.iter().next().unwrap())
        .await
        .unwrap();
    assert_eq!(node.labels()[labels::NODEPOOL], "demo-pool");
    assert_eq!(node.labels()[labels::INSTANCE_TYPE], "b3-8");
    let pools = cluster.ovh().state().projects[0].clusters[0]
        .pools
        .iter()
        .map(|p| p.pool["name"].as_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>();
    assert!(
        pools.contains(&"karpenter-b3-8-eu-west-par-a".to_string()),
        "{pools:?}"
    );
    let claims = Api::<karpenter_ovhcloud::api::NodeClaim>::all(client.clone())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(claims.len(), 1);
    // The three pods' wait, from pending to bound, in guide seconds: at least half the
    // simulated two-minute node boot each.
    let (count, sum) = eventually("the pending-to-bound histogram", 30, || async {
        let text = reqwest::get(format!("http://{metrics_addr}/metrics"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let value = |name: &str| -> Option<f64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
        };
        let count = value("karpenter_pods_provisioning_bound_duration_seconds_count")?;
        let sum = value("karpenter_pods_provisioning_bound_duration_seconds_sum")?;
        (count == 3.0).then_some((count, sum))
    })
    .await;
    assert!(
        sum / count >= 60.0,
        "mean wait {} guide seconds",
        sum / count
    );
    controller.kill().await.unwrap();
}

/// A NodePool this build cannot read (a value a newer Karpenter added, admitted by that
/// version's CRD) gets `ValidationSucceeded=False` naming the field and the value, with a
/// Warning Event and `Ready` False; the other NodePool provisions as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodepool_the_controller_cannot_read_is_reported_and_the_others_serve() {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use karpenter_ovhcloud::api::NodePool;
    use kube::api::{Api, ApiResource, DynamicObject, PostParams};

    let mut env = Env::start().await;
    // The newer CRD: consolidationPolicy without its enum.
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    let crd = crds.get("nodepools.karpenter.sh").await.unwrap();
    let mut v = serde_json::to_value(&crd).unwrap();
    v["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]
        ["disruption"]["properties"]["consolidationPolicy"]
        .as_object_mut()
        .unwrap()
        .remove("enum");
    crds.replace(
        "nodepools.karpenter.sh",
        &PostParams::default(),
        &serde_json::from_value(v).unwrap(),
    )
    .await
    .unwrap();
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool(
        "demo-pool",
        "default",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]}]),
        json!({}),
    )
    .await;
    let raw: Api<DynamicObject> =
        Api::all_with(env.client.clone(), &ApiResource::erase::<NodePool>(&()));
    raw.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
            "metadata": {"name": "future-pool"},
            "spec": {"template": {"spec": {
                "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
                "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-16"]}]}},
              "disruption": {"consolidationPolicy": "WhenCheaper"}}}))
        .unwrap(),
    )
    .await
    .unwrap();
    env.start_controller(crate::controller_common::ONE_BATCH)
        .await;
    env.pods("inflate", 1, "500m", "512Mi", json!({})).await;

    let claim = eventually("a NodeClaim of the readable NodePool", 60, || async {
        env.nodeclaims().await.into_iter().next()
    })
    .await;
    assert_eq!(claim.labels()[labels::NODEPOOL], "demo-pool");
    let conditions = eventually("the unreadable NodePool reported", 60, || async {
        let obj = raw.get("future-pool").await.ok()?;
        let conds = obj.data["status"]["conditions"].as_array()?.clone();
        conds
            .iter()
            .any(|c| c["type"] == "ValidationSucceeded" && c["status"] == "False")
            .then_some(conds)
    })
    .await;
    let of = |t: &str| conditions.iter().find(|c| c["type"] == t).unwrap().clone();
    let validation = of("ValidationSucceeded");
    assert_eq!(validation["reason"], "NodePoolValidationFailed");
    let message = validation["message"].as_str().unwrap();
    assert!(
        message.starts_with("spec.disruption.consolidationPolicy: ")
            && message.contains("WhenCheaper"),
        "{message}"
    );
    assert_eq!(of("Ready")["status"], "False");
    let event = env
        .event(Some("future-pool"), "NodePoolValidationFailed")
        .await
        .expect("a Warning Event on the NodePool");
    assert_eq!(event.type_.as_deref(), Some("Warning"));
}

/// The machine's kubectl on `env`'s API server (as its admin): its stdout, the test failing on
/// a non-zero exit.
fn kubectl_on(env: &Env, home: &std::path::Path, args: &[&str]) -> String {
    let vars = [(
        "KUBECONFIG".to_string(),
        env.kubeconfig.path().display().to_string(),
    )];
    crate::chart_support::kubectl_with_env(&vars, home, args)
}

/// `kubectl get nodepools` shows READY True for a working NodePool (one using upstream's
/// `Balanced` and `Gte` too) and False for a broken one, whose `Ready` says which condition is
/// not met; with the chart's CRDs and with upstream's (`cargo xtask test` runs both).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_shows_nodepools_ready_or_why_not() {
    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    let b3_8 =
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]}]);
    env.nodepool("demo-pool", "default", b3_8.clone(), json!({}))
        .await;
    env.nodepool(
        "upstream-values",
        "default",
        json!([{"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": "Gte", "values": ["3"]}]),
        json!({"spec": {"disruption": {"consolidationPolicy": "Balanced"}}}),
    )
    .await;
    env.nodepool(
        "contradiction",
        "default",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]},
               {"key": "node.kubernetes.io/instance-type", "operator": "NotIn", "values": ["b3-8"]}]),
        json!({}),
    )
    .await;
    env.start_controller(crate::controller_common::ONE_BATCH)
        .await;
    let home = tempfile::tempdir().unwrap();
    let kubectl = |args: &[&str]| kubectl_on(&env, home.path(), args);
    let ready_column = |table: &str, pool: &str| -> Option<String> {
        let header: Vec<&str> = table.lines().next()?.split_whitespace().collect();
        let col = header.iter().position(|h| *h == "READY")?;
        let row = table.lines().find(|l| l.starts_with(&format!("{pool} ")))?;
        row.split_whitespace().nth(col).map(String::from)
    };
    let table = eventually("READY filled in for every NodePool", 60, || async {
        let t = kubectl(&["get", "nodepools"]);
        ["demo-pool", "upstream-values", "contradiction"]
            .iter()
            .all(|p| matches!(ready_column(&t, p).as_deref(), Some("True" | "False")))
            .then_some(t)
    })
    .await;
    assert_eq!(
        ready_column(&table, "demo-pool").as_deref(),
        Some("True"),
        "{table}"
    );
    assert_eq!(
        ready_column(&table, "upstream-values").as_deref(),
        Some("True"),
        "{table}"
    );
    assert_eq!(
        ready_column(&table, "contradiction").as_deref(),
        Some("False"),
        "{table}"
    );
    let why = kubectl(&[
        "get",
        "nodepool",
        "contradiction",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].reason}: {.status.conditions[?(@.type=="Ready")].message}; {.status.conditions[?(@.type=="ValidationSucceeded")].message}"#,
    ]);
    assert!(
        why.starts_with("UnhealthyDependents: ValidationSucceeded=False; requirements on node.kubernetes.io/instance-type contradict each other"),
        "{why}"
    );
}

/// A static NodePool (`spec.replicas`) keeps exactly that many nodes: `kubectl scale nodepool`
/// to 3 adds two (no pod asks for them), back to 1 removes two; `status.nodes` follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_scale_of_a_static_nodepool_gives_that_many_nodes() {
    use karpenter_ovhcloud::api::NodePool;
    use kube::api::{Api, PostParams};

    let mut env = Env::start().await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    let pools: Api<NodePool> = Api::all(env.client.clone());
    pools
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "apiVersion": "karpenter.sh/v1", "kind": "NodePool",
                "metadata": {"name": "fixed"},
                "spec": {"replicas": 1, "limits": {"nodes": "5"},
                  "template": {"spec": {
                    "nodeClassRef": {"group": "karpenter.ovhcloud.sh", "kind": "OVHNodeClass", "name": "default"},
                    "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]}]}}}}))
            .unwrap(),
        )
        .await
        .unwrap();
    env.start_controller(crate::controller_common::ONE_BATCH)
        .await;
    let home = tempfile::tempdir().unwrap();
    let kubectl = |args: &[&str]| kubectl_on(&env, home.path(), args);
    let nodes_of_pool = || async {
        env.nodes()
            .await
            .into_iter()
            .filter(|n| n.labels().get(labels::NODEPOOL).map(String::as_str) == Some("fixed"))
            .count()
    };
    let live_claims = || async {
        env.nodeclaims()
            .await
            .into_iter()
            .filter(|c| c.metadata.deletion_timestamp.is_none())
            .count()
    };
    for replicas in [1usize, 3, 1] {
        let out = kubectl(&[
            "scale",
            "nodepool",
            "fixed",
            &format!("--replicas={replicas}"),
        ]);
        assert!(out.contains("nodepool.karpenter.sh/fixed scaled"), "{out}");
        let what = format!("{replicas} node(s) in the static NodePool");
        eventually(&what, 120, || async {
            (nodes_of_pool().await == replicas && live_claims().await == replicas).then_some(())
        })
        .await;
        eventually("status.nodes follows", 60, || async {
            let n = kubectl(&["get", "nodepool", "fixed", "-o", "jsonpath={.status.nodes}"]);
            (n.trim() == replicas.to_string()).then_some(())
        })
        .await;
    }
    // Every NodeClaim it launched is a b3-8 of that NodePool.
    for c in env.nodeclaims().await {
        assert_eq!(c.labels()[labels::NODEPOOL], "fixed");
        assert_eq!(c.labels()[labels::INSTANCE_TYPE], "b3-8");
    }
}
