//! Helpers shared by the policy tests.

pub mod components;
