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
//! the sphere. When the LP certifies them infeasible, the construction tries
//! once more with the first `K` of them replaced by one direction aimed at
//! each target: the best of 4,096 seeded candidates by the per-scale gain
//! of the target's weakest margin — under SGD
//! `(−u·r̃(q))₊ · min_{c≠t} (u_t − u_c)₊`, under Adam's (AdamW's) first step
//! `(min_{c≠t} σ(π_u(q)) (u_t − u_c))₊` with the candidate's own sign step
//! `π_u`. This reaches targets whose wedge of good directions is too thin
//! for random ones (a tanh base on the benign set,
//! `paper-notes/c2-any-update-set.md`). A run the random directions
//! build is unchanged; an infeasible verdict is then certified for the
//! aimed directions. Plain ReLU has
//! `σ'(0) = 0` (PyTorch's convention): the units never move, and the
//! construction is refused. Success is always decided by running the step.

mod aimed;
mod reach;

pub(super) use aimed::{aimed_directions, unit_rows};
pub use reach::{kernel_residuals, reach_margins, sgd_reach_margins};

use super::analytic::{
    adam_sign, checked_residuals, constraints, missed_targets, ray_not_searched, round_scales,
    step_every_set, with_inert_units, ConstructConfig, ConstructStats, HairTrigger, Round,
    ScaleLaw, Solver, LP_SAFETY_MARGIN,
};
use super::feasibility::{self, DEFAULT_ALPHA_MAX};
use crate::error::{Error, Result};
use crate::eval::QuerySet;
use crate::finite::nan_max;
use crate::net::Activation;
use crate::net::{Dataset, Mlp};
use crate::reparam::{add_zero_input_pairs, add_zero_input_units};
use crate::rng::stream;
use crate::update::{one_step, StepConfig};
use aimed::aimed_directions_adam;
use ndarray::{Array2, Axis};

/// The zero-input twin of `base` for `targets` after `step` on `update`, or,
/// with `batches`, after the step on each of those mini-batches (module
/// docs): SGD, Adam's or AdamW's first step, LP solver; clipped SGD on the
/// whole set goes to [`super::clipped::build_zero_input_clipped`].
pub(super) fn build_zero_input(
    base: &Mlp,
    update: &Dataset,
    batches: Option<&[Dataset]>,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    let act = base.activation();
    let response = Response::of(act)?;
    let slope0 = act.derivative(0.0);
    let Some((law, decay)) = ScaleLaw::of(step) else {
        if batches.is_some() {
            return Err(Error::InvalidParameter {
                name: "zero-input construction",
                value: f64::NAN,
                expected: "SGD, Adam or AdamW with a mini-batch (clipping takes the whole set)",
            });
        }
        if response.paired {
            return Err(Error::NotApplicable {
                construction: "zero-input hair trigger under clipped SGD",
                activation: act.name(),
                reason: "the clipped construction uses single zero-input units (σ(0) = 0); \
                         its cancelling-pair form for σ(0) ≠ 0 is not built",
            });
        }
        return super::clipped::build_zero_input_clipped(base, update, step, targets, cfg);
    };
    if cfg.solver() != Solver::Lp {
        return Err(Error::InvalidParameter {
            name: "zero-input construction",
            value: f64::NAN,
            expected: "the LP solver (--solver lp)",
        });
    }
    let (hidden, _) = checked_residuals(base, update, targets)?;
    let (k, m) = (base.output_dim(), cfg.redundant());
    let aligned = with_inert_units(base, response.units_per_direction() * m)?;
    let bias = if base.has_bias() { 1.0 } else { 0.0 };
    let sets: Vec<SetTerms> = match batches {
        None => vec![SetTerms::new(base, &aligned, update, step, targets, bias)?],
        Some(list) => list
            .iter()
            .map(|b| SetTerms::new(base, &aligned, b, step, targets, bias))
            .collect::<Result<_>>()?,
    };
    // The whole update set's terms (the aimed directions' scores): the only
    // set without batches, computed once more with them.
    let whole_of_batches;
    let whole = match batches {
        None => &sets[0],
        Some(_) => {
            whole_of_batches = SetTerms::new(base, &aligned, update, step, targets, bias)?;
            &whole_of_batches
        }
    };
    // Unit directions ŵ_j in logit space: seeded, uniform on the sphere.
    let w = unit_rows(cfg.seed(), stream::ZERO_INPUT_DIRECTIONS, m, k).reversed_axes(); // k × m, one column per unit
    let eta = step.eta();
    let features = |w: &Array2<f64>, set: &SetTerms| -> Result<Array2<f64>> {
        let vr = crate::kernels::matmul(set.residuals.view(), w.view()); // N × m: ŵ_j·r_n
        let feat = match law {
            ScaleLaw::Quadratic => {
                let pre = crate::kernels::matmul(set.kernel.view(), vr.view()) * (-eta * slope0);
                if act.is_positively_homogeneous() {
                    pre.mapv(|p| act.apply(p))
                } else {
                    pre * response.slope_at_zero()
                }
            }
            ScaleLaw::Linear => {
                // g_j = Σ_n (ŵ_j·r_n) z_n (σ'(0) > 0 does not change its sign).
                let gu = crate::kernels::matmul_tn(vr.view(), set.z_d.view()).mapv(adam_sign); // m × n_in
                let gb = vr.sum_axis(Axis(0)).mapv(adam_sign) * bias;
                let pre = (crate::kernels::matmul_nt(set.z_q.view(), gu.view()) + &gb) * -eta;
                pre.mapv(|p| response.apply(p) * decay)
            }
        };
        if feat.iter().all(|v| v.is_finite()) {
            Ok(feat)
        } else {
            Err(Error::NonFinite("zero-input construction features".into()))
        }
    };
    let solve = |w: &Array2<f64>| -> Result<HairTrigger> {
        let blocks: Vec<Block> = sets
            .iter()
            .map(|set| Ok((set.data, features(w, set)?, &set.f_plus)))
            .collect::<Result<_>>()?;
        solve_scales(
            base,
            step,
            targets,
            cfg,
            &aligned,
            hidden,
            law,
            response,
            w,
            &blocks,
            batches.is_none().then_some(update),
        )
    };
    match solve(&w) {
        // The random directions can miss a thin wedge of reachable directions
        // (`paper-notes/c2-any-update-set.md`): try once more with one
        // direction aimed into each target's wedge (scored by the rule's
        // law on the whole update set) in place of the first random ones.
        // Runs the random directions build are never changed.
        Err(Error::ConstructionInfeasible { .. }) => {
            let aimed = match law {
                ScaleLaw::Quadratic => {
                    let rt = crate::kernels::matmul(whole.kernel.view(), whole.residuals.view()); // K × k
                    aimed_directions(&rt, targets.accepted(), cfg.seed())?
                }
                ScaleLaw::Linear => aimed_directions_adam(
                    &whole.residuals,
                    &whole.z_d,
                    &whole.z_q,
                    bias,
                    eta,
                    response,
                    decay,
                    targets.accepted(),
                    cfg.seed(),
                )?,
            };
            let mut w2 = w.clone();
            for (j, col) in aimed.columns().into_iter().take(m).enumerate() {
                w2.column_mut(j).assign(&col);
            }
            solve(&w2)
        }
        other => other,
    }
}

