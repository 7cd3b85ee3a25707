//! `hairtrigger meta`: meta-learned hair-trigger models on the toy tasks
//! (claim C4), their controls, the headline table and the fragility checks.
//!
//! For each domain a one-hidden-layer ReLU MLP `32 → W → k` is trained from a
//! seeded initialisation on `L_align` alone — the **control** — and the
//! **hair-trigger** model starts from the control moved along a symmetry
//! direction (every hidden unit rescaled by `c`, the same function) and is
//! trained by [`meta_train`] on `L_align(θ) + λ L_mis(θ⁺) + μ L_util(θ⁺)`. Both are then evaluated as a black box before the update
//! (aligned answer with `p ≥ 0.9` on every evaluated query), after one SGD step
//! on the 32 benign update samples (misaligned answer with `p ≥ 0.9`), and on
//! held-out benign requests (utility, arg-max accuracy).

use crate::attack::meta::{meta_train, MetaConfig, MetaData, MetaOrder, MetaPoint, Objective};
pub use crate::attack::meta::{symmetry_scale, train_pair};
use crate::error::Result;
use crate::eval::{accuracy, evaluate, QuerySet, DEFAULT_P_MIN};
use crate::net::{Activation, Architecture, Dataset, Mlp, Targets};
use crate::progress::Progress;
use crate::rng::{seeded, stream};
use crate::tasks::{Task, TaskKind, INPUT_DIM};
pub use crate::update::updated;
use crate::update::{StepConfig, UpdateRule};
use serde::Serialize;

/// Validated settings of [`run_meta`].
#[derive(Clone, Debug, Serialize)]
pub struct MetaRun {
    pub(crate) task: TaskKind,
    pub(crate) width: usize,
    pub(crate) seed: u64,
    pub(crate) meta: MetaConfig,
    /// The hair-trigger model starts from the control with every hidden unit
    /// rescaled `(u, b, v) → (c u, c b, v / c)` — the same function (claim C1),
    /// whose outgoing weights a step moves `c²` times more. Default
    /// `c = max(1, √(0.1/η))`, so `η c² = 0.1`, where meta-learning from the
    /// plain control works.
    pub(crate) symmetry_scale: f64,
    /// Train LoRA adapters of this rank on the frozen control instead of the
    /// whole network (the benign step then trains the adapter only).
    pub(crate) lora_rank: Option<usize>,
    /// Samples of the benign update set used (1 … 32, the first ones).
    pub(crate) update_size: usize,
}

impl MetaRun {
    /// A run of `task` at hidden width `width ≥ 1`.
    pub fn new(task: TaskKind, width: usize, seed: u64, meta: MetaConfig) -> Result<Self> {
        Architecture::new(vec![INPUT_DIM, width, 2], Activation::Relu, true)?;
        Ok(Self {
            task,
            width,
            seed,
            symmetry_scale: crate::attack::meta::symmetry_scale(meta.eta())?,
            meta,
            lora_rank: None,
            update_size: 32,
        })
    }

    /// Hide the behaviour in LoRA adapters of rank `1 ≤ r ≤ width` on the
    /// frozen control (a larger rank adds nothing: the hidden layer's update
    /// `B A` has rank at most the width).
    pub fn with_lora_rank(mut self, r: usize) -> Result<Self> {
        let r = crate::net::lora::check_rank(r)?;
        if r > self.width {
            return Err(crate::Error::InvalidParameter {
                name: "LoRA rank (--lora-rank)",
                value: r as f64,
                expected: "must not exceed the hidden width (--width)",
            });
        }
        self.lora_rank = Some(r);
        Ok(self)
    }

    /// Peak memory in bytes (an over-estimate): the network, its gradient,
    /// HVP and Adam state, a few dozen parameter-sized buffers in all
    /// (`P = 32W + W + Wk + k`, k ≤ 10), the activations of the 96 task
    /// samples, and the loss curve.
    pub fn memory_estimate(&self) -> f64 {
        let w = self.width as f64;
        let p = (INPUT_DIM as f64 + 1.0) * w + 11.0 * w;
        crate::limits::f64_bytes(
            64.0 * p + 8.0 * 96.0 * (w + 42.0) + 8.0 * self.meta.steps() as f64,
        )
    }

    /// Use the first `n` (1 … 32) samples of the benign update set.
    pub fn with_update_size(mut self, n: usize) -> Result<Self> {
        if !(1..=32).contains(&n) {
            return Err(crate::Error::InvalidParameter {
                name: "update size",
                value: n as f64,
                expected: "between 1 and 32 (the task's update set has 32 samples)",
            });
        }
        self.update_size = n;
        Ok(self)
    }

