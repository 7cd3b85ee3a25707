//! C3, *breadth*: how many independent adversarial behaviours `m` redundant
//! units can hide.
//!
//! A fixed base network `θ` (seeded), a fixed update set `D`, `η` and SGD. For a
//! seed `s`, a sequence of queries `q_1, q_2, …` with independent targets
//! `t_i` drawn uniformly from the classes the base model does *not* answer.
//! `K*(m, s)` is the largest `K` for which the analytic construction
//! ([`crate::attack::build_hair_trigger`]) with `m` redundant units makes the
//! one-step-updated twin answer `t_i` with `p ≥ p*` on all of `q_1..q_K` while
//! `f_twin ≡ f_θ`. The search doubles `K` from 1 until an attempt fails, then
//! bisects between the last success and the first failure; every `K` it tries is
//! decided by running the step on the twin and evaluating it.
//!
//! **Upper bound (dimension counting).** [`sign_pattern_upper_bound`]: the
//! number of target patterns the whole dormant-unit family (directions chosen
//! freely) can realise is at most an activation-pattern count times Warren's
//! sign-pattern bound for `P = K·C(k,2)` polynomials of degree 2 in the
//! `m(n_in+1)` parameters `w_j = α_j (u_j, b_j)` (the units are positively
//! homogeneous, so their scale is no parameter of its own),
//! so `P(K* ≥ K_ub) ≤ δ` for a uniformly random assignment whatever the search does.
//!
//! **Lower bound (constructive).** [`BreadthSetup::lower_bound`]: with ReLU
//! units, the triangular construction of `separable_prefix` (one unit per
//! target, silent on every earlier query) hits the first `K_lb ≤ m` targets,
//! where `K_lb` is decided by geometry alone (no solver).

use crate::attack::directions::separable_prefix;
use crate::attack::{build_hair_trigger, ConstructConfig, Directions, Solver};
use crate::error::{Error, Result};
use crate::eval::{answer, QuerySet};
use crate::net::gaussian_inputs;
use crate::net::{output_residuals, Activation, Architecture, Dataset, Mlp, Targets};
use crate::rng::{seeded, stream};
use crate::update::{one_step, StepConfig};
use rand::Rng;
use serde::Serialize;

/// Validated settings of one breadth point.
#[derive(Clone, Debug, Serialize)]
pub struct BreadthConfig {
    arch: Architecture,
    base_seed: u64,
    update_size: usize,
    eta: f64,
    p_target: f64,
    k_max: usize,
    solver_rounds: usize,
    solver_iters: usize,
    directions: Directions,
    solver: Solver,
}

impl BreadthConfig {
    /// Base architecture (≥ 1 hidden layer, positively homogeneous activation,
    /// ≥ 3 classes so that targets can be drawn independently), seed of the
    /// base model and update set, `|D|`, `η`, `p*`, and the largest `K` tried.
    pub fn new(
        arch: Architecture,
        base_seed: u64,
        update_size: usize,
        eta: f64,
        p_target: f64,
        k_max: usize,
    ) -> Result<Self> {
        StepConfig::sgd(eta)?;
        ConstructConfig::new(1, p_target, 0)?;
        if arch.output_dim() < 3 {
            return Err(Error::InvalidParameter {
                name: "classes",
                value: arch.output_dim() as f64,
                expected:
                    "at least 3 (a target is drawn from the k − 1 classes the base does not answer)",
            });
        }
        if update_size == 0 {
            return Err(Error::EmptyData("update set"));
        }
        if k_max == 0 {
            return Err(Error::EmptyData("query set"));
        }
        Ok(Self {
            arch,
            base_seed,
            update_size,
            eta,
            p_target,
            k_max,
            solver_rounds: 3,
            solver_iters: 20_000,
            directions: Directions::Targeted { pool: 4 },
            solver: Solver::Lp,
        })
    }

    /// Choose how each attempt's scales are found (default [`Solver::Lp`]).
    pub fn with_lp_solver(mut self, solver: Solver) -> Self {
        self.solver = solver;
        self
    }

    /// The default breadth setting: base `[32, 32, 4]` ReLU (seeded random
    /// weights), 32 update samples with balanced labels, `η = 1e-3`, `p* = 0.9`,
    /// targeted directions (pool 4).
    pub fn standard(k_max: usize) -> Result<Self> {
        let arch = Architecture::new(vec![32, 32, 4], Activation::Relu, true)?;
        Ok(Self::new(arch, 0, 32, 1e-3, 0.9, k_max)?
            .with_directions(Directions::Targeted { pool: 4 }))
    }

