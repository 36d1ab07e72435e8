//! One disruption plan, the whole decision of a pass, shared by the controller's loop
//! (`karpenter_ovhcloud::controller::disruption`) and `policy evaluate`'s replay
//! (`karpenter_ovhcloud::evaluate::replay`): each fills the same plain [`Input`] from its own world (the
//! controller from NodeClaims, Nodes and the cluster model through [`super::cluster`], the
//! replay from its simulated nodes), calls [`plan`], and carries out the commands it returns.
//!
//! [`plan`] runs, in order: `consolidateAfter` bookkeeping ([`pass::Memory`]), nominated nodes
//! ([`pass::nominated`]), the candidates (`disruptable`, `consolidatable`), the consolidation
//! policy (a closure: the plan knows nothing of Wasm; it is not called when no candidate is
//! both consolidatable and disruptable, since validation would refuse every command), the
//! validation of its commands ([`decide::validate_all`]), drift and expiry replacements
//! ([`decide::replace`]), and Karpenter's order, one command per NodePool, budgets and the
//! validation delay ([`pass::choose`]). No I/O, no async: the controller runs it under
//! `spawn_blocking`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

use super::decide::{self, Candidate, Command, PoolSettings, Reason, Refused};
use super::pass::{self, Memory, PoolBudget, Verdict};
use crate::api::nodepool::Budget;
use crate::api::NillableDuration;
use crate::clock::Clock;
use crate::policy::types::consolidation::{Command as PolicyCommand, ConsolidationRequest};
use crate::provisioning::simulate::Input as SimInput;
use crate::provisioning::FlavorPolicy;
use crate::scheduling::{FlavorSpec, NodeState, PoolSpec};
use crate::state::Snapshot;

/// One managed node as a caller sees it: what the plan needs to make it a [`Candidate`] and to
/// decide on its drift and expiry.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeFacts {
    /// Node name (as in the snapshot). The plan skips a node that is not Ready in the snapshot.
    pub node: String,
    /// NodeClaim backing it.
    pub claim: String,
    /// Its NodePool. The plan skips a node of a NodePool missing from [`Input::nodepools`].
    pub nodepool: String,
    /// Hourly price of the node (EUR).
    pub hourly_price: f64,
    /// Age in guide seconds (expiry compares it with `expire_after`).
    pub age_seconds: u64,
    /// When it was initialized: `consolidateAfter` of a node seen for the first time counts
    /// from here.
    pub initialized_at: Timestamp,
    /// Fingerprint of its non-DaemonSet pods ([`pass::fingerprint`]): a change restarts
    /// `consolidateAfter`.
    pub pods_fingerprint: u64,
    /// `karpenter.sh/do-not-disrupt: "true"` on its NodeClaim, its Node or one of its pods.
    pub do_not_disrupt: bool,
    /// One of its pods is covered by a PodDisruptionBudget that allows no disruption.
    pub pdb_blocked: bool,
    /// What keeps it from disruption (do-not-disrupt, PDBs), one sentence each in upstream's
    /// words; empty when nothing does.
    pub blocked_by: Vec<String>,
    /// Old or new node of a replacement in flight: left alone.
    pub busy: bool,
    /// Its `expireAfter` (`Never`: it does not expire).
    pub expire_after: NillableDuration,
}

/// One NodePool as the plan reads it.
#[derive(Clone, Debug, PartialEq)]
pub struct NodePoolFacts {
    /// Its disruption settings (name, `WhenEmpty`, `consolidateAfter`, template hash).
    pub settings: PoolSettings,
    /// `spec.disruption.budgets`.
    pub budgets: Vec<Budget>,
    /// Its nodes (NodeClaims), for percentage budgets.
    pub total: u32,
    /// Those already being deleted (they use the budget up).
    pub disrupting: u32,
}

impl NodePoolFacts {
    /// What its budgets read.
    pub fn budget(&self) -> PoolBudget<'_> {
        PoolBudget {
            budgets: &self.budgets,
            total: self.total,
            disrupting: self.disrupting,
        }
    }
}

