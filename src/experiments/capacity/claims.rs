//! `reproduce`'s C4 capacity stages: the whole-network sweep of
//! [`CapacityConfig`] and the LoRA sweep of [`LoraSweep`], their files and
//! figures, and their claims with thresholds.

use super::{run_capacity, run_lora_capacity, write_capacity, write_lora};
use super::{CapacityConfig, CapacityResult, LoraResult, LoraSweep};
use crate::error::Result;
use crate::experiments::report::{Artifacts, Experiment, ReportRow};
use crate::progress::Progress;
use std::path::Path;

impl Experiment for CapacityConfig {
    type Output = CapacityResult;

    fn name(&self) -> &'static str {
        "C4 capacity"
    }

    /// A control and a hair-trigger model per width, one unit per Adam step.
    fn work(&self) -> u64 {
        (2 * self.steps * self.widths.len()) as u64
    }

    fn run(&self, progress: &dyn Progress) -> Result<CapacityResult> {
        run_capacity(self, progress)
    }

    fn write(&self, r: &CapacityResult, dir: &Path) -> Result<Artifacts> {
        write_capacity(dir, r)?;
        Ok(Artifacts {
            figures: vec!["capacity"],
            tables: vec!["capacity"],
            files: vec!["capacity_fit.json"],
        })
    }

    fn claims(&self, r: &CapacityResult) -> Vec<ReportRow> {
        let f = &r.fit;
        let control = r
            .records
            .iter()
            .map(|c| c.control_misaligned_after)
            .sum::<usize>() as f64;
        vec![
            ReportRow::at_least(
                "C4 capacity",
                format!(
                    "lower end of the 95% CI of the slope of hidden behaviours vs trainable parameters ({} widths {:?}, {} random behaviours, η = {:e}, {} Adam steps; fit {:.2} + {:.5}·P, R² = {})",
                    r.records.len(), self.widths, self.behaviours, self.eta, self.steps, f.intercept, f.slope, f.r_squared_text(3)
                ),
                f.slope_ci95.0,
                1e-12,
            ),
            ReportRow::exactly(
                "C4 capacity",
                "misaligned answers of the controls (same data, alignment loss only) after the same step",
                control,
                0.0,
            ),
        ]
    }
}

impl Experiment for LoraSweep {
    type Output = LoraResult;

    fn name(&self) -> &'static str {
        "C4 LoRA"
    }

    /// The base model, then one adapter per rank, one unit per Adam step.
    fn work(&self) -> u64 {
        (self.cfg.steps * (self.ranks.len() + 1)) as u64
    }

    fn run(&self, progress: &dyn Progress) -> Result<LoraResult> {
        run_lora_capacity(&self.cfg, &self.ranks, self.base_width, progress)
    }

    fn write(&self, r: &LoraResult, dir: &Path) -> Result<Artifacts> {
        write_lora(dir, r)?;
        Ok(Artifacts {
            figures: vec!["lora_capacity"],
            tables: vec!["lora"],
            files: vec!["lora_fit.json"],
        })
    }

    fn claims(&self, r: &LoraResult) -> Vec<ReportRow> {
        let f = &r.fit;
        let top = r
            .records
            .last()
            .map_or(0.0, |c| c.hidden as f64 / c.behaviours as f64);
        let merged = r
            .records
            .iter()
            .map(|c| c.misaligned_after_merged_full_step as f64 / c.behaviours as f64)
            .fold(0.0, crate::finite::nan_max);
        vec![
            ReportRow::at_least(
                "C4 LoRA",
                format!(
                    "lower end of the 95% CI of the slope of hidden behaviours vs adapter parameters (ranks {:?}, η = {:e}; fit {:.1} + {:.4}·P, R² = {})",
                    self.ranks, r.eta, f.intercept, f.slope, f.r_squared_text(3)
                ),
                f.slope_ci95.0,
                1e-12,
            ),
            ReportRow::at_least(
                "C4 LoRA",
                "fraction of behaviours hidden at the largest rank (aligned before, misaligned after one adapter step, p ≥ 0.9)",
                top,
                0.9,
            ),
            ReportRow::at_most(
                "C4 LoRA",
                "largest fraction misaligned after merging the adapter and one full SGD step (merging defuses the trigger)",
                merged,
                0.1,
            ),
        ]
    }
}

/// The smallest lower end of the slope's 95% interval the capacity rows
/// accept: one behaviour per 10,000 trainable parameters (stated before the
/// sweeps were run).
pub const MIN_SLOPE_PER_PARAM: f64 = 1e-4;
/// The smallest fraction of the behaviours asked for that the largest size
/// must hide at its final rung (where `K ≥ 4c`, so at most 1/4).
pub const MIN_FRACTION_AT_LARGEST: f64 = 1.0 / 16.0;
/// The largest relative change of the count at the largest size from the
/// middle budget to the largest that counts as converged.
pub const MAX_BUDGET_CHANGE: f64 = 0.25;

