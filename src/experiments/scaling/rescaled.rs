//! C3 severity of a second twin family: **no units added**, the base model's
//! own last-hidden units rescaled, `(y_j, v_j) → (α_j y_j, v_j/α_j)` with
//! `y_j = (u_j, b_j)` (the same function for positively homogeneous `σ`),
//! under the bound `|θ'|_∞ ≤ B`, i.e. `α_j ∈ [|v_j|_∞/B, B/|y_j|_∞]`.
//!
//! The law, derived (`paper-notes/c3-scaling.md`). The lower layers receive
//! `∂L/∂z = Σ_j (v_j/α_j) σ'(α_j y_j·ẑ) α_j u_j`, unchanged, so they move as
//! in the aligned model, and the post-step margin is a sum of per-unit terms
//! `s_j(α_j)` (exactly, up to rounding). One SGD step gives
//! `Δv'_j = −η α_j g_v`, `Δy'_j = −η g_y/α_j`, and by homogeneity the unit's
//! post-step output is `(v_j − η α_j² g_v) σ((y_j − η g_y/α_j²)·ẑ⁺)`:
//! it grows like `α_j²` when the unit is scaled up, through the outgoing
//! weights' gradient, and like `1/α_j²` when scaled down, through the incoming
//! weights'. Either way the extreme admissible `α_j` gives `s_j = Θ(B²)`, so
//! `S_rescale(B) = Σ_j max_α s_j(α) ∝ B²` asymptotically. This is measured
//! here by the real step, not built in.
//!
//! The search: for each unit, 10 scales `α` log-spaced over its admissible
//! range (and `α = 1`, where `s_j = 0`), each measured by stepping the base
//! with that unit alone rescaled; the best per unit; then the twin with every
//! unit at its best scale is stepped once more (the sum must match).

use crate::error::Result;
use crate::net::{Dataset, Mlp};
use crate::reparam::scale_units;
use crate::update::{one_step, StepConfig};
use serde::Serialize;

/// One (base, seed, B) point of the rescaling family.
#[derive(Clone, Debug, Serialize)]
pub struct RescaleRecord {
    pub base: String,
    pub seed: u64,
    /// `B / B₀`.
    pub bound_factor: f64,
    pub bound: f64,
    /// `Σ_j max_α s_j(α)`: the per-unit bests, each from its own step.
    pub sum_of_unit_bests: f64,
    /// The margin change of the twin with every unit at its best scale, from
    /// one real step (equals the sum by additivity).
    pub measured: f64,
    /// Units scaled up (`α > 1`) and down (`α < 1`) in that twin.
    pub scaled_up: usize,
    pub scaled_down: usize,
    /// The twin's largest parameter (at most `bound`).
    pub max_abs_param: f64,
}

/// The base, its update set and step, the query and the margin after the
/// step relative to the aligned model's.
pub(crate) struct Setting<'a> {
    pub base: &'a Mlp,
    pub update: &'a Dataset,
    pub step: &'a StepConfig,
    pub margin_gain: &'a dyn Fn(&Mlp) -> Result<f64>,
}

const SCALES: usize = 10;

/// The rescaling family at `B = f·B₀` for each factor `f`.
pub(crate) fn rescale_sweep(
    s: &Setting,
    (name, seed): (&str, u64),
    b0: f64,
    factors: &[f64],
) -> Result<Vec<RescaleRecord>> {
    let hidden = s.base.depth() - 1;
    let (w_in, w_out) = (&s.base.layers()[hidden - 1], &s.base.layers()[hidden]);
    let width = w_in.weight.nrows();
    let max_abs = |v: ndarray::ArrayView1<f64>| crate::finite::max_abs(&v);
    let y_max: Vec<f64> = (0..width)
        .map(|j| {
            let b = w_in.bias.as_ref().map_or(0.0, |b| b[j].abs());
            max_abs(w_in.weight.row(j)).max(b)
        })
        .collect();
    let v_max: Vec<f64> = (0..width)
        .map(|j| max_abs(w_out.weight.column(j)))
        .collect();
    let stepped = |alphas: &[f64]| -> Result<(f64, Mlp)> {
        let twin = scale_units(s.base, hidden, alphas)?;
        let after = one_step(&twin, s.update, s.step)?.updated;
        let gain = crate::finite::check_finite(
            "rescaling family: margin change after the step",
            (s.margin_gain)(&after)?,
        )?;
        Ok((gain, twin))
    };
    let mut out = Vec::with_capacity(factors.len());
    for &f in factors {
        let bound = f * b0;
        let mut best = vec![1.0; width];
        let mut sum = 0.0;
        for j in 0..width {
            let (lo, hi) = (v_max[j] / bound, bound / y_max[j].max(f64::MIN_POSITIVE));
            let (mut best_gain, mut alphas) = (0.0, vec![1.0; width]);
            for k in 0..SCALES {
                let a = lo * (hi / lo).powf(k as f64 / (SCALES - 1) as f64);
                if !(a.is_finite() && a > 0.0) {
                    continue;
                }
                alphas[j] = a;
                let (gain, _) = stepped(&alphas)?;
                if gain > best_gain {
                    (best_gain, best[j]) = (gain, a);
                }
            }
            sum += best_gain;
        }
        let (measured, twin) = stepped(&best)?;
        out.push(RescaleRecord {
            base: name.to_string(),
            seed,
            bound_factor: f,
            bound,
            sum_of_unit_bests: sum,
            measured,
            scaled_up: best.iter().filter(|&&a| a > 1.0).count(),
            scaled_down: best.iter().filter(|&&a| a < 1.0).count(),
            max_abs_param: twin.max_abs(),
        });
    }
    Ok(out)
}

/// The log–log slope of `measured` in `B` over the records' three largest
/// bounds (where the law's lower-order terms are smallest), or NaN.
pub(crate) fn asymptotic_exponent(records: &[&RescaleRecord]) -> f64 {
    let mut r: Vec<&&RescaleRecord> = records.iter().collect();
    r.sort_by(|a, b| a.bound.total_cmp(&b.bound));
    let top = &r[r.len().saturating_sub(3)..];
    let (x, y): (Vec<f64>, Vec<f64>) = top.iter().map(|p| (p.bound, p.measured)).unzip();
    crate::stats::fit_power_law(&x, &y).map_or(f64::NAN, |f| f.slope)
}
