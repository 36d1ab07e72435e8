//! Prometheus metrics of the OVH client: every HTTP exchange (retries and clock syncs
//! included) counted by method, endpoint and status, and timed by endpoint. The endpoint is the
//! route as OVH documents it (`/cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}`),
//! never a path with ids: the label set stays small and carries nothing about the account.
//!
//! Also upstream Karpenter's `karpenter_cloudprovider_*` families, which time the logical
//! operations (list, create, delete) the pool pass carries out with these requests.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of `karpenter_ovhcloud_ovh_requests_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// HTTP method.
    pub method: String,
    /// Route template, e.g. `/cloud/project/{serviceName}/kube/{kubeId}/nodepool`.
    pub endpoint: String,
    /// HTTP status answered, or `transport` when no answer came (timeout, dropped connection).
    pub status: String,
}

/// Labels of `karpenter_ovhcloud_ovh_request_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// HTTP method.
    pub method: String,
    /// Route template.
    pub endpoint: String,
}

fn duration_histogram() -> Histogram {
    // 5 ms .. ~20 s.
    Histogram::new(exponential_buckets(0.005, 2.0, 13))
}

/// Upstream Karpenter's `metrics.DurationBuckets()` (seconds): the buckets of every
/// `karpenter_*` duration histogram.
pub const DURATION_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0, 120.0, 150.0, 300.0, 450.0, 600.0,
];

/// A histogram with [`DURATION_BUCKETS`].
pub fn karpenter_duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS.iter().copied())
}

/// The OVH client's metrics. Cheap to clone (clones count into the same families), so every
/// client the controller builds shares one set.
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    /// Requests by method, endpoint and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Duration of one exchange (real seconds) by method and endpoint.
    pub duration: Family<EndpointLabels, Histogram, fn() -> Histogram>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            requests: Family::default(),
            duration: Family::new_with_constructor(duration_histogram),
        }
    }
}

impl RequestMetrics {
    /// Registers both families under the `karpenter_ovhcloud` prefix.
    pub fn register(&self, registry: &mut Registry) {
        let r = registry.sub_registry_with_prefix("karpenter_ovhcloud");
        r.register(
            "ovh_requests",
            "OVH API requests (every attempt) by method, endpoint and status",
            self.requests.clone(),
        );
        r.register(
            "ovh_request_duration_seconds",
            "Duration of one OVH API exchange by method and endpoint",
            self.duration.clone(),
        );
    }

    /// Records one exchange.
    pub fn observe(&self, method: &str, endpoint: &str, status: &str, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                method: method.into(),
                endpoint: endpoint.into(),
                status: status.into(),
            })
            .inc();
        self.duration
            .get_or_create(&EndpointLabels {
                method: method.into(),
                endpoint: endpoint.into(),
            })
            .observe(seconds);
    }
}

/// The `provider` label of the `karpenter_cloudprovider_*` families.
pub const PROVIDER: &str = "ovhcloud";

/// Labels of `karpenter_cloudprovider_duration_seconds`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    /// The controller that called (`nodeclaim.lifecycle`: the pool pass).
    pub controller: String,
    /// Upstream's CloudProvider method: `Create`, `Delete` or `List`.
    pub method: String,
    /// `ovhcloud`.
    pub provider: String,
}

/// Labels of `karpenter_cloudprovider_errors_total`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodErrorLabels {
    /// The controller that called.
    pub controller: String,
    /// The method.
    pub method: String,
    /// `ovhcloud`.
    pub provider: String,
    /// `InsufficientCapacityError` (stock or quota), else empty, as upstream.
    pub error: String,
}

/// Upstream Karpenter's `karpenter_cloudprovider_duration_seconds` and
/// `karpenter_cloudprovider_errors_total`, around the pool pass's logical operations (one
/// observation per operation, however many HTTP requests and retries it took). Cheap to clone.
#[derive(Clone, Debug)]
pub struct CloudProviderMetrics {
    /// Duration of one operation by controller, method and provider.
    pub duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    /// Failed operations by controller, method, provider and error.
    pub errors: Family<MethodErrorLabels, Counter>,
}

impl Default for CloudProviderMetrics {
    fn default() -> Self {
        let metrics = Self {
            duration: Family::new_with_constructor(karpenter_duration_histogram),
            errors: Family::default(),
        };
        // The error counters exist from the start at 0 (dashboards and alerts see the name
        // before the first failure).
        for method in ["Create", "Delete", "List"] {
            metrics
                .errors
                .get_or_create(&MethodErrorLabels {
                    controller: "nodeclaim.lifecycle".into(),
                    method: method.into(),
                    provider: PROVIDER.into(),
                    error: String::new(),
                })
                .inc_by(0);
        }
        metrics
    }
}

impl CloudProviderMetrics {
    /// Registers both families under their full names.
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "karpenter_cloudprovider_duration_seconds",
            "Duration of cloud provider method calls. Labeled by the controller, method name and provider",
            self.duration.clone(),
        );
        registry.register(
            "karpenter_cloudprovider_errors",
            "Total number of errors returned from CloudProvider calls",
            self.errors.clone(),
        );
    }

    /// Records one operation of `method` by `controller`; `error` is the error label of a
    /// failed one.
    pub fn observe(&self, controller: &str, method: &str, seconds: f64, error: Option<&str>) {
        self.duration
            .get_or_create(&MethodLabels {
                controller: controller.into(),
                method: method.into(),
                provider: PROVIDER.into(),
            })
            .observe(seconds);
        if let Some(error) = error {
            self.errors
                .get_or_create(&MethodErrorLabels {
                    controller: controller.into(),
                    method: method.into(),
                    provider: PROVIDER.into(),
                    error: error.into(),
                })
                .inc();
        }
    }
}