/// Everything one disruption plan reads: owned, so that the controller can move it into
/// `spawn_blocking`.
#[derive(Clone, Debug)]
pub struct Input {
    /// The instant of the pass (`consolidateAfter` bookkeeping, budgets' schedules).
    pub now: Timestamp,
    /// How long a consolidation must keep being chosen before it runs.
    pub validation_delay: Duration,
    /// The cluster as the scheduling core sees it.
    pub snapshot: Snapshot,
    /// NodePools for the simulation (with their remaining limits).
    pub pools: Vec<PoolSpec>,
    /// Static NodePools (`spec.replicas`): a drifted or expired node of one is replaced by a
    /// node of its template, whatever its pods (upstream's static drift).
    pub static_pools: Vec<PoolSpec>,
    /// The catalog.
    pub flavors: Arc<Vec<FlavorSpec>>,
    /// Nodes already in each OVH pool (anti-affinity numbering of replacements).
    pub ovh_pool_sizes: HashMap<String, u32>,
    /// Every NodePool, with its settings and budgets.
    pub nodepools: Vec<NodePoolFacts>,
    /// The managed, initialized nodes not being deleted, in the order the caller lists them.
    pub nodes: Vec<NodeFacts>,
    /// The drift policy's verdicts: drifted NodeClaim -> why.
    pub drifted: HashMap<String, String>,
    /// NodePools with a replacement in flight: no new command for them this pass.
    pub in_flight_nodepools: HashSet<String>,
    /// Every NodeClaim that exists (being deleted or not): the bookkeeping of the others is
    /// forgotten.
    pub live_claims: HashSet<String>,
    /// The scheduling settings the simulations run with.
    pub options: crate::provisioning::simulate::Options,
}

/// A drifted or expired node whose replacement could not be simulated this pass.
#[derive(Clone, Debug, PartialEq)]
pub struct NotReplaced {
    /// Its NodeClaim.
    pub claim: String,
    /// Drifted or expired.
    pub reason: Reason,
    /// Why no replacement (the simulation's answer).
    pub why: String,
}

/// What [`plan`] decided.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Plan {
    /// The candidates the policy saw (or would have seen).
    pub candidates: Vec<Candidate>,
    /// Whether the consolidation policy was asked (not when no candidate is both
    /// consolidatable and disruptable).
    pub policy_called: bool,
    /// The consolidation policy's error, when it gave no commands.
    pub policy_error: Option<String>,
    /// The policy's commands that validation refused, with why.
    pub refused: Vec<Refused>,
    /// Drifted or expired nodes without a replacement this pass.
    pub not_replaced: Vec<NotReplaced>,
    /// The commands in Karpenter's order, each with what to do with it.
    pub commands: Vec<(Command, Verdict)>,
}

/// The consolidation policy as the plan calls it: the request in, the policy's commands (not
/// yet validated) or why there are none out.
pub type Consolidate<'a> =
    dyn FnMut(ConsolidationRequest) -> Result<Vec<PolicyCommand>, String> + 'a;

