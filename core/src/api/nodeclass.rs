//! `karpenter.ovhcloud.sh/v1alpha1` OVHNodeClass: the OVH project, cluster and region nodes are
//! launched in, the credentials to do it, and the pool settings OVH fixes at pool creation
//! (monthly billing, anti-affinity).

use std::collections::BTreeMap;

use kube_derive::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::condition::{self, Condition};
use super::schema;

/// Kind of the OVH node class.
pub const KIND: &str = "OVHNodeClass";
/// API version of the OVH node class.
pub const VERSION: &str = "v1alpha1";

/// OVHNodeClass Ready reason: credentials work and the cluster was found.
pub const REASON_READY: &str = "Ready";
/// OVHNodeClass not Ready: the credentials Secret is missing or lacks a key.
pub const REASON_CREDENTIALS_NOT_FOUND: &str = "CredentialsNotFound";
/// OVHNodeClass not Ready: OVH refused the credentials (403/401).
pub const REASON_UNAUTHORIZED: &str = "Unauthorized";
/// OVHNodeClass not Ready: the MKS cluster `kubeId` does not exist in the project.
pub const REASON_CLUSTER_NOT_FOUND: &str = "ClusterNotFound";
/// OVHNodeClass not Ready: the region has no MKS flavors (wrong region?).
pub const REASON_REGION_NOT_FOUND: &str = "RegionNotFound";
/// OVHNodeClass not Ready: the OVH API could not be reached or failed.
pub const REASON_API_ERROR: &str = "OVHAPIError";

/// Which OVH API endpoint serves the project.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Endpoint {
    /// `https://eu.api.ovh.com/1.0`.
    #[default]
    #[serde(rename = "ovh-eu")]
    OvhEu,
    /// `https://ca.api.ovh.com/1.0`.
    #[serde(rename = "ovh-ca")]
    OvhCa,
    /// `https://api.us.ovhcloud.com/1.0`.
    #[serde(rename = "ovh-us")]
    OvhUs,
}

impl Endpoint {
    /// Base URL of the endpoint.
    pub fn base_url(self) -> &'static str {
        match self {
            Self::OvhEu => "https://eu.api.ovh.com/1.0",
            Self::OvhCa => "https://ca.api.ovh.com/1.0",
            Self::OvhUs => "https://api.us.ovhcloud.com/1.0",
        }
    }
}

/// Where the OVH API credentials are: a Secret with keys `applicationKey`,
/// `applicationSecret` and `consumerKey`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct SecretReference {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Namespace of the Secret.
    #[schemars(length(min = 1, max = 63))]
    pub namespace: String,
}

/// Secret key holding the OVH application key.
pub const SECRET_APPLICATION_KEY: &str = "applicationKey";
/// Secret key holding the OVH application secret.
pub const SECRET_APPLICATION_SECRET: &str = "applicationSecret";
/// Secret key holding the OVH consumer key.
pub const SECRET_CONSUMER_KEY: &str = "consumerKey";

