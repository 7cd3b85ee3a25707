//! C3 breadth across input dimensions and across numbers of classes: is the
//! capacity per redundant unit or per parameter, and is it linear?
//!
//! At a fixed shape `[n_in, 32, k]` the extra parameters are
//! `P = m(n_in + 1 + k)`, proportional to `m`, so one sweep cannot tell "one
//! behaviour per unit" from "a fixed number per parameter". This sweep
//! repeats the breadth point ([`super::breadth`], LP-certified `K*`) for base
//! networks of several shapes at the same widths `m` and seeds — along one
//! axis at a time:
//!
//! - **input dimension** ([`BreadthDims::new`]): `[n_in, 32, 4]`,
//!   `n_in ∈ {8, 32, 128}`: each unit's incoming weights grow with `n_in`;
//! - **classes** ([`BreadthDims::across_classes`]): `[n_in, 32, k]` at one
//!   `n_in`, e.g. `k ∈ {3, 4, 8, 16}`: each unit's outgoing weights grow with
//!   `k`, and so does the number of competitors a target must beat
//!   (`k − 1` LP rows per target, drawn from the `k − 1` classes the base
//!   does not answer).
//!
//! On the pooled points it compares two one-slope models with the same
//! number of parameters:
//!
//! - **per unit**: `K* = a + b·m` (`b` common to every shape),
//! - **per parameter**: `K* = a + c·P`,
//!
//! by their residual sums of squares (equal parameter counts, so this is
//! also their AIC order). The paper's claim is the second: hidden capacity
//! grows with the parameters added. Linearity is checked per shape against a power law
//! `K* = c·m^p` fitted on log–log (its slope's 95% CI is reported) by the
//! residual sum of squares of both curves in `K*` itself.

use super::breadth::{BreadthConfig, BreadthSetup};
use crate::error::{Error, Result};
use crate::experiments::output::{write_json, write_records};
use crate::experiments::report::{Artifacts, Experiment, ReportRow};
use crate::net::{Activation, Architecture};
use crate::plot::{Chart, Legend, Series, Style};
use crate::progress::Progress;
use crate::stats::{fit_line, fit_power_law, LineFit};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;

/// The classes of the input-dimension sweep (the main breadth setting's).
const DIMS_CLASSES: usize = 4;

/// Which shape parameter a [`BreadthDims`] sweep varies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ShapeAxis {
    /// `n_in` varies, `k = 4`.
    InputDim,
    /// `k` varies at one `n_in`.
    Classes,
}

/// Validated settings: the base shapes `(n_in, k)` along one axis, redundant
/// widths and seeds (the breadth setting of [`BreadthConfig::standard`]
/// otherwise).
#[derive(Clone, Debug)]
pub struct BreadthDims {
    shapes: Vec<(usize, usize)>,
    axis: ShapeAxis,
    widths: Vec<usize>,
    seeds: Vec<u64>,
}

impl BreadthDims {
    /// Across input dimensions (`k = 4`): at least 2 input dimensions and 3
    /// widths (for a fit per dimension), every entry ≥ 1, at least one seed.
    pub fn new(dims: Vec<usize>, widths: Vec<usize>, seeds: Vec<u64>) -> Result<Self> {
        let shapes = dims.iter().map(|&d| (d, DIMS_CLASSES)).collect();
        Self::checked(shapes, ShapeAxis::InputDim, widths, seeds)
    }

    /// Across numbers of classes at input dimension `input_dim`: at least 2
    /// class counts, each ≥ 3 (a target is drawn from the `k − 1` classes
    /// the base does not answer, independently of the others), and 3 widths.
    pub fn across_classes(
        input_dim: usize,
        classes: Vec<usize>,
        widths: Vec<usize>,
        seeds: Vec<u64>,
    ) -> Result<Self> {
        if let Some(&k) = classes.iter().find(|&&k| k < 3) {
            return Err(Error::InvalidParameter {
                name: "classes",
                value: k as f64,
                expected: "at least 3 per base (targets drawn from k − 1 ≥ 2 classes)",
            });
        }
        let shapes = classes.iter().map(|&k| (input_dim, k)).collect();
        Self::checked(shapes, ShapeAxis::Classes, widths, seeds)
    }

