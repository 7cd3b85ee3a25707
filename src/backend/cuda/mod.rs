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
use crate::net::{Activation, Dataset, Mlp};
use cudarc::cublas::sys::cublasOperation_t;
use cudarc::cublas::{CudaBlas, Gemm, GemmConfig};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaSlice, CudaStream, LaunchConfig, PushKernelArg,
};
use ndarray::{Array2, ArrayView2};
use std::fmt::Debug;
use std::sync::Arc;

mod resident;

pub use resident::{DeviceAdam, DeviceData, DevicePass};

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

/// A dimension as cuBLAS's `i32`.
fn cublas_int(v: usize) -> Result<i32> {
    i32::try_from(v).map_err(|_| Error::Gpu(format!("dimension {v} exceeds cuBLAS's i32")))
}

/// `(code, slope)` of an activation in `elementwise.cu`.
fn activation_code(act: Activation) -> (i32, f32) {
    match act {
        Activation::Identity => (0, 0.0),
        Activation::Relu => (1, 0.0),
        Activation::LeakyRelu { slope } => (2, slope as f32),
        Activation::Tanh => (3, 0.0),
        Activation::Gelu => (4, 0.0),
        Activation::Sigmoid => (5, 0.0),
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

/// The kernels of `elementwise.cu`.
struct Kernels {
    bias_activate: CudaFunction,
    times_derivative: CudaFunction,
    column_sums: CudaFunction,
    tangent_activate: CudaFunction,
    second_order_backward: CudaFunction,
    axpby: CudaFunction,
    adam_step: CudaFunction,
    sum_squares: CudaFunction,
}

/// An opened CUDA device with its stream, cuBLAS handle and kernels.
pub struct CudaBackend {
    stream: Arc<CudaStream>,
    blas: CudaBlas,
    kernels: Kernels,
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
        let kernels = Kernels {
            bias_activate: load("bias_activate")?,
            times_derivative: load("times_derivative")?,
            column_sums: load("column_sums")?,
            tangent_activate: load("tangent_activate")?,
            second_order_backward: load("second_order_backward")?,
            axpby: load("axpby")?,
            adam_step: load("adam_step")?,
            sum_squares: load("sum_squares")?,
        };
        Ok(Self {
            kernels,
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
        let rows = if ta { a.cols } else { a.rows };
        let cols = if tb { b.rows } else { b.cols };
        let mut c = DeviceMatrix {
            data: self
                .stream
                .alloc_zeros::<f32>(rows * cols)
                .map_err(gpu_err)?,
            rows,
            cols,
        };
        self.gemm_into(a, ta, b, tb, &mut c, 0.0)?;
        Ok(c)
    }

    /// Row-major `C ← op(A) op(B) + β C` into `c`'s buffer, whose shape must
    /// be that of the product.
    fn gemm_into(
        &self,
        a: &DeviceMatrix,
        ta: bool,
        b: &DeviceMatrix,
        tb: bool,
        c: &mut DeviceMatrix,
        beta: f32,
    ) -> Result<()> {
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
        for (context, expected, got) in [
            ("GPU matrix product (inner dimensions)", k, kb),
            ("GPU matrix product (rows of the result)", n, c.rows),
            ("GPU matrix product (columns of the result)", m, c.cols),
        ] {
            if expected != got {
                return Err(Error::DimensionMismatch {
                    context,
                    expected,
                    got,
                });
            }
        }
        let op = |t: bool| {
            if t {
                cublasOperation_t::CUBLAS_OP_T
            } else {
                cublasOperation_t::CUBLAS_OP_N
            }
        };
        let cfg = GemmConfig {
            transa: op(tb),
            transb: op(ta),
            m: cublas_int(m)?,
            n: cublas_int(n)?,
            k: cublas_int(k)?,
            alpha: 1.0f32,
            lda: cublas_int(b.cols)?,
            ldb: cublas_int(a.cols)?,
            beta,
            ldc: cublas_int(m)?,
        };
        // SAFETY: the shapes and leading dimensions above describe the three
        // buffers exactly (row-major, contiguous), so cuBLAS stays in bounds.
        unsafe { self.blas.gemm(cfg, &b.data, &a.data, &mut c.data) }.map_err(gpu_err)
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
        let mut launch = self.stream.launch_builder(&self.kernels.bias_activate);
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

    /// `(L_D(θ), ∇_θ L_D(θ))` with the parameters already on the device (the
    /// batch uploaded, the gradient downloaded and widened to f64).
    pub fn gradient_resident(&self, net: &DeviceNet, data: &Dataset) -> Result<(f64, Mlp)> {
        Self::check_input(net, data.x().view())?;
        let data = self.upload_data(data)?;
        let pass = self.pass(net, &data)?;
        let mut grad = self.zeros_like(net)?;
        self.pass_gradient(&pass, &mut grad)?;
        let grad = self.download_net(&grad)?;
        grad.check_finite("gradient (GPU)")?;
        Ok((pass.loss(), grad))
    }

    /// `∇²_θ L_D(θ) · v` (see [`crate::net::hvp`]), in f32 on the device.
    pub(crate) fn hvp(&self, net: &Mlp, data: &Dataset, v: &Mlp) -> Result<Mlp> {
        data.check_compatible(net)?;
        net.check_same_shape(v)?;
        let (dev, dir) = (self.upload(net)?, self.upload(v)?);
        let data = self.upload_data(data)?;
        let pass = self.pass(&dev, &data)?;
        let mut out = self.zeros_like(&dev)?;
        self.pass_hvp(&pass, &dir, &mut out)?;
        let out = self.download_net(&out)?;
        out.check_finite("Hessian-vector product (GPU)")?;
        Ok(out)
    }

    pub(crate) fn forward(&self, net: &Mlp, x: ArrayView2<f64>) -> Result<Array2<f64>> {
        self.forward_resident(&self.upload(net)?, x)
    }

    pub(crate) fn gradient(&self, net: &Mlp, data: &Dataset) -> Result<(f64, Mlp)> {
        data.check_compatible(net)?;
        self.gradient_resident(&self.upload(net)?, data)
    }
}