/// Plans one disruption pass (see the module documentation). `memory` carries the
/// `consolidateAfter` and validation-delay bookkeeping from one pass to the next; `clock`
/// measures guide time; `primary` and `fallback` place the pods of simulated commands (the
/// active flavor-selection policy and the default in the controller); `consolidate` asks the
/// consolidation policy.
pub fn plan(
    input: &Input,
    memory: &mut Memory,
    clock: &Clock,
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
    consolidate: &mut Consolidate<'_>,
) -> Plan {
    let now = input.now;
    memory.retain_claims(|c| input.live_claims.contains(c));
    let settings: Vec<PoolSettings> = input.nodepools.iter().map(|p| p.settings.clone()).collect();
    let nominated = pass::nominated(
        &SimInput {
            snapshot: &input.snapshot,
            pools: &input.pools,
            flavors: &input.flavors,
            ovh_pool_sizes: &input.ovh_pool_sizes,
            config: "",
            options: input.options,
        },
        primary,
        fallback,
    );

    // The candidates: Ready nodes of known NodePools.
    let mut candidates = Vec::new();
    let mut facts = Vec::new();
    let mut seen_nodes = HashSet::new();
    for n in &input.nodes {
        let Some(sim) = decide::node(&input.snapshot, &n.node) else {
            continue;
        };
        if sim.state != NodeState::Ready {
            continue;
        }
        let Some(ps) = settings.iter().find(|s| s.name == n.nodepool) else {
            continue;
        };
        let since = memory.pods_unchanged_since(
            &n.node,
            &n.claim,
            n.pods_fingerprint,
            n.initialized_at,
            now,
        );
        seen_nodes.insert(n.node.clone());
        // A static NodePool keeps its node count: consolidation does not apply (upstream).
        let consolidatable = !ps.is_static
            && pass::consolidatable(
                nominated.contains(&n.node),
                ps.consolidate_after_seconds,
                since,
                clock,
            );
        candidates.push(Candidate {
            node: n.node.clone(),
            claim: n.claim.clone(),
            nodepool: n.nodepool.clone(),
            hourly_price: n.hourly_price,
            age_seconds: n.age_seconds,
            disruptable: !n.do_not_disrupt && !n.pdb_blocked && !n.busy,
            consolidatable,
        });
        facts.push(n);
    }
    memory.retain_nodes(&seen_nodes);

    let decision = decide::Input {
        snapshot: &input.snapshot,
        pools: &input.pools,
        settings: &settings,
        flavors: &input.flavors,
        candidates: &candidates,
        ovh_pool_sizes: &input.ovh_pool_sizes,
        options: input.options,
    };
    // What each NodePool's budgets allow (read by validation and by the choice below).
    let budgets = |nodepool: &str| {
        input
            .nodepools
            .iter()
            .find(|p| p.settings.name == nodepool)
            .map(NodePoolFacts::budget)
    };

    // Consolidation through the policy (its empty commands come first). Validation refuses
    // every command naming a node that is not both consolidatable and disruptable: with no such
    // node, the policy call cannot change the outcome.
    let mut out = Plan::default();
    let accepted = if candidates.iter().any(|c| c.consolidatable && c.disruptable) {
        out.policy_called = true;
        match consolidate(decide::consolidation_request(&decision)) {
            Ok(commands) => {
                let (accepted, refused) =
                    decide::validate_all(&decision, &commands, primary, fallback, &budgets, now);
                out.refused = refused;
                accepted
            }
            Err(e) => {
                out.policy_error = Some(e);
                Vec::new()
            }
        }
    } else {
        Vec::new()
    };

    // Drift and expiry: replacements for the nodes that no longer match or are too old. Expiry
    // is forceful (do-not-disrupt and PDBs do not hold it back, as upstream); drift is not.
    let mut lifecycle = Vec::new();
    for (c, n) in candidates.iter().zip(&facts).filter(|(_, n)| !n.busy) {
        let expire = n.expire_after.duration().ok().flatten();
        let (reason, message) = if let Some(m) = input.drifted.get(&c.claim) {
            (Reason::Drifted, format!("drifted: {m}"))
        } else if expire.is_some_and(|e| c.age_seconds >= e.as_secs()) {
            (
                Reason::Expired,
                format!(
                    "expired: older than expireAfter {}",
                    n.expire_after.as_str()
                ),
            )
        } else {
            continue;
        };
        if !c.disruptable && reason == Reason::Drifted {
            continue;
        }
        // A static NodePool's node is replaced by one of its template, one at a time: one
        // command per NodePool per pass, none while one is in flight (`pass::choose`).
        let replaced = match input.static_pools.iter().find(|p| p.name == c.nodepool) {
            Some(pool) => decide::replace_static(&decision, c, reason, message, pool),
            None => decide::replace(&decision, c, reason, message, primary, fallback),
        };
        match replaced {
            Ok(cmd) => lifecycle.push(cmd),
            Err(why) => out.not_replaced.push(NotReplaced {
                claim: c.claim.clone(),
                reason,
                why,
            }),
        }
    }

    // Karpenter's order; one command per NodePool per pass, none while one is in flight;
    // budgets; the validation delay.
    out.commands = pass::choose(
        accepted,
        lifecycle,
        input.in_flight_nodepools.clone(),
        &budgets,
        memory,
        clock,
        input.validation_delay,
    );
    out.candidates = candidates;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::types::consolidation::{Action, Reason as PolicyReason};
    use crate::provisioning::{Decision, Request};
    use crate::scheduling::{wellknown, PodSpec, Resources, SimNode};

    const GIB: u64 = 1 << 30;

    fn start() -> Timestamp {
        "2026-01-05T00:00:00Z".parse().unwrap()
    }

    /// An hour after `start`: past every `consolidateAfter` of these tests.
    fn now() -> Timestamp {
        start()
            .checked_add(jiff::SignedDuration::from_secs(3600))
            .unwrap()
    }

    /// No new node: the pods of these tests fit on the other nodes, or nowhere.
    fn no_new_node(_: &Request) -> Result<Decision, String> {
        Err("no new node in these tests".into())
    }

    /// Ready nodes of 4 CPU / 16 GiB: (name, NodePool, CPU of each of its pods in millicores).
    fn snapshot(nodes: &[(&str, &str, &[u64])]) -> Snapshot {
        let mut snap = Snapshot::default();
        for (i, (name, nodepool, pods)) in nodes.iter().enumerate() {
            let mut requested = Resources::default();
            for (k, cpu) in pods.iter().enumerate() {
                let spec = Arc::new(PodSpec {
                    owner: format!("default/{name}-{k}"),
                    namespace: "default".into(),
                    requests: Resources::pod(*cpu, GIB),
                    ..PodSpec::default()
                });
                requested += spec.requests;
                snap.bound.push((spec, i));
            }
            snap.nodes.push(Arc::new(SimNode {
                name: name.to_string(),
                labels: [(wellknown::HOSTNAME.to_string(), name.to_string())].into(),
                taints: Vec::new(),
                allocatable: Resources {
                    cpu_millis: 4000,
                    memory_bytes: 16 * GIB,
                    ephemeral_storage_bytes: 100 * GIB,
                    gpu: 0,
                    pods: 110,
                },
                requested,
                nodepool: Some(nodepool.to_string()),
                nodeclaim: Some(name.to_string()),
                state: NodeState::Ready,
                unschedulable: false,
                extended: Vec::new(),
            }));
        }
        snap
    }

    /// A node of `nodepool` that has held its pods for an hour, an hour old.
    fn facts(node: &str, nodepool: &str) -> NodeFacts {
        NodeFacts {
            node: node.into(),
            claim: node.into(),
            nodepool: nodepool.into(),
            hourly_price: 0.1,
            age_seconds: 3600,
            initialized_at: start(),
            pods_fingerprint: 0,
            do_not_disrupt: false,
            pdb_blocked: false,
            blocked_by: Vec::new(),
            busy: false,
            expire_after: NillableDuration::never(),
        }
    }

    /// A WhenEmptyOrUnderutilized NodePool with a 100% budget.
    fn nodepool(name: &str, consolidate_after_seconds: Option<u64>, total: u32) -> NodePoolFacts {
        NodePoolFacts {
            settings: PoolSettings {
                name: name.into(),
                policy: crate::api::nodepool::ConsolidationPolicy::WhenEmptyOrUnderutilized,
                is_static: false,
                consolidate_after_seconds,
                template_hash: String::new(),
            },
            budgets: vec![Budget::nodes("100%")],
            total,
            disrupting: 0,
        }
    }

    fn input(
        snapshot: Snapshot,
        nodepools: Vec<NodePoolFacts>,
        nodes: Vec<NodeFacts>,
        drifted: &[(&str, &str)],
    ) -> Input {
        Input {
            now: now(),
            validation_delay: Duration::from_secs(15),
            options: Default::default(),
            live_claims: nodes.iter().map(|n| n.claim.clone()).collect(),
            snapshot,
            pools: nodepools
                .iter()
                .map(|p| PoolSpec {
                    name: p.settings.name.clone(),
                    ..PoolSpec::default()
                })
                .collect(),
            static_pools: Vec::new(),
            flavors: Arc::new(Vec::new()),
            ovh_pool_sizes: HashMap::new(),
            nodepools,
            nodes,
            drifted: drifted
                .iter()
                .map(|(c, m)| (c.to_string(), m.to_string()))
                .collect(),
            in_flight_nodepools: HashSet::new(),
        }
    }

    /// A consolidation policy that deletes each of `nodes` on its own (Empty when it runs no
    /// pod), disruptable or not: the plan must refuse what it may not do.
    fn delete_each(
        nodes: &'static [&'static str],
    ) -> impl FnMut(ConsolidationRequest) -> Result<Vec<PolicyCommand>, String> {
        move |request: ConsolidationRequest| {
            Ok(nodes
                .iter()
                .map(|name| {
                    let empty = request
                        .nodes
                        .iter()
                        .find(|n| n.name == *name)
                        .is_none_or(|n| n.pods.is_empty());
                    PolicyCommand {
                        nodes: vec![name.to_string()],
                        action: Action::Delete,
                        reason: if empty {
                            PolicyReason::Empty
                        } else {
                            PolicyReason::Underutilized
                        },
                        savings_per_hour: 0.1,
                        message: format!("delete {name}"),
                    }
                })
                .collect())
        }
    }

    fn run(input: &Input, consolidate: &mut Consolidate<'_>) -> Plan {
        plan(
            input,
            &mut Memory::default(),
            &Clock::manual(now()),
            &no_new_node,
            &no_new_node,
            consolidate,
        )
    }

    fn summary(plan: &Plan) -> Vec<(String, Reason, Verdict)> {
        plan.commands
            .iter()
            .map(|(c, v)| (c.nodes.join(","), c.reason, v.clone()))
            .collect()
    }

    /// Balanced: four equal nodes, n0's pod of eviction cost `c` (from its priority), the
    /// others' of cost 1. Deleting n0 saves a quarter of the pool's price for (1 + c) of its
    /// 7 + c disruption: score 0.25 (7 + c) / (1 + c), approved from 0.5, i.e. c <= 5.
    fn balanced_delete_n0(priority: i32) -> Plan {
        let mut snap = snapshot(&[
            ("n0", "bal", &[500]),
            ("n1", "bal", &[500]),
            ("n2", "bal", &[500]),
            ("n3", "bal", &[500]),
        ]);
        let (spec, node) = snap.bound[0].clone();
        snap.bound[0] = (
            Arc::new(PodSpec {
                priority,
                ..(*spec).clone()
            }),
            node,
        );
        let nodes = ["n0", "n1", "n2", "n3"].map(|n| facts(n, "bal")).to_vec();
        let mut pool = nodepool("bal", Some(60), 4);
        pool.settings.policy = crate::api::nodepool::ConsolidationPolicy::Balanced;
        let input = input(snap, vec![pool], nodes, &[]);
        run(&input, &mut delete_each(&["n0"]))
    }

    #[test]
    fn balanced_carries_out_a_move_just_above_the_threshold_and_refuses_one_just_below() {
        // c = 1 + 142606336 / 2^25 = 5.25: score 0.49.
        let below = balanced_delete_n0(142_606_336);
        assert!(below.commands.is_empty(), "{:?}", summary(&below));
        assert_eq!(below.refused.len(), 1);
        assert!(
            below.refused[0].why.contains(
                "NodePool bal is Balanced and the move does not pay for its disruption: \
                 score 0.49 < threshold 0.50 (k: 2, savings 25.0%, disruption 51.0%)"
            ),
            "{}",
            below.refused[0].why
        );
        // c = 1 + 125829120 / 2^25 = 4.75: score 0.51.
        let above = balanced_delete_n0(125_829_120);
        assert!(above.refused.is_empty(), "{:?}", above.refused);
        assert_eq!(
            summary(&above),
            vec![("n0".into(), Reason::Underutilized, Verdict::Validating)]
        );
    }

    #[test]
    fn do_not_disrupt_and_pdbs_keep_nodes_from_consolidation() {
        // Three NodePools so that each may get a command this pass.
        let snap = snapshot(&[
            ("dnd", "a", &[500]),
            ("pdb", "b", &[500]),
            ("free", "c", &[500]),
            ("room", "d", &[500]),
        ]);
        let nodes = vec![
            NodeFacts {
                do_not_disrupt: true,
                ..facts("dnd", "a")
            },
            NodeFacts {
                pdb_blocked: true,
                ..facts("pdb", "b")
            },
            facts("free", "c"),
            NodeFacts {
                do_not_disrupt: true,
                ..facts("room", "d")
            },
        ];
        let pools = ["a", "b", "c", "d"]
            .map(|p| nodepool(p, Some(60), 1))
            .to_vec();
        let input = input(snap, pools, nodes, &[]);
        let out = run(&input, &mut delete_each(&["dnd", "pdb", "free"]));
        assert!(out.policy_called);
        let disruptable: Vec<(&str, bool)> = out
            .candidates
            .iter()
            .map(|c| (c.node.as_str(), c.disruptable))
            .collect();
        assert_eq!(
            disruptable,
            vec![
                ("dnd", false),
                ("pdb", false),
                ("free", true),
                ("room", false)
            ]
        );
        let refused: Vec<&str> = out.refused.iter().map(|r| r.nodes[0].as_str()).collect();
        assert_eq!(refused, vec!["dnd", "pdb"]);
        assert!(out.refused[0].why.contains("may not be disrupted"));
        // The free node's pod moves to another node; the delay holds it this first pass.
        assert_eq!(
            summary(&out),
            vec![("free".into(), Reason::Underutilized, Verdict::Validating)]
        );
    }

    #[test]
    fn no_policy_call_when_no_candidate_could_be_consolidated() {
        let snap = snapshot(&[("dnd", "a", &[500]), ("pdb", "a", &[]), ("fresh", "b", &[])]);
        let nodes = vec![
            NodeFacts {
                do_not_disrupt: true,
                ..facts("dnd", "a")
            },
            NodeFacts {
                pdb_blocked: true,
                ..facts("pdb", "a")
            },
            // Its NodePool's consolidateAfter (2 h) has not passed.
            facts("fresh", "b"),
        ];
        let pools = vec![nodepool("a", Some(0), 2), nodepool("b", Some(7200), 1)];
        let input = input(snap, pools, nodes, &[]);
        let mut never = |_: ConsolidationRequest| -> Result<Vec<PolicyCommand>, String> {
            panic!("the policy is not called")
        };
        let out = run(&input, &mut never);
        assert!(!out.policy_called);
        assert!(out.commands.is_empty() && out.refused.is_empty());
        assert_eq!(out.candidates.len(), 3);
    }

    #[test]
    fn expired_nodes_are_replaced_even_when_protected_drifted_ones_only_when_disruptable() {
        // One NodePool per node (one command per NodePool per pass); consolidation off
        // (consolidateAfter Never) so that only drift and expiry act.
        let snap = snapshot(&[
            ("expired", "p1", &[500]),
            ("expired-dnd", "p2", &[500]),
            ("young", "p3", &[500]),
            ("expired-busy", "p4", &[500]),
            ("drifted", "p5", &[500]),
            ("drifted-pdb", "p6", &[500]),
            ("expired-big", "p7", &[3900]),
            ("expired-in-flight", "p8", &[500]),
        ]);
        let expire = |f: NodeFacts| NodeFacts {
            expire_after: NillableDuration::from_duration(Duration::from_secs(1800)),
            ..f
        };
        let nodes = vec![
            expire(facts("expired", "p1")),
            expire(NodeFacts {
                do_not_disrupt: true,
                pdb_blocked: true,
                ..facts("expired-dnd", "p2")
            }),
            expire(NodeFacts {
                age_seconds: 1799,
                ..facts("young", "p3")
            }),
            expire(NodeFacts {
                busy: true,
                ..facts("expired-busy", "p4")
            }),
            facts("drifted", "p5"),
            NodeFacts {
                pdb_blocked: true,
                ..facts("drifted-pdb", "p6")
            },
            // Its 3.9 CPU pod fits on no other node, and no node may be launched.
            expire(facts("expired-big", "p7")),
            expire(facts("expired-in-flight", "p8")),
        ];
        let pools = (1..=8)
            .map(|i| nodepool(&format!("p{i}"), None, 1))
            .collect();
        let mut input = input(
            snap,
            pools,
            nodes,
            &[
                ("drifted", "template changed"),
                ("drifted-pdb", "template changed"),
            ],
        );
        input.in_flight_nodepools.insert("p8".into());
        let mut never = |_: ConsolidationRequest| -> Result<Vec<PolicyCommand>, String> {
            panic!("nothing is consolidatable")
        };
        let out = run(&input, &mut never);
        // Drift and expiry are not delayed: they run at once.
        assert_eq!(
            summary(&out),
            vec![
                ("expired".into(), Reason::Expired, Verdict::Execute),
                ("expired-dnd".into(), Reason::Expired, Verdict::Execute),
                ("drifted".into(), Reason::Drifted, Verdict::Execute),
            ]
        );
        let (expired, _) = &out.commands[0];
        assert_eq!(expired.message, "expired: older than expireAfter 30m0s");
        assert!(expired.replacements.is_empty(), "its pod fits elsewhere");
        assert_eq!(out.commands[2].0.message, "drifted: template changed");
        assert_eq!(out.not_replaced.len(), 1);
        assert_eq!(out.not_replaced[0].claim, "expired-big");
        assert_eq!(out.not_replaced[0].reason, Reason::Expired);
        assert!(out.not_replaced[0].why.contains("would not fit"));
    }

    #[test]
    fn a_policy_error_is_reported_and_gives_no_command() {
        let snap = snapshot(&[("empty", "a", &[])]);
        let input = input(
            snap,
            vec![nodepool("a", Some(0), 1)],
            vec![facts("empty", "a")],
            &[],
        );
        let mut failing =
            |_: ConsolidationRequest| -> Result<Vec<PolicyCommand>, String> { Err("trap".into()) };
        let out = run(&input, &mut failing);
        assert!(out.policy_called);
        assert_eq!(out.policy_error.as_deref(), Some("trap"));
        assert!(out.commands.is_empty());
    }
}
