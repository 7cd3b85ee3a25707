//! The CUDA backend when the crate is built without the `gpu` feature: an
//! uninhabited type, so `Backend::Cuda` can never be constructed and every
//! match on it compiles away.

use crate::error::{Error, Result};
use crate::net::{Dataset, Mlp};
use ndarray::{Array2, ArrayView2};

/// Never constructed without the `gpu` feature.
pub enum CudaBackend {}

/// A network resident on the GPU; never constructed without the `gpu` feature.
pub enum DeviceNet {}

impl CudaBackend {
    /// Always [`Error::DeviceUnavailable`]: this build has no CUDA support.
    pub fn new(_ordinal: usize) -> Result<Self> {
        Err(Error::DeviceUnavailable(
            "CUDA requested, but hairtrigger was built without the `gpu` feature \
             (rebuild with `--features gpu`)"
                .into(),
        ))
    }

    pub(crate) fn describe(&self) -> String {
        match *self {}
    }

    pub(crate) fn forward(&self, _net: &Mlp, _x: ArrayView2<f64>) -> Result<Array2<f64>> {
        match *self {}
    }

    pub(crate) fn gradient(&self, _net: &Mlp, _data: &Dataset) -> Result<(f64, Mlp)> {
        match *self {}
    }

    pub(crate) fn hvp(&self, _net: &Mlp, _data: &Dataset, _v: &Mlp) -> Result<Mlp> {
        match *self {}
    }

    /// Uninhabited: there is no CUDA backend to upload to.
    pub fn upload(&self, _net: &Mlp) -> Result<DeviceNet> {
        match *self {}
    }

    /// Uninhabited: there is no CUDA backend to run on.
    pub fn gradient_resident(&self, _net: &DeviceNet, _data: &Dataset) -> Result<(f64, Mlp)> {
        match *self {}
    }

    /// Uninhabited: there is no CUDA backend to time.
    pub fn resident_gradient_seconds(
        &self,
        _net: &DeviceNet,
        _data: &Dataset,
        _reps: usize,
    ) -> Result<f64> {
        match *self {}
    }
}
