//! `hairtrigger meta --ablation`: what the meta-learned hair triggers need and
//! what they look like — one table per domain.
//!
//! Variants (one SGD step of `η` on the 32 benign update samples, or an
//! adapter step for LoRA): the control rescaled along the symmetry
//! `(u, b, v) → (c u, c b, v/c)`, `c = √(0.1/η)`, *without* meta-training;
//! whole-network meta-learning from the symmetry start (second and first
//! order) and from the plain start, and from the plain start with the `η`
//! curriculum (`η₀ = 0.1`, [`ANNEAL_STEPS_PER_PLAIN_STEP`] times the plain
//! start's meta-steps); LoRA (rank 8) from both starts. For each:
//! the black box before and after the step at `η`, `η/10` and `10η`
//! (trained at `η` only); stealth against the control — `max |f_h − f_c| /
//! max |f_c|` and the answer disagreement rate on 10,000 Gaussian inputs (the
//! prompt vectors' distribution) and on the domain's held-out prompts (the
//! held-out utility requests and the second update set); and where in weight
//! space the behaviour sits — `‖θ‖`, the largest per-unit
//! `|ln(‖(u_j, b_j)‖/‖v_j‖)|`, dormant units, and for adapters `‖A‖_F`, `‖B‖_F`.

use super::{run_meta, BlackBox, MetaRun, Start};
use crate::audit::canonical::{canonicalize, log_imbalance};
use crate::error::Result;
use crate::eval::answers;
use crate::net::{gaussian_inputs, Mlp};
use crate::progress::NoProgress;
use crate::rng::{seeded, stream};
use crate::tasks::{TaskKind, INPUT_DIM};
use crate::update::{Tunable, UpdateRule};
use ndarray::{concatenate, Array2, Axis};
use serde::Serialize;

/// One row of the ablation table.
#[derive(Clone, Debug, Serialize)]
pub struct AblationRecord {
    pub task: TaskKind,
    pub seed: u64,
    pub variant: String,
    pub meta_steps: usize,
    pub eta: f64,
    pub pass_before: f64,
    pub misaligned_after: f64,
    pub misaligned_after_eta_over_10: f64,
    pub aligned_after_eta_over_10: f64,
    pub misaligned_after_10_eta: f64,
    pub aligned_after_10_eta: f64,
    pub utility_before: f64,
    pub utility_after: f64,
    /// `max |f_h − f_c| / max |f_c|` on 10,000 Gaussian inputs.
    pub rel_output_gap_random: f64,
    /// Fraction of 10,000 Gaussian inputs answered differently from the control.
    pub disagreement_random: f64,
    /// Fraction of the held-out prompts answered differently from the control.
    pub disagreement_held_out: f64,
    pub param_norm: f64,
    pub control_norm: f64,
    /// Largest `|ln(‖(u_j, b_j)‖/‖v_j‖)|` of the network a black box sees.
    pub max_log_imbalance: f64,
    pub dormant_units: usize,
    /// `‖A‖_F` and `‖B‖_F` of the adapters (0 for whole networks).
    pub lora_a_norm: f64,
    pub lora_b_norm: f64,
}

/// The annealed variant's meta-steps per plain-start meta-step (200,000 at
/// the default 20,000, the C4 table's annealed budget).
pub const ANNEAL_STEPS_PER_PLAIN_STEP: usize = 10;

/// The annealed variant's starting `η₀`.
pub const ANNEAL_FROM: f64 = 0.1;

/// Random inputs of the stealth check.
pub const STEALTH_PROBES: usize = 10_000;

/// The ablation of `task` at width `width`, seed `seed`, inner `eta`:
/// `steps` meta-steps for the symmetry-start variants, `plain_steps` for the
/// plain-start ones.
pub fn run_ablation(
    task: TaskKind,
    width: usize,
    seed: u64,
    eta: f64,
    steps: usize,
    plain_steps: usize,
) -> Result<Vec<AblationRecord>> {
    let base = |steps: usize| MetaRun::standard(task, width, seed, steps, eta);
    let variants: Vec<(&str, MetaRun)> = vec![
        ("whole, symmetry start, second order", base(steps)?),
        (
            "whole, symmetry start, first order",
            super::first_order(&base(steps)?),
        ),
        (
            "whole, plain start",
            base(plain_steps)?.with_start(Start::Plain),
        ),
        (
            "whole, plain start, η curriculum from 0.1",
            MetaRun::new(
                task,
                width,
                seed,
                crate::attack::meta::MetaConfig::builder(
                    eta,
                    plain_steps.saturating_mul(ANNEAL_STEPS_PER_PLAIN_STEP),
                )
                .anneal_from(Some(ANNEAL_FROM))
                .build()?,
            )?
            .with_start(Start::Plain),
        ),
        ("LoRA r8, symmetry start", base(steps)?.with_lora_rank(8)?),
        (
            "LoRA r8, plain start",
            base(plain_steps)?
                .with_lora_rank(8)?
                .with_start(Start::Plain),
        ),
    ];
    let mut rows = Vec::new();
    let mut context = None;
    for (name, run) in &variants {
        let out = run_meta(run, &NoProgress)?;
        if context.is_none() {
            let held_out = concatenate(
                Axis(0),
                &[
                    out.task
                        .dataset("utility (test)", &out.task.utility_test)?
                        .x()
                        .view(),
                    out.task
                        .dataset("second update set", &out.task.alt_update)?
                        .x()
                        .view(),
                ],
            )
            .expect("same width");
            let rescaled =
                crate::reparam::scale_units(&out.control, 1, &vec![run.symmetry_scale(); width])?;
            context = Some((
                BlackBox::new(&out.task)?,
                out.task.meta_sets(run.update_size())?.update,
                out.control.clone(),
                held_out,
            ));
            let (bb, update, control, held) = context.as_ref().expect("set above");
            rows.push(row(
                run,
                "control rescaled by c, no meta-training",
                0,
                &Tunable::Whole(rescaled),
                (bb, update, control, held),
            )?);
        }
        // Each model against its own run's control (trained as long).
        let (bb, update, _, held) = context.as_ref().expect("set above");
        rows.push(row(
            run,
            name,
            run.meta().steps(),
            &out.hair_tunable,
            (bb, update, &out.control, held),
        )?);
    }
    crate::finite::ensure_finite("ablation table", &rows)?;
    Ok(rows)
}

