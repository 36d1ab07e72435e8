//! Typed bodies of the OVH endpoints the product uses, field names as OVH spells them.
//!
//! Reads are lenient (unknown fields ignored, most fields defaulted) so a new OVH field or a
//! missing optional one never breaks the controller; write bodies always carry every field OVH
//! requires (the pool template in full, even empty).

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// A project + cluster pair: `/cloud/project/{serviceName}/kube/{kubeId}`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClusterRef {
    /// Public Cloud project id (32 hex characters).
    pub service_name: String,
    /// MKS cluster id.
    pub kube_id: String,
}

impl ClusterRef {
    /// A cluster reference.
    pub fn new(service_name: impl Into<String>, kube_id: impl Into<String>) -> Self {
        Self {
            service_name: service_name.into(),
            kube_id: kube_id.into(),
        }
    }

    /// `/cloud/project/{serviceName}/kube/{kubeId}`.
    pub fn path(&self) -> String {
        format!("/cloud/project/{}/kube/{}", self.service_name, self.kube_id)
    }
}

/// Node pool status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PoolStatus {
    /// Stable.
    Ready,
    /// Being created.
    Installing,
    /// Being updated.
    Updating,
    /// Adding nodes.
    Upscaling,
    /// Removing nodes.
    Downscaling,
    /// Being resized.
    Resizing,
    /// Being redeployed.
    Redeploying,
    /// Being deleted.
    Deleting,
    /// Deleted.
    Deleted,
    /// Failed.
    Error,
    /// Failed because of the user's input.
    UserError,
    /// Failed on a quota.
    UserQuotaError,
    /// A node to remove was not found.
    UserNodeNotFoundError,
    /// A status this client does not know.
    #[serde(untagged)]
    Other(String),
}

impl PoolStatus {
    /// Whether an operation is in progress (one mutation in flight per pool).
    pub fn is_busy(&self) -> bool {
        matches!(
            self,
            PoolStatus::Installing
                | PoolStatus::Updating
                | PoolStatus::Upscaling
                | PoolStatus::Downscaling
                | PoolStatus::Resizing
                | PoolStatus::Redeploying
                | PoolStatus::Deleting
        )
    }
}

/// Node status.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeStatus {
    /// Running and part of the cluster.
    Ready,
    /// Being created.
    Installing,
    /// Being updated.
    Updating,
    /// Being redeployed.
    Redeploying,
    /// Being reset.
    Resetting,
    /// Being deleted.
    Deleting,
    /// Deleted.
    Deleted,
    /// Failed.
    Error,
    /// Could not be created: no stock of the flavor.
    FlavorOutOfStockError,
    /// A status this client does not know.
    #[serde(untagged)]
    Other(String),
}

impl NodeStatus {
    /// Whether the node failed and will never become READY.
    pub fn is_failed(&self) -> bool {
        matches!(self, NodeStatus::Error | NodeStatus::FlavorOutOfStockError)
            || matches!(self, NodeStatus::Other(s) if s.ends_with("_ERROR"))
    }
}

/// Taint effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TaintEffect {
    /// `NoSchedule`.
    NoSchedule,
    /// `PreferNoSchedule`.
    PreferNoSchedule,
    /// `NoExecute`.
    NoExecute,
}

/// A taint of the pool template.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Taint {
    /// Key.
    pub key: String,
    /// Value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Effect.
    pub effect: TaintEffect,
}

/// Metadata MKS applies to the pool's Nodes. Every field is always serialized (OVH rejects a
/// create body without them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateMetadata {
    /// Labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// Finalizers.
    #[serde(default)]
    pub finalizers: Vec<String>,
}

/// Spec MKS applies to the pool's Nodes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateSpec {
    /// Whether new Nodes are cordoned.
    #[serde(default)]
    pub unschedulable: bool,
    /// Taints.
    #[serde(default)]
    pub taints: Vec<Taint>,
}

/// A node pool template.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodePoolTemplate {
    /// Metadata.
    #[serde(default)]
    pub metadata: TemplateMetadata,
    /// Spec.
    #[serde(default)]
    pub spec: TemplateSpec,
}