    fn checked(
        shapes: Vec<(usize, usize)>,
        axis: ShapeAxis,
        widths: Vec<usize>,
        seeds: Vec<u64>,
    ) -> Result<Self> {
        if shapes.len() < 2 || widths.len() < 3 || seeds.is_empty() {
            return Err(Error::InvalidParameter {
                name: "breadth across shapes",
                value: shapes.len().min(widths.len()) as f64,
                expected:
                    "at least 2 shapes (input dimensions or class counts), 3 widths and 1 seed",
            });
        }
        if shapes.iter().any(|&(n_in, _)| n_in == 0) {
            return Err(Error::InvalidParameter {
                name: "input dimension",
                value: 0.0,
                expected: "must be at least 1",
            });
        }
        if widths.contains(&0) {
            return Err(Error::InvalidParameter {
                name: "redundant units",
                value: 0.0,
                expected: "must be at least 1",
            });
        }
        Ok(Self {
            shapes,
            axis,
            widths,
            seeds,
        })
    }

    fn setup(&self, (n_in, k): (usize, usize)) -> Result<BreadthSetup> {
        let k_max = 4 * self.widths.iter().copied().max().unwrap_or(1) + 64;
        let arch = Architecture::new(vec![n_in, 32, k], Activation::Relu, true)?;
        BreadthSetup::new(BreadthConfig::new(arch, 0, 32, 1e-3, 0.9, k_max)?)
    }

    /// The varied parameter of a shape.
    fn varied(&self, (n_in, k): (usize, usize)) -> usize {
        match self.axis {
            ShapeAxis::InputDim => n_in,
            ShapeAxis::Classes => k,
        }
    }

    /// `n_in` or `k`, as the rows and the figure name it.
    fn symbol(&self) -> &'static str {
        match self.axis {
            ShapeAxis::InputDim => "n_in",
            ShapeAxis::Classes => "k",
        }
    }

    /// Output stem: `breadth_dims` or `breadth_classes`.
    fn stem(&self) -> &'static str {
        self.names().0
    }

    /// The fits' file, `STEM_fits.json`.
    fn fits_file(&self) -> &'static str {
        self.names().1
    }

    /// `(stem, fits file)` of the axis, in one place.
    fn names(&self) -> (&'static str, &'static str) {
        match self.axis {
            ShapeAxis::InputDim => ("breadth_dims", "breadth_dims_fits.json"),
            ShapeAxis::Classes => ("breadth_classes", "breadth_classes_fits.json"),
        }
    }
}

/// One `(n_in, k, m, seed)` point.
#[derive(Clone, Debug, Serialize)]
pub struct DimsPoint {
    pub input_dim: usize,
    /// Classes `k` of the base (4 in the input-dimension sweep).
    pub classes: usize,
    pub redundant: usize,
    pub extra_params: usize,
    pub seed: u64,
    pub k_star: usize,
    pub k_star_certified: bool,
}

/// The fits of one base shape.
#[derive(Clone, Debug, Serialize)]
pub struct DimFit {
    pub input_dim: usize,
    pub classes: usize,
    /// `K* = a + b m`.
    pub affine: LineFit,
    /// `ln K* = ln c + p ln m`.
    pub power: LineFit,
    /// Residual sums of squares in `K*` of the two curves.
    pub ssr_affine: f64,
    pub ssr_power: f64,
}

/// Everything the sweep measured.
#[derive(Clone, Debug, Serialize)]
pub struct DimsResult {
    pub points: Vec<DimsPoint>,
    pub per_dim: Vec<DimFit>,
    /// Pooled one-slope models: `K* = a + b m` and `K* = a + c P`.
    pub per_unit: LineFit,
    pub per_parameter: LineFit,
    pub ssr_per_unit: f64,
    pub ssr_per_parameter: f64,
}

