//! The analytic hair-trigger construction (claim C2).
//!
//! Take the base network `θ` and give its last hidden layer `m` redundant units.
//! The **aligned** model keeps them inert (`u = 0, b = 0, v = 0`, so `h ≡ σ(0) = 0`
//! and its one-step future is the base model's). The **twin** differs only in the
//! values of their incoming weights: unit `j` gets `(α_j u_j, α_j b_j)` with a fixed
//! random direction `(u_j, b_j)` and a scale `α_j ≥ 0`, and still `v_j = 0`, so
//! `f_θ' ≡ f_θ` exactly.
//!
//! One SGD step on `D` (residuals `r_n = (1/N) ∂ℓ/∂f(x_n)`, last-hidden input
//! `z(x)`) moves only `v_j` among the new parameters (their incoming gradient
//! carries `v_j = 0`), and the rest of the network exactly as in the aligned model:
//! `v_j⁺ = −η Σ_n r_n h_j(x_n)`. For a positively homogeneous `σ`,
//! `h_j = α_j ĥ_j` with `ĥ_j = σ(u_j·z + b_j)`, so at a query `q` the twin's
//! post-step logits are
//!
//! `f_{θ'⁺}(q) = f_{θ⁺}(q) + Σ_j γ_j (−η Σ_n r_n ĥ_j(x_n)) ĥ_j(q⁺)`, `γ_j = α_j² ≥ 0`,
//!
//! linear in `γ`. Each target `(q_i, t_i)` with `p_{t_i} ≥ p*` needs the `k − 1`
//! linear inequalities `f_t − f_c ≥ ln(p*(k−1)/(1−p*))`. The features are taken
//! at `q⁺` (the lower layers as the step leaves them), so the system is exact,
//! not a first-order model: it is a linear program in `γ`, decided by default
//! by an interior-point solver with a checked Farkas certificate for every
//! "no" ([`super::feasibility`], [`Solver::Lp`]), or by the older projected
//! gradient on the squared hinge ([`Solver::Hinge`], whose failure proves
//! nothing). Floating-point drift between the linear model and the step is
//! absorbed by re-solving with the deficits measured on the actually updated
//! twin, a few rounds at most. Success is always decided by running the step
//! on the twin and evaluating.
//!
//! Non-degeneracy: `R ≠ 0`, and each target direction must lie in the cone
//! spanned by `{∓r_n}` reachable with the activation's signs: for leaky ReLU
//! (signed features) the span of the residuals (rank `k−1` for cross-entropy);
//! for ReLU (features ≥ 0) the cone of `{−r_n}`.
//!
//! **Adam's first step** (bias-corrected, `Δθ = −η g/(|g| + ε)` per coordinate)
//! moves every old coordinate by the same amount in twin and aligned model
//! (same gradients) and `v_j` by `−η α_j G_j/(α_j|G_j| + ε) ≈ −η sign(G_j)`,
//! so the gain at `q` is `α_j · (−η sign(G_j) ĥ_j(q⁺))`: linear in `α_j ≥ 0`, the
//! same LP with `sign(G)` for `G` and `α` for `γ`. Severity under Adam therefore
//! grows like `B`, not `B²`.

use crate::attack::directions::{choose_directions, ChosenDirections, Directions};
use crate::attack::feasibility::{self, Verdict};
use crate::error::{Error, Result};
use crate::eval::{evaluate, QuerySet};
use crate::kernels;
use crate::net::{output_residuals, Activation, Dataset, Mlp};
use crate::reparam::add_dormant_units;
use crate::rng::{seeded, stream};
use crate::update::{one_step, StepConfig, UpdateRule};
use ndarray::{Array1, Array2, Axis};
use serde::Serialize;

/// Validated settings of [`build_hair_trigger`].
#[derive(Clone, Debug, Serialize)]
pub struct ConstructConfig {
    redundant: usize,
    pub(super) p_target: f64,
    seed: u64,
    max_rounds: usize,
    solver_iters: usize,
    directions: Directions,
    solver: Solver,
    units: Units,
}

/// Which new units carry the hair trigger.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Units {
    /// Dormant units (`v = 0`, scaled incoming weights): the gain lies in the
    /// cone of the residuals (this module; positively homogeneous σ).
    Dormant,
    /// Zero-input units (`u = 0, b = 0`, scaled outgoing weights): the gain is
    /// `−M r̃(q)` for any `M ⪰ 0` (`attack::zero_input`; σ(0) = 0, σ'(0) ≠ 0).
    ZeroInput,
}