/// A node pool (`GET /nodepool`, `GET /nodepool/{id}`, answer of `POST /nodepool`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePool {
    /// Pool id.
    pub id: String,
    /// Project id.
    #[serde(default)]
    pub project_id: Option<String>,
    /// Name.
    pub name: String,
    /// Flavor name.
    pub flavor: String,
    /// Status.
    pub status: PoolStatus,
    /// `CAPACITY_OK`, `OVER` or `UNDER`.
    #[serde(default)]
    pub size_status: Option<String>,
    /// OVH's own autoscaler acts on it (ours keep false).
    #[serde(default)]
    pub autoscale: bool,
    /// Monthly billing.
    #[serde(default)]
    pub monthly_billed: bool,
    /// Anti-affinity (at most 5 nodes).
    #[serde(default)]
    pub anti_affinity: bool,
    /// Desired nodes.
    pub desired_nodes: u32,
    /// Minimum nodes.
    #[serde(default)]
    pub min_nodes: u32,
    /// Maximum nodes.
    #[serde(default)]
    pub max_nodes: u32,
    /// Nodes that exist.
    #[serde(default)]
    pub current_nodes: u32,
    /// READY nodes.
    #[serde(default)]
    pub available_nodes: u32,
    /// Nodes on the cluster's version.
    #[serde(default)]
    pub up_to_date_nodes: u32,
    /// The pool's zone on 3-AZ regions.
    #[serde(default)]
    pub availability_zones: Vec<String>,
    /// Template applied to Nodes.
    #[serde(default)]
    pub template: NodePoolTemplate,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Last update.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// Body of `POST /nodepool`. Serializes every template field, even empty.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolCreate {
    /// Name (`karpenter-{flavor}-{zone}` for shared pools).
    pub name: String,
    /// Flavor name.
    pub flavor_name: String,
    /// Desired nodes.
    pub desired_nodes: u32,
    /// Minimum nodes.
    pub min_nodes: u32,
    /// Maximum nodes.
    pub max_nodes: u32,
    /// Keep false for pools we own.
    pub autoscale: bool,
    /// Anti-affinity (immutable).
    pub anti_affinity: bool,
    /// Monthly billing (gen2 only, immutable).
    pub monthly_billed: bool,
    /// Exactly one zone on 3-AZ regions; `None` on single-zone regions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub availability_zones: Option<Vec<String>>,
    /// Template applied to Nodes.
    pub template: NodePoolTemplate,
}

/// Body of `PUT /nodepool/{id}`: only what changes. `nodes_to_remove` takes node ids, names or
/// instance ids and must come with `desired_nodes`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodePoolUpdate {
    /// New desired nodes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_nodes: Option<u32>,
    /// New minimum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_nodes: Option<u32>,
    /// New maximum.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_nodes: Option<u32>,
    /// New autoscale flag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<bool>,
    /// Nodes to remove (ids, names or instance ids).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes_to_remove: Option<Vec<String>>,
    /// New template.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<NodePoolTemplate>,
}

/// A node of a pool (`GET /node`, `GET /nodepool/{id}/nodes`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Node {
    /// Node id.
    pub id: String,
    /// Project id.
    #[serde(default)]
    pub project_id: Option<String>,
    /// OpenStack instance id: the Kubernetes providerID is `openstack:///{instanceId}`.
    #[serde(default)]
    pub instance_id: Option<String>,
    /// Pool id.
    pub node_pool_id: String,
    /// Name (the Kubernetes Node's name).
    pub name: String,
    /// Flavor name.
    pub flavor: String,
    /// Status.
    pub status: NodeStatus,
    /// Whether it runs the cluster's version.
    #[serde(default)]
    pub is_up_to_date: bool,
    /// Kubernetes version.
    #[serde(default)]
    pub version: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
    /// Last update.
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    /// When it became READY.
    #[serde(default)]
    pub deployed_at: Option<Timestamp>,
}

