//! Property tests for every forward-equivalent reparameterization (claim C1),
//! over random architectures (widths 1..=64, 1..=4 hidden layers), activations
//! and parameters:
//!
//! * the forward pass is unchanged: `max|f' − f| ≤ 1e-10 · max|f|` (f64);
//! * the gradient changes exactly as the transformation law in
//!   `paper-notes/reparameterizations.md` predicts (relative error ≤ 1e-10),
//!   and where that law predicts a change (`α ≠ 1`, `β ∉ {0,1}`, new units), the
//!   measured gradient differs from the original;
//! * isometries (permutation, sign flip) give the same function after one step.

mod common;

use common::{net_and_data, rel_err};
use hairtrigger::finite::{max_abs, max_abs_diff};
use hairtrigger::net::gaussian_inputs;
use hairtrigger::net::{gradient, loss_value, Layer};
use hairtrigger::reparam::*;
use hairtrigger::rng::seeded;
use hairtrigger::update::{one_step, StepConfig};
use hairtrigger::{Activation, Dataset, Mlp};
use ndarray::{Array1, Array2, Axis};
use proptest::prelude::*;
use rand::Rng;

const FWD_TOL: f64 = 1e-10;
const GRAD_TOL: f64 = 1e-10;

/// Widths `[d, n_1..n_h, k]` with 1..=4 hidden layers and every width in 1..=64.
fn widths() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..=64, 3..=6)
}

/// Forward deviation on 64 random inputs, relative to `max|f|`.
fn forward_rel_dev(a: &Mlp, b: &Mlp, seed: u64) -> f64 {
    let x = gaussian_inputs(&mut seeded(seed, 77), 64, a.input_dim());
    let fa = a.forward(x.view()).unwrap();
    let fb = b.forward(x.view()).unwrap();
    let dev = (&fa - &fb).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let scale = fa.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    if scale == 0.0 {
        dev
    } else {
        dev / scale
    }
}

fn grads(net: &Mlp, data: &Dataset) -> Mlp {
    gradient(net, data).unwrap().1
}

/// Apply `f(weight_in, bias_in, weight_out)` to a copy of a gradient's layers
/// around hidden layer `l` to build the predicted gradient.
fn predict(g: &Mlp, l: usize, f: impl FnOnce(&mut Layer, &mut Layer)) -> Mlp {
    let mut p = g.clone();
    let layers = p.layers_mut();
    let (a, b) = layers.split_at_mut(l);
    f(&mut a[l - 1], &mut b[0]);
    p
}

/// The update set's loss after one SGD step, to compare post-step futures.
/// A gradient of a network with units appended to hidden layer `l`,
/// restricted to the `n` original units' coordinates.
fn original_units(g: &Mlp, l: usize, n: usize) -> Mlp {
    predict(g, l, |inc, out| {
        inc.weight = inc.weight.slice(ndarray::s![..n, ..]).to_owned();
        inc.bias = inc
            .bias
            .as_ref()
            .map(|b| b.slice(ndarray::s![..n]).to_owned());
        out.weight = out.weight.slice(ndarray::s![.., ..n]).to_owned();
    })
}

fn post_step_outputs(net: &Mlp, data: &Dataset, seed: u64) -> Array2<f64> {
    let plus = one_step(net, data, &StepConfig::sgd(1e-3).unwrap())
        .unwrap()
        .updated;
    let x = gaussian_inputs(&mut seeded(seed, 78), 64, net.input_dim());
    plus.forward(x.view()).unwrap()
}