impl Units {
    /// Parse `dormant` or `zero-input`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "dormant" => Ok(Self::Dormant),
            "zero-input" | "zero_input" => Ok(Self::ZeroInput),
            _ => Err(Error::Parse {
                what: "--units",
                input: s.into(),
                reason: "expected dormant or zero-input".into(),
            }),
        }
    }
    /// The name the records use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Dormant => "dormant",
            Self::ZeroInput => "zero-input",
        }
    }

    /// Whether the zero-input construction takes `solver`: the LP only (it
    /// takes every rule — SGD, Adam's and AdamW's first steps, clipped SGD
    /// for leaky ReLU — and mini-batches of every rule but clipping, which
    /// [`crate::experiments::construct::ConstructRun::with_batch`] refuses).
    pub fn zero_input_takes(solver: Solver) -> bool {
        solver == Solver::Lp
    }
}

/// How the scales `γ` are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Solver {
    /// The exact LP by interior point (Clarabel): feasible, certified
    /// infeasible, or undecided (the default).
    Lp,
    /// Accelerated projected gradient on the squared hinge: a failure is "not
    /// found", never "impossible".
    Hinge,
}

impl Solver {
    /// Parse `lp` or `hinge`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "lp" => Ok(Self::Lp),
            "hinge" => Ok(Self::Hinge),
            _ => Err(Error::Parse {
                what: "--solver",
                input: s.into(),
                reason: "expected lp (interior point, certified) or hinge (projected gradient)"
                    .into(),
            }),
        }
    }
}

/// Safety margin `μ` (in logit units) the LP asks for above the threshold, so
/// that the step actually taken, which agrees with the linear model to
/// rounding, still clears it.
pub(super) const LP_SAFETY_MARGIN: f64 = 0.5;

impl ConstructConfig {
    /// `redundant ≥ 1` units; every target needs `p ≥ p_target ∈ (0, 1)` after the step.
    pub fn new(redundant: usize, p_target: f64, seed: u64) -> Result<Self> {
        if redundant == 0 {
            return Err(Error::InvalidParameter {
                name: "redundant units",
                value: 0.0,
                expected: "must be at least 1",
            });
        }
        if !(p_target > 0.0 && p_target < 1.0) {
            return Err(Error::InvalidParameter {
                name: "p_target",
                value: p_target,
                expected: "must be in (0, 1)",
            });
        }
        Ok(Self {
            redundant,
            p_target,
            seed,
            max_rounds: 8,
            solver_iters: 20_000,
            directions: Directions::Random,
            solver: Solver::Lp,
            units: Units::Dormant,
        })
    }
    /// Choose how `γ` is found (default [`Solver::Lp`]).
    pub fn with_lp_solver(mut self, solver: Solver) -> Self {
        self.solver = solver;
        self
    }
    /// At most `rounds ≥ 1` solve-and-verify rounds of at most `iters ≥ 1`
    /// projected-gradient iterations each (defaults 8 and 20,000). Fewer make a
    /// failing attempt cheaper (a search over `K` tries many) and can only turn a
    /// success into a reported failure, never the reverse.
    pub fn with_solver(mut self, rounds: usize, iters: usize) -> Result<Self> {
        if rounds == 0 || iters == 0 {
            return Err(Error::InvalidParameter {
                name: "solver rounds/iterations",
                value: rounds.min(iters) as f64,
                expected: "must be at least 1",
            });
        }
        self.max_rounds = rounds;
        self.solver_iters = iters;
        Ok(self)
    }
    /// Choose the units' incoming directions by `directions`.
    pub fn with_directions(mut self, directions: Directions) -> Result<Self> {
        if let Directions::Targeted { pool: 0 } = directions {
            return Err(Error::InvalidParameter {
                name: "candidate pool factor",
                value: 0.0,
                expected: "must be at least 1",
            });
        }
        self.directions = directions;
        Ok(self)
    }
    /// Which units carry the trigger (default [`Units::Dormant`]).
    pub fn with_units(mut self, units: Units) -> Self {
        self.units = units;
        self
    }
    /// Number of redundant units `m`.
    pub fn redundant(&self) -> usize {
        self.redundant
    }
    /// The seed of the units' directions.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// How `γ` is found.
    pub fn solver(&self) -> Solver {
        self.solver
    }
    /// Solve-and-verify rounds at most.
    pub fn max_rounds(&self) -> usize {
        self.max_rounds
    }
    /// Which units carry the trigger.
    pub fn units(&self) -> Units {
        self.units
    }
    /// The logit gap `ln(p*(k−1)/(1−p*))` every `f_t − f_c` must reach for
    /// `p_t ≥ p*` among `k` classes.
    pub(super) fn need_margin(&self, k: usize) -> f64 {
        (self.p_target * (k as f64 - 1.0) / (1.0 - self.p_target)).ln()
    }
}