impl Node {
    /// `openstack:///{instanceId}`, once OVH assigned the instance.
    pub fn provider_id(&self) -> Option<String> {
        self.instance_id
            .as_deref()
            .filter(|s| !s.is_empty())
            .map(|id| format!("openstack:///{id}"))
    }
}

/// A flavor as `GET /kube/{kubeId}/flavors` and `GET /capabilities/kube/flavors` return it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeFlavor {
    /// Name, e.g. `b3-8`.
    pub name: String,
    /// OVH category letter (`b`, `c`, `r`, `d`, `i`, `t`, `g`).
    #[serde(default)]
    pub category: String,
    /// `available` or `unavailable`.
    #[serde(default)]
    pub state: String,
    /// GPUs.
    #[serde(default)]
    pub gpus: u32,
    /// vCPUs.
    #[serde(rename = "vCPUs", default)]
    pub vcpus: u32,
    /// RAM in GB.
    #[serde(default)]
    pub ram: u32,
}

impl KubeFlavor {
    /// Whether OVH offers it now.
    pub fn is_available(&self) -> bool {
        self.state.is_empty() || self.state == "available"
    }
}

/// An MKS cluster (`GET /kube/{kubeId}`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KubeCluster {
    /// Cluster id.
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Region, e.g. `EU-WEST-PAR`.
    pub region: String,
    /// Kubernetes version.
    #[serde(default)]
    pub version: String,
    /// Status, e.g. `READY`.
    #[serde(default)]
    pub status: String,
    /// API server host.
    #[serde(default)]
    pub url: Option<String>,
    /// Nodes host.
    #[serde(default)]
    pub nodes_url: Option<String>,
    /// Whether it runs the latest patch.
    #[serde(default)]
    pub is_up_to_date: bool,
    /// Update policy.
    #[serde(default)]
    pub update_policy: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub created_at: Option<Timestamp>,
}

/// One access rule of the current credential.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRule {
    /// Method.
    pub method: String,
    /// Path glob under the API base, `*` matching anything.
    pub path: String,
}

impl AccessRule {
    /// Whether this rule grants `method path` (OVH's glob semantics, see [`super::glob`]).
    pub fn grants(&self, method: &str, path: &str) -> bool {
        super::glob::grants(&self.method, &self.path, method, path)
    }
}

/// `GET /auth/currentCredential`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentCredential {
    /// Credential id.
    #[serde(default)]
    pub credential_id: u64,
    /// Application id.
    #[serde(default)]
    pub application_id: u64,
    /// `validated`, `pendingValidation`, `expired`, `refused`.
    #[serde(default)]
    pub status: String,
    /// What it may call.
    #[serde(default)]
    pub rules: Vec<AccessRule>,
    /// Expiry.
    #[serde(default)]
    pub expiration: Option<Timestamp>,
}

impl CurrentCredential {
    /// Whether any rule grants `method path`.
    pub fn grants(&self, method: &str, path: &str) -> bool {
        self.rules.iter().any(|r| r.grants(method, path))
    }
}

/// `GET /order/catalog/public/cloud?ovhSubsidiary=..` (the parts the product reads).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicCatalog {
    /// Currency and subsidiary.
    pub locale: CatalogLocale,
    /// Addons: one per flavor and billing mode.
    #[serde(default)]
    pub addons: Vec<CatalogAddon>,
}

/// Locale of the catalog.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogLocale {
    /// ISO currency, e.g. `EUR`.
    pub currency_code: String,
    /// OVH subsidiary, e.g. `FR`.
    #[serde(default)]
    pub subsidiary: String,
}

/// An addon of the catalog, e.g. plan `b3-8.consumption`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogAddon {
    /// Plan code: `{flavor}.consumption` (hourly) or `{flavor}.monthly.postpaid`.
    pub plan_code: String,
    /// Invoice name.
    #[serde(default)]
    pub invoice_name: String,
    /// Prices.
    #[serde(default)]
    pub pricings: Vec<CatalogPricing>,
}