/// What one trigger direction's units respond with after the step: a single
/// zero-input unit (`σ(0) = 0`) adds `s ŵ σ(π)`, a zero-input cancelling pair
/// (`σ(0) ≠ 0`, the sigmoid; [`crate::reparam::zero_input`]) adds
/// `s ŵ ψ(π)` with `ψ(π) = σ(π) − σ(−π)` against an aligned model padded with
/// two inert units per pair. In both the pre-activation `π` is that of one
/// unit, `−η σ'(0) s ŵ·r̃(q)` under SGD.
#[derive(Clone, Copy, Debug)]
pub(super) struct Response {
    act: Activation,
    paired: bool,
}

impl Response {
    /// The response zero-input units of `act` have, or `NotApplicable` when
    /// they never move (`σ'(0) = 0`, ReLU).
    pub(super) fn of(act: Activation) -> Result<Self> {
        if act.derivative(0.0) == 0.0 {
            return Err(Error::NotApplicable {
                construction: "zero-input hair trigger",
                activation: act.name(),
                reason: "zero-input units need σ'(0) ≠ 0 (trainable); \
                         ReLU's σ'(0) = 0 leaves them frozen",
            });
        }
        let paired = !act.is_silent_at_zero();
        if paired && !act.is_odd_about_zero_value() {
            return Err(Error::NotApplicable {
                construction: "zero-input hair trigger",
                activation: act.name(),
                reason: "σ(0) ≠ 0 needs cancelling pairs, whose post-step law \
                         needs σ(−z) + σ(z) = 2σ(0)",
            });
        }
        Ok(Self { act, paired })
    }

    /// `σ(π)` or `ψ(π) = σ(π) − σ(−π)`.
    #[inline]
    pub(super) fn apply(self, p: f64) -> f64 {
        if self.paired {
            self.act.apply(p) - self.act.apply(-p)
        } else {
            self.act.apply(p)
        }
    }

    /// `σ'(0)` or `ψ'(0) = 2σ'(0)`: the small-signal slope.
    fn slope_at_zero(self) -> f64 {
        let s = self.act.derivative(0.0);
        if self.paired {
            2.0 * s
        } else {
            s
        }
    }

    /// Hidden units per trigger direction (1, or 2 for a pair).
    pub(super) fn units_per_direction(self) -> usize {
        if self.paired {
            2
        } else {
            1
        }
    }
}

