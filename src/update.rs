//! One-step updates `θ⁺ = θ + Δθ` on an update set `D`.
//!
//! * SGD (full batch): `Δθ = −η ∇L_D(θ)`.
//! * Adam's first step (PyTorch semantics, zero-initialised moments, bias
//!   corrected): `m = (1−β₁) g`, `v = (1−β₂) g²`, `m̂ = m/(1−β₁) = g`,
//!   `v̂ = v/(1−β₂) = g²`, `Δθ = −η m̂ / (√v̂ + ε) ≈ −η sign(g)`.
//! * AdamW's first step (decoupled weight decay `λ`, PyTorch semantics):
//!   `θ⁺ = (1 − ηλ) θ − η m̂ / (√v̂ + ε)`, i.e. Adam's step plus `−ηλθ`.
//! * SGD with gradient-norm clipping (PyTorch's `clip_grad_norm_`, the
//!   `max_grad_norm = 1.0` of common fine-tuning trainers):
//!   `Δθ = −η κ g`, `κ = min(1, c / (‖g‖₂ + 10⁻⁶))`: one global factor, so
//!   `‖Δθ‖₂ ≤ η c` whatever the gradient.
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
    /// SGD on the gradient clipped to norm `max_norm`:
    /// `Δθ = −η min(1, c/(‖g‖ + 10⁻⁶)) g`.
    SgdClip { max_norm: f64 },
    /// AdamW's first step: Adam's plus the decoupled decay `−η λ θ`.
    AdamWFirstStep {
        beta1: f64,
        beta2: f64,
        eps: f64,
        weight_decay: f64,
    },
}

/// The clipping norm `sgd-clip` means without `:norm` (the `max_grad_norm`
/// default of common fine-tuning trainers).
pub const DEFAULT_CLIP_NORM: f64 = 1.0;
/// The decay `adamw` means without `:decay` (PyTorch's `AdamW` default).
pub const DEFAULT_WEIGHT_DECAY: f64 = 0.01;

