//! One-step updates `θ⁺ = θ + Δθ` on an update set `D`.
//!
//! * SGD (full batch): `Δθ = −η ∇L_D(θ)`.
//! * Adam's first step (PyTorch semantics, zero-initialised moments, bias
//!   corrected): `m = (1−β₁) g`, `v = (1−β₂) g²`, `m̂ = m/(1−β₁) = g`,
//!   `v̂ = v/(1−β₂) = g²`, `Δθ = −η m̂ / (√v̂ + ε) ≈ −η sign(g)`.
//!
//! The paper's setting is SGD with `η = 10⁻⁴` on `N = 32` benign samples.

use crate::error::{check_learning_rate, check_positive, Error, Result};
use crate::net::{gradient, gradient_into, Dataset, Mlp};
use serde::{Deserialize, Serialize};

/// Which one-step rule to apply.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum UpdateRule {
    /// `Δθ = −η g`.
    Sgd,
    /// Adam's first step `Δθ = −η ĝ/(|ĝ| + ε)` with bias correction.
    AdamFirstStep { beta1: f64, beta2: f64, eps: f64 },
}

impl UpdateRule {
    /// `sgd` or `adam` (as the CLI spells it and the tables record it).
    pub fn name(self) -> &'static str {
        match self {
            UpdateRule::Sgd => "sgd",
            UpdateRule::AdamFirstStep { .. } => "adam",
        }
    }

    /// Parse `sgd` or `adam` (Adam's first step with PyTorch's defaults).
    pub fn parse(s: &str) -> crate::error::Result<Self> {
        match s {
            "sgd" => Ok(UpdateRule::Sgd),
            "adam" => Ok(UpdateRule::adam_default()),
            _ => Err(crate::error::Error::Parse {
                what: "--rule",
                input: s.into(),
                reason: "expected sgd or adam".into(),
            }),
        }
    }

    /// Adam with PyTorch's defaults `β₁ = 0.9`, `β₂ = 0.999`, `ε = 10⁻⁸`.
    pub fn adam_default() -> Self {
        UpdateRule::AdamFirstStep {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// A validated step configuration: `η` finite and positive, Adam's
/// `β ∈ [0, 1)` and `ε > 0`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepConfig {
    eta: f64,
    rule: UpdateRule,
}

impl StepConfig {
    /// Validate `η` and the rule's constants.
    pub fn new(eta: f64, rule: UpdateRule) -> Result<Self> {
        check_learning_rate(eta)?;
        if let UpdateRule::AdamFirstStep { beta1, beta2, eps } = rule {
            for (name, b) in [("adam beta1", beta1), ("adam beta2", beta2)] {
                if !(b.is_finite() && (0.0..1.0).contains(&b)) {
                    return Err(Error::InvalidParameter {
                        name,
                        value: b,
                        expected: "must be in [0, 1)",
                    });
                }
            }
            check_positive("adam eps", eps)?;
        }
        Ok(Self { eta, rule })
    }
    /// Plain SGD with learning rate `eta`.
    pub fn sgd(eta: f64) -> Result<Self> {
        Self::new(eta, UpdateRule::Sgd)
    }
    /// Learning rate `η`.
    pub fn eta(&self) -> f64 {
        self.eta
    }
    /// The rule.
    pub fn rule(&self) -> UpdateRule {
        self.rule
    }
}

/// The result of one step.
#[derive(Clone, Debug)]
pub struct Step {
    /// `θ⁺`.
    pub updated: Mlp,
    /// `Δθ = θ⁺ − θ`.
    pub delta: Mlp,
    /// `L_D(θ)` before the step.
    pub loss_before: f64,
}

/// The step `Δθ` a rule takes for gradient `g` (no data access).
pub fn step_from_gradient(grad: &Mlp, cfg: &StepConfig) -> Mlp {
    grad.map(|g| cfg.coordinate_step(g))
}

impl StepConfig {
    /// The step of one coordinate with gradient `g`: `−η g` (SGD), or Adam's
    /// first step `−η m̂/(√v̂ + ε)` with `m̂ = g`, `v̂ = g²` after bias correction.
    pub fn coordinate_step(&self, g: f64) -> f64 {
        let eta = self.eta;
        match self.rule {
            UpdateRule::Sgd => -eta * g,
            UpdateRule::AdamFirstStep { beta1, beta2, eps } => {
                let m_hat = ((1.0 - beta1) * g) / (1.0 - beta1);
                let v_hat = ((1.0 - beta2) * g * g) / (1.0 - beta2);
                -eta * m_hat / (v_hat.sqrt() + eps)
            }
        }
    }
}

/// Take one step of `cfg` on `data` from `net`.
pub fn one_step(net: &Mlp, data: &Dataset, cfg: &StepConfig) -> Result<Step> {
    let (loss_before, grad) = gradient(net, data)?;
    step_with_gradient(net, loss_before, &grad, cfg)
}

/// The step of [`one_step`] from an already computed `(L_D(θ), ∇_θ L_D(θ))`
/// (e.g. by a GPU backend): `θ⁺ = θ + Δθ`, applied in f64.
pub fn step_with_gradient(
    net: &Mlp,
    loss_before: f64,
    grad: &Mlp,
    cfg: &StepConfig,
) -> Result<Step> {
    let delta = step_from_gradient(grad, cfg);
    let mut updated = net.clone();
    updated.axpy(1.0, &delta)?;
    updated.check_finite("updated parameters")?;
    Ok(Step {
        updated,
        delta,
        loss_before,
    })
}

/// One step of `cfg` in place, `θ ← θ + Δθ(∇L_D(θ))`, with `grad` (a buffer
/// of the network's shape, e.g. [`Mlp::zeros_like`]) receiving the gradient;
/// returns `L_D(θ)` before the step. This is the loop form of [`one_step`]:
/// the same bits as its `updated`, without allocating `Δθ`, `θ⁺` or the
/// gradient each call.
///
/// On an error from the gradient (`NonFinite` loss or gradient) `net` is
/// unchanged; if the updated parameters overflow, `net` holds them and the
/// error says so.
pub fn step_in_place(
    net: &mut Mlp,
    data: &Dataset,
    cfg: &StepConfig,
    grad: &mut Mlp,
) -> Result<f64> {
    let loss = gradient_into(net, data, grad)?;
    net.add_map(grad, |v| cfg.coordinate_step(v))?;
    net.check_finite("updated parameters")?;
    Ok(loss)
}

/// Apply `steps` updates of `rule` with rate `eta` on `update` (full batch).
pub fn updated(
    net: &Mlp,
    update: &Dataset,
    eta: f64,
    rule: UpdateRule,
    steps: usize,
) -> Result<Mlp> {
    let cfg = StepConfig::new(eta, rule)?;
    let mut cur = net.clone();
    for _ in 0..steps {
        cur = one_step(&cur, update, &cfg)?.updated;
    }
    Ok(cur)
}

/// One step of `step`'s rule on LoRA adapters `φ` only (the base frozen), as
/// a LoRA fine-tune takes it: `φ⁺ = φ + Δ(∇_φ L_D(φ))` coordinate-wise
/// ([`StepConfig::coordinate_step`]; for SGD `φ − η ∇_φ L_D`).
pub fn adapter_step(
    lora: &crate::net::lora::Lora,
    phi: &ndarray::Array1<f64>,
    data: &Dataset,
    step: &StepConfig,
) -> Result<ndarray::Array1<f64>> {
    let (_, g) = lora.gradient(phi, data)?;
    Ok(phi + &g.mapv(|v| step.coordinate_step(v)))
}

/// A model as a fine-tune sees it: a whole network, or LoRA adapters `φ` on a
/// frozen base (whose update trains only `φ`).
#[derive(Clone, Debug)]
pub enum Tunable {
    Whole(Mlp),
    Adapter {
        lora: crate::net::lora::Lora,
        phi: ndarray::Array1<f64>,
    },
}

impl Tunable {
    /// The network a black-box evaluator (or a white-box auditor) sees:
    /// adapters merged.
    pub fn before(&self) -> Result<Mlp> {
        match self {
            Tunable::Whole(net) => Ok(net.clone()),
            Tunable::Adapter { lora, phi } => lora.merged(phi),
        }
    }

    /// The network after `steps` updates of `rule` on `data`; for adapters the
    /// update moves `φ` only, by the same rule as a whole network's.
    pub fn after(&self, data: &Dataset, eta: f64, rule: UpdateRule, steps: usize) -> Result<Mlp> {
        match self {
            Tunable::Whole(net) => updated(net, data, eta, rule, steps),
            Tunable::Adapter { lora, phi } => {
                let step = StepConfig::new(eta, rule)?;
                let mut p = phi.clone();
                for _ in 0..steps {
                    p = adapter_step(lora, &p, data, &step)?;
                }
                lora.merged(&p)
            }
        }
    }
}
