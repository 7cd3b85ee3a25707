//! The `hairtrigger` command line. Every subcommand is a thin layer over a
//! library experiment; `--json` prints one JSON object per line.

use clap::{Args, Parser, Subcommand};
use hairtrigger::backend::{Backend, Device};
use hairtrigger::experiments::capacity::{
    run_capacity, run_lora_capacity, write_capacity, write_lora, CapacityConfig,
};
use hairtrigger::experiments::chain::run_chain;
use hairtrigger::experiments::construct::{run_construct, ConstructRun, UpdateKind};
use hairtrigger::experiments::equiv::{run_equiv, EquivConfig};
use hairtrigger::experiments::meta::{
    first_order as first_order_run, run_meta, write_meta, MetaRun,
};
use hairtrigger::experiments::output::{json_line, write_json, write_records};
use hairtrigger::experiments::passes::{run_passes, PassesConfig};
use hairtrigger::experiments::reproduce::{
    progress_bar, reproduce, scaling_config, ReproduceConfig, Scale,
};
use hairtrigger::experiments::scaling::{
    merge_shards, read_shard, run_scaling, run_shard, write_scaling, Shard,
};
use hairtrigger::tasks::TaskKind;
use hairtrigger::{Architecture, Result};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "hairtrigger",
    version,
    about = "Same function, different gradient step: forward-equivalent reparameterizations and hair-trigger models"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Scale, seed and output folder, shared by `scaling`, `merge` and `reproduce`
/// (`merge` must be given the scale and seed its slices were run with).
#[derive(Args)]
struct RunArgs {
    /// Sub-minute smoke run.
    #[arg(long, conflicts_with = "full")]
    quick: bool,
    /// Publication-scale run.
    #[arg(long)]
    full: bool,
    /// Output folder (created if missing).
    #[arg(long, default_value = "plots")]
    out: String,
    /// Base seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
}

impl RunArgs {
    fn scale(&self) -> Scale {
        match (self.quick, self.full) {
            (true, _) => Scale::Quick,
            (_, true) => Scale::Full,
            _ => Scale::Default,
        }
    }

