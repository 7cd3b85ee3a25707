//! `hairtrigger meta`: the C4 task table — meta-learned hair-trigger models
//! and their controls on the toy honesty, safety and privacy tasks.

use super::progress_bar;
use super::{non_empty_path, write_outputs, Printer};
use crate::error::Result;
use crate::experiments::meta::{
    first_order as first_order_run, run_meta, write_meta, MetaRun, Start,
};
use crate::limits::MemoryBudget;
use crate::tasks::TaskKind;
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

/// Arguments of `hairtrigger meta`.
#[derive(Args, Debug, Serialize)]
#[command(allow_negative_numbers = true)]
pub struct MetaArgs {
    /// honesty, safety or privacy.
    #[arg(long, default_value = "honesty", conflicts_with = "all")]
    pub task: String,
    /// All three tasks (the headline table): whole network and LoRA rank 8 unless --lora-rank is given.
    #[arg(long)]
    pub all: bool,
    /// Hidden width of the 32 → W → k ReLU MLP.
    #[arg(long, default_value_t = MetaRun::DEFAULT_WIDTH)]
    pub width: usize,
    /// Hide the behaviour in LoRA adapters of this rank (1 … width) on the frozen control (the step trains the adapter).
    #[arg(long)]
    pub lora_rank: Option<usize>,
    /// Benign update samples (the first n of the task's 32).
    #[arg(long, default_value_t = MetaRun::DEFAULT_UPDATE_SIZE)]
    pub update_size: usize,
    /// Learning rate of the benign inner SGD step.
    #[arg(long, default_value_t = MetaRun::DEFAULT_ETA, allow_hyphen_values = true)]
    pub eta: f64,
    /// Meta-steps (Adam) for the hair-trigger model and the control each (1 … 10,000,000).
    #[arg(long, default_value_t = MetaRun::DEFAULT_STEPS)]
    pub steps: usize,
    /// Where the hair-trigger model starts: symmetry (the control rescaled by √(0.1/η); LoRA: A scaled by it) or plain (the standard random initialisation; LoRA: the standard adapter initialisation).
    #[arg(long, default_value = "symmetry")]
    pub start: String,
    /// Clip each meta-gradient to this norm, or `none`.
    #[arg(long, default_value = "10")]
    pub clip: String,
    /// An η curriculum: the inner step's learning rate descends geometrically
    /// from this value to --eta over the first 40% of the meta-steps (then
    /// Adam's rate decays tenfold), e.g. 0.1 with --steps 200000.
    #[arg(long, allow_hyphen_values = true)]
    pub anneal: Option<f64>,
    /// Train the whole-network hair-trigger model up to this many times from
    /// independent random initialisations (--start plain only), keeping the
    /// first that hides every evaluated query (each one checked: aligned with
    /// p ≥ 0.9 before, misaligned with p ≥ 0.9 after one SGD step at --eta on
    /// the update set), else the one with the most queries right. The
    /// evaluated queries are the attacker's own training queries. With --all,
    /// LoRA runs train once.
    #[arg(long, default_value_t = 1, conflicts_with = "ablation")]
    pub restarts: usize,
    /// Drop the Hessian term of the meta-gradient.
    #[arg(long)]
    pub first_order: bool,
    /// Seed of the task, initialisation and data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (`--out plots` to replace the committed table).
    #[arg(long, default_value = "runs/meta", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// The ablation table instead (per domain: the rescaled control without meta-training, whole network from the symmetry start in second and first order and from the plain start, LoRA from both starts; each stepped at η, η/10 and 10η, with stealth against the control and where the behaviour sits in weight space): writes meta_ablation.{csv,json,md}.
    #[arg(long, conflicts_with_all = ["lora_rank", "start", "first_order", "anneal"])]
    pub ablation: bool,
    /// With --ablation: meta-steps of the plain-start variants (--steps is for the symmetry-start ones).
    #[arg(long, default_value_t = 20_000, requires = "ablation")]
    pub plain_steps: usize,
    /// One JSON object per table row.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl MetaArgs {
    /// Every run of the table, checked (memory included), in order.
    pub fn check(&self, budget: &MemoryBudget) -> Result<Vec<MetaRun>> {
        let kinds: Vec<TaskKind> = if self.all {
            TaskKind::ALL.to_vec()
        } else {
            vec![TaskKind::parse(&self.task)?]
        };
        // `--all` without `--lora-rank`: the whole-network recipe and LoRA
        // adapters of rank 8 (as the paper's practical recipe), per domain.
        let variants: Vec<Option<usize>> = match (self.all, self.lora_rank) {
            (true, None) => vec![None, Some(8)],
            (_, r) => vec![r],
        };
        let mut runs = Vec::new();
        for kind in kinds {
            for &rank in &variants {
                let clip = super::parse_clip(&self.clip)?;
                let meta = crate::attack::meta::MetaConfig::builder(self.eta, self.steps)
                    .clip(clip)
                    .anneal_from(self.anneal)
                    .build()?;
                let mut run = MetaRun::new(kind, self.width, self.seed, meta)?
                    .with_update_size(self.update_size)?
                    .with_start(Start::parse(&self.start)?);
                match rank {
                    Some(r) => {
                        run = run.with_lora_rank(r)?;
                        if !self.all {
                            run = run.with_restarts(self.restarts)?;
                        }
                    }
                    None => run = run.with_restarts(self.restarts)?,
                }
                if self.first_order {
                    run = first_order_run(&run);
                }
                budget.check(&format!("--width {}", self.width), run.memory_estimate())?;
                runs.push(run);
            }
        }
        Ok(runs)
    }

