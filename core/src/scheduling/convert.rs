//! Conversions from Kubernetes objects (k8s-openapi) into the scheduling core types: the only
//! place the core meets the Kubernetes API.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1 as meta;

use super::pod::{
    AffinityTerm, HostPort, NodeState, PodSpec, Preferences, SimNode, Spread, Topology, Weighted,
};
use super::requirements::{LabelSelector, Labels, Operator, Requirement};
use super::resources::Resources;
use super::taints::{Taint, TaintEffect, Toleration};
use crate::api::quantity::{self, QuantityError};

/// Resource name of GPUs on MKS GPU nodes.
pub const GPU_RESOURCE: &str = "nvidia.com/gpu";

/// Reads a Kubernetes resource list (`cpu`, `memory`, `ephemeral-storage`, `nvidia.com/gpu`,
/// `pods`) with `read` deciding what a malformed quantity becomes. Missing or negative: 0.
fn read_resource_list<E>(
    list: &BTreeMap<String, Quantity>,
    read: impl Fn(&Quantity, fn(&Quantity) -> Result<i64, QuantityError>) -> Result<i64, E>,
) -> Result<Resources, E> {
    let get = |name: &str, unit: fn(&Quantity) -> Result<i64, QuantityError>| {
        list.get(name)
            .map(|q| read(q, unit))
            .transpose()
            .map(|v| v.unwrap_or(0).max(0) as u64)
    };
    Ok(Resources {
        cpu_millis: get("cpu", quantity::cpu_millis)?,
        memory_bytes: get("memory", quantity::units)?,
        ephemeral_storage_bytes: get("ephemeral-storage", quantity::units)?,
        gpu: u32::try_from(get(GPU_RESOURCE, quantity::units)?).unwrap_or(u32::MAX),
        pods: u32::try_from(get("pods", quantity::units)?).unwrap_or(u32::MAX),
    })
}

/// Resource names the scheduling core counts itself; any other one a pod requests is an
/// extended resource ([`extended`]).
const COUNTED: &[&str] = &["cpu", "memory", "ephemeral-storage", "pods", GPU_RESOURCE];

/// The extended resources of a resource list with a quantity above zero, by name, sorted.
pub fn extended(list: &BTreeMap<String, Quantity>) -> Vec<String> {
    let mut names: Vec<String> = list
        .iter()
        .filter(|(name, q)| {
            !COUNTED.contains(&name.as_str()) && quantity::units(q).is_ok_and(|n| n > 0)
        })
        .map(|(name, _)| name.clone())
        .collect();
    names.sort();
    names
}

/// Resources of a Kubernetes resource list; malformed quantities count as zero (the API server
/// has validated what it stores, so this only shields against hand-made objects).
pub fn resources(list: &BTreeMap<String, Quantity>) -> Resources {
    let lossy = |q: &Quantity, unit: fn(&Quantity) -> Result<i64, QuantityError>| {
        Ok::<_, std::convert::Infallible>(unit(q).unwrap_or(0))
    };
    match read_resource_list(list, lossy) {
        Ok(r) => r,
        Err(never) => match never {},
    }
}

/// Resources of a Kubernetes resource list (e.g. a node's `status.allocatable`); the first
/// malformed quantity is an error.
pub fn try_resources(list: &BTreeMap<String, Quantity>) -> Result<Resources, QuantityError> {
    read_resource_list(list, |q, unit| unit(q))
}

/// A Kubernetes resource list of `r` (GPUs only when there are some).
pub fn resource_list(r: &Resources) -> BTreeMap<String, Quantity> {
    let mut list = BTreeMap::from([
        ("cpu".to_owned(), quantity::from_cpu_millis(r.cpu_millis)),
        ("memory".to_owned(), quantity::from_bytes(r.memory_bytes)),
        (
            "ephemeral-storage".to_owned(),
            quantity::from_bytes(r.ephemeral_storage_bytes),
        ),
        ("pods".to_owned(), Quantity(r.pods.to_string())),
    ]);
    if r.gpu > 0 {
        list.insert(GPU_RESOURCE.to_owned(), Quantity(r.gpu.to_string()));
    }
    list
}

/// A container's effective requests: requests, else limits (as the API server defaults them).
fn container_requests(c: &core::Container) -> Resources {
    let Some(r) = &c.resources else {
        return Resources::default();
    };
    let mut list = r.limits.clone().unwrap_or_default();
    list.extend(r.requests.clone().unwrap_or_default());
    resources(&list)
}

