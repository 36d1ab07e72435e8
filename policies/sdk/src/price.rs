//! Prices: OVHcloud bills hourly, or monthly for gen2 flavors.

use crate::types::{Flavor, ZoneOffering};

/// Hours in a billing month, as OVHcloud counts them (monthly price / 730 = hourly equivalent).
pub use karpenter_ovhcloud_contract::flavors::HOURS_PER_MONTH;

/// The hourly equivalent of a monthly price.
pub fn monthly_to_hourly(monthly: f64) -> f64 {
    monthly / HOURS_PER_MONTH
}

/// `x` with 4 decimals, e.g. `0.0512` (integer arithmetic: Rust's float formatting would
/// add kilobytes to every component). Negative amounts keep their sign; non-finite ones print
/// as `NaN`/`inf`-free `0.0000`.
pub fn format_eur(x: f64) -> String {
    if !x.is_finite() {
        return "0.0000".into();
    }
    let tenths_of_millis = (x.abs() * 10_000.0).round() as u64;
    let sign = if x < 0.0 && tenths_of_millis > 0 {
        "-"
    } else {
        ""
    };
    format!(
        "{sign}{}.{:04}",
        tenths_of_millis / 10_000,
        tenths_of_millis % 10_000
    )
}

impl Flavor {
    /// Whether nodes of this flavor can be billed monthly (gen2 flavors with a monthly price).
    pub fn monthly_billable(&self) -> bool {
        self.generation == 2 && self.monthly_price.is_some()
    }

    /// Price per hour of a node of this flavor under the given billing; `None` when the
    /// flavor cannot be billed that way.
    pub fn price_per_hour(&self, monthly_billed: bool) -> Option<f64> {
        if monthly_billed {
            if !self.monthly_billable() {
                return None;
            }
            self.monthly_price.map(monthly_to_hourly)
        } else {
            Some(self.hourly_price)
        }
    }

    /// The zone offering for `zone`, if the flavor is offered there.
    pub fn offering(&self, zone: &str) -> Option<&ZoneOffering> {
        self.zones.iter().find(|z| z.zone == zone)
    }

    /// Whether the flavor is offered and currently available in `zone`.
    pub fn available_in(&self, zone: &str) -> bool {
        self.offering(zone).is_some_and(|z| z.available)
    }
}

#[cfg(test)]
mod tests {
    use crate::testing::flavor;

    #[test]
    fn monthly_only_for_gen2() {
        let mut b2 = flavor("b2-7", 2000, 7, 0.0681);
        b2.generation = 2;
        b2.family = "b2".into();
        b2.monthly_price = Some(36.5);
        assert!((b2.price_per_hour(true).unwrap() - 0.05).abs() < 1e-12);
        assert_eq!(b2.price_per_hour(false), Some(0.0681));
        let b3 = flavor("b3-8", 2000, 8, 0.0512);
        assert_eq!(b3.price_per_hour(true), None);
        assert!(!b3.monthly_billable());
    }

    #[test]
    fn euros_with_four_decimals() {
        assert_eq!(super::format_eur(0.0512), "0.0512");
        assert_eq!(super::format_eur(1.48779), "1.4878");
        assert_eq!(super::format_eur(-0.15339), "-0.1534");
        assert_eq!(super::format_eur(12.0), "12.0000");
        assert_eq!(super::format_eur(f64::NAN), "0.0000");
    }

    #[test]
    fn availability_per_zone() {
        let mut f = flavor("b3-8", 2000, 8, 0.0512);
        f.zones[1].available = false;
        assert!(f.available_in("eu-west-par-a"));
        assert!(!f.available_in("eu-west-par-b"));
        assert!(f.offering("eu-west-par-b").is_some());
        assert!(!f.available_in("gra9"));
    }
}
