//! `hairtrigger scaling`: both readings of claim C3 — breadth
//! ([`super::breadth`]) and severity ([`super::severity`]) — with fits,
//! data (CSV + JSON) and figures (SVG + PNG).
//!
//! Breadth: `K*` against the number of extra parameters `P = m(n_in + 1 + k)`,
//! fitted by least squares `K* = a + b P` over every `(m, seed)` point (R²,
//! 95% CIs), with the constructive lower bound and the sign-pattern upper bound.
//! Severity: the hidden post-step margin change against `m` (at `B₀`) and `B`
//! (at fixed `m`), power-law fits (`∝ m^1`, `∝ B^2` predicted), and the largest
//! relative deviation of the measured change from `m B² φ₁*`.

//!
//! Submodules: [`breadth`] and [`severity`] (the two readings), [`certified`]
//! (severity found by the search against its certified upper bound, and
//! [`rescaled`], the family that rescales the base's own units), [`dims`]
//! (breadth across input dimensions: per unit or per parameter), [`shard`] (slices of a sweep and their merge), [`figures`]
//! (the three figures), [`claims`] (`reproduce`'s C3 rows).

pub mod breadth;
pub mod certified;
pub mod claims;
pub mod dims;
pub mod figures;
pub mod rescaled;
pub mod severity;
pub mod shard;

pub use shard::{merge_shards, parse_shard, read_shard, run_shard, Shard, ShardOutput};

use crate::error::Result;
use crate::experiments::output::{write_json, write_records};
use crate::experiments::scaling::breadth::{BreadthConfig, BreadthPoint, BreadthTry};
use crate::experiments::scaling::severity::{SeverityAxis, SeverityConfig, SeverityRecord};
use crate::progress::Progress;
use crate::stats::{fit_line, fit_power_law, LineFit};
use figures::{breadth_chart, severity_charts};
use serde::Serialize;
use std::path::Path;

/// Validated settings of [`run_scaling`].
#[derive(Clone, Debug)]
pub struct ScalingConfig {
    breadth: BreadthConfig,
    widths: Vec<usize>,
    seeds: Vec<u64>,
    severity: SeverityConfig,
}

impl ScalingConfig {
    /// Breadth at redundant widths `widths` (each ≥ 1) and `seeds`, and the
    /// severity sweeps of `severity`.
    pub fn new(
        breadth: BreadthConfig,
        widths: Vec<usize>,
        seeds: Vec<u64>,
        severity: SeverityConfig,
    ) -> Result<Self> {
        if widths.is_empty() || seeds.is_empty() {
            return Err(crate::Error::EmptyData("breadth sweep (widths × seeds)"));
        }
        if widths.contains(&0) {
            return Err(crate::Error::InvalidParameter {
                name: "redundant units",
                value: 0.0,
                expected: "must be at least 1",
            });
        }
        Ok(Self {
            breadth,
            widths,
            seeds,
            severity,
        })
    }

    /// `count` redundant widths spaced geometrically from `lo` to `hi` (rounded,
    /// duplicates removed).
    pub fn geometric_widths(lo: usize, hi: usize, count: usize) -> Vec<usize> {
        let (l, h) = ((lo.max(1)) as f64, (hi.max(lo.max(1))) as f64);
        let mut w: Vec<usize> = (0..count)
            .map(|i| {
                let t = if count > 1 {
                    i as f64 / (count - 1) as f64
                } else {
                    0.0
                };
                (l * (h / l).powf(t)).round() as usize
            })
            .collect();
        w.dedup();
        w
    }

    /// Choose how the breadth attempts find their scales.
    pub fn with_lp_solver(mut self, solver: crate::attack::Solver) -> Self {
        self.breadth = self.breadth.with_lp_solver(solver);
        self
    }

    /// Input dimension of the breadth base model.
    pub fn input_dim(&self) -> usize {
        self.breadth.input_dim()
    }

    /// Number of `(m, seed)` breadth points.
    pub fn breadth_points(&self) -> usize {
        self.widths.len() * self.seeds.len()
    }
}