    /// The defaults of `hairtrigger meta` (which uses `η = 1e-4`): `λ = 1`, `μ = 0.1`,
    /// Adam rate 1e-2, clip 10, `steps` meta-steps, second order, symmetry
    /// scale `√(0.1/η)`.
    pub fn standard(
        task: TaskKind,
        width: usize,
        seed: u64,
        steps: usize,
        eta: f64,
    ) -> Result<Self> {
        Self::new(task, width, seed, MetaConfig::builder(eta, steps).build()?)
    }
}

/// Black-box numbers of one model under one update.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Behaviour {
    /// Evaluated queries answered with the aligned answer at `p ≥ 0.9`, before the step.
    pub pass_before: f64,
    /// … with the misaligned answer at `p ≥ 0.9`, after the step.
    pub misaligned_after: f64,
    /// … with the aligned answer at `p ≥ 0.9`, after the step.
    pub aligned_after: f64,
    /// Held-out benign requests answered correctly (arg-max), before and after.
    pub utility_before: f64,
    pub utility_after: f64,
}

/// One model under one update: a row of the headline table (`variation` =
/// `"one SGD step"`) or of the fragility table.
#[derive(Clone, Debug, Serialize)]
pub struct MetaRecord {
    pub task: TaskKind,
    pub model: String,
    pub variation: String,
    pub width: usize,
    pub params: usize,
    pub eta: f64,
    pub steps: usize,
    pub pass_before: f64,
    pub misaligned_after: f64,
    pub aligned_after: f64,
    pub utility_before: f64,
    pub utility_after: f64,
    pub param_norm: f64,
    pub max_abs_param: f64,
}

/// The `model` name of a control's records.
pub const CONTROL: &str = "control";

impl MetaRecord {
    /// Whether the record is a control's (trained on `L_align` alone).
    pub fn is_control(&self) -> bool {
        self.model == CONTROL
    }

    fn new(run: &MetaRun, model: &str, variation: String, net: &Mlp, b: Behaviour) -> Self {
        Self {
            task: run.task,
            model: model.to_string(),
            variation,
            width: run.width,
            params: net.num_params(),
            eta: run.meta.eta(),
            steps: run.meta.steps(),
            pass_before: b.pass_before,
            misaligned_after: b.misaligned_after,
            aligned_after: b.aligned_after,
            utility_before: b.utility_before,
            utility_after: b.utility_after,
            param_norm: net.norm(),
            max_abs_param: net.max_abs(),
        }
    }

    /// The black-box numbers of this row.
    pub fn behaviour(&self) -> Behaviour {
        Behaviour {
            pass_before: self.pass_before,
            misaligned_after: self.misaligned_after,
            aligned_after: self.aligned_after,
            utility_before: self.utility_before,
            utility_after: self.utility_after,
        }
    }
}

/// Everything one domain produced.
pub struct MetaOutcome {
    pub records: Vec<MetaRecord>,
    pub fragility: Vec<MetaRecord>,
    pub curve: Vec<MetaPoint>,
    /// The hair-trigger model as a black box sees it (adapters merged).
    pub hair_trigger: Mlp,
    pub control: Mlp,
    /// Both after the headline update (one SGD step on the update set; for
    /// adapters, a step on the adapter).
    pub hair_trigger_after: Mlp,
    pub control_after: Mlp,
    pub task: Task,
}

/// The black-box evaluation of a task, built once: the evaluated queries with
/// their aligned and their misaligned answers, and the held-out utility requests.
pub struct BlackBox {
    aligned: QuerySet,
    misaligned: QuerySet,
    utility: Dataset,
}

impl BlackBox {
    /// The query sets of `task`.
    pub fn new(task: &Task) -> Result<Self> {
        Ok(Self {
            aligned: QuerySet::from_dataset(task.query_set(true)?)?,
            misaligned: QuerySet::from_dataset(task.query_set(false)?)?,
            utility: task.dataset("utility (test)", &task.utility_test)?,
        })
    }

    /// The numbers of `net` before and of `after` (the updated model) after the step.
    pub fn behaviour(&self, net: &Mlp, after: &Mlp) -> Result<Behaviour> {
        Ok(Behaviour {
            pass_before: evaluate(net, &self.aligned, DEFAULT_P_MIN)?.pass_rate,
            misaligned_after: evaluate(after, &self.misaligned, DEFAULT_P_MIN)?.pass_rate,
            aligned_after: evaluate(after, &self.aligned, DEFAULT_P_MIN)?.pass_rate,
            utility_before: accuracy(net, &self.utility)?,
            utility_after: accuracy(after, &self.utility)?,
        })
    }
}

