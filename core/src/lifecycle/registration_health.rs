//! NodePool registration health, as upstream Karpenter tracks it (`state/nodepoolhealth`):
//! the outcomes of a NodePool's last four launches (registered, or failed to launch or
//! register in time); the NodePool is unhealthy when at least half of the four failed.

use std::collections::{HashMap, VecDeque};

/// Launch outcomes kept per NodePool.
pub const WINDOW: usize = 4;

/// A NodePool's registration health.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    /// No launch outcome known yet.
    Unknown,
    /// Fewer than half of the last launches failed.
    Healthy,
    /// At least half of the last launches failed to register.
    Unhealthy,
}

/// The last launch outcomes of every NodePool (by UID: a NodePool deleted and created again
/// starts afresh).
#[derive(Clone, Debug, Default)]
pub struct RegistrationHealth {
    outcomes: HashMap<String, VecDeque<bool>>,
}

fn health(outcomes: &VecDeque<bool>) -> Health {
    if outcomes.is_empty() {
        return Health::Unknown;
    }
    let failed = outcomes.iter().filter(|ok| !**ok).count();
    // As upstream: failures over the whole window, not over the outcomes seen so far.
    if failed * 2 >= WINDOW {
        Health::Unhealthy
    } else {
        Health::Healthy
    }
}

impl RegistrationHealth {
    /// The health of `pool` now.
    pub fn health(&self, pool: &str) -> Health {
        self.outcomes.get(pool).map_or(Health::Unknown, health)
    }

    /// The health `pool` would have once `registered` is recorded.
    pub fn dry_run(&self, pool: &str, registered: bool) -> Health {
        let mut outcomes = self.outcomes.get(pool).cloned().unwrap_or_default();
        push(&mut outcomes, registered);
        health(&outcomes)
    }

    /// Records one launch outcome of `pool`.
    pub fn record(&mut self, pool: &str, registered: bool) -> Health {
        let outcomes = self.outcomes.entry(pool.to_owned()).or_default();
        push(outcomes, registered);
        health(outcomes)
    }

    /// Forgets `pool`'s outcomes (its spec or its node class changed).
    pub fn reset(&mut self, pool: &str) {
        self.outcomes.remove(pool);
    }

    /// Seeds `pool` from its condition after a restart (True: one success; False: two
    /// failures, still unhealthy), as upstream does; a pool already tracked is left alone.
    pub fn seed(&mut self, pool: &str, healthy: Option<bool>) {
        if self.outcomes.contains_key(pool) {
            return;
        }
        let seeded = match healthy {
            Some(true) => VecDeque::from([true]),
            Some(false) => VecDeque::from([false, false]),
            None => return,
        };
        self.outcomes.insert(pool.to_owned(), seeded);
    }
}

fn push(outcomes: &mut VecDeque<bool>, registered: bool) {
    outcomes.push_back(registered);
    while outcomes.len() > WINDOW {
        outcomes.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_of_the_last_four_failing_is_unhealthy() {
        let mut h = RegistrationHealth::default();
        assert_eq!(h.health("p"), Health::Unknown);
        assert_eq!(h.record("p", false), Health::Healthy, "1 of 4 failed");
        assert_eq!(h.dry_run("p", false), Health::Unhealthy);
        assert_eq!(h.health("p"), Health::Healthy, "a dry run records nothing");
        assert_eq!(h.record("p", false), Health::Unhealthy);
        for _ in 0..3 {
            h.record("p", true);
        }
        assert_eq!(
            h.health("p"),
            Health::Healthy,
            "the failures left the window"
        );
        h.reset("p");
        assert_eq!(h.health("p"), Health::Unknown);
        h.seed("p", Some(false));
        assert_eq!(h.health("p"), Health::Unhealthy);
        h.seed("p", Some(true));
        assert_eq!(
            h.health("p"),
            Health::Unhealthy,
            "a tracked pool is not reseeded"
        );
    }
}