/// One price of an addon.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CatalogPricing {
    /// `hour` or `month`.
    #[serde(default)]
    pub interval_unit: String,
    /// Price in 1e-8 of the currency.
    pub price: i64,
}

/// Hourly and monthly price of one flavor, in the catalog's currency.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FlavorPrice {
    /// Per hour.
    pub hourly: Option<f64>,
    /// Per month (monthly billing).
    pub monthly: Option<f64>,
}

impl PublicCatalog {
    /// Prices per flavor name, from the `{flavor}.consumption` and `{flavor}.monthly[.postpaid]`
    /// plans (other plans are ignored).
    pub fn flavor_prices(&self) -> BTreeMap<String, FlavorPrice> {
        let mut out: BTreeMap<String, FlavorPrice> = BTreeMap::new();
        for addon in &self.addons {
            let (flavor, unit) = if let Some(f) = addon.plan_code.strip_suffix(".consumption") {
                (f, "hour")
            } else if let Some(f) = addon
                .plan_code
                .strip_suffix(".monthly.postpaid")
                .or_else(|| addon.plan_code.strip_suffix(".monthly"))
            {
                (f, "month")
            } else {
                continue;
            };
            let Some(p) = addon.pricings.iter().find(|p| p.interval_unit == unit) else {
                continue;
            };
            let price = p.price as f64 / 1e8;
            let entry = out.entry(flavor.to_string()).or_default();
            if unit == "hour" {
                entry.hourly = Some(price);
            } else {
                entry.monthly = Some(price);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_body_carries_every_template_field() {
        let body = NodePoolCreate {
            name: "karpenter-b3-8-eu-west-par-a".into(),
            flavor_name: "b3-8".into(),
            desired_nodes: 1,
            min_nodes: 0,
            max_nodes: 100,
            autoscale: false,
            anti_affinity: false,
            monthly_billed: false,
            availability_zones: Some(vec!["eu-west-par-a".into()]),
            template: NodePoolTemplate::default(),
        };
        let v = serde_json::to_value(&body).unwrap();
        for ptr in [
            "/template/metadata/labels",
            "/template/metadata/annotations",
            "/template/metadata/finalizers",
            "/template/spec/unschedulable",
            "/template/spec/taints",
            "/flavorName",
            "/availabilityZones/0",
        ] {
            assert!(v.pointer(ptr).is_some(), "{ptr} missing in {v}");
        }
    }

    #[test]
    fn unknown_statuses_are_kept() {
        let s: PoolStatus = serde_json::from_str("\"USER_QUOTA_ERROR\"").unwrap();
        assert_eq!(s, PoolStatus::UserQuotaError);
        let s: PoolStatus = serde_json::from_str("\"SOMETHING_NEW\"").unwrap();
        assert_eq!(s, PoolStatus::Other("SOMETHING_NEW".into()));
        let n: NodeStatus = serde_json::from_str("\"FLAVOR_OUT_OF_STOCK_ERROR\"").unwrap();
        assert!(n.is_failed());
        assert_eq!(
            serde_json::to_string(&NodeStatus::FlavorOutOfStockError).unwrap(),
            "\"FLAVOR_OUT_OF_STOCK_ERROR\""
        );
    }

    #[test]
    fn catalog_prices() {
        let cat: PublicCatalog = serde_json::from_value(serde_json::json!({
            "locale": {"currencyCode": "EUR", "subsidiary": "FR"},
            "addons": [
                {"planCode": "b3-8.consumption", "pricings": [{"intervalUnit": "hour", "price": 5120000}]},
                {"planCode": "b2-7.monthly.postpaid", "pricings": [{"intervalUnit": "month", "price": 2485650000i64}]},
                {"planCode": "snapshot.consumption.LZ", "pricings": []}
            ]
        }))
        .unwrap();
        let p = cat.flavor_prices();
        assert_eq!(p["b3-8"].hourly, Some(0.0512));
        assert_eq!(p["b2-7"].monthly, Some(24.8565));
        assert_eq!(p.len(), 2);
    }
}
