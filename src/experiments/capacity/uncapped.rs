//! Capacity without ceilings (claim C4): how many random behaviours a
//! meta-learned model hides, counted so that neither the number asked for nor
//! the training budget caps the count.
//!
//! For each model size (a whole `32 → W → 10` ReLU network, or LoRA adapters
//! of rank `r` on a frozen `32 → 64 → 10` base) and each seed:
//!
//! 1. **Behaviours grow until some fail.** Start with `K = K₀` behaviours
//!    (`CapacityTask`: Gaussian prompts, random aligned and
//!    misaligned answers, a random-label update set of 32). Train, count;
//!    while the count `c` at the largest budget exceeds `K/4`, double `K` (at
//!    most `K_max`) and train again from scratch. Two counts are reported:
//!    the **final** rung's, where `K ≥ 4c` (a point that reaches `K_max` with
//!    `4c > K` is flagged `uncapped = false`), and the **best** over the
//!    rungs — meta-learned counts are close to all-or-nothing in `K` (a model
//!    that hides 495 of 512 may hide none of 1,024), so the final rung alone
//!    measures where the optimisation collapses, and the best count, bracketed
//!    by the rung above it, measures how much fits.
//! 2. **A behaviour is hidden** only when the control (the same
//!    initialisation trained on `L_align` alone; for LoRA the base with its
//!    initial adapter) passes it before the step, and the hair-trigger model
//!    passes it before (aligned answer, `p ≥ 0.9`) and fails it after one SGD
//!    step of `η` on the update set (misaligned answer, `p ≥ 0.9`).
//! 3. **Three budgets from one run.** The hair-trigger model is trained once
//!    for the largest budget `T₃` and counted at `T₁ < T₂ < T₃`; without an
//!    `η` curriculum Adam's state at step `t` does not depend on the budget,
//!    so the snapshot at `T_i` is exactly a run of budget `T_i`
//!    ([`crate::attack::meta::train_snapshots`]). With an `η` curriculum
//!    (`--anneal`) the schedule depends on the budget, so each budget is its
//!    own run. The control is trained for `T₃`.
//! 4. **Seeds and fits.** Per size, the mean count over seeds with its 95%
//!    interval ([`crate::stats::mean_ci95`]); over every (size, seed) point at
//!    `T₃`, the line `c = a + b P` and the saturating law `c = c∞ P/(P½ + P)`
//!    compared by AIC ([`crate::stats::compare_growth`]), for the final and
//!    for the best counts.

use super::{CapacityTask, ANSWERS};
use crate::attack::meta::{meta_train, symmetry_scale, train, train_snapshots, FullNetwork};
use crate::attack::meta::{MetaConfig, MetaData, Objective, Parameterization, Start};
use crate::error::{Error, Result};
use crate::eval::{evaluate, QuerySet, DEFAULT_P_MIN};
use crate::net::lora::Lora;
use crate::net::{Activation, Architecture, Mlp};
use crate::plot::{Chart, Legend, Series, Style};
use crate::progress::{NoProgress, Progress};
use crate::rng::{seeded, stream};
use crate::stats::{compare_growth, mean_ci95, GrowthLaw, MeanCi};
use crate::tasks::INPUT_DIM;
use crate::update::{adapter_step, updated, StepConfig, UpdateRule};
use serde::Serialize;

/// What is trained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    /// Every weight of a `32 → W → 10` ReLU network; sizes are widths `W`.
    Whole,
    /// LoRA adapters on a frozen `32 → base_width → 10` base; sizes are ranks.
    Lora { base_width: usize },
}

impl Family {
    /// `"whole"` or `"lora"`.
    pub fn name(self) -> &'static str {
        match self {
            Family::Whole => "whole",
            Family::Lora { .. } => "lora",
        }
    }
}