    /// Input dimension of the base model.
    pub fn input_dim(&self) -> usize {
        self.arch.input_dim()
    }

    /// Override the solver budget (rounds, iterations per round).
    pub fn with_solver(mut self, rounds: usize, iters: usize) -> Self {
        self.solver_rounds = rounds;
        self.solver_iters = iters;
        self
    }

    /// Choose the construction's unit directions.
    pub fn with_directions(mut self, directions: Directions) -> Self {
        self.directions = directions;
        self
    }

    /// Number of classes.
    pub fn classes(&self) -> usize {
        self.arch.output_dim()
    }

    /// Width of the input to the last hidden layer (what a redundant unit sees).
    pub fn last_hidden_inputs(&self) -> usize {
        let w = self.arch.widths();
        w[w.len() - 3]
    }

    /// Parameters `m` redundant units add: incoming weights and bias into the
    /// last hidden layer, outgoing weights to the `k` outputs.
    pub fn extra_params(&self, m: usize) -> usize {
        let n_in = self.last_hidden_inputs();
        m * (n_in + usize::from(self.arch.bias()) + self.classes())
    }
}

/// The fixed base model and update set of a breadth sweep.
pub struct BreadthSetup {
    cfg: BreadthConfig,
    base: Mlp,
    update: Dataset,
    step: StepConfig,
}

impl BreadthSetup {
    /// Draw the base model and the update set from `cfg`'s base seed.
    pub fn new(cfg: BreadthConfig) -> Result<Self> {
        let base = Mlp::random(&cfg.arch, &mut seeded(cfg.base_seed, stream::BREADTH_BASE));
        let x = gaussian_inputs(
            &mut seeded(cfg.base_seed, stream::BREADTH_UPDATE),
            cfg.update_size,
            cfg.arch.input_dim(),
        );
        let labels = (0..cfg.update_size).map(|n| n % cfg.classes()).collect();
        let update = Dataset::new("breadth update set", x, Targets::Classes(labels))?;
        let step = StepConfig::sgd(cfg.eta)?;
        Ok(Self {
            cfg,
            base,
            update,
            step,
        })
    }

    /// The first `k_max` queries and independent targets of seed `seed`.
    pub fn targets(&self, seed: u64) -> Result<QuerySet> {
        let mut rng = seeded(seed, stream::BREADTH_TARGETS);
        let k = self.cfg.classes();
        let x = gaussian_inputs(&mut rng, self.cfg.k_max, self.cfg.input_dim());
        let f = self.base.forward(x.view())?;
        let t = f
            .rows()
            .into_iter()
            .map(|row| {
                let answer = answer(row);
                let draw = rng.random_range(0..k - 1);
                if draw >= answer {
                    draw + 1
                } else {
                    draw
                }
            })
            .collect();
        QuerySet::new(x, t)
    }

    /// Run the construction for the first `kk` targets: how many were hit
    /// and how the attempt ended.
    pub fn attempt(
        &self,
        all: &QuerySet,
        kk: usize,
        m: usize,
        seed: u64,
    ) -> Result<(usize, Outcome)> {
        let x = all.x().slice(ndarray::s![..kk, ..]).to_owned();
        let q = QuerySet::new(x, all.accepted()[..kk].to_vec())?;
        let cc = ConstructConfig::new(m, self.cfg.p_target, seed)?
            .with_solver(self.cfg.solver_rounds, self.cfg.solver_iters)?
            .with_directions(self.cfg.directions)?
            .with_lp_solver(self.cfg.solver);
        match build_hair_trigger(&self.base, &self.update, &self.step, &q, &cc) {
            Ok(ht) => Ok((ht.stats.targets, Outcome::Reached)),
            Err(Error::ConstructionFailed { hit, .. }) => Ok((hit, Outcome::Missed)),
            Err(Error::ConstructionInfeasible { hit, .. }) => Ok((hit, Outcome::Infeasible)),
            Err(Error::ConstructionUndecided { .. }) => Ok((0, Outcome::Undecided)),
            Err(e) => Err(e),
        }
    }

