//! The `hairtrigger` command line: one module per subcommand, each with its
//! clap arguments, a `check` that validates every argument (sizes against the
//! memory budget included) before anything is computed, and a `run`.
//!
//! Conventions every subcommand follows:
//! * refused input exits with status 2 and a message naming the option and
//!   the value given; nothing panics;
//! * `--json` puts only JSON objects on standard output, one per line; human
//!   text (tables, "wrote …") then goes to standard error;
//! * only `reproduce` writes `plots/` by default; every other command writes
//!   under `runs/<command>/` (ignored by git) unless `--out` says otherwise;
//! * a run's files appear in the output folder together, with a
//!   `<command>_run.json` recording the command, its settings and the crate
//!   version, or not at all ([`crate::fsio::StagedDir`]).

pub mod audit;
pub mod capacity;
pub mod chain;
pub mod construct;
pub mod equiv;
pub mod meta;
pub mod meta_device;
pub mod passes;
pub mod reproduce;
pub mod scaling;
pub mod zoo;

use crate::error::{Error, Result};
use crate::experiments::output::{json_line, write_json};
use crate::fsio::StagedDir;
use crate::limits::MemoryBudget;
use clap::{Parser, Subcommand};
use serde::Serialize;
use std::process::ExitCode;

/// The parsed command line.
#[derive(Parser, Debug)]
#[command(
    name = "hairtrigger",
    version,
    about = "Same function, different gradient step: forward-equivalent reparameterizations and hair-trigger models"
)]
pub struct Cli {
    /// Memory budget for size checks, e.g. 512M or 8G (default: $HAIRTRIGGER_MAX_MEMORY, else the available memory).
    #[arg(long, global = true, value_name = "SIZE")]
    pub max_memory: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Apply every forward-equivalent reparameterization to a random network and measure what changes.
    Equiv(equiv::EquivArgs),
    /// One SGD step on the scalar chain f(x) = w2 w1 x at (c, 1/c): simulated vs closed form.
    Chain(chain::ChainArgs),
    /// Train an aligned toy classifier, build its hair-trigger twin, and show both before/after one benign SGD step.
    Construct(construct::ConstructArgs),
    /// C3: breadth (targets hidden vs redundant width) and severity (margin change vs width and bound), with fits and figures.
    Scaling(scaling::ScalingArgs),
    /// Combine `scaling --shard i/n` slices into the CSV/JSON/figures one run writes (bit-identical).
    Merge(scaling::MergeArgs),
    /// C4: meta-learn hair-trigger models on the toy honesty/safety/privacy tasks, with controls and fragility checks.
    Meta(meta::MetaArgs),
    /// C4 capacity: hidden behaviours against model size, for whole networks (--widths) or LoRA adapters (--lora-ranks).
    Capacity(capacity::CapacityArgs),
    /// Time the gradient of a [n, w, n, 10] network at each width on the chosen device; beside a GPU, also the f64 CPU (speedup, agreement).
    Passes(passes::PassesArgs),
    /// The meta-learning loop (toy, 32 → W → 10) on the chosen device beside the f64 CPU: ms per meta-step, agreement, outcome.
    MetaDevice(meta_device::MetaDeviceArgs),
    /// Run every check and write data, figures and REPORT.md under plots/.
    Reproduce(reproduce::ReproduceArgs),
    /// White-box audit of a saved model: symmetry scores, canonical form, and (with --data) the one-step future.
    Audit(audit::AuditArgs),
    /// Write the canonical form of a saved model's symmetry orbit (same function, balanced, no dormant or duplicated units).
    Canonicalize(audit::CanonicalizeArgs),
    /// C5: the audit measured on a zoo of trained, moved, constructed, meta-learned and adaptive models (ROC, defusal, natural occurrence).
    Zoo(zoo::ZooArgs),
}

impl Cli {
    /// The memory budget of this invocation.
    pub fn budget(&self) -> Result<MemoryBudget> {
        MemoryBudget::resolve(self.max_memory.as_deref())
    }

    /// Validate every argument without running anything.
    pub fn check(&self) -> Result<()> {
        let budget = self.budget()?;
        match &self.command {
            Command::Equiv(a) => a.check(&budget).map(drop),
            Command::Chain(a) => a.check().map(drop),
            Command::Construct(a) => a.check(&budget).map(drop),
            Command::Scaling(a) => a.check().map(drop),
            Command::Merge(a) => a.check().map(drop),
            Command::Meta(a) => a.check(&budget).map(drop),
            Command::Capacity(a) => a.check(&budget).map(drop),
            Command::Passes(a) => a.check(&budget).map(drop),
            Command::MetaDevice(a) => a.check().map(drop),
            Command::Reproduce(a) => a.check().map(drop),
            Command::Audit(_) | Command::Canonicalize(_) => Ok(()),
            Command::Zoo(a) => a.check().map(drop),
        }
    }

    /// Run the subcommand.
    pub fn run(self) -> Result<ExitCode> {
        let budget = self.budget()?;
        match &self.command {
            Command::Equiv(a) => a.run(&budget),
            Command::Chain(a) => a.run(),
            Command::Construct(a) => a.run(&budget),
            Command::Scaling(a) => a.run(),
            Command::Merge(a) => a.run(),
            Command::Meta(a) => a.run(&budget),
            Command::Capacity(a) => a.run(&budget),
            Command::Passes(a) => a.run(&budget),
            Command::MetaDevice(a) => a.run(),
            Command::Reproduce(a) => a.run(),
            Command::Audit(a) => a.run(),
            Command::Canonicalize(a) => a.run(),
            Command::Zoo(a) => a.run(),
        }
    }
}

