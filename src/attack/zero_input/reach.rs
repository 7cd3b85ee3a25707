//! Reachability by zero-input units under SGD: the kernel-weighted
//! residuals `r̃(q)` and the margins `max_{c≠t} r̃(q)[c]` whose sign decides
//! whether any zero-input units can make `t` win (proved below and in the
//! parent module's docs).

use crate::error::{Error, Result};
use crate::net::{Dataset, Mlp};
use crate::update::{one_step, StepConfig};
use ndarray::Array2;

/// `r̃(q) = Σ_n r_n (z(x_n)·z⁺(q) + 1)` at each query (rows, `K × k`): the
/// residuals `r_n` of `base` on `update` weighted by the kernel of the last
/// hidden layer's input before (`z`, on `update`) and after one SGD step of
/// rate `eta` (`z⁺`, at the queries); the `+1` is the bias (absent without
/// biases). This is the vector a zero-input unit's post-step gain is read
/// against (the parent module's docs).
pub fn kernel_residuals(
    base: &Mlp,
    update: &Dataset,
    eta: f64,
    queries: ndarray::ArrayView2<f64>,
) -> Result<Array2<f64>> {
    update.check_compatible(base)?;
    let residuals = crate::net::output_residuals(base, update)?;
    let z_d = base.last_hidden_input(update.x().view())?;
    let z_q = one_step(base, update, &StepConfig::sgd(eta)?)?
        .updated
        .last_hidden_input(queries)?;
    let bias = if base.has_bias() { 1.0 } else { 0.0 };
    let kernel = crate::kernels::matmul_nt(z_q.view(), z_d.view()) + bias; // K × N
    Ok(crate::kernels::matmul(kernel.view(), residuals.view()))
}

/// Single-target reachability by zero-input units under SGD: for each query,
/// `max_{c≠t} r̃(q)[c]` (see [`kernel_residuals`]).
///
/// **A query whose value is `≤ 0` is unreachable** — no number of zero-input
/// units, with any directions and scales, makes `t` the arg-max after the
/// step, for any activation with `sign σ(x) = sign x` (leaky ReLU, tanh,
/// GELU). Proof: the twin's post-step logits are exactly
/// `f_{θ⁺}(q) + g`, `g = Σ_j s_j ŵ_j σ(−η σ'(0) s_j ŵ_j·r̃(q))`, so
/// `g·r̃(q) = Σ_j s_j (ŵ_j·r̃) σ(−η σ'(0) s_j ŵ_j·r̃) ≤ 0`. With softmax
/// cross-entropy `Σ_c r̃[c] = 0`, so `r̃[c] ≤ 0` for every `c ≠ t` means
/// `r̃ = Σ_{c≠t} λ_c (e_t − e_c)` with `λ_c = −r̃[c] ≥ 0`, and
/// `Σ_c λ_c (g_t − g_c) = g·r̃ ≤ 0`: the gain cannot raise `f_t − f_c` for
/// every `c` (when `λ = 0` it is zero). A query the aligned model does not
/// already give `t` therefore keeps some `f_c ≥ f_t`. ∎ (The converse — a
/// positive value makes the single target reachable — holds for leaky ReLU,
/// parent module docs; for tanh and GELU it needs the scale the LP allows.)
pub fn sgd_reach_margins(
    base: &Mlp,
    update: &Dataset,
    eta: f64,
    queries: ndarray::ArrayView2<f64>,
    target: usize,
) -> Result<Vec<f64>> {
    let k = base.output_dim();
    if k < 2 {
        return Err(Error::InvalidParameter {
            name: "classes of the network (zero-input reachability)",
            value: k as f64,
            expected: "at least 2",
        });
    }
    if target >= k {
        return Err(Error::LabelOutOfRange {
            sample: 0,
            label: target,
            classes: k,
        });
    }
    Ok(reach_margins(
        &kernel_residuals(base, update, eta, queries)?,
        target,
    ))
}

/// `max_{c≠t} r̃(q)[c]` for each row of `r̃` (`K × k`, `k ≥ 2`, `t < k`): the
/// margins of [`sgd_reach_margins`] from residuals already computed. A NaN
/// entry gives a NaN margin.
pub fn reach_margins(rt: &Array2<f64>, target: usize) -> Vec<f64> {
    let k = rt.ncols();
    rt.rows()
        .into_iter()
        .map(|row| {
            (0..k)
                .filter(|&c| c != target)
                .map(|c| row[c])
                .fold(f64::NEG_INFINITY, crate::finite::nan_max)
        })
        .collect()
}
