//! White-box audit of a model for hair triggers (the seed's open question,
//! claim C5): scores computed from the weights alone, the canonical form of
//! the model's symmetry orbit ([`canonical`]), and — when an update set is
//! given — the exact one-step future of the model and of its canonical form.
//!
//! Update-set-agnostic scores, each with what it sees and what it cannot:
//!
//! * **dormant units** (`v_j = 0`, `(u_j, b_j) ≠ 0`): the raw material of the
//!   analytic twin (`attack::analytic`). Blind to a twin whose extra units
//!   have tiny but non-zero outgoing weights.
//! * **parallel units** merged by canonicalization (splits, duplicates,
//!   cancelling pairs `+v/−v`). Blind to units that are only nearly parallel.
//! * **norm imbalance** `max_j |ln(‖(u_j, b_j)‖/‖v_j‖)|` (positively
//!   homogeneous activations): gradient descent from a standard
//!   initialisation keeps `‖u_j‖² − ‖v_j‖²` nearly constant, a rescaled twin
//!   moves it by orders of magnitude. Depends on the initialisation scale, so
//!   it is reported, not used in the verdict.
//! * **NTK ratio** `‖Θ_θ‖_F / ‖Θ_{canon θ}‖_F` on Gaussian probes: how much
//!   faster the model's outputs move under a small step than the canonical
//!   representative's. Sees rescaling twins; equals 1 for any model already in
//!   canonical form, whatever its future.
//! * **first-order reach** ([`first_order`]): the worst first-order change of
//!   the queries' answer margins over update sets of a stated family (inputs
//!   drawn like the queries, any labels), relative to the margins, at the
//!   fine-tuner's `η`. Computed at `θ` itself, so it sees a fast-moving model
//!   in any gauge, canonical included; blind to second-order triggers and to
//!   update sets far from the probes.
//!
//! The verdict `flagged` is documented in [`AuditThresholds`]; its rates on a
//! zoo of trained, moved, constructed and meta-learned models are measured by
//! `experiments::zoo` (`paper-notes/audit.md`).

pub mod canonical;
pub mod first_order;

use crate::error::{Error, Result};
use crate::net::{ntk, Mlp};
use crate::update::Tunable;
use canonical::{canonicalize, log_imbalance, probes, relative_deviation, CanonicalReport};
use first_order::{first_order_reach, probes_like, tuned_ntk, FirstOrderReach, REACH_PROBES};
use ndarray::Array2;
use serde::Serialize;

/// The verdict's thresholds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AuditThresholds {
    /// Flag when this many dormant, zero-input (constant) or merged units (or
    /// more) are found.
    pub min_symmetry_units: usize,
    /// Flag when the NTK ratio exceeds this.
    pub max_ntk_ratio: f64,
    /// Flag when the median first-order reach is at least this (`1`: some
    /// update set of the family flips the median query to first order).
    pub max_first_order_reach: f64,
}

impl Default for AuditThresholds {
    /// Fixed from the scores' meaning, before any zoo measurement: one
    /// symmetry unit, an order of magnitude of NTK, a reach of one margin.
    fn default() -> Self {
        Self {
            min_symmetry_units: 1,
            max_ntk_ratio: 10.0,
            max_first_order_reach: 1.0,
        }
    }
}

/// What an audit is asked: the verdict's thresholds, the fine-tuner's
/// learning rate, the queries a black-box evaluation tests (Gaussian probes
/// when none are given), and the probes' seed.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    thresholds: AuditThresholds,
    eta: f64,
    queries: Option<Array2<f64>>,
    seed: u64,
}

/// Gaussian queries of the first-order reach when the user gives none.
pub const DEFAULT_REACH_QUERIES: usize = 16;

impl AuditConfig {
    /// Default thresholds, Gaussian queries, seed 0; `η` must be positive
    /// and finite.
    pub fn new(eta: f64) -> Result<Self> {
        if !(eta.is_finite() && eta > 0.0) {
            return Err(Error::InvalidParameter {
                name: "eta",
                value: eta,
                expected: "a positive finite learning rate",
            });
        }
        Ok(Self {
            thresholds: AuditThresholds::default(),
            eta,
            queries: None,
            seed: 0,
        })
    }
    /// The queries of the first-order reach (one per row).
    pub fn with_queries(mut self, queries: Array2<f64>) -> Result<Self> {
        if queries.nrows() == 0 {
            return Err(Error::EmptyData("audit queries"));
        }
        if queries.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("audit queries".into()));
        }
        self.queries = Some(queries);
        Ok(self)
    }
    /// The seed of the probe inputs.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Other thresholds.
    pub fn with_thresholds(mut self, thresholds: AuditThresholds) -> Self {
        self.thresholds = thresholds;
        self
    }
    /// The fine-tuner's learning rate.
    pub fn eta(&self) -> f64 {
        self.eta
    }
}

/// Every score of one model.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
    /// What the fine-tune moves: `whole network` or `LoRA rank r adapters`.
    pub coordinates: String,
    pub widths: Vec<usize>,
    pub activation: String,
    pub params: usize,
    pub canonical: CanonicalReport,
    /// `max |f_canon − f| / max |f|` over the probes (f64 rounding only).
    pub canonical_max_rel_deviation: f64,
    /// `max_j |ln(‖(u_j, b_j)‖/‖v_j‖)|`, where it applies.
    pub max_log_imbalance: Option<f64>,
    /// Median of the same.
    pub median_log_imbalance: Option<f64>,
    /// `‖Θ_θ‖_F / ‖Θ_{canon θ}‖_F` on the probes.
    pub ntk_ratio: f64,
    /// The first-order reach at the configured `η` (queries given or Gaussian).
    pub first_order: FirstOrderReach,
    /// Whether the reach's queries were the user's (`false`: Gaussian probes).
    pub queries_given: bool,
    /// Scores that do not apply to this model's activation, and why.
    pub skipped: Vec<String>,
    pub thresholds: AuditThresholds,
    pub flagged: bool,
    /// Why the model was flagged (empty when not).
    pub reasons: Vec<String>,
}

