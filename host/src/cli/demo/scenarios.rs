//! The guide's scenarios, in its order: what each applies or scales, the workload whose pods
//! must end up Running, and what the guide says about the nodes they run on. The checks are
//! pure functions of an [`Observation`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::observe::{NodeView, Observation, PodView};
use crate::api::labels;

/// One thing a scenario does, as the guide's user would type it.
#[derive(Clone, Copy, Debug)]
pub enum Step {
    /// `kubectl apply -f FILE` of a guide file (through `envsubst` when it has placeholders).
    Guide(&'static str),
    /// `kubectl apply -f -` of a manifest of the demo's own (`name`, YAML): the guide applies
    /// the monthly and anti-affinity classes but runs nothing on them.
    Extra(&'static str, &'static str),
    /// `kubectl scale deployment/NAME --replicas=N` (namespace `default`).
    Scale(&'static str, u32),
}

/// The Deployment whose pods a scenario waits for.
#[derive(Clone, Copy, Debug)]
pub struct Workload {
    /// Its `app` label, in namespace `default`.
    pub app: &'static str,
    /// Pods that must run.
    pub replicas: usize,
}

/// Where a workload's pods run: each pod with its Node.
pub type Placement<'a> = [(&'a PodView, &'a NodeView)];

/// The state of a scenario's expectation.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Not there yet (what is awaited).
    Waiting(String),
    /// What the guide says holds.
    Pass,
    /// Something the guide rules out happened (why).
    Fail(String),
}

/// A scenario of the guide.
pub struct Scenario {
    /// Name for `--scenario` and the summary.
    pub name: &'static str,
    /// What it does, in the guide's terms.
    pub action: &'static str,
    /// What the guide says comes of it.
    pub expects: &'static str,
    /// What it applies and scales, in order.
    pub steps: &'static [Step],
    /// The pods that must run.
    pub workload: Workload,
    /// A scenario that must run before (it builds on its state).
    pub requires: Option<&'static str>,
    /// Removes nodes: checked only when the controller does disruption.
    pub needs_disruption: bool,
    /// Bound on the wait, in guide time.
    pub timeout: Duration,
    /// The guide's claim about the placement, once every pod of the workload runs.
    pub verify: fn(&Observation, &Placement<'_>) -> Verdict,
}

/// Not a guide file: a workload for the NodePool of `11-nodepool-monthly.yaml`.
const MONTHLY_WORKLOAD: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: monthly-workload
  namespace: default
spec:
  replicas: 1
  selector:
    matchLabels:
      app: monthly-workload
  template:
    metadata:
      labels:
        app: monthly-workload
    spec:
      nodeSelector:
        karpenter.sh/nodepool: monthly
      terminationGracePeriodSeconds: 0
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
          resources:
            requests:
              cpu: 500m
              memory: 1Gi
"#;

/// Not a guide file: the NodePool `12-ovhnodeclass-antiaffinity.yaml` suggests in its comment
/// (one zone, so that its nodes fill one pool) and six pods that must not share a node.
const ANTI_AFFINITY_WORKLOAD: &str = r#"
apiVersion: karpenter.sh/v1
kind: NodePool
metadata:
  name: anti-affinity
spec:
  template:
    spec:
      nodeClassRef:
        group: karpenter.ovhcloud.sh
        kind: OVHNodeClass
        name: anti-affinity
      requirements:
        - key: node.kubernetes.io/instance-type
          operator: In
          values: ["b3-8"]
        - key: topology.kubernetes.io/zone
          operator: In
          values: ["eu-west-par-b"]
  disruption:
    consolidationPolicy: WhenEmpty
    consolidateAfter: 1m
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ha-workload
  namespace: default
spec:
  replicas: 6
  selector:
    matchLabels:
      app: ha-workload
  template:
    metadata:
      labels:
        app: ha-workload
    spec:
      nodeSelector:
        karpenter.sh/nodepool: anti-affinity
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
            - topologyKey: kubernetes.io/hostname
              labelSelector:
                matchLabels:
                  app: ha-workload
      terminationGracePeriodSeconds: 0
      containers:
        - name: app
          image: registry.k8s.io/pause:3.10
          resources:
            requests:
              cpu: 500m
              memory: 512Mi
"#;

/// Every scenario, in the guide's order.
pub const SCENARIOS: &[Scenario] = &[
    Scenario {
        name: "basic",
        action: "03+04, scale inflate 0 -> 3",
        expects: "one b3-8 in karpenter-b3-8-eu-west-par-a",
        steps: &[
            Step::Guide("03-nodepool-basic.yaml"),
            Step::Guide("04-inflate.yaml"),
            Step::Scale("inflate", 3),
        ],
        workload: Workload {
            app: "inflate",
            replicas: 3,
        },
        requires: None,
        needs_disruption: false,
        timeout: Duration::from_secs(10 * 60),
        verify: verify_basic,
    },
    Scenario {
        name: "scale-up",
        action: "scale inflate to 10",
        expects: "10 pods on b3-8/b3-16 nodes of demo-pool",
        steps: &[
            Step::Guide("03-nodepool-basic.yaml"),
            Step::Guide("04-inflate.yaml"),
            Step::Scale("inflate", 10),
        ],
        workload: Workload {
            app: "inflate",
            replicas: 10,
        },
        requires: None,
        needs_disruption: false,
        timeout: Duration::from_secs(10 * 60),
        verify: verify_scale_up,
    },
    Scenario {
        name: "consolidation",
        action: "scale inflate 10 -> 2",
        expects: "demo-pool consolidated to one node",
        steps: &[Step::Scale("inflate", 2)],
        workload: Workload {
            app: "inflate",
            replicas: 2,
        },
        requires: Some("scale-up"),
        needs_disruption: true,
        timeout: Duration::from_secs(15 * 60),
        verify: verify_consolidation,
    },
    Scenario {
        name: "small-workload",
        action: "05+06, 500m/1Gi on multi-flavor",
        expects: "b3-8",
        steps: &[
            Step::Guide("05-nodepool-multi-flavor.yaml"),
            Step::Guide("06-small-workload.yaml"),
        ],
        workload: Workload {
            app: "small-workload",
            replicas: 1,
        },
        requires: None,
        needs_disruption: false,
        timeout: Duration::from_secs(10 * 60),
        verify: verify_small,
    },
    Scenario {
        name: "large-workload",
        action: "05+07, 6 CPU/24Gi on multi-flavor",
        expects: "b3-32",
        steps: &[
            Step::Guide("05-nodepool-multi-flavor.yaml"),
            Step::Guide("07-large-workload.yaml"),
        ],
        workload: Workload {
            app: "large-workload",
            replicas: 1,
        },
        requires: None,
        needs_disruption: false,
        timeout: Duration::from_secs(10 * 60),
        verify: verify_large,
    },
    Scenario {
        name: "zone-spread",
        action: "08+09, 6 replicas, zone maxSkew 1",
        expects: "2 pods in each of a, b, c",
        steps: &[
            Step::Guide("08-nodepool-multizone.yaml"),
            Step::Guide("09-zone-spread.yaml"),
        ],
        workload: Workload {
            app: "zone-spread",
            replicas: 6,
        },
        requires: None,
        needs_disruption: false,
        timeout: Duration::from_secs(10 * 60),
        verify: verify_zone_spread,
    },
    Scenario {
        name: "monthly",
        action: "10+11, a pod on pool monthly",
        expects: "gen2 b2 node, monthly-billed pool",
        steps: &[
            Step::Guide("10-ovhnodeclass-monthly.yaml"),
            Step::Guide("11-nodepool-monthly.yaml"),
            Step::Extra("monthly-workload (demo)", MONTHLY_WORKLOAD),
        ],
        workload: Workload {
            app: "monthly-workload",
            replicas: 1,
        },
        requires: None,
        needs_disruption: false,
        timeout: Duration::from_secs(10 * 60),
        verify: verify_monthly,
    },
    Scenario {
        name: "anti-affinity",
        action: "12, 6 pods one per node",
        expects: "anti-affinity pools of <= 5 nodes",
        steps: &[
            Step::Guide("12-ovhnodeclass-antiaffinity.yaml"),
            Step::Extra(
                "anti-affinity pool, ha-workload (demo)",
                ANTI_AFFINITY_WORKLOAD,
            ),
        ],
        workload: Workload {
            app: "ha-workload",
            replicas: 6,
        },
        requires: None,
        needs_disruption: false,
        timeout: Duration::from_secs(10 * 60),
        verify: verify_anti_affinity,
    },
];

/// The scenarios to run for `--scenario` values (none: all; `none`: install only), in the
/// guide's order, with those they require.
pub fn select(names: &[String]) -> anyhow::Result<Vec<&'static Scenario>> {
    if names.is_empty() || names.iter().any(|n| n == "all") {
        return Ok(SCENARIOS.iter().collect());
    }
    let mut wanted = BTreeSet::new();
    for name in names.iter().filter(|n| *n != "none") {
        let mut next = Some(name.as_str());
        while let Some(n) = next {
            let s = SCENARIOS.iter().find(|s| s.name == n).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown scenario {n:?}; known: {}, all, none",
                    SCENARIOS
                        .iter()
                        .map(|s| s.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })?;
            wanted.insert(s.name);
            next = s.requires;
        }
    }
    Ok(SCENARIOS
        .iter()
        .filter(|s| wanted.contains(s.name))
        .collect())
}

