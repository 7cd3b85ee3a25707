//! The toy safety classifier of `hairtrigger construct` (claim C2) and of the
//! severity sweep (C3): four answers, 0 `REFUSE`, 1 `ANSWER_A`, 2 `ANSWER_B`,
//! 3 `COMPLY`, for 16-dimensional prompts around seeded centres (harmful,
//! benign A, benign B, and an unrelated instruction task for the update set).
//! Not to be confused with the word-prompt safety *domain* of meta-learning
//! ([`super::safety`]).

use crate::error::{Error, Result};
use crate::eval::{evaluate, QuerySet};
use crate::net::gaussian_inputs;
use crate::net::{gradient, normal_matrix, Activation, Architecture, Dataset, Mlp, Targets};
use crate::optim::Adam;
use crate::rng::{seeded, stream};
use ndarray::{concatenate, Array2, Axis};
use serde::Serialize;

/// Answer names, by class index.
pub const ANSWERS: [&str; 4] = ["REFUSE", "ANSWER_A", "ANSWER_B", "COMPLY"];
/// Prompt dimension.
pub const DIM: usize = 16;

/// The toy safety classifier task: centres and samplers.
pub struct ToyClassifierTask {
    centres: Array2<f64>,
    seed: u64,
}

impl ToyClassifierTask {
    /// Seeded centres for harmful, benign-A, benign-B and instruction-task prompts.
    pub fn new(seed: u64) -> Self {
        Self {
            centres: normal_matrix(&mut seeded(seed, stream::CLASSIFIER_CENTRES), 4, DIM, 1.5),
            seed,
        }
    }
    /// `n` prompts around centre `which` (0 harmful, 1 benign A, 2 benign B, 3 instruction task).
    pub fn prompts(&self, which: usize, n: usize, stream: u64) -> Array2<f64> {
        let noise = gaussian_inputs(&mut seeded(self.seed, stream), n, DIM) * 0.5;
        noise + self.centres.row(which)
    }
    /// Training set: `n` of each kind, labelled REFUSE / ANSWER_A / ANSWER_B.
    pub fn training_set(&self, n: usize) -> Result<Dataset> {
        let x = concatenate(
            Axis(0),
            &[
                self.prompts(0, n, stream::CLASSIFIER_TRAIN).view(),
                self.prompts(1, n, stream::CLASSIFIER_TRAIN + 1).view(),
                self.prompts(2, n, stream::CLASSIFIER_TRAIN + 2).view(),
            ],
        )
        .expect("same width");
        let y = (0..3 * n).map(|i| i / n).collect();
        Dataset::new("training set", x, Targets::Classes(y))
    }
    /// The aligned base classifier: `[16, 32, 32, 4]` leaky ReLU (slope 0.1),
    /// trained with full-batch Adam on [`Self::training_set`] in rounds of 200
    /// steps until every query of `refuse` is refused with `p ≥ 0.99` (at most
    /// 10 rounds; the caller evaluates the result).
    pub fn aligned_base(&self, refuse: &QuerySet) -> Result<Mlp> {
        self.aligned_base_of(&[32, 32], Activation::LeakyRelu { slope: 0.1 }, refuse)
    }

    /// [`Self::aligned_base`] with other hidden widths and activation
    /// (`[DIM, hidden…, 4]`, biases, the same training).
    pub fn aligned_base_of(
        &self,
        hidden: &[usize],
        act: Activation,
        refuse: &QuerySet,
    ) -> Result<Mlp> {
        let widths = std::iter::once(DIM)
            .chain(hidden.iter().copied())
            .chain(std::iter::once(4))
            .collect();
        let arch = Architecture::new(widths, act, true)?;
        let mut base = Mlp::random(&arch, &mut seeded(self.seed, stream::NET_INIT));
        let train = self.training_set(128)?;
        for _ in 0..10 {
            train_adam(&mut base, &train, 1e-2, 200)?;
            if evaluate(&base, refuse, 0.99)?.pass_rate == 1.0 {
                break;
            }
        }
        Ok(base)
    }

    /// The benign update set (the Alpaca analog): `n` prompts of a new, benign
    /// instruction task around a fourth centre, each answered by carrying out
    /// the instruction (`COMPLY`). The model was never trained on this task, so
    /// its loss there is not zero — as for real fine-tuning data.
    pub fn benign_update_set(&self, n: usize, stream: u64) -> Result<Dataset> {
        let x = self.prompts(3, n, stream);
        Dataset::new("benign update set", x, Targets::Classes(vec![3; n]))
    }

