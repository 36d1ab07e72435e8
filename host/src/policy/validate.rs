//! Structural checks of a decision against its request: everything it names exists, and every
//! pending pod is either launched or reported unplaced. Fit, requirements, spread, limits and
//! budgets are checked where the host acts on the decision.

use std::collections::{HashMap, HashSet};

use super::error::PolicyError;
use super::wire::consolidation::{Action, ConsolidationDecision, ConsolidationRequest};
use super::wire::drift::{DriftDecision, DriftRequest};
use super::wire::provisioning::{ProvisioningDecision, ProvisioningRequest};
use super::wire::Flavor;

fn invalid(message: String) -> PolicyError {
    PolicyError::InvalidOutput(message)
}

/// Checks a flavor-selection decision: known nodepools, flavors offered in the chosen zone,
/// known pod groups, and per group exactly `count` pods launched or unplaced.
pub fn provisioning(
    request: &ProvisioningRequest,
    decision: &ProvisioningDecision,
) -> Result<(), PolicyError> {
    let nodepools: HashSet<&str> = request.nodepools.iter().map(|p| p.name.as_str()).collect();
    let flavors: HashMap<&str, &Flavor> = request
        .flavors
        .iter()
        .map(|f| (f.name.as_str(), f))
        .collect();
    let mut accounted: HashMap<u32, u64> = request.pod_groups.iter().map(|g| (g.id, 0)).collect();
    let mut account = |group: u32, count: u32, what: &str| -> Result<(), PolicyError> {
        let slot = accounted.get_mut(&group).ok_or_else(|| {
            invalid(format!(
                "{what} names pod group {group}, which is not in the request"
            ))
        })?;
        if count == 0 {
            return Err(invalid(format!("{what} assigns 0 pods of group {group}")));
        }
        *slot += u64::from(count);
        Ok(())
    };
    for (i, launch) in decision.launches.iter().enumerate() {
        let what = format!(
            "launch {i} ({} in {}, pool {})",
            launch.flavor, launch.zone, launch.nodepool
        );
        if !nodepools.contains(launch.nodepool.as_str()) {
            return Err(invalid(format!(
                "{what}: unknown nodepool `{}`",
                launch.nodepool
            )));
        }
        let flavor = flavors.get(launch.flavor.as_str()).ok_or_else(|| {
            invalid(format!(
                "{what}: unknown flavor `{}` (not in the catalog)",
                launch.flavor
            ))
        })?;
        if !flavor.zones.iter().any(|z| z.zone == launch.zone) {
            return Err(invalid(format!(
                "{what}: flavor `{}` is not offered in zone `{}`",
                launch.flavor, launch.zone
            )));
        }
        if launch.pods.is_empty() {
            return Err(invalid(format!("{what}: launches a node with no pods")));
        }
        for a in &launch.pods {
            account(a.group, a.count, &what)?;
        }
    }
    for u in &decision.unplaced {
        account(u.group, u.count, "an unplaced entry")?;
    }
    for group in &request.pod_groups {
        let got = accounted[&group.id];
        let want = u64::from(group.count);
        if got < want {
            return Err(invalid(format!(
                "dropped {} of the {want} pods of group {} ({}): neither launched nor reported unplaced",
                want - got,
                group.id,
                group.name
            )));
        }
        if got > want {
            return Err(invalid(format!(
                "accounts for {got} pods of group {} ({}), which has {want}",
                group.id, group.name
            )));
        }
    }
    Ok(())
}

/// Checks a consolidation decision: known nodes, each removed at most once, known
/// nodepools and flavors for replacements, finite savings.
pub fn consolidation(
    request: &ConsolidationRequest,
    decision: &ConsolidationDecision,
) -> Result<(), PolicyError> {
    let nodes: HashSet<&str> = request.nodes.iter().map(|n| n.name.as_str()).collect();
    let nodepools: HashSet<&str> = request.nodepools.iter().map(|p| p.name.as_str()).collect();
    let flavors: HashMap<&str, &Flavor> = request
        .flavors
        .iter()
        .map(|f| (f.name.as_str(), f))
        .collect();
    for (i, command) in decision.commands.iter().enumerate() {
        if command.nodes.is_empty() {
            return Err(invalid(format!("command {i} names no node")));
        }
        let mut seen = HashSet::new();
        for node in &command.nodes {
            if !nodes.contains(node.as_str()) {
                return Err(invalid(format!("command {i} names unknown node `{node}`")));
            }
            if !seen.insert(node.as_str()) {
                return Err(invalid(format!("command {i} names node `{node}` twice")));
            }
        }
        if !command.savings_per_hour.is_finite() {
            return Err(invalid(format!("command {i} has non-finite savings")));
        }
        if let Action::Replace(replacements) = &command.action {
            for r in replacements {
                if !nodepools.contains(r.nodepool.as_str()) {
                    return Err(invalid(format!(
                        "command {i}: unknown nodepool `{}`",
                        r.nodepool
                    )));
                }
                let flavor = flavors.get(r.flavor.as_str()).ok_or_else(|| {
                    invalid(format!(
                        "command {i}: unknown flavor `{}` (not in the catalog)",
                        r.flavor
                    ))
                })?;
                if !flavor.zones.iter().any(|z| z.zone == r.zone) {
                    return Err(invalid(format!(
                        "command {i}: flavor `{}` is not offered in zone `{}`",
                        r.flavor, r.zone
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Checks a drift decision: known NodeClaims, each reported once.
pub fn drift(request: &DriftRequest, decision: &DriftDecision) -> Result<(), PolicyError> {
    let claims: HashSet<&str> = request.nodeclaims.iter().map(|c| c.name.as_str()).collect();
    let mut seen = HashSet::new();
    for d in &decision.drifted {
        if !claims.contains(d.nodeclaim.as_str()) {
            return Err(invalid(format!(
                "reports unknown nodeclaim `{}`",
                d.nodeclaim
            )));
        }
        if !seen.insert(d.nodeclaim.as_str()) {
            return Err(invalid(format!(
                "reports nodeclaim `{}` twice",
                d.nodeclaim
            )));
        }
    }
    Ok(())
}
