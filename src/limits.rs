//! Size limits, checked before anything is allocated.
//!
//! * Memory: each experiment's checked configuration states an estimate of
//!   the bytes it will hold at its peak (`memory_estimate()`), and
//!   [`MemoryBudget::check`] refuses the run — naming the option that drives
//!   the size and the estimate — when it exceeds the budget: `--max-memory`
//!   (or the `HAIRTRIGGER_MAX_MEMORY` environment variable) where given,
//!   otherwise the memory the operating system reports available
//!   (`MemAvailable` in `/proc/meminfo`), otherwise 16 GiB. Estimates are
//!   computed in `f64`, so absurd sizes (`10¹¹`) cannot overflow them.
//! * Seeds: a run over `n` seeds uses `seed, seed + 1, …, seed + n − 1`;
//!   [`seed_range`] refuses a base seed for which that range leaves `u64`.
//! * Counts of steps and repetitions: [`check_count`] bounds them between 1
//!   and a stated maximum.

use crate::error::{Error, Result};

/// Bytes in one GiB.
pub const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// The fallback budget when neither an explicit limit nor `/proc/meminfo` is available.
pub const DEFAULT_BUDGET_BYTES: f64 = 16.0 * GIB;

/// Largest number of (meta-)steps or repetitions any command accepts.
pub const MAX_STEPS: usize = 10_000_000;

/// How much memory a run may use.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct MemoryBudget {
    bytes: f64,
    /// Where the number came from, for the error message.
    source: &'static str,
}

impl MemoryBudget {
    /// An explicit budget of `bytes`.
    pub fn bytes(bytes: f64) -> Result<Self> {
        if !(bytes.is_finite() && bytes > 0.0) {
            return Err(Error::InvalidParameter {
                name: "max-memory",
                value: bytes,
                expected: "must be a positive size, e.g. 512M or 8G",
            });
        }
        Ok(Self {
            bytes,
            source: "--max-memory",
        })
    }

    /// `--max-memory` if given, else `HAIRTRIGGER_MAX_MEMORY`, else the
    /// available memory, else [`DEFAULT_BUDGET_BYTES`].
    pub fn resolve(explicit: Option<&str>) -> Result<Self> {
        if let Some(s) = explicit {
            return Self::bytes(parse_size(s)?);
        }
        if let Ok(s) = std::env::var("HAIRTRIGGER_MAX_MEMORY") {
            let mut b = Self::bytes(parse_size(&s)?)?;
            b.source = "HAIRTRIGGER_MAX_MEMORY";
            return Ok(b);
        }
        Ok(match available_bytes() {
            Some(bytes) => Self {
                bytes,
                source: "the available memory",
            },
            None => Self {
                bytes: DEFAULT_BUDGET_BYTES,
                source: "the default budget",
            },
        })
    }

    /// The budget in bytes.
    pub fn limit(&self) -> f64 {
        self.bytes
    }

    /// Refuse `estimate` bytes when they exceed the budget; `option` names
    /// the setting that drives the size (`--probes 1000000000`).
    pub fn check(&self, option: &str, estimate: f64) -> Result<()> {
        if estimate.is_finite() && estimate <= self.bytes {
            return Ok(());
        }
        Err(Error::TooLarge {
            option: option.to_string(),
            estimate: human(estimate),
            limit: format!("{} ({})", human(self.bytes), self.source),
        })
    }
}

/// `1.5 GiB`, `320 MiB`, `12 KiB`, `∞`.
pub fn human(bytes: f64) -> String {
    if !bytes.is_finite() {
        return "more than f64 can count".into();
    }
    let units = [
        ("TiB", GIB * 1024.0),
        ("GiB", GIB),
        ("MiB", 1024.0 * 1024.0),
    ];
    for (u, s) in units {
        if bytes >= s {
            return format!("{:.1} {u}", bytes / s);
        }
    }
    format!("{:.0} KiB", (bytes / 1024.0).ceil())
}

/// Parse `123`, `512K`, `512M`, `8G`, `1T` (powers of 1024; an optional `B`/`iB`).
pub fn parse_size(s: &str) -> Result<f64> {
    let bad = |reason: &str| Error::Parse {
        what: "memory size",
        input: s.to_string(),
        reason: reason.to_string(),
    };
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (num, mult) = match t.chars().last() {
        Some('K' | 'k') => (&t[..t.len() - 1], 1024.0),
        Some('M' | 'm') => (&t[..t.len() - 1], 1024.0 * 1024.0),
        Some('G' | 'g') => (&t[..t.len() - 1], GIB),
        Some('T' | 't') => (&t[..t.len() - 1], GIB * 1024.0),
        _ => (t, 1.0),
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| bad("expected a number with an optional K, M, G or T suffix"))?;
    if !(v.is_finite() && v > 0.0) {
        return Err(bad("must be positive"));
    }
    Ok(v * mult)
}

/// `MemAvailable` from `/proc/meminfo`, in bytes.
fn available_bytes() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024.0)
}

/// Bytes of `count` `f64` values (as `f64`, so it never overflows).
pub fn f64_bytes(count: f64) -> f64 {
    8.0 * count
}

/// The seeds `seed .. seed + count`, refusing a range that leaves `u64`.
pub fn seed_range(seed: u64, count: usize) -> Result<std::ops::Range<u64>> {
    let end = u64::try_from(count)
        .ok()
        .and_then(|c| seed.checked_add(c))
        .ok_or(Error::SeedOverflow { seed, count })?;
    Ok(seed..end)
}

/// `count` must be in `1..=max`; `option` names the setting.
pub fn check_count(option: &'static str, count: usize, max: usize) -> Result<usize> {
    if (1..=max).contains(&count) {
        Ok(count)
    } else {
        Err(Error::InvalidParameter {
            name: option,
            value: count as f64,
            expected: if count == 0 {
                "must be at least 1"
            } else {
                "too large: see limits::MAX_STEPS (10,000,000)"
            },
        })
    }
}

/// A time budget in seconds (`what` names it in the error): finite and ≥ 0.
pub fn check_seconds(what: &'static str, seconds: f64) -> Result<f64> {
    if seconds.is_finite() && seconds >= 0.0 {
        Ok(seconds)
    } else {
        Err(Error::InvalidParameter {
            name: what,
            value: seconds,
            expected: "finite and ≥ 0",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_budgets_refuse_with_the_option_named() {
        assert_eq!(parse_size("512M").unwrap(), 512.0 * 1024.0 * 1024.0);
        assert_eq!(parse_size("8GiB").unwrap(), 8.0 * GIB);
        assert_eq!(parse_size("1000").unwrap(), 1000.0);
        assert!(parse_size("-1G").is_err() && parse_size("lots").is_err());
        let b = MemoryBudget::bytes(GIB).unwrap();
        assert!(b.check("--probes 10", 1e6).is_ok());
        let msg = b
            .check("--probes 1000000000", 1e12)
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("--probes 1000000000") && msg.contains("931.3 GiB"),
            "{msg}"
        );
        assert!(b.check("--x", f64::INFINITY).is_err());
    }

    #[test]
    fn seed_ranges_refuse_overflow() {
        assert_eq!(seed_range(3, 2).unwrap(), 3..5);
        assert_eq!(seed_range(u64::MAX - 1, 1).unwrap(), u64::MAX - 1..u64::MAX);
        let msg = seed_range(u64::MAX, 1).unwrap_err().to_string();
        assert!(msg.contains("18446744073709551615"), "{msg}");
    }
}
