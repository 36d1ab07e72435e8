//! The controller as its own process against the simulators: the guide's provisioning
//! scenarios end to end (pending pods -> NodeClaims -> OVH pools -> registered nodes).

mod controller_common;

use controller_common::{eventually, Env};
use karpenter_ovhcloud::api::labels;
use karpenter_ovhcloud::api::nodeclaim::{
    CONDITION_INITIALIZED, CONDITION_LAUNCHED, CONDITION_REGISTERED,
};
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
    env.start_controller(&["--leader-elect", "false"]).await;
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

    let ready = eventually("the NodeClaim initialized", 90, || async {
        env.nodeclaims()
            .await
            .into_iter()
            .find(|c| c.is_condition_true(CONDITION_INITIALIZED))
    })
    .await;
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
