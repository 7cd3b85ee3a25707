//! `reproduce`'s C2 stage over seeds × update-set kinds × learning rates, with
//! its figure and claims. A construction that fails is a record with its
//! outcome and hit fraction (`construct_failed.csv`), never an abort.

use super::{run_construct, ConstructRecord, ConstructRun, UpdateKind};
use crate::attack::Units;
use crate::error::{Error, Result};
use crate::update::UpdateRule;
use serde::Serialize;
use std::path::Path;

/// `reproduce`'s C2 stage: the twin of the toy classifier (16 queries, 64
/// redundant units, 32 update samples) for every seed × update-set kind × `η`,
/// the `construct` table (the seed-`seeds[0]` runs, as `construct` prints
/// them), `construct_seeds` (every seed), `construct_failed`, the
/// `construct_magnitude` figures (dormant and zero-input units) and the claims.
pub struct ConstructSweep {
    pub seeds: Vec<u64>,
    pub kinds: Vec<UpdateKind>,
    pub etas: Vec<f64>,
    /// Update rules (SGD, Adam's first step, clipped SGD, AdamW's first step).
    pub rules: Vec<UpdateRule>,
    /// The learning rates Adam is run at: its first step moves *every*
    /// parameter by `η`, so at `η = 0.1` it misaligns the aligned model itself
    /// (the question is then moot), and at `η = 10⁻⁶` the gain `∝ α η` needs
    /// `α` beyond the LP's box `10⁷`; fine-tuning uses 1e-5 … 1e-3.
    pub adam_etas: Vec<f64>,
    /// The learning rates clipped SGD is run at: its gain is linear in `α`
    /// too, `≈ η c α (…)` once the new units dominate the gradient's norm,
    /// so `η = 10⁻⁶` needs `α` beyond the box as well (measured: 1 of 5
    /// seeds builds the benign twin within `α ≤ 10⁷`); clipping keeps the
    /// aligned model stable up to `η = 0.1` (`‖Δθ‖ ≤ η c`), so the large
    /// rates stay.
    pub clip_etas: Vec<f64>,
    /// Mini-batch sizes of an SGD step the benign and random-label twins are
    /// also built for (16 sampled batches) and tested on (64 fresh ones), at
    /// every SGD `η`.
    pub batches: Vec<usize>,
    /// Also build every update set's twin with zero-input units, under every
    /// rule of `rules` at that rule's `η` and for every mini-batch size of
    /// `batches` under SGD (besides the dormant units).
    pub zero_input: bool,
}

/// One run of the sweep: seed, update set, rule, `η`, mini-batch size, units.
type Run = (u64, UpdateKind, UpdateRule, f64, Option<usize>, Units);

/// Redundant units per update-set kind and unit kind: 64, and 512 dormant
/// units for the sets whose labels never include the target (no-target,
/// refusal, single-sample, alignment data), where 64 random directions are certified infeasible at small `η`
/// (`paper-notes/c2-any-update-set.md`).
pub fn units_for(kind: UpdateKind, units: Units) -> usize {
    match (kind, units) {
        (k, Units::Dormant) if !k.labels_target() => 512,
        _ => 64,
    }
}

/// A construction that did not produce a twin.
#[derive(Clone, Debug, Serialize)]
pub struct ConstructFailure {
    pub seed: u64,
    pub update_kind: UpdateKind,
    pub rule: String,
    /// `dormant` or `zero-input`.
    pub units: &'static str,
    pub redundant: usize,
    pub eta: f64,
    /// Mini-batch size of the step (empty: the whole update set).
    pub batch: Option<usize>,
    /// `infeasible` (checked Farkas certificate), `missed` (the step missed
    /// some target), `undecided` (the LP could not decide), `no_direction`
    /// (clipped SGD: the sufficient condition of `src/attack/clipped.rs`
    /// is certified to fail) or `beyond_box` (clipped SGD, or dormant units
    /// under Adam's or AdamW's first step whose LP scales miss because of
    /// `ε`: the step hits every target only at a scale past the box
    /// `α ≤ 10⁷`, given in `scale`).
    pub outcome: &'static str,
    /// Fraction of the 16 targets reached (by the step for `missed`, inside
    /// the box for `beyond_box`, by the LP's least-shortfall scales for
    /// `infeasible`; 0 for `undecided`).
    pub hit: f64,
    /// For `beyond_box`: the smallest scale `t` found (doubling, then
    /// bisecting in `ln t`) at which the real step hits every target;
    /// empty otherwise.
    pub scale: Option<f64>,
}

