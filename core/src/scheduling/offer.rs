//! What new nodes can be: NodePools, flavors, the labels a new node gets, DaemonSet overhead.

use super::pod::PodSpec;
use super::requirements::{Labels, Operator, Requirement};
use super::resources::Resources;
use super::taints::{first_untolerated, Taint};
use super::wellknown;

/// The OVHNodeClass of a NodePool, as far as scheduling needs it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeClassSpec {
    /// Name.
    pub name: String,
    /// OVH region, e.g. `EU-WEST-PAR`.
    pub region: String,
    /// Monthly billing (gen2 flavors only).
    pub monthly_billed: bool,
    /// Anti-affinity pools (at most 5 nodes each).
    pub anti_affinity: bool,
}

/// A NodePool with what is left of its limits.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PoolSpec {
    /// Name.
    pub name: String,
    /// Higher is preferred.
    pub weight: u32,
    /// Template requirements every node of the pool satisfies.
    pub requirements: Vec<Requirement>,
    /// Template labels.
    pub labels: Labels,
    /// Template taints (startup taints excluded: they do not block pods).
    pub taints: Vec<Taint>,
    /// Capacity the pool may still add (`spec.limits` minus what it has); None = unlimited.
    pub remaining: Option<Resources>,
    /// Nodes the pool may still add; None = unlimited.
    pub remaining_nodes: Option<u32>,
    /// Karpenter's `minValues` of its requirements: (label key, least number of distinct
    /// values the flavors a NodeClaim allows must span).
    pub min_values: Vec<(String, u32)>,
    /// Its OVHNodeClass.
    pub nodeclass: NodeClassSpec,
}

/// The `minValues` a NodePool puts on `key`, from its `(key, minValues)` list
/// ([`PoolSpec::min_values`], carried as such onto NodeClaim specs).
pub fn min_values_of(min_values: &[(String, u32)], key: &str) -> Option<u32> {
    min_values.iter().find(|(k, _)| k == key).map(|(_, n)| *n)
}

/// One flavor of the catalog.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FlavorSpec {
    /// Name, e.g. `b3-8`.
    pub name: String,
    /// Family, e.g. `b3`.
    pub family: String,
    /// Generation: 2 or 3.
    pub generation: u32,
    /// Category label value, e.g. `general-purpose`.
    pub category: String,
    /// Raw size.
    pub capacity: Resources,
    /// What pods can use.
    pub allocatable: Resources,
    /// EUR per hour.
    pub hourly_price: f64,
    /// EUR per month (gen2).
    pub monthly_price: Option<f64>,
    /// Zones where it is offered, with availability.
    pub zones: Vec<(String, bool)>,
}

impl FlavorSpec {
    /// Whether the flavor is offered and available in the zone.
    pub fn available_in(&self, zone: &str) -> bool {
        self.zones.iter().any(|(z, ok)| z == zone && *ok)
    }
}

/// The labels a new node of `pool` with `flavor` in `zone` carries: well-known labels, the
/// pool's template labels, and for every other key the pool constrains with `In`, a value
/// allowed by the pool and by every pod going there (as Karpenter narrows NodeClaim
/// requirements). Keys no pod and no pool pins stay unset.
pub fn new_node_labels<'a>(
    pool: &PoolSpec,
    flavor: &FlavorSpec,
    zone: &str,
    hostname: &str,
    pods: impl IntoIterator<Item = &'a PodSpec> + Clone,
) -> Labels {
    let mut labels = Labels::new();
    let mut set = |k: &str, v: &str| {
        labels.insert(k.to_string(), v.to_string());
    };
    set(wellknown::INSTANCE_TYPE, &flavor.name);
    set(wellknown::ZONE, zone);
    set(wellknown::REGION, &pool.nodeclass.region);
    set(wellknown::HOSTNAME, hostname);
    set(wellknown::NODEPOOL, &pool.name);
    set(wellknown::CAPACITY_TYPE, wellknown::ON_DEMAND);
    set(wellknown::FLAVOR_FAMILY, &flavor.family);
    set(wellknown::FLAVOR_GENERATION, &flavor.generation.to_string());
    set(wellknown::FLAVOR_CATEGORY, &flavor.category);
    set(wellknown::ARCH, "amd64");
    set(wellknown::OS, "linux");
    for (k, v) in &pool.labels {
        labels.entry(k.clone()).or_insert_with(|| v.clone());
    }
    // Custom keys: candidate values from the pool's `In` requirements, else from the pods'.
    let pinned = pool
        .requirements
        .iter()
        .chain(pods.clone().into_iter().flat_map(|p| p.node_requirements()))
        .filter(|r| r.operator == Operator::In && !labels.contains_key(&r.key))
        .map(|r| r.key.clone())
        .collect::<Vec<_>>();
    for key in pinned {
        if labels.contains_key(&key) {
            continue;
        }
        let constraints = pool
            .requirements
            .iter()
            .chain(pods.clone().into_iter().flat_map(|p| p.node_requirements()))
            .filter(|r| r.key == key)
            .collect::<Vec<_>>();
        let values = || {
            constraints
                .iter()
                .filter(|r| r.operator == Operator::In)
                .flat_map(|r| r.values.iter())
        };
        // A value every constraint allows; else one the pool allows (the pods then fail on it).
        let candidate = values()
            .find(|v| constraints.iter().all(|r| r.allows(Some(v))))
            .or_else(|| {
                let pool_keys = pool.requirements.iter().filter(|r| r.key == key);
                let pool_keys: Vec<_> = pool_keys.collect();
                values()
                    .find(|v| !pool_keys.is_empty() && pool_keys.iter().all(|r| r.allows(Some(v))))
            });
        if let Some(value) = candidate {
            labels.insert(key, value.clone());
        }
    }
    labels
}

