//! Where the dense arithmetic runs: the CPU (always, f64) or an NVIDIA GPU
//! (feature `gpu`, f32 through cuBLAS and NVRTC-compiled elementwise kernels).
//!
//! One choice, [`Device`], picks a [`Backend`]; every backend offers the same
//! network passes ([`Backend::forward`], [`Backend::gradient`],
//! [`Backend::hvp`], [`Backend::one_step`]) with the CPU path's semantics; on
//! a GPU, the device-resident passes, HVP, vector algebra and Adam of
//! `cuda::resident` serve the meta-learning loop
//! (`attack::meta::meta_train_on`). Without the `gpu`
//! feature the CUDA variant is an uninhabited type (as candle's dummy backends
//! are), so the CPU path compiles and runs exactly as before.
//!
//! Asking for CUDA never aborts a run: [`Backend::new`] probes the driver,
//! cuBLAS and NVRTC libraries (`is_culib_present`) *before* creating a
//! context, and when any is missing (or the crate was built without `gpu`) it
//! prints one line saying why and runs on the CPU. [`Backend::try_new`] returns
//! the reason as [`Error::DeviceUnavailable`] instead.
//!
//! Precision: the GPU computes in f32 (parameters and inputs rounded once on
//! upload, results widened on download), the CPU in f64. With `K` the longest
//! inner product, f32 accumulation errors grow like `K · 2⁻²⁴` in the worst case
//! and like `√K · 2⁻²⁴` typically; [`GPU_RTOL`] is the agreement the GPU tests
//! require, relative to the largest magnitude of the compared quantity.

#[cfg(feature = "gpu")]
mod cuda;
#[cfg(not(feature = "gpu"))]
#[path = "dummy.rs"]
mod cuda;

pub use cuda::{CudaBackend, DeviceNet};
#[cfg(feature = "gpu")]
pub use cuda::{DeviceAdam, DeviceData, DeviceMatrix, DevicePass};

use crate::error::{Error, Result};
use crate::net::{gradient, Dataset, Mlp};
use crate::update::{one_step, step_with_gradient, Step, StepConfig};
use ndarray::{Array2, ArrayView2};
use std::fmt;
use std::str::FromStr;
use std::sync::Once;

/// Agreement required between the f32 GPU and the f64 CPU results, relative to
/// the largest magnitude of the quantity compared (outputs, gradients), for the
/// widths the GPU tests use (inner products up to 4,096 terms).
pub const GPU_RTOL: f64 = 1e-4;

/// A device choice, as given on the command line: `cpu`, `cuda` or `cuda:N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    /// The CPU, f64 (the reference).
    Cpu,
    /// CUDA device `ordinal`, f32.
    Cuda { ordinal: usize },
}

impl FromStr for Device {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::Parse {
            what: "device",
            input: s.to_string(),
            reason: "expected cpu, cuda or cuda:N".into(),
        };
        match s.trim() {
            "cpu" => Ok(Device::Cpu),
            "cuda" | "gpu" => Ok(Device::Cuda { ordinal: 0 }),
            other => match other.strip_prefix("cuda:") {
                Some(n) => Ok(Device::Cuda {
                    ordinal: n.parse().map_err(|_| bad())?,
                }),
                None => Err(bad()),
            },
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Device::Cpu => write!(f, "cpu"),
            Device::Cuda { ordinal } => write!(f, "cuda:{ordinal}"),
        }
    }
}

/// The backend that runs the network passes.
pub enum Backend {
    /// f64 on the CPU; `fallback` holds why CUDA was not used, if it was asked for.
    Cpu { fallback: Option<String> },
    /// f32 on an NVIDIA GPU.
    Cuda(CudaBackend),
}

impl Backend {
    /// The backend for `device`, falling back to the CPU (with one message on
    /// stderr per process) when CUDA is unavailable.
    pub fn new(device: Device) -> Self {
        match Self::try_new(device) {
            Ok(b) => b,
            Err(e) => {
                let reason = e.to_string();
                static WARN: Once = Once::new();
                WARN.call_once(|| eprintln!("hairtrigger: {reason}; running on the CPU (f64)"));
                Backend::Cpu {
                    fallback: Some(reason),
                }
            }
        }
    }

    /// The backend for `device`, or [`Error::DeviceUnavailable`] saying why not.
    pub fn try_new(device: Device) -> Result<Self> {
        match device {
            Device::Cpu => Ok(Backend::Cpu { fallback: None }),
            Device::Cuda { ordinal } => Ok(Backend::Cuda(CudaBackend::new(ordinal)?)),
        }
    }

    /// Why CUDA was asked for but not used (`None` if it was not asked for, or is used).
    pub fn fallback_reason(&self) -> Option<&str> {
        match self {
            Backend::Cpu { fallback } => fallback.as_deref(),
            Backend::Cuda(_) => None,
        }
    }

    /// Whether the passes run on a GPU.
    pub fn is_gpu(&self) -> bool {
        matches!(self, Backend::Cuda(_))
    }

    /// A short description: `cpu (f64)` or the GPU's name.
    pub fn describe(&self) -> String {
        match self {
            Backend::Cpu { .. } => "cpu (f64)".into(),
            Backend::Cuda(c) => c.describe(),
        }
    }

    /// `f_θ(X)` (see [`Mlp::forward`]).
    pub fn forward(&self, net: &Mlp, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        match self {
            Backend::Cpu { .. } => net.forward(x),
            Backend::Cuda(c) => c.forward(net, x),
        }
    }

    /// `(L_D(θ), ∇_θ L_D(θ))` (see [`crate::net::gradient`]).
    pub fn gradient(&self, net: &Mlp, data: &Dataset) -> Result<(f64, Mlp)> {
        match self {
            Backend::Cpu { .. } => gradient(net, data),
            Backend::Cuda(c) => c.gradient(net, data),
        }
    }

    /// `∇²_θ L_D(θ) · v` (see [`crate::net::hvp`]); on a GPU in f32, the
    /// pass and the product on the device.
    pub fn hvp(&self, net: &Mlp, data: &Dataset, v: &Mlp) -> Result<Mlp> {
        match self {
            Backend::Cpu { .. } => crate::net::hvp(net, data, v),
            Backend::Cuda(c) => c.hvp(net, data, v),
        }
    }

    /// One update `θ⁺ = θ + Δθ` (see [`crate::update::one_step`]); on a GPU the
    /// gradient is computed there and the update applied in f64 on the host.
    pub fn one_step(&self, net: &Mlp, data: &Dataset, cfg: &StepConfig) -> Result<Step> {
        match self {
            Backend::Cpu { .. } => one_step(net, data, cfg),
            Backend::Cuda(c) => {
                let (loss_before, grad) = c.gradient(net, data)?;
                step_with_gradient(net, loss_before, &grad, cfg)
            }
        }
    }
}

/// `max |a − b| / max |b|` (0 when both are zero): the agreement measure
/// [`GPU_RTOL`] bounds.
pub fn relative_max_difference<'a>(
    a: impl IntoIterator<Item = &'a f64>,
    b: impl IntoIterator<Item = &'a f64>,
) -> f64 {
    let (mut diff, mut scale) = (0.0f64, 0.0f64);
    for (x, y) in a.into_iter().zip(b) {
        // NaN-propagating: a NaN from the device must not read as agreement.
        diff = crate::finite::nan_max(diff, (x - y).abs());
        scale = crate::finite::nan_max(scale, y.abs());
    }
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}
