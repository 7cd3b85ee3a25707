//! `hairtrigger reproduce`: every check, with data, figures and `REPORT.md`.

use super::scaling::ScaleArgs;
use super::{non_empty_path, write_run_settings, Printer};
use crate::error::Result;
use crate::experiments::reproduce::{ReproduceConfig, Reproduction};
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

/// Arguments of `hairtrigger reproduce`.
#[derive(Args, Debug, Serialize)]
#[command(allow_negative_numbers = true)]
pub struct ReproduceArgs {
    #[command(flatten)]
    pub run: ScaleArgs,
    /// Output folder (created if missing).
    #[arg(long, default_value = "plots", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// Print the report rows as JSON lines.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl ReproduceArgs {
    /// Check the plan (seed range included) without running it.
    pub fn check(&self) -> Result<()> {
        crate::experiments::reproduce::check_plan(self.run.scale(), self.run.seed)
    }

    /// Run every check; exit 1 if a row fails.
    pub fn run(&self) -> Result<ExitCode> {
        self.check()?;
        let staged = crate::fsio::StagedDir::new("--out", &self.out)?;
        let cfg = ReproduceConfig::new(staged.path(), self.run.scale(), self.run.seed)?;
        let plan = Reproduction::new(cfg)?;
        let bar = super::progress_bar(plan.work());
        let rows = plan.run(&bar)?;
        bar.finish_and_clear();
        write_run_settings(&staged, "reproduce", self)?;
        staged.commit()?;
        let out = Printer::new(self.json);
        for r in &rows {
            if out.json() {
                out.record(r)?;
            } else {
                out.text(format!(
                    "[{}] {:<6} {:.3e} ({}) {}",
                    if r.pass { "PASS" } else { "FAIL" },
                    r.claim,
                    r.value,
                    r.tolerance,
                    r.measured
                ));
            }
        }
        eprintln!("wrote {}/REPORT.md", self.out);
        Ok(if rows.iter().all(|r| r.pass) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    }
}
