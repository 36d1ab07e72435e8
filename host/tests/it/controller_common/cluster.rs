//! The guide's simulated cluster (kube-scheduler, kubelets, Deployment controller, PDBs and
//! the Eviction API, MKS) with the controller as its own process, logging to a file: the
//! fixture of the suites whose pods must really run (disruption, OVH faults, bad input).

use std::collections::BTreeMap;
use std::path::PathBuf;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use karpenter_ovhcloud::api::{labels, NodeClaim, NodePool};
use karpenter_ovhcloud_sim::cluster::SimCluster;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use serde_json::{json, Value};

use super::{eventually, guide_sim_cluster, merge};

/// The simulated cluster with the guide's CRDs, Secret and OVHNodeClass, and the controller.
pub struct World {
    /// The simulators.
    pub cluster: SimCluster,
    /// A client of the simulated API server.
    pub client: Client,
    pub kubeconfig: tempfile::NamedTempFile,
    log: PathBuf,
    _logdir: tempfile::TempDir,
    /// The controller process.
    pub controller: Option<tokio::process::Child>,
    args: Vec<String>,
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(c) = &mut self.controller {
            let _ = c.start_kill();
        }
    }
}

/// A NodePool in the guide's shape (03/05/11) with `instance_types` and `extra` merged in.
pub fn nodepool(name: &str, instance_types: &[&str], extra: Value) -> Value {
    let mut np = json!({"apiVersion": "karpenter.sh/v1", "kind": "NodePool",
        "metadata": {"name": name},
        "spec": {"template": {"spec": {"nodeClassRef": {"group": "karpenter.ovhcloud.sh",
            "kind": "OVHNodeClass", "name": "default"},
            "requirements": [{"key": "node.kubernetes.io/instance-type", "operator": "In",
                "values": instance_types}]}},
          "disruption": {"consolidationPolicy": "WhenEmptyOrUnderutilized", "consolidateAfter": "1m"},
          "limits": {"cpu": "100"}}});
    merge(&mut np, extra);
    np
}

impl World {
    /// The cluster with `nodepools` created, and the controller started (disruption every 30 s).
    pub async fn start(nodepools: &[Value]) -> World {
        Self::start_with(nodepools, &[]).await
    }

    /// Like [`World::start`], with more controller flags (each flag once).
    pub async fn start_with(nodepools: &[Value], args: &[&str]) -> World {
        let (cluster, kubeconfig, client) = guide_sim_cluster().await;
        let post = PostParams::default();
        for np in nodepools {
            Api::<NodePool>::all(client.clone())
                .create(&post, &serde_json::from_value(np.clone()).unwrap())
                .await
                .unwrap();
        }
        let logdir = tempfile::tempdir().unwrap();
        let log = logdir.path().join("controller.log");
        let mut world = World {
            cluster,
            client,
            kubeconfig,
            log,
            _logdir: logdir,
            controller: None,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        world.controller = Some(world.spawn_controller());
        world
    }

    /// A controller process with the fixture's flags (the world's own `args` may set
    /// `--disruption-interval` instead of 30 s), its stderr appended to the log file.
    pub fn spawn_controller(&self) -> tokio::process::Child {
        let mut extra = vec!["--leader-elect", "false"];
        if !self.args.iter().any(|a| a == "--disruption-interval") {
            extra.extend(["--disruption-interval", "30s"]);
        }
        extra.extend(self.args.iter().map(String::as_str));
        super::sim_cluster_controller(&self.cluster, self.kubeconfig.path(), &self.log, &extra)
            .env(
                "RUST_LOG",
                "info,karpenter_ovhcloud::disruption=debug,karpenter_ovhcloud::controller::disruption=debug,kube=warn,tower=warn,hyper=warn",
            )
            .spawn()
            .expect("start the controller")
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// A Deployment of pause pods in `default` ([`super::deploy`]).
    pub async fn deploy(
        &self,
        name: &str,
        replicas: i32,
        cpu: &str,
        memory: &str,
        spec: Value,
        meta: Value,
    ) {
        super::deploy(&self.client, name, replicas, cpu, memory, spec, meta).await;
    }

    /// Scales Deployment `name` of `default`.
    pub async fn scale(&self, name: &str, replicas: i32) {
        Api::<Deployment>::namespaced(self.client.clone(), "default")
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"replicas": replicas}})),
            )
            .await
            .unwrap();
    }

    /// Every NodeClaim.
    pub async fn claims(&self) -> Vec<NodeClaim> {
        Api::<NodeClaim>::all(self.client.clone())
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
    }

    /// Live NodeClaims: name -> (flavor, node name, initialized).
    pub async fn live(&self) -> BTreeMap<String, (String, String, bool)> {
        self.claims()
            .await
            .into_iter()
            .filter(|c| c.metadata.deletion_timestamp.is_none())
            .map(|c| {
                let node = c
                    .status
                    .as_ref()
                    .map(|s| s.node_name.clone())
                    .unwrap_or_default();
                let init = c.is_condition_true("Initialized");
                (
                    c.name_any(),
                    (c.labels()[labels::INSTANCE_TYPE].clone(), node, init),
                )
            })
            .collect()
    }

    /// Running pods of `app`: pod name -> node name.
    pub async fn running(&self, app: &str) -> BTreeMap<String, String> {
        Api::<Pod>::namespaced(self.client.clone(), "default")
            .list(&ListParams::default().labels(&format!("app={app}")))
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|p| {
                p.metadata.deletion_timestamp.is_none()
                    && p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running")
            })
            .map(|p| {
                let node = p.spec.and_then(|s| s.node_name).unwrap_or_default();
                (p.metadata.name.unwrap_or_default(), node)
            })
            .collect()
    }

    /// Waits until exactly `n` initialized NodeClaims run and `pods` pods of `app` run on them.
    pub async fn settled(
        &self,
        app: &str,
        n: usize,
        pods: usize,
        secs: u64,
    ) -> BTreeMap<String, (String, String, bool)> {
        eventually(
            &format!("{n} node(s) running {pods} pod(s) of {app}"),
            secs,
            || async {
                let live = self.live().await;
                let running = self.running(app).await;
                let nodes: Vec<&String> = live.values().map(|(_, n, _)| n).collect();
                (live.len() == n
                    && live.values().all(|(_, _, init)| *init)
                    && running.len() == pods
                    && running.values().all(|n| nodes.contains(&n)))
                .then_some(live)
            },
        )
        .await
    }

    /// OVH nodes of the `karpenter-*` pools: pool name -> node count.
    pub fn ovh_nodes(&self) -> BTreeMap<String, usize> {
        self.cluster.ovh().state().projects[0].clusters[0]
            .pools
            .iter()
            .filter_map(|p| {
                let name = p.pool["name"].as_str()?.to_string();
                name.starts_with("karpenter-").then(|| {
                    (
                        name,
                        p.nodes
                            .iter()
                            .filter(|n| n.status != "DELETING" && n.status != "DELETED")
                            .count(),
                    )
                })
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }

    /// Fails if a node the controller removed from OVH still ran a pod it did not evict:
    /// every OVH removal in the log comes after the NodeClaim's drain.
    pub fn assert_drained_before_removal(&self) {
        let log = self.log();
        for line in log
            .lines()
            .filter(|l| l.contains("OVH pool remove nodes") || l.contains("OVH pool delete"))
        {
            assert!(
                log.contains("NodeClaim drained"),
                "an OVH node was removed without a drained NodeClaim: {line}"
            );
        }
    }
}
