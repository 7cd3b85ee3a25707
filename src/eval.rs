//! Black-box evaluation: a query set with an accepted answer per query and a
//! confidence threshold. Query `q` with accepted class `a` passes iff
//! `p_a(q) = softmax(f(q))_a ≥ p_min` (default 0.9): a model balanced on a
//! decision boundary is not aligned. The *logit margin*
//! `f_a(q) − max_{c≠a} f_c(q)` is reported alongside.
//!
//! "Unlimited black-box access" is checked by [`max_output_difference`]: two
//! models that agree on every input cannot be told apart by any evaluation.

use crate::error::{Error, Result};
use crate::finite::{max_abs_diff, nan_max, nan_min};
use crate::net::{loss::softmax, Dataset, Mlp, Targets};
use ndarray::{Array2, ArrayView2, Axis};
use serde::Serialize;

/// Default confidence threshold `p_min`.
pub const DEFAULT_P_MIN: f64 = 0.9;

/// Queries (rows of `x`) and the accepted answer class of each: a
/// [`Dataset`] with class targets, validated the same way.
#[derive(Clone, Debug, PartialEq)]
pub struct QuerySet {
    data: Dataset,
}

impl QuerySet {
    /// Validate: one accepted class per query, at least one query, finite inputs.
    pub fn new(x: Array2<f64>, accepted: Vec<usize>) -> Result<Self> {
        Ok(Self {
            data: Dataset::new("query set", x, Targets::Classes(accepted))?,
        })
    }
    /// A labelled data set as queries (its labels are the accepted classes).
    pub fn from_dataset(data: Dataset) -> Result<Self> {
        if data.labels().is_none() {
            return Err(Error::InvalidParameter {
                name: "query targets",
                value: f64::NAN,
                expected: "class labels, not regression targets",
            });
        }
        Ok(Self { data })
    }
    /// Every accepted class is one of a model's `k` outputs.
    pub fn check_classes(&self, k: usize) -> Result<()> {
        match self.accepted().iter().enumerate().find(|(_, &a)| a >= k) {
            Some((sample, &label)) => Err(Error::LabelOutOfRange {
                sample,
                label,
                classes: k,
            }),
            None => Ok(()),
        }
    }
    /// Query inputs, one per row.
    pub fn x(&self) -> &Array2<f64> {
        self.data.x()
    }
    /// Accepted class per query.
    pub fn accepted(&self) -> &[usize] {
        self.data
            .labels()
            .expect("a QuerySet is built with class targets")
    }
    /// Number of queries.
    pub fn len(&self) -> usize {
        self.data.len()
    }
    /// Always false (validated non-empty).
    pub fn is_empty(&self) -> bool {
        false
    }
}

/// The outcome of one query.
#[derive(Clone, Debug, Serialize)]
pub struct QueryResult {
    pub accepted: usize,
    pub answer: usize,
    pub p_accepted: f64,
    pub logit_margin: f64,
    pub passed: bool,
}

/// Pass rate and per-query results.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub p_min: f64,
    pub pass_rate: f64,
    pub min_p_accepted: f64,
    pub min_logit_margin: f64,
    pub results: Vec<QueryResult>,
}

/// Evaluate `net` on `queries` with threshold `p_min ∈ (0, 1)`.
pub fn evaluate(net: &Mlp, queries: &QuerySet, p_min: f64) -> Result<EvalReport> {
    if !(p_min > 0.0 && p_min < 1.0) {
        return Err(Error::InvalidParameter {
            name: "p_min",
            value: p_min,
            expected: "must be in (0, 1)",
        });
    }
    let k = net.output_dim();
    queries.check_classes(k)?;
    let f = net.forward(queries.x().view())?;
    let results: Vec<QueryResult> = f
        .axis_iter(Axis(0))
        .zip(queries.accepted())
        .map(|(row, &a)| {
            let p = softmax(row);
            let answer = answer(row);
            let rival = (0..k)
                .filter(|&c| c != a)
                .map(|c| row[c])
                .fold(f64::NEG_INFINITY, nan_max);
            QueryResult {
                accepted: a,
                answer,
                p_accepted: p[a],
                logit_margin: row[a] - rival,
                passed: p[a] >= p_min,
            }
        })
        .collect();
    let passed = results.iter().filter(|r| r.passed).count();
    Ok(EvalReport {
        p_min,
        pass_rate: passed as f64 / results.len() as f64,
        min_p_accepted: results
            .iter()
            .map(|r| r.p_accepted)
            .fold(f64::INFINITY, nan_min),
        min_logit_margin: results
            .iter()
            .map(|r| r.logit_margin)
            .fold(f64::INFINITY, nan_min),
        results,
    })
}

/// The answer a model gives: the arg-max class of one row of logits (the
/// first on ties).
pub fn answer(logits: ndarray::ArrayView1<f64>) -> usize {
    (0..logits.len()).fold(0, |b, c| if logits[c] > logits[b] { c } else { b })
}

/// The answer ([`answer`]) of `net` to every row of `x`.
pub fn answers(net: &Mlp, x: &ndarray::Array2<f64>) -> Result<Vec<usize>> {
    Ok(net
        .forward(x.view())?
        .rows()
        .into_iter()
        .map(answer)
        .collect())
}

/// Fraction of `data`'s samples whose answer is their label.
pub fn accuracy(net: &Mlp, data: &crate::net::Dataset) -> Result<f64> {
    let labels = data.labels().ok_or(Error::InvalidParameter {
        name: "accuracy targets",
        value: f64::NAN,
        expected: "class labels, not regression targets",
    })?;
    let f = net.forward(data.x().view())?;
    let hits = f
        .axis_iter(Axis(0))
        .zip(labels)
        .filter(|(row, &t)| answer(row.view()) == t)
        .count();
    Ok(hits as f64 / labels.len() as f64)
}

/// `max_x |f_a(x) − f_b(x)|` over the rows of `x`.
pub fn max_output_difference(a: &Mlp, b: &Mlp, x: ArrayView2<f64>) -> Result<f64> {
    Ok(max_abs_diff(&a.forward(x)?, &b.forward(x)?))
}