/// Every run of the sweep.
#[derive(Clone, Debug, Default)]
pub struct ConstructOutput {
    pub built: Vec<ConstructRecord>,
    pub failed: Vec<ConstructFailure>,
}

impl ConstructSweep {
    fn runs(&self) -> Vec<Run> {
        let mut runs = Vec::new();
        for &s in &self.seeds {
            for &k in &self.kinds {
                for &r in &self.rules {
                    for &e in self.etas_of(r) {
                        runs.push((s, k, r, e, None, Units::Dormant));
                    }
                }
                if k.labels_target() {
                    for &b in &self.batches {
                        for &e in &self.etas {
                            runs.push((s, k, UpdateRule::Sgd, e, Some(b), Units::Dormant));
                        }
                    }
                }
                if self.zero_input {
                    for &r in &self.rules {
                        for &e in self.etas_of(r) {
                            runs.push((s, k, r, e, None, Units::ZeroInput));
                        }
                    }
                    for &b in self.batches.iter().filter(|&&b| b < k.samples(32)) {
                        for &e in &self.etas {
                            runs.push((s, k, UpdateRule::Sgd, e, Some(b), Units::ZeroInput));
                        }
                    }
                }
            }
        }
        runs
    }

    fn etas_of(&self, rule: UpdateRule) -> &[f64] {
        match rule {
            UpdateRule::Sgd => &self.etas,
            UpdateRule::SgdClip { .. } => &self.clip_etas,
            UpdateRule::AdamFirstStep { .. } | UpdateRule::AdamWFirstStep { .. } => &self.adam_etas,
        }
    }
}

/// One run: its record, or what the failed construction measured.
fn run_one(
    (seed, kind, rule, eta, batch, units): Run,
) -> Result<std::result::Result<ConstructRecord, ConstructFailure>> {
    let redundant = units_for(kind, units);
    let cfg = ConstructRun::new(seed, eta, 32, 16, redundant)?
        .with_update_kind(kind)
        .with_rule(rule);
    let cfg = match batch {
        Some(b) => cfg.with_batch(b)?,
        None => cfg,
    }
    .with_units(units);
    let failure = |outcome, hit: usize, total: usize, scale: Option<f64>| {
        Ok(Err(ConstructFailure {
            seed,
            update_kind: kind,
            rule: rule.spec(),
            units: units.name(),
            redundant,
            eta,
            batch,
            outcome,
            hit: hit as f64 / total.max(1) as f64,
            scale,
        }))
    };
    match run_construct(&cfg, None) {
        Ok(r) => Ok(Ok(r)),
        Err(Error::ConstructionInfeasible { hit, total, .. }) => {
            failure("infeasible", hit, total, None)
        }
        Err(Error::ConstructionFailed { hit, total, .. }) => failure("missed", hit, total, None),
        Err(Error::ConstructionBeyondBox {
            hit, total, scale, ..
        }) => failure("beyond_box", hit, total, Some(scale)),
        Err(Error::ConstructionUndecided { total, .. }) => failure("undecided", 0, total, None),
        Err(Error::ConstructionNoDirection { total, .. }) => {
            failure("no_direction", 0, total, None)
        }
        Err(e) => Err(e),
    }
}

impl crate::experiments::report::Experiment for ConstructSweep {
    type Output = ConstructOutput;

