//! The host's integration tests, built as one binary: one link of wasmtime, kube and the
//! simulators instead of one per file, which keeps CI's build time and disk use down. nextest
//! still runs every test in a process of its own. One module per area; `common` (policy
//! components), `scheduling_common`, `controller_common` and `chart_support` are their helpers.

mod chart_support;
mod common;
mod controller_common;
mod scheduling_common;

mod api_crds;
mod api_roundtrip;
mod bad_input;
mod bench_scale;
mod chaos;
mod chart;
mod chart_controller;
mod controller_faults;
mod controller_lifecycle;
mod controller_liveness;
mod controller_observability;
mod controller_policies;
mod controller_provisioning;
mod controller_secrets;
mod demo_files;
mod demo_main;
mod disruption;
mod evaluate;
mod layout;
mod node_health;
mod ovh_cli;
mod ovh_client;
mod ovh_fuzz;
mod ovh_glob;
mod ovh_logs;
mod policy_contained;
mod policy_runtime;
mod production_image;
mod scheduling_guide;
mod scheduling_min_values;
mod scheduling_parity;
mod scheduling_preferences;
mod scheduling_props;
mod scheduling_spread;
mod scheduling_state;
mod scheduling_validation;
mod sim_cli;
mod sim_kubectl;
mod status_update;
