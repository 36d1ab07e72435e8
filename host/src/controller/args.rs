//! Flags of `karpenter-ovhcloud controller`, each with an environment fallback (the Helm chart
//! sets the environment).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::api::duration::parse_go_duration;
use crate::ovh::Endpoint;

fn duration(text: &str) -> Result<Duration, String> {
    parse_go_duration(text).map_err(|e| e.to_string())
}

/// Arguments of `karpenter-ovhcloud controller`.
#[derive(clap::Args, Debug, Clone)]
pub struct Args {
    /// Kubeconfig to use; without it, $KUBECONFIG, ~/.kube/config, then the in-cluster service
    /// account.
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Namespace the controller runs in: policy ConfigMaps and the leader Lease live there.
    #[arg(long, env = "KARPENTER_NAMESPACE", default_value = "karpenter")]
    pub namespace: String,

    /// OVH API: ovh-eu, ovh-ca, ovh-us, or a base URL (e.g. the simulator's
    /// `http://127.0.0.1:PORT/1.0`). A URL also overrides every OVHNodeClass's `endpoint`.
    #[arg(long, env = "OVH_ENDPOINT", default_value = "ovh-eu")]
    pub ovh_endpoint: Endpoint,

    /// Secret (`namespace/name`) holding the controller's OVH credentials (applicationKey,
    /// applicationSecret, consumerKey). Without it, OVH_APPLICATION_KEY, OVH_APPLICATION_SECRET
    /// and OVH_CONSUMER_KEY, else the credentials of the first Ready OVHNodeClass.
    #[arg(long, env = "OVH_CREDENTIALS_SECRET")]
    pub ovh_credentials_secret: Option<String>,

    /// OVH Public Cloud project id (32 hex characters) of the MKS cluster.
    #[arg(long, env = "OVH_SERVICE_NAME")]
    pub service_name: String,

    /// MKS cluster id.
    #[arg(long, env = "OVH_KUBE_ID")]
    pub kube_id: String,

    /// Region of the cluster, e.g. EU-WEST-PAR.
    #[arg(long, env = "OVH_REGION")]
    pub region: String,

    /// OVH subsidiary whose public price catalog is read (falls back to the embedded table).
    #[arg(long, env = "OVH_SUBSIDIARY", default_value = "FR")]
    pub ovh_subsidiary: String,

    /// A provisioning batch closes after this long without a new pending pod.
    #[arg(long, env = "BATCH_IDLE_DURATION", default_value = "1s", value_parser = duration)]
    pub batch_idle_duration: Duration,

    /// A provisioning batch closes at the latest this long after its first pending pod.
    #[arg(long, env = "BATCH_MAX_DURATION", default_value = "10s", value_parser = duration)]
    pub batch_max_duration: Duration,

    /// Period of the pool, lifecycle and garbage-collection pass.
    #[arg(long, env = "RECONCILE_INTERVAL", default_value = "10s", value_parser = duration)]
    pub reconcile_interval: Duration,

    /// Period of the disruption pass (empty nodes, drift, expiry, consolidation), guide time.
    #[arg(long, env = "DISRUPTION_INTERVAL", default_value = "10s", value_parser = duration)]
    pub disruption_interval: Duration,

    /// A consolidation command is carried out only if it is still chosen this long after it
    /// was first chosen (guide time), so a passing lull does not remove a node.
    #[arg(long, env = "CONSOLIDATION_VALIDATION_DELAY", default_value = "15s", value_parser = duration)]
    pub consolidation_validation_delay: Duration,

    /// A NodeClaim whose OVH node did not appear within this is deleted and provisioned again.
    #[arg(long, env = "LAUNCH_TIMEOUT", default_value = "5m", value_parser = duration)]
    pub launch_timeout: Duration,

    /// A launched NodeClaim whose node did not register within this is deleted and provisioned
    /// again (GPU flavors get four times as long).
    #[arg(long, env = "REGISTRATION_TIMEOUT", default_value = "15m", value_parser = duration)]
    pub registration_timeout: Duration,

    /// How pods' preferences (preferred node and pod affinity and anti-affinity,
    /// `ScheduleAnyway` spreads) are treated: `Respect` holds them as required, then relaxes
    /// them one at a time for pods that fit nowhere; `Ignore` does not look at them.
    #[arg(long, env = "PREFERENCE_POLICY", default_value = "Respect")]
    pub preference_policy: crate::provisioning::simulate::PreferencePolicy,

    /// How NodePools' `minValues` is enforced: `Strict` launches no node whose possible
    /// flavors span fewer values than asked; `BestEffort` launches it with what there is and
    /// annotates its NodeClaim `karpenter.sh/nodeclaim-min-values-relaxed: "true"`.
    #[arg(long, env = "MIN_VALUES_POLICY", default_value = "Strict")]
    pub min_values_policy: crate::provisioning::validate::MinValuesPolicy,

    /// An OVH node of a `karpenter-*` pool that no NodeClaim claims is removed after this.
    #[arg(long, env = "ORPHAN_GRACE_PERIOD", default_value = "3m", value_parser = duration)]
    pub orphan_grace_period: Duration,

    /// How long an out-of-stock or over-quota (flavor, zone) is skipped.
    #[arg(long, env = "UNAVAILABLE_OFFERINGS_TTL", default_value = "3m", value_parser = duration)]
    pub unavailable_offerings_ttl: Duration,

    /// Guide seconds per real second, shared with the simulators (tests and the demo run the
    /// guide's durations faster); 1 in production.
    #[arg(long, env = "KARPENTER_TIME_SCALE", default_value_t = 1.0)]
    pub time_scale: f64,

    /// Address of the Prometheus metrics endpoint (`/metrics`).
    #[arg(long, env = "METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,

    /// Address of the health probes (`/healthz`, `/readyz`).
    #[arg(long, env = "HEALTH_PROBE_ADDRESS", default_value = "0.0.0.0:8081")]
    pub health_address: SocketAddr,

    /// Run only while holding the leader Lease (two replicas: one active).
    #[arg(long, env = "LEADER_ELECT", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_elect: bool,

    /// Name of the leader Lease.
    #[arg(
        long,
        env = "LEADER_ELECTION_NAME",
        default_value = "karpenter-ovhcloud-leader"
    )]
    pub lease_name: String,

    /// Namespace of the leader Lease (default: --namespace).
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub lease_namespace: Option<String>,

    /// Lease duration: a dead leader is replaced after this long (real time).
    #[arg(long, env = "LEADER_ELECTION_LEASE_DURATION", default_value = "15s", value_parser = duration)]
    pub lease_duration: Duration,

    /// Identity in the Lease and in Events (default: $POD_NAME, else host name and pid).
    #[arg(long, env = "POD_NAME")]
    pub identity: Option<String>,

    /// Log format: json or text.
    #[arg(long, env = "LOG_FORMAT", default_value = "json")]
    pub log_format: String,
}
