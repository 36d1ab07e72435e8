//! A packing engine for flavor-selection policies, with a pluggable [`Score`].
//!
//! [`select`] places every pod group of a [`ProvisioningRequest`] onto new nodes:
//!
//! - groups are taken largest first (CPU, then memory, then id: first-fit decreasing);
//! - a group is admitted by a NodePool when it tolerates the pool's taints and some flavor and
//!   zone satisfy both the pool's requirements and the pod's (against the labels the new node
//!   would carry, [`NewNodeLabels`]); flavors must fit one pod plus the pool's DaemonSet
//!   overhead, be available in the zone, and, under a monthly-billed NodeClass, be gen2;
//! - zone rules first split the group into per-zone quotas: `affinity` zone puts all pods in
//!   the zone of the existing ones (or one zone), `anti-affinity` zone one pod per zone
//!   without one, a zone `spread` water-fills zones from the existing counts (always within
//!   any `max-skew`); unconstrained pods may go to any zone;
//! - each quota first fills nodes opened earlier in this call (compatible pool, flavor and
//!   zone), then opens new nodes: NodePools by weight (highest first, then name), and within the
//!   first pool that can launch, the flavor with the lowest [`Score`], then the lowest price,
//!   then the name; a zone left free is then the one of that flavor's eligible zones with the
//!   fewest existing and new nodes of that pool, then the first by name;
//! - hostname `anti-affinity` allows one pod of the group per node, a hostname `spread` at most
//!   `max-skew`, hostname `affinity` all pods on one node;
//! - NodePool limits (`remaining`, counted with each new node's full capacity in CPU, memory
//!   and GPU) and `remaining-nodes` are respected;
//! - pods that cannot be placed are reported in `unplaced`, with the reason.
//!
//! The engine never panics on any input and runs in about O(groups x (candidates + nodes)).

use crate::labels::{LabelSource, NewNodeLabels};
use crate::order::sort_by;
use crate::taints::first_untolerated;
use crate::types::{
    Assignment, Flavor, Launch, NodeState, Nodepool, PodGroup, ProvisioningDecision,
    ProvisioningRequest, Resources, Topology, Unplaced,
};

/// A new node the engine considers opening for the pods of one group.
#[derive(Debug, Clone, Copy)]
pub struct NewNode<'a> {
    /// The NodePool the node would belong to.
    pub nodepool: &'a Nodepool,
    /// The node's flavor.
    pub flavor: &'a Flavor,
    /// Price of the node per hour under its NodeClass's billing.
    pub price_per_hour: f64,
    /// Pods of the group this node would take (at least 1).
    pub pods: u32,
    /// The group being placed.
    pub group: &'a PodGroup,
}

/// Ranks candidate new nodes: the lowest score wins (ties: lower price, then flavor name).
///
/// A score must depend only on the [`NewNode`] it is given: the engine reuses it while the
/// node would take the same number of pods, which keeps a batch of thousands of pods fast.
/// The zone is chosen after the flavor (see the module documentation).
pub trait Score {
    /// The score of opening `node`.
    fn score(&self, node: &NewNode<'_>) -> f64;
}

/// The default: the lowest price per placed pod.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheapestPerPod;

impl Score for CheapestPerPod {
    fn score(&self, node: &NewNode<'_>) -> f64 {
        node.price_per_hour / f64::from(node.pods.max(1))
    }
}

/// Knobs of the engine.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Options {
    /// Consider only the N cheapest admitted flavors of each NodePool (None: all).
    pub max_flavors_considered: Option<u32>,
}

/// Places the request's pod groups; see the module documentation.
pub fn select<S: Score + ?Sized>(
    request: &ProvisioningRequest,
    score: &S,
    options: &Options,
) -> ProvisioningDecision {
    let mut packer = Packer::new(request, options);
    let mut order: Vec<&PodGroup> = request.pod_groups.iter().filter(|g| g.count > 0).collect();
    sort_by(&mut order, &|a, b| largest_first(a, b));
    for group in order {
        packer.place_group(group, score);
    }
    packer.finish()
}

