//! `hairtrigger capacity`: how many random behaviours meta-learning hides
//! against model size — whole networks over `--widths`, or LoRA adapters over
//! `--lora-ranks` on a frozen base (C4).

use super::progress_bar;
use super::{fit_line_text, non_empty_path, parse_sizes, write_outputs, Printer};
use crate::error::{Error, Result};
use crate::experiments::capacity::uncapped::{Family, UncappedConfig};
use crate::experiments::capacity::{CapacityConfig, LoraSweep};
use crate::experiments::report::Experiment;
use crate::limits::MemoryBudget;
use clap::{ArgGroup, Args};
use serde::Serialize;
use std::process::ExitCode;

/// Hidden width of the frozen base of the LoRA sweep unless `--base-width` says otherwise.
pub const DEFAULT_BASE_WIDTH: usize = 64;

/// Arguments of `hairtrigger capacity`.
#[derive(Args, Debug, Serialize)]
#[command(allow_negative_numbers = true)]
#[command(group(ArgGroup::new("sweep").required(true).args(["widths", "lora_ranks"])))]
pub struct CapacityArgs {
    /// Whole networks 32 → W → 10 at these hidden widths (comma-separated, at least 3, distinct), e.g. 8,12,16,24,32,48,64.
    #[arg(long)]
    pub widths: Option<String>,
    /// LoRA adapters of these ranks (comma-separated, at least 3, distinct, each ≤ --base-width) on a frozen base, e.g. 1,2,4,8,16,32.
    #[arg(long)]
    pub lora_ranks: Option<String>,
    /// With --lora-ranks: hidden width of the frozen base [default: 64].
    #[arg(long, conflicts_with = "widths")]
    pub base_width: Option<usize>,
    /// Random behaviours to hide.
    #[arg(long, default_value_t = CapacityConfig::DEFAULT_BEHAVIOURS)]
    pub behaviours: usize,
    /// Learning rate of the benign inner SGD step.
    #[arg(long, default_value_t = CapacityConfig::DEFAULT_ETA, allow_hyphen_values = true)]
    pub eta: f64,
    /// Meta-steps (Adam) per model (1 … 10,000,000).
    #[arg(long, default_value_t = CapacityConfig::DEFAULT_STEPS)]
    pub steps: usize,
    /// Seed of the behaviours, initialisation and data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the hair-trigger models start: symmetry (the control rescaled by √(0.1/η); LoRA: A scaled by it) or plain (the random initialisation; LoRA: the standard adapter initialisation).
    #[arg(long, default_value = "symmetry")]
    pub start: String,
    /// Clip each meta-gradient to this norm, or `none`.
    #[arg(long, default_value = "10")]
    pub clip: String,
    /// An η curriculum for every model: the inner learning rate descends
    /// geometrically from this value to --eta over the first 40% of the
    /// meta-steps (then Adam's rate decays tenfold), e.g. 0.1.
    #[arg(long, allow_hyphen_values = true)]
    pub anneal: Option<f64>,
    /// Count without ceilings: per size and seed, grow the behaviours from
    /// --k-start (doubling) until at most a quarter are hidden, count at 3
    /// budgets (--budgets: snapshots of one run at a constant η, one run per
    /// budget with --anneal), fit a line and a saturating law; `--behaviours`
    /// is then unused.
    #[arg(long)]
    pub uncapped: bool,
    /// With --uncapped: seeds --seed, --seed + 1, … (at least 2).
    #[arg(long, default_value_t = 3, requires = "uncapped")]
    pub seeds: usize,
    /// With --uncapped: three ascending meta-step budgets [default: --steps/4, --steps/2, --steps].
    #[arg(long, requires = "uncapped")]
    pub budgets: Option<String>,
    /// With --uncapped: behaviours asked for at the first rung.
    #[arg(long, default_value_t = 32, requires = "uncapped")]
    pub k_start: usize,
    /// With --uncapped: the most behaviours asked for.
    #[arg(long, default_value_t = 4096, requires = "uncapped")]
    pub k_max: usize,
    /// Output folder.
    #[arg(long, default_value = "runs/capacity", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// One JSON object per model size, then the fit.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

/// The checked sweep.
pub enum CapacitySweep {
    /// Whole networks at the configured widths.
    Widths(CapacityConfig),
    /// LoRA adapters of some ranks on a base of some width.
    LoraRanks(LoraSweep),
    /// Either family, counted without ceilings.
    Uncapped(UncappedConfig),
}

impl CapacityArgs {
    /// `--start` and `--clip`, parsed.
    fn start_and_clip(&self) -> Result<(crate::attack::meta::Start, f64)> {
        let clip = super::parse_clip(&self.clip)?;
        Ok((crate::attack::meta::Start::parse(&self.start)?, clip))
    }

