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

use crate::error::{Error, Result};
use crate::experiments::breadth::{BreadthConfig, BreadthPoint, BreadthSetup, BreadthTry};
use crate::experiments::output::{write_json, write_records};
use crate::experiments::severity::{run_severity, SeverityConfig, SeverityRecord};
use crate::plot::{Chart, Legend, Series, Style};
use crate::stats::{fit_line, fit_power_law, LineFit};
use indicatif::ProgressBar;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
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

/// One slice `i/n` (`0 ≤ i < n`) of a sweep: breadth job `j` (in the order
/// widths × seeds) belongs to slice `j mod n`; slice 0 also runs the severity
/// sweeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// The whole sweep as one slice.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    /// Parse `i/n`.
    pub fn parse(s: &str) -> Result<Self> {
        let bad = |reason: &str| Error::Parse {
            what: "shard",
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| bad("expected i/n, e.g. 0/4"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("i is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("n is not a number"))?;
        if count == 0 || index >= count {
            return Err(bad("need 0 ≤ i < n"));
        }
        Ok(Self { index, count })
    }
}

/// What one slice computed: its breadth points (with every attempt) by job
/// index, and the severity records (slice 0 only). Written as
/// `shard-i-of-n.json`; [`merge_shards`] puts slices back together.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardOutput {
    /// The sweep's settings as JSON: slices of different sweeps do not merge.
    pub settings: String,
    pub shard: Shard,
    pub jobs: usize,
    pub points: Vec<(usize, BreadthPoint)>,
    pub tries: Vec<(usize, Vec<BreadthTry>)>,
    pub severity: Vec<SeverityRecord>,
}

impl ScalingConfig {
    fn jobs(&self) -> Vec<(usize, u64)> {
        self.widths
            .iter()
            .flat_map(|&m| self.seeds.iter().map(move |&s| (m, s)))
            .collect()
    }

    fn settings(&self) -> String {
        format!(
            "{:?}",
            (&self.breadth, &self.widths, &self.seeds, &self.severity)
        )
    }
}

/// Run slice `shard` of the sweep (parallel over its breadth points, largest
/// widths first); `bar` advances once per breadth point.
pub fn run_shard(cfg: &ScalingConfig, shard: Shard, bar: &ProgressBar) -> Result<ShardOutput> {
    let setup = BreadthSetup::new(cfg.breadth.clone())?;
    let jobs = cfg.jobs();
    let mut mine: Vec<usize> = (0..jobs.len())
        .filter(|j| j % shard.count == shard.index)
        .collect();
    mine.sort_by_key(|&j| std::cmp::Reverse(jobs[j].0));
    let mut done: Vec<(usize, BreadthPoint)> = mine
        .par_iter()
        .map(|&j| {
            let (m, s) = jobs[j];
            let p = setup.search(m, s);
            bar.inc(1);
            p.map(|p| (j, p))
        })
        .collect::<Result<_>>()?;
    done.sort_by_key(|(j, _)| *j);
    let tries = done.iter().map(|(j, p)| (*j, p.tries.clone())).collect();
    let severity = if shard.index == 0 {
        run_severity(&cfg.severity)?
    } else {
        Vec::new()
    };
    Ok(ShardOutput {
        settings: cfg.settings(),
        shard,
        jobs: jobs.len(),
        points: done,
        tries,
        severity,
    })
}

/// Put slices back together: every slice of one sweep (same settings, same
/// `n`, each index once), every job exactly once. The result equals a single
/// run's, bit for bit.
pub fn merge_shards(cfg: &ScalingConfig, shards: Vec<ShardOutput>) -> Result<ScalingResult> {
    let n = shards.first().map_or(0, |s| s.shard.count);
    let mismatch = |reason: String| Error::Parse {
        what: "shard set",
        input: format!("{} slice(s)", shards.len()),
        reason,
    };
    if shards.len() != n {
        return Err(mismatch(format!(
            "expected {n} slices, got {}",
            shards.len()
        )));
    }
    let mut seen = vec![false; n];
    let job_list = cfg.jobs();
    let jobs = job_list.len();
    let mut points: Vec<Option<BreadthPoint>> = vec![None; jobs];
    let mut severity = Vec::new();
    for s in &shards {
        // A shard file is user input: its slice identity is checked here, not
        // trusted from the file (`Shard::parse` never saw it).
        if s.shard.count != n || s.shard.index >= n {
            return Err(mismatch(format!(
                "slice {}/{} is not one of {n} slices 0/{n} … {}/{n}",
                s.shard.index,
                s.shard.count,
                n.saturating_sub(1)
            )));
        }
        if s.settings != cfg.settings() || s.jobs != jobs {
            return Err(mismatch(format!(
                "slice {}/{} belongs to a different sweep",
                s.shard.index, s.shard.count
            )));
        }
        for (j, p) in &s.points {
            let Some(&(m, seed)) = job_list.get(*j) else {
                return Err(mismatch(format!("job {j} out of range (0..{jobs})")));
            };
            if j % n != s.shard.index {
                return Err(mismatch(format!(
                    "job {j} belongs to slice {}/{n}, not to slice {}/{n} that holds it",
                    j % n,
                    s.shard.index
                )));
            }
            if (p.redundant, p.seed) != (m, seed) {
                return Err(mismatch(format!(
                    "job {j} is (m = {m}, seed {seed}) but its point is (m = {}, seed {})",
                    p.redundant, p.seed
                )));
            }
        }
        if let Some((j, _)) = s
            .tries
            .iter()
            .find(|(j, _)| !s.points.iter().any(|(k, _)| k == j))
        {
            return Err(mismatch(format!(
                "slice {}/{n} has attempts for job {j} but no point for it",
                s.shard.index
            )));
        }
        if std::mem::replace(&mut seen[s.shard.index], true) {
            return Err(mismatch(format!(
                "slice {}/{n} appears twice",
                s.shard.index
            )));
        }
        let tries: std::collections::BTreeMap<usize, &Vec<BreadthTry>> =
            s.tries.iter().map(|(j, t)| (*j, t)).collect();
        for (j, p) in &s.points {
            let mut p = p.clone();
            p.tries = tries.get(j).map(|t| (*t).clone()).unwrap_or_default();
            let slot = points
                .get_mut(*j)
                .ok_or_else(|| mismatch(format!("job {j} out of range")))?;
            if slot.replace(p).is_some() {
                return Err(mismatch(format!("job {j} appears twice")));
            }
        }
        if s.shard.index == 0 {
            severity = s.severity.clone();
        }
    }
    let breadth = points
        .into_iter()
        .enumerate()
        .map(|(j, p)| p.ok_or_else(|| mismatch(format!("job {j} is missing"))))
        .collect::<Result<Vec<_>>>()?;
    finish(breadth, severity)
}

/// Read a `shard-i-of-n.json` written by `hairtrigger scaling --shard i/n`.
pub fn read_shard(path: &Path) -> Result<ShardOutput> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_shard(&text, &path.display().to_string())
}

