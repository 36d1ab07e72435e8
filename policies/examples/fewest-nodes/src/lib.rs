//! Example custom flavor-selection policy: **fewest nodes**.
//!
//! Same packing rules as the default (requirements, taints, limits, zones, affinity: see
//! [`karpenter_ovhcloud_policy_sdk::packing`]), but each new node is the flavor that takes the
//! most of the pending pods, so a burst lands on a few large nodes instead of many small
//! ones; among flavors that take the same number of pods the cheapest wins, so a single
//! small pod still gets a small node.
//!
//! Config (`data.config.json`, optional): `{"maxNodeCpu": 16000}` caps the flavors
//! considered at that many millicores of capacity (default: no cap).

use karpenter_ovhcloud_policy_sdk::packing::{self, NewNode, Options, Score};
use karpenter_ovhcloud_policy_sdk::types::{
    PolicyMetadata, ProvisioningDecision, ProvisioningRequest,
};
use karpenter_ovhcloud_policy_sdk::{config, export_flavor_selection, FlavorSelection};

/// The policy's configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Largest flavor CPU capacity considered, in millicores.
    pub max_node_cpu: Option<u64>,
}

impl Config {
    /// Reads `{"maxNodeCpu": N}` ("" is the default); unknown fields are refused.
    pub fn parse(text: &str) -> Result<Config, String> {
        let mut c = config::Config::parse(text)?;
        let cfg = Config {
            max_node_cpu: c.u64("maxNodeCpu")?,
        };
        c.finish()?;
        Ok(cfg)
    }
}

/// More pods per node is better; flavors above the CPU cap are never chosen.
struct FewestNodes {
    max_node_cpu: Option<u64>,
}

impl Score for FewestNodes {
    fn score(&self, node: &NewNode<'_>) -> f64 {
        if self
            .max_node_cpu
            .is_some_and(|max| node.flavor.capacity.cpu_millis > max)
        {
            return f64::INFINITY;
        }
        -f64::from(node.pods)
    }
}

/// The policy, natively.
pub fn select(request: &ProvisioningRequest) -> Result<ProvisioningDecision, String> {
    let cfg = Config::parse(&request.config)?;
    let score = FewestNodes {
        max_node_cpu: cfg.max_node_cpu,
    };
    let mut decision = packing::select(request, &score, &Options::default());
    // A flavor over the cap only wins when nothing else can take the pods: refuse it.
    if let Some(max) = cfg.max_node_cpu {
        let too_big = |flavor: &str| {
            request
                .flavors
                .iter()
                .any(|f| f.name == flavor && f.capacity.cpu_millis > max)
        };
        if decision.launches.iter().any(|l| too_big(&l.flavor)) {
            decision.launches.retain(|l| !too_big(&l.flavor));
            return Err(format!(
                "some pods need a node larger than maxNodeCpu {max}m; refusing so the host falls back"
            ));
        }
    }
    Ok(decision)
}

/// The component's export.
pub struct FewestNodesPolicy;

impl FlavorSelection for FewestNodesPolicy {
    fn metadata() -> PolicyMetadata {
        PolicyMetadata {
            name: "example-fewest-nodes".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Packs pending pods onto as few nodes as possible".into(),
        }
    }

    fn select(request: ProvisioningRequest) -> Result<ProvisioningDecision, String> {
        select(&request)
    }
}

export_flavor_selection!(FewestNodesPolicy);

#[cfg(test)]
mod tests {
    use super::*;
    use karpenter_ovhcloud_policy_sdk::resources::MIB;
    use karpenter_ovhcloud_policy_sdk::testing::{catalog, instance_types, nodepool, pod_group};

    fn request(count: u32, config: &str) -> ProvisioningRequest {
        ProvisioningRequest {
            pod_groups: vec![pod_group(1, "default/inflate", count, 500, 512 * MIB)],
            flavors: catalog(),
            nodepools: vec![nodepool(
                "multi-flavor",
                vec![instance_types(&["b3-8", "b3-16", "b3-32", "b3-64"])],
            )],
            nodes: vec![],
            config: config.into(),
        }
    }

    #[test]
    fn a_burst_lands_on_few_large_nodes() {
        let d = select(&request(40, "")).unwrap();
        // b3-64: 14.4 CPU allocatable -> 28 pods; the last 12 fit a b3-32 (7.2 CPU, 14 pods).
        let flavors: Vec<&str> = d.launches.iter().map(|l| l.flavor.as_str()).collect();
        assert_eq!(flavors, ["b3-64", "b3-32"]);
        assert!(d.unplaced.is_empty());
    }

    #[test]
    fn a_single_pod_still_gets_a_small_node() {
        let d = select(&request(1, "")).unwrap();
        assert_eq!(d.launches[0].flavor, "b3-8");
    }

    #[test]
    fn cpu_cap_and_config_errors() {
        let d = select(&request(40, r#"{"maxNodeCpu": 8000}"#)).unwrap();
        assert!(d.launches.iter().all(|l| l.flavor == "b3-32"), "{d:?}");
        assert_eq!(d.launches.len(), 3);
        assert!(select(&request(1, r#"{"maxNodes": 1}"#)).is_err());
    }
}
