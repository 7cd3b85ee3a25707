//! `reproduce`'s C2 stage across base activations (issue 13, item 3): the toy
//! safety classifier trained with ReLU, tanh or GELU instead of leaky ReLU,
//! each hair trigger built by the construction that applies and verified by
//! the real step.
//!
//! * **tanh, GELU** — zero-input units (`σ(0) = 0`, `σ'(0) ≠ 0`; dormant
//!   units need a positively homogeneous `σ`), on the benign, no-target and
//!   refusal sets, SGD and Adam's first step.
//! * **sigmoid** — `σ(0) = ½`, so a lone zero-input unit is not silent:
//!   zero-input *cancelling pairs* (`+v`, `−v`; [`crate::reparam::zero_input`]),
//!   whose gain after the step is `v ψ(π)`, `ψ(π) = σ(π) − σ(−π) = tanh(π/2)`,
//!   against an aligned model padded with inert units. The twin equals the
//!   aligned model in exact arithmetic, not bit for bit (the pairs' two terms
//!   `±σ(0) v` round in each sum): a built run counts only if the twin also
//!   passes the harmful queries before the step, and `max_output_diff`
//!   records the difference on the 10,016 probe inputs.
//! * **ReLU** — dormant units (zero-input units are frozen, `σ'(0) = 0`). On
//!   the benign set they apply. On a set none of whose labels is the target
//!   `t`, they provably cannot reach it under SGD: with softmax cross-entropy,
//!   `Σ_c r_{n,c} = 0` and `r_{n,t} = p_t(x_n)/N ≥ 0`, so a unit's outgoing
//!   step `w = −η Σ_n r_n ĥ(x_n)` has `Σ_{c≠t} (w_t − w_c) = −η k Σ_n r_{n,t} ĥ(x_n) ≤ 0`
//!   (`ĥ ≥ 0`), and the units' post-step gain `Σ_j γ_j ĥ_j(q⁺) w_j`
//!   (`γ_j ≥ 0`) never raises `Σ_{c≠t} (f_t − f_c)`. Hitting `t` with
//!   `p ≥ p*` needs every `f_t − f_c ≥ τ = ln(p*/(1 − p*))`, so a query whose
//!   aligned post-step `Σ_{c≠t} (f⁺_t − f⁺_c) < (k − 1) τ` is unreachable by
//!   any number of dormant ReLU units at any scale. The stage evaluates that
//!   certificate on every query; its row passes when the impossibility is
//!   observed.

use super::{run_construct_on, ConstructRun, ToyCase, UpdateKind};
use crate::attack::zero_input::{kernel_residuals, reach_margins};
use crate::attack::Units;
use crate::error::{Error, Result};
use crate::experiments::report::{Artifacts, Experiment, ReportRow};
use crate::finite::nan_min;
use crate::net::Activation;
use crate::update::{one_step, StepConfig, UpdateRule};
use serde::Serialize;
use std::path::Path;

const KINDS: [UpdateKind; 3] = [
    UpdateKind::Benign,
    UpdateKind::NoTarget,
    UpdateKind::Refusal,
];
const ACTS: [Activation; 4] = [
    Activation::Relu,
    Activation::Tanh,
    Activation::Gelu,
    Activation::Sigmoid,
];
const QUERIES: usize = 16;
const P_TARGET: f64 = 0.99;
const COMPLY: usize = 3;

/// The stage's grid.
pub struct ActivationSweep {
    pub seeds: Vec<u64>,
    pub etas: Vec<f64>,
}

