//! Fully connected networks as PyTorch users save them, read and written back
//! in the layout they came in.
//!
//! Accepted key layouts (biases all present or all absent):
//! * the crate's own (`format = "hairtrigger.mlp"` metadata, see [`super::io`]);
//! * `nn.Sequential` state dicts: `{i}.weight` `[n_out, n_in]`, `{i}.bias`,
//!   with the Linear modules at increasing indices `i` (`0, 2, 4, …` when
//!   activations sit between them);
//! * `layers.{l}.weight` / `layers.{l}.bias` without the crate's metadata.
//!
//! Dtypes `F64`, `F32`, `F16` and `BF16` are read and computed in f64. The
//! activation comes from an `activation` metadata entry if present, else from
//! the caller (`--act`). [`save_like`] writes a network back with the naming
//! and dtype it was read in (so `model.load_state_dict(load_file(path))`
//! works once the model has the new widths), rounding to nearest.

use super::io::FORMAT;
use super::{Activation, Layer, Mlp};
use crate::error::{Error, Result};
use ndarray::{Array1, Array2};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// How the tensors of a file were named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Naming {
    /// The crate's own format.
    Hairtrigger,
    /// `nn.Sequential`: the Linear modules' indices, in order.
    Sequential(Vec<usize>),
    /// `layers.{l}` without the crate's metadata.
    Layers,
}

/// Where a model came from: its naming and dtype.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub naming: Naming,
    pub dtype: Dtype,
}

fn to_f64(view: &TensorView, name: &str, bad: &dyn Fn(String) -> Error) -> Result<Vec<f64>> {
    let d = view.data();
    Ok(match view.dtype() {
        Dtype::F64 => super::io::f64_values(d),
        Dtype::F32 => d
            .chunks_exact(4)
            .map(|c| f64::from(f32::from_le_bytes(c.try_into().expect("chunks of 4"))))
            .collect(),
        Dtype::BF16 => d
            .chunks_exact(2)
            .map(|c| {
                f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([c[0], c[1]])) << 16,
                ))
            })
            .collect(),
        Dtype::F16 => d
            .chunks_exact(2)
            .map(|c| f16_to_f64(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        other => {
            return Err(bad(format!(
                "tensor {name} has dtype {other:?}; supported: F64, F32, F16, BF16"
            )))
        }
    })
}

