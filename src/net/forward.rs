//! The forward pass `h_0 = x`, `z_l = W_l h_{l−1} + b_l`, `h_l = σ(z_l)`
//! (`l < L`), `f = z_L`, batched over the rows of `X`.

use crate::error::Result;
use crate::kernels;
use crate::net::Mlp;
use ndarray::{Array2, ArrayView2};

/// Everything the backward pass needs: the input `h_{l−1}` and the
/// pre-activation `z_l` of every layer (`inputs[0] = X`, `pre[L−1] = f`).
#[derive(Clone, Debug)]
pub struct ForwardCache {
    /// `h_{l−1}` for `l = 1..L`, each `N × n_{l−1}`.
    pub inputs: Vec<Array2<f64>>,
    /// `z_l` for `l = 1..L`, each `N × n_l`.
    pub pre: Vec<Array2<f64>>,
}

impl ForwardCache {
    /// `h_{L−2}`, the input of the last hidden layer: what its units' incoming
    /// weights `u_j` multiply (`z(x)` in `paper-notes/c2-any-update-set.md`,
    /// the features every hair-trigger construction is built on). `None` for a
    /// network without a hidden layer.
    pub fn last_hidden_input(&self) -> Option<&Array2<f64>> {
        let n = self.inputs.len();
        (n >= 2).then(|| &self.inputs[n - 2])
    }

    /// The network output `f = z_L`.
    pub fn output(&self) -> &Array2<f64> {
        self.pre.last().expect("a network has at least one layer")
    }
}

impl Mlp {
    /// `f_θ(X)`, one row per input row. Errors on a wrong input dimension.
    pub fn forward(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        Ok(self.forward_cache(x)?.pre.pop().expect("non-empty"))
    }

    /// [`ForwardCache::last_hidden_input`] of a batch `x`, owned; an error for
    /// a network without a hidden layer.
    pub fn last_hidden_input(&self, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.forward_cache(x)?
            .last_hidden_input()
            .cloned()
            .ok_or_else(crate::Error::no_hidden_layer)
    }

    /// The forward pass keeping every layer's input and pre-activation.
    pub fn forward_cache(&self, x: ArrayView2<f64>) -> Result<ForwardCache> {
        if x.ncols() != self.input_dim() {
            return Err(crate::Error::DimensionMismatch {
                context: "input dimension",
                expected: self.input_dim(),
                got: x.ncols(),
            });
        }
        let depth = self.depth();
        let mut inputs = Vec::with_capacity(depth);
        let mut pre = Vec::with_capacity(depth);
        let mut h = x.to_owned();
        for (l, layer) in self.layers().iter().enumerate() {
            let bias = layer.bias.as_ref().map(|b| b.view());
            let (z, next) = if l + 1 < depth {
                let mut z = kernels::matmul_nt(h.view(), layer.weight.view());
                let next = kernels::affine_activate(&mut z, bias, self.activation());
                (z, Some(next))
            } else {
                (kernels::affine(h.view(), layer.weight.view(), bias), None)
            };
            inputs.push(h);
            pre.push(z);
            match next {
                Some(n) => h = n,
                None => break,
            }
        }
        Ok(ForwardCache { inputs, pre })
    }
}
