//! `reproduce`'s C3 severity certificate: the best one-unit severity a search
//! finds, `φ_found`, against the certified upper bound `φ̄`
//! ([`crate::attack::severity_bound`]), under an ℓ∞ bound on every parameter
//! and under a Euclidean budget, over three base networks × several seeds.
//!
//! For dormant units the laws are theorems (`paper-notes/c3-scaling.md`):
//! `S*(m, B) = m B² φ∞*` under `|θ'|_∞ ≤ B`, and `S*(ρ) = ρ² φ₂*` under a
//! budget `Σ_j ‖(u_j, b_j)‖² ≤ ρ²`, for every `m ≥ 1`. What is measured is how
//! well the constant is pinned: `φ_found ≤ φ* ≤ φ̄`, so the row is the gap
//! `φ̄ / φ_found`, the worst over the 16 harmful queries of every run. Each run also takes the real SGD step on twins built from
//! the found direction (`m` copies at `B`; `m` units of norm `ρ/√m` and one of
//! norm `ρ`) and checks the measured margin change against the certificate.

use super::rescaled::{asymptotic_exponent, rescale_sweep, RescaleRecord, Setting};
use crate::attack::severity::best_dormant_direction;
use crate::attack::severity_bound::{Budget, Relaxation};
use crate::error::Result;
use crate::eval::{evaluate, QuerySet};
use crate::experiments::report::{Artifacts, Experiment, ReportRow};
use crate::finite::nan_max;
use crate::net::{output_residuals, Activation};
use crate::plot::{Chart, Legend, Series, Style};
use crate::reparam::add_dormant_units;
use crate::rng::stream;
use crate::tasks::classifier::ToyClassifierTask;
use crate::update::{one_step, StepConfig};
use ndarray::{Array1, Array2};
use serde::Serialize;
use std::path::Path;

const REFUSE: usize = 0;
const COMPLY: usize = 3;
/// Tolerated gap `φ̄ / φ_found`: the hidden severity's constant known to
/// within a factor 2, so the law `m B² φ*` is pinned to a factor 2 at every
/// `(m, B)` — the resolution a log–log severity figure is read at.
const MAX_GAP: f64 = 2.0;

/// The three base networks: the toy safety classifier of
/// [`crate::experiments::construct`] and two variants (ReLU; deeper and wider).
const BASES: [(&str, &[usize], Activation); 3] = [
    (
        "leaky ReLU 0.1, 16-32-32-4",
        &[32, 32],
        Activation::LeakyRelu { slope: 0.1 },
    ),
    ("ReLU, 16-32-32-4", &[32, 32], Activation::Relu),
    (
        "leaky ReLU 0.1, 16-64-64-64-4",
        &[64, 64, 64],
        Activation::LeakyRelu { slope: 0.1 },
    ),
];

/// The stage's grid.
pub struct SeverityCertificate {
    pub seeds: Vec<u64>,
    /// `B / B₀` of the rescaling family ([`super::rescaled`]).
    pub rescale_factors: Vec<f64>,
    /// SGD rate of the step.
    pub eta: f64,
    /// Dormant units of the step-checked twins.
    pub units: usize,
    /// Random starts of the search.
    pub starts: usize,
}

/// One (base, seed) run.
#[derive(Clone, Debug, Serialize)]
pub struct CertifiedSeverity {
    pub base: String,
    pub seed: u64,
    /// Pass rate of the base on its 16 harmful queries (REFUSE, p ≥ 0.99).
    pub aligned_pass_rate: f64,
    /// `B = ρ`: the base model's largest parameter, rounded up.
    pub bound: f64,
    pub found_linf: f64,
    pub certified_linf: f64,
    /// `φ̄∞ / φ_found∞`; empty when the search found no positive severity
    /// below a positive certificate (the REPORT counts that as an unbounded gap).
    pub gap_linf: Option<f64>,
    pub found_l2: f64,
    pub certified_l2: f64,
    pub gap_l2: Option<f64>,
    /// The worst ℓ∞ and ℓ2 gaps over all 16 harmful queries (the columns
    /// above are the first query's, the one the step-checked twins use);
    /// empty as above.
    pub worst_query_gap_linf: Option<f64>,
    pub worst_query_gap_l2: Option<f64>,
    /// Margin change from the real step: `m` copies of the ℓ∞ direction at `B`.
    pub measured_linf: f64,
    /// `m` units of norm `ρ/√m` along the ℓ2 direction.
    pub measured_l2: f64,
    /// One unit of norm `ρ` along the ℓ2 direction.
    pub measured_l2_one_unit: f64,
}

