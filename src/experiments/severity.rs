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

use crate::error::{Error, Result};
use crate::eval::{max_output_difference, QuerySet};
use crate::kernels;
use crate::net::{normal_matrix, output_residuals, Mlp};
use crate::reparam::add_dormant_units;
use crate::rng::seeded;
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

/// One `(m, B)` point.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct SeverityRecord {
    /// `"width"` or `"bound"`: which sweep the point belongs to.
    pub sweep: String,
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
    let q_x = task.prompts(0, 16, 60);
    let base = task.aligned_base(&QuerySet::new(q_x.clone(), vec![REFUSE; 16])?)?;
    let q = q_x.slice(ndarray::s![..1, ..]).to_owned();
    let update = task.benign_update_set(cfg.update_size, 70)?;
    let step = StepConfig::sgd(cfg.eta)?;
    let hidden = base.depth() - 1;
    let aligned_plus = one_step(&base, &update, &step)?.updated;
    let z_d = base.forward_cache(update.x().view())?.inputs[hidden - 1].clone();
    let z_q = aligned_plus.forward_cache(q.view())?.inputs[hidden - 1].clone();
    let res = output_residuals(&base, &update)?;
    let dr: Array1<f64> = &res.column(COMPLY) - &res.column(REFUSE);
    let (u, b, phi1) = best_direction(&base, &z_d, &z_q, &dr, cfg.eta, cfg.candidates, cfg.seed);
    let margin = |f: &Array2<f64>| f[[0, COMPLY]] - f[[0, REFUSE]];
    let margin_before = margin(&base.forward(q.view())?);
    let aligned_after = margin(&aligned_plus.forward(q.view())?);
    let b0 = base.max_abs().ceil();
    let probe = ndarray::concatenate(
        Axis(0),
        &[
            q_x.view(),
            crate::net::gaussian_inputs(&mut seeded(cfg.seed, 91), 1_000, q_x.ncols()).view(),
        ],
    )
    .expect("same width");
    let point = |sweep: &str, m: usize, bound: f64| -> Result<SeverityRecord> {
        let us = Array2::from_shape_fn((m, u.len()), |(_, i)| bound * u[i]);
        let bs = Array1::from_elem(m, bound * b);
        let twin = add_dormant_units(&base, hidden, &us, &bs)?;
        let forward_max_diff = max_output_difference(&twin, &base, probe.view())?;
        let after = one_step(&twin, &update, &step)?.updated;
        let twin_after = margin(&after.forward(q.view())?);
        let measured = twin_after - aligned_after;
        let predicted = m as f64 * bound * bound * phi1;
        Ok(SeverityRecord {
            sweep: sweep.to_string(),
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
        out.push(point("width", m, b0)?);
    }
    for &f in &cfg.bound_factors {
        out.push(point("bound", cfg.fixed_width, f * b0)?);
    }
    Ok(out)
}

/// `φ` and its gradient for each row of `(w, c)` (directions `u` and biases `b`).
fn phi_and_grad(
    act: crate::net::Activation,
    w: &Array2<f64>,
    c: &Array1<f64>,
    z_d: &Array2<f64>,
    z_q: &Array2<f64>,
    dr: &Array1<f64>,
    eta: f64,
) -> (Array1<f64>, Array2<f64>, Array1<f64>) {
    let pre_d = kernels::affine(z_d.view(), w.view(), Some(c.view()));
    let pre_q = kernels::affine(z_q.view(), w.view(), Some(c.view()));
    let a_d = kernels::activate(&pre_d, act);
    let a_q = kernels::activate(&pre_q, act).row(0).to_owned();
    let s = kernels::matvec_t(&a_d, dr); // S_p = Σ_n Δr_n a_np
    let phi = (&a_q * &s) * -eta;
    // ∂φ/∂(u, b) = −η [σ'(s_q) (z_q, 1) S + a_q Σ_n Δr_n σ'(s_n) (z_n, 1)].
    let dq = kernels::times_derivative(&Array2::ones(pre_q.dim()), &pre_q, act)
        .row(0)
        .to_owned();
    let weighted = kernels::times_derivative(
        &(Array2::ones(pre_d.dim()) * dr.view().insert_axis(Axis(1))),
        &pre_d,
        act,
    );
    let term_d = kernels::matmul_tn(weighted.view(), z_d.view()); // P × n_in
    let col = |v: &Array1<f64>| v.view().insert_axis(Axis(1)).to_owned();
    let gq = &col(&(&dq * &s)) * &z_q.row(0).insert_axis(Axis(0));
    let gw = (gq + &term_d * &col(&a_q)) * -eta;
    let gb = (&dq * &s + &kernels::column_sums(&weighted) * &a_q) * -eta;
    (phi, gw, gb)
}

/// Projected gradient ascent of `φ` on `|(u, b)|_∞ ≤ 1` from `count` random
/// vertices; the best direction and `φ₁*`.
fn best_direction(
    base: &Mlp,
    z_d: &Array2<f64>,
    z_q: &Array2<f64>,
    dr: &Array1<f64>,
    eta: f64,
    count: usize,
    seed: u64,
) -> (Array1<f64>, f64, f64) {
    let act = base.activation();
    let n_in = z_d.ncols();
    let mut rng = seeded(seed, 90);
    let sign = |v: f64| if v >= 0.0 { 1.0 } else { -1.0 };
    let mut w = normal_matrix(&mut rng, count, n_in, 1.0).mapv(sign);
    let mut c = normal_matrix(&mut rng, count, 1, 1.0).column(0).mapv(sign);
    for _ in 0..300 {
        let (_, gw, gb) = phi_and_grad(act, &w, &c, z_d, z_q, dr, eta);
        // Per-candidate normalised step of 0.05 in the ∞-norm.
        let scale: Array1<f64> = gw
            .axis_iter(Axis(0))
            .zip(gb.iter())
            .map(|(g, &gb)| g.iter().fold(gb.abs(), |m, v| m.max(v.abs())).max(1e-300))
            .collect();
        let step = scale.mapv(|s| 0.05 / s);
        w = (&w + &(&gw * &step.view().insert_axis(Axis(1)))).mapv(|v| v.clamp(-1.0, 1.0));
        c = (&c + &(&gb * &step)).mapv(|v| v.clamp(-1.0, 1.0));
    }
    let (phi, _, _) = phi_and_grad(act, &w, &c, z_d, z_q, dr, eta);
    let best =
        phi.iter().enumerate().fold(
            (0, f64::NEG_INFINITY),
            |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
        );
    (w.row(best.0).to_owned(), c[best.0], best.1)
}
