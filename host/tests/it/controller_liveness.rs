//! The controller as its own process when OVH or the cluster lets it down: a launch that never
//! comes up, a node that never registers, quota refusals, orphan pools and nodes, and a
//! NodePool its OVHNodeClass can never serve. Each runs the guide's durations at [`SCALE`].

use crate::controller_common::{eventually, Env, ONE_BATCH, SCALE};
use karpenter_ovhcloud::api::labels;
use karpenter_ovhcloud_sim::ovh::{Quota, SimConfig, DEFAULT_KUBE_ID, DEFAULT_SERVICE_NAME};
use kube::ResourceExt;
use serde_json::{json, Value};

async fn env_with_pool(requirements: Value) -> Env {
    let env = Env::start_with(SimConfig::default().with_time_scale(SCALE)).await;
    env.default_secret().await;
    env.nodeclass("default", "ovh-credentials", json!({})).await;
    env.nodepool("demo-pool", "default", requirements, json!({}))
        .await;
    env
}

/// b3-8 or b3-16, in eu-west-par-a only.
fn two_flavors_in_zone_a() -> Value {
    json!([
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-a"]}])
}

fn pool_desired(env: &Env, pool: &str) -> Option<(u64, usize)> {
    let (p, nodes) = env.ovh_pools().remove(pool)?;
    let active = nodes.iter().filter(|n| n.status != "DELETING").count();
    Some((p["desiredNodes"].as_u64()?, active))
}

/// OVH accepts a second b3-8 in eu-west-par-a but never creates it: after the launch timeout
/// the NodeClaim goes (Event `LaunchTimeout`), the pool's desiredNodes is taken back to the
/// one node that exists (no node named, none removed), and the pod gets a b3-16 instead.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_timeout_deletes_the_claim_shrinks_the_pool_and_provisions_again() {
    let mut env = env_with_pool(two_flavors_in_zone_a()).await;
    env.start_controller(ONE_BATCH).await;
    env.pods("first", 1, "1", "512Mi", json!({})).await;
    let first = env.initialized_claim(60).await;
    let pool = "karpenter-b3-8-eu-west-par-a";
    assert_eq!(first.labels()[labels::OVH_POOL], pool);

    env.ovh.set_stalled("b3-8", "eu-west-par-a", true);
    // 1.5 CPU does not fit beside the first pod: a second b3-8, in the same pool.
    env.pods("second", 1, "1500m", "512Mi", json!({})).await;
    let stalled = eventually("a second NodeClaim in the b3-8 pool", 30, || async {
        env.nodeclaims()
            .await
            .into_iter()
            .find(|c| c.name_any() != first.name_any() && c.labels()[labels::OVH_POOL] == pool)
    })
    .await;
    let stalled_name = stalled.name_any();
    let timeout = eventually("the LaunchTimeout Event", 60, || {
        env.event(Some(&stalled_name), "LaunchTimeout")
    })
    .await;
    assert_eq!(timeout.type_.as_deref(), Some("Warning"));
    let replacement = eventually("a b3-16 NodeClaim initialized", 60, || async {
        env.nodeclaims().await.into_iter().find(|c| {
            c.labels()[labels::INSTANCE_TYPE] == "b3-16"
                && c.is_condition_true(karpenter_ovhcloud::api::nodeclaim::CONDITION_INITIALIZED)
        })
    })
    .await;
    assert_eq!(
        replacement.labels()[labels::OVH_POOL],
        "karpenter-b3-16-eu-west-par-a"
    );
    eventually("the b3-8 pool back to its one node", 30, || async {
        (pool_desired(&env, pool) == Some((1, 1))).then_some(())
    })
    .await;
    let shrink = env
        .pool_writes()
        .into_iter()
        .filter(|(m, _, _)| m == "PUT")
        .filter_map(|(_, _, body)| body)
        .find(|b| b["desiredNodes"] == 1)
        .expect("a PUT lowering desiredNodes");
    assert!(shrink.get("nodesToRemove").is_none(), "{shrink}");
    let names: Vec<String> = env
        .nodeclaims()
        .await
        .iter()
        .map(|c| c.name_any())
        .collect();
    assert!(!names.contains(&stalled.name_any()), "{names:?}");
    assert_eq!(names.len(), 2, "{names:?}");
}

/// The b3-8 node in eu-west-par-a is READY at OVH but never joins the cluster: after the
/// registration timeout the NodeClaim goes (Event `RegistrationTimeout`), its OVH node is
/// removed, and the pod gets a node in eu-west-par-b.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registration_timeout_removes_the_node_and_provisions_elsewhere() {
    let mut env = env_with_pool(json!([
        {"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8"]},
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["eu-west-par-a", "eu-west-par-b"]}]))
    .await;
    env.never_register("eu-west-par-a");
    let mut args = ONE_BATCH.to_vec();
    args.extend(["--registration-timeout", "3m"]);
    env.start_controller(&args).await;
    env.pods("inflate", 1, "500m", "512Mi", json!({})).await;

    let timeout = eventually("the RegistrationTimeout Event", 60, || {
        env.event(None, "RegistrationTimeout")
    })
    .await;
    assert_eq!(timeout.type_.as_deref(), Some("Warning"));
    assert!(
        timeout
            .note
            .as_deref()
            .is_some_and(|n| n.contains("eu-west-par-a")),
        "{timeout:?}"
    );
    let ready = env.initialized_claim(60).await;
    assert_eq!(ready.labels()[labels::ZONE], "eu-west-par-b");
    eventually("the unregistered OVH node removed", 30, || async {
        let active = pool_desired(&env, "karpenter-b3-8-eu-west-par-a").map_or(0, |(_, a)| a);
        (active == 0 && env.nodeclaims().await.len() == 1).then_some(())
    })
    .await;
}

