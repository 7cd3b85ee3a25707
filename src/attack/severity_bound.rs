//! A certified upper bound on the one-unit severity `φ₁*` (claim C3), for
//! piecewise-linear activations `σ(a) = α a + (1 − α) relu(a)` (identity
//! `α = 1`, ReLU `α = 0`, leaky ReLU `α = slope`).
//!
//! With `y = (u, b)`, `ẑ = (z, 1)`, `t = y·ẑ⁺(q)` and `c_n = −Δr_n`, a dormant
//! unit moves the query's margin by (see [`super::severity`])
//!
//! `φ(y) = η σ(t) g(y)`, `g(y) = Σ_n c_n σ(y·ẑ_n) = α y·U + Σ_n κ_n relu(y·ẑ_n)`,
//!
//! `U = Σ_n c_n ẑ_n`, `κ_n = (1 − α) c_n`. Since `relu ≥ 0` and
//! `Σ_{n∈P} κ_n relu(a_n) = max_{S⊆P} Σ_{n∈S} κ_n a_n` (`P = {κ_n > 0}`,
//! `N = {κ_n < 0}`),
//!
//! `min_{w∈W⁻} y·w ≤ g(y) ≤ max_{w∈W⁺} y·w`, `W^± = {αU + Σ_{n∈S} κ_n ẑ_n : S ⊆ P (resp. N)}`.
//!
//! For `t ≥ 0`, `φ/η = t g ≤ max_{W⁺} (y·ẑ_q)(y·w)`; for `t < 0`,
//! `φ/η = α t g ≤ α max_{W⁻} (y·ẑ_q)(y·w)`. Each `W^±` lies in the coordinate
//! box `R^± = Π_i [lo_i, hi_i]`, `lo_i = αU_i + Σ_{n∈S} min(0, κ_n ẑ_ni)` and
//! `hi_i` with `max`, over the corresponding `S = P` or `N`. Then, for all `y`
//! in the budget's unit ball:
//!
//! - **ℓ∞** (`|y|_∞ ≤ 1`, every parameter bounded by `B = 1`): by AM–GM
//!   `(y·q)(y·w) ≤ (λ y·q + y·w/λ)²/4` for every `λ > 0`, and
//!   `max_{|y|_∞≤1, w∈R} |y·(λq + w/λ)| = Σ_i max(|λq_i + lo_i/λ|, |λq_i + hi_i/λ|)`;
//!   the bound is the smallest of these over a grid of `λ` (any `λ` is valid).
//! - **ℓ2** (`‖y‖₂ ≤ 1`, a Euclidean budget `ρ = 1` on the units' incoming
//!   weights): `max_{‖y‖≤1} (y·q)(y·w) = (‖q‖‖w‖ + q·w)/2` exactly, with
//!   `max_{w∈R} ‖w‖ = (Σ_i max(lo_i², hi_i²))^{1/2}` and
//!   `max_{w∈W^±} q·w = α q·U + Σ_{n∈P (resp. N)} max(0, κ_n q·ẑ_n)`.
//!
//! `φ` is positively homogeneous of degree 2 and dormant units do not interact,
//! so `m` units with every parameter in `[−B, B]` hide at most `m B² φ̄∞` and
//! units whose incoming weights have total squared norm `ρ²` at most `ρ² φ̄₂`,
//! whatever `m` (`paper-notes/c3-scaling.md`).

use crate::error::{Error, Result};
use crate::net::Activation;
use ndarray::{Array1, Array2, ArrayView1, Axis};

/// Which ball the dormant units' incoming weights `(u, b)` live in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Budget {
    /// Every parameter bounded: `|(u, b)|_∞ ≤ B` per unit.
    Linf,
    /// A Euclidean budget on all units together: `Σ_j ‖(u_j, b_j)‖₂² ≤ ρ²`.
    L2,
}

/// The relaxation of `φ` shared by the bound and the search's analytic
/// candidates: `ẑ_q`, the linear slope `α` and the boxes `R⁺`, `R⁻`.
#[derive(Clone, Debug)]
pub struct Relaxation {
    /// `ẑ⁺(q) = (z⁺(q), 1)`.
    pub query: Array1<f64>,
    /// `α` of `σ(a) = α a + (1 − α) relu(a)`.
    pub alpha: f64,
    /// `αU + Σ_{n∈P} κ_n ẑ_n`: the upper family's point with every positive term on.
    pub upper_all: Array1<f64>,
    upper: (Array1<f64>, Array1<f64>),
    lower: (Array1<f64>, Array1<f64>),
    /// `max_{w∈W⁺} q·w` and `max_{w∈W⁻} q·w`.
    upper_q: f64,
    lower_q: f64,
}

/// `α` of a piecewise-linear activation, or `NotApplicable`.
fn linear_slope(act: Activation) -> Result<f64> {
    match act {
        Activation::Identity => Ok(1.0),
        Activation::Relu => Ok(0.0),
        Activation::LeakyRelu { slope } => Ok(slope),
        Activation::Tanh | Activation::Gelu | Activation::Sigmoid => Err(Error::NotApplicable {
            construction: "the certified severity bound",
            activation: format!("{act:?}"),
            reason: "it needs σ(a) = α a + (1 − α) relu(a); bounded activations have their own bound (attack::bounds)",
        }),
    }
}