/// IEEE binary16 → f64 (exact).
pub fn f16_to_f64(h: u16) -> f64 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((h >> 10) & 0x1f);
    let frac = f64::from(h & 0x3ff);
    sign * match exp {
        0 => frac * 2f64.powi(-24),
        31 if frac == 0.0 => f64::INFINITY,
        31 => f64::NAN,
        e => (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

/// f64 → IEEE binary16, rounding to nearest (ties to even) through f32.
pub fn f64_to_f16(x: f64) -> u16 {
    let f = x as f32;
    let bits = f.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exp = ((bits >> 23) & 0xff) as i32;
    let mant = bits & 0x7f_ffff;
    if exp == 0xff {
        return sign | 0x7c00 | if mant != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 31 {
        return sign | 0x7c00;
    }
    if e <= 0 {
        if e < -10 {
            return sign;
        }
        let m = mant | 0x80_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rounded = (m + half - 1 + ((m >> shift) & 1)) >> shift;
        return sign | rounded as u16;
    }
    let rounded = mant + 0xfff + ((mant >> 13) & 1);
    if rounded & 0x80_0000 != 0 {
        // The mantissa overflowed into the exponent.
        let e = e + 1;
        if e >= 31 {
            return sign | 0x7c00;
        }
        return sign | ((e as u16) << 10);
    }
    sign | ((e as u16) << 10) | (rounded >> 13) as u16
}

fn from_f64(data: &[f64], dtype: Dtype) -> Vec<u8> {
    match dtype {
        Dtype::F32 => data
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect(),
        Dtype::BF16 => data
            .iter()
            .flat_map(|&v| {
                let b = (v as f32).to_bits();
                let r = b.wrapping_add(0x7fff + ((b >> 16) & 1));
                ((r >> 16) as u16).to_le_bytes()
            })
            .collect(),
        Dtype::F16 => data
            .iter()
            .flat_map(|&v| f64_to_f16(v).to_le_bytes())
            .collect(),
        _ => super::io::to_bytes(data),
    }
}

/// Read a model in any accepted layout (see the module documentation);
/// `act` is used when the file names no activation. Errors name the file and
/// what did not match; any byte string is a model or an error, never a panic.
pub fn load_any(path: &Path, act: Option<Activation>) -> Result<(Mlp, Layout)> {
    let buf = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    from_bytes_any(&buf, &path.display().to_string(), act)
}

/// [`load_any`] on bytes in memory.
pub fn from_bytes_any(buf: &[u8], origin: &str, act: Option<Activation>) -> Result<(Mlp, Layout)> {
    let bad = |reason: String| Error::ModelFile {
        path: origin.to_string(),
        reason,
    };
    let (_, meta) =
        SafeTensors::read_metadata(buf).map_err(|e| bad(format!("not safetensors: {e:?}")))?;
    let meta = meta.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) == Some(FORMAT) {
        let net = Mlp::from_safetensors_bytes(buf, origin)?;
        return Ok((
            net,
            Layout {
                naming: Naming::Hairtrigger,
                dtype: Dtype::F64,
            },
        ));
    }
    let st = SafeTensors::deserialize(buf).map_err(|e| bad(format!("not safetensors: {e:?}")))?;
    let names: Vec<String> = st.names().into_iter().cloned().collect();
    let index_of = |n: &str, prefix: &str| -> Option<usize> {
        n.strip_prefix(prefix)?
            .strip_suffix(".weight")?
            .parse()
            .ok()
    };
    let (naming, mut indices): (Naming, Vec<usize>) = {
        let seq: Vec<usize> = names.iter().filter_map(|n| index_of(n, "")).collect();
        let lay: Vec<usize> = names
            .iter()
            .filter_map(|n| index_of(n, "layers."))
            .collect();
        if !seq.is_empty() && lay.is_empty() {
            (Naming::Sequential(Vec::new()), seq)
        } else if !lay.is_empty() && seq.is_empty() {
            (Naming::Layers, lay)
        } else {
            return Err(bad(
                "expected nn.Sequential keys (0.weight, 2.weight, …) or layers.{l}.weight".into(),
            ));
        }
    };
    indices.sort_unstable();
    let key = |i: usize, what: &str| match naming {
        Naming::Layers => format!("layers.{i}.{what}"),
        _ => format!("{i}.{what}"),
    };
    let mut dtype = None;
    let mut layers = Vec::new();
    let mut used = 0;
    for &i in &indices {
        let wname = key(i, "weight");
        let w = st
            .tensor(&wname)
            .map_err(|e| bad(format!("{wname}: {e:?}")))?;
        if *dtype.get_or_insert(w.dtype()) != w.dtype() {
            return Err(bad(format!(
                "{wname} has dtype {:?}, others {dtype:?}",
                w.dtype()
            )));
        }
        let shape = w.shape().to_vec();
        if shape.len() != 2 {
            return Err(bad(format!(
                "{wname} has shape {shape:?}, expected [n_out, n_in]"
            )));
        }
        if let Some(prev) = layers.last().map(|l: &Layer| l.n_out()) {
            if shape[1] != prev {
                return Err(bad(format!(
                    "shapes do not chain: {wname} takes {} inputs, the previous layer gives {prev}",
                    shape[1]
                )));
            }
        }
        let weight = Array2::from_shape_vec((shape[0], shape[1]), to_f64(&w, &wname, &bad)?)
            .map_err(|e| bad(e.to_string()))?;
        used += 1;
        let bname = key(i, "bias");
        let bias = match st.tensor(&bname) {
            Ok(b) => {
                if b.shape() != [shape[0]] {
                    return Err(bad(format!(
                        "{bname} has shape {:?}, expected [{}]",
                        b.shape(),
                        shape[0]
                    )));
                }
                used += 1;
                Some(Array1::from(to_f64(&b, &bname, &bad)?))
            }
            Err(_) => None,
        };
        layers.push(Layer { weight, bias });
    }
    if used != names.len() {
        return Err(bad(format!(
            "{} tensors are neither a layer's weight nor its bias",
            names.len() - used
        )));
    }
    if layers.iter().any(|l| l.bias.is_some()) && layers.iter().any(|l| l.bias.is_none()) {
        return Err(bad("some layers have a bias and some do not".into()));
    }
    let act = match meta.get("activation") {
        Some(a) => Activation::parse(a).map_err(|e| bad(e.to_string()))?,
        None => act.ok_or_else(|| {
            bad("no activation in the metadata: say which with --act (relu, leaky_relu:0.01, tanh, gelu, sigmoid, identity)".into())
        })?,
    };
    let naming = match naming {
        Naming::Sequential(_) => Naming::Sequential(indices),
        n => n,
    };
    let net = Mlp::from_layers(layers, act).map_err(|e| bad(e.to_string()))?;
    Ok((
        net,
        Layout {
            naming,
            dtype: dtype.unwrap_or(Dtype::F64),
        },
    ))
}

/// Write `net` with the naming and dtype of `layout` (the activation and the
/// widths in the metadata); the crate's own layout goes through [`Mlp::save`].
pub fn save_like(net: &Mlp, path: &Path, layout: &Layout, extra: &[(&str, String)]) -> Result<()> {
    let names: Vec<usize> = match &layout.naming {
        Naming::Hairtrigger => return net.save(path, extra),
        Naming::Sequential(idx) if idx.len() == net.depth() => idx.clone(),
        Naming::Sequential(_) => (0..net.depth()).map(|l| 2 * l).collect(),
        Naming::Layers => (0..net.depth()).collect(),
    };
    let key = |i: usize, what: &str| match layout.naming {
        Naming::Layers => format!("layers.{i}.{what}"),
        _ => format!("{i}.{what}"),
    };
    let mut bytes: BTreeMap<String, (Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for (layer, &i) in net.layers().iter().zip(&names) {
        let w: Vec<f64> = layer.weight.iter().copied().collect();
        bytes.insert(
            key(i, "weight"),
            (
                vec![layer.n_out(), layer.n_in()],
                from_f64(&w, layout.dtype),
            ),
        );
        if let Some(b) = &layer.bias {
            bytes.insert(
                key(i, "bias"),
                (vec![b.len()], from_f64(&b.to_vec(), layout.dtype)),
            );
        }
    }
    let views = bytes
        .iter()
        .map(|(k, (shape, b))| {
            TensorView::new(layout.dtype, shape.clone(), b)
                .map(|v| (k.clone(), v))
                .map_err(|e| Error::Serialize(format!("tensor {k}: {e:?}")))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut meta: HashMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    meta.insert("activation".into(), net.activation().name());
    meta.insert("widths".into(), net.architecture().widths_string());
    let buf = safetensors::serialize(views, &Some(meta))
        .map_err(|e| Error::Serialize(format!("safetensors: {e:?}")))?;
    crate::fsio::write_atomic(path, &buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_round_trips_and_matches_known_values() {
        for (bits, v) in [
            (0x3c00u16, 1.0),
            (0xc000, -2.0),
            (0x3555, 0.333251953125),
            (0x0001, 5.960464477539063e-8),
            (0x7bff, 65504.0),
        ] {
            assert_eq!(f16_to_f64(bits), v);
            assert_eq!(f64_to_f16(v), bits);
        }
        assert_eq!(f64_to_f16(1e6), 0x7c00);
        for bits in 0u16..0x7c00 {
            assert_eq!(f64_to_f16(f16_to_f64(bits)), bits, "{bits:#x}");
        }
    }
}