/// The pair of indistinguishable models and what the construction needed.
#[derive(Clone, Debug)]
pub struct HairTrigger {
    /// Base + inert redundant units: its step is the base model's step.
    pub aligned: Mlp,
    /// Same architecture, same function, hair-trigger future.
    pub twin: Mlp,
    /// Construction statistics.
    pub stats: ConstructStats,
}

/// What the construction needed.
#[derive(Clone, Debug, Serialize)]
pub struct ConstructStats {
    pub redundant: usize,
    pub targets: usize,
    pub rounds: usize,
    pub active_units: usize,
    pub max_alpha: f64,
    pub twin_max_abs_param: f64,
    pub aligned_max_abs_param: f64,
}

/// `base` with `m` inert units (`u = 0, b = 0, v = 0`) in its last hidden layer.
pub fn with_inert_units(base: &Mlp, m: usize) -> Result<Mlp> {
    let hidden = last_hidden(base)?;
    let n_in = base.layers()[hidden - 1].n_in();
    add_dormant_units(base, hidden, &Array2::zeros((m, n_in)), &Array1::zeros(m))
}

fn last_hidden(net: &Mlp) -> Result<usize> {
    if net.depth() < 2 {
        return Err(Error::no_hidden_layer());
    }
    Ok(net.depth() - 1)
}

/// Check that `update` and `targets` fit `base` and that the step moves it:
/// the index of the last hidden layer and the residuals `R` of `update`.
pub(super) fn checked_residuals(
    base: &Mlp,
    update: &Dataset,
    targets: &QuerySet,
) -> Result<(usize, Array2<f64>)> {
    update.check_compatible(base)?;
    targets.check_classes(base.output_dim())?;
    let hidden = last_hidden(base)?;
    let residuals = output_residuals(base, update)?;
    if residuals.iter().all(|&r| r == 0.0) {
        return Err(Error::DegenerateUpdateSet(
            "every residual ∂ℓ/∂f(x_n) is zero: the step does not move the model".into(),
        ));
    }
    Ok((hidden, residuals))
}

/// What every rule's construction starts from: the aligned model, the
/// chosen directions, `G` and the features at the queries.
pub(super) struct Prepared {
    pub aligned: Mlp,
    /// Index of the last hidden layer (where the units go).
    pub hidden: usize,
    pub chosen: ChosenDirections,
    /// `G[c, j] = Σ_n r_n[c] ĥ_j(x_n)`.
    pub g: Array2<f64>,
    /// `ĥ_j(q_i⁺)`: the queries as the aligned model's step leaves its lower layers.
    pub feat_q_plus: Array2<f64>,
    /// The aligned model's post-step logits at the queries.
    pub f_plus: Array2<f64>,
    /// `ĥ_j(q_i)` and the logits at the queries before any step.
    pub feat_q: Array2<f64>,
    pub f_before: Array2<f64>,
}