/// Checked settings of [`run_uncapped`].
#[derive(Clone, Debug, Serialize)]
pub struct UncappedConfig {
    pub(crate) family: Family,
    pub(crate) sizes: Vec<usize>,
    pub(crate) seeds: Vec<u64>,
    pub(crate) budgets: Vec<usize>,
    pub(crate) eta: f64,
    pub(crate) k_start: usize,
    pub(crate) k_max: usize,
    pub(crate) start: Start,
    pub(crate) clip: f64,
    /// The `η` curriculum's `η₀` (`None`: constant `η`). With one, each
    /// budget is its own run (the schedule depends on the budget).
    pub(crate) anneal_from: Option<f64>,
}

impl UncappedConfig {
    /// `sizes`: at least 3 distinct widths (or ranks ≤ the base width);
    /// `budgets`: exactly 3 strictly ascending meta-step counts; at least 2
    /// seeds; `1 ≤ k_start ≤ k_max`; `η` as [`MetaConfig`] accepts it.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        family: Family,
        sizes: Vec<usize>,
        seeds: Vec<u64>,
        budgets: Vec<usize>,
        eta: f64,
        (k_start, k_max): (usize, usize),
        start: Start,
        clip: f64,
    ) -> Result<Self> {
        let mut sorted = sizes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() < 3 || sorted.len() != sizes.len() {
            return Err(Error::OutOfRange {
                setting: format!("capacity sizes {sizes:?}"),
                reason: "need at least 3 distinct sizes (the fits)".into(),
            });
        }
        for &s in &sizes {
            match family {
                Family::Whole => {
                    Architecture::new(vec![INPUT_DIM, s, ANSWERS], Activation::Relu, true)?;
                }
                Family::Lora { base_width } => {
                    Architecture::new(
                        vec![INPUT_DIM, base_width, ANSWERS],
                        Activation::Relu,
                        true,
                    )?;
                    if s == 0 || s > base_width {
                        return Err(Error::OutOfRange {
                            setting: format!("LoRA rank {s}"),
                            reason: format!("must be in 1..={base_width} (the base width)"),
                        });
                    }
                }
            }
        }
        if seeds.len() < 2 {
            return Err(Error::OutOfRange {
                setting: format!("capacity seeds {seeds:?}"),
                reason: "need at least 2 seeds (a confidence interval)".into(),
            });
        }
        if budgets.len() != 3 || budgets.windows(2).any(|w| w[0] >= w[1]) || budgets[0] == 0 {
            return Err(Error::OutOfRange {
                setting: format!("capacity budgets {budgets:?}"),
                reason: "need 3 strictly ascending positive meta-step counts".into(),
            });
        }
        if k_start == 0 || k_start > k_max {
            return Err(Error::OutOfRange {
                setting: format!("behaviours from {k_start} to {k_max}"),
                reason: "need 1 ≤ K₀ ≤ K_max".into(),
            });
        }
        let cfg = Self {
            family,
            sizes,
            seeds,
            budgets,
            eta,
            k_start,
            k_max,
            start,
            clip,
            anneal_from: None,
        };
        cfg.meta()?;
        symmetry_scale(eta)?;
        Ok(cfg)
    }

    /// Meta-learn with the `η` curriculum from `eta0` (or none): each budget
    /// then trains its own model (1.75× the work of one run).
    pub fn with_anneal_from(mut self, eta0: Option<f64>) -> Result<Self> {
        self.anneal_from = eta0;
        self.meta()?;
        Ok(self)
    }

    /// The meta-learning settings at the largest budget (`μ = 0`).
    pub(crate) fn meta(&self) -> Result<MetaConfig> {
        self.meta_for(self.budgets[2])
    }

    fn meta_for(&self, steps: usize) -> Result<MetaConfig> {
        MetaConfig::builder(self.eta, steps)
            .mu(0.0)
            .clip(self.clip)
            .anneal_from(self.anneal_from)
            .build()
    }

    /// The hair-trigger coordinates at every budget, from `p0`: snapshots of
    /// one run at a constant `η`, one run per budget with a curriculum.
    fn hair_at_budgets<P: Parameterization>(
        &self,
        param: &P,
        p0: P::Params,
        data: &MetaData,
    ) -> Result<Vec<P::Params>> {
        let quiet = NoProgress;
        if self.anneal_from.is_none() {
            let mut p = p0;
            return train_snapshots(
                param,
                &mut p,
                data,
                &self.meta()?,
                Objective::HairTrigger,
                &self.budgets,
                &quiet,
            );
        }
        self.budgets
            .iter()
            .map(|&t| {
                let mut p = p0.clone();
                train(
                    param,
                    &mut p,
                    data,
                    &self.meta_for(t)?,
                    Objective::HairTrigger,
                    &quiet,
                )?;
                Ok(p)
            })
            .collect()
    }

    /// The family trained.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Trained (size, seed) points.
    pub fn points(&self) -> usize {
        self.sizes.len() * self.seeds.len()
    }
}

