//! The network `θ = (W_l, b_l)_{l=1..L}` and vector-space operations on it.
//!
//! Weights follow PyTorch's `nn.Linear` layout: `W_l` is `n_l × n_{l−1}`
//! (row `j` holds the incoming weights `u_j` of unit `j`, column `j` of
//! `W_{l+1}` its outgoing weights `v_j`). A value of the same shape also serves
//! as a *tangent* vector in parameter space (a gradient, an update step, an HVP
//! direction), so gradients are returned as [`Mlp`]s.
//!
//! The flat parameter order (used by Jacobians and finite differences) is layer
//! by layer, each weight matrix row-major followed by its bias.

use crate::error::{Error, Result};
use crate::kernels;
use crate::net::{Activation, Architecture};
use ndarray::{Array1, Array2, Zip};
use rand::Rng;
use rand_distr::StandardNormal;

/// One affine layer `z = W h + b`.
#[derive(Clone, Debug, PartialEq)]
pub struct Layer {
    /// `n_out × n_in`.
    pub weight: Array2<f64>,
    /// `n_out`, absent for bias-free networks.
    pub bias: Option<Array1<f64>>,
}

impl Layer {
    /// Number of outputs `n_out`.
    pub fn n_out(&self) -> usize {
        self.weight.nrows()
    }
    /// Number of inputs `n_in`.
    pub fn n_in(&self) -> usize {
        self.weight.ncols()
    }
}

/// A fully connected network: affine layers with the same hidden activation
/// between them, linear output.
#[derive(Clone, Debug, PartialEq)]
pub struct Mlp {
    layers: Vec<Layer>,
    activation: Activation,
}

impl Mlp {
    /// Build from explicit layers, checking that consecutive shapes chain, that
    /// bias is used consistently, and that every value is finite.
    pub fn from_layers(layers: Vec<Layer>, activation: Activation) -> Result<Self> {
        if layers.is_empty() {
            return Err(Error::TooFewLayers(1));
        }
        let has_bias = layers[0].bias.is_some();
        for (l, layer) in layers.iter().enumerate() {
            if layer.n_out() == 0 {
                return Err(Error::InvalidWidth {
                    layer: l + 1,
                    width: 0,
                });
            }
            if layer.n_in() == 0 {
                return Err(Error::InvalidWidth { layer: l, width: 0 });
            }
            if l > 0 && layer.n_in() != layers[l - 1].n_out() {
                return Err(Error::DimensionMismatch {
                    context: "layer input width vs previous layer output width",
                    expected: layers[l - 1].n_out(),
                    got: layer.n_in(),
                });
            }
            match &layer.bias {
                Some(b) if b.len() != layer.n_out() => {
                    return Err(Error::DimensionMismatch {
                        context: "bias length vs layer output width",
                        expected: layer.n_out(),
                        got: b.len(),
                    })
                }
                b if b.is_some() != has_bias => {
                    return Err(Error::Parse {
                        what: "layers",
                        input: format!("layer {}", l + 1),
                        reason: "bias present on some layers only".into(),
                    })
                }
                _ => {}
            }
        }
        let net = Self {
            layers,
            activation: activation.check()?,
        };
        net.check_finite("network parameters")?;
        Ok(net)
    }

    /// Assemble layers already known to chain (shapes produced by this crate:
    /// gradients, the GPU backend's downloads).
    pub(crate) fn from_parts(layers: Vec<Layer>, activation: Activation) -> Self {
        debug_assert!(layers.windows(2).all(|w| w[0].n_out() == w[1].n_in()));
        Self { layers, activation }
    }

    /// Random initialisation: `W_l ~ N(0, g²/n_{l−1})` with gain `g = √2` for
    /// ReLU-like activations and 1 otherwise, `b_l ~ N(0, 0.1²)`.
    pub fn random<R: Rng + ?Sized>(arch: &Architecture, rng: &mut R) -> Self {
        let gain = match arch.activation() {
            Activation::Relu | Activation::LeakyRelu { .. } | Activation::Gelu => 2f64.sqrt(),
            _ => 1.0,
        };
        let layers = arch
            .widths()
            .windows(2)
            .map(|w| {
                let std = gain / (w[0] as f64).sqrt();
                Layer {
                    weight: normal_matrix(rng, w[1], w[0], std),
                    bias: arch
                        .bias()
                        .then(|| Array1::from_shape_fn(w[1], |_| 0.1 * normal(rng))),
                }
            })
            .collect();
        Self {
            layers,
            activation: arch.activation(),
        }
    }

    /// The architecture this network realises (derived from its layers).
    pub fn architecture(&self) -> Architecture {
        let mut widths = vec![self.layers[0].n_in()];
        widths.extend(self.layers.iter().map(Layer::n_out));
        Architecture::new(widths, self.activation, self.has_bias())
            .expect("layers were validated at construction")
    }

