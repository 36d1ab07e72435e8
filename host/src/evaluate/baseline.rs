//! The two built-in baselines the evaluator compares policies with, as [`FlavorPolicy`]s whose
//! answers go through the same validation as any policy's:
//!
//! - [`Naive`]: what early OVH providers did. The alphabetically first flavor the pool allows
//!   that fits the pod, the alphabetically first zone, first-fit packing, and a new OVH pool for
//!   every pending burst (counted by the replay).
//! - [`FixedFlavor`]: a cluster-autoscaler-like node group per pool: one fixed flavor
//!   ([`super::setup::Pool::baseline_flavor`]), the zone picked by a seeded random expander;
//!   its scale-down (10 min below 50%) lives in the replay.
//!
//! Both keep hard zone spread by sending each pod to its least-loaded allowed zone, and
//! hostname anti-affinity by one pod of the group per new node.

use std::cell::RefCell;
use std::collections::BTreeMap;

use super::setup::allows;
use super::SplitMix64;
use crate::provisioning::{Decision, FlavorPolicy, Launch, Request, Unplaced};
use crate::scheduling::{taints::first_untolerated, FlavorSpec, Resources, Topology};

/// The naive alphabetical first-fit picker.
#[derive(Clone, Copy, Debug, Default)]
pub struct Naive;

/// The cluster-autoscaler-like fixed-flavor picker.
#[derive(Debug)]
pub struct FixedFlavor {
    /// Fixed flavor per pool name (catalog flavor name).
    pub flavors: BTreeMap<String, String>,
    rng: RefCell<SplitMix64>,
}

impl FixedFlavor {
    /// A picker with the pools' fixed flavors and a seeded random expander.
    pub fn new(flavors: BTreeMap<String, String>, seed: u64) -> Self {
        Self {
            flavors,
            rng: RefCell::new(SplitMix64::new(seed)),
        }
    }
}

impl FlavorPolicy for Naive {
    fn select(&self, request: &Request) -> Result<Decision, String> {
        let mut by_name: Vec<usize> = (0..request.flavors.len()).collect();
        by_name.sort_by(|a, b| request.flavors[*a].name.cmp(&request.flavors[*b].name));
        Ok(pack(
            request,
            |pool, group| {
                let spec = &request.groups[group].spec;
                let p = &request.pools[pool];
                by_name.iter().copied().find(|&f| {
                    let flavor = &request.flavors[f];
                    fits(spec.requests, flavor, p.daemonset_overhead)
                        && flavor
                            .zones
                            .iter()
                            .any(|(z, _)| allows(&p.spec, flavor, z, Some(spec)))
                })
            },
            |zones| zones[0].clone(),
        ))
    }
}

impl FlavorPolicy for FixedFlavor {
    fn select(&self, request: &Request) -> Result<Decision, String> {
        let mut rng = self.rng.borrow_mut();
        Ok(pack(
            request,
            |pool, group| {
                let name = self.flavors.get(&request.pools[pool].spec.name)?;
                let f = request.flavors.iter().position(|f| &f.name == name)?;
                let p = &request.pools[pool];
                fits(
                    request.groups[group].spec.requests,
                    &request.flavors[f],
                    p.daemonset_overhead,
                )
                .then_some(f)
            },
            |zones| zones[rng.below(zones.len() as u64) as usize].clone(),
        ))
    }
}

fn fits(pod: Resources, flavor: &FlavorSpec, overhead: Resources) -> bool {
    (pod + overhead).fits_in(&flavor.allocatable)
}

struct Open {
    pool: usize,
    flavor: usize,
    zone: String,
    free: Resources,
    pods: BTreeMap<u32, u32>,
}