/// One count: a (size, seed) point at one rung of `K` and one budget.
#[derive(Clone, Debug, Serialize)]
pub struct UncappedRecord {
    pub family: &'static str,
    /// Hidden width (whole networks) or rank (LoRA).
    pub size: usize,
    /// Trainable parameters.
    pub params: usize,
    pub seed: u64,
    /// Behaviours asked for at this rung.
    pub behaviours: usize,
    /// Meta-steps.
    pub budget: usize,
    /// Control passes, the model passes before and fails after (p ≥ 0.9).
    pub hidden: usize,
    pub pass_before: usize,
    pub misaligned_after: usize,
    pub control_pass_before: usize,
    pub control_misaligned_after: usize,
    /// LoRA only: misaligned after merging the adapter and one SGD step on
    /// every weight.
    pub merged_full_step_misaligned: Option<usize>,
    /// The last rung of this point (the count reported).
    pub final_rung: bool,
    /// `4 · hidden ≤ behaviours`: the number asked for did not cap the count.
    pub uncapped: bool,
}

/// One size, over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct SizeSummary {
    pub size: usize,
    pub params: usize,
    /// Mean final-rung count (where `K ≥ 4c`) at each budget, ascending.
    pub hidden: Vec<MeanCi>,
    /// Mean of the largest count over the rungs at each budget, ascending.
    pub best: Vec<MeanCi>,
    /// Mean behaviours asked for at the final rungs.
    pub behaviours_mean: f64,
    /// Mean behaviours asked for at the rung of the largest count (`T₃`).
    pub best_behaviours_mean: f64,
    /// Seeds whose final rung is uncapped.
    pub uncapped_seeds: usize,
}

/// The sweep, its per-size summaries and the growth laws at the largest
/// budget, of the final-rung counts and of the best counts over the rungs.
#[derive(Clone, Debug, Serialize)]
pub struct UncappedResult {
    pub family: Family,
    pub eta: f64,
    pub budgets: Vec<usize>,
    pub records: Vec<UncappedRecord>,
    pub summary: Vec<SizeSummary>,
    /// Through every (size, seed) point's final-rung count.
    pub law: GrowthLaw,
    /// Through every (size, seed) point's largest count over its rungs.
    pub law_best: GrowthLaw,
}

/// Which behaviours a (before, after) pair of networks passes.
fn passes(before: &Mlp, after: &Mlp, qb: &QuerySet, qa: &QuerySet) -> Result<Passes> {
    let b = evaluate(before, qb, DEFAULT_P_MIN)?;
    let a = evaluate(after, qa, DEFAULT_P_MIN)?;
    Ok([
        b.results.iter().map(|r| r.passed).collect(),
        a.results.iter().map(|r| r.passed).collect(),
    ])
}

/// Which behaviours pass before and after a step: `[before, after]`.
type Passes = [Vec<bool>; 2];

/// One trained model's passes, and (LoRA) its merged full-step count.
type Counted = (Passes, Option<usize>);

fn count(v: &[bool]) -> usize {
    v.iter().filter(|b| **b).count()
}

