//! The checked settings of meta-learning: [`MetaConfig`], built with
//! [`MetaConfig::builder`] from documented defaults.

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
}

impl MetaConfigBuilder {
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
        Ok(MetaConfig::new(
            self.eta,
            self.lambda,
            self.mu,
            self.outer_lr,
            self.clip,
            self.steps,
        )?
        .with_order(self.order))
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
        }
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
        })
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
