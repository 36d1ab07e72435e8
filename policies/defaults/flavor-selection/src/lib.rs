//! The default flavor-selection policy: the cheapest capacity that fits.
//!
//! Pods are packed first-fit decreasing onto new nodes, choosing for each new node the
//! flavor with the lowest price per placed pod (ties: price, then name), in the highest-weight
//! NodePool that admits them, while respecting requirements, taints, DaemonSet overhead,
//! limits, zone spread and (anti-)affinity. See
//! [`karpenter_ovhcloud_policy_sdk::packing`] for the exact rules.
//!
//! # Config (`data.config.json`, optional)
//!
//! ```json
//! { "maxFlavorsConsidered": 10 }
//! ```
//!
//! - `maxFlavorsConsidered` (integer >= 1, default: all): consider only the N cheapest flavors
//!   each NodePool admits for a pod group.
//!
//! Unknown keys, a malformed document or an out-of-range value are refused (`Err`), so the
//! host falls back to the embedded default and says why.

use karpenter_ovhcloud_policy_sdk::packing::{self, CheapestPerPod, Options};
use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{config, export_flavor_selection, log, FlavorSelection};

/// The policy's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Consider only the N cheapest admitted flavors of each NodePool.
    pub max_flavors_considered: Option<u32>,
}

impl Config {
    /// Parses and validates a config string ("" is the default).
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c = config::Config::parse(text)?;
        let cfg = Config {
            max_flavors_considered: c.u32("maxFlavorsConsidered")?,
        };
        c.finish()?;
        if cfg.max_flavors_considered == Some(0) {
            return Err("invalid policy config: maxFlavorsConsidered must be at least 1".into());
        }
        Ok(cfg)
    }
}

/// The policy, natively: what the component's `select` export runs.
pub fn select(request: &ProvisioningRequest) -> Result<ProvisioningDecision, String> {
    let cfg = Config::parse(&request.config)?;
    let options = Options {
        max_flavors_considered: cfg.max_flavors_considered,
    };
    let decision = packing::select(request, &CheapestPerPod, &options);
    if !decision.unplaced.is_empty() {
        let pods: u32 = decision.unplaced.iter().map(|u| u.count).sum();
        log::info(&format!("{pods} pod(s) could not be placed"));
    }
    Ok(decision)
}

/// The policy's metadata.
pub fn metadata() -> PolicyMetadata {
    PolicyMetadata {
        name: "default-flavor-selection".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description:
            "Cheapest capacity that fits: first-fit decreasing packing, lowest price per placed pod"
                .into(),
    }
}

/// The component's export.
pub struct DefaultFlavorSelection;

impl FlavorSelection for DefaultFlavorSelection {
    fn metadata() -> PolicyMetadata {
        metadata()
    }

    fn select(request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        select(&request)
    }
}

