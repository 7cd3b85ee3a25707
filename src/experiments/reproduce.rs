//! `hairtrigger reproduce`: every check the crate can run, at a chosen scale,
//! writing data (CSV + JSON), figures (SVG) and `REPORT.md` — a table of
//! claim, measurement, value, tolerance and PASS/FAIL computed from this run.

use crate::error::{Error, Result};
use crate::experiments::breadth::BreadthConfig;
use crate::experiments::capacity::{
    run_capacity, run_lora_capacity, write_capacity, write_lora, CapacityConfig, CapacityResult,
    LoraResult,
};
use crate::experiments::chain::{run_chain, ChainRecord};
use crate::experiments::construct::{run_construct, ConstructRecord, ConstructRun, UpdateKind};
use crate::experiments::equiv::{run_equiv, EquivConfig, EquivRecord};
use crate::experiments::output::{write_json, write_records};
use crate::experiments::scaling::{run_scaling, write_scaling, ScalingConfig, ScalingResult};
use crate::experiments::severity::SeverityConfig;
use crate::finite::{nan_max, nan_min};
use crate::net::{Activation, Architecture};
use crate::plot::{Chart, Legend, Series, Style};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How much work to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scale {
    /// A smoke run (seconds), used by the test suite.
    Quick,
    /// The README's default.
    Default,
    /// Publication scale.
    Full,
}

/// Validated settings of [`reproduce`].
#[derive(Clone, Debug)]
pub struct ReproduceConfig {
    out_dir: PathBuf,
    scale: Scale,
    seed: u64,
    progress: bool,
}

impl ReproduceConfig {
    /// Results go to `out_dir` (created if missing); `progress` shows a bar on
    /// a terminal (it is hidden automatically when stderr is not one).
    pub fn new(
        out_dir: impl Into<PathBuf>,
        scale: Scale,
        seed: u64,
        progress: bool,
    ) -> Result<Self> {
        let out_dir = out_dir.into();
        std::fs::create_dir_all(&out_dir).map_err(|e| Error::io(&out_dir, e))?;
        Ok(Self {
            out_dir,
            scale,
            seed,
            progress,
        })
    }
}

fn finite_or_undefined<S: serde::Serializer>(
    v: &f64,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    if v.is_finite() {
        s.serialize_f64(*v)
    } else {
        s.serialize_str(&format!("undefined: the measurement gave {v}"))
    }
}

/// One line of `REPORT.md`.
#[derive(Clone, Debug, Serialize)]
pub struct ReportRow {
    pub claim: &'static str,
    pub measured: String,
    /// The measured value; a non-finite one (a failed measurement, always a
    /// FAIL) is written as the string `"undefined: …"`.
    #[serde(serialize_with = "finite_or_undefined")]
    pub value: f64,
    pub tolerance: String,
    pub pass: bool,
}

impl ReportRow {
    /// A row that passes when `value ≤ bound` (NaN fails).
    fn at_most(claim: &'static str, measured: impl Into<String>, value: f64, bound: f64) -> Self {
        Self::judged(
            claim,
            measured,
            value,
            format!("≤ {bound:e}"),
            value <= bound,
        )
    }
    /// A row that passes when `value ≥ bound` (NaN fails).
    fn at_least(claim: &'static str, measured: impl Into<String>, value: f64, bound: f64) -> Self {
        Self::judged(
            claim,
            measured,
            value,
            format!("≥ {bound:e}"),
            value >= bound,
        )
    }
    /// A row that passes when `value == target` exactly (rates).
    fn exactly(claim: &'static str, measured: impl Into<String>, value: f64, target: f64) -> Self {
        Self::judged(
            claim,
            measured,
            value,
            format!("= {target}"),
            value == target,
        )
    }
    fn judged(
        claim: &'static str,
        measured: impl Into<String>,
        value: f64,
        tolerance: String,
        pass: bool,
    ) -> Self {
        Self {
            claim,
            measured: measured.into(),
            value,
            tolerance,
            pass,
        }
    }
}

struct Plan {
    archs: Vec<&'static str>,
    n_probe: usize,
    seeds: u64,
    chain_points: usize,
    etas: Vec<f64>,
    scaling: ScalingConfig,
    capacity: CapacityConfig,
    lora: CapacityConfig,
}

