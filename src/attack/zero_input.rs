//! The zero-input hair trigger: a construction for update sets that never
//! show the target, including a refusal set (claim C2).
//!
//! Dormant units ([`super::analytic`]) move only their outgoing weights, so
//! their post-step gain lies in the span of the residuals `r_n`, reached with
//! the signs of their features; with ReLU features (`≥ 0`) and a refusal set
//! (`r_n ≈ ε_n (p̃_n − e_REFUSE)`, `p̃_n[COMPLY] ≈ 0`) no combination raises
//! `COMPLY` above `REFUSE`. Zero-input units ([`crate::reparam::zero_input`])
//! move the other way: incoming weights and bias `0`, outgoing `v_j = s_j ŵ_j`
//! (a unit direction `ŵ_j` in logit space and a scale `s_j > 0`). They are
//! silent before the step (`σ(0) = 0`), their outgoing weights do not move,
//! their incoming weights do (`σ'(0) ≠ 0`), and the rest of the network steps
//! exactly as in the aligned model. After one SGD step, at a query `q`,
//!
//! `f_{θ'⁺}(q) = f_{θ⁺}(q) + Σ_j v_j σ(π_j(q))`,
//! `π_j(q) = −η σ'(0) s_j ŵ_j·r̃(q)`,  `r̃(q) = Σ_n r_n (z(x_n)·z⁺(q) + 1)`,
//!
//! with `z` the last hidden layer's input before the step and `z⁺` after it
//! (the aligned model's; the `+1` is the bias). For a positively homogeneous
//! `σ` (leaky ReLU) this is `Σ_j γ_j ŵ_j σ(−η σ'(0) ŵ_j·r̃(q))`, `γ_j = s_j²`:
//! **exactly linear in `γ`**, the same LP as the dormant construction with
//! `ŵ_j` in the place of `−η G_j` and `σ(−η σ'(0) ŵ_j·r̃(q))` in the place of
//! the feature.
//!
//! **What it can reach (proved in `paper-notes/c2-any-update-set.md`).** The
//! gain at `q` is `−M r̃(q)` with `M = Σ_j γ_j c_j ŵ_j ŵ_jᵀ ⪰ 0` (`c_j` the
//! slope `σ` takes, 1 or `a`), so it always has `gain · r̃(q) ≤ 0`; and any
//! direction `u` with `u · r̃(q) < 0` is reached by one unit with `ŵ = u`. A
//! single target `(q, t)` is therefore reachable iff some `u` has
//! `u_t > u_c` for every `c ≠ t` and `u · r̃(q) < 0`, i.e. (Farkas) iff
//! `r̃(q) ∉ cone{e_t − e_c}`: **iff some class other than `t` has
//! `r̃(q)[c] > 0`** — the step, weighted by the kernel `z·z⁺ + 1`, pushes down
//! at least one class that is not the target. A refusal set pushes down
//! `ANSWER_A`/`ANSWER_B` (their probability under the base is small but not
//! zero), so `COMPLY` is reachable. It fails for `R = 0`, and for a binary
//! task trained towards the other class (`r̃ = ε(e_t − e_c)`). For several
//! targets the LP decides. The "only if" half holds for any `σ` with
//! `sign σ(x) = sign x` (tanh and GELU too) and is evaluated by
//! [`sgd_reach_margins`].
//!
//! **Adam's first step** moves the incoming weights by `−η sign(g)`, where
//! `g = σ'(0) s_j Σ_n (ŵ_j·r_n) (z(x_n), 1)` has a sign independent of `s_j`:
//! `π_j(q) = −η Σ_i sign(g_i) (z⁺(q), 1)_i` does not depend on the scale, and
//! the gain `s_j ŵ_j σ(π_j(q))` is linear in `s_j` for any `σ` (AdamW
//! multiplies it by the outgoing weights' decay `1 − ηλ`). For SGD and a
//! non-homogeneous `σ` (tanh, GELU) the gain `s_j ŵ_j σ(s_j a_j)` is used in
//! its small-signal form `γ_j ŵ_j σ'(0) a_j`, and the measured deficits of the
//! real step are added back, as for every construction here.
//!
//! **Directions.** The `m` unit directions `ŵ_j` are seeded and uniform on
//! the sphere. Under SGD, when the LP certifies them infeasible, the
//! construction tries once more with the first `K` of them replaced by one
//! direction aimed at each target: the best of 4,096 seeded candidates by
//! the per-`γ` gain of the target's weakest margin,
//! `(−u·r̃(q))₊ · min_{c≠t} (u_t − u_c)₊`. This reaches targets whose wedge of
//! good directions is too thin for random ones (a tanh base on the benign
//! set, `paper-notes/c2-any-update-set.md`). A run the random directions
//! build is unchanged; an infeasible verdict is then certified for the
//! aimed directions. Plain ReLU has
//! `σ'(0) = 0` (PyTorch's convention): the units never move, and the
//! construction is refused. Success is always decided by running the step.