/// Parse the process's arguments and run; errors print `error: …` and exit 2.
pub fn main() -> ExitCode {
    match Cli::parse().run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// A progress bar on standard error for `len` units of work (hidden when
/// standard error is not a terminal), with the expected time left.
pub fn progress_bar(len: u64) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{msg:>12} [{bar:40}] {pos}/{len} ({elapsed}, about {eta} left)",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

impl crate::progress::Progress for indicatif::ProgressBar {
    fn inc(&self, n: u64) {
        indicatif::ProgressBar::inc(self, n);
    }
    fn set_message(&self, what: &'static str) {
        indicatif::ProgressBar::set_message(self, what);
    }
}

/// Where human text and records go: with `--json`, standard output carries
/// only JSON lines and text goes to standard error.
#[derive(Clone, Copy, Debug)]
pub struct Printer {
    json: bool,
}

impl Printer {
    /// A printer for `--json` (`json = true`) or text output.
    pub fn new(json: bool) -> Self {
        Self { json }
    }

    /// Whether records are printed as JSON lines.
    pub fn json(&self) -> bool {
        self.json
    }

    /// A line of human text.
    pub fn text(&self, line: impl std::fmt::Display) {
        if self.json {
            eprintln!("{line}");
        } else {
            println!("{line}");
        }
    }

    /// One record as a JSON line (only with `--json`).
    pub fn record<T: Serialize>(&self, r: &T) -> Result<()> {
        if self.json {
            println!("{}", json_line(r)?);
        }
        Ok(())
    }
}

/// Name `--eta` when training left f64 (a diverging inner step), instead of
/// the derived quantity that overflowed first.
pub fn name_eta_on_overflow(eta: f64) -> impl Fn(Error) -> Error {
    move |e| {
        match e {
        Error::NonFinite(what) => Error::OutOfRange {
            setting: format!("--eta {eta:e}"),
            reason: format!(
                "meta-training left f64 ({what}); an inner learning rate this large (or this small) makes the step diverge"
            ),
        },
        e => e,
    }
    }
}

/// A value parser for output paths: refuses the empty string (which would
/// silently mean the current folder).
pub fn non_empty_path(s: &str) -> std::result::Result<String, String> {
    if s.is_empty() {
        Err("the path is empty; give a file or folder name".into())
    } else {
        Ok(s.to_string())
    }
}

/// The settings file every output folder gets, `<command>_run.json` (one per
/// command, so `reproduce` and `meta --out plots` keep their own): the command, the crate
/// version and the command's checked settings (the output path left out, so
/// the same run into two folders writes the same bytes).
pub fn write_run_settings<T: Serialize>(
    staged: &StagedDir,
    command: &str,
    settings: &T,
) -> Result<()> {
    crate::finite::ensure_finite("run settings", settings)?;
    write_json(
        &staged.path().join(format!("{command}_run.json")),
        &serde_json::json!({
            "command": command,
            "hairtrigger_version": env!("CARGO_PKG_VERSION"),
            "settings": settings,
        }),
    )
}

/// Create the output folder `out` before a long run, so that a bad path fails
/// at once rather than after the work.
pub fn prepare_out(out: &str) -> Result<()> {
    crate::fsio::check_path("--out", std::path::Path::new(out))?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))
}

/// Stage `out`, let `write` fill it, record the settings and commit; returns
/// the names of the files written.
pub fn write_outputs<T: Serialize>(
    out: &str,
    command: &str,
    settings: &T,
    write: impl FnOnce(&std::path::Path) -> Result<()>,
) -> Result<Vec<String>> {
    let staged = StagedDir::new("--out", out)?;
    write(staged.path())?;
    write_run_settings(&staged, command, settings)?;
    staged.commit()
}

/// `--clip`: a gradient norm, or `none` (`+∞`, no clipping).
pub fn parse_clip(clip: &str) -> Result<f64> {
    match clip {
        "none" => Ok(f64::INFINITY),
        c => c.parse::<f64>().map_err(|e| Error::Parse {
            what: "--clip",
            input: c.into(),
            reason: format!("{e}; expected a norm > 0 or none"),
        }),
    }
}

/// A comma-separated list of sizes (widths, ranks).
pub fn parse_sizes(what: &'static str, list: &str) -> Result<Vec<usize>> {
    list.split(',')
        .map(|w| {
            w.trim().parse::<usize>().map_err(|e| Error::Parse {
                what,
                input: list.to_string(),
                reason: e.to_string(),
            })
        })
        .collect()
}

/// `1.234e-5`, or `n/a` for a measurement that does not apply.
pub fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3e}"))
}

/// One line: the fitted line, R² and the slope's 95% CI.
pub fn fit_line_text(what: &str, f: &crate::stats::LineFit) -> String {
    format!(
        "fit: {what} = {:.2} + {:.5}·params, R² = {}, slope 95% CI [{:.5}, {:.5}]",
        f.intercept,
        f.slope,
        f.r_squared_text(4),
        f.slope_ci95.0,
        f.slope_ci95.1
    )
}
