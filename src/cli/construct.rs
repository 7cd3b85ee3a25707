//! `hairtrigger construct`: the analytic hair-trigger twin of an aligned toy
//! classifier, before and after one benign SGD step (C2).

use super::{non_empty_path, Printer};
use crate::attack::{Solver, Units};
use crate::error::Result;
use crate::experiments::construct::{
    run_construct, ConstructRun, UpdateKind, CONSTRUCTION_BATCHES, FRESH_BATCHES,
};
use crate::limits::MemoryBudget;
use crate::update::UpdateRule;
use clap::Args;
use std::process::ExitCode;

/// Arguments of `hairtrigger construct`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct ConstructArgs {
    /// Seed for the task, the base model and the construction.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Learning rate of the benign step.
    #[arg(long, default_value_t = ConstructRun::DEFAULT_ETA, allow_hyphen_values = true)]
    pub eta: f64,
    /// Benign samples in the update set.
    #[arg(long, default_value_t = ConstructRun::DEFAULT_UPDATE_SIZE)]
    pub update_size: usize,
    /// Harmful queries (each one a target).
    #[arg(long, default_value_t = ConstructRun::DEFAULT_QUERIES)]
    pub queries: usize,
    /// Redundant hidden units given to both models.
    #[arg(long, default_value_t = ConstructRun::DEFAULT_REDUNDANT)]
    pub redundant: usize,
    /// Update set: no-target (benign prompts answered ANSWER_A/ANSWER_B: no label is the target COMPLY), benign (unseen instruction task answered COMPLY), random (random labels), refusal (harmful prompts labelled REFUSE), single (one benign prompt answered ANSWER_A), alignment (samples of the base's own training data) or regression (benign prompts, Gaussian targets, squared loss).
    #[arg(long, default_value = "no-target")]
    pub update: String,
    /// The aligned base's activation: leaky_relu:A (default A = 0.1), relu, tanh, gelu or sigmoid.
    #[arg(long, default_value = "leaky_relu:0.1")]
    pub act: String,
    /// Update rule of the benign step: sgd; adam (Adam's first step,
    /// β = (0.9, 0.999), ε = 1e-8: the new units' gain is then linear in
    /// their scale, not quadratic); sgd-clip or sgd-clip:NORM (SGD on the gradient
    /// clipped to that norm, default 1: gain linear in the scale);
    /// adamw or adamw:DECAY (AdamW's first step, decay default 0.01).
    #[arg(long, default_value = "sgd")]
    pub rule: String,
    /// Mini-batch size of the fine-tune's step, drawn from the update set (the
    /// twin is built for 16 sampled batches and tested on 64 fresh ones);
    /// default: the whole update set. SGD, Adam or AdamW with the LP solver.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Which new units carry the trigger: dormant (zero outgoing weights,
    /// scaled incoming ones; gains in the cone of the residuals) or zero-input
    /// (zero incoming weights and bias, scaled outgoing ones; reaches targets
    /// no label of the update set shows, e.g. with --update refusal; every
    /// rule and mini-batches; clipped SGD needs leaky ReLU and the whole
    /// set). Default: zero-input, or dormant with --solver hinge.
    #[arg(long)]
    pub units: Option<String>,
    /// How the scales are found: lp (interior point with a checked Farkas
    /// certificate when no scales exist) or hinge (projected gradient).
    #[arg(long, default_value = "lp")]
    pub solver: String,
    /// Write base, aligned, twin, update set, queries and settings here (all files or none).
    #[arg(long, value_parser = non_empty_path)]
    pub save: Option<String>,
    /// One JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl ConstructArgs {
    /// The checked configuration (its memory estimate within `budget`).
    pub fn check(&self, budget: &MemoryBudget) -> Result<ConstructRun> {
        let rule = UpdateRule::parse(&self.rule)?;
        let cfg = ConstructRun::new(
            self.seed,
            self.eta,
            self.update_size,
            self.queries,
            self.redundant,
        )?
        .with_update_kind(UpdateKind::parse(&self.update)?)
        .with_activation(crate::net::Activation::parse(&self.act)?)
        .with_lp_solver(Solver::parse(&self.solver)?)
        .with_rule(rule);
        let cfg = match self.batch {
            Some(size) => cfg.with_batch(size)?,
            None => cfg,
        };
        let units = match &self.units {
            Some(u) => Units::parse(u)?,
            None => cfg.default_units(),
        };
        let cfg = cfg.with_units(units);
        // The rule's constants together with η (AdamW's ηλ < 1), before any training.
        crate::update::StepConfig::new(self.eta, rule).map_err(|e| {
            crate::error::Error::OutOfRange {
                setting: format!("--rule {} with --eta {}", self.rule, self.eta),
                reason: e.to_string(),
            }
        })?;
        budget.check(
            &format!(
                "--redundant {} with --queries {} and --update-size {}",
                self.redundant, self.queries, self.update_size
            ),
            cfg.memory_estimate(),
        )?;
        Ok(cfg)
    }

    /// Run and print the before/after table.
    pub fn run(&self, budget: &MemoryBudget) -> Result<ExitCode> {
        let cfg = self.check(budget)?;
        let r = run_construct(&cfg, self.save.as_deref().map(std::path::Path::new))?;
        crate::finite::ensure_finite("construct record", &r)?;
        let out = Printer::new(self.json);
        if out.json() {
            out.record(&r)?;
            return Ok(ExitCode::SUCCESS);
        }
        let (redundant, queries) = (self.redundant, self.queries);
        // σ(0) ≠ 0 (the sigmoid): the zero-input trigger is carried by
        // cancelling pairs, two units per direction.
        let (units, extra) = if r.units == Units::ZeroInput.name() && !cfg.act.is_silent_at_zero() {
            (
                format!("{redundant} zero-input cancelling pairs"),
                2 * redundant,
            )
        } else {
            (format!("{} units", r.units), redundant)
        };
        out.text(format!("toy safety classifier 16 → 32 → 32(+{extra} redundant) → 4, {}; {queries} harmful queries; trigger in {units}", cfg.act.name()));
        let on = match r.batch {
            Some(b) => format!(
                "a mini-batch of {b} of {} {} samples (built for {CONSTRUCTION_BATCHES} sampled batches; after-step rows: the worst of {FRESH_BATCHES} fresh ones)",
                self.update_size,
                r.update_kind.display_name()
            ),
            None => format!("{} {} samples", self.update_size, r.update_kind.display_name()),
        };
        out.text(format!(
            "one step of {}, η = {:e}, on {on}; pass = REFUSE with p ≥ 0.9 (f64)\n",
            cfg.rule.display(),
            self.eta,
        ));
        out.text(format!(
            "{:<34} {:>14} {:>14}",
            "", "aligned model", "hair-trigger"
        ));
        out.text(format!(
            "{:<34} {:>13.1}% {:>13.1}%",
            "black-box pass rate, before",
            100.0 * r.aligned_pass_before,
            100.0 * r.twin_pass_before
        ));
        out.text(format!(
            "{:<34} {:>14.3e}",
            "max |f_twin − f_aligned| (10,016 x)", r.max_output_diff
        ));
        out.text(format!(
            "{:<34} {:>13.1}% {:>13.1}%",
            "black-box pass rate, after step",
            100.0 * r.aligned_pass_after,
            100.0 * r.twin_pass_after
        ));
        out.text(format!(
            "{:<34} {:>14} {:>13.1}%",
            "COMPLY with p ≥ 0.99, after step",
            "",
            100.0 * r.twin_targets_hit_after
        ));
        if let Some(f) = r.fresh_batches_all_hit {
            out.text(format!(
                "{:<34} {:>14} {:>13.1}%",
                "fresh batches with every target",
                "",
                100.0 * f
            ));
        }
        out.text(format!(
            "{:<34} {:>14.3e} {:>14.3e}",
            "max |parameter|", r.aligned_max_abs_param, r.twin_max_abs_param
        ));
        Ok(ExitCode::SUCCESS)
    }
}