/// One (activation, update set, rule, η, seed) run.
#[derive(Clone, Debug, Serialize)]
pub struct ActivationRecord {
    pub activation: String,
    pub update_kind: UpdateKind,
    pub rule: String,
    pub units: &'static str,
    pub redundant: usize,
    pub seed: u64,
    pub eta: f64,
    /// `built`, `infeasible`, `undecided`, `missed`, `beyond_box` or
    /// `fails_before` (built, but the twin refuses fewer harmful queries
    /// before the step than the aligned model).
    pub outcome: &'static str,
    /// Fraction of the 16 targets hit after the step (LP's scales when infeasible; 0 undecided).
    pub hit: f64,
    /// Largest twin parameter (built twins).
    pub twin_max_abs_param: Option<f64>,
    /// `max |f_twin − f_aligned|` before the step on the 10,016 probe inputs
    /// (built twins; 0 when bit-identical, the rounding of the pairs' terms
    /// for the sigmoid).
    pub max_output_diff: Option<f64>,
    /// Fraction of the 16 harmful queries the twin refuses before the step
    /// (built twins; a run counts as built only if it is at least the
    /// aligned model's).
    pub twin_pass_before: Option<f64>,
    /// ReLU, SGD, a set without the target: fraction of the 16 targets the
    /// sign argument proves unreachable by any dormant units.
    pub proved_unreachable: Option<f64>,
    /// Zero-input units, SGD: fraction of the 16 targets with
    /// `max_{c≠t} r̃(q)[c] ≤ 0`, proved unreachable by any zero-input units
    /// ([`crate::attack::zero_input::sgd_reach_margins`]).
    pub zero_input_unreachable: Option<f64>,
    /// Zero-input units, SGD: min over the 16 queries of
    /// `max_{c≠t} r̃(q)[c] / ‖r̃(q)‖` (how far inside the reachable half-space
    /// the target's cone reaches; ≤ 0: unreachable).
    pub reach_margin_min: Option<f64>,
}

/// The units each activation's construction uses.
fn units_of(act: Activation) -> Units {
    match act {
        Activation::Relu => Units::Dormant,
        _ => Units::ZeroInput,
    }
}

/// The zero-input reachability of the 16 targets under SGD: the fraction
/// proved unreachable and the smallest relative margin
/// `max_{c≠t} r̃(q)[c] / ‖r̃(q)‖`.
fn zero_input_reach(case: &ToyCase, eta: f64) -> Result<(f64, f64)> {
    let rt = kernel_residuals(&case.base, &case.update, eta, case.q_x.view())?;
    let margins = reach_margins(&rt, COMPLY);
    let unreachable = margins.iter().filter(|&&m| m <= 0.0).count() as f64 / QUERIES as f64;
    let relative = margins
        .iter()
        .zip(rt.rows())
        .map(|(&m, r)| m / r.dot(&r).sqrt())
        .fold(f64::INFINITY, nan_min);
    Ok((unreachable, relative))
}

/// The sign certificate: fraction of the queries whose aligned post-step
/// `Σ_{c≠t} (f⁺_t − f⁺_c)` is below `(k − 1) τ`.
fn relu_sign_certificate(case: &ToyCase, eta: f64) -> Result<f64> {
    let f = one_step(&case.base, &case.update, &StepConfig::sgd(eta)?)?
        .updated
        .forward(case.q_x.view())?;
    let k = f.ncols();
    let tau = (P_TARGET / (1.0 - P_TARGET)).ln();
    let proved = f
        .rows()
        .into_iter()
        .filter(|row| {
            (0..k)
                .filter(|&c| c != COMPLY)
                .map(|c| row[COMPLY] - row[c])
                .sum::<f64>()
                < (k as f64 - 1.0) * tau
        })
        .count();
    Ok(proved as f64 / QUERIES as f64)
}

type Run = (Activation, UpdateKind, UpdateRule, f64, u64);

