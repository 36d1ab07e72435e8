//! What pods can use on a node of a given flavor.
//!
//! Before any node of a flavor has registered, the allocatable is a conservative estimate of
//! what MKS's kubelet reserves; once a node registers, the allocatable it reports replaces the
//! estimate for that flavor (the smallest value seen, so a decision never counts on more than
//! a real node offered).
//!
//! The estimate (GKE's published reservation scale, which is at least as large as what MKS
//! reserves on the nodes we could observe):
//! - memory the kernel and firmware keep: 3% of RAM (capacity as the kubelet reports it);
//! - kube-reserved CPU: 6% of the first core, 1% of the second, 0.5% of cores 3-4, 0.25% above;
//! - kube-reserved memory: 25% of the first 4 GiB, 20% of the next 4 GiB, 10% of the next
//!   8 GiB, 6% of the next 112 GiB, 2% above 128 GiB (at least 255 MiB);
//! - eviction threshold: `memory.available < 100Mi`;
//! - ephemeral storage: 10% of the disk kept for `nodefs.available`, plus 1 GiB for images;
//! - pods: 110 (the kubelet default MKS keeps).

use std::collections::HashMap;

use super::Resources;

const GIB: u64 = 1 << 30;
const MIB: u64 = 1 << 20;

/// The kubelet's default maximum pod count.
pub const MAX_PODS: u32 = 110;

/// Disk size assumed for a flavor whose disk OVH does not report (the smallest MKS disk).
pub const DEFAULT_DISK_GIB: u32 = 25;

/// Memory a node's kernel keeps from the flavor's RAM, in per-mille.
const KERNEL_RESERVED_PERMILLE: u64 = 30;

/// Raw size of a flavor as the kubelet will report it in `capacity`.
pub fn capacity(vcpus: u32, ram_gib: u32, disk_gib: Option<u32>, gpus: u32) -> Resources {
    let ram = u64::from(ram_gib) * GIB;
    Resources {
        cpu_millis: u64::from(vcpus) * 1000,
        memory_bytes: ram - ram * KERNEL_RESERVED_PERMILLE / 1000,
        ephemeral_storage_bytes: u64::from(disk_gib.unwrap_or(DEFAULT_DISK_GIB)) * GIB,
        gpu: gpus,
        pods: MAX_PODS,
    }
}

/// CPU reserved for the kubelet and system, in millicores, for `cpu_millis` of capacity.
pub fn reserved_cpu_millis(cpu_millis: u64) -> u64 {
    // (upper bound of the band in millicores, reserved per-ten-thousand of the band)
    const BANDS: [(u64, u64); 4] = [(1000, 600), (2000, 100), (4000, 50), (u64::MAX, 25)];
    tiered(cpu_millis, &BANDS, 10_000)
}

/// Memory reserved for the kubelet and system, in bytes, for `memory_bytes` of capacity.
pub fn reserved_memory_bytes(memory_bytes: u64) -> u64 {
    const BANDS: [(u64, u64); 5] = [
        (4 * GIB, 250),
        (8 * GIB, 200),
        (16 * GIB, 100),
        (128 * GIB, 60),
        (u64::MAX, 20),
    ];
    tiered(memory_bytes, &BANDS, 1000).max(255 * MIB)
}

/// Sum over bands of `share / scale` of the part of `amount` inside each band, rounded up.
fn tiered(amount: u64, bands: &[(u64, u64)], scale: u64) -> u64 {
    let mut lower = 0u64;
    let mut reserved: u128 = 0;
    for &(upper, share) in bands {
        if amount <= lower {
            break;
        }
        let in_band = amount.min(upper) - lower;
        reserved += u128::from(in_band) * u128::from(share);
        lower = upper;
    }
    reserved.div_ceil(u128::from(scale)) as u64
}

/// Eviction threshold kept free on every node.
pub const EVICTION_MEMORY_BYTES: u64 = 100 * MIB;

/// The conservative allocatable estimate for a node of `capacity`.
pub fn estimate(capacity: &Resources) -> Resources {
    let storage = capacity.ephemeral_storage_bytes;
    Resources {
        cpu_millis: capacity
            .cpu_millis
            .saturating_sub(reserved_cpu_millis(capacity.cpu_millis)),
        memory_bytes: capacity
            .memory_bytes
            .saturating_sub(reserved_memory_bytes(capacity.memory_bytes))
            .saturating_sub(EVICTION_MEMORY_BYTES),
        ephemeral_storage_bytes: storage.saturating_sub(storage / 10).saturating_sub(GIB),
        gpu: capacity.gpu,
        pods: capacity.pods,
    }
}

/// Allocatable per flavor, learned from registered nodes.
#[derive(Debug, Clone, Default)]
pub struct AllocatableModel {
    learned: HashMap<String, Resources>,
}

