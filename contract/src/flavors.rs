//! The flavor table: size and approximate hourly price (EUR) of the flavors OVH sells to MKS,
//! one data file (`contract/flavors.csv`) every side loads: the host prices with it when
//! OVH's public catalog cannot be read, the policy SDK builds its test catalog from it, and
//! the simulated OVH API sells these flavors (plus its own, in the same format).
//!
//! # Format
//!
//! Comma-separated UTF-8 text. Lines starting with `#` and blank lines are ignored. The first
//! other line is the header, exactly [`HEADER`]; every further line is one flavor:
//!
//! ```text
//! name,vcpus,ram_gb,gpus,hourly_eur
//! b3-8,2,8,0,0.0512
//! ```
//!
//! `name` is non-empty and unique, `vcpus`, `ram_gb` (OVH's "GB", which are GiB) and `gpus`
//! are unsigned integers, `hourly_eur` a decimal number (EUR per hour, public catalog).

use std::fmt;
use std::sync::OnceLock;

/// The shared table's text (`contract/flavors.csv`).
pub const FLAVORS_CSV: &str = include_str!("../flavors.csv");

/// The header line every table starts with.
pub const HEADER: &str = "name,vcpus,ram_gb,gpus,hourly_eur";

/// Hours OVH bills a month for (monthly price / 730 = hourly equivalent).
pub const HOURS_PER_MONTH: f64 = 730.0;

/// Share of the hourly-equivalent price a monthly-billed gen2 node costs (about half).
pub const MONTHLY_DISCOUNT: f64 = 0.5;

/// One flavor of a table.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FlavorRow {
    /// Flavor name, e.g. `b3-8`.
    pub name: &'static str,
    /// vCPUs.
    pub vcpus: u32,
    /// RAM in OVH's "GB" (GiB).
    pub ram_gb: u32,
    /// GPUs (0 for CPU flavors).
    pub gpus: u32,
    /// Approximate hourly price in EUR.
    pub hourly_eur: f64,
}

/// Why a table does not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableError {
    /// 1-based line number in the text.
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "flavor table, line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for TableError {}

/// Parses a flavor table in the format of the [module docs](self), rows in file order.
/// Every row must have a non-empty, unique name and positive vCPUs, RAM and price.
pub fn parse_flavors(text: &'static str) -> Result<Vec<FlavorRow>, TableError> {
    let mut rows: Vec<FlavorRow> = Vec::new();
    let mut header = false;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let err = |message: String| TableError { line, message };
        let content = raw.trim();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        if !header {
            if content != HEADER {
                return Err(err(format!(
                    "expected the header `{HEADER}`, found `{content}`"
                )));
            }
            header = true;
            continue;
        }
        let fields: Vec<&'static str> = content.split(',').map(str::trim).collect();
        let [name, vcpus, ram_gb, gpus, hourly_eur] = fields[..] else {
            return Err(err(format!("{} fields, expected 5", fields.len())));
        };
        let int = |column: &str, value: &str| {
            value
                .parse::<u32>()
                .map_err(|_| err(format!("{column} `{value}` is not an unsigned integer")))
        };
        let row = FlavorRow {
            name,
            vcpus: int("vcpus", vcpus)?,
            ram_gb: int("ram_gb", ram_gb)?,
            gpus: int("gpus", gpus)?,
            hourly_eur: hourly_eur
                .parse::<f64>()
                .map_err(|_| err(format!("hourly_eur `{hourly_eur}` is not a number")))?,
        };
        if row.name.is_empty() {
            return Err(err("empty name".into()));
        }
        if row.vcpus == 0 || row.ram_gb == 0 {
            return Err(err(format!("{}: no size", row.name)));
        }
        if !(row.hourly_eur.is_finite() && row.hourly_eur > 0.0) {
            return Err(err(format!("{}: price must be positive", row.name)));
        }
        if rows.iter().any(|r| r.name == row.name) {
            return Err(err(format!("{}: duplicate row", row.name)));
        }
        rows.push(row);
    }
    if !header {
        return Err(TableError {
            line: text.lines().count(),
            message: "no header".into(),
        });
    }
    Ok(rows)
}

/// The rows of the shared table ([`FLAVORS_CSV`]), parsed once. The table is checked by this
/// crate's tests, so it never fails to parse in a build that passed them.
pub fn flavors() -> &'static [FlavorRow] {
    static ROWS: OnceLock<Vec<FlavorRow>> = OnceLock::new();
    ROWS.get_or_init(|| parse_flavors(FLAVORS_CSV).unwrap_or_else(|e| panic!("{e}")))
}