    /// The `--uncapped` sweep.
    fn check_uncapped(&self, budget: &MemoryBudget) -> Result<CapacitySweep> {
        let (start, clip) = self.start_and_clip()?;
        // With --anneal each budget trains its own model (the curriculum
        // depends on the budget), as reproduce's LoRA stage does.
        let budgets = match &self.budgets {
            Some(list) => parse_sizes("budget list", list)?,
            None => vec![(self.steps / 4).max(1), (self.steps / 2).max(2), self.steps],
        };
        let (family, sizes, width) = match (&self.widths, &self.lora_ranks) {
            (Some(list), _) => {
                let sizes = parse_sizes("width list", list)?;
                let w = sizes.iter().copied().max().unwrap_or(1);
                (Family::Whole, sizes, w)
            }
            (None, list) => {
                let sizes = parse_sizes("rank list", list.as_deref().unwrap_or_default())?;
                for &r in &sizes {
                    crate::net::lora::check_rank(r)?;
                }
                let base_width = self.base_width.unwrap_or(DEFAULT_BASE_WIDTH);
                (Family::Lora { base_width }, sizes, base_width)
            }
        };
        let seeds = crate::limits::seed_range(self.seed, self.seeds)?.collect();
        let cfg = UncappedConfig::new(
            family,
            sizes,
            seeds,
            budgets,
            self.eta,
            (self.k_start, self.k_max),
            start,
            clip,
        )?
        .with_anneal_from(self.anneal)?;
        let w = width as f64;
        let samples = self.k_max as f64 + 64.0;
        budget.check(
            &format!("--uncapped up to --k-max {} at width {width}", self.k_max),
            crate::limits::f64_bytes(
                (64.0 * (43.0 * w + 10.0) + 8.0 * samples * (w + 42.0))
                    * rayon::current_num_threads() as f64,
            ),
        )?;
        Ok(CapacitySweep::Uncapped(cfg))
    }

    /// The checked sweep (memory included).
    pub fn check(&self, budget: &MemoryBudget) -> Result<CapacitySweep> {
        if self.uncapped {
            return self.check_uncapped(budget);
        }
        let (start, clip) = self.start_and_clip()?;
        let what = format!("--behaviours {}", self.behaviours);
        if let Some(list) = &self.widths {
            let cfg = CapacityConfig::new(
                parse_sizes("width list", list)?,
                self.behaviours,
                self.steps,
                self.eta,
                self.seed,
            )?
            .with_start_and_clip(start, clip)?
            .with_anneal_from(self.anneal)?;
            budget.check(
                &format!("--widths {list} with {what}"),
                cfg.width_memory_estimate(),
            )?;
            return Ok(CapacitySweep::Widths(cfg));
        }
        let list = self.lora_ranks.as_deref().unwrap_or_default();
        let ranks = parse_sizes("rank list", list)?;
        for &r in &ranks {
            crate::net::lora::check_rank(r)?;
        }
        // The rank list is checked like a width list (≥ 3, distinct, ≥ 1);
        // `CapacityConfig::new` also checks behaviours, steps and η.
        CapacityConfig::new(
            ranks.clone(),
            self.behaviours,
            self.steps,
            self.eta,
            self.seed,
        )
        .map_err(|e| match e {
            Error::InvalidParameter {
                value, expected, ..
            } => Error::InvalidParameter {
                name: "LoRA ranks (--lora-ranks)",
                value,
                expected,
            },
            e => e,
        })?;
        let base_width = self.base_width.unwrap_or(DEFAULT_BASE_WIDTH);
        if let Some(&r) = ranks.iter().find(|&&r| r > base_width) {
            return Err(Error::InvalidParameter {
                name: "LoRA rank (--lora-ranks)",
                value: r as f64,
                expected: "must not exceed the base width (--base-width)",
            });
        }
        // The base model's widths are not swept here; the config holds the
        // widths the base-only validation needs.
        let cfg = CapacityConfig::new(
            vec![8, 16, 32],
            self.behaviours,
            self.steps,
            self.eta,
            self.seed,
        )?
        .with_start_and_clip(start, clip)?
        .with_anneal_from(self.anneal)?;
        let bw = base_width as f64;
        budget.check(
            &format!("--base-width {base_width} with {what}"),
            cfg.memory_estimate(43.0 * bw + 10.0, bw),
        )?;
        Ok(CapacitySweep::LoraRanks(LoraSweep {
            cfg,
            ranks,
            base_width,
        }))
    }