    /// The constructive lower bound (`separable_prefix`, below) for `m` units
    /// (ReLU only; 0 for other activations, where units are never silent).
    pub fn lower_bound(&self, all: &QuerySet, m: usize) -> Result<usize> {
        if self.base.activation() != Activation::Relu {
            return Ok(0);
        }
        let plus = one_step(&self.base, &self.update, &self.step)?.updated;
        let z_d = self.base.last_hidden_input(self.update.x().view())?;
        let z_q = plus.last_hidden_input(all.x().view())?;
        let r = output_residuals(&self.base, &self.update)?;
        Ok(separable_prefix(m, &z_d, &z_q, &r, all.accepted()))
    }

    /// `K*(m, seed)` by doubling then bisection, with every attempt recorded.
    pub fn search(&self, m: usize, seed: u64) -> Result<BreadthPoint> {
        let all = self.targets(seed)?;
        let mut tries = Vec::new();
        let run = |kk: usize, tries: &mut Vec<BreadthTry>| -> Result<bool> {
            let (hit, outcome) = self.attempt(&all, kk, m, seed)?;
            tries.push(BreadthTry {
                seed,
                redundant: m,
                k: kk,
                hit,
                success: hit == kk,
                outcome,
            });
            Ok(hit == kk)
        };
        let (mut lo, mut hi) = (0usize, None::<usize>);
        let mut kk = 1;
        while kk <= self.cfg.k_max {
            if run(kk, &mut tries)? {
                lo = kk;
                kk *= 2;
            } else {
                hi = Some(kk);
                break;
            }
        }
        let capped = hi.is_none();
        let mut hi = hi.unwrap_or(self.cfg.k_max + 1);
        if capped && lo < self.cfg.k_max {
            // Doubling overshot k_max without a failure: try k_max itself.
            if run(self.cfg.k_max, &mut tries)? {
                lo = self.cfg.k_max;
            } else {
                hi = self.cfg.k_max;
            }
        }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if run(mid, &mut tries)? {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let first_failure = tries.iter().find(|t| t.k == hi).map(|t| t.outcome);
        Ok(BreadthPoint {
            seed,
            k_star_certified: first_failure == Some(Outcome::Infeasible),
            undecided: tries
                .iter()
                .filter(|t| t.outcome == Outcome::Undecided)
                .count(),
            redundant: m,
            extra_params: self.cfg.extra_params(m),
            k_star: lo,
            k_star_capped: lo == self.cfg.k_max,
            k_upper: sign_pattern_upper_bound(
                m,
                self.cfg.last_hidden_inputs(),
                self.cfg.update_size,
                self.cfg.classes(),
                UPPER_BOUND_DELTA,
            ),
            k_lower: self.lower_bound(&all, m)?,
            attempts: tries.len(),
            tries,
        })
    }
}

/// `δ` of the sign-pattern upper bound.
pub const UPPER_BOUND_DELTA: f64 = 0.01;

/// One attempt of the search.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct BreadthTry {
    pub seed: u64,
    pub redundant: usize,
    pub k: usize,
    pub hit: usize,
    pub success: bool,
    pub outcome: Outcome,
}

/// How one attempt of the search ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every target hit after the step.
    Reached,
    /// The solver's `γ` missed some target after the step: "not found", not
    /// "impossible" (every failure of [`Solver::Hinge`]).
    Missed,
    /// No `γ ≥ 0` hits every target for these directions: a checked Farkas
    /// certificate ([`crate::attack::feasibility`]).
    Infeasible,
    /// The LP solver could not decide.
    Undecided,
}

/// One `(m, seed)` point of the breadth sweep.
#[derive(Clone, Debug, Serialize, serde::Deserialize)]
pub struct BreadthPoint {
    pub seed: u64,
    pub redundant: usize,
    pub extra_params: usize,
    /// Largest `K` found with every target hit.
    pub k_star: usize,
    /// `k_star` reached the largest `K` tried (the true `K*` may be larger).
    pub k_star_capped: bool,
    /// The first failing `K` (`K* + 1`) came with a checked Farkas
    /// certificate: no scales `γ` hit its targets with its directions.
    pub k_star_certified: bool,
    /// Attempts the LP could not decide (counted as failures by the search).
    pub undecided: usize,
    /// Sign-pattern upper bound at `δ = UPPER_BOUND_DELTA`.
    pub k_upper: usize,
    /// Constructive lower bound.
    pub k_lower: usize,
    pub attempts: usize,
    #[serde(skip)]
    pub tries: Vec<BreadthTry>,
}

pub use crate::attack::bounds::{ln_max_cells, sign_pattern_upper_bound};