fn pick_hidden(widths: &[usize], seed: u64) -> usize {
    seeded(seed, 5).random_range(1..=widths.len() - 2)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    #[test]
    fn positive_scaling(w in widths(), seed in any::<u64>(), leaky in any::<bool>()) {
        let act = if leaky { Activation::LeakyRelu { slope: 0.2 } } else { Activation::Relu };
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let mut rng = seeded(seed, 6);
        let alphas: Vec<f64> = (0..w[l]).map(|_| rng.random_range(-2.0..2.0f64).exp()).collect();
        let twin = scale_units(&net, l, &alphas).unwrap();
        prop_assert!(forward_rel_dev(&net, &twin, seed) <= FWD_TOL);
        let g = grads(&net, &data);
        let want = predict(&g, l, |inc, out| {
            for (j, &a) in alphas.iter().enumerate() {
                inc.weight.row_mut(j).mapv_inplace(|v| v / a);
                if let Some(b) = inc.bias.as_mut() { b[j] /= a; }
                out.weight.column_mut(j).mapv_inplace(|v| v * a);
            }
        });
        let got = grads(&twin, &data);
        prop_assert!(rel_err(&got, &want) <= GRAD_TOL, "law violated: {:e}", rel_err(&got, &want));
        if rel_err(&want, &g) > 1e-6 {
            prop_assert!(rel_err(&got, &g) > 1e-6, "gradient did not change");
        }
    }

    #[test]
    fn sign_flip_is_an_isometry(w in widths(), seed in any::<u64>(), tanh in any::<bool>()) {
        let act = if tanh { Activation::Tanh } else { Activation::Identity };
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let mut rng = seeded(seed, 6);
        let flips: Vec<bool> = (0..w[l]).map(|_| rng.random_bool(0.5)).collect();
        let twin = flip_signs(&net, l, &flips).unwrap();
        prop_assert!(forward_rel_dev(&net, &twin, seed) <= FWD_TOL);
        let g = grads(&net, &data);
        let want = predict(&g, l, |inc, out| {
            for (j, &f) in flips.iter().enumerate() {
                if f {
                    inc.weight.row_mut(j).mapv_inplace(|v| -v);
                    if let Some(b) = inc.bias.as_mut() { b[j] = -b[j]; }
                    out.weight.column_mut(j).mapv_inplace(|v| -v);
                }
            }
        });
        prop_assert!(rel_err(&grads(&twin, &data), &want) <= GRAD_TOL);
        let (a, b) = (post_step_outputs(&net, &data, seed), post_step_outputs(&twin, &data, seed));
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        prop_assert!((&a - &b).iter().all(|d| d.abs() <= FWD_TOL * scale));
    }

    #[test]
    fn permutation_is_an_isometry(w in widths(), seed in any::<u64>(), act_i in 0usize..6) {
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let mut perm: Vec<usize> = (0..w[l]).collect();
        rand::seq::SliceRandom::shuffle(perm.as_mut_slice(), &mut seeded(seed, 6));
        let twin = permute_units(&net, l, &perm).unwrap();
        prop_assert!(forward_rel_dev(&net, &twin, seed) <= FWD_TOL);
        let g = grads(&net, &data);
        let want = predict(&g, l, |inc, out| {
            inc.weight = inc.weight.select(Axis(0), &perm);
            if let Some(b) = inc.bias.as_mut() { *b = b.select(Axis(0), &perm); }
            out.weight = out.weight.select(Axis(1), &perm);
        });
        prop_assert!(rel_err(&grads(&twin, &data), &want) <= GRAD_TOL);
        let (a, b) = (post_step_outputs(&net, &data, seed), post_step_outputs(&twin, &data, seed));
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        prop_assert!((&a - &b).iter().all(|d| d.abs() <= FWD_TOL * scale));
    }

    #[test]
    fn linear_chain_rescaling(w in widths(), seed in any::<u64>()) {
        let (net, data) = net_and_data(&w, Activation::Identity, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let n = w[l];
        let mut rng = seeded(seed, 6);
        // A = D + G with a dominant diagonal: invertible and moderately conditioned.
        let a = Array2::from_shape_fn((n, n), |(i, j)| {
            let g = 0.2 * rng.random_range(-1.0..1.0f64) / (n as f64).sqrt();
            if i == j { 1.5 + rng.random_range(0.0..1.0f64) + g } else { g }
        });
        let twin = rescale_linear_chain(&net, l, &a).unwrap();
        prop_assert!(forward_rel_dev(&net, &twin, seed) <= FWD_TOL);
        let a_inv = hairtrigger::kernels::linalg::inverse(&a).unwrap();
        let g = grads(&net, &data);
        let want = predict(&g, l, |inc, out| {
            inc.weight = a_inv.t().dot(&inc.weight);
            if let Some(b) = inc.bias.as_mut() { *b = a_inv.t().dot(b); }
            out.weight = out.weight.dot(&a.t());
        });
        let got = grads(&twin, &data);
        prop_assert!(rel_err(&got, &want) <= 1e-9, "law violated: {:e}", rel_err(&got, &want));
        prop_assert!(rel_err(&got, &g) > 1e-6, "gradient did not change");
    }

    #[test]
    fn unit_splitting(w in widths(), seed in any::<u64>(), act_i in 0usize..6, beta in 0.05f64..0.95) {
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let j = seeded(seed, 6).random_range(0..w[l]);
        let twin = split_unit(&net, l, j, beta).unwrap();
        prop_assert_eq!(twin.layers()[l - 1].n_out(), w[l] + 1);
        prop_assert!(forward_rel_dev(&net, &twin, seed) <= FWD_TOL);
        let g = grads(&net, &data);
        let got = grads(&twin, &data);
        // Law: the original unit's incoming gradient scales by (1−β), the copy's
        // is β times it; both outgoing gradients equal the original's.
        let (gi, go) = (&g.layers()[l - 1], &g.layers()[l]);
        let (ti, to) = (&got.layers()[l - 1], &got.layers()[l]);
        let scale = g.norm().max(1e-300);
        let close = |a: ndarray::ArrayView1<f64>, b: &Array1<f64>| (&a - b).iter().all(|d| d.abs() <= GRAD_TOL * scale);
        prop_assert!(close(ti.weight.row(j), &(&gi.weight.row(j) * (1.0 - beta))));
        prop_assert!(close(ti.weight.row(w[l]), &(&gi.weight.row(j) * beta)));
        prop_assert!(close(to.weight.column(j), &go.weight.column(j).to_owned()));
        prop_assert!(close(to.weight.column(w[l]), &go.weight.column(j).to_owned()));
        // Norm law: ‖g'‖² − ‖g‖² = ‖g_v‖² − 2β(1−β)(‖g_u‖² + g_b²), so the step
        // changes whenever the right side is non-zero.
        let gu = gi.weight.row(j).mapv(|v| v * v).sum() + gi.bias.as_ref().map_or(0.0, |b| b[j] * b[j]);
        let gv = go.weight.column(j).mapv(|v| v * v).sum();
        let predicted = gv - 2.0 * beta * (1.0 - beta) * gu;
        let measured = got.norm().powi(2) - g.norm().powi(2);
        prop_assert!((predicted - measured).abs() <= 1e-10 * scale * scale, "{predicted:e} vs {measured:e}");
        if predicted.abs() > 1e-8 * scale * scale {
            prop_assert!(measured.abs() > 0.0, "gradient norm did not change");
        }
    }

    #[test]
    fn dormant_units(w in widths(), seed in any::<u64>(), act_i in 0usize..6, m in 1usize..8) {
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let twin = add_random_dormant_units(&net, l, m, &mut seeded(seed, 6)).unwrap();
        prop_assert!(forward_rel_dev(&net, &twin, seed) <= FWD_TOL);
        let g = grads(&net, &data);
        let got = grads(&twin, &data);
        let n = w[l];
        // Incoming weights and biases of dormant units get exactly zero gradient.
        prop_assert!(got.layers()[l - 1].weight.rows().into_iter().skip(n).all(|r| r.iter().all(|&v| v == 0.0)));
        prop_assert!(got.layers()[l - 1].bias.as_ref().unwrap().iter().skip(n).all(|&v| v == 0.0));
        // Every original coordinate's gradient is unchanged.
        let restricted = original_units(&got, l, n);
        prop_assert!(rel_err(&restricted, &g) <= GRAD_TOL);
        // The new outgoing gradient matches a finite difference along those coordinates.
        let dir = twin.map(|_| 0.0);
        let mut dir = dir;
        let mut rng = seeded(seed, 8);
        dir.layers_mut()[l].weight.slice_mut(ndarray::s![.., n..]).mapv_inplace(|_| rng.random_range(-1.0..1.0));
        let h = 1e-6;
        let loss = |net: &Mlp| loss_value(&net.forward(data.x().view()).unwrap(), data.targets());
        let (mut up, mut down) = (twin.clone(), twin.clone());
        up.axpy(h, &dir).unwrap();
        down.axpy(-h, &dir).unwrap();
        let fd = (loss(&up) - loss(&down)) / (2.0 * h);
        let exact = got.dot(&dir).unwrap();
        prop_assert!((fd - exact).abs() <= 1e-6 * got.norm().max(1e-12), "fd {fd:e} vs {exact:e}");
    }

    #[test]
    fn zero_input_units(w in widths(), seed in any::<u64>(), act_i in 0usize..5, m in 1usize..6) {
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let mut rng = seeded(seed, 6);
        let v = Array2::from_shape_fn((w[l + 1], m), |_| rng.random_range(-1.0..1.0));
        let twin = add_zero_input_units(&net, l, &v).unwrap();
        // σ(0) = 0 for every activation here: bit-identical, not just close.
        let x = gaussian_inputs(&mut seeded(seed, 77), 64, net.input_dim());
        prop_assert_eq!(net.forward(x.view()).unwrap(), twin.forward(x.view()).unwrap());
        let got = grads(&twin, &data);
        let n = w[l];
        // Their outgoing weights get exactly zero gradient (σ(0) = 0) ...
        prop_assert!(got.layers()[l].weight.columns().into_iter().skip(n).all(|c| c.iter().all(|&g| g == 0.0)));
        // ... and every original coordinate keeps its gradient (u = 0 sends nothing back).
        let g = grads(&net, &data);
        let restricted = original_units(&got, l, n);
        prop_assert!(rel_err(&restricted, &g) <= GRAD_TOL);
        if act == Activation::Relu {
            // σ'(0) = 0: the units never move.
            prop_assert!(got.layers()[l - 1].weight.rows().into_iter().skip(n).all(|r| r.iter().all(|&g| g == 0.0)));
        }
    }

    #[test]
    fn zero_input_units_post_step_law(w in widths(), seed in any::<u64>(), act_i in 0usize..5, m in 1usize..6) {
        // In the last hidden layer the one-step future is closed-form:
        // incoming gradient σ'(0) Σ_n (v_j·r_n) (z_n, 1), and after the step the
        // function gains Σ_j v_j σ(π_j(x)), π_j(x) = −η σ'(0) Σ_n (v_j·r_n)(z_n·z⁺(x) + 1).
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = w.len() - 2;
        let mut rng = seeded(seed, 6);
        let v = Array2::from_shape_fn((w[l + 1], m), |_| rng.random_range(-1.0..1.0));
        let twin = add_zero_input_units(&net, l, &v).unwrap();
        let r = hairtrigger::net::output_residuals(&net, &data).unwrap();
        let z = net.last_hidden_input(data.x().view()).unwrap();
        let d0 = act.derivative(0.0);
        let vr = r.dot(&v); // N × m: v_j·r_n
        let pred_u = vr.t().dot(&z) * d0; // m × n_in
        let pred_b = vr.sum_axis(Axis(0)) * d0;
        let got = grads(&twin, &data);
        let (gu, gb) = (&got.layers()[l - 1].weight, got.layers()[l - 1].bias.as_ref().unwrap());
        let n = w[l];
        let scale = max_abs(&pred_u).max(max_abs(&pred_b)).max(1e-300);
        let err_u = max_abs_diff(&gu.slice(ndarray::s![n.., ..]), &pred_u);
        let err_b = max_abs_diff(&gb.slice(ndarray::s![n..]), &pred_b);
        prop_assert!(err_u <= 1e-12 * scale && err_b <= 1e-12 * scale, "incoming gradient off by {:e} (scale {scale:e})", err_u.max(err_b));
        // Ground truth by taking the step on the twin and on the base.
        let eta = 1e-2;
        let cfg = StepConfig::sgd(eta).unwrap();
        let twin_plus = one_step(&twin, &data, &cfg).unwrap().updated;
        let base_plus = one_step(&net, &data, &cfg).unwrap().updated;
        let xq = gaussian_inputs(&mut seeded(seed, 79), 16, net.input_dim());
        let zq = base_plus.last_hidden_input(xq.view()).unwrap();
        let pi = (zq.dot(&z.t()) + 1.0).dot(&vr) * (-eta * d0); // 16 × m
        let gain = pi.mapv(|p| act.apply(p)).dot(&v.t()); // 16 × k
        let measured = twin_plus.forward(xq.view()).unwrap() - base_plus.forward(xq.view()).unwrap();
        let tol = 1e-9 * (1.0 + max_abs(&base_plus.forward(xq.view()).unwrap()));
        let err = max_abs_diff(&measured, &gain);
        prop_assert!(err <= tol, "post-step gain off by {err:e}");
    }

    #[test]
    fn zero_input_pairs_post_step_law(w in widths(), seed in any::<u64>(), act_i in 0usize..6, m in 1usize..6) {
        // Zero-input cancelling pairs (u = 0, b = 0, outgoing +v_j, −v_j), for
        // every activation including the sigmoid (σ(0) = ½): f unchanged to
        // rounding; the pair's incoming gradients are exact negatives and its
        // outgoing ones equal; after one SGD step, against the base padded
        // with 2m inert units, the function gains Σ_j v_j ψ(π_j(x)),
        // ψ(π) = σ(π) − σ(−π), π_j(x) = −η σ'(0) Σ_n (v_j·r_n)(z_n·z⁺(x) + 1)
        // — checked against the real step.
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = w.len() - 2;
        let mut rng = seeded(seed, 6);
        let v = Array2::from_shape_fn((w[l + 1], m), |_| rng.random_range(-1.0..1.0));
        let twin = add_zero_input_pairs(&net, l, &v).unwrap();
        let n_in = w[l - 1];
        let padded = add_dormant_units(&net, l, &Array2::zeros((2 * m, n_in)), &Array1::zeros(2 * m)).unwrap();
        prop_assert!(forward_rel_dev(&padded, &twin, seed) <= FWD_TOL);
        let got = grads(&twin, &data);
        let n = w[l];
        let scale = got.norm().max(1e-300);
        for j in 0..m {
            let (a, b) = (n + 2 * j, n + 2 * j + 1);
            let inc = &got.layers()[l - 1];
            prop_assert!((&inc.weight.row(a) + &inc.weight.row(b)).iter().all(|d| d.abs() <= GRAD_TOL * scale));
            let out = &got.layers()[l].weight;
            prop_assert!((&out.column(a) - &out.column(b)).iter().all(|d| d.abs() <= GRAD_TOL * scale));
        }
        let eta = 1e-2;
        let cfg = StepConfig::sgd(eta).unwrap();
        let twin_plus = one_step(&twin, &data, &cfg).unwrap().updated;
        let padded_plus = one_step(&padded, &data, &cfg).unwrap().updated;
        let base_plus = one_step(&net, &data, &cfg).unwrap().updated;
        let xq = gaussian_inputs(&mut seeded(seed, 79), 16, net.input_dim());
        let r = hairtrigger::net::output_residuals(&net, &data).unwrap();
        let z = net.last_hidden_input(data.x().view()).unwrap();
        let zq = base_plus.last_hidden_input(xq.view()).unwrap();
        let pi = (zq.dot(&z.t()) + 1.0).dot(&r.dot(&v)) * (-eta * act.derivative(0.0)); // 16 × m
        let gain = pi.mapv(|p| act.apply(p) - act.apply(-p)).dot(&v.t()); // 16 × k
        let reference = padded_plus.forward(xq.view()).unwrap();
        let measured = twin_plus.forward(xq.view()).unwrap() - &reference;
        let tol = 1e-9 * (1.0 + max_abs(&reference));
        let err = max_abs_diff(&measured, &gain);
        prop_assert!(err <= tol, "{act}: post-step gain off by {err:e}");
    }

    #[test]
    fn zero_input_gain_never_rises_along_the_kernel_residual(w in widths(), seed in any::<u64>(), act_i in 0usize..5, m in 1usize..6, log_s in -1.0f64..3.0) {
        // The reachability condition of `attack::zero_input::sgd_reach_margins`,
        // against the real step: whatever the units' directions and scales, the
        // post-step gain g(q) has g·r̃(q) ≤ 0, with r̃ computed independently
        // here; so where max_{c≠t} r̃(q)[c] ≤ 0 the gain cannot raise f_t − f_c
        // for every c.
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = w.len() - 2;
        let mut rng = seeded(seed, 6);
        let v = Array2::from_shape_fn((w[l + 1], m), |_| rng.random_range(-1.0..1.0) * 10f64.powf(log_s));
        let twin = add_zero_input_units(&net, l, &v).unwrap();
        let eta = 1e-2;
        let cfg = StepConfig::sgd(eta).unwrap();
        let twin_plus = one_step(&twin, &data, &cfg).unwrap().updated;
        let base_plus = one_step(&net, &data, &cfg).unwrap().updated;
        let xq = gaussian_inputs(&mut seeded(seed, 79), 16, net.input_dim());
        let gain = twin_plus.forward(xq.view()).unwrap() - base_plus.forward(xq.view()).unwrap();
        let rt = hairtrigger::attack::zero_input::kernel_residuals(&net, &data, eta, xq.view()).unwrap();
        let r = hairtrigger::net::output_residuals(&net, &data).unwrap();
        let z = net.last_hidden_input(data.x().view()).unwrap();
        let zq = base_plus.last_hidden_input(xq.view()).unwrap();
        let independent = (zq.dot(&z.t()) + 1.0).dot(&r);
        prop_assert!(max_abs_diff(&rt, &independent) <= 1e-12 * max_abs(&independent).max(1e-300));
        let f_scale = 1.0 + max_abs(&base_plus.forward(xq.view()).unwrap());
        for (g, rq) in gain.rows().into_iter().zip(rt.rows()) {
            let tol = 1e-9 * f_scale * rq.dot(&rq).sqrt();
            prop_assert!(g.dot(&rq) <= tol, "g·r̃ = {:e} > 0", g.dot(&rq));
        }
        let k = net.output_dim();
        prop_assert!(k >= 2 || hairtrigger::attack::zero_input::sgd_reach_margins(&net, &data, eta, xq.view(), 0).is_err());
        for t in (0..k).filter(|_| k >= 2) {
            let margins = hairtrigger::attack::zero_input::sgd_reach_margins(&net, &data, eta, xq.view(), t).unwrap();
            for (i, &mg) in margins.iter().enumerate() {
                if mg <= 0.0 {
                    // Some class keeps its post-step lead over t in the gain.
                    let g = gain.row(i);
                    prop_assert!((0..k).filter(|&c| c != t).any(|c| g[t] - g[c] <= 1e-9 * f_scale));
                }
            }
        }
    }

    #[test]
    fn cancelling_pairs(w in widths(), seed in any::<u64>(), act_i in 0usize..6) {
        let act = common::ACTIVATIONS[act_i];
        let (net, data) = net_and_data(&w, act, true, seed, 6);
        let l = pick_hidden(&w, seed);
        let mut rng = seeded(seed, 6);
        let u = Array1::from_shape_fn(w[l - 1], |_| rng.random_range(-1.0..1.0));
        let v = Array1::from_shape_fn(w[l + 1], |_| rng.random_range(-1.0..1.0));
        let twin = add_cancelling_pair(&net, l, &u, 0.3, &v).unwrap();
        prop_assert!(forward_rel_dev(&net, &twin, seed) <= FWD_TOL);
        let got = grads(&twin, &data);
        let n = w[l];
        let (ti, to) = (&got.layers()[l - 1], &got.layers()[l]);
        let scale = got.norm().max(1e-300);
        // Incoming gradients of the pair are exact negatives; outgoing ones equal.
        prop_assert!((&ti.weight.row(n) + &ti.weight.row(n + 1)).iter().all(|d| d.abs() <= GRAD_TOL * scale));
        prop_assert!((&to.weight.column(n) - &to.weight.column(n + 1)).iter().all(|d| d.abs() <= GRAD_TOL * scale));
        // Original coordinates keep their gradient.
        let g = grads(&net, &data);
        let restricted = original_units(&got, l, n);
        prop_assert!(rel_err(&restricted, &g) <= GRAD_TOL);
    }
}

#[test]
fn non_isometries_change_the_post_step_function() {
    // Deterministic instances: every non-isometric construction changes the
    // function after one step by far more than rounding, and isometries do not.
    use hairtrigger::experiments::equiv::{run_equiv, EquivConfig};
    for act in common::ACTIVATIONS {
        let arch = hairtrigger::Architecture::new(vec![6, 16, 16, 4], act, true).unwrap();
        let cfg = EquivConfig::new(arch, 3, 500, 32, 4, 1e-4).unwrap();
        for r in run_equiv(&cfg)
            .unwrap()
            .into_iter()
            .filter(|r| r.applicable)
        {
            let div = r.post_step_vs_base_step.unwrap();
            assert!(
                r.forward_max_rel.unwrap() <= FWD_TOL,
                "{act} {}",
                r.construction
            );
            if r.isometry {
                assert!(
                    r.post_step_divergence_rel.unwrap() <= FWD_TOL,
                    "{act} {}: {div:e}",
                    r.construction
                );
            } else {
                assert!(
                    div >= 1e-6,
                    "{act} {}: divergence/step {div:e}",
                    r.construction
                );
                assert!(
                    r.ntk_rel_change.unwrap() >= 1e-6,
                    "{act} {}",
                    r.construction
                );
            }
        }
    }
}

/// The cancelling pair's post-step change in a one-hidden-layer ReLU network
/// (whose lower layer is the input, so nothing below the pair moves) is exactly
/// `−2η [G h(x) + σ'(z(x)) e(x) v]` (`paper-notes/reparameterizations.md` §6) at
/// every probe whose pair activation does not flip in the step: the
/// `σ'(z) e(x) v` term from the opposite motion of the incoming weights is
/// needed (without it the error is of the size of the change itself).
#[test]
fn cancelling_pair_change_matches_the_corrected_first_order_law() {
    use hairtrigger::net::{output_residuals, Targets};
    let arch = hairtrigger::Architecture::parse("6,10,3", "relu", true).unwrap();
    let net = Mlp::random(&arch, &mut seeded(3, 0));
    let x = gaussian_inputs(&mut seeded(3, 1), 16, 6);
    let y: Vec<usize> = (0..16).map(|i| i % 3).collect();
    let data = Dataset::new("d", x.clone(), Targets::Classes(y)).unwrap();
    let u = Array1::from(vec![0.7, -0.4, 0.2, 0.9, -0.3, 0.5]);
    let (b, v) = (0.1, Array1::from(vec![1.5, -2.0, 0.8]));
    let twin = add_cancelling_pair(&net, 1, &u, b, &v).unwrap();
    let eta = 1e-3;
    let step = StepConfig::sgd(eta).unwrap();
    let (base_plus, twin_plus) = (
        one_step(&net, &data, &step).unwrap().updated,
        one_step(&twin, &data, &step).unwrap().updated,
    );
    let r = output_residuals(&net, &data).unwrap(); // N × k, includes 1/N
    let pre = |xr: ndarray::ArrayView1<f64>| u.dot(&xr) + b;
    let mut g = Array1::<f64>::zeros(3);
    let mut e = Array1::<f64>::zeros(7);
    for (xn, rn) in x.outer_iter().zip(r.outer_iter()) {
        let z = pre(xn);
        let h = z.max(0.0);
        g += &rn.mapv(|v| v * h);
        if z > 0.0 {
            let w = v.dot(&rn);
            for (i, xi) in xn.iter().enumerate() {
                e[i] += w * xi;
            }
            e[6] += w;
        }
    }
    let probes = gaussian_inputs(&mut seeded(3, 2), 200, 6);
    let (fb, ft) = (
        base_plus.forward(probes.view()).unwrap(),
        twin_plus.forward(probes.view()).unwrap(),
    );
    let (mut checked, mut worst, mut worst_without) = (0, 0.0f64, 0.0f64);
    for (i, p) in probes.outer_iter().enumerate() {
        let z = pre(p);
        let ex: f64 = p.iter().zip(e.iter()).map(|(a, b)| a * b).sum::<f64>() + e[6];
        if z.abs() <= 2.0 * eta * ex.abs() + 1e-9 {
            continue; // the pair's activation may flip at this probe
        }
        let (h, dh) = (z.max(0.0), if z > 0.0 { 1.0 } else { 0.0 });
        let law = (&g * h + &(&v * (dh * ex))) * (-2.0 * eta);
        let law_without = &g * (-2.0 * eta * h);
        let measured = &ft.row(i) - &fb.row(i);
        worst = worst.max(
            (&measured - &law)
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs())),
        );
        worst_without = worst_without.max(
            (&measured - &law_without)
                .iter()
                .fold(0.0f64, |m, v| m.max(v.abs())),
        );
        checked += 1;
    }
    assert!(checked > 100, "{checked}");
    assert!(worst <= 1e-12, "corrected law off by {worst:e}");
    assert!(
        worst_without > 1e-6,
        "the σ' e v term should matter: {worst_without:e}"
    );
}