    /// Train `sweep` with a progress bar, write its files, print one line (or
    /// JSON record) per model size and the fit.
    fn train_and_print<E: Experiment, R: Serialize>(
        &self,
        sweep: &E,
        out: &Printer,
        rows: impl Fn(&E::Output) -> (&Vec<R>, &crate::stats::LineFit),
        line: impl Fn(&R) -> String,
    ) -> Result<()> {
        let bar = progress_bar(sweep.work());
        let r = sweep
            .run(&bar)
            .map_err(super::name_eta_on_overflow(self.eta))?;
        bar.finish_and_clear();
        write_outputs(&self.out, "capacity", self, |dir| {
            sweep.write(&r, dir).map(drop)
        })?;
        let (records, fit) = rows(&r);
        for c in records {
            if out.json() {
                out.record(c)?;
            } else {
                out.text(line(c));
            }
        }
        out.record(fit)?;
        out.text(fit_line_text("hidden", fit));
        Ok(())
    }

    /// Train the `--uncapped` sweep, write it, print the final rungs and the law.
    fn run_uncapped(&self, cfg: &UncappedConfig, out: &Printer) -> Result<()> {
        let bar = progress_bar(cfg.work());
        let r = cfg
            .run(&bar)
            .map_err(super::name_eta_on_overflow(self.eta))?;
        bar.finish_and_clear();
        write_outputs(&self.out, "capacity", self, |dir| {
            cfg.write(&r, dir).map(drop)
        })?;
        for c in r.records.iter().filter(|c| c.final_rung) {
            if out.json() {
                out.record(c)?;
            } else {
                out.text(format!(
                    "size {:>4}  params {:>6}  seed {}  budget {:>6}  hidden {:>4} of {:>4}{}  (pass before {}, misaligned after {}, control passes {})",
                    c.size, c.params, c.seed, c.budget, c.hidden, c.behaviours,
                    if c.uncapped { "" } else { " (capped: > K/4)" },
                    c.pass_before, c.misaligned_after, c.control_pass_before
                ));
            }
        }
        out.record(&r.law)?;
        let l = &r.law;
        out.text(format!(
            "line: hidden = {:.2} + {:.3e}·params, slope 95% CI [{:.3e}, {:.3e}]; saturating: {:.1}·P/({:.0} + P); AIC(line) − AIC(saturating) = {:.2} → {:?}",
            l.linear.intercept, l.linear.slope, l.linear.slope_ci95.0, l.linear.slope_ci95.1,
            l.saturating.ceiling, l.saturating.half_size, l.aic_linear_minus_saturating, l.preferred
        ));
        Ok(())
    }

    /// Train the sweep, write it and print it.
    pub fn run(&self, budget: &MemoryBudget) -> Result<ExitCode> {
        let sweep = self.check(budget)?;
        super::prepare_out(&self.out)?;
        let out = Printer::new(self.json);
        match sweep {
            CapacitySweep::Widths(cfg) => self.train_and_print(
                &cfg,
                &out,
                |r| (&r.records, &r.fit),
                |c| format!(
                    "width {:>4}  params {:>6}  hidden {:>4} of {}  (pass before {}, misaligned after {}, control misaligned after {})",
                    c.width, c.params, c.hidden, c.behaviours, c.pass_before, c.misaligned_after, c.control_misaligned_after
                ),
            )?,
            CapacitySweep::Uncapped(cfg) => self.run_uncapped(&cfg, &out)?,
            CapacitySweep::LoraRanks(sweep) => self.train_and_print(
                &sweep,
                &out,
                |r| (&r.records, &r.fit),
                |c| format!(
                    "rank {:>2}  params {:>5}  hidden {:>4} of {}  (merged + full SGD step: {} misaligned)",
                    c.rank, c.params, c.hidden, c.behaviours, c.misaligned_after_merged_full_step
                ),
            )?,
        }
        Ok(ExitCode::SUCCESS)
    }
}
