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
//! doubling from `t = 1` and then bisecting in `ln t`; every probe runs the
//! real clipped step and evaluates, and the twin returned is a probe that hit
//! every target with `t ≤ α_max` (the LP's box). Past the box the doubling
//! goes on to [`SCALE_CHECK_LIMIT`] only to classify the failure: a hit
//! there is [`Error::ConstructionBeyondBox`] with the scale it needed (the
//! proof's "`t` large enough", checked by the step), no hit at all is
//! [`Error::ConstructionFailed`].

use super::analytic::{
    checked_residuals, constraints, prepare, scaled_twin, with_inert_units, ConstructConfig,
    ConstructStats, HairTrigger, LP_SAFETY_MARGIN,
};
use super::feasibility::{self, Verdict, DEFAULT_ALPHA_MAX};
use super::zero_input::{aimed_directions, unit_rows};
use crate::error::{Error, Result};
use crate::eval::{evaluate, QuerySet};
use crate::finite::nan_max;
use crate::kernels;
use crate::net::{Dataset, Mlp};
use crate::reparam::add_zero_input_units;
use crate::rng::stream;
use crate::update::{one_step, StepConfig, UpdateRule};
use ndarray::{Array1, Array2, Axis};

/// Bisection steps in `ln t` after the doubling has bracketed the scale.
const BISECTIONS: usize = 20;

/// How far past the box the clipped scale search goes on doubling, only to
/// tell a twin that needs a larger scale from one the step misses. At
/// `t = 10¹⁵` the units' `γ = t²γ̃ ≤ 10³⁰` and the gradient norm
/// `≈ t √(Σ γ̃ ‖G‖²)` stay far inside f64's range, and the clipped step of
/// the units is `η c` whatever `t`.
pub const SCALE_CHECK_LIMIT: f64 = 1e15;

/// The clipped-SGD twin with dormant units (module docs); `step.rule()` must
/// be [`UpdateRule::SgdClip`].
pub(super) fn build_clipped(
    base: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    check_clipped(step)?;
    let p = prepare(base, update, step, targets, cfg)?;
    let k = base.output_dim();
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
    // The asymptotic gain is η c √λ (A₀γ̃)_r / √(Σ_j γ̃_j ‖G_j‖²) at γ = λγ̃.
    let cost: Array1<f64> = p.g.columns().into_iter().map(|c| c.dot(&c)).collect();
    let direction = clipped_direction(&a0, &cost, targets.len(), cfg.redundant())?;
    let twin_at =
        |alpha: &Array1<f64>| scaled_twin(base, p.hidden, &p.chosen.u, &p.chosen.b, alpha);
    scale_search(&direction, twin_at, update, step, targets, cfg, p.aligned)
}

/// Refuse every rule but clipped SGD.
pub(super) fn check_clipped(step: &StepConfig) -> Result<()> {
    if matches!(step.rule(), UpdateRule::SgdClip { .. }) {
        Ok(())
    } else {
        Err(Error::InvalidParameter {
            name: "update rule",
            value: f64::NAN,
            expected: "the clipped construction needs the sgd-clip rule",
        })
    }
}

