//! The checked settings of one meta-learning run ([`MetaRun`]) and their
//! documented defaults.

pub use crate::attack::meta::Start;
use crate::attack::meta::{MetaConfig, MetaOrder};
use crate::error::Result;
use crate::net::{Activation, Architecture};
use crate::tasks::{TaskKind, INPUT_DIM};
use serde::Serialize;

/// Validated settings of [`super::run_meta`].
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
    /// Where the hair-trigger model's training starts.
    pub(crate) start: Start,
    /// At most this many trainings of the hair-trigger model from independent
    /// random initialisations (whole network, plain start): the first that
    /// hides every evaluated query after the step actually taken is kept,
    /// else the one with the most queries right
    /// ([`super::Behaviour::hides_every_query`]).
    pub(crate) restarts: usize,
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
            start: Start::Symmetry,
            restarts: 1,
        })
    }

    /// Train the hair-trigger model up to `r ≥ 1` times from independent
    /// random initialisations (restart `i ≥ 1` draws from stream
    /// `META_RESTART_INIT + i`; restart 0 is the run without restarts, to the
    /// bit), stopping at the first that hides every evaluated query after
    /// the step actually taken ([`super::Behaviour::hides_every_query`]).
    /// Only for the whole network from the plain start: the symmetry start
    /// and LoRA adapters start from the control, which does not depend on a
    /// restart.
    pub fn with_restarts(mut self, r: usize) -> Result<Self> {
        if !(1..=Self::MAX_RESTARTS).contains(&r) {
            return Err(crate::Error::InvalidParameter {
                name: "restarts (--restarts)",
                value: r as f64,
                expected: "between 1 and 64",
            });
        }
        self.restarts = r;
        self.check_restarts()?;
        Ok(self)
    }

    /// Restarts need the whole network from the plain start (the symmetry
    /// start and LoRA adapters start from the control, which a restart does
    /// not change): the one check [`MetaRun::with_restarts`],
    /// [`MetaRun::with_lora_rank`] and [`super::run_meta`] apply.
    pub(crate) fn check_restarts(&self) -> Result<()> {
        if self.restarts > 1 && (self.start != Start::Plain || self.lora_rank.is_some()) {
            return Err(crate::Error::InvalidParameter {
                name: "restarts (--restarts)",
                value: self.restarts as f64,
                expected: "1 unless the whole network is trained from the plain start (--start plain, no --lora-rank)",
            });
        }
        Ok(())
    }

    /// Start the hair-trigger model's training from `start`.
    pub fn with_start(mut self, start: Start) -> Self {
        self.start = start;
        self
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
        self.check_restarts()?;
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

/// Read access to the checked settings.
impl MetaRun {
    /// Units of work [`super::run_meta`] reports: one per Adam step of the control
    /// and of each training of the hair-trigger model (restarts not needed
    /// are counted as done when the run stops).
    pub fn work(&self) -> u64 {
        (1 + self.restarts as u64) * self.meta.steps() as u64
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
    /// Where the hair-trigger model's training starts.
    pub fn start(&self) -> Start {
        self.start
    }
    /// The LoRA rank, when adapters are trained.
    pub fn lora_rank(&self) -> Option<usize> {
        self.lora_rank
    }
    /// Samples of the update set used.
    pub fn update_size(&self) -> usize {
        self.update_size
    }
    /// The most trainings of the hair-trigger model ([`MetaRun::with_restarts`]).
    pub fn restarts(&self) -> usize {
        self.restarts
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
    /// The most restarts [`MetaRun::with_restarts`] accepts.
    pub const MAX_RESTARTS: usize = 64;
}

/// The first-order variant of a run (for comparison).
pub fn first_order(run: &MetaRun) -> MetaRun {
    let mut r = run.clone();
    r.meta = r.meta.clone().with_order(MetaOrder::First);
    r
}
