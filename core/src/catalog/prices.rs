//! The embedded flavor table: size and approximate hourly price (EUR) of the flavors OVH
//! sells, used when OVH's public price catalog cannot be read. Prices are overridable per
//! OVHNodeClass (`spec.priceOverrides`). The rows are the contract's shared table
//! (`contract/flavors.csv`, [`flavors`](mod@karpenter_ovhcloud_contract::flavors) in the
//! contract crate), which the policy SDK and the simulator load too.

use std::sync::LazyLock;

pub use karpenter_ovhcloud_contract::flavors::{HOURS_PER_MONTH, MONTHLY_DISCOUNT};

/// One row of the embedded table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KnownFlavor {
    /// Flavor name.
    pub name: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in GiB (OVH's "GB").
    pub ram_gib: u32,
    /// Approximate hourly price in EUR.
    pub hourly_eur: f64,
}

/// The embedded table (docs/ARCHITECTURE.md, "OVH rules the code relies on"), in the order of
/// `contract/flavors.csv`.
pub static KNOWN_FLAVORS: LazyLock<Vec<KnownFlavor>> = LazyLock::new(|| {
    karpenter_ovhcloud_contract::flavors()
        .iter()
        .map(|f| KnownFlavor {
            name: f.name,
            vcpus: f.vcpus,
            ram_gib: f.ram_gb,
            hourly_eur: f.hourly_eur,
        })
        .collect()
});

/// The embedded row of a flavor.
pub fn known(name: &str) -> Option<&'static KnownFlavor> {
    KNOWN_FLAVORS.iter().find(|f| f.name == name)
}

/// Estimated monthly price of a monthly-billable flavor from its hourly price.
pub fn estimated_monthly(hourly_eur: f64) -> f64 {
    hourly_eur * HOURS_PER_MONTH * MONTHLY_DISCOUNT
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_consistent() {
        let mut names: Vec<&str> = KNOWN_FLAVORS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), KNOWN_FLAVORS.len(), "duplicate rows");
        for f in KNOWN_FLAVORS.iter() {
            assert!(f.vcpus > 0 && f.ram_gib > 0 && f.hourly_eur > 0.0, "{f:?}");
        }
        // Within a family, price grows with size (the cheapest fit is the smallest fit).
        for family in ["b3", "c3", "r3", "b2", "c2", "r2", "d2"] {
            let rows: Vec<_> = KNOWN_FLAVORS
                .iter()
                .filter(|f| f.name.split('-').next() == Some(family))
                .collect();
            assert!(!rows.is_empty(), "{family}");
            for pair in rows.windows(2) {
                assert!(pair[0].ram_gib < pair[1].ram_gib, "{family}");
                assert!(pair[0].hourly_eur < pair[1].hourly_eur, "{family}");
            }
        }
        assert_eq!(known("b3-8").map(|f| (f.vcpus, f.ram_gib)), Some((2, 8)));
        assert!(known("b3-9").is_none());
    }

    /// The embedded table has CPU flavors only: GPU flavors are priced by OVH's catalog.
    #[test]
    fn every_row_of_the_shared_table_is_embedded() {
        let shared = karpenter_ovhcloud_contract::flavors();
        assert_eq!(shared.len(), KNOWN_FLAVORS.len());
        for (row, known) in shared.iter().zip(KNOWN_FLAVORS.iter()) {
            assert_eq!(row.gpus, 0, "{row:?}");
            assert_eq!(
                (row.name, row.vcpus, row.ram_gb, row.hourly_eur.to_bits()),
                (
                    known.name,
                    known.vcpus,
                    known.ram_gib,
                    known.hourly_eur.to_bits()
                )
            );
        }
    }
}
