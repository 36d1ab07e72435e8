//! `karpenter.sh/v1` NodePool: what nodes may be launched for pending pods, and how they may
//! be disrupted.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::condition::{self, Condition};
use super::duration::{DurationError, GoDuration, NillableDuration};
use super::nodeclaim::{
    default_expire_after, NodeClaimSpec, NodeClassReference, NodeSelectorRequirementWithMinValues,
    ResourceRequirements,
};
use super::schema;

/// NodePool condition: the NodePool's runtime validation passed.
pub const CONDITION_VALIDATION_SUCCEEDED: &str = "ValidationSucceeded";
/// NodePool condition: the referenced node class exists and is Ready.
pub const CONDITION_NODECLASS_READY: &str = "NodeClassReady";
/// NodePool condition: nodes launched from it register (no misconfiguration blocks them).
pub const CONDITION_NODE_REGISTRATION_HEALTHY: &str = "NodeRegistrationHealthy";
/// The conditions a NodePool's `Ready` summarises (upstream: not NodeRegistrationHealthy).
pub const READY_DEPENDENTS: &[&str] = &[CONDITION_VALIDATION_SUCCEEDED, CONDITION_NODECLASS_READY];

/// Default budget: at most 10% of a NodePool's nodes disrupted at once.
pub const DEFAULT_BUDGET_NODES: &str = "10%";

/// Which nodes consolidation may remove or replace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ConsolidationPolicy {
    /// Only nodes without workload pods.
    WhenEmpty,
    /// Empty nodes, and nodes whose pods fit elsewhere or on a cheaper replacement.
    #[default]
    WhenEmptyOrUnderutilized,
    /// As WhenEmptyOrUnderutilized, each move scored: carried out only when its share of the
    /// NodePool's savings is at least half its share of the NodePool's disruption cost
    /// (upstream's `designs/balanced-consolidation.md`, k = 2).
    Balanced,
}

/// The disruption method a budget applies to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[schemars(description = "DisruptionReason defines valid reasons for disruption budgets.")]
pub enum DisruptionReason {
    /// Consolidation of an under-used node.
    Underutilized,
    /// Removal of an empty node.
    Empty,
    /// Replacement of a drifted node.
    Drifted,
}

/// Budget defines when Karpenter will restrict the
/// number of Node Claims that can be terminating simultaneously.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = require_nodes)]
pub struct Budget {
    /// Reasons is a list of disruption methods that this budget applies to. If Reasons is not set, this budget applies to all methods.
    /// Otherwise, this will apply to each reason defined.
    /// allowed reasons are Underutilized, Empty, and Drifted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 50), extend("x-kubernetes-list-type" = "set"))]
    pub reasons: Option<Vec<DisruptionReason>>,
    /// Nodes dictates the maximum number of NodeClaims owned by this NodePool
    /// that can be terminating at once. This is calculated by counting nodes that
    /// have a deletion timestamp set, or are actively being deleted by Karpenter.
    /// This field is required when specifying a budget.
    #[serde(default = "default_budget_nodes")]
    #[schemars(regex(pattern = schema::BUDGET_NODES_PATTERN))]
    pub nodes: String,
    /// Schedule specifies when a budget begins being active, following
    /// the upstream cronjob syntax. If omitted, the budget is always active.
    /// Timezones are not supported.
    /// This field is required if Duration is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::BUDGET_SCHEDULE_PATTERN))]
    pub schedule: Option<String>,
    /// Duration determines how long a Budget is active since each Schedule hit.
    /// Only minutes and hours are accepted, as cron does not work in seconds.
    /// If omitted, the budget is always active.
    /// This is required if Schedule is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::BUDGET_DURATION_PATTERN))]
    pub duration: Option<GoDuration>,
}

fn require_nodes(s: &mut schemars::Schema) {
    schema::require(s, &["nodes"]);
}

fn default_budget_nodes() -> String {
    DEFAULT_BUDGET_NODES.into()
}

fn default_budgets() -> Vec<Budget> {
    vec![Budget::nodes(DEFAULT_BUDGET_NODES)]
}

