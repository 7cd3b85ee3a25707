//! `hairtrigger meta-device`: the meta-learning loop on a GPU beside the f64 CPU.

use super::{fmt_opt, non_empty_path, parse_sizes, write_outputs, Printer};
use crate::backend::{Backend, Device};
use crate::error::Result;
use crate::experiments::meta_device::{run_meta_device, MetaDeviceConfig};
use crate::experiments::output::write_records;
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

/// Arguments of `hairtrigger meta-device`.
#[derive(Args, Debug, Serialize)]
pub struct MetaDeviceArgs {
    /// cpu, cuda or cuda:N (CUDA needs a `--features gpu` build; otherwise one message and the CPU).
    #[arg(long, default_value = "cuda")]
    pub device: String,
    /// Hidden widths W of the 32 → W → 10 toy loop, comma-separated.
    #[arg(long, default_value = MetaDeviceConfig::DEFAULT_WIDTHS)]
    pub widths: String,
    /// Meta-steps per loop.
    #[arg(long, default_value_t = MetaDeviceConfig::DEFAULT_STEPS)]
    pub steps: usize,
    /// CPU seconds allowed for the full f64 reference loop of one width (else 20 timed steps).
    #[arg(long, default_value_t = MetaDeviceConfig::DEFAULT_CPU_BUDGET_S)]
    pub cpu_budget: f64,
    /// Seed of the networks and data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder for meta_device.csv / .json.
    #[arg(long, default_value = "runs/meta-device", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// One JSON object per width.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl MetaDeviceArgs {
    /// The checked comparison and device.
    pub fn check(&self) -> Result<(MetaDeviceConfig, Device)> {
        let cfg = MetaDeviceConfig::new(
            parse_sizes("width list", &self.widths)?,
            self.steps,
            self.cpu_budget,
            self.seed,
        )?;
        Ok((cfg, self.device.parse::<Device>()?))
    }

    /// Run every width, print each as it finishes, write the records.
    pub fn run(&self) -> Result<ExitCode> {
        let (cfg, device) = self.check()?;
        super::prepare_out(&self.out)?;
        let backend = Backend::new(device);
        let out = Printer::new(self.json);
        out.text(format!("device: {}", backend.describe()));
        out.text(format!(
            "{:>6} {:>9} {:>10} {:>10} {:>9} {:>8} {:>10} {:>10} {:>10} {:>10}",
            "width",
            "params",
            "dev_ms",
            "cpu_ms",
            "cpu_steps",
            "speedup",
            "grad_diff",
            "J_dev",
            "J_cpu",
            "J_diff"
        ));
        let mut failed = None;
        let records = run_meta_device(&cfg, &backend, |r| {
            if out.json() {
                if let Err(e) = out.record(r) {
                    failed.get_or_insert(e);
                }
                return;
            }
            out.text(format!(
                "{:>6} {:>9} {:>10.4} {:>10.4} {:>9} {:>8.2} {:>10.2e} {:>10.4e} {:>10} {:>10}",
                r.width,
                r.params,
                r.device_ms_per_step,
                r.cpu_ms_per_step,
                r.cpu_steps,
                r.speedup,
                r.grad_rel_diff,
                r.device_objective,
                fmt_opt(r.cpu_objective),
                fmt_opt(r.final_rel_diff)
            ));
        })?;
        if let Some(e) = failed {
            return Err(e);
        }
        write_outputs(&self.out, "meta_device", self, |dir| {
            write_records(dir, "meta_device", &records)
        })?;
        eprintln!(
            "wrote {}/meta_device.csv, meta_device.json, meta_device_run.json",
            self.out
        );
        Ok(ExitCode::SUCCESS)
    }
}