/// Largest requests first (CPU, then memory), then by id: the order of first-fit decreasing.
pub fn largest_first(a: &PodGroup, b: &PodGroup) -> std::cmp::Ordering {
    b.requests
        .cpu_millis
        .cmp(&a.requests.cpu_millis)
        .then(b.requests.memory_bytes.cmp(&a.requests.memory_bytes))
        .then(a.id.cmp(&b.id))
}

/// Every zone the catalog offers a flavor in, by name.
pub fn catalog_zones(flavors: &[Flavor]) -> Vec<&str> {
    let mut zones: Vec<&str> = flavors
        .iter()
        .flat_map(|f| f.zones.iter().map(|z| z.zone.as_str()))
        .collect();
    sort_by(&mut zones, &|a, b| a.cmp(b));
    zones.dedup();
    zones
}

/// The ids of the zones in a bit set, in order.
fn zone_ids(bits: u64) -> impl Iterator<Item = usize> {
    (0..64).filter(move |z| bits & (1 << z) != 0)
}

/// Applies the NodePool's `minValues` to the flavors admitted for a group: Some(why) when they
/// span too few values of a key; else caps each candidate's pods per node so that a node
/// holding them could still be a flavor of at least `minValues` values.
fn apply_min_values(
    request: &ProvisioningRequest,
    pool: &Nodepool,
    admitted: &mut [Candidate],
) -> Option<String> {
    for r in &pool.requirements {
        let Some(min) = r.min_values.filter(|m| *m > 1) else {
            continue;
        };
        // The most pods of the group a flavor of each value holds.
        let mut best: Vec<(String, u32)> = Vec::new();
        for c in admitted.iter() {
            let flavor = &request.flavors[c.flavor];
            let Some(zone) = flavor.zones.first() else {
                continue;
            };
            let labels = NewNodeLabels::new(pool, flavor, &zone.zone);
            let Some(value) = labels.label(&r.key) else {
                continue;
            };
            match best.iter_mut().find(|(v, _)| *v == *value) {
                Some(slot) => slot.1 = slot.1.max(c.per_node),
                None => best.push((value.into_owned(), c.per_node)),
            }
        }
        if (best.len() as u32) < min {
            return Some(format!(
                "minValues {min} on {}, but the flavors that fit these pods span {} value(s)",
                r.key,
                best.len()
            ));
        }
        let mut most: Vec<u32> = best.iter().map(|(_, n)| *n).collect();
        most.sort_unstable_by(|a, b| b.cmp(a));
        let cap = most[min as usize - 1];
        for c in admitted.iter_mut() {
            c.per_node = c.per_node.min(cap);
        }
    }
    None
}

/// A NodePool/flavor pair admitted for a group, with its zones.
struct Candidate {
    pool: usize,
    flavor: usize,
    /// Zone ids, as a bit set.
    zones: u64,
    price: f64,
    /// Pods of the group one empty node takes.
    per_node: u32,
}

/// A node opened in this call.
struct Open {
    pool: usize,
    flavor: usize,
    zone: usize,
    free: Resources,
    pods: Vec<Assignment>,
}

impl Open {
    fn count_of(&self, group: u32) -> u32 {
        self.pods
            .iter()
            .filter(|a| a.group == group)
            .map(|a| a.count)
            .sum()
    }

    fn add(&mut self, group: u32, count: u32, requests: &Resources) {
        self.free = self.free.saturating_sub(&requests.saturating_mul(count));
        match self.pods.iter_mut().find(|a| a.group == group) {
            Some(a) => a.count += count,
            None => self.pods.push(Assignment { group, count }),
        }
    }
}

/// Why a flavor of a pool was not admitted, furthest stage first.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
enum Rejection {
    PoolRequirements,
    /// Index in the group's requirements.
    PodRequirement(usize),
    Billing,
    TooSmall,
    Unavailable,
}

