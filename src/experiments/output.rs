//! Writing records: CSV (header from the field names) and JSON (an array of
//! objects, one per run), so Python (`pandas.read_csv`, `json.load`) and R read
//! them directly.

use crate::error::{Error, Result};
use serde::Serialize;
use std::path::Path;

/// Write `records` as CSV to `path`.
pub fn write_csv<T: Serialize>(path: &Path, records: &[T]) -> Result<()> {
    let mut w = csv::Writer::from_path(path)
        .map_err(|e| Error::Serialize(format!("{}: {e}", path.display())))?;
    for r in records {
        w.serialize(r)
            .map_err(|e| Error::Serialize(format!("{}: {e}", path.display())))?;
    }
    w.flush().map_err(|e| Error::io(path, e))
}

/// Write `records` as a pretty-printed JSON array to `path`.
pub fn write_json<T: Serialize + ?Sized>(path: &Path, records: &T) -> Result<()> {
    let s = serde_json::to_string_pretty(records).map_err(|e| Error::Serialize(e.to_string()))?;
    std::fs::write(path, s + "\n").map_err(|e| Error::io(path, e))
}

/// Write both `stem.csv` and `stem.json` in `dir`.
pub fn write_records<T: Serialize>(dir: &Path, stem: &str, records: &[T]) -> Result<()> {
    write_csv(&dir.join(format!("{stem}.csv")), records)?;
    write_json(&dir.join(format!("{stem}.json")), records)
}

/// One JSON object on one line (the `--json` output format).
pub fn json_line<T: Serialize>(record: &T) -> Result<String> {
    serde_json::to_string(record).map_err(|e| Error::Serialize(e.to_string()))
}
