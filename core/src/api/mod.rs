//! Kubernetes API types: `karpenter.sh/v1` NodePool and NodeClaim (schema-compatible with
//! upstream Karpenter, so existing manifests apply unchanged), `karpenter.ovhcloud.sh/v1alpha1`
//! OVHNodeClass, the label/annotation/taint constants, drift hashes and the CRD generator.
//!
//! Types keep what a manifest says as written (durations stay strings, absent optional fields
//! stay absent) and fill the same defaults as the CRD schemas, so an object read from the API
//! server and one read from a file agree.

pub mod condition;
pub mod crdgen;
pub mod duration;
pub mod hash;
pub mod labels;
pub mod nodeclaim;
pub mod nodeclass;
pub mod nodepool;
pub mod quantity;
pub mod schema;
pub mod tolerant;

pub use condition::{Condition, ConditionStatus};
pub use duration::{DurationError, GoDuration, NillableDuration};
pub use nodeclaim::{
    NodeClaim, NodeClaimSpec, NodeClaimStatus, NodeClassReference,
    NodeSelectorRequirementWithMinValues, Operator, ResourceRequirements,
};
pub use nodeclass::{OVHNodeClass, OVHNodeClassSpec, OVHNodeClassStatus, SecretReference};
pub use nodepool::{
    Budget, BudgetNodes, ConsolidationPolicy, Disruption, DisruptionReason, NodeClaimTemplate,
    NodeClaimTemplateSpec, NodePool, NodePoolSpec, NodePoolStatus, TemplateMetadata,
};
pub use tolerant::{Tolerant, Unreadable};
