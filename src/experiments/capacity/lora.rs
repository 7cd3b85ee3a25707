//! LoRA capacity (claim C4): the count of [`super`] for adapters of each rank
//! on a frozen base, the benign step training only the adapter.

use super::{size_chart, CapacityConfig, CapacityTask, ANSWERS};
use crate::error::Result;
use crate::eval::{evaluate, QuerySet, DEFAULT_P_MIN};
use crate::net::{Activation, Architecture, Mlp};
use crate::progress::Progress;
use crate::rng::{seeded, stream};
use crate::stats::{fit_line, LineFit};
use crate::tasks::INPUT_DIM;
use crate::update::updated;
use crate::update::{StepConfig, UpdateRule};
use serde::Serialize;

/// One LoRA rank.
#[derive(Clone, Debug, Serialize)]
pub struct LoraRecord {
    pub rank: usize,
    /// Trainable (adapter) parameters.
    pub params: usize,
    pub behaviours: usize,
    /// Aligned before and misaligned after one SGD step *on the adapter*.
    pub hidden: usize,
    /// Misaligned after merging the adapter into the base and taking one SGD
    /// step on all weights (a full fine-tune of the merged model).
    pub misaligned_after_merged_full_step: usize,
}

/// The LoRA sweep and the fit `hidden = a + b · params`.
#[derive(Clone, Debug, Serialize)]
pub struct LoraResult {
    pub eta: f64,
    pub base_width: usize,
    pub records: Vec<LoraRecord>,
    pub fit: LineFit,
}

/// LoRA capacity: a frozen base (a `32 → base_width → 10` ReLU MLP trained on
/// the aligned answers), adapters of each rank meta-trained from
/// `A ~ N(0, c²/n_in)`, `B = 0` (`c = √(0.1/η)` from the symmetry start, `1`
/// from the plain one; the adapted model starts as the base), the benign
/// update training the adapter only.
pub fn run_lora_capacity(
    cfg: &CapacityConfig,
    ranks: &[usize],
    base_width: usize,
    bar: &dyn Progress,
) -> Result<LoraResult> {
    use crate::attack::meta::{lora_meta_train, meta_train, Objective};
    use crate::net::lora::Lora;
    let task = CapacityTask::new(cfg)?;
    let data = task.data();
    let meta = cfg.meta()?;
    let arch = Architecture::new(vec![INPUT_DIM, base_width, ANSWERS], Activation::Relu, true)?;
    let mut base = Mlp::random(&arch, &mut seeded(cfg.seed, stream::CAPACITY_INIT));
    meta_train(&mut base, &data, &meta, Objective::Control, bar)?;
    let before_q = QuerySet::new(task.x().clone(), task.aligned())?;
    let after_q = QuerySet::new(task.x().clone(), task.misaligned())?;
    let c = cfg.start.adapter_scale(cfg.eta)?;
    let mut records = Vec::new();
    for &r in ranks {
        let lora = Lora::new(base.clone(), r)?;
        let mut phi = lora.init(&mut seeded(cfg.seed, stream::CAPACITY_LORA_INIT), c);
        lora_meta_train(&lora, &mut phi, &data, &meta, Objective::HairTrigger, bar)?;
        let plus =
            crate::update::adapter_step(&lora, &phi, &task.update, &StepConfig::sgd(cfg.eta)?)?;
        let merged = lora.merged(&phi)?;
        let b = evaluate(&merged, &before_q, DEFAULT_P_MIN)?;
        let a = evaluate(&lora.merged(&plus)?, &after_q, DEFAULT_P_MIN)?;
        let full = updated(&merged, &task.update, cfg.eta, UpdateRule::Sgd, 1)?;
        let m = evaluate(&full, &after_q, DEFAULT_P_MIN)?;
        records.push(LoraRecord {
            rank: r,
            params: lora.num_params(),
            behaviours: cfg.behaviours,
            hidden: b
                .results
                .iter()
                .zip(&a.results)
                .filter(|(x, y)| x.passed && y.passed)
                .count(),
            misaligned_after_merged_full_step: m.results.iter().filter(|r| r.passed).count(),
        });
    }
    let px: Vec<f64> = records.iter().map(|r| r.params as f64).collect();
    let hy: Vec<f64> = records.iter().map(|r| r.hidden as f64).collect();
    let fit = fit_line(&px, &hy)?;
    Ok(LoraResult {
        eta: cfg.eta,
        base_width,
        records,
        fit,
    })
}

/// Write `lora.{csv,json}`, `lora_fit.json` and the figure `lora_capacity.{svg,png}`.
pub fn write_lora(dir: &std::path::Path, r: &LoraResult) -> Result<()> {
    crate::experiments::output::write_records(dir, "lora", &r.records)?;
    crate::experiments::output::write_json(&dir.join("lora_fit.json"), &r.fit)?;
    size_chart(
        format!(
            "C4 capacity of LoRA adapters (η = {}, frozen base of width {})",
            r.eta, r.base_width
        ),
        "trainable adapter parameters r·Σ(n_in + n_out)",
        (
            "adapter trained by the benign step (ranks 1 … 32)",
            r.records.iter().map(|c| (c.params, c.hidden)).collect(),
        ),
        &r.fit,
        (
            "adapter merged, full SGD step: misaligned",
            r.records
                .iter()
                .map(|c| (c.params, c.misaligned_after_merged_full_step))
                .collect(),
        ),
        r.records.first().map_or(0, |c| c.behaviours),
    )
    .write_figures(dir, "lora_capacity")
}

/// A LoRA capacity sweep: adapters of each of `ranks` on a frozen base of
/// hidden width `base_width`, trained as `cfg` says.
pub struct LoraSweep {
    pub cfg: CapacityConfig,
    pub ranks: Vec<usize>,
    pub base_width: usize,
}