/// A budget's `nodes`: a count or a share of the NodePool's nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BudgetNodes {
    /// At most this many nodes.
    Count(u32),
    /// At most this percentage of the NodePool's nodes, rounded up (like PDB maxUnavailable).
    Percent(u32),
}

impl BudgetNodes {
    /// How many of `total` nodes this allows disrupting at once.
    pub fn allowed(self, total: u32) -> u32 {
        match self {
            Self::Count(n) => n,
            Self::Percent(p) => (u64::from(total) * u64::from(p)).div_ceil(100) as u32,
        }
    }
}

impl Budget {
    /// An always-active budget for all reasons.
    pub fn nodes(nodes: &str) -> Self {
        Self {
            reasons: None,
            nodes: nodes.into(),
            schedule: None,
            duration: None,
        }
    }

    /// The parsed `nodes` value; `None` when it does not match the schema's pattern.
    pub fn parsed_nodes(&self) -> Option<BudgetNodes> {
        fn digits(s: &str) -> Option<u32> {
            let all_digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            all_digits.then(|| s.parse().ok()).flatten()
        }
        let text = self.nodes.as_str();
        match text.strip_suffix('%') {
            Some(p) => digits(p).filter(|p| *p <= 100).map(BudgetNodes::Percent),
            None => digits(text).map(BudgetNodes::Count),
        }
    }

    /// Whether this budget constrains disruptions for `reason` (no reasons = every reason).
    pub fn applies_to(&self, reason: DisruptionReason) -> bool {
        self.reasons.as_ref().is_none_or(|r| r.contains(&reason))
    }
}

/// Disruption contains the parameters that relate to Karpenter's disruption logic
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Disruption {
    /// ConsolidateAfter is the duration the controller will wait
    /// before attempting to terminate nodes that are underutilized.
    /// Refer to ConsolidationPolicy for how underutilization is considered.
    /// When replicas is set, ConsolidateAfter is simply ignored
    #[serde(default = "default_consolidate_after")]
    #[schemars(regex(pattern = schema::NILLABLE_DURATION_PATTERN))]
    pub consolidate_after: NillableDuration,
    /// ConsolidationPolicy describes which nodes Karpenter can disrupt through its consolidation
    /// algorithm. This policy defaults to "WhenEmptyOrUnderutilized" if not specified
    #[serde(default)]
    pub consolidation_policy: ConsolidationPolicy,
    /// Budgets is a list of Budgets.
    /// If there are multiple active budgets, Karpenter uses
    /// the most restrictive value. If left undefined,
    /// this will default to one budget with a value to 10%.
    #[serde(default = "default_budgets")]
    #[schemars(
        length(max = 50),
        extend(
            "x-kubernetes-list-type" = "atomic",
            "x-kubernetes-validations" = [{"message": "'schedule' must be set with 'duration'", "rule": "self.all(x, has(x.schedule) == has(x.duration))"}]
        )
    )]
    pub budgets: Vec<Budget>,
}

/// Upstream's `+kubebuilder:default:="0s"` on `consolidateAfter`.
fn default_consolidate_after() -> NillableDuration {
    NillableDuration::from("0s")
}

impl Default for Disruption {
    fn default() -> Self {
        Self {
            consolidate_after: default_consolidate_after(),
            consolidation_policy: ConsolidationPolicy::default(),
            budgets: default_budgets(),
        }
    }
}

impl Disruption {
    /// How long a node must be empty or under-used before consolidation; `None` for `Never`.
    pub fn consolidate_after(&self) -> Result<Option<Duration>, DurationError> {
        self.consolidate_after.duration()
    }
}

/// Labels and annotations of the NodeClaims (and nodes) a NodePool launches.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TemplateMetadata {
    /// Map of string keys and values that can be used to organize and categorize
    /// (scope and select) objects. May match selectors of replication controllers
    /// and services.
    /// More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::template_labels")]
    pub labels: BTreeMap<String, String>,
    /// Annotations is an unstructured key value map stored with a resource that may be
    /// set by external tools to store and retrieve arbitrary metadata. They are not
    /// queryable and should be preserved when modifying objects.
    /// More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/annotations
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("x-kubernetes-map-type" = "granular"))]
    pub annotations: BTreeMap<String, String>,
}

