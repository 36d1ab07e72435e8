//! The rules of the karpenter-ovhcloud policy contract, defined once.
//!
//! The host (through `karpenter-ovhcloud-core`) validates what a policy answers, and the
//! policy SDK (compiled to wasm32) helps policies answer: both must agree on what a label
//! key is called, when a requirement holds, when a pod fits and when a toleration tolerates
//! a taint, or the host refuses answers the SDK considered valid. This crate is the one
//! definition both sides call. It has no dependencies (std only), so it costs the Wasm
//! components nothing beyond the code they use.
//!
//! - [`balanced`]: Balanced consolidation's eviction costs and move score.
//! - [`labels`]: label, annotation and taint keys, and the well-known label values.
//! - [`requirements`]: requirement operators and [`matches`](fn@matches), the one matching rule.
//! - [`resources`]: [`Resources`], saturating arithmetic, fit and copies that fit.
//! - [`taints`]: taint effects, [`tolerates`] and [`first_untolerated`].
//! - [`flavors`](mod@flavors): the flavor and price table (`contract/flavors.csv`) and its parser.
//!
//! # Argument order
//!
//! Every rule takes its subject first (what is tested, or the list that is searched and
//! returned from) and what it is tested against second:
//! [`matches(operator, values, label_value)`](fn@matches),
//! [`request.fits_in(free)`](Resources::fits_in),
//! [`one.copies_within(free)`](Resources::copies_within),
//! [`capacity.within_limits(limit)`](Resources::within_limits),
//! [`tolerates(toleration, taint)`](tolerates),
//! [`first_untolerated(taints, tolerations)`](first_untolerated).
//! The wrappers of the core and the SDK keep that order.

#![deny(missing_docs)]

pub mod balanced;
pub mod flavors;
pub mod labels;
pub mod requirements;
pub mod resources;
pub mod taints;

pub use flavors::{flavor, flavors, parse_flavors, FlavorRow, TableError};
pub use requirements::{matches, Operator};
pub use resources::Resources;
pub use taints::{
    all_tolerated, first_untolerated, tolerates, AsTaint, AsToleration, Taint, TaintEffect,
    Toleration, TolerationOperator,
};