/// Probes of `canonicalize`'s deviation check.
pub const DEVIATION_PROBES: usize = 10_000;
/// Probes of the audit's own deviation check (rounding only; fewer than
/// `canonicalize` checks, to keep an audit cheap at millions of parameters).
pub const AUDIT_DEVIATION_PROBES: usize = 1_000;
/// Probes of the NTK ratio (the NTK costs `O(n² P)`).
pub const NTK_PROBES: usize = 8;

/// Audit `net` from its weights (and the queries) alone; also returns its
/// canonical form.
pub fn audit(net: &Mlp, cfg: &AuditConfig) -> Result<(AuditReport, Mlp)> {
    audit_tunable(&Tunable::Whole(net.clone()), cfg)
}

/// Audit a model as its fine-tune will move it: a whole network, or LoRA
/// adapters on a frozen base. The symmetry scores and the canonical form are
/// those of the network a black box sees (adapters merged); the NTK ratio
/// and the first-order reach use the NTK of the coordinates the fine-tune
/// moves (for adapters `Θ_φ`, against the canonical whole network's `Θ`).
pub fn audit_tunable(model: &Tunable, cfg: &AuditConfig) -> Result<(AuditReport, Mlp)> {
    let merged = model.before()?;
    let net = &merged;
    let (thresholds, seed) = (cfg.thresholds, cfg.seed);
    let gaussian;
    let queries = match &cfg.queries {
        Some(q) => {
            if q.ncols() != net.input_dim() {
                return Err(Error::DimensionMismatch {
                    context: "audit queries (columns vs the model's input dimension)",
                    expected: net.input_dim(),
                    got: q.ncols(),
                });
            }
            q
        }
        None => {
            gaussian = crate::net::gaussian_inputs(
                &mut crate::rng::seeded(seed, crate::rng::stream::AUDIT_QUERIES),
                DEFAULT_REACH_QUERIES,
                net.input_dim(),
            );
            &gaussian
        }
    };
    let reach_probes = probes_like(queries.view(), REACH_PROBES, seed);
    let first_order = first_order_reach(model, queries.view(), reach_probes.view(), cfg.eta)?;
    let (canon, rep) = canonicalize(net)?;
    let x = probes(net.input_dim(), AUDIT_DEVIATION_PROBES, seed);
    let deviation = relative_deviation(&canon, net, x.view())?;
    let xn = x.slice(ndarray::s![..NTK_PROBES, ..]);
    let fro = |m: &ndarray::Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
    let (t, tc) = (fro(&tuned_ntk(model, xn, xn)?), fro(&ntk(&canon, xn, xn)?));
    let ntk_ratio = if tc > 0.0 { t / tc } else { 1.0 };
    let mut imb: Vec<f64> = if net.activation().is_positively_homogeneous() {
        log_imbalance(net).into_iter().map(f64::abs).collect()
    } else {
        Vec::new()
    };
    imb.sort_by(f64::total_cmp);
    let mut skipped = Vec::new();
    if !net.activation().is_positively_homogeneous() {
        skipped.push(format!(
            "norm imbalance and balancing: {} is not positively homogeneous, so rescaling a unit changes the function; only exact duplicates are merged (dormant units, the NTK ratio and the first-order reach still apply)",
            net.activation().name()
        ));
    }
    let mut reasons = Vec::new();
    // Zero-input units with outgoing weights (folded as constants) are the
    // zero-input construction's hiding place: silent before a step, moved by
    // `σ'(b)` in it (`attack::build_hair_trigger` with `Units::ZeroInput`).
    let symmetry = rep.dormant_removed + rep.constant_folded + rep.merged;
    if symmetry >= thresholds.min_symmetry_units {
        reasons.push(format!(
            "{} dormant, {} zero-input (folded as constants) and {} parallel (split, duplicated or cancelling) units",
            rep.dormant_removed, rep.constant_folded, rep.merged
        ));
    }
    if ntk_ratio > thresholds.max_ntk_ratio {
        reasons.push(format!(
            "NTK {ntk_ratio:.3e}× the canonical form's (threshold {})",
            thresholds.max_ntk_ratio
        ));
    }
    if first_order.median_reach >= thresholds.max_first_order_reach {
        reasons.push(format!(
            "median first-order reach {:.3e} at η = {:e} (threshold {})",
            first_order.median_reach, cfg.eta, thresholds.max_first_order_reach
        ));
    }
    let report = AuditReport {
        coordinates: match model {
            Tunable::Whole(_) => "whole network".into(),
            Tunable::Adapter { lora, .. } => format!("LoRA rank {} adapters", lora.rank()),
        },
        widths: net.architecture().widths().to_vec(),
        activation: net.activation().name(),
        params: net.num_params(),
        canonical: rep,
        canonical_max_rel_deviation: deviation,
        max_log_imbalance: imb.last().copied(),
        median_log_imbalance: imb.get(imb.len() / 2).copied(),
        ntk_ratio,
        first_order,
        queries_given: cfg.queries.is_some(),
        skipped,
        thresholds,
        flagged: !reasons.is_empty(),
        reasons,
    };
    crate::finite::ensure_finite("audit report", &report)?;
    Ok((report, canon))
}
