//! OVHcloud API client: endpoints, request signing, clock offset, typed models, classified
//! errors, retries and rate limiting.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use karpenter_ovhcloud::ovh::{ClientConfig, ClusterRef, Credentials, Endpoint, OvhClient};
//! let client = OvhClient::new(ClientConfig::new(Endpoint::OvhEu, Credentials::from_env()?))?;
//! let cluster = ClusterRef::new("0123456789abcdef0123456789abcdef", "my-kube-id");
//! for pool in client.list_node_pools(&cluster).await? {
//!     println!("{} {} {:?}", pool.name, pool.desired_nodes, pool.status);
//! }
//! # Ok(()) }
//! ```

// `OvhError::Api` keeps every field OVH gives (status, class, code, message, query id): it is
// large, and it only travels on the slow path after a network round trip.
#![allow(clippy::result_large_err)]

pub mod client;
pub mod credentials;
pub mod endpoint;
pub mod error;
pub mod metrics;
pub mod ratelimit;
pub mod retry;
pub mod signature;

pub use client::{ClientConfig, OvhClient};
pub use credentials::{Credentials, CredentialsError};
pub use endpoint::Endpoint;
pub use error::{ErrorKind, OvhError};
pub use metrics::{CloudProviderMetrics, RequestMetrics};
// The wire model is the core's (pure data); this module is the client.
pub use karpenter_ovhcloud_core::ovh::{glob, models};
pub use models::*;
pub use ratelimit::{RateLimit, RateLimiter};
pub use retry::RetryPolicy;
