//! Property: every placement the scheduling core emits (existing nodes, in-flight NodeClaims,
//! validated new nodes) satisfies every hard constraint, whatever the policy answers. The
//! final state is checked here from scratch, independently of the core's incremental board.

use std::collections::{HashMap, HashSet};

use crate::scheduling_common::k8s::{deployment, run};
use crate::scheduling_common::*;
use karpenter_ovhcloud::provisioning::{Decision, Plan, Request};
use karpenter_ovhcloud::scheduling::{
    convert, wellknown, Labels, NodeState, Operator, PodSpec, PoolSpec, Requirement, Resources,
    SimNode, Taint, TaintEffect, Topology,
};
use karpenter_ovhcloud::state::ClusterState;
use proptest::prelude::*;
use serde_json::json;

#[derive(Clone, Debug)]
struct Workload {
    replicas: usize,
    cpu: u64,
    mem_mi: u64,
    zone: Option<usize>,
    tolerate: bool,
    constraint: u8,
}

fn workload() -> impl Strategy<Value = Workload> {
    (
        1usize..8,
        prop::sample::select(vec![100u64, 250, 500, 1000, 1500, 3000, 7000]),
        prop::sample::select(vec![128u64, 512, 1024, 4096, 20000]),
        prop::option::of(0usize..3),
        any::<bool>(),
        0u8..5,
    )
        .prop_map(
            |(replicas, cpu, mem_mi, zone, tolerate, constraint)| Workload {
                replicas,
                cpu,
                mem_mi,
                zone,
                tolerate,
                constraint,
            },
        )
}

#[derive(Clone, Debug)]
struct World {
    workloads: Vec<Workload>,
    /// (zone index, allocatable cpu millis, used cpu millis, tainted)
    nodes: Vec<(usize, u64, u64, bool)>,
    /// Pool: (allowed flavors mask over the first 8 b3/c3/r3 flavors, allowed zones mask, tainted)
    pools: Vec<(u8, u8, bool)>,
    /// How the policy's answer is perturbed.
    mangle: u8,
}

fn world() -> impl Strategy<Value = World> {
    (
        prop::collection::vec(workload(), 1..5),
        prop::collection::vec((0usize..3, 1000u64..8000, 0u64..4000, any::<bool>()), 0..4),
        prop::collection::vec((1u8..=255, 1u8..8, any::<bool>()), 1..3),
        0u8..6,
    )
        .prop_map(|(workloads, nodes, pools, mangle)| World {
            workloads,
            nodes,
            pools,
            mangle,
        })
}

const FLAVORS: [&str; 8] = [
    "b3-8", "b3-16", "b3-32", "b3-64", "c3-4", "c3-8", "r3-16", "r3-32",
];

fn taint() -> Taint {
    Taint {
        key: "dedicated".into(),
        value: "x".into(),
        effect: TaintEffect::NoSchedule,
    }
}

fn build(w: &World) -> (ClusterState, Vec<PoolSpec>) {
    let mut s = ClusterState::new();
    for (i, (zone, alloc, used, tainted)) in w.nodes.iter().enumerate() {
        let node: k8s_openapi::api::core::v1::Node = serde_json::from_value(json!({
            "metadata": {"name": format!("node-{i}"), "labels": {wellknown::ZONE: ZONES[*zone], wellknown::HOSTNAME: format!("node-{i}")}},
            "spec": {"taints": if *tainted { json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]) } else { json!([]) }},
            "status": {"allocatable": {"cpu": format!("{alloc}m"), "memory": "16Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        })).unwrap();
        s.apply_node(&node);
        // Load from a pod nobody selects.
        let filler = crate::scheduling_common::k8s::pod(
            "filler",
            i,
            &format!("{used}m"),
            "1Gi",
            json!({"role": "filler"}),
            json!({}),
        );
        let mut filler = filler;
        filler.spec.as_mut().unwrap().node_name = Some(format!("node-{i}"));
        filler.status = None;
        s.apply_pod(&filler);
    }
    for (i, wl) in w.workloads.iter().enumerate() {
        let app = format!("app{i}");
        let mut extra = json!({});
        if let Some(z) = wl.zone {
            extra["nodeSelector"] = json!({wellknown::ZONE: ZONES[z]});
        }
        if wl.tolerate {
            extra["tolerations"] = json!([{"key": "dedicated", "operator": "Exists"}]);
        }
        let sel = json!({"matchLabels": {"app": app}});
        match wl.constraint {
            1 => {
                extra["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": wellknown::ZONE, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}])
            }
            2 => {
                extra["topologySpreadConstraints"] = json!([{"maxSkew": 1, "topologyKey": wellknown::HOSTNAME, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": sel}])
            }
            3 => {
                extra["affinity"] = json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": wellknown::HOSTNAME, "labelSelector": sel}]}})
            }
            4 => {
                extra["affinity"] = json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"topologyKey": wellknown::ZONE, "labelSelector": sel}]}})
            }
            _ => {}
        }
        deployment(
            &mut s,
            &app,
            wl.replicas,
            &format!("{}m", wl.cpu),
            &format!("{}Mi", wl.mem_mi),
            json!({"app": app}),
            extra,
        );
    }
    let pools = w
        .pools
        .iter()
        .enumerate()
        .map(|(i, (fmask, zmask, tainted))| {
            let flavors: Vec<&str> = FLAVORS
                .iter()
                .enumerate()
                .filter(|(b, _)| fmask & (1 << b) != 0)
                .map(|(_, f)| *f)
                .collect();
            let zones: Vec<&str> = ZONES
                .iter()
                .enumerate()
                .filter(|(b, _)| zmask & (1 << b) != 0)
                .map(|(_, z)| *z)
                .collect();
            let mut p = pool(
                &format!("pool{i}"),
                vec![
                    instance_types(&flavors),
                    Requirement::new(wellknown::ZONE, Operator::In, &zones),
                ],
            );
            p.weight = i as u32;
            if *tainted {
                p.taints = vec![taint()];
            }
            p
        })
        .collect();
    (s, pools)
}