struct Packer<'a> {
    request: &'a ProvisioningRequest,
    options: &'a Options,
    /// Pool indexes, highest weight first, then by name.
    pools: Vec<usize>,
    remaining: Vec<Option<Resources>>,
    remaining_nodes: Vec<Option<u32>>,
    /// Whether each NodePool's requirements admit each flavor offering, by
    /// `pool * flavors + flavor`, then offering index (the same for every group).
    pool_admits: Vec<Vec<bool>>,
    /// The zone bit of each flavor offering (0 past the 64th zone, which is never used).
    zone_bits: Vec<Vec<u64>>,
    /// Every zone of the catalog, by name; a zone id is an index in it.
    zones: Vec<&'a str>,
    /// Existing and new nodes per pool and zone id (`pool * zones.len() + zone`).
    zone_nodes: Vec<u32>,
    open: Vec<Open>,
    /// Open nodes before this index cannot take the smallest pod of any group any more.
    open_start: usize,
    /// The smallest request of any group, per dimension.
    smallest: Resources,
    unplaced: Vec<Unplaced>,
}

impl<'a> Packer<'a> {
    fn new(request: &'a ProvisioningRequest, options: &'a Options) -> Self {
        let mut pools: Vec<usize> = (0..request.nodepools.len()).collect();
        sort_by(&mut pools, &|&a, &b| {
            let (pa, pb) = (&request.nodepools[a], &request.nodepools[b]);
            pb.weight.cmp(&pa.weight).then(pa.name.cmp(&pb.name))
        });
        let zones = catalog_zones(&request.flavors);
        let mut zone_nodes = vec![0; request.nodepools.len() * zones.len()];
        for node in &request.nodes {
            if node.state == NodeState::Deleting {
                continue;
            }
            let pool = request
                .nodepools
                .iter()
                .position(|p| p.name == node.nodepool);
            if let (Some(p), Ok(z)) = (pool, zones.binary_search(&node.zone.as_str())) {
                zone_nodes[p * zones.len() + z] += 1;
            }
        }
        let pool_admits = request
            .nodepools
            .iter()
            .flat_map(|pool| {
                request.flavors.iter().map(move |flavor| {
                    flavor
                        .zones
                        .iter()
                        .map(|o| {
                            NewNodeLabels::new(pool, flavor, &o.zone)
                                .unmet_pool_requirement()
                                .is_none()
                        })
                        .collect()
                })
            })
            .collect();
        let zone_bits = request
            .flavors
            .iter()
            .map(|f| {
                f.zones
                    .iter()
                    .map(|o| match zones.binary_search(&o.zone.as_str()) {
                        Ok(z) if z < 64 => 1u64 << z,
                        _ => 0,
                    })
                    .collect()
            })
            .collect();
        Packer {
            request,
            pool_admits,
            zone_bits,
            options,
            pools,
            remaining: request.nodepools.iter().map(|p| p.remaining).collect(),
            remaining_nodes: request
                .nodepools
                .iter()
                .map(|p| p.remaining_nodes)
                .collect(),
            zones,
            zone_nodes,
            open: Vec::new(),
            open_start: 0,
            smallest: request
                .pod_groups
                .iter()
                .filter(|g| g.count > 0)
                .map(|g| g.requests)
                .reduce(|a, b| Resources {
                    cpu_millis: a.cpu_millis.min(b.cpu_millis),
                    memory_bytes: a.memory_bytes.min(b.memory_bytes),
                    ephemeral_storage_bytes: a
                        .ephemeral_storage_bytes
                        .min(b.ephemeral_storage_bytes),
                    gpu: a.gpu.min(b.gpu),
                    pods: a.pods.min(b.pods),
                })
                .unwrap_or(Resources::ZERO),
            unplaced: Vec::new(),
        }
    }

