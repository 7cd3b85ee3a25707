//! Dormant units: new hidden units with arbitrary incoming weights and bias and
//! zero outgoing weights. They add nothing to `f` (`0 · h_j = 0`), so width grows
//! freely under black-box equivalence.
//!
//! In one SGD step only their outgoing weights move:
//! `v_j⁺ = −(η/N) Σ_n h_j(x_n) r_n` (`r_n = ∂ℓ/∂f(x_n)`); their incoming weights
//! do not (that gradient carries the factor `v_j = 0`), and the rest of the
//! network updates exactly as it would without them. After the step the
//! function gains `Σ_j v_j⁺ h_j(x)`: the raw material of the hair-trigger
//! construction (claim C2, `paper-notes/c2-any-update-set.md`).

use crate::error::Result;
use crate::net::{normal_matrix, Mlp};
use crate::reparam::append_units;
use ndarray::{Array1, Array2};
use rand::Rng;

/// Append dormant units with incoming weights `u` (`m × n_{l−1}`) and biases `b`.
pub fn add_dormant_units(
    net: &Mlp,
    hidden: usize,
    u: &Array2<f64>,
    b: &Array1<f64>,
) -> Result<Mlp> {
    let next_width = net.layers().get(hidden).map_or(0, |l| l.n_out());
    append_units(net, hidden, u, b, &Array2::zeros((next_width, u.nrows())))
}

/// Append `m` dormant units with `u ~ N(0, 1/n_{l−1})` and `b ~ N(0, 1/n_{l−1})`.
pub fn add_random_dormant_units<R: Rng + ?Sized>(
    net: &Mlp,
    hidden: usize,
    m: usize,
    rng: &mut R,
) -> Result<Mlp> {
    crate::reparam::hidden_width(net, hidden)?;
    let n_in = net.layers()[hidden - 1].n_in();
    let std = 1.0 / (n_in as f64).sqrt();
    let u = normal_matrix(rng, m, n_in, std);
    let b = normal_matrix(rng, 1, m, std)
        .into_shape_with_order(m)
        .expect("1 × m");
    add_dormant_units(net, hidden, &u, &b)
}
