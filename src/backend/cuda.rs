//! The CUDA backend (feature `gpu`): cuBLAS SGEMM for every product and the
//! NVRTC-compiled kernels of `elementwise.cu` for the layer epilogues, in f32.
//!
//! Layout: matrices are row-major on the device as on the host. cuBLAS is
//! column-major, and a row-major `r × c` matrix is the column-major `c × r`
//! matrix with leading dimension `c`; so the row-major `C = op(A) op(B)` is
//! computed as the column-major `Cᵀ = op(B)ᵀ op(A)ᵀ` (operands swapped, no
//! copies). The loss and its residuals `∂ℓ/∂f` are computed on the host in f64
//! from the downloaded outputs (`N × k`, small), exactly as on the CPU path.

use crate::error::{Error, Result};
use crate::net::loss::loss_and_residuals;
use crate::net::{Activation, Dataset, Layer, Mlp};
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use ndarray::{Array1, Array2, ArrayView2};
use std::fmt::Debug;
use std::sync::Arc;

/// The elementwise kernels, compiled at run time with NVRTC.
const KERNELS: &str = include_str!("elementwise.cu");

fn gpu_err(e: impl Debug) -> Error {
    Error::Gpu(format!("{e:?}"))
}

/// Checks that the driver, cuBLAS and NVRTC libraries can be loaded, without
/// calling into any of them (so a machine without CUDA gets an error, not a panic).
fn probe_libraries() -> Result<()> {
    // SAFETY: each probe only tries to dlopen the library and closes it again.
    let found = unsafe {
        [
            (
                "the NVIDIA driver (libcuda)",
                cudarc::driver::sys::is_culib_present(),
            ),
            (
                "cuBLAS (libcublas)",
                cudarc::cublas::sys::is_culib_present(),
            ),
            ("NVRTC (libnvrtc)", cudarc::nvrtc::sys::is_culib_present()),
        ]
    };
    let missing: Vec<&str> = found
        .iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| *n)
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::DeviceUnavailable(format!(
            "CUDA requested, but {} could not be loaded (is an NVIDIA driver and CUDA 12 installed, \
             and on LD_LIBRARY_PATH?)",
            missing.join(", ")
        )))
    }
}

/// `(code, slope)` of an activation in `elementwise.cu`.
fn activation_code(act: Activation) -> (i32, f32) {
    match act {
        Activation::Identity => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu { slope } => (2, slope as f32),
        Activation::Tanh => (3, 0.0),
        Activation::Gelu => (4, 0.0),
    }
}

/// A row-major f32 matrix on the device.
pub struct DeviceMatrix {
    data: CudaSlice<f32>,
    rows: usize,
    cols: usize,
}

/// A network's parameters resident on the device (f32), for repeated passes
/// without re-uploading.
pub struct DeviceNet {
    /// `(W_l, b_l)`; `b_l` is zero for bias-free networks.
    layers: Vec<(DeviceMatrix, CudaSlice<f32>)>,
    activation: Activation,
    has_bias: bool,
}

/// An opened CUDA device with its stream, cuBLAS handle and kernels.
pub struct CudaBackend {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    bias_activate: CudaFunction,
    times_derivative: CudaFunction,
    column_sums: CudaFunction,
    name: String,
}

impl CudaBackend {
    /// Probe the libraries, open device `ordinal`, create a cuBLAS handle and
    /// compile the elementwise kernels.
    pub fn new(ordinal: usize) -> Result<Self> {
        probe_libraries()?;
        let ctx = CudaContext::new(ordinal).map_err(|e| {
            Error::DeviceUnavailable(format!("CUDA device {ordinal} cannot be opened: {e:?}"))
        })?;
        let name = ctx
            .name()
            .unwrap_or_else(|_| format!("CUDA device {ordinal}"));
        let stream = ctx.default_stream();
        let blas = CudaBlas::new(stream.clone()).map_err(gpu_err)?;
        let ptx = cudarc::nvrtc::compile_ptx(KERNELS)
            .map_err(|e| Error::Gpu(format!("NVRTC could not compile the kernels: {e:?}")))?;
        let module = ctx.load_module(ptx).map_err(gpu_err)?;
        let load = |f: &str| module.load_function(f).map_err(gpu_err);
        Ok(Self {
            bias_activate: load("bias_activate")?,
            times_derivative: load("times_derivative")?,
            column_sums: load("column_sums")?,
            stream,
            blas,
            name,
        })
    }