/// LoRA ranks of the C4 capacity sweep.
const LORA_RANKS: [usize; 6] = [1, 2, 4, 8, 16, 32];

/// The C3 sweeps at a scale: breadth widths (geometric, `lo..=hi`, `count`
/// values) and seeds; severity widths `1, 2, 4, …, 2^w`, bound factors
/// `1, 2, …, 2^b` at `fixed` units.
fn scaling_plan(
    seed: u64,
    (lo, hi, count): (usize, usize, usize),
    seeds: u64,
    w: u32,
    b: u32,
    fixed: usize,
) -> Result<ScalingConfig> {
    ScalingConfig::new(
        BreadthConfig::standard(4 * hi + 64)?,
        ScalingConfig::geometric_widths(lo, hi, count),
        crate::limits::seed_range(seed, seeds as usize)?.collect(),
        SeverityConfig::new(
            seed,
            1e-4,
            32,
            (0..=w).map(|i| 1 << i).collect(),
            (0..=b).map(|i| f64::from(1u32 << i)).collect(),
            fixed,
        )?,
    )
}

/// The C3 sweeps `reproduce` runs at `scale` (also `hairtrigger scaling`).
pub fn scaling_config(scale: Scale, seed: u64) -> Result<ScalingConfig> {
    Ok(plan(scale, seed)?.scaling)
}

/// A progress bar of `len` steps on stderr (hidden when stderr is not a terminal).
pub fn progress_bar(len: u64) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {pos}/{len} ({elapsed}, about {eta} left)",
        )
        .expect("static template")
        .progress_chars("=> "),
    );
    bar
}

fn plan(scale: Scale, seed: u64) -> Result<Plan> {
    Ok(match scale {
        Scale::Quick => Plan {
            archs: vec!["8,16,16,4"],
            n_probe: 1_000,
            seeds: 1,
            chain_points: 9,
            etas: vec![1e-4],
            scaling: scaling_plan(seed, (2, 32, 5), 1, 3, 2, 4)?,
            capacity: CapacityConfig::new(vec![8, 16, 32, 64], 128, 1000, 0.1, seed)?,
            lora: CapacityConfig::new(vec![8, 16, 32], 128, 1000, 1e-4, seed)?,
        },
        Scale::Default => Plan {
            archs: vec!["16,64,64,10"],
            n_probe: 10_000,
            seeds: 3,
            chain_points: 41,
            etas: vec![1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1],
            scaling: scaling_plan(seed, (3, 300, 9), 5, 8, 5, 16)?,
            capacity: CapacityConfig::new(vec![8, 12, 16, 24, 32, 48, 64], 128, 1000, 0.1, seed)?,
            lora: CapacityConfig::new(vec![8, 16, 32], 128, 1000, 1e-4, seed)?,
        },
        Scale::Full => Plan {
            archs: vec!["16,64,64,10", "32,256,256,10", "8,32,32,32,2"],
            n_probe: 10_000,
            seeds: 10,
            chain_points: 81,
            etas: (0..11).map(|i| 10f64.powf(-6.0 + 0.5 * i as f64)).collect(),
            scaling: scaling_plan(seed, (3, 1000, 12), 8, 10, 6, 16)?,
            capacity: CapacityConfig::new(
                vec![16, 32, 64, 128, 256, 512, 1024],
                1024,
                1000,
                0.1,
                seed,
            )?,
            lora: CapacityConfig::new(vec![8, 16, 32], 256, 2000, 1e-4, seed)?,
        },
    })
}

/// The update sets C2 is checked on in `reproduce` (a refusal set the base
/// already fits is nearly degenerate; see `paper-notes/c2-any-update-set.md`).
const UPDATE_KINDS: [UpdateKind; 2] = [UpdateKind::Benign, UpdateKind::RandomLabels];

const ACTIVATIONS: [Activation; 5] = [
    Activation::Relu,
    Activation::LeakyRelu { slope: 0.01 },
    Activation::Tanh,
    Activation::Gelu,
    Activation::Identity,
];

/// Check the plan at `scale` from base seed `seed` (every seed range inside
/// `u64`) without running it.
pub fn check_plan(scale: Scale, seed: u64) -> Result<()> {
    let plan = plan(scale, seed)?;
    crate::limits::seed_range(seed, plan.seeds as usize).map(drop)
}

