//! `hairtrigger equiv`: every forward-equivalent reparameterization of one
//! random network, and what it changes (C1).

use super::{fmt_opt, Printer};
use crate::error::Result;
use crate::experiments::equiv::{run_equiv, EquivConfig};
use crate::limits::MemoryBudget;
use crate::Architecture;
use clap::Args;
use std::process::ExitCode;

/// Arguments of `hairtrigger equiv`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct EquivArgs {
    /// Layer widths, input first, e.g. 16,64,64,10.
    #[arg(long, default_value = "16,64,64,10")]
    pub arch: String,
    /// Hidden activation: identity, relu, leaky_relu (or leaky_relu:SLOPE), tanh, gelu, sigmoid.
    #[arg(long, default_value = "relu")]
    pub act: String,
    /// Seed for the network, the data and the constructions.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Build networks without biases.
    #[arg(long)]
    pub no_bias: bool,
    /// Random inputs on which forward and post-step outputs are compared.
    #[arg(long, default_value_t = EquivConfig::DEFAULT_PROBES)]
    pub probes: usize,
    /// Learning rate of the SGD step.
    #[arg(long, default_value_t = EquivConfig::DEFAULT_ETA, allow_hyphen_values = true)]
    pub eta: f64,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl EquivArgs {
    /// The checked configuration (its memory estimate within `budget`).
    pub fn check(&self, budget: &MemoryBudget) -> Result<EquivConfig> {
        let arch = Architecture::parse(&self.arch, &self.act, !self.no_bias)?;
        let cfg = EquivConfig::new(arch, self.seed, self.probes, 32, 8, self.eta)?;
        budget.check(
            &format!("--arch {} with --probes {}", self.arch, self.probes),
            cfg.memory_estimate(),
        )?;
        Ok(cfg)
    }

    /// Run and print the table (or JSON lines).
    pub fn run(&self, budget: &MemoryBudget) -> Result<ExitCode> {
        let cfg = self.check(budget)?;
        let records = run_equiv(&cfg)?;
        for r in &records {
            crate::finite::ensure_finite(&format!("equiv record {}", r.construction), r).map_err(
                |e| crate::Error::OutOfRange {
                    setting: format!(
                        "--arch {} --act {} --eta {:e}{}",
                        self.arch,
                        self.act,
                        self.eta,
                        if self.no_bias { " --no-bias" } else { "" }
                    ),
                    reason: format!(
                        "{e} (a step too large or too small for f64, or a network whose outputs or NTK vanish, e.g. dead ReLU units)"
                    ),
                },
            )?;
        }
        let out = Printer::new(self.json);
        if out.json() {
            for r in &records {
                out.record(r)?;
            }
            return Ok(ExitCode::SUCCESS);
        }
        out.text(format!(
            "network {} ({}, bias {}), seed {}, {} probe inputs, SGD η = {:e} on 32 random samples (f64)",
            cfg.arch().widths_string(),
            cfg.arch().activation(),
            cfg.arch().bias(),
            self.seed,
            self.probes,
            self.eta
        ));
        out.text(format!(
            "{:<17} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
            "construction",
            "layer",
            "fwd abs",
            "fwd rel",
            "|∇| change",
            "NTK change",
            "post-step",
            "div/step"
        ));
        for r in &records {
            if !r.applicable {
                out.text(format!(
                    "{:<17} not applicable: {}",
                    r.construction,
                    r.reason.as_deref().unwrap_or("")
                ));
                continue;
            }
            out.text(format!(
                "{:<17} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}{}",
                r.construction,
                r.hidden_layer,
                fmt_opt(r.forward_max_abs),
                fmt_opt(r.forward_max_rel),
                fmt_opt(r.grad_norm_rel_change),
                fmt_opt(r.ntk_rel_change),
                fmt_opt(r.post_step_divergence_abs),
                fmt_opt(r.post_step_vs_base_step),
                if r.isometry { "  (isometry)" } else { "" }
            ));
        }
        Ok(ExitCode::SUCCESS)
    }
}
