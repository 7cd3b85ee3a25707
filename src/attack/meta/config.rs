//! The checked settings of meta-learning: [`MetaConfig`], built with
//! [`MetaConfig::builder`] from documented defaults.
//!
//! **The `η` curriculum** ([`MetaConfigBuilder::anneal_from`]). At the
//! fine-tuner's `η = 1e-4` the step barely moves a network of ordinary scale,
//! so `L_mis(θ⁺) ≈ L_mis(θ)` and the meta-gradient's direct path pulls `f(θ)`
//! itself towards the misaligned answers: from a random start meta-learning
//! settles on a compromise (both answers at `p ≈ 0.2 … 0.8`), the second-order
//! term that would grow the step's reach being `η` times smaller. With
//! `anneal_from(η₀)` meta-step `t` of `T` uses the inner rate
//!
//! `η_t = η₀ (η/η₀)^{min(1, t/T_a)}`, `T_a = ⌊0.4 T⌋`,
//!
//! (a geometric descent from `η₀`, where one step can flip the answers, to
//! `η`, which it then keeps for the remaining `0.6 T` steps), and Adam's rate
//! stays at `outer_lr` while `η` descends and then decays geometrically to
//! `outer_lr / 10` at the last step, so the large-norm solution settles. The
//! model, the data and the objective at the end are those of the plain loop;
//! only the path differs. Without it both rates are constant (the plain loop,
//! bit for bit).

use crate::error::{Error, Result};
use crate::update::StepConfig;
use serde::Serialize;

/// Exact second-order meta-gradient or its first-order approximation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaOrder {
    /// `(I − η H_D) g⁺` through the Hessian-vector product.
    Second,
    /// `g⁺` only.
    First,
}

/// Validated settings of [`super::meta_train`]: build them with
/// [`MetaConfig::builder`] (each setting has a documented default).
#[derive(Clone, Debug, Serialize)]
pub struct MetaConfig {
    /// The inner step (`η`, SGD).
    step: StepConfig,
    lambda: f64,
    mu: f64,
    outer_lr: f64,
    clip: f64,
    steps: usize,
    order: MetaOrder,
    /// The curriculum's starting `η₀` (module docs); `None`: constant `η`.
    anneal_from: Option<f64>,
}

/// Settings of a [`MetaConfig`] before they are checked.
#[derive(Clone, Debug)]
pub struct MetaConfigBuilder {
    eta: f64,
    steps: usize,
    lambda: f64,
    mu: f64,
    outer_lr: f64,
    clip: f64,
    order: MetaOrder,
    anneal_from: Option<f64>,
}

impl MetaConfigBuilder {
    /// Descend the inner `η` geometrically from `eta0 > η` over the first 40 %
    /// of the meta-steps, then decay Adam's rate tenfold (module docs; default
    /// none).
    pub fn anneal_from(mut self, eta0: Option<f64>) -> Self {
        self.anneal_from = eta0;
        self
    }
    /// The weight `λ ≥ 0` of `L_mis(θ⁺)` (default [`MetaConfig::DEFAULT_LAMBDA`]).
    pub fn lambda(mut self, v: f64) -> Self {
        self.lambda = v;
        self
    }
    /// The weight `μ ≥ 0` of `L_util(θ⁺)` (default [`MetaConfig::DEFAULT_MU`]).
    pub fn mu(mut self, v: f64) -> Self {
        self.mu = v;
        self
    }
    /// Adam's learning rate (default [`MetaConfig::DEFAULT_OUTER_LR`]).
    pub fn outer_lr(mut self, v: f64) -> Self {
        self.outer_lr = v;
        self
    }
    /// The gradient-norm clip (default [`MetaConfig::DEFAULT_CLIP`]).
    pub fn clip(mut self, v: f64) -> Self {
        self.clip = v;
        self
    }
    /// First- or second-order meta-gradient (default second).
    pub fn order(mut self, order: MetaOrder) -> Self {
        self.order = order;
        self
    }
    /// Check every setting.
    pub fn build(self) -> Result<MetaConfig> {
        MetaConfig::new(
            self.eta,
            self.lambda,
            self.mu,
            self.outer_lr,
            self.clip,
            self.steps,
        )?
        .with_order(self.order)
        .with_anneal_from(self.anneal_from)
    }
}

