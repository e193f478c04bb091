// SPDX-License-Identifier: GPL-2.0

//! Output helpers: aligned tables, byte sizes for people, and parsing of sizes and durations.

use serde::Serialize;
use std::time::Duration;

/// JSON text of a value, its fields in declaration order (pretty: one field per line, for people
/// and `grep`).
pub(crate) fn to_json(v: &impl Serialize, pretty: bool) -> String {
    let r = if pretty {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    };
    // Serializing plain structs, strings and numbers cannot fail.
    r.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// JSON text parsed back, for tests.
#[cfg(test)]
pub(crate) fn parse_json(v: &impl Serialize) -> serde_json::Value {
    serde_json::from_str(&to_json(v, true)).unwrap()
}

/// A table printed with aligned columns; a column whose every cell is a number is right-aligned.
pub(crate) struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub(crate) fn new(header: &[&str]) -> Table {
        Table {
            header: header.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// The table as text, one line per row, columns separated by two spaces, no trailing blanks.
    pub(crate) fn render(&self) -> String {
        let ncols = self.header.len();
        let cell = |r: &Vec<String>, c: usize| r.get(c).cloned().unwrap_or_default();
        let mut width = vec![0; ncols];
        let mut numeric = vec![true; ncols];
        let mut any_number = vec![false; ncols];
        for (c, h) in self.header.iter().enumerate() {
            width[c] = h.chars().count();
        }
        for r in &self.rows {
            for c in 0..ncols {
                let s = cell(r, c);
                width[c] = width[c].max(s.chars().count());
                numeric[c] &= is_numeric(&s);
                any_number[c] |= is_numeric(&s) && s != "-";
            }
        }
        for c in 0..ncols {
            numeric[c] &= any_number[c];
        }
        let mut out = String::new();
        for r in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for c in 0..ncols {
                let s = cell(r, c);
                let pad = width[c] - s.chars().count();
                if c > 0 {
                    line.push_str("  ");
                }
                if numeric[c] {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(&s);
                } else {
                    line.push_str(&s);
                    line.push_str(&" ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A cell counts as a number if it is digits, optionally with a `%` or a ` (+N)` change after them;
/// `-` (no value) fits any column.
fn is_numeric(s: &str) -> bool {
    let digits = |t: &str| !t.is_empty() && t.chars().all(|c| c.is_ascii_digit());
    let s = match s.split_once(" (+") {
        Some((n, d)) if d.strip_suffix(')').is_some_and(digits) => n,
        _ => s,
    };
    s == "-" || digits(s.strip_suffix('%').unwrap_or(s))
}

/// Bytes for people: exact binary units when they divide ("64 MiB"), else one decimal ("1.5 MiB").
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut unit = 0;
    while unit + 1 < UNITS.len() && n >= 1u64 << (10 * (unit + 1)) {
        unit += 1;
    }
    let base = 1u64 << (10 * unit);
    if n.is_multiple_of(base) {
        format!("{} {}", n / base, UNITS[unit])
    } else {
        let tenths = (u128::from(n) * 10 + u128::from(base) / 2) / u128::from(base);
        format!("{}.{} {}", tenths / 10, tenths % 10, UNITS[unit])
    }
}

/// `part` as a whole percentage of `whole` ("0%" for an empty whole).
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".into();
    }
    format!("{}%", u128::from(part) * 100 / u128::from(whole))
}

/// A size: a number with an optional unit, binary either way: `4096`, `64K`, `4M`, `4MiB`, `1G`.
pub(crate) fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size (e.g. 4096, 64K, 4M, 1G)"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("'{s}': unknown unit '{unit}' (use K, M or G)")),
    };
    let v = n
        .checked_mul(1u64 << shift)
        .ok_or_else(|| format!("'{s}' is too large"))?;
    if v == 0 {
        return Err("the size must be more than 0".into());
    }
    Ok(v)
}

/// A duration in seconds, with up to three decimals (`2`, `0.5`) or in milliseconds (`250ms`).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let bad = || format!("'{s}' is not a duration in seconds (e.g. 1, 0.5, 250ms)");
    let t = s.trim();
    let d = if let Some(ms) = t.strip_suffix("ms") {
        Duration::from_millis(ms.parse().map_err(|_| bad())?)
    } else {
        let t = t.strip_suffix('s').unwrap_or(t);
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if frac.len() > 3 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let secs: u64 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| bad())?
        };
        let millis: u64 = format!("{frac:0<3}").parse().map_err(|_| bad())?;
        Duration::from_secs(secs) + Duration::from_millis(millis)
    };
    if d.is_zero() {
        return Err("the interval must be more than 0".into());
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_for_people() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(4096), "4 KiB");
        assert_eq!(human_bytes(64 << 20), "64 MiB");
        assert_eq!(human_bytes(3 << 19), "1.5 MiB");
        assert_eq!(human_bytes(1000), "1000 B");
        assert_eq!(human_bytes(1 << 40), "1 TiB");
        assert_eq!(percent(1, 3), "33%");
        assert_eq!(percent(0, 0), "-");
    }

    #[test]
    fn numbers_are_recognised() {
        for n in ["0", "12", "40%", "12 (+3)", "-"] {
            assert!(is_numeric(n), "{n}");
        }
        for n in ["0000:02:00.0", "64 MiB", "", "static", "1 (x)"] {
            assert!(!is_numeric(n), "{n}");
        }
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("4M"), Ok(4 << 20));
        assert_eq!(parse_size("4MiB"), Ok(4 << 20));
        assert_eq!(parse_size("64k"), Ok(64 << 10));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert!(parse_size("0").is_err());
        assert!(parse_size("4X").unwrap_err().contains("unknown unit"));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("99999999999999G")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration(".25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("0.0001").is_err());
        assert!(parse_duration("soon").is_err());
    }

    #[test]
    fn table_aligns_columns() {
        let mut t = Table::new(&["ID", "DEVICE", "USED"]);
        t.row(vec!["1".into(), "0000:02:00.0".into(), "0 B".into()]);
        t.row(vec!["12".into(), "x".into(), "64 MiB".into()]);
        assert_eq!(
            t.render(),
            "ID  DEVICE        USED\n 1  0000:02:00.0  0 B\n12  x             64 MiB\n"
        );
    }
}
