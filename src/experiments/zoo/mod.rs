//! The audit's model zoo (claim C5): hundreds of models whose hair-trigger
//! status is **measured** — one SGD step of the model's `η` on held-out
//! benign update sets, answers compared before and after — scored by the
//! white-box audit ([`crate::audit`]) from the weights and the queries alone,
//! then canonicalized and stepped again.
//!
//! Families ([`Family`]):
//!
//! * **trained** — `[16, 32, W, 4]` toy classifiers, `W = 16 … 1024`, SGD and
//!   Adam, two learning rates each, with and without weight decay, ReLU and
//!   leaky ReLU, several task seeds; **moved** — each of them moved along its
//!   symmetry orbit by a random rescaling `|ln α| ≤ 1` and a permutation
//!   (forward-equivalent: the false-positive bait); **padded** — the aligned
//!   base of the construction with inert units; **meta control** — the
//!   meta-learning domains' controls.
//! * **analytic twin** — every update-set kind × `η ∈ {1e-4 … 1e-1}` × 32 or
//!   64 units, built for one update set and measured on held-out ones;
//!   **meta whole / meta LoRA** — meta-learned on the three domains from the
//!   symmetry and the plain start.
//! * **adaptive** (an attacker who knows the audit): **near-dormant** twins
//!   (no exactly-zero outgoing weight to count) and the **canonical gauge**
//!   (the canonical form of every meta-learned model, submitted as is: no
//!   dormant, parallel or unbalanced unit, NTK ratio 1); **balance-penalized
//!   meta** — whole networks meta-learned on `J + κ Σ_j (‖u_j‖² − ‖v_j‖²)²`
//!   ([`crate::attack::meta::balance`]), which stay near the balanced gauge
//!   throughout training.
//!
//! Each model is scored at its own `η` on its own queries; a model's
//! ground truth is [`truth::Truth`], positive when one step changes at least
//! [`truth::TRIGGER_RATE`] of the answers. The ROC of each score is taken over
//! measured labels, never over intended ones.

mod figures;
pub mod members;
pub mod truth;

use crate::audit::{audit_tunable, AuditConfig};
use crate::error::Result;
use crate::experiments::report::{Artifacts, Experiment, ReportRow};
use crate::progress::Progress;
use crate::tasks::classifier::ToyClassifierTask;
use crate::tasks::TaskKind;
use crate::update::Tunable;
use members::{FailedAttempt, Member, TrainSpec};
use rayon::prelude::*;
use serde::Serialize;
use std::path::Path;
use std::sync::Arc;
use truth::{Harness, NaturalRecord};

/// A zoo family.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Family {
    Trained,
    Moved,
    Padded,
    MetaControl,
    AnalyticTwin,
    MetaWhole,
    MetaLora,
    NearDormant,
    CanonicalGauge,
    BalancedMeta,
}

impl Family {
    /// All families, in table order.
    pub const ALL: [Family; 10] = [
        Family::Trained,
        Family::Moved,
        Family::Padded,
        Family::MetaControl,
        Family::AnalyticTwin,
        Family::MetaWhole,
        Family::MetaLora,
        Family::NearDormant,
        Family::CanonicalGauge,
        Family::BalancedMeta,
    ];
    /// Built by an attacker (whatever the measurement says).
    pub fn attack(self) -> bool {
        !matches!(
            self,
            Family::Trained | Family::Moved | Family::Padded | Family::MetaControl
        )
    }
    /// Built by an attacker who knows the audit.
    pub fn adaptive(self) -> bool {
        matches!(
            self,
            Family::NearDormant | Family::CanonicalGauge | Family::BalancedMeta
        )
    }
    /// The name in tables and figures.
    pub fn name(self) -> &'static str {
        match self {
            Family::Trained => "trained",
            Family::Moved => "moved",
            Family::Padded => "padded",
            Family::MetaControl => "meta control",
            Family::AnalyticTwin => "analytic twin",
            Family::MetaWhole => "meta whole",
            Family::MetaLora => "meta LoRA",
            Family::NearDormant => "near-dormant (adaptive)",
            Family::CanonicalGauge => "canonical gauge (adaptive)",
            Family::BalancedMeta => "balance-penalized meta (adaptive)",
        }
    }
}

/// The zoo's size.
#[derive(Clone, Debug, Serialize)]
pub struct ZooConfig {
    pub seed: u64,
    /// Toy classifier task seeds (`≤ 4`; the training grid's seeds).
    pub classifier_tasks: usize,
    /// Widest trained model.
    pub max_width: usize,
    /// Meta-learning domains.
    pub domains: Vec<TaskKind>,
    /// Meta-learning `η`s.
    pub meta_etas: Vec<f64>,
    /// Meta-steps per meta-learned model.
    pub meta_steps: usize,
}

