//! Network-pass throughput on the chosen device (`hairtrigger passes
//! --device …`): for each width `w`, the gradient (forward + backward) of the
//! `[n, w, n, 10]` ReLU network (`n` the outer width, so the
//! parameters grow like `2nw` and w = 65,536 fits a GPU) on a batch of `N`.
//!
//! Throughput counts the FLOP of the matrix products, `3F − F_1` with
//! `F = 2N Σ_l n_{l−1} n_l` (one forward pass) and `F_1` its first layer's
//! share, as `benches/step.rs` does.
//!
//! Timing: one warm-up call, then the mean of `reps` calls —
//! on the CPU `net::gradient_into` into one reused buffer (f64); on a GPU the
//! gradient with the parameters resident (f32, uploaded once, the batch each
//! call, the gradient downloaded and widened to f64), and beside it the
//! gradient left on the device (`resident_ms`: what a device-resident loop
//! such as the meta-learning one pays). With a GPU backend, each width is also run once on the CPU while the
//! CPU's projected time (seconds per parameter of the last width it ran, times
//! this width's parameters) stays within the CPU budget, giving
//! the speedup and the agreement `max|g_gpu − g_cpu| / max|g_cpu|` that
//! [`crate::backend::GPU_RTOL`] bounds at the tested widths.

use crate::backend::{relative_max_difference, Backend};
use crate::error::{Error, Result};
use crate::net::random_update_set;
use crate::net::{gradient, gradient_into, Activation, Architecture, Dataset, Mlp};
use crate::rng::{seeded, stream};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Validated settings of a pass sweep.
#[derive(Clone, Debug, Serialize)]
pub struct PassesConfig {
    widths: Vec<usize>,
    outer: usize,
    batch: usize,
    reps: usize,
    cpu_budget_s: f64,
    seed: u64,
}

impl PassesConfig {
    /// Widths `w` (non-empty, each ≥ 1), the outer width `n` (≥ 1), the batch
    /// `N` (≥ 1), timed calls per width (≥ 1), the CPU budget in seconds for
    /// the reference run beside a GPU (finite, ≥ 0) and the seed of the
    /// networks and batches.
    pub fn new(
        widths: Vec<usize>,
        outer: usize,
        batch: usize,
        reps: usize,
        cpu_budget_s: f64,
        seed: u64,
    ) -> Result<Self> {
        if widths.is_empty() {
            return Err(Error::EmptyData("widths"));
        }
        for (name, value) in [("outer width", outer), ("batch", batch), ("reps", reps)]
            .into_iter()
            .chain(widths.iter().map(|&w| ("width", w)))
        {
            if value == 0 {
                return Err(Error::InvalidParameter {
                    name,
                    value: 0.0,
                    expected: "at least 1",
                });
            }
        }
        crate::limits::check_count("reps (--reps)", reps, crate::limits::MAX_STEPS)?;
        crate::limits::check_seconds("CPU budget (s)", cpu_budget_s)?;
        Ok(Self {
            widths,
            outer,
            batch,
            reps,
            cpu_budget_s,
            seed,
        })
    }

    /// Peak memory in bytes (an over-estimate) at the widest `w`: the
    /// network and its gradient, a copy of each beside a GPU
    /// (`P = 2nw + 10n + …`, about 8 parameter-sized buffers), and the
    /// batch's activations and their gradients (`N (2n + w + 10)`, ×6).
    pub fn memory_estimate(&self) -> f64 {
        let w = self.widths.iter().copied().max().unwrap_or(1) as f64;
        let n = self.outer as f64;
        let p = (n + 1.0) * w + (w + 1.0) * n + (n + 1.0) * 10.0;
        crate::limits::f64_bytes(8.0 * p + 6.0 * self.batch as f64 * (2.0 * n + w + 10.0))
    }

    /// The network at width `w`.
    pub fn architecture(&self, w: usize) -> Result<Architecture> {
        Architecture::new(vec![self.outer, w, self.outer, 10], Activation::Relu, true)
    }

    /// `3F − F_1`: FLOP of the matrix products of one gradient at width `w`.
    pub fn gradient_flops(&self, w: usize) -> f64 {
        let layer = |a: usize, b: usize| 2.0 * self.batch as f64 * a as f64 * b as f64;
        let first = layer(self.outer, w);
        let forward = first + layer(w, self.outer) + layer(self.outer, 10);
        3.0 * forward - first
    }
}

