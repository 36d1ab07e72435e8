//! The pure rules of one disruption pass, shared by the controller's loop (`karpenter_ovhcloud::controller::disruption::run`) and
//! `policy evaluate`'s replay: since when a node's pods are unchanged (`consolidateAfter`),
//! which nodes pending pods are about to use (nominated nodes are not consolidated),
//! Karpenter's order of commands, at most one command per NodePool per pass and none while a
//! replacement of that NodePool is in flight, the NodePool's budgets, and the validation delay
//! (a consolidation is carried out only when it is still chosen that long after it was first
//! chosen). Time goes through [`Clock`], so a manual clock replays it exactly.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::time::Duration;

use jiff::Timestamp;

use super::budget;
use super::decide::{Command, Reason};
use crate::api::nodepool::Budget;
use crate::clock::Clock;
use crate::provisioning::simulate::{plan, Input as SimInput};
use crate::provisioning::FlavorPolicy;

/// What the disruption loop remembers from one pass to the next.
#[derive(Debug, Default)]
pub struct Memory {
    /// Consolidation commands by key, with when they were first chosen.
    seen: HashMap<String, Timestamp>,
    /// Per node: fingerprint of its pods and since when it holds.
    pods_since: HashMap<String, (u64, Timestamp)>,
    /// Replacement NodeClaims by when their command finished: their pods were only arriving,
    /// so `consolidateAfter` counts from then.
    replaced_at: HashMap<String, Timestamp>,
}

impl Memory {
    /// Since when the pods of `node` (NodeClaim `claim`), summed up by `fingerprint`, have not
    /// changed, as seen from this pass: a node seen for the first time counts from its
    /// initialization, a node whose pods changed from `now`, and a replacement from the end
    /// of the command that launched it.
    pub fn pods_unchanged_since(
        &mut self,
        node: &str,
        claim: &str,
        fingerprint: u64,
        initialized_at: Timestamp,
        now: Timestamp,
    ) -> Timestamp {
        let since = match self.pods_since.get(node) {
            Some((old, at)) if *old == fingerprint => *at,
            Some(_) => now,
            None => initialized_at,
        };
        let since = self.replaced_at.get(claim).map_or(since, |t| since.max(*t));
        self.pods_since
            .insert(node.to_string(), (fingerprint, since));
        since
    }

    /// Forgets the nodes that are gone.
    pub fn retain_nodes(&mut self, live: &HashSet<String>) {
        self.pods_since.retain(|n, _| live.contains(n));
    }

    /// Records that `claim` replaced other nodes at `at`.
    pub fn replaced(&mut self, claim: String, at: Timestamp) {
        self.replaced_at.insert(claim, at);
    }

    /// Forgets the replacement NodeClaims that are gone.
    pub fn retain_claims(&mut self, live: impl Fn(&str) -> bool) {
        self.replaced_at.retain(|c, _| live(c));
    }
}

/// A fingerprint of a node's pods (any order).
pub fn fingerprint<T: Hash + Ord>(mut pods: Vec<T>) -> u64 {
    pods.sort();
    let mut h = DefaultHasher::new();
    pods.hash(&mut h);
    h.finish()
}

/// Whether a node may be consolidated: no pending pod is about to use it and its NodePool's
/// `consolidateAfter` (`None`: Never) has passed since its pods last changed (guide time).
pub fn consolidatable(
    nominated: bool,
    consolidate_after_seconds: Option<u64>,
    since: Timestamp,
    clock: &Clock,
) -> bool {
    !nominated
        && consolidate_after_seconds
            .is_some_and(|after| clock.guide_since(since).as_secs() >= after)
}

/// The existing nodes the scheduling core would give the snapshot's pending pods: they are
/// about to be used, so they are neither empty nor under-used (Karpenter's nominated nodes).
pub fn nominated(
    input: &SimInput<'_>,
    primary: &dyn FlavorPolicy,
    fallback: &dyn FlavorPolicy,
) -> HashSet<String> {
    if input.snapshot.pending.is_empty() {
        return HashSet::new();
    }
    plan(input, primary, fallback)
        .on_existing
        .into_iter()
        .map(|(_, node)| node)
        .collect()
}

/// What the budgets of one NodePool read.
#[derive(Clone, Copy, Debug)]
pub struct PoolBudget<'a> {
    /// `spec.disruption.budgets`.
    pub budgets: &'a [Budget],
    /// NodeClaims of the NodePool.
    pub total: u32,
    /// Those already being deleted.
    pub disrupting: u32,
}

