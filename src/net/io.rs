//! Model files in the safetensors format, loadable from PyTorch
//! (`safetensors.torch.load_file`) and JAX/NumPy (`safetensors.numpy`).
//!
//! Tensors (all `F64`, little-endian, row-major), for `l = 0..L−1`:
//!
//! | name              | shape           | meaning                                |
//! |-------------------|-----------------|----------------------------------------|
//! | `layers.{l}.weight` | `[n_{l+1}, n_l]` | `W_{l+1}`, the `nn.Linear.weight` layout |
//! | `layers.{l}.bias`   | `[n_{l+1}]`      | `b_{l+1}` (only when the network has biases) |
//!
//! Metadata (string → string): `format = "hairtrigger.mlp"`, `version = "1"`,
//! `widths = "d,n_1,…,k"`, `activation` (as [`crate::Activation::parse`] reads it),
//! `bias = "true" | "false"`, and any extra entries the caller adds.
//! The forward pass is `h ← σ(h Wᵀ + b)` on hidden layers and linear output.

use crate::error::{Error, Result};
use crate::net::{Architecture, Layer, Mlp};
use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// Value of the `format` metadata key.
pub const FORMAT: &str = "hairtrigger.mlp";
/// Value of the `version` metadata key.
pub const VERSION: &str = "1";

/// A named `F64` tensor to write: shape and row-major values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Dimensions.
    pub shape: Vec<usize>,
    /// Row-major values, `shape.iter().product()` of them.
    pub data: Vec<f64>,
}

/// Little-endian `F64` values of a tensor's bytes (a trailing partial value
/// cannot occur: safetensors checks the length).
pub(crate) fn f64_values(bytes: &[u8]) -> Vec<f64> {
    bytes
        .chunks_exact(8)
        .map(|c| f64::from_le_bytes(c.try_into().expect("chunks of 8")))
        .collect()
}

