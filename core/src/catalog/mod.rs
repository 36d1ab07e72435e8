//! The flavor catalog: OVH flavors with prices, families and categories, zone availability,
//! unavailable offerings and the allocatable model. Pure code: the inputs are plain structs
//! filled from the OVH API (or the embedded table when it is unreachable), and building the
//! catalog does no I/O.
//!
//! Prices come, in order of precedence, from the OVHNodeClass's `priceOverrides`, OVH's public
//! catalog, then the embedded table of [`prices`]. A flavor with no price from any of them is
//! left out of the catalog (decisions compare prices) and listed in [`Catalog::skipped`].

pub mod allocatable;
pub mod family;
pub mod prices;
pub mod unavailable;

use std::collections::{BTreeMap, HashMap};

use crate::api::labels;
pub use allocatable::AllocatableModel;
pub use family::{Category, Family};
pub use unavailable::UnavailableOfferings;

pub use crate::scheduling::convert::GPU_RESOURCE;
use crate::scheduling::FlavorSpec;
pub use crate::scheduling::Resources;

/// Where a flavor's price came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PriceSource {
    /// The OVHNodeClass's `priceOverrides`.
    Override,
    /// OVH's public price catalog.
    OvhCatalog,
    /// The embedded table.
    Embedded,
}

/// How a flavor is offered in one zone.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ZoneOffering {
    /// Zone name in lower case (`eu-west-par-a`, or the region for 1-AZ regions).
    pub zone: String,
    /// False while the offering is in the unavailable-offerings cache.
    pub available: bool,
}

/// One OVH flavor, ready for decisions.
#[derive(Clone, Debug, PartialEq)]
pub struct Flavor {
    /// Flavor name, e.g. `b3-8`.
    pub name: String,
    /// Family, e.g. `b3`.
    pub family: String,
    /// Generation (2 for b2/c2/r2/d2).
    pub generation: u32,
    /// Category.
    pub category: Category,
    /// Whether OVH bills it monthly on request.
    pub monthly_billing: bool,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in GiB.
    pub ram_gib: u32,
    /// GPUs.
    pub gpus: u32,
    /// GPU model, for GPU families.
    pub gpu_model: Option<String>,
    /// Raw size, as the kubelet reports capacity.
    pub capacity: Resources,
    /// What pods can use (learned from registered nodes, else estimated).
    pub allocatable: Resources,
    /// Hourly price in EUR.
    pub hourly: f64,
    /// Monthly price in EUR, for monthly-billable flavors.
    pub monthly: Option<f64>,
    /// Where the hourly price came from.
    pub price_source: PriceSource,
    /// Zones of the region where it is offered.
    pub zones: Vec<ZoneOffering>,
}

impl Flavor {
    /// The flavor as the scheduling core and the policies see it.
    pub fn spec(&self) -> FlavorSpec {
        FlavorSpec {
            name: self.name.clone(),
            family: self.family.clone(),
            generation: self.generation,
            category: self.category.as_str().to_owned(),
            capacity: self.capacity,
            allocatable: self.allocatable,
            hourly_price: self.hourly,
            monthly_price: self.monthly,
            zones: self
                .zones
                .iter()
                .map(|z| (z.zone.clone(), z.available))
                .collect(),
        }
    }

    /// Whether it is offered and currently available in `zone`.
    pub fn available_in(&self, zone: &str) -> bool {
        self.zones.iter().any(|z| z.zone == zone && z.available)
    }

    /// The labels every node of this flavor carries, whatever its zone and NodePool.
    pub fn labels(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::INSTANCE_TYPE.to_owned(), self.name.clone()),
            (labels::FLAVOR_FAMILY.to_owned(), self.family.clone()),
            (
                labels::FLAVOR_GENERATION.to_owned(),
                self.generation.to_string(),
            ),
            (
                labels::FLAVOR_CATEGORY.to_owned(),
                self.category.as_str().to_owned(),
            ),
            (
                labels::CAPACITY_TYPE.to_owned(),
                labels::CAPACITY_TYPE_ON_DEMAND.to_owned(),
            ),
            (labels::ARCH.to_owned(), labels::ARCH_AMD64.to_owned()),
            (labels::OS.to_owned(), labels::OS_LINUX.to_owned()),
        ])
    }
}