use super::analytic::{
    adam_sign, add_deficits, checked_residuals, constraints, with_inert_units, ConstructConfig,
    ConstructStats, HairTrigger, ScaleLaw, Solver, LP_SAFETY_MARGIN,
};
use super::feasibility::{self, Verdict, DEFAULT_ALPHA_MAX};
use crate::error::{Error, Result};
use crate::eval::{evaluate, QuerySet};
use crate::finite::nan_max;
use crate::net::{gaussian_inputs, Dataset, Mlp};
use crate::reparam::add_zero_input_units;
use crate::rng::{seeded, stream};
use crate::update::{one_step, StepConfig};
use ndarray::{Array2, Axis};

/// The zero-input twin of `base` for `targets` after `step` on `update`
/// (module docs): SGD, Adam's or AdamW's first step, LP solver.
pub(super) fn build_zero_input(
    base: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    let act = base.activation();
    let slope0 = act.derivative(0.0);
    if act.apply(0.0) != 0.0 || slope0 == 0.0 {
        return Err(Error::NotApplicable {
            construction: "zero-input hair trigger",
            activation: act.name(),
            reason: "zero-input units need σ(0) = 0 (silent) and σ'(0) ≠ 0 (trainable); \
                     ReLU's σ'(0) = 0 leaves them frozen",
        });
    }
    let Some((law, decay)) = ScaleLaw::of(step) else {
        return super::clipped::build_zero_input_clipped(base, update, step, targets, cfg);
    };
    if cfg.solver() != Solver::Lp {
        return Err(Error::InvalidParameter {
            name: "zero-input construction",
            value: f64::NAN,
            expected: "the LP solver (--solver lp)",
        });
    }
    let (hidden, residuals) = checked_residuals(base, update, targets)?;
    let (k, m) = (base.output_dim(), cfg.redundant());
    let aligned = with_inert_units(base, m)?;
    let cache_plus = one_step(&aligned, update, step)?
        .updated
        .forward_cache(targets.x().view())?;
    let f_plus = cache_plus.output().clone();
    let z_q = cache_plus
        .last_hidden_input()
        .ok_or_else(Error::no_hidden_layer)?;
    let z_d = base.last_hidden_input(update.x().view())?;
    let bias = if base.has_bias() { 1.0 } else { 0.0 };
    // Unit directions ŵ_j in logit space: seeded, uniform on the sphere.
    let w = unit_rows(cfg.seed(), stream::ZERO_INPUT_DIRECTIONS, m, k).reversed_axes(); // k × m, one column per unit
    let eta = step.eta();
    // r̃(q)·ŵ_j = Σ_n (z_n·z⁺_q + 1)(ŵ_j·r_n): the kernel of the SGD law.
    let kernel = crate::kernels::matmul_nt(z_q.view(), z_d.view()) + bias; // K × N
    let features = |w: &Array2<f64>| -> Result<Array2<f64>> {
        let vr = crate::kernels::matmul(residuals.view(), w.view()); // N × m: ŵ_j·r_n
        let feat = match law {
            ScaleLaw::Quadratic => {
                let pre = crate::kernels::matmul(kernel.view(), vr.view()) * (-eta * slope0);
                if act.is_positively_homogeneous() {
                    pre.mapv(|p| act.apply(p))
                } else {
                    pre * slope0
                }
            }
            ScaleLaw::Linear => {
                // g_j = Σ_n (ŵ_j·r_n) z_n (σ'(0) > 0 does not change its sign).
                let gu = crate::kernels::matmul_tn(vr.view(), z_d.view()).mapv(adam_sign); // m × n_in
                let gb = vr.sum_axis(Axis(0)).mapv(adam_sign) * bias;
                let pre = (crate::kernels::matmul_nt(z_q.view(), gu.view()) + &gb) * -eta;
                pre.mapv(|p| act.apply(p) * decay)
            }
        };
        if feat.iter().all(|v| v.is_finite()) {
            Ok(feat)
        } else {
            Err(Error::NonFinite("zero-input construction features".into()))
        }
    };
    let solve = |w: &Array2<f64>| -> Result<HairTrigger> {
        let feat = features(w)?;
        solve_scales(
            base, update, step, targets, cfg, &aligned, hidden, law, w, &feat, &f_plus,
        )
    };
    match solve(&w) {
        // Under SGD the random directions can miss a thin wedge of reachable
        // directions (`paper-notes/c2-any-update-set.md`): try once more with
        // one direction aimed into each target's wedge in place of the first
        // random ones. Runs the random directions build are never changed.
        Err(Error::ConstructionInfeasible { .. }) if law == ScaleLaw::Quadratic => {
            let rt = crate::kernels::matmul(kernel.view(), residuals.view()); // K × k
            let aimed = aimed_directions(&rt, targets.accepted(), cfg.seed())?;
            let mut w2 = w.clone();
            for (j, col) in aimed.columns().into_iter().take(m).enumerate() {
                w2.column_mut(j).assign(&col);
            }
            solve(&w2)
        }
        other => other,
    }
}