pub(crate) fn to_bytes(data: &[f64]) -> Vec<u8> {
    data.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// Write named tensors and string metadata to a safetensors file.
pub fn write_tensors(
    path: &Path,
    tensors: &BTreeMap<String, Tensor>,
    metadata: HashMap<String, String>,
) -> Result<()> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(k, t)| (k.clone(), t.shape.clone(), to_bytes(&t.data)))
        .collect();
    let views = bytes
        .iter()
        .map(|(k, shape, b)| {
            TensorView::new(Dtype::F64, shape.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| Error::Serialize(format!("tensor {k}: {e:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let buf = safetensors::serialize(views, &Some(metadata))
        .map_err(|e| Error::Serialize(format!("safetensors: {e:?}")))?;
    crate::fsio::write_atomic(path, &buf)
}

/// Named tensors and string metadata, as read from a safetensors file.
pub type TensorFile = (BTreeMap<String, Tensor>, HashMap<String, String>);

/// Read every tensor (which must be `F64`) and the metadata of a safetensors file.
pub fn read_tensors(path: &Path) -> Result<TensorFile> {
    let buf = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    read_tensors_from_bytes(&buf, &path.display().to_string())
}

/// [`read_tensors`] on bytes already in memory; `origin` names them in errors.
/// Any byte string is either read or refused with an error, never a panic.
pub fn read_tensors_from_bytes(buf: &[u8], origin: &str) -> Result<TensorFile> {
    let bad = |reason: String| Error::ModelFile {
        path: origin.to_string(),
        reason,
    };
    let (_, meta) =
        SafeTensors::read_metadata(buf).map_err(|e| bad(format!("not safetensors: {e:?}")))?;
    let metadata = meta.metadata().clone().unwrap_or_default();
    let st = SafeTensors::deserialize(buf).map_err(|e| bad(format!("not safetensors: {e:?}")))?;
    let mut out = BTreeMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F64 {
            return Err(bad(format!(
                "tensor {name} has dtype {:?}, expected F64",
                view.dtype()
            )));
        }
        let data = f64_values(view.data());
        out.insert(
            name,
            Tensor {
                shape: view.shape().to_vec(),
                data,
            },
        );
    }
    Ok((out, metadata))
}

impl Mlp {
    /// Save as safetensors with the architecture in the metadata, plus `extra`
    /// metadata entries.
    pub fn save(&self, path: &Path, extra: &[(&str, String)]) -> Result<()> {
        let arch = self.architecture();
        let mut tensors = BTreeMap::new();
        for (l, layer) in self.layers().iter().enumerate() {
            tensors.insert(
                format!("layers.{l}.weight"),
                Tensor {
                    shape: vec![layer.n_out(), layer.n_in()],
                    data: layer.weight.iter().copied().collect(),
                },
            );
            if let Some(b) = &layer.bias {
                tensors.insert(
                    format!("layers.{l}.bias"),
                    Tensor {
                        shape: vec![b.len()],
                        data: b.to_vec(),
                    },
                );
            }
        }
        let mut meta: HashMap<String, String> = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        meta.insert("format".into(), FORMAT.into());
        meta.insert("version".into(), VERSION.into());
        meta.insert("widths".into(), arch.widths_string());
        meta.insert("activation".into(), arch.activation().name());
        meta.insert("bias".into(), arch.bias().to_string());
        write_tensors(path, &tensors, meta)
    }

    /// Load a network written by [`Mlp::save`] (or by any tool that follows the
    /// documented names, shapes and metadata). Errors name the path and what
    /// did not match.
    pub fn load(path: &Path) -> Result<Self> {
        let buf = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        Self::from_safetensors_bytes(&buf, &path.display().to_string())
    }

    /// [`Mlp::load`] on bytes already in memory; `origin` names them in
    /// errors. Any byte string is either a network or an error, never a panic.
    pub fn from_safetensors_bytes(buf: &[u8], origin: &str) -> Result<Self> {
        let bad = |reason: String| Error::ModelFile {
            path: origin.to_string(),
            reason,
        };
        let (mut tensors, meta) = read_tensors_from_bytes(buf, origin)?;
        let get = |k: &str| {
            meta.get(k)
                .ok_or_else(|| bad(format!("metadata key {k:?} missing")))
        };
        if get("format")? != FORMAT {
            return Err(bad(format!(
                "format is {:?}, expected {FORMAT:?}",
                meta["format"]
            )));
        }
        let bias = match get("bias")?.as_str() {
            "true" => true,
            "false" => false,
            other => return Err(bad(format!("bias metadata {other:?} is not true/false"))),
        };
        let arch = Architecture::parse(get("widths")?, get("activation")?, bias)
            .map_err(|e| bad(e.to_string()))?;
        let mut take = |name: String, shape: Vec<usize>| -> Result<Vec<f64>> {
            let t = tensors
                .remove(&name)
                .ok_or_else(|| bad(format!("tensor {name} missing")))?;
            if t.shape != shape {
                return Err(bad(format!(
                    "tensor {name} has shape {:?}, architecture needs {shape:?}",
                    t.shape
                )));
            }
            Ok(t.data)
        };
        let mut layers = Vec::with_capacity(arch.depth());
        for (l, w) in arch.widths().windows(2).enumerate() {
            let weight = Array2::from_shape_vec(
                (w[1], w[0]),
                take(format!("layers.{l}.weight"), vec![w[1], w[0]])?,
            )
            .map_err(|e| bad(e.to_string()))?;
            let bias = if bias {
                Some(Array1::from(take(format!("layers.{l}.bias"), vec![w[1]])?))
            } else {
                None
            };
            layers.push(Layer { weight, bias });
        }
        if let Some(extra) = tensors.keys().next() {
            return Err(bad(format!("unexpected tensor {extra}")));
        }
        Mlp::from_layers(layers, arch.activation()).map_err(|e| bad(e.to_string()))
    }
}
