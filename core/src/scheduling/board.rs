//! The placement board: nodes with what is left on them, and per-domain counts of the pods each
//! spread/affinity term refers to. Every hard rule on where a pod may go lives here, once; the
//! simulation asks [`Board::check`] before placing and the validator asks it about the policy's
//! answer.

use std::collections::HashMap;
use std::sync::Arc;

use super::pod::{AffinityTerm, PodSpec, SimNode, Spread, Topology};
use super::requirements::{LabelSelector, Operator, Requirement};
use super::resources::Resources;
use super::taints::first_untolerated;
use super::violation::Violation;

fn requirement_of(operator: Operator, zones: Vec<String>) -> Requirement {
    Requirement {
        key: super::wellknown::ZONE.to_string(),
        operator,
        values: zones,
    }
}

/// Index of a node on the board.
pub type NodeIndex = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum TermKind {
    Spread,
    Affinity,
    AntiAffinity,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct TermKey {
    kind: TermKind,
    topology: Topology,
    selector: LabelSelector,
    namespaces: Vec<String>,
}

#[derive(Clone, Debug)]
struct Term {
    key: TermKey,
    /// Pods the selector matches, per domain (zone id or node index).
    matching: HashMap<u32, u32>,
    /// Pods the selector matches, anywhere.
    total: u32,
    /// Pods carrying this (anti-affinity) term, per domain.
    owners: HashMap<u32, u32>,
}

impl Term {
    fn selects(&self, spec: &PodSpec) -> bool {
        self.key.namespaces.contains(&spec.namespace) && self.key.selector.matches(&spec.labels)
    }
}

/// A node on the board.
#[derive(Clone, Debug)]
pub struct BoardNode {
    /// The node.
    pub node: SimNode,
    /// What is left for pods of this batch.
    pub free: Resources,
    zone: Option<u32>,
    /// Host ports taken by its pods.
    ports: Vec<super::HostPort>,
}

/// A pod group ready to be checked against the board: its terms resolved once.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// Name for errors, e.g. `default/inflate`.
    pub name: String,
    /// The pods' spec.
    pub spec: Arc<PodSpec>,
    /// (term, maxSkew, self-matching, minDomains).
    spreads: Vec<(usize, u32, bool, Option<u32>)>,
    affinity: Vec<(usize, bool)>,
    anti: Vec<(usize, bool)>,
    /// Terms whose selector matches these pods (their counts move when they are placed).
    selected_by: Vec<usize>,
    /// Anti-affinity terms of other pods that exclude these pods.
    excluded_by: Vec<usize>,
    /// Its required anti-affinity terms, which keep matching pods out of its domains.
    owned: Vec<usize>,
    eligible_zones: Vec<u32>,
}

impl Prepared {
    /// Whether the group has spread, affinity or anti-affinity terms (pods must then be
    /// placed one at a time).
    pub fn has_topology(&self) -> bool {
        !(self.spreads.is_empty()
            && self.affinity.is_empty()
            && self.anti.is_empty()
            && self.spec.host_ports.is_empty())
    }
}

/// Nodes, free capacity and topology counts for one scheduling pass.
#[derive(Clone, Debug, Default)]
pub struct Board {
    nodes: Vec<BoardNode>,
    zones: Vec<String>,
    zone_ids: HashMap<String, u32>,
    terms: Vec<Term>,
    term_ids: HashMap<TermKey, usize>,
}

fn scope(spec: &PodSpec, term: &AffinityTerm) -> Vec<String> {
    if term.namespaces.is_empty() {
        vec![spec.namespace.clone()]
    } else {
        let mut ns = term.namespaces.clone();
        ns.sort();
        ns
    }
}

