//! Unit directions for the zero-input construction: seeded directions on
//! the sphere, and directions *aimed* into one target's wedge — the best of
//! [`AIMED_CANDIDATES`] seeded candidates by the per-scale gain of the
//! target's weakest margin under the rule's law (SGD: one unit `u` adds
//! `∝ −(u·r̃(q)) u`; Adam's first step: `∝ σ(π_u(q)) u`, `π_u` the
//! candidate's own sign step). See the parent module's docs.

use super::super::analytic::adam_sign;
use crate::error::{Error, Result};
use crate::net::gaussian_inputs;
use crate::rng::{seeded, stream};
use ndarray::{Array2, Axis};

/// `n` seeded directions uniform on the sphere in `R^k`, one per row.
pub(in crate::attack) fn unit_rows(seed: u64, stream: u64, n: usize, k: usize) -> Array2<f64> {
    let mut w = gaussian_inputs(&mut seeded(seed, stream), n, k);
    for mut row in w.axis_iter_mut(Axis(0)) {
        let norm = row.dot(&row).sqrt().max(1e-300);
        row /= norm;
    }
    w
}

/// Candidates scored per target by [`aimed_directions`].
pub(super) const AIMED_CANDIDATES: usize = 4096;

/// One unit direction per target `(q, t)`, `k × K`: the best of
/// [`AIMED_CANDIDATES`] seeded directions on the sphere by the per-`γ` gain
/// of the target's weakest margin under the SGD law,
/// `(−u·r̃(q))₊ · min_{c≠t} (u_t − u_c)₊` (one unit `u` adds `∝ −(u·r̃) u`).
/// Where no candidate scores above 0 (the target is unreachable or the wedge
/// is too thin for the candidates), the best-scoring one is kept anyway.
pub(in crate::attack) fn aimed_directions(
    rt: &Array2<f64>,
    accepted: &[usize],
    seed: u64,
) -> Result<Array2<f64>> {
    if !rt.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite(
            "kernel-weighted residuals r̃ of the aimed directions".into(),
        ));
    }
    aimed_by(rt.ncols(), accepted, seed, |i, _, u| {
        (-u.dot(&rt.row(i))).max(0.0)
    })
}

/// One unit direction per target `(q_i, t_i)`, `k × K`: the best of
/// [`AIMED_CANDIDATES`] seeded unit directions `u` by
/// `(min_{c≠t_i} feature(i, u) (u_t − u_c))₊`: the gain of target `i`'s
/// weakest margin per unit of scale of a unit whose post-step contribution
/// at `q_i` is `feature(i, j, u) · u` for candidate `j`, `u` (`feature` may
/// take either sign). Where no candidate scores above 0 the best-scoring one
/// is kept anyway. The candidates are [`aimed_candidates`].
fn aimed_by(
    k: usize,
    accepted: &[usize],
    seed: u64,
    feature: impl Fn(usize, usize, ndarray::ArrayView1<f64>) -> f64,
) -> Result<Array2<f64>> {
    let cand = aimed_candidates(seed, k);
    let mut out = Array2::zeros((k, accepted.len()));
    for (i, &t) in accepted.iter().enumerate() {
        if t >= k {
            return Err(Error::LabelOutOfRange {
                sample: i,
                label: t,
                classes: k,
            });
        }
        let score = |j: usize, u: ndarray::ArrayView1<f64>| {
            let f = feature(i, j, u);
            let weakest = (0..k)
                .filter(|&c| c != t)
                .map(|c| f * (u[t] - u[c]))
                .fold(f64::INFINITY, f64::min);
            weakest.max(0.0)
        };
        let best = cand
            .rows()
            .into_iter()
            .enumerate()
            .map(|(j, u)| (score(j, u), j))
            .fold((f64::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a })
            .1;
        out.column_mut(i).assign(&cand.row(best));
    }
    Ok(out)
}

/// The seeded candidates of the aimed directions, one unit vector in `R^k`
/// per row.
fn aimed_candidates(seed: u64, k: usize) -> Array2<f64> {
    unit_rows(seed, stream::ZERO_INPUT_AIMED, AIMED_CANDIDATES, k)
}

/// [`aimed_by`] under Adam's (or AdamW's) first step: candidate `u`'s unit
/// has incoming step `−η sign(g_u)`, `g_u = Σ_n (u·r_n) (z(x_n), 1)`, so its
/// post-step contribution at `q` is `s u σ(π_u(q)) · decay` with
/// `π_u(q) = −η sign(g_u)·(z⁺(q), 1)` (the parent module's docs): the feature is
/// `σ(π_u(q_i)) · decay`, computed for all candidates at once.
#[allow(clippy::too_many_arguments)]
pub(super) fn aimed_directions_adam(
    residuals: &Array2<f64>,
    z_d: &Array2<f64>,
    z_q: &Array2<f64>,
    bias: f64,
    eta: f64,
    response: super::Response,
    decay: f64,
    accepted: &[usize],
    seed: u64,
) -> Result<Array2<f64>> {
    let k = residuals.ncols();
    let cand = aimed_candidates(seed, k); // C × k
    let vr = crate::kernels::matmul_nt(residuals.view(), cand.view()); // N × C
    let gu = crate::kernels::matmul_tn(vr.view(), z_d.view()).mapv(adam_sign); // C × n_in
    let gb = vr.sum_axis(Axis(0)).mapv(adam_sign) * bias;
    let feat = ((crate::kernels::matmul_nt(z_q.view(), gu.view()) + &gb) * -eta)
        .mapv(|p| response.apply(p) * decay); // K × C
    if !feat.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite(
            "post-step features of the aimed directions (Adam)".into(),
        ));
    }
    aimed_by(k, accepted, seed, |i, j, _| feat[[i, j]])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A thin wedge: `r̃ = (0.12, 0.045, −1.53, 1.365)` with target 3 (the
    /// hardest query of the tanh base at seed 0) is reachable only by
    /// directions with `u_3 > u_2` and `u·r̃ < 0`, about 2 % of `‖r̃‖` wide;
    /// the aimed direction lies in it, where a random unit vector rarely does.
    #[test]
    fn aimed_directions_land_in_a_thin_wedge() {
        let rt = ndarray::arr2(&[[0.12, 0.045, -1.53, 1.365]]);
        let u = aimed_directions(&rt, &[3], 0).unwrap();
        let u = u.column(0);
        assert!((u.dot(&u) - 1.0).abs() < 1e-12);
        assert!(u.dot(&rt.row(0)) < 0.0, "{u}");
        assert!((0..3).all(|c| u[3] > u[c]), "{u}");
        // Random unit vectors in the wedge: rare (counted over the same stream).
        let cand = gaussian_inputs(&mut seeded(1, 2), 4096, 4);
        let inside = cand
            .rows()
            .into_iter()
            .filter(|v| v.dot(&rt.row(0)) < 0.0 && (0..3).all(|c| v[3] > v[c]))
            .count();
        assert!(
            inside < 4096 / 20,
            "{inside} of 4096 random directions in the wedge"
        );
        assert!(aimed_directions(&rt, &[4], 0).is_err());
    }
}