/// A flavor as OVH describes it (`GET /cloud/project/{sn}/capabilities/kube/flavors` and
/// `GET .../kube/{kubeId}/flavors`), or as the embedded table does.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlavorInfo {
    /// Flavor name.
    pub name: String,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in GiB.
    pub ram_gib: u32,
    /// Root disk in GiB, when OVH reports it.
    pub disk_gib: Option<u32>,
    /// GPUs.
    pub gpus: u32,
    /// Zones where OVH offers it; empty means every zone of the region.
    pub zones: Vec<String>,
}

impl FlavorInfo {
    /// Every flavor of the embedded table, offered in every zone.
    pub fn embedded() -> Vec<Self> {
        prices::KNOWN_FLAVORS
            .iter()
            .map(|f| Self {
                name: f.name.to_owned(),
                vcpus: f.vcpus,
                ram_gib: f.ram_gib,
                disk_gib: None,
                gpus: 0,
                zones: Vec::new(),
            })
            .collect()
    }
}

/// A price from OVH's public catalog.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PriceInfo {
    /// Hourly price in EUR.
    pub hourly: f64,
    /// Monthly price in EUR, when OVH offers monthly billing for it.
    pub monthly: Option<f64>,
}

/// Everything a catalog is built from.
#[derive(Debug, Clone, Default)]
pub struct CatalogInput {
    /// Zones of the region (see `OVHNodeClassSpec::zones`).
    pub zones: Vec<String>,
    /// Flavors OVH offers to MKS in the region.
    pub flavors: Vec<FlavorInfo>,
    /// Prices from OVH's public catalog, by flavor name (may be empty).
    pub prices: HashMap<String, PriceInfo>,
    /// Hourly price overrides from the OVHNodeClass, by flavor name.
    pub overrides: BTreeMap<String, f64>,
}

/// The flavors decisions choose from.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Catalog {
    /// Flavors, cheapest first (ties by name).
    pub flavors: Vec<Flavor>,
    /// Flavors left out, with the reason.
    pub skipped: Vec<(String, String)>,
}

impl Catalog {
    /// Every flavor as the scheduling core and the policies see it, cheapest first.
    pub fn specs(&self) -> Vec<FlavorSpec> {
        self.flavors.iter().map(Flavor::spec).collect()
    }

    /// Builds the catalog: prices by precedence, family data, allocatable from `model`,
    /// zone availability from `unavailable`.
    pub fn build(
        input: &CatalogInput,
        model: &AllocatableModel,
        unavailable: &UnavailableOfferings,
    ) -> Self {
        let mut catalog = Self::default();
        for info in &input.flavors {
            match Self::flavor(input, info, model, unavailable) {
                Ok(flavor) => catalog.flavors.push(flavor),
                Err(reason) => catalog.skipped.push((info.name.clone(), reason)),
            }
        }
        catalog.flavors.sort_by(|a, b| {
            a.hourly
                .total_cmp(&b.hourly)
                .then_with(|| a.name.cmp(&b.name))
        });
        catalog
    }

