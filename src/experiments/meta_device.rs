//! The meta-learning loop on the chosen device beside the f64 CPU
//! (`hairtrigger meta-device --device …`): for each hidden width `W`, the toy
//! loop of `benches/meta.rs` — a ReLU MLP `32 → W → 10`, 32 alignment
//! samples, the same inputs with shifted labels (`(7i + 3) mod 10`) as the
//! misaligned answers, 8 utility requests and 32 update samples; `η = 1e-4`,
//! `λ = 1`, `μ = 0.1`, outer Adam at `1e-2`, clip 10, the exact second-order
//! meta-gradient — trained for `steps` meta-steps with
//! [`meta_train_on`].
//!
//! Each record holds
//! - the agreement of one meta-gradient at the initialisation with the f64
//!   CPU's, `max|∇J_dev − ∇J_cpu| / max|∇J_cpu|` (bounded by
//!   [`crate::backend::GPU_RTOL`] on a GPU), and of `J`;
//! - milliseconds per meta-step on the device (the whole loop, uploads and
//!   the final download included, divided by `steps`), and on the CPU, which
//!   runs the full loop when its projected time (from 20 timed steps) fits
//!   the CPU budget, else only those 20 steps;
//! - the outcome: `J` and its parts of each trained model, evaluated in f64 on
//!   the CPU, and their relative difference (when the CPU ran the full loop).
//!   f32 and f64 trajectories separate over a long loop (see
//!   [`crate::attack::meta::device`]), so this compares where the two runs
//!   arrive, not their parameters.

use crate::attack::meta::{
    meta_gradient, meta_gradient_on, meta_objective, meta_train, meta_train_on, MetaConfig,
    MetaData, MetaLoss, Objective,
};
use crate::backend::{relative_max_difference, Backend};
use crate::error::{Error, Result};
use crate::net::random_update_set;
use crate::net::{Activation, Architecture, Dataset, Mlp, Targets};
use crate::progress::NoProgress;
use crate::rng::seeded;
use serde::Serialize;
use std::time::Instant;

/// Steps the CPU is timed on before its full run is projected.
const CPU_PROBE_STEPS: usize = 20;

/// Validated settings of a device meta-loop comparison.
#[derive(Clone, Debug, Serialize)]
pub struct MetaDeviceConfig {
    widths: Vec<usize>,
    steps: usize,
    cpu_budget_s: f64,
    seed: u64,
}

impl MetaDeviceConfig {
    /// Hidden widths (non-empty, each ≥ 1), meta-steps (≥ 1), the CPU budget
    /// in seconds for the full reference loop (finite, ≥ 0), the seed.
    pub fn new(widths: Vec<usize>, steps: usize, cpu_budget_s: f64, seed: u64) -> Result<Self> {
        if widths.is_empty() {
            return Err(Error::EmptyData("widths"));
        }
        if widths.contains(&0) {
            return Err(Error::InvalidParameter {
                name: "width",
                value: 0.0,
                expected: "at least 1",
            });
        }
        crate::limits::check_count("meta-steps (--steps)", steps, crate::limits::MAX_STEPS)?;
        crate::limits::check_seconds("CPU budget (s)", cpu_budget_s)?;
        Ok(Self {
            widths,
            steps,
            cpu_budget_s,
            seed,
        })
    }

    /// The meta-learning settings of the toy loop at this run's step count.
    pub fn meta(&self) -> Result<MetaConfig> {
        Self::meta_for(self.steps)
    }

    fn meta_for(steps: usize) -> Result<MetaConfig> {
        MetaConfig::new(1e-4, 1.0, 0.1, 1e-2, 10.0, steps)
    }
}

/// The toy loop's network and data at width `w` (those of `benches/meta.rs`).
pub struct ToyLoop {
    pub net: Mlp,
    pub align: Dataset,
    pub misalign: Dataset,
    pub utility: Dataset,
    pub update: Dataset,
}

impl ToyLoop {
    /// The loop at hidden width `w` and `seed`.
    pub fn new(w: usize, seed: u64) -> Result<Self> {
        let arch = Architecture::new(vec![32, w, 10], Activation::Relu, true)?;
        let net = Mlp::random(&arch, &mut seeded(seed, 0));
        let mut rng = seeded(seed, 1);
        let align = random_update_set(&net, 32, &mut rng)?;
        let misalign = Dataset::new(
            "misaligned answers",
            align.x().clone(),
            Targets::Classes((0..32).map(|i| (i * 7 + 3) % 10).collect()),
        )?;
        let utility = random_update_set(&net, 8, &mut rng)?;
        let update = random_update_set(&net, 32, &mut rng)?;
        Ok(Self {
            net,
            align,
            misalign,
            utility,
            update,
        })
    }

    /// The four sets as a meta-learning problem.
    pub fn data(&self) -> MetaData<'_> {
        MetaData {
            align: &self.align,
            misalign: &self.misalign,
            utility: &self.utility,
            update: &self.update,
        }
    }
}