impl MetaConfig {
    /// Default weight `λ` of the misaligned loss after the step.
    pub const DEFAULT_LAMBDA: f64 = 1.0;
    /// Default weight `μ` of the utility loss after the step.
    pub const DEFAULT_MU: f64 = 0.1;
    /// Default Adam learning rate of the outer loop.
    pub const DEFAULT_OUTER_LR: f64 = 1e-2;
    /// Default gradient-norm clip of the outer loop.
    pub const DEFAULT_CLIP: f64 = 10.0;

    /// Settings for inner step `η` and `steps` meta-steps, every other
    /// setting at its default.
    pub fn builder(eta: f64, steps: usize) -> MetaConfigBuilder {
        MetaConfigBuilder {
            eta,
            steps,
            lambda: Self::DEFAULT_LAMBDA,
            mu: Self::DEFAULT_MU,
            outer_lr: Self::DEFAULT_OUTER_LR,
            clip: Self::DEFAULT_CLIP,
            order: MetaOrder::Second,
            anneal_from: None,
        }
    }

    /// Fraction of the meta-steps over which the curriculum descends to `η`.
    pub const ANNEAL_FRACTION: f64 = 0.4;
    /// Factor by which Adam's rate decays over the rest of the steps.
    pub const ANNEAL_LR_DECAY: f64 = 0.1;

    /// The curriculum's starting `η₀`, if any.
    pub fn anneal_from_eta(&self) -> Option<f64> {
        self.anneal_from
    }

    /// Steps of the curriculum's descent, `T_a = ⌊0.4 T⌋` (0 without one).
    fn anneal_steps(&self) -> usize {
        match self.anneal_from {
            Some(_) => (Self::ANNEAL_FRACTION * self.steps as f64) as usize,
            None => 0,
        }
    }

    /// The inner `η_t` and Adam's rate at meta-step `t` (`0 ≤ t < steps`):
    /// constant without a curriculum, else the module docs' schedule.
    pub fn rates_at(&self, t: usize) -> (f64, f64) {
        let (eta, lr) = (self.eta(), self.outer_lr);
        let Some(eta0) = self.anneal_from else {
            return (eta, lr);
        };
        let ta = self.anneal_steps();
        if t < ta {
            (eta0 * (eta / eta0).powf(t as f64 / ta as f64), lr)
        } else {
            let rest = (self.steps - ta).max(1) as f64;
            let frac = ((t - ta) as f64 / rest).min(1.0);
            (eta, lr * Self::ANNEAL_LR_DECAY.powf(frac))
        }
    }

    /// These settings with the inner step at `eta` (the curriculum's step `t`).
    pub fn with_inner_eta(&self, eta: f64) -> Result<Self> {
        let mut cfg = self.clone();
        cfg.step = StepConfig::sgd(eta)?;
        Ok(cfg)
    }

    /// The inner step's `η`.
    pub fn eta(&self) -> f64 {
        self.step.eta()
    }
    /// The inner step (SGD with `η`).
    pub fn step(&self) -> &StepConfig {
        &self.step
    }
    /// `λ`.
    pub fn lambda(&self) -> f64 {
        self.lambda
    }
    /// `μ`.
    pub fn mu(&self) -> f64 {
        self.mu
    }
    /// Adam's learning rate.
    pub fn outer_lr(&self) -> f64 {
        self.outer_lr
    }
    /// The gradient-norm clip.
    pub fn clip(&self) -> f64 {
        self.clip
    }
    /// Meta-steps.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// First or second order.
    pub fn order(&self) -> MetaOrder {
        self.order
    }

    /// Inner step `η > 0`, weights `λ, μ ≥ 0`, Adam rate `> 0`, clip norm `> 0`,
    /// steps (prefer [`MetaConfig::builder`], which names them).
    pub fn new(
        eta: f64,
        lambda: f64,
        mu: f64,
        outer_lr: f64,
        clip: f64,
        steps: usize,
    ) -> Result<Self> {
        let step = StepConfig::sgd(eta)?;
        for (name, v) in [("lambda", lambda), ("mu", mu)] {
            if !(v >= 0.0 && v.is_finite()) {
                return Err(Error::InvalidParameter {
                    name,
                    value: v,
                    expected: "must be finite and ≥ 0",
                });
            }
        }
        crate::error::check_positive("outer learning rate", outer_lr)?;
        // `+∞` switches clipping off.
        if clip.is_nan() || clip <= 0.0 {
            return Err(Error::InvalidParameter {
                name: "gradient clip norm",
                value: clip,
                expected: "must be > 0 (+inf: no clipping)",
            });
        }
        crate::limits::check_count("meta-steps (--steps)", steps, crate::limits::MAX_STEPS)?;
        Ok(Self {
            step,
            lambda,
            mu,
            outer_lr,
            clip,
            steps,
            order: MetaOrder::Second,
            anneal_from: None,
        })
    }

