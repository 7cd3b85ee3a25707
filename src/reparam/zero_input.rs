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

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::reparam::append_units;
use ndarray::{Array1, Array2};

/// Append units with zero incoming weights and bias and outgoing weights `v`
/// (`n_{l+1} × m`, one column per unit) to hidden layer `hidden`. Refused
/// for an activation with `σ(0) ≠ 0` (the units would not be silent).
pub fn add_zero_input_units(net: &Mlp, hidden: usize, v: &Array2<f64>) -> Result<Mlp> {
    let act = net.activation();
    if act.apply(0.0) != 0.0 {
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
