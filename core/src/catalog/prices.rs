//! The embedded flavor table: size and approximate hourly price (EUR) of the flavors OVH
//! sells, used when OVH's public price catalog cannot be read. Prices are overridable per
//! OVHNodeClass (`spec.priceOverrides`).

/// Hours OVH bills a month for.
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Share of the hourly-equivalent price a monthly-billed gen2 node costs (the guide: ~50%
/// savings). Used only when the OVH catalog gives no monthly price.
pub const MONTHLY_DISCOUNT: f64 = 0.5;

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

const fn row(name: &'static str, vcpus: u32, ram_gib: u32, hourly_eur: f64) -> KnownFlavor {
    KnownFlavor {
        name,
        vcpus,
        ram_gib,
        hourly_eur,
    }
}

/// The embedded table (docs/ARCHITECTURE.md, "OVH rules the code relies on").
pub const KNOWN_FLAVORS: &[KnownFlavor] = &[
    row("b3-8", 2, 8, 0.0512),
    row("b3-16", 4, 16, 0.1023),
    row("b3-32", 8, 32, 0.2046),
    row("b3-64", 16, 64, 0.4092),
    row("b3-128", 32, 128, 0.7439),
    row("b3-256", 64, 256, 1.4878),
    row("c3-4", 2, 4, 0.0415),
    row("c3-8", 4, 8, 0.083),
    row("c3-16", 8, 16, 0.1659),
    row("c3-32", 16, 32, 0.3318),
    row("c3-64", 32, 64, 0.6637),
    row("r3-16", 2, 16, 0.0602),
    row("r3-32", 4, 32, 0.1203),
    row("r3-64", 8, 64, 0.2407),
    row("r3-128", 16, 128, 0.4813),
    row("r3-256", 32, 256, 0.9627),
    row("b2-7", 2, 7, 0.0681),
    row("b2-15", 4, 15, 0.129),
    row("b2-30", 8, 30, 0.261),
    row("b2-60", 16, 60, 0.505),
    row("b2-120", 32, 120, 0.993),
    row("c2-7", 2, 7, 0.0978),
    row("c2-15", 4, 15, 0.19),
    row("c2-30", 8, 30, 0.383),
    row("c2-60", 16, 60, 0.749),
    row("c2-120", 32, 120, 1.48),
    row("r2-15", 2, 15, 0.0978),
    row("r2-30", 2, 30, 0.113),
    row("r2-60", 4, 60, 0.22),
    row("r2-120", 8, 120, 0.443),
    row("r2-240", 16, 240, 0.871),
    row("d2-2", 1, 2, 0.0099),
    row("d2-4", 2, 4, 0.0198),
    row("d2-8", 4, 8, 0.0357),
];

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
        for f in KNOWN_FLAVORS {
            assert!(f.vcpus > 0 && f.ram_gib > 0 && f.hourly_eur > 0.0, "{f:?}");
        }
        // Within a family, price grows with size (the cheapest fit is the smallest fit).
        for family in ["b3", "c3", "r3", "b2", "c2", "r2", "d2"] {
            let rows: Vec<_> = KNOWN_FLAVORS
                .iter()
                .filter(|f| f.name.split('-').next() == Some(family))
                .collect();
            for pair in rows.windows(2) {
                assert!(pair[0].ram_gib < pair[1].ram_gib, "{family}");
                assert!(pair[0].hourly_eur < pair[1].hourly_eur, "{family}");
            }
        }
        assert_eq!(known("b3-8").map(|f| (f.vcpus, f.ram_gib)), Some((2, 8)));
        assert!(known("b3-9").is_none());
    }
}