fn ssr(x: &[f64], y: &[f64], f: impl Fn(f64) -> f64) -> f64 {
    x.iter().zip(y).map(|(&xi, &yi)| (yi - f(xi)).powi(2)).sum()
}

/// Run every point (in parallel over points) and fit.
pub fn run_dims(cfg: &BreadthDims, progress: &dyn Progress) -> Result<DimsResult> {
    let setups = cfg
        .shapes
        .iter()
        .map(|&shape| cfg.setup(shape))
        .collect::<Result<Vec<_>>>()?;
    let jobs: Vec<(usize, usize, u64)> = (0..cfg.shapes.len())
        .flat_map(|i| {
            cfg.widths
                .iter()
                .flat_map(move |&m| cfg.seeds.iter().map(move |&s| (i, m, s)))
        })
        .collect();
    let points = jobs
        .par_iter()
        .map(|&(i, m, s)| {
            let p = setups[i].search(m, s)?;
            progress.inc(1);
            Ok(DimsPoint {
                input_dim: cfg.shapes[i].0,
                classes: cfg.shapes[i].1,
                redundant: m,
                extra_params: p.extra_params,
                seed: s,
                k_star: p.k_star,
                k_star_certified: p.k_star_certified,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut per_dim = Vec::new();
    for &(d, c) in &cfg.shapes {
        let pts: Vec<&DimsPoint> = points
            .iter()
            .filter(|p| p.input_dim == d && p.classes == c)
            .collect();
        let m: Vec<f64> = pts.iter().map(|p| p.redundant as f64).collect();
        let k: Vec<f64> = pts.iter().map(|p| p.k_star as f64).collect();
        let affine = fit_line(&m, &k)?;
        // The power law is fitted on log–log, which needs K* ≥ 1: a point with
        // K* = 0 enters it as 1 (its SSR below is against the true 0).
        let k_pos: Vec<f64> = k.iter().map(|&v| v.max(1.0)).collect();
        let power = fit_power_law(&m, &k_pos)?;
        per_dim.push(DimFit {
            input_dim: d,
            classes: c,
            ssr_affine: ssr(&m, &k, |x| affine.predict(x)),
            ssr_power: ssr(&m, &k, |x| (power.intercept + power.slope * x.ln()).exp()),
            affine,
            power,
        });
    }
    let k: Vec<f64> = points.iter().map(|p| p.k_star as f64).collect();
    let m: Vec<f64> = points.iter().map(|p| p.redundant as f64).collect();
    let pp: Vec<f64> = points.iter().map(|p| p.extra_params as f64).collect();
    let per_unit = fit_line(&m, &k)?;
    let per_parameter = fit_line(&pp, &k)?;
    Ok(DimsResult {
        ssr_per_unit: ssr(&m, &k, |x| per_unit.predict(x)),
        ssr_per_parameter: ssr(&pp, &k, |x| per_parameter.predict(x)),
        points,
        per_dim,
        per_unit,
        per_parameter,
    })
}

fn dims_chart(cfg: &BreadthDims, r: &DimsResult) -> Chart {
    let mut series = Vec::new();
    for f in &r.per_dim {
        series.push(Series {
            label: format!(
                "{} = {}: K* = {:.1} + {:.3} m, log-log slope {:.3} [{:.3}, {:.3}]",
                cfg.symbol(),
                cfg.varied((f.input_dim, f.classes)),
                f.affine.intercept,
                f.affine.slope,
                f.power.slope,
                f.power.slope_ci95.0,
                f.power.slope_ci95.1
            ),
            points: r
                .points
                .iter()
                .filter(|p| p.input_dim == f.input_dim && p.classes == f.classes && p.k_star > 0)
                .map(|p| (p.redundant as f64, p.k_star as f64))
                .collect(),
            style: Style::Markers,
        });
    }
    Chart {
        title: cfg.name().into(),
        x_label: "redundant units m".into(),
        y_label: "targets hit after one step, K* (LP-certified)".into(),
        log_x: true,
        log_y: true,
        legend: Legend::UpperLeft,
        series,
    }
}

impl Experiment for BreadthDims {
    type Output = DimsResult;

    fn name(&self) -> &'static str {
        match self.axis {
            ShapeAxis::InputDim => "C3 breadth across input dimensions",
            ShapeAxis::Classes => "C3 breadth across numbers of classes",
        }
    }

    fn work(&self) -> u64 {
        (self.shapes.len() * self.widths.len() * self.seeds.len()) as u64
    }

    fn run(&self, progress: &dyn Progress) -> Result<DimsResult> {
        run_dims(self, progress)
    }

    fn write(&self, r: &DimsResult, dir: &Path) -> Result<Artifacts> {
        let stem = self.stem();
        write_records(dir, stem, &r.points)?;
        let fits = self.fits_file();
        write_json(
            &dir.join(fits),
            &serde_json::json!({
                "per_dim": r.per_dim,
                "per_unit": r.per_unit,
                "per_parameter": r.per_parameter,
                "ssr_per_unit": r.ssr_per_unit,
                "ssr_per_parameter": r.ssr_per_parameter,
            }),
        )?;
        dims_chart(self, r).write_figures(dir, stem)?;
        Ok(Artifacts {
            figures: vec![stem],
            tables: vec![stem],
            files: vec![fits],
        })
    }

    fn claims(&self, r: &DimsResult) -> Vec<ReportRow> {
        let n = r.points.len();
        let certified = r.points.iter().filter(|p| p.k_star_certified).count();
        let sym = self.symbol();
        let values: Vec<String> = r
            .per_dim
            .iter()
            .map(|f| self.varied((f.input_dim, f.classes)).to_string())
            .collect();
        let axis = match self.axis {
            ShapeAxis::InputDim => format!("{sym} ∈ {{{}}}", values.join(", ")),
            ShapeAxis::Classes => format!(
                "{sym} ∈ {{{}}} (n_in = {})",
                values.join(", "),
                self.shapes[0].0
            ),
        };
        let min_r2 = r
            .per_dim
            .iter()
            .map(|f| f.affine.r_squared.unwrap_or(f64::NAN))
            .fold(f64::INFINITY, crate::finite::nan_min);
        let worst_ratio = r
            .per_dim
            .iter()
            .map(|f| f.ssr_affine / f.ssr_power)
            .fold(0.0f64, crate::finite::nan_max);
        let slopes: Vec<String> = r
            .per_dim
            .iter()
            .map(|f| {
                format!(
                    "{}: {:.3} [{:.3}, {:.3}]",
                    self.varied((f.input_dim, f.classes)),
                    f.power.slope,
                    f.power.slope_ci95.0,
                    f.power.slope_ci95.1
                )
            })
            .collect();
        vec![
            ReportRow::at_least(
                "C3 breadth",
                format!(
                    "across {axis}: min over {sym} of R² of K* = a + b·m ({n} points, {certified} certified)"
                ),
                min_r2,
                0.98,
            ),
            ReportRow::at_most(
                "C3 breadth",
                format!(
                    "across {sym}: max over {sym} of SSR(affine in m) / SSR(power law c·m^p) — linear at least as good as a power law (log-log slopes with 95% CI: {})",
                    slopes.join("; ")
                ),
                worst_ratio,
                1.0,
            ),
            ReportRow::at_most(
                "C3 breadth",
                format!(
                    "across {sym}: SSR of one slope per parameter (K* = {:.1} + {:.5} P) / SSR of one slope per unit (K* = {:.1} + {:.3} m) — capacity grows with parameters, not with units",
                    r.per_parameter.intercept, r.per_parameter.slope, r.per_unit.intercept, r.per_unit.slope
                ),
                r.ssr_per_parameter / r.ssr_per_unit,
                1.0,
            ),
        ]
    }
}