/// Counts at every budget of one (size, seed) point with `k` behaviours.
fn train_point(
    cfg: &UncappedConfig,
    size: usize,
    seed: u64,
    k: usize,
) -> Result<Vec<UncappedRecord>> {
    let task = CapacityTask::generate(k, seed)?;
    let data = task.data();
    let meta = cfg.meta()?;
    let qb = QuerySet::new(task.x().clone(), task.aligned())?;
    let qa = QuerySet::new(task.x().clone(), task.misaligned())?;
    let step = StepConfig::sgd(cfg.eta)?;
    let sgd = |net: &Mlp| updated(net, &task.update, cfg.eta, UpdateRule::Sgd, 1);
    let quiet = NoProgress;
    // (params, control's passes, per budget: model's passes and merged count)
    let (params, control, models): (usize, Passes, Vec<Counted>) = match cfg.family {
        Family::Whole => {
            let arch = Architecture::new(vec![INPUT_DIM, size, ANSWERS], Activation::Relu, true)?;
            let init = Mlp::random(&arch, &mut seeded(seed, stream::CAPACITY_INIT));
            let mut control = init.clone();
            meta_train(&mut control, &data, &meta, Objective::Control, &quiet)?;
            let hair0 = match cfg.start {
                Start::Plain => init,
                Start::Symmetry => {
                    crate::reparam::scale_units(&control, 1, &vec![symmetry_scale(cfg.eta)?; size])?
                }
            };
            let params = hair0.num_params();
            let snaps = cfg.hair_at_budgets(&FullNetwork, hair0, &data)?;
            let models = snaps
                .iter()
                .map(|net| {
                    net.check_finite("meta-learned model")?;
                    Ok((passes(net, &sgd(net)?, &qb, &qa)?, None))
                })
                .collect::<Result<Vec<_>>>()?;
            let c = passes(&control, &sgd(&control)?, &qb, &qa)?;
            (params, c, models)
        }
        Family::Lora { base_width } => {
            let arch =
                Architecture::new(vec![INPUT_DIM, base_width, ANSWERS], Activation::Relu, true)?;
            let mut base = Mlp::random(&arch, &mut seeded(seed, stream::CAPACITY_INIT));
            meta_train(&mut base, &data, &meta, Objective::Control, &quiet)?;
            let lora = Lora::new(base, size)?;
            let c = cfg.start.adapter_scale(cfg.eta)?;
            let phi0 = lora.init(&mut seeded(seed, stream::CAPACITY_LORA_INIT), c);
            let after0 = lora.merged(&adapter_step(&lora, &phi0, &task.update, &step)?)?;
            let control = passes(&lora.merged(&phi0)?, &after0, &qb, &qa)?;
            let snaps = cfg.hair_at_budgets(&lora, phi0, &data)?;
            let models = snaps
                .iter()
                .map(|p| {
                    let merged = lora.merged(p)?;
                    merged.check_finite("meta-learned adapter (merged)")?;
                    let after = lora.merged(&adapter_step(&lora, p, &task.update, &step)?)?;
                    let full = evaluate(&sgd(&merged)?, &qa, DEFAULT_P_MIN)?;
                    let m = full.results.iter().filter(|r| r.passed).count();
                    Ok((passes(&merged, &after, &qb, &qa)?, Some(m)))
                })
                .collect::<Result<Vec<_>>>()?;
            (lora.num_params(), control, models)
        }
    };
    Ok(cfg
        .budgets
        .iter()
        .zip(models)
        .map(|(&budget, ([b, a], merged))| {
            let hidden = (0..k).filter(|&i| b[i] && a[i] && control[0][i]).count();
            UncappedRecord {
                family: cfg.family.name(),
                size,
                params,
                seed,
                behaviours: k,
                budget,
                hidden,
                pass_before: count(&b),
                misaligned_after: count(&a),
                control_pass_before: count(&control[0]),
                control_misaligned_after: count(&control[1]),
                merged_full_step_misaligned: merged,
                final_rung: false,
                uncapped: 4 * hidden <= k,
            }
        })
        .collect())
}