/// The direction of the units' scales for the sufficient condition
/// `A₀γ̃ > 0` (module docs): decided by the LP, then the feasible `γ̃` of
/// least `Σ_j γ̃_j cost_j`, returned as the scales `α ∝ √γ̃` with the largest
/// equal to 1. A "no" is [`Error::ConstructionNoDirection`] (a checked
/// Farkas certificate); a solver failure is [`Error::ConstructionUndecided`].
///
/// The condition is homogeneous in `γ̃`, so `A₀` is first divided by its
/// largest entry: the LP's box `γ̃ ≤ α_max²` then bounds the spread of the
/// scales, not their absolute size (which the scale search sets), and a
/// tiny `A₀` (an update set the base already fits) is not refused for its
/// units of measure.
pub(super) fn clipped_direction(
    a0: &Array2<f64>,
    cost: &Array1<f64>,
    total: usize,
    redundant: usize,
) -> Result<Array1<f64>> {
    if !a0.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite(
            "clipped-step direction LP: a constraint entry is not finite".into(),
        ));
    }
    let top_entry = a0.iter().fold(0.0f64, |mx, &v| mx.max(v.abs()));
    let a0 = if top_entry > 0.0 {
        a0 / top_entry
    } else {
        a0.clone()
    };
    // A₀γ̃ ≥ 1 (+ the LP's safety margin): homogeneous, so this is "A₀γ̃ > 0"
    // up to the box; a right-hand side of 0 would make γ̃ = 0 feasible.
    let ones = Array1::ones(a0.nrows());
    let what = "clipped-step direction LP";
    let d = feasibility::decide(&a0, &ones, LP_SAFETY_MARGIN, DEFAULT_ALPHA_MAX, what)?;
    match d.verdict {
        Verdict::Feasible => {}
        Verdict::Infeasible(_) => return Err(Error::ConstructionNoDirection { total, redundant }),
        Verdict::Undecided { status, .. } => {
            return Err(Error::ConstructionUndecided {
                total,
                redundant,
                status,
            })
        }
    }
    // Of the feasible directions, the one that needs the least scale: with
    // A₀γ̃ ≥ 1 the best γ̃ minimises the linear cost.
    let gamma =
        feasibility::least_cost(&a0, &ones, LP_SAFETY_MARGIN, cost, what)?.unwrap_or(d.gamma);
    let top = gamma.iter().fold(0.0f64, |mx, &v| nan_max(mx, v));
    if !(top > 0.0 && top.is_finite()) {
        return Err(Error::NonFinite(format!("{what}: largest γ̃ is {top}")));
    }
    Ok(gamma.mapv(|v| (nan_max(v, 0.0) / top).sqrt()))
}

/// The smallest scale `t` (module docs: doubling from 1, then bisecting in
/// `ln t`) at which the twin `twin_at(t · direction)` hits every target after
/// the real step (clipped SGD here; Adam's first step for dormant units whose
/// LP scales miss because of `ε`, [`super::analytic`]); every probe runs the
/// step.
///
/// The twin counts only inside the box `t ≤ α_max` ([`DEFAULT_ALPHA_MAX`]).
/// When the doubling leaves the box without a hit it goes on, up to
/// [`SCALE_CHECK_LIMIT`], only to tell the two kinds of failure apart: a
/// twin that hits every target at a larger scale (the linear law's "`t`
/// large enough", verified by the step) is [`Error::ConstructionBeyondBox`]
/// with that scale; one that misses even there is [`Error::ConstructionFailed`].
pub(super) fn scale_search(
    direction: &Array1<f64>,
    twin_at: impl Fn(&Array1<f64>) -> Result<Mlp>,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
    aligned: Mlp,
) -> Result<HairTrigger> {
    let m = cfg.redundant();
    let probe = |t: f64| -> Result<(usize, Mlp)> {
        let twin = twin_at(&(direction * t))?;
        let after = one_step(&twin, update, step)?.updated;
        let report = evaluate(&after, targets, cfg.p_target)?;
        Ok((report.results.iter().filter(|r| r.passed).count(), twin))
    };
    let total = targets.len();
    let mut probes = 0;
    let (mut lo, mut t) = (0.0f64, 1.0f64);
    // The most targets any probe inside the box hit.
    let mut best_hit = 0;
    let mut found = loop {
        let (hit, twin) = probe(t)?;
        probes += 1;
        if hit == total {
            break (t, twin);
        }
        if t <= DEFAULT_ALPHA_MAX {
            best_hit = best_hit.max(hit);
        }
        lo = t;
        t *= 2.0;
        if t > SCALE_CHECK_LIMIT {
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
    if found.0 > DEFAULT_ALPHA_MAX {
        return Err(Error::ConstructionBeyondBox {
            hit: best_hit,
            total,
            redundant: m,
            alpha_max: DEFAULT_ALPHA_MAX,
            scale: found.0,
        });
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
            aligned_max_abs_param: aligned.max_abs(),
        },
        aligned,
        twin,
    })
}