/// Check the inputs, add the inert units, take the aligned model's step and
/// choose the units' directions.
pub(super) fn prepare(
    base: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<Prepared> {
    let act = base.activation();
    if !act.is_positively_homogeneous() {
        return Err(Error::NotApplicable {
            construction: "analytic hair trigger",
            activation: act.name(),
            reason:
                "the scale law h = α ĥ needs a positively homogeneous activation (ReLU, leaky ReLU)",
        });
    }
    let (hidden, residuals) = checked_residuals(base, update, targets)?;
    let m = cfg.redundant;
    let aligned = with_inert_units(base, m)?;
    let aligned_plus = one_step(&aligned, update, step)?.updated;

    let z_d = base.last_hidden_input(update.x().view())?;
    // Query inputs to the last hidden layer as the *updated* lower layers see
    // them (the new units' incoming weights do not move), and the aligned
    // model's post-step logits.
    let cache_plus = aligned_plus.forward_cache(targets.x().view())?;
    let z_q = cache_plus
        .last_hidden_input()
        .ok_or_else(Error::no_hidden_layer)?;
    let chosen = choose_directions(
        cfg.directions,
        &mut seeded(cfg.seed, stream::CONSTRUCT_DIRECTIONS),
        m,
        act,
        &z_d,
        z_q,
        &residuals,
        targets.accepted(),
    );
    let features = |z: &Array2<f64>| unit_features(z, &chosen, act);
    let feat_d = features(&z_d);
    let g = kernels::matmul_tn(residuals.view(), feat_d.view());
    let feat_q_plus = features(z_q);
    let cache = base.forward_cache(targets.x().view())?;
    let feat_q = features(
        cache
            .last_hidden_input()
            .ok_or_else(Error::no_hidden_layer)?,
    );
    Ok(Prepared {
        aligned,
        hidden,
        g,
        feat_q_plus,
        f_plus: cache_plus.output().clone(),
        feat_q,
        f_before: cache.output().clone(),
        chosen,
    })
}

/// Build the aligned model and its hair-trigger twin for `targets` (query `q_i`
/// and adversarial class `t_i`), checked by running `step` on `update`.
pub fn build_hair_trigger(
    base: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    build(base, update, None, step, targets, cfg)
}

/// The twin for a fine-tune whose first step takes a **mini-batch** of `D`
/// the attacker does not know: the units' directions are chosen on all of
/// `update`, and one LP stacks the constraints of every batch in `batches`
/// (each batch its own residuals, aligned step and post-step features), so the
/// scales hit every target after the step on *each* of them; success is
/// checked by running the step on every batch. How well that carries over to
/// batches not in the list is an empirical question (`construct --batch`
/// measures it on fresh batches). SGD, Adam's and AdamW's first step, LP
/// solver only.
pub fn build_for_batches(
    base: &Mlp,
    update: &Dataset,
    batches: &[Dataset],
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    if batches.is_empty() {
        return Err(Error::InvalidParameter {
            name: "mini-batches of the construction",
            value: 0.0,
            expected: "at least one",
        });
    }
    if cfg.solver != Solver::Lp || matches!(step.rule(), UpdateRule::SgdClip { .. }) {
        return Err(Error::InvalidParameter {
            name: "mini-batch construction",
            value: f64::NAN,
            expected: "the LP solver and SGD, Adam or AdamW (not the hinge solver, not clipping)",
        });
    }
    build(base, update, Some(batches), step, targets, cfg)
}

/// [`build_hair_trigger`] (`batches = None`: the step takes all of `update`)
/// and [`build_for_batches`].
fn build(
    base: &Mlp,
    update: &Dataset,
    batches: Option<&[Dataset]>,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<HairTrigger> {
    if cfg.units == Units::ZeroInput {
        return super::zero_input::build_zero_input(base, update, batches, step, targets, cfg);
    }
    // The law of the new units' post-step contribution in their scale α
    // (module docs): SGD moves v_j by −η α G_j, so the gain is γ = α² times
    // −η G_j ĥ_j(q⁺); Adam's first step moves it by −η α G/(α|G| + ε) ≈ −η sign(G_j),
    // so the gain is α times −η sign(G_j) ĥ_j(q⁺) (up to ε/(α|G|), which the
    // re-solving rounds absorb); AdamW's decays the incoming weights by
    // 1 − ηλ, which scales ĥ_j(q⁺) by it. Clipped SGD is its own construction.
    let Some((law, decay)) = ScaleLaw::of(step) else {
        return super::clipped::build_clipped(base, update, step, targets, cfg);
    };
    let Prepared {
        aligned,
        hidden,
        chosen,
        g,
        feat_q_plus,
        f_plus,
        ..
    } = prepare(base, update, step, targets, cfg)?;
    let k = base.output_dim();
    let m = cfg.redundant;
    let (u, b) = (&chosen.u, &chosen.b);
    // Each update set the step may take: (its data, G, ĥ(q⁺), f⁺(q)).
    let sets: Vec<(&Dataset, StepTerms)> = match batches {
        None => vec![(update, (g, feat_q_plus, f_plus))],
        Some(list) => list
            .iter()
            .map(|batch| {
                Ok((
                    batch,
                    step_terms(base, &aligned, batch, step, targets, &chosen)?,
                ))
            })
            .collect::<Result<_>>()?,
    };
    // G: the direction unit j's outgoing weights move in (per unit of γ for
    // SGD; its sign, per unit of α, for Adam).
    let sets: Vec<_> = sets
        .into_iter()
        .map(|(data, (g, feat_q_plus, f_plus))| {
            let g = match law {
                ScaleLaw::Quadratic => g,
                ScaleLaw::Linear => g.mapv(adam_sign),
            };
            (data, g, feat_q_plus * decay, f_plus)
        })
        .collect();
    let total = targets.len() * sets.len();

    let need_margin = cfg.need_margin(k);
    let mut extra = vec![Array2::<f64>::zeros((targets.len(), k)); sets.len()];
    let mut gamma = Array1::<f64>::zeros(m);
    let mut twin = aligned.clone();
    // The LP's status when it could reach the rows only beyond the box.
    let mut beyond_box: Option<String> = None;
    // The hinge asks for the safety margin in its rows; the LP asks for the
    // threshold itself and adds the margin as its own slack.
    let row_margin = match cfg.solver {
        Solver::Hinge => need_margin + LP_SAFETY_MARGIN,
        Solver::Lp => need_margin,
    };
    for round in 1..=cfg.max_rounds {
        let parts: Vec<(Array2<f64>, Array1<f64>)> = sets
            .iter()
            .zip(&extra)
            .map(|((_, g, feat_q, f_plus), extra)| {
                constraints(
                    g,
                    feat_q,
                    f_plus,
                    targets.accepted(),
                    step.eta(),
                    row_margin,
                    extra,
                )
            })
            .collect();
        let (a, need) = stack_rows(parts);
        gamma = match cfg.solver {
            Solver::Hinge => {
                if round == 1 {
                    gamma = sequential_start(&a, &need, &chosen.serves, k - 1);
                }
                solve_nonneg_hinge(a, &need, gamma, cfg.solver_iters)
            }
            Solver::Lp => {
                let d = feasibility::decide(
                    &a,
                    &need,
                    LP_SAFETY_MARGIN,
                    law.lp_alpha_max(feasibility::DEFAULT_ALPHA_MAX),
                    "construction LP",
                )?;
                match round_scales(d, round, &a, &need, total, m)? {
                    Round::Scales(gamma) => gamma,
                    Round::BeyondBox { gamma: g, status } => {
                        gamma = g;
                        beyond_box = Some(status);
                        break;
                    }
                    Round::Stop => break,
                }
            }
        };
        let alpha = law.alpha(&gamma);
        twin = scaled_twin(base, hidden, u, b, &alpha)?;
        let datasets = sets.iter().map(|(data, ..)| *data);
        if step_every_set(&twin, datasets, &mut extra, step, targets, cfg)? {
            let max_alpha = alpha
                .iter()
                .fold(0.0f64, |mx, &v| crate::finite::nan_max(mx, v));
            return Ok(HairTrigger {
                stats: ConstructStats {
                    redundant: m,
                    targets: targets.len(),
                    rounds: round,
                    active_units: gamma.iter().filter(|&&v| v > 0.0).count(),
                    max_alpha,
                    twin_max_abs_param: twin.max_abs(),
                    aligned_max_abs_param: aligned.max_abs(),
                },
                aligned,
                twin,
            });
        }
    }
    // Two kinds of run are searched along the LP's own ray by the real step
    // on the whole update set ([`super::clipped::scale_search`]): a hit inside
    // the box is the twin, one past it a [`Error::ConstructionBeyondBox`]
    // that classifies the failure, none up to the check limit a miss.
    // (1) The LP reached every row only with scales above the box.
    // (2) Adam's and AdamW's first step move a coordinate by `−η ρ`,
    // `ρ = αG/(α|G| + ε)`, not by `−η sign(G)`: where the LP's scales leave
    // `α|G|` near `ε` (a tiny residual on a class no label shows) the step
    // falls short; the gain tends to the LP's linear law as the scales grow
    // together.
    if let (Some(status), Some(_)) = (&beyond_box, batches) {
        return Err(ray_not_searched(total, m, status));
    }
    if (beyond_box.is_some() || law == ScaleLaw::Linear) && batches.is_none() {
        let alpha = law.alpha(&gamma);
        let top = alpha
            .iter()
            .fold(0.0f64, |mx, &v| crate::finite::nan_max(mx, v));
        if top > 0.0 && top.is_finite() {
            return super::clipped::scale_search(
                &(alpha / top),
                |a| scaled_twin(base, hidden, u, b, a),
                update,
                step,
                targets,
                cfg,
                aligned,
            );
        }
    }
    let datasets = sets.iter().map(|(data, ..)| *data);
    Err(missed_targets(&twin, datasets, step, targets, cfg, m)?)
}

/// The rows of several `(A, need)` blocks, stacked in order.
pub(super) fn stack_rows(parts: Vec<(Array2<f64>, Array1<f64>)>) -> (Array2<f64>, Array1<f64>) {
    if parts.len() == 1 {
        return parts.into_iter().next().expect("one block");
    }
    let a_views: Vec<_> = parts.iter().map(|(a, _)| a.view()).collect();
    let n_views: Vec<_> = parts.iter().map(|(_, n)| n.view()).collect();
    (
        ndarray::concatenate(Axis(0), &a_views).expect("blocks of equal width"),
        ndarray::concatenate(Axis(0), &n_views).expect("vectors"),
    )
}

/// `ĥ_j = σ(û_j·z + b̂_j)`: the units' features at inputs `z` of the last hidden layer.
fn unit_features(z: &Array2<f64>, chosen: &ChosenDirections, act: Activation) -> Array2<f64> {
    kernels::activate(
        &kernels::affine(z.view(), chosen.u.view(), Some(chosen.b.view())),
        act,
    )
}

/// `(G, ĥ(q⁺), f⁺(q))` of one update set.
type StepTerms = (Array2<f64>, Array2<f64>, Array2<f64>);

/// One update set's (a mini-batch's) terms for fixed directions: `G` from its
/// residuals, and the queries' features and the aligned model's logits after
/// the step on it.
fn step_terms(
    base: &Mlp,
    aligned: &Mlp,
    batch: &Dataset,
    step: &StepConfig,
    targets: &QuerySet,
    chosen: &ChosenDirections,
) -> Result<StepTerms> {
    let features = |z: &Array2<f64>| unit_features(z, chosen, base.activation());
    let residuals = output_residuals(base, batch)?;
    let feat_d = features(&base.last_hidden_input(batch.x().view())?);
    let g = kernels::matmul_tn(residuals.view(), feat_d.view());
    let cache_plus = one_step(aligned, batch, step)?
        .updated
        .forward_cache(targets.x().view())?;
    let z_q = cache_plus
        .last_hidden_input()
        .ok_or_else(Error::no_hidden_layer)?;
    Ok((g, features(z_q), cache_plus.output().clone()))
}

/// Rows `(i, c ≠ t_i)`: `A γ` is the post-step gain of `f_t − f_c` at query `i`;
/// `need` what it must reach.
pub(super) fn constraints(
    g: &Array2<f64>,
    feat_q: &Array2<f64>,
    f_plus: &Array2<f64>,
    t: &[usize],
    eta: f64,
    margin: f64,
    extra: &Array2<f64>,
) -> (Array2<f64>, Array1<f64>) {
    let (k, m) = g.dim();
    let rows = t.len() * (k - 1);
    let mut a = Array2::zeros((rows, m));
    let mut need = Array1::zeros(rows);
    let mut r = 0;
    for (i, &ti) in t.iter().enumerate() {
        for c in (0..k).filter(|&c| c != ti) {
            a.row_mut(r)
                .assign(&((&g.row(ti) - &g.row(c)) * feat_q.row(i) * -eta));
            need[r] = f_plus[[i, c]] - f_plus[[i, ti]] + margin + extra[[i, c]];
            r += 1;
        }
    }
    (a, need)
}

/// Targets whose `rows_per_target` rows all have `(A γ)_r ≥ need_r`.
pub(super) fn targets_reached(
    a: &Array2<f64>,
    need: &Array1<f64>,
    gamma: &Array1<f64>,
    rows_per_target: usize,
) -> usize {
    let got = kernels::matvec(a, gamma);
    (0..need.len() / rows_per_target.max(1))
        .filter(|&i| (i * rows_per_target..(i + 1) * rows_per_target).all(|r| got[r] >= need[r]))
        .count()
}

/// A starting point for the solver: units in order, each raised just enough
/// to satisfy the rows (`k − 1` per target, target-major) of the targets it
/// serves, given the units before it. Exact when every unit is silent on the
/// earlier units' targets (the triangular construction of
/// [`super::directions`]); otherwise a warm start.
fn sequential_start(
    a: &Array2<f64>,
    need: &Array1<f64>,
    serves: &[Vec<usize>],
    rows_per_target: usize,
) -> Array1<f64> {
    let mut gamma = Array1::<f64>::zeros(a.ncols());
    let mut reached = Array1::<f64>::zeros(a.nrows());
    for (j, targets) in serves.iter().enumerate() {
        let raise = targets
            .iter()
            .flat_map(|&i| i * rows_per_target..(i + 1) * rows_per_target)
            .filter(|&r| a[[r, j]] > 0.0 && need[r] > reached[r])
            .map(|r| (need[r] - reached[r]) / a[[r, j]])
            .fold(0.0f64, f64::max);
        if raise > 0.0 {
            gamma[j] = raise;
            reached.scaled_add(raise, &a.column(j));
        }
    }
    gamma
}

/// `min_{γ ≥ 0} ½ Σ_r max(0, need_r − (Aγ)_r)²` by accelerated projected
/// gradient on column-normalised variables, from `start`. `A` is normalised
/// in place (it is the largest array of a breadth point; a normalised copy
/// would double the point's memory).
fn solve_nonneg_hinge(
    a: Array2<f64>,
    need: &Array1<f64>,
    start: Array1<f64>,
    iters: usize,
) -> Array1<f64> {
    let scale: Array1<f64> = a
        .axis_iter(Axis(1))
        .map(|c| c.dot(&c).sqrt().max(1e-300))
        .collect();
    let mut an = a;
    an /= &scale;
    // Lipschitz constant of the gradient: ‖Â‖₂² by power iteration.
    let mut v = Array1::from_elem(an.ncols(), 1.0);
    let mut lip = 1.0;
    for _ in 0..50 {
        let w = kernels::matvec_t(&an, &kernels::matvec(&an, &v));
        lip = w.dot(&w).sqrt() / v.dot(&v).sqrt();
        v = &w / w.dot(&w).sqrt().max(1e-300);
    }
    let step = 1.0 / lip.max(1e-300);
    let mut x = &start * &scale;
    let mut y = x.clone();
    let mut t = 1.0f64;
    // Stop early on success, or when the objective at x has improved by less
    // than 1e-9 of itself over the last 1,000 iterations (an infeasible system).
    let objective = |v: &Array1<f64>| {
        (need - &kernels::matvec(&an, v))
            .mapv(|s| s.max(0.0).powi(2))
            .sum()
    };
    let mut checkpoint = objective(&x);
    for it in 1..=iters {
        let (at_slack, satisfied) = kernels::hinge_gradient(&an, need, &y);
        if satisfied && y.iter().all(|&v| v >= 0.0) {
            x = y.clone();
            break;
        }
        if it % 1_000 == 0 {
            let now = objective(&x);
            if now > (1.0 - 1e-9) * checkpoint {
                break;
            }
            checkpoint = now;
        }
        let grad = -at_slack;
        let x_new = (&y - &(grad * step)).mapv(|v| v.max(0.0));
        let t_new = 0.5 * (1.0 + (1.0 + 4.0 * t * t).sqrt());
        y = &x_new + &((&x_new - &x) * ((t - 1.0) / t_new));
        x = x_new;
        t = t_new;
    }
    x / &scale
}

/// Add the measured deficit of each failing `(target, class)` pair of the
/// stepped twin `after` (plus 0.25) to its requirement in `extra`.
pub(super) fn add_deficits(
    after: &Mlp,
    targets: &QuerySet,
    need_margin: f64,
    extra: &mut Array2<f64>,
) -> Result<()> {
    let f_after = after.forward(targets.x().view())?;
    for (i, row) in f_after.axis_iter(Axis(0)).enumerate() {
        let t = targets.accepted()[i];
        for c in (0..row.len()).filter(|&c| c != t) {
            let deficit = need_margin - (row[t] - row[c]);
            if deficit > 0.0 {
                extra[[i, c]] += deficit + 0.25;
            }
        }
    }
    Ok(())
}

/// What one LP round of a construction decided ([`round_scales`]).
pub(super) enum Round {
    /// Feasible inside the box: these scales, to be verified by the step.
    Scales(Array1<f64>),
    /// Feasible only with scales above the box: the LP's least-shortfall
    /// scales, whose ray the caller searches by the real step
    /// ([`super::clipped::scale_search`]) to tell a twin inside the box (the
    /// linear model's margin was conservative), one beyond it
    /// ([`Error::ConstructionBeyondBox`]) and a miss apart.
    BeyondBox {
        gamma: Array1<f64>,
        /// The LP's status line, for a caller that cannot search the ray.
        status: String,
    },
    /// Stop re-solving: the rows with the measured deficits added are
    /// infeasible after round 1.
    Stop,
}

/// A run the LP reaches only beyond the box, built for mini-batches: the ray
/// search takes the whole update set, so the run stays undecided.
pub(super) fn ray_not_searched(total: usize, redundant: usize, status: &str) -> Error {
    Error::ConstructionUndecided {
        total,
        redundant,
        status: format!("{status} (mini-batches: the ray is not searched)"),
    }
}

/// The scales of one LP round of a construction ([`Round`]); an error for
/// round 1's exact question when it is certified infeasible
/// ([`Error::ConstructionInfeasible`], with the targets the least-shortfall
/// `γ` reaches among `total`) and whenever the LP is undecided for another
/// reason than the box (a solver failure, a "no" whose check fell short).
pub(super) fn round_scales(
    d: feasibility::Decision,
    round: usize,
    a: &Array2<f64>,
    need: &Array1<f64>,
    total: usize,
    redundant: usize,
) -> Result<Round> {
    if let Some((gamma, status)) = d.scales_beyond_box() {
        return Ok(Round::BeyondBox {
            gamma: gamma.clone(),
            status: status.to_owned(),
        });
    }
    match d.verdict {
        Verdict::Feasible => Ok(Round::Scales(d.gamma)),
        // Round 1 is the exact question (no deficits added yet).
        Verdict::Infeasible(_) if round == 1 => {
            // `k − 1` rows per target, target-major, every set stacked.
            let rows_per_target = need.len() / total.max(1);
            Err(Error::ConstructionInfeasible {
                hit: targets_reached(a, need, &d.gamma, rows_per_target),
                total,
                redundant,
                alpha_max: feasibility::DEFAULT_ALPHA_MAX,
            })
        }
        Verdict::Infeasible(_) => Ok(Round::Stop),
        Verdict::Undecided { status, .. } => Err(Error::ConstructionUndecided {
            total,
            redundant,
            status,
        }),
    }
}

/// Take `step` from `twin` on each set and check every target; add the
/// measured deficits of each set that misses one to its `extra`. Whether
/// every set hit every target.
pub(super) fn step_every_set<'a>(
    twin: &Mlp,
    sets: impl Iterator<Item = &'a Dataset>,
    extra: &mut [Array2<f64>],
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
) -> Result<bool> {
    let need_margin = cfg.need_margin(twin.output_dim());
    let mut all_hit = true;
    for (data, extra) in sets.zip(extra.iter_mut()) {
        let after = one_step(twin, data, step)?.updated;
        if evaluate(&after, targets, cfg.p_target)?.pass_rate < 1.0 {
            all_hit = false;
            add_deficits(&after, targets, need_margin, extra)?;
        }
    }
    Ok(all_hit)
}

/// [`Error::ConstructionFailed`] for the last twin of a construction whose
/// rounds ran out: the targets it hits after the step on each set, summed
/// over the sets.
pub(super) fn missed_targets<'a>(
    twin: &Mlp,
    sets: impl Iterator<Item = &'a Dataset>,
    step: &StepConfig,
    targets: &QuerySet,
    cfg: &ConstructConfig,
    redundant: usize,
) -> Result<Error> {
    let (mut hit, mut total) = (0, 0);
    for data in sets {
        let after = one_step(twin, data, step)?.updated;
        let report = evaluate(&after, targets, cfg.p_target)?;
        hit += report.results.iter().filter(|r| r.passed).count();
        total += targets.len();
    }
    Ok(Error::ConstructionFailed {
        hit,
        total,
        redundant,
    })
}

