//! Per-example Jacobians `J(x) = ∂f_θ(x)/∂θ ∈ R^{k × P}` and the empirical
//! neural tangent kernel `Θ(x, x') = J(x) J(x')ᵀ ∈ R^{k × k}`.
//!
//! The NTK is computed layer by layer without materialising `J`:
//! with `G_l^{(c)}` the backward signal of output `c` at layer `l`,
//! `Θ_{cc'}(x, x') = Σ_l ⟨G_l^{(c)}(x), G_l^{(c')}(x')⟩ (⟨h_{l−1}(x), h_{l−1}(x')⟩ + [bias])`.
//! `tests/gradients_fd.rs` checks `J` against finite differences and this
//! formula against the explicit product `J Jᵀ`.
//!
//! First order, one step moves the outputs by
//! `Δf(x) ≈ −η Σ_n Θ(x, x_n) r_n` (`r_n` the residuals), which is why a
//! reparameterization that keeps `f` but changes `Θ` changes the update.

use crate::error::Result;
use crate::kernels;
use crate::net::backward::backprop_deltas;
use crate::net::{ForwardCache, Mlp};
use ndarray::{Array2, ArrayView2};

/// Backward signals `G_l^{(c)}` for each output `c` (outer index `c`, inner `l`).
fn output_deltas(net: &Mlp, cache: &ForwardCache) -> Vec<Vec<Array2<f64>>> {
    let (n, k) = cache.output().dim();
    (0..k)
        .map(|c| {
            let mut seed = Array2::zeros((n, k));
            seed.column_mut(c).fill(1.0);
            backprop_deltas(net, cache, seed)
        })
        .collect()
}

/// `J` stacked over a batch: row `n·k + c` is `∂f_c(x_n)/∂θ` in the flat
/// parameter order of [`Mlp::to_flat`]. Shape `(N k) × P`.
pub fn jacobian(net: &Mlp, x: ArrayView2<f64>) -> Result<Array2<f64>> {
    let cache = net.forward_cache(x)?;
    let (n, k) = cache.output().dim();
    let deltas = output_deltas(net, &cache);
    let mut jac = Array2::zeros((n * k, net.num_params()));
    for (c, per_layer) in deltas.iter().enumerate() {
        for s in 0..n {
            let mut row = jac.row_mut(s * k + c);
            let mut col = 0;
            for (g, h) in per_layer.iter().zip(&cache.inputs) {
                let (gs, hs) = (g.row(s), h.row(s));
                for &gi in gs.iter() {
                    for &hj in hs.iter() {
                        row[col] = gi * hj;
                        col += 1;
                    }
                }
                if net.has_bias() {
                    for &gi in gs.iter() {
                        row[col] = gi;
                        col += 1;
                    }
                }
            }
        }
    }
    Ok(jac)
}

/// The empirical NTK `Θ(X1, X2)`, shape `(N1 k) × (N2 k)`, entry
/// `(n·k + c, n'·k + c') = Θ_{cc'}(x_n, x'_{n'})`.
pub fn ntk(net: &Mlp, x1: ArrayView2<f64>, x2: ArrayView2<f64>) -> Result<Array2<f64>> {
    let c1 = net.forward_cache(x1)?;
    let c2 = net.forward_cache(x2)?;
    let (n1, k) = c1.output().dim();
    let n2 = c2.output().nrows();
    let d1 = output_deltas(net, &c1);
    let d2 = output_deltas(net, &c2);
    let mut theta = Array2::zeros((n1 * k, n2 * k));
    for l in 0..net.depth() {
        let mut kh = kernels::matmul_nt(c1.inputs[l].view(), c2.inputs[l].view());
        if net.has_bias() {
            kh.mapv_inplace(|v| v + 1.0);
        }
        for c in 0..k {
            for cp in 0..k {
                let kg = kernels::matmul_nt(d1[c][l].view(), d2[cp][l].view());
                let block = kernels::hadamard(&kg, &kh);
                for ((a, b), v) in block.indexed_iter() {
                    theta[[a * k + c, b * k + cp]] += v;
                }
            }
        }
    }
    Ok(theta)
}
