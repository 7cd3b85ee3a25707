//! `hairtrigger zoo`: the audit measured on a zoo of trained, moved,
//! constructed, meta-learned and adaptive models (C5), with ROC tables and
//! figures.

use super::{non_empty_path, progress_bar, write_outputs, Printer};
use crate::error::Result;
use crate::experiments::report::Experiment;
use crate::experiments::zoo::ZooConfig;
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

/// Arguments of `hairtrigger zoo`.
#[derive(Args, Debug, Serialize)]
#[command(allow_negative_numbers = true)]
pub struct ZooArgs {
    /// Seed of the tasks, initialisations, moves and data.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// The small zoo of the tests (one task, widths ≤ 32, one domain) instead of the full one.
    #[arg(long)]
    pub quick: bool,
    /// Output folder.
    #[arg(long, default_value = "runs/zoo", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// One JSON object per model, then one per REPORT row.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
}

impl ZooArgs {
    /// The checked configuration.
    pub fn check(&self) -> Result<ZooConfig> {
        Ok(if self.quick {
            ZooConfig::quick(self.seed)
        } else {
            ZooConfig::standard(self.seed)
        })
    }

    /// Build, measure, write and print the zoo.
    pub fn run(&self) -> Result<ExitCode> {
        let cfg = self.check()?;
        super::prepare_out(&self.out)?;
        let bar = progress_bar(cfg.work());
        let out = cfg.run(&bar)?;
        bar.finish_and_clear();
        write_outputs(&self.out, "zoo", self, |dir| cfg.write(&out, dir).map(drop))?;
        let p = Printer::new(self.json);
        for r in &out.records {
            p.record(r)?;
        }
        for row in cfg.claims(&out) {
            p.record(&row)?;
            p.text(format!(
                "{} {}: {} = {} ({})",
                if row.pass { "PASS" } else { "FAIL" },
                row.claim,
                row.measured,
                row.value,
                row.tolerance
            ));
        }
        if let Some(s) = cfg.section(&out) {
            p.text(s);
        }
        p.text(format!("wrote {}", self.out));
        Ok(ExitCode::SUCCESS)
    }
}
