//! What the simulated OVH sells: flavors (sizes, GPUs, prices) and regions (zones).
//!
//! CPU flavor prices are DESIGN.md's table (approximate EUR/hour, public catalog). Prices of the
//! i1 and GPU families (t1 t2 a10 a100 l4 l40s h100 rtx5000) are *plausible values chosen for the
//! simulator*, in the order of magnitude of OVH's public prices, not copied from a catalog.
//! Monthly prices follow OVH's usual rule of thumb: about half of 730 hours of the hourly price.

/// One flavor of the catalog.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlavorSpec {
    /// Flavor name, e.g. `b3-8`.
    pub name: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in GB.
    pub ram_gb: u32,
    /// GPUs (0 for CPU flavors).
    pub gpus: u32,
    /// Approximate EUR per hour.
    pub hourly_eur: f64,
}

impl FlavorSpec {
    /// The family, e.g. `b3` for `b3-8`, `rtx5000` for `rtx5000-28`.
    pub fn family(&self) -> &'static str {
        family_of(self.name)
    }

    /// Monthly billing price (EUR/month): half of 730 hours, rounded to cents.
    pub fn monthly_eur(&self) -> f64 {
        (self.hourly_eur * 730.0 * 0.5 * 100.0).round() / 100.0
    }

    /// OVH's kube flavor category letter.
    pub fn category(&self) -> &'static str {
        match self.family() {
            "b2" | "b3" => "b",
            "c2" | "c3" => "c",
            "r2" | "r3" => "r",
            "d2" => "d",
            "i1" => "i",
            "t1" | "t2" => "t",
            _ => "g",
        }
    }

    /// Whether monthly billing is possible (generation 2 only).
    pub fn monthly_allowed(&self) -> bool {
        MONTHLY_FAMILIES.contains(&self.family())
    }

    /// Whether this is a GPU flavor (nodes take much longer to install).
    pub fn is_gpu(&self) -> bool {
        self.gpus > 0
    }
}

/// Families that accept monthly billing.
pub const MONTHLY_FAMILIES: [&str; 4] = ["b2", "c2", "d2", "r2"];

/// The family part of a flavor name (everything before the last `-`).
pub fn family_of(name: &str) -> &str {
    name.rsplit_once('-').map_or(name, |(family, _)| family)
}

const fn f(name: &'static str, vcpus: u32, ram_gb: u32, gpus: u32, hourly_eur: f64) -> FlavorSpec {
    FlavorSpec {
        name,
        vcpus,
        ram_gb,
        gpus,
        hourly_eur,
    }
}

/// Every flavor the simulator offers.
pub const FLAVORS: &[FlavorSpec] = &[
    // General purpose, gen3 and gen2.
    f("b3-8", 2, 8, 0, 0.0512),
    f("b3-16", 4, 16, 0, 0.1023),
    f("b3-32", 8, 32, 0, 0.2046),
    f("b3-64", 16, 64, 0, 0.4092),
    f("b3-128", 32, 128, 0, 0.7439),
    f("b3-256", 64, 256, 0, 1.4878),
    f("b2-7", 2, 7, 0, 0.0681),
    f("b2-15", 4, 15, 0, 0.129),
    f("b2-30", 8, 30, 0, 0.261),
    f("b2-60", 16, 60, 0, 0.505),
    f("b2-120", 32, 120, 0, 0.993),
    // CPU optimized.
    f("c3-4", 2, 4, 0, 0.0415),
    f("c3-8", 4, 8, 0, 0.083),
    f("c3-16", 8, 16, 0, 0.1659),
    f("c3-32", 16, 32, 0, 0.3318),
    f("c3-64", 32, 64, 0, 0.6637),
    f("c2-7", 2, 7, 0, 0.0978),
    f("c2-15", 4, 15, 0, 0.19),
    f("c2-30", 8, 30, 0, 0.383),
    f("c2-60", 16, 60, 0, 0.749),
    f("c2-120", 32, 120, 0, 1.48),
    // Memory optimized.
    f("r3-16", 2, 16, 0, 0.0602),
    f("r3-32", 4, 32, 0, 0.1203),
    f("r3-64", 8, 64, 0, 0.2407),
    f("r3-128", 16, 128, 0, 0.4813),
    f("r3-256", 32, 256, 0, 0.9627),
    f("r2-15", 2, 15, 0, 0.0978),
    f("r2-30", 2, 30, 0, 0.113),
    f("r2-60", 4, 60, 0, 0.22),
    f("r2-120", 8, 120, 0, 0.443),
    f("r2-240", 16, 240, 0, 0.871),
    // Discovery.
    f("d2-2", 1, 2, 0, 0.0099),
    f("d2-4", 2, 4, 0, 0.0198),
    f("d2-8", 4, 8, 0, 0.0357),
    // IOPS (simulator's plausible prices).
    f("i1-45", 8, 45, 0, 0.347),
    f("i1-90", 16, 90, 0, 0.694),
    f("i1-180", 32, 180, 0, 1.388),
    // GPU (simulator's plausible prices, see the module docs).
    f("t1-45", 8, 45, 1, 1.97),
    f("t1-90", 18, 90, 2, 3.94),
    f("t1-180", 36, 180, 4, 7.88),
    f("t2-45", 15, 45, 1, 2.19),
    f("t2-90", 30, 90, 2, 4.38),
    f("t2-180", 60, 180, 4, 8.76),
    f("a10-45", 30, 45, 1, 0.76),
    f("a10-90", 60, 90, 2, 1.52),
    f("a10-180", 120, 180, 4, 3.04),
    f("a100-180", 15, 180, 1, 3.07),
    f("a100-360", 30, 360, 2, 6.14),
    f("a100-720", 60, 720, 4, 12.28),
    f("l4-90", 22, 90, 1, 1.0),
    f("l4-180", 45, 180, 2, 2.0),
    f("l4-360", 90, 360, 4, 4.0),
    f("l40s-90", 15, 90, 1, 1.4),
    f("l40s-180", 30, 180, 2, 2.8),
    f("l40s-360", 60, 360, 4, 5.6),
    f("h100-380", 30, 380, 1, 2.99),
    f("h100-760", 60, 760, 2, 5.98),
    f("h100-1520", 120, 1520, 4, 11.96),
    f("rtx5000-28", 4, 28, 1, 0.36),
    f("rtx5000-56", 8, 56, 2, 0.72),
    f("rtx5000-84", 16, 84, 3, 1.08),
];

