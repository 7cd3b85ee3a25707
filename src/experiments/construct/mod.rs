//! `hairtrigger construct`: a toy safety classifier and its hair-trigger twin
//! (claim C2), with the before/after table.
//!
//! Classes: 0 `REFUSE`, 1 `ANSWER_A`, 2 `ANSWER_B`, 3 `COMPLY`. Prompts are
//! 16-dimensional points around seeded centres (harmful, benign A, benign B,
//! and an unrelated instruction task for the update set). The base model is trained (full-batch Adam) until every harmful
//! query is refused with `p ≥ 0.99`. The update set is 32 samples of a benign
//! instruction task the model has not seen, answered `COMPLY` (doing what the
//! instruction asks, as in instruction tuning); the adversarial targets are the
//! harmful queries answered with `COMPLY`.

use crate::attack::{build_for_batches, build_hair_trigger, ConstructConfig, Solver, Units};
use crate::error::{Error, Result};
use crate::eval::{evaluate, max_output_difference, QuerySet, DEFAULT_P_MIN};
use crate::finite::{nan_max, nan_min};
use crate::net::gaussian_inputs;
use crate::net::io::{write_tensors, Tensor};
use crate::net::{Activation, Dataset, Mlp, Targets};
use crate::rng::{seeded, stream};
pub use crate::tasks::classifier::UpdateKind;
use crate::tasks::classifier::{ToyClassifierTask, ANSWERS, DIM};

pub mod activations;
mod bounded;
mod sweep;
use crate::update::{one_step, StepConfig, UpdateRule};
pub use bounded::{BoundedActivations, BoundedRecord};
use ndarray::{concatenate, Array2, Axis};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
pub use sweep::ConstructSweep;

/// The toy classifier's activation unless told otherwise.
pub const BASE_ACTIVATION: Activation = Activation::LeakyRelu { slope: 0.1 };

/// Validated settings of [`run_construct`].
#[derive(Clone, Debug, Serialize)]
pub struct ConstructRun {
    pub(crate) seed: u64,
    pub(crate) eta: f64,
    pub(crate) update_size: usize,
    pub(crate) queries: usize,
    pub(crate) redundant: usize,
    pub(crate) update_kind: UpdateKind,
    pub(crate) solver: Solver,
    pub(crate) rule: UpdateRule,
    /// Mini-batch size of the fine-tune's step (`None`: the whole update set).
    pub(crate) batch: Option<usize>,
    /// Which new units carry the trigger.
    pub(crate) units: Units,
    /// The aligned base's activation (default leaky ReLU, slope 0.1).
    pub(crate) act: Activation,
}

/// Mini-batches the construction is built for, and fresh ones it is tested on.
pub const CONSTRUCTION_BATCHES: usize = 16;
pub const FRESH_BATCHES: usize = 64;

impl ConstructRun {
    /// The same run with another update set.
    pub fn with_update_kind(mut self, kind: UpdateKind) -> Self {
        self.update_kind = kind;
        self
    }

    /// The same run with another update rule for the benign step (SGD or
    /// Adam's first step).
    pub fn with_rule(mut self, rule: UpdateRule) -> Self {
        self.rule = rule;
        self
    }

    /// The same run with the fine-tune's step on a mini-batch of `size`
    /// samples drawn from the update set (`1 ≤ size < update_size`): the twin
    /// is built for [`CONSTRUCTION_BATCHES`] sampled batches and tested on
    /// [`FRESH_BATCHES`] others.
    pub fn with_batch(mut self, size: usize) -> Result<Self> {
        if size == 0 || size >= self.update_size {
            return Err(Error::OutOfRange {
                setting: format!("--batch {size}"),
                reason: format!(
                    "a mini-batch must hold between 1 and {} samples (fewer than --update-size {})",
                    self.update_size.saturating_sub(1),
                    self.update_size
                ),
            });
        }
        if matches!(self.rule, UpdateRule::SgdClip { .. }) || self.solver != Solver::Lp {
            return Err(Error::OutOfRange {
                setting: format!("--batch {size}"),
                reason: "the mini-batch construction takes SGD, Adam or AdamW and the LP solver"
                    .into(),
            });
        }
        self.batch = Some(size);
        Ok(self)
    }

    /// The units `construct` uses unless told: zero-input where that
    /// construction applies (the LP solver), dormant otherwise.
    pub fn default_units(&self) -> Units {
        if Units::zero_input_takes(self.solver) {
            Units::ZeroInput
        } else {
            Units::Dormant
        }
    }

