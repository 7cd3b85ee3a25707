//! Writing records: CSV (header from the field names) and JSON (an array of
//! objects, one per run), so Python (`pandas.read_csv`, `json.load`) and R read
//! them directly.
//!
//! Every record passes the finiteness guard ([`crate::finite::ensure_finite`])
//! before it is written, and every file is written atomically
//! ([`crate::fsio::write_atomic`]): no NaN or infinity reaches an output, and an
//! interrupted write leaves the previous file intact.

use crate::error::{Error, Result};
use crate::finite::ensure_finite;
use crate::fsio::write_atomic;
use serde::Serialize;
use std::path::Path;

fn name(path: &Path) -> String {
    path.display().to_string()
}

/// Write `records` as CSV to `path`.
pub fn write_csv<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    ensure_finite(&name(path), records)?;
    let mut w = csv::Writer::from_writer(Vec::new());
    for r in records {
        w.serialize(r)
            .map_err(|e| Error::Serialize(format!("{}: {e}", path.display())))?;
    }
    let bytes = w
        .into_inner()
        .map_err(|e| Error::Serialize(format!("{}: {e}", path.display())))?;
    write_atomic(path, &bytes)
}

/// Write `records` as a pretty-printed JSON array to `path`.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, records: &T) -> Result<()> {
    ensure_finite(&name(path), records)?;
    let s = serde_json::to_string_pretty(records).map_err(|e| Error::Serialize(e.to_string()))?;
    write_atomic(path, (s + "\n").as_bytes())
}

/// Write both `stem.csv` and `stem.json` in `dir`.
pub fn write_records<T: Serialize>(dir: &Path, stem: &str, records: &[T]) -> Result<()> {
    write_csv(&dir.join(format!("{stem}.csv")), records)?;
    write_json(&dir.join(format!("{stem}.json")), records)
}

/// One JSON object on one line (the `--json` output format); fails on a
/// non-finite number instead of writing it as `null`.
pub fn json_line<T: Serialize>(record: &T) -> Result<String> {
    ensure_finite("--json record", record)?;
    serde_json::to_string(record).map_err(|e| Error::Serialize(e.to_string()))
}