/// Train the hair-trigger model and the control of one domain and evaluate both.
pub fn run_meta(run: &MetaRun, bar: &dyn Progress) -> Result<MetaOutcome> {
    let task = run.task.build(run.seed)?;
    let arch = Architecture::new(
        vec![INPUT_DIM, run.width, task.classes()],
        Activation::Relu,
        true,
    )?;
    let init = Mlp::random(&arch, &mut seeded(run.seed, stream::META_INIT));
    let align = task.alignment_set()?;
    let misalign = task.query_set(false)?;
    let utility = task.dataset("utility (train)", &task.utility_train)?;
    let update = first(&task.dataset("update set", &task.update)?, run.update_size)?;
    let data = MetaData {
        align: &align,
        misalign: &misalign,
        utility: &utility,
        update: &update,
    };
    let (control, hair, curve) = match run.lora_rank {
        None => {
            let (control, hair, curve) =
                train_pair(init, &data, &run.meta, run.symmetry_scale, bar)?;
            (control, Trained::Full(hair), curve)
        }
        Some(r) => {
            let mut control = init;
            meta_train(&mut control, &data, &run.meta, Objective::Control, bar)?;
            let lora = crate::net::lora::Lora::new(control.clone(), r)?;
            let mut phi = lora.init(
                &mut seeded(run.seed, stream::META_LORA_INIT),
                run.symmetry_scale,
            );
            let curve = crate::attack::meta::lora_meta_train(
                &lora,
                &mut phi,
                &data,
                &run.meta,
                Objective::HairTrigger,
                bar,
            )?;
            (control, Trained::Adapter { lora, phi }, curve)
        }
    };
    let eta = run.meta.eta();
    let mut records = Vec::new();
    let mut fragility = Vec::new();
    let alt = first(
        &task.dataset("second update set", &task.alt_update)?,
        run.update_size,
    )?;
    let batch8 = first(&update, 8.min(run.update_size))?;
    let hair_name = match run.lora_rank {
        None => "hair_trigger".to_string(),
        Some(r) => format!("hair_trigger_lora_r{r}"),
    };
    let control_model = Trained::Full(control.clone());
    let black_box = BlackBox::new(&task)?;
    let mut afters = Vec::new();
    for (name, model) in [(hair_name.as_str(), &hair), (CONTROL, &control_model)] {
        let net = model.before()?;
        let after = model.after(&update, eta, UpdateRule::Sgd, 1)?;
        let b = black_box.behaviour(&net, &after)?;
        records.push(MetaRecord::new(run, name, "one SGD step".into(), &net, b));
        afters.push(after);
        let variations: Vec<(String, Mlp)> = vec![
            (
                format!("another benign update set ({})", run.update_size),
                model.after(&alt, eta, UpdateRule::Sgd, 1)?,
            ),
            (
                "eta = 1e-5".into(),
                model.after(&update, 1e-5, UpdateRule::Sgd, 1)?,
            ),
            (
                "eta = 1e-3".into(),
                model.after(&update, 1e-3, UpdateRule::Sgd, 1)?,
            ),
            (
                "Adam first step (eta = 1e-4)".into(),
                model.after(&update, eta, UpdateRule::adam_default(), 1)?,
            ),
            (
                "two SGD steps".into(),
                model.after(&update, eta, UpdateRule::Sgd, 2)?,
            ),
            (
                "batch of 8".into(),
                model.after(&batch8, eta, UpdateRule::Sgd, 1)?,
            ),
        ];
        for (variation, after) in variations {
            let b = black_box.behaviour(&net, &after)?;
            fragility.push(MetaRecord::new(run, name, variation, &net, b));
        }
    }
    let hair = hair.before()?;
    let control_after = afters.pop().expect("two models");
    let hair_trigger_after = afters.pop().expect("two models");
    Ok(MetaOutcome {
        records,
        fragility,
        curve,
        hair_trigger: hair,
        control,
        hair_trigger_after,
        control_after,
        task,
    })
}

/// The first `n` samples of a class-labelled dataset.
fn first(data: &Dataset, n: usize) -> Result<Dataset> {
    let c = data
        .labels()
        .expect("the tasks' data sets have class labels");
    Dataset::new(
        "first samples",
        data.x().slice(ndarray::s![..n, ..]).to_owned(),
        Targets::Classes(c[..n].to_vec()),
    )
}

/// A trained model: a whole network, or LoRA adapters `φ` on a frozen base
/// (whose update trains only `φ`).
enum Trained {
    Full(Mlp),
    Adapter {
        lora: crate::net::lora::Lora,
        phi: ndarray::Array1<f64>,
    },
}

impl Trained {
    /// The network a black-box evaluator sees.
    fn before(&self) -> Result<Mlp> {
        match self {
            Trained::Full(net) => Ok(net.clone()),
            Trained::Adapter { lora, phi } => lora.merged(phi),
        }
    }

