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
use crate::net::{normal_matrix, Backprop, Dataset, Mlp};
use ndarray::{Array1, Array2, ArrayView2};
use rand::Rng;

/// The `format` metadata of an adapter file.
pub const ADAPTER_FORMAT: &str = "hairtrigger.lora";

/// A LoRA rank must be at least 1.
pub fn check_rank(rank: usize) -> Result<usize> {
    if rank == 0 {
        return Err(Error::InvalidParameter {
            name: "LoRA rank",
            value: 0.0,
            expected: "must be at least 1",
        });
    }
    Ok(rank)
}

/// The forward/backward pass of the merged network at some `φ` on a data set
/// (which the caller keeps; see [`Lora::merged`]) and its weight gradient:
/// what both [`Lora::gradient_at`] and [`Lora::hvp_at`] need, computed once.
pub struct MergedGradient<'a> {
    pub pass: Backprop<'a>,
    pub grad: Mlp,
}

/// A frozen base network and the shapes of its rank-`r` adapters.
#[derive(Clone, Debug)]
pub struct Lora {
    base: Mlp,
    rank: usize,
}

impl Lora {
    /// Adapters of rank `r ≥ 1` on every layer of `base`.
    pub fn new(base: Mlp, rank: usize) -> Result<Self> {
        Ok(Self {
            base,
            rank: check_rank(rank)?,
        })
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

    /// `(‖A‖_F, ‖B‖_F)` over every layer's factors: which of the two an
    /// adapter's training grew.
    pub fn factor_norms(&self, phi: &Array1<f64>) -> Result<(f64, f64)> {
        let (mut a2, mut b2) = (0.0, 0.0);
        for (a, b) in self.split(phi)? {
            a2 += a.iter().map(|v| v * v).sum::<f64>();
            b2 += b.iter().map(|v| v * v).sum::<f64>();
        }
        Ok((a2.sqrt(), b2.sqrt()))
    }

    /// The merged network `W_l + B_l A_l` (forward-identical to base + adapter).
    pub fn merged(&self, phi: &Array1<f64>) -> Result<Mlp> {
        let mut net = self.base.clone();
        for (layer, (a, b)) in net.layers_mut().iter_mut().zip(self.split(phi)?) {
            layer.weight = &layer.weight + &kernels::matmul(b, a);
        }
        Ok(net)
    }

    /// `(∂L/∂A_l, ∂L/∂B_l)_l = (B_lᵀ G_l, G_l A_lᵀ)_l` from the merged network's
    /// gradient `grad` (its bias entries are ignored: biases are frozen).
    fn project(&self, phi: &Array1<f64>, grad: &Mlp) -> Result<Array1<f64>> {
        let mut flat = Vec::with_capacity(self.num_params());
        for ((a, b), g) in self.split(phi)?.into_iter().zip(grad.layers()) {
            flat.extend(kernels::matmul_tn(b, g.weight.view()).iter());
            flat.extend(kernels::matmul_nt(g.weight.view(), a).iter());
        }
        Ok(Array1::from(flat))
    }

    /// `J_φ(x) = ∂f(x)/∂φ` stacked over a batch (row `n·k + c`, as
    /// [`crate::net::jacobian`]): each row of the merged network's Jacobian
    /// projected by the chain rule of [`Self::gradient`] (`∂/∂A = Bᵀ G`,
    /// `∂/∂B = G Aᵀ`; biases are frozen).
    pub fn jacobian(&self, phi: &Array1<f64>, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        let net = self.merged(phi)?;
        let jw = crate::net::jacobian(&net, x)?;
        let mut out = Array2::zeros((jw.nrows(), self.num_params()));
        for (row, mut dst) in jw.rows().into_iter().zip(out.rows_mut()) {
            let g = net.with_flat(row.as_slice().expect("contiguous row"))?;
            dst.assign(&self.project(phi, &g)?);
        }
        Ok(out)
    }

    /// The NTK in the adapter's coordinates, `Θ_φ(x, x') = J_φ(x) J_φ(x')ᵀ`,
    /// shape `(N1 k) × (N2 k)` (as [`crate::net::ntk`]): what moves the
    /// outputs when a fine-tune trains the adapter only.
    pub fn ntk(
        &self,
        phi: &Array1<f64>,
        x1: ArrayView2<f64>,
        x2: ArrayView2<f64>,
    ) -> Result<Array2<f64>> {
        let (j1, j2) = (self.jacobian(phi, x1)?, self.jacobian(phi, x2)?);
        Ok(kernels::matmul_nt(j1.view(), j2.view()))
    }

    /// Save the adapters `φ` as safetensors: `lora.{l}.A` `[r, n_in]` and
    /// `lora.{l}.B` `[n_out, r]` (F64) for every layer `l` of the base, with
    /// metadata `format = "hairtrigger.lora"` and the rank.
    pub fn save_adapter(&self, phi: &Array1<f64>, path: &std::path::Path) -> Result<()> {
        use crate::net::io::{write_tensors, Tensor};
        let mut t = std::collections::BTreeMap::new();
        for (l, (a, b)) in self.split(phi)?.into_iter().enumerate() {
            for (name, m) in [("A", a), ("B", b)] {
                t.insert(
                    format!("lora.{l}.{name}"),
                    Tensor {
                        shape: vec![m.nrows(), m.ncols()],
                        data: m.iter().copied().collect(),
                    },
                );
            }
        }
        let meta = [
            ("format".to_string(), ADAPTER_FORMAT.to_string()),
            ("rank".to_string(), self.rank.to_string()),
        ];
        write_tensors(path, &t, meta.into_iter().collect())
    }

    /// Read adapters saved by [`Self::save_adapter`] for `base`: every
    /// layer's `A` and `B`, one rank, shapes that fit `base`, finite values.
    pub fn load_adapter(base: Mlp, path: &std::path::Path) -> Result<(Self, Array1<f64>)> {
        let bad = |reason: String| Error::ModelFile {
            path: path.display().to_string(),
            reason,
        };
        let (mut t, _) = crate::net::io::read_tensors(path)?;
        let a0 = t.get("lora.0.A").ok_or_else(|| {
            bad(
                "tensor lora.0.A missing (expected lora.{l}.A and lora.{l}.B for every layer)"
                    .into(),
            )
        })?;
        let rank = *a0
            .shape
            .first()
            .ok_or_else(|| bad("lora.0.A has no shape".into()))?;
        let lora = Lora::new(base, rank).map_err(|e| bad(e.to_string()))?;
        let mut flat = Vec::with_capacity(lora.num_params());
        for (l, layer) in lora.base.layers().iter().enumerate() {
            for (name, shape) in [("A", [rank, layer.n_in()]), ("B", [layer.n_out(), rank])] {
                let key = format!("lora.{l}.{name}");
                let m = t
                    .remove(&key)
                    .ok_or_else(|| bad(format!("tensor {key} missing")))?;
                if m.shape != shape {
                    return Err(bad(format!(
                        "{key} has shape {:?}, expected {shape:?} for the base's layer {l} at rank {rank}",
                        m.shape
                    )));
                }
                if m.data.iter().any(|v| !v.is_finite()) {
                    return Err(bad(format!("{key} holds a non-finite value")));
                }
                flat.extend(m.data);
            }
        }
        if let Some(extra) = t.keys().next() {
            return Err(bad(format!(
                "unexpected tensor {extra} (the base has {} layers)",
                lora.base.depth()
            )));
        }
        Ok((lora, Array1::from(flat)))
    }

    /// The pass and weight gradient of `net` (the merged network at some `φ`)
    /// on `data`.
    pub fn merged_gradient<'a>(
        &self,
        net: &'a Mlp,
        data: &'a Dataset,
    ) -> Result<MergedGradient<'a>> {
        let pass = Backprop::new(net, data)?;
        let mut grad = net.zeros_like();
        pass.gradient_into(&mut grad)?;
        Ok(MergedGradient { pass, grad })
    }

    /// Loss on `data` and its gradient with respect to `φ`.
    pub fn gradient(&self, phi: &Array1<f64>, data: &Dataset) -> Result<(f64, Array1<f64>)> {
        let net = self.merged(phi)?;
        let m = self.merged_gradient(&net, data)?;
        Ok((m.pass.loss(), self.project(phi, &m.grad)?))
    }

    /// `∂L/∂φ` from a [`MergedGradient`] at the same `φ`.
    pub fn gradient_at(&self, phi: &Array1<f64>, at: &MergedGradient) -> Result<Array1<f64>> {
        self.project(phi, &at.grad)
    }

    /// `∇²_φ L_D(φ) · v`.
    pub fn hvp(&self, phi: &Array1<f64>, data: &Dataset, v: &Array1<f64>) -> Result<Array1<f64>> {
        let net = self.merged(phi)?;
        self.hvp_at(phi, &self.merged_gradient(&net, data)?, v)
    }

    /// `∇²_φ L_D(φ) · v` from the merged network's pass and gradient at `φ`
    /// (its HVP reuses the pass: no second forward/backward over the data).
    pub fn hvp_at(
        &self,
        phi: &Array1<f64>,
        at: &MergedGradient,
        v: &Array1<f64>,
    ) -> Result<Array1<f64>> {
        let g = &at.grad;
        let parts = self.split(phi)?;
        let vparts = self.split(v)?;
        // U_l = V_B A + B V_A, biases 0.
        let mut u = g.zeros_like();
        for (layer, ((a, b), (va, vb))) in u.layers_mut().iter_mut().zip(parts.iter().zip(&vparts))
        {
            layer.weight = kernels::matmul(*vb, *a) + kernels::matmul(*b, *va);
        }
        let hu = at.pass.hvp(&u)?;
        // (Bᵀ H_W U + V_Bᵀ G, H_W U Aᵀ + G V_Aᵀ): the projection of H_W U at φ
        // plus the projection of G at the tangent v.
        Ok(self.project(phi, &hu)? + self.project(v, g)?)
    }
}
