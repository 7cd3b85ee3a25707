//! The meta-learning loop of the whole network on a [`Backend`]: on the CPU
//! exactly [`super::meta_train`] and [`super::meta_gradient`] (f64); on a GPU
//! (feature `gpu`) the same meta-gradient
//! `∇J(θ) = ∇L_align(θ) + (I − η H_D(θ)) g⁺`, `g⁺ = ∇[λ L_mis + μ L_util](θ⁺)`,
//! clipping and Adam, with the parameters, gradients, the HVP and Adam's
//! moments resident on the device in f32 — per meta-step only the four
//! passes' `N × k` outputs, two HVP tangents and the gradient's squared norm
//! travel to the host, where the losses and the curriculum are computed in f64.
//!
//! Precision: each meta-gradient agrees with the f64 CPU's within
//! [`crate::backend::GPU_RTOL`] relative to its largest entry (tested on a GPU). A long loop is a
//! different, f32 trajectory — Adam normalises every coordinate, so rounding
//! that flips a near-zero gradient's sign moves that coordinate by the full
//! step — so runs are compared by their outcome (the objective and its parts),
//! not by their parameters.

use super::{meta_gradient, meta_train, MetaConfig, MetaData, MetaLoss, MetaPoint, Objective};
use crate::backend::Backend;
use crate::error::Result;
use crate::net::Mlp;
use crate::progress::Progress;

/// [`super::meta_train`] on `backend`: the CPU path itself, or the
/// device-resident loop on a GPU.
pub fn meta_train_on(
    backend: &Backend,
    net: &mut Mlp,
    data: &MetaData,
    cfg: &MetaConfig,
    objective: Objective,
    bar: &dyn Progress,
) -> Result<Vec<MetaPoint>> {
    match backend {
        Backend::Cpu { .. } => meta_train(net, data, cfg, objective, bar),
        #[cfg(feature = "gpu")]
        Backend::Cuda(gpu) => on_gpu::train(gpu, net, data, cfg, objective, bar),
        #[cfg(not(feature = "gpu"))]
        Backend::Cuda(gpu) => match *gpu {},
    }
}

/// [`super::meta_gradient`] on `backend` (`J` and `∇J` at `net`).
pub fn meta_gradient_on(
    backend: &Backend,
    net: &Mlp,
    data: &MetaData,
    cfg: &MetaConfig,
) -> Result<(MetaLoss, Mlp)> {
    match backend {
        Backend::Cpu { .. } => meta_gradient(net, data, cfg),
        #[cfg(feature = "gpu")]
        Backend::Cuda(gpu) => on_gpu::gradient(gpu, net, data, cfg),
        #[cfg(not(feature = "gpu"))]
        Backend::Cuda(gpu) => match *gpu {},
    }
}

#[cfg(feature = "gpu")]
mod on_gpu {
    use super::super::{align_only, MetaConfig, MetaData, MetaLoss, MetaOrder, MetaPoint};
    use super::Objective;
    use crate::backend::{CudaBackend, DeviceData, DeviceNet};
    use crate::error::{Error, Result};
    use crate::net::Mlp;
    use crate::progress::Progress;

    /// The four data sets, uploaded once.
    struct Uploaded {
        align: DeviceData,
        misalign: DeviceData,
        utility: DeviceData,
        update: DeviceData,
    }

    impl Uploaded {
        fn new(gpu: &CudaBackend, data: &MetaData, net: &Mlp) -> Result<Self> {
            for d in [data.align, data.misalign, data.utility, data.update] {
                d.check_compatible(net)?;
            }
            Ok(Self {
                align: gpu.upload_data(data.align)?,
                misalign: gpu.upload_data(data.misalign)?,
                utility: gpu.upload_data(data.utility)?,
                update: gpu.upload_data(data.update)?,
            })
        }
    }

    /// Work buffers of the network's shape, allocated once per loop.
    struct Buffers {
        grad: DeviceNet,
        g_d: DeviceNet,
        plus: DeviceNet,
        g_plus: DeviceNet,
        tmp: DeviceNet,
    }

    impl Buffers {
        fn new(gpu: &CudaBackend, like: &DeviceNet) -> Result<Self> {
            Ok(Self {
                grad: gpu.zeros_like(like)?,
                g_d: gpu.zeros_like(like)?,
                plus: gpu.zeros_like(like)?,
                g_plus: gpu.zeros_like(like)?,
                tmp: gpu.zeros_like(like)?,
            })
        }
    }

