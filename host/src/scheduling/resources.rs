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

/// Parses a Kubernetes quantity (`500m`, `1.5`, `512Mi`, `2G`, `1e3`) into base units
/// multiplied by `scale` (1000 for CPU millicores, 1 for bytes), rounded up as Kubernetes does.
/// None for malformed input.
pub fn parse_quantity(text: &str, scale: f64) -> Option<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(text.len());
    let (number, suffix) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => 10f64.powi(exp[1..].parse().ok()?),
        _ => return None,
    };
    let value = number * multiplier * scale;
    if !value.is_finite() || value < 0.0 {
        return None;
    }
    // Round up, but absorb float noise (0.1 * 1000 = 100.00000000000001).
    let rounded = (value - 1e-6).ceil().max(0.0);
    (rounded <= u64::MAX as f64).then_some(rounded as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_to_base_units() {
        assert_eq!(parse_quantity("500m", 1000.0), Some(500));
        assert_eq!(parse_quantity("1.5", 1000.0), Some(1500));
        assert_eq!(parse_quantity("6", 1000.0), Some(6000));
        assert_eq!(parse_quantity("100m", 1000.0), Some(100));
        assert_eq!(parse_quantity("512Mi", 1.0), Some(512 * 1024 * 1024));
        assert_eq!(parse_quantity("24Gi", 1.0), Some(24 << 30));
        assert_eq!(parse_quantity("2G", 1.0), Some(2_000_000_000));
        assert_eq!(parse_quantity("1e3", 1.0), Some(1000));
        assert_eq!(parse_quantity("1u", 1000.0), Some(1));
        assert_eq!(parse_quantity("abc", 1.0), None);
        assert_eq!(parse_quantity("1Zi", 1.0), None);
        assert_eq!(parse_quantity("-1", 1.0), None);
    }

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
