//! Losses `L_D(θ) = (1/N) Σ_n ℓ(f_θ(x_n), y_n)` and their derivatives in the
//! network output `f`:
//!
//! * squared error `ℓ = ½‖f − y‖²`: `∂ℓ/∂f = f − y`, `∂²ℓ/∂f² = I`;
//! * softmax cross-entropy `ℓ = −log p_y`, `p = softmax(f)`:
//!   `∂ℓ/∂f = p − e_y`, `∂²ℓ/∂f² = diag(p) − p pᵀ`.
//!
//! The *residual* matrix `R` used everywhere has rows `r_n = (1/N) ∂ℓ/∂f(x_n)`,
//! the gradient of the mean loss with respect to the outputs.

use crate::net::Targets;
use ndarray::{Array1, Array2, ArrayView1, Axis};
use serde::{Deserialize, Serialize};

/// Which loss a data set uses (fixed by its [`Targets`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LossKind {
    /// `½‖f − y‖²`.
    Mse,
    /// `−log softmax(f)_y`.
    SoftmaxCrossEntropy,
}

/// Numerically stable `softmax(f)` of one row.
pub fn softmax(f: ArrayView1<f64>) -> Array1<f64> {
    let m = f.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e = f.mapv(|v| (v - m).exp());
    let s = e.sum();
    e / s
}

/// Row-wise softmax of an `N × k` output matrix.
pub fn softmax_rows(f: &Array2<f64>) -> Array2<f64> {
    let mut p = f.clone();
    for (mut row, src) in p.rows_mut().into_iter().zip(f.rows()) {
        row.assign(&softmax(src));
    }
    p
}

/// Mean loss `L_D` for outputs `f` (`N × k`).
pub fn loss_value(f: &Array2<f64>, targets: &Targets) -> f64 {
    let n = f.nrows() as f64;
    match targets {
        Targets::Regression(y) => 0.5 * (f - y).mapv(|d| d * d).sum() / n,
        Targets::Classes(c) => {
            f.axis_iter(Axis(0))
                .zip(c)
                .map(|(row, &label)| {
                    let m = row.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
                    let lse = m + row.mapv(|v| (v - m).exp()).sum().ln();
                    lse - row[label]
                })
                .sum::<f64>()
                / n
        }
    }
}

/// `(L_D, R)` with `R[n] = (1/N) ∂ℓ/∂f(x_n)`.
pub(crate) fn loss_and_residuals(f: &Array2<f64>, targets: &Targets) -> (f64, Array2<f64>) {
    let n = f.nrows() as f64;
    let value = loss_value(f, targets);
    let r = match targets {
        Targets::Regression(y) => (f - y) / n,
        Targets::Classes(c) => {
            let mut p = softmax_rows(f);
            for (mut row, &label) in p.rows_mut().into_iter().zip(c) {
                row[label] -= 1.0;
            }
            p / n
        }
    };
    (value, r)
}

/// `(1/N) ∂²ℓ/∂f² · ṙ` per sample, for an output-space direction `df` (`N × k`).
pub(crate) fn loss_hessian_times(
    f: &Array2<f64>,
    targets: &Targets,
    df: &Array2<f64>,
) -> Array2<f64> {
    let n = f.nrows() as f64;
    match targets {
        Targets::Regression(_) => df / n,
        Targets::Classes(_) => {
            let p = softmax_rows(f);
            let mut out = &p * df;
            for (mut row, prow) in out.rows_mut().into_iter().zip(p.rows()) {
                let s = row.sum();
                row.zip_mut_with(&prow, |o, &pi| *o -= pi * s);
            }
            out / n
        }
    }
}
