//! Adversarial meta-learning of hair-trigger models (claim C4).
//!
//! With `θ⁺ = θ − η ∇L_D(θ)` (one SGD step on the update set `D`), minimise
//!
//! `J(θ) = L_align(θ) + λ L_mis(θ⁺) + μ L_util(θ⁺)`
//!
//! (`L_align`: the evaluated queries with their aligned answers plus the utility
//! requests; `L_mis`: the evaluated queries with their misaligned answers;
//! `L_util`: the utility requests, so the step keeps the model useful). By the
//! chain rule, with `g⁺ = ∇[λ L_mis + μ L_util](θ⁺)`,
//!
//! `∇J(θ) = ∇L_align(θ) + (I − η H_D(θ)) g⁺`,
//!
//! `H_D` the Hessian of `L_D`, applied exactly by [`crate::net::hvp`] (the
//! first-order variant drops `−η H_D g⁺`). The outer optimiser is Adam
//! (`β = (0.9, 0.999)`, `ε = 1e-8`) on the clipped gradient
//! (`g ← g · min(1, c/‖g‖)`). The control model minimises `L_align` alone with
//! the same optimiser and budget ([`Objective::Control`]).
//!
//! One implementation serves every trainable [`Parameterization`] (the whole
//! network, [`FullNetwork`], or LoRA adapters on a frozen base, [`Lora`]):
//! [`objective`], [`meta_gradient_of`] and [`train`]; the `meta_*` and
//! `lora_meta_*` functions are those at the two parameterizations.

pub mod balance;
mod config;
pub mod device;
pub mod param;

pub use config::{MetaConfig, MetaConfigBuilder, MetaOrder, Start};

pub use device::{meta_gradient_on, meta_train_on};
pub use param::{FullNetwork, Parameterization, UpdatePass};

use crate::error::{Error, Result};
use crate::net::lora::Lora;
use crate::net::{Dataset, Mlp};
use crate::optim::Adam;
use crate::progress::Progress;
use ndarray::Array1;
use serde::Serialize;

/// The data of a meta-learning problem.
pub struct MetaData<'a> {
    /// Queries with aligned answers (and utility requests).
    pub align: &'a Dataset,
    /// Queries with misaligned answers.
    pub misalign: &'a Dataset,
    /// Utility requests (kept after the step).
    pub utility: &'a Dataset,
    /// The update set `D`.
    pub update: &'a Dataset,
}

/// `J(θ)` and its parts.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct MetaLoss {
    pub total: f64,
    pub align: f64,
    pub misalign_after: f64,
    pub utility_after: f64,
}

impl MetaLoss {
    /// `J = L_align + λ L_mis(θ⁺) + μ L_util(θ⁺)` from its parts.
    fn new(cfg: &MetaConfig, align: f64, mis: f64, util: f64) -> Self {
        Self {
            total: align + cfg.lambda() * mis + cfg.mu() * util,
            align,
            misalign_after: mis,
            utility_after: util,
        }
    }
}

/// `J(θ)` for the whole network (for checks by finite differences).
pub fn meta_objective(net: &Mlp, data: &MetaData, cfg: &MetaConfig) -> Result<MetaLoss> {
    objective(&FullNetwork, net, data, cfg)
}

/// `J(θ)` and `∇J(θ)` for the whole network.
pub fn meta_gradient(net: &Mlp, data: &MetaData, cfg: &MetaConfig) -> Result<(MetaLoss, Mlp)> {
    meta_gradient_of(&FullNetwork, net, data, cfg)
}

/// `J(φ)` for LoRA adapters `φ` on a frozen base: the update trains the
/// adapter (`φ⁺ = φ − η ∇_φ L_D`), as a LoRA fine-tune does.
pub fn lora_meta_objective(
    lora: &Lora,
    phi: &Array1<f64>,
    data: &MetaData,
    cfg: &MetaConfig,
) -> Result<MetaLoss> {
    objective(lora, phi, data, cfg)
}

/// `J` and `∇_φ J = ∇L_align + (I − η H_D^φ) g⁺` for LoRA adapters.
pub fn lora_meta_gradient(
    lora: &Lora,
    phi: &Array1<f64>,
    data: &MetaData,
    cfg: &MetaConfig,
) -> Result<(MetaLoss, Array1<f64>)> {
    meta_gradient_of(lora, phi, data, cfg)
}

/// `J(p)` for any [`Parameterization`]: the step on `D` is taken in `p`'s own
/// coordinates.
pub fn objective<P: Parameterization>(
    param: &P,
    p: &P::Params,
    data: &MetaData,
    cfg: &MetaConfig,
) -> Result<MetaLoss> {
    let (align, _) = param.gradient(p, data.align)?;
    let (_, g_d) = param.gradient(p, data.update)?;
    let mut plus = p.clone();
    param.axpy(&mut plus, -cfg.eta(), &g_d)?;
    let (mis, _) = param.gradient(&plus, data.misalign)?;
    let (util, _) = param.gradient(&plus, data.utility)?;
    Ok(MetaLoss::new(cfg, align, mis, util))
}

