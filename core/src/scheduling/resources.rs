//! Resource quantities in base units: the contract's [`Resources`] (one definition of the
//! arithmetic and the fit rule, shared with the policy SDK).
//!
//! `request.fits_in(&free)`, `one.copies_within(&free)`, `capacity.within_limits(&left)`,
//! saturating `+`, `*` and `saturating_sub`, `min_each`/`max_each`: see
//! [`karpenter_ovhcloud_contract::resources`].

pub use karpenter_ovhcloud_contract::Resources;

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
        assert_eq!(pod.copies_within(&node), 4);
        assert_eq!(pod.copies_within(&node.saturating_sub(&(pod * 4))), 0);
        assert!(!(pod * 5).fits_in(&node));
    }
}