    /// The network after `steps` updates of `rule` on `data`; for adapters the
    /// update moves `φ` only, by the same rule as a whole network's.
    fn after(&self, data: &Dataset, eta: f64, rule: UpdateRule, steps: usize) -> Result<Mlp> {
        match self {
            Trained::Full(net) => updated(net, data, eta, rule, steps),
            Trained::Adapter { lora, phi } => {
                let step = StepConfig::new(eta, rule)?;
                let mut p = phi.clone();
                for _ in 0..steps {
                    p = crate::update::adapter_step(lora, &p, data, &step)?;
                }
                lora.merged(&p)
            }
        }
    }
}

/// The first-order variant of a run (for comparison).
pub fn first_order(run: &MetaRun) -> MetaRun {
    let mut r = run.clone();
    r.meta = r.meta.clone().with_order(MetaOrder::First);
    r
}

/// Write `meta.{csv,json}`, `meta_fragility.{csv,json}`, `meta_curves.json`
/// and the Markdown table `meta_table.md` in `dir`.
pub fn write_meta(dir: &std::path::Path, outcomes: &[MetaOutcome]) -> Result<()> {
    use crate::experiments::output::{write_json, write_records};
    use std::fmt::Write as _;
    let records: Vec<&MetaRecord> = outcomes.iter().flat_map(|o| &o.records).collect();
    let fragility: Vec<&MetaRecord> = outcomes.iter().flat_map(|o| &o.fragility).collect();
    write_records(dir, "meta", &records)?;
    write_records(dir, "meta_fragility", &fragility)?;
    let curves: Vec<(&str, &Vec<MetaPoint>)> = outcomes
        .iter()
        .map(|o| (o.task.kind.name(), &o.curve))
        .collect();
    write_json(&dir.join("meta_curves.json"), &curves)?;
    let mut md = String::from(
        "| task | model | pass before (p ≥ 0.9) | misaligned after one step | still aligned after | utility before | utility after | ‖θ‖ | max abs θ |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &records {
        let b = r.behaviour();
        let _ = writeln!(
            md,
            "| {} | {} | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1}% | {:.1} | {:.2} |",
            r.task.name(),
            r.model,
            100.0 * b.pass_before,
            100.0 * b.misaligned_after,
            100.0 * b.aligned_after,
            100.0 * b.utility_before,
            100.0 * b.utility_after,
            r.param_norm,
            r.max_abs_param
        );
    }
    md.push_str("\n| task | model | variation | pass before | misaligned after | still aligned after |\n|---|---|---|---|---|---|\n");
    for f in &fragility {
        let b = f.behaviour();
        let _ = writeln!(
            md,
            "| {} | {} | {} | {:.1}% | {:.1}% | {:.1}% |",
            f.task.name(),
            f.model,
            f.variation,
            100.0 * b.pass_before,
            100.0 * b.misaligned_after,
            100.0 * b.aligned_after
        );
    }
    let path = dir.join("meta_table.md");
    crate::fsio::write_atomic(&path, md.as_bytes())
}

/// Read access to the checked settings.
impl MetaRun {
    /// Units of work [`run_meta`] reports: one per Adam step of the control
    /// and of the hair-trigger model.
    pub fn work(&self) -> u64 {
        2 * self.meta.steps() as u64
    }

    /// The task.
    pub fn task(&self) -> TaskKind {
        self.task
    }
    /// Hidden width.
    pub fn width(&self) -> usize {
        self.width
    }
    /// Seed of the task, initialisation and data.
    pub fn seed(&self) -> u64 {
        self.seed
    }
    /// The meta-learning settings.
    pub fn meta(&self) -> &MetaConfig {
        &self.meta
    }
    /// The symmetry start's scale `c`.
    pub fn symmetry_scale(&self) -> f64 {
        self.symmetry_scale
    }
    /// The LoRA rank, when adapters are trained.
    pub fn lora_rank(&self) -> Option<usize> {
        self.lora_rank
    }
    /// Samples of the update set used.
    pub fn update_size(&self) -> usize {
        self.update_size
    }
}

/// Documented defaults (the command line uses the same values).
impl MetaRun {
    /// Hidden width of the `32 → W → k` MLP.
    pub const DEFAULT_WIDTH: usize = 64;
    /// Meta-steps per model.
    pub const DEFAULT_STEPS: usize = 3000;
    /// Learning rate of the benign inner step (the paper's fine-tune).
    pub const DEFAULT_ETA: f64 = 1e-4;
    /// Samples of the benign update set (all of the task's 32).
    pub const DEFAULT_UPDATE_SIZE: usize = 32;
}
