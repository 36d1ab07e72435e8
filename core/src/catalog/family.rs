//! Flavor families: what a flavor name (`b3-8`, `l40s-90`) says about its generation, category
//! and billing options.

use std::fmt;

/// OVH flavor category (the value of `karpenter.ovhcloud.sh/flavor-category`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// b2, b3.
    GeneralPurpose,
    /// c2, c3.
    ComputeOptimized,
    /// r2, r3.
    MemoryOptimized,
    /// d2.
    Discovery,
    /// i1.
    IopsOptimized,
    /// t1, t2, a10, a100, l4, l40s, h100, rtx5000.
    Gpu,
    /// Any family this table does not know.
    Other,
}

impl Category {
    /// The label value, e.g. `general-purpose` ([`karpenter_ovhcloud_contract::labels::category`]).
    pub fn as_str(self) -> &'static str {
        use karpenter_ovhcloud_contract::labels::category;
        match self {
            Self::GeneralPurpose => category::GENERAL_PURPOSE,
            Self::ComputeOptimized => category::COMPUTE_OPTIMIZED,
            Self::MemoryOptimized => category::MEMORY_OPTIMIZED,
            Self::Discovery => category::DISCOVERY,
            Self::IopsOptimized => category::IOPS_OPTIMIZED,
            Self::Gpu => category::GPU,
            Self::Other => category::OTHER,
        }
    }

    /// Every category.
    pub const ALL: [Category; 7] = [
        Self::GeneralPurpose,
        Self::ComputeOptimized,
        Self::MemoryOptimized,
        Self::Discovery,
        Self::IopsOptimized,
        Self::Gpu,
        Self::Other,
    ];

    /// The category of a label value; [`Category::Other`] for values this table does not know.
    pub fn from_label(value: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str() == value)
            .unwrap_or(Self::Other)
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What the controller knows about one flavor family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Family {
    /// Family name, e.g. `b3`.
    pub name: &'static str,
    /// Generation (the value of `karpenter.ovhcloud.sh/flavor-generation`).
    pub generation: u32,
    /// Category.
    pub category: Category,
    /// Whether OVH bills it monthly on request (only the gen2 families b2, c2, d2, r2).
    pub monthly_billing: bool,
    /// GPU model, for GPU families.
    pub gpu_model: Option<&'static str>,
}

/// Every family of the guide. Generations follow OVH's naming (b2 = 2, b3 = 3); the GPU
/// families without a number in their name count as the current generation, 3.
pub const FAMILIES: &[Family] = &[
    general("b2", 2, Category::GeneralPurpose, true),
    general("b3", 3, Category::GeneralPurpose, false),
    general("c2", 2, Category::ComputeOptimized, true),
    general("c3", 3, Category::ComputeOptimized, false),
    general("r2", 2, Category::MemoryOptimized, true),
    general("r3", 3, Category::MemoryOptimized, false),
    general("d2", 2, Category::Discovery, true),
    general("i1", 1, Category::IopsOptimized, false),
    gpu("t1", 1, "Tesla V100"),
    gpu("t2", 2, "Tesla V100S"),
    gpu("a10", 3, "A10"),
    gpu("a100", 3, "A100"),
    gpu("l4", 3, "L4"),
    gpu("l40s", 3, "L40S"),
    gpu("h100", 3, "H100"),
    gpu("rtx5000", 3, "Quadro RTX 5000"),
];

const fn general(
    name: &'static str,
    generation: u32,
    category: Category,
    monthly_billing: bool,
) -> Family {
    Family {
        name,
        generation,
        category,
        monthly_billing,
        gpu_model: None,
    }
}

const fn gpu(name: &'static str, generation: u32, model: &'static str) -> Family {
    Family {
        name,
        generation,
        category: Category::Gpu,
        monthly_billing: false,
        gpu_model: Some(model),
    }
}

/// The family part of a flavor name: `b3` for `b3-8`, `l40s` for `l40s-90`; the whole name
/// when it has no size suffix.
pub fn family_name(flavor: &str) -> &str {
    flavor.split_once('-').map_or(flavor, |(family, _)| family)
}

/// The family of a flavor; an unknown family gets category Other and the generation its name
/// ends with (0 when none), and no monthly billing.
pub fn family_of(flavor: &str) -> Family {
    let name = family_name(flavor);
    FAMILIES
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(Family {
            name: "",
            generation: trailing_number(name),
            category: Category::Other,
            monthly_billing: false,
            gpu_model: None,
        })
}

fn trailing_number(name: &str) -> u32 {
    let digits: String = name
        .chars()
        .rev()
        .take_while(char::is_ascii_digit)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    digits.parse().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_of_the_guide_is_known() {
        for name in [
            "b2-7",
            "b3-8",
            "c2-7",
            "c3-4",
            "r2-15",
            "r3-16",
            "d2-4",
            "i1-45",
            "t1-45",
            "t2-90",
            "a10-45",
            "a100-180",
            "l4-90",
            "l40s-90",
            "h100-380",
            "rtx5000-28",
        ] {
            let family = family_of(name);
            assert_eq!(family.name, family_name(name), "{name}");
            assert_ne!(family.category, Category::Other, "{name}");
        }
    }

    #[test]
    fn generation_category_and_monthly_billing() {
        let b2 = family_of("b2-15");
        assert_eq!(
            (b2.generation, b2.category, b2.monthly_billing),
            (2, Category::GeneralPurpose, true)
        );
        let b3 = family_of("b3-8");
        assert_eq!(
            (b3.generation, b3.category, b3.monthly_billing),
            (3, Category::GeneralPurpose, false)
        );
        assert!(family_of("d2-8").monthly_billing);
        assert!(!family_of("t2-45").monthly_billing);
        assert_eq!(family_of("l40s-90").category, Category::Gpu);
        assert_eq!(family_of("l40s-90").gpu_model, Some("L40S"));
        let unknown = family_of("z9-12");
        assert_eq!(
            (
                unknown.category,
                unknown.generation,
                unknown.monthly_billing
            ),
            (Category::Other, 9, false)
        );
        assert_eq!(family_of("weird").generation, 0);
    }
}