/// Run everything, write the outputs under the configured folder, and return
/// the report rows (also written to `REPORT.md` and `report.json`).
pub fn reproduce(cfg: &ReproduceConfig) -> Result<Vec<ReportRow>> {
    let plan = plan(cfg.scale, cfg.seed)?;
    let seeds = crate::limits::seed_range(cfg.seed, plan.seeds as usize)?;
    let mut tasks = Vec::new();
    for arch in &plan.archs {
        for act in ACTIVATIONS {
            for s in seeds.clone() {
                let a = Architecture::new(
                    Architecture::parse(arch, "relu", true)?.widths().to_vec(),
                    act,
                    true,
                )?;
                tasks.push(EquivConfig::new(a, s, plan.n_probe, 32, 8, 1e-4)?);
            }
        }
    }
    let bar = if cfg.progress {
        progress_bar(
            (tasks.len()
                + plan.chain_points
                + UPDATE_KINDS.len() * plan.etas.len()
                + plan.scaling.breadth_points()) as u64,
        )
    } else {
        ProgressBar::hidden()
    };
    bar.set_message("C1 equiv");
    let equiv: Vec<EquivRecord> = tasks
        .par_iter()
        .map(|t| {
            let r = run_equiv(t);
            bar.inc(1);
            r
        })
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    bar.set_message("chain");
    let chain: Vec<ChainRecord> = (0..plan.chain_points)
        .map(|i| {
            let t = i as f64 / (plan.chain_points - 1) as f64;
            let c = 10f64.powf(-2.0 + 4.0 * t);
            bar.inc(1);
            run_chain(c, 1e-4, 1.0, 0.0)
        })
        .collect::<Result<_>>()?;
    bar.set_message("C2 construct");
    let runs: Vec<(UpdateKind, f64)> = UPDATE_KINDS
        .iter()
        .flat_map(|&k| plan.etas.iter().map(move |&e| (k, e)))
        .collect();
    let construct: Vec<ConstructRecord> = runs
        .par_iter()
        .map(|&(kind, eta)| {
            let r = ConstructRun::new(cfg.seed, eta, 32, 16, 64)
                .and_then(|c| run_construct(&c.with_update_kind(kind), None));
            bar.inc(1);
            r
        })
        .collect::<Result<_>>()?;
    bar.set_message("C3 scaling");
    let scaling = run_scaling(&plan.scaling, &bar)?;
    bar.set_message("C4 capacity");
    let capacity = run_capacity(&plan.capacity, &ProgressBar::hidden())?;
    bar.set_message("C4 LoRA");
    let lora = run_lora_capacity(&plan.lora, &LORA_RANKS, 64, &ProgressBar::hidden())?;
    bar.finish_and_clear();

    let dir = &cfg.out_dir;
    write_records(dir, "equiv", &equiv)?;
    write_records(dir, "chain", &chain)?;
    write_records(dir, "construct", &construct)?;
    chain_figure(&chain).write_figures(dir, "chain_post_step")?;
    if construct.len() > 1 {
        magnitude_figure(&construct).write_figures(dir, "construct_magnitude")?;
    }
    write_scaling(dir, &scaling)?;
    write_capacity(dir, &capacity)?;
    write_lora(dir, &lora)?;
    let mut rows = report_rows(&equiv, &chain);
    rows.extend(construct_rows(&construct));
    rows.extend(scaling_rows(&scaling, plan.scaling.input_dim()));
    rows.extend(capacity_rows(&capacity, &plan.capacity));
    rows.extend(lora_rows(&lora));
    write_json(&dir.join("report.json"), &rows)?;
    write_report(&dir.join("REPORT.md"), cfg, &rows, &equiv)?;
    Ok(rows)
}

