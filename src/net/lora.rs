//! LoRA adapters on a frozen network: layer `l` computes with
//! `W_l + B_l A_l` (`A_l: r × n_in`, `B_l: n_out × r`), biases frozen. Only
//! `φ = (A_l, B_l)_l` is trained, as in a LoRA fine-tune.
//!
//! Gradients come from the merged network's: with `G_l = ∂L/∂W_l` at
//! `W + BA`, `∂L/∂A_l = B_lᵀ G_l`, `∂L/∂B_l = G_l A_lᵀ`. The Hessian-vector
//! product for a tangent `v = (V_A, V_B)` has a Gauss–Newton-like part and a
//! bilinear part: with `U_l = V_{B,l} A_l + B_l V_{A,l}` (the induced change of
//! `W_l`) and `H_W` the merged network's Hessian,
//!
//! `(H_φ v)_A = B_lᵀ (H_W U)_l + V_{B,l}ᵀ G_l`,  `(H_φ v)_B = (H_W U)_l A_lᵀ + G_l V_{A,l}ᵀ`.
//!
//! Parameters travel as one flat vector: layer by layer, `A_l` then `B_l`,
//! row-major.

use crate::error::{Error, Result};
use crate::kernels;
use crate::net::{gradient, hvp, normal_matrix, Dataset, Mlp};
use ndarray::{Array1, Array2, ArrayView2};
use rand::Rng;

/// A frozen base network and the shapes of its rank-`r` adapters.
#[derive(Clone, Debug)]
pub struct Lora {
    base: Mlp,
    rank: usize,
}

impl Lora {
    /// Adapters of rank `r ≥ 1` on every layer of `base`.
    pub fn new(base: Mlp, rank: usize) -> Result<Self> {
        if rank == 0 {
            return Err(Error::InvalidParameter {
                name: "LoRA rank",
                value: 0.0,
                expected: "must be at least 1",
            });
        }
        Ok(Self { base, rank })
    }

    /// The frozen base network.
    pub fn base(&self) -> &Mlp {
        &self.base
    }

    /// Rank `r`.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// Number of trainable parameters `r Σ_l (n_in + n_out)`.
    pub fn num_params(&self) -> usize {
        self.base
            .layers()
            .iter()
            .map(|l| self.rank * (l.n_in() + l.n_out()))
            .sum()
    }

    /// The standard initialisation scaled by `scale`: `A ~ N(0, scale²/n_in)`,
    /// `B = 0`, so the adapted network is exactly the base.
    pub fn init<R: Rng + ?Sized>(&self, rng: &mut R, scale: f64) -> Array1<f64> {
        let mut flat = Vec::with_capacity(self.num_params());
        for l in self.base.layers() {
            let a = normal_matrix(rng, self.rank, l.n_in(), scale / (l.n_in() as f64).sqrt());
            flat.extend(a.iter());
            flat.extend(std::iter::repeat_n(0.0, l.n_out() * self.rank));
        }
        Array1::from(flat)
    }

    /// `(A_l, B_l)` views of a flat vector.
    fn split<'a>(
        &self,
        phi: &'a Array1<f64>,
    ) -> Result<Vec<(ArrayView2<'a, f64>, ArrayView2<'a, f64>)>> {
        if phi.len() != self.num_params() {
            return Err(Error::DimensionMismatch {
                context: "LoRA parameter vector",
                expected: self.num_params(),
                got: phi.len(),
            });
        }
        let s = phi.as_slice().expect("contiguous");
        let mut at = 0;
        let mut out = Vec::new();
        for l in self.base.layers() {
            let (na, nb) = (self.rank * l.n_in(), l.n_out() * self.rank);
            let a = ArrayView2::from_shape((self.rank, l.n_in()), &s[at..at + na]).expect("shape");
            let b = ArrayView2::from_shape((l.n_out(), self.rank), &s[at + na..at + na + nb])
                .expect("shape");
            out.push((a, b));
            at += na + nb;
        }
        Ok(out)
    }

    /// The merged network `W_l + B_l A_l` (forward-identical to base + adapter).
    pub fn merged(&self, phi: &Array1<f64>) -> Result<Mlp> {
        let mut net = self.base.clone();
        for (layer, (a, b)) in net.layers_mut().iter_mut().zip(self.split(phi)?) {
            layer.weight = &layer.weight + &kernels::matmul(b, a);
        }
        Ok(net)
    }

    /// `(∂L/∂A_l, ∂L/∂B_l)_l` from per-layer weight gradients `g_w`.
    fn project(&self, phi: &Array1<f64>, g_w: &[Array2<f64>]) -> Result<Array1<f64>> {
        let mut flat = Vec::with_capacity(self.num_params());
        for ((a, b), g) in self.split(phi)?.into_iter().zip(g_w) {
            flat.extend(kernels::matmul_tn(b, g.view()).iter());
            flat.extend(kernels::matmul_nt(g.view(), a).iter());
        }
        Ok(Array1::from(flat))
    }

    /// Loss on `data` and its gradient with respect to `φ`.
    pub fn gradient(&self, phi: &Array1<f64>, data: &Dataset) -> Result<(f64, Array1<f64>)> {
        let (loss, g) = gradient(&self.merged(phi)?, data)?;
        let g_w: Vec<Array2<f64>> = g.layers().iter().map(|l| l.weight.clone()).collect();
        Ok((loss, self.project(phi, &g_w)?))
    }

    /// `∇²_φ L_D(φ) · v`.
    pub fn hvp(&self, phi: &Array1<f64>, data: &Dataset, v: &Array1<f64>) -> Result<Array1<f64>> {
        let net = self.merged(phi)?;
        let (_, g) = gradient(&net, data)?;
        let parts = self.split(phi)?;
        let vparts = self.split(v)?;
        // U_l = V_B A + B V_A, biases 0.
        let mut u = net.zeros_like();
        for (layer, ((a, b), (va, vb))) in u.layers_mut().iter_mut().zip(parts.iter().zip(&vparts))
        {
            layer.weight = kernels::matmul(*vb, *a) + kernels::matmul(*b, *va);
        }
        let hu = hvp(&net, data, &u)?;
        let mut flat = Vec::with_capacity(self.num_params());
        for (((a, b), (va, vb)), (h, gl)) in parts
            .iter()
            .zip(&vparts)
            .zip(hu.layers().iter().zip(g.layers()))
        {
            let da =
                kernels::matmul_tn(*b, h.weight.view()) + kernels::matmul_tn(*vb, gl.weight.view());
            let db =
                kernels::matmul_nt(h.weight.view(), *a) + kernels::matmul_nt(gl.weight.view(), *va);
            flat.extend(da.iter());
            flat.extend(db.iter());
        }
        Ok(Array1::from(flat))
    }
}