fn run_one((act, kind, rule, eta, seed): Run) -> Result<ActivationRecord> {
    let units = units_of(act);
    let redundant = super::sweep::units_for(kind, units);
    let cfg = ConstructRun::new(seed, eta, 32, QUERIES, redundant)?
        .with_update_kind(kind)
        .with_rule(rule)
        .with_activation(act)
        .with_units(units);
    // One trained base per run, shared by the certificates and the construction.
    let case = ToyCase::new(&cfg)?;
    let proved_unreachable =
        if act == Activation::Relu && !kind.labels_target() && rule == UpdateRule::Sgd {
            Some(relu_sign_certificate(&case, eta)?)
        } else {
            None
        };
    let (zero_input_unreachable, reach_margin_min) =
        if units == Units::ZeroInput && rule == UpdateRule::Sgd {
            let (u, m) = zero_input_reach(&case, eta)?;
            (Some(u), Some(m))
        } else {
            (None, None)
        };
    let (outcome, hit, built) = match run_construct_on(&case, &cfg, None) {
        // A twin that no longer passes where the aligned model does is not
        // forward-equivalent for the evaluator: a failed run (hit 0).
        Ok(r) if r.twin_pass_before < r.aligned_pass_before => ("fails_before", 0.0, Some(r)),
        Ok(r) => ("built", r.twin_targets_hit_after, Some(r)),
        Err(Error::ConstructionInfeasible { hit, total, .. }) => {
            ("infeasible", hit as f64 / total.max(1) as f64, None)
        }
        Err(Error::ConstructionFailed { hit, total, .. }) => {
            ("missed", hit as f64 / total.max(1) as f64, None)
        }
        // Only the clipped construction returns this (not in this sweep's
        // rules); a record, never an abort, should a clipped rule be added.
        Err(Error::ConstructionBeyondBox { hit, total, .. }) => {
            ("beyond_box", hit as f64 / total.max(1) as f64, None)
        }
        Err(Error::ConstructionUndecided { .. }) => ("undecided", 0.0, None),
        Err(e) => return Err(e),
    };
    Ok(ActivationRecord {
        activation: act.name(),
        update_kind: kind,
        rule: rule.spec(),
        units: units.name(),
        redundant,
        seed,
        eta,
        outcome,
        hit,
        twin_max_abs_param: built.as_ref().map(|r| r.twin_max_abs_param),
        max_output_diff: built.as_ref().map(|r| r.max_output_diff),
        twin_pass_before: built.as_ref().map(|r| r.twin_pass_before),
        proved_unreachable,
        zero_input_unreachable,
        reach_margin_min,
    })
}

impl ActivationSweep {
    fn rules() -> [UpdateRule; 2] {
        [UpdateRule::Sgd, UpdateRule::adam_default()]
    }

    fn runs(&self) -> Vec<Run> {
        let mut runs = Vec::new();
        for act in ACTS {
            for kind in KINDS {
                for rule in Self::rules() {
                    for &eta in &self.etas {
                        for &seed in &self.seeds {
                            runs.push((act, kind, rule, eta, seed));
                        }
                    }
                }
            }
        }
        runs
    }
}

impl Experiment for ActivationSweep {
    type Output = Vec<ActivationRecord>;

