//! Deep linear chain rescaling: for an identity activation,
//! `W_{l+1} W_l = (W_{l+1} A⁻¹)(A W_l)` for any invertible `A`, and the bias
//! moves with it, `b_l → A b_l`. The scalar case is `(w1, w2) → (c, 1/c)`.
//!
//! Gradients transform contravariantly: `∂L/∂(A W_l) = A⁻ᵀ ∂L/∂W_l`,
//! `∂L/∂(W_{l+1}A⁻¹) = ∂L/∂W_{l+1} Aᵀ`, so the step — and the function after the
//! step — changes unless `A` is orthogonal.
//!
//! The scalar chain `f(x) = w2 w1 x` with `ℓ = ½(f − y)²`, `g = f(x) − y`
//! (the worked example of `paper-notes/reparameterizations.md`, §1) has the exact one-step product
//! `w1⁺ w2⁺ = w1 w2 − η g x (w1² + w2²) + η² g² x² w1 w2`;
//! at `(c, 1/c)` this is `1 − η g x (c² + c⁻²) + η² g² x²`, unbounded in `c`.

use crate::error::{check_learning_rate, Error, Result};
use crate::kernels::{self, linalg};
use crate::net::Mlp;
use crate::reparam::hidden_width;
use ndarray::Array2;
use serde::Serialize;

/// `W_l → A W_l`, `b_l → A b_l`, `W_{l+1} → W_{l+1} A⁻¹` at hidden layer
/// `hidden`. Needs the identity activation and an invertible `A` of the layer's
/// width; a singular `A` is an [`Error::SingularMatrix`].
pub fn rescale_linear_chain(net: &Mlp, hidden: usize, a: &Array2<f64>) -> Result<Mlp> {
    let width = hidden_width(net, hidden)?;
    if !net.activation().is_linear() {
        return Err(Error::NotApplicable {
            construction: "linear chain rescaling",
            activation: net.activation().name(),
            reason: "σ(A z) = A σ(z) for all invertible A needs a linear activation",
        });
    }
    if a.nrows() != width || a.ncols() != width {
        return Err(Error::DimensionMismatch {
            context: "change of basis A (rows, cols) vs hidden width",
            expected: width,
            got: if a.nrows() != width {
                a.nrows()
            } else {
                a.ncols()
            },
        });
    }
    let a_inv = linalg::inverse(a)?;
    let mut out = net.clone();
    let layers = out.layers_mut();
    let inc = &mut layers[hidden - 1];
    inc.weight = kernels::matmul(a.view(), inc.weight.view());
    if let Some(b) = inc.bias.as_mut() {
        *b = a.dot(b);
    }
    let next = &mut layers[hidden];
    next.weight = kernels::matmul(next.weight.view(), a_inv.view());
    out.check_finite("rescaled linear chain")?;
    Ok(out)
}

/// The terms of the scalar chain's exact one-step product.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct ScalarChainStep {
    /// `w1 w2` before the step.
    pub product_before: f64,
    /// `η g x (w1² + w2²)`, the first-order term (subtracted).
    pub first_order: f64,
    /// `η² g² x² w1 w2`, the second-order term (added).
    pub second_order: f64,
    /// `w1⁺ w2⁺ = product_before − first_order + second_order`.
    pub product_after: f64,
}

impl ScalarChainStep {
    /// `max(|w1w2|, |η g x (w1²+w2²)|, |η² g² x² w1w2|)`: the scale against
    /// which rounding of the closed form is measured.
    pub fn largest_term(&self) -> f64 {
        self.product_before
            .abs()
            .max(self.first_order.abs())
            .max(self.second_order.abs())
    }
}

/// Closed form of one SGD step on `f(x) = w2 w1 x`, one sample `(x, y)`,
/// `ℓ = ½(f − y)²`.
pub fn scalar_chain_post_step(
    w1: f64,
    w2: f64,
    x: f64,
    y: f64,
    eta: f64,
) -> Result<ScalarChainStep> {
    check_learning_rate(eta)?;
    for (name, v) in [("w1", w1), ("w2", w2), ("x", x), ("y", y)] {
        if !v.is_finite() {
            return Err(Error::InvalidParameter {
                name,
                value: v,
                expected: "must be finite",
            });
        }
    }
    let p = w1 * w2;
    let g = p * x - y;
    let first_order = eta * g * x * (w1 * w1 + w2 * w2);
    let second_order = eta * eta * g * g * x * x * p;
    Ok(ScalarChainStep {
        product_before: p,
        first_order,
        second_order,
        product_after: p - first_order + second_order,
    })
}
