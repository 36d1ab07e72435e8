//! The policy contract as the decision code sees it: the request and decision types of each
//! world ([`types`], generated from `wit/policy.wit`). The host's Wasm runtime converts them to
//! and from the component's bindings at the call.

pub mod types;