/// Two launches in a row whose nodes never register (half of upstream's window of four) turn
/// the NodePool's `NodeRegistrationHealthy` False, as upstream words it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_never_register_turn_node_registration_healthy_false() {
    let mut env = env_with_pool(two_flavors_in_zone_a()).await;
    env.never_register("eu-west-par-a");
    let mut args = ONE_BATCH.to_vec();
    args.extend(["--registration-timeout", "3m"]);
    env.start_controller(&args).await;
    env.pods("inflate", 1, "500m", "512Mi", json!({})).await;
    let pools: kube::Api<karpenter_ovhcloud::api::NodePool> = kube::Api::all(env.client.clone());
    let unhealthy = eventually("NodeRegistrationHealthy False", 90, || async {
        let pool = pools.get("demo-pool").await.ok()?;
        karpenter_ovhcloud::api::condition::find(pool.conditions(), "NodeRegistrationHealthy")
            .filter(|c| c.status == karpenter_ovhcloud::api::ConditionStatus::False)
            .cloned()
    })
    .await;
    assert_eq!(
        (unhealthy.reason.as_str(), unhealthy.message.as_str()),
        ("RegistrationFailed", "Failed to register node")
    );
    // Two registration timeouts it took, one per flavor of the zone (the condition is written
    // before the second NodeClaim's Event: wait for it).
    eventually("two RegistrationTimeout Events", 30, || async {
        let timeouts = crate::controller_common::events(&env.client)
            .await
            .into_iter()
            .filter(|e| e.reason.as_deref() == Some("RegistrationTimeout"))
            .count();
        (timeouts >= 2).then_some(())
    })
    .await;

    // A change of its OVHNodeClass starts the count again (upstream resets on the class's
    // generation). The pods go first, so that no new launch turns it again meanwhile.
    use k8s_openapi::api::core::v1::Pod;
    use karpenter_ovhcloud::api::OVHNodeClass;
    use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
    kube::Api::<Pod>::namespaced(env.client.clone(), "default")
        .delete_collection(
            &DeleteParams::default().grace_period(0),
            &ListParams::default(),
        )
        .await
        .unwrap();
    let class = kube::Api::<OVHNodeClass>::all(env.client.clone())
        .patch(
            "default",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"tags": {"team": "payments"}}})),
        )
        .await
        .unwrap();
    let class_generation = class.metadata.generation.unwrap();
    eventually(
        "NodeRegistrationHealthy reset by the class change",
        60,
        || async {
            let pool = pools.get("demo-pool").await.ok()?;
            let reset = karpenter_ovhcloud::api::condition::find(
                pool.conditions(),
                "NodeRegistrationHealthy",
            )
            .is_some_and(|c| {
                c.status == karpenter_ovhcloud::api::ConditionStatus::Unknown
                    && c.reason == "AwaitingReconciliation"
            });
            let seen = pool
                .status
                .as_ref()
                .map(|s| s.node_class_observed_generation);
            (reset && seen == Some(class_generation)).then_some(())
        },
    )
    .await;
}