    pub(crate) fn describe(&self) -> String {
        format!("{} (f32)", self.name)
    }

    fn upload_matrix(&self, a: ArrayView2<f64>) -> Result<DeviceMatrix> {
        let host: Vec<f32> = a.iter().map(|&v| v as f32).collect();
        Ok(DeviceMatrix {
            data: self.stream.clone_htod(&host).map_err(gpu_err)?,
            rows: a.nrows(),
            cols: a.ncols(),
        })
    }

    fn download(&self, m: &DeviceMatrix) -> Result<Array2<f64>> {
        let host = self.stream.clone_dtoh(&m.data).map_err(gpu_err)?;
        Array2::from_shape_vec((m.rows, m.cols), host.into_iter().map(f64::from).collect())
            .map_err(gpu_err)
    }

    /// Copy the parameters to the device (rounded to f32).
    pub fn upload(&self, net: &Mlp) -> Result<DeviceNet> {
        let layers = net
            .layers()
            .iter()
            .map(|layer| {
                let w = self.upload_matrix(layer.weight.view())?;
                let b: Vec<f32> = match &layer.bias {
                    Some(b) => b.iter().map(|&v| v as f32).collect(),
                    None => vec![0.0; layer.weight.nrows()],
                };
                Ok((w, self.stream.clone_htod(&b).map_err(gpu_err)?))
            })
            .collect::<Result<_>>()?;
        Ok(DeviceNet {
            layers,
            activation: net.activation(),
            has_bias: net.has_bias(),
        })
    }

    /// Row-major `C = op(A) op(B)`, with `op` a transpose when `ta` / `tb`.
    fn gemm(&self, a: &DeviceMatrix, ta: bool, b: &DeviceMatrix, tb: bool) -> Result<DeviceMatrix> {
        let (n, k) = if ta {
            (a.cols, a.rows)
        } else {
            (a.rows, a.cols)
        };
        let (kb, m) = if tb {
            (b.cols, b.rows)
        } else {
            (b.rows, b.cols)
        };
        if k != kb {
            return Err(Error::DimensionMismatch {
                context: "GPU matrix product (inner dimensions)",
                expected: k,
                got: kb,
            });
        }
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        let int = |v: usize| {
            i32::try_from(v).map_err(|_| Error::Gpu(format!("dimension {v} exceeds cuBLAS's i32")))
        };
        let cfg = GemmConfig {
            transa: op(tb),
            transb: op(ta),
            m: int(m)?,
            n: int(n)?,
            k: int(k)?,
            alpha: 1.0f32,
            lda: int(b.cols)?,
            ldb: int(a.cols)?,
            beta: 0.0f32,
            ldc: int(m)?,
        };
        let mut c = self.stream.alloc_zeros::<f32>(n * m).map_err(gpu_err)?;
        // SAFETY: the shapes and leading dimensions above describe the three
        // buffers exactly (row-major, contiguous), so cuBLAS stays in bounds.
        unsafe { self.blas.gemm(cfg, &b.data, &a.data, &mut c) }.map_err(gpu_err)?;
        Ok(DeviceMatrix {
            data: c,
            rows: n,
            cols: m,
        })
    }

    /// `Z ← Z + 1 bᵀ`, and `σ(Z)` when `activate`.
    fn bias_activate(
        &self,
        z: &mut DeviceMatrix,
        b: &CudaSlice<f32>,
        act: Activation,
        activate: bool,
    ) -> Result<Option<DeviceMatrix>> {
        let total = z.rows * z.cols;
        let mut h = self
            .stream
            .alloc_zeros::<f32>(if activate { total } else { 1 })
            .map_err(gpu_err)?;
        let (code, slope) = activation_code(act);
        let (total_i, cols_i, flag) = (total as i64, z.cols as i32, i32::from(activate));
        let mut launch = self.stream.launch_builder(&self.bias_activate);
        launch
            .arg(&mut z.data)
            .arg(b)
            .arg(&mut h)
            .arg(&total_i)
            .arg(&cols_i)
            .arg(&code)
            .arg(&slope)
            .arg(&flag);
        // SAFETY: the kernel reads/writes `total` elements of `z` and `h`
        // (or none of `h` when `flag` is 0) and `cols` elements of `b`.
        unsafe { launch.launch(LaunchConfig::for_num_elems(total as u32)) }.map_err(gpu_err)?;
        Ok(activate.then_some(DeviceMatrix {
            data: h,
            rows: z.rows,
            cols: z.cols,
        }))
    }

