//! `karpenter.sh/v1` NodeClaim: one node the controller launches, and the types NodeClaims
//! share with NodePool templates (requirements, node class reference).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::{self, Condition};
use super::duration::{GoDuration, NillableDuration};
use super::schema;

/// NodeClaim condition: the OVH node was requested and has an id.
pub const CONDITION_LAUNCHED: &str = "Launched";
/// NodeClaim condition: a Kubernetes node with the NodeClaim's providerID joined.
pub const CONDITION_REGISTERED: &str = "Registered";
/// NodeClaim condition: the node is Ready, its startup taints are gone and resources reported.
pub const CONDITION_INITIALIZED: &str = "Initialized";
/// The conditions a NodeClaim's `Ready` summarises.
pub const READY_DEPENDENTS: &[&str] = &[
    CONDITION_LAUNCHED,
    CONDITION_REGISTERED,
    CONDITION_INITIALIZED,
];
/// NodeClaim condition: the node may be consolidated (past `consolidateAfter` since its last pod
/// event).
pub const CONDITION_CONSOLIDATABLE: &str = "Consolidatable";
/// NodeClaim condition: the node no longer matches its NodePool or OVHNodeClass.
pub const CONDITION_DRIFTED: &str = "Drifted";
/// NodeClaim condition: the OVH node is being removed.
pub const CONDITION_INSTANCE_TERMINATING: &str = "InstanceTerminating";
/// NodeClaim condition: the NodeClaim and its node agree (upstream's consistency check).
pub const CONDITION_CONSISTENT_STATE_FOUND: &str = "ConsistentStateFound";
/// NodeClaim condition: every pod that could be evicted was (Unknown while draining).
pub const CONDITION_DRAINED: &str = "Drained";
/// NodeClaim condition: why the node is being disrupted (`Underutilized`, `Empty`, `Drifted`).
pub const CONDITION_DISRUPTION_REASON: &str = "DisruptionReason";

/// Default of `expireAfter` on NodePool templates and NodeClaims.
pub const DEFAULT_EXPIRE_AFTER: &str = "720h";

pub(crate) fn default_expire_after() -> NillableDuration {
    NillableDuration::from(DEFAULT_EXPIRE_AFTER)
}

/// Operator of a node selector requirement.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Operator {
    /// The label's value is one of the values.
    In,
    /// The label is absent or its value is none of the values.
    NotIn,
    /// The label is present.
    Exists,
    /// The label is absent.
    DoesNotExist,
    /// The label's integer value is greater than the single value.
    Gt,
    /// The label's integer value is less than the single value.
    Lt,
    /// The label's integer value is at least the single value.
    Gte,
    /// The label's integer value is at most the single value.
    Lte,
}

impl Operator {
    /// Whether the operator compares the label as an integer with a single value.
    pub fn is_numeric(self) -> bool {
        matches!(self, Self::Gt | Self::Lt | Self::Gte | Self::Lte)
    }
}

impl From<karpenter_ovhcloud_contract::Operator> for Operator {
    fn from(op: karpenter_ovhcloud_contract::Operator) -> Self {
        use karpenter_ovhcloud_contract::Operator as C;
        match op {
            C::In => Operator::In,
            C::NotIn => Operator::NotIn,
            C::Exists => Operator::Exists,
            C::DoesNotExist => Operator::DoesNotExist,
            C::Gt => Operator::Gt,
            C::Lt => Operator::Lt,
            C::Gte => Operator::Gte,
            C::Lte => Operator::Lte,
        }
    }
}

/// A node selector requirement with min values is a selector that contains values, a key, an
/// operator that relates the key and values and minValues that represent the requirement to
/// have at least that many values.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeSelectorRequirementWithMinValues {
    /// The label key that the selector applies to.
    #[schemars(length(max = 316), regex(pattern = schema::QUALIFIED_NAME_PATTERN))]
    pub key: String,
    /// Represents a key's relationship to a set of values.
    /// Valid operators are In, NotIn, Exists, DoesNotExist, Gt, Lt, Gte, and Lte.
    pub operator: Operator,
    /// An array of string values. If the operator is In or NotIn,
    /// the values array must be non-empty. If the operator is Exists or DoesNotExist,
    /// the values array must be empty. If the operator is Gt, Lt, Gte, or Lte, the values
    /// array must have a single element, which will be interpreted as an integer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::requirement_values)]
    pub values: Vec<String>,
    /// This field is ALPHA and can be dropped or replaced at any time
    /// MinValues is the minimum number of unique values required to define the flexibility of the specific requirement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 50), transform = schema::no_format)]
    pub min_values: Option<i32>,
}

impl NodeSelectorRequirementWithMinValues {
    /// A requirement without minValues.
    pub fn new(key: &str, operator: Operator, values: &[&str]) -> Self {
        Self {
            key: key.to_owned(),
            operator,
            values: values.iter().map(|v| (*v).to_owned()).collect(),
            min_values: None,
        }
    }

    /// The requirement's operator in the contract's terms (the same eight operators).
    pub fn contract_operator(&self) -> karpenter_ovhcloud_contract::Operator {
        use karpenter_ovhcloud_contract::Operator as C;
        match self.operator {
            Operator::In => C::In,
            Operator::NotIn => C::NotIn,
            Operator::Exists => C::Exists,
            Operator::DoesNotExist => C::DoesNotExist,
            Operator::Gt => C::Gt,
            Operator::Lt => C::Lt,
            Operator::Gte => C::Gte,
            Operator::Lte => C::Lte,
        }
    }
}

