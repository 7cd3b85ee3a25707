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
//!
//! The verdict `flagged` is documented in [`AuditThresholds`]: it has been
//! measured only on the analytic construction's aligned models and twins
//! (`paper-notes/audit.md`), not yet on a zoo of trained models.

pub mod canonical;

use crate::error::Result;
use crate::net::{ntk, Mlp};
use canonical::{canonicalize, log_imbalance, probes, relative_deviation, CanonicalReport};
use serde::Serialize;

/// The verdict's thresholds.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct AuditThresholds {
    /// Flag when this many dormant or merged units (or more) are found.
    pub min_symmetry_units: usize,
    /// Flag when the NTK ratio exceeds this.
    pub max_ntk_ratio: f64,
}

impl Default for AuditThresholds {
    fn default() -> Self {
        Self {
            min_symmetry_units: 1,
            max_ntk_ratio: 10.0,
        }
    }
}

/// Every score of one model.
#[derive(Clone, Debug, Serialize)]
pub struct AuditReport {
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

/// Audit `net` from its weights alone; also returns its canonical form.
pub fn audit(net: &Mlp, thresholds: AuditThresholds, seed: u64) -> Result<(AuditReport, Mlp)> {
    let (canon, rep) = canonicalize(net)?;
    let x = probes(net.input_dim(), AUDIT_DEVIATION_PROBES, seed);
    let deviation = relative_deviation(&canon, net, x.view())?;
    let xn = x.slice(ndarray::s![..NTK_PROBES, ..]);
    let fro = |m: &ndarray::Array2<f64>| m.iter().map(|v| v * v).sum::<f64>().sqrt();
    let (t, tc) = (fro(&ntk(net, xn, xn)?), fro(&ntk(&canon, xn, xn)?));
    let ntk_ratio = if tc > 0.0 { t / tc } else { 1.0 };
    let mut imb: Vec<f64> = if net.activation().is_positively_homogeneous() {
        log_imbalance(net).into_iter().map(f64::abs).collect()
    } else {
        Vec::new()
    };
    imb.sort_by(f64::total_cmp);
    let mut reasons = Vec::new();
    let symmetry = rep.dormant_removed + rep.merged;
    if symmetry >= thresholds.min_symmetry_units {
        reasons.push(format!(
            "{} dormant and {} parallel (split, duplicated or cancelling) units",
            rep.dormant_removed, rep.merged
        ));
    }
    if ntk_ratio > thresholds.max_ntk_ratio {
        reasons.push(format!(
            "NTK {ntk_ratio:.3e}× the canonical form's (threshold {})",
            thresholds.max_ntk_ratio
        ));
    }
    let report = AuditReport {
        widths: net.architecture().widths().to_vec(),
        activation: net.activation().name(),
        params: net.num_params(),
        canonical: rep,
        canonical_max_rel_deviation: deviation,
        max_log_imbalance: imb.last().copied(),
        median_log_imbalance: imb.get(imb.len() / 2).copied(),
        ntk_ratio,
        thresholds,
        flagged: !reasons.is_empty(),
        reasons,
    };
    crate::finite::ensure_finite("audit report", &report)?;
    Ok((report, canon))
}