    /// The forward pass keeping each layer's input and pre-activation.
    fn forward_cache(
        &self,
        net: &DeviceNet,
        x: DeviceMatrix,
    ) -> Result<(Vec<DeviceMatrix>, Vec<DeviceMatrix>)> {
        let depth = net.layers.len();
        let (mut inputs, mut pre) = (Vec::with_capacity(depth), Vec::with_capacity(depth));
        let mut h = x;
        for (l, (w, b)) in net.layers.iter().enumerate() {
            let mut z = self.gemm(&h, false, w, true)?;
            let next = self.bias_activate(&mut z, b, net.activation, l + 1 < depth)?;
            inputs.push(h);
            pre.push(z);
            match next {
                Some(n) => h = n,
                None => break,
            }
        }
        Ok((inputs, pre))
    }

    fn check_input(net: &DeviceNet, x: ArrayView2<f64>) -> Result<()> {
        let expected = net.layers[0].0.cols;
        if x.ncols() != expected {
            return Err(Error::DimensionMismatch {
                context: "input dimension",
                expected,
                got: x.ncols(),
            });
        }
        Ok(())
    }

    /// `f_θ(X)` with the parameters already on the device.
    pub fn forward_resident(&self, net: &DeviceNet, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        Self::check_input(net, x)?;
        let (_, pre) = self.forward_cache(net, self.upload_matrix(x)?)?;
        self.download(pre.last().expect("a network has a layer"))
    }

    /// `(L_D(θ), ∇_θ L_D(θ))` with the parameters already on the device.
    pub fn gradient_resident(&self, net: &DeviceNet, data: &Dataset) -> Result<(f64, Mlp)> {
        Self::check_input(net, data.x().view())?;
        let (inputs, pre) = self.forward_cache(net, self.upload_matrix(data.x().view())?)?;
        let f = self.download(pre.last().expect("a network has a layer"))?;
        let (loss, r) = loss_and_residuals(&f, data.targets());
        if !loss.is_finite() {
            return Err(Error::NonFinite("loss (GPU)".into()));
        }
        let mut g = self.upload_matrix(r.view())?;
        let (code, slope) = activation_code(net.activation);
        let mut layers = Vec::with_capacity(net.layers.len());
        for l in (0..net.layers.len()).rev() {
            let dw = self.gemm(&g, true, &inputs[l], false)?;
            let bias = if net.has_bias {
                let mut db = self.stream.alloc_zeros::<f32>(g.cols).map_err(gpu_err)?;
                let (rows, cols) = (g.rows as i32, g.cols as i32);
                let mut launch = self.stream.launch_builder(&self.column_sums);
                launch.arg(&g.data).arg(&mut db).arg(&rows).arg(&cols);
                // SAFETY: reads `rows × cols` elements of `g`, writes `cols` of `db`.
                unsafe { launch.launch(LaunchConfig::for_num_elems(g.cols as u32)) }
                    .map_err(gpu_err)?;
                let host = self.stream.clone_dtoh(&db).map_err(gpu_err)?;
                Some(Array1::from_iter(host.into_iter().map(f64::from)))
            } else {
                None
            };
            layers.push(Layer {
                weight: self.download(&dw)?,
                bias,
            });
            if l > 0 {
                let mut back = self.gemm(&g, false, &net.layers[l].0, false)?;
                let total = back.rows * back.cols;
                let total_i = total as i64;
                let mut launch = self.stream.launch_builder(&self.times_derivative);
                launch
                    .arg(&mut back.data)
                    .arg(&pre[l - 1].data)
                    .arg(&total_i)
                    .arg(&code)
                    .arg(&slope);
                // SAFETY: `back` and `pre[l − 1]` both hold `total` elements.
                unsafe { launch.launch(LaunchConfig::for_num_elems(total as u32)) }
                    .map_err(gpu_err)?;
                g = back;
            }
        }
        layers.reverse();
        let grad = Mlp::from_parts(layers, net.activation);
        grad.check_finite("gradient (GPU)")?;
        Ok((loss, grad))
    }

    pub(crate) fn forward(&self, net: &Mlp, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.forward_resident(&self.upload(net)?, x)
    }

    pub(crate) fn gradient(&self, net: &Mlp, data: &Dataset) -> Result<(f64, Mlp)> {
        data.check_compatible(net)?;
        self.gradient_resident(&self.upload(net)?, data)
    }
}