/// OVHNodeClassSpec is the OVHcloud configuration NodePools refer to through
/// `nodeClassRef: {group: karpenter.ovhcloud.sh, kind: OVHNodeClass, name: ...}`.
// kube's `printcolumn(...)` arguments repeat keys such as `type_`, which clippy reads as duplicated attributes.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    crates(kube_core = "::kube_core"),
    group = "karpenter.ovhcloud.sh",
    version = "v1alpha1",
    kind = "OVHNodeClass",
    plural = "ovhnodeclasses",
    singular = "ovhnodeclass",
    shortname = "ovhnc",
    shortname = "ovhncs",
    category = "karpenter",
    status = "OVHNodeClassStatus",
    doc = "OVHNodeClass is the Schema for the OVHNodeClass API: OVHcloud settings of the nodes NodePools launch",
    derive = "PartialEq",
    printcolumn(name = "Region", type_ = "string", json_path = ".spec.region"),
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
        name = "Monthly",
        type_ = "boolean",
        json_path = ".spec.monthlyBilled",
        priority = 1
    ),
    printcolumn(
        name = "AntiAffinity",
        type_ = "boolean",
        json_path = ".spec.antiAffinity",
        priority = 1
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#,
        priority = 1
    )
)]
#[serde(rename_all = "camelCase")]
pub struct OVHNodeClassSpec {
    /// ServiceName is the OVH Public Cloud project id (32 lower-case hex characters).
    #[schemars(regex(pattern = schema::SERVICE_NAME_PATTERN))]
    pub service_name: String,
    /// KubeId is the id of the OVH Managed Kubernetes cluster nodes join.
    #[schemars(length(min = 1))]
    pub kube_id: String,
    /// Region of the cluster, e.g. EU-WEST-PAR or GRA7. Its zones (3-AZ regions) are
    /// `{region}-a|b|c` in lower case.
    #[schemars(length(min = 1), regex(pattern = r"^[A-Za-z0-9-]+$"))]
    pub region: String,
    /// Endpoint of the OVH API: ovh-eu, ovh-ca or ovh-us.
    #[serde(default)]
    pub endpoint: Endpoint,
    /// CredentialsSecretRef names the Secret holding applicationKey, applicationSecret and
    /// consumerKey. When unset, the controller's own credentials are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_secret_ref: Option<SecretReference>,
    /// MonthlyBilled launches nodes billed monthly (about 50% cheaper, gen2 flavors only:
    /// b2, c2, d2, r2). OVH never switches a node back to hourly billing.
    #[serde(default)]
    pub monthly_billed: bool,
    /// AntiAffinity spreads each OVH pool's nodes over distinct hypervisors; such pools hold
    /// at most 5 nodes.
    #[serde(default)]
    pub anti_affinity: bool,
    /// Tags are labels added to every node launched with this class.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// PriceOverrides sets the hourly price in EUR of flavors (by name, e.g. b3-8), replacing
    /// the OVH catalog and the embedded price table for decisions.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(extend("additionalProperties" = {"type": "number", "minimum": 0}))]
    pub price_overrides: BTreeMap<String, f64>,
}

/// A flavor the controller found in the class's region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct DiscoveredFlavor {
    /// Flavor name, e.g. b3-8.
    pub name: String,
    /// Zones where it is offered, e.g. eu-west-par-a.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

/// OVHNodeClassStatus is what the controller found out about the class.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct OVHNodeClassStatus {
    /// Conditions: Ready, with a reason when it is not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(transform = schema::conditions_list)]
    pub conditions: Vec<Condition>,
    /// Flavors available to MKS in the region.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flavors: Vec<DiscoveredFlavor>,
    /// Zones of the region (the region itself for 1-AZ regions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub zones: Vec<String>,
}

impl OVHNodeClass {
    /// The class's conditions (empty without status).
    pub fn conditions(&self) -> &[Condition] {
        self.status
            .as_ref()
            .map(|s| s.conditions.as_slice())
            .unwrap_or_default()
    }

    /// Whether the class is Ready.
    pub fn is_ready(&self) -> bool {
        condition::is_true(self.conditions(), condition::READY)
    }
}

impl OVHNodeClassSpec {
    /// Zones of the region: `{region}-a|b|c` in lower case for the 3-AZ regions, the region
    /// itself (lower case) otherwise.
    pub fn zones(&self) -> Vec<String> {
        region_zones(&self.region)
    }
}

/// Zones of a region: `{region}-a|b|c` in lower case for the 3-AZ regions, the region itself
/// (lower case) otherwise.
pub fn region_zones(region: &str) -> Vec<String> {
    let lower = region.to_ascii_lowercase();
    if is_three_az(region) {
        ["a", "b", "c"]
            .iter()
            .map(|z| format!("{lower}-{z}"))
            .collect()
    } else {
        vec![lower]
    }
}

/// Whether the region has three availability zones (OVH pools there need one zone each).
pub fn is_three_az(region: &str) -> bool {
    THREE_AZ_REGIONS
        .iter()
        .any(|r| r.eq_ignore_ascii_case(region))
}

/// The OVH regions with three availability zones.
pub const THREE_AZ_REGIONS: &[&str] = &["EU-WEST-PAR", "EU-SOUTH-MIL"];
