//! Zero-input units: new hidden units with incoming weights and bias exactly
//! zero and arbitrary outgoing weights `v_j`. Their pre-activation is `0` on
//! every input, so for an activation with `σ(0) = 0` (leaky ReLU, tanh, GELU)
//! they add `v_j · σ(0) = 0` to `f`: the function is unchanged, bit for bit.
//!
//! Unlike dormant units ([`super::dormant`]) they are *trainable through
//! their input*: the incoming gradient is `Σ_n σ'(0) (v_j·r_n) z(x_n)`
//! (`r_n = (1/N) ∂ℓ/∂f(x_n)`, `z` the layer's input), non-zero whenever
//! `σ'(0) ≠ 0` (leaky ReLU: the slope `a`, PyTorch's convention at the kink;
//! tanh: 1; GELU: ½; plain ReLU: 0, so there they never move). Their outgoing
//! weights do not move (`Σ_n r_n σ(0) = 0`), and since `u_j = 0` they send
//! nothing back to the layers below. After one SGD step their pre-activation
//! at `x` is `π_j(x) = −η σ'(0) Σ_n (v_j·r_n) (z(x_n)·z⁺(x) + 1)` (the `+1`
//! from the bias), and the function gains `Σ_j v_j σ(π_j(x))` — the raw
//! material of the zero-input hair trigger (claim C2,
//! `paper-notes/c2-any-update-set.md`).
//!
//! **Pairs, for `σ(0) ≠ 0` (the sigmoid).** A lone zero-input unit would add
//! the constant `σ(0) v_j`; a *zero-input cancelling pair* — two such units
//! with outgoing `+v_j` and `−v_j` ([`add_zero_input_pairs`]) — adds
//! `σ(0) v_j − σ(0) v_j = 0`, so `f` is unchanged in exact arithmetic (in
//! floating point to the rounding of the two extra terms of each sum, not bit
//! for bit). In one SGD step both outgoing vectors move by the same
//! `Δ = −η σ(0) Σ_n r_n`, the incoming ones by `±a_j`,
//! `a_j = −η σ'(0) Σ_n (v_j·r_n) (z(x_n), 1)`, and since
//! `σ(π) + σ(−π) = 2σ(0)` holds for every `σ` with `σ(x) − σ(0)` odd (the
//! sigmoid: `σ(−x) = 1 − σ(x)`), the pair then adds
//!
//! `(v_j + Δ) σ(π_j) + (−v_j + Δ) σ(−π_j) = v_j ψ(π_j(x)) + 2σ(0) Δ`,
//! `ψ(π) = σ(π) − σ(−π)` (`= tanh(π/2)` for the sigmoid, `ψ'(0) = 2σ'(0)`).
//!
//! The `2σ(0) Δ` term does not depend on `v_j` and is exactly what two inert
//! units (`u = 0, b = 0, v = 0`) add after the same step, so against an aligned
//! model padded with inert units the pair's gain is `v_j ψ(π_j(x))`: a
//! zero-input unit of response `ψ`.

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::reparam::append_units;
use ndarray::{Array1, Array2};

/// Append units with zero incoming weights and bias and outgoing weights `v`
/// (`n_{l+1} × m`, one column per unit) to hidden layer `hidden`. Refused
/// for an activation with `σ(0) ≠ 0` (the units would not be silent).
pub fn add_zero_input_units(net: &Mlp, hidden: usize, v: &Array2<f64>) -> Result<Mlp> {
    let act = net.activation();
    if !act.is_silent_at_zero() {
        return Err(Error::NotApplicable {
            construction: "zero-input units",
            activation: act.name(),
            reason: "a unit with zero input is silent only when σ(0) = 0",
        });
    }
    crate::reparam::hidden_width(net, hidden)?;
    let n_in = net.layers()[hidden - 1].n_in();
    let m = v.ncols();
    append_units(net, hidden, &Array2::zeros((m, n_in)), &Array1::zeros(m), v)
}

/// Append, for each column `v_j` of `v` (`n_{l+1} × m`), a zero-input
/// cancelling pair — two units with zero incoming weights and bias and
/// outgoing weights `+v_j`, `−v_j`, adjacent (`2m` units in all) — to hidden
/// layer `hidden` (module docs). Any activation: the pair's two terms cancel
/// whatever `σ(0)` is. Non-finite outgoing weights are refused.
pub fn add_zero_input_pairs(net: &Mlp, hidden: usize, v: &Array2<f64>) -> Result<Mlp> {
    if let Some(bad) = v.iter().copied().find(|x| !x.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "zero-input pair outgoing weight",
            value: bad,
            expected: "must be finite",
        });
    }
    crate::reparam::hidden_width(net, hidden)?;
    let n_in = net.layers()[hidden - 1].n_in();
    let m = v.ncols();
    let paired = Array2::from_shape_fn((v.nrows(), 2 * m), |(i, j)| {
        let x = v[[i, j / 2]];
        if j % 2 == 0 {
            x
        } else {
            -x
        }
    });
    append_units(
        net,
        hidden,
        &Array2::zeros((2 * m, n_in)),
        &Array1::zeros(2 * m),
        &paired,
    )
}