/// First-fit packing of the groups (largest first, as the request orders them) onto new
/// nodes, with `flavor_for(pool, group)` choosing the flavor and `pick_zone` the zone among
/// the allowed ones (sorted) of a new node.
fn pack(
    request: &Request,
    mut flavor_for: impl FnMut(usize, usize) -> Option<usize>,
    mut pick_zone: impl FnMut(&[String]) -> String,
) -> Decision {
    let mut open: Vec<Open> = Vec::new();
    let mut added: Vec<(Resources, u32)> = vec![(Resources::default(), 0); request.pools.len()];
    let mut unplaced: Vec<Unplaced> = Vec::new();
    for (gi, group) in request.groups.iter().enumerate() {
        let spec = &group.spec;
        let spread = group.spreads.iter().any(|(t, ..)| *t == Topology::Zone);
        let one_per_node = group.anti_affinity.contains(&Topology::Hostname);
        let mut zone_counts: BTreeMap<String, u32> = group.zone_counts.iter().cloned().collect();
        // Flavor and allowed zones per pool, for this group.
        let choices: Vec<Option<(usize, Vec<String>)>> = (0..request.pools.len())
            .map(|pi| {
                let pool = &request.pools[pi];
                if first_untolerated(&pool.spec.taints, &spec.tolerations).is_some() {
                    return None;
                }
                let f = flavor_for(pi, gi)?;
                let flavor = &request.flavors[f];
                let mut zones: Vec<String> = flavor
                    .zones
                    .iter()
                    .filter(|(z, _)| allows(&pool.spec, flavor, z, Some(spec)))
                    .map(|(z, _)| z.clone())
                    .collect();
                zones.sort();
                (!zones.is_empty()).then_some((f, zones))
            })
            .collect();
        let mut left = 0;
        for _ in 0..group.count {
            let mut placed = false;
            for (pi, choice) in choices.iter().enumerate() {
                let Some((f, zones)) = choice else { continue };
                let zones: Vec<String> = if spread {
                    let min = zones
                        .iter()
                        .map(|z| zone_counts.get(z).copied().unwrap_or(0))
                        .min()
                        .unwrap_or(0);
                    zones
                        .iter()
                        .filter(|z| zone_counts.get(*z).copied().unwrap_or(0) == min)
                        .cloned()
                        .collect()
                } else {
                    zones.clone()
                };
                let slot = open.iter_mut().find(|o| {
                    o.pool == pi
                        && o.flavor == *f
                        && zones.contains(&o.zone)
                        && spec.requests.fits_in(&o.free)
                        && !(one_per_node && o.pods.contains_key(&group.id))
                });
                let slot = match slot {
                    Some(o) => o,
                    None => {
                        let pool = &request.pools[pi];
                        let flavor = &request.flavors[*f];
                        let (used, nodes) = added[pi];
                        let within = pool
                            .spec
                            .remaining
                            .is_none_or(|r| (used + flavor.capacity).fits_in(&r))
                            && pool.spec.remaining_nodes.is_none_or(|n| nodes < n);
                        if !within {
                            continue;
                        }
                        added[pi] = (used + flavor.capacity, nodes + 1);
                        open.push(Open {
                            pool: pi,
                            flavor: *f,
                            zone: pick_zone(&zones),
                            free: flavor.allocatable.saturating_sub(&pool.daemonset_overhead),
                            pods: BTreeMap::new(),
                        });
                        open.last_mut().expect("just pushed")
                    }
                };
                slot.free = slot.free.saturating_sub(&spec.requests);
                *slot.pods.entry(group.id).or_default() += 1;
                *zone_counts.entry(slot.zone.clone()).or_default() += 1;
                placed = true;
                break;
            }
            if !placed {
                left += 1;
            }
        }
        if left > 0 {
            unplaced.push(Unplaced {
                group: group.id,
                count: left,
                reason: "no allowed flavor fits within the pool limits".into(),
            });
        }
    }
    Decision {
        launches: open
            .into_iter()
            .map(|o| Launch {
                nodepool: request.pools[o.pool].spec.name.clone(),
                flavor: request.flavors[o.flavor].name.clone(),
                zone: o.zone,
                pods: o.pods.into_iter().collect(),
            })
            .collect(),
        unplaced,
    }
}
