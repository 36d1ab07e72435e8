//! Resource quantities and their arithmetic: every operation saturates, none panics.

use std::ops::{Add, AddAssign, Mul};

/// A quantity of each schedulable resource, in base units (the WIT `resources` record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Resources {
    /// CPU in millicores.
    pub cpu_millis: u64,
    /// Memory in bytes.
    pub memory_bytes: u64,
    /// Ephemeral storage in bytes.
    pub ephemeral_storage_bytes: u64,
    /// Whole GPUs (`nvidia.com/gpu`).
    pub gpu: u32,
    /// Pod slots.
    pub pods: u32,
}

impl Resources {
    /// Nothing.
    pub const ZERO: Resources = Resources {
        cpu_millis: 0,
        memory_bytes: 0,
        ephemeral_storage_bytes: 0,
        gpu: 0,
        pods: 0,
    };

    /// No limit in any dimension.
    pub const UNLIMITED: Resources = Resources {
        cpu_millis: u64::MAX,
        memory_bytes: u64::MAX,
        ephemeral_storage_bytes: u64::MAX,
        gpu: u32::MAX,
        pods: u32::MAX,
    };

    /// Requests of one pod: cpu and memory, one pod slot.
    #[inline]
    pub const fn pod(cpu_millis: u64, memory_bytes: u64) -> Self {
        Self {
            cpu_millis,
            memory_bytes,
            ephemeral_storage_bytes: 0,
            gpu: 0,
            pods: 1,
        }
    }

    /// The fit rule: true when every dimension of the request `self` is at most the same
    /// dimension of `free` (what is left on a node, or a flavor's allocatable).
    #[inline]
    pub fn fits_in(&self, free: &Resources) -> bool {
        self.cpu_millis <= free.cpu_millis
            && self.memory_bytes <= free.memory_bytes
            && self.ephemeral_storage_bytes <= free.ephemeral_storage_bytes
            && self.gpu <= free.gpu
            && self.pods <= free.pods
    }

    /// How many copies of `self` (one pod's requests) fit in `free`: the tightest dimension
    /// decides; `u32::MAX` when `self` is all zero (or the count exceeds `u32`).
    #[inline]
    pub fn copies_within(&self, free: &Resources) -> u32 {
        #[inline]
        fn ratio(need: u64, have: u64) -> u64 {
            have.checked_div(need).unwrap_or(u64::MAX)
        }
        let n = ratio(self.cpu_millis, free.cpu_millis)
            .min(ratio(self.memory_bytes, free.memory_bytes))
            .min(ratio(
                self.ephemeral_storage_bytes,
                free.ephemeral_storage_bytes,
            ))
            .min(ratio(u64::from(self.gpu), u64::from(free.gpu)))
            .min(ratio(u64::from(self.pods), u64::from(free.pods)));
        u32::try_from(n).unwrap_or(u32::MAX)
    }

    /// The NodePool limit rule: true when `self` (a new node's full capacity) is within
    /// `limit` (what the NodePool's `spec.limits` leave) in CPU, memory, ephemeral storage and
    /// GPUs. Pods are not limited.
    #[inline]
    pub fn within_limits(&self, limit: &Resources) -> bool {
        Resources { pods: 0, ..*self }.fits_in(&Resources { pods: 0, ..*limit })
    }

    /// Component-wise sum, saturating at each type's maximum.
    #[inline]
    pub fn saturating_add(&self, other: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_add(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(other.memory_bytes),
            ephemeral_storage_bytes: self
                .ephemeral_storage_bytes
                .saturating_add(other.ephemeral_storage_bytes),
            gpu: self.gpu.saturating_add(other.gpu),
            pods: self.pods.saturating_add(other.pods),
        }
    }

    /// Component-wise `self - other`, floored at zero.
    #[inline]
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_sub(other.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_sub(other.memory_bytes),
            ephemeral_storage_bytes: self
                .ephemeral_storage_bytes
                .saturating_sub(other.ephemeral_storage_bytes),
            gpu: self.gpu.saturating_sub(other.gpu),
            pods: self.pods.saturating_sub(other.pods),
        }
    }

    /// `self` times `n`, saturating (the requests of `n` identical pods).
    #[inline]
    pub fn saturating_mul(&self, n: u32) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_mul(u64::from(n)),
            memory_bytes: self.memory_bytes.saturating_mul(u64::from(n)),
            ephemeral_storage_bytes: self.ephemeral_storage_bytes.saturating_mul(u64::from(n)),
            gpu: self.gpu.saturating_mul(n),
            pods: self.pods.saturating_mul(n),
        }
    }

    /// Each dimension's smaller value.
    #[inline]
    pub fn min_each(&self, other: &Resources) -> Resources {
        self.zip(other, u64::min, u32::min)
    }

    /// Each dimension's larger value.
    #[inline]
    pub fn max_each(&self, other: &Resources) -> Resources {
        self.zip(other, u64::max, u32::max)
    }

    #[inline]
    fn zip(&self, o: &Resources, wide: fn(u64, u64) -> u64, narrow: fn(u32, u32) -> u32) -> Self {
        Resources {
            cpu_millis: wide(self.cpu_millis, o.cpu_millis),
            memory_bytes: wide(self.memory_bytes, o.memory_bytes),
            ephemeral_storage_bytes: wide(self.ephemeral_storage_bytes, o.ephemeral_storage_bytes),
            gpu: narrow(self.gpu, o.gpu),
            pods: narrow(self.pods, o.pods),
        }
    }

    /// True when every dimension is zero.
    #[inline]
    pub fn is_zero(&self) -> bool {
        *self == Resources::ZERO
    }
}