/// OVH refuses every node for lack of vCPU quota: each refusal deletes its NodeClaim with
/// OVH's reason and marks the offering unavailable, the pod and the NodePool say why, and the
/// controller stops asking (no hot loop while the offerings stay unavailable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_refusals_are_reported_and_not_retried_in_a_loop() {
    let mut env = env_with_pool(crate::controller_common::demo_pool()).await;
    assert!(env.ovh.set_quota(
        DEFAULT_SERVICE_NAME,
        Quota {
            max_vcpus: Some(1),
            ..Quota::default()
        }
    ));
    let mut args = ONE_BATCH.to_vec();
    args.extend(["--unavailable-offerings-ttl", "1h"]);
    env.start_controller(&args).await;
    env.pods("inflate", 1, "500m", "512Mi", json!({})).await;

    let warning = eventually("the pod told no offering is left", 60, || async {
        let e = env.event(Some("inflate-0"), "FailedScheduling").await?;
        e.note
            .as_deref()
            .is_some_and(|n| n.contains("unavailable"))
            .then_some(e)
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    let refused = env
        .event(None, "InsufficientCapacity")
        .await
        .expect("a NodeClaim Event with OVH's reason");
    assert!(
        refused
            .note
            .as_deref()
            .is_some_and(|n| n.contains("InsufficientVCPUsQuota")),
        "{refused:?}"
    );
    env.event(Some("demo-pool"), "Unschedulable")
        .await
        .expect("the NodePool says why");
    let posts = |env: &Env| {
        env.pool_writes()
            .iter()
            .filter(|(m, _, _)| m == "POST")
            .count()
    };
    let before = posts(&env);
    // Two offerings (b3-8, b3-16) in three zones: at most one refused create each.
    assert!((1..=6).contains(&before), "{before} creates");
    // Many reconcile periods later (10 s of guide time is 0.17 s here), nothing more.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(posts(&env), before, "the controller kept asking");
    assert!(env.nodeclaims().await.is_empty());
    assert!(env.ovh_pools().is_empty());
}

fn pool_body(name: &str, flavor: &str, zone: &str, desired: u32) -> Value {
    json!({"name": name, "flavorName": flavor, "desiredNodes": desired, "minNodes": 0,
        "maxNodes": 100, "autoscale": false, "antiAffinity": false, "monthlyBilled": false,
        "availabilityZones": [zone],
        "template": {"metadata": {"labels": {}, "annotations": {}, "finalizers": []},
                     "spec": {"unschedulable": false, "taints": []}}})
}

/// Pools the cluster had before the controller started: a `karpenter-*` pool with two nodes no
/// NodeClaim claims and an empty `karpenter-*` pool are cleaned up after the grace period; a
/// pool of the user's is never touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_pools_and_nodes_are_collected_and_foreign_pools_left_alone() {
    let mut env = env_with_pool(crate::controller_common::demo_pool()).await;
    let seed = |body: Value| {
        env.ovh
            .seed_pool(DEFAULT_SERVICE_NAME, DEFAULT_KUBE_ID, &body)
            .unwrap()
    };
    let mine = seed(pool_body(
        "karpenter-b3-8-eu-west-par-a",
        "b3-8",
        "eu-west-par-a",
        2,
    ));
    let empty = seed(pool_body(
        "karpenter-b3-16-eu-west-par-b",
        "b3-16",
        "eu-west-par-b",
        0,
    ));
    let users = seed(pool_body("default-pool", "b3-8", "eu-west-par-c", 1));
    let users_id = users["id"].as_str().unwrap().to_string();
    eventually("the seeded nodes registered", 30, || async {
        (env.nodes().await.len() == 3).then_some(())
    })
    .await;
    env.start_controller(ONE_BATCH).await;

    eventually("only the user's pool left", 60, || async {
        let pools = env.ovh_pools();
        (pools.len() == 1 && pools.contains_key("default-pool")).then_some(())
    })
    .await;
    let writes = env.pool_writes();
    for id in [mine["id"].as_str().unwrap(), empty["id"].as_str().unwrap()] {
        assert!(
            writes
                .iter()
                .any(|(m, path, _)| m == "DELETE" && path.ends_with(id)),
            "{writes:?}"
        );
    }
    assert!(
        writes.iter().all(|(_, path, _)| !path.contains(&users_id)),
        "the user's pool was written to: {writes:?}"
    );
    let (_, nodes) = env.ovh_pools().remove("default-pool").unwrap();
    assert_eq!(nodes.len(), 1);
    assert_eq!(nodes[0].status, "READY");
    eventually("the orphans' Nodes gone", 30, || async {
        (env.nodes().await.len() == 1).then_some(())
    })
    .await;
    assert!(env.nodeclaims().await.is_empty());
}

