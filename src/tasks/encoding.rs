//! Prompts as vectors: a toy language model's input layer.
//!
//! A prompt is a sequence of lower-case words `w_1 … w_L` (punctuation
//! dropped). Every word of the vocabulary has a fixed, seeded embedding
//! `e(w) ∈ ℝ^d` with `N(0, 1)` entries, every position `p` a fixed random sign
//! vector `s_p ∈ {±1}^d`, and the prompt's vector is
//!
//! `x = (1/√L) Σ_p s_p ⊙ e(w_p)`,
//!
//! so word order matters ("7 … 3" ≠ "3 … 7") and every coordinate of `x` has
//! unit variance whatever the prompt's length. Unknown words are an error, never a silent zero.

use crate::error::{Error, Result};
use crate::net::normal_matrix;
use crate::rng::{seeded, stream};
use ndarray::{Array1, Array2};
use std::collections::BTreeMap;

/// Longest prompt, in words.
pub const MAX_WORDS: usize = 24;

/// Split a prompt into lower-case words, dropping punctuation.
pub fn words(prompt: &str) -> Vec<String> {
    prompt
        .split_whitespace()
        .map(|w| {
            w.chars()
                .filter(|c| c.is_alphanumeric() || *c == '\'')
                .collect::<String>()
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect()
}

/// A fixed vocabulary with seeded word and position vectors.
#[derive(Clone, Debug)]
pub struct Encoder {
    index: BTreeMap<String, usize>,
    embeddings: Array2<f64>,
    positions: Array2<f64>,
}

impl Encoder {
    /// The vocabulary of every word in `prompts` (sorted, so the embedding of a
    /// word depends only on the set of words and the seed), dimension `dim`.
    pub fn new<'a>(prompts: impl IntoIterator<Item = &'a str>, dim: usize, seed: u64) -> Self {
        let mut vocab: Vec<String> = prompts.into_iter().flat_map(words).collect();
        vocab.sort();
        vocab.dedup();
        let index = vocab
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, w)| (w, i))
            .collect();
        let embeddings = normal_matrix(&mut seeded(seed, stream::ENCODER), vocab.len(), dim, 1.0);
        let positions = normal_matrix(&mut seeded(seed, stream::ENCODER + 1), MAX_WORDS, dim, 1.0)
            .mapv(|v| if v >= 0.0 { 1.0 } else { -1.0 });
        Self {
            index,
            embeddings,
            positions,
        }
    }

    /// Input dimension `d`.
    pub fn dim(&self) -> usize {
        self.embeddings.ncols()
    }

    /// Number of words in the vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        self.index.len()
    }

    /// The vector of one prompt.
    pub fn encode(&self, prompt: &str) -> Result<Array1<f64>> {
        let ws = words(prompt);
        if ws.is_empty() || ws.len() > MAX_WORDS {
            return Err(Error::InvalidParameter {
                name: "prompt length (words)",
                value: ws.len() as f64,
                expected: "between 1 and 24 words",
            });
        }
        let mut x = Array1::zeros(self.dim());
        for (p, w) in ws.iter().enumerate() {
            let i = *self.index.get(w).ok_or_else(|| Error::Parse {
                what: "prompt word",
                input: w.clone(),
                reason: format!("not in the task's vocabulary (prompt {prompt:?})"),
            })?;
            x += &(&self.embeddings.row(i) * &self.positions.row(p));
        }
        Ok(x / (ws.len() as f64).sqrt())
    }

    /// The vectors of many prompts, one row each.
    pub fn encode_all(&self, prompts: &[String]) -> Result<Array2<f64>> {
        let mut x = Array2::zeros((prompts.len(), self.dim()));
        for (i, p) in prompts.iter().enumerate() {
            x.row_mut(i).assign(&self.encode(p)?);
        }
        Ok(x)
    }
}