impl Board {
    /// A board that tracks every spread/affinity term of `specs` (pending pods, and bound pods
    /// with anti-affinity). Terms must all be known before pods are counted.
    pub fn new<'a>(specs: impl IntoIterator<Item = &'a PodSpec>) -> Self {
        let mut board = Self::default();
        for spec in specs {
            for key in Self::keys(spec) {
                board.term_id(key.0);
            }
        }
        board
    }

    fn keys(spec: &PodSpec) -> impl Iterator<Item = (TermKey, Option<&Spread>)> + '_ {
        let spreads = spec.spreads.iter().map(move |s| {
            (
                TermKey {
                    kind: TermKind::Spread,
                    topology: s.topology,
                    selector: s.selector.clone(),
                    namespaces: vec![spec.namespace.clone()],
                },
                Some(s),
            )
        });
        let affinity = spec.affinity.iter().map(move |t| {
            (
                TermKey {
                    kind: TermKind::Affinity,
                    topology: t.topology,
                    selector: t.selector.clone(),
                    namespaces: scope(spec, t),
                },
                None,
            )
        });
        let anti = spec
            .anti_affinity
            .iter()
            .chain(&spec.held_anti_affinity)
            .map(move |t| {
                (
                    TermKey {
                        kind: TermKind::AntiAffinity,
                        topology: t.topology,
                        selector: t.selector.clone(),
                        namespaces: scope(spec, t),
                    },
                    None,
                )
            });
        spreads.chain(affinity).chain(anti)
    }

    fn term_id(&mut self, key: TermKey) -> usize {
        if let Some(id) = self.term_ids.get(&key) {
            return *id;
        }
        let id = self.terms.len();
        self.terms.push(Term {
            key: key.clone(),
            matching: HashMap::new(),
            total: 0,
            owners: HashMap::new(),
        });
        self.term_ids.insert(key, id);
        id
    }

    fn zone_id(&mut self, zone: &str) -> u32 {
        if let Some(id) = self.zone_ids.get(zone) {
            return *id;
        }
        let id = self.zones.len() as u32;
        self.zones.push(zone.to_string());
        self.zone_ids.insert(zone.to_string(), id);
        id
    }

    /// Adds a node with `free` capacity left for this batch; returns its index.
    pub fn add_node(&mut self, node: SimNode, free: Resources) -> NodeIndex {
        let zone = node.zone().map(str::to_string).map(|z| self.zone_id(&z));
        self.nodes.push(BoardNode {
            node,
            free,
            zone,
            ports: Vec::new(),
        });
        self.nodes.len() - 1
    }

    /// Marks host ports as taken on a node by pods the board does not place (the DaemonSet
    /// pods a new or joining node will run).
    pub fn take_ports(
        &mut self,
        node: NodeIndex,
        ports: impl IntoIterator<Item = super::HostPort>,
    ) {
        self.nodes[node].ports.extend(ports);
    }

    /// The nodes on the board.
    pub fn nodes(&self) -> &[BoardNode] {
        &self.nodes
    }

    /// Resolves a group's terms. `eligible_zones` are the zones its zone spread counts (zones
    /// its requirements allow where a node can exist).
    pub fn prepare(
        &mut self,
        name: &str,
        spec: Arc<PodSpec>,
        eligible_zones: &[String],
    ) -> Prepared {
        let mut spreads = Vec::new();
        let mut affinity = Vec::new();
        let mut anti = Vec::new();
        let keys: Vec<_> = Self::keys(&spec)
            .map(|(k, s)| (k, s.map(|s| (s.max_skew, s.min_domains))))
            .collect();
        for (key, spread) in keys {
            let kind = key.kind;
            let id = self.term_id(key);
            let self_match = self.terms[id].selects(&spec);
            match kind {
                TermKind::Spread => {
                    let (max_skew, min_domains) = spread.unwrap_or((1, None));
                    spreads.push((id, max_skew, self_match, min_domains))
                }
                TermKind::Affinity => affinity.push((id, self_match)),
                TermKind::AntiAffinity => anti.push((id, self_match)),
            }
        }
        let selected_by = (0..self.terms.len())
            .filter(|id| self.terms[*id].selects(&spec))
            .collect();
        let excluded_by = (0..self.terms.len())
            .filter(|id| {
                self.terms[*id].key.kind == TermKind::AntiAffinity && self.terms[*id].selects(&spec)
            })
            .collect();
        let owned = anti
            .iter()
            .take(spec.anti_affinity.len())
            .map(|(id, _)| *id)
            .collect();
        let eligible_zones = eligible_zones.iter().map(|z| self.zone_id(z)).collect();
        Prepared {
            name: name.to_string(),
            spec,
            spreads,
            affinity,
            anti,
            selected_by,
            excluded_by,
            owned,
            eligible_zones,
        }
    }

    fn domain(&self, topology: Topology, node: NodeIndex) -> Option<u32> {
        match topology {
            Topology::Zone => self.nodes[node].zone,
            Topology::Hostname => Some(node as u32),
        }
    }

    /// Counts pods already bound to `node` (their requests are already in its `free`).
    pub fn count_existing(&mut self, spec: &PodSpec, node: NodeIndex) {
        self.take_ports(node, spec.host_ports.iter().cloned());
        let ids: Vec<usize> = (0..self.terms.len())
            .filter(|id| self.terms[*id].selects(spec))
            .collect();
        self.count(&ids, node, 1);
        let owned: Vec<usize> = Self::keys(spec)
            .filter(|(k, _)| k.kind == TermKind::AntiAffinity)
            .take(spec.anti_affinity.len())
            .filter_map(|(k, _)| self.term_ids.get(&k).copied())
            .collect();
        self.own(&owned, node, 1);
    }

    fn count(&mut self, ids: &[usize], node: NodeIndex, n: u32) {
        for &id in ids {
            let topology = self.terms[id].key.topology;
            let domain = self.domain(topology, node);
            let term = &mut self.terms[id];
            term.total += n;
            if let Some(d) = domain {
                *term.matching.entry(d).or_default() += n;
            }
        }
    }

    fn own(&mut self, ids: &[usize], node: NodeIndex, n: u32) {
        for &id in ids {
            let topology = self.terms[id].key.topology;
            if let Some(d) = self.domain(topology, node) {
                *self.terms[id].owners.entry(d).or_default() += n;
            }
        }
    }

    /// Places `n` pods of the group on the node (no check: call [`Board::check`] first).
    pub fn place(&mut self, group: &Prepared, node: NodeIndex, n: u32) {
        let slot = &mut self.nodes[node];
        slot.free = slot.free.saturating_sub(&(group.spec.requests * n));
        for _ in 0..n {
            slot.ports.extend(group.spec.host_ports.iter().cloned());
        }
        self.count(&group.selected_by, node, n);
        self.own(&group.owned, node, n);
    }

    /// Whether `n` more pods of the group may go on the node: every hard rule, the spread
    /// evaluated as if they were placed.
    pub fn check(&self, group: &Prepared, node: NodeIndex, n: u32) -> Result<(), Violation> {
        self.check_node(group, node, n)?;
        self.check_affinity(group, node, n)?;
        self.check_spread(group, node, n)
    }

    /// Node-local rules: open, taints, requirements, fit.
    pub fn check_node(&self, group: &Prepared, node: NodeIndex, n: u32) -> Result<(), Violation> {
        let slot = &self.nodes[node];
        let at = || (group.name.clone(), slot.node.name.clone());
        if !slot.node.accepts_pods() {
            let (group, node) = at();
            return Err(Violation::NodeClosed { group, node });
        }
        if let Some(t) = first_untolerated(&slot.node.taints, &group.spec.tolerations) {
            let (group, node) = at();
            return Err(Violation::Taint {
                group,
                node,
                taint: t.key.clone(),
            });
        }
        if let Some(r) = group.spec.unmet_requirement(&slot.node.labels) {
            let (group, node) = at();
            return Err(Violation::PodRequirement {
                group,
                node,
                key: r.key.clone(),
            });
        }
        let ports = &group.spec.host_ports;
        let taken = |p: &super::HostPort| slot.ports.iter().any(|t| t.conflicts(p));
        if !ports.is_empty() && (n > 1 || ports.iter().any(taken)) {
            let port = ports.iter().find(|p| taken(p)).unwrap_or(&ports[0]);
            let port = format!("{}/{}", port.port, port.protocol);
            let (group, node) = at();
            return Err(Violation::HostPort { group, node, port });
        }
        if let Some(r) = group
            .spec
            .extended
            .iter()
            .find(|r| !slot.node.extended.contains(r))
        {
            let (group, node) = at();
            return Err(Violation::ExtendedResource {
                group,
                node,
                resource: r.clone(),
            });
        }
        if !(group.spec.requests * n).fits_in(&slot.free) {
            let (group, node) = at();
            return Err(Violation::DoesNotFit {
                group,
                node,
                count: n,
            });
        }
        Ok(())
    }

    /// Required pod affinity and anti-affinity (both directions) for `n` more pods.
    pub fn check_affinity(
        &self,
        group: &Prepared,
        node: NodeIndex,
        n: u32,
    ) -> Result<(), Violation> {
        let fail_anti = |topology| Violation::PodAntiAffinity {
            group: group.name.clone(),
            node: self.nodes[node].node.name.clone(),
            topology,
        };
        for &(id, self_match) in &group.anti {
            let term = &self.terms[id];
            let Some(d) = self.domain(term.key.topology, node) else {
                continue;
            };
            if term.matching.get(&d).copied().unwrap_or(0) > 0 || (self_match && n > 1) {
                return Err(fail_anti(term.key.topology));
            }
        }
        for &id in &group.excluded_by {
            let term = &self.terms[id];
            let Some(d) = self.domain(term.key.topology, node) else {
                continue;
            };
            if term.owners.get(&d).copied().unwrap_or(0) > 0 {
                return Err(fail_anti(term.key.topology));
            }
        }
        for &(id, self_match) in &group.affinity {
            let term = &self.terms[id];
            let here = self
                .domain(term.key.topology, node)
                .and_then(|d| term.matching.get(&d).copied())
                .unwrap_or(0);
            let first_of_its_kind = term.total == 0 && self_match;
            if here == 0 && !first_of_its_kind {
                return Err(Violation::PodAffinity {
                    group: group.name.clone(),
                    node: self.nodes[node].node.name.clone(),
                    topology: term.key.topology,
                });
            }
        }
        Ok(())
    }

    /// Hard topology spread, as if `n` more pods of the group were on the node: the node's
    /// domain may exceed the least loaded eligible domain by at most maxSkew. With `n = 0`
    /// it checks a final state (the validator's use). A hostname domain's minimum is 0: a new
    /// node can always be an empty domain; so is a zone's while fewer zones are eligible than
    /// the spread's `minDomains`.
    pub fn check_spread(&self, group: &Prepared, node: NodeIndex, n: u32) -> Result<(), Violation> {
        for &(id, max_skew, self_match, min_domains) in &group.spreads {
            let term = &self.terms[id];
            let extra = if self_match { n } else { 0 };
            let topology = term.key.topology;
            let Some(d) = self.domain(topology, node) else {
                // A node without the topology label is not a domain: DoNotSchedule refuses it.
                return Err(Violation::TopologySpread {
                    group: group.name.clone(),
                    node: self.nodes[node].node.name.clone(),
                    topology,
                    skew: u32::MAX,
                    max_skew,
                });
            };
            let here = term.matching.get(&d).copied().unwrap_or(0) + extra;
            let domains =
                group.eligible_zones.len() + usize::from(!group.eligible_zones.contains(&d));
            let min = match topology {
                Topology::Hostname => 0,
                Topology::Zone if min_domains.is_some_and(|m| (domains as u32) < m) => 0,
                Topology::Zone => group
                    .eligible_zones
                    .iter()
                    .chain(std::iter::once(&d))
                    .map(|z| {
                        term.matching.get(z).copied().unwrap_or(0) + if *z == d { extra } else { 0 }
                    })
                    .min()
                    .unwrap_or(0),
            };
            let skew = here - min.min(here);
            if skew > max_skew {
                return Err(Violation::TopologySpread {
                    group: group.name.clone(),
                    node: self.nodes[node].node.name.clone(),
                    topology,
                    skew,
                    max_skew,
                });
            }
        }
        Ok(())
    }

    /// What the group's zone rules towards other pods allow, as zone requirements a policy
    /// can read: pod affinity to other pods keeps it to the zones where they run, its
    /// anti-affinity to other pods and their anti-affinity to it keep it out of theirs. The
    /// board still checks the rules themselves.
    pub fn zone_requirements(&self, group: &Prepared) -> Vec<Requirement> {
        let zones = |counts: &HashMap<u32, u32>| -> Vec<String> {
            let mut z: Vec<String> = counts
                .iter()
                .filter(|(_, c)| **c > 0)
                .map(|(d, _)| self.zones[*d as usize].clone())
                .collect();
            z.sort();
            z
        };
        let zone_term = |id: usize| self.terms[id].key.topology == Topology::Zone;
        let mut out = Vec::new();
        for &(id, self_match) in &group.affinity {
            if zone_term(id) && !self_match {
                out.push(requirement_of(
                    Operator::In,
                    zones(&self.terms[id].matching),
                ));
            }
        }
        let mut avoid: Vec<String> = group
            .anti
            .iter()
            .filter(|(id, self_match)| zone_term(*id) && !self_match)
            .flat_map(|(id, _)| zones(&self.terms[*id].matching))
            .chain(
                group
                    .excluded_by
                    .iter()
                    .filter(|id| zone_term(**id))
                    .flat_map(|id| zones(&self.terms[*id].owners)),
            )
            .collect();
        avoid.sort();
        avoid.dedup();
        if !avoid.is_empty() {
            out.push(requirement_of(Operator::NotIn, avoid));
        }
        out
    }

    /// Pods of the term's selector per zone, for the policy's `zone-counts` of a group: the
    /// counts of its first zone-topology term; for a spread, every zone it counts as a domain.
    pub fn zone_counts(&self, group: &Prepared) -> Vec<(String, u32)> {
        let first = group
            .spreads
            .iter()
            .map(|(id, ..)| *id)
            .chain(group.anti.iter().map(|(id, _)| *id))
            .chain(group.affinity.iter().map(|(id, _)| *id))
            .find(|id| self.terms[*id].key.topology == Topology::Zone);
        let Some(id) = first else {
            return Vec::new();
        };
        let term = &self.terms[id];
        let mut counts: Vec<(String, u32)> = term
            .matching
            .iter()
            .map(|(z, c)| (self.zones[*z as usize].clone(), *c))
            .collect();
        // A zone spread counts every zone the pods may run in, empty ones included.
        if term.key.kind == TermKind::Spread {
            counts.extend(
                group
                    .eligible_zones
                    .iter()
                    .filter(|z| !term.matching.contains_key(z))
                    .map(|z| (self.zones[*z as usize].clone(), 0)),
            );
        }
        counts.sort();
        counts
    }

    /// The group's spread topologies with their maxSkew and minDomains, and its
    /// self-referencing affinity and anti-affinity topologies (what the policy contract can
    /// express).
    #[allow(clippy::type_complexity)]
    pub fn self_terms(
        &self,
        group: &Prepared,
    ) -> (
        Vec<(Topology, u32, Option<u32>)>,
        Vec<Topology>,
        Vec<Topology>,
    ) {
        let topo = |id: usize| self.terms[id].key.topology;
        (
            group
                .spreads
                .iter()
                .filter(|(_, _, s, _)| *s)
                .map(|(id, skew, _, min)| (topo(*id), *skew, *min))
                .collect(),
            group
                .affinity
                .iter()
                .filter(|(_, s)| *s)
                .map(|(id, _)| topo(*id))
                .collect(),
            group
                .anti
                .iter()
                .filter(|(_, s)| *s)
                .map(|(id, _)| topo(*id))
                .collect(),
        )
    }
}