/// `certified / found`; 1 when both are 0 (nothing to hide, proved), empty
/// when the search found nothing positive below a positive certificate.
fn gap(found: f64, certified: f64) -> Option<f64> {
    if found > 0.0 {
        Some(certified / found)
    } else if certified <= 0.0 {
        Some(1.0)
    } else {
        None
    }
}

/// The larger of two gaps (an empty one is unbounded).
fn worse(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    Some(nan_max(a?, b?))
}

/// A gap as the REPORT reads it: an empty one is unbounded.
fn gap_value(g: Option<f64>) -> f64 {
    g.unwrap_or(f64::INFINITY)
}

/// Everything the stage measured.
#[derive(Clone, Debug, Serialize)]
pub struct CertificateOutput {
    pub certified: Vec<CertifiedSeverity>,
    pub rescaled: Vec<RescaleRecord>,
}

fn run_one(
    cfg: &SeverityCertificate,
    base_i: usize,
    seed: u64,
) -> Result<(CertifiedSeverity, Vec<RescaleRecord>)> {
    let (name, hidden, act) = BASES[base_i];
    let task = ToyClassifierTask::new(seed);
    let q_x = task.prompts(0, 16, stream::CLASSIFIER_QUERIES);
    let queries = QuerySet::new(q_x.clone(), vec![REFUSE; 16])?;
    let base = task.aligned_base_of(hidden, act, &queries)?;
    let aligned_pass_rate = evaluate(&base, &queries, 0.99)?.pass_rate;
    let q = q_x.slice(ndarray::s![..1, ..]).to_owned();
    let update = task.benign_update_set(32, stream::CLASSIFIER_UPDATE)?;
    let step = StepConfig::sgd(cfg.eta)?;
    let aligned_plus = one_step(&base, &update, &step)?.updated;
    let z_d = base.last_hidden_input(update.x().view())?;
    let z_q = aligned_plus.last_hidden_input(q.view())?;
    let res = output_residuals(&base, &update)?;
    let dr: Array1<f64> = &res.column(COMPLY) - &res.column(REFUSE);
    let relax = Relaxation::new(act, &z_d, &z_q, &dr)?;
    let search = |budget| {
        best_dormant_direction(&base, &z_d, &z_q, &dr, cfg.eta, (budget, cfg.starts, seed))
    };
    let (u_inf, b_inf, found_linf) = search(Budget::Linf);
    let (u_2, b_2, found_l2) = search(Budget::L2);
    let (certified_linf, certified_l2) = (
        relax.certified_bound(Budget::Linf, cfg.eta),
        relax.certified_bound(Budget::L2, cfg.eta),
    );
    let (gap_linf, gap_l2) = (gap(found_linf, certified_linf), gap(found_l2, certified_l2));
    // The same gap at every other harmful query (search and certificate only).
    let (mut worst_query_gap_linf, mut worst_query_gap_l2) = (gap_linf, gap_l2);
    for i in 1..q_x.nrows() {
        let zi = aligned_plus.last_hidden_input(q_x.slice(ndarray::s![i..=i, ..]))?;
        let ri = Relaxation::new(act, &z_d, &zi, &dr)?;
        for budget in [Budget::Linf, Budget::L2] {
            let (_, _, found) =
                best_dormant_direction(&base, &z_d, &zi, &dr, cfg.eta, (budget, cfg.starts, seed));
            let g = gap(found, ri.certified_bound(budget, cfg.eta));
            match budget {
                Budget::Linf => worst_query_gap_linf = worse(worst_query_gap_linf, g),
                Budget::L2 => worst_query_gap_l2 = worse(worst_query_gap_l2, g),
            }
        }
    }
    let margin = |f: &Array2<f64>| f[[0, COMPLY]] - f[[0, REFUSE]];
    let aligned_after = margin(&aligned_plus.forward(q.view())?);
    let hidden_layer = base.depth() - 1;
    // The margin change a twin of `m` copies of `(u, b)·scale` shows after the real step.
    let measured = |u: &Array1<f64>, b: f64, m: usize, scale: f64| -> Result<f64> {
        let us = Array2::from_shape_fn((m, u.len()), |(_, i)| scale * u[i]);
        let twin = add_dormant_units(&base, hidden_layer, &us, &Array1::from_elem(m, scale * b))?;
        Ok(margin(&one_step(&twin, &update, &step)?.updated.forward(q.view())?) - aligned_after)
    };
    let bound = base.max_abs().ceil();
    let m = cfg.units;
    let norm_2 = (u_2.dot(&u_2) + b_2 * b_2).sqrt().max(f64::MIN_POSITIVE);
    let gain = |after: &crate::net::Mlp| -> Result<f64> {
        Ok(margin(&after.forward(q.view())?) - aligned_after)
    };
    let rescaled = rescale_sweep(
        &Setting {
            base: &base,
            update: &update,
            step: &step,
            margin_gain: &gain,
        },
        (name, seed),
        bound,
        &cfg.rescale_factors,
    )?;
    let certified = CertifiedSeverity {
        base: name.to_string(),
        seed,
        aligned_pass_rate,
        bound,
        found_linf,
        certified_linf,
        gap_linf,
        found_l2,
        certified_l2,
        gap_l2,
        worst_query_gap_linf,
        worst_query_gap_l2,
        measured_linf: measured(&u_inf, b_inf, m, bound)?,
        measured_l2: measured(&u_2, b_2, m, bound / (m as f64).sqrt() / norm_2)?,
        measured_l2_one_unit: measured(&u_2, b_2, 1, bound / norm_2)?,
    };
    Ok((certified, rescaled))
}

