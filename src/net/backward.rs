//! Exact reverse-mode gradient of the mean loss:
//!
//! `G_L = R` (the residuals, `R[n] = (1/N) ∂ℓ/∂f(x_n)`),
//! `G_{l−1} = (G_l W_l) ⊙ σ'(Z_{l−1})`,
//! `∂L/∂W_l = G_lᵀ H_{l−1}`, `∂L/∂b_l = Σ_n G_l[n]`.
//!
//! Checked against central finite differences in `tests/gradients_fd.rs`.

use crate::error::Result;
use crate::kernels;
use crate::net::loss::{loss_and_residuals, output_terms};
use crate::net::{Dataset, ForwardCache, Layer, Mlp};
use ndarray::Array2;

/// `(L_D(θ), ∇_θ L_D(θ))`; the gradient is returned in the network's shape.
pub fn gradient(net: &Mlp, data: &Dataset) -> Result<(f64, Mlp)> {
    let pass = Backprop::new(net, data)?;
    Ok((pass.loss(), pass.gradient()?))
}

/// `L_D(θ)`, writing `∇_θ L_D(θ)` into `grad` (a buffer of the network's
/// shape, e.g. from [`Mlp::zeros_like`], whose old values are ignored).
/// Reusing one buffer across steps saves faulting in fresh `n_l × n_{l−1}`
/// pages every call; the values are those of [`gradient`], to the bit.
pub fn gradient_into(net: &Mlp, data: &Dataset, grad: &mut Mlp) -> Result<f64> {
    let pass = Backprop::new(net, data)?;
    pass.gradient_into(grad)?;
    Ok(pass.loss())
}

/// One forward and backward pass of a network on a dataset: the forward
/// cache (`H_{l−1}`, `Z_l`), the loss and the backward signals `G_l`. The
/// gradient and the Hessian-vector product at the same point share it
/// ([`Backprop::hvp`]), so a second-order meta-gradient makes one pass over
/// the update set instead of two. It borrows the network, so it cannot
/// be applied to another.
pub struct Backprop<'a> {
    pub(crate) net: &'a Mlp,
    pub(crate) cache: ForwardCache,
    pub(crate) deltas: Vec<Array2<f64>>,
    /// `softmax(f)` row by row for a cross-entropy loss (the HVP's
    /// `∂²ℓ/∂f²`), `None` for squared error.
    pub(crate) probs: Option<Array2<f64>>,
    loss: f64,
}

impl<'a> Backprop<'a> {
    /// The passes of `net` on `data`.
    pub fn new(net: &'a Mlp, data: &'a Dataset) -> Result<Self> {
        data.check_compatible(net)?;
        let cache = net.forward_cache(data.x().view())?;
        let terms = output_terms(cache.output(), data.targets());
        let deltas = backprop_deltas(net, &cache, terms.residuals);
        Ok(Self {
            net,
            cache,
            deltas,
            probs: terms.probs,
            loss: terms.loss,
        })
    }

    /// `L_D(θ)`.
    pub fn loss(&self) -> f64 {
        self.loss
    }

    /// `∂L/∂W_l = G_lᵀ H_{l−1}`, `∂L/∂b_l = Σ_n G_l[n]` in the network's
    /// shape (the values of [`Backprop::gradient_into`], to the bit, without
    /// a zeroed buffer to overwrite); errors if the loss or the gradient is
    /// not finite.
    pub fn gradient(&self) -> Result<Mlp> {
        let layers = self
            .net
            .layers()
            .iter()
            .zip(&self.deltas)
            .zip(&self.cache.inputs)
            .map(|((layer, g), h)| Layer {
                weight: kernels::matmul(g.t(), h.view()),
                bias: layer.bias.as_ref().map(|_| kernels::column_sums(g)),
            })
            .collect();
        let grad = Mlp::from_parts(layers, self.net.activation());
        self.check_finite(&grad)?;
        Ok(grad)
    }

    /// Errors if the loss or the gradient `grad` is not finite.
    fn check_finite(&self, grad: &Mlp) -> Result<()> {
        if !self.loss.is_finite() {
            return Err(crate::Error::NonFinite("loss".into()));
        }
        grad.check_finite("gradient")
    }

    /// `∂L/∂W_l = G_lᵀ H_{l−1}`, `∂L/∂b_l = Σ_n G_l[n]`, written into `grad`
    /// (the network's shape); errors if the loss or the gradient is not finite.
    pub fn gradient_into(&self, grad: &mut Mlp) -> Result<()> {
        self.net.check_same_shape(grad)?;
        for ((out, g), h) in grad
            .layers_mut()
            .iter_mut()
            .zip(&self.deltas)
            .zip(&self.cache.inputs)
        {
            kernels::matmul_into(g.t(), h.view(), out.weight.view_mut());
            if let Some(b) = out.bias.as_mut() {
                b.assign(&kernels::column_sums(g));
            }
        }
        self.check_finite(grad)
    }
}

/// The residual matrix `R` (`N × k`, `R[n] = (1/N) ∂ℓ/∂f(x_n)`) of `net` on `data`.
pub fn output_residuals(net: &Mlp, data: &Dataset) -> Result<Array2<f64>> {
    data.check_compatible(net)?;
    let f = net.forward(data.x().view())?;
    Ok(loss_and_residuals(&f, data.targets()).1)
}

/// `G_l = ∂(⟨G_L, f⟩)/∂Z_l` for every layer, starting from `G_L = g_out`.
pub(crate) fn backprop_deltas(
    net: &Mlp,
    cache: &ForwardCache,
    g_out: Array2<f64>,
) -> Vec<Array2<f64>> {
    let depth = net.depth();
    let mut deltas = vec![g_out];
    for l in (1..depth).rev() {
        let g = deltas.last().expect("non-empty");
        let mut back = kernels::matmul(g.view(), net.layers()[l].weight.view());
        kernels::times_derivative_in_place(&mut back, &cache.pre[l - 1], net.activation());
        deltas.push(back);
    }
    deltas.reverse();
    deltas
}