impl TemplateMetadata {
    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.annotations.is_empty()
    }
}

/// NodeClaimTemplateSpec describes the desired state of the NodeClaim in the Nodepool
/// NodeClaimTemplateSpec is used in the NodePool's NodeClaimTemplate, with the resource requests omitted since
/// users are not able to set resource requests in the NodePool.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimTemplateSpec {
    /// Taints will be applied to the NodeClaim's node.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::taints")]
    pub taints: Vec<Taint>,
    /// StartupTaints are taints that are applied to nodes upon startup which are expected to be removed automatically
    /// within a short period of time, typically by a DaemonSet that tolerates the taint. These are commonly used by
    /// daemonsets to allow initialization and enforce startup ordering.  StartupTaints are ignored for provisioning
    /// purposes in that pods are not required to tolerate a StartupTaint in order to have nodes provisioned for them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(schema_with = "schema::taints")]
    pub startup_taints: Vec<Taint>,
    /// Requirements are layered with GetLabels and applied to every node.
    #[schemars(length(max = 100), transform = schema::nodepool_requirements)]
    pub requirements: Vec<NodeSelectorRequirementWithMinValues>,
    /// NodeClassRef is a reference to an object that defines provider specific configuration
    #[schemars(extend("x-kubernetes-validations" = [
        {"message": "nodeClassRef.group is immutable", "rule": "self.group == oldSelf.group"},
        {"message": "nodeClassRef.kind is immutable", "rule": "self.kind == oldSelf.kind"}
    ]))]
    pub node_class_ref: NodeClassReference,
    /// TerminationGracePeriod is the maximum duration the controller will wait before forcefully deleting the pods on a node, measured from when deletion is first initiated.
    ///
    /// Warning: this feature takes precedence over a Pod's terminationGracePeriodSeconds value, and bypasses any blocked PDBs or the karpenter.sh/do-not-disrupt annotation.
    ///
    /// If left undefined, the controller will wait indefinitely for pods to be drained.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = schema::DURATION_PATTERN))]
    pub termination_grace_period: Option<GoDuration>,
    /// ExpireAfter is the duration the controller will wait
    /// before terminating a node, measured from when the node is created. This
    /// is useful to implement features like eventually consistent node upgrade,
    /// memory leak protection, and disruption testing.
    #[serde(default = "default_expire_after")]
    #[schemars(regex(pattern = schema::NILLABLE_DURATION_PATTERN))]
    pub expire_after: NillableDuration,
}

/// The template of the NodeClaims a NodePool launches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct NodeClaimTemplate {
    /// Labels and annotations copied onto each NodeClaim and its node.
    #[serde(default, skip_serializing_if = "TemplateMetadata::is_empty")]
    pub metadata: TemplateMetadata,
    /// NodeClaimTemplateSpec describes the desired state of the NodeClaim in the Nodepool.
    pub spec: NodeClaimTemplateSpec,
}

impl NodeClaimTemplate {
    /// The NodeClaim spec this template gives, before the launch narrows its requirements
    /// (flavor, zone) and sets its resource requests.
    pub fn to_nodeclaim_spec(&self) -> NodeClaimSpec {
        NodeClaimSpec {
            taints: self.spec.taints.clone(),
            startup_taints: self.spec.startup_taints.clone(),
            requirements: self.spec.requirements.clone(),
            resources: ResourceRequirements::default(),
            node_class_ref: self.spec.node_class_ref.clone(),
            termination_grace_period: self.spec.termination_grace_period.clone(),
            expire_after: self.spec.expire_after.clone(),
        }
    }
}