export_flavor_selection!(DefaultFlavorSelection);

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_ovhcloud_policy_sdk::labels::well_known;
    use karpenter_ovhcloud_policy_sdk::resources::{GIB, MIB};
    use karpenter_ovhcloud_policy_sdk::testing::{
        catalog, instance_types, nodepool, pod_group, req, ZONES,
    };
    use karpenter_ovhcloud_policy_sdk::types::*;

    fn request(pods: Vec<PodGroup>, pools: Vec<Nodepool>) -> ProvisioningRequest {
        ProvisioningRequest {
            pod_groups: pods,
            flavors: catalog(),
            nodepools: pools,
            nodes: vec![],
            config: String::new(),
        }
    }

    fn demo_pool() -> Nodepool {
        nodepool("demo-pool", vec![instance_types(&["b3-8", "b3-16"])])
    }

    fn multi_flavor() -> Nodepool {
        nodepool(
            "multi-flavor",
            vec![instance_types(&["b3-8", "b3-16", "b3-32", "b3-64"])],
        )
    }

    fn on_pool(mut g: PodGroup, pool: &str) -> PodGroup {
        g.requirements
            .push(req(well_known::NODEPOOL, Operator::In, &[pool]));
        g
    }

    fn node(name: &str, pool: &str, flavor: &str, zone: &str) -> Node {
        Node {
            name: name.into(),
            nodeclaim: name.into(),
            nodepool: pool.into(),
            flavor: flavor.into(),
            zone: zone.into(),
            labels: vec![],
            taints: vec![],
            allocatable: Resources::ZERO,
            requested: Resources::ZERO,
            pods: vec![],
            hourly_price: 0.0512,
            state: NodeState::Ready,
            age_seconds: 600,
            disruptable: true,
            consolidatable: true,
        }
    }

    /// (nodepool, flavor, zone, pods of each group) per launch.
    fn launches(d: &ProvisioningDecision) -> Vec<(String, String, String, u32)> {
        d.launches
            .iter()
            .map(|l| {
                (
                    l.nodepool.clone(),
                    l.flavor.clone(),
                    l.zone.clone(),
                    l.pods.iter().map(|a| a.count).sum(),
                )
            })
            .collect()
    }

    fn l(pool: &str, flavor: &str, zone: &str, pods: u32) -> (String, String, String, u32) {
        (pool.into(), flavor.into(), zone.into(), pods)
    }

    #[test]
    fn guide_04_inflate_three_pods_on_one_b3_8() {
        let g = pod_group(1, "default/inflate", 3, 500, 512 * MIB);
        let d = select(&request(vec![g], vec![demo_pool()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-8", "eu-west-par-a", 3)]
        );
        assert!(d.unplaced.is_empty());
    }

    #[test]
    fn guide_06_small_workload_on_b3_8() {
        let g = on_pool(
            pod_group(1, "default/small-workload", 1, 500, GIB),
            "multi-flavor",
        );
        let d = select(&request(vec![g], vec![demo_pool(), multi_flavor()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("multi-flavor", "b3-8", "eu-west-par-a", 1)]
        );
    }

    #[test]
    fn guide_07_large_workload_on_b3_32() {
        let g = on_pool(
            pod_group(1, "default/large-workload", 1, 6000, 24 * GIB),
            "multi-flavor",
        );
        let d = select(&request(vec![g], vec![demo_pool(), multi_flavor()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("multi-flavor", "b3-32", "eu-west-par-a", 1)]
        );
    }

    #[test]
    fn guide_09_zone_spread_two_pods_per_zone() {
        let pool = nodepool(
            "multizone",
            vec![req(well_known::ZONE, Operator::In, &ZONES)],
        );
        let mut g = pod_group(1, "default/zone-spread", 6, 250, 256 * MIB);
        g.spreads.push(Spread {
            topology: Topology::Zone,
            max_skew: 1,
            min_domains: None,
        });
        let d = select(&request(vec![g], vec![pool])).unwrap();
        let per_zone: Vec<(String, u32)> = launches(&d)
            .into_iter()
            .map(|(_, _, zone, pods)| (zone, pods))
            .collect();
        assert_eq!(
            per_zone,
            vec![
                ("eu-west-par-a".to_string(), 2),
                ("eu-west-par-b".to_string(), 2),
                ("eu-west-par-c".to_string(), 2),
            ]
        );
        assert!(d.unplaced.is_empty());
    }

    #[test]
    fn zone_spread_counts_running_pods() {
        let mut g = pod_group(1, "default/spread", 3, 250, 256 * MIB);
        g.spreads.push(Spread {
            topology: Topology::Zone,
            max_skew: 1,
            min_domains: None,
        });
        g.zone_counts = vec![
            DomainCount {
                domain: "eu-west-par-a".into(),
                count: 2,
            },
            DomainCount {
                domain: "eu-west-par-b".into(),
                count: 1,
            },
        ];
        let d = select(&request(vec![g], vec![demo_pool()])).unwrap();
        // a:2 b:1 c:0 + 3 -> b:+1, c:+2 (2,2,2).
        assert_eq!(
            launches(&d),
            vec![
                l("demo-pool", "b3-8", "eu-west-par-b", 1),
                l("demo-pool", "b3-8", "eu-west-par-c", 2),
            ]
        );
    }

    #[test]
    fn zone_spread_counts_zones_it_cannot_launch_in() {
        let mut g = pod_group(1, "default/spread", 3, 250, 256 * MIB);
        g.spreads.push(Spread {
            topology: Topology::Zone,
            max_skew: 1,
            min_domains: None,
        });
        // Zones b and c hold nodes the pods may run on (full), the pool launches in a only.
        g.zone_counts = ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]
            .into_iter()
            .map(|z| DomainCount {
                domain: z.into(),
                count: 0,
            })
            .collect();
        let mut pool = demo_pool();
        pool.requirements
            .push(req(well_known::ZONE, Operator::In, &["eu-west-par-a"]));
        let d = select(&request(vec![g.clone()], vec![pool.clone()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-8", "eu-west-par-a", 1)]
        );
        assert_eq!(d.unplaced.len(), 1);
        assert_eq!(d.unplaced[0].count, 2);
        assert!(
            d.unplaced[0].reason.contains("maxSkew 1"),
            "{}",
            d.unplaced[0].reason
        );
        // A larger maxSkew lets two more in.
        g.spreads[0].max_skew = 3;
        let d = select(&request(vec![g], vec![pool])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-8", "eu-west-par-a", 3)]
        );
        assert!(d.unplaced.is_empty());
    }

    #[test]
    fn free_zone_is_the_least_used_one_not_always_a() {
        let g = pod_group(1, "default/inflate", 1, 500, 512 * MIB);
        let mut r = request(vec![g], vec![demo_pool()]);
        r.nodes = vec![
            node("n1", "demo-pool", "b3-8", "eu-west-par-a"),
            node("n2", "demo-pool", "b3-8", "eu-west-par-c"),
            node("n3", "other", "b3-8", "eu-west-par-b"),
        ];
        let d = select(&r).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-8", "eu-west-par-b", 1)]
        );
        // Many nodes at once are spread over the zones.
        let g = pod_group(1, "default/big", 3, 1500, GIB);
        let pool = nodepool("b3-8-only", vec![instance_types(&["b3-8"])]);
        let d = select(&request(vec![g], vec![pool])).unwrap();
        let zones: Vec<String> = d.launches.iter().map(|l| l.zone.clone()).collect();
        assert_eq!(zones, ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]);
    }

    #[test]
    fn unavailable_flavors_and_zones_are_skipped() {
        let g = pod_group(1, "default/inflate", 1, 500, 512 * MIB);
        let mut r = request(vec![g], vec![demo_pool()]);
        let b3_8 = r.flavors.iter_mut().find(|f| f.name == "b3-8").unwrap();
        b3_8.zones[0].available = false;
        let d = select(&r).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-8", "eu-west-par-b", 1)]
        );
        let b3_8 = r.flavors.iter_mut().find(|f| f.name == "b3-8").unwrap();
        b3_8.zones.iter_mut().for_each(|z| z.available = false);
        let d = select(&r).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-16", "eu-west-par-a", 1)]
        );
    }

    #[test]
    fn monthly_nodeclass_only_gen2() {
        let mut pool = nodepool("monthly", vec![]);
        pool.nodeclass.monthly_billed = true;
        let g = pod_group(1, "default/app", 1, 500, GIB);
        let d = select(&request(vec![g.clone()], vec![pool.clone()])).unwrap();
        let f = &d.launches[0].flavor;
        assert!(
            f.starts_with("b2-")
                || f.starts_with("c2-")
                || f.starts_with("r2-")
                || f.starts_with("d2-"),
            "{f}"
        );
        assert_eq!(f, "d2-2", "cheapest gen2 that fits 500m/1Gi");
        pool.requirements = vec![req(well_known::FLAVOR_FAMILY, Operator::In, &["b2"])];
        let d = select(&request(vec![g], vec![pool])).unwrap();
        assert_eq!(launches(&d), vec![l("monthly", "b2-7", "eu-west-par-a", 1)]);
        // A monthly pool restricted to gen3 can launch nothing.
        let mut pool = nodepool("monthly", vec![instance_types(&["b3-8"])]);
        pool.nodeclass.monthly_billed = true;
        let g = pod_group(1, "default/app", 1, 500, GIB);
        let d = select(&request(vec![g], vec![pool])).unwrap();
        assert!(d.launches.is_empty());
        assert!(
            d.unplaced[0].reason.contains("monthly"),
            "{}",
            d.unplaced[0].reason
        );
    }

    #[test]
    fn weights_taints_and_tolerations() {
        let mut cheap = nodepool("cheap", vec![]);
        cheap.taints.push(Taint {
            key: "dedicated".into(),
            value: "batch".into(),
            effect: TaintEffect::NoSchedule,
        });
        cheap.weight = 10;
        let mut preferred = demo_pool();
        preferred.weight = 50;
        let g = pod_group(1, "default/web", 1, 500, GIB);
        let d = select(&request(
            vec![g.clone()],
            vec![cheap.clone(), preferred.clone()],
        ))
        .unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-8", "eu-west-par-a", 1)]
        );
        // Tolerating the taint, the heavier-weighted cheap pool wins.
        let mut tolerant = g.clone();
        tolerant.tolerations.push(Toleration {
            key: Some("dedicated".into()),
            operator: TolerationOperator::Equal,
            value: "batch".into(),
            effect: None,
        });
        cheap.weight = 100;
        let d = select(&request(vec![tolerant], vec![cheap.clone(), preferred])).unwrap();
        assert_eq!(d.launches[0].nodepool, "cheap");
        assert_eq!(d.launches[0].flavor, "d2-2");
        // Nothing tolerated anywhere: unplaced, saying why.
        let d = select(&request(vec![g], vec![cheap])).unwrap();
        assert_eq!(d.unplaced.len(), 1);
        assert!(
            d.unplaced[0]
                .reason
                .contains("NodePool cheap: taint dedicated=batch:NoSchedule not tolerated"),
            "{}",
            d.unplaced[0].reason
        );
    }

    #[test]
    fn limits_and_node_counts() {
        let mut pool = demo_pool();
        pool.remaining = Some(Resources {
            cpu_millis: 4000,
            ..Resources::UNLIMITED
        });
        // 5 pods of 1.5 CPU: a b3-16 takes 2 of them (cheaper per pod than b3-8 with 1) and
        // uses the 4 CPU the pool has left.
        let g = pod_group(1, "default/cpu", 5, 1500, GIB);
        let d = select(&request(vec![g.clone()], vec![pool.clone()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-16", "eu-west-par-a", 2)]
        );
        assert_eq!(d.unplaced.len(), 1);
        assert_eq!(d.unplaced[0].count, 3);
        assert!(
            d.unplaced[0].reason.contains("limits reached"),
            "{}",
            d.unplaced[0].reason
        );

        pool.remaining = None;
        pool.remaining_nodes = Some(1);
        let d = select(&request(vec![g], vec![pool])).unwrap();
        assert_eq!(d.launches.len(), 1);
        assert_eq!(d.unplaced[0].count, 3, "a b3-16 takes 2 pods");
        assert!(
            d.unplaced[0].reason.contains("node limit"),
            "{}",
            d.unplaced[0].reason
        );
    }

    #[test]
    fn hostname_anti_affinity_one_pod_per_node() {
        let mut g = pod_group(1, "default/db", 3, 100, 128 * MIB);
        g.anti_affinity.push(Topology::Hostname);
        let other = pod_group(2, "default/web", 2, 100, 128 * MIB);
        let d = select(&request(vec![g, other], vec![demo_pool()])).unwrap();
        assert_eq!(d.launches.len(), 3);
        for launch in &d.launches {
            let db: u32 = launch
                .pods
                .iter()
                .filter(|a| a.group == 1)
                .map(|a| a.count)
                .sum();
            assert_eq!(db, 1);
        }
        // The other group fills the first node.
        assert_eq!(
            d.launches[0].pods,
            vec![
                Assignment { group: 1, count: 1 },
                Assignment { group: 2, count: 2 },
            ]
        );
    }

    #[test]
    fn hostname_affinity_all_on_one_node() {
        let mut g = pod_group(1, "default/tight", 6, 500, GIB);
        g.affinity.push(Topology::Hostname);
        let d = select(&request(vec![g.clone()], vec![multi_flavor()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("multi-flavor", "b3-16", "eu-west-par-a", 6)]
        );
        g.count = 100;
        let d = select(&request(vec![g], vec![multi_flavor()])).unwrap();
        assert!(d.launches.is_empty());
        assert!(
            d.unplaced[0].reason.contains("hostname affinity"),
            "{}",
            d.unplaced[0].reason
        );
    }

    #[test]
    fn zone_affinity_and_anti_affinity() {
        let mut g = pod_group(1, "default/cache", 2, 500, GIB);
        g.affinity.push(Topology::Zone);
        g.zone_counts.push(DomainCount {
            domain: "eu-west-par-c".into(),
            count: 1,
        });
        let d = select(&request(vec![g], vec![demo_pool()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-8", "eu-west-par-c", 2)]
        );

        let mut g = pod_group(2, "default/quorum", 4, 500, GIB);
        g.anti_affinity.push(Topology::Zone);
        g.zone_counts.push(DomainCount {
            domain: "eu-west-par-b".into(),
            count: 1,
        });
        let d = select(&request(vec![g], vec![demo_pool()])).unwrap();
        assert_eq!(
            launches(&d),
            vec![
                l("demo-pool", "b3-8", "eu-west-par-a", 1),
                l("demo-pool", "b3-8", "eu-west-par-c", 1),
            ]
        );
        assert_eq!(d.unplaced[0].count, 2);
        assert!(d.unplaced[0].reason.contains("zone anti-affinity"));
    }

    #[test]
    fn daemonset_overhead_counts() {
        let mut pool = demo_pool();
        pool.daemonset_overhead = Resources::cpu_memory(1500, GIB);
        let g = pod_group(1, "default/inflate", 1, 500, 512 * MIB);
        let d = select(&request(vec![g], vec![pool])).unwrap();
        assert_eq!(
            launches(&d),
            vec![l("demo-pool", "b3-16", "eu-west-par-a", 1)]
        );
    }

    #[test]
    fn too_big_or_unmatched_pods_are_unplaced_with_the_reason() {
        let g = pod_group(1, "default/huge", 2, 200_000, GIB);
        let d = select(&request(vec![g], vec![demo_pool()])).unwrap();
        assert!(d.launches.is_empty());
        assert_eq!(d.unplaced[0].count, 2);
        assert!(
            d.unplaced[0].reason.contains("exceeds the allocatable"),
            "{}",
            d.unplaced[0].reason
        );

        let g = on_pool(pod_group(1, "default/lost", 1, 100, GIB), "nowhere");
        let d = select(&request(vec![g], vec![demo_pool()])).unwrap();
        assert!(
            d.unplaced[0]
                .reason
                .contains("pod requirement karpenter.sh/nodepool In [nowhere]"),
            "{}",
            d.unplaced[0].reason
        );
        let g = pod_group(1, "default/x", 1, 100, GIB);
        let d = select(&request(vec![g], vec![])).unwrap();
        assert_eq!(
            d.unplaced[0].reason,
            "no NodePool is eligible for these pods"
        );
    }

    #[test]
    fn groups_share_new_nodes_and_every_pod_is_accounted_for() {
        let groups = vec![
            pod_group(1, "a", 7, 300, 300 * MIB),
            pod_group(2, "b", 5, 1200, 2 * GIB),
            pod_group(3, "c", 11, 100, 100 * MIB),
        ];
        let d = select(&request(groups.clone(), vec![multi_flavor()])).unwrap();
        assert!(d.unplaced.is_empty());
        for g in &groups {
            let n: u32 = d
                .launches
                .iter()
                .flat_map(|l| &l.pods)
                .filter(|a| a.group == g.id)
                .map(|a| a.count)
                .sum();
            assert_eq!(n, g.count, "group {}", g.name);
        }
        let cat = catalog();
        for launch in &d.launches {
            let f = cat.iter().find(|f| f.name == launch.flavor).unwrap();
            let used = launch.pods.iter().fold(Resources::ZERO, |acc, a| {
                let g = groups.iter().find(|g| g.id == a.group).unwrap();
                acc.saturating_add(&g.requests.saturating_mul(a.count))
            });
            assert!(used.fits(&f.allocatable), "{launch:?}");
        }
        // Deterministic.
        assert_eq!(d, select(&request(groups, vec![multi_flavor()])).unwrap());
    }

    #[test]
    fn config_is_validated() {
        let g = pod_group(1, "default/inflate", 1, 500, 512 * MIB);
        let mut r = request(vec![g], vec![multi_flavor()]);
        r.config = r#"{"maxFlavorsConsidered": 1}"#.into();
        assert_eq!(select(&r).unwrap().launches[0].flavor, "b3-8");
        r.config = r#"{"maxFlavorsConsidered": 0}"#.into();
        assert!(select(&r).unwrap_err().contains("at least 1"));
        r.config = r#"{"maxFlavors": 2}"#.into();
        assert!(select(&r).unwrap_err().contains("unknown field"));
        r.config = "not json".into();
        assert!(select(&r).is_err());
    }

    #[test]
    fn metadata_names_the_policy() {
        let m = metadata();
        assert_eq!(m.name, "default-flavor-selection");
        assert_eq!(m.version, env!("CARGO_PKG_VERSION"));
    }
}