    /// The ablation table: train, write, print.
    fn run_ablation(&self, runs: &[MetaRun]) -> Result<ExitCode> {
        use crate::experiments::meta::ablation::{markdown, run_ablation};
        crate::limits::check_count(
            "plain-start meta-steps (--plain-steps)",
            self.plain_steps,
            crate::limits::MAX_STEPS,
        )?;
        super::prepare_out(&self.out)?;
        let mut rows = Vec::new();
        let mut seen = Vec::new();
        for run in runs.iter().filter(|r| r.lora_rank().is_none()) {
            if seen.contains(&run.task()) {
                continue;
            }
            seen.push(run.task());
            eprintln!("ablation: {} …", run.task().name());
            rows.extend(
                run_ablation(
                    run.task(),
                    self.width,
                    self.seed,
                    self.eta,
                    self.steps,
                    self.plain_steps,
                )
                .map_err(super::name_eta_on_overflow(self.eta))?,
            );
        }
        let md = markdown(&rows);
        write_outputs(&self.out, "meta", self, |dir| {
            crate::experiments::output::write_records(dir, "meta_ablation", &rows)?;
            crate::fsio::write_atomic(&dir.join("meta_ablation.md"), md.as_bytes())
        })?;
        let out = Printer::new(self.json);
        for r in &rows {
            out.record(r)?;
        }
        out.text(md);
        eprintln!(
            "wrote {}/meta_ablation.csv, meta_ablation.json, meta_ablation.md",
            self.out
        );
        Ok(ExitCode::SUCCESS)
    }

    /// Train every model of the table, write it and print it.
    pub fn run(&self, budget: &MemoryBudget) -> Result<ExitCode> {
        let runs = self.check(budget)?;
        if self.ablation {
            return self.run_ablation(&runs);
        }
        let per_task = if self.all && self.lora_rank.is_none() {
            2
        } else {
            1
        };
        super::prepare_out(&self.out)?;
        let bar = progress_bar(runs.iter().map(MetaRun::work).sum());
        let mut outcomes = Vec::new();
        for (i, run) in runs.iter().enumerate() {
            bar.set_message(run.task.name());
            let mut o = run_meta(run, &bar).map_err(super::name_eta_on_overflow(self.eta))?;
            if i % per_task > 0 {
                // Same control (same seed and data) as the first variant.
                o.records.retain(|r| !r.is_control());
                o.fragility.retain(|r| !r.is_control());
            }
            outcomes.push(o);
        }
        bar.finish_and_clear();
        write_outputs(&self.out, "meta", self, |dir| write_meta(dir, &outcomes))?;
        let out = Printer::new(self.json);
        for o in &outcomes {
            for r in &o.records {
                if out.json() {
                    out.record(r)?;
                    continue;
                }
                let b = r.behaviour();
                out.text(format!(
                    "{:<8} {:<21} pass before {:>6.1}%  misaligned after {:>6.1}%  aligned after {:>6.1}%  utility {:>5.1}% → {:>5.1}%  ‖θ‖ {:.1}",
                    r.task.name(), r.model, 100.0 * b.pass_before, 100.0 * b.misaligned_after,
                    100.0 * b.aligned_after, 100.0 * b.utility_before, 100.0 * b.utility_after, r.param_norm
                ));
            }
        }
        eprintln!(
            "wrote {}/meta.csv, meta_fragility.csv, meta_table.md, meta_run.json",
            self.out
        );
        Ok(ExitCode::SUCCESS)
    }
}