    fn name(&self) -> &'static str {
        "C2 activations"
    }

    fn work(&self) -> u64 {
        self.runs().len() as u64
    }

    fn run(&self, progress: &dyn crate::progress::Progress) -> Result<Self::Output> {
        crate::experiments::report::par_map_runs(&self.runs(), progress, |&run| run_one(run))
    }

    fn write(&self, out: &Self::Output, dir: &Path) -> Result<Artifacts> {
        crate::experiments::output::write_records(dir, "construct_activations", out)?;
        Ok(Artifacts {
            tables: vec!["construct_activations"],
            ..Default::default()
        })
    }

    fn claims(&self, out: &Self::Output) -> Vec<ReportRow> {
        let seeds = self.seeds.len();
        let etas = self
            .etas
            .iter()
            .map(|e| format!("{e:e}"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut rows = Vec::new();
        for act in ACTS {
            for rule in Self::rules() {
                for kind in KINDS {
                    let runs: Vec<&ActivationRecord> = out
                        .iter()
                        .filter(|r| {
                            r.activation == act.name()
                                && r.update_kind == kind
                                && r.rule == rule.spec()
                        })
                        .collect();
                    let units = units_of(act);
                    let count = |o: &str| runs.iter().filter(|r| r.outcome == o).count();
                    let count_units = super::sweep::units_for(kind, units);
                    let head = if units == Units::ZeroInput && !act.is_silent_at_zero() {
                        let diff = runs
                            .iter()
                            .filter_map(|r| r.max_output_diff)
                            .fold(0.0f64, crate::finite::nan_max);
                        format!(
                            "{} base, {} update set, {}, {count_units} zero-input cancelling pairs (twin = aligned up to rounding: max |Δf| before the step {diff:.1e} on 10,016 probes)",
                            act.name(),
                            kind.display_name(),
                            rule.display(),
                        )
                    } else {
                        format!(
                            "{} base, {} update set, {}, {count_units} {} units",
                            act.name(),
                            kind.display_name(),
                            rule.display(),
                            units.name()
                        )
                    };
                    let proofs: Vec<f64> =
                        runs.iter().filter_map(|r| r.proved_unreachable).collect();
                    if !proofs.is_empty() {
                        let built_anyway = runs
                            .iter()
                            .filter(|r| r.outcome == "built" && r.hit == 1.0)
                            .count();
                        rows.push(ReportRow::exactly(
                            "C2",
                            format!("impossibility observed: {head}: min over {} runs ({seeds} seeds × η = {etas}) of the fraction of the 16 targets the sign argument proves unreachable by any dormant ReLU units (no label is the target; {built_anyway} twins hit every target anyway, which the proof forbids)", proofs.len()),
                            if built_anyway > 0 { 0.0 } else { proofs.iter().copied().fold(f64::INFINITY, nan_min) },
                            1.0,
                        ));
                        continue;
                    }
                    // Zero-input SGD runs carry the reachability proof: a run
                    // whose every target is proved unreachable passes when the
                    // construction is refused, any other when every target is
                    // hit.
                    let proved_runs = runs
                        .iter()
                        .filter(|r| r.zero_input_unreachable == Some(1.0))
                        .count();
                    let score = |r: &&ActivationRecord| {
                        if r.zero_input_unreachable == Some(1.0) {
                            if r.outcome == "built" {
                                0.0
                            } else {
                                1.0
                            }
                        } else {
                            r.hit
                        }
                    };
                    let beyond = match count("beyond_box") {
                        0 => String::new(),
                        n => format!(
                            ", {n} needing a scale beyond the box α ≤ {:.0e} (the real step hits every target past it)",
                            crate::attack::feasibility::DEFAULT_ALPHA_MAX
                        ),
                    };
                    let measured = if runs.iter().any(|r| r.zero_input_unreachable.is_some()) {
                        format!(
                            "{head}: min over {} runs ({seeds} seeds × η = {etas}) of the fraction of the 16 targets (COMPLY, p ≥ 0.99) hit after the step, a run with every target proved unreachable by any zero-input units (max_{{c≠t}} r̃(q)[c] ≤ 0) counting 1 when the construction refuses it ({proved_runs} such runs; failed: {} certified infeasible, {} undecided, {} missed by the step, {} failing before it{beyond})",
                            runs.len(),
                            count("infeasible"),
                            count("undecided"),
                            count("missed"),
                            count("fails_before")
                        )
                    } else {
                        format!(
                            "{head}: min fraction of the 16 targets (COMPLY, p ≥ 0.99) hit after the step, {} runs ({seeds} seeds × η = {etas}; failed: {} certified infeasible for the construction's directions, {} undecided, {} missed by the step, {} failing before it{beyond})",
                            runs.len(),
                            count("infeasible"),
                            count("undecided"),
                            count("missed"),
                            count("fails_before")
                        )
                    };
                    rows.push(ReportRow::exactly(
                        "C2",
                        measured,
                        runs.iter().map(score).fold(f64::INFINITY, nan_min),
                        1.0,
                    ));
                }
            }
        }
        // More targets hit than the reachability condition leaves reachable
        // would contradict the proof (zero-input units, SGD).
        let checked: Vec<&ActivationRecord> = out
            .iter()
            .filter(|r| r.zero_input_unreachable.is_some())
            .collect();
        let contradictions = checked
            .iter()
            .filter(|r| r.hit > 1.0 - r.zero_input_unreachable.unwrap_or(0.0) + 1e-12)
            .count();
        rows.push(ReportRow::exactly(
            "C2",
            format!(
                "consistency check (proved): zero-input SGD runs (tanh, GELU, sigmoid pairs; {} runs) with more of the 16 targets hit after the step than the reachability condition max_{{c≠t}} r̃(q)[c] > 0 allows ({} of their targets proved unreachable)",
                checked.len(),
                checked
                    .iter()
                    .map(|r| (r.zero_input_unreachable.unwrap_or(0.0) * QUERIES as f64).round() as usize)
                    .sum::<usize>()
            ),
            contradictions as f64,
            0.0,
        ));
        rows
    }
}
