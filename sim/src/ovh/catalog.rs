//! What the simulated OVH sells: flavors (sizes, GPUs, prices) and regions (zones).
//!
//! CPU flavors and their prices are the contract's shared table (`contract/flavors.csv`,
//! approximate EUR/hour, public catalog): prices and sizes are data the controller and the
//! simulator share, while the OVH *rules* stay enforced here independently. Prices of the i1
//! and GPU families (t1 t2 a10 a100 l4 l40s h100 rtx5000, `sim-flavors.csv`) are *plausible
//! values chosen for the simulator*, in the order of magnitude of OVH's public prices, not
//! copied from a catalog. Monthly prices follow OVH's usual rule of thumb: about half of 730
//! hours of the hourly price.

use std::sync::LazyLock;

use karpenter_ovhcloud_contract::flavors::{HOURS_PER_MONTH, MONTHLY_DISCOUNT};

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
        (self.hourly_eur * HOURS_PER_MONTH * MONTHLY_DISCOUNT * 100.0).round() / 100.0
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

/// Flavors only the simulator sells (i1 and GPU families), in the contract table's format.
const SIM_FLAVORS_CSV: &str = include_str!("sim-flavors.csv");

/// Every flavor the simulator offers: the contract's shared table (`contract/flavors.csv`,
/// the controller's embedded table too), then the simulator's own rows (`sim-flavors.csv`).
pub static FLAVORS: LazyLock<Vec<FlavorSpec>> = LazyLock::new(|| {
    let own = karpenter_ovhcloud_contract::parse_flavors(SIM_FLAVORS_CSV)
        .unwrap_or_else(|e| panic!("sim/src/ovh/sim-flavors.csv: {e}"));
    karpenter_ovhcloud_contract::flavors()
        .iter()
        .chain(&own)
        .map(|f| FlavorSpec {
            name: f.name,
            vcpus: f.vcpus,
            ram_gb: f.ram_gb,
            gpus: f.gpus,
            hourly_eur: f.hourly_eur,
        })
        .collect()
});

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
    fn cpu_flavors_are_the_contract_table_and_the_rest_is_the_simulators() {
        let shared = karpenter_ovhcloud_contract::flavors();
        assert!(FLAVORS.len() > shared.len());
        for (row, spec) in shared.iter().zip(FLAVORS.iter()) {
            assert_eq!(
                (
                    row.name,
                    row.vcpus,
                    row.ram_gb,
                    row.gpus,
                    row.hourly_eur.to_bits()
                ),
                (
                    spec.name,
                    spec.vcpus,
                    spec.ram_gb,
                    spec.gpus,
                    spec.hourly_eur.to_bits()
                )
            );
        }
        for spec in &FLAVORS[shared.len()..] {
            assert!(spec.family() == "i1" || spec.is_gpu(), "{spec:?}");
            assert!(spec.vcpus > 0 && spec.ram_gb > 0 && spec.hourly_eur > 0.0);
        }
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