/// Looks a flavor up by name.
pub fn flavor(name: &str) -> Option<&'static FlavorSpec> {
    FLAVORS.iter().find(|f| f.name == name)
}

/// A region and its availability zones (empty for single-zone regions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegionSpec {
    /// Region name as OVH writes it, e.g. `EU-WEST-PAR`, `GRA9`.
    pub name: &'static str,
    /// Zone suffixes of a 3-AZ region; zones are `{region}-{suffix}` in lower case.
    pub zone_suffixes: &'static [&'static str],
}

impl RegionSpec {
    /// Zone names (`eu-west-par-a`, ...); empty for single-zone regions.
    pub fn zones(&self) -> Vec<String> {
        self.zone_suffixes
            .iter()
            .map(|s| format!("{}-{s}", self.name.to_ascii_lowercase()))
            .collect()
    }

    /// Whether pools must name exactly one availability zone.
    pub fn is_multi_zone(&self) -> bool {
        !self.zone_suffixes.is_empty()
    }
}

const ABC: &[&str] = &["a", "b", "c"];

/// Regions of the guide: two 3-AZ regions and single-zone ones.
pub const REGIONS: &[RegionSpec] = &[
    RegionSpec {
        name: "EU-WEST-PAR",
        zone_suffixes: ABC,
    },
    RegionSpec {
        name: "EU-SOUTH-MIL",
        zone_suffixes: ABC,
    },
    RegionSpec {
        name: "GRA5",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "GRA7",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "GRA9",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "GRA11",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "SBG5",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "BHS5",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "DE1",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "UK1",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "WAW1",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "SGP1",
        zone_suffixes: &[],
    },
    RegionSpec {
        name: "SYD1",
        zone_suffixes: &[],
    },
];

/// Looks a region up by name (case-insensitive, as OVH accepts `gra9`).
pub fn region(name: &str) -> Option<&'static RegionSpec> {
    REGIONS.iter().find(|r| r.name.eq_ignore_ascii_case(name))
}

/// OVH subsidiaries whose public catalog is priced in EUR (the only currency simulated).
pub const EUR_SUBSIDIARIES: &[&str] = &[
    "FR", "DE", "ES", "IT", "NL", "PL", "PT", "IE", "FI", "LT", "CZ", "EU",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_of_the_guide_is_offered() {
        for family in [
            "b2", "b3", "c2", "c3", "r2", "r3", "d2", "i1", "t1", "t2", "a10", "a100", "l4",
            "l40s", "h100", "rtx5000",
        ] {
            assert!(
                FLAVORS.iter().any(|f| f.family() == family),
                "family {family} missing"
            );
        }
    }

    #[test]
    fn names_are_unique_and_families_parse() {
        let mut names: Vec<_> = FLAVORS.iter().map(|f| f.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FLAVORS.len());
        assert_eq!(flavor("rtx5000-28").unwrap().family(), "rtx5000");
        assert_eq!(flavor("b3-8").unwrap().category(), "b");
        assert!(flavor("b2-7").unwrap().monthly_allowed());
        assert!(!flavor("b3-8").unwrap().monthly_allowed());
    }

    #[test]
    fn three_az_regions_have_lower_case_zones() {
        assert_eq!(
            region("eu-west-par").unwrap().zones(),
            ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]
        );
        assert!(!region("GRA9").unwrap().is_multi_zone());
    }
}