/// A monthly-billed OVHNodeClass with a NodePool allowing only gen3 flavors: refused up front
/// (`NodeClassReady=False`, a Warning Event), nothing launched; a NodePool on the same class
/// allowing b2 stays usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn monthly_billing_with_only_gen3_flavors_is_refused_up_front() {
    let mut env = Env::start_with(SimConfig::default().with_time_scale(SCALE)).await;
    env.default_secret().await;
    env.nodeclass("monthly", "ovh-credentials", json!({"monthlyBilled": true}))
        .await;
    env.nodepool(
        "gen3",
        "monthly",
        json!([{"key": "node.kubernetes.io/instance-type", "operator": "In", "values": ["b3-8", "b3-16"]}]),
        json!({}),
    )
    .await;
    env.nodepool(
        "gen2",
        "monthly",
        json!([{"key": "karpenter.ovhcloud.sh/flavor-family", "operator": "In", "values": ["b2"]}]),
        json!({}),
    )
    .await;
    env.start_controller(ONE_BATCH).await;
    env.pods(
        "gen3-workload",
        1,
        "500m",
        "512Mi",
        json!({"nodeSelector": {"karpenter.sh/nodepool": "gen3"}}),
    )
    .await;

    let bad = env.nodeclass_ready("gen3").await;
    assert_eq!(
        (format!("{:?}", bad.status).as_str(), bad.reason.as_str()),
        ("False", "IncompatibleNodeClass")
    );
    assert!(bad.message.contains("gen2"), "{}", bad.message);
    let good = env.nodeclass_ready("gen2").await;
    assert_eq!(format!("{:?}", good.status), "True");
    let warning = eventually("the Event on the NodePool", 30, || {
        env.event(Some("gen3"), "IncompatibleNodeClass")
    })
    .await;
    assert_eq!(warning.type_.as_deref(), Some("Warning"));
    // Several batches later: nothing launched for the refused NodePool.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(env.nodeclaims().await.is_empty());
    assert!(env.pool_writes().is_empty());
}

/// Someone removes the NodeClaim's node at OVH behind the controller's back: the NodeClaim
/// goes (Event `NodeVanished`) and its pods get a new node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nodeclaim_whose_ovh_node_vanished_is_replaced() {
    use karpenter_ovhcloud::ovh::{
        ClientConfig, ClusterRef, Credentials, NodePoolUpdate, OvhClient,
    };
    use karpenter_ovhcloud_sim::ovh::{
        DEFAULT_APPLICATION_KEY, DEFAULT_APPLICATION_SECRET, DEFAULT_CONSUMER_KEY,
    };
    let mut env = env_with_pool(crate::controller_common::demo_pool()).await;
    env.start_controller(ONE_BATCH).await;
    env.pods("inflate", 1, "500m", "512Mi", json!({})).await;
    let first = env.initialized_claim(60).await;
    let node_id = first.labels()[labels::OVH_NODE_ID].clone();
    let pool = first.labels()[labels::OVH_POOL].clone();
    let (pool_json, _) = env.ovh_pools().remove(&pool).unwrap();

    let someone = OvhClient::new(ClientConfig::new(
        env.ovh.base_url().parse().unwrap(),
        Credentials::new(
            DEFAULT_APPLICATION_KEY,
            DEFAULT_APPLICATION_SECRET,
            DEFAULT_CONSUMER_KEY,
        )
        .unwrap(),
    ))
    .unwrap();
    someone
        .update_node_pool(
            &ClusterRef::new(DEFAULT_SERVICE_NAME, DEFAULT_KUBE_ID),
            pool_json["id"].as_str().unwrap(),
            &NodePoolUpdate {
                desired_nodes: Some(0),
                nodes_to_remove: Some(vec![node_id.clone()]),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let first_name = first.name_any();
    let vanished = eventually("the NodeVanished Event", 60, || {
        env.event(Some(&first_name), "NodeVanished")
    })
    .await;
    assert_eq!(vanished.type_.as_deref(), Some("Warning"));
    let replacement = eventually("a new NodeClaim initialized", 60, || async {
        env.nodeclaims().await.into_iter().find(|c| {
            c.name_any() != first_name
                && c.is_condition_true(karpenter_ovhcloud::api::nodeclaim::CONDITION_INITIALIZED)
        })
    })
    .await;
    assert_ne!(replacement.labels()[labels::OVH_NODE_ID], node_id);
    eventually("only the replacement left", 30, || async {
        (env.nodeclaims().await.len() == 1).then_some(())
    })
    .await;
}
