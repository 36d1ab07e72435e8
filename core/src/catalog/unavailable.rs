//! Offerings (flavor, zone) OVH recently refused: out of stock, or quota exhausted. They are
//! skipped for a while so the next launch tries the next choice, then tried again.
//!
//! Expiry is measured in guide time through the controller's [`Clock`], so a test or the demo
//! running at 20x sees a 3-minute entry expire after 9 real seconds.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::Clock;

/// How long an offering stays unavailable after a refusal (upstream Karpenter's value).
pub const DEFAULT_TTL: Duration = Duration::from_secs(3 * 60);

/// One unavailable offering.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    /// When OVH refused it.
    pub since: Timestamp,
    /// Why, e.g. `FLAVOR_OUT_OF_STOCK_ERROR` or `InsufficientVCPUsQuota`.
    pub reason: String,
}

/// The cache of unavailable offerings, shared by launches and catalog builds.
#[derive(Debug)]
pub struct UnavailableOfferings {
    clock: Clock,
    ttl: Duration,
    entries: Mutex<HashMap<(String, String), Unavailable>>,
}

impl UnavailableOfferings {
    /// An empty cache whose entries last `ttl` of guide time.
    pub fn new(clock: Clock, ttl: Duration) -> Self {
        Self {
            clock,
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Unavailable>> {
        // A panic while holding the lock cannot leave the map inconsistent (single inserts).
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `flavor` unavailable in `zone` from now on (renews an existing entry).
    pub fn mark(&self, flavor: &str, zone: &str, reason: &str) {
        self.lock().insert(
            (flavor.to_owned(), zone.to_owned()),
            Unavailable {
                since: self.clock.now(),
                reason: reason.to_owned(),
            },
        );
    }

    /// Marks `flavor` unavailable in every zone of `zones` (a refusal not tied to one zone).
    pub fn mark_zones<'a>(
        &self,
        flavor: &str,
        zones: impl IntoIterator<Item = &'a str>,
        reason: &str,
    ) {
        for zone in zones {
            self.mark(flavor, zone, reason);
        }
    }

    /// The live entry of (`flavor`, `zone`), if any.
    pub fn get(&self, flavor: &str, zone: &str) -> Option<Unavailable> {
        let mut entries = self.lock();
        let key = (flavor.to_owned(), zone.to_owned());
        let entry = entries.get(&key)?;
        if self.expired(entry) {
            entries.remove(&key);
            return None;
        }
        Some(entry.clone())
    }

    /// Whether `flavor` is currently unavailable in `zone`.
    pub fn is_unavailable(&self, flavor: &str, zone: &str) -> bool {
        self.get(flavor, zone).is_some()
    }

    /// Forgets an entry (e.g. OVH delivered the flavor after all).
    pub fn clear(&self, flavor: &str, zone: &str) {
        self.lock().remove(&(flavor.to_owned(), zone.to_owned()));
    }

    /// Drops expired entries; returns how many remain.
    pub fn prune(&self) -> usize {
        let mut entries = self.lock();
        entries.retain(|_, e| !self.expired(e));
        entries.len()
    }

    fn expired(&self, entry: &Unavailable) -> bool {
        self.clock.guide_since(entry.since) >= self.ttl
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> (Clock, UnavailableOfferings) {
        let clock = Clock::manual("2026-01-01T00:00:00Z".parse().unwrap());
        (clock.clone(), UnavailableOfferings::new(clock, DEFAULT_TTL))
    }

    #[test]
    fn entries_expire_after_the_ttl() {
        let (clock, cache) = cache();
        cache.mark("b3-8", "eu-west-par-a", "FLAVOR_OUT_OF_STOCK_ERROR");
        assert!(cache.is_unavailable("b3-8", "eu-west-par-a"));
        assert!(!cache.is_unavailable("b3-8", "eu-west-par-b"));
        assert!(!cache.is_unavailable("b3-16", "eu-west-par-a"));
        clock.advance(Duration::from_secs(179));
        assert_eq!(
            cache.get("b3-8", "eu-west-par-a").map(|e| e.reason),
            Some("FLAVOR_OUT_OF_STOCK_ERROR".to_owned())
        );
        clock.advance(Duration::from_secs(1));
        assert!(!cache.is_unavailable("b3-8", "eu-west-par-a"));
        assert_eq!(cache.prune(), 0);
    }

    #[test]
    fn marking_again_renews_and_clear_forgets() {
        let (clock, cache) = cache();
        cache.mark_zones(
            "c3-8",
            ["eu-west-par-a", "eu-west-par-b"],
            "InsufficientVCPUsQuota",
        );
        clock.advance(Duration::from_secs(120));
        cache.mark("c3-8", "eu-west-par-a", "InsufficientVCPUsQuota");
        clock.advance(Duration::from_secs(120));
        assert!(cache.is_unavailable("c3-8", "eu-west-par-a"));
        assert!(!cache.is_unavailable("c3-8", "eu-west-par-b"));
        cache.clear("c3-8", "eu-west-par-a");
        assert!(!cache.is_unavailable("c3-8", "eu-west-par-a"));
    }
}