    /// `J(θ)` and `∇J(θ)` into `b.grad` (or `L_align` and its gradient for the control).
    fn step_gradient(
        gpu: &CudaBackend,
        theta: &DeviceNet,
        d: &Uploaded,
        cfg: &MetaConfig,
        objective: Objective,
        b: &mut Buffers,
    ) -> Result<MetaLoss> {
        let pa = gpu.pass(theta, &d.align)?;
        gpu.pass_gradient(&pa, &mut b.grad)?;
        let align = pa.loss();
        if objective == Objective::Control {
            return Ok(align_only(align));
        }
        let pd = gpu.pass(theta, &d.update)?;
        gpu.pass_gradient(&pd, &mut b.g_d)?;
        gpu.copy_into(theta, &mut b.plus)?;
        gpu.axpby(&mut b.plus, 1.0, -cfg.eta(), &b.g_d)?;
        let pm = gpu.pass(&b.plus, &d.misalign)?;
        gpu.pass_gradient(&pm, &mut b.g_plus)?;
        let pu = gpu.pass(&b.plus, &d.utility)?;
        gpu.pass_gradient(&pu, &mut b.tmp)?;
        let (mis, util) = (pm.loss(), pu.loss());
        gpu.axpby(&mut b.g_plus, cfg.lambda(), cfg.mu(), &b.tmp)?;
        gpu.axpby(&mut b.grad, 1.0, 1.0, &b.g_plus)?;
        if cfg.order() == MetaOrder::Second {
            gpu.pass_hvp(&pd, &b.g_plus, &mut b.tmp)?;
            gpu.axpby(&mut b.grad, 1.0, -cfg.eta(), &b.tmp)?;
        }
        Ok(MetaLoss::new(cfg, align, mis, util))
    }

    pub(super) fn gradient(
        gpu: &CudaBackend,
        net: &Mlp,
        data: &MetaData,
        cfg: &MetaConfig,
    ) -> Result<(MetaLoss, Mlp)> {
        let d = Uploaded::new(gpu, data, net)?;
        let theta = gpu.upload(net)?;
        let mut b = Buffers::new(gpu, &theta)?;
        let loss = step_gradient(gpu, &theta, &d, cfg, Objective::HairTrigger, &mut b)?;
        let g = gpu.download_net(&b.grad)?;
        g.check_finite("meta-gradient (GPU)")?;
        Ok((loss, g))
    }

    /// The loop of `super::super::adam_loop` (same curriculum, clipping,
    /// curve cadence and checks) with every vector on the device.
    pub(super) fn train(
        gpu: &CudaBackend,
        net: &mut Mlp,
        data: &MetaData,
        cfg: &MetaConfig,
        objective: Objective,
        bar: &dyn Progress,
    ) -> Result<Vec<MetaPoint>> {
        let d = Uploaded::new(gpu, data, net)?;
        let mut theta = gpu.upload(net)?;
        let mut b = Buffers::new(gpu, &theta)?;
        let mut adam = gpu.adam_state(&theta)?;
        let mut lr = cfg.outer_lr();
        let every = (cfg.steps() / 50).max(1);
        let mut curve = Vec::new();
        for t in 1..=cfg.steps() {
            let loss = match cfg.anneal_from_eta() {
                Some(_) => {
                    let (eta, rate) = cfg.rates_at(t - 1);
                    lr = rate;
                    let at = cfg.with_inner_eta(eta)?;
                    step_gradient(gpu, &theta, &d, &at, objective, &mut b)?
                }
                None => step_gradient(gpu, &theta, &d, cfg, objective, &mut b)?,
            };
            if !loss.total.is_finite() {
                return Err(Error::NonFinite(format!(
                    "meta-objective at step {t} (GPU): {}",
                    loss.total
                )));
            }
            let norm = gpu.sum_squares(&b.grad)?.sqrt();
            if !norm.is_finite() {
                return Err(Error::NonFinite(format!(
                    "meta-gradient norm at step {t} (GPU): {norm}"
                )));
            }
            let scale = if norm > cfg.clip() {
                cfg.clip() / norm
            } else {
                1.0
            };
            gpu.adam_step(&mut theta, &mut adam, &b.grad, lr, scale)?;
            if t % every == 0 || t == 1 || t == cfg.steps() {
                curve.push(MetaPoint { step: t, loss });
            }
            bar.inc(1);
        }
        *net = gpu.download_net(&theta)?;
        net.check_finite("meta-learned model (GPU)")?;
        Ok(curve)
    }
}
