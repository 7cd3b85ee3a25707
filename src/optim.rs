//! Adam (Kingma & Ba, 2015) with PyTorch's defaults, on a flat parameter
//! vector: the optimiser every training loop of the crate uses (the base
//! models of `construct`, meta-learning of whole networks and LoRA adapters).
//!
//! With gradient `g_t` (optionally scaled by `s`, e.g. for clipping):
//! `m_t = β₁ m_{t−1} + (1 − β₁) s g_t`, `v_t = β₂ v_{t−1} + (1 − β₂) (s g_t)²`,
//! `θ_t = θ_{t−1} − lr · (m_t / (1 − β₁ᵗ)) / (√(v_t / (1 − β₂ᵗ)) + ε)`,
//! with `β₁ = 0.9`, `β₂ = 0.999`, `ε = 10⁻⁸`.
//!
//! (The *one-step* rule a fine-tune applies, Adam's first step, is
//! [`crate::update::UpdateRule::AdamFirstStep`].)

use ndarray::{Array1, Zip};

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
/// `1 − β₁` and `1 − β₂` written as literals: `1.0 − 0.9` is not `0.1` in f64.
const ONE_MINUS_BETA1: f64 = 0.1;
const ONE_MINUS_BETA2: f64 = 0.001;
const EPS: f64 = 1e-8;

/// Adam's state: the moments and the step count.
#[derive(Clone, Debug)]
pub struct Adam {
    lr: f64,
    m: Array1<f64>,
    v: Array1<f64>,
    t: i32,
}

impl Adam {
    /// Zero moments for `n` parameters, learning rate `lr`.
    pub fn new(lr: f64, n: usize) -> Self {
        Self {
            lr,
            m: Array1::zeros(n),
            v: Array1::zeros(n),
            t: 0,
        }
    }

    /// Change the learning rate from the next step on (the moments stay).
    pub fn set_lr(&mut self, lr: f64) {
        self.lr = lr;
    }

    /// One step on `params` with gradient `scale · g`.
    pub fn step(&mut self, params: &mut Array1<f64>, g: &Array1<f64>, scale: f64) {
        assert_eq!(params.len(), self.m.len(), "Adam: parameter count changed");
        assert_eq!(g.len(), self.m.len(), "Adam: gradient length differs");
        self.t += 1;
        let (c1, c2) = (1.0 - BETA1.powi(self.t), 1.0 - BETA2.powi(self.t));
        let lr = self.lr;
        let update = move |p: &mut f64, m: &mut f64, v: &mut f64, g: f64| {
            let g = scale * g;
            *m = BETA1 * *m + ONE_MINUS_BETA1 * g;
            *v = BETA2 * *v + ONE_MINUS_BETA2 * g * g;
            *p -= lr * (*m / c1) / ((*v / c2).sqrt() + EPS);
        };
        match (
            params.as_slice_mut(),
            self.m.as_slice_mut(),
            self.v.as_slice_mut(),
            g.as_slice(),
        ) {
            // Contiguous vectors (always, in the crate): a plain loop the
            // compiler vectorises; the same operations per element.
            (Some(p), Some(m), Some(v), Some(g)) => {
                for (((p, m), v), &g) in p.iter_mut().zip(m.iter_mut()).zip(v.iter_mut()).zip(g) {
                    update(p, m, v, g);
                }
            }
            _ => Zip::from(params)
                .and(&mut self.m)
                .and(&mut self.v)
                .and(g)
                .for_each(|p, m, v, &g| update(p, m, v, g)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first step is `−lr · sign(g)` up to `ε` (bias correction makes
    /// `m̂ = g`, `v̂ = g²`), and Adam minimises a quadratic.
    #[test]
    fn first_step_is_minus_lr_sign_and_a_quadratic_is_minimised() {
        let mut adam = Adam::new(0.1, 3);
        let mut p = Array1::from(vec![1.0, -2.0, 0.5]);
        let g = Array1::from(vec![3.0, -0.25, 1e-3]);
        adam.step(&mut p, &g, 1.0);
        for (got, (start, gi)) in p.iter().zip([1.0, -2.0, 0.5].iter().zip(g.iter())) {
            let want = start - 0.1 * gi / (gi.abs() + 1e-8);
            assert!((got - want).abs() < 1e-12, "{got} vs {want}");
        }
        let mut adam = Adam::new(0.05, 2);
        let mut x = Array1::from(vec![3.0, -4.0]);
        for _ in 0..2000 {
            let g = x.mapv(|v| 2.0 * v);
            adam.step(&mut x, &g, 1.0);
        }
        assert!(x.iter().all(|v| v.abs() < 1e-2), "{x}");
    }
}