impl AllocatableModel {
    /// An empty model: every flavor uses the estimate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records what a registered node of `flavor` reports as allocatable. Each resource keeps
    /// the smallest value seen. Returns whether the flavor's allocatable changed.
    pub fn observe(&mut self, flavor: &str, reported: Resources) -> bool {
        match self.learned.get_mut(flavor) {
            Some(known) => {
                let min = known.min_each(&reported);
                let changed = min != *known;
                *known = min;
                changed
            }
            None => {
                self.learned.insert(flavor.to_owned(), reported);
                true
            }
        }
    }

    /// What nodes of `flavor` reported, if any registered yet.
    pub fn learned(&self, flavor: &str) -> Option<&Resources> {
        self.learned.get(flavor)
    }

    /// Allocatable of `flavor`: what its nodes reported, else the estimate from `capacity`.
    pub fn allocatable(&self, flavor: &str, capacity: &Resources) -> Resources {
        self.learned
            .get(flavor)
            .copied()
            .unwrap_or_else(|| estimate(capacity))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reservations_follow_the_published_scale() {
        assert_eq!(reserved_cpu_millis(1000), 60);
        assert_eq!(reserved_cpu_millis(2000), 70);
        assert_eq!(reserved_cpu_millis(4000), 80);
        assert_eq!(reserved_cpu_millis(8000), 90);
        assert_eq!(reserved_memory_bytes(512 * MIB), 255 * MIB, "floor");
        assert_eq!(reserved_memory_bytes(GIB), 256 * MIB);
        assert_eq!(reserved_memory_bytes(4 * GIB), GIB);
        assert_eq!(reserved_memory_bytes(8 * GIB), GIB + (4 * GIB).div_ceil(5));
    }

    #[test]
    fn guide_workloads_fit_the_flavors_the_guide_names() {
        // 06-small-workload (500m, 1Gi) fits b3-8; 07-large-workload (6 CPU, 24Gi) needs b3-32.
        let b3_8 = estimate(&capacity(2, 8, None, 0));
        assert!(b3_8.cpu_millis >= 500 && b3_8.memory_bytes >= GIB);
        // Three inflate pods (500m, 512Mi each) share one b3-8.
        assert!(b3_8.cpu_millis >= 1500 && b3_8.memory_bytes >= 3 * 512 * MIB);
        let b3_16 = estimate(&capacity(4, 16, None, 0));
        assert!(b3_16.cpu_millis < 6000);
        let b3_32 = estimate(&capacity(8, 32, None, 0));
        assert!(b3_32.cpu_millis >= 6000 && b3_32.memory_bytes >= 24 * GIB);
    }

    #[test]
    fn learned_allocatable_replaces_the_estimate_and_keeps_the_minimum() {
        let cap = capacity(2, 8, None, 0);
        let mut model = AllocatableModel::new();
        assert_eq!(model.allocatable("b3-8", &cap), estimate(&cap));
        let reported = Resources {
            cpu_millis: 1900,
            memory_bytes: 6 * GIB,
            ephemeral_storage_bytes: 40 * GIB,
            gpu: 0,
            pods: 110,
        };
        assert!(model.observe("b3-8", reported));
        assert_eq!(model.allocatable("b3-8", &cap), reported);
        let bigger = Resources {
            cpu_millis: 1950,
            ..reported
        };
        assert!(!model.observe("b3-8", bigger));
        assert_eq!(model.allocatable("b3-8", &cap).cpu_millis, 1900);
        let smaller = Resources {
            memory_bytes: 5 * GIB,
            ..reported
        };
        assert!(model.observe("b3-8", smaller));
        assert_eq!(model.allocatable("b3-8", &cap).memory_bytes, 5 * GIB);
        assert_eq!(model.allocatable("b3-16", &cap), estimate(&cap));
    }

    proptest! {
        #[test]
        fn estimate_is_below_capacity_and_grows_with_it(vcpus in 1u32..=128, ram in 1u32..=1024, disk in 10u32..=2000) {
            let cap = capacity(vcpus, ram, Some(disk), 0);
            let est = estimate(&cap);
            prop_assert!(est.cpu_millis < cap.cpu_millis && est.cpu_millis > 0);
            prop_assert!(est.memory_bytes < cap.memory_bytes);
            prop_assert!(est.ephemeral_storage_bytes < cap.ephemeral_storage_bytes);
            let bigger = estimate(&capacity(vcpus + 1, ram + 1, Some(disk), 0));
            prop_assert!(bigger.cpu_millis > est.cpu_millis);
            prop_assert!(bigger.memory_bytes >= est.memory_bytes);
        }
    }
}
