//! The first-order reach of one step: how far, at most, one SGD step of
//! learning rate `η` on an update set of a stated family can move the answer
//! margins of the queries — from the weights and the queries alone, without
//! knowing the update set.
//!
//! One step on the mean loss `L_D = (1/n) Σ_n ℓ(f(x_n), y_n)` moves the
//! outputs, to first order, by `Δf(q) = −(η/n) Σ_n Θ(q, x_n) r_n`, with
//! `r_n = ∂ℓ/∂f(x_n)` the residuals and `Θ` the empirical NTK
//! ([`crate::net::ntk`]). For softmax cross-entropy `r_n = p_n − e_{y_n}`, so
//! `‖r_n‖₂ ≤ √2` whatever the labels. The **family** is: update sets of `n`
//! samples whose inputs are the probes `x_n` (drawn like the queries,
//! [`probes_like`]), with any labels — any residuals with `‖r_n‖₂ ≤ √2`.
//! Over it, the margin `m_b(q) = f_a(q) − f_b(q)` of the query's answer `a`
//! over class `b` moves by at most (Cauchy–Schwarz, sample by sample)
//!
//! `W_b(q) = (η √2 / n) Σ_n ‖(e_a − e_b)ᵀ Θ(q, x_n)‖₂`,
//!
//! and the query's **reach** is `max_b W_b(q) / m_b(q)`: at reach ≥ 1 some
//! update set of the family flips its answer to first order. The score is
//! the median reach over the queries.
//!
//! The NTK is the one of the coordinates the fine-tune moves: the whole
//! network's ([`crate::net::ntk`]), or for LoRA adapters `φ` on a frozen
//! base `Θ_φ = J_φ J_φᵀ` ([`crate::net::lora::Lora::ntk`]) — an adapter
//! that starts at `B = 0` leaves the merged network's weights looking
//! genuine while `Θ_φ` carries the amplification.
//!
//! It sees any mechanism that acts through the first-order term, in any
//! gauge — rescaled, dormant and meta-learned models alike — because it is
//! computed at `θ` itself, not relative to a canonical form. It cannot see
//! second-order effects (`O(η²)`, e.g. a trigger built into the curvature),
//! update sets whose inputs lie far from the probes, or rules other than SGD
//! (Adam's first step moves by `η sign(g)`, not `η g`). It is an upper bound
//! over the family, so a large reach says the model *could* move, not that a
//! benign update set moves it.

use crate::error::{Error, Result};
use crate::finite::nan_max;
use crate::net::{gaussian_inputs, ntk};
use crate::rng::{seeded, stream};
use crate::update::Tunable;
use ndarray::{Array2, ArrayView2, Axis};
use serde::Serialize;

/// The first-order reach of a model's queries.
#[derive(Clone, Debug, Serialize)]
pub struct FirstOrderReach {
    pub eta: f64,
    pub queries: usize,
    pub probes: usize,
    /// Median over the queries of `max_b W_b(q) / m_b(q)`.
    pub median_reach: f64,
    /// Largest reach of a query.
    pub max_reach: f64,
    /// Queries with reach ≥ 1 (flippable to first order).
    pub flippable_fraction: f64,
}

/// Number of probe inputs of the family (the update set's size).
pub const REACH_PROBES: usize = 32;

/// `n` Gaussian inputs with the per-coordinate mean and standard deviation
/// of `queries` (a standard normal where a coordinate does not vary or
/// there is one query).
pub fn probes_like(queries: ArrayView2<f64>, n: usize, seed: u64) -> Array2<f64> {
    let d = queries.ncols();
    let mean = queries
        .mean_axis(Axis(0))
        .unwrap_or_else(|| ndarray::Array1::zeros(d));
    let std = if queries.nrows() > 1 {
        queries.std_axis(Axis(0), 1.0)
    } else {
        ndarray::Array1::ones(d)
    }
    .mapv(|s| if s > 0.0 && s.is_finite() { s } else { 1.0 });
    let z = gaussian_inputs(&mut seeded(seed, stream::AUDIT_REACH_PROBES), n, d);
    z * &std + &mean
}

/// The NTK `Θ(x1, x2)` in the coordinates a fine-tune of `model` moves
/// (shape `(N1 k) × (N2 k)`, as [`crate::net::ntk`]).
pub fn tuned_ntk(model: &Tunable, x1: ArrayView2<f64>, x2: ArrayView2<f64>) -> Result<Array2<f64>> {
    match model {
        Tunable::Whole(net) => ntk(net, x1, x2),
        Tunable::Adapter { lora, phi } => lora.ntk(phi, x1, x2),
    }
}