    fn name(&self) -> &'static str {
        "C2 construct"
    }

    fn work(&self) -> u64 {
        self.runs().len() as u64
    }

    fn run(&self, progress: &dyn crate::progress::Progress) -> Result<ConstructOutput> {
        let all =
            crate::experiments::report::par_map_runs(&self.runs(), progress, |&run| run_one(run))?;
        let mut out = ConstructOutput::default();
        for r in all {
            match r {
                Ok(rec) => out.built.push(rec),
                Err(f) => out.failed.push(f),
            }
        }
        Ok(out)
    }

    fn write(
        &self,
        out: &ConstructOutput,
        dir: &Path,
    ) -> Result<crate::experiments::report::Artifacts> {
        let first = self.seeds.first().copied().unwrap_or(0);
        let shown: Vec<ConstructRecord> = out
            .built
            .iter()
            .filter(|r| r.seed == first && r.rule == "sgd" && r.batch.is_none())
            .cloned()
            .collect();
        crate::experiments::output::write_records(dir, "construct", &shown)?;
        crate::experiments::output::write_records(dir, "construct_seeds", &out.built)?;
        crate::experiments::output::write_records(dir, "construct_failed", &out.failed)?;
        let mut figures = Vec::new();
        // One figure per unit family, each on the update sets it is the
        // default for (dormant: the sets that label the target; zero-input:
        // the others), so that no two series share a colour.
        for (units, name) in [
            (Units::Dormant, "construct_magnitude"),
            (Units::ZeroInput, "construct_magnitude_zero_input"),
        ] {
            let chart = self.magnitude_figure(&shown, units);
            if chart.series.len() > 1 {
                chart.write_figures(dir, name)?;
                figures.push(name);
            }
        }
        Ok(crate::experiments::report::Artifacts {
            figures,
            tables: vec!["construct", "construct_seeds", "construct_failed"],
            ..Default::default()
        })
    }

    fn claims(&self, out: &ConstructOutput) -> Vec<crate::experiments::report::ReportRow> {
        use crate::experiments::report::ReportRow;
        use crate::finite::{nan_max, nan_min};
        let construct = &out.built;
        let seeds = self.seeds.len();
        let worst = |get: fn(&ConstructRecord) -> f64| {
            construct.iter().map(get).fold(f64::INFINITY, nan_min)
        };
        let diff = construct
            .iter()
            .map(|r| r.max_output_diff)
            .fold(0.0, nan_max);
        let before = worst(|r| r.twin_pass_before.min(r.aligned_pass_before));
        let aligned_after = worst(|r| r.aligned_pass_after);
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.display_name()).collect();
        let mut rows = vec![
            ReportRow::at_most(
                "C2",
                format!(
                    "max |f_twin − f_aligned| over 10,016 inputs, {} built twins ({seeds} seeds × {} update sets × {})",
                    construct.len(),
                    kinds.join("/"),
                    self.rules
                        .iter()
                        .map(|&r| format!(
                            "{} at η = {}",
                            r.display(),
                            self.etas_of(r).iter().map(|e| format!("{e:e}")).collect::<Vec<_>>().join(", ")
                        ))
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
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
                format!("min pass rate of the aligned model after one step of the run's rule on the update set (32 samples), every run, {seeds} seeds"),
                aligned_after,
                1.0,
            ),
        ];
        let row = |kind: UpdateKind, rule: UpdateRule, units: Units| {
            let (name, unit) = (rule.spec(), units.name());
            let whole_set = |k: UpdateKind, r: &str, u: &str, b: Option<usize>| {
                k == kind && r == name && u == unit && b.is_none()
            };
            let failed: Vec<&ConstructFailure> = out
                .failed
                .iter()
                .filter(|f| whole_set(f.update_kind, &f.rule, f.units, f.batch))
                .collect();
            let hits: Vec<f64> = construct
                .iter()
                .filter(|r| whole_set(r.update_kind, &r.rule, &r.units, r.batch))
                .map(|r| r.twin_targets_hit_after)
                .chain(failed.iter().map(|f| f.hit))
                .collect();
            let count = |o: &str| failed.iter().filter(|f| f.outcome == o).count();
            let rule_etas: Vec<String> = self
                .etas_of(rule)
                .iter()
                .map(|e| format!("{e:e}"))
                .collect();
            let no_direction = match rule {
                UpdateRule::SgdClip { .. } => format!(
                    ", {} certified without a direction raising every target row (clipped SGD's sufficient condition)",
                    count("no_direction")
                ),
                _ => String::new(),
            };
            let scales: Vec<f64> = failed
                .iter()
                .filter(|f| f.outcome == "beyond_box")
                .filter_map(|f| f.scale)
                .collect();
            // Clipped SGD always says how many; the other rules when a run's
            // search along the LP's ray (the LP reached the rows only beyond
            // the box, or Adam's `ε`) found one.
            let beyond_box = if matches!(rule, UpdateRule::SgdClip { .. }) || !scales.is_empty() {
                let range = if scales.is_empty() {
                    String::new()
                } else {
                    format!(
                        ": the step hits every target at scale {:.1e} … {:.1e}",
                        scales.iter().copied().fold(f64::INFINITY, nan_min),
                        scales.iter().copied().fold(0.0, nan_max)
                    )
                };
                format!(
                    ", {} needing a scale beyond the box α ≤ {:.0e}{range}",
                    scales.len(),
                    crate::attack::feasibility::DEFAULT_ALPHA_MAX
                )
            } else {
                String::new()
            };
            ReportRow::exactly(
                "C2",
                format!(
                    "{} update set, {}, {} {unit} units: min fraction of the twin's 16 targets (COMPLY, p ≥ 0.99) hit after the step, {} runs ({seeds} seeds × η = {}; failed: {} certified infeasible for the construction's directions{no_direction}, {} undecided{beyond_box}, {} missed by the step)",
                    kind.display_name(),
                    rule.display(),
                    units_for(kind, units),
                    hits.len(),
                    rule_etas.join(", "),
                    count("infeasible"),
                    count("undecided"),
                    count("missed"),
                ),
                hits.iter().copied().fold(f64::INFINITY, nan_min),
                1.0,
            )
        };
        for &rule in &self.rules {
            for &kind in &self.kinds {
                rows.push(row(kind, rule, Units::Dormant));
            }
        }
        if self.zero_input {
            for &rule in &self.rules {
                for &kind in &self.kinds {
                    rows.push(row(kind, rule, Units::ZeroInput));
                }
            }
        }
        let batch_row = |kind: UpdateKind, b: usize, units: Units| {
            let of_run = |k: UpdateKind, u: &str, batch: Option<usize>| {
                k == kind && u == units.name() && batch == Some(b)
            };
            let built: Vec<f64> = construct
                .iter()
                .filter(|r| of_run(r.update_kind, &r.units, r.batch))
                .filter_map(|r| r.fresh_batches_all_hit)
                .collect();
            let failed = out
                .failed
                .iter()
                .filter(|f| of_run(f.update_kind, f.units, f.batch))
                .count();
            ReportRow::exactly(
                "C2",
                format!(
                    "{} update set, SGD on a mini-batch of {b} of the 32 samples, {} {} units: min over {} runs ({seeds} seeds × η = {}) of the fraction of {} fresh batches after whose step the twin (built for {} sampled batches) hits all 16 targets; {failed} constructions failed (counted as 0)",
                    kind.display_name(),
                    units_for(kind, units),
                    units.name(),
                    built.len() + failed,
                    self.etas.iter().map(|e| format!("{e:e}")).collect::<Vec<_>>().join(", "),
                    super::FRESH_BATCHES,
                    super::CONSTRUCTION_BATCHES,
                ),
                if failed > 0 {
                    0.0
                } else {
                    built.iter().copied().fold(f64::INFINITY, nan_min)
                },
                1.0,
            )
        };
        for &b in &self.batches {
            for &kind in self.kinds.iter().filter(|k| k.labels_target()) {
                rows.push(batch_row(kind, b, Units::Dormant));
            }
            if self.zero_input {
                // A set of fewer than `b` samples has no mini-batch of `b` (one sample).
                for &kind in self.kinds.iter().filter(|k| b < k.samples(32)) {
                    rows.push(batch_row(kind, b, Units::ZeroInput));
                }
            }
        }
        rows
    }
}