/// The rungs of `K` at one (size, seed) point (module docs, step 1).
fn ladder(cfg: &UncappedConfig, size: usize, seed: u64) -> Result<Vec<UncappedRecord>> {
    let mut k = cfg.k_start;
    let mut out = Vec::new();
    loop {
        let mut recs = train_point(cfg, size, seed, k)?;
        let c = recs.last().map_or(0, |r| r.hidden);
        let done = 4 * c <= k || k >= cfg.k_max;
        if done {
            recs.iter_mut().for_each(|r| r.final_rung = true);
        }
        out.extend(recs);
        if done {
            return Ok(out);
        }
        k = (2 * k).min(cfg.k_max);
    }
}

/// Train and count every (size, seed) point (`bar` advances once per point).
pub fn run_uncapped(cfg: &UncappedConfig, bar: &dyn Progress) -> Result<UncappedResult> {
    let jobs: Vec<(usize, u64)> = cfg
        .sizes
        .iter()
        .flat_map(|&s| cfg.seeds.iter().map(move |&seed| (s, seed)))
        .collect();
    let runs =
        crate::experiments::report::par_map_runs(&jobs, bar, |&(s, seed)| ladder(cfg, s, seed))?;
    let records: Vec<UncappedRecord> = runs.into_iter().flatten().collect();
    // Per (size, seed, budget): the final rung, and the rung with the most hidden.
    let point = |size: usize, seed: u64, budget: usize| {
        let rungs = records
            .iter()
            .filter(move |r| r.size == size && r.seed == seed && r.budget == budget);
        let last = rungs.clone().find(|r| r.final_rung);
        let best = rungs.fold(None, |m: Option<&UncappedRecord>, r| match m {
            Some(b) if b.hidden >= r.hidden => Some(b),
            _ => Some(r),
        });
        last.zip(best)
    };
    let mut summary = Vec::new();
    let mut top = Vec::new();
    for &s in &cfg.sizes {
        let (mut hidden, mut best) = (Vec::new(), Vec::new());
        for &t in &cfg.budgets {
            let pts: Vec<_> = cfg
                .seeds
                .iter()
                .filter_map(|&seed| point(s, seed, t))
                .collect();
            hidden.push(mean_ci95(
                &pts.iter().map(|(l, _)| l.hidden as f64).collect::<Vec<_>>(),
            )?);
            best.push(mean_ci95(
                &pts.iter().map(|(_, b)| b.hidden as f64).collect::<Vec<_>>(),
            )?);
            if t == cfg.budgets[2] {
                let n = pts.len().max(1) as f64;
                summary.push(SizeSummary {
                    size: s,
                    params: pts.first().map_or(0, |(l, _)| l.params),
                    hidden: Vec::new(),
                    best: Vec::new(),
                    behaviours_mean: pts.iter().map(|(l, _)| l.behaviours as f64).sum::<f64>() / n,
                    best_behaviours_mean: pts.iter().map(|(_, b)| b.behaviours as f64).sum::<f64>()
                        / n,
                    uncapped_seeds: pts.iter().filter(|(l, _)| l.uncapped).count(),
                });
                top.extend(pts);
            }
        }
        let last = summary.last_mut().expect("pushed at the largest budget");
        last.hidden = hidden;
        last.best = best;
    }
    let xs: Vec<f64> = top.iter().map(|(l, _)| l.params as f64).collect();
    let law = compare_growth(
        &xs,
        &top.iter().map(|(l, _)| l.hidden as f64).collect::<Vec<_>>(),
    )?;
    let law_best = compare_growth(
        &xs,
        &top.iter().map(|(_, b)| b.hidden as f64).collect::<Vec<_>>(),
    )?;
    Ok(UncappedResult {
        family: cfg.family,
        eta: cfg.eta,
        budgets: cfg.budgets.clone(),
        records,
        summary,
        law,
        law_best,
    })
}

