//! Elementwise activations `σ` with their first and second derivatives.
//!
//! | name        | σ(z)                    | σ'(z)                  | σ''(z)               |
//! |-------------|-------------------------|------------------------|----------------------|
//! | identity    | z                       | 1                      | 0                    |
//! | relu        | max(z, 0)               | 1[z > 0]               | 0 (a.e.)             |
//! | leaky relu  | z if z > 0 else a·z     | 1 or a                 | 0 (a.e.)             |
//! | tanh        | tanh z                  | 1 − tanh² z            | −2 tanh z (1 − tanh² z) |
//! | gelu        | z Φ(z)                  | Φ(z) + z φ(z)          | φ(z) (2 − z²)        |
//! | sigmoid     | 1 / (1 + e^{−z})        | σ (1 − σ)              | σ (1 − σ)(1 − 2σ)    |
//!
//! GELU is the exact (erf) form, `Φ` the standard normal CDF and `φ` its density.
//! The sigmoid is the only one here with `σ(0) ≠ 0` (`σ(0) = ½`): a unit with
//! zero input is not silent, so its zero-input hair trigger uses cancelling
//! pairs (`crate::reparam::zero_input`); it satisfies `σ(−z) = 1 − σ(z)`.
//! The symmetry properties used by the reparameterizations (claim C1) are
//! [`Activation::is_positively_homogeneous`] (`σ(αz) = ασ(z)` for α > 0) and
//! [`Activation::is_odd`] (`σ(−z) = −σ(z)`).

use crate::error::{Error, Result};
use crate::kernels::elementwise::{Nonlinearity, Pass};
use serde::{Deserialize, Serialize};
use std::fmt;

const INV_SQRT_2: f64 = std::f64::consts::FRAC_1_SQRT_2;
const INV_SQRT_2PI: f64 = 0.398_942_280_401_432_7;

/// A hidden-layer activation function.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Activation {
    /// `σ(z) = z`: the network is a deep linear network.
    Identity,
    /// `σ(z) = max(z, 0)`.
    Relu,
    /// `σ(z) = z` for `z > 0`, `slope · z` otherwise (`slope ≥ 0`).
    LeakyRelu { slope: f64 },
    /// `σ(z) = tanh z`.
    Tanh,
    /// `σ(z) = z Φ(z)` (exact, erf-based).
    Gelu,
    /// The logistic sigmoid `σ(z) = 1 / (1 + e^{−z})`, bounded in `(0, 1)`.
    Sigmoid,
}

impl Nonlinearity for Activation {
    #[inline]
    fn value(self, z: f64) -> f64 {
        self.apply(z)
    }
    #[inline]
    fn derivative(self, z: f64) -> f64 {
        Activation::derivative(self, z)
    }
    #[inline]
    fn second_derivative(self, z: f64) -> f64 {
        Activation::second_derivative(self, z)
    }
    /// The variant is matched once: ReLU and leaky ReLU passes run with a
    /// type of their own (`Relu`, `LeakyRelu`), so each pass is compiled
    /// once per variant and its loop holds that variant's formulas alone
    /// (one type for both would be one compiled loop matching the variant per
    /// element); the others run with `self`.
    #[inline]
    fn dispatch<V: Pass>(self, pass: V) -> V::Output {
        match self {
            Activation::Relu => pass.run(Relu),
            Activation::LeakyRelu { slope } => pass.run(LeakyRelu(slope)),
            other => pass.run(other),
        }
    }
}

/// A type that stands for one [`Activation`] variant, for `dispatch`: each
/// such type gets its own compiled pass, and the blanket [`Nonlinearity`]
/// below forwards to that variant's methods (the constant variant folds their
/// `match`), so every value is the [`Activation`]'s, to the bit.
trait OneVariant: Copy + Send + Sync {
    fn variant(self) -> Activation;
}

impl<V: OneVariant> Nonlinearity for V {
    #[inline(always)]
    fn value(self, z: f64) -> f64 {
        self.variant().apply(z)
    }
    #[inline(always)]
    fn derivative(self, z: f64) -> f64 {
        self.variant().derivative(z)
    }
    #[inline(always)]
    fn second_derivative(self, z: f64) -> f64 {
        self.variant().second_derivative(z)
    }
}

/// [`Activation::Relu`] as a type of its own.
#[derive(Clone, Copy)]
struct Relu;

impl OneVariant for Relu {
    #[inline(always)]
    fn variant(self) -> Activation {
        Activation::Relu
    }
}

