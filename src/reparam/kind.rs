//! The kinds of forward-equivalent reparameterization, and a random instance
//! of each: the parameter distributions `hairtrigger equiv` measures. Two of
//! them are isometries of parameter space (a permutation, a sign flip of an odd
//! activation): for those the one-step future is the same function, up to
//! rounding; every other kind changes the gradient.

use crate::error::Result;
use crate::net::Mlp;
use crate::reparam;
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

/// The forward-equivalent reparameterizations of this module, each with a
/// random instance (as `hairtrigger equiv` and property tests draw them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ReparamKind {
    /// `(A W_l, W_{l+1} A⁻¹)`, random well-conditioned `A`.
    LinearChain,
    /// `α_j = exp(U(−1, 1))` per unit.
    PositiveScaling,
    /// Each unit flipped with probability ½.
    SignFlip,
    /// A uniformly random permutation.
    Permutation,
    /// A random unit split with `β = 0.3`.
    Split,
    /// `max(1, n/4)` random dormant units.
    Dormant,
    /// A `±v` pair copying a random unit's incoming weights, `v ~ N(0, 1/n_{l+1})`.
    CancellingPair,
}

impl ReparamKind {
    /// Every construction, in report order.
    pub const ALL: [ReparamKind; 7] = [
        ReparamKind::LinearChain,
        ReparamKind::PositiveScaling,
        ReparamKind::SignFlip,
        ReparamKind::Permutation,
        ReparamKind::Split,
        ReparamKind::Dormant,
        ReparamKind::CancellingPair,
    ];

    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            ReparamKind::LinearChain => "linear_chain",
            ReparamKind::PositiveScaling => "positive_scaling",
            ReparamKind::SignFlip => "sign_flip",
            ReparamKind::Permutation => "permutation",
            ReparamKind::Split => "split",
            ReparamKind::Dormant => "dormant",
            ReparamKind::CancellingPair => "cancelling_pair",
        }
    }

    /// Whether `θ ↦ θ'` is an isometry of parameter space (then the one-step
    /// future is the same function, up to rounding).
    pub fn is_isometry(self) -> bool {
        matches!(self, ReparamKind::SignFlip | ReparamKind::Permutation)
    }

    /// Apply a random instance at hidden layer `hidden`.
    pub fn apply_random<R: Rng + ?Sized>(
        self,
        net: &Mlp,
        hidden: usize,
        rng: &mut R,
    ) -> Result<Mlp> {
        let n = reparam::hidden_width(net, hidden)?;
        match self {
            ReparamKind::LinearChain => {
                let g = crate::net::normal_matrix(rng, n, n, 0.3 / (n as f64).sqrt());
                let a = Array2::from_shape_fn((n, n), |(i, j)| {
                    let diag = if i == j {
                        (0.5 * rng.random_range(-1.0..1.0f64)).exp()
                    } else {
                        0.0
                    };
                    diag + g[[i, j]]
                });
                reparam::rescale_linear_chain(net, hidden, &a)
            }
            ReparamKind::PositiveScaling => {
                let alphas: Vec<f64> = (0..n)
                    .map(|_| rng.random_range(-1.0..1.0f64).exp())
                    .collect();
                reparam::scale_units(net, hidden, &alphas)
            }
            ReparamKind::SignFlip => {
                let flips: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
                reparam::flip_signs(net, hidden, &flips)
            }
            ReparamKind::Permutation => {
                let mut perm: Vec<usize> = (0..n).collect();
                perm.shuffle(rng);
                reparam::permute_units(net, hidden, &perm)
            }
            ReparamKind::Split => reparam::split_unit(net, hidden, rng.random_range(0..n), 0.3),
            ReparamKind::Dormant => {
                reparam::add_random_dormant_units(net, hidden, (n / 4).max(1), rng)
            }
            ReparamKind::CancellingPair => {
                let j = rng.random_range(0..n);
                let inc = &net.layers()[hidden - 1];
                let u = inc.weight.row(j).to_owned();
                let b = inc.bias.as_ref().map_or(0.0, |b| b[j]);
                let n_next = net.layers()[hidden].n_out();
                let v: Array1<f64> =
                    crate::net::normal_matrix(rng, n_next, 1, 1.0 / (n_next as f64).sqrt())
                        .column(0)
                        .to_owned();
                reparam::add_cancelling_pair(net, hidden, &u, b, &v)
            }
        }
    }
}