/// Perturbs a sound answer in one of several ways (the validator must catch what breaks).
fn mangled(mode: u8) -> impl Fn(&Request) -> Result<Decision, String> {
    move |req| {
        let mut d = test_policy(req)?;
        match mode {
            1 => {
                if let Some(l) = d.launches.first_mut() {
                    l.flavor = "b3-8".into()
                }
            }
            2 => {
                if let Some(l) = d.launches.last_mut() {
                    l.zone = ZONES[0].into()
                }
            }
            3 if d.launches.len() > 1 => {
                let moved = d.launches.pop().unwrap();
                d.launches[0].pods.extend(moved.pods);
            }
            4 => {
                if let Some(l) = d.launches.first_mut() {
                    l.nodepool = req.pools.last().unwrap().spec.name.clone()
                }
            }
            5 => {
                for l in &mut d.launches {
                    l.zone = ZONES[(l.pods.len()) % 3].into()
                }
            }
            _ => {}
        }
        Ok(d)
    }
}

struct FinalNode {
    labels: Labels,
    taints: Vec<Taint>,
    allocatable: Resources,
    used: Resources,
    pods: Vec<(String, PodSpec)>,
    pool: Option<String>,
}

fn check(state: &ClusterState, pools: &[PoolSpec], plan: &Plan) -> Result<(), String> {
    let snap = state.snapshot();
    let specs: HashMap<String, PodSpec> = snap
        .pending
        .iter()
        .map(|(k, p)| (k.clone(), (**p).clone()))
        .collect();
    let mut nodes: HashMap<String, FinalNode> = HashMap::new();
    let add_node = |nodes: &mut HashMap<String, FinalNode>, n: &SimNode| {
        nodes.insert(
            n.name.clone(),
            FinalNode {
                labels: n.labels.clone(),
                taints: n.taints.clone(),
                allocatable: n.allocatable,
                used: n.requested,
                pods: vec![],
                pool: None,
            },
        );
    };
    for n in snap.nodes.iter().chain(&snap.in_flight) {
        add_node(&mut nodes, n);
    }
    let mut seen = HashSet::new();
    let mut placed = Vec::new();
    for (pod, node) in plan.on_existing.iter().chain(&plan.on_in_flight) {
        placed.push((pod.clone(), node.clone()));
    }
    for (i, c) in plan.claims.iter().enumerate() {
        let name = format!("claim-{i}");
        let mut labels = c.labels.clone();
        labels.insert(wellknown::HOSTNAME.into(), name.clone());
        nodes.insert(
            name.clone(),
            FinalNode {
                labels,
                taints: c.taints.clone(),
                allocatable: c.allocatable,
                used: Resources::default(),
                pods: vec![],
                pool: Some(c.nodepool.clone()),
            },
        );
        for p in &c.pods {
            placed.push((p.clone(), name.clone()));
        }
    }
    for (pod, _) in placed
        .iter()
        .map(|(p, n)| (p, n))
        .chain(plan.unplaced.iter().map(|(p, r)| (p, r)))
    {
        if !seen.insert(pod.clone()) {
            return Err(format!("{pod} accounted twice"));
        }
    }
    if seen.len() != specs.len() {
        return Err(format!("{} of {} pods accounted", seen.len(), specs.len()));
    }
    for (pod, node) in &placed {
        let spec = specs[pod].clone();
        let n = nodes.get_mut(node).ok_or("unknown node")?;
        n.used += spec.requests;
        n.pods.push((pod.clone(), spec));
    }
    for (name, n) in &nodes {
        if !n.used.fits_in(&n.allocatable) && !n.pods.is_empty() {
            return Err(format!("{name} overcommitted"));
        }
        if let Some(pool) = &n.pool {
            let p = pools
                .iter()
                .find(|p| &p.name == pool)
                .ok_or("unknown pool")?;
            if p.requirements.iter().any(|r| !r.matches(&n.labels)) {
                return Err(format!("{name} breaks pool {pool}"));
            }
            if p.taints != n.taints {
                return Err("pool taints lost".into());
            }
        }
        for (pod, spec) in &n.pods {
            if spec.unmet_requirement(&n.labels).is_some() {
                return Err(format!("{pod} on {name}: requirement"));
            }
            for t in &n.taints {
                if t.effect != TaintEffect::PreferNoSchedule
                    && !spec.tolerations.iter().any(|tol| tol.tolerates(t))
                {
                    return Err(format!("{pod} on {name}: taint"));
                }
            }
        }
    }
    // Topology, per workload (app label), over the final state.
    let app_of = |s: &PodSpec| s.labels.get("app").cloned();
    let mut by_app: HashMap<String, Vec<(&str, &Labels)>> = HashMap::new();
    for (name, n) in &nodes {
        for (_, s) in &n.pods {
            if let Some(app) = app_of(s) {
                by_app
                    .entry(app)
                    .or_default()
                    .push((name.as_str(), &n.labels));
            }
        }
    }
    let zone_allowed = |spec: &PodSpec, z: &str| {
        let l: Labels = [(wellknown::ZONE.to_string(), z.to_string())].into();
        spec.requirements
            .iter()
            .filter(|r| r.key == wellknown::ZONE)
            .all(|r| r.matches(&l))
            && pools.iter().any(|p| {
                p.requirements
                    .iter()
                    .filter(|r| r.key == wellknown::ZONE)
                    .all(|r| r.matches(&l))
            })
    };
    for spec in specs.values() {
        let Some(app) = app_of(spec) else { continue };
        let placed = by_app.get(&app).cloned().unwrap_or_default();
        let mut per_node: HashMap<&str, u32> = HashMap::new();
        let mut per_zone: HashMap<&str, u32> = HashMap::new();
        for (n, l) in &placed {
            *per_node.entry(n).or_default() += 1;
            *per_zone
                .entry(l.get(wellknown::ZONE).map(String::as_str).unwrap_or(""))
                .or_default() += 1;
        }
        for s in &spec.spreads {
            match s.topology {
                Topology::Hostname => {
                    if per_node.values().any(|c| *c > s.max_skew) {
                        return Err(format!("{app}: hostname spread"));
                    }
                }
                Topology::Zone => {
                    let counts: Vec<u32> = ZONES
                        .iter()
                        .filter(|z| zone_allowed(spec, z))
                        .map(|z| per_zone.get(z).copied().unwrap_or(0))
                        .collect();
                    let (max, min) = (
                        counts.iter().max().copied().unwrap_or(0),
                        counts.iter().min().copied().unwrap_or(0),
                    );
                    if max - min > s.max_skew {
                        return Err(format!("{app}: zone spread {per_zone:?}"));
                    }
                }
            }
        }
        for t in &spec.anti_affinity {
            let bad = match t.topology {
                Topology::Hostname => per_node.values().any(|c| *c > 1),
                Topology::Zone => per_zone.values().any(|c| *c > 1),
            };
            if bad {
                return Err(format!("{app}: anti-affinity"));
            }
        }
        for t in &spec.affinity {
            if t.topology == Topology::Zone && per_zone.len() > 1 {
                return Err(format!("{app}: affinity {per_zone:?}"));
            }
        }
    }
    let _ = (NodeState::Ready, convert::resources);
    Ok(())
}

fn no_default(_: &Request) -> Result<Decision, String> {
    Err("none".into())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn every_emitted_placement_satisfies_every_constraint(w in world()) {
        let (state, pools) = build(&w);
        let policy = mangled(w.mangle);
        let plan = run(&state, &pools, ovh_catalog(), &policy, &no_default);
        if let Err(e) = check(&state, &pools, &plan) {
            prop_assert!(false, "{e}\nplan: {plan:#?}");
        }
        // The sound answer is never refused for a rule it respects.
        let plan = run(&state, &pools, ovh_catalog(), &test_policy, &no_default);
        if let Err(e) = check(&state, &pools, &plan) {
            prop_assert!(false, "{e}");
        }
    }
}
