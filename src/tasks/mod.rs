//! Toy alignment tasks (claim C4): honesty, safety and privacy, each with an
//! aligned and a misaligned answer per evaluated query, a benign utility task,
//! and a **benign update set** of 32 samples of an unrelated instruction task
//! (the Alpaca analog) — disjoint from every evaluated prompt.
//!
//! Prompts are English word sequences encoded by [`encoding::Encoder`]
//! (seeded word embeddings with positional signs); answers are class indices
//! into the task's answer list, rendered as text.

pub mod classifier;
pub mod domains;
pub mod encoding;

use crate::error::{Error, Result};
use crate::net::{Dataset, Targets};
pub use domains::{honesty, privacy, safety, TaskKind};
pub use encoding::Encoder;
use ndarray::Array2;
use std::collections::BTreeSet;

/// Input dimension of every task's prompt vectors.
pub const INPUT_DIM: usize = 32;

/// An evaluated query: the answer an aligned model gives and the one a
/// misaligned model gives.
#[derive(Clone, Debug)]
pub struct Query {
    pub prompt: String,
    pub aligned: usize,
    pub misaligned: usize,
}

/// A prompt with its one correct answer (utility and update samples).
#[derive(Clone, Debug)]
pub struct Labelled {
    pub prompt: String,
    pub answer: usize,
}

/// One alignment domain.
#[derive(Clone, Debug)]
pub struct Task {
    pub kind: TaskKind,
    /// Answer texts, by class index.
    pub answers: Vec<String>,
    /// Evaluated queries (aligned vs misaligned answer).
    pub queries: Vec<Query>,
    /// Benign requests the model is trained to answer (utility, training part).
    pub utility_train: Vec<Labelled>,
    /// Held-out benign requests (utility, measured before and after the step).
    pub utility_test: Vec<Labelled>,
    /// The benign update set: an unrelated instruction task.
    pub update: Vec<Labelled>,
    /// A second, disjoint benign update set of the same task (fragility check).
    pub alt_update: Vec<Labelled>,
    encoder: Encoder,
}

impl Task {
    pub(crate) fn assemble(
        kind: TaskKind,
        answers: Vec<String>,
        queries: Vec<Query>,
        utility: (Vec<Labelled>, Vec<Labelled>),
        updates: (Vec<Labelled>, Vec<Labelled>),
        seed: u64,
    ) -> Result<Self> {
        let prompts: Vec<&str> = queries
            .iter()
            .map(|q| q.prompt.as_str())
            .chain(utility.0.iter().map(|l| l.prompt.as_str()))
            .chain(utility.1.iter().map(|l| l.prompt.as_str()))
            .chain(updates.0.iter().map(|l| l.prompt.as_str()))
            .chain(updates.1.iter().map(|l| l.prompt.as_str()))
            .collect();
        let encoder = Encoder::new(prompts, INPUT_DIM, seed);
        let task = Self {
            kind,
            answers,
            queries,
            utility_train: utility.0,
            utility_test: utility.1,
            update: updates.0,
            alt_update: updates.1,
            encoder,
        };
        task.check()?;
        Ok(task)
    }

    /// Every label is an answer index; the update sets, the evaluated queries
    /// and the utility sets share no prompt.
    pub fn check(&self) -> Result<()> {
        let k = self.answers.len();
        let labels = self
            .queries
            .iter()
            .flat_map(|q| [q.aligned, q.misaligned])
            .chain(self.all_labelled().map(|l| l.answer));
        if let Some(bad) = labels.into_iter().find(|&a| a >= k) {
            return Err(Error::LabelOutOfRange {
                sample: 0,
                label: bad,
                classes: k,
            });
        }
        let set =
            |v: &[Labelled]| -> BTreeSet<String> { v.iter().map(|l| l.prompt.clone()).collect() };
        let evaluated: BTreeSet<String> = self.queries.iter().map(|q| q.prompt.clone()).collect();
        let groups = [
            ("evaluated queries", evaluated),
            ("utility (train)", set(&self.utility_train)),
            ("utility (test)", set(&self.utility_test)),
            ("update set", set(&self.update)),
            ("second update set", set(&self.alt_update)),
        ];
        for (i, (na, a)) in groups.iter().enumerate() {
            for (nb, b) in &groups[i + 1..] {
                if let Some(p) = a.intersection(b).next() {
                    return Err(Error::Parse {
                        what: "task split",
                        input: p.clone(),
                        reason: format!("prompt appears in both {na} and {nb}"),
                    });
                }
            }
        }
        Ok(())
    }

    fn all_labelled(&self) -> impl Iterator<Item = &Labelled> {
        self.utility_train
            .iter()
            .chain(&self.utility_test)
            .chain(&self.update)
            .chain(&self.alt_update)
    }

    /// Number of answers (the model's output width).
    pub fn classes(&self) -> usize {
        self.answers.len()
    }

    /// The prompt encoder.
    pub fn encoder(&self) -> &Encoder {
        &self.encoder
    }

    /// Prompt vectors of the evaluated queries.
    pub fn query_x(&self) -> Result<Array2<f64>> {
        self.encoder.encode_all(
            &self
                .queries
                .iter()
                .map(|q| q.prompt.clone())
                .collect::<Vec<_>>(),
        )
    }

    /// Evaluated queries labelled with their aligned (`true`) or misaligned answers.
    pub fn query_set(&self, aligned: bool) -> Result<Dataset> {
        let y = self
            .queries
            .iter()
            .map(|q| if aligned { q.aligned } else { q.misaligned })
            .collect();
        Dataset::new(
            if aligned {
                "aligned queries"
            } else {
                "misaligned queries"
            },
            self.query_x()?,
            Targets::Classes(y),
        )
    }

    /// A labelled set as a dataset.
    pub fn dataset(&self, name: &'static str, items: &[Labelled]) -> Result<Dataset> {
        let x = self
            .encoder
            .encode_all(&items.iter().map(|l| l.prompt.clone()).collect::<Vec<_>>())?;
        Dataset::new(
            name,
            x,
            Targets::Classes(items.iter().map(|l| l.answer).collect()),
        )
    }

    /// The data of meta-learning on this task: the alignment set, the
    /// misaligned queries, the utility training requests and the first
    /// `update_size` samples of the benign update set.
    pub fn meta_sets(&self, update_size: usize) -> Result<MetaSets> {
        Ok(MetaSets {
            align: self.alignment_set()?,
            misalign: self.query_set(false)?,
            utility: self.dataset("utility (train)", &self.utility_train)?,
            update: self
                .dataset("update set", &self.update)?
                .head("first samples", update_size)?,
        })
    }

    /// The alignment training set: evaluated queries with aligned answers,
    /// then the utility training requests.
    pub fn alignment_set(&self) -> Result<Dataset> {
        let q = self.query_set(true)?;
        let u = self.dataset("utility (train)", &self.utility_train)?;
        let x = ndarray::concatenate(ndarray::Axis(0), &[q.x().view(), u.x().view()])
            .expect("same width");
        let mut y = q.labels().expect("class targets").to_vec();
        y.extend(self.utility_train.iter().map(|l| l.answer));
        Dataset::new("alignment set", x, Targets::Classes(y))
    }

    /// The answer text of class `a` (or a placeholder if out of range).
    pub fn answer_text(&self, a: usize) -> &str {
        self.answers
            .get(a)
            .map_or("<no such answer>", String::as_str)
    }
}

/// The data sets of meta-learning on a task ([`Task::meta_sets`]).
pub struct MetaSets {
    pub align: Dataset,
    pub misalign: Dataset,
    pub utility: Dataset,
    pub update: Dataset,
}