    fn flavor(
        input: &CatalogInput,
        info: &FlavorInfo,
        model: &AllocatableModel,
        unavailable: &UnavailableOfferings,
    ) -> Result<Flavor, String> {
        if info.vcpus == 0 || info.ram_gib == 0 {
            return Err(format!(
                "OVH reports no size ({} vCPU, {} GiB)",
                info.vcpus, info.ram_gib
            ));
        }
        let family = family::family_of(&info.name);
        let catalog_price = input.prices.get(&info.name);
        let (hourly, price_source) = match (
            input.overrides.get(&info.name),
            catalog_price,
            prices::known(&info.name),
        ) {
            (Some(p), _, _) => (*p, PriceSource::Override),
            (None, Some(p), _) => (p.hourly, PriceSource::OvhCatalog),
            (None, None, Some(k)) => (k.hourly_eur, PriceSource::Embedded),
            (None, None, None) => return Err("no price (OVH catalog, table or override)".into()),
        };
        if !hourly.is_finite() || hourly < 0.0 {
            return Err(format!("invalid price {hourly}"));
        }
        let monthly = if family.monthly_billing {
            catalog_price
                .and_then(|p| p.monthly)
                .or(Some(prices::estimated_monthly(hourly)))
        } else {
            None
        };
        let capacity = allocatable::capacity(info.vcpus, info.ram_gib, info.disk_gib, info.gpus);
        let zones = if info.zones.is_empty() {
            &input.zones
        } else {
            &info.zones
        };
        Ok(Flavor {
            name: info.name.clone(),
            family: family::family_name(&info.name).to_owned(),
            generation: family.generation,
            category: family.category,
            monthly_billing: family.monthly_billing,
            vcpus: info.vcpus,
            ram_gib: info.ram_gib,
            gpus: info.gpus,
            gpu_model: family.gpu_model.map(str::to_owned),
            allocatable: model.allocatable(&info.name, &capacity),
            capacity,
            hourly,
            monthly,
            price_source,
            zones: zones
                .iter()
                .map(|zone| ZoneOffering {
                    zone: zone.to_ascii_lowercase(),
                    available: !unavailable.is_unavailable(&info.name, &zone.to_ascii_lowercase()),
                })
                .collect(),
        })
    }

    /// The flavor named `name`.
    pub fn get(&self, name: &str) -> Option<&Flavor> {
        self.flavors.iter().find(|f| f.name == name)
    }

    /// Re-reads zone availability from the cache (entries may have expired or been added).
    pub fn refresh_availability(&mut self, unavailable: &UnavailableOfferings) {
        for flavor in &mut self.flavors {
            for offering in &mut flavor.zones {
                offering.available = !unavailable.is_unavailable(&flavor.name, &offering.zone);
            }
        }
    }