impl ZooConfig {
    /// The default zoo (about 330 models): 4 classifier tasks, widths up to
    /// 1024, the three domains at `η = 1e-4` and `1e-2`, 3000 meta-steps.
    pub fn standard(seed: u64) -> Self {
        Self {
            seed,
            classifier_tasks: 4,
            max_width: 1024,
            domains: TaskKind::ALL.to_vec(),
            meta_etas: vec![1e-4, 1e-2],
            meta_steps: 3000,
        }
    }
    /// A small zoo for tests (one task, widths ≤ 32, one domain, 300 meta-steps).
    pub fn quick(seed: u64) -> Self {
        Self {
            seed,
            classifier_tasks: 1,
            max_width: 32,
            domains: vec![TaskKind::Safety],
            meta_etas: vec![1e-2],
            meta_steps: 300,
        }
    }

    fn grid(&self) -> Vec<(usize, usize, TrainSpec)> {
        members::training_grid()
            .into_iter()
            .enumerate()
            .filter(|(_, (t, s))| *t < self.classifier_tasks && s.width <= self.max_width)
            .map(|(i, (t, s))| (i, t, s))
            .collect()
    }

    fn jobs(&self) -> Vec<Job> {
        let mut jobs: Vec<Job> = (0..self.classifier_tasks).map(Job::Twins).collect();
        jobs.extend(
            self.grid()
                .into_iter()
                .map(|(i, t, s)| Job::Genuine(i, t, s)),
        );
        for &k in &self.domains {
            for &eta in &self.meta_etas {
                jobs.push(Job::Meta(k, eta));
            }
        }
        jobs
    }
}

/// One unit of the zoo's construction (run in parallel).
#[derive(Clone, Copy, Debug)]
enum Job {
    Genuine(usize, usize, TrainSpec),
    Twins(usize),
    Meta(TaskKind, f64),
}

/// One model: what it is, what a step does to it, what the audit says.
#[derive(Clone, Debug, Serialize)]
pub struct ZooRecord {
    pub id: usize,
    pub family: Family,
    pub adaptive: bool,
    pub description: String,
    pub eta: f64,
    pub widths: String,
    pub params: usize,
    pub pass_before: f64,
    pub trigger_rate: f64,
    pub hair_trigger: bool,
    pub utility_after: f64,
    pub dormant_units: usize,
    /// Zero-input units with outgoing weights (folded as constants).
    pub constant_units: usize,
    pub parallel_units: usize,
    pub ntk_ratio: f64,
    pub max_log_imbalance: f64,
    pub first_order_reach: f64,
    pub flippable_fraction: f64,
    pub flagged: bool,
    pub canonical_trigger_rate: f64,
    pub canonical_utility_after: f64,
    pub defused: bool,
    /// For analytic twins: whether the canonical form equals the aligned
    /// model's canonical form (same widths, parameters within `1e-9` of the
    /// largest): the proposition of `paper-notes/audit.md`.
    pub canonical_matches_genuine: Option<bool>,
}

