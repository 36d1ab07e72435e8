//! Resource arithmetic on [`Resources`]: every operation saturates, none panics. The rules
//! are the contract's ([`karpenter_ovhcloud_contract::Resources`]), the ones the host
//! validates answers with; the WIT record converts to and from it.

use karpenter_ovhcloud_contract as contract;

use crate::types::Resources;

impl From<Resources> for contract::Resources {
    fn from(r: Resources) -> Self {
        contract::Resources {
            cpu_millis: r.cpu_millis,
            memory_bytes: r.memory_bytes,
            ephemeral_storage_bytes: r.ephemeral_storage_bytes,
            gpu: r.gpu,
            pods: r.pods,
        }
    }
}

impl From<contract::Resources> for Resources {
    fn from(r: contract::Resources) -> Self {
        Resources {
            cpu_millis: r.cpu_millis,
            memory_bytes: r.memory_bytes,
            ephemeral_storage_bytes: r.ephemeral_storage_bytes,
            gpu: r.gpu,
            pods: r.pods,
        }
    }
}

/// The contract's view of a WIT record.
fn c(r: &Resources) -> contract::Resources {
    contract::Resources::from(*r)
}

/// Bytes in one GiB, for readable tests and messages.
pub const GIB: u64 = 1 << 30;
/// Bytes in one MiB.
pub const MIB: u64 = 1 << 20;

/// Bytes as GiB with one decimal, e.g. `1.5Gi` (integer arithmetic, no float formatting).
fn gibibytes(bytes: u64) -> String {
    let tenths = (u128::from(bytes) * 10 + u128::from(GIB) / 2) / u128::from(GIB);
    format!("{}.{}Gi", tenths / 10, tenths % 10)
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

    /// No limit in any dimension (how a NodePool without `spec.limits` may be expressed).
    pub const UNLIMITED: Resources = Resources {
        cpu_millis: u64::MAX,
        memory_bytes: u64::MAX,
        ephemeral_storage_bytes: u64::MAX,
        gpu: u32::MAX,
        pods: u32::MAX,
    };

    /// CPU and memory only, the rest zero: a handy constructor for requests.
    pub const fn cpu_memory(cpu_millis: u64, memory_bytes: u64) -> Resources {
        Resources {
            cpu_millis,
            memory_bytes,
            ephemeral_storage_bytes: 0,
            gpu: 0,
            pods: 0,
        }
    }

    /// True when every dimension of `self` is at most the same dimension of `capacity`
    /// ([`contract::Resources::fits_in`]).
    pub fn fits(&self, capacity: &Resources) -> bool {
        c(self).fits_in(&c(capacity))
    }

    /// Component-wise sum, saturating.
    pub fn saturating_add(&self, other: &Resources) -> Resources {
        c(self).saturating_add(&c(other)).into()
    }

    /// Component-wise difference, floored at zero.
    pub fn saturating_sub(&self, other: &Resources) -> Resources {
        c(self).saturating_sub(&c(other)).into()
    }

    /// `self` times `n`, saturating (the requests of `n` identical pods).
    pub fn saturating_mul(&self, n: u32) -> Resources {
        c(self).saturating_mul(n).into()
    }

    /// How many copies of `self` fit in `capacity` (`u32::MAX` when `self` is zero)
    /// ([`contract::Resources::copies_within`]).
    pub fn copies_within(&self, capacity: &Resources) -> u32 {
        c(self).copies_within(&c(capacity))
    }

    /// True when CPU, memory, ephemeral storage and GPU of `self` are within `limit`: what a
    /// NodePool's `spec.limits` constrain (a new node counts with its full capacity; pods are
    /// not limited) ([`contract::Resources::within_limits`]).
    pub fn within_limits(&self, limit: &Resources) -> bool {
        c(self).within_limits(&c(limit))
    }

    /// True when every dimension is zero.
    pub fn is_zero(&self) -> bool {
        c(self).is_zero()
    }

    /// Short human form for messages, e.g. `cpu 500m, memory 1.0Gi, gpu 1, pods 1`.
    pub fn describe(&self) -> String {
        let mut s = format!(
            "cpu {}m, memory {}",
            self.cpu_millis,
            gibibytes(self.memory_bytes)
        );
        if self.gpu > 0 {
            s.push_str(&format!(", gpu {}", self.gpu));
        }
        if self.ephemeral_storage_bytes > 0 {
            s.push_str(&format!(
                ", ephemeral-storage {}",
                gibibytes(self.ephemeral_storage_bytes)
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(cpu: u64, mem_gib: u64, pods: u32) -> Resources {
        Resources {
            pods,
            ..Resources::cpu_memory(cpu, mem_gib * GIB)
        }
    }

    #[test]
    fn fits_checks_every_dimension() {
        let node = r(2000, 8, 110);
        assert!(r(2000, 8, 110).fits(&node));
        assert!(!r(2001, 1, 1).fits(&node));
        assert!(!r(1, 9, 1).fits(&node));
        assert!(!r(1, 1, 111).fits(&node));
        let gpu_pod = Resources {
            gpu: 1,
            ..r(1, 1, 1)
        };
        assert!(!gpu_pod.fits(&node));
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
        assert_eq!(a.saturating_mul(3), r(300, 3, 3));
        assert_eq!(Resources::UNLIMITED.saturating_mul(2), Resources::UNLIMITED);
    }

    #[test]
    fn copies_within_takes_the_tightest_dimension() {
        let pod = r(500, 1, 1);
        assert_eq!(pod.copies_within(&r(1900, 7, 110)), 3);
        assert_eq!(pod.copies_within(&r(8000, 2, 110)), 2);
        assert_eq!(pod.copies_within(&r(8000, 32, 4)), 4);
        assert_eq!(Resources::ZERO.copies_within(&r(1, 1, 1)), u32::MAX);
        assert_eq!(pod.copies_within(&Resources::ZERO), 0);
    }

    #[test]
    fn limits_ignore_pods() {
        let node = r(2000, 8, 110);
        assert!(node.within_limits(&r(2000, 8, 0)));
        assert!(!node.within_limits(&r(1999, 8, 0)));
        // Ephemeral storage is limited too, as the host's validation checks.
        let disk = Resources {
            ephemeral_storage_bytes: 50 * GIB,
            ..node
        };
        let limit = Resources {
            ephemeral_storage_bytes: 10 * GIB,
            ..Resources::UNLIMITED
        };
        assert!(!disk.within_limits(&limit));
    }

    #[test]
    fn conversions_round_trip() {
        let x = Resources {
            gpu: 2,
            ephemeral_storage_bytes: 7,
            ..r(1500, 3, 9)
        };
        assert_eq!(Resources::from(contract::Resources::from(x)), x);
        assert_eq!(
            contract::Resources::from(Resources::UNLIMITED),
            contract::Resources::UNLIMITED
        );
        assert_eq!(
            contract::Resources::from(Resources::ZERO),
            contract::Resources::ZERO
        );
    }

    #[test]
    fn describe_is_readable() {
        assert_eq!(r(500, 1, 1).describe(), "cpu 500m, memory 1.0Gi");
        assert_eq!(
            Resources::cpu_memory(250, 1536 * MIB).describe(),
            "cpu 250m, memory 1.5Gi"
        );
    }
}