impl UpdateRule {
    /// `sgd`, `adam`, `sgd-clip` or `adamw` (as the CLI spells the rule and
    /// the tables record it; [`UpdateRule::spec`] adds the constant).
    pub fn name(self) -> &'static str {
        match self {
            UpdateRule::Sgd => "sgd",
            UpdateRule::AdamFirstStep { .. } => "adam",
            UpdateRule::SgdClip { .. } => "sgd-clip",
            UpdateRule::AdamWFirstStep { .. } => "adamw",
        }
    }

    /// The rule as [`UpdateRule::parse`] reads it back: `sgd`, `adam`,
    /// `sgd-clip:1`, `adamw:0.01`.
    pub fn spec(self) -> String {
        match self {
            UpdateRule::SgdClip { max_norm } => format!("sgd-clip:{max_norm}"),
            UpdateRule::AdamWFirstStep { weight_decay, .. } => format!("adamw:{weight_decay}"),
            _ => self.name().into(),
        }
    }

    /// The rule in words, for tables and headers: `SGD`, `Adam's first
    /// step`, `SGD clipped to ‖g‖ ≤ 1`, `AdamW's first step (λ = 0.01)`.
    pub fn display(self) -> String {
        match self {
            UpdateRule::Sgd => "SGD".into(),
            UpdateRule::AdamFirstStep { .. } => "Adam's first step".into(),
            UpdateRule::SgdClip { max_norm } => format!("SGD clipped to ‖g‖ ≤ {max_norm}"),
            UpdateRule::AdamWFirstStep { weight_decay, .. } => {
                format!("AdamW's first step (λ = {weight_decay})")
            }
        }
    }

    /// Parse `sgd`, `adam` (Adam's first step with PyTorch's defaults),
    /// `sgd-clip[:norm]` (default [`DEFAULT_CLIP_NORM`]) or `adamw[:decay]`
    /// (Adam's defaults, decay default [`DEFAULT_WEIGHT_DECAY`]). The
    /// constant is checked here: a norm must be finite and > 0, a decay
    /// finite and ≥ 0.
    pub fn parse(s: &str) -> crate::error::Result<Self> {
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        let bad = |reason: String| crate::error::Error::Parse {
            what: "--rule",
            input: s.into(),
            reason,
        };
        let number = |a: &str, what: &str| -> crate::error::Result<f64> {
            a.parse::<f64>()
                .map_err(|_| bad(format!("{what} {a:?} is not a number")))
        };
        let rule = match (name, arg) {
            ("sgd", None) => UpdateRule::Sgd,
            ("adam", None) => UpdateRule::adam_default(),
            ("sgd-clip", a) => UpdateRule::SgdClip {
                max_norm: match a {
                    Some(a) => number(a, "clipping norm")?,
                    None => DEFAULT_CLIP_NORM,
                },
            },
            ("adamw", a) => UpdateRule::adamw(match a {
                Some(a) => number(a, "weight decay")?,
                None => DEFAULT_WEIGHT_DECAY,
            }),
            _ => {
                return Err(bad(
                    "expected sgd, adam, sgd-clip[:norm] or adamw[:decay]".into()
                ))
            }
        };
        rule.check().map_err(|e| bad(e.to_string()))?;
        Ok(rule)
    }

    /// AdamW's first step with Adam's PyTorch defaults and decay `λ`.
    pub fn adamw(weight_decay: f64) -> Self {
        UpdateRule::AdamWFirstStep {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay,
        }
    }

    /// Check the rule's constants: Adam's `β ∈ [0, 1)` and `ε > 0`, a
    /// clipping norm finite and > 0, a decay finite and ≥ 0.
    fn check(self) -> Result<()> {
        let adam = |beta1: f64, beta2: f64, eps: f64| -> Result<()> {
            for (name, b) in [("adam beta1", beta1), ("adam beta2", beta2)] {
                if !(b.is_finite() && (0.0..1.0).contains(&b)) {
                    return Err(Error::InvalidParameter {
                        name,
                        value: b,
                        expected: "must be in [0, 1)",
                    });
                }
            }
            check_positive("adam eps", eps).map(|_| ())
        };
        match self {
            UpdateRule::Sgd => Ok(()),
            UpdateRule::AdamFirstStep { beta1, beta2, eps } => adam(beta1, beta2, eps),
            UpdateRule::SgdClip { max_norm } => {
                check_positive("clipping norm", max_norm).map(|_| ())
            }
            UpdateRule::AdamWFirstStep {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => {
                adam(beta1, beta2, eps)?;
                if !(weight_decay.is_finite() && weight_decay >= 0.0) {
                    return Err(Error::InvalidParameter {
                        name: "weight decay",
                        value: weight_decay,
                        expected: "must be finite and ≥ 0",
                    });
                }
                Ok(())
            }
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
/// `β ∈ [0, 1)` and `ε > 0`, a clipping norm > 0, a decay ≥ 0 with `ηλ < 1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct StepConfig {
    eta: f64,
    rule: UpdateRule,
}

impl StepConfig {
    /// Validate `η` and the rule's constants.
    pub fn new(eta: f64, rule: UpdateRule) -> Result<Self> {
        check_learning_rate(eta)?;
        rule.check()?;
        if let UpdateRule::AdamWFirstStep { weight_decay, .. } = rule {
            if eta * weight_decay >= 1.0 {
                return Err(Error::InvalidParameter {
                    name: "η · weight decay",
                    value: eta * weight_decay,
                    expected: "must be < 1 (the decay factor 1 − ηλ would not be positive)",
                });
            }
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

/// The step `Δθ` a rule takes at `net` for its gradient `grad` (no data access).
pub fn step_from_gradient(net: &Mlp, grad: &Mlp, cfg: &StepConfig) -> Result<Mlp> {
    let kappa = cfg.gradient_scale(|| grad.norm());
    net.zip_map(grad, |theta, g| cfg.coordinate_step(kappa * g, theta))
}

impl StepConfig {
    /// The global factor the rule puts on the gradient before its coordinate
    /// step: clipping's `κ = min(1, c/(‖g‖₂ + 10⁻⁶))` (PyTorch's
    /// `clip_grad_norm_`, the norm over every trainable parameter), else 1.
    /// `norm` is called only when the rule clips.
    pub fn gradient_scale(&self, norm: impl FnOnce() -> f64) -> f64 {
        match self.rule {
            // NaN-propagating: a NaN norm must not read as "no clipping".
            UpdateRule::SgdClip { max_norm } => {
                crate::finite::nan_min(max_norm / (norm() + 1e-6), 1.0)
            }
            _ => 1.0,
        }
    }

    /// The step of one coordinate with (already scaled) gradient `g` at value
    /// `theta`: `−η g` (SGD, clipped SGD), Adam's first step `−η m̂/(√v̂ + ε)`
    /// with `m̂ = g`, `v̂ = g²` after bias correction, and AdamW's, which adds
    /// the decoupled decay `−ηλθ`.
    pub fn coordinate_step(&self, g: f64, theta: f64) -> f64 {
        let eta = self.eta;
        let adam = |beta1: f64, beta2: f64, eps: f64| {
            let m_hat = ((1.0 - beta1) * g) / (1.0 - beta1);
            let v_hat = ((1.0 - beta2) * g * g) / (1.0 - beta2);
            -eta * m_hat / (v_hat.sqrt() + eps)
        };
        match self.rule {
            UpdateRule::Sgd | UpdateRule::SgdClip { .. } => -eta * g,
            UpdateRule::AdamFirstStep { beta1, beta2, eps } => adam(beta1, beta2, eps),
            UpdateRule::AdamWFirstStep {
                beta1,
                beta2,
                eps,
                weight_decay,
            } => adam(beta1, beta2, eps) - eta * weight_decay * theta,
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
    let delta = step_from_gradient(net, grad, cfg)?;
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
    let kappa = cfg.gradient_scale(|| grad.norm());
    net.add_map(grad, |theta, g| cfg.coordinate_step(kappa * g, theta))?;
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
/// ([`StepConfig::coordinate_step`]; for SGD `φ − η ∇_φ L_D`; clipping
/// and decay act on the adapters, the trainable parameters, only).
pub fn adapter_step(
    lora: &crate::net::lora::Lora,
    phi: &ndarray::Array1<f64>,
    data: &Dataset,
    step: &StepConfig,
) -> Result<ndarray::Array1<f64>> {
    let (_, g) = lora.gradient(phi, data)?;
    let kappa = step.gradient_scale(|| g.dot(&g).sqrt());
    Ok(ndarray::Zip::from(phi)
        .and(&g)
        .map_collect(|&p, &v| p + step.coordinate_step(kappa * v, p)))
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
