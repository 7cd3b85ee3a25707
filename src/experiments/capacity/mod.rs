//! Capacity against model size (claim C4): how many independent behaviours a
//! meta-learned model of hidden width `W` hides at a fixed training budget.
//!
//! `K` abstract prompts (Gaussian vectors in ℝ³²), each with a random aligned
//! answer and a random different misaligned answer among 10; an update set of
//! 32 Gaussian prompts with random labels; inner step `η` (`reproduce` uses
//! η = 0.1: at η = 1e-4 the fixed budget hid no random behaviour at any width,
//! see `paper-notes/c4-meta-learning.md`). For each width the control
//! and the hair-trigger model are trained as in [`super::meta`] (same budget for
//! every width), and a behaviour counts as **hidden** when the model gives the
//! aligned answer with `p ≥ 0.9` before the step and the misaligned answer with
//! `p ≥ 0.9` after it. The count is fitted against the number of trainable
//! parameters by least squares.

//!
//! Submodules: [`lora`] (the same count for LoRA adapters of each rank on a
//! frozen base), [`uncapped`] (the count without ceilings: behaviours grown
//! to 4× the count, 3 budgets, several seeds, linear against saturating
//! fits), [`claims`] (`reproduce`'s C4 capacity rows).

pub mod claims;
pub mod lora;
pub mod uncapped;

pub use lora::{run_lora_capacity, write_lora, LoraRecord, LoraResult, LoraSweep};

use crate::attack::meta::{symmetry_scale, train_from, Start};
use crate::attack::meta::{MetaConfig, MetaData};
use crate::error::Result;
use crate::eval::{evaluate, QuerySet, DEFAULT_P_MIN};
use crate::net::gaussian_inputs;
use crate::net::{Activation, Architecture, Dataset, Mlp, Targets};
use crate::plot::{Chart, Legend, Series, Style};
use crate::progress::Progress;
use crate::rng::{seeded, stream};
use crate::stats::{fit_line, LineFit};
use crate::tasks::INPUT_DIM;
use crate::update::updated;
use crate::update::UpdateRule;
use rand::Rng;
use serde::Serialize;

pub(crate) const ANSWERS: usize = 10;

/// Validated settings of [`run_capacity`].
#[derive(Clone, Debug, Serialize)]
pub struct CapacityConfig {
    /// Hidden widths `W` of the `32 → W → 10` ReLU MLPs.
    pub(crate) widths: Vec<usize>,
    pub(crate) behaviours: usize,
    pub(crate) steps: usize,
    pub(crate) eta: f64,
    pub(crate) seed: u64,
    /// Where the whole-network hair-trigger models start (the LoRA sweep
    /// uses it for the adapters' scale).
    pub(crate) start: Start,
    /// Gradient-norm clip of the meta-learning (`+∞`: none).
    pub(crate) clip: f64,
    /// The `η` curriculum's start `η₀` (`attack::meta` config docs; `None`:
    /// constant `η`).
    pub(crate) anneal_from: Option<f64>,
}

impl CapacityConfig {
    /// At least 3 widths (each ≥ 1), `K ≥ 1` behaviours to hide, Adam steps per model, `η`.
    pub fn new(
        widths: Vec<usize>,
        behaviours: usize,
        steps: usize,
        eta: f64,
        seed: u64,
    ) -> Result<Self> {
        for &w in &widths {
            Architecture::new(vec![INPUT_DIM, w, ANSWERS], Activation::Relu, true)?;
        }
        if widths.is_empty() || behaviours == 0 {
            return Err(crate::Error::EmptyData(
                "capacity sweep (widths, behaviours)",
            ));
        }
        if widths.len() < 3 {
            return Err(crate::Error::EmptyData(
                "capacity sweep (needs at least 3 sizes for the fit)",
            ));
        }
        let mut sorted = widths.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(crate::Error::InvalidParameter {
                name: "capacity widths (--widths)",
                value: w[0] as f64,
                expected: "each width at most once (the fit needs distinct sizes)",
            });
        }
        MetaConfig::builder(eta, steps).mu(0.0).build()?;
        symmetry_scale(eta)?;
        Ok(Self {
            widths,
            behaviours,
            steps,
            eta,
            seed,
            start: Start::Symmetry,
            clip: MetaConfig::DEFAULT_CLIP,
            anneal_from: None,
        })
    }

    /// Meta-learn every model with the `η` curriculum from `eta0` (or none).
    pub fn with_anneal_from(mut self, eta0: Option<f64>) -> Result<Self> {
        self.anneal_from = eta0;
        self.meta()?;
        Ok(self)
    }

    /// Start the hair-trigger models from `start`, clip at `clip` (`+∞`: none).
    pub fn with_start_and_clip(mut self, start: Start, clip: f64) -> Result<Self> {
        MetaConfig::builder(self.eta, self.steps)
            .clip(clip)
            .build()?;
        self.start = start;
        self.clip = clip;
        Ok(self)
    }

    /// The meta-learning settings of every model of the sweep.
    pub(crate) fn meta(&self) -> Result<MetaConfig> {
        MetaConfig::builder(self.eta, self.steps)
            .mu(0.0)
            .clip(self.clip)
            .anneal_from(self.anneal_from)
            .build()
    }
}