/// What one update set (the whole set or a mini-batch) contributes to the
/// zero-input law: its residuals `r_n` and last-hidden inputs `z(x_n)`, the
/// queries' last-hidden inputs `z⁺(q)` and logits after the aligned model's
/// step on it, and the kernel `z(x_n)·z⁺(q) + 1`.
struct SetTerms<'a> {
    data: &'a Dataset,
    residuals: Array2<f64>,
    z_d: Array2<f64>,
    z_q: Array2<f64>,
    f_plus: Array2<f64>,
    kernel: Array2<f64>,
}

impl<'a> SetTerms<'a> {
    fn new(
        base: &Mlp,
        aligned: &Mlp,
        data: &'a Dataset,
        step: &StepConfig,
        targets: &QuerySet,
        bias: f64,
    ) -> Result<Self> {
        let residuals = crate::net::output_residuals(base, data)?;
        let cache_plus = one_step(aligned, data, step)?
            .updated
            .forward_cache(targets.x().view())?;
        let z_q = cache_plus
            .last_hidden_input()
            .ok_or_else(Error::no_hidden_layer)?
            .clone();
        let z_d = base.last_hidden_input(data.x().view())?;
        // r̃(q)·ŵ_j = Σ_n (z_n·z⁺_q + 1)(ŵ_j·r_n): the kernel of the SGD law.
        let kernel = crate::kernels::matmul_nt(z_q.view(), z_d.view()) + bias; // K × N
        Ok(Self {
            data,
            residuals,
            z_d,
            f_plus: cache_plus.output().clone(),
            z_q,
            kernel,
        })
    }
}

/// One set's step data, post-step features and aligned post-step logits.
type Block<'a> = (&'a Dataset, Array2<f64>, &'a Array2<f64>);

/// The LP over the units' scales for directions `w` (`k × m`), one block of
/// rows per update set (its post-step features and aligned logits), each
/// solution verified by the real step on every set and refined by the
/// measured deficits (module docs); `ray_set` is the whole update set when
/// there are no mini-batches, whose step decides a run the LP can reach only
/// beyond the box.
#[allow(clippy::too_many_arguments)]
fn solve_scales(
    base: &Mlp,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
    aligned: &Mlp,
    hidden: usize,
    law: ScaleLaw,
    response: Response,
    w: &Array2<f64>,
    blocks: &[Block],
    ray_set: Option<&Dataset>,
) -> Result<HairTrigger> {
    let (k, m) = (base.output_dim(), cfg.redundant());
    let total = targets.len() * blocks.len();
    let need_margin = cfg.need_margin(k);
    let alpha_max = law.lp_alpha_max(DEFAULT_ALPHA_MAX);
    let mut extra = vec![Array2::<f64>::zeros((targets.len(), k)); blocks.len()];
    let mut twin = aligned.clone();
    // The twin whose trigger directions have scales `s` (units or pairs).
    let twin_of = |s: &ndarray::Array1<f64>| -> Result<Mlp> {
        let v = w * &s.view().insert_axis(Axis(0));
        let twin = if response.paired {
            add_zero_input_pairs(base, hidden, &v)?
        } else {
            add_zero_input_units(base, hidden, &v)?
        };
        twin.check_finite("zero-input twin")?;
        Ok(twin)
    };
    for round in 1..=cfg.max_rounds() {
        // `constraints` multiplies the columns by −eta: pass −1 for a gain of ŵ·F.
        let parts: Vec<_> = blocks
            .iter()
            .zip(&extra)
            .map(|((_, feat, f_plus), extra)| {
                constraints(
                    w,
                    feat,
                    f_plus,
                    targets.accepted(),
                    -1.0,
                    need_margin,
                    extra,
                )
            })
            .collect();
        let (a, need) = super::analytic::stack_rows(parts);
        let d = feasibility::decide(&a, &need, LP_SAFETY_MARGIN, alpha_max, "zero-input LP")?;
        let x = match round_scales(d, round, &a, &need, total, m)? {
            Round::Scales(x) => x,
            // Reached only beyond the box: search the LP's ray by the real
            // step on the whole set (a twin inside the box, one beyond it, or
            // a miss); with mini-batches the run stays undecided.
            Round::BeyondBox { gamma, status } => {
                let Some(update) = ray_set else {
                    return Err(ray_not_searched(total, m, &status));
                };
                let scale = law.alpha(&gamma);
                let top = scale.iter().fold(0.0f64, |mx, &v| nan_max(mx, v));
                return super::clipped::scale_search(
                    &(scale / top),
                    twin_of,
                    update,
                    step,
                    targets,
                    cfg,
                    aligned.clone(),
                );
            }
            Round::Stop => break,
        };
        let scale = law.alpha(&x);
        twin = twin_of(&scale)?;
        let datasets = blocks.iter().map(|(data, ..)| *data);
        if step_every_set(&twin, datasets, &mut extra, step, targets, cfg)? {
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
    }
    let datasets = blocks.iter().map(|(data, ..)| *data);
    Err(missed_targets(&twin, datasets, step, targets, cfg, m)?)
}
