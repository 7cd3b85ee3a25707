//! C3, *severity*: how far one benign SGD step can move a harmful query's
//! logit margin when every parameter is bounded by `B`.
//!
//! Base: the aligned toy safety classifier of [`crate::experiments::construct`],
//! a harmful query `q`, margin `M(q) = f_COMPLY(q) − f_REFUSE(q)`, the benign
//! update set `D` (residuals `r_n = (1/N) ∂ℓ/∂f(x_n)`), SGD with step `η`.
//! The twin adds `m` dormant units `(u_j, b_j, v_j = 0)` to the last hidden
//! layer (input `z`), so `f_twin ≡ f_θ`. After the step (see
//! `paper-notes/c2-any-update-set.md`) its margin exceeds the aligned model's by
//! exactly
//!
//! `S = Σ_j φ(u_j, b_j)`, `φ(u, b) = −η σ(u·z⁺(q) + b) Σ_n (r_n[C] − r_n[R]) σ(u·z(x_n) + b)`,
//!
//! where `z⁺` is the aligned model's updated lower layers. `φ` is positively
//! homogeneous of degree 2, so over the box `|u|, |b| ≤ B` its maximum is
//! `B² φ₁*` with `φ₁* = max_{|(u,b)|_∞ ≤ 1} φ`, and the units contribute
//! independently: the largest hidden severity is
//!
//! `S*(m, B) = m · B² · φ₁*` — linear in `m`, quadratic in `B` (the scalar chain's `c²`).
//!
//! `φ₁*` is found by projected gradient ascent from many random vertices of the
//! box (a non-convex maximisation: the value found is a lower bound on the true
//! maximum, and the same direction is used for every `(m, B)`). The *measured*
//! severity builds the twin with `m` copies of that direction scaled by `B`,
//! runs the SGD step on it and on the aligned model, and evaluates both at `q`.

use crate::attack::severity_bound::Budget;
use crate::error::{Error, Result};
use crate::eval::{max_output_difference, QuerySet};
use crate::net::output_residuals;
use crate::reparam::add_dormant_units;
use crate::rng::{seeded, stream};
use crate::tasks::classifier::ToyClassifierTask;
use crate::update::{one_step, StepConfig};
use ndarray::{Array1, Array2, Axis};
use serde::Serialize;

const REFUSE: usize = 0;
const COMPLY: usize = 3;

/// Validated settings of the severity sweep.
#[derive(Clone, Debug, Serialize)]
pub struct SeverityConfig {
    seed: u64,
    eta: f64,
    update_size: usize,
    widths: Vec<usize>,
    bound_factors: Vec<f64>,
    fixed_width: usize,
    candidates: usize,
}

impl SeverityConfig {
    /// `widths` (each ≥ 1) are swept at the smallest admissible bound `B₀`
    /// (the base model's largest parameter, rounded up); `bound_factors`
    /// (each ≥ 1) multiply `B₀` at `fixed_width` units.
    pub fn new(
        seed: u64,
        eta: f64,
        update_size: usize,
        widths: Vec<usize>,
        bound_factors: Vec<f64>,
        fixed_width: usize,
    ) -> Result<Self> {
        StepConfig::sgd(eta)?;
        if update_size == 0 {
            return Err(Error::EmptyData("update set"));
        }
        if widths.is_empty() || bound_factors.is_empty() {
            return Err(Error::EmptyData("severity sweep"));
        }
        if widths.contains(&0) || fixed_width == 0 {
            return Err(Error::InvalidParameter {
                name: "redundant units",
                value: 0.0,
                expected: "must be at least 1",
            });
        }
        if let Some(&f) = bound_factors
            .iter()
            .find(|f| !(**f >= 1.0 && f.is_finite()))
        {
            return Err(Error::InvalidParameter {
                name: "bound factor",
                value: f,
                expected: "must be finite and ≥ 1 (B below the base model's largest parameter is not admissible)",
            });
        }
        Ok(Self {
            seed,
            eta,
            update_size,
            widths,
            bound_factors,
            fixed_width,
            candidates: 512,
        })
    }
}

