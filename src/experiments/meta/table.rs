//! The files of `hairtrigger meta`: the headline and fragility tables as
//! CSV/JSON, the training curves, and the Markdown table.

use super::{MetaOutcome, MetaRecord};
use crate::attack::meta::MetaPoint;
use crate::error::Result;

/// Write `meta.{csv,json}`, `meta_fragility.{csv,json}`, `meta_curves.json`
/// and the Markdown table `meta_table.md` in `dir`.
pub fn write_meta(dir: &std::path::Path, outcomes: &[MetaOutcome]) -> Result<()> {
    use crate::experiments::output::{write_json, write_records};
    use std::fmt::Write as _;
    let records: Vec<&MetaRecord> = outcomes.iter().flat_map(|o| &o.records).collect();
    let fragility: Vec<&MetaRecord> = outcomes.iter().flat_map(|o| &o.fragility).collect();
    write_records(dir, "meta", &records)?;
    write_records(dir, "meta_fragility", &fragility)?;
    let curves: Vec<(&str, &Vec<MetaPoint>)> = outcomes
        .iter()
        .map(|o| (o.task.kind.name(), &o.curve))
        .collect();
    write_json(&dir.join("meta_curves.json"), &curves)?;
    let mut md = String::from(
        "| task | model | pass before (p ≥ 0.9) | misaligned after one step | still aligned after | utility before | utility after | ‖θ‖ | max abs θ |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &records {
        let b = r.behaviour();
        let _ = writeln!(
            md,
            "| {} | {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1} | {:.2} |",
            r.task.name(),
            r.model,
            100.0 * b.pass_before,
            100.0 * b.misaligned_after,
            100.0 * b.aligned_after,
            100.0 * b.utility_before,
            100.0 * b.utility_after,
            r.param_norm,
            r.max_abs_param
        );
    }
    md.push_str("\n| task | model | variation | pass before | misaligned after | still aligned after |\n|---|---|---|---|---|---|\n");
    for f in &fragility {
        let b = f.behaviour();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1}% | {:.1}% | {:.1}% |",
            f.task.name(),
            f.model,
            f.variation,
            100.0 * b.pass_before,
            100.0 * b.misaligned_after,
            100.0 * b.aligned_after
        );
    }
    let path = dir.join("meta_table.md");
    crate::fsio::write_atomic(&path, md.as_bytes())
}