/// The DaemonSet pods that would run on a node with these labels and taints.
pub fn daemonsets_on<'a, 'l>(
    daemonsets: impl IntoIterator<Item = &'a PodSpec> + 'l,
    labels: &'l Labels,
    taints: &'l [Taint],
) -> impl Iterator<Item = &'a PodSpec> + 'l {
    daemonsets.into_iter().filter(move |ds| {
        ds.unmet_requirement(labels).is_none()
            && first_untolerated(taints, &ds.tolerations).is_none()
    })
}

/// Requests of the DaemonSet pods that would run on a node with these labels and taints.
pub fn daemonset_overhead<'a>(
    daemonsets: impl IntoIterator<Item = &'a PodSpec>,
    labels: &Labels,
    taints: &[Taint],
) -> Resources {
    daemonsets_on(daemonsets, labels, taints)
        .fold(Resources::default(), |sum, ds| sum + ds.requests)
}

/// Host ports the DaemonSet pods that would run on a node with these labels and taints hold
/// there (a node-exporter's 9100, an ingress controller's 80 and 443).
pub fn daemonset_ports<'a>(
    daemonsets: impl IntoIterator<Item = &'a PodSpec>,
    labels: &Labels,
    taints: &[Taint],
) -> Vec<super::HostPort> {
    daemonsets_on(daemonsets, labels, taints)
        .flat_map(|ds| ds.host_ports.iter().cloned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolSpec {
        PoolSpec {
            name: "p".into(),
            requirements: vec![
                Requirement::new("team", Operator::In, &["a", "b"]),
                Requirement::new(wellknown::INSTANCE_TYPE, Operator::In, &["b3-8"]),
            ],
            labels: [("tier".to_string(), "web".to_string())].into(),
            nodeclass: NodeClassSpec {
                region: "EU-WEST-PAR".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn flavor() -> FlavorSpec {
        FlavorSpec {
            name: "b3-8".into(),
            family: "b3".into(),
            generation: 3,
            category: "general-purpose".into(),
            ..Default::default()
        }
    }

    #[test]
    fn labels_narrow_custom_keys_to_what_pods_need() {
        let pod = PodSpec {
            requirements: vec![Requirement::new("team", Operator::In, &["b", "c"])],
            ..Default::default()
        };
        let labels = new_node_labels(&pool(), &flavor(), "eu-west-par-a", "n1", [&pod]);
        assert_eq!(labels["team"], "b");
        assert_eq!(labels["tier"], "web");
        assert_eq!(labels[wellknown::INSTANCE_TYPE], "b3-8");
        assert_eq!(labels[wellknown::FLAVOR_GENERATION], "3");
        assert_eq!(labels[wellknown::ZONE], "eu-west-par-a");
        let none: [&PodSpec; 0] = [];
        assert_eq!(
            new_node_labels(&pool(), &flavor(), "z", "n1", none)["team"],
            "a"
        );
    }

    #[test]
    fn overhead_counts_only_daemonsets_that_land() {
        let everywhere = PodSpec {
            requests: Resources::pod(100, 1 << 20),
            ..Default::default()
        };
        let gpu_only = PodSpec {
            requests: Resources::pod(1000, 1 << 30),
            requirements: vec![Requirement::new("gpu", Operator::Exists, &[])],
            ..Default::default()
        };
        let labels = new_node_labels(&pool(), &flavor(), "z", "n", [&everywhere]);
        let overhead = daemonset_overhead([&everywhere, &gpu_only], &labels, &[]);
        assert_eq!(overhead, everywhere.requests);
    }
}