/// Everything [`run_scaling`] measured.
#[derive(Clone, Debug, Serialize)]
pub struct ScalingResult {
    pub breadth: Vec<BreadthPoint>,
    #[serde(skip)]
    pub tries: Vec<BreadthTry>,
    /// `K* = a + b P` over all points.
    pub breadth_fit: LineFit,
    /// Points with `K_lb ≤ K* ≤ K_ub`.
    pub between_bounds: usize,
    pub severity: Vec<SeverityRecord>,
    /// `ln S = ln c + p ln m` (prediction `p = 1`).
    pub severity_width_fit: LineFit,
    /// `ln S = ln c + p ln B` (prediction `p = 2`).
    pub severity_bound_fit: LineFit,
    /// `max |S_measured − m B² φ₁*| / (m B² φ₁*)`.
    pub severity_max_rel_error: f64,
}

impl ScalingConfig {
    pub(crate) fn jobs(&self) -> Vec<(usize, u64)> {
        self.widths
            .iter()
            .flat_map(|&m| self.seeds.iter().map(move |&s| (m, s)))
            .collect()
    }

    /// The sweep's settings as structured JSON (compared field by field
    /// when slices are merged; floats round-trip exactly).
    pub fn settings(&self) -> serde_json::Value {
        serde_json::json!({
            "breadth": self.breadth,
            "widths": self.widths,
            "seeds": self.seeds,
            "severity": self.severity,
        })
    }
}

/// Run the whole sweep (one slice) and finish it.
pub fn run_scaling(cfg: &ScalingConfig, bar: &dyn Progress) -> Result<ScalingResult> {
    merge_shards(cfg, vec![run_shard(cfg, Shard::ALL, bar)?])
}

/// Fits, bounds check and severity summary of complete sweeps.
pub(crate) fn finish(
    breadth: Vec<BreadthPoint>,
    severity: Vec<SeverityRecord>,
) -> Result<ScalingResult> {
    let tries = breadth.iter().flat_map(|p| p.tries.clone()).collect();
    let x: Vec<f64> = breadth.iter().map(|p| p.extra_params as f64).collect();
    let y: Vec<f64> = breadth.iter().map(|p| p.k_star as f64).collect();
    let breadth_fit = fit_line(&x, &y)?;
    let between_bounds = breadth
        .iter()
        .filter(|p| p.k_lower <= p.k_star && p.k_star <= p.k_upper)
        .count();
    let pick = |sweep: SeverityAxis| -> Vec<&SeverityRecord> {
        severity.iter().filter(|r| r.sweep == sweep).collect()
    };
    let w = pick(SeverityAxis::Width);
    let b = pick(SeverityAxis::Bound);
    let severity_width_fit = fit_power_law(
        &w.iter().map(|r| r.redundant as f64).collect::<Vec<_>>(),
        &w.iter().map(|r| r.measured).collect::<Vec<_>>(),
    )?;
    let severity_bound_fit = fit_power_law(
        &b.iter().map(|r| r.bound).collect::<Vec<_>>(),
        &b.iter().map(|r| r.measured).collect::<Vec<_>>(),
    )?;
    let severity_max_rel_error = severity
        .iter()
        .fold(0.0f64, |m, r| crate::finite::nan_max(m, r.rel_error));
    Ok(ScalingResult {
        breadth,
        tries,
        breadth_fit,
        between_bounds,
        severity,
        severity_width_fit,
        severity_bound_fit,
        severity_max_rel_error,
    })
}

/// Write `breadth.{csv,json}`, `breadth_tries.{csv,json}`,
/// `severity.{csv,json}`, `scaling_fits.json` and the figures
/// `breadth`, `severity_width`, `severity_bound` (`.svg` + `.png`) in `dir`.
pub fn write_scaling(dir: &Path, r: &ScalingResult) -> Result<()> {
    write_records(dir, "breadth", &r.breadth)?;
    write_records(dir, "breadth_tries", &r.tries)?;
    write_records(dir, "severity", &r.severity)?;
    write_json(
        &dir.join("scaling_fits.json"),
        &serde_json::json!({
            "breadth_fit": r.breadth_fit,
            "between_bounds": r.between_bounds,
            "breadth_points": r.breadth.len(),
            "severity_width_fit": r.severity_width_fit,
            "severity_bound_fit": r.severity_bound_fit,
            "severity_max_rel_error": r.severity_max_rel_error,
        }),
    )?;
    breadth_chart(r).write_figures(dir, "breadth")?;
    let (wc, bc) = severity_charts(r);
    wc.write_figures(dir, "severity_width")?;
    bc.write_figures(dir, "severity_bound")
}
