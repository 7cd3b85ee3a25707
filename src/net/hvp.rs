//! Exact Hessian-vector product `H_D(θ) v = ∇²_θ L_D(θ) v` by Pearlmutter's
//! R-operator (forward-over-reverse), `R{·} = d/dε (·)(θ + εv) |_{ε=0}`:
//!
//! forward: `R{H_0} = 0`, `R{Z_l} = R{H_{l−1}} W_lᵀ + H_{l−1} V_lᵀ + 1 v_{b,l}ᵀ`,
//! `R{H_l} = σ'(Z_l) ⊙ R{Z_l}`;
//! loss: `R{G_L} = (1/N) ∂²ℓ/∂f² R{f}`;
//! backward (`B_l = G_l W_l`): `R{G_{l−1}} = (R{G_l} W_l + G_l V_l) ⊙ σ'(Z_{l−1})
//! + B_l ⊙ σ''(Z_{l−1}) ⊙ R{Z_{l−1}}`;
//! parameters: `R{∂L/∂W_l} = R{G_l}ᵀ H_{l−1} + G_lᵀ R{H_{l−1}}`,
//! `R{∂L/∂b_l} = Σ_n R{G_l}[n]`.
//!
//! Cost: `9F − 6F_1` FLOP of matrix products (`F` those of one forward pass,
//! `F_1` the first layer's share; no product is formed with `R{H_0} = 0`),
//! three gradients' worth. Checked against central differences of the
//! gradient in `tests/gradients_fd.rs`; used by the second-order meta-gradient
//! `(I − η H_D) ∇L_mis(θ⁺)` (claim C4).

use crate::error::Result;
use crate::kernels;
use crate::net::backward::Backprop;
use crate::net::loss::output_hessian_times;
use crate::net::{Dataset, Mlp};
use ndarray::{concatenate, s, Array2, Axis};

/// `∇²_θ L_D(θ) · v`, in the network's shape.
pub fn hvp(net: &Mlp, data: &Dataset, v: &Mlp) -> Result<Mlp> {
    Backprop::new(net, data)?.hvp(v)
}

/// [`hvp`] written into `out` (a buffer of the network's shape whose old
/// values are ignored), so that repeated products reuse its `n_l × n_{l−1}`
/// pages; the values are those of [`hvp`], to the bit.
pub fn hvp_into(net: &Mlp, data: &Dataset, v: &Mlp, out: &mut Mlp) -> Result<()> {
    Backprop::new(net, data)?.hvp_into(v, out)
}

impl Backprop<'_> {
    /// [`hvp`] at this pass's network and data, reusing its forward cache and
    /// backward signals (e.g. those its gradient was computed from), to the bit.
    pub fn hvp(&self, v: &Mlp) -> Result<Mlp> {
        let mut out = self.net.zeros_like();
        self.hvp_into(v, &mut out)?;
        Ok(out)
    }

    /// [`Backprop::hvp`] written into `out` (the network's shape; old values
    /// ignored); errors if the product is not finite.
    pub fn hvp_into(&self, v: &Mlp, out: &mut Mlp) -> Result<()> {
        let net = self.net;
        net.check_same_shape(v)?;
        net.check_same_shape(out)?;
        let act = net.activation();
        let depth = net.depth();
        let cache = &self.cache;

        // Forward tangent: R{H_{l−1}} (inputs, `r_inputs[l − 1]` for l ≥ 1;
        // R{H_0} = 0 is never formed) and R{Z_l}.
        let batch = cache.inputs[0].nrows();
        let mut r_inputs: Vec<Array2<f64>> = Vec::with_capacity(depth - 1);
        let mut r_pre: Vec<Array2<f64>> = Vec::with_capacity(depth);
        for (l, (layer, dir)) in net.layers().iter().zip(v.layers()).enumerate() {
            let mut rz = match r_inputs.last() {
                Some(r_h) => kernels::matmul_nt(r_h.view(), layer.weight.view()),
                None => Array2::zeros((batch, layer.weight.nrows())),
            };
            let vb = dir.bias.as_ref().map(|b| b.view());
            let next = if l + 1 < depth {
                let hv = kernels::matmul_nt(cache.inputs[l].view(), dir.weight.view());
                Some(kernels::tangent_activate(
                    &mut rz,
                    &hv,
                    vb,
                    &cache.pre[l],
                    act,
                ))
            } else {
                rz += &kernels::affine(cache.inputs[l].view(), dir.weight.view(), vb);
                None
            };
            r_pre.push(rz);
            match next {
                Some(n) => r_inputs.push(n),
                None => break,
            }
        }

        // Backward signals and their tangents.
        let deltas = &self.deltas;
        let mut r_delta = output_hessian_times(self.probs.as_ref(), &r_pre[depth - 1]);
        for l in (0..depth).rev() {
            let g = &deltas[l];
            let target = &mut out.layers_mut()[l];
            // R{G}ᵀ H + Gᵀ R{H} as one product over the stacked batch, so the
            // n_l × n_{l−1} result is written once; R{G_1}ᵀ H_0 alone at l = 0.
            if l == 0 {
                let h = cache.inputs[0].view();
                kernels::matmul_into(r_delta.t(), h, target.weight.view_mut());
            } else {
                let left = concatenate(Axis(0), &[r_delta.view(), g.view()]).expect("same widths");
                let right = concatenate(Axis(0), &[cache.inputs[l].view(), r_inputs[l - 1].view()])
                    .expect("same widths");
                kernels::matmul_into(left.t(), right.view(), target.weight.view_mut());
            }
            if let Some(b) = target.bias.as_mut() {
                b.assign(&kernels::column_sums(&r_delta));
            }
            if l == 0 {
                break;
            }
            // G W and R{G} W as one product of the stacked signals, so W is
            // packed once (row-wise, hence the same bits as two products).
            let w = &net.layers()[l].weight;
            let n = g.nrows();
            let stacked = concatenate(Axis(0), &[g.view(), r_delta.view()]).expect("same widths");
            let both = kernels::matmul(stacked.view(), w.view());
            let (back, rgw) = (both.slice(s![..n, ..]), both.slice(s![n.., ..]));
            let gv = kernels::matmul(g.view(), v.layers()[l].weight.view());
            r_delta = kernels::second_order_backward(
                rgw,
                &gv,
                back,
                &cache.pre[l - 1],
                &r_pre[l - 1],
                act,
            );
        }
        out.check_finite("Hessian-vector product")
    }
}