impl Relaxation {
    /// From the update set's last-hidden inputs `z_d` (`N × d`), the query's
    /// post-step input `z_q` (`1 × d`) and the margin residuals `dr` (`N`).
    pub fn new(
        act: Activation,
        z_d: &Array2<f64>,
        z_q: &Array2<f64>,
        dr: &Array1<f64>,
    ) -> Result<Self> {
        let alpha = linear_slope(act)?;
        let (n, d) = z_d.dim();
        if z_q.dim() != (1, d) {
            return Err(Error::DimensionMismatch {
                context: "severity bound: one query's features, as wide as the update set's",
                expected: d,
                got: z_q.len(),
            });
        }
        if dr.len() != n {
            return Err(Error::DimensionMismatch {
                context: "severity bound: one margin residual per update sample",
                expected: n,
                got: dr.len(),
            });
        }
        if z_d
            .iter()
            .chain(z_q.iter())
            .chain(dr.iter())
            .any(|v| !v.is_finite())
        {
            return Err(Error::NonFinite(
                "severity bound: the update set's features, the query's or the margin residuals"
                    .into(),
            ));
        }
        let hat = |row: ArrayView1<f64>| {
            let mut v = Array1::ones(d + 1);
            v.slice_mut(ndarray::s![..d]).assign(&row);
            v
        };
        let query = hat(z_q.row(0));
        let c = dr.mapv(|v| -v);
        let zh: Vec<Array1<f64>> = z_d.axis_iter(Axis(0)).map(hat).collect();
        let u: Array1<f64> = zh
            .iter()
            .zip(c.iter())
            .fold(Array1::zeros(d + 1), |acc, (z, &cn)| acc + &(z * cn));
        let base = &u * alpha;
        let qu = alpha * query.dot(&u);
        let (mut up_lo, mut up_hi, mut lo_lo, mut lo_hi) =
            (base.clone(), base.clone(), base.clone(), base.clone());
        let (mut upper_all, mut upper_q, mut lower_q) = (base.clone(), qu, qu);
        for (z, &cn) in zh.iter().zip(c.iter()) {
            let kappa = (1.0 - alpha) * cn;
            let term = z * kappa;
            let (lo, hi) = if kappa > 0.0 {
                upper_all += &term;
                upper_q += query.dot(&term).max(0.0);
                (&mut up_lo, &mut up_hi)
            } else if kappa < 0.0 {
                lower_q += query.dot(&term).max(0.0);
                (&mut lo_lo, &mut lo_hi)
            } else {
                continue;
            };
            lo.zip_mut_with(&term, |l, &t| *l += t.min(0.0));
            hi.zip_mut_with(&term, |h, &t| *h += t.max(0.0));
        }
        Ok(Self {
            query,
            alpha,
            upper_all,
            upper: (up_lo, up_hi),
            lower: (lo_lo, lo_hi),
            upper_q,
            lower_q,
        })
    }

    /// `max_y max_{w∈R} (y·q)(y·w)` over the unit ball of `budget`, for one box `R`.
    fn branch(&self, budget: Budget, (lo, hi): &(Array1<f64>, Array1<f64>), q_dot: f64) -> f64 {
        let q = &self.query;
        match budget {
            Budget::L2 => {
                let w_norm = lo
                    .iter()
                    .zip(hi.iter())
                    .map(|(l, h)| (l * l).max(h * h))
                    .sum::<f64>()
                    .sqrt();
                (q.dot(q).sqrt() * w_norm + q_dot).max(0.0) / 2.0
            }
            Budget::Linf => {
                let at = |lam: f64| {
                    let s: f64 = (0..q.len())
                        .map(|i| {
                            (lam * q[i] + lo[i] / lam)
                                .abs()
                                .max((lam * q[i] + hi[i] / lam).abs())
                        })
                        .sum();
                    s * s / 4.0
                };
                // The balancing λ₀ = (‖w‖₁/‖q‖₁)^{1/2}, then ×/÷ e⁸ on a grid.
                let (qn, wn) = (
                    q.iter().map(|v| v.abs()).sum::<f64>(),
                    lo.iter()
                        .zip(hi.iter())
                        .map(|(l, h)| l.abs().max(h.abs()))
                        .sum::<f64>(),
                );
                if qn == 0.0 || wn == 0.0 {
                    return 0.0;
                }
                let lam0 = (wn / qn).sqrt();
                (0..=400)
                    .map(|k| at(lam0 * (-8.0 + 16.0 * k as f64 / 400.0).exp()))
                    .fold(f64::INFINITY, crate::finite::nan_min)
            }
        }
    }

    /// The certified bound `φ̄ ≥ max φ` over the unit ball of `budget`, at rate `eta`.
    pub fn certified_bound(&self, budget: Budget, eta: f64) -> f64 {
        let up = self.branch(budget, &self.upper, self.upper_q);
        let down = if self.alpha > 0.0 {
            self.alpha * self.branch(budget, &self.lower, self.lower_q)
        } else {
            0.0
        };
        eta * up.max(down)
    }
}
