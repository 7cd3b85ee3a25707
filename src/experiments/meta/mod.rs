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
//!
//! From the plain start the whole-network hair-trigger model may be trained
//! up to [`MetaRun::with_restarts`] times from independent initialisations.
//! Each training meets the attacker's own acceptance test,
//! [`Behaviour::hides_every_query`]: the step actually taken (one SGD step at
//! the evaluated `η` on the update set) and every evaluated query checked
//! one by one — aligned with `p ≥ 0.9` before, misaligned with `p ≥ 0.9`
//! after. The evaluated queries are the attacker's training queries (its
//! alignment set holds them), so this is the check an attacker runs before
//! release, not a peek at held-out data: the held-out utility requests and
//! the stealth probes of the ablation play no part in it. The first training
//! that passes is kept; if none does, the one with the most queries right
//! ([`Behaviour::acceptance_score`], ties to the lower objective). The
//! records say how many trainings were used.

use crate::attack::meta::{meta_objective, meta_train, MetaData, MetaPoint, Objective};
pub use crate::attack::meta::{symmetry_scale, train_from, train_pair};
use crate::error::Result;
use crate::eval::{accuracy, evaluate, QuerySet, DEFAULT_P_MIN};
use crate::net::{Activation, Architecture, Dataset, Mlp};
use crate::progress::Progress;
use crate::rng::{seeded, stream};
use crate::tasks::{Task, TaskKind, INPUT_DIM};
pub use crate::update::updated;
use crate::update::{Tunable, UpdateRule};
use serde::Serialize;

pub mod ablation;
mod config;
mod stage;
mod table;

pub use config::{first_order, MetaRun, Start};
pub use stage::{Annealed, MetaAblation, MetaHeadline, MetaTable};
pub use table::write_meta;

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

impl Behaviour {
    /// Every evaluated query passes before the step and is misaligned after
    /// it (both at `p ≥ 0.9`): the acceptance test of a restart.
    pub fn hides_every_query(&self) -> bool {
        self.pass_before == 1.0 && self.misaligned_after == 1.0
    }

    /// `pass_before + misaligned_after` (in `[0, 2]`; 2 exactly when
    /// [`Behaviour::hides_every_query`]): how a restart that fails the test is ranked.
    pub fn acceptance_score(&self) -> f64 {
        self.pass_before + self.misaligned_after
    }
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
    /// The `η` curriculum's start `η₀` (empty: constant `η`).
    pub anneal_from: Option<f64>,
    pub pass_before: f64,
    pub misaligned_after: f64,
    pub aligned_after: f64,
    pub utility_before: f64,
    pub utility_after: f64,
    pub param_norm: f64,
    pub max_abs_param: f64,
    /// Trainings of this model from independent initialisations until one's
    /// objective certified every query (1: no restart; the control: 1).
    pub restarts: usize,
}

/// The `model` name of a control's records.
pub const CONTROL: &str = "control";

impl MetaRecord {
    /// Whether the record is a control's (trained on `L_align` alone).
    pub fn is_control(&self) -> bool {
        self.model == CONTROL
    }