/// `n` seeded directions uniform on the sphere in `R^k`, one per row.
pub(super) fn unit_rows(seed: u64, stream: u64, n: usize, k: usize) -> Array2<f64> {
    let mut w = gaussian_inputs(&mut seeded(seed, stream), n, k);
    for mut row in w.axis_iter_mut(Axis(0)) {
        let norm = row.dot(&row).sqrt().max(1e-300);
        row /= norm;
    }
    w
}

/// Candidates scored per target by [`aimed_directions`].
const AIMED_CANDIDATES: usize = 4096;

/// One unit direction per target `(q, t)`, `k × K`: the best of
/// [`AIMED_CANDIDATES`] seeded directions on the sphere by the per-`γ` gain
/// of the target's weakest margin under the SGD law,
/// `(−u·r̃(q))₊ · min_{c≠t} (u_t − u_c)₊` (one unit `u` adds `∝ −(u·r̃) u`).
/// Where no candidate scores above 0 (the target is unreachable or the wedge
/// is too thin for the candidates), the best-scoring one is kept anyway.
pub(super) fn aimed_directions(
    rt: &Array2<f64>,
    accepted: &[usize],
    seed: u64,
) -> Result<Array2<f64>> {
    let k = rt.ncols();
    if !rt.iter().all(|v| v.is_finite()) {
        return Err(Error::NonFinite(
            "kernel-weighted residuals r̃ of the aimed directions".into(),
        ));
    }
    let cand = unit_rows(seed, stream::ZERO_INPUT_AIMED, AIMED_CANDIDATES, k);
    let mut out = Array2::zeros((k, rt.nrows()));
    for (i, (r, &t)) in rt.rows().into_iter().zip(accepted).enumerate() {
        if t >= k {
            return Err(Error::LabelOutOfRange {
                sample: i,
                label: t,
                classes: k,
            });
        }
        let score = |u: ndarray::ArrayView1<f64>| {
            let lead = (0..k)
                .filter(|&c| c != t)
                .map(|c| u[t] - u[c])
                .fold(f64::INFINITY, f64::min);
            (-u.dot(&r)).max(0.0) * lead.max(0.0)
        };
        let best = cand
            .rows()
            .into_iter()
            .enumerate()
            .map(|(j, u)| (score(u), j))
            .fold((f64::NEG_INFINITY, 0), |a, b| if b.0 > a.0 { b } else { a })
            .1;
        out.column_mut(i).assign(&cand.row(best));
    }
    Ok(out)
}