impl PoolBudget<'_> {
    /// `Err(allowed)` when a command disrupting `nodes` nodes for `reason` does not fit the
    /// budgets at `now` (expiry is not budgeted).
    pub fn check(&self, reason: Reason, nodes: usize, now: Timestamp) -> Result<(), u32> {
        let Some(reason) = reason.budget() else {
            return Ok(());
        };
        let allowed = budget::allowed(self.budgets, reason, self.total, self.disrupting, now);
        if (allowed as usize) < nodes {
            Err(allowed)
        } else {
            Ok(())
        }
    }
}

/// What a pass does with one command.
#[derive(Clone, Debug, PartialEq)]
pub enum Verdict {
    /// Carry it out now.
    Execute,
    /// A consolidation chosen less than the validation delay ago: chosen again later, it runs.
    Validating,
    /// The NodePool's budget allows fewer nodes than the command removes.
    OverBudget {
        /// Nodes the budget allows now.
        allowed: u32,
    },
}

/// The commands of a pass in Karpenter's order (empty nodes, then drift and expiry, then
/// underutilized consolidation), each with what to do with it. A NodePool gets at most one
/// command per pass and none while it is in `busy` (a replacement in flight); a command over
/// its NodePool's budget is skipped (the next one of that NodePool may still fit); a
/// consolidation runs only once it has been chosen for `validation_delay`. Commands of an
/// unknown NodePool are dropped.
pub fn choose<'a>(
    accepted: Vec<Command>,
    lifecycle: Vec<Command>,
    mut busy: HashSet<String>,
    budgets: &dyn Fn(&str) -> Option<PoolBudget<'a>>,
    memory: &mut Memory,
    clock: &Clock,
    validation_delay: Duration,
) -> Vec<(Command, Verdict)> {
    let (empties, underused): (Vec<Command>, Vec<Command>) = accepted
        .into_iter()
        .partition(|c| c.reason == Reason::Empty);
    let ordered = empties
        .into_iter()
        .map(|c| (c, true))
        .chain(lifecycle.into_iter().map(|c| (c, false)))
        .chain(underused.into_iter().map(|c| (c, true)));
    let now = clock.now();
    let mut chosen_keys = HashSet::new();
    let mut out = Vec::new();
    for (command, delayed) in ordered {
        if busy.contains(&command.nodepool) {
            continue;
        }
        let Some(pool) = budgets(&command.nodepool) else {
            continue;
        };
        if let Err(allowed) = pool.check(command.reason, command.claims.len(), now) {
            out.push((command, Verdict::OverBudget { allowed }));
            continue;
        }
        busy.insert(command.nodepool.clone());
        if delayed {
            let key = command.key();
            chosen_keys.insert(key.clone());
            let first = *memory.seen.entry(key).or_insert(now);
            if clock.guide_since(first) < validation_delay {
                out.push((command, Verdict::Validating));
                continue;
            }
        }
        out.push((command, Verdict::Execute));
    }
    memory.seen.retain(|k, _| chosen_keys.contains(k));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(nodepool: &str, nodes: &[&str], reason: Reason) -> Command {
        Command {
            nodes: nodes.iter().map(|n| n.to_string()).collect(),
            claims: nodes.iter().map(|n| format!("{n}-claim")).collect(),
            nodepool: nodepool.into(),
            reason,
            replacements: Vec::new(),
            savings_per_hour: 0.1,
            message: String::new(),
        }
    }

    fn start() -> Timestamp {
        "2026-01-05T00:00:00Z".parse().unwrap()
    }

    #[test]
    fn order_one_command_per_pool_and_the_validation_delay() {
        let clock = Clock::manual(start());
        let budgets = [Budget::nodes("100%")];
        let lookup = |p: &str| {
            (p != "ghost").then_some(PoolBudget {
                budgets: &budgets,
                total: 10,
                disrupting: 0,
            })
        };
        let mut memory = Memory::default();
        let accepted = || {
            vec![
                command("a", &["u1"], Reason::Underutilized),
                command("a", &["e1"], Reason::Empty),
                command("b", &["e2"], Reason::Empty),
                command("ghost", &["e3"], Reason::Empty),
            ]
        };
        let lifecycle = || vec![command("c", &["d1"], Reason::Drifted)];
        let delay = Duration::from_secs(15);
        let names = |v: &[(Command, Verdict)]| -> Vec<(String, Verdict)> {
            v.iter()
                .map(|(c, v)| (c.nodes.join(","), v.clone()))
                .collect()
        };
        let first = choose(
            accepted(),
            lifecycle(),
            HashSet::new(),
            &lookup,
            &mut memory,
            &clock,
            delay,
        );
        // Empty first (pool a's underutilized command waits for the next pass), drift is not
        // delayed, the unknown pool is dropped.
        assert_eq!(
            names(&first),
            vec![
                ("e1".into(), Verdict::Validating),
                ("e2".into(), Verdict::Validating),
                ("d1".into(), Verdict::Execute),
            ]
        );
        clock.advance(Duration::from_secs(10));
        let second = choose(
            accepted(),
            vec![],
            ["b".to_string()].into(),
            &lookup,
            &mut memory,
            &clock,
            delay,
        );
        assert_eq!(names(&second), vec![("e1".into(), Verdict::Validating)]);
        clock.advance(Duration::from_secs(10));
        let third = choose(
            accepted(),
            vec![],
            HashSet::new(),
            &lookup,
            &mut memory,
            &clock,
            delay,
        );
        // e2 was not chosen in the second pass (pool b busy): its delay starts over.
        assert_eq!(
            names(&third),
            vec![
                ("e1".into(), Verdict::Execute),
                ("e2".into(), Verdict::Validating)
            ]
        );
    }

    #[test]
    fn budgets_skip_commands_that_remove_too_many_nodes() {
        let clock = Clock::manual(start());
        let one = [Budget::nodes("1")];
        let lookup = |_: &str| {
            Some(PoolBudget {
                budgets: &one,
                total: 4,
                disrupting: 0,
            })
        };
        let mut memory = Memory::default();
        let run = |memory: &mut Memory| {
            choose(
                vec![
                    command("a", &["n1", "n2"], Reason::Underutilized),
                    command("a", &["n3"], Reason::Underutilized),
                ],
                vec![],
                HashSet::new(),
                &lookup,
                memory,
                &clock,
                Duration::ZERO,
            )
        };
        let out = run(&mut memory);
        assert_eq!(out[0].1, Verdict::OverBudget { allowed: 1 });
        assert_eq!(out[1].1, Verdict::Execute);
        // A node already being deleted uses the budget up.
        let busy = |_: &str| {
            Some(PoolBudget {
                budgets: &one,
                total: 4,
                disrupting: 1,
            })
        };
        let out = choose(
            vec![command("a", &["n3"], Reason::Empty)],
            vec![],
            HashSet::new(),
            &busy,
            &mut memory,
            &clock,
            Duration::ZERO,
        );
        assert_eq!(out[0].1, Verdict::OverBudget { allowed: 0 });
        // Expiry is not budgeted.
        let out = choose(
            vec![],
            vec![command("a", &["n3"], Reason::Expired)],
            HashSet::new(),
            &busy,
            &mut memory,
            &clock,
            Duration::ZERO,
        );
        assert_eq!(out[0].1, Verdict::Execute);
    }

    #[test]
    fn consolidate_after_counts_from_the_last_change_of_the_pods() {
        let clock = Clock::manual(start());
        let mut memory = Memory::default();
        let init = start();
        let since =
            |m: &mut Memory, fp: u64| m.pods_unchanged_since("n", "n-claim", fp, init, clock.now());
        assert_eq!(since(&mut memory, fingerprint(vec!["b", "a"])), init);
        clock.advance(Duration::from_secs(30));
        assert_eq!(since(&mut memory, fingerprint(vec!["a", "b"])), init);
        assert!(consolidatable(false, Some(30), init, &clock));
        assert!(!consolidatable(false, Some(31), init, &clock));
        assert!(!consolidatable(true, Some(0), init, &clock));
        assert!(!consolidatable(false, None, init, &clock));
        // The pods changed: from now.
        let changed = since(&mut memory, fingerprint(vec!["a"]));
        assert_eq!(changed, clock.now());
        // A replacement counts from the end of its command.
        clock.advance(Duration::from_secs(5));
        memory.replaced("n-claim".into(), clock.now());
        assert_eq!(since(&mut memory, fingerprint(vec!["a"])), clock.now());
        memory.retain_nodes(&HashSet::new());
        memory.retain_claims(|_| false);
        clock.advance(Duration::from_secs(5));
        assert_eq!(since(&mut memory, fingerprint(vec!["a"])), init);
    }
}