/// The host ports a pod's containers claim (kube-scheduler reads the containers' ports).
fn host_ports(spec: &core::PodSpec) -> Vec<HostPort> {
    let mut ports: Vec<HostPort> = spec
        .containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| {
            Some(HostPort {
                ip: p
                    .host_ip
                    .clone()
                    .filter(|ip| !ip.is_empty())
                    .unwrap_or_else(|| "0.0.0.0".into()),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                port: u16::try_from(p.host_port?).ok().filter(|p| *p > 0)?,
            })
        })
        .collect();
    ports.sort();
    ports
}

/// A container's limits.
fn container_limits(c: &core::Container) -> Resources {
    c.resources
        .as_ref()
        .and_then(|r| r.limits.as_ref())
        .map(resources)
        .unwrap_or_default()
}

/// The larger of the sum of a pod's containers and its largest init container, plus pod
/// overhead, of what `of` reads from each container (Kubernetes' effective pod resources).
fn pod_total(spec: &core::PodSpec, of: fn(&core::Container) -> Resources) -> Resources {
    let sum = spec
        .containers
        .iter()
        .fold(Resources::default(), |s, c| s + of(c));
    let init = spec
        .init_containers
        .iter()
        .flatten()
        .fold(Resources::default(), |m, c| m.max_each(&of(c)));
    let overhead = spec.overhead.as_ref().map(resources).unwrap_or_default();
    sum.max_each(&init) + overhead
}

/// A pod's requests as the kube-scheduler counts them: the larger of the sum of its containers
/// and its largest init container, plus pod overhead, with one pod slot.
pub fn pod_requests(spec: &core::PodSpec) -> Resources {
    let mut total = pod_total(spec, container_requests);
    total.pods = 1;
    total
}

/// A pod's limits, counted as its requests are (upstream's `resources.Limits`; a resource
/// without a limit counts 0).
pub fn pod_limits(spec: &core::PodSpec) -> Resources {
    pod_total(spec, container_limits)
}

fn requirement(key: &str, operator: &str, values: Option<&Vec<String>>) -> Requirement {
    Requirement {
        key: key.to_string(),
        // An unknown operator matches nothing, like an `In` without values.
        operator: Operator::parse(operator).unwrap_or(Operator::In),
        values: if Operator::parse(operator).is_some() {
            values.cloned().unwrap_or_default()
        } else {
            Vec::new()
        },
    }
}

/// A label selector; None (absent) selects nothing, as in pod affinity terms.
pub fn selector(sel: Option<&meta::LabelSelector>) -> LabelSelector {
    let Some(sel) = sel else {
        return LabelSelector {
            expressions: vec![Requirement::new("", Operator::In, &[])],
        };
    };
    let mut expressions: Vec<Requirement> = sel
        .match_labels
        .iter()
        .flatten()
        .map(|(k, v)| Requirement::new(k, Operator::In, &[v]))
        .chain(
            sel.match_expressions
                .iter()
                .flatten()
                .map(|e| requirement(&e.key, &e.operator, e.values.as_ref())),
        )
        .collect();
    expressions.sort();
    LabelSelector { expressions }
}

fn affinity_term(t: &core::PodAffinityTerm) -> Option<AffinityTerm> {
    Some(AffinityTerm {
        topology: Topology::from_key(&t.topology_key)?,
        selector: selector(t.label_selector.as_ref()),
        namespaces: t.namespaces.clone().unwrap_or_default(),
    })
}

fn affinity_terms(terms: Option<&Vec<core::PodAffinityTerm>>) -> Vec<AffinityTerm> {
    terms
        .into_iter()
        .flatten()
        .filter_map(affinity_term)
        .collect()
}

/// Weighted terms, heaviest first (a stable sort, as upstream's relaxation order).
fn heaviest_first<T>(mut terms: Vec<Weighted<T>>) -> Vec<Weighted<T>> {
    terms.sort_by_key(|w| std::cmp::Reverse(w.weight));
    terms
}

fn weighted_affinity_terms(
    terms: Option<&Vec<core::WeightedPodAffinityTerm>>,
) -> Vec<Weighted<AffinityTerm>> {
    heaviest_first(
        terms
            .into_iter()
            .flatten()
            .filter_map(|t| {
                Some(Weighted {
                    weight: t.weight,
                    term: affinity_term(&t.pod_affinity_term)?,
                })
            })
            .collect(),
    )
}