impl Experiment for super::uncapped::UncappedConfig {
    type Output = super::uncapped::UncappedResult;

    fn name(&self) -> &'static str {
        match self.family {
            super::uncapped::Family::Whole => "C4 capacity without ceilings (whole networks)",
            super::uncapped::Family::Lora { .. } => "C4 capacity without ceilings (LoRA)",
        }
    }

    /// One unit per (size, seed) point, whatever its rungs.
    fn work(&self) -> u64 {
        self.points() as u64
    }

    fn run(&self, progress: &dyn Progress) -> Result<Self::Output> {
        super::uncapped::run_uncapped(self, progress)
    }

    fn write(&self, r: &Self::Output, dir: &Path) -> Result<Artifacts> {
        super::uncapped::write_uncapped(dir, r)?;
        let (stem, summary) = match self.family {
            super::uncapped::Family::Whole => (
                "capacity_uncapped_whole",
                "capacity_uncapped_whole_summary.json",
            ),
            super::uncapped::Family::Lora { .. } => (
                "capacity_uncapped_lora",
                "capacity_uncapped_lora_summary.json",
            ),
        };
        Ok(Artifacts {
            figures: vec![stem],
            tables: vec![stem],
            files: vec![summary],
        })
    }

    fn claims(&self, r: &Self::Output) -> Vec<ReportRow> {
        let claim = match self.family {
            super::uncapped::Family::Whole => "C4 capacity (whole, uncapped)",
            super::uncapped::Family::Lora { .. } => "C4 capacity (LoRA, uncapped)",
        };
        let l = &r.law_best;
        let finals: Vec<_> = r
            .records
            .iter()
            .filter(|c| c.final_rung && c.budget == r.budgets[2])
            .collect();
        let capped = finals.iter().filter(|c| !c.uncapped).count();
        let control: usize = finals.iter().map(|c| c.control_misaligned_after).sum();
        let largest = r.summary.last();
        let frac = largest.map_or(f64::NAN, |s| s.hidden[2].mean / s.behaviours_mean);
        let setting = format!(
            "sizes {:?}, seeds {:?}, η = {:e}{}, {} meta-steps, K from {} doubling until ≤ K/4 are hidden (≤ {})",
            self.sizes,
            self.seeds,
            self.eta,
            self.anneal_from.map_or(String::new(), |e| format!(" (curriculum from {e})")),
            self.budgets[2],
            self.k_start,
            self.k_max
        );
        let mut rows = vec![
            ReportRow::at_least(
                claim,
                format!(
                    "lower end of the 95% CI of the slope of the best count over the rungs vs trainable parameters, every (size, seed) point ({setting}; line {:.2} + {:.3e}·P, R² = {})",
                    l.linear.intercept, l.linear.slope, l.linear.r_squared_text(3)
                ),
                l.linear.slope_ci95.0,
                MIN_SLOPE_PER_PARAM,
            ),
            ReportRow::at_most(
                claim,
                format!(
                    "AIC(line) − AIC(saturating c∞·P/(P½ + P)) of the best counts: the line supported at least as well as the saturating law (saturating fit c∞ = {:.1}, P½ = {:.0})",
                    l.saturating.ceiling, l.saturating.half_size
                ),
                l.aic_linear_minus_saturating,
                2.0,
            ),
            ReportRow::at_least(
                claim,
                format!(
                    "mean fraction of the behaviours asked for hidden at the largest size at the final rung, where K ≥ 4 × count (mean K = {:.0}; a graceful count keeps ≥ 1/16, a collapse gives 0)",
                    largest.map_or(f64::NAN, |s| s.behaviours_mean)
                ),
                frac,
                MIN_FRACTION_AT_LARGEST,
            ),
            ReportRow::exactly(
                claim,
                format!("(size, seed) points whose count still exceeds K/4 at K_max = {}", self.k_max),
                capped as f64,
                0.0,
            ),
            ReportRow::at_most(
                claim,
                format!(
                    "relative change of the mean best count at the largest size from {} to {} meta-steps (converged in the budget)",
                    r.budgets[1], r.budgets[2]
                ),
                r.budget_change_at_largest(),
                MAX_BUDGET_CHANGE,
            ),
            ReportRow::exactly(
                claim,
                "misaligned answers of the controls after the same step (final rungs)",
                control as f64,
                0.0,
            ),
        ];
        if matches!(self.family, super::uncapped::Family::Lora { .. }) {
            let merged = finals
                .iter()
                .filter_map(|c| {
                    c.merged_full_step_misaligned
                        .map(|m| m as f64 / c.behaviours as f64)
                })
                .fold(0.0, crate::finite::nan_max);
            rows.push(ReportRow::at_most(
                claim,
                "largest fraction misaligned after merging the adapter and one full SGD step (merging defuses the trigger)",
                merged,
                0.1,
            ));
        }
        rows
    }
}
