//! The simulators' integration tests, built as one binary (one link instead of one per file);
//! nextest still runs every test in a process of its own. `common` holds the cluster helpers.

mod common;

mod cluster_e2e;
mod cluster_jobs;
mod cluster_kubectl;
mod cluster_scheduler;
mod cluster_workloads;
mod kube_admission;
mod kube_client;
mod kube_kubectl;
mod kube_protobuf;
mod ovh_sim;
