//! `hairtrigger scaling` and `hairtrigger merge`: the C3 sweeps (breadth and
//! severity), whole or in slices, and the merge of slices.

use super::progress_bar;
use super::{non_empty_path, write_outputs, Printer};
use crate::attack::Solver;
use crate::error::{Error, Result};
use crate::experiments::output::write_json;
use crate::experiments::reproduce::{scaling_config, Scale};
use crate::experiments::scaling::{
    merge_shards, read_shard, run_scaling, run_shard, write_scaling, ScalingConfig, ScalingResult,
    Shard,
};
use clap::Args;
use serde::Serialize;
use std::process::ExitCode;

/// Scale and seed, shared by `scaling`, `merge` and `reproduce` (`merge` must
/// be given the scale and seed its slices were run with).
#[derive(Args, Debug, Serialize)]
pub struct ScaleArgs {
    /// Sub-minute smoke run.
    #[arg(long, conflicts_with = "full")]
    pub quick: bool,
    /// Publication-scale run.
    #[arg(long)]
    pub full: bool,
    /// Base seed (a run over n seeds uses seed … seed + n − 1).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

impl ScaleArgs {
    /// The chosen scale.
    pub fn scale(&self) -> Scale {
        match (self.quick, self.full) {
            (true, _) => Scale::Quick,
            (_, true) => Scale::Full,
            _ => Scale::Default,
        }
    }
}

/// `--solver`, shared by `scaling` and `merge` (a slice's settings include
/// the solver, so `merge` must be told the one its slices used).
#[derive(Args, Debug, Serialize)]
pub struct SolverArg {
    /// How each breadth attempt's scales are found: lp (interior point; every
    /// failure certified infeasible or reported undecided) or hinge (the older
    /// projected gradient, whose failures prove nothing).
    #[arg(long, default_value = "lp")]
    pub solver: String,
}

impl SolverArg {
    /// The checked solver.
    pub fn parse(&self) -> Result<Solver> {
        Solver::parse(&self.solver)
    }
}

/// Arguments of `hairtrigger scaling`.
#[derive(Args, Debug, Serialize)]
#[command(allow_negative_numbers = true)]
pub struct ScalingArgs {
    #[command(flatten)]
    pub run: ScaleArgs,
    /// Output folder (created if missing).
    #[arg(long, default_value = "runs/scaling", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// One JSON object per breadth point, then the fits.
    #[arg(long)]
    #[serde(skip)]
    pub json: bool,
    #[command(flatten)]
    pub solver: SolverArg,
    /// Run only slice i of n (0 ≤ i < n ≤ number of breadth points) and write OUT/shard-i-of-n.json; combine slices with `merge`.
    #[arg(long)]
    pub shard: Option<String>,
}

impl ScalingArgs {
    /// The checked sweep and slice.
    pub fn check(&self) -> Result<(ScalingConfig, Option<Shard>)> {
        let cfg =
            scaling_config(self.run.scale(), self.run.seed)?.with_lp_solver(self.solver.parse()?);
        let shard = match &self.shard {
            None => None,
            Some(s) => {
                let shard = Shard::parse(s)?;
                if shard.count > cfg.breadth_points() {
                    return Err(Error::Parse {
                        what: "shard (--shard)",
                        input: s.clone(),
                        reason: format!(
                            "n = {} exceeds the sweep's {} breadth points: slices beyond them would be empty and merge needs every one",
                            shard.count,
                            cfg.breadth_points()
                        ),
                    });
                }
                Some(shard)
            }
        };
        Ok((cfg, shard))
    }