    /// The layers, input side first.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }
    /// Mutable layers. Shapes must not be changed through this (values only).
    pub fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }
    /// Hidden activation.
    pub fn activation(&self) -> Activation {
        self.activation
    }
    /// Whether layers carry biases.
    pub fn has_bias(&self) -> bool {
        self.layers[0].bias.is_some()
    }
    /// Number of weight layers `L`.
    pub fn depth(&self) -> usize {
        self.layers.len()
    }
    /// Input dimension.
    pub fn input_dim(&self) -> usize {
        self.layers[0].n_in()
    }
    /// Output dimension.
    pub fn output_dim(&self) -> usize {
        self.layers[self.layers.len() - 1].n_out()
    }
    /// Total parameter count `P`.
    pub fn num_params(&self) -> usize {
        self.layers
            .iter()
            .map(|l| l.weight.len() + l.bias.as_ref().map_or(0, |b| b.len()))
            .sum()
    }

    /// A tangent of the same shape filled with zeros.
    pub fn zeros_like(&self) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| Layer {
                weight: Array2::zeros(l.weight.raw_dim()),
                bias: l.bias.as_ref().map(|b| Array1::zeros(b.raw_dim())),
            })
            .collect();
        Self {
            layers,
            activation: self.activation,
        }
    }

    /// Apply `f` to every parameter.
    pub fn map(&self, mut f: impl FnMut(f64) -> f64) -> Self {
        let layers = self
            .layers
            .iter()
            .map(|l| Layer {
                weight: l.weight.mapv(&mut f),
                bias: l.bias.as_ref().map(|b| b.mapv(&mut f)),
            })
            .collect();
        Self {
            layers,
            activation: self.activation,
        }
    }

    /// `self ← self + α · other` (shapes must agree).
    pub fn axpy(&mut self, alpha: f64, other: &Mlp) -> Result<()> {
        self.add_map(other, |_, v| alpha * v)
    }

    /// `self ← self + f(self, other)` elementwise, in place (shapes must
    /// agree): e.g. a parameter update `θ ← θ + Δθ(θ, g)` without allocating `Δθ`.
    pub fn add_map(
        &mut self,
        other: &Mlp,
        f: impl Fn(f64, f64) -> f64 + Sync + Send,
    ) -> Result<()> {
        self.check_same_shape(other)?;
        for (a, b) in self.layers.iter_mut().zip(&other.layers) {
            kernels::add_map_in_place(&mut a.weight, &b.weight, &f);
            if let (Some(ab), Some(bb)) = (a.bias.as_mut(), b.bias.as_ref()) {
                kernels::add_map_in_place(ab, bb, &f);
            }
        }
        Ok(())
    }

    /// Combine two same-shaped parameter vectors elementwise.
    pub fn zip_map(&self, other: &Mlp, f: impl Fn(f64, f64) -> f64) -> Result<Self> {
        self.check_same_shape(other)?;
        let layers = self
            .layers
            .iter()
            .zip(&other.layers)
            .map(|(a, b)| Layer {
                weight: Zip::from(&a.weight)
                    .and(&b.weight)
                    .map_collect(|&x, &y| f(x, y)),
                bias: a
                    .bias
                    .as_ref()
                    .zip(b.bias.as_ref())
                    .map(|(x, y)| Zip::from(x).and(y).map_collect(|&p, &q| f(p, q))),
            })
            .collect();
        Ok(Self {
            layers,
            activation: self.activation,
        })
    }

    /// Euclidean inner product `⟨θ, φ⟩` over all parameters.
    pub fn dot(&self, other: &Mlp) -> Result<f64> {
        self.check_same_shape(other)?;
        Ok(self.to_flat().dot(&other.to_flat()))
    }

    /// Euclidean norm `‖θ‖₂`.
    pub fn norm(&self) -> f64 {
        let flat = self.to_flat();
        flat.dot(&flat).sqrt()
    }

    /// `max_i |θ_i|` (NaN if any parameter is NaN).
    pub fn max_abs(&self) -> f64 {
        crate::finite::max_abs(&self.to_flat())
    }

    /// All parameters as one vector, in the documented flat order.
    pub fn to_flat(&self) -> Array1<f64> {
        let mut out = Vec::with_capacity(self.num_params());
        fn push<D: ndarray::Dimension>(out: &mut Vec<f64>, a: &ndarray::Array<f64, D>) {
            // Flat order is the logical (row-major) order: a standard-layout
            // array's memory, copied at once.
            match a.as_slice() {
                Some(s) => out.extend_from_slice(s),
                None => out.extend(a.iter()),
            }
        }
        for l in &self.layers {
            push(&mut out, &l.weight);
            if let Some(b) = &l.bias {
                push(&mut out, b);
            }
        }
        Array1::from(out)
    }

    /// A network of this shape whose parameters are `flat` (flat order).
    pub fn with_flat(&self, flat: &[f64]) -> Result<Self> {
        if flat.len() != self.num_params() {
            return Err(Error::DimensionMismatch {
                context: "flat parameter vector length",
                expected: self.num_params(),
                got: flat.len(),
            });
        }
        // Each array takes the next `len` values in logical (row-major)
        // order, copied at once into a standard-layout array.
        let mut rest = flat;
        let mut take = |n: usize| {
            let (head, tail) = rest.split_at(n);
            rest = tail;
            head.to_vec()
        };
        let layers = self
            .layers
            .iter()
            .map(|l| Layer {
                weight: Array2::from_shape_vec(l.weight.dim(), take(l.weight.len()))
                    .expect("length checked above"),
                bias: l.bias.as_ref().map(|b| Array1::from(take(b.len()))),
            })
            .collect();
        Ok(Self {
            layers,
            activation: self.activation,
        })
    }

    /// Error if any parameter is NaN or infinite, naming `context`.
    pub fn check_finite(&self, context: &str) -> Result<()> {
        fn finite<D: ndarray::Dimension>(a: &ndarray::Array<f64, D>) -> bool {
            a.as_slice_memory_order()
                .map_or_else(|| a.iter().all(|v| v.is_finite()), kernels::all_finite)
        }
        for (l, layer) in self.layers.iter().enumerate() {
            let finite = finite(&layer.weight) && layer.bias.as_ref().is_none_or(finite);
            if !finite {
                return Err(Error::NonFinite(format!("{context}, layer {}", l + 1)));
            }
        }
        Ok(())
    }

    /// Error unless `other` has exactly this network's shape.
    pub fn check_same_shape(&self, other: &Mlp) -> Result<()> {
        if self.layers.len() != other.layers.len() {
            return Err(Error::DimensionMismatch {
                context: "number of layers",
                expected: self.layers.len(),
                got: other.layers.len(),
            });
        }
        for (a, b) in self.layers.iter().zip(&other.layers) {
            if a.weight.dim() != b.weight.dim() {
                return Err(Error::DimensionMismatch {
                    context: "weight element count",
                    expected: a.weight.len(),
                    got: b.weight.len(),
                });
            }
            if a.bias.is_some() != b.bias.is_some() {
                return Err(Error::DimensionMismatch {
                    context: "bias presence (1 = present)",
                    expected: usize::from(a.bias.is_some()),
                    got: usize::from(b.bias.is_some()),
                });
            }
        }
        Ok(())
    }
}