/// A reference to the object that holds provider-specific configuration (an OVHNodeClass).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(
    description = "NodeClassRef is a reference to an object that defines provider specific configuration"
)]
pub struct NodeClassReference {
    /// API version of the referent
    #[schemars(
        regex(pattern = r"^[^/]*$"),
        extend("x-kubernetes-validations" = [{"message": "group may not be empty", "rule": "self != ''"}])
    )]
    pub group: String,
    /// Kind of the referent; More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
    #[schemars(extend("x-kubernetes-validations" = [{"message": "kind may not be empty", "rule": "self != ''"}]))]
    pub kind: String,
    /// Name of the referent; More info: http://kubernetes.io/docs/user-guide/identifiers#names
    #[schemars(extend("x-kubernetes-validations" = [{"message": "name may not be empty", "rule": "self != ''"}]))]
    pub name: String,
}

impl NodeClassReference {
    /// A reference to the OVHNodeClass `name`.
    pub fn ovh(name: &str) -> Self {
        Self {
            group: super::labels::OVH_GROUP.into(),
            kind: super::nodeclass::KIND.into(),
            name: name.into(),
        }
    }

    /// Whether this refers to an OVHNodeClass (of any version of our group).
    pub fn is_ovh(&self) -> bool {
        self.group == super::labels::OVH_GROUP && self.kind == super::nodeclass::KIND
    }
}

/// ResourceRequirements models the required resources for the NodeClaim to launch
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ResourceRequirements {
    /// Requests describes the minimum required resources for the NodeClaim to launch
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub requests: BTreeMap<String, Quantity>,
}

impl ResourceRequirements {
    fn is_empty(&self) -> bool {
        self.requests.is_empty()
    }
}

/// NodeClaimSpec describes the desired state of the NodeClaim
// kube's `printcolumn(...)` arguments repeat keys such as `type_`, which clippy reads as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "karpenter.sh",
    version = "v1",
    kind = "NodeClaim",
    plural = "nodeclaims",
    category = "karpenter",
    status = "NodeClaimStatus",
    doc = "NodeClaim is the Schema for the NodeClaims API",
    derive = "PartialEq",
    printcolumn(
        name = "Type",
        type_ = "string",
        json_path = r".metadata.labels.node\.kubernetes\.io/instance-type"
    ),
    printcolumn(
        name = "Capacity",
        type_ = "string",
        json_path = r".metadata.labels.karpenter\.sh/capacity-type"
    ),
    printcolumn(
        name = "Zone",
        type_ = "string",
        json_path = r".metadata.labels.topology\.kubernetes\.io/zone"
    ),
    printcolumn(name = "Node", type_ = "string", json_path = ".status.nodeName"),
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
        name = "ImageID",
        type_ = "string",
        json_path = ".status.imageID",
        priority = 1
    ),
    printcolumn(
        name = "ID",
        type_ = "string",
        json_path = ".status.providerID",
        priority = 1
    ),
    printcolumn(
        name = "NodePool",
        type_ = "string",
        json_path = r".metadata.labels.karpenter\.sh/nodepool",
        priority = 1
    ),
    printcolumn(
        name = "NodeClass",
        type_ = "string",
        json_path = ".spec.nodeClassRef.name",
        priority = 1
    ),
    printcolumn(
        name = "Drifted",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Drifted")].status"#,
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [{"message": "spec is immutable", "rule": "self == oldSelf"}]))]
pub struct NodeClaimSpec {
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
    #[schemars(length(max = 100), transform = schema::nodeclaim_requirements)]
    pub requirements: Vec<NodeSelectorRequirementWithMinValues>,
    /// Resources models the resource requirements for the NodeClaim to launch
    #[serde(default, skip_serializing_if = "ResourceRequirements::is_empty")]
    pub resources: ResourceRequirements,
    /// NodeClassRef is a reference to an object that defines provider specific configuration
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

/// NodeClaimStatus defines the observed state of NodeClaim
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeClaimStatus {
    /// NodeName is the name of the corresponding node object
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub node_name: String,
    /// ProviderID of the corresponding node object
    #[serde(
        rename = "providerID",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub provider_id: String,
    /// ImageID is an identifier for the image that runs on the node
    #[serde(rename = "imageID", default, skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    /// Capacity is the estimated full capacity of the node
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub capacity: BTreeMap<String, Quantity>,
    /// Allocatable is the estimated allocatable capacity of the node
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(schema_with = "schema::quantity_map")]
    pub allocatable: BTreeMap<String, Quantity>,
    /// Conditions contains signals for health and readiness
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::conditions_list)]
    pub conditions: Vec<Condition>,
    /// LastPodEventTime is updated with the last time a pod was scheduled
    /// or removed from the node. A pod going terminal or terminating
    /// is also considered as removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_pod_event_time: Option<Time>,
}

impl NodeClaim {
    /// The NodeClaim's conditions (empty without status).
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

    /// The NodePool that owns this NodeClaim (its `karpenter.sh/nodepool` label).
    pub fn nodepool_name(&self) -> Option<&str> {
        self.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(super::labels::NODEPOOL))
            .map(String::as_str)
    }

    /// Whether the NodeClaim is Launched, Registered and Initialized (upstream's Ready).
    pub fn is_ready(&self) -> bool {
        READY_DEPENDENTS.iter().all(|t| self.is_condition_true(t))
    }
}
