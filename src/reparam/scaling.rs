//! Per-unit rescaling and sign flips of hidden units.
//!
//! * Positive scaling, for positively homogeneous `σ` (`σ(αz) = ασ(z)`, α > 0:
//!   ReLU, leaky ReLU, identity): `(u_j, b_j, v_j) → (α_j u_j, α_j b_j, v_j/α_j)`.
//!   Then `v_j σ(α_j(u_j·h + b_j))/α_j = v_j σ(u_j·h + b_j)`.
//!   Gradients: `∂L/∂u'_j = ∂L/∂u_j / α_j`, `∂L/∂v'_j = α_j ∂L/∂v_j`, so one
//!   step moves the function by a different amount unless every `α_j = 1`.
//! * Sign flip, for odd `σ` (tanh, identity): `(u_j, b_j, v_j) → (−u_j, −b_j, −v_j)`.
//!   An orthogonal map of parameter space, so the one-step future is the same
//!   function (up to rounding): an isometry, not a hair trigger.

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::reparam::hidden_width;

/// Scale unit `j` of hidden layer `hidden` by `alphas[j] > 0` (incoming and
/// bias times `α_j`, outgoing divided by `α_j`).
pub fn scale_units(net: &Mlp, hidden: usize, alphas: &[f64]) -> Result<Mlp> {
    let width = hidden_width(net, hidden)?;
    if !net.activation().is_positively_homogeneous() {
        return Err(Error::NotApplicable {
            construction: "positive per-unit scaling",
            activation: net.activation().name(),
            reason: "needs σ(αz) = ασ(z) for α > 0 (ReLU, leaky ReLU, identity)",
        });
    }
    if alphas.len() != width {
        return Err(Error::DimensionMismatch {
            context: "number of scale factors vs hidden width",
            expected: width,
            got: alphas.len(),
        });
    }
    if let Some(&bad) = alphas.iter().find(|a| !(a.is_finite() && **a > 0.0)) {
        return Err(Error::InvalidParameter {
            name: "unit scale factor alpha",
            value: bad,
            expected: "must be finite and > 0",
        });
    }
    Ok(rescale(net, hidden, alphas))
}

/// Flip the sign of the units of hidden layer `hidden` where `flip[j]` is true.
pub fn flip_signs(net: &Mlp, hidden: usize, flip: &[bool]) -> Result<Mlp> {
    let width = hidden_width(net, hidden)?;
    if !net.activation().is_odd() {
        return Err(Error::NotApplicable {
            construction: "sign flip",
            activation: net.activation().name(),
            reason: "needs an odd activation, σ(−z) = −σ(z) (tanh, identity)",
        });
    }
    if flip.len() != width {
        return Err(Error::DimensionMismatch {
            context: "number of sign flags vs hidden width",
            expected: width,
            got: flip.len(),
        });
    }
    let signs: Vec<f64> = flip.iter().map(|&f| if f { -1.0 } else { 1.0 }).collect();
    Ok(rescale(net, hidden, &signs))
}

/// `(u_j, b_j, v_j) → (s_j u_j, s_j b_j, v_j / s_j)`, unchecked.
fn rescale(net: &Mlp, hidden: usize, s: &[f64]) -> Mlp {
    let mut out = net.clone();
    let layers = out.layers_mut();
    for (j, &sj) in s.iter().enumerate() {
        layers[hidden - 1]
            .weight
            .row_mut(j)
            .mapv_inplace(|w| w * sj);
        if let Some(b) = layers[hidden - 1].bias.as_mut() {
            b[j] *= sj;
        }
        layers[hidden].weight.column_mut(j).mapv_inplace(|w| w / sj);
    }
    out
}