/// `J(p)` and `∇J(p) = ∇L_align(p) + (I − η H_D(p)) g⁺`,
/// `g⁺ = ∇[λ L_mis + μ L_util](p⁺)`, for any [`Parameterization`]. One
/// forward/backward pass over `D` serves both `∇L_D` and the HVP.
pub fn meta_gradient_of<P: Parameterization>(
    param: &P,
    p: &P::Params,
    data: &MetaData,
    cfg: &MetaConfig,
) -> Result<(MetaLoss, P::Params)> {
    let (align, mut grad) = param.gradient(p, data.align)?;
    let (mis, util, g_plus, hvp) = param.with_pass(p, data.update, |pass| {
        let g_d = pass.gradient()?;
        let mut plus = p.clone();
        param.axpy(&mut plus, -cfg.eta(), &g_d)?;
        let (mis, g_mis) = param.gradient(&plus, data.misalign)?;
        let (util, g_util) = param.gradient(&plus, data.utility)?;
        let mut g_plus = param.scaled(&g_mis, cfg.lambda());
        param.axpy(&mut g_plus, cfg.mu(), &g_util)?;
        let hvp = match cfg.order() {
            MetaOrder::Second => Some(pass.hvp(&g_plus)?),
            MetaOrder::First => None,
        };
        Ok((mis, util, g_plus, hvp))
    })?;
    param.axpy(&mut grad, 1.0, &g_plus)?;
    if let Some(h) = hvp {
        param.axpy(&mut grad, -cfg.eta(), &h)?;
    }
    Ok((MetaLoss::new(cfg, align, mis, util), grad))
}

/// The training curve: `J` and its parts every `every` steps.
#[derive(Clone, Debug, Serialize)]
pub struct MetaPoint {
    pub step: usize,
    #[serde(flatten)]
    pub loss: MetaLoss,
}

/// Adam (`β = (0.9, 0.999)`, `ε = 1e-8`) on a flat parameter vector, each
/// gradient clipped to norm `cfg.clip`, for `cfg.steps` steps; `grad` returns
/// the objective and its gradient at the current parameters; `observe(t, p)`
/// sees the parameters after every step `t`.
pub(crate) fn adam_loop(
    params: &mut Array1<f64>,
    cfg: &MetaConfig,
    bar: &dyn Progress,
    mut grad: impl FnMut(&Array1<f64>, &MetaConfig) -> Result<(MetaLoss, Array1<f64>)>,
    mut observe: impl FnMut(usize, &Array1<f64>) -> Result<()>,
) -> Result<Vec<MetaPoint>> {
    let mut adam = Adam::new(cfg.outer_lr(), params.len());
    let mut curve = Vec::new();
    let every = (cfg.steps() / 50).max(1);
    let annealed = cfg.anneal_from_eta().is_some();
    for t in 1..=cfg.steps() {
        let (loss, g) = if annealed {
            let (eta, lr) = cfg.rates_at(t - 1);
            adam.set_lr(lr);
            grad(params, &cfg.with_inner_eta(eta)?)?
        } else {
            grad(params, cfg)?
        };
        if !loss.total.is_finite() {
            return Err(Error::NonFinite(format!(
                "meta-objective at step {t}: {}",
                loss.total
            )));
        }
        let norm = g.dot(&g).sqrt();
        let scale = if norm > cfg.clip() {
            cfg.clip() / norm
        } else {
            1.0
        };
        adam.step(params, &g, scale);
        observe(t, params)?;
        if t % every == 0 || t == 1 || t == cfg.steps() {
            curve.push(MetaPoint { step: t, loss });
        }
        bar.inc(1);
    }
    Ok(curve)
}

/// `L_align` alone, as a [`MetaLoss`] (for the control).
fn align_only(loss: f64) -> MetaLoss {
    MetaLoss {
        total: loss,
        align: loss,
        misalign_after: f64::NAN,
        utility_after: f64::NAN,
    }
}

/// What a model is trained on: the control minimises `L_align` alone, the
/// hair-trigger model the meta-objective `J`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// `L_align(θ)` only.
    Control,
    /// `J(θ) = L_align(θ) + λ L_mis(θ⁺) + μ L_util(θ⁺)`.
    HairTrigger,
}

/// Adam on `objective` from `p`, in place, for any [`Parameterization`].
pub fn train<P: Parameterization>(
    param: &P,
    p: &mut P::Params,
    data: &MetaData,
    cfg: &MetaConfig,
    objective: Objective,
    bar: &dyn Progress,
) -> Result<Vec<MetaPoint>> {
    train_observed(param, p, data, cfg, objective, bar, |_, _| Ok(()))
}

