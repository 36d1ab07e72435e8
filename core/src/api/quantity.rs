//! Kubernetes resource quantities (`500m`, `1.5`, `512Mi`, `1e3`) as exact integers, and back.
//!
//! Values are held in nano-units (10^-9), which covers every suffix Kubernetes accepts without
//! floating point; CPU reads as millicores and memory as bytes, both rounded up as the
//! scheduler does (a request of `0.1m` CPU takes 1m).

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

const NANO: i128 = 1_000_000_000;

/// Why a quantity could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid quantity {text:?}: {reason}")]
pub struct QuantityError {
    /// The text as written.
    pub text: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// An exact quantity in nano-units.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Amount(i128);

impl Amount {
    /// The value in nano-units.
    pub fn nanos(self) -> i128 {
        self.0
    }

    /// Thousandths of a unit, rounded up (CPU millicores).
    pub fn millis_ceil(self) -> i64 {
        clamp(div_ceil(self.0, NANO / 1000))
    }

    /// Whole units, rounded up (bytes, GPUs, pods).
    pub fn units_ceil(self) -> i64 {
        clamp(div_ceil(self.0, NANO))
    }
}

fn div_ceil(a: i128, b: i128) -> i128 {
    let q = a / b;
    if a % b > 0 {
        q + 1
    } else {
        q
    }
}

fn clamp(v: i128) -> i64 {
    v.clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

/// Parses a quantity string.
pub fn parse(text: &str) -> Result<Amount, QuantityError> {
    let err = |reason| QuantityError {
        text: text.to_owned(),
        reason,
    };
    let s = text.trim();
    let (negative, s) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    if number.is_empty() || number == "." || number.matches('.').count() > 1 {
        return Err(err("no number"));
    }
    let (int_part, frac_part) = number.split_once('.').unwrap_or((number, ""));
    // number = digits / 10^frac_len
    let digits: String = format!("{int_part}{frac_part}");
    let mantissa: i128 = if digits.is_empty() {
        0
    } else {
        digits.parse().map_err(|_| err("number too large"))?
    };
    let frac_len = frac_part.len() as u32;

    // Scale: (numerator, denominator) of the suffix multiplier, times NANO.
    let (mul_num, mul_exp10): (i128, i32) = match suffix {
        "" => (1, 0),
        "n" => (1, -9),
        "u" => (1, -6),
        "m" => (1, -3),
        "k" => (1, 3),
        "M" => (1, 6),
        "G" => (1, 9),
        "T" => (1, 12),
        "P" => (1, 15),
        "E" => (1, 18),
        "Ki" => (1 << 10, 0),
        "Mi" => (1 << 20, 0),
        "Gi" => (1 << 30, 0),
        "Ti" => (1 << 40, 0),
        "Pi" => (1 << 50, 0),
        "Ei" => (1 << 60, 0),
        exp if exp.starts_with(['e', 'E']) => {
            let e: i32 = exp[1..].parse().map_err(|_| err("bad exponent"))?;
            if !(-30..=30).contains(&e) {
                return Err(err("exponent out of range"));
            }
            (1, e)
        }
        _ => return Err(err("unknown suffix")),
    };
    // value in nanos = mantissa * mul_num * 10^(9 + mul_exp10 - frac_len)
    let exp10 = 9 + mul_exp10 - frac_len as i32;
    let base = mantissa
        .checked_mul(mul_num)
        .ok_or_else(|| err("number too large"))?;
    let nanos = if exp10 >= 0 {
        10i128
            .checked_pow(exp10 as u32)
            .and_then(|p| base.checked_mul(p))
            .ok_or_else(|| err("number too large"))?
    } else {
        let p = 10i128
            .checked_pow((-exp10) as u32)
            .ok_or_else(|| err("number too small"))?;
        div_ceil(base, p)
    };
    Ok(Amount(if negative { -nanos } else { nanos }))
}

/// Parses a [`Quantity`].
pub fn parse_quantity(q: &Quantity) -> Result<Amount, QuantityError> {
    parse(&q.0)
}

/// CPU millicores of a quantity (`500m` -> 500, `2` -> 2000), rounded up.
pub fn cpu_millis(q: &Quantity) -> Result<i64, QuantityError> {
    parse_quantity(q).map(Amount::millis_ceil)
}

/// Whole units of a quantity (memory bytes, GPUs, pods), rounded up.
pub fn units(q: &Quantity) -> Result<i64, QuantityError> {
    parse_quantity(q).map(Amount::units_ceil)
}

/// A CPU quantity from millicores: `2` for 2000, `500m` for 500.
pub fn from_cpu_millis(millis: u64) -> Quantity {
    if millis.is_multiple_of(1000) {
        Quantity((millis / 1000).to_string())
    } else {
        Quantity(format!("{millis}m"))
    }
}

/// A byte quantity in the largest exact binary suffix: `8Gi`, `7812500Ki`, `100`.
pub fn from_bytes(bytes: u64) -> Quantity {
    for (suffix, shift) in [
        ("Ei", 60),
        ("Pi", 50),
        ("Ti", 40),
        ("Gi", 30),
        ("Mi", 20),
        ("Ki", 10),
    ] {
        let unit = 1u64 << shift;
        if bytes >= unit && bytes.is_multiple_of(unit) {
            return Quantity(format!("{}{suffix}", bytes / unit));
        }
    }
    Quantity(bytes.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn q(s: &str) -> Quantity {
        Quantity(s.into())
    }

    #[test]
    fn reads_every_form() {
        assert_eq!(cpu_millis(&q("500m")), Ok(500));
        assert_eq!(cpu_millis(&q("2")), Ok(2000));
        assert_eq!(cpu_millis(&q("1.5")), Ok(1500));
        assert_eq!(cpu_millis(&q("0.1m")), Ok(1));
        assert_eq!(cpu_millis(&q("100")), Ok(100_000));
        assert_eq!(units(&q("512Mi")), Ok(512 << 20));
        assert_eq!(units(&q("24Gi")), Ok(24 << 30));
        assert_eq!(units(&q("1G")), Ok(1_000_000_000));
        assert_eq!(units(&q("1e3")), Ok(1000));
        assert_eq!(units(&q("1.5Gi")), Ok(1536 << 20));
        assert_eq!(units(&q("7812500Ki")), Ok(7_812_500 * 1024));
        assert_eq!(units(&q("-1")), Ok(-1));
        assert_eq!(units(&q(".5")), Ok(1));
    }

    #[test]
    fn refuses_garbage() {
        for bad in ["", "m", "1.2.3", "1Xi", "1e", "abc", "1e99"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn formatted_quantities_read_back(millis in 0u64..10_000_000, bytes in 0u64..(1u64 << 50)) {
            prop_assert_eq!(cpu_millis(&from_cpu_millis(millis)), Ok(millis as i64));
            prop_assert_eq!(units(&from_bytes(bytes)), Ok(bytes as i64));
        }
    }
}