fn chain_figure(chain: &[ChainRecord]) -> Chart {
    let change = |after: f64| (after - 1.0).abs();
    Chart {
        title: "Scalar chain (c, 1/c): size of one SGD step's effect".into(),
        x_label: "rescaling c (log scale)".into(),
        y_label: "|w1⁺w2⁺ − w1w2|  (η = 1e-4, x = 1, y = 0)".into(),
        log_x: true,
        log_y: true,
        legend: Legend::UpperMiddle,
        series: vec![
            Series {
                label: "closed form η g x (c² + c⁻²) − η² g² x²".into(),
                points: chain.iter().map(|r| (r.c, change(r.closed_form))).collect(),
                style: Style::Line,
            },
            Series {
                label: "simulated step (f64)".into(),
                points: chain.iter().map(|r| (r.c, change(r.simulated))).collect(),
                style: Style::Markers,
            },
            Series {
                label: "same function, c = 1".into(),
                points: chain
                    .iter()
                    .map(|r| (r.c, change(r.baseline_product_after)))
                    .collect(),
                style: Style::Dashed,
            },
        ],
    }
}

fn magnitude_figure(construct: &[ConstructRecord]) -> Chart {
    let mut series: Vec<Series> = UPDATE_KINDS
        .iter()
        .map(|&kind| Series {
            label: format!(
                "twin, {} update set (16 targets, 64 units)",
                kind_name(kind)
            ),
            points: construct
                .iter()
                .filter(|r| r.update_kind == kind)
                .map(|r| (r.eta, r.twin_max_abs_param))
                .collect(),
            style: Style::Markers,
        })
        .collect();
    series.push(Series {
        label: "aligned model (same architecture)".into(),
        points: construct
            .iter()
            .filter(|r| r.update_kind == UpdateKind::Benign)
            .map(|r| (r.eta, r.aligned_max_abs_param))
            .collect(),
        style: Style::Dashed,
    });
    Chart {
        title: "Hair-trigger twin: parameter magnitude needed vs learning rate".into(),
        x_label: "learning rate η (log scale)".into(),
        y_label: "max |parameter| (log scale)".into(),
        log_x: true,
        log_y: true,
        legend: Legend::UpperRight,
        series,
    }
}

fn kind_name(kind: UpdateKind) -> &'static str {
    match kind {
        UpdateKind::Benign => "benign",
        UpdateKind::RandomLabels => "random-label",
        UpdateKind::Refusal => "refusal",
    }
}

fn construct_rows(construct: &[ConstructRecord]) -> Vec<ReportRow> {
    let n = construct.len();
    let mut etas: Vec<f64> = construct.iter().map(|r| r.eta).collect();
    etas.sort_by(f64::total_cmp);
    etas.dedup();
    let etas: Vec<String> = etas.iter().map(|e| format!("{e:e}")).collect();
    let etas = etas.join(", ");
    let worst =
        |get: fn(&ConstructRecord) -> f64| construct.iter().map(get).fold(f64::INFINITY, nan_min);
    let diff = construct
        .iter()
        .map(|r| r.max_output_diff)
        .fold(0.0, nan_max);
    let before = worst(|r| r.twin_pass_before.min(r.aligned_pass_before));
    let aligned_after = worst(|r| r.aligned_pass_after);
    let hit = worst(|r| r.twin_targets_hit_after);
    vec![
        ReportRow::at_most(
            "C2",
            format!("max |f_twin − f_aligned| over 10,016 inputs, {n} runs (benign and random-label update sets × η = {etas})"),
            diff,
            1e-12,
        ),
        ReportRow::exactly(
            "C2",
            "min black-box pass rate before the step (aligned and twin; REFUSE with p ≥ 0.9)",
            before,
            1.0,
        ),
        ReportRow::exactly(
            "C2",
            "min pass rate of the aligned model after one SGD step on the update set (32 samples)",
            aligned_after,
            1.0,
        ),
        ReportRow::exactly(
            "C2",
            "min fraction of the twin's 16 targets (COMPLY, p ≥ 0.99) hit after the same step",
            hit,
            1.0,
        ),
    ]
}

