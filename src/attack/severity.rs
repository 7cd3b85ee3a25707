//! The severity of one dormant unit (claim C3): after one SGD step with rate
//! `η` on an update set with margin residuals `Δr_n = r_n[C] − r_n[R]`, a unit
//! with incoming weights `(u, b)` and zero outgoing weights moves a query's
//! margin by `φ(u, b) = −η σ(u·z⁺(q) + b) Σ_n Δr_n σ(u·z(x_n) + b)`
//! (`paper-notes/c3-scaling.md`), where `z(x_n)` are the last hidden layer's
//! inputs on the update set and `z⁺(q)` the query's after the step. This module
//! evaluates `φ` with its gradient and maximises it over the unit box (every
//! parameter bounded) or the unit sphere (a Euclidean budget); the matching
//! certified upper bound is [`super::severity_bound`].

use super::severity_bound::{Budget, Relaxation};
use crate::kernels;
use crate::net::{normal_matrix, Mlp};
use crate::rng::{seeded, stream};
use ndarray::{Array1, Array2, Axis};

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

/// Analytic candidates for the maximiser, from the [`Relaxation`]: under ℓ∞
/// the box vertices `±sign(λ ẑ_q + w/λ)` along a grid of `λ` (the maximisers
/// of the AM–GM relaxation, `w` the upper family's point with every positive
/// term on); under ℓ2 the top eigenvector `±(q̂ + ŵ)/‖q̂ + ŵ‖` of `sym(q wᵀ)`.
fn relaxation_candidates(relax: &Relaxation, budget: Budget) -> Array2<f64> {
    let (q, w) = (&relax.query, &relax.upper_all);
    let norm =
        |v: &Array1<f64>, p: f64| v.iter().map(|x| x.abs().powf(p)).sum::<f64>().powf(1.0 / p);
    let rows: Vec<Array1<f64>> = match budget {
        Budget::Linf => {
            let lam0 = (norm(w, 1.0) / norm(q, 1.0)).sqrt();
            (0..=200)
                .map(|k| {
                    let lam = lam0 * (-6.0 + 12.0 * k as f64 / 200.0).exp();
                    (q * lam + w / lam).mapv(|v| if v >= 0.0 { 1.0 } else { -1.0 })
                })
                .collect()
        }
        Budget::L2 => {
            let v = q / norm(q, 2.0) + w / norm(w, 2.0);
            vec![&v / norm(&v, 2.0), q / norm(q, 2.0)]
        }
    };
    let d = q.len();
    let mut out = Array2::zeros((2 * rows.len(), d));
    for (i, r) in rows.iter().enumerate() {
        out.row_mut(2 * i).assign(r);
        out.row_mut(2 * i + 1).assign(&(-r));
    }
    out.mapv(|v| if v.is_finite() { v } else { 0.0 })
}

/// The search for `φ₁* = max φ` over the unit ball of `budget` (the unit box
/// `|(u, b)|_∞ ≤ 1` or the unit sphere `‖(u, b)‖₂ ≤ 1`): projected gradient
/// ascent from `count` random starts (RNG stream 90 of `seed`; vertices of the
/// box, or Gaussian points scaled onto the sphere), 300 steps of 0.05 in the
/// budget's norm, together with the [`Relaxation`]'s analytic candidates for
/// piecewise-linear activations. Returns the best direction `u`, its bias `b`
/// and `φ` there — a lower bound on the true maximum (the problem is not
/// concave); [`Relaxation::certified_bound`] is the matching upper bound.
pub fn best_dormant_direction(
    base: &Mlp,
    z_d: &Array2<f64>,
    z_q: &Array2<f64>,
    dr: &Array1<f64>,
    eta: f64,
    search: (Budget, usize, u64),
) -> (Array1<f64>, f64, f64) {
    let (budget, count, seed) = search;
    let act = base.activation();
    let n_in = z_d.ncols();
    let mut rng = seeded(seed, stream::SEVERITY_ASCENT);
    let sign = |v: f64| if v >= 0.0 { 1.0 } else { -1.0 };
    let mut w = normal_matrix(&mut rng, count, n_in, 1.0);
    let mut c = normal_matrix(&mut rng, count, 1, 1.0).column(0).to_owned();
    let row_norm = |w: &Array2<f64>, c: &Array1<f64>| -> Array1<f64> {
        w.axis_iter(Axis(0))
            .zip(c.iter())
            .map(|(r, &b)| match budget {
                Budget::Linf => r.iter().fold(b.abs(), |m, v| m.max(v.abs())),
                Budget::L2 => (r.dot(&r) + b * b).sqrt(),
            })
            .collect()
    };
    match budget {
        Budget::Linf => {
            w.mapv_inplace(sign);
            c.mapv_inplace(sign);
        }
        Budget::L2 => {
            let n = row_norm(&w, &c).mapv(|v| 1.0 / v.max(1e-300));
            w *= &n.view().insert_axis(Axis(1));
            c *= &n;
        }
    }
    for _ in 0..300 {
        let (_, gw, gb) = phi_and_grad(act, &w, &c, z_d, z_q, dr, eta);
        // Per-candidate normalised step of 0.05 in the budget's norm.
        let step = row_norm(&gw, &gb).mapv(|s| 0.05 / s.max(1e-300));
        w = &w + &(&gw * &step.view().insert_axis(Axis(1)));
        c = &c + &(&gb * &step);
        match budget {
            Budget::Linf => {
                w.mapv_inplace(|v| v.clamp(-1.0, 1.0));
                c.mapv_inplace(|v| v.clamp(-1.0, 1.0));
            }
            Budget::L2 => {
                let n = row_norm(&w, &c).mapv(|v| 1.0 / v.max(1.0));
                w *= &n.view().insert_axis(Axis(1));
                c *= &n;
            }
        }
    }
    if let Ok(relax) = Relaxation::new(act, z_d, z_q, dr) {
        let extra = relaxation_candidates(&relax, budget);
        w = ndarray::concatenate(Axis(0), &[w.view(), extra.slice(ndarray::s![.., ..n_in])])
            .expect("same width");
        c = ndarray::concatenate(Axis(0), &[c.view(), extra.column(n_in)]).expect("one column");
    }
    let (phi, _, _) = phi_and_grad(act, &w, &c, z_d, z_q, dr, eta);
    let best =
        phi.iter().enumerate().fold(
            (0, f64::NEG_INFINITY),
            |acc, (i, &v)| if v > acc.1 { (i, v) } else { acc },
        );
    (w.row(best.0).to_owned(), c[best.0], best.1)
}