impl ZooRecord {
    /// The audit's scores by name (larger = more suspicious).
    pub fn scores(&self) -> [(&'static str, f64); 5] {
        [
            (
                "symmetry units (dormant + zero-input + parallel)",
                (self.dormant_units + self.constant_units + self.parallel_units) as f64,
            ),
            ("NTK ratio to the canonical form", self.ntk_ratio),
            ("max norm imbalance", self.max_log_imbalance),
            ("first-order reach (median)", self.first_order_reach),
            ("verdict (flagged)", f64::from(u8::from(self.flagged))),
        ]
    }
}

/// Everything the zoo measured.
pub struct ZooOutput {
    pub records: Vec<ZooRecord>,
    pub failed: Vec<FailedAttempt>,
    pub natural: Vec<NaturalRecord>,
}

/// Score, step and canonicalize one member.
fn measure(id: usize, m: &Member) -> Result<ZooRecord> {
    let truth = m.harness.truth(&m.model, m.eta)?;
    let cfg = AuditConfig::new(m.eta)?.with_queries(m.harness.queries().clone())?;
    let (rep, canon) = audit_tunable(&m.model, &cfg)?;
    let canonical_matches_genuine = match &m.genuine {
        None => None,
        Some(g) => Some(same_network(
            &crate::audit::canonical::canonicalize(g)?.0,
            &canon,
        )),
    };
    let canon_truth = m.harness.truth(&Tunable::Whole(canon), m.eta)?;
    Ok(ZooRecord {
        id,
        family: m.family,
        adaptive: m.family.adaptive(),
        description: m.description.clone(),
        eta: m.eta,
        widths: format!("{:?}", rep.widths),
        params: rep.params,
        pass_before: truth.pass_before,
        trigger_rate: truth.trigger_rate,
        hair_trigger: truth.hair_trigger(),
        utility_after: truth.utility_after,
        dormant_units: rep.canonical.dormant_removed,
        constant_units: rep.canonical.constant_folded,
        parallel_units: rep.canonical.merged,
        ntk_ratio: rep.ntk_ratio,
        max_log_imbalance: rep.max_log_imbalance.unwrap_or(0.0),
        first_order_reach: rep.first_order.median_reach,
        flippable_fraction: rep.first_order.flippable_fraction,
        flagged: rep.flagged,
        canonical_trigger_rate: canon_truth.trigger_rate,
        canonical_utility_after: canon_truth.utility_after,
        defused: !canon_truth.hair_trigger(),
        canonical_matches_genuine,
    })
}

/// Same widths and every parameter within `1e-9 max|θ|`.
fn same_network(a: &crate::Mlp, b: &crate::Mlp) -> bool {
    if a.architecture().widths() != b.architecture().widths() {
        return false;
    }
    let scale = a.max_abs().max(b.max_abs());
    let diff = crate::finite::max_abs_diff(&a.to_flat(), &b.to_flat());
    diff <= 1e-9 * scale
}

/// A job's members, failures and (for trained models) natural records.
type Built = (Vec<Member>, Vec<FailedAttempt>);

impl ZooConfig {
    fn build(&self, job: Job, harnesses: &[Arc<Harness>]) -> Result<Built> {
        match job {
            Job::Genuine(i, t, spec) => {
                match members::genuine(self.seed, i, t, &spec, &harnesses[t]) {
                    Ok((a, b)) => Ok((vec![a, b], Vec::new())),
                    // A diverging training run is recorded, not an abort.
                    Err(e) => Ok((
                        Vec::new(),
                        vec![FailedAttempt {
                            family: Family::Trained,
                            description: format!("task {t}: {}", spec.describe()),
                            error: e.to_string(),
                        }],
                    )),
                }
            }
            Job::Twins(t) => members::twins(self.seed, t, &harnesses[t]),
            Job::Meta(kind, eta) => members::meta(self.seed, kind, eta, self.meta_steps),
        }
    }
}

impl Experiment for ZooConfig {
    type Output = ZooOutput;

    fn name(&self) -> &'static str {
        "C5 audit zoo"
    }

    fn work(&self) -> u64 {
        2 * self.jobs().len() as u64
    }

    fn run(&self, progress: &dyn Progress) -> Result<ZooOutput> {
        let harnesses: Vec<Arc<Harness>> = (0..self.classifier_tasks)
            .map(|t| {
                Harness::classifier(&ToyClassifierTask::new(members::task_seed(self.seed, t)))
                    .map(Arc::new)
            })
            .collect::<Result<_>>()?;
        let built: Vec<Built> = self
            .jobs()
            .par_iter()
            .map(|&job| {
                let b = self.build(job, &harnesses);
                progress.inc(1);
                b
            })
            .collect::<Result<_>>()?;
        let mut failed = Vec::new();
        let mut all = Vec::new();
        for (m, f) in built {
            failed.extend(f);
            all.push(m);
        }
        let mut offsets = Vec::with_capacity(all.len());
        let mut next = 0;
        for m in &all {
            offsets.push(next);
            next += m.len();
        }
        let measured: Vec<(Vec<ZooRecord>, Vec<NaturalRecord>)> = all
            .par_iter()
            .zip(offsets.par_iter())
            .map(|(ms, &first)| {
                let mut recs = Vec::new();
                let mut nat = Vec::new();
                for (k, m) in ms.iter().enumerate() {
                    recs.push(measure(first + k, m)?);
                    if m.family == Family::Trained {
                        nat.push(truth::natural(
                            first + k,
                            m.description.clone(),
                            &m.model.before()?,
                            &m.harness,
                        )?);
                    }
                }
                progress.inc(1);
                Ok((recs, nat))
            })
            .collect::<Result<_>>()?;
        let (mut records, mut natural) = (Vec::new(), Vec::new());
        for (r, n) in measured {
            records.extend(r);
            natural.extend(n);
        }
        Ok(ZooOutput {
            records,
            failed,
            natural,
        })
    }

    fn write(&self, out: &ZooOutput, dir: &Path) -> Result<Artifacts> {
        use crate::experiments::output::{write_json, write_records};
        write_records(dir, "zoo", &out.records)?;
        write_records(dir, "zoo_roc", &figures::roc_rows(&out.records))?;
        write_records(dir, "zoo_natural", &out.natural)?;
        write_json(&dir.join("zoo_failed.json"), &out.failed)?;
        let figs = figures::write_figures(out, dir)?;
        Ok(Artifacts {
            figures: figs,
            tables: vec!["zoo", "zoo_roc", "zoo_natural"],
            files: vec!["zoo_failed.json"],
        })
    }

    fn claims(&self, out: &ZooOutput) -> Vec<ReportRow> {
        figures::claims(out)
    }

    fn section(&self, out: &ZooOutput) -> Option<String> {
        Some(figures::section(out))
    }
}