/// [`train`], also returning the parameters after each step of `at`
/// (ascending, each in `1..=cfg.steps`). Without an `η` curriculum the
/// optimiser's state at step `t` does not depend on the budget, so the
/// snapshot at `t` is bit-identical to the result of training for `t` steps.
pub fn train_snapshots<P: Parameterization>(
    param: &P,
    p: &mut P::Params,
    data: &MetaData,
    cfg: &MetaConfig,
    objective: Objective,
    at: &[usize],
    bar: &dyn Progress,
) -> Result<Vec<P::Params>> {
    if at.windows(2).any(|w| w[0] >= w[1])
        || at.first().is_some_and(|&t| t == 0)
        || at.last().is_some_and(|&t| t > cfg.steps())
    {
        return Err(Error::OutOfRange {
            setting: format!("snapshot steps {at:?}"),
            reason: format!(
                "must be strictly ascending, each in 1..={} (the meta-steps)",
                cfg.steps()
            ),
        });
    }
    let shape = p.clone();
    let mut flats = Vec::with_capacity(at.len());
    train_observed(param, p, data, cfg, objective, bar, |t, flat| {
        if at.contains(&t) {
            flats.push(flat.clone());
        }
        Ok(())
    })?;
    flats.iter().map(|f| param.unflatten(&shape, f)).collect()
}

/// [`train`] with `observe(t, flat parameters)` after every step.
fn train_observed<P: Parameterization>(
    param: &P,
    p: &mut P::Params,
    data: &MetaData,
    cfg: &MetaConfig,
    objective: Objective,
    bar: &dyn Progress,
    observe: impl FnMut(usize, &Array1<f64>) -> Result<()>,
) -> Result<Vec<MetaPoint>> {
    let mut flat = param.flatten(p);
    let shape = p.clone();
    let curve = adam_loop(
        &mut flat,
        cfg,
        bar,
        |f, cfg| {
            let cur = param.unflatten(&shape, f)?;
            let (loss, g) = match objective {
                Objective::Control => {
                    let (l, g) = param.gradient(&cur, data.align)?;
                    (align_only(l), g)
                }
                Objective::HairTrigger => meta_gradient_of(param, &cur, data, cfg)?,
            };
            Ok((loss, param.flatten(&g)))
        },
        observe,
    )?;
    *p = param.unflatten(&shape, &flat)?;
    Ok(curve)
}

/// [`train`] for the whole network.
pub fn meta_train(
    net: &mut Mlp,
    data: &MetaData,
    cfg: &MetaConfig,
    objective: Objective,
    bar: &dyn Progress,
) -> Result<Vec<MetaPoint>> {
    let curve = train(&FullNetwork, net, data, cfg, objective, bar)?;
    net.check_finite("meta-learned model")?;
    Ok(curve)
}

/// [`train`] for LoRA adapters `φ` on `lora`'s frozen base.
pub fn lora_meta_train(
    lora: &Lora,
    phi: &mut Array1<f64>,
    data: &MetaData,
    cfg: &MetaConfig,
    objective: Objective,
    bar: &dyn Progress,
) -> Result<Vec<MetaPoint>> {
    train(lora, phi, data, cfg, objective, bar)
}

/// The symmetry start's scale `c = max(1, √(0.1/η))` (see
/// `experiments::meta::MetaRun::symmetry_scale`); an `η` so small that `c` leaves f64 is refused
/// naming `--eta`.
pub fn symmetry_scale(eta: f64) -> Result<f64> {
    let c = (0.1 / eta).sqrt().max(1.0);
    if c.is_finite() && (c * c).is_finite() {
        Ok(c)
    } else {
        Err(crate::Error::OutOfRange {
            setting: format!("--eta {eta:e}"),
            reason: "too small: the symmetry start's scale √(0.1/η) and its square must be finite in f64".into(),
        })
    }
}

/// The control (`L_align` from `init`) and the hair-trigger model from
/// `start` ([`train_pair`] for the symmetry start; from `init` itself for the
/// plain one), with the hair-trigger model's training curve.
pub fn train_from(
    start: Start,
    init: Mlp,
    data: &MetaData,
    meta: &MetaConfig,
    bar: &dyn Progress,
) -> Result<(Mlp, Mlp, Vec<MetaPoint>)> {
    match start {
        Start::Symmetry => train_pair(init, data, meta, symmetry_scale(meta.eta())?, bar),
        Start::Plain => {
            let mut control = init.clone();
            meta_train(&mut control, data, meta, Objective::Control, bar)?;
            let mut hair = init;
            let curve = meta_train(&mut hair, data, meta, Objective::HairTrigger, bar)?;
            Ok((control, hair, curve))
        }
    }
}

/// The control (`L_align` from `init`) and the hair-trigger model (meta-trained
/// from the control rescaled by `c = symmetry_scale` along every unit of the
/// first hidden layer, `(u, b, v) → (c u, c b, v / c)`: the same function),
/// with the hair-trigger model's training curve.
pub fn train_pair(
    init: Mlp,
    data: &MetaData,
    meta: &MetaConfig,
    symmetry_scale: f64,
    bar: &dyn Progress,
) -> Result<(Mlp, Mlp, Vec<MetaPoint>)> {
    let mut control = init;
    meta_train(&mut control, data, meta, Objective::Control, bar)?;
    let width = control.layers()[0].n_out();
    let mut hair = crate::reparam::scale_units(&control, 1, &vec![symmetry_scale; width])?;
    let curve = meta_train(&mut hair, data, meta, Objective::HairTrigger, bar)?;
    Ok((control, hair, curve))
}
