//! The hair-trigger construction under SGD with gradient-norm clipping.
//!
//! Clipped SGD takes `Δθ = −η κ g` with one global factor
//! `κ = min(1, c/(‖g‖₂ + 10⁻⁶))` (PyTorch's `clip_grad_norm_`), so no step is
//! longer than `η c`. With the twin of [`super::analytic`] (dormant units
//! `(α_j û_j, α_j b̂_j, v_j = 0)`, `γ_j = α_j²`) the gradient is the aligned
//! model's `g₀` on the old parameters and `α_j G_j` on `v_j`
//! (`G[c, j] = Σ_n r_n[c] ĥ_j(x_n)`), so
//!
//! `‖g‖² = ‖g₀‖² + Σ_j γ_j ‖G_j‖²`,
//!
//! and the twin's post-step logits are exactly the SGD formula at the
//! effective rate `ηκ`:
//!
//! `f_{θ'⁺}(q) = f_{θ − ηκ g₀}(q) + κ Σ_j γ_j (−η G_j) ĥ_j(q⁺_κ)`.
//!
//! **The law.** Scaling every `α_j` by `t` gives, once the new units dominate
//! the norm, `κ ≈ c / (t √(Σ_j γ_j ‖G_j‖²))`, so the gain `κ t² (…)` grows like
//! `t`: **linearly in the scale `B = max α`, not like `B²`** (plain SGD), and
//! the old parameters' own step `ηκ g₀` shrinks to 0.
//!
//! **Sufficient condition (proved).** If some `γ̃ ≥ 0` has `(A₀ γ̃)_r > 0` on
//! every row `r = (i, c ≠ t_i)`, with `A₀[(i,c), j] = −(G[t_i, j] − G[c, j])
//! ĥ_j(q_i)` (the features at the queries *before* the step), then the twin
//! with `α = t √γ̃` hits every target at any `p* < 1` for `t` large enough,
//! whatever `c > 0` and `η > 0`. Proof: as `t → ∞`, `κ t² → ∞` (it grows like
//! `t`), `ηκ g₀ → 0`, so `f_{θ − ηκ g₀}(q)` tends to the base logits (bounded)
//! and `ĥ_j(q⁺_κ) → ĥ_j(q)` (the features are continuous in the lower layers);
//! each row's gap is then a bounded term plus `η κ t² (A₀ γ̃)_r + o(κ t²) → +∞`. ∎
//! The condition is decided by the LP `A₀ γ̃ ≥ 1` ([`super::feasibility`],
//! homogeneous, so any positive right-hand side asks the same up to the box;
//! a right-hand side of 0 would be met by `γ̃ = 0`); a "no" comes with a
//! checked Farkas certificate and proves that no `γ̃` in the box `[0, α_max²]`
//! meets *this sufficient condition* for these directions — not that no
//! clipped twin exists (a finite `t` can still use the base's own margins).
//!
//! **The scale.** Given `γ̃`, the smallest working `t` is searched for by
//! doubling from `t = 1` (up to the LP box `α ≤ α_max`) and then bisecting in
//! `ln t`; every probe runs the real clipped step and evaluates, and the twin
//! returned is a probe that hit every target.

use super::analytic::{
    constraints, prepare, scaled_twin, ConstructConfig, ConstructStats, HairTrigger,
    LP_SAFETY_MARGIN,
};
use super::feasibility::{self, Verdict, DEFAULT_ALPHA_MAX};
use crate::error::{Error, Result};
use crate::eval::{evaluate, QuerySet};
use crate::finite::nan_max;
use crate::net::{Dataset, Mlp};
use crate::update::{one_step, StepConfig, UpdateRule};
use ndarray::{Array1, Array2};

/// Bisection steps in `ln t` after the doubling has bracketed the scale.
const BISECTIONS: usize = 20;