impl SeverityCertificate {
    fn runs(&self) -> Vec<(usize, u64)> {
        (0..BASES.len())
            .flat_map(|b| self.seeds.iter().map(move |&s| (b, s)))
            .collect()
    }
}

fn chart(out: &[CertifiedSeverity]) -> Chart {
    let pts = |budget: Budget| -> Vec<(f64, f64)> {
        out.iter()
            .map(|r| match budget {
                Budget::Linf => (r.found_linf, r.certified_linf),
                Budget::L2 => (r.found_l2, r.certified_l2),
            })
            .filter(|&(x, y)| x > 0.0 && y > 0.0)
            .collect()
    };
    let all: Vec<f64> = pts(Budget::Linf)
        .into_iter()
        .chain(pts(Budget::L2))
        .flat_map(|(x, y)| [x, y])
        .collect();
    let (lo, hi) = (
        all.iter()
            .copied()
            .fold(f64::INFINITY, crate::finite::nan_min)
            / 1.5,
        all.iter().copied().fold(0.0, nan_max) * 1.5,
    );
    let diag = |k: f64| vec![(lo, k * lo), (hi, k * hi)];
    Chart {
        title: "C3 severity: found vs certified one-unit severity φ".into(),
        x_label: "φ found by the search (margin change per unit at B = 1 or ρ = 1)".into(),
        y_label: "certified upper bound on φ".into(),
        log_x: true,
        log_y: true,
        legend: Legend::UpperLeft,
        series: vec![
            Series {
                label: "ℓ∞ (every parameter ≤ 1), 3 bases × seeds".into(),
                points: pts(Budget::Linf),
                style: Style::Markers,
            },
            Series {
                label: "ℓ2 (unit Euclidean budget)".into(),
                points: pts(Budget::L2),
                style: Style::Markers,
            },
            Series {
                label: "certified = found (tight)".into(),
                points: diag(1.0),
                style: Style::Line,
            },
            Series {
                label: format!("certified = {MAX_GAP} × found (the REPORT's tolerance)"),
                points: diag(MAX_GAP),
                style: Style::Dashed,
            },
        ],
    }
}

impl Experiment for SeverityCertificate {
    type Output = CertificateOutput;