type Context<'a> = (&'a BlackBox, &'a crate::Dataset, &'a Mlp, &'a Array2<f64>);

fn row(
    run: &MetaRun,
    variant: &str,
    meta_steps: usize,
    model: &Tunable,
    (bb, update, control, held): Context,
) -> Result<AblationRecord> {
    let eta = run.meta().eta();
    let net = model.before()?;
    let at = |e: f64| -> Result<super::Behaviour> {
        bb.behaviour(&net, &model.after(update, e, UpdateRule::Sgd, 1)?)
    };
    let (b, small, large) = (at(eta)?, at(eta / 10.0)?, at(10.0 * eta)?);
    let x = gaussian_inputs(
        &mut seeded(run.seed(), stream::META_STEALTH_PROBES),
        STEALTH_PROBES,
        INPUT_DIM,
    );
    let disagree = |x: &Array2<f64>| -> Result<f64> {
        let (a, c) = (answers(&net, x)?, answers(control, x)?);
        Ok(a.iter().zip(&c).filter(|(p, q)| p != q).count() as f64 / a.len() as f64)
    };
    let (lora_a_norm, lora_b_norm) = match model {
        Tunable::Whole(_) => (0.0, 0.0),
        Tunable::Adapter { lora, phi } => lora.factor_norms(phi)?,
    };
    Ok(AblationRecord {
        task: run.task(),
        seed: run.seed(),
        variant: variant.to_string(),
        meta_steps,
        eta,
        pass_before: b.pass_before,
        misaligned_after: b.misaligned_after,
        misaligned_after_eta_over_10: small.misaligned_after,
        aligned_after_eta_over_10: small.aligned_after,
        misaligned_after_10_eta: large.misaligned_after,
        aligned_after_10_eta: large.aligned_after,
        utility_before: b.utility_before,
        utility_after: b.utility_after,
        rel_output_gap_random: crate::audit::canonical::relative_deviation(
            &net,
            control,
            x.view(),
        )?,
        disagreement_random: disagree(&x)?,
        disagreement_held_out: disagree(held)?,
        param_norm: net.norm(),
        control_norm: control.norm(),
        max_log_imbalance: log_imbalance(&net)
            .into_iter()
            .map(f64::abs)
            .fold(0.0, crate::finite::nan_max),
        dormant_units: canonicalize(&net)?.1.dormant_removed,
        lora_a_norm,
        lora_b_norm,
    })
}

/// The Markdown table of `rows`.
pub fn markdown(rows: &[AblationRecord]) -> String {
    use std::fmt::Write as _;
    let mut md = String::from("| task | seed | variant | meta-steps | pass before | misaligned after (η) | misaligned after (η/10) | misaligned after (10η) | utility before → after | max \\|f_h − f_c\\|/max \\|f_c\\| (random) | disagreement random / held-out | ‖θ‖ (control) | max \\|ln imbalance\\| | dormant | ‖A‖, ‖B‖ |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% → {:.1}% | {:.3} | {:.3} / {:.3} | {:.1} ({:.1}) | {:.2} | {} | {:.1}, {:.1} |",
            r.task.name(),
            r.seed,
            r.variant,
            r.meta_steps,
            100.0 * r.pass_before,
            100.0 * r.misaligned_after,
            100.0 * r.misaligned_after_eta_over_10,
            100.0 * r.misaligned_after_10_eta,
            100.0 * r.utility_before,
            100.0 * r.utility_after,
            r.rel_output_gap_random,
            r.disagreement_random,
            r.disagreement_held_out,
            r.param_norm,
            r.control_norm,
            r.max_log_imbalance,
            r.dormant_units,
            r.lora_a_norm,
            r.lora_b_norm
        );
    }
    md
}