/// [`Activation::LeakyRelu`] of a given slope as a type of its own.
#[derive(Clone, Copy)]
struct LeakyRelu(f64);

impl OneVariant for LeakyRelu {
    #[inline(always)]
    fn variant(self) -> Activation {
        Activation::LeakyRelu { slope: self.0 }
    }
}

impl Activation {
    /// `σ(z)`.
    #[inline]
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Activation::Identity => z,
            Activation::Relu => z.max(0.0),
            Activation::LeakyRelu { slope } => {
                if z > 0.0 {
                    z
                } else {
                    slope * z
                }
            }
            Activation::Tanh => z.tanh(),
            Activation::Gelu => z * normal_cdf(z),
            Activation::Sigmoid => logistic(z),
        }
    }

    /// `σ'(z)`; at the kink of ReLU / leaky ReLU the right derivative at 0 is
    /// taken as the left one (`1[z > 0]`), the PyTorch convention.
    #[inline]
    pub fn derivative(self, z: f64) -> f64 {
        match self {
            Activation::Identity => 1.0,
            Activation::Relu => {
                if z > 0.0 {
                    1.0
                } else {
                    0.0
                }
            }
            Activation::LeakyRelu { slope } => {
                if z > 0.0 {
                    1.0
                } else {
                    slope
                }
            }
            Activation::Tanh => {
                let t = z.tanh();
                1.0 - t * t
            }
            Activation::Gelu => normal_cdf(z) + z * normal_pdf(z),
            Activation::Sigmoid => {
                let s = logistic(z);
                s * (1.0 - s)
            }
        }
    }

    /// `σ''(z)` (zero almost everywhere for the piecewise-linear ones).
    #[inline]
    pub fn second_derivative(self, z: f64) -> f64 {
        match self {
            Activation::Identity | Activation::Relu | Activation::LeakyRelu { .. } => 0.0,
            Activation::Tanh => {
                let t = z.tanh();
                -2.0 * t * (1.0 - t * t)
            }
            Activation::Gelu => normal_pdf(z) * (2.0 - z * z),
            Activation::Sigmoid => {
                let s = logistic(z);
                s * (1.0 - s) * (1.0 - 2.0 * s)
            }
        }
    }

    /// `σ(αz) = α σ(z)` for every `α > 0`.
    pub fn is_positively_homogeneous(self) -> bool {
        matches!(
            self,
            Activation::Identity | Activation::Relu | Activation::LeakyRelu { .. }
        )
    }

    /// `σ(−z) = −σ(z)`.
    pub fn is_odd(self) -> bool {
        matches!(self, Activation::Identity | Activation::Tanh)
    }

    /// `σ(−z) + σ(z) = 2σ(0)`, i.e. `σ − σ(0)` is odd (identity, tanh, the
    /// sigmoid): the symmetry a zero-input cancelling pair's post-step law
    /// needs (`crate::reparam::zero_input`).
    pub fn is_odd_about_zero_value(self) -> bool {
        matches!(
            self,
            Activation::Identity | Activation::Tanh | Activation::Sigmoid
        )
    }

    /// `σ(0) = 0`: a unit with zero input adds nothing to the next layer.
    pub fn is_silent_at_zero(self) -> bool {
        !matches!(self, Activation::Sigmoid)
    }

    /// `σ` is linear, so layers compose into a single matrix.
    pub fn is_linear(self) -> bool {
        matches!(self, Activation::Identity)
    }

    /// Short lowercase name, the one accepted by [`Activation::parse`].
    pub fn name(self) -> String {
        match self {
            Activation::Identity => "identity".into(),
            Activation::Relu => "relu".into(),
            Activation::LeakyRelu { slope } => format!("leaky_relu:{slope}"),
            Activation::Tanh => "tanh".into(),
            Activation::Gelu => "gelu".into(),
            Activation::Sigmoid => "sigmoid".into(),
        }
    }

    /// Parse `identity | linear | relu | leaky_relu[:slope] | tanh | gelu | sigmoid`
    /// (default leaky slope 0.01).
    pub fn parse(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        let (head, arg) = match lower.split_once(':') {
            Some((h, a)) => (h, Some(a)),
            None => (lower.as_str(), None),
        };
        let bad = |reason: &str| Error::Parse {
            what: "activation",
            input: s.to_string(),
            reason: reason.to_string(),
        };
        let act = match (head, arg) {
            ("identity" | "linear", None) => Activation::Identity,
            ("relu", None) => Activation::Relu,
            ("tanh", None) => Activation::Tanh,
            ("gelu", None) => Activation::Gelu,
            ("sigmoid" | "logistic", None) => Activation::Sigmoid,
            ("leaky_relu" | "leaky-relu" | "leakyrelu", a) => {
                let slope = match a {
                    None => 0.01,
                    Some(a) => a.parse::<f64>().map_err(|e| bad(&format!("slope: {e}")))?,
                };
                Activation::LeakyRelu { slope }
            }
            _ => {
                return Err(bad(
                    "expected identity, relu, leaky_relu[:slope], tanh, gelu or sigmoid",
                ))
            }
        };
        act.check()
    }

    /// Validate the activation's own parameter (the leaky slope).
    pub fn check(self) -> Result<Self> {
        if let Activation::LeakyRelu { slope } = self {
            if !(slope.is_finite() && slope >= 0.0) {
                return Err(Error::InvalidParameter {
                    name: "leaky_relu slope",
                    value: slope,
                    expected: "must be finite and >= 0",
                });
            }
        }
        Ok(self)
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// The logistic function, evaluated without overflow: `1 / (1 + e^{−z})` for
/// `z ≥ 0` and `e^z / (1 + e^z)` for `z < 0` (so `e^{|z|}` never overflows and
/// `σ(−∞) = 0`, `σ(+∞) = 1`, `σ(NaN) = NaN`).
#[inline]
fn logistic(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

/// Standard normal CDF `Φ(z) = ½ (1 + erf(z/√2))`.
#[inline]
fn normal_cdf(z: f64) -> f64 {
    0.5 * (1.0 + statrs::function::erf::erf(z * INV_SQRT_2))
}

/// Standard normal density `φ(z)`.
#[inline]
fn normal_pdf(z: f64) -> f64 {
    INV_SQRT_2PI * (-0.5 * z * z).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Activation; 6] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.1 },
        Activation::Tanh,
        Activation::Gelu,
        Activation::Sigmoid,
    ];

    /// Each hot pass run through `dispatch` (ReLU and leaky ReLU with their
    /// fixed-variant type) against the plain elementwise formulas, bit for bit,
    /// including ±0, NaN and ±∞ pre-activations.
    #[test]
    fn dispatched_passes_equal_the_elementwise_formulas_to_the_bit() {
        use crate::kernels;
        use ndarray::{Array1, Array2, ShapeBuilder};
        let zs = [
            -3.5,
            -1.0,
            -0.0,
            0.0,
            1e-300,
            0.25,
            2.0,
            f64::NAN,
            f64::INFINITY,
        ];
        let grid = |k: usize| {
            Array2::from_shape_fn((5, 9), |(i, j)| {
                if k == 0 {
                    zs[(i + j) % zs.len()]
                } else {
                    ((i * 7 + j * 3 + k * 5) % 17) as f64 / 4.0 - 2.0
                }
            })
        };
        let bits = |a: &Array2<f64>| a.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        let (z, g, v, w, r) = (grid(0), grid(1), grid(2), grid(3), grid(4));
        let b = Array1::from_shape_fn(9, |j| j as f64 / 3.0 - 1.0);
        // Standard layout takes the slice loops, column-major the strided
        // fallback; both, with and without a bias, must give the formulas.
        let column_major = |a: &Array2<f64>| {
            let mut f = Array2::zeros(a.dim().f());
            f.assign(a);
            f
        };
        type Layout = fn(&Array2<f64>) -> Array2<f64>;
        let layouts: [Layout; 2] = [|a| a.clone(), column_major];
        for act in ALL {
            for (layout, bias) in layouts
                .iter()
                .flat_map(|l| [(l, Some(b.view())), (l, None)])
            {
                let (z, g, v, w, r) = (layout(&z), layout(&g), layout(&v), layout(&w), layout(&r));
                let plus_bias = |a: &Array2<f64>| match bias {
                    Some(b) => a + &b,
                    None => a.clone(),
                };
                let what = format!(
                    "{act}, standard layout {}, bias {}",
                    z.is_standard_layout(),
                    bias.is_some()
                );
                let mut zf = g.clone();
                let h = kernels::affine_activate(&mut zf, bias, act);
                let zb = plus_bias(&g);
                assert_eq!(bits(&zf), bits(&zb), "{what}");
                assert_eq!(bits(&h), bits(&zb.mapv(|x| act.apply(x))), "{what}");

                let mut gi = g.clone();
                kernels::times_derivative_in_place(&mut gi, &z, act);
                let expected = ndarray::Zip::from(&g)
                    .and(&z)
                    .map_collect(|&gv, &zv| gv * act.derivative(zv));
                assert_eq!(bits(&gi), bits(&expected), "{what}");

                let mut rz = g.clone();
                let rh = kernels::tangent_activate(&mut rz, &v, bias, &z, act);
                let expected_rz = &g + &plus_bias(&v);
                let expected_rh = ndarray::Zip::from(&expected_rz)
                    .and(&z)
                    .map_collect(|&x, &zv| x * act.derivative(zv));
                assert_eq!(bits(&rz), bits(&expected_rz), "{what}");
                assert_eq!(bits(&rh), bits(&expected_rh), "{what}");

                let fused = kernels::second_order_backward(g.view(), &v, w.view(), &z, &r, act);
                let mut expected = Array2::zeros(z.dim());
                for ((i, j), e) in expected.indexed_iter_mut() {
                    let zv = z[(i, j)];
                    *e = (g[(i, j)] + v[(i, j)]) * act.derivative(zv)
                        + (w[(i, j)] * act.second_derivative(zv)) * r[(i, j)];
                }
                assert_eq!(bits(&fused), bits(&expected), "{what}");
            }
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        let h = 1e-5;
        for act in ALL {
            for &z in &[-2.3, -0.7, 0.4, 1.9] {
                let fd1 = (act.apply(z + h) - act.apply(z - h)) / (2.0 * h);
                let fd2 = (act.derivative(z + h) - act.derivative(z - h)) / (2.0 * h);
                assert!((fd1 - act.derivative(z)).abs() < 1e-8, "{act} σ' at {z}");
                assert!(
                    (fd2 - act.second_derivative(z)).abs() < 1e-8,
                    "{act} σ'' at {z}"
                );
            }
        }
    }

    #[test]
    fn symmetry_flags_hold() {
        for act in ALL {
            for &z in &[-1.5, -0.2, 0.3, 2.0] {
                if act.is_positively_homogeneous() {
                    assert!((act.apply(3.0 * z) - 3.0 * act.apply(z)).abs() < 1e-12);
                }
                if act.is_odd() {
                    assert!((act.apply(-z) + act.apply(z)).abs() < 1e-15);
                }
                let about_zero = act.apply(-z) + act.apply(z) - 2.0 * act.apply(0.0);
                assert_eq!(
                    act.is_odd_about_zero_value(),
                    about_zero.abs() < 1e-15,
                    "{act} {z}"
                );
            }
            assert_eq!(act.is_silent_at_zero(), act.apply(0.0) == 0.0, "{act}");
        }
        assert!(!Activation::Gelu.is_positively_homogeneous());
        assert!(!Activation::Relu.is_odd());
        assert!(!Activation::Sigmoid.is_odd());
    }

    /// The sigmoid's closed forms: `σ(0) = ½`, `σ'(0) = ¼`, `σ(−z) = 1 − σ(z)`,
    /// `2σ(z) − 1 = tanh(z/2)`, and no overflow in the tails.
    #[test]
    fn sigmoid_closed_forms_and_tails() {
        let s = Activation::Sigmoid;
        assert_eq!(s.apply(0.0), 0.5);
        assert_eq!(s.derivative(0.0), 0.25);
        assert_eq!(s.second_derivative(0.0), 0.0);
        for &z in &[-30.0, -3.1, -0.4, 0.7, 2.2, 25.0] {
            assert!((s.apply(-z) - (1.0 - s.apply(z))).abs() < 1e-15, "{z}");
            assert!(
                (2.0 * s.apply(z) - 1.0 - (z / 2.0).tanh()).abs() < 1e-15,
                "{z}"
            );
        }
        assert_eq!(s.apply(-1e4), 0.0);
        assert_eq!(s.apply(1e4), 1.0);
        assert_eq!(s.derivative(-1e4), 0.0);
        assert!(s.apply(f64::NAN).is_nan());
    }

    #[test]
    fn parse_round_trips_and_rejects() {
        for act in ALL {
            assert_eq!(Activation::parse(&act.name()).unwrap(), act);
        }
        assert!(Activation::parse("softplus").is_err());
        assert_eq!(Activation::parse("logistic").unwrap(), Activation::Sigmoid);
        assert!(Activation::parse("leaky_relu:-1").is_err());
        assert!(Activation::parse("leaky_relu:nan").is_err());
    }
}
