//! Forward-equivalent reparameterizations (claim C1): maps `θ ↦ θ'` with
//! `f_θ' ≡ f_θ` on every input, while `∇L(θ')`, the NTK `Θ` and therefore the
//! one-step future `θ'⁺` generally differ.
//!
//! Hidden layer `l ∈ 1..=L−1` is the output of weight layer `l`: its units have
//! incoming weights `u_j` (row `j` of `W_l`), bias `b_j`, and outgoing weights
//! `v_j` (column `j` of `W_{l+1}`).
//!
//! | construction | file | applies to | isometry of θ-space |
//! |---|---|---|---|
//! | `W_{l+1} W_l → (W_{l+1} A⁻¹)(A W_l)` | [`chain`] | identity activation | only for orthogonal `A` |
//! | `(u, b, v) → (αu, αb, v/α)`, `α > 0` | [`scaling`] | ReLU, leaky ReLU, identity | no (`α ≠ 1`) |
//! | `(u, b, v) → (−u, −b, −v)` | [`scaling`] | tanh, identity | yes |
//! | permutation of units | [`permute`] | all | yes |
//! | split `v → βv, (1−β)v` | [`split`] | all | no |
//! | dormant units (`v = 0`) | [`dormant`] | all | no |
//! | cancelling pair `+v, −v` | [`cancel`] | all | no |
//! | zero-input units (`u = 0, b = 0`, any `v`) | [`zero_input`] | `σ(0) = 0` (leaky ReLU, tanh, GELU, ReLU) | no |
//! | zero-input pairs (`u = 0, b = 0`, `+v, −v`) | [`zero_input`] | all (the sigmoid's zero-input form) | no |
//!
//! [`ReparamKind`] names each kind and draws a random instance of it.
//!
//! Derivations: `paper-notes/reparameterizations.md`; property tests:
//! `tests/reparam_props.rs`.

pub mod cancel;
pub mod chain;
pub mod dormant;
pub mod kind;
pub mod permute;
pub mod scaling;
pub mod split;
pub mod zero_input;

pub use cancel::add_cancelling_pair;
pub use chain::{rescale_linear_chain, scalar_chain_post_step, ScalarChainStep};
pub use dormant::{add_dormant_units, add_random_dormant_units};
pub use kind::ReparamKind;
pub use permute::permute_units;
pub use scaling::{flip_signs, scale_units};
pub use split::split_unit;
pub use zero_input::{add_zero_input_pairs, add_zero_input_units};

use crate::error::{Error, Result};
use crate::net::{Layer, Mlp};
use ndarray::{concatenate, Array1, Array2, Axis};

/// Check that `hidden` names a hidden layer of `net` and return its width.
pub(crate) fn hidden_width(net: &Mlp, hidden: usize) -> Result<usize> {
    let last = net.depth() - 1;
    if hidden == 0 || hidden > last {
        return Err(Error::LayerOutOfRange {
            index: hidden,
            what: "hidden layer",
            lo: 1,
            hi: last,
        });
    }
    Ok(net.layers()[hidden - 1].n_out())
}

/// Check a unit index inside hidden layer `hidden`.
pub(crate) fn check_unit(net: &Mlp, hidden: usize, unit: usize) -> Result<()> {
    let width = hidden_width(net, hidden)?;
    if unit >= width {
        return Err(Error::UnitOutOfRange {
            layer: hidden,
            unit,
            width,
        });
    }
    Ok(())
}

/// Append `m` units to hidden layer `hidden`: incoming rows `u` (`m × n_{l−1}`),
/// biases `b` (`m`, ignored for bias-free networks) and outgoing columns `v`
/// (`n_{l+1} × m`). The shared mechanism of split, dormant and cancelling units.
pub(crate) fn append_units(
    net: &Mlp,
    hidden: usize,
    u: &Array2<f64>,
    b: &Array1<f64>,
    v: &Array2<f64>,
) -> Result<Mlp> {
    hidden_width(net, hidden)?;
    let layers = net.layers();
    let (inc, out) = (&layers[hidden - 1], &layers[hidden]);
    let m = u.nrows();
    let checks = [
        (
            "appended incoming weights: columns vs layer input width",
            inc.n_in(),
            u.ncols(),
        ),
        (
            "appended outgoing weights: rows vs next layer width",
            out.n_out(),
            v.nrows(),
        ),
        (
            "appended outgoing weights: columns vs number of new units",
            m,
            v.ncols(),
        ),
        ("appended biases vs number of new units", m, b.len()),
    ];
    for (context, expected, got) in checks {
        if expected != got {
            return Err(Error::DimensionMismatch {
                context,
                expected,
                got,
            });
        }
    }
    let new_in = Layer {
        weight: concatenate(Axis(0), &[inc.weight.view(), u.view()]).expect("columns match"),
        bias: inc
            .bias
            .as_ref()
            .map(|old| concatenate(Axis(0), &[old.view(), b.view()]).expect("1-d")),
    };
    let new_out = Layer {
        weight: concatenate(Axis(1), &[out.weight.view(), v.view()]).expect("rows match"),
        bias: out.bias.clone(),
    };
    let mut new_layers = layers.to_vec();
    new_layers[hidden - 1] = new_in;
    new_layers[hidden] = new_out;
    Mlp::from_layers(new_layers, net.activation())
}