/// With two classes `r̃(q) = (a, −a)`, so for every query one target of the
/// two is proved unreachable by zero-input units (`max_{c≠t} r̃[c] ≤ 0`); the
/// real step never lets that target gain on the other, at any scale.
#[test]
fn two_classes_one_target_per_query_is_proved_unreachable() {
    use hairtrigger::attack::zero_input::sgd_reach_margins;
    let mut proved = 0;
    for seed in 0..6u64 {
        for act in [
            Activation::Tanh,
            Activation::Gelu,
            Activation::LeakyRelu { slope: 0.1 },
        ] {
            let (net, data) = net_and_data(&[5, 7, 6, 2], act, true, seed, 8);
            let mut rng = seeded(seed, 6);
            let v = Array2::from_shape_fn((2, 4), |_| rng.random_range(-1.0..1.0) * 1e3);
            let twin = add_zero_input_units(&net, 2, &v).unwrap();
            let cfg = StepConfig::sgd(1e-2).unwrap();
            let xq = gaussian_inputs(&mut seeded(seed, 79), 12, 5);
            let gain = one_step(&twin, &data, &cfg)
                .unwrap()
                .updated
                .forward(xq.view())
                .unwrap()
                - one_step(&net, &data, &cfg)
                    .unwrap()
                    .updated
                    .forward(xq.view())
                    .unwrap();
            let m0 = sgd_reach_margins(&net, &data, 1e-2, xq.view(), 0).unwrap();
            let m1 = sgd_reach_margins(&net, &data, 1e-2, xq.view(), 1).unwrap();
            for i in 0..12 {
                // r̃[1] = −r̃[0]: exactly one of the two margins is ≤ 0.
                assert!((m0[i] + m1[i]).abs() <= 1e-12 * m0[i].abs().max(1e-300));
                let t = if m0[i] <= 0.0 { 0 } else { 1 };
                let lead = gain[[i, t]] - gain[[i, 1 - t]];
                assert!(
                    lead <= 1e-9 * (1.0 + gain.row(i).iter().map(|g| g.abs()).fold(0.0, f64::max)),
                    "{act:?} seed {seed} query {i}: target {t} gained {lead:e}"
                );
                proved += 1;
            }
        }
    }
    assert_eq!(proved, 6 * 3 * 12);
}