    fn pool(&self, i: usize) -> &'a Nodepool {
        &self.request.nodepools[i]
    }

    fn flavor(&self, i: usize) -> &'a Flavor {
        &self.request.flavors[i]
    }

    fn unplace(&mut self, group: &PodGroup, count: u32, reason: String) {
        if count > 0 {
            self.unplaced.push(Unplaced {
                group: group.id,
                count,
                reason,
            });
        }
    }

    /// The pool/flavor pairs admitted for `group`, or why there is none.
    fn zone_id(&self, name: &str) -> Option<usize> {
        self.zones.binary_search(&name).ok()
    }

    fn nodes_in(&self, pool: usize, zone: usize) -> u32 {
        self.zone_nodes[pool * self.zones.len() + zone]
    }

    fn candidates(&self, group: &PodGroup) -> Result<Vec<Candidate>, String> {
        let mut out = Vec::new();
        let mut reasons = Vec::new();
        for &p in &self.pools {
            let pool = self.pool(p);
            if let Some(t) = first_untolerated(&pool.taints, &group.tolerations) {
                reasons.push(format!(
                    "NodePool {}: taint {} not tolerated",
                    pool.name,
                    t.describe()
                ));
                continue;
            }
            let usable = |f: &Flavor| {
                if pool.daemonset_overhead.fits(&f.allocatable) {
                    f.allocatable.saturating_sub(&pool.daemonset_overhead)
                } else {
                    Resources::ZERO
                }
            };
            let mut worst: Option<Rejection> = None;
            let mut admitted = Vec::new();
            for (fi, flavor) in self.request.flavors.iter().enumerate() {
                let admits = &self.pool_admits[p * self.request.flavors.len() + fi];
                if !admits.contains(&true) {
                    worst.get_or_insert(Rejection::PoolRequirements);
                    continue;
                }
                let price = flavor.price_per_hour(pool.nodeclass.monthly_billed);
                let per_node = group.requests.copies_within(&usable(flavor));
                let mut zones = 0u64;
                let mut best = Rejection::PoolRequirements;
                for (oi, offering) in flavor.zones.iter().enumerate() {
                    let labels = NewNodeLabels::new(pool, flavor, &offering.zone);
                    let rejection = if !admits[oi] {
                        Some(Rejection::PoolRequirements)
                    } else if let Some(r) = group
                        .requirements
                        .iter()
                        .position(|r| !labels.admits_pod_requirement(r))
                    {
                        Some(Rejection::PodRequirement(r))
                    } else if price.is_none() {
                        Some(Rejection::Billing)
                    } else if per_node == 0 {
                        Some(Rejection::TooSmall)
                    } else if !offering.available {
                        Some(Rejection::Unavailable)
                    } else {
                        None
                    };
                    match rejection {
                        None => zones |= self.zone_bits[fi][oi],
                        Some(r) if r > best => best = r,
                        Some(_) => {}
                    }
                }
                if zones == 0 {
                    if worst.as_ref().is_none_or(|w| best > *w) {
                        worst = Some(best);
                    }
                    continue;
                }
                admitted.push(Candidate {
                    pool: p,
                    flavor: fi,
                    zones,
                    price: price.unwrap_or(f64::INFINITY),
                    per_node,
                });
            }
            // Karpenter's minValues: the flavors a node of the pool may be must span that many
            // values of the key; with fewer among those that fit a pod, the pool cannot take
            // the group, and a node holds no more pods than the minValues-th best value fits.
            if !admitted.is_empty() {
                if let Some(why) = apply_min_values(self.request, pool, &mut admitted) {
                    reasons.push(format!("NodePool {}: {why}", pool.name));
                    continue;
                }
            }
            if admitted.is_empty() {
                let why = match worst {
                    None | Some(Rejection::PoolRequirements) => {
                        "no flavor of the catalog satisfies its requirements".to_string()
                    }
                    Some(Rejection::PodRequirement(r)) => {
                        format!(
                            "pod requirement {} not satisfied by any of its flavors",
                            group.requirements[r].describe()
                        )
                    }
                    Some(Rejection::Billing) => {
                        "its NodeClass bills monthly, which only gen2 flavors allow".to_string()
                    }
                    Some(Rejection::TooSmall) => format!(
                        "one pod ({}) plus DaemonSet overhead exceeds the allocatable of every eligible flavor",
                        group.requests.describe()
                    ),
                    Some(Rejection::Unavailable) => {
                        "every eligible flavor is unavailable in the allowed zones".to_string()
                    }
                };
                reasons.push(format!("NodePool {}: {why}", pool.name));
                continue;
            }
            sort_by(&mut admitted, &|a, b| {
                a.price
                    .total_cmp(&b.price)
                    .then_with(|| self.flavor(a.flavor).name.cmp(&self.flavor(b.flavor).name))
            });
            if let Some(max) = self.options.max_flavors_considered {
                admitted.truncate(max as usize);
            }
            out.extend(admitted);
        }
        if out.is_empty() {
            if reasons.is_empty() {
                return Err("no NodePool is eligible for these pods".into());
            }
            return Err(format!(
                "no NodePool can launch a node for {}: {}",
                group.name,
                reasons.join("; ")
            ));
        }
        Ok(out)
    }

    /// The zone with the fewest nodes of `pool`, then the first by name.
    fn balanced_zone(&self, pool: usize, zones: u64) -> Option<usize> {
        zone_ids(zones).min_by_key(|&z| (self.nodes_in(pool, z), z))
    }

    fn place_group<S: Score + ?Sized>(&mut self, group: &'a PodGroup, score: &S) {
        let cands = match self.candidates(group) {
            Ok(c) => c,
            Err(reason) => return self.unplace(group, group.count, reason),
        };
        let eligible_bits = cands.iter().fold(0, |m, c| m | c.zones);
        let eligible: Vec<usize> = zone_ids(eligible_bits).collect();
        let mut existing = vec![0u32; self.zones.len()];
        for d in &group.zone_counts {
            if let Some(z) = self.zone_id(&d.domain) {
                existing[z] = existing[z].saturating_add(d.count);
            }
        }
        let first_pool = cands[0].pool;

        let mut quotas: Vec<(Option<usize>, u32)> = Vec::new();
        if group.affinity.contains(&Topology::Zone) {
            let occupied = group
                .zone_counts
                .iter()
                .filter(|d| d.count > 0)
                .max_by(|a, b| a.count.cmp(&b.count).then(b.domain.cmp(&a.domain)));
            match occupied {
                Some(d) => match self.zone_id(&d.domain).filter(|z| eligible.contains(z)) {
                    Some(z) => quotas.push((Some(z), group.count)),
                    None => {
                        return self.unplace(
                            group,
                            group.count,
                            format!(
                                "zone affinity: the group's pods run in zone {}, where no eligible flavor is available",
                                d.domain
                            ),
                        )
                    }
                },
                None => {
                    let zone = self.balanced_zone(first_pool, eligible_bits);
                    quotas.push((zone, group.count));
                }
            }
        } else if group.anti_affinity.contains(&Topology::Zone) {
            let mut free: Vec<usize> = eligible
                .iter()
                .copied()
                .filter(|&z| existing[z] == 0)
                .collect();
            sort_by(&mut free, &|&a, &b| {
                (self.nodes_in(first_pool, a), a).cmp(&(self.nodes_in(first_pool, b), b))
            });
            let n = (group.count as usize).min(free.len());
            quotas.extend(free[..n].iter().map(|z| (Some(*z), 1)));
            let left = group.count - n as u32;
            self.unplace(
                group,
                left,
                format!(
                    "zone anti-affinity: only {n} eligible zone(s) have no pod of {}",
                    group.name
                ),
            );
        } else if let Some(max_skew) = group
            .spreads
            .iter()
            .filter(|s| s.topology == Topology::Zone)
            .map(|s| s.max_skew)
            .min()
        {
            // Zones the pods may run in but no candidate launches in still count as domains
            // (`zone-counts` lists them): their pods are the floor the skew is measured from.
            let fixed: Vec<u32> = group
                .zone_counts
                .iter()
                .filter(|d| {
                    self.zone_id(&d.domain)
                        .is_none_or(|z| !eligible.contains(&z))
                })
                .map(|d| d.count)
                .collect();
            // minDomains: with fewer domains, the least loaded one counts as empty.
            let min_domains = group
                .spreads
                .iter()
                .filter(|s| s.topology == Topology::Zone)
                .filter_map(|s| s.min_domains)
                .max();
            let domains = eligible.len() + fixed.len();
            let floor = if min_domains.is_some_and(|m| (domains as u64) < u64::from(m)) {
                Some(0)
            } else {
                fixed.iter().copied().min()
            };
            let mut counts: Vec<(u32, u32, usize, u32)> = eligible
                .iter()
                .map(|&z| (existing[z], self.nodes_in(first_pool, z), z, 0))
                .collect();
            let mut placed = 0;
            for _ in 0..group.count {
                let Some(i) = (0..counts.len()).min_by_key(|&i| {
                    let c = &counts[i];
                    (c.0, c.1, c.2)
                }) else {
                    break;
                };
                counts[i].0 = counts[i].0.saturating_add(1);
                let low = counts.iter().map(|c| c.0).chain(floor).min().unwrap_or(0);
                if counts[i].0 - low > max_skew {
                    counts[i].0 -= 1;
                    break;
                }
                counts[i].3 += 1;
                placed += 1;
            }
            quotas.extend(
                counts
                    .into_iter()
                    .filter(|c| c.3 > 0)
                    .map(|c| (Some(c.2), c.3)),
            );
            if placed < group.count {
                self.unplace(
                    group,
                    group.count - placed,
                    format!(
                        "zone spread: more pods of {} would exceed maxSkew {max_skew} over zones where no node can be launched for them",
                        group.name
                    ),
                );
            }
        } else {
            quotas.push((None, group.count));
        }

        for (zone, count) in quotas {
            self.place_quota(group, &cands, zone, count, score);
        }
    }

    /// Places `count` pods of `group` in `zone` (None: any zone).
    fn place_quota<S: Score + ?Sized>(
        &mut self,
        group: &'a PodGroup,
        cands: &[Candidate],
        zone: Option<usize>,
        count: u32,
        score: &S,
    ) {
        let host_affinity = group.host_affine();
        let cap = group.max_per_node();
        if host_affinity && group.zone_counts.iter().any(|d| d.count > 0) {
            return self.unplace(
                group,
                count,
                "hostname affinity: the group's pods must join its running pods on their node"
                    .into(),
            );
        }
        let mut left = count;

        if !host_affinity && !self.open.is_empty() {
            // Candidate index per (pool, flavor), for an O(1) check of each open node.
            let flavors = self.request.flavors.len();
            let mut by_pair: Vec<Option<usize>> =
                vec![None; self.request.nodepools.len() * flavors];
            for (i, c) in cands.iter().enumerate() {
                by_pair[c.pool * flavors + c.flavor] = Some(i);
            }
            // Nodes fill in order (first fit), so skip the leading ones that are full for good.
            while self
                .open
                .get(self.open_start)
                .is_some_and(|o| !self.smallest.fits(&o.free))
            {
                self.open_start += 1;
            }
            for open in self.open[self.open_start..].iter_mut() {
                if left == 0 {
                    break;
                }
                if zone.is_some_and(|z| z != open.zone) {
                    continue;
                }
                let admitted = by_pair[open.pool * flavors + open.flavor]
                    .is_some_and(|i| cands[i].zones & (1 << open.zone) != 0);
                if !admitted {
                    continue;
                }
                if !group.requests.fits(&open.free) {
                    continue;
                }
                let room = cap.saturating_sub(open.count_of(group.id));
                let k = left.min(room).min(group.requests.copies_within(&open.free));
                if k > 0 {
                    open.add(group.id, k, &group.requests);
                    left -= k;
                }
            }
        }

        // Score per candidate, with the pod count it was computed for.
        let mut scored: Vec<(u32, f64)> = vec![(0, 0.0); cands.len()];
        // While `left` is at least what any candidate's node takes, no score changes and limits
        // only shrink, so the previous winner wins again as long as it can still launch.
        let saturated_at = cands.iter().map(|c| c.per_node.min(cap)).max().unwrap_or(0);
        let mut last: Option<usize> = None;
        while left > 0 {
            if let Some(b) = last.filter(|_| left >= saturated_at) {
                let c = &cands[b];
                let p = c.pool;
                let capacity = &self.flavor(c.flavor).capacity;
                if self.remaining_nodes[p] != Some(0)
                    && self.remaining[p].is_none_or(|rem| capacity.within_limits(&rem))
                {
                    let k = c.per_node.min(cap);
                    self.launch(group, c, zone, k);
                    left -= k;
                    continue;
                }
            }
            let mut best: Option<usize> = None;
            let mut blocked = Vec::new();
            for pi in 0..self.pools.len() {
                let p = self.pools[pi];
                let pool = self.pool(p);
                let Some(first) = cands.iter().position(|c| c.pool == p) else {
                    continue;
                };
                if self.remaining_nodes[p] == Some(0) {
                    blocked.push(format!("NodePool {}: node limit reached", pool.name));
                    continue;
                }
                let mut limited = false;
                // Candidates are grouped by pool.
                for (ci, c) in cands
                    .iter()
                    .enumerate()
                    .skip(first)
                    .take_while(|(_, c)| c.pool == p)
                {
                    let flavor = self.flavor(c.flavor);
                    if let Some(rem) = &self.remaining[p] {
                        if !flavor.capacity.within_limits(rem) {
                            limited = true;
                            continue;
                        }
                    }
                    if zone.is_some_and(|z| c.zones & (1 << z) == 0) {
                        continue;
                    }
                    let k = left.min(c.per_node).min(cap);
                    if host_affinity && k < left {
                        continue;
                    }
                    if scored[ci].0 != k {
                        let s = score.score(&NewNode {
                            nodepool: pool,
                            flavor,
                            price_per_hour: c.price,
                            pods: k,
                            group,
                        });
                        scored[ci] = (k, s);
                    }
                    let better = best.is_none_or(|b| {
                        let o = &cands[b];
                        scored[ci]
                            .1
                            .total_cmp(&scored[b].1)
                            .then(c.price.total_cmp(&o.price))
                            .then_with(|| flavor.name.cmp(&self.flavor(o.flavor).name))
                            .is_lt()
                    });
                    if better {
                        best = Some(ci);
                    }
                }
                if let Some(b) = best {
                    let k = scored[b].0;
                    self.launch(group, &cands[b], zone, k);
                    left -= k;
                    last = Some(b);
                    break;
                }
                if limited {
                    blocked.push(format!(
                        "NodePool {}: limits reached (remaining {})",
                        pool.name,
                        self.remaining[p].map(|r| r.describe()).unwrap_or_default()
                    ));
                } else if host_affinity {
                    blocked.push(format!(
                        "NodePool {}: hostname affinity needs one node for all {left} pods and no flavor fits them",
                        pool.name
                    ));
                } else if let Some(z) = zone {
                    blocked.push(format!(
                        "NodePool {}: no eligible flavor in zone {}",
                        pool.name, self.zones[z]
                    ));
                }
            }
            if best.is_none() {
                let reason = if blocked.is_empty() {
                    "no NodePool can launch another node".to_string()
                } else {
                    blocked.join("; ")
                };
                return self.unplace(group, left, reason);
            }
        }
    }

    /// Opens a node of candidate `c` with `k` pods, in `zone` or else its balanced zone.
    fn launch(&mut self, group: &PodGroup, c: &Candidate, zone: Option<usize>, k: u32) {
        let z = match zone {
            Some(z) => z,
            None => self
                .balanced_zone(c.pool, c.zones)
                .expect("a candidate has at least one zone"),
        };
        self.open_node(group, c.pool, c.flavor, z, k);
    }

    fn open_node(&mut self, group: &PodGroup, pool: usize, flavor: usize, zone: usize, k: u32) {
        let p = self.pool(pool);
        let f = self.flavor(flavor);
        let free = f.allocatable.saturating_sub(&p.daemonset_overhead);
        if let Some(rem) = &mut self.remaining[pool] {
            *rem = rem.saturating_sub(&f.capacity);
        }
        if let Some(n) = &mut self.remaining_nodes[pool] {
            *n -= 1;
        }
        self.zone_nodes[pool * self.zones.len() + zone] += 1;
        let mut open = Open {
            pool,
            flavor,
            zone,
            free,
            pods: Vec::new(),
        };
        open.add(group.id, k, &group.requests);
        self.open.push(open);
    }

    fn finish(self) -> ProvisioningDecision {
        let request = self.request;
        let zones = self.zones;
        ProvisioningDecision {
            launches: self
                .open
                .into_iter()
                .map(|o| Launch {
                    nodepool: request.nodepools[o.pool].name.clone(),
                    flavor: request.flavors[o.flavor].name.clone(),
                    zone: zones[o.zone].to_string(),
                    pods: o.pods,
                })
                .collect(),
            unplaced: self.unplaced,
        }
    }
}
