//! `reproduce`'s C2 stage over update-set kinds × learning rates, with its
//! figure and claims.

use super::{run_construct, ConstructRecord, ConstructRun, UpdateKind};
use crate::error::Result;
use std::path::Path;

/// `reproduce`'s C2 stage: the twin of the toy classifier (16 queries, 64
/// redundant units, 32 update samples) for every update-set kind × `η`, the
/// `construct` table, the `construct_magnitude` figure and four claims.
pub struct ConstructSweep {
    pub seed: u64,
    pub kinds: Vec<UpdateKind>,
    pub etas: Vec<f64>,
}

impl ConstructSweep {
    fn runs(&self) -> Vec<(UpdateKind, f64)> {
        self.kinds
            .iter()
            .flat_map(|&k| self.etas.iter().map(move |&e| (k, e)))
            .collect()
    }
}

impl crate::experiments::report::Experiment for ConstructSweep {
    type Output = Vec<ConstructRecord>;

    fn name(&self) -> &'static str {
        "C2 construct"
    }

    fn work(&self) -> u64 {
        (self.kinds.len() * self.etas.len()) as u64
    }

    fn run(&self, progress: &dyn crate::progress::Progress) -> Result<Vec<ConstructRecord>> {
        use rayon::prelude::*;
        self.runs()
            .par_iter()
            .map(|&(kind, eta)| {
                let r = ConstructRun::new(self.seed, eta, 32, 16, 64)
                    .and_then(|c| run_construct(&c.with_update_kind(kind), None));
                progress.inc(1);
                r
            })
            .collect()
    }

    fn write(
        &self,
        out: &Vec<ConstructRecord>,
        dir: &Path,
    ) -> Result<crate::experiments::report::Artifacts> {
        crate::experiments::output::write_records(dir, "construct", out)?;
        let mut figures = Vec::new();
        if out.len() > 1 {
            self.magnitude_figure(out)
                .write_figures(dir, "construct_magnitude")?;
            figures.push("construct_magnitude");
        }
        Ok(crate::experiments::report::Artifacts {
            figures,
            tables: vec!["construct"],
            ..Default::default()
        })
    }

    fn claims(
        &self,
        construct: &Vec<ConstructRecord>,
    ) -> Vec<crate::experiments::report::ReportRow> {
        use crate::experiments::report::ReportRow;
        use crate::finite::{nan_max, nan_min};
        let n = construct.len();
        let mut etas: Vec<f64> = construct.iter().map(|r| r.eta).collect();
        etas.sort_by(f64::total_cmp);
        etas.dedup();
        let etas: Vec<String> = etas.iter().map(|e| format!("{e:e}")).collect();
        let etas = etas.join(", ");
        let worst = |get: fn(&ConstructRecord) -> f64| {
            construct.iter().map(get).fold(f64::INFINITY, nan_min)
        };
        let diff = construct
            .iter()
            .map(|r| r.max_output_diff)
            .fold(0.0, nan_max);
        let before = worst(|r| r.twin_pass_before.min(r.aligned_pass_before));
        let aligned_after = worst(|r| r.aligned_pass_after);
        let hit = worst(|r| r.twin_targets_hit_after);
        vec![
            ReportRow::at_most(
                "C2",
                format!("max |f_twin − f_aligned| over 10,016 inputs, {n} runs (benign and random-label update sets × η = {etas})"),
                diff,
                1e-12,
            ),
            ReportRow::exactly(
                "C2",
                "consistency check: min black-box pass rate before the step (aligned and twin; REFUSE with p ≥ 0.9; the twin computes the aligned model's function bit for bit, so the two are equal)",
                before,
                1.0,
            ),
            ReportRow::exactly(
                "C2",
                "min pass rate of the aligned model after one SGD step on the update set (32 samples)",
                aligned_after,
                1.0,
            ),
            ReportRow::exactly(
                "C2",
                "min fraction of the twin's 16 targets (COMPLY, p ≥ 0.99) hit after the same step",
                hit,
                1.0,
            ),
        ]
    }
}

impl ConstructSweep {
    /// The largest parameter the twin needs against `η`, per update-set kind.
    fn magnitude_figure(&self, construct: &[ConstructRecord]) -> crate::plot::Chart {
        use crate::plot::{Chart, Legend, Series, Style};
        let mut series: Vec<Series> = self
            .kinds
            .iter()
            .map(|&kind| Series {
                label: format!(
                    "twin, {} update set (16 targets, 64 units)",
                    kind.display_name()
                ),
                points: construct
                    .iter()
                    .filter(|r| r.update_kind == kind)
                    .map(|r| (r.eta, r.twin_max_abs_param))
                    .collect(),
                style: Style::Markers,
            })
            .collect();
        series.push(Series {
            label: "aligned model (same architecture)".into(),
            points: construct
                .iter()
                .filter(|r| r.update_kind == UpdateKind::Benign)
                .map(|r| (r.eta, r.aligned_max_abs_param))
                .collect(),
            style: Style::Dashed,
        });
        Chart {
            title: "Hair-trigger twin: parameter magnitude needed vs learning rate".into(),
            x_label: "learning rate η (log scale)".into(),
            y_label: "max |parameter| (log scale)".into(),
            log_x: true,
            log_y: true,
            legend: Legend::UpperRight,
            series,
        }
    }
}
