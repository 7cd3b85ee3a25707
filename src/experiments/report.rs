//! The shape every experiment of `reproduce` has, and the report it feeds.
//!
//! An [`Experiment`] is checked parameters at a scale → [`Experiment::run`]
//! with a progress handle → a serializable output → its artifacts (tables and
//! figures, written by [`Experiment::write`], each named in an [`Artifacts`]
//! list) → its claims ([`Experiment::claims`]: REPORT rows whose thresholds sit
//! beside the experiment that measures them). `reproduce` is a loop over
//! [`Stage`]s (the object-safe form every experiment has), and `REPORT.md`'s
//! list of figures and data files is generated from the artifacts.

use crate::error::Result;
use crate::progress::Progress;
use serde::Serialize;
use std::path::Path;

/// One line of `REPORT.md`: a claim that can fail.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRow {
    pub claim: &'static str,
    pub measured: String,
    /// The measured value; a non-finite one (a failed measurement, always a
    /// FAIL) is written as the string `"undefined: …"`.
    #[serde(serialize_with = "finite_or_undefined")]
    pub value: f64,
    pub tolerance: String,
    pub pass: bool,
}

fn finite_or_undefined<S: serde::Serializer>(
    v: &f64,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_str(&format!("undefined: the measurement gave {v}"))
    }
}

impl ReportRow {
    /// A row that passes when `value ≤ bound` (NaN fails).
    pub fn at_most(
        claim: &'static str,
        measured: impl Into<String>,
        value: f64,
        bound: f64,
    ) -> Self {
        Self::judged(
            claim,
            measured,
            value,
            format!("≤ {bound:e}"),
            value <= bound,
        )
    }

    /// A row that passes when `value ≥ bound` (NaN fails).
    pub fn at_least(
        claim: &'static str,
        measured: impl Into<String>,
        value: f64,
        bound: f64,
    ) -> Self {
        Self::judged(
            claim,
            measured,
            value,
            format!("≥ {bound:e}"),
            value >= bound,
        )
    }

    /// A row that passes when `value == target` exactly (rates).
    pub fn exactly(
        claim: &'static str,
        measured: impl Into<String>,
        value: f64,
        target: f64,
    ) -> Self {
        Self::judged(
            claim,
            measured,
            value,
            format!("= {target}"),
            value == target,
        )
    }

    fn judged(
        claim: &'static str,
        measured: impl Into<String>,
        value: f64,
        tolerance: String,
        pass: bool,
    ) -> Self {
        Self {
            claim,
            measured: measured.into(),
            value,
            tolerance,
            pass,
        }
    }
}

/// The names of what a run wrote, by kind, in the order written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Artifacts {
    /// Figures written as `stem.svg` + `stem.png`.
    pub figures: Vec<&'static str>,
    /// Tables written as `stem.csv` + `stem.json`.
    pub tables: Vec<&'static str>,
    /// Single files (`scaling_fits.json`, …).
    pub files: Vec<&'static str>,
}

impl Artifacts {
    /// Append another run's names after these.
    pub fn extend(&mut self, other: Artifacts) {
        self.figures.extend(other.figures);
        self.tables.extend(other.tables);
        self.files.extend(other.files);
    }

    /// The sentence of `REPORT.md` that lists them.
    pub fn markdown(&self) -> String {
        let quote = |v: &[&str]| {
            v.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        format!(
            "Figures (SVG + PNG): {}. Data (`.csv` + `.json`): {}; {}.",
            quote(&self.figures),
            quote(&self.tables),
            quote(&self.files)
        )
    }
}

/// One experiment: run, write, judge (see the module documentation).
pub trait Experiment: Sync {
    /// What it measured.
    type Output;

    /// Shown beside the progress bar.
    fn name(&self) -> &'static str;

    /// Units of work [`Experiment::run`] reports to its progress handle.
    fn work(&self) -> u64;

    /// Compute, advancing `progress` by [`Experiment::work`] units in all.
    fn run(&self, progress: &dyn Progress) -> Result<Self::Output>;

    /// Write the tables and figures of `out` into `dir`; return their names.
    fn write(&self, out: &Self::Output, dir: &Path) -> Result<Artifacts>;

    /// The REPORT rows `out` supports, each able to fail.
    fn claims(&self, out: &Self::Output) -> Vec<ReportRow>;

    /// An extra Markdown section of `REPORT.md` (after the table), if any.
    fn section(&self, _out: &Self::Output) -> Option<String> {
        None
    }
}

/// What one stage of a report contributed.
#[derive(Clone, Debug, Default)]
pub struct StageReport {
    pub rows: Vec<ReportRow>,
    pub artifacts: Artifacts,
    pub section: Option<String>,
}

/// The object-safe form of an [`Experiment`], so that `reproduce` can hold a
/// list of different experiments.
pub trait Stage: Sync {
    /// See [`Experiment::name`].
    fn name(&self) -> &'static str;
    /// See [`Experiment::work`].
    fn work(&self) -> u64;
    /// Run, write into `dir`, judge.
    fn run_stage(&self, dir: &Path, progress: &dyn Progress) -> Result<StageReport>;
}

impl<E: Experiment> Stage for E {
    fn name(&self) -> &'static str {
        Experiment::name(self)
    }
    fn work(&self) -> u64 {
        Experiment::work(self)
    }
    fn run_stage(&self, dir: &Path, progress: &dyn Progress) -> Result<StageReport> {
        progress.set_message(Experiment::name(self));
        let out = self.run(progress)?;
        Ok(StageReport {
            artifacts: self.write(&out, dir)?,
            rows: self.claims(&out),
            section: self.section(&out),
        })
    }
}

/// Run `f` on every item in parallel (rayon), advancing `progress` by one per
/// item; the results in item order, or the first error. The loop every
/// stage's [`Experiment::run`] shares.
pub fn par_map_runs<I, T, F>(items: &[I], progress: &dyn Progress, f: F) -> Result<Vec<T>>
where
    I: Sync,
    T: Send,
    F: Fn(&I) -> Result<T> + Sync,
{
    use rayon::prelude::*;
    items
        .par_iter()
        .map(|item| {
            let r = f(item);
            progress.inc(1);
            r
        })
        .collect()
}
