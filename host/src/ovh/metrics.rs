//! Prometheus metrics of the OVH client: every HTTP exchange (retries and clock syncs
//! included) counted by method, endpoint and status, and timed by endpoint. The endpoint is the
//! route as OVH documents it (`/cloud/project/{serviceName}/kube/{kubeId}/nodepool/{nodePoolId}`),
//! never a path with ids: the label set stays small and carries nothing about the account.

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
