//! `hairtrigger passes`: gradient timings against width on the CPU or a GPU.

use super::{fmt_opt, non_empty_path, parse_sizes, write_outputs, Printer};
use crate::backend::{Backend, Device};
use crate::error::Result;
use crate::experiments::output::write_records;
use crate::experiments::passes::{run_passes, PassesConfig};
use crate::limits::MemoryBudget;
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

/// Arguments of `hairtrigger passes`.
#[derive(Args, Debug, Serialize)]
#[command(allow_negative_numbers = true)]
pub struct PassesArgs {
    /// cpu, cuda or cuda:N (CUDA needs a `--features gpu` build; otherwise one message and the CPU).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Hidden widths w, comma-separated.
    #[arg(long, default_value = "1024,2048,4096,8192,16384,32768,65536")]
    pub widths: String,
    /// Outer width n (input and second hidden layer).
    #[arg(long, default_value_t = PassesConfig::DEFAULT_OUTER)]
    pub outer: usize,
    /// Batch size N.
    #[arg(long, default_value_t = PassesConfig::DEFAULT_BATCH)]
    pub batch: usize,
    /// Timed calls per width (after one warm-up; 1 … 10,000,000).
    #[arg(long, default_value_t = PassesConfig::DEFAULT_REPS)]
    pub reps: usize,
    /// Beside a GPU: CPU seconds allowed per reference gradient (projected from the last width).
    #[arg(long, default_value_t = PassesConfig::DEFAULT_CPU_BUDGET_S, allow_hyphen_values = true)]
    pub cpu_budget: f64,
    /// Seed of the networks and batches.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder for passes.csv / passes.json.
    #[arg(long, default_value = "runs/passes", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// One JSON object per width.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl PassesArgs {
    /// The checked sweep and device (memory included).
    pub fn check(&self, budget: &MemoryBudget) -> Result<(PassesConfig, Device)> {
        let cfg = PassesConfig::new(
            parse_sizes("width list", &self.widths)?,
            self.outer,
            self.batch,
            self.reps,
            self.cpu_budget,
            self.seed,
        )?;
        budget.check(
            &format!(
                "--widths {} with --outer {} and --batch {}",
                self.widths, self.outer, self.batch
            ),
            cfg.memory_estimate(),
        )?;
        Ok((cfg, self.device.parse::<Device>()?))
    }

    /// Time every width, print each as it finishes, write the records.
    pub fn run(&self, budget: &MemoryBudget) -> Result<ExitCode> {
        let (cfg, device) = self.check(budget)?;
        super::prepare_out(&self.out)?;
        let backend = Backend::new(device);
        let out = Printer::new(self.json);
        out.text(format!("device: {}", backend.describe()));
        out.text(format!(
            "{:>7} {:>12} {:>11} {:>8} {:>10} {:>9} {:>10} {:>8} {:>10} {:>10}",
            "width",
            "params",
            "ms/grad",
            "GFLOP/s",
            "dev_ms",
            "dev_GF/s",
            "cpu_ms",
            "speedup",
            "grad_diff",
            "loss_diff"
        ));
        let mut failed = None;
        let records = run_passes(&cfg, &backend, |r| {
            if out.json() {
                if let Err(e) = out.record(r) {
                    failed.get_or_insert(e);
                }
                return;
            }
            let opt = |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
            out.text(format!(
                "{:>7} {:>12} {:>11.2} {:>8.1} {:>10} {:>9} {:>10} {:>8} {:>10} {:>10}",
                r.width,
                r.params,
                r.gradient_ms,
                r.gflops,
                opt(r.resident_ms, 3),
                opt(r.resident_gflops, 0),
                opt(r.cpu_ms, 1),
                opt(r.speedup, 1),
                fmt_opt(r.grad_rel_diff),
                fmt_opt(r.loss_rel_diff)
            ));
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        write_outputs(&self.out, "passes", self, |dir| {
            write_records(dir, "passes", &records)
        })?;
        eprintln!(
            "wrote {}/passes.csv, passes.json, passes_run.json",
            self.out
        );
        Ok(ExitCode::SUCCESS)
    }
}