/// [`read_shard`] on text already in memory; `origin` names it in errors.
/// The slice's identity and jobs are checked by [`merge_shards`], not here.
pub fn parse_shard(text: &str, origin: &str) -> Result<ShardOutput> {
    serde_json::from_str(text).map_err(|e| Error::Parse {
        what: "shard file",
        input: origin.to_string(),
        reason: e.to_string(),
    })
}

/// Run the whole sweep (one slice) and finish it.
pub fn run_scaling(cfg: &ScalingConfig, bar: &ProgressBar) -> Result<ScalingResult> {
    merge_shards(cfg, vec![run_shard(cfg, Shard::ALL, bar)?])
}

/// Fits, bounds check and severity summary of complete sweeps.
fn finish(breadth: Vec<BreadthPoint>, severity: Vec<SeverityRecord>) -> Result<ScalingResult> {
    let tries = breadth.iter().flat_map(|p| p.tries.clone()).collect();
    let x: Vec<f64> = breadth.iter().map(|p| p.extra_params as f64).collect();
    let y: Vec<f64> = breadth.iter().map(|p| p.k_star as f64).collect();
    let breadth_fit = fit_line(&x, &y)?;
    let between_bounds = breadth
        .iter()
        .filter(|p| p.k_lower <= p.k_star && p.k_star <= p.k_upper)
        .count();
    let pick = |sweep: &str| -> Vec<&SeverityRecord> {
        severity.iter().filter(|r| r.sweep == sweep).collect()
    };
    let w = pick("width");
    let b = pick("bound");
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

fn breadth_chart(r: &ScalingResult) -> Chart {
    let f = &r.breadth_fit;
    let mut widths: Vec<(usize, usize)> = r
        .breadth
        .iter()
        .map(|p| (p.extra_params, p.redundant))
        .collect();
    widths.sort();
    widths.dedup();
    let per_width = |get: &dyn Fn(&BreadthPoint) -> usize| -> Vec<(f64, f64)> {
        widths
            .iter()
            .filter_map(|&(px, m)| {
                r.breadth
                    .iter()
                    .find(|p| p.redundant == m)
                    .map(|p| (px as f64, get(p) as f64))
            })
            .collect()
    };
    let fit_line: Vec<(f64, f64)> = widths
        .iter()
        .map(|&(px, _)| (px as f64, f.predict(px as f64)))
        .filter(|&(_, y)| y > 0.0)
        .collect();
    Chart {
        title: "C3 breadth: hidden behaviours vs overparameterization".into(),
        x_label: "extra parameters P = m(n_in + 1 + k)".into(),
        y_label: "targets hit after one step, K*".into(),
        log_x: true,
        log_y: true,
        legend: Legend::UpperLeft,
        series: vec![
            Series {
                label: "measured K* (each seed)".into(),
                points: r
                    .breadth
                    .iter()
                    .filter(|p| p.k_star > 0)
                    .map(|p| (p.extra_params as f64, p.k_star as f64))
                    .collect(),
                style: Style::Markers,
            },
            Series {
                label: format!(
                    "fit K* = {:.3} + {:.4} P (R² = {})",
                    f.intercept,
                    f.slope,
                    f.r_squared_text(4)
                ),
                points: fit_line,
                style: Style::Line,
            },
            Series {
                label: "constructive lower bound (first seed)".into(),
                points: per_width(&|p| p.k_lower),
                style: Style::Dashed,
            },
            Series {
                label: "sign-pattern upper bound (δ = 0.01)".into(),
                points: per_width(&|p| p.k_upper),
                style: Style::Dashed,
            },
        ],
    }
}

fn severity_charts(r: &ScalingResult) -> (Chart, Chart) {
    let series = |sweep: &str, x: &dyn Fn(&SeverityRecord) -> f64, fit: &LineFit, var: &str| {
        let pts: Vec<&SeverityRecord> = r.severity.iter().filter(|s| s.sweep == sweep).collect();
        vec![
            Series {
                label: format!(
                    "measured (actual SGD step), fitted exponent of {var}: {:.4}",
                    fit.slope
                ),
                points: pts.iter().map(|s| (x(s), s.measured)).collect(),
                style: Style::Markers,
            },
            Series {
                label: "predicted m·B²·φ₁*".into(),
                points: pts.iter().map(|s| (x(s), s.predicted)).collect(),
                style: Style::Dashed,
            },
        ]
    };
    let b0 = r
        .severity
        .iter()
        .find(|s| s.sweep == "width")
        .map_or(f64::NAN, |s| s.bound);
    let m0 = r
        .severity
        .iter()
        .find(|s| s.sweep == "bound")
        .map_or(0, |s| s.redundant);
    (
        Chart {
            title: format!("C3 severity vs width (B = {b0})"),
            x_label: "redundant units m".into(),
            y_label: "post-step change of COMPLY−REFUSE margin (logits)".into(),
            log_x: true,
            log_y: true,
            legend: Legend::UpperLeft,
            series: series("width", &|s| s.redundant as f64, &r.severity_width_fit, "m"),
        },
        Chart {
            title: format!("C3 severity vs parameter bound (m = {m0})"),
            x_label: "bound B on every parameter's magnitude".into(),
            y_label: "post-step change of COMPLY−REFUSE margin (logits)".into(),
            log_x: true,
            log_y: true,
            legend: Legend::UpperLeft,
            series: series("bound", &|s| s.bound, &r.severity_bound_fit, "B"),
        },
    )
}
