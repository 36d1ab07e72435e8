//! The three policy worlds of the contract.

use std::fmt;
use std::str::FromStr;

/// A world of `wit/policy.wit`: what a policy decides.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    /// `flavor-selection`: new nodes for a batch of pending pods (export `select`).
    FlavorSelection,
    /// `consolidation`: nodes to remove or replace (export `consolidate`).
    Consolidation,
    /// `drift`: NodeClaims that no longer match their NodePool or OVHNodeClass (export `detect`).
    Drift,
}

impl World {
    /// Every world, in a fixed order.
    pub const ALL: [World; 3] = [World::FlavorSelection, World::Consolidation, World::Drift];

    /// The WIT name of the world, also the value of the `karpenter.ovhcloud.sh/policy` label.
    pub fn as_str(self) -> &'static str {
        match self {
            World::FlavorSelection => "flavor-selection",
            World::Consolidation => "consolidation",
            World::Drift => "drift",
        }
    }

    /// The name of the world's decision export (beside `metadata`).
    pub fn decision_export(self) -> &'static str {
        match self {
            World::FlavorSelection => "select",
            World::Consolidation => "consolidate",
            World::Drift => "detect",
        }
    }

    /// The world whose decision export is `name`, if any.
    pub fn from_decision_export(name: &str) -> Option<World> {
        World::ALL.into_iter().find(|w| w.decision_export() == name)
    }

    /// Index in [`World::ALL`], for per-world arrays.
    pub(crate) fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error of [`World::from_str`].
#[derive(Debug, thiserror::Error)]
#[error("unknown policy world `{0}` (expected flavor-selection, consolidation or drift)")]
pub struct UnknownWorld(String);

impl FromStr for World {
    type Err = UnknownWorld;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        World::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| UnknownWorld(s.to_string()))
    }
}