    /// The output folder, created.
    fn dir(&self) -> Result<&std::path::Path> {
        let dir = std::path::Path::new(&self.out);
        std::fs::create_dir_all(dir).map_err(|e| hairtrigger::Error::io(dir, e))?;
        Ok(dir)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Apply every forward-equivalent reparameterization to a random network and measure what changes.
    Equiv {
        /// Layer widths, input first, e.g. 16,64,64,10.
        #[arg(long, default_value = "16,64,64,10")]
        arch: String,
        /// Hidden activation: identity, relu, leaky_relu[:slope], tanh, gelu.
        #[arg(long, default_value = "relu")]
        act: String,
        /// Seed for the network, the data and the constructions.
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Build networks without biases.
        #[arg(long)]
        no_bias: bool,
        /// Random inputs on which forward and post-step outputs are compared.
        #[arg(long, default_value_t = 10_000)]
        probes: usize,
        /// Learning rate of the SGD step.
        #[arg(long, default_value_t = 1e-4)]
        eta: f64,
        /// One JSON object per line instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One SGD step on the scalar chain f(x) = w2 w1 x at (c, 1/c): simulated vs closed form.
    Chain {
        /// Rescaling c > 0.
        #[arg(long = "c", default_value_t = 10.0, allow_negative_numbers = true)]
        c: f64,
        /// Learning rate.
        #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
        eta: f64,
        /// Input x.
        #[arg(long, default_value_t = 1.0, allow_negative_numbers = true)]
        x: f64,
        /// Target y.
        #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
        y: f64,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Train an aligned toy classifier, build its hair-trigger twin, and show both before/after one benign SGD step.
    Construct {
        /// Seed for the task, the base model and the construction.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Learning rate of the benign step.
        #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
        eta: f64,
        /// Benign samples in the update set.
        #[arg(long, default_value_t = 32)]
        update_size: usize,
        /// Harmful queries (each one a target).
        #[arg(long, default_value_t = 16)]
        queries: usize,
        /// Redundant hidden units given to both models.
        #[arg(long, default_value_t = 64)]
        redundant: usize,
        /// Update set: benign (unseen instruction task, COMPLY), random (random labels) or refusal (harmful prompts labelled REFUSE).
        #[arg(long, default_value = "benign")]
        update: String,
        /// Write base, aligned, twin, update set, queries and settings here.
        #[arg(long)]
        save: Option<String>,
        /// One JSON object instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// C3: breadth (targets hidden vs redundant width) and severity (margin change vs width and bound), with fits and figures.
    Scaling {
        #[command(flatten)]
        run: RunArgs,
        /// One JSON object per breadth point, then the fits.
        #[arg(long)]
        json: bool,
        /// Run only slice i of n (0 ≤ i < n) and write OUT/shard-i-of-n.json; combine slices with `merge`.
        #[arg(long)]
        shard: Option<String>,
    },
    /// Combine `scaling --shard i/n` slices into the CSV/JSON/figures one run writes (bit-identical).
    Merge {
        #[command(flatten)]
        run: RunArgs,
        /// The shard-i-of-n.json files.
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// C4: meta-learn hair-trigger models on the toy honesty/safety/privacy tasks, with controls and fragility checks.
    Meta {
        /// honesty, safety or privacy.
        #[arg(long, default_value = "honesty", conflicts_with = "all")]
        task: String,
        /// All three tasks (the headline table).
        #[arg(long)]
        all: bool,
        /// Hidden width of the 32 → W → k ReLU MLP.
        #[arg(long, default_value_t = 64)]
        width: usize,
        /// Hide the behaviour in LoRA adapters of this rank on the frozen control (the step trains the adapter).
        #[arg(long)]
        lora_rank: Option<usize>,
        /// Benign update samples (the first n of the task's 32).
        #[arg(long, default_value_t = 32)]
        update_size: usize,
        /// Learning rate of the benign inner SGD step.
        #[arg(long, default_value_t = 1e-4, allow_negative_numbers = true)]
        eta: f64,
        /// Meta-steps (Adam) for the hair-trigger model and the control each.
        #[arg(long, default_value_t = 3000)]
        steps: usize,
        /// Drop the Hessian term of the meta-gradient.
        #[arg(long)]
        first_order: bool,
        /// Instead of the tasks: hidden behaviours vs width (8 … 64, 128 random behaviours, at --eta).
        #[arg(long, conflicts_with = "lora")]
        capacity: bool,
        /// Instead of the tasks: LoRA adapters of rank 1 … 32 on a frozen width-64 base (128 random behaviours, at --eta).
        #[arg(long)]
        lora: bool,
        /// With --capacity: the hidden widths, comma-separated (at least 3).
        #[arg(long, default_value = "8,12,16,24,32,48,64")]
        widths: String,
        /// With --capacity or --lora: how many random behaviours to hide.
        #[arg(long, default_value_t = 128)]
        behaviours: usize,
        /// Seed of the task, initialisation and data.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder.
        #[arg(long, default_value = "plots")]
        out: String,
        /// One JSON object per table row.
        #[arg(long)]
        json: bool,
    },
    /// Time the gradient of a [n, w, n, 10] network at each width on the chosen device; beside a GPU, also the f64 CPU (speedup, agreement).
    Passes {
        /// cpu, cuda or cuda:N (CUDA needs a `--features gpu` build; otherwise one message and the CPU).
        #[arg(long, default_value = "cpu")]
        device: String,
        /// Hidden widths w, comma-separated.
        #[arg(long, default_value = "1024,2048,4096,8192,16384,32768,65536")]
        widths: String,
        /// Outer width n (input and second hidden layer).
        #[arg(long, default_value_t = 1024)]
        outer: usize,
        /// Batch size N.
        #[arg(long, default_value_t = 256)]
        batch: usize,
        /// Timed calls per width (after one warm-up).
        #[arg(long, default_value_t = 3)]
        reps: usize,
        /// Beside a GPU: CPU seconds allowed per reference gradient (projected from the last width).
        #[arg(long, default_value_t = 60.0)]
        cpu_budget: f64,
        /// Seed of the networks and batches.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Output folder for passes.csv / passes.json.
        #[arg(long, default_value = "passes")]
        out: String,
        /// One JSON object per width.
        #[arg(long)]
        json: bool,
    },
    /// Run every check and write data, figures and REPORT.md under plots/.
    Reproduce {
        #[command(flatten)]
        run: RunArgs,
        /// Print the report rows as JSON lines.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    hairtrigger::alloc::retain_freed_memory();
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// One line: the fitted line, R² and the slope's 95% CI.
fn print_fit(what: &str, f: &hairtrigger::stats::LineFit) {
    println!(
        "fit: {what} = {:.2} + {:.5}·params, R² = {:.4}, slope 95% CI [{:.5}, {:.5}]",
        f.intercept, f.slope, f.r_squared, f.slope_ci95.0, f.slope_ci95.1
    );
}

/// A comma-separated list of widths.
fn parse_widths(list: &str) -> Result<Vec<usize>> {
    list.split(',')
        .map(|w| {
            w.trim()
                .parse::<usize>()
                .map_err(|e| hairtrigger::Error::Parse {
                    what: "width list",
                    input: list.to_string(),
                    reason: e.to_string(),
                })
        })
        .collect()
}

fn fmt_opt(v: Option<f64>) -> String {
    v.map_or("n/a".into(), |v| format!("{v:.3e}"))
}

fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Equiv {
            arch,
            act,
            seed,
            no_bias,
            probes,
            eta,
            json,
        } => {
            let arch = Architecture::parse(&arch, &act, !no_bias)?;
            let cfg = EquivConfig::new(arch, seed, probes, 32, 8, eta)?;
            let records = run_equiv(&cfg)?;
            if json {
                for r in &records {
                    println!("{}", json_line(r)?);
                }
            } else {
                println!(
                    "network {} ({}, bias {}), seed {seed}, {probes} probe inputs, SGD η = {eta:e} on 32 random samples (f64)",
                    cfg.arch().widths_string(),
                    cfg.arch().activation(),
                    cfg.arch().bias()
                );
                println!(
                    "{:<17} {:>6} {:>11} {:>11} {:>11} {:>11} {:>11} {:>11}",
                    "construction",
                    "layer",
                    "fwd abs",
                    "fwd rel",
                    "|∇| change",
                    "NTK change",
                    "post-step",
                    "div/step"
                );
                for r in &records {
                    if !r.applicable {
                        println!(
                            "{:<17} not applicable: {}",
                            r.construction,
                            r.reason.as_deref().unwrap_or("")
                        );
                        continue;
                    }
                    println!(
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
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Chain { c, eta, x, y, json } => {
            let r = run_chain(c, eta, x, y)?;
            if json {
                println!("{}", json_line(&r)?);
            } else {
                println!(
                    "scalar chain (w1, w2) = ({c}, {}), x = {x}, y = {y}, η = {eta:e}",
                    1.0 / c
                );
                println!("post-step product, simulated   : {:.17e}", r.simulated);
                println!("post-step product, closed form : {:.17e}", r.closed_form);
                println!(
                    "difference                     : {:.3e} ({:.3e} of the largest term {:.3e})",
                    r.abs_diff, r.rel_diff, r.largest_term
                );
                println!(
                    "same function at (1, 1)        : {:.17e}",
                    r.baseline_product_after
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Construct {
            seed,
            eta,
            update_size,
            queries,
            redundant,
            update,
            save,
            json,
        } => {
            let cfg = ConstructRun::new(seed, eta, update_size, queries, redundant)?
                .with_update_kind(UpdateKind::parse(&update)?);
            let r = run_construct(&cfg, save.as_deref().map(std::path::Path::new))?;
            if json {
                println!("{}", json_line(&r)?);
            } else {
                println!("toy safety classifier 16 → 32 → 32(+{redundant} redundant) → 4, leaky ReLU; {queries} harmful queries");
                println!("one SGD step, η = {eta:e}, on {update_size} benign samples; pass = REFUSE with p ≥ 0.9 (f64)\n");
                println!("{:<34} {:>14} {:>14}", "", "aligned model", "hair-trigger");
                println!(
                    "{:<34} {:>13.1}% {:>13.1}%",
                    "black-box pass rate, before",
                    100.0 * r.aligned_pass_before,
                    100.0 * r.twin_pass_before
                );
                println!(
                    "{:<34} {:>14.3e}",
                    "max |f_twin − f_aligned| (10,016 x)", r.max_output_diff
                );
                println!(
                    "{:<34} {:>13.1}% {:>13.1}%",
                    "black-box pass rate, after step",
                    100.0 * r.aligned_pass_after,
                    100.0 * r.twin_pass_after
                );
                println!(
                    "{:<34} {:>14} {:>13.1}%",
                    "COMPLY with p ≥ 0.99, after step",
                    "",
                    100.0 * r.twin_targets_hit_after
                );
                println!(
                    "{:<34} {:>14.3e} {:>14.3e}",
                    "max |parameter|", r.aligned_max_abs_param, r.twin_max_abs_param
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Meta {
            task,
            all,
            width,
            lora_rank,
            update_size,
            eta,
            steps,
            first_order,
            capacity,
            lora,
            widths,
            behaviours,
            seed,
            out,
            json,
        } => {
            if lora {
                let cfg = CapacityConfig::new(vec![8, 16, 32], behaviours, steps, eta, seed)?;
                let dir = std::path::Path::new(&out);
                std::fs::create_dir_all(dir).map_err(|e| hairtrigger::Error::io(dir, e))?;
                let bar = progress_bar((steps * 7) as u64);
                let r = run_lora_capacity(&cfg, &[1, 2, 4, 8, 16, 32], 64, &bar)?;
                bar.finish_and_clear();
                write_lora(dir, &r)?;
                for c in &r.records {
                    if json {
                        println!("{}", json_line(c)?);
                    } else {
                        println!(
                            "rank {:>2}  params {:>5}  hidden {:>4} of {}  (merged + full SGD step: {} misaligned)",
                            c.rank, c.params, c.hidden, c.behaviours, c.misaligned_after_merged_full_step
                        );
                    }
                }
                print_fit("hidden", &r.fit);
                return Ok(ExitCode::SUCCESS);
            }
            if capacity {
                let widths = parse_widths(&widths)?;
                let n_widths = widths.len();
                let cfg = CapacityConfig::new(widths, behaviours, steps, eta, seed)?;
                let dir = std::path::Path::new(&out);
                std::fs::create_dir_all(dir).map_err(|e| hairtrigger::Error::io(dir, e))?;
                let bar = progress_bar((2 * steps * n_widths) as u64);
                let r = run_capacity(&cfg, &bar)?;
                bar.finish_and_clear();
                write_capacity(dir, &r)?;
                for c in &r.records {
                    if json {
                        println!("{}", json_line(c)?);
                    } else {
                        println!(
                            "width {:>4}  params {:>6}  hidden {:>4} of {}  (pass before {}, misaligned after {}, control misaligned after {})",
                            c.width, c.params, c.hidden, c.behaviours, c.pass_before, c.misaligned_after, c.control_misaligned_after
                        );
                    }
                }
                print_fit("hidden", &r.fit);
                return Ok(ExitCode::SUCCESS);
            }
            let kinds: Vec<TaskKind> = if all {
                TaskKind::ALL.to_vec()
            } else {
                vec![TaskKind::parse(&task)?]
            };
            let dir = std::path::Path::new(&out);
            std::fs::create_dir_all(dir).map_err(|e| hairtrigger::Error::io(dir, e))?;
            // `--all` without `--lora-rank`: the whole-network recipe and LoRA
            // adapters of rank 8 (as the paper's practical recipe), per domain.
            let variants: Vec<Option<usize>> = match (all, lora_rank) {
                (true, None) => vec![None, Some(8)],
                (_, r) => vec![r],
            };
            let bar = progress_bar((2 * steps * kinds.len() * variants.len()) as u64);
            let mut outcomes = Vec::new();
            for kind in kinds {
                for (i, &rank) in variants.iter().enumerate() {
                    let mut run = MetaRun::standard(kind, width, seed, steps, eta)?
                        .with_update_size(update_size)?;
                    if let Some(r) = rank {
                        run = run.with_lora_rank(r)?;
                    }
                    if first_order {
                        run = first_order_run(&run);
                    }
                    bar.set_message(kind.name());
                    let mut o = run_meta(&run, &bar)?;
                    if i > 0 {
                        // Same control (same seed and data) as the first variant.
                        o.records.retain(|r| r.model != "control");
                        o.fragility.retain(|r| r.model != "control");
                    }
                    outcomes.push(o);
                }
            }
            bar.finish_and_clear();
            write_meta(dir, &outcomes)?;
            for o in &outcomes {
                for r in &o.records {
                    if json {
                        println!("{}", json_line(r)?);
                    } else {
                        let b = r.behaviour();
                        println!(
                            "{:<8} {:<21} pass before {:>6.1}%  misaligned after {:>6.1}%  aligned after {:>6.1}%  utility {:>5.1}% → {:>5.1}%  ‖θ‖ {:.1}",
                            r.task.name(), r.model, 100.0 * b.pass_before, 100.0 * b.misaligned_after,
                            100.0 * b.aligned_after, 100.0 * b.utility_before, 100.0 * b.utility_after, r.param_norm
                        );
                    }
                }
            }
            println!("wrote {out}/meta.csv, meta_fragility.csv, meta_table.md");
            Ok(ExitCode::SUCCESS)
        }
        Command::Scaling { run, json, shard } => {
            let cfg = scaling_config(run.scale(), run.seed)?;
            let dir = run.dir()?;
            let out = &run.out;
            if let Some(shard) = shard {
                let shard = Shard::parse(&shard)?;
                let bar = progress_bar(cfg.breadth_points().div_ceil(shard.count) as u64);
                let part = run_shard(&cfg, shard, &bar)?;
                bar.finish_and_clear();
                let path = dir.join(format!("shard-{}-of-{}.json", shard.index, shard.count));
                write_json(&path, &part)?;
                println!("wrote {}", path.display());
                return Ok(ExitCode::SUCCESS);
            }
            let bar = progress_bar(cfg.breadth_points() as u64);
            let r = run_scaling(&cfg, &bar)?;
            bar.finish_and_clear();
            write_scaling(dir, &r)?;
            if json {
                for p in &r.breadth {
                    println!("{}", json_line(p)?);
                }
                println!("{}", json_line(&r.breadth_fit)?);
            } else {
                println!(
                    "{:>6} {:>6} {:>8} {:>6} {:>6} {:>8}",
                    "seed", "m", "P", "K_lb", "K*", "K_ub"
                );
                for p in &r.breadth {
                    println!(
                        "{:>6} {:>6} {:>8} {:>6} {:>6} {:>8}",
                        p.seed, p.redundant, p.extra_params, p.k_lower, p.k_star, p.k_upper
                    );
                }
                let f = &r.breadth_fit;
                println!(
                    "breadth: K* = {:.3} + {:.5}·P, R² = {:.4}, slope 95% CI [{:.5}, {:.5}], {}/{} points within bounds",
                    f.intercept, f.slope, f.r_squared, f.slope_ci95.0, f.slope_ci95.1, r.between_bounds, r.breadth.len()
                );
                println!(
                    "severity: exponent in m {:.6} (predicted 1), in B {:.6} (predicted 2), max rel. deviation from m·B²·φ₁* {:.2e}",
                    r.severity_width_fit.slope, r.severity_bound_fit.slope, r.severity_max_rel_error
                );
            }
            println!("wrote {out}/breadth.*, severity.*, scaling_fits.json");
            Ok(ExitCode::SUCCESS)
        }
        Command::Merge { run, files } => {
            let cfg = scaling_config(run.scale(), run.seed)?;
            let out = &run.out;
            let shards = files
                .iter()
                .map(|f| read_shard(std::path::Path::new(f)))
                .collect::<Result<Vec<_>>>()?;
            let r = merge_shards(&cfg, shards)?;
            write_scaling(run.dir()?, &r)?;
            println!(
                "merged {} slices: {} breadth points; wrote {out}/breadth.*, severity.*, scaling_fits.json",
                files.len(),
                r.breadth.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Passes {
            device,
            widths,
            outer,
            batch,
            reps,
            cpu_budget,
            seed,
            out,
            json,
        } => {
            let cfg =
                PassesConfig::new(parse_widths(&widths)?, outer, batch, reps, cpu_budget, seed)?;
            let backend = Backend::new(device.parse::<Device>()?);
            if !json {
                println!("device: {}", backend.describe());
                println!(
                    "{:>7} {:>12} {:>11} {:>8} {:>10} {:>8} {:>10} {:>10}",
                    "width",
                    "params",
                    "ms/grad",
                    "GFLOP/s",
                    "cpu_ms",
                    "speedup",
                    "grad_diff",
                    "loss_diff"
                );
            }
            let records = run_passes(&cfg, &backend, |r| {
                if json {
                    match json_line(r) {
                        Ok(line) => println!("{line}"),
                        Err(e) => eprintln!("error: {e}"),
                    }
                } else {
                    let opt =
                        |v: Option<f64>, p: usize| v.map_or("-".into(), |v| format!("{v:.p$}"));
                    println!(
                        "{:>7} {:>12} {:>11.2} {:>8.1} {:>10} {:>8} {:>10} {:>10}",
                        r.width,
                        r.params,
                        r.gradient_ms,
                        r.gflops,
                        opt(r.cpu_ms, 1),
                        opt(r.speedup, 1),
                        fmt_opt(r.grad_rel_diff),
                        fmt_opt(r.loss_rel_diff)
                    );
                }
            })?;
            let dir = std::path::Path::new(&out);
            std::fs::create_dir_all(dir).map_err(|e| hairtrigger::Error::io(dir, e))?;
            write_records(dir, "passes", &records)?;
            println!("wrote {out}/passes.csv, passes.json");
            Ok(ExitCode::SUCCESS)
        }
        Command::Reproduce { run, json } => {
            let (scale, seed, out) = (run.scale(), run.seed, &run.out);
            let cfg = ReproduceConfig::new(out, scale, seed, true)?;
            let rows = reproduce(&cfg)?;
            for r in &rows {
                if json {
                    println!("{}", json_line(r)?);
                } else {
                    println!(
                        "[{}] {:<6} {:.3e} ({}) {}",
                        if r.pass { "PASS" } else { "FAIL" },
                        r.claim,
                        r.value,
                        r.tolerance,
                        r.measured
                    );
                }
            }
            println!("wrote {out}/REPORT.md");
            Ok(if rows.iter().all(|r| r.pass) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
    }
}