    /// Re-reads allocatable from the model (a node of some flavor registered).
    pub fn refresh_allocatable(&mut self, model: &AllocatableModel) {
        for flavor in &mut self.flavors {
            flavor.allocatable = model.allocatable(&flavor.name, &flavor.capacity);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Clock;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use std::time::Duration;

    fn zones() -> Vec<String> {
        ["eu-west-par-a", "eu-west-par-b", "eu-west-par-c"]
            .map(String::from)
            .to_vec()
    }

    fn cache() -> (Clock, UnavailableOfferings) {
        let clock = Clock::manual("2026-01-01T00:00:00Z".parse().unwrap());
        let cache = UnavailableOfferings::new(clock.clone(), unavailable::DEFAULT_TTL);
        (clock, cache)
    }

    #[test]
    fn embedded_catalog_prices_and_labels() {
        let (_, cache) = cache();
        let input = CatalogInput {
            zones: zones(),
            flavors: FlavorInfo::embedded(),
            ..Default::default()
        };
        let catalog = Catalog::build(&input, &AllocatableModel::new(), &cache);
        assert!(catalog.skipped.is_empty());
        assert_eq!(catalog.flavors.len(), prices::KNOWN_FLAVORS.len());
        assert_eq!(catalog.flavors[0].name, "d2-2", "cheapest first");
        let b3_8 = catalog.get("b3-8").unwrap();
        assert_eq!(
            (b3_8.hourly, b3_8.price_source),
            (0.0512, PriceSource::Embedded)
        );
        assert_eq!(b3_8.monthly, None, "gen3 is never billed monthly");
        assert!(b3_8.available_in("eu-west-par-b"));
        let labels = b3_8.labels();
        assert_eq!(labels[labels::FLAVOR_FAMILY], "b3");
        assert_eq!(labels[labels::FLAVOR_GENERATION], "3");
        assert_eq!(labels[labels::FLAVOR_CATEGORY], "general-purpose");
        assert_eq!(labels[labels::INSTANCE_TYPE], "b3-8");
        let b2_7 = catalog.get("b2-7").unwrap();
        assert_eq!(b2_7.monthly, Some(prices::estimated_monthly(0.0681)));
    }

    #[test]
    fn price_precedence_override_then_ovh_then_table() {
        let (_, cache) = cache();
        let input = CatalogInput {
            zones: zones(),
            flavors: vec![
                FlavorInfo {
                    name: "b3-8".into(),
                    vcpus: 2,
                    ram_gib: 8,
                    ..Default::default()
                },
                FlavorInfo {
                    name: "b2-7".into(),
                    vcpus: 2,
                    ram_gib: 7,
                    ..Default::default()
                },
                FlavorInfo {
                    name: "l4-90".into(),
                    vcpus: 22,
                    ram_gib: 90,
                    gpus: 1,
                    ..Default::default()
                },
                FlavorInfo {
                    name: "a10-45".into(),
                    vcpus: 30,
                    ram_gib: 45,
                    gpus: 1,
                    ..Default::default()
                },
            ],
            prices: HashMap::from([
                (
                    "b3-8".into(),
                    PriceInfo {
                        hourly: 0.05,
                        monthly: None,
                    },
                ),
                (
                    "b2-7".into(),
                    PriceInfo {
                        hourly: 0.07,
                        monthly: Some(22.0),
                    },
                ),
                (
                    "l4-90".into(),
                    PriceInfo {
                        hourly: 1.0,
                        monthly: None,
                    },
                ),
            ]),
            overrides: BTreeMap::from([("b3-8".into(), 0.01)]),
        };
        let catalog = Catalog::build(&input, &AllocatableModel::new(), &cache);
        let b3_8 = catalog.get("b3-8").unwrap();
        assert_eq!(
            (b3_8.hourly, b3_8.price_source),
            (0.01, PriceSource::Override)
        );
        let b2_7 = catalog.get("b2-7").unwrap();
        assert_eq!(
            (b2_7.hourly, b2_7.monthly, b2_7.price_source),
            (0.07, Some(22.0), PriceSource::OvhCatalog)
        );
        let l4 = catalog.get("l4-90").unwrap();
        assert_eq!(
            (l4.category, l4.gpus, l4.capacity.gpu),
            (Category::Gpu, 1, 1)
        );
        assert!(catalog.get("a10-45").is_none());
        assert_eq!(catalog.skipped.len(), 1);
        assert_eq!(catalog.skipped[0].0, "a10-45");
    }

    #[test]
    fn availability_follows_the_cache_and_allocatable_the_model() {
        let (clock, cache) = cache();
        let input = CatalogInput {
            zones: zones(),
            flavors: FlavorInfo::embedded(),
            ..Default::default()
        };
        let mut model = AllocatableModel::new();
        cache.mark("b3-8", "eu-west-par-a", "FLAVOR_OUT_OF_STOCK_ERROR");
        let mut catalog = Catalog::build(&input, &model, &cache);
        let b3_8 = catalog.get("b3-8").unwrap();
        assert!(!b3_8.available_in("eu-west-par-a"));
        assert!(b3_8.available_in("eu-west-par-b"));
        let estimated = b3_8.allocatable;

        clock.advance(Duration::from_secs(181));
        let reported = Resources {
            cpu_millis: 1900,
            ..estimated
        };
        model.observe("b3-8", reported);
        catalog.refresh_availability(&cache);
        catalog.refresh_allocatable(&model);
        let b3_8 = catalog.get("b3-8").unwrap();
        assert!(b3_8.available_in("eu-west-par-a"));
        assert_eq!(b3_8.allocatable, reported);
        assert_ne!(b3_8.allocatable, estimated);
    }

    #[test]
    fn resource_lists_round_trip() {
        let r = Resources {
            cpu_millis: 1930,
            memory_bytes: 6 << 30,
            ephemeral_storage_bytes: 40 << 30,
            gpu: 1,
            pods: 110,
        };
        assert_eq!(
            crate::scheduling::convert::try_resources(&crate::scheduling::convert::resource_list(
                &r
            )),
            Ok(r)
        );
        let node = BTreeMap::from([
            ("cpu".to_owned(), Quantity("1930m".into())),
            ("memory".to_owned(), Quantity("6020300Ki".into())),
            ("pods".to_owned(), Quantity("110".into())),
        ]);
        let read = crate::scheduling::convert::try_resources(&node).unwrap();
        assert_eq!(
            (read.cpu_millis, read.memory_bytes, read.gpu),
            (1930, 6_020_300 * 1024, 0)
        );
    }
}