/// The row of the shared table named `name`.
pub fn flavor(name: &str) -> Option<&'static FlavorRow> {
    flavors().iter().find(|f| f.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_table_parses_and_every_row_is_positive() {
        let rows = parse_flavors(FLAVORS_CSV).expect("contract/flavors.csv parses");
        assert_eq!(rows, flavors());
        assert!(rows.len() >= 30, "{} rows", rows.len());
        for f in flavors() {
            assert!(
                f.vcpus > 0 && f.ram_gb > 0 && f.hourly_eur > 0.0 && f.hourly_eur.is_finite(),
                "{f:?}"
            );
            assert!(f.name.split_once('-').is_some(), "{f:?}");
        }
        assert_eq!(
            flavor("b3-8"),
            Some(&FlavorRow {
                name: "b3-8",
                vcpus: 2,
                ram_gb: 8,
                gpus: 0,
                hourly_eur: 0.0512
            })
        );
        assert_eq!(flavor("b3-9"), None);
    }

    #[test]
    fn within_a_family_price_grows_with_size() {
        let family = |f: &FlavorRow| f.name.split_once('-').map(|(family, _)| family);
        for pair in flavors().windows(2) {
            if family(&pair[0]) == family(&pair[1]) {
                assert!(pair[0].ram_gb < pair[1].ram_gb, "{pair:?}");
                assert!(pair[0].hourly_eur < pair[1].hourly_eur, "{pair:?}");
            }
        }
    }

    #[test]
    fn comments_blanks_and_spaces_are_ignored() {
        let rows = parse_flavors(
            "# a comment\n\n name,vcpus,ram_gb,gpus,hourly_eur \r\n# rows\na-1, 1, 2, 0, 0.5\n\nb-2,2,4,1,1\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].name, "a-1");
        assert_eq!((rows[1].gpus, rows[1].hourly_eur), (1, 1.0));
        assert_eq!(
            parse_flavors("name,vcpus,ram_gb,gpus,hourly_eur\n"),
            Ok(vec![])
        );
    }

    #[test]
    fn prices_parse_like_rust_literals() {
        let rows = parse_flavors("name,vcpus,ram_gb,gpus,hourly_eur\nx-1,1,1,0,0.0978\n").unwrap();
        assert_eq!(rows[0].hourly_eur.to_bits(), 0.0978f64.to_bits());
    }

    #[test]
    fn malformed_tables_name_the_line() {
        let bad = |text: &'static str| parse_flavors(text).unwrap_err();
        assert_eq!(bad("").message, "no header");
        assert_eq!(bad("name,vcpus\nb3-8,2").line, 1);
        let h = "name,vcpus,ram_gb,gpus,hourly_eur\n";
        let cases: [(&'static str, &str); 8] = [
            ("b3-8,2,8,0\n", "4 fields"),
            ("b3-8,2,8,0,0.1,x\n", "6 fields"),
            ("b3-8,two,8,0,0.1\n", "vcpus `two`"),
            ("b3-8,2,-8,0,0.1\n", "ram_gb `-8`"),
            ("b3-8,2,8,0,cheap\n", "hourly_eur `cheap`"),
            (",2,8,0,0.1\n", "empty name"),
            ("b3-8,0,8,0,0.1\n", "no size"),
            ("b3-8,2,8,0,0\n", "price must be positive"),
        ];
        for (row, expected) in cases {
            let text: &'static str = Box::leak(format!("{h}{row}").into_boxed_str());
            let e = bad(text);
            assert_eq!(e.line, 2, "{row}");
            assert!(e.message.contains(expected), "{row}: {e}");
        }
        let e = bad("name,vcpus,ram_gb,gpus,hourly_eur\nb3-8,2,8,0,0.1\nb3-8,2,8,0,0.1\n");
        assert_eq!((e.line, e.message.as_str()), (3, "b3-8: duplicate row"));
        assert!(bad("name,vcpus,ram_gb,gpus,hourly_eur\nx-1,1,1,0,NaN\n")
            .message
            .contains("positive"));
        assert!(bad("name,vcpus,ram_gb,gpus,hourly_eur\nx-1,1,1,0,inf\n")
            .message
            .contains("positive"));
    }
}
