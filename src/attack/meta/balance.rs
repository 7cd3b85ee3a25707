//! An attacker who knows the audit: meta-learning with a penalty that keeps
//! every hidden unit balanced, so that the norm-imbalance score, the NTK
//! ratio to the canonical form and the canonical form itself see nothing to
//! undo.
//!
//! For hidden unit `j` of layer `l` (incoming `(u_j, b_j)`, outgoing `v_j`,
//! the `j`-th column of layer `l + 1`'s weights) let
//! `d_j = ‖(u_j, b_j)‖² − ‖v_j‖²` — the quantity gradient flow conserves
//! and balancing sets to zero. The penalty is `B(θ) = Σ_{l, j} d_j²`, with
//! `∂B/∂(u_j, b_j) = 4 d_j (u_j, b_j)` and `∂B/∂v_j = −4 d_j v_j`; the
//! adaptive objective is `J(θ) + κ B(θ)`.

use super::{adam_loop, meta_gradient, MetaConfig, MetaData, MetaPoint};
use crate::error::Result;
use crate::net::Mlp;
use crate::progress::Progress;

/// `B(θ)` and `∇B(θ)` (see the module documentation).
pub fn balance_penalty(net: &Mlp) -> (f64, Mlp) {
    let mut grad = net.zeros_like();
    let mut value = 0.0;
    let layers = net.layers();
    for l in 0..layers.len().saturating_sub(1) {
        let (inc, out) = (&layers[l], &layers[l + 1]);
        for j in 0..inc.n_out() {
            let mut a: f64 = inc.weight.row(j).iter().map(|v| v * v).sum();
            if let Some(b) = &inc.bias {
                a += b[j] * b[j];
            }
            let c: f64 = out.weight.column(j).iter().map(|v| v * v).sum();
            let d = a - c;
            value += d * d;
            let g = grad.layers_mut();
            // Layer l's weights are also the outgoing weights of layer l − 1's
            // units (added on the previous pass): accumulate, never overwrite.
            g[l].weight
                .row_mut(j)
                .scaled_add(4.0 * d, &inc.weight.row(j));
            if let (Some(gb), Some(b)) = (g[l].bias.as_mut(), &inc.bias) {
                gb[j] = 4.0 * d * b[j];
            }
            let col = out.weight.column(j).mapv(|v| -4.0 * d * v);
            g[l + 1].weight.column_mut(j).scaled_add(1.0, &col);
        }
    }
    (value, grad)
}

/// Adam on `J(θ) + κ B(θ)` for the whole network, in place (the clip and the
/// rest as [`super::meta_train`]).
pub fn meta_train_balanced(
    net: &mut Mlp,
    data: &MetaData,
    cfg: &MetaConfig,
    kappa: f64,
    bar: &dyn Progress,
) -> Result<Vec<MetaPoint>> {
    let mut flat = net.to_flat();
    let shape = net.clone();
    let curve = adam_loop(
        &mut flat,
        cfg,
        bar,
        |f, cfg| {
            let cur = shape.with_flat(f.as_slice().expect("contiguous"))?;
            let (mut loss, mut g) = meta_gradient(&cur, data, cfg)?;
            let (b, gb) = balance_penalty(&cur);
            g.axpy(kappa, &gb)?;
            loss.total += kappa * b;
            Ok((loss, g.to_flat()))
        },
        |_, _| Ok(()),
    )?;
    *net = shape.with_flat(flat.as_slice().expect("contiguous"))?;
    net.check_finite("balance-penalized meta-learned model")?;
    Ok(curve)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::seeded;
    use crate::{Activation, Architecture};

    /// The gradient against central finite differences, and `B = 0` exactly
    /// on a balanced network.
    #[test]
    fn the_penalty_gradient_is_its_derivative() {
        let arch = Architecture::new(vec![3, 5, 4, 2], Activation::Relu, true).unwrap();
        let net = Mlp::random(&arch, &mut seeded(3, 0));
        let (_, g) = balance_penalty(&net);
        let flat = net.to_flat();
        let gf = g.to_flat();
        let h = 1e-6;
        for i in 0..flat.len() {
            let (mut p, mut m) = (flat.clone(), flat.clone());
            p[i] += h;
            m[i] -= h;
            let fd = (balance_penalty(&net.with_flat(p.as_slice().unwrap()).unwrap()).0
                - balance_penalty(&net.with_flat(m.as_slice().unwrap()).unwrap()).0)
                / (2.0 * h);
            assert!(
                (fd - gf[i]).abs() <= 1e-6 * (1.0 + fd.abs()),
                "{i}: {fd} vs {}",
                gf[i]
            );
        }
        // One hidden layer balanced by α_j = √(‖v_j‖/‖(u_j, b_j)‖).
        let arch = Architecture::new(vec![3, 6, 2], Activation::Relu, true).unwrap();
        let net = Mlp::random(&arch, &mut seeded(4, 0));
        let (l0, l1) = (&net.layers()[0], &net.layers()[1]);
        let alphas: Vec<f64> = (0..6)
            .map(|j| {
                let a =
                    l0.weight.row(j).dot(&l0.weight.row(j)) + l0.bias.as_ref().unwrap()[j].powi(2);
                let c = l1.weight.column(j).dot(&l1.weight.column(j));
                (c.sqrt() / a.sqrt()).sqrt()
            })
            .collect();
        let balanced = crate::reparam::scale_units(&net, 1, &alphas).unwrap();
        let (b, _) = balance_penalty(&balanced);
        assert!(b <= 1e-24 * balanced.norm().powi(4), "B = {b:e}");
        assert!(balance_penalty(&net).0 > 1e-3);
    }
}