    /// Run the sweep (or one slice) and write its outputs.
    pub fn run(&self) -> Result<ExitCode> {
        let (cfg, shard) = self.check()?;
        let out = Printer::new(self.json);
        if let Some(shard) = shard {
            // Create the folder before the work, so a bad path fails at once.
            std::fs::create_dir_all(&self.out).map_err(|e| Error::io(&self.out, e))?;
            let bar = progress_bar(cfg.breadth_points().div_ceil(shard.count) as u64);
            let part = run_shard(&cfg, shard, &bar)?;
            bar.finish_and_clear();
            let path = std::path::Path::new(&self.out)
                .join(format!("shard-{}-of-{}.json", shard.index, shard.count));
            write_json(&path, &part)?;
            eprintln!("wrote {}", path.display());
            return Ok(ExitCode::SUCCESS);
        }
        let bar = progress_bar(cfg.breadth_points() as u64);
        let staged = crate::fsio::StagedDir::new("--out", &self.out)?;
        let r = run_scaling(&cfg, &bar)?;
        bar.finish_and_clear();
        write_scaling(staged.path(), &r)?;
        super::write_run_settings(&staged, "scaling", self)?;
        staged.commit()?;
        print_scaling(&out, &r)?;
        eprintln!(
            "wrote {}/breadth.*, severity.*, scaling_fits.json, scaling_run.json",
            self.out
        );
        Ok(ExitCode::SUCCESS)
    }
}

fn print_scaling(out: &Printer, r: &ScalingResult) -> Result<()> {
    if out.json() {
        for p in &r.breadth {
            out.record(p)?;
        }
        return out.record(&r.breadth_fit);
    }
    out.text(format!(
        "{:>6} {:>6} {:>8} {:>6} {:>6} {:>8}",
        "seed", "m", "P", "K_lb", "K*", "K_ub"
    ));
    for p in &r.breadth {
        out.text(format!(
            "{:>6} {:>6} {:>8} {:>6} {:>6} {:>8}",
            p.seed, p.redundant, p.extra_params, p.k_lower, p.k_star, p.k_upper
        ));
    }
    let f = &r.breadth_fit;
    out.text(format!(
        "breadth: K* = {:.3} + {:.5}·P, R² = {}, slope 95% CI [{:.5}, {:.5}], {}/{} points within bounds",
        f.intercept, f.slope, f.r_squared_text(4), f.slope_ci95.0, f.slope_ci95.1, r.between_bounds, r.breadth.len()
    ));
    out.text(format!(
        "severity: exponent in m {:.6} (predicted 1), in B {:.6} (predicted 2), max rel. deviation from m·B²·φ₁* {:.2e}",
        r.severity_width_fit.slope, r.severity_bound_fit.slope, r.severity_max_rel_error
    ));
    Ok(())
}

/// Arguments of `hairtrigger merge`.
#[derive(Args, Debug, Serialize)]
#[command(allow_negative_numbers = true)]
pub struct MergeArgs {
    #[command(flatten)]
    pub run: ScaleArgs,
    #[command(flatten)]
    pub solver: SolverArg,
    /// Output folder (created if missing; `--out plots` to replace the committed results).
    #[arg(long, default_value = "runs/scaling", value_parser = non_empty_path)]
    #[serde(skip)]
    pub out: String,
    /// The shard-i-of-n.json files.
    #[arg(required = true)]
    #[serde(skip)]
    pub files: Vec<String>,
}

impl MergeArgs {
    /// Read and merge the slices (checking every one against the sweep).
    pub fn check(&self) -> Result<ScalingResult> {
        let cfg =
            scaling_config(self.run.scale(), self.run.seed)?.with_lp_solver(self.solver.parse()?);
        let shards = self
            .files
            .iter()
            .map(|f| read_shard(std::path::Path::new(f)))
            .collect::<Result<Vec<_>>>()?;
        merge_shards(&cfg, shards)
    }

    /// Merge and write the outputs one run writes.
    pub fn run(&self) -> Result<ExitCode> {
        let r = self.check()?;
        write_outputs(&self.out, "merge", self, |dir| write_scaling(dir, &r))?;
        println!(
            "merged {} slices: {} breadth points; wrote {}/breadth.*, severity.*, scaling_fits.json, merge_run.json",
            self.files.len(),
            r.breadth.len(),
            self.out
        );
        Ok(ExitCode::SUCCESS)
    }
}