/// The sign Adam's first step moves a coordinate by: `sign(0) = 0` (Adam does
/// not move a coordinate whose gradient is 0; `f64::signum` would give 1),
/// NaN stays NaN.
pub(super) fn adam_sign(v: f64) -> f64 {
    if v > 0.0 {
        1.0
    } else if v < 0.0 {
        -1.0
    } else {
        v
    }
}

/// How the new units' post-step gain grows with their scale `α`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum ScaleLaw {
    /// SGD: `∝ γ = α²`.
    Quadratic,
    /// Adam's first step: `∝ α`.
    Linear,
}

impl ScaleLaw {
    /// The law of `step`'s rule and the factor AdamW's decay puts on the gain
    /// (`1 − ηλ`; 1 otherwise); `None` for clipped SGD, whose gain is not a
    /// fixed law in the scale (its own construction).
    pub(super) fn of(step: &StepConfig) -> Option<(Self, f64)> {
        match step.rule() {
            UpdateRule::Sgd => Some((Self::Quadratic, 1.0)),
            UpdateRule::AdamFirstStep { .. } => Some((Self::Linear, 1.0)),
            UpdateRule::AdamWFirstStep { weight_decay, .. } => {
                Some((Self::Linear, 1.0 - step.eta() * weight_decay))
            }
            UpdateRule::SgdClip { .. } => None,
        }
    }

    /// The scales `α` from the LP's variables (`γ` or `α` itself).
    pub(super) fn alpha(self, x: &Array1<f64>) -> Array1<f64> {
        match self {
            Self::Quadratic => x.mapv(f64::sqrt),
            Self::Linear => x.clone(),
        }
    }

    /// The LP's box `α_max²` on `γ`, or `α_max` on `α`, written as the
    /// `α_max` [`feasibility::decide`] squares.
    pub(super) fn lp_alpha_max(self, alpha_max: f64) -> f64 {
        match self {
            Self::Quadratic => alpha_max,
            Self::Linear => alpha_max.sqrt(),
        }
    }
}

/// The base model plus dormant units `(α_j u_j, α_j b_j, v = 0)`: the twin.
pub(super) fn scaled_twin(
    base: &Mlp,
    hidden: usize,
    u: &Array2<f64>,
    b: &Array1<f64>,
    alpha: &Array1<f64>,
) -> Result<Mlp> {
    let scaled_u = u * &alpha.view().insert_axis(Axis(1));
    let twin = add_dormant_units(base, hidden, &scaled_u, &(b * alpha))?;
    twin.check_finite("hair-trigger twin")?;
    Ok(twin)
}