impl ConstructSweep {
    /// The largest parameter the twin needs against `η`, per update-set kind,
    /// for `units` on the kinds they are the default for (dormant units on
    /// the sets that label the target, zero-input units on the others).
    fn magnitude_figure(&self, construct: &[ConstructRecord], units: Units) -> crate::plot::Chart {
        use crate::plot::{Chart, Legend, Series, Style};
        let mut series: Vec<Series> = Vec::new();
        let kinds = self
            .kinds
            .iter()
            .filter(|k| k.labels_target() == (units == Units::Dormant));
        for &kind in kinds {
            let points: Vec<(f64, f64)> = construct
                .iter()
                .filter(|r| r.update_kind == kind && r.units == units.name())
                .map(|r| (r.eta, r.twin_max_abs_param))
                .collect();
            if points.is_empty() {
                continue;
            }
            series.push(Series {
                label: format!(
                    "twin, {} update set ({} {} units, 16 targets)",
                    kind.display_name(),
                    units_for(kind, units),
                    units.name()
                ),
                points,
                style: Style::Markers,
            });
        }
        series.push(Series {
            label: "aligned model (same architecture)".into(),
            points: construct
                .iter()
                .filter(|r| r.update_kind == UpdateKind::Benign)
                .map(|r| (r.eta, r.aligned_max_abs_param))
                .collect(),
            style: Style::Dashed,
        });
        let title = match units {
            Units::Dormant => "Dormant-unit twin: parameter magnitude needed vs learning rate",
            Units::ZeroInput => "Zero-input twin: parameter magnitude needed vs learning rate",
        };
        Chart {
            title: title.into(),
            x_label: "learning rate η (log scale)".into(),
            y_label: "max |parameter| (log scale)".into(),
            log_x: true,
            log_y: true,
            // The data fall with η from the upper left; the lower right is free.
            legend: Legend::LowerRight,
            series,
        }
    }
}