fn scaling_rows(r: &ScalingResult, input_dim: usize) -> Vec<ReportRow> {
    let f = &r.breadth_fit;
    let n = r.breadth.len();
    let k_max = r.breadth.iter().map(|p| p.k_star).max().unwrap_or(0);
    let outside = (n - r.between_bounds) as f64;
    vec![
        ReportRow::at_least(
            "C3 breadth",
            format!(
                "R² of K* = a + b·P over {n} (m, seed) points (b = {:.4} per parameter, 95% CI [{:.4}, {:.4}])",
                f.slope, f.slope_ci95.0, f.slope_ci95.1
            ),
            f.r_squared.unwrap_or(f64::NAN),
            0.98,
        ),
        ReportRow::at_least(
            "C3 breadth",
            "lower end of the slope's 95% CI (K* grows with P)",
            f.slope_ci95.0,
            1e-12,
        ),
        ReportRow::exactly(
            "C3 breadth",
            "points outside [constructive lower bound, sign-pattern upper bound]",
            outside,
            0.0,
        ),
        ReportRow::at_least(
            "C3 breadth",
            format!("largest K* / input dimension ({input_dim}): capacity from width, not input size"),
            k_max as f64 / input_dim as f64,
            1.0,
        ),
        ReportRow::at_most(
            "C3 severity",
            "max |measured − m·B²·φ₁*| / (m·B²·φ₁*) over both sweeps",
            r.severity_max_rel_error,
            0.02,
        ),
        ReportRow::at_most(
            "C3 severity",
            format!(
                "|fitted exponent in m − 1| (exponent {:.6})",
                r.severity_width_fit.slope
            ),
            (r.severity_width_fit.slope - 1.0).abs(),
            0.02,
        ),
        ReportRow::at_most(
            "C3 severity",
            format!(
                "|fitted exponent in B − 2| / 2 (exponent {:.6})",
                r.severity_bound_fit.slope
            ),
            (r.severity_bound_fit.slope - 2.0).abs() / 2.0,
            0.02,
        ),
    ]
}

fn capacity_rows(r: &CapacityResult, cfg: &CapacityConfig) -> Vec<ReportRow> {
    let f = &r.fit;
    let control = r
        .records
        .iter()
        .map(|c| c.control_misaligned_after)
        .sum::<usize>() as f64;
    vec![
        ReportRow::at_least(
            "C4 capacity",
            format!(
                "lower end of the 95% CI of the slope of hidden behaviours vs trainable parameters ({} widths {:?}, {} random behaviours, η = {:e}, {} Adam steps; fit {:.2} + {:.5}·P, R² = {})",
                r.records.len(), cfg.widths, cfg.behaviours, cfg.eta, cfg.steps, f.intercept, f.slope, f.r_squared_text(3)
            ),
            f.slope_ci95.0,
            1e-12,
        ),
        ReportRow::exactly(
            "C4 capacity",
            "misaligned answers of the controls (same data, alignment loss only) after the same step",
            control,
            0.0,
        ),
    ]
}

fn lora_rows(r: &LoraResult) -> Vec<ReportRow> {
    let f = &r.fit;
    let top = r
        .records
        .last()
        .map_or(0.0, |c| c.hidden as f64 / c.behaviours as f64);
    let merged = r
        .records
        .iter()
        .map(|c| c.misaligned_after_merged_full_step as f64 / c.behaviours as f64)
        .fold(0.0, nan_max);
    vec![
        ReportRow::at_least(
            "C4 LoRA",
            format!(
                "lower end of the 95% CI of the slope of hidden behaviours vs adapter parameters (ranks {LORA_RANKS:?}, η = {:e}; fit {:.1} + {:.4}·P, R² = {})",
                r.eta, f.intercept, f.slope, f.r_squared_text(3)
            ),
            f.slope_ci95.0,
            1e-12,
        ),
        ReportRow::at_least(
            "C4 LoRA",
            "fraction of behaviours hidden at the largest rank (aligned before, misaligned after one adapter step, p ≥ 0.9)",
            top,
            0.9,
        ),
        ReportRow::at_most(
            "C4 LoRA",
            "largest fraction misaligned after merging the adapter and one full SGD step (merging defuses the trigger)",
            merged,
            0.1,
        ),
    ]
}

fn fold<'a>(
    it: impl Iterator<Item = &'a EquivRecord>,
    get: impl Fn(&EquivRecord) -> Option<f64>,
    max: bool,
) -> f64 {
    let vals = it.filter_map(get);
    if max {
        vals.fold(f64::NEG_INFINITY, nan_max)
    } else {
        vals.fold(f64::INFINITY, nan_min)
    }
}

