//! The one clock every duration and timestamp of the controller goes through.
//!
//! The guide's durations are real (`consolidateAfter: 1m`, nodes Ready in minutes). Tests and
//! the demo run them faster with a time-scale factor shared with the simulators: timestamps stay
//! wall-clock, and a *guide duration* `d` elapses in `d / scale` of real time. So a NodePool
//! with `consolidateAfter: 1m` run at scale 20 consolidates after 3 real seconds, without
//! editing the manifest. [`Clock::manual`] gives pure code and replays a clock it controls.
//!
//! Every timestamp the controller writes or compares goes through a [`Clock`]. Two uses read
//! the system clock on purpose and must keep doing so: leader election (Lease renew times are
//! compared by other replicas and by the API server in real time) and OVH request signatures
//! (the OVH API checks `X-Ovh-Timestamp` against its own clock).

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;

/// Shared handle on the controller's clock. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Clock {
    scale: f64,
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    /// The system clock.
    System,
    /// A clock that only moves when told to (nanoseconds since the Unix epoch).
    Manual(Arc<AtomicI64>),
}

impl Default for Clock {
    fn default() -> Self {
        Self::system(1.0)
    }
}

impl Clock {
    /// The system clock, with guide durations compressed by `scale` (1.0 = real time).
    ///
    /// # Panics
    /// Never: a non-finite or non-positive scale is treated as 1.0.
    pub fn system(scale: f64) -> Self {
        Self {
            scale: sanitize(scale),
            source: Source::System,
        }
    }

    /// A clock frozen at `start` that moves only through [`Clock::advance`]; scale 1.0.
    pub fn manual(start: Timestamp) -> Self {
        Self {
            scale: 1.0,
            source: Source::Manual(Arc::new(AtomicI64::new(
                start
                    .as_nanosecond()
                    .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
            ))),
        }
    }

    /// The time-scale factor.
    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The current instant.
    pub fn now(&self) -> Timestamp {
        match &self.source {
            Source::System => Timestamp::now(),
            Source::Manual(nanos) => {
                Timestamp::from_nanosecond(nanos.load(Ordering::SeqCst) as i128)
                    .unwrap_or(Timestamp::UNIX_EPOCH)
            }
        }
    }

    /// Moves a manual clock forward by a real (unscaled) duration; no effect on the system clock.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(nanos) = &self.source {
            nanos.fetch_add(
                i64::try_from(by.as_nanos()).unwrap_or(i64::MAX),
                Ordering::SeqCst,
            );
        }
    }

    /// How much real time a guide duration takes under this clock's scale.
    pub fn real(&self, guide: Duration) -> Duration {
        guide.div_f64(self.scale)
    }

    /// How much guide time a real duration stands for.
    pub fn guide(&self, real: Duration) -> Duration {
        real.mul_f64(self.scale)
    }

    /// Guide time elapsed since `earlier` (zero when `earlier` is in the future).
    pub fn guide_since(&self, earlier: Timestamp) -> Duration {
        let real = self.now().duration_since(earlier);
        let real = Duration::try_from(real).unwrap_or(Duration::ZERO);
        self.guide(real)
    }
}

fn sanitize(scale: f64) -> f64 {
    if scale.is_finite() && scale > 0.0 {
        scale
    } else {
        1.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scale_compresses_guide_durations() {
        let clock = Clock::system(20.0);
        assert_eq!(clock.real(Duration::from_secs(60)), Duration::from_secs(3));
        assert_eq!(clock.guide(Duration::from_secs(3)), Duration::from_secs(60));
    }

    #[test]
    fn bad_scale_falls_back_to_real_time() {
        for bad in [0.0, -3.0, f64::NAN, f64::INFINITY] {
            assert_eq!(Clock::system(bad).scale(), 1.0);
        }
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let start: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = Clock::manual(start);
        assert_eq!(clock.now(), start);
        clock.advance(Duration::from_secs(90));
        assert_eq!(clock.guide_since(start), Duration::from_secs(90));
        // A timestamp in the future is "zero ago", not a panic.
        let later: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        assert_eq!(clock.guide_since(later), Duration::ZERO);
    }
}
