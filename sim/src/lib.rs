//! Local stand-ins for OVHcloud and Kubernetes, used by tests, benchmarks and the demo.
//!
//! Every simulator is a real HTTP server on loopback that the controller talks to exactly as it
//! would to the real thing. Each is started on port 0 so test binaries run in parallel.

pub mod cluster;
pub mod kube;
pub mod ovh;
