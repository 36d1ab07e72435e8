//! Client-side token bucket: OVH throttles a consumer key around 60 requests/minute, so the
//! client keeps well under it and absorbs bursts by waiting instead of collecting 429s.
//!
//! Time is read through [`Clock`], so the budget is per *guide* minute: at time scale 20 the
//! simulator sees 20x the real request rate, as it sees every other duration compressed.

use std::sync::Mutex;
use std::time::Duration;

use jiff::Timestamp;

use crate::clock::Clock;

/// Budget of the limiter.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per (guide) minute.
    pub per_minute: f64,
    /// Requests allowed at once after a quiet period.
    pub burst: u32,
}

impl Default for RateLimit {
    /// 40 requests/minute with a burst of 5: well under OVH's ~60/minute.
    fn default() -> Self {
        Self {
            per_minute: 40.0,
            burst: 5,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    last: Timestamp,
}

/// A token bucket shared by every request of a client.
#[derive(Debug)]
pub struct RateLimiter {
    limit: RateLimit,
    clock: Clock,
    bucket: Mutex<Bucket>,
}

/// Upper bound of one wait between checks, so a manual clock moved by a test is noticed.
const MAX_POLL: Duration = Duration::from_millis(50);

impl RateLimiter {
    /// A full bucket.
    pub fn new(limit: RateLimit, clock: Clock) -> Self {
        let limit = RateLimit {
            per_minute: if limit.per_minute.is_finite() && limit.per_minute > 0.0 {
                limit.per_minute
            } else {
                RateLimit::default().per_minute
            },
            burst: limit.burst.max(1),
        };
        let bucket = Bucket {
            tokens: f64::from(limit.burst),
            last: clock.now(),
        };
        Self {
            limit,
            clock,
            bucket: Mutex::new(bucket),
        }
    }

    /// The budget.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes a token now if one is available; otherwise returns the guide time until the next.
    pub fn try_acquire(&self) -> Result<(), Duration> {
        let mut b = self.bucket.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.clock.now();
        let elapsed = self
            .clock
            .guide(Duration::try_from(now.duration_since(b.last)).unwrap_or(Duration::ZERO));
        let per_sec = self.limit.per_minute / 60.0;
        b.tokens = (b.tokens + elapsed.as_secs_f64() * per_sec).min(f64::from(self.limit.burst));
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - b.tokens) / per_sec))
        }
    }

    /// Waits for a token.
    pub async fn acquire(&self) {
        while let Err(wait) = self.try_acquire() {
            tokio::time::sleep(self.clock.real(wait).min(MAX_POLL)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill_at_the_rate() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = Clock::manual(start);
        let rl = RateLimiter::new(
            RateLimit {
                per_minute: 60.0,
                burst: 3,
            },
            clock.clone(),
        );
        assert!((0..3).all(|_| rl.try_acquire().is_ok()));
        let wait = rl.try_acquire().unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        clock.advance(Duration::from_millis(500));
        assert!(rl.try_acquire().is_err());
        clock.advance(Duration::from_millis(500));
        assert!(rl.try_acquire().is_ok());
        // A long pause refills only up to the burst.
        clock.advance(Duration::from_secs(3600));
        assert_eq!((0..10).filter(|_| rl.try_acquire().is_ok()).count(), 3);
    }
}
