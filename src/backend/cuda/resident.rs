//! Work that stays on the GPU: a data set uploaded once ([`DeviceData`]), one
//! forward/backward pass kept resident ([`DevicePass`]) from which the
//! gradient and the exact Hessian-vector product are formed into device
//! buffers, and the vector algebra of a meta-learning step (`x ← a x + b y`,
//! `Σ x²`, Adam) on [`DeviceNet`]-shaped buffers. Only the `N × k` outputs
//! travel to the host (the loss, its residuals and `∂²ℓ/∂f² · R{f}` are
//! computed there in f64, as on the CPU) and back.
//!
//! The HVP is Pearlmutter's R-operator as in [`crate::net::hvp`], with the
//! same products: forward `R{Z_l} = R{H_{l−1}} W_lᵀ + H_{l−1} V_lᵀ + 1 v_{b,l}ᵀ`,
//! `R{H_l} = σ'(Z_l) ⊙ R{Z_l}`; backward
//! `R{G_{l−1}} = (R{G_l} W_l + G_l V_l) ⊙ σ'(Z_{l−1}) + (G_l W_l) ⊙ σ''(Z_{l−1}) ⊙ R{Z_{l−1}}`;
//! parameters `R{∂L/∂W_l} = R{G_l}ᵀ H_{l−1} + G_lᵀ R{H_{l−1}}`,
//! `R{∂L/∂b_l} = Σ_n R{G_l}[n]`.
//!
//! Bias-free networks carry zero bias buffers whose gradients are written as
//! zero, so every update leaves them zero and [`CudaBackend::download_net`]
//! drops them.

use super::{activation_code, gpu_err, CudaBackend, DeviceMatrix, DeviceNet};
use crate::error::{Error, Result};
use crate::net::loss::{output_hessian_times, output_terms};
use crate::net::{Dataset, Layer, Mlp, Targets};
use cudarc::driver::{CudaSlice, LaunchConfig, PushKernelArg};
use ndarray::{Array1, Array2};

/// Blocks of the deterministic sum of squares (`sum_squares` in `elementwise.cu`).
const SUM_BLOCKS: u32 = 256;
/// Threads per block of `sum_squares` (its `SUM_THREADS`).
const SUM_THREADS: u32 = 256;

/// A data set on the device: the inputs (f32) and, on the host, the targets.
pub struct DeviceData {
    x: DeviceMatrix,
    targets: Targets,
}

/// One forward/backward pass over a data set at fixed parameters, kept on the
/// device: each layer's input `H_{l−1}`, pre-activation `Z_l` and backward
/// signal `G_l = ∂L/∂Z_l`, and (host) the loss and, for cross-entropy, the
/// output probabilities the HVP's `∂²ℓ/∂f²` needs.
pub struct DevicePass<'a> {
    net: &'a DeviceNet,
    inputs: Vec<DeviceMatrix>,
    pre: Vec<DeviceMatrix>,
    deltas: Vec<DeviceMatrix>,
    probs: Option<Array2<f64>>,
    loss: f64,
}

impl DevicePass<'_> {
    /// `L_D(θ)` at the pass's parameters (computed in f64 from the f32 outputs).
    pub fn loss(&self) -> f64 {
        self.loss
    }
}

/// Adam's moments on the device, shaped like the parameters.
pub struct DeviceAdam {
    m: DeviceNet,
    v: DeviceNet,
    t: i32,
}

impl DeviceAdam {
    /// The step count so far.
    pub fn steps(&self) -> i32 {
        self.t
    }
}

impl CudaBackend {
    /// A grid of `n` threads (blocks of 256).
    fn grid(n: usize) -> LaunchConfig {
        LaunchConfig::for_num_elems(n as u32)
    }

    /// Copy a data set's inputs to the device (rounded to f32), once.
    pub fn upload_data(&self, data: &Dataset) -> Result<DeviceData> {
        Ok(DeviceData {
            x: self.upload_matrix(data.x().view())?,
            targets: data.targets().clone(),
        })
    }

