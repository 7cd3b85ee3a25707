//! Counting bounds on what a family of hair-trigger twins can express: the
//! number of cells of a hyperplane arrangement (Zaslavsky / Cover) and the
//! sign-pattern (dimension-counting, Warren 1968) upper bound on how many
//! independent random targets `m` dormant units can hit in one step
//! (claim C3, breadth; `paper-notes/c3-scaling.md`).

/// `ln Σ_{i ≤ m} C(p, i)`, the log of the largest number of cells of `p`
/// affine hyperplanes in `ℝ^m` (Zaslavsky / Cover).
pub fn ln_max_cells(p: usize, m: usize) -> f64 {
    let terms: Vec<f64> = (0..=m.min(p)).map(|i| ln_binomial(p, i)).collect();
    let top = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    top + terms.iter().map(|t| (t - top).exp()).sum::<f64>().ln()
}

fn ln_binomial(n: usize, k: usize) -> f64 {
    ln_factorial(n) - ln_factorial(k) - ln_factorial(n - k)
}

fn ln_factorial(n: usize) -> f64 {
    statrs::function::gamma::ln_gamma(n as f64 + 1.0)
}

/// The sign-pattern (dimension-counting) upper bound on `K*` for `m` dormant
/// ReLU (or leaky ReLU) units fed by `n_in` inputs, `N` update samples, `k`
/// classes, at level `δ`: the smallest `K` with `ln C(K) ≤ ln δ + K ln(k − 1)`,
/// where
///
/// `C(K) = [2 Σ_{i≤n_in} C(K+N−1, i)]^m · W(K)`
///
/// counts the argmax patterns the family can produce on `K` queries: the first
/// factor bounds the activation patterns of each unit on the `K + N` points
/// (a central arrangement of `K+N` hyperplanes in `w_j = α_j (u_j, b_j) ∈
/// ℝ^{n_in+1}`); within one pattern the `P = K·C(k,2)` pairwise logit
/// differences are polynomials of degree 2 in the `v = m(n_in + 1)`
/// parameters `w_j`, whose nonzero sign patterns number at most
/// `W = (4e·2·P/v)^v` for `P ≥ v` (Warren 1968) and `2^P` otherwise. A
/// uniformly random assignment of the `(k−1)^K` is realisable with
/// probability at most `C(K)/(k−1)^K`.
///
/// *Why degree 2 in `n_in + 1` per unit.* A dormant unit's feature is
/// positively homogeneous, `σ(w·x̃) = |w| σ(ŵ·x̃)`, so its scale `α_j` is not a
/// parameter of its own: with `x̃ = (x, 1)`, its post-step term at `q` is
/// `−(η/N) Σ_n σ(w_j·x̃_n) σ(w_j·q̃) r_n`, and on a fixed activation pattern
/// each `σ(w_j·x̃)` is `w_j·x̃` or `a w_j·x̃` (`a` the leaky slope, `0` for
/// ReLU): a quadratic form in `w_j`. (The first version counted
/// `(u_j, b_j, α_j)`, `n_in + 2` parameters of degree 4; the bound is the same
/// family's, smaller; `tests/scaling.rs` checks the homogeneity by the step.)
pub fn sign_pattern_upper_bound(
    m: usize,
    n_in: usize,
    update_size: usize,
    classes: usize,
    delta: f64,
) -> usize {
    let pairs = (classes * (classes - 1) / 2) as f64;
    let v = (m * (n_in + 1)) as f64;
    let ln_count = |kk: usize| {
        let patterns = m as f64 * (2f64.ln() + ln_max_cells(kk + update_size - 1, n_in));
        let p = kk as f64 * pairs;
        let warren = if p >= v {
            v * (8.0 * std::f64::consts::E * p / v).ln()
        } else {
            p * 2f64.ln()
        };
        patterns + warren
    };
    let holds = |kk: usize| ln_count(kk) <= delta.ln() + kk as f64 * ((classes - 1) as f64).ln();
    let mut hi = 1;
    while !holds(hi) {
        hi *= 2;
    }
    let mut lo = hi / 2;
    // ln C grows like log K, the right-hand side linearly: once it holds it
    // keeps holding, so bisect for the first K.
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if holds(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    hi
}

/// The most one SGD step can move a logit gap through `m` dormant units of a
/// **bounded** activation (`|σ| ≤ H`, e.g. tanh with `H = 1`), whatever their
/// incoming weights: `B[t, c] = m η H² Σ_n |r_n[t] − r_n[c]|`.
///
/// Proof. A dormant unit `j` (`v_j = 0`) has no incoming gradient, so after
/// the step its feature is `h_j(q⁺)` with `|h_j| ≤ H`, and its outgoing weights
/// are `v_j⁺ = −η Σ_n r_n h_j(x_n)`. The twin's post-step logits are the base
/// model's plus `Σ_j v_j⁺ h_j(q⁺)` exactly (the old parameters move as in the
/// base model), so the gap `f_t − f_c` moves by
/// `|Σ_j h_j(q⁺) η Σ_n (r_n[t] − r_n[c]) h_j(x_n)| ≤ m η H² Σ_n |r_n[t] − r_n[c]|`. ∎
///
/// So severity through dormant units is linear in `m` and **bounded in their
/// scale**, unlike ReLU's `∝ α²`; `residuals` is `N × k`, rows `r_n`.
pub fn bounded_dormant_gap_bound(
    residuals: &ndarray::Array2<f64>,
    eta: f64,
    m: usize,
    h_max: f64,
) -> ndarray::Array2<f64> {
    let k = residuals.ncols();
    let scale = m as f64 * eta * h_max * h_max;
    ndarray::Array2::from_shape_fn((k, k), |(t, c)| {
        scale
            * residuals
                .rows()
                .into_iter()
                .map(|r| (r[t] - r[c]).abs())
                .sum::<f64>()
    })
}