/// NodePoolSpec is the top level nodepool specification. Nodepools
/// launch nodes in response to pods that are unschedulable. A single nodepool
/// is capable of managing a diverse set of nodes. Node properties are determined
/// from a combination of nodepool and pod scheduling constraints.
// kube's `printcolumn(...)` arguments repeat keys such as `type_`, which clippy reads as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "karpenter.sh",
    version = "v1",
    kind = "NodePool",
    plural = "nodepools",
    category = "karpenter",
    status = "NodePoolStatus",
    doc = "NodePool is the Schema for the NodePools API",
    derive = "PartialEq",
    scale(
        spec_replicas_path = ".spec.replicas",
        status_replicas_path = ".status.nodes"
    ),
    printcolumn(
        name = "NodeClass",
        type_ = "string",
        json_path = ".spec.template.spec.nodeClassRef.name"
    ),
    printcolumn(name = "Nodes", type_ = "string", json_path = ".status.nodes"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    ),
    printcolumn(
        name = "Weight",
        type_ = "integer",
        json_path = ".spec.weight",
        priority = 1
    ),
    printcolumn(
        name = "CPU",
        type_ = "string",
        json_path = ".status.resources.cpu",
        priority = 1
    ),
    printcolumn(
        name = "Memory",
        type_ = "string",
        json_path = ".status.resources.memory",
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"message": "Cannot transition NodePool between static (replicas set) and dynamic (replicas unset) provisioning modes", "rule": "has(self.replicas) == has(oldSelf.replicas)"},
    {"message": "only 'limits.nodes' is supported on static NodePools", "rule": "!has(self.replicas) || (!has(self.limits) || size(self.limits) == 0 || (size(self.limits) == 1 && 'nodes' in self.limits))"},
    {"message": "'weight' is not supported on static NodePools", "rule": "!has(self.replicas) || !has(self.weight)"}
]))]
pub struct NodePoolSpec {
    /// Template contains the template of possibilities for the provisioning logic to launch a NodeClaim with.
    /// NodeClaims launched from this NodePool will often be further constrained than the template specifies.
    pub template: NodeClaimTemplate,
    /// Disruption contains the parameters that relate to Karpenter's disruption logic
    #[serde(default)]
    #[schemars(transform = disruption_default)]
    pub disruption: Disruption,
    /// Limits define a set of bounds for provisioning capacity.
    /// Limits other than limits.nodes is not supported when replicas is set.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub limits: BTreeMap<String, Quantity>,
    /// Weight is the priority given to the nodepool during scheduling. A higher
    /// numerical weight indicates that this nodepool will be ordered
    /// ahead of other nodepools with lower weights. A nodepool with no weight
    /// will be treated as if it is a nodepool with a weight of 0.
    /// Weight is not supported when replicas is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100))]
    pub weight: Option<i32>,
    /// Replicas is the desired number of nodes for the NodePool. When specified, the NodePool will
    /// maintain this fixed number of replicas rather than scaling based on pod demand.
    /// Note: This field is alpha.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub replicas: Option<i64>,
}

/// Upstream defaults `disruption` to `{consolidateAfter: 0s}` and lets nested defaults fill the rest.
fn disruption_default(s: &mut schemars::Schema) {
    schema::set_default(s, json!({ "consolidateAfter": "0s" }));
}

/// NodePoolStatus defines the observed state of NodePool
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolStatus {
    /// Resources is the list of resources that have been provisioned.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub resources: BTreeMap<String, Quantity>,
    /// Nodes is the count of nodes associated with this NodePool
    #[serde(default)]
    pub nodes: i64,
    /// NodeClassObservedGeneration represents the observed nodeClass generation for referenced nodeClass. If this does not match
    /// the actual NodeClass Generation, NodeRegistrationHealthy status condition on the NodePool will be reset
    #[serde(default, skip_serializing_if = "is_zero")]
    pub node_class_observed_generation: i64,
    /// Conditions contains signals for health and readiness
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::strict_conditions)]
    pub conditions: Vec<Condition>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl NodePool {
    /// The NodePool's conditions (empty without status).
    pub fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default()
    }

    /// Whether the condition `type_` is `True`.
    pub fn is_condition_true(&self, type_: &str) -> bool {
        condition::is_true(self.conditions(), type_)
    }

    /// The scheduling weight (0 when unset).
    pub fn weight(&self) -> i32 {
        self.spec.weight.unwrap_or(0)
    }

    /// Whether the NodePool keeps a fixed node count (`spec.replicas`) instead of following demand.
    pub fn is_static(&self) -> bool {
        self.spec.replicas.is_some()
    }
}