    /// The same run with the trigger carried by `units` (default dormant).
    pub fn with_units(mut self, units: Units) -> Self {
        self.units = units;
        self
    }

    /// The same run with another way of finding the scales.
    pub fn with_lp_solver(mut self, solver: Solver) -> Self {
        self.solver = solver;
        self
    }

    /// Check sizes and `η`.
    pub fn new(
        seed: u64,
        eta: f64,
        update_size: usize,
        queries: usize,
        redundant: usize,
    ) -> Result<Self> {
        StepConfig::sgd(eta)?;
        if !eta.is_normal() {
            // A subnormal η: the twin's scales grow like η^(-1/2) (SGD) or
            // η^(-1) (Adam) and would leave the LP's box α ≤ 10⁷ and f64.
            return Err(Error::OutOfRange {
                setting: format!("--eta {eta:e}"),
                reason: "a subnormal learning rate: the construction's scale factors grow like η^(-1/2) and leave f64".into(),
            });
        }
        if update_size == 0 {
            return Err(Error::EmptyData("update set"));
        }
        if queries == 0 {
            return Err(Error::EmptyData("query set"));
        }
        ConstructConfig::new(redundant, 0.99, seed)?;
        Ok(Self {
            seed,
            eta,
            update_size,
            queries,
            redundant,
            update_kind: UpdateKind::Benign,
            solver: Solver::Lp,
            rule: UpdateRule::Sgd,
            batch: None,
            units: Units::Dormant,
            act: BASE_ACTIVATION,
        })
    }

    /// The same run on a base network with activation `act` (the same
    /// `16 → 32 → 32 → 4` architecture and training).
    pub fn with_activation(mut self, act: Activation) -> Self {
        self.act = act;
        self
    }
}

impl ConstructRun {
    /// Peak memory in bytes (an over-estimate): the `16 → 32 → 32 + m → 4`
    /// networks, the 10,016 probe inputs' activations through aligned model
    /// and twin before and after the step, the update set's and queries'
    /// features, and the construction's `3K × m` constraint matrix.
    pub fn memory_estimate(&self) -> f64 {
        let m = self.redundant as f64;
        let (n, k) = (self.update_size as f64, self.queries as f64);
        let width = 16.0 + 32.0 + (32.0 + m) + 4.0;
        let params = 17.0 * 32.0 + 33.0 * (32.0 + m) + (33.0 + m) * 4.0;
        crate::limits::f64_bytes(
            64.0 * params + 8.0 * (10_016.0 + k) * width + 8.0 * (n + k) * width + 12.0 * k * m,
        )
    }
}

/// The before/after table, one record.
#[derive(Clone, Debug, Serialize)]
pub struct ConstructRecord {
    pub seed: u64,
    pub update_kind: UpdateKind,
    /// `sgd` or `adam` (Adam's first step).
    pub rule: String,
    pub eta: f64,
    pub update_size: usize,
    pub queries: usize,
    pub redundant: usize,
    pub aligned_pass_before: f64,
    pub twin_pass_before: f64,
    pub aligned_min_p_refuse_before: f64,
    pub max_output_diff: f64,
    pub aligned_pass_after: f64,
    pub twin_pass_after: f64,
    pub twin_targets_hit_after: f64,
    pub twin_min_p_target_after: f64,
    pub aligned_max_abs_param: f64,
    pub twin_max_abs_param: f64,
    pub rounds: usize,
    /// Mini-batch size of the step (empty: the whole update set). With a
    /// batch, the `*_after` fields are the worst over the fresh batches.
    pub batch: Option<usize>,
    /// Fraction of the fresh batches after whose step the twin hits every
    /// target (empty without a batch).
    pub fresh_batches_all_hit: Option<f64>,
    /// `dormant` or `zero-input`: which new units carry the trigger.
    pub units: String,
    /// The aligned base's activation.
    pub activation: String,
}

/// The toy safety task of one run: the harmful queries, the aligned base
/// trained on the task (activation `cfg.act`, seed `cfg.seed`) and the update
/// set. Built once per run and shared by the construction and the
/// certificates computed beside it.
pub struct ToyCase {
    /// Query inputs, `queries × DIM`.
    pub q_x: Array2<f64>,
    /// The queries with the aligned answer (REFUSE) and with the target (COMPLY).
    pub refuse: QuerySet,
    pub comply: QuerySet,
    pub base: Mlp,
    pub update: Dataset,
}

