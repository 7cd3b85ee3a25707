//! Exact reverse-mode gradient of the mean loss:
//!
//! `G_L = R` (the residuals, `R[n] = (1/N) ∂ℓ/∂f(x_n)`),
//! `G_{l−1} = (G_l W_l) ⊙ σ'(Z_{l−1})`,
//! `∂L/∂W_l = G_lᵀ H_{l−1}`, `∂L/∂b_l = Σ_n G_l[n]`.
//!
//! Checked against central finite differences in `tests/gradients_fd.rs`.

use crate::error::Result;
use crate::kernels;
use crate::net::loss::loss_and_residuals;
use crate::net::{Dataset, ForwardCache, Layer, Mlp};
use ndarray::Array2;

/// `(L_D(θ), ∇_θ L_D(θ))`; the gradient is returned in the network's shape.
pub fn gradient(net: &Mlp, data: &Dataset) -> Result<(f64, Mlp)> {
    data.check_compatible(net)?;
    let cache = net.forward_cache(data.x().view())?;
    let (loss, r) = loss_and_residuals(cache.output(), data.targets());
    let deltas = backprop_deltas(net, &cache, r);
    let grad = weight_gradients(net, &cache, &deltas);
    if !loss.is_finite() {
        return Err(crate::Error::NonFinite("loss".into()));
    }
    grad.check_finite("gradient")?;
    Ok((loss, grad))
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

/// `∂/∂W_l = G_lᵀ H_{l−1}`, `∂/∂b_l = Σ_n G_l[n]`.
pub(crate) fn weight_gradients(net: &Mlp, cache: &ForwardCache, deltas: &[Array2<f64>]) -> Mlp {
    let layers = deltas
        .iter()
        .zip(&cache.inputs)
        .map(|(g, h)| Layer {
            weight: kernels::matmul_tn(g.view(), h.view()),
            bias: net.has_bias().then(|| kernels::column_sums(g)),
        })
        .collect();
    Mlp::from_parts(layers, net.activation())
}