/// [`Resources::saturating_add`].
impl Add for Resources {
    type Output = Resources;
    #[inline]
    fn add(self, other: Resources) -> Resources {
        self.saturating_add(&other)
    }
}

/// [`Resources::saturating_add`], in place.
impl AddAssign for Resources {
    #[inline]
    fn add_assign(&mut self, other: Resources) {
        *self = self.saturating_add(&other);
    }
}

/// [`Resources::saturating_mul`].
impl Mul<u32> for Resources {
    type Output = Resources;
    #[inline]
    fn mul(self, n: u32) -> Resources {
        self.saturating_mul(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GIB: u64 = 1 << 30;

    fn r(cpu: u64, mem_gib: u64, pods: u32) -> Resources {
        Resources {
            cpu_millis: cpu,
            memory_bytes: mem_gib * GIB,
            pods,
            ..Resources::ZERO
        }
    }

    #[test]
    fn fit_checks_every_dimension() {
        let node = r(2000, 8, 110);
        assert!(r(2000, 8, 110).fits_in(&node));
        assert!(Resources::ZERO.fits_in(&Resources::ZERO));
        assert!(!r(2001, 1, 1).fits_in(&node));
        assert!(!r(1, 9, 1).fits_in(&node));
        assert!(!r(1, 1, 111).fits_in(&node));
        let gpu_pod = Resources {
            gpu: 1,
            ..r(1, 1, 1)
        };
        assert!(!gpu_pod.fits_in(&node));
        let storage_pod = Resources {
            ephemeral_storage_bytes: 1,
            ..r(1, 1, 1)
        };
        assert!(!storage_pod.fits_in(&node));
        assert!(Resources::UNLIMITED.fits_in(&Resources::UNLIMITED));
    }

    #[test]
    fn arithmetic_saturates() {
        let a = r(100, 1, 1);
        let b = r(300, 2, 5);
        assert_eq!(a.saturating_sub(&b), Resources::ZERO);
        assert_eq!(b.saturating_sub(&a), r(200, 1, 4));
        assert_eq!(
            Resources::UNLIMITED.saturating_add(&a),
            Resources::UNLIMITED
        );
        assert_eq!(
            Resources::UNLIMITED + Resources::UNLIMITED,
            Resources::UNLIMITED
        );
        assert_eq!(a + b, r(400, 3, 6));
        let mut c = a;
        c += b;
        assert_eq!(c, a + b);
        assert_eq!(a.saturating_mul(3), r(300, 3, 3));
        assert_eq!(a.saturating_mul(0), Resources::ZERO);
        assert_eq!(Resources::UNLIMITED * 2, Resources::UNLIMITED);
        assert_eq!(
            Resources {
                gpu: u32::MAX - 1,
                ..Resources::ZERO
            } * 2,
            Resources {
                gpu: u32::MAX,
                ..Resources::ZERO
            }
        );
        assert!(Resources::ZERO.is_zero() && !a.is_zero());
    }

    #[test]
    fn min_and_max_per_dimension() {
        let a = Resources {
            gpu: 2,
            ..r(100, 4, 1)
        };
        let b = r(300, 2, 5);
        assert_eq!(a.min_each(&b), r(100, 2, 1));
        assert_eq!(
            a.max_each(&b),
            Resources {
                gpu: 2,
                ..r(300, 4, 5)
            }
        );
    }

    #[test]
    fn copies_take_the_tightest_dimension() {
        let pod = r(500, 1, 1);
        assert_eq!(pod.copies_within(&r(1900, 7, 110)), 3);
        assert_eq!(pod.copies_within(&r(8000, 2, 110)), 2);
        assert_eq!(pod.copies_within(&r(8000, 32, 4)), 4);
        assert_eq!(pod.copies_within(&Resources::ZERO), 0);
        // A request of nothing fits any number of times.
        assert_eq!(Resources::ZERO.copies_within(&r(1, 1, 1)), u32::MAX);
        assert_eq!(Resources::ZERO.copies_within(&Resources::ZERO), u32::MAX);
        // More copies than u32 holds.
        let tiny = Resources {
            cpu_millis: 1,
            ..Resources::ZERO
        };
        assert_eq!(tiny.copies_within(&Resources::UNLIMITED), u32::MAX);
        // Consistent with fit: n copies fit, n + 1 do not.
        let free = r(2000, 8, 110);
        let n = pod.copies_within(&free);
        assert!((pod * n).fits_in(&free));
        assert!(!(pod * (n + 1)).fits_in(&free));
    }

    #[test]
    fn limits_ignore_pods_only() {
        let node = r(2000, 8, 110);
        assert!(node.within_limits(&r(2000, 8, 0)));
        assert!(!node.within_limits(&r(1999, 8, 0)));
        assert!(!node.within_limits(&r(2000, 7, 0)));
        let disk = Resources {
            ephemeral_storage_bytes: 50 * GIB,
            ..node
        };
        let limit = Resources {
            ephemeral_storage_bytes: 49 * GIB,
            ..Resources::UNLIMITED
        };
        assert!(!disk.within_limits(&limit));
        assert!(disk.within_limits(&Resources::UNLIMITED));
        let gpu = Resources { gpu: 1, ..node };
        assert!(!gpu.within_limits(&Resources {
            gpu: 0,
            ..Resources::UNLIMITED
        }));
    }
}