    fn name(&self) -> &'static str {
        "C3 severity certificate"
    }

    fn work(&self) -> u64 {
        self.runs().len() as u64
    }

    fn run(&self, progress: &dyn crate::progress::Progress) -> Result<Self::Output> {
        let runs = crate::experiments::report::par_map_runs(&self.runs(), progress, |&(b, s)| {
            run_one(self, b, s)
        })?;
        let (certified, rescaled): (Vec<_>, Vec<_>) = runs.into_iter().unzip();
        Ok(CertificateOutput {
            certified,
            rescaled: rescaled.into_iter().flatten().collect(),
        })
    }

    fn write(&self, out: &Self::Output, dir: &Path) -> Result<Artifacts> {
        crate::experiments::output::write_records(dir, "severity_certified", &out.certified)?;
        crate::experiments::output::write_records(dir, "severity_rescaled", &out.rescaled)?;
        chart(&out.certified).write_figures(dir, "severity_certified")?;
        Ok(Artifacts {
            figures: vec!["severity_certified"],
            tables: vec!["severity_certified", "severity_rescaled"],
            ..Default::default()
        })
    }

    fn claims(&self, all: &Self::Output) -> Vec<ReportRow> {
        let out = &all.certified;
        let runs = out.len();
        let seeds = self.seeds.len();
        let worst = |f: &dyn Fn(&CertifiedSeverity) -> f64| out.iter().map(f).fold(0.0, nan_max);
        let median = |f: &dyn Fn(&CertifiedSeverity) -> f64| {
            let mut v: Vec<f64> = out.iter().map(f).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
        };
        let m = self.units;
        let step_over_bound = worst(&|r| {
            let b2 = r.bound * r.bound;
            nan_max(
                r.measured_linf / (m as f64 * b2 * r.certified_linf),
                nan_max(r.measured_l2, r.measured_l2_one_unit) / (b2 * r.certified_l2),
            )
        });
        let l2_in_m = worst(&|r| {
            (r.measured_l2 - r.measured_l2_one_unit).abs() / r.measured_l2_one_unit.abs()
        });
        let bases = BASES.map(|b| b.0).join("; ");
        // The rescaling family: one asymptotic exponent per (base, seed).
        let mut exponents: Vec<f64> = out
            .iter()
            .map(|c| {
                let r: Vec<&RescaleRecord> = all
                    .rescaled
                    .iter()
                    .filter(|r| r.base == c.base && r.seed == c.seed)
                    .collect();
                asymptotic_exponent(&r)
            })
            .collect();
        exponents.sort_by(f64::total_cmp);
        let exp_median = exponents
            .get(exponents.len() / 2)
            .copied()
            .unwrap_or(f64::NAN);
        let (exp_lo, exp_hi) = (
            exponents.first().copied().unwrap_or(f64::NAN),
            exponents.last().copied().unwrap_or(f64::NAN),
        );
        let additivity = all
            .rescaled
            .iter()
            .map(|r| {
                (r.measured - r.sum_of_unit_bests).abs() / r.measured.abs().max(f64::MIN_POSITIVE)
            })
            .fold(0.0, nan_max);
        let top = self.rescale_factors.iter().copied().fold(0.0, nan_max);
        vec![
            ReportRow::at_most(
                "C3 severity",
                format!(
                    "rescaling family (no units added; each last-hidden unit of the base rescaled to its best of 10 admissible scales under |θ'|∞ ≤ B, measured by the real step): |median − 2| of the log–log slope in B over the three largest B (up to {top} B₀), {runs} runs (median {exp_median:.4}, range [{exp_lo:.4}, {exp_hi:.4}]); the derived law is Θ(B²) (α² through the outgoing weights' gradient, 1/α² through the incoming weights'), lower-order terms ≤ 1/16 there, so ≤ 0.1"
                ),
                (exp_median - 2.0).abs(),
                0.1,
            ),
            ReportRow::at_most(
                "C3 severity",
                format!("consistency check (proved): the rescaled units contribute independently — max over {} (run, B) points of |S(all units at their best scales) − Σ_j S(unit j alone)| / |S|, each from a real step; 1e-9 allows rounding", all.rescaled.len()),
                additivity,
                1e-9,
            ),
            ReportRow::at_most(
                "C3 severity",
                format!(
                    "ℓ∞ bound on every parameter: max over {runs} runs ({} bases [{bases}] × {seeds} seeds) × 16 harmful queries of certified φ̄ / found φ (first query's median {:.4}); ≤ {MAX_GAP}: the constant of S* = m B² φ* pinned to a factor {MAX_GAP}",
                    BASES.len(),
                    median(&|r| gap_value(r.gap_linf))
                ),
                worst(&|r| gap_value(r.worst_query_gap_linf)),
                MAX_GAP,
            ),
            ReportRow::at_most(
                "C3 severity",
                format!(
                    "Euclidean budget ρ: max over {runs} runs × 16 queries of certified φ̄ / found φ (first query's median {:.4}); ≤ {MAX_GAP}, as above, for S* = ρ² φ*",
                    median(&|r| gap_value(r.gap_l2))
                ),
                worst(&|r| gap_value(r.worst_query_gap_l2)),
                MAX_GAP,
            ),
            ReportRow::at_most(
                "C3 severity",
                format!("consistency check (proved bound): max over {runs} runs of the margin change measured by the real SGD step on the found twins ({m} units at B; {m} and 1 units at ρ) / the certified bound m B² φ̄∞ or ρ² φ̄₂; 1 + 1e-9 allows rounding"),
                step_over_bound,
                1.0 + 1e-9,
            ),
            ReportRow::at_most(
                "C3 severity",
                format!("consistency check (proved): under a Euclidean budget more units hide nothing more — max over {runs} runs of |S({m} units of norm ρ/√{m}) − S(1 unit of norm ρ)| / S(1 unit), measured by the step; 1e-9 allows rounding"),
                l2_in_m,
                1e-9,
            ),
        ]
    }
}