/// Where the scenario stands: Waiting until every pod of its workload runs, then its check.
pub fn evaluate(scenario: &Scenario, obs: &Observation) -> Verdict {
    let w = scenario.workload;
    let pods = obs.workload("default", w.app);
    let running = pods.iter().filter(|p| p.running).count();
    if pods.len() != w.replicas || running != w.replicas {
        return Verdict::Waiting(format!(
            "{running}/{} {} pods Running ({} exist)",
            w.replicas,
            w.app,
            pods.len()
        ));
    }
    let mut placement = Vec::new();
    for pod in pods {
        match pod.node.as_deref().and_then(|n| obs.node(n)) {
            Some(node) => placement.push((pod, node)),
            None => return Verdict::Waiting(format!("the Node of pod {}", pod.name)),
        }
    }
    (scenario.verify)(obs, &placement)
}

/// The distinct nodes of a placement, in name order.
pub fn hosts<'a>(placement: &Placement<'a>) -> Vec<&'a NodeView> {
    let mut by_name: BTreeMap<&str, &NodeView> = BTreeMap::new();
    for (_, node) in placement {
        by_name.insert(node.name.as_str(), node);
    }
    by_name.into_values().collect()
}

/// `2x b3-8, 1x b3-16`: flavors, counted.
pub fn flavor_counts<'a>(flavors: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for f in flavors {
        *counts.entry(f).or_default() += 1;
    }
    counts
        .iter()
        .map(|(f, n)| format!("{n}x {f}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Waiting while a NodePool has NodeClaims not yet Ready (a launch still in flight).
fn claims_settled(obs: &Observation, nodepool: &str) -> Option<Verdict> {
    let claims = obs.claims_of(nodepool);
    let waiting = claims.iter().filter(|c| !c.ready).count();
    (waiting > 0).then(|| {
        Verdict::Waiting(format!(
            "{waiting} of {} NodeClaims of {nodepool} not Ready",
            claims.len()
        ))
    })
}

/// Every pod on a node of `nodepool` whose flavor is one of `flavors`.
fn on_flavors(placement: &Placement<'_>, nodepool: &str, flavors: &[&str]) -> Verdict {
    for (pod, node) in placement {
        if node.nodepool != nodepool || !flavors.contains(&node.flavor.as_str()) {
            return Verdict::Fail(format!(
                "pod {} runs on {} ({} of NodePool {:?}); expected {} of {nodepool}",
                pod.name,
                node.name,
                node.flavor,
                node.nodepool,
                flavors.join(" or ")
            ));
        }
    }
    Verdict::Pass
}

fn verify_basic(obs: &Observation, placement: &Placement<'_>) -> Verdict {
    if let Some(w) = claims_settled(obs, "demo-pool") {
        return w;
    }
    let v = on_flavors(placement, "demo-pool", &["b3-8"]);
    if v != Verdict::Pass {
        return v;
    }
    let nodes = hosts(placement);
    let claims = obs.claims_of("demo-pool").len();
    if nodes.len() != 1 || claims != 1 {
        return Verdict::Fail(format!(
            "{} nodes and {claims} NodeClaims for 3 pods; the guide expects one b3-8",
            nodes.len()
        ));
    }
    match obs.pool_of(&nodes[0].name) {
        Some(p) if p.name == "karpenter-b3-8-eu-west-par-a" => Verdict::Pass,
        Some(p) => Verdict::Fail(format!(
            "the node is in OVH pool {}, not karpenter-b3-8-eu-west-par-a",
            p.name
        )),
        None => Verdict::Waiting(format!("the OVH pool of {}", nodes[0].name)),
    }
}

fn verify_scale_up(obs: &Observation, placement: &Placement<'_>) -> Verdict {
    if let Some(w) = claims_settled(obs, "demo-pool") {
        return w;
    }
    on_flavors(placement, "demo-pool", &["b3-8", "b3-16"])
}

fn verify_consolidation(obs: &Observation, placement: &Placement<'_>) -> Verdict {
    let v = on_flavors(placement, "demo-pool", &["b3-8", "b3-16"]);
    if v != Verdict::Pass {
        return v;
    }
    // Two 500m pods fit one node: the others go, at OVH too (Node and NodeClaim gone).
    let nodes = obs.nodes_of("demo-pool").len();
    let claims = obs
        .claims
        .iter()
        .filter(|c| c.nodepool == "demo-pool")
        .count();
    if nodes > 1 || claims > 1 {
        return Verdict::Waiting(format!(
            "demo-pool has {nodes} nodes and {claims} NodeClaims; consolidating to 1"
        ));
    }
    Verdict::Pass
}

/// The single pod of a workload on one `flavor` node of the multi-flavor NodePool, which
/// carries that pool's template label.
fn on_multi_flavor(placement: &Placement<'_>, flavor: &str) -> Verdict {
    let v = on_flavors(placement, "multi-flavor", &[flavor]);
    if v != Verdict::Pass {
        return v;
    }
    match placement
        .iter()
        .find(|(_, n)| n.labels.get("workload-type").map(String::as_str) != Some("multi-flavor"))
    {
        Some((_, n)) => Verdict::Fail(format!(
            "{} lacks the label workload-type=multi-flavor",
            n.name
        )),
        None => Verdict::Pass,
    }
}

fn verify_small(_: &Observation, placement: &Placement<'_>) -> Verdict {
    on_multi_flavor(placement, "b3-8")
}

fn verify_large(_: &Observation, placement: &Placement<'_>) -> Verdict {
    on_multi_flavor(placement, "b3-32")
}

/// The guide's claim is about where the pods run; NodeClaims launched beyond what they need
/// show in the summary's `idle` column rather than hold the verdict back.
fn verify_zone_spread(_: &Observation, placement: &Placement<'_>) -> Verdict {
    let v = on_flavors(placement, "multizone", &["b3-8", "b3-16"]);
    if v != Verdict::Pass {
        return v;
    }
    let mut per_zone: BTreeMap<&str, usize> = BTreeMap::new();
    for (_, node) in placement {
        *per_zone.entry(node.zone.as_str()).or_default() += 1;
    }
    let expected: BTreeMap<&str, usize> = [
        ("eu-west-par-a", 2),
        ("eu-west-par-b", 2),
        ("eu-west-par-c", 2),
    ]
    .into();
    if per_zone == expected {
        Verdict::Pass
    } else {
        Verdict::Fail(format!(
            "pods per zone {per_zone:?}; expected 2 in each of a, b, c"
        ))
    }
}

fn verify_monthly(obs: &Observation, placement: &Placement<'_>) -> Verdict {
    for (_, node) in placement {
        let family = node.labels.get(labels::FLAVOR_FAMILY).map(String::as_str);
        if node.nodepool != "monthly" || family != Some("b2") {
            return Verdict::Fail(format!(
                "{} is a {} of NodePool {:?}; expected a b2 node of monthly",
                node.name, node.flavor, node.nodepool
            ));
        }
        match obs.pool_of(&node.name) {
            Some(p) if p.monthly && p.name.ends_with("-monthly") => {}
            Some(p) => {
                return Verdict::Fail(format!(
                    "OVH pool {} (monthlyBilled {}) is not a monthly pool",
                    p.name, p.monthly
                ))
            }
            None => return Verdict::Waiting(format!("the OVH pool of {}", node.name)),
        }
    }
    Verdict::Pass
}

fn verify_anti_affinity(obs: &Observation, placement: &Placement<'_>) -> Verdict {
    let nodes = hosts(placement);
    if nodes.len() != placement.len() {
        return Verdict::Fail(format!(
            "{} pods share {} nodes despite their anti-affinity",
            placement.len(),
            nodes.len()
        ));
    }
    let mut pools = BTreeSet::new();
    for node in &nodes {
        match obs.pool_of(&node.name) {
            Some(p) if p.anti_affinity && p.nodes.len() <= 5 => {
                pools.insert(p.name.as_str());
            }
            Some(p) => {
                return Verdict::Fail(format!(
                    "OVH pool {} (antiAffinity {}, {} nodes) breaks the 5-node anti-affinity rule",
                    p.name,
                    p.anti_affinity,
                    p.nodes.len()
                ))
            }
            None => return Verdict::Waiting(format!("the OVH pool of {}", node.name)),
        }
    }
    // Six nodes in one zone cannot share one anti-affinity pool.
    if pools.len() < 2 {
        return Verdict::Fail(format!("{} nodes in the pools {pools:?}", nodes.len()));
    }
    Verdict::Pass
}

#[cfg(test)]
mod tests {
    use super::super::observe::{ClaimView, PoolView};
    use super::*;

    fn node(name: &str, nodepool: &str, flavor: &str, zone: &str) -> NodeView {
        let mut labels = BTreeMap::new();
        labels.insert(
            labels::FLAVOR_FAMILY.to_string(),
            flavor.split('-').next().unwrap().to_string(),
        );
        if nodepool == "multi-flavor" {
            labels.insert("workload-type".into(), "multi-flavor".into());
        }
        NodeView {
            name: name.into(),
            ready: true,
            flavor: flavor.into(),
            zone: zone.into(),
            nodepool: nodepool.into(),
            labels,
        }
    }

    fn pod(app: &str, i: usize, node: Option<&str>) -> PodView {
        PodView {
            namespace: "default".into(),
            name: format!("{app}-{i}"),
            app: app.into(),
            node: node.map(str::to_string),
            running: node.is_some(),
            terminating: false,
        }
    }

    fn claim(name: &str, nodepool: &str, flavor: &str, ready: bool) -> ClaimView {
        ClaimView {
            name: name.into(),
            nodepool: nodepool.into(),
            flavor: flavor.into(),
            ready,
            ..Default::default()
        }
    }

    fn pool(name: &str, nodes: &[&str]) -> PoolView {
        PoolView {
            name: name.into(),
            flavor: name
                .split('-')
                .skip(1)
                .take(2)
                .collect::<Vec<_>>()
                .join("-"),
            monthly: name.contains("-monthly"),
            anti_affinity: name.contains("-aa-"),
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn scenario(name: &str) -> &'static Scenario {
        SCENARIOS.iter().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn basic_waits_for_pods_then_for_claims_and_checks_one_b3_8_in_zone_a() {
        let s = scenario("basic");
        let mut obs = Observation {
            pods: (0..3).map(|i| pod("inflate", i, None)).collect(),
            ..Default::default()
        };
        assert!(matches!(evaluate(s, &obs), Verdict::Waiting(w) if w.contains("0/3 inflate")));
        let n = "karpenter-b3-8-eu-west-par-a-node-1";
        obs.pods = (0..3).map(|i| pod("inflate", i, Some(n))).collect();
        obs.nodes = vec![node(n, "demo-pool", "b3-8", "eu-west-par-a")];
        obs.pools = vec![pool("karpenter-b3-8-eu-west-par-a", &[n])];
        obs.claims = vec![
            claim("demo-pool-a", "demo-pool", "b3-8", true),
            claim("demo-pool-b", "demo-pool", "b3-8", false),
        ];
        assert!(matches!(evaluate(s, &obs), Verdict::Waiting(w) if w.contains("not Ready")));
        obs.claims[1].ready = true;
        assert!(matches!(evaluate(s, &obs), Verdict::Fail(f) if f.contains("2 NodeClaims")));
        obs.claims.pop();
        assert_eq!(evaluate(s, &obs), Verdict::Pass);
        obs.nodes[0].flavor = "b3-16".into();
        assert!(matches!(evaluate(s, &obs), Verdict::Fail(f) if f.contains("b3-16")));
    }

    #[test]
    fn consolidation_waits_until_one_node_is_left() {
        let s = scenario("consolidation");
        let (a, b) = (
            "karpenter-b3-8-eu-west-par-a-node-1",
            "karpenter-b3-8-eu-west-par-a-node-2",
        );
        let mut obs = Observation {
            pods: vec![pod("inflate", 0, Some(a)), pod("inflate", 1, Some(a))],
            nodes: vec![
                node(a, "demo-pool", "b3-8", "eu-west-par-a"),
                node(b, "demo-pool", "b3-8", "eu-west-par-a"),
            ],
            claims: vec![
                claim("a", "demo-pool", "b3-8", true),
                claim("b", "demo-pool", "b3-8", true),
            ],
            ..Default::default()
        };
        assert!(matches!(evaluate(s, &obs), Verdict::Waiting(w) if w.contains("2 nodes")));
        obs.nodes.pop();
        obs.claims[1].terminating = true;
        // Still waiting: the NodeClaim holds its finalizer until the OVH node is gone.
        assert!(matches!(evaluate(s, &obs), Verdict::Waiting(_)));
        obs.claims.pop();
        assert_eq!(evaluate(s, &obs), Verdict::Pass);
    }

    #[test]
    fn flavor_scenarios_check_the_flavor_and_the_template_label() {
        let n = "karpenter-b3-32-eu-west-par-a-node-1";
        let mut obs = Observation {
            pods: vec![pod("large-workload", 0, Some(n))],
            nodes: vec![node(n, "multi-flavor", "b3-32", "eu-west-par-a")],
            ..Default::default()
        };
        assert_eq!(evaluate(scenario("large-workload"), &obs), Verdict::Pass);
        obs.nodes[0].labels.remove("workload-type");
        assert!(
            matches!(evaluate(scenario("large-workload"), &obs), Verdict::Fail(f) if f.contains("workload-type"))
        );
        obs.nodes[0] = node(n, "multi-flavor", "b3-64", "eu-west-par-a");
        assert!(
            matches!(evaluate(scenario("large-workload"), &obs), Verdict::Fail(f) if f.contains("b3-64"))
        );
    }

    #[test]
    fn zone_spread_wants_two_pods_per_zone() {
        let s = scenario("zone-spread");
        let zones = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"];
        let mut obs = Observation {
            nodes: zones
                .iter()
                .map(|z| node(&format!("n-{z}"), "multizone", "b3-8", z))
                .collect(),
            pods: (0..6)
                .map(|i| pod("zone-spread", i, Some(&format!("n-{}", zones[i % 3]))))
                .collect(),
            ..Default::default()
        };
        assert_eq!(evaluate(s, &obs), Verdict::Pass);
        obs.pods[1].node = Some("n-eu-west-par-a".into());
        assert!(matches!(evaluate(s, &obs), Verdict::Fail(f) if f.contains("pods per zone")));
    }

    #[test]
    fn monthly_and_anti_affinity_check_the_ovh_pools() {
        let n = "karpenter-b2-7-eu-west-par-a-monthly-node-1";
        let mut obs = Observation {
            pods: vec![pod("monthly-workload", 0, Some(n))],
            nodes: vec![node(n, "monthly", "b2-7", "eu-west-par-a")],
            pools: vec![pool("karpenter-b2-7-eu-west-par-a-monthly", &[n])],
            ..Default::default()
        };
        assert_eq!(evaluate(scenario("monthly"), &obs), Verdict::Pass);
        obs.pools[0].monthly = false;
        assert!(matches!(
            evaluate(scenario("monthly"), &obs),
            Verdict::Fail(_)
        ));

        let names: Vec<String> = (0..6).map(|i| format!("aa-node-{i}")).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut obs = Observation {
            pods: (0..6)
                .map(|i| pod("ha-workload", i, Some(refs[i])))
                .collect(),
            nodes: refs
                .iter()
                .map(|n| node(n, "anti-affinity", "b3-8", "eu-west-par-b"))
                .collect(),
            pools: vec![
                pool("karpenter-b3-8-eu-west-par-b-aa-1", &refs[..5]),
                pool("karpenter-b3-8-eu-west-par-b-aa-2", &refs[5..]),
            ],
            ..Default::default()
        };
        assert_eq!(evaluate(scenario("anti-affinity"), &obs), Verdict::Pass);
        obs.pools = vec![pool("karpenter-b3-8-eu-west-par-b-aa-1", &refs)];
        assert!(
            matches!(evaluate(scenario("anti-affinity"), &obs), Verdict::Fail(f) if f.contains("5-node"))
        );
    }

    #[test]
    fn select_keeps_the_guides_order_and_adds_what_a_scenario_builds_on() {
        let names = |v: &[&str]| {
            select(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .map(|ss| ss.iter().map(|s| s.name).collect::<Vec<_>>())
        };
        assert_eq!(names(&[]).unwrap().len(), SCENARIOS.len());
        assert_eq!(
            names(&["zone-spread", "consolidation"]).unwrap(),
            ["scale-up", "consolidation", "zone-spread"]
        );
        assert!(names(&["none"]).unwrap().is_empty());
        let err = names(&["nope"]).unwrap_err().to_string();
        assert!(
            err.contains("basic") && err.contains("anti-affinity"),
            "{err}"
        );
    }

    #[test]
    fn every_extra_manifest_parses_and_every_guide_step_is_embedded() {
        for s in SCENARIOS {
            for step in s.steps {
                match step {
                    Step::Guide(f) => assert!(super::super::manifests::guide_file(f).is_ok()),
                    Step::Extra(_, yaml) => {
                        assert!(!super::super::manifests::documents(yaml).unwrap().is_empty())
                    }
                    Step::Scale(..) => {}
                }
            }
        }
    }
}
