//! Resource quantities in base units and Kubernetes quantity parsing.

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
    /// Requests of one pod: cpu and memory, one pod slot.
    pub fn pod(cpu_millis: u64, memory_bytes: u64) -> Self {
        Self {
            cpu_millis,
            memory_bytes,
            pods: 1,
            ..Self::default()
        }
    }

    /// True when every dimension of `self` is at most the same dimension of `capacity`.
    pub fn fits_in(&self, capacity: &Resources) -> bool {
        self.cpu_millis <= capacity.cpu_millis
            && self.memory_bytes <= capacity.memory_bytes
            && self.ephemeral_storage_bytes <= capacity.ephemeral_storage_bytes
            && self.gpu <= capacity.gpu
            && self.pods <= capacity.pods
    }

    /// `self - other`, floored at zero per dimension.
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

    /// Each dimension's smaller value.
    pub fn min_each(&self, other: &Resources) -> Resources {
        self.zip(other, u64::min, u32::min)
    }

    /// Each dimension's larger value.
    pub fn max_each(&self, other: &Resources) -> Resources {
        self.zip(other, u64::max, u32::max)
    }

    fn zip(&self, o: &Resources, wide: fn(u64, u64) -> u64, narrow: fn(u32, u32) -> u32) -> Self {
        Resources {
            cpu_millis: wide(self.cpu_millis, o.cpu_millis),
            memory_bytes: wide(self.memory_bytes, o.memory_bytes),
            ephemeral_storage_bytes: wide(self.ephemeral_storage_bytes, o.ephemeral_storage_bytes),
            gpu: narrow(self.gpu, o.gpu),
            pods: narrow(self.pods, o.pods),
        }
    }

    /// How many copies of `one` fit in `self` (u32::MAX when `one` is all zero).
    pub fn how_many(&self, one: &Resources) -> u32 {
        fn div(have: u64, need: u64) -> u64 {
            have.checked_div(need).unwrap_or(u64::MAX)
        }
        let n = div(self.cpu_millis, one.cpu_millis)
            .min(div(self.memory_bytes, one.memory_bytes))
            .min(div(
                self.ephemeral_storage_bytes,
                one.ephemeral_storage_bytes,
            ))
            .min(div(self.gpu.into(), one.gpu.into()))
            .min(div(self.pods.into(), one.pods.into()));
        u32::try_from(n).unwrap_or(u32::MAX)
    }
}

impl Add for Resources {
    type Output = Resources;
    fn add(self, o: Resources) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_add(o.cpu_millis),
            memory_bytes: self.memory_bytes.saturating_add(o.memory_bytes),
            ephemeral_storage_bytes: self
                .ephemeral_storage_bytes
                .saturating_add(o.ephemeral_storage_bytes),
            gpu: self.gpu.saturating_add(o.gpu),
            pods: self.pods.saturating_add(o.pods),
        }
    }
}

impl AddAssign for Resources {
    fn add_assign(&mut self, o: Resources) {
        *self = *self + o;
    }
}

impl Mul<u32> for Resources {
    type Output = Resources;
    fn mul(self, n: u32) -> Resources {
        Resources {
            cpu_millis: self.cpu_millis.saturating_mul(n.into()),
            memory_bytes: self.memory_bytes.saturating_mul(n.into()),
            ephemeral_storage_bytes: self.ephemeral_storage_bytes.saturating_mul(n.into()),
            gpu: self.gpu.saturating_mul(n),
            pods: self.pods.saturating_mul(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_and_count() {
        let node = Resources {
            cpu_millis: 2000,
            memory_bytes: 8 << 30,
            ephemeral_storage_bytes: 0,
            gpu: 0,
            pods: 110,
        };
        let pod = Resources::pod(500, 512 << 20);
        assert!(pod.fits_in(&node));
        assert_eq!(node.how_many(&pod), 4);
        assert_eq!(node.saturating_sub(&(pod * 4)).how_many(&pod), 0);
        assert!(!(pod * 5).fits_in(&node));
    }
}
