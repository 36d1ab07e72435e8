//! Size of a decision: list elements and string bytes, checked against the output caps.

use super::wire::consolidation::{Action, ConsolidationDecision};
use super::wire::drift::DriftDecision;
use super::wire::provisioning::ProvisioningDecision;
use super::wire::PolicyMetadata;

/// List elements and string bytes of a lifted value.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    /// List elements, all lists together.
    pub items: usize,
    /// String bytes, all strings together.
    pub bytes: usize,
}

/// A value whose size the output caps bound.
pub trait OutputSize {
    /// Its list elements and string bytes.
    fn output_size(&self) -> Size;
}

impl OutputSize for ProvisioningDecision {
    fn output_size(&self) -> Size {
        let mut s = Size {
            items: self.launches.len() + self.unplaced.len(),
            bytes: 0,
        };
        for l in &self.launches {
            s.items += l.pods.len();
            s.bytes += l.nodepool.len() + l.flavor.len() + l.zone.len();
        }
        for u in &self.unplaced {
            s.bytes += u.reason.len();
        }
        s
    }
}

impl OutputSize for ConsolidationDecision {
    fn output_size(&self) -> Size {
        let mut s = Size {
            items: self.commands.len(),
            bytes: 0,
        };
        for c in &self.commands {
            s.items += c.nodes.len();
            s.bytes += c.message.len() + c.nodes.iter().map(String::len).sum::<usize>();
            if let Action::Replace(replacements) = &c.action {
                s.items += replacements.len();
                s.bytes += replacements
                    .iter()
                    .map(|r| r.nodepool.len() + r.flavor.len() + r.zone.len())
                    .sum::<usize>();
            }
        }
        s
    }
}

impl OutputSize for DriftDecision {
    fn output_size(&self) -> Size {
        Size {
            items: self.drifted.len(),
            bytes: self
                .drifted
                .iter()
                .map(|d| d.nodeclaim.len() + d.message.len())
                .sum(),
        }
    }
}

impl OutputSize for PolicyMetadata {
    fn output_size(&self) -> Size {
        Size {
            items: 0,
            bytes: self.name.len() + self.version.len() + self.description.len(),
        }
    }
}