/// One standard normal draw.
pub(crate) fn normal<R: Rng + ?Sized>(rng: &mut R) -> f64 {
    rng.sample(StandardNormal)
}

/// A `rows × cols` matrix with i.i.d. `N(0, std²)` entries, filled row-major.
pub(crate) fn normal_matrix<R: Rng + ?Sized>(
    rng: &mut R,
    rows: usize,
    cols: usize,
    std: f64,
) -> Array2<f64> {
    Array2::from_shape_fn((rows, cols), |_| std * normal(rng))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::ShapeBuilder;

    /// Two layers, `3 → 2 → 2` with biases; the first weight stored
    /// column-major (a non-standard layout), so both paths of the flat copy run.
    fn net() -> Mlp {
        let w1 = Array2::from_shape_vec((2, 3).f(), vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0]).unwrap();
        let w2 = Array2::from_shape_vec((2, 2), vec![9.0, 10.0, 11.0, 12.0]).unwrap();
        let layers = vec![
            Layer {
                weight: w1,
                bias: Some(Array1::from(vec![7.0, 8.0])),
            },
            Layer {
                weight: w2,
                bias: Some(Array1::from(vec![13.0, 14.0])),
            },
        ];
        Mlp::from_layers(layers, Activation::Relu).unwrap()
    }

    #[test]
    fn flat_order_is_row_major_weights_then_bias_per_layer_and_round_trips() {
        let net = net();
        // w1 = [[1, 2, 3], [4, 5, 6]] logically, whatever its memory order.
        let expected: Vec<f64> = (1..=14).map(f64::from).collect();
        assert_eq!(net.to_flat().to_vec(), expected);
        let back = net.with_flat(&expected).unwrap();
        assert_eq!(back, net);
        let shifted: Vec<f64> = expected.iter().map(|v| v + 0.5).collect();
        assert_eq!(net.with_flat(&shifted).unwrap().to_flat().to_vec(), shifted);
        assert!(net.with_flat(&expected[..13]).is_err());
    }

    #[test]
    fn check_finite_names_the_layer_holding_a_non_finite_value() {
        assert!(net().check_finite("x").is_ok());
        for (pos, layer) in [(0usize, 1usize), (3, 1), (6, 1), (8, 2), (13, 2)] {
            let mut flat = net().to_flat().to_vec();
            flat[pos] = f64::NAN;
            let bad = net().with_flat(&flat).unwrap();
            let msg = bad.check_finite("ctx").unwrap_err().to_string();
            assert!(msg.contains(&format!("layer {layer}")), "{pos}: {msg}");
        }
    }
}