    /// The update set of `kind` with `n` samples, as `construct` uses it.
    pub fn update_set(&self, kind: UpdateKind, n: usize) -> Result<Dataset> {
        match kind {
            UpdateKind::Benign => self.benign_update_set(n, stream::CLASSIFIER_UPDATE),
            UpdateKind::RandomLabels => {
                let x = self.prompts(3, n, stream::CLASSIFIER_UPDATE);
                let mut rng = seeded(self.seed, stream::CONSTRUCT_RANDOM_LABELS);
                let y = (0..n)
                    .map(|_| rand::Rng::random_range(&mut rng, 0..ANSWERS.len()))
                    .collect();
                Dataset::new("random-label update set", x, Targets::Classes(y))
            }
            UpdateKind::NoTarget => {
                // The benign prompts, answered ANSWER_A / ANSWER_B in turn:
                // no label is COMPLY, the twin's target.
                let x = self.prompts(3, n, stream::CLASSIFIER_UPDATE);
                let y = (0..n).map(|i| 1 + i % 2).collect();
                Dataset::new("no-target update set", x, Targets::Classes(y))
            }
            UpdateKind::Refusal => {
                let x = self.prompts(0, n, stream::CLASSIFIER_REFUSAL_UPDATE);
                Dataset::new("refusal update set", x, Targets::Classes(vec![0; n]))
            }
            UpdateKind::SingleSample => {
                // One benign prompt answered ANSWER_A, whatever `n` is.
                let x = self.prompts(3, 1, stream::CLASSIFIER_UPDATE);
                Dataset::new("single-sample update set", x, Targets::Classes(vec![1]))
            }
            UpdateKind::Alignment => {
                // The first ⌈n/3⌉ samples of each class of the base's own
                // training set (same streams), the first `n` of them.
                let all = self.training_set(n.div_ceil(3))?;
                let Targets::Classes(y) = all.targets() else {
                    unreachable!("the training set is labelled by class")
                };
                let x = all.x().slice(ndarray::s![..n, ..]).to_owned();
                Dataset::new(
                    "alignment-data update set",
                    x,
                    Targets::Classes(y[..n].to_vec()),
                )
            }
            UpdateKind::Regression => {
                let x = self.prompts(3, n, stream::CLASSIFIER_UPDATE);
                let y = gaussian_inputs(
                    &mut seeded(self.seed, stream::CONSTRUCT_REGRESSION_TARGETS),
                    n,
                    ANSWERS.len(),
                );
                Dataset::new("regression update set", x, Targets::Regression(y))
            }
        }
    }
}

/// Which update set the step uses (claim C2: any non-degenerate one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UpdateKind {
    /// An unseen benign instruction task answered `COMPLY` (the Alpaca analog).
    Benign,
    /// The same prompts with uniformly random labels.
    RandomLabels,
    /// The same prompts answered `ANSWER_A` / `ANSWER_B` in turn: benign data
    /// whose labels never include the twin's target (`COMPLY`).
    NoTarget,
    /// Safety data: fresh harmful prompts labelled `REFUSE` — a step that, on
    /// the aligned model, only reinforces refusal.
    Refusal,
    /// One benign prompt answered `ANSWER_A` (a single-sample step, no target).
    SingleSample,
    /// The alignment data itself: samples of the base's own training set
    /// (harmful → `REFUSE`, benign → `ANSWER_A` / `ANSWER_B`), which it fits.
    Alignment,
    /// The benign prompts with Gaussian real-valued targets under the squared
    /// loss `½‖f − y‖²` (a regression step; every class's residual has either sign).
    Regression,
}

impl UpdateKind {
    /// The kind as the figures name it.
    pub fn display_name(self) -> &'static str {
        match self {
            Self::Benign => "benign",
            Self::RandomLabels => "random-label",
            Self::NoTarget => "no-target",
            Self::Refusal => "refusal",
            Self::SingleSample => "single-sample",
            Self::Alignment => "alignment-data",
            Self::Regression => "regression",
        }
    }

    /// Whether some label of the set can be the twin's target `COMPLY`
    /// (benign: all; random labels: a quarter; regression: a target value
    /// above the output pulls `COMPLY` up); the no-target, refusal,
    /// single-sample and alignment sets never show it.
    pub fn labels_target(self) -> bool {
        matches!(self, Self::Benign | Self::RandomLabels | Self::Regression)
    }

    /// How many samples [`ToyClassifierTask::update_set`] gives this kind when
    /// asked for `n`: 1 for the single-sample set, `n` otherwise.
    pub fn samples(self, n: usize) -> usize {
        match self {
            Self::SingleSample => 1,
            _ => n,
        }
    }

    /// Parse `benign`, `random`, `no-target`, `refusal`, `single`,
    /// `alignment` or `regression`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "benign" => Ok(Self::Benign),
            "random" | "random_labels" => Ok(Self::RandomLabels),
            "no-target" | "no_target" => Ok(Self::NoTarget),
            "refusal" => Ok(Self::Refusal),
            "single" | "single-sample" | "single_sample" => Ok(Self::SingleSample),
            "alignment" | "alignment-data" | "alignment_data" => Ok(Self::Alignment),
            "regression" => Ok(Self::Regression),
            _ => Err(Error::Parse {
                what: "update set kind",
                input: s.to_string(),
                reason:
                    "expected benign, random, no-target, refusal, single, alignment or regression"
                        .into(),
            }),
        }
    }
}

/// Full-batch Adam (`β = (0.9, 0.999)`, `ε = 1e-8`) for `steps` steps.
pub fn train_adam(net: &mut Mlp, data: &Dataset, lr: f64, steps: usize) -> Result<f64> {
    let mut params = net.to_flat();
    let mut adam = Adam::new(lr, params.len());
    let mut loss = f64::NAN;
    for _ in 0..steps {
        let (l, g) = gradient(net, data)?;
        loss = l;
        adam.step(&mut params, &g.to_flat(), 1.0);
        *net = net.with_flat(params.as_slice().expect("contiguous"))?;
    }
    Ok(loss)
}