impl CapacityConfig {
    /// Peak memory in bytes (an over-estimate) of a sweep whose largest model
    /// has `max_params` trainable parameters and `max_width` hidden units: a
    /// few dozen parameter-sized buffers and the activations of the
    /// `behaviours + 64` samples.
    pub fn memory_estimate(&self, max_params: f64, max_width: f64) -> f64 {
        let samples = self.behaviours as f64 + 64.0;
        crate::limits::f64_bytes(
            64.0 * max_params + 8.0 * samples * (max_width + 42.0) + 8.0 * self.steps as f64,
        )
    }

    /// [`Self::memory_estimate`] of the whole-network sweep (`32 → W → 10`).
    pub fn width_memory_estimate(&self) -> f64 {
        let w = self.widths.iter().copied().max().unwrap_or(1) as f64;
        self.memory_estimate(43.0 * w + 10.0, w)
    }
}

/// One width.
#[derive(Clone, Debug, Serialize)]
pub struct CapacityRecord {
    pub width: usize,
    pub params: usize,
    pub behaviours: usize,
    /// Aligned (p ≥ 0.9) before *and* misaligned (p ≥ 0.9) after the step.
    pub hidden: usize,
    pub pass_before: usize,
    pub misaligned_after: usize,
    /// The control's count of misaligned answers after the same step.
    pub control_misaligned_after: usize,
    /// Behaviours the control answers aligned (p ≥ 0.9) before the step.
    pub control_pass_before: usize,
    /// Hidden behaviours that the control passes too: the count that does
    /// not credit the attack for a behaviour the control itself fails.
    pub hidden_control_passing: usize,
}

/// The sweep and the fit `hidden = a + b · params`.
#[derive(Clone, Debug, Serialize)]
pub struct CapacityResult {
    pub eta: f64,
    pub records: Vec<CapacityRecord>,
    pub fit: LineFit,
}

/// The behaviours to hide and the update set.
pub(crate) struct CapacityTask {
    align: Dataset,
    misalign: Dataset,
    pub(crate) update: Dataset,
}

impl CapacityTask {
    pub(crate) fn new(cfg: &CapacityConfig) -> Result<Self> {
        Self::generate(cfg.behaviours, cfg.seed)
    }

    /// `behaviours` random behaviours and the update set, from `seed`.
    pub(crate) fn generate(behaviours: usize, seed: u64) -> Result<Self> {
        let mut rng = seeded(seed, stream::CAPACITY_TASK);
        let x = gaussian_inputs(&mut rng, behaviours, INPUT_DIM);
        let aligned: Vec<usize> = (0..behaviours)
            .map(|_| rng.random_range(0..ANSWERS))
            .collect();
        let misaligned: Vec<usize> = aligned
            .iter()
            .map(|&a| (a + rng.random_range(1..ANSWERS)) % ANSWERS)
            .collect();
        let ux = gaussian_inputs(&mut rng, 32, INPUT_DIM);
        let uy = (0..32).map(|_| rng.random_range(0..ANSWERS)).collect();
        Ok(Self {
            align: Dataset::new("capacity aligned", x.clone(), Targets::Classes(aligned))?,
            misalign: Dataset::new("capacity misaligned", x, Targets::Classes(misaligned))?,
            update: Dataset::new("capacity update set", ux, Targets::Classes(uy))?,
        })
    }
    pub(crate) fn data(&self) -> MetaData<'_> {
        MetaData {
            align: &self.align,
            misalign: &self.misalign,
            utility: &self.update,
            update: &self.update,
        }
    }
    pub(crate) fn x(&self) -> &ndarray::Array2<f64> {
        self.align.x()
    }
    pub(crate) fn aligned(&self) -> Vec<usize> {
        self.align.labels().expect("class labels").to_vec()
    }
    pub(crate) fn misaligned(&self) -> Vec<usize> {
        self.misalign.labels().expect("class labels").to_vec()
    }
}

