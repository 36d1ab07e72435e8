//! Jittered exponential back-off for transient errors.

use std::time::Duration;

use rand::Rng;

/// How the client retries transient errors (429, 5xx, timeouts, connection errors). Other
/// errors are never retried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in total, including the first (1 = no retry).
    pub max_attempts: u32,
    /// Back-off before the first retry (before jitter).
    pub initial_backoff: Duration,
    /// Cap of one back-off.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Back-off before retry number `retry` (1 for the first retry): "equal jitter", half of
    /// the exponential step fixed and half random, so concurrent clients spread out but every
    /// retry still waits.
    pub fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let exp = self
            .initial_backoff
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_backoff);
        let half = exp / 2;
        half + half.mul_f64(rng.random::<f64>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            max_attempts: 10,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
        };
        let mut rng = rand::rngs::StdRng::seed_from_u64(3);
        for retry in 1..10 {
            let exp =
                Duration::from_millis(100 * (1 << (retry - 1))).min(Duration::from_millis(1000));
            let b = p.backoff(retry, &mut rng);
            assert!(
                b >= exp / 2 && b <= exp,
                "retry {retry}: {b:?} not in [{:?}, {exp:?}]",
                exp / 2
            );
        }
    }
}