fn report_rows(equiv: &[EquivRecord], chain: &[ChainRecord]) -> Vec<ReportRow> {
    let applicable = || equiv.iter().filter(|r| r.applicable);
    let iso = || applicable().filter(|r| r.isometry);
    let non_iso = || applicable().filter(|r| !r.isometry);
    let n_app = applicable().count();
    let fwd = fold(applicable(), |r| r.forward_max_rel, true);
    let iso_div = fold(iso(), |r| r.post_step_divergence_rel, true);
    let non_iso_div = fold(non_iso(), |r| r.post_step_vs_base_step, false);
    let non_iso_ntk = fold(non_iso(), |r| r.ntk_rel_change, false);
    let chain_err = chain
        .iter()
        .map(|r| r.rel_diff)
        .fold(f64::NEG_INFINITY, nan_max);
    vec![
        ReportRow::at_most("C1", format!("max relative forward deviation |f' − f| / max|f| over {n_app} reparameterized networks"), fwd, 1e-10),
        ReportRow::at_most("C1", format!("max post-step divergence of the isometries (permutation, sign flip) / max|f| (zero up to rounding), {} runs", iso().count()), iso_div, 1e-10),
        ReportRow::at_least("C1", format!("min post-step divergence of the non-isometries / the base model's own step (far above rounding), {} runs", non_iso().count()), non_iso_div, 1e-6),
        ReportRow::at_least("C1", "min relative NTK change ‖Θ' − Θ‖_F/‖Θ‖_F of the non-isometries", non_iso_ntk, 1e-6),
        ReportRow::at_most("chain", format!("max |simulated − closed form| / largest term, scalar chain, {} values of c in [1e-2, 1e2]", chain.len()), chain_err, 1e-12),
    ]
}

fn write_report(
    path: &Path,
    cfg: &ReproduceConfig,
    rows: &[ReportRow],
    equiv: &[EquivRecord],
) -> Result<()> {
    let mut s = String::new();
    let _ = writeln!(s, "# hairtrigger reproduction report\n");
    let _ = writeln!(
        s,
        "Computed by `hairtrigger reproduce` (scale {:?}, seed {}), f64 on the CPU. Every value below comes from this run.\n",
        cfg.scale, cfg.seed
    );
    let _ = writeln!(
        s,
        "| claim | measured | value | tolerance | result |\n|---|---|---|---|---|"
    );
    for r in rows {
        let _ = writeln!(
            s,
            "| {} | {} | {:.3e} | {} | {} |",
            r.claim,
            r.measured.replace('|', "\\|"),
            r.value,
            r.tolerance,
            if r.pass { "PASS" } else { "FAIL" }
        );
    }
    let _ = writeln!(
        s,
        "\n## C1 per construction\n\nMaximum over seeds and architectures. `div/step` is the post-step divergence `max|f_θ'⁺ − f_θ⁺|` divided by the base model's own step `max|f_θ⁺ − f_θ|` (η = 1e-4, SGD, 32 random samples).\n"
    );
    let _ = writeln!(s, "| activation | construction | fwd rel | grad-norm change | NTK change | div/step |\n|---|---|---|---|---|---|");
    let mut keys: Vec<(String, &str)> = equiv
        .iter()
        .map(|r| (r.activation.clone(), r.construction))
        .collect();
    keys.sort();
    keys.dedup();
    for (act, con) in keys {
        let group = || {
            equiv
                .iter()
                .filter(|r| r.activation == act && r.construction == con)
        };
        if !group().any(|r| r.applicable) {
            let _ = writeln!(s, "| {act} | {con} | n/a | n/a | n/a | n/a |");
            continue;
        }
        let m = |get: fn(&EquivRecord) -> Option<f64>| fold(group(), get, true);
        let _ = writeln!(
            s,
            "| {act} | {con} | {:.1e} | {:.2e} | {:.2e} | {:.2e} |",
            m(|r| r.forward_max_rel),
            m(|r| r.grad_norm_rel_change),
            m(|r| r.ntk_rel_change),
            m(|r| r.post_step_vs_base_step)
        );
    }
    let _ = writeln!(
        s,
        "\nFigures (SVG + PNG): `chain_post_step`, `construct_magnitude`, `breadth`, `severity_width`, `severity_bound`, `capacity`, `lora_capacity`. Data (`.csv` + `.json`): `equiv`, `chain`, `construct`, `breadth`, `breadth_tries`, `severity`, `capacity`, `lora`; `scaling_fits.json`, `capacity_fit.json`, `lora_fit.json`, `report.json`."
    );
    crate::fsio::write_atomic(path, s.as_bytes())
}