fn node_selector_term(term: &core::NodeSelectorTerm) -> Vec<Requirement> {
    term.match_expressions
        .iter()
        .flatten()
        .map(|e| requirement(&e.key, &e.operator, e.values.as_ref()))
        .collect()
}

/// A topology spread constraint of a pod labelled `labels`: `matchLabelKeys` add the pod's
/// own values of those keys to the selector, as kube-scheduler does.
fn spread(c: &core::TopologySpreadConstraint, labels: &Labels) -> Option<Spread> {
    let mut selector = selector(c.label_selector.as_ref());
    let own = c.match_label_keys.iter().flatten().filter_map(|k| {
        labels
            .get(k)
            .map(|v| Requirement::new(k, Operator::In, &[v.as_str()]))
    });
    selector.expressions.extend(own);
    selector.expressions.sort();
    selector.expressions.dedup();
    Some(Spread {
        topology: Topology::from_key(&c.topology_key)?,
        max_skew: u32::try_from(c.max_skew).unwrap_or(1).max(1),
        selector,
        min_domains: c
            .min_domains
            .and_then(|n| u32::try_from(n).ok())
            .filter(|n| *n > 1),
        honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
        honor_node_taints: c.node_taints_policy.as_deref() == Some("Honor"),
    })
}

/// A pod's soft constraints: preferred node and pod (anti-)affinity, `ScheduleAnyway` spreads.
fn preferences(spec: &core::PodSpec, labels: &Labels) -> Preferences {
    let affinity = spec.affinity.as_ref();
    Preferences {
        node_affinity: heaviest_first(
            affinity
                .and_then(|a| a.node_affinity.as_ref())
                .and_then(|n| {
                    n.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                })
                .into_iter()
                .flatten()
                .map(|t| Weighted {
                    weight: t.weight,
                    term: node_selector_term(&t.preference),
                })
                .filter(|w| !w.term.is_empty())
                .collect(),
        ),
        pod_affinity: weighted_affinity_terms(
            affinity
                .and_then(|a| a.pod_affinity.as_ref())
                .and_then(|p| {
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
        ),
        pod_anti_affinity: weighted_affinity_terms(
            affinity
                .and_then(|a| a.pod_anti_affinity.as_ref())
                .and_then(|p| {
                    p.preferred_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
        ),
        spreads: spec
            .topology_spread_constraints
            .iter()
            .flatten()
            .filter(|c| c.when_unsatisfiable == "ScheduleAnyway")
            .filter_map(|c| spread(c, labels))
            .collect(),
    }
}

/// The taint effect, None for an unknown one.
fn effect(text: &str) -> Option<TaintEffect> {
    TaintEffect::parse(text)
}

/// A node taint.
pub fn taint(t: &core::Taint) -> Option<Taint> {
    Some(Taint {
        key: t.key.clone(),
        value: t.value.clone().unwrap_or_default(),
        effect: effect(&t.effect)?,
    })
}

/// The scheduling view of a pod spec in a namespace, with labels and an owner name.
pub fn pod_spec(namespace: &str, owner: &str, labels: &Labels, spec: &core::PodSpec) -> PodSpec {
    let mut requirements: Vec<Requirement> = spec
        .node_selector
        .iter()
        .flatten()
        .map(|(k, v)| Requirement::new(k, Operator::In, &[v]))
        .collect();
    let affinity = spec.affinity.as_ref();
    let mut alternatives: Vec<Vec<Requirement>> = affinity
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|n| {
            n.required_during_scheduling_ignored_during_execution
                .as_ref()
        })
        .map(|sel| {
            sel.node_selector_terms
                .iter()
                .map(node_selector_term)
                .collect()
        })
        .unwrap_or_default();
    if alternatives.len() == 1 {
        requirements.extend(alternatives.pop().unwrap_or_default());
    }
    requirements.sort();
    let tolerations = spec
        .tolerations
        .iter()
        .flatten()
        .map(|t| Toleration {
            key: t.key.clone().filter(|k| !k.is_empty()),
            exists: t.operator.as_deref() == Some("Exists"),
            value: t.value.clone().unwrap_or_default(),
            effect: t.effect.as_deref().and_then(effect),
        })
        .collect();
    let spreads = spec
        .topology_spread_constraints
        .iter()
        .flatten()
        .filter(|c| c.when_unsatisfiable == "DoNotSchedule")
        .filter_map(|c| spread(c, labels))
        .collect();
    let required = |terms: Option<&Vec<core::PodAffinityTerm>>| affinity_terms(terms);
    PodSpec {
        owner: owner.to_string(),
        namespace: namespace.to_string(),
        labels: labels.clone(),
        requests: pod_requests(spec),
        requirements,
        alternatives,
        tolerations,
        spreads,
        affinity: required(
            affinity
                .and_then(|a| a.pod_affinity.as_ref())
                .and_then(|p| {
                    p.required_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
        ),
        anti_affinity: required(
            affinity
                .and_then(|a| a.pod_anti_affinity.as_ref())
                .and_then(|p| {
                    p.required_during_scheduling_ignored_during_execution
                        .as_ref()
                }),
        ),
        priority: spec.priority.unwrap_or(0),
        host_ports: host_ports(spec),
        deletion_cost: 0,
        held_anti_affinity: Vec::new(),
        preferences: preferences(spec, labels),
        extended: {
            let mut names: Vec<String> = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .filter_map(|c| c.resources.as_ref())
                .flat_map(|r| {
                    [r.requests.as_ref(), r.limits.as_ref()]
                        .into_iter()
                        .flatten()
                        .flat_map(extended)
                })
                .collect();
            names.sort();
            names.dedup();
            names
        },
    }
}

/// The owner name of an object: `namespace/first-owner-name`, else `namespace/name`.
pub fn owner(meta: &meta::ObjectMeta) -> String {
    let ns = meta.namespace.as_deref().unwrap_or("default");
    let name = meta
        .owner_references
        .iter()
        .flatten()
        .next()
        .map(|o| o.name.as_str())
        .or(meta.name.as_deref())
        .unwrap_or("");
    format!("{ns}/{name}")
}

/// The scheduling view of a pod.
pub fn pod(pod: &core::Pod) -> PodSpec {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("default");
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let mut view = pod_spec(ns, &owner(&pod.metadata), &labels, &spec);
    view.deletion_cost = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(karpenter_ovhcloud_contract::balanced::POD_DELETION_COST))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    view
}

/// The taint of a node whose kubelet stopped reporting.
pub const UNREACHABLE_TAINT: &str = "node.kubernetes.io/unreachable";

/// Taints a joining node sheds on its own (the unreachable one is read as a lost node by
/// [`node`], not as a taint).
pub const EPHEMERAL_TAINTS: &[&str] = &[
    crate::api::labels::UNREGISTERED_TAINT,
    "node.kubernetes.io/not-ready",
    UNREACHABLE_TAINT,
    "node.cloudprovider.kubernetes.io/uninitialized",
];

/// The scheduling view of a node (requested left at zero: the cluster model sums its pods).
pub fn node(node: &core::Node) -> SimNode {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let spec = node.spec.clone().unwrap_or_default();
    let status = node.status.clone().unwrap_or_default();
    let ready = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Ready")
        .map(|c| c.status.as_str());
    // A node still joining (never Ready yet, its startup taints) stays room: it is where the
    // pods it was launched for go. One that was Ready and lost it is not: its kubelet stopped
    // reporting (Unknown, the unreachable taint) or says NotReady after initialization.
    let lost_ready = ready == Some("Unknown")
        || spec
            .taints
            .iter()
            .flatten()
            .any(|t| t.key == UNREACHABLE_TAINT)
        || (ready == Some("False")
            && labels
                .get(crate::api::labels::INITIALIZED)
                .map(String::as_str)
                == Some("true"));
    let state = if node.metadata.deletion_timestamp.is_some() {
        NodeState::Deleting
    } else if lost_ready {
        NodeState::Unhealthy
    } else if ready == Some("True") {
        NodeState::Ready
    } else {
        NodeState::Launching
    };
    SimNode {
        name: node.metadata.name.clone().unwrap_or_default(),
        nodepool: labels.get(super::wellknown::NODEPOOL).cloned(),
        labels,
        // Taints a joining node sheds by itself (upstream's known ephemeral taints, and the
        // unregistered taint the controller removes as it registers the node): pods count on
        // the node all the same, else a joining node looks full and a second NodeClaim is
        // launched for the same pods.
        taints: spec
            .taints
            .iter()
            .flatten()
            .filter(|t| !EPHEMERAL_TAINTS.contains(&t.key.as_str()))
            .filter_map(taint)
            .collect(),
        allocatable: status
            .allocatable
            .as_ref()
            .map(resources)
            .unwrap_or_default(),
        requested: Resources::default(),
        nodeclaim: None,
        state,
        unschedulable: spec.unschedulable.unwrap_or(false),
        extended: status
            .allocatable
            .as_ref()
            .map(extended)
            .unwrap_or_default(),
    }
}

/// A NodePool requirement (or a NodeClaim's).
pub fn nodepool_requirement(r: &crate::api::NodeSelectorRequirementWithMinValues) -> Requirement {
    Requirement {
        key: r.key.clone(),
        operator: r.contract_operator(),
        values: r.values.clone(),
    }
}

/// What a NodePool's `spec.limits` still allows once `used` is provisioned: (resources, nodes).
/// A resource the limits do not name is unlimited; no limits at all is `(None, None)`.
pub fn remaining_limits(
    limits: &BTreeMap<String, Quantity>,
    used: Resources,
    used_nodes: u32,
) -> (Option<Resources>, Option<u32>) {
    let named = |k: &str| limits.contains_key(k);
    let have = resources(limits);
    let cap = |k: &str, v: u64| if named(k) { v } else { u64::MAX };
    let any = [
        "cpu",
        "memory",
        "ephemeral-storage",
        "nvidia.com/gpu",
        "pods",
    ]
    .iter()
    .any(|k| named(k));
    let remaining = any.then(|| {
        Resources {
            cpu_millis: cap("cpu", have.cpu_millis),
            memory_bytes: cap("memory", have.memory_bytes),
            ephemeral_storage_bytes: cap("ephemeral-storage", have.ephemeral_storage_bytes),
            gpu: u32::try_from(cap("nvidia.com/gpu", have.gpu.into())).unwrap_or(u32::MAX),
            pods: u32::try_from(cap("pods", have.pods.into())).unwrap_or(u32::MAX),
        }
        .saturating_sub(&used)
    });
    let nodes = limits
        .get("nodes")
        .and_then(|q| quantity::units(q).ok())
        .map(|n| {
            u32::try_from(n.max(0))
                .unwrap_or(u32::MAX)
                .saturating_sub(used_nodes)
        });
    (remaining, nodes)
}

/// The scheduling view of a NodePool with its OVHNodeClass and what its NodeClaims use.
pub fn nodepool(
    pool: &crate::api::NodePool,
    class: super::offer::NodeClassSpec,
    used: Resources,
    used_nodes: u32,
) -> super::offer::PoolSpec {
    let template = &pool.spec.template;
    let (remaining, remaining_nodes) = remaining_limits(&pool.spec.limits, used, used_nodes);
    super::offer::PoolSpec {
        name: pool.metadata.name.clone().unwrap_or_default(),
        weight: u32::try_from(pool.weight()).unwrap_or(0),
        requirements: template
            .spec
            .requirements
            .iter()
            .map(nodepool_requirement)
            .collect(),
        labels: template.metadata.labels.clone().into_iter().collect(),
        taints: template.spec.taints.iter().filter_map(taint).collect(),
        remaining,
        remaining_nodes,
        min_values: template
            .spec
            .requirements
            .iter()
            .filter_map(|r| Some((r.key.clone(), u32::try_from(r.min_values?).ok()?)))
            // A NodeClaim's zone is one zone (the OVH pool it joins): minValues on it cannot
            // be met by a single node and is left out.
            .filter(|(key, n)| *n > 1 && key != super::wellknown::ZONE)
            .collect(),
        nodeclass: class,
    }
}

/// A NodeClaim not registered yet, as the node it will become: named after its Node when
/// known, else after itself, with its labels and taints; `allocatable` is the flavor's
/// estimate when the NodeClaim's status has none, `overhead` its DaemonSet pods.
pub fn nodeclaim_node(
    claim: &crate::api::NodeClaim,
    allocatable: Resources,
    overhead: Resources,
) -> SimNode {
    let status = claim.status.clone().unwrap_or_default();
    let name = if status.node_name.is_empty() {
        claim.metadata.name.clone().unwrap_or_default()
    } else {
        status.node_name.clone()
    };
    let labels: Labels = claim
        .metadata
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .collect();
    let reported = resources(&status.allocatable);
    SimNode {
        name,
        nodepool: labels.get(super::wellknown::NODEPOOL).cloned(),
        labels,
        taints: claim.spec.taints.iter().filter_map(taint).collect(),
        allocatable: if status.allocatable.is_empty() {
            allocatable
        } else {
            reported
        },
        requested: overhead,
        nodeclaim: claim.metadata.name.clone(),
        state: if claim.metadata.deletion_timestamp.is_some() {
            NodeState::Deleting
        } else {
            NodeState::Launching
        },
        unschedulable: false,
        extended: extended(&status.allocatable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nodepool_limits_leave_unnamed_resources_unlimited() {
        let limits: BTreeMap<String, Quantity> = [
            ("cpu".to_string(), Quantity("100".into())),
            ("nodes".to_string(), Quantity("3".into())),
        ]
        .into();
        let used = Resources::pod(98_000, 1 << 40);
        let (left, nodes) = remaining_limits(&limits, used, 1);
        let left = left.unwrap();
        assert_eq!(left.cpu_millis, 2_000);
        assert_eq!(left.memory_bytes, u64::MAX - (1 << 40));
        assert_eq!(nodes, Some(2));
        assert_eq!(
            remaining_limits(&BTreeMap::new(), used, 9),
            (None, None),
            "no limits at all"
        );
    }

    #[test]
    fn pod_conversion_keeps_every_constraint() {
        let pod: core::Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "namespace": "default", "labels": {"app": "web"},
                         "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                               "name": "web-123", "uid": "u"}]},
            "spec": {
                "containers": [{"name": "a", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}},
                               {"name": "b", "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}}],
                "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "2"}}}],
                "nodeSelector": {"karpenter.sh/nodepool": "multi-flavor"},
                "affinity": {
                    "nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
                        {"matchExpressions": [{"key": "karpenter.ovhcloud.sh/flavor-generation", "operator": "Gt", "values": ["2"]}]}]}},
                    "podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                        {"topologyKey": "kubernetes.io/hostname", "labelSelector": {"matchLabels": {"app": "web"}}}]}
                },
                "tolerations": [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "topologySpreadConstraints": [
                    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "DoNotSchedule",
                     "labelSelector": {"matchLabels": {"app": "web"}}},
                    {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway"}]
            }
        }))
        .unwrap();
        let spec = super::pod(&pod);
        assert_eq!(spec.owner, "default/web-123");
        assert_eq!(spec.requests.cpu_millis, 2000);
        assert_eq!(spec.requests.memory_bytes, (1 << 30) + (512 << 20));
        assert_eq!(spec.requests.pods, 1);
        assert_eq!(spec.requirements.len(), 2);
        assert!(spec.alternatives.is_empty());
        assert_eq!(spec.tolerations.len(), 1);
        assert_eq!(spec.spreads.len(), 1);
        assert_eq!(spec.spreads[0].topology, Topology::Zone);
        assert_eq!(spec.anti_affinity.len(), 1);
        assert_eq!(spec.anti_affinity[0].topology, Topology::Hostname);
        assert!(spec.anti_affinity[0].selector.matches(&spec.labels));
    }

    #[test]
    fn preferences_are_held_then_relaxed_in_upstream_order() {
        let term = |w: i32, app: &str| {
            serde_json::json!({"weight": w, "podAffinityTerm": {"topologyKey": "topology.kubernetes.io/zone",
                "labelSelector": {"matchLabels": {"app": app}}}})
        };
        let zone = |w: i32, z: &str| {
            serde_json::json!({"weight": w, "preference": {"matchExpressions": [
                {"key": "topology.kubernetes.io/zone", "operator": "In", "values": [z]}]}})
        };
        let spec: core::PodSpec = serde_json::from_value(serde_json::json!({
            "containers": [],
            "affinity": {
                "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [zone(10, "a"), zone(90, "b")]},
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term(5, "cache"), term(50, "db")]},
                "podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [term(100, "web")]}
            },
            "topologySpreadConstraints": [
                {"maxSkew": 2, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"},
                {"maxSkew": 1, "topologyKey": "example.com/rack", "whenUnsatisfiable": "ScheduleAnyway"}]
        }))
        .unwrap();
        let mut pod = pod_spec("default", "default/web", &Labels::new(), &spec);
        // Nothing of it is required as such.
        assert!(pod.requirements.is_empty() && pod.affinity.is_empty() && pod.spreads.is_empty());
        let p = &pod.preferences;
        assert_eq!(
            p.node_affinity.iter().map(|w| w.weight).collect::<Vec<_>>(),
            [90, 10]
        );
        assert_eq!(
            p.pod_affinity.iter().map(|w| w.weight).collect::<Vec<_>>(),
            [50, 5]
        );
        assert_eq!(
            p.spreads.len(),
            1,
            "a topology key the scheduler does not know is dropped"
        );

        // Held: every pod (anti-)affinity term and spread, and the heaviest node term.
        let held = pod.held();
        assert_eq!(held.affinity.len(), 2);
        assert_eq!(held.held_anti_affinity.len(), 1);
        assert!(
            held.anti_affinity.is_empty(),
            "a held preference keeps no other pod away"
        );
        assert_eq!(held.spreads.len(), 1);
        assert_eq!(
            held.requirements,
            [Requirement::new(
                super::super::wellknown::ZONE,
                Operator::In,
                &["b"]
            )]
        );
        assert!(held.preferences.is_empty() && !held.can_relax());

        // Relaxed one at a time: pod affinity (heaviest first), anti-affinity, node affinity
        // (the next term is held), then the spread.
        let mut steps = Vec::new();
        while let Some(what) = pod.relax() {
            steps.push(what);
        }
        assert_eq!(steps.len(), 6, "{steps:#?}");
        assert!(
            steps[0].contains("pod affinity (weight 50)"),
            "{}",
            steps[0]
        );
        assert!(steps[1].contains("pod affinity (weight 5)"), "{}", steps[1]);
        assert!(
            steps[2].contains("pod anti-affinity (weight 100)"),
            "{}",
            steps[2]
        );
        assert!(
            steps[3].contains("node affinity (weight 90)"),
            "{}",
            steps[3]
        );
        assert!(
            steps[4].contains("node affinity (weight 10)"),
            "{}",
            steps[4]
        );
        assert!(
            steps[5].contains("ScheduleAnyway spread over kubernetes.io/hostname"),
            "{}",
            steps[5]
        );
        assert_eq!(pod.held(), {
            let mut bare = pod.clone();
            bare.preferences = Preferences::default();
            bare
        });
    }

    #[test]
    fn node_conversion() {
        let node: core::Node = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n1", "labels": {"topology.kubernetes.io/zone": "eu-west-par-a",
                                                   "karpenter.sh/nodepool": "demo-pool"}},
            "spec": {"taints": [{"key": "k", "value": "v", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "1930m", "memory": "6Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap();
        let n = super::node(&node);
        assert_eq!(n.zone(), Some("eu-west-par-a"));
        assert_eq!(n.nodepool.as_deref(), Some("demo-pool"));
        assert_eq!(n.allocatable.cpu_millis, 1930);
        assert_eq!(n.allocatable.pods, 110);
        assert_eq!(n.state, NodeState::Ready);
        assert_eq!(n.taints.len(), 1);
    }

    #[test]
    fn a_node_that_lost_ready_is_no_room_and_a_joining_one_is() {
        let node = |ready: &str, initialized: bool, taints: serde_json::Value| {
            let mut labels = serde_json::json!({"karpenter.sh/nodepool": "demo-pool"});
            if initialized {
                labels["karpenter.sh/initialized"] = "true".into();
            }
            let node: core::Node = serde_json::from_value(serde_json::json!({
                "metadata": {"name": "n1", "labels": labels},
                "spec": {"taints": taints},
                "status": {"allocatable": {"cpu": "2", "memory": "8Gi", "pods": "110"},
                           "conditions": [{"type": "Ready", "status": ready}]}
            }))
            .unwrap();
            super::node(&node)
        };
        let not_ready =
            serde_json::json!([{"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}]);
        let unreachable = serde_json::json!([{"key": UNREACHABLE_TAINT, "effect": "NoExecute"}]);
        // Joining: not Ready yet, never initialized; room for the pods it was launched for.
        let joining = node("False", false, not_ready.clone());
        assert_eq!(joining.state, NodeState::Launching);
        assert!(joining.accepts_pods() && joining.taints.is_empty());
        // Lost: its kubelet stopped reporting, or NotReady after initialization.
        for lost in [
            node("Unknown", true, serde_json::json!([])),
            node("Unknown", false, serde_json::json!([])),
            node("False", true, not_ready),
            node("True", true, unreachable),
        ] {
            assert_eq!(lost.state, NodeState::Unhealthy, "{lost:?}");
            assert!(!lost.accepts_pods());
        }
    }
}
