//! The severity of one dormant unit (claim C3): after one SGD step with rate
//! `η` on an update set with margin residuals `Δr_n = r_n[C] − r_n[R]`, a unit
//! with incoming weights `(u, b)` and zero outgoing weights moves a query's
//! margin by `φ(u, b) = −η σ(u·z⁺(q) + b) Σ_n Δr_n σ(u·z(x_n) + b)`
//! (`paper-notes/c3-scaling.md`), where `z(x_n)` are the last hidden layer's
//! inputs on the update set and `z⁺(q)` the query's after the step. This module
//! evaluates `φ` with its gradient and maximises it over the unit box.

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

/// Projected gradient ascent of `φ` on `|(u, b)|_∞ ≤ 1` from `count` random
/// vertices (RNG stream 90 of `seed`), 300 steps of 0.05 in the ∞-norm: the
/// best incoming direction `u`, its bias `b` and `φ₁*` — a lower bound on the
/// true maximum (the problem is not concave).
pub fn best_dormant_direction(
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
    let mut rng = seeded(seed, stream::SEVERITY_ASCENT);
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