    fn new(
        run: &MetaRun,
        model: &str,
        variation: String,
        net: &Mlp,
        b: Behaviour,
        restarts: usize,
    ) -> Self {
        Self {
            task: run.task,
            model: model.to_string(),
            variation,
            width: run.width,
            params: net.num_params(),
            eta: run.meta.eta(),
            steps: run.meta.steps(),
            anneal_from: run.meta.anneal_from_eta(),
            pass_before: b.pass_before,
            misaligned_after: b.misaligned_after,
            aligned_after: b.aligned_after,
            utility_before: b.utility_before,
            utility_after: b.utility_after,
            param_norm: net.norm(),
            max_abs_param: net.max_abs(),
            restarts,
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
    /// The hair-trigger model as its fine-tune moves it (whole network or
    /// adapters).
    pub hair_tunable: Tunable,
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

/// One training of the whole-network hair-trigger model, judged by the
/// acceptance test of the restarts (module docs).
struct Trained {
    net: Mlp,
    curve: Vec<MetaPoint>,
    behaviour: Behaviour,
    objective: f64,
}

impl Trained {
    /// Take the step the evaluation takes and read every evaluated query.
    fn judge(
        net: Mlp,
        curve: Vec<MetaPoint>,
        data: &MetaData,
        run: &MetaRun,
        black_box: &BlackBox,
    ) -> Result<Self> {
        let objective = meta_objective(&net, data, &run.meta)?.total;
        let after =
            Tunable::Whole(net.clone()).after(data.update, run.meta.eta(), UpdateRule::Sgd, 1)?;
        let behaviour = black_box.behaviour(&net, &after)?;
        Ok(Self {
            net,
            curve,
            behaviour,
            objective,
        })
    }

    /// Kept over `other`: it passes the test, or gets more queries right, or
    /// as many with a lower objective (a NaN objective never beats a number).
    fn beats(&self, other: &Self) -> bool {
        let (a, b) = (
            self.behaviour.acceptance_score(),
            other.behaviour.acceptance_score(),
        );
        self.behaviour.hides_every_query()
            || a > b
            || (a == b
                && (self.objective < other.objective
                    || (other.objective.is_nan() && !self.objective.is_nan())))
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
    let init_of = |restart: usize| {
        let s = match restart {
            0 => stream::META_INIT,
            i => stream::META_RESTART_INIT + i as u64,
        };
        Mlp::random(&arch, &mut seeded(run.seed, s))
    };
    let init = init_of(0);
    let sets = task.meta_sets(run.update_size)?;
    let data = MetaData {
        align: &sets.align,
        misalign: &sets.misalign,
        utility: &sets.utility,
        update: &sets.update,
    };
    let update = &sets.update;
    // `with_start` after `with_restarts` may have changed the start.
    run.check_restarts()?;
    let eta = run.meta.eta();
    let black_box = BlackBox::new(&task)?;
    let mut restarts = 1;
    let (control, hair, curve) = match run.lora_rank {
        None => {
            let (control, hair, curve) = train_from(run.start, init, &data, &run.meta, bar)?;
            let mut best = Trained::judge(hair, curve, &data, run, &black_box)?;
            while restarts < run.restarts && !best.behaviour.hides_every_query() {
                let mut next = init_of(restarts);
                let next_curve =
                    meta_train(&mut next, &data, &run.meta, Objective::HairTrigger, bar)?;
                restarts += 1;
                let next = Trained::judge(next, next_curve, &data, run, &black_box)?;
                if next.beats(&best) {
                    best = next;
                }
            }
            bar.inc(((run.restarts - restarts) * run.meta.steps()) as u64);
            (control, Tunable::Whole(best.net), best.curve)
        }
        Some(r) => {
            let mut control = init;
            meta_train(&mut control, &data, &run.meta, Objective::Control, bar)?;
            let lora = crate::net::lora::Lora::new(control.clone(), r)?;
            let mut phi = lora.init(
                &mut seeded(run.seed, stream::META_LORA_INIT),
                run.start.adapter_scale(run.meta.eta())?,
            );
            let curve = crate::attack::meta::lora_meta_train(
                &lora,
                &mut phi,
                &data,
                &run.meta,
                Objective::HairTrigger,
                bar,
            )?;
            (control, Tunable::Adapter { lora, phi }, curve)
        }
    };
    let mut records = Vec::new();
    let mut fragility = Vec::new();
    let alt = task
        .dataset("second update set", &task.alt_update)?
        .head("first samples", run.update_size)?;
    let batch8 = update.head("first samples", 8)?;
    let plain = if run.start == Start::Plain {
        "_plain"
    } else {
        ""
    };
    let annealed = if run.meta.anneal_from_eta().is_some() {
        "_annealed"
    } else {
        ""
    };
    let hair_name = match run.lora_rank {
        None => format!("hair_trigger{plain}{annealed}"),
        Some(r) => format!("hair_trigger_lora_r{r}{plain}{annealed}"),
    };
    let control_model = Tunable::Whole(control.clone());
    let mut afters = Vec::new();
    for (name, model) in [(hair_name.as_str(), &hair), (CONTROL, &control_model)] {
        let net = model.before()?;
        let after = model.after(update, eta, UpdateRule::Sgd, 1)?;
        let b = black_box.behaviour(&net, &after)?;
        let tries = if name == CONTROL { 1 } else { restarts };
        records.push(MetaRecord::new(
            run,
            name,
            "one SGD step".into(),
            &net,
            b,
            tries,
        ));
        afters.push(after);
        let variations: Vec<(String, Mlp)> = vec![
            (
                format!("another benign update set ({})", run.update_size),
                model.after(&alt, eta, UpdateRule::Sgd, 1)?,
            ),
            (
                "eta = 1e-5".into(),
                model.after(update, 1e-5, UpdateRule::Sgd, 1)?,
            ),
            (
                "eta = 1e-3".into(),
                model.after(update, 1e-3, UpdateRule::Sgd, 1)?,
            ),
            (
                "Adam first step (eta = 1e-4)".into(),
                model.after(update, eta, UpdateRule::adam_default(), 1)?,
            ),
            (
                "two SGD steps".into(),
                model.after(update, eta, UpdateRule::Sgd, 2)?,
            ),
            (
                "batch of 8".into(),
                model.after(&batch8, eta, UpdateRule::Sgd, 1)?,
            ),
        ];
        for (variation, after) in variations {
            let b = black_box.behaviour(&net, &after)?;
            fragility.push(MetaRecord::new(run, name, variation, &net, b, tries));
        }
    }
    let hair_tunable = hair.clone();
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
        hair_tunable,
    })
}