/// `W_b(q)` for every query and class (`0` at the query's own answer),
/// shape `queries × k`, and the margins `m_b(q)` (`0` at the answer).
pub fn worst_margin_changes(
    model: &Tunable,
    queries: ArrayView2<f64>,
    probes: ArrayView2<f64>,
    eta: f64,
) -> Result<(Array2<f64>, Array2<f64>)> {
    if queries.nrows() == 0 || probes.nrows() == 0 {
        return Err(Error::EmptyData("first-order reach queries or probes"));
    }
    let f = model.before()?.forward(queries)?;
    let theta = tuned_ntk(model, queries, probes)?;
    let (nq, k) = f.dim();
    let n = probes.nrows();
    let scale = eta * std::f64::consts::SQRT_2 / n as f64;
    let mut w = Array2::zeros((nq, k));
    let mut margin = Array2::zeros((nq, k));
    for i in 0..nq {
        let a = crate::eval::answer(f.row(i));
        let ra = theta.row(i * k + a);
        for b in (0..k).filter(|&b| b != a) {
            let rb = theta.row(i * k + b);
            let mut total = 0.0;
            for s in 0..n {
                let block = (s * k)..(s * k + k);
                let sq: f64 = ra
                    .slice(ndarray::s![block.clone()])
                    .iter()
                    .zip(rb.slice(ndarray::s![block]).iter())
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum();
                total += sq.sqrt();
            }
            w[[i, b]] = scale * total;
            margin[[i, b]] = f[[i, a]] - f[[i, b]];
        }
    }
    Ok((w, margin))
}

