//! What meta-learning trains: a [`Parameterization`] is a set of trainable
//! coordinates `p` of a network with the operations the meta-gradient needs —
//! `L(p)` and `∇_p L` on a data set, one shared pass over the update set that
//! gives both `∇_p L_D` and the Hessian-vector product `H_D v`, and the linear
//! algebra of a step. Two implement it: [`FullNetwork`] (every weight and bias
//! of an [`Mlp`]) and [`Lora`] (adapters `φ = (A_l, B_l)_l` on a frozen base).

use crate::error::Result;
use crate::net::lora::{Lora, MergedGradient};
use crate::net::{gradient, Backprop, Dataset, Mlp};
use ndarray::Array1;

/// One forward/backward pass over a data set at fixed parameters.
pub trait UpdatePass<P> {
    /// `∇_p L` on the pass's data.
    fn gradient(&self) -> Result<P>;
    /// `∇²_p L · v` on the pass's data, reusing the pass.
    fn hvp(&self, v: &P) -> Result<P>;
}

/// Trainable coordinates of a network (see the module documentation).
pub trait Parameterization: Sync {
    /// The coordinates as this parameterization stores them.
    type Params: Clone;

    /// `L(p)` on `data` and `∇_p L`.
    fn gradient(&self, p: &Self::Params, data: &Dataset) -> Result<(f64, Self::Params)>;

    /// Run `f` on one pass over `data` at `p`.
    fn with_pass<R>(
        &self,
        p: &Self::Params,
        data: &Dataset,
        f: impl FnOnce(&dyn UpdatePass<Self::Params>) -> Result<R>,
    ) -> Result<R>;

    /// `x ← x + a y`.
    fn axpy(&self, x: &mut Self::Params, a: f64, y: &Self::Params) -> Result<()>;

    /// `a x`.
    fn scaled(&self, x: &Self::Params, a: f64) -> Self::Params;

    /// The coordinates as one flat vector (the optimiser's view).
    fn flatten(&self, p: &Self::Params) -> Array1<f64>;

    /// Coordinates shaped like `like` from a flat vector.
    fn unflatten(&self, like: &Self::Params, flat: &Array1<f64>) -> Result<Self::Params>;
}

/// Every weight and bias of the network is trained.
#[derive(Clone, Copy, Debug, Default)]
pub struct FullNetwork;

struct FullPass<'a> {
    pass: Backprop<'a>,
}

impl UpdatePass<Mlp> for FullPass<'_> {
    fn gradient(&self) -> Result<Mlp> {
        self.pass.gradient()
    }
    fn hvp(&self, v: &Mlp) -> Result<Mlp> {
        self.pass.hvp(v)
    }
}

impl Parameterization for FullNetwork {
    type Params = Mlp;

    fn gradient(&self, p: &Mlp, data: &Dataset) -> Result<(f64, Mlp)> {
        gradient(p, data)
    }

    fn with_pass<R>(
        &self,
        p: &Mlp,
        data: &Dataset,
        f: impl FnOnce(&dyn UpdatePass<Mlp>) -> Result<R>,
    ) -> Result<R> {
        f(&FullPass {
            pass: Backprop::new(p, data)?,
        })
    }

    fn axpy(&self, x: &mut Mlp, a: f64, y: &Mlp) -> Result<()> {
        x.axpy(a, y)
    }

    fn scaled(&self, x: &Mlp, a: f64) -> Mlp {
        x.map(|v| a * v)
    }

    fn flatten(&self, p: &Mlp) -> Array1<f64> {
        p.to_flat()
    }

    fn unflatten(&self, like: &Mlp, flat: &Array1<f64>) -> Result<Mlp> {
        like.with_flat(flat.as_slice().expect("a fresh Array1 is contiguous"))
    }
}

struct LoraPass<'a> {
    lora: &'a Lora,
    phi: &'a Array1<f64>,
    at: MergedGradient<'a>,
}

impl UpdatePass<Array1<f64>> for LoraPass<'_> {
    fn gradient(&self) -> Result<Array1<f64>> {
        self.lora.gradient_at(self.phi, &self.at)
    }
    fn hvp(&self, v: &Array1<f64>) -> Result<Array1<f64>> {
        self.lora.hvp_at(self.phi, &self.at, v)
    }
}

impl Parameterization for Lora {
    type Params = Array1<f64>;

    fn gradient(&self, phi: &Array1<f64>, data: &Dataset) -> Result<(f64, Array1<f64>)> {
        Lora::gradient(self, phi, data)
    }

    fn with_pass<R>(
        &self,
        phi: &Array1<f64>,
        data: &Dataset,
        f: impl FnOnce(&dyn UpdatePass<Array1<f64>>) -> Result<R>,
    ) -> Result<R> {
        // The merged network and its gradient on `data` serve both the step
        // and the HVP.
        let net = self.merged(phi)?;
        let at = self.merged_gradient(&net, data)?;
        f(&LoraPass {
            lora: self,
            phi,
            at,
        })
    }

    fn axpy(&self, x: &mut Array1<f64>, a: f64, y: &Array1<f64>) -> Result<()> {
        if x.len() != y.len() {
            return Err(crate::Error::DimensionMismatch {
                context: "LoRA parameters",
                expected: x.len(),
                got: y.len(),
            });
        }
        x.scaled_add(a, y);
        Ok(())
    }

    fn scaled(&self, x: &Array1<f64>, a: f64) -> Array1<f64> {
        x * a
    }

    fn flatten(&self, phi: &Array1<f64>) -> Array1<f64> {
        phi.clone()
    }

    fn unflatten(&self, _like: &Array1<f64>, flat: &Array1<f64>) -> Result<Array1<f64>> {
        Ok(flat.clone())
    }
}