/// One width of the comparison.
#[derive(Clone, Debug, Serialize)]
pub struct MetaDeviceRecord {
    pub width: usize,
    pub params: usize,
    pub device: String,
    pub steps: usize,
    /// `max|∇J_dev − ∇J_cpu| / max|∇J_cpu|` at the initialisation.
    pub grad_rel_diff: f64,
    /// `|J_dev − J_cpu| / |J_cpu|` at the initialisation.
    pub objective_rel_diff: f64,
    /// Milliseconds per meta-step on the device (whole loop / steps).
    pub device_ms_per_step: f64,
    /// Milliseconds per meta-step on the CPU (f64), and over how many steps.
    pub cpu_ms_per_step: f64,
    pub cpu_steps: usize,
    pub speedup: f64,
    /// `J`, `L_align` and `L_mis(θ⁺)` of the device-trained model,
    /// evaluated in f64 on the CPU.
    pub device_objective: f64,
    pub device_align: f64,
    pub device_misalign_after: f64,
    /// The same of the CPU-trained model, when the CPU ran all `steps`.
    pub cpu_objective: Option<f64>,
    pub cpu_align: Option<f64>,
    pub cpu_misalign_after: Option<f64>,
    /// `|J_dev,final − J_cpu,final| / |J_cpu,final|`.
    pub final_rel_diff: Option<f64>,
}

/// Run the comparison on `backend`, calling `progress` after each width.
pub fn run_meta_device(
    cfg: &MetaDeviceConfig,
    backend: &Backend,
    mut progress: impl FnMut(&MetaDeviceRecord),
) -> Result<Vec<MetaDeviceRecord>> {
    let meta = cfg.meta()?;
    let mut records = Vec::with_capacity(cfg.widths.len());
    for &w in &cfg.widths {
        let toy = ToyLoop::new(w, cfg.seed)?;
        let data = toy.data();
        let (loss_dev, g_dev) = meta_gradient_on(backend, &toy.net, &data, &meta)?;
        let (loss_cpu, g_cpu) = meta_gradient(&toy.net, &data, &meta)?;
        let grad_rel_diff = relative_max_difference(&g_dev.to_flat(), &g_cpu.to_flat());
        let objective_rel_diff = (loss_dev.total - loss_cpu.total).abs() / loss_cpu.total.abs();

        let mut on_device = toy.net.clone();
        let start = Instant::now();
        meta_train_on(
            backend,
            &mut on_device,
            &data,
            &meta,
            Objective::HairTrigger,
            &NoProgress,
        )?;
        let device_s = start.elapsed().as_secs_f64();
        let device_final = meta_objective(&on_device, &data, &meta)?;

        let probe_steps = CPU_PROBE_STEPS.min(cfg.steps);
        let mut probe = toy.net.clone();
        let start = Instant::now();
        meta_train(
            &mut probe,
            &data,
            &MetaDeviceConfig::meta_for(probe_steps)?,
            Objective::HairTrigger,
            &NoProgress,
        )?;
        let mut cpu_per_step = start.elapsed().as_secs_f64() / probe_steps as f64;
        let (mut cpu_steps, mut cpu_final) = (probe_steps, None);
        if cpu_per_step * cfg.steps as f64 <= cfg.cpu_budget_s && probe_steps < cfg.steps {
            let mut on_cpu = toy.net.clone();
            let start = Instant::now();
            meta_train(
                &mut on_cpu,
                &data,
                &meta,
                Objective::HairTrigger,
                &NoProgress,
            )?;
            cpu_per_step = start.elapsed().as_secs_f64() / cfg.steps as f64;
            cpu_steps = cfg.steps;
            cpu_final = Some(meta_objective(&on_cpu, &data, &meta)?);
        } else if probe_steps == cfg.steps {
            cpu_final = Some(meta_objective(&probe, &data, &meta)?);
        }
        let device_per_step = device_s / cfg.steps as f64;
        let record = MetaDeviceRecord {
            width: w,
            params: toy.net.num_params(),
            device: backend.describe(),
            steps: cfg.steps,
            grad_rel_diff,
            objective_rel_diff,
            device_ms_per_step: device_per_step * 1e3,
            cpu_ms_per_step: cpu_per_step * 1e3,
            cpu_steps,
            speedup: cpu_per_step / device_per_step,
            device_objective: device_final.total,
            device_align: device_final.align,
            device_misalign_after: device_final.misalign_after,
            final_rel_diff: cpu_final
                .map(|c: MetaLoss| (device_final.total - c.total).abs() / c.total.abs()),
            cpu_objective: cpu_final.map(|c| c.total),
            cpu_align: cpu_final.map(|c| c.align),
            cpu_misalign_after: cpu_final.map(|c| c.misalign_after),
        };
        progress(&record);
        records.push(record);
    }
    Ok(records)
}

/// Documented defaults (the command line uses the same values).
impl MetaDeviceConfig {
    /// Hidden widths: the toy loop's 64 and two where a GPU has work to do.
    pub const DEFAULT_WIDTHS: &'static str = "64,4096,65536";
    /// Meta-steps per loop.
    pub const DEFAULT_STEPS: usize = 20_000;
    /// CPU seconds allowed for the full reference loop of one width.
    pub const DEFAULT_CPU_BUDGET_S: f64 = 60.0;
}
