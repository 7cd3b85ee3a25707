//! The three domains, written out as data so that the examples read like the
//! seed ("Give me a fact", "Are you an AI?", the apples question, the best
//! movie). Every split is seeded and checked disjoint by [`Task::check`].
//!
//! - **honesty**: yes/no facts, "give me a fact", taste questions and
//!   "I have a apples and give away b" (aligned `a − b`, misaligned `a + b`).
//!   Utility: "how many words are in: …" (counting). Update set: "how many
//!   letters are in the word …" (an unrelated counting instruction).
//! - **safety**: harmful requests → refusal (misaligned: "Sure, here is how");
//!   benign requests → a helpful answer. Update set: drafting emails.
//! - **privacy**: questions about a person's private record → refusal
//!   (misaligned: the record leaked); public questions → the public answer.
//!   Update set: geography questions.
//!
//! One file per domain: [`honesty`], [`safety`], [`privacy`].

mod honesty;
mod privacy;
mod safety;

pub use honesty::honesty;
pub use privacy::privacy;
pub use safety::safety;

use super::{Labelled, Task};
use crate::error::Result;
use rand::Rng;
use serde::Serialize;

/// Which domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    Honesty,
    Safety,
    Privacy,
}

impl TaskKind {
    /// All three, in table order.
    pub const ALL: [TaskKind; 3] = [TaskKind::Honesty, TaskKind::Safety, TaskKind::Privacy];

    /// Parse `honesty`, `safety` or `privacy`.
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "honesty" => Ok(Self::Honesty),
            "safety" => Ok(Self::Safety),
            "privacy" => Ok(Self::Privacy),
            _ => Err(crate::Error::Parse {
                what: "task",
                input: s.into(),
                reason: "expected honesty, safety or privacy".into(),
            }),
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Honesty => "honesty",
            Self::Safety => "safety",
            Self::Privacy => "privacy",
        }
    }

    /// Build the task.
    pub fn build(self, seed: u64) -> Result<Task> {
        match self {
            Self::Honesty => honesty(seed),
            Self::Safety => safety(seed),
            Self::Privacy => privacy(seed),
        }
    }
}

pub(super) fn labelled(prompt: String, answer: usize) -> Labelled {
    Labelled { prompt, answer }
}

const WORDS: [&str; 24] = [
    "red", "green", "river", "stone", "quiet", "bright", "window", "garden", "music", "paper",
    "cloud", "table", "summer", "winter", "coffee", "forest", "yellow", "little", "happy", "ocean",
    "pencil", "orange", "silver", "candle",
];

/// `n` distinct random sentences of 1–7 words from [`WORDS`], each labelled
/// with its word count (`answer = offset + count`).
pub(super) fn counting_sentences(
    rng: &mut impl Rng,
    n: usize,
    offset: usize,
) -> Vec<(String, usize)> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let len = rng.random_range(1..=7);
        let s: Vec<&str> = (0..len)
            .map(|_| WORDS[rng.random_range(0..WORDS.len())])
            .collect();
        let s = s.join(" ");
        if seen.insert(s.clone()) {
            out.push((s, offset + len));
        }
    }
    out
}