    /// The parameters back on the host, widened to f64.
    pub fn download_net(&self, net: &DeviceNet) -> Result<Mlp> {
        let layers = net
            .layers
            .iter()
            .map(|(w, b)| {
                let bias = if net.has_bias {
                    let host = self.stream.clone_dtoh(b).map_err(gpu_err)?;
                    Some(Array1::from_iter(host.into_iter().map(f64::from)))
                } else {
                    None
                };
                Ok(Layer {
                    weight: self.download(w)?,
                    bias,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Mlp::from_parts(layers, net.activation))
    }

    /// Zero buffers of `net`'s shape.
    pub fn zeros_like(&self, net: &DeviceNet) -> Result<DeviceNet> {
        let layers = net
            .layers
            .iter()
            .map(|(w, b)| {
                Ok((
                    DeviceMatrix {
                        data: self.stream.alloc_zeros(w.rows * w.cols).map_err(gpu_err)?,
                        rows: w.rows,
                        cols: w.cols,
                    },
                    self.stream.alloc_zeros(b.len()).map_err(gpu_err)?,
                ))
            })
            .collect::<Result<_>>()?;
        Ok(DeviceNet {
            layers,
            activation: net.activation,
            has_bias: net.has_bias,
        })
    }

    fn check_same_shape(a: &DeviceNet, b: &DeviceNet) -> Result<()> {
        if a.layers.len() != b.layers.len() {
            return Err(Error::DimensionMismatch {
                context: "GPU parameter buffers (layers)",
                expected: a.layers.len(),
                got: b.layers.len(),
            });
        }
        for ((wa, _), (wb, _)) in a.layers.iter().zip(&b.layers) {
            if (wa.rows, wa.cols) != (wb.rows, wb.cols) {
                return Err(Error::DimensionMismatch {
                    context: "GPU parameter buffers (weight size)",
                    expected: wa.rows * wa.cols,
                    got: wb.rows * wb.cols,
                });
            }
        }
        Ok(())
    }

    /// `x ← a x + b y` on one buffer pair of `n` elements.
    fn axpby_slice(
        &self,
        x: &mut CudaSlice<f32>,
        y: &CudaSlice<f32>,
        a: f32,
        b: f32,
        n: usize,
    ) -> Result<()> {
        let n_i = n as i64;
        let mut launch = self.stream.launch_builder(&self.kernels.axpby);
        launch.arg(x).arg(y).arg(&a).arg(&b).arg(&n_i);
        // SAFETY: both buffers hold `n` elements (checked by the callers).
        unsafe { launch.launch(Self::grid(n)) }.map_err(gpu_err)?;
        Ok(())
    }

    /// `x ← a x + b y` over every weight and bias.
    pub fn axpby(&self, x: &mut DeviceNet, a: f64, b: f64, y: &DeviceNet) -> Result<()> {
        Self::check_same_shape(x, y)?;
        let (a, b) = (a as f32, b as f32);
        for ((wx, bx), (wy, by)) in x.layers.iter_mut().zip(&y.layers) {
            let n = wx.rows * wx.cols;
            self.axpby_slice(&mut wx.data, &wy.data, a, b, n)?;
            let nb = bx.len();
            self.axpby_slice(bx, by, a, b, nb)?;
        }
        Ok(())
    }

    /// `dst ← src`.
    pub fn copy_into(&self, src: &DeviceNet, dst: &mut DeviceNet) -> Result<()> {
        self.axpby(dst, 0.0, 1.0, src)
    }

    /// `Σ x²` over every weight and bias, accumulated in f64 in a fixed order
    /// (the same bits on every run).
    pub fn sum_squares(&self, x: &DeviceNet) -> Result<f64> {
        let mut total = 0.0f64;
        let mut partial = self
            .stream
            .alloc_zeros::<f64>(SUM_BLOCKS as usize)
            .map_err(gpu_err)?;
        for (w, b) in &x.layers {
            for (buf, n) in [(&w.data, w.rows * w.cols), (b, b.len())] {
                let n_i = n as i64;
                let mut launch = self.stream.launch_builder(&self.kernels.sum_squares);
                launch.arg(buf).arg(&n_i).arg(&mut partial);
                let cfg = LaunchConfig {
                    grid_dim: (SUM_BLOCKS, 1, 1),
                    block_dim: (SUM_THREADS, 1, 1),
                    shared_mem_bytes: 0,
                };
                // SAFETY: reads `n` elements of `buf`, writes SUM_BLOCKS of `partial`.
                unsafe { launch.launch(cfg) }.map_err(gpu_err)?;
                let host = self.stream.clone_dtoh(&partial).map_err(gpu_err)?;
                total += host.iter().sum::<f64>();
            }
        }
        Ok(total)
    }

    /// Fresh Adam moments (zero) for parameters shaped like `like`.
    pub fn adam_state(&self, like: &DeviceNet) -> Result<DeviceAdam> {
        Ok(DeviceAdam {
            m: self.zeros_like(like)?,
            v: self.zeros_like(like)?,
            t: 0,
        })
    }

    /// One Adam step (`β = (0.9, 0.999)`, `ε = 1e-8`, the formulas of
    /// [`crate::optim::Adam::step`]) on `p` with the gradient `g · scale`.
    pub fn adam_step(
        &self,
        p: &mut DeviceNet,
        state: &mut DeviceAdam,
        g: &DeviceNet,
        lr: f64,
        scale: f64,
    ) -> Result<()> {
        Self::check_same_shape(p, g)?;
        Self::check_same_shape(p, &state.m)?;
        state.t += 1;
        let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
        let c1 = (1.0 - 0.9f64.powi(state.t)) as f32;
        let c2 = (1.0 - 0.999f64.powi(state.t)) as f32;
        let (lr, scale) = (lr as f32, scale as f32);
        let moments = state.m.layers.iter_mut().zip(state.v.layers.iter_mut());
        for (((wp, bp), (wg, bg)), ((wm, bm), (wv, bv))) in
            p.layers.iter_mut().zip(&g.layers).zip(moments)
        {
            let pairs = [
                (
                    &mut wp.data,
                    &wg.data,
                    &mut wm.data,
                    &mut wv.data,
                    wp.rows * wp.cols,
                ),
                (bp, bg, bm, bv, bg.len()),
            ];
            for (p, g, m, v, n) in pairs {
                let n_i = n as i64;
                let mut launch = self.stream.launch_builder(&self.kernels.adam_step);
                launch
                    .arg(p)
                    .arg(m)
                    .arg(v)
                    .arg(g)
                    .arg(&n_i)
                    .arg(&scale)
                    .arg(&lr)
                    .arg(&b1)
                    .arg(&b2)
                    .arg(&c1)
                    .arg(&c2)
                    .arg(&eps);
                // SAFETY: the four buffers hold `n` elements (same shapes, checked).
                unsafe { launch.launch(Self::grid(n)) }.map_err(gpu_err)?;
            }
        }
        Ok(())
    }

    /// The forward pass, the loss (host, f64) and every layer's backward
    /// signal, kept on the device.
    pub fn pass<'a>(&self, net: &'a DeviceNet, data: &'a DeviceData) -> Result<DevicePass<'a>> {
        let expected = net.layers[0].0.cols;
        if data.x.cols != expected {
            return Err(Error::DimensionMismatch {
                context: "input dimension",
                expected,
                got: data.x.cols,
            });
        }
        // The loss indexes the outputs by label: refuse labels beyond the
        // network's outputs (and regression targets of another dimension).
        data.targets
            .check_outputs(net.layers.last().expect("a network has a layer").0.rows)?;
        let x = DeviceMatrix {
            data: self.stream.clone_dtod(&data.x.data).map_err(gpu_err)?,
            rows: data.x.rows,
            cols: data.x.cols,
        };
        let (inputs, pre) = self.forward_cache(net, x)?;
        let output = self.download(pre.last().expect("a network has a layer"))?;
        let terms = output_terms(&output, &data.targets);
        let (loss, r) = (terms.loss, terms.residuals);
        if !loss.is_finite() {
            return Err(Error::NonFinite("loss (GPU)".into()));
        }
        let depth = net.layers.len();
        let mut deltas = Vec::with_capacity(depth);
        deltas.push(self.upload_matrix(r.view())?);
        let (code, slope) = activation_code(net.activation);
        for l in (1..depth).rev() {
            let g = deltas.last().expect("pushed above");
            let mut back = self.gemm(g, false, &net.layers[l].0, false)?;
            let total = back.rows * back.cols;
            let total_i = total as i64;
            let mut launch = self.stream.launch_builder(&self.kernels.times_derivative);
            launch
                .arg(&mut back.data)
                .arg(&pre[l - 1].data)
                .arg(&total_i)
                .arg(&code)
                .arg(&slope);
            // SAFETY: `back` and `pre[l − 1]` both hold `total` elements.
            unsafe { launch.launch(Self::grid(total)) }.map_err(gpu_err)?;
            deltas.push(back);
        }
        deltas.reverse();
        Ok(DevicePass {
            net,
            inputs,
            pre,
            deltas,
            probs: terms.probs,
            loss,
        })
    }

    /// Mean seconds of `reps` gradients (after one warm-up) with the
    /// parameters, the batch and the result resident on the device — the
    /// pass, its `N × k` output and residual transfers, and `∇_θ L` into
    /// device buffers, synchronised — i.e. without the download that
    /// [`CudaBackend::gradient_resident`] adds.
    pub fn resident_gradient_seconds(
        &self,
        net: &DeviceNet,
        data: &Dataset,
        reps: usize,
    ) -> Result<f64> {
        let d = self.upload_data(data)?;
        let mut g = self.zeros_like(net)?;
        let mut once = || -> Result<()> {
            let p = self.pass(net, &d)?;
            self.pass_gradient(&p, &mut g)
        };
        once()?;
        self.stream.synchronize().map_err(gpu_err)?;
        let start = std::time::Instant::now();
        for _ in 0..reps {
            once()?;
        }
        self.stream.synchronize().map_err(gpu_err)?;
        Ok(start.elapsed().as_secs_f64() / reps.max(1) as f64)
    }

    /// `out_b ← Σ_n G[n]` (or zero for a bias-free network).
    fn bias_sums(&self, g: &DeviceMatrix, has_bias: bool, out: &mut CudaSlice<f32>) -> Result<()> {
        if !has_bias {
            return self.stream.memset_zeros(out).map_err(gpu_err);
        }
        let (rows, cols) = (g.rows as i32, g.cols as i32);
        let mut launch = self.stream.launch_builder(&self.kernels.column_sums);
        launch.arg(&g.data).arg(out).arg(&rows).arg(&cols);
        // SAFETY: reads `rows × cols` elements of `g`, writes `cols` of `out`.
        unsafe { launch.launch(Self::grid(g.cols)) }.map_err(gpu_err)?;
        Ok(())
    }

    /// `∇_θ L_D(θ)` of a pass, into `out` (the network's shape).
    pub fn pass_gradient(&self, pass: &DevicePass, out: &mut DeviceNet) -> Result<()> {
        Self::check_same_shape(pass.net, out)?;
        for (l, (w, b)) in out.layers.iter_mut().enumerate() {
            self.gemm_into(&pass.deltas[l], true, &pass.inputs[l], false, w, 0.0)?;
            self.bias_sums(&pass.deltas[l], pass.net.has_bias, b)?;
        }
        Ok(())
    }

    /// `∇²_θ L_D(θ) · v` at a pass's parameters and data, into `out`.
    pub fn pass_hvp(&self, pass: &DevicePass, v: &DeviceNet, out: &mut DeviceNet) -> Result<()> {
        let net = pass.net;
        Self::check_same_shape(net, v)?;
        Self::check_same_shape(net, out)?;
        let depth = net.layers.len();
        let (code, slope) = activation_code(net.activation);
        let batch = pass.inputs[0].rows;

        // Forward tangent: R{Z_l} for every layer, R{H_l} for the hidden ones.
        let mut r_inputs: Vec<DeviceMatrix> = Vec::with_capacity(depth);
        let mut r_pre: Vec<DeviceMatrix> = Vec::with_capacity(depth);
        for (l, ((w, _), (vw, vb))) in net.layers.iter().zip(&v.layers).enumerate() {
            let rows = w.rows;
            let mut rz = match r_inputs.last() {
                Some(rh) => self.gemm(rh, false, w, true)?,
                None => DeviceMatrix {
                    data: self.stream.alloc_zeros(batch * rows).map_err(gpu_err)?,
                    rows: batch,
                    cols: rows,
                },
            };
            let hv = self.gemm(&pass.inputs[l], false, vw, true)?;
            let activate = l + 1 < depth;
            let total = batch * rows;
            let mut rh = self
                .stream
                .alloc_zeros::<f32>(if activate { total } else { 1 })
                .map_err(gpu_err)?;
            let (total_i, cols_i, flag) = (total as i64, rows as i32, i32::from(activate));
            let mut launch = self.stream.launch_builder(&self.kernels.tangent_activate);
            launch
                .arg(&mut rz.data)
                .arg(&hv.data)
                .arg(vb)
                .arg(&pass.pre[l].data)
                .arg(&mut rh)
                .arg(&total_i)
                .arg(&cols_i)
                .arg(&code)
                .arg(&slope)
                .arg(&flag);
            // SAFETY: `rz`, `hv`, `pre[l]` hold `total` elements, `vb` `rows`,
            // `rh` `total` (written only when `flag` is 1).
            unsafe { launch.launch(Self::grid(total)) }.map_err(gpu_err)?;
            r_pre.push(rz);
            if activate {
                r_inputs.push(DeviceMatrix {
                    data: rh,
                    rows: batch,
                    cols: rows,
                });
            }
        }

        // The loss's curvature on the host: R{G_L} = (1/N) ∂²ℓ/∂f² R{f}.
        let rf = self.download(&r_pre[depth - 1])?;
        let r_top = output_hessian_times(pass.probs.as_ref(), &rf);
        let mut r_delta = self.upload_matrix(r_top.view())?;

        for l in (0..depth).rev() {
            let g = &pass.deltas[l];
            let (w_out, b_out) = &mut out.layers[l];
            self.gemm_into(&r_delta, true, &pass.inputs[l], false, w_out, 0.0)?;
            if l > 0 {
                self.gemm_into(g, true, &r_inputs[l - 1], false, w_out, 1.0)?;
            }
            self.bias_sums(&r_delta, net.has_bias, b_out)?;
            if l == 0 {
                break;
            }
            let w = &net.layers[l].0;
            let rgw = self.gemm(&r_delta, false, w, false)?;
            let gv = self.gemm(g, false, &v.layers[l].0, false)?;
            let back = self.gemm(g, false, w, false)?;
            let total = rgw.rows * rgw.cols;
            let mut next = DeviceMatrix {
                data: self.stream.alloc_zeros(total).map_err(gpu_err)?,
                rows: rgw.rows,
                cols: rgw.cols,
            };
            let total_i = total as i64;
            let mut launch = self
                .stream
                .launch_builder(&self.kernels.second_order_backward);
            launch
                .arg(&rgw.data)
                .arg(&gv.data)
                .arg(&back.data)
                .arg(&pass.pre[l - 1].data)
                .arg(&r_pre[l - 1].data)
                .arg(&mut next.data)
                .arg(&total_i)
                .arg(&code)
                .arg(&slope);
            // SAFETY: all six buffers hold `total` elements (`N × n_{l−1}`).
            unsafe { launch.launch(Self::grid(total)) }.map_err(gpu_err)?;
            r_delta = next;
        }
        Ok(())
    }
}