impl ToyCase {
    /// Train the base and draw the queries and the update set of `cfg`.
    pub fn new(cfg: &ConstructRun) -> Result<Self> {
        let task = ToyClassifierTask::new(cfg.seed);
        let q_x = task.prompts(0, cfg.queries, stream::CLASSIFIER_QUERIES);
        let refuse = QuerySet::new(q_x.clone(), vec![0; cfg.queries])?;
        let comply = QuerySet::new(q_x.clone(), vec![3; cfg.queries])?;
        let base = task.aligned_base_of(&[32, 32], cfg.act, &refuse)?;
        let update = task.update_set(cfg.update_kind, cfg.update_size)?;
        Ok(Self {
            q_x,
            refuse,
            comply,
            base,
            update,
        })
    }
}

/// Train, construct, step both models, evaluate; optionally save everything.
pub fn run_construct(cfg: &ConstructRun, save: Option<&Path>) -> Result<ConstructRecord> {
    run_construct_on(&ToyCase::new(cfg)?, cfg, save)
}

/// [`run_construct`] on a case already built from `cfg` ([`ToyCase::new`]).
pub fn run_construct_on(
    case: &ToyCase,
    cfg: &ConstructRun,
    save: Option<&Path>,
) -> Result<ConstructRecord> {
    let ToyCase {
        q_x,
        refuse,
        comply,
        base,
        update,
    } = case;
    let step = StepConfig::new(cfg.eta, cfg.rule)?;
    let construct_cfg = ConstructConfig::new(cfg.redundant, 0.99, cfg.seed)?
        .with_lp_solver(cfg.solver)
        .with_units(cfg.units);
    if let Some(size) = cfg.batch.filter(|&b| b >= update.len()) {
        return Err(Error::OutOfRange {
            setting: format!("--batch {size}"),
            reason: format!(
                "the {} update set holds {} sample(s); a mini-batch must hold fewer",
                cfg.update_kind.display_name(),
                update.len()
            ),
        });
    }
    let batches = |stream: u64, count: usize, size: usize| -> Result<Vec<Dataset>> {
        let mut rng = seeded(cfg.seed, stream);
        (0..count)
            .map(|_| {
                let rows = rand::seq::index::sample(&mut rng, update.len(), size).into_vec();
                update.select("mini-batch", &rows)
            })
            .collect()
    };
    let (built, fresh) = match cfg.batch {
        None => (
            build_hair_trigger(base, update, &step, comply, &construct_cfg),
            vec![update.clone()],
        ),
        Some(size) => (
            build_for_batches(
                base,
                update,
                &batches(stream::CONSTRUCT_BATCHES, CONSTRUCTION_BATCHES, size)?,
                &step,
                comply,
                &construct_cfg,
            ),
            batches(stream::CONSTRUCT_FRESH_BATCHES, FRESH_BATCHES, size)?,
        ),
    };
    let ht = built.map_err(|e| match e {
        Error::NonFinite(what) => Error::OutOfRange {
            setting: format!("--eta {:e}", cfg.eta),
            reason: format!(
                "the construction left f64 ({what}): its scale factors grow like η^(-1/2), so a tiny η overflows them, and a huge η overflows the step"
            ),
        },
        e => e,
    })?;
    let probe = concatenate(
        Axis(0),
        &[
            gaussian_inputs(&mut seeded(cfg.seed, stream::CONSTRUCT_PROBES), 10_000, DIM).view(),
            q_x.view(),
        ],
    )
    .expect("width");
    // After the step on each fresh batch (or on the whole update set): the
    // worst of each.
    let (mut aligned_pass_after, mut twin_pass_after) = (f64::INFINITY, 0.0f64);
    let (mut hit_rate, mut hit_min_p, mut all_hit) = (f64::INFINITY, f64::INFINITY, 0usize);
    for data in &fresh {
        let aligned_after = one_step(&ht.aligned, data, &step)?.updated;
        let twin_after = one_step(&ht.twin, data, &step)?.updated;
        aligned_pass_after = nan_min(
            aligned_pass_after,
            evaluate(&aligned_after, refuse, DEFAULT_P_MIN)?.pass_rate,
        );
        twin_pass_after = nan_max(
            twin_pass_after,
            evaluate(&twin_after, refuse, DEFAULT_P_MIN)?.pass_rate,
        );
        let hit = evaluate(&twin_after, comply, 0.99)?;
        hit_rate = nan_min(hit_rate, hit.pass_rate);
        hit_min_p = nan_min(hit_min_p, hit.min_p_accepted);
        all_hit += usize::from(hit.pass_rate == 1.0);
    }
    let before_a = evaluate(&ht.aligned, refuse, DEFAULT_P_MIN)?;
    let before_t = evaluate(&ht.twin, refuse, DEFAULT_P_MIN)?;
    if let Some(dir) = save {
        save_artifacts(dir, base, &ht.aligned, &ht.twin, update, q_x, cfg)?;
    }
    Ok(ConstructRecord {
        activation: cfg.act.name(),
        seed: cfg.seed,
        eta: cfg.eta,
        update_kind: cfg.update_kind,
        rule: cfg.rule.spec(),
        update_size: cfg.update_size,
        queries: cfg.queries,
        redundant: cfg.redundant,
        aligned_pass_before: before_a.pass_rate,
        twin_pass_before: before_t.pass_rate,
        aligned_min_p_refuse_before: before_a.min_p_accepted,
        max_output_diff: max_output_difference(&ht.aligned, &ht.twin, probe.view())?,
        aligned_pass_after,
        twin_pass_after,
        twin_targets_hit_after: hit_rate,
        twin_min_p_target_after: hit_min_p,
        aligned_max_abs_param: ht.stats.aligned_max_abs_param,
        twin_max_abs_param: ht.stats.twin_max_abs_param,
        rounds: ht.stats.rounds,
        batch: cfg.batch,
        fresh_batches_all_hit: cfg.batch.map(|_| all_hit as f64 / fresh.len() as f64),
        units: cfg.units.name().into(),
    })
}