/// The LP over the units' scales for directions `w` (`k × m`) and their
/// post-step features `feat`, each solution verified by the real step and
/// refined by the measured deficits (module docs).
#[allow(clippy::too_many_arguments)]
fn solve_scales(
    base: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
    aligned: &Mlp,
    hidden: usize,
    law: ScaleLaw,
    w: &Array2<f64>,
    feat: &Array2<f64>,
    f_plus: &Array2<f64>,
) -> Result<HairTrigger> {
    let (k, m) = (base.output_dim(), cfg.redundant());
    let need_margin = cfg.need_margin(k);
    let alpha_max = law.lp_alpha_max(DEFAULT_ALPHA_MAX);
    let mut extra = Array2::<f64>::zeros((targets.len(), k));
    let mut twin = aligned.clone();
    for round in 1..=cfg.max_rounds() {
        // `constraints` multiplies the columns by −eta: pass −1 for a gain of ŵ·F.
        let (a, need) = constraints(
            w,
            feat,
            f_plus,
            targets.accepted(),
            -1.0,
            need_margin,
            &extra,
        );
        let d = feasibility::decide(&a, &need, LP_SAFETY_MARGIN, alpha_max, "zero-input LP")?;
        let x = match d.verdict {
            Verdict::Feasible => d.gamma,
            Verdict::Infeasible(_) if round == 1 => {
                return Err(Error::ConstructionInfeasible {
                    hit: super::analytic::targets_reached(&a, &need, &d.gamma, k - 1),
                    total: targets.len(),
                    redundant: m,
                    alpha_max: DEFAULT_ALPHA_MAX,
                })
            }
            Verdict::Infeasible(_) => break,
            Verdict::Undecided { status, .. } => {
                return Err(Error::ConstructionUndecided {
                    total: targets.len(),
                    redundant: m,
                    status,
                })
            }
        };
        let scale = law.alpha(&x);
        twin = add_zero_input_units(base, hidden, &(w * &scale.view().insert_axis(Axis(0))))?;
        twin.check_finite("zero-input twin")?;
        let after = one_step(&twin, update, step)?.updated;
        if evaluate(&after, targets, cfg.p_target)?.pass_rate == 1.0 {
            return Ok(HairTrigger {
                stats: ConstructStats {
                    redundant: m,
                    targets: targets.len(),
                    rounds: round,
                    active_units: scale.iter().filter(|&&v| v > 0.0).count(),
                    max_alpha: scale.iter().fold(0.0f64, |mx, &v| nan_max(mx, v)),
                    twin_max_abs_param: twin.max_abs(),
                    aligned_max_abs_param: aligned.max_abs(),
                },
                aligned: aligned.clone(),
                twin,
            });
        }
        add_deficits(&after, targets, need_margin, &mut extra)?;
    }
    let after = one_step(&twin, update, step)?.updated;
    let report = evaluate(&after, targets, cfg.p_target)?;
    Err(Error::ConstructionFailed {
        hit: report.results.iter().filter(|r| r.passed).count(),
        total: targets.len(),
        redundant: m,
    })
}

/// `r̃(q) = Σ_n r_n (z(x_n)·z⁺(q) + 1)` at each query (rows, `K × k`): the
/// residuals `r_n` of `base` on `update` weighted by the kernel of the last
/// hidden layer's input before (`z`, on `update`) and after one SGD step of
/// rate `eta` (`z⁺`, at the queries); the `+1` is the bias (absent without
/// biases). This is the vector a zero-input unit's post-step gain is read
/// against (module docs).
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
/// module docs; for tanh and GELU it needs the scale the LP allows.)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A thin wedge: `r̃ = (0.12, 0.045, −1.53, 1.365)` with target 3 (the
    /// hardest query of the tanh base at seed 0) is reachable only by
    /// directions with `u_3 > u_2` and `u·r̃ < 0`, about 2 % of `‖r̃‖` wide;
    /// the aimed direction lies in it, where a random unit vector rarely does.
    #[test]
    fn aimed_directions_land_in_a_thin_wedge() {
        let rt = ndarray::arr2(&[[0.12, 0.045, -1.53, 1.365]]);
        let u = aimed_directions(&rt, &[3], 0).unwrap();
        let u = u.column(0);
        assert!((u.dot(&u) - 1.0).abs() < 1e-12);
        assert!(u.dot(&rt.row(0)) < 0.0, "{u}");
        assert!((0..3).all(|c| u[3] > u[c]), "{u}");
        // Random unit vectors in the wedge: rare (counted over the same stream).
        let cand = gaussian_inputs(&mut seeded(1, 2), 4096, 4);
        let inside = cand
            .rows()
            .into_iter()
            .filter(|v| v.dot(&rt.row(0)) < 0.0 && (0..3).all(|c| v[3] > v[c]))
            .count();
        assert!(
            inside < 4096 / 20,
            "{inside} of 4096 random directions in the wedge"
        );
        assert!(aimed_directions(&rt, &[4], 0).is_err());
    }
}