/// The clipped-SGD twin with zero-input units ([`super::zero_input`]; module
/// docs, "Zero-input units"): directions `ŵ_j` seeded on the sphere, the
/// direction LP at the queries' unmoved features, then the scale search.
/// Positively homogeneous `σ` with `σ(0) = 0` and `σ'(0) ≠ 0` only (leaky
/// ReLU): for tanh and GELU the asymptotic gain is not linear in `γ̃`.
pub(super) fn build_zero_input_clipped(
    base: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    check_clipped(step)?;
    let act = base.activation();
    let slope0 = act.derivative(0.0);
    if !act.is_positively_homogeneous() || act.apply(0.0) != 0.0 || slope0 == 0.0 {
        return Err(Error::NotApplicable {
            construction: "zero-input hair trigger under clipped SGD",
            activation: act.name(),
            reason: "the clipped zero-input law needs a positively homogeneous σ with \
                     σ'(0) ≠ 0 (leaky ReLU): for tanh and GELU the units' pre-activations \
                     stay bounded as the scale grows and the gain is not linear in γ̃",
        });
    }
    let (hidden, residuals) = checked_residuals(base, update, targets)?;
    let (k, m, total) = (base.output_dim(), cfg.redundant(), targets.len());
    let aligned = with_inert_units(base, m)?;
    let cache = base.forward_cache(targets.x().view())?;
    let z_q = cache
        .last_hidden_input()
        .ok_or_else(Error::no_hidden_layer)?;
    let f_before = cache.output();
    let z_d = base.last_hidden_input(update.x().view())?;
    let bias = if base.has_bias() { 1.0 } else { 0.0 };
    // The kernel z(x_n)·z(q) + 1 at the unmoved features (the limit κ → 0).
    let kernel = kernels::matmul_nt(z_q.view(), z_d.view()) + bias; // K × N
    let no_extra = Array2::zeros((total, k));
    let direction_for = |w: &Array2<f64>| -> Result<Array1<f64>> {
        let vr = kernels::matmul(residuals.view(), w.view()); // N × m: ŵ_j·r_n
                                                              // σ(−σ'(0) ŵ_j·r̃(q)): the gain per unit of κγ̃, without the factor η.
        let feat = (kernels::matmul(kernel.view(), vr.view()) * -slope0).mapv(|p| act.apply(p));
        let (a0, _) = constraints(w, &feat, f_before, targets.accepted(), -1.0, 0.0, &no_extra);
        // ‖H_j‖² = σ'(0)² (‖Σ_n (ŵ_j·r_n) z_n‖² + (Σ_n ŵ_j·r_n)²), the
        // incoming gradient per unit of scale.
        let hz = kernels::matmul_tn(vr.view(), z_d.view()); // m × n_in
        let hb = vr.sum_axis(Axis(0));
        let cost: Array1<f64> = hz
            .rows()
            .into_iter()
            .zip(&hb)
            .map(|(row, &b)| slope0 * slope0 * (row.dot(&row) + bias * b * b))
            .collect();
        clipped_direction(&a0, &cost, total, m)
    };
    let w = unit_rows(cfg.seed(), stream::ZERO_INPUT_DIRECTIONS, m, k).reversed_axes(); // k × m
    let (w, direction) = match direction_for(&w) {
        Ok(d) => (w, d),
        // As under SGD (`super::zero_input`): once more with one direction
        // aimed into each target's wedge in place of the first random ones.
        Err(Error::ConstructionNoDirection { .. }) => {
            let rt = kernels::matmul(kernel.view(), residuals.view()); // K × k
            let aimed = aimed_directions(&rt, targets.accepted(), cfg.seed())?;
            let mut w2 = w;
            for (j, col) in aimed.columns().into_iter().take(m).enumerate() {
                w2.column_mut(j).assign(&col);
            }
            let d = direction_for(&w2)?;
            (w2, d)
        }
        Err(e) => return Err(e),
    };
    let twin_at = |s: &Array1<f64>| -> Result<Mlp> {
        let twin = add_zero_input_units(base, hidden, &(&w * &s.view().insert_axis(Axis(0))))?;
        twin.check_finite("zero-input twin")?;
        Ok(twin)
    };
    scale_search(&direction, twin_at, update, step, targets, cfg, aligned)
}