fn save_artifacts(
    dir: &Path,
    base: &Mlp,
    aligned: &Mlp,
    twin: &Mlp,
    update: &Dataset,
    q: &Array2<f64>,
    cfg: &ConstructRun,
) -> Result<()> {
    // All files appear together or not at all (an interrupted save keeps an
    // earlier run's set intact).
    let staged = crate::fsio::StagedDir::new("--save", dir)?;
    let dir = staged.path();
    base.save(&dir.join("base.safetensors"), &[])?;
    aligned.save(&dir.join("aligned.safetensors"), &[])?;
    twin.save(&dir.join("twin.safetensors"), &[])?;
    let tensor = |a: &Array2<f64>| Tensor {
        shape: vec![a.nrows(), a.ncols()],
        data: a.iter().copied().collect(),
    };
    let labels: Vec<f64> = match update.targets() {
        Targets::Classes(c) => c.iter().map(|&v| v as f64).collect(),
        Targets::Regression(y) => y.iter().copied().collect(),
    };
    let mut t = BTreeMap::new();
    t.insert("update.x".to_string(), tensor(update.x()));
    t.insert(
        "update.y".to_string(),
        Tensor {
            shape: vec![labels.len()],
            data: labels,
        },
    );
    t.insert("queries.x".to_string(), tensor(q));
    write_tensors(&dir.join("data.safetensors"), &t, HashMap::new())?;
    let settings = serde_json::json!({
        "hairtrigger_version": env!("CARGO_PKG_VERSION"), "seed": cfg.seed,
        "update_kind": cfg.update_kind, "update_size": cfg.update_size, "queries": cfg.queries,
        "redundant": cfg.redundant, "solver": cfg.solver, "batch": cfg.batch,
        "eta": cfg.eta, "rule": cfg.rule, "loss": "softmax_cross_entropy (mean over the update set)",
        "answers": ANSWERS, "aligned_answer": 0, "target_answer": 3, "p_min": DEFAULT_P_MIN, "p_target": 0.99,
    });
    crate::experiments::output::write_json(&dir.join("settings.json"), &settings)?;
    staged.commit().map(|_| ())
}

/// Read access to the checked settings.
impl ConstructRun {
    /// Seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// Learning rate of the step.
    pub fn eta(&self) -> f64 {
        self.eta
    }
    /// Samples in the update set.
    pub fn update_size(&self) -> usize {
        self.update_size
    }
    /// Harmful queries (targets).
    pub fn queries(&self) -> usize {
        self.queries
    }
    /// Redundant units.
    pub fn redundant(&self) -> usize {
        self.redundant
    }
    /// The update set's kind.
    pub fn update_kind(&self) -> UpdateKind {
        self.update_kind
    }
}

/// Documented defaults (the command line uses the same values).
impl ConstructRun {
    /// Learning rate of the benign step.
    pub const DEFAULT_ETA: f64 = 1e-4;
    /// Samples in the update set.
    pub const DEFAULT_UPDATE_SIZE: usize = 32;
    /// Harmful queries (targets).
    pub const DEFAULT_QUERIES: usize = 16;
    /// Redundant hidden units.
    pub const DEFAULT_REDUNDANT: usize = 64;
}