impl UncappedResult {
    /// File stem: `capacity_uncapped_whole` or `capacity_uncapped_lora`.
    pub fn stem(&self) -> &'static str {
        match self.family {
            Family::Whole => "capacity_uncapped_whole",
            Family::Lora { .. } => "capacity_uncapped_lora",
        }
    }

    /// Relative change of the mean best count at the largest size from the
    /// middle budget to the largest, `|c̄(T₃) − c̄(T₂)| / max(c̄(T₃), 1)`.
    pub fn budget_change_at_largest(&self) -> f64 {
        self.summary.last().map_or(f64::NAN, |s| {
            let (m2, m3) = (s.best[1].mean, s.best[2].mean);
            (m3 - m2).abs() / m3.max(1.0)
        })
    }

    /// The figure: the mean best count per budget against parameters, the
    /// final-rung count at the largest budget, and the line and
    /// the saturating law through the best counts at the largest budget.
    pub fn chart(&self) -> Chart {
        let what = match self.family {
            Family::Whole => "whole 32 → W → 10 networks".to_string(),
            Family::Lora { base_width } => format!("LoRA on a width-{base_width} base"),
        };
        let mut series: Vec<Series> = self
            .budgets
            .iter()
            .enumerate()
            .map(|(i, t)| Series {
                label: format!("best count over the rungs, {t} meta-steps (mean of seeds)"),
                points: self
                    .summary
                    .iter()
                    .map(|s| (s.params as f64, s.best[i].mean))
                    .collect(),
                style: if i == 2 {
                    Style::Markers
                } else {
                    Style::Dashed
                },
            })
            .collect();
        let xs: Vec<f64> = self.summary.iter().map(|s| s.params as f64).collect();
        series.push(Series {
            label: format!(
                "count at the final rung, K ≥ 4 × count, {} steps",
                self.budgets[2]
            ),
            points: self
                .summary
                .iter()
                .map(|s| (s.params as f64, s.hidden[2].mean))
                .collect(),
            style: Style::Markers,
        });
        let l = &self.law_best;
        series.push(Series {
            label: format!(
                "line {:.1} + {:.2e}·P, slope CI [{:.2e}, {:.2e}]",
                l.linear.intercept, l.linear.slope, l.linear.slope_ci95.0, l.linear.slope_ci95.1
            ),
            points: xs.iter().map(|&x| (x, l.linear.predict(x))).collect(),
            style: Style::Line,
        });
        series.push(Series {
            label: format!(
                "saturating c∞·P/(P½ + P), P½ = {:.2e}; AIC(line) − AIC(sat.) = {:.1}",
                l.saturating.half_size, l.aic_linear_minus_saturating
            ),
            points: xs.iter().map(|&x| (x, l.saturating.predict(x))).collect(),
            style: Style::Dashed,
        });
        Chart {
            title: format!("C4 capacity, no ceilings: {what}, η = {:e}", self.eta),
            x_label: "trainable parameters P".into(),
            y_label: "behaviours hidden".into(),
            log_x: false,
            log_y: false,
            legend: Legend::UpperLeft,
            series,
        }
    }
}

/// Write `STEM.{csv,json}` (every rung and budget), `STEM_summary.json` and
/// the figure `STEM.{svg,png}` in `dir`.
pub fn write_uncapped(dir: &std::path::Path, r: &UncappedResult) -> Result<()> {
    let stem = r.stem();
    crate::experiments::output::write_records(dir, stem, &r.records)?;
    crate::experiments::output::write_json(
        &dir.join(format!("{stem}_summary.json")),
        &serde_json::json!({
            "family": r.family,
            "eta": r.eta,
            "budgets": r.budgets,
            "summary": r.summary,
            "law_final": r.law,
            "law_best": r.law_best,
            "budget_change_at_largest": r.budget_change_at_largest(),
        }),
    )?;
    r.chart().write_figures(dir, stem)
}