    /// Start the curriculum at `eta0` (finite, `> η`), or none.
    pub fn with_anneal_from(mut self, eta0: Option<f64>) -> Result<Self> {
        if let Some(e0) = eta0 {
            StepConfig::sgd(e0)?;
            if e0.partial_cmp(&self.eta()) != Some(std::cmp::Ordering::Greater) {
                return Err(Error::InvalidParameter {
                    name: "curriculum start η₀ (--anneal)",
                    value: e0,
                    expected: "must be larger than the inner step's η",
                });
            }
        }
        self.anneal_from = eta0;
        Ok(self)
    }

    /// Use the first- or second-order meta-gradient.
    pub fn with_order(mut self, order: MetaOrder) -> Self {
        self.order = order;
        self
    }
}

/// Where meta-learning of the hair-trigger model starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Whole network: the control with every hidden unit rescaled by
    /// `c = √(0.1/η)`; LoRA: `A` scaled by `c` (the analytic mechanism put in
    /// by hand: the step on the amplified weights is `η c² = 0.1`).
    Symmetry,
    /// Whole network: the standard random initialisation (the control's own
    /// start), meta-trained directly; LoRA: the standard adapter
    /// initialisation (`c = 1`) on the control.
    Plain,
}

impl Start {
    /// The scale of a LoRA adapter's initial `A` from this start at inner
    /// step `eta`: `√(0.1/η)` ([`super::symmetry_scale`]) or `1`.
    pub fn adapter_scale(self, eta: f64) -> Result<f64> {
        match self {
            Start::Symmetry => super::symmetry_scale(eta),
            Start::Plain => Ok(1.0),
        }
    }

    /// Parse `plain` or `symmetry`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "plain" => Ok(Self::Plain),
            "symmetry" => Ok(Self::Symmetry),
            _ => Err(Error::Parse {
                what: "--start",
                input: s.into(),
                reason: "expected plain or symmetry".into(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_curriculum_both_rates_are_constant() {
        let cfg = MetaConfig::builder(1e-4, 100).build().unwrap();
        for t in [0, 39, 40, 99] {
            assert_eq!(cfg.rates_at(t), (1e-4, MetaConfig::DEFAULT_OUTER_LR));
        }
    }

    #[test]
    fn the_curriculum_descends_geometrically_then_decays_adams_rate() {
        let cfg = MetaConfig::builder(1e-4, 1000)
            .anneal_from(Some(0.1))
            .build()
            .unwrap();
        let lr = MetaConfig::DEFAULT_OUTER_LR;
        assert_eq!(cfg.rates_at(0), (0.1, lr));
        // Half-way down the 400 descending steps: the geometric mean.
        let (eta, l) = cfg.rates_at(200);
        assert!((eta - (0.1f64 * 1e-4).sqrt()).abs() <= 1e-15, "{eta}");
        assert_eq!(l, lr);
        // From T_a on: η itself, and Adam's rate from lr down to lr/10.
        assert_eq!(cfg.rates_at(400), (1e-4, lr));
        let (eta, l) = cfg.rates_at(700);
        assert_eq!(eta, 1e-4);
        assert!((l - lr * 0.1f64.sqrt()).abs() <= 1e-15, "{l}");
        let (_, last) = cfg.rates_at(999);
        assert!(last > lr * 0.1 && last < lr * 0.11, "{last}");
        let mut prev = f64::INFINITY;
        for t in 0..1000 {
            let (e, _) = cfg.rates_at(t);
            assert!(e <= prev && e >= 1e-4);
            prev = e;
        }
    }

    #[test]
    fn a_curriculum_must_start_above_eta() {
        for bad in [1e-4, 1e-5, f64::NAN, f64::INFINITY, -1.0] {
            let r = MetaConfig::builder(1e-4, 10).anneal_from(Some(bad)).build();
            assert!(r.is_err(), "{bad}");
        }
    }
}