/// One width of the sweep.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PassRecord {
    pub width: usize,
    pub params: usize,
    /// The backend that ran the timed calls (`cpu (f64)` or the GPU's name).
    pub device: String,
    /// Mean milliseconds per gradient on that backend.
    pub gradient_ms: f64,
    /// `(3F − F_1) / time`, in GFLOP/s.
    pub gflops: f64,
    /// With a GPU backend: milliseconds per gradient left on the device
    /// (no download of `∇θ`), and the GFLOP/s that gives.
    pub resident_ms: Option<f64>,
    pub resident_gflops: Option<f64>,
    /// With a GPU backend: one f64 CPU gradient, if it fit the budget.
    pub cpu_ms: Option<f64>,
    pub speedup: Option<f64>,
    /// `max|g − g_cpu| / max|g_cpu|` over all parameters.
    pub grad_rel_diff: Option<f64>,
    /// `|L − L_cpu| / |L_cpu|`.
    pub loss_rel_diff: Option<f64>,
}

/// Run the sweep on `backend`, calling `progress` after each width.
pub fn run_passes(
    cfg: &PassesConfig,
    backend: &Backend,
    mut progress: impl FnMut(&PassRecord),
) -> Result<Vec<PassRecord>> {
    let mut cpu_seconds_per_param: Option<f64> = None;
    let mut records = Vec::with_capacity(cfg.widths.len());
    for &w in &cfg.widths {
        let net = Mlp::random(
            &cfg.architecture(w)?,
            &mut seeded(cfg.seed, stream::PASSES_NET + w as u64),
        );
        let data = random_update_set(&net, cfg.batch, &mut seeded(cfg.seed, stream::PROBES))?;
        let params = net.num_params();
        let (seconds, (loss, grad)) = time_gradient(backend, &net, &data, cfg.reps)?;
        let mut record = PassRecord {
            width: w,
            params,
            device: backend.describe(),
            gradient_ms: seconds * 1e3,
            gflops: cfg.gradient_flops(w) / seconds / 1e9,
            resident_ms: None,
            resident_gflops: None,
            cpu_ms: None,
            speedup: None,
            grad_rel_diff: None,
            loss_rel_diff: None,
        };
        if let Backend::Cuda(gpu) = backend {
            let s = gpu.resident_gradient_seconds(&gpu.upload(&net)?, &data, cfg.reps)?;
            record.resident_ms = Some(s * 1e3);
            record.resident_gflops = Some(cfg.gradient_flops(w) / s / 1e9);
        }
        let projected = cpu_seconds_per_param.map(|s| s * params as f64);
        if backend.is_gpu() && projected.is_none_or(|s| s <= cfg.cpu_budget_s) {
            let start = Instant::now();
            let (loss_cpu, grad_cpu) = gradient(&net, &data)?;
            let cpu_s = start.elapsed().as_secs_f64();
            cpu_seconds_per_param = Some(cpu_s / params as f64);
            record.cpu_ms = Some(cpu_s * 1e3);
            record.speedup = Some(cpu_s / seconds);
            record.grad_rel_diff = Some(relative_max_difference(
                &grad.to_flat(),
                &grad_cpu.to_flat(),
            ));
            record.loss_rel_diff = Some((loss - loss_cpu).abs() / loss_cpu.abs());
        }
        progress(&record);
        records.push(record);
    }
    Ok(records)
}

/// Mean seconds per gradient over `reps` calls after one warm-up, and the
/// last result: on the CPU into one reused buffer, on a GPU with the
/// parameters resident.
fn time_gradient(
    backend: &Backend,
    net: &Mlp,
    data: &Dataset,
    reps: usize,
) -> Result<(f64, (f64, Mlp))> {
    match backend {
        Backend::Cpu { .. } => {
            let mut grad = net.zeros_like();
            let (seconds, loss) = mean_seconds(reps, || gradient_into(net, data, &mut grad))?;
            Ok((seconds, (loss, grad)))
        }
        Backend::Cuda(gpu) => {
            let resident = gpu.upload(net)?;
            mean_seconds(reps, || gpu.gradient_resident(&resident, data))
        }
    }
}

/// One warm-up call of `call`, then the mean seconds of `reps` calls and the
/// last result.
fn mean_seconds<T>(reps: usize, mut call: impl FnMut() -> Result<T>) -> Result<(f64, T)> {
    let mut last = call()?;
    let start = Instant::now();
    for _ in 0..reps {
        last = call()?;
    }
    Ok((start.elapsed().as_secs_f64() / reps as f64, last))
}

/// Documented defaults (the command line uses the same values).
impl PassesConfig {
    /// Outer width `n` (input and second hidden layer).
    pub const DEFAULT_OUTER: usize = 1024;
    /// Batch size `N`.
    pub const DEFAULT_BATCH: usize = 256;
    /// Timed calls per width.
    pub const DEFAULT_REPS: usize = 3;
    /// CPU seconds allowed per reference gradient beside a GPU.
    pub const DEFAULT_CPU_BUDGET_S: f64 = 60.0;
}