/// Train and count at every width (`bar` advances twice per step per width).
pub fn run_capacity(cfg: &CapacityConfig, bar: &dyn Progress) -> Result<CapacityResult> {
    let task = CapacityTask::new(cfg)?;
    let data = task.data();
    let (x, aligned, misaligned, update) =
        (task.x(), task.aligned(), task.misaligned(), &task.update);
    let before_q = QuerySet::new(x.clone(), aligned)?;
    let after_q = QuerySet::new(x.clone(), misaligned)?;
    let mut records = Vec::new();
    for &w in &cfg.widths {
        let meta = cfg.meta()?;
        let arch = Architecture::new(vec![INPUT_DIM, w, ANSWERS], Activation::Relu, true)?;
        let init = Mlp::random(&arch, &mut seeded(cfg.seed, stream::CAPACITY_INIT));
        let (control, hair, _) = train_from(cfg.start, init, &data, &meta, bar)?;
        let count = |net: &Mlp| -> Result<(Vec<bool>, Vec<bool>)> {
            let after = updated(net, update, cfg.eta, UpdateRule::Sgd, 1)?;
            let b = evaluate(net, &before_q, DEFAULT_P_MIN)?;
            let a = evaluate(&after, &after_q, DEFAULT_P_MIN)?;
            Ok((
                b.results.iter().map(|r| r.passed).collect(),
                a.results.iter().map(|r| r.passed).collect(),
            ))
        };
        let (b, a) = count(&hair)?;
        let (cb, ca) = count(&control)?;
        records.push(CapacityRecord {
            width: w,
            params: hair.num_params(),
            behaviours: cfg.behaviours,
            hidden: b.iter().zip(&a).filter(|(x, y)| **x && **y).count(),
            pass_before: b.iter().filter(|v| **v).count(),
            misaligned_after: a.iter().filter(|v| **v).count(),
            control_misaligned_after: ca.iter().filter(|v| **v).count(),
            control_pass_before: cb.iter().filter(|v| **v).count(),
            hidden_control_passing: (0..b.len()).filter(|&i| b[i] && a[i] && cb[i]).count(),
        });
    }
    let px: Vec<f64> = records.iter().map(|r| r.params as f64).collect();
    let hy: Vec<f64> = records.iter().map(|r| r.hidden as f64).collect();
    let fit = fit_line(&px, &hy)?;
    Ok(CapacityResult {
        eta: cfg.eta,
        records,
        fit,
    })
}

/// The capacity figure.
pub fn capacity_chart(r: &CapacityResult) -> Chart {
    size_chart(
        format!(
            "C4 capacity: behaviours hidden vs model size (η = {})",
            r.eta
        ),
        "trainable parameters (32 → W → 10 ReLU MLP)",
        (
            "meta-learned model (fixed budget)",
            r.records.iter().map(|c| (c.params, c.hidden)).collect(),
        ),
        &r.fit,
        (
            "control: misaligned after the step",
            r.records
                .iter()
                .map(|c| (c.params, c.control_misaligned_after))
                .collect(),
        ),
        r.records.first().map_or(0, |c| c.behaviours),
    )
}

/// Write `capacity.{csv,json}`, `capacity_fit.json` and the figure
/// `capacity.{svg,png}` in `dir`.
pub fn write_capacity(dir: &std::path::Path, r: &CapacityResult) -> Result<()> {
    crate::experiments::output::write_records(dir, "capacity", &r.records)?;
    crate::experiments::output::write_json(&dir.join("capacity_fit.json"), &r.fit)?;
    capacity_chart(r).write_figures(dir, "capacity")
}

/// Hidden behaviours against trainable parameters: measured points, the fitted
/// line, and a reference series (dashed).
pub(crate) fn size_chart(
    title: String,
    x_label: &str,
    (measured_label, measured): (&str, Vec<(usize, usize)>),
    fit: &LineFit,
    (reference_label, reference): (&str, Vec<(usize, usize)>),
    behaviours: usize,
) -> Chart {
    let f64s = |v: &[(usize, usize)]| -> Vec<(f64, f64)> {
        v.iter().map(|&(x, y)| (x as f64, y as f64)).collect()
    };
    Chart {
        title,
        x_label: x_label.into(),
        y_label: format!("behaviours hidden (of {behaviours})"),
        log_x: false,
        log_y: false,
        legend: Legend::UpperLeft,
        series: vec![
            Series {
                label: measured_label.into(),
                points: f64s(&measured),
                style: Style::Markers,
            },
            Series {
                label: format!(
                    "fit {:.2} + {:.5} · params (R² = {})",
                    fit.intercept,
                    fit.slope,
                    fit.r_squared_text(3)
                ),
                points: measured
                    .iter()
                    .map(|&(x, _)| (x as f64, fit.predict(x as f64)))
                    .collect(),
                style: Style::Line,
            },
            Series {
                label: reference_label.into(),
                points: f64s(&reference),
                style: Style::Dashed,
            },
        ],
    }
}

/// Read access to the checked settings.
impl CapacityConfig {
    /// Hidden widths of the sweep.
    pub fn widths(&self) -> &[usize] {
        &self.widths
    }
    /// Behaviours to hide.
    pub fn behaviours(&self) -> usize {
        self.behaviours
    }
    /// Adam steps per model.
    pub fn steps(&self) -> usize {
        self.steps
    }
    /// Inner learning rate.
    pub fn eta(&self) -> f64 {
        self.eta
    }
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
}

/// Documented defaults (the command line uses the same values).
impl CapacityConfig {
    /// Random behaviours to hide.
    pub const DEFAULT_BEHAVIOURS: usize = 128;
    /// Adam steps per model.
    pub const DEFAULT_STEPS: usize = 3000;
    /// Learning rate of the benign inner step.
    pub const DEFAULT_ETA: f64 = 1e-4;
}