/// Which severity sweep a point belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SeverityAxis {
    /// `m` varies at the smallest bound `B₀`.
    Width,
    /// `B` varies at a fixed `m`.
    Bound,
}

/// One `(m, B)` point.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SeverityRecord {
    /// Which sweep the point belongs to (`width` or `bound` in CSV/JSON).
    pub sweep: SeverityAxis,
    pub redundant: usize,
    pub bound: f64,
    /// Twin's post-step margin minus the aligned model's, from the actual step.
    pub measured: f64,
    /// `m · B² · φ₁*`.
    pub predicted: f64,
    pub rel_error: f64,
    /// Aligned model's margin before and after the step.
    pub margin_before: f64,
    pub aligned_margin_after: f64,
    pub twin_margin_after: f64,
    /// Twin's largest parameter (at most `bound`).
    pub twin_max_abs_param: f64,
    /// `max |f_twin − f_θ|` before the step over the 16 harmful queries and
    /// 1,000 random prompts (0 when the twin is exactly the base function).
    pub forward_max_diff: f64,
}

/// Run both sweeps.
pub fn run_severity(cfg: &SeverityConfig) -> Result<Vec<SeverityRecord>> {
    let task = ToyClassifierTask::new(cfg.seed);
    let q_x = task.prompts(0, 16, stream::CLASSIFIER_QUERIES);
    let base = task.aligned_base(&QuerySet::new(q_x.clone(), vec![REFUSE; 16])?)?;
    let q = q_x.slice(ndarray::s![..1, ..]).to_owned();
    let update = task.benign_update_set(cfg.update_size, stream::CLASSIFIER_UPDATE)?;
    let step = StepConfig::sgd(cfg.eta)?;
    let hidden = base.depth() - 1;
    let aligned_plus = one_step(&base, &update, &step)?.updated;
    let z_d = base.last_hidden_input(update.x().view())?;
    let z_q = aligned_plus.last_hidden_input(q.view())?;
    let res = output_residuals(&base, &update)?;
    let dr: Array1<f64> = &res.column(COMPLY) - &res.column(REFUSE);
    let (u, b, phi1) = crate::attack::severity::best_dormant_direction(
        &base,
        &z_d,
        &z_q,
        &dr,
        cfg.eta,
        (Budget::Linf, cfg.candidates, cfg.seed),
    );
    let margin = |f: &Array2<f64>| f[[0, COMPLY]] - f[[0, REFUSE]];
    let margin_before = margin(&base.forward(q.view())?);
    let aligned_after = margin(&aligned_plus.forward(q.view())?);
    let b0 = base.max_abs().ceil();
    let probe = ndarray::concatenate(
        Axis(0),
        &[
            q_x.view(),
            crate::net::gaussian_inputs(
                &mut seeded(cfg.seed, stream::SEVERITY_PROBES),
                1_000,
                q_x.ncols(),
            )
            .view(),
        ],
    )
    .expect("same width");
    let point = |sweep: SeverityAxis, m: usize, bound: f64| -> Result<SeverityRecord> {
        let us = Array2::from_shape_fn((m, u.len()), |(_, i)| bound * u[i]);
        let bs = Array1::from_elem(m, bound * b);
        let twin = add_dormant_units(&base, hidden, &us, &bs)?;
        let forward_max_diff = max_output_difference(&twin, &base, probe.view())?;
        let after = one_step(&twin, &update, &step)?.updated;
        let twin_after = margin(&after.forward(q.view())?);
        let measured = twin_after - aligned_after;
        let predicted = m as f64 * bound * bound * phi1;
        Ok(SeverityRecord {
            sweep,
            redundant: m,
            bound,
            measured,
            predicted,
            rel_error: (measured - predicted).abs() / predicted.abs(),
            margin_before,
            aligned_margin_after: aligned_after,
            twin_margin_after: twin_after,
            twin_max_abs_param: twin.max_abs(),
            forward_max_diff,
        })
    };
    let mut out = Vec::new();
    for &m in &cfg.widths {
        out.push(point(SeverityAxis::Width, m, b0)?);
    }
    for &f in &cfg.bound_factors {
        out.push(point(SeverityAxis::Bound, cfg.fixed_width, f * b0)?);
    }
    Ok(out)
}