/// The reach of every query and its summary (see the module documentation).
pub fn first_order_reach(
    model: &Tunable,
    queries: ArrayView2<f64>,
    probes: ArrayView2<f64>,
    eta: f64,
) -> Result<FirstOrderReach> {
    let (w, margin) = worst_margin_changes(model, queries, probes, eta)?;
    let mut reach: Vec<f64> = w
        .rows()
        .into_iter()
        .zip(margin.rows())
        .map(|(wr, mr)| {
            wr.iter().zip(mr.iter()).fold(0.0, |mx, (&wb, &mb)| {
                // A tied margin (m = 0 at b ≠ a) is flipped by any move.
                let r = if wb == 0.0 {
                    0.0
                } else {
                    wb / mb.max(f64::MIN_POSITIVE)
                };
                nan_max(mx, r)
            })
        })
        .collect();
    reach.sort_by(f64::total_cmp);
    let nq = reach.len();
    let median = if nq % 2 == 1 {
        reach[nq / 2]
    } else {
        0.5 * (reach[nq / 2 - 1] + reach[nq / 2])
    };
    let out = FirstOrderReach {
        eta,
        queries: nq,
        probes: probes.nrows(),
        median_reach: median.min(f64::MAX),
        max_reach: reach[nq - 1].min(f64::MAX),
        flippable_fraction: reach.iter().filter(|&&r| r >= 1.0).count() as f64 / nq as f64,
    };
    crate::finite::ensure_finite("first-order reach", &out)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::lora::Lora;
    use crate::net::{output_residuals, Dataset, Mlp, Targets};
    use crate::update::{adapter_step, one_step, StepConfig};
    use crate::{Activation, Architecture};
    use rand::Rng;

    /// Compare the actual margin change of one tiny step of `model` (SGD on
    /// random labels of the probes) with `−η (e_a − e_b)ᵀ Σ_n Θ(q, x_n) r_n`
    /// and with the bound `W_b(q)`.
    fn check_against_the_step(
        model: &Tunable,
        after: impl Fn(&Dataset) -> Mlp,
        q: &Array2<f64>,
        x: &Array2<f64>,
        eta: f64,
    ) {
        let net = model.before().unwrap();
        let k = net.output_dim();
        let (nq, nx) = (q.nrows(), x.nrows());
        let (w, _) = worst_margin_changes(model, q.view(), x.view(), eta).unwrap();
        let theta = tuned_ntk(model, q.view(), x.view()).unwrap();
        let f0 = net.forward(q.view()).unwrap();
        let mut rng = seeded(11, 0);
        for trial in 0..5 {
            let y: Vec<usize> = (0..nx).map(|_| rng.random_range(0..k)).collect();
            let d = Dataset::new("probe set", x.clone(), Targets::Classes(y)).unwrap();
            let r = output_residuals(&net, &d).unwrap(); // (1/n) ∂ℓ/∂f, n × k
            let f1 = after(&d).forward(q.view()).unwrap();
            for i in 0..nq {
                let a = crate::eval::answer(f0.row(i));
                for b in (0..k).filter(|&b| b != a) {
                    let mut first = 0.0;
                    for s in 0..nx {
                        for c in 0..k {
                            let dt = theta[[i * k + a, s * k + c]] - theta[[i * k + b, s * k + c]];
                            first -= eta * dt * r[[s, c]];
                        }
                    }
                    let actual = (f1[[i, a]] - f1[[i, b]]) - (f0[[i, a]] - f0[[i, b]]);
                    assert!(
                        (actual - first).abs() <= 1e-5 * first.abs() + 1e-15,
                        "trial {trial} query {i}: step {actual:e} vs first order {first:e}"
                    );
                    assert!(
                        first.abs() <= w[[i, b]] * (1.0 + 1e-12),
                        "{first} > {}",
                        w[[i, b]]
                    );
                }
            }
        }
    }

    /// Ground truth by taking the step: for random labels on the probes, the
    /// actual margin change of one tiny SGD step matches the first-order
    /// formula (which fixes the mean-loss normalisation), and that never
    /// exceeds the bound `W_b(q)`.
    #[test]
    fn the_bound_holds_and_first_order_is_the_step() {
        let arch = Architecture::new(
            vec![5, 12, 9, 3],
            Activation::LeakyRelu { slope: 0.1 },
            true,
        )
        .unwrap();
        let mut rng = seeded(7, 0);
        let net = Mlp::random(&arch, &mut rng);
        let q = gaussian_inputs(&mut rng, 6, 5);
        let x = probes_like(q.view(), 10, 3);
        let eta = 1e-7;
        let step = StepConfig::sgd(eta).unwrap();
        let model = Tunable::Whole(net.clone());
        check_against_the_step(
            &model,
            |d| one_step(&net, d, &step).unwrap().updated,
            &q,
            &x,
            eta,
        );
    }

    /// The same for LoRA adapters trained alone: the adapter's NTK `Θ_φ`
    /// predicts the adapter step, not the merged network's NTK.
    #[test]
    fn the_adapter_ntk_predicts_the_adapter_step() {
        let arch = Architecture::new(vec![5, 12, 3], Activation::Relu, true).unwrap();
        let mut rng = seeded(8, 0);
        let base = Mlp::random(&arch, &mut rng);
        let lora = Lora::new(base, 2).unwrap();
        let mut phi = lora.init(&mut rng, 3.0);
        phi.mapv_inplace(|v| v + 0.1); // B ≠ 0 too
        let q = gaussian_inputs(&mut rng, 4, 5);
        let x = probes_like(q.view(), 8, 1);
        let eta = 1e-7;
        let step = StepConfig::sgd(eta).unwrap();
        let model = Tunable::Adapter {
            lora: lora.clone(),
            phi: phi.clone(),
        };
        check_against_the_step(
            &model,
            |d| {
                lora.merged(&adapter_step(&lora, &phi, d, &step).unwrap())
                    .unwrap()
            },
            &q,
            &x,
            eta,
        );
    }

    /// Rescaling a unit by `α` (same function) multiplies its outgoing part
    /// of the NTK by `α²`: the reach grows, the function does not.
    #[test]
    fn a_rescaled_twin_reaches_further() {
        let arch = Architecture::new(vec![4, 8, 3], Activation::Relu, true).unwrap();
        let mut rng = seeded(1, 0);
        let net = Mlp::random(&arch, &mut rng);
        let q = gaussian_inputs(&mut rng, 9, 4);
        let x = probes_like(q.view(), 16, 0);
        let twin = crate::reparam::scale_units(&net, 1, &[30.0; 8]).unwrap();
        let a = first_order_reach(&Tunable::Whole(net), q.view(), x.view(), 1e-3).unwrap();
        let b = first_order_reach(&Tunable::Whole(twin), q.view(), x.view(), 1e-3).unwrap();
        assert!(b.median_reach > 100.0 * a.median_reach, "{a:?} {b:?}");
    }
}