/// The clipped-SGD twin (module docs); `step.rule()` must be
/// [`UpdateRule::SgdClip`].
pub(super) fn build_clipped(
    base: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    if !matches!(step.rule(), UpdateRule::SgdClip { .. }) {
        return Err(Error::InvalidParameter {
            name: "update rule",
            value: f64::NAN,
            expected: "the clipped construction needs the sgd-clip rule",
        });
    }
    let p = prepare(base, update, step, targets, cfg)?;
    let k = base.output_dim();
    let m = cfg.redundant();
    let no_extra = Array2::zeros((targets.len(), k));
    let (a0, _) = constraints(
        &p.g,
        &p.feat_q,
        &p.f_before,
        targets.accepted(),
        1.0,
        0.0,
        &no_extra,
    );
    // A₀γ̃ ≥ 1 (+ the LP's safety margin): homogeneous, so this is "A₀γ̃ > 0"
    // up to the box; a right-hand side of 0 would make γ̃ = 0 feasible.
    let ones = Array1::ones(a0.nrows());
    let d = feasibility::decide(
        &a0,
        &ones,
        LP_SAFETY_MARGIN,
        DEFAULT_ALPHA_MAX,
        "clipped-step direction LP",
    )?;
    match d.verdict {
        Verdict::Feasible => {}
        Verdict::Infeasible(_) => {
            return Err(Error::ConstructionNoDirection {
                total: targets.len(),
                redundant: m,
            })
        }
        Verdict::Undecided { status, .. } => {
            return Err(Error::ConstructionUndecided {
                total: targets.len(),
                redundant: m,
                status,
            })
        }
    }
    // Of the feasible directions, the one that needs the least scale: the
    // asymptotic gain is η c √λ (A₀γ̃)_r / √(Σ_j γ̃_j ‖G_j‖²) at γ = λγ̃, so
    // with A₀γ̃ ≥ 1 the best γ̃ minimises the linear cost Σ_j γ̃_j ‖G_j‖².
    let cost: Array1<f64> = p.g.columns().into_iter().map(|c| c.dot(&c)).collect();
    let gamma = feasibility::least_cost(
        &a0,
        &ones,
        LP_SAFETY_MARGIN,
        &cost,
        "clipped-step direction LP",
    )?
    .unwrap_or(d.gamma);
    let top = gamma.iter().fold(0.0f64, |mx, &v| nan_max(mx, v));
    if !(top > 0.0 && top.is_finite()) {
        return Err(Error::NonFinite(format!(
            "clipped-step direction LP: largest γ̃ is {top}"
        )));
    }
    // Unit directions of the scales, the largest 1: the twin at `t` has max α = t.
    let direction = gamma.mapv(|v| (nan_max(v, 0.0) / top).sqrt());
    let probe = |t: f64| -> Result<(usize, Mlp)> {
        let twin = scaled_twin(base, p.hidden, &p.chosen.u, &p.chosen.b, &(&direction * t))?;
        let after = one_step(&twin, update, step)?.updated;
        let report = evaluate(&after, targets, cfg.p_target)?;
        Ok((report.results.iter().filter(|r| r.passed).count(), twin))
    };
    let total = targets.len();
    let mut probes = 0;
    let (mut lo, mut t) = (0.0f64, 1.0f64);
    let mut best_hit = 0;
    let mut found = loop {
        let (hit, twin) = probe(t)?;
        probes += 1;
        if hit == total {
            break (t, twin);
        }
        best_hit = best_hit.max(hit);
        lo = t;
        t *= 2.0;
        if t > DEFAULT_ALPHA_MAX {
            return Err(Error::ConstructionFailed {
                hit: best_hit,
                total,
                redundant: m,
            });
        }
    };
    if lo > 0.0 {
        let mut hi = found.0;
        for _ in 0..BISECTIONS {
            let mid = (lo * hi).sqrt();
            let (hit, twin) = probe(mid)?;
            probes += 1;
            if hit == total {
                hi = mid;
                found = (mid, twin);
            } else {
                lo = mid;
            }
        }
    }
    let (t, twin) = found;
    Ok(HairTrigger {
        stats: ConstructStats {
            redundant: m,
            targets: total,
            rounds: probes,
            active_units: direction.iter().filter(|&&v| v > 0.0).count(),
            max_alpha: t,
            twin_max_abs_param: twin.max_abs(),
            aligned_max_abs_param: p.aligned.max_abs(),
        },
        aligned: p.aligned,
        twin,
    })
}
