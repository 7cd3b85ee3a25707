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

/// One row's shifted exponentials: `(m, e, Σ e)` with `m = max f` and
/// `e = exp(f − m)`, the one evaluation behind [`softmax`] (`e / Σe`) and the
/// cross-entropy (`m + ln Σe − f_y`). The fold with `f64::max` skips a NaN
/// in `m`, but NaN still reaches `e` (`exp(NaN − m)`), and `+∞` gives
/// `∞ − ∞ = NaN`, so a non-finite row makes `Σ e`, the softmax and the loss
/// NaN, never a silent finite value.
fn shifted_exps(f: ArrayView1<f64>) -> (f64, Array1<f64>, f64) {
    let m = f.fold(f64::NEG_INFINITY, |a, &b| a.max(b));
    let e = f.mapv(|v| (v - m).exp());
    let s = e.sum();
    (m, e, s)
}

/// Numerically stable `softmax(f)` of one row.
pub fn softmax(f: ArrayView1<f64>) -> Array1<f64> {
    let (_, e, s) = shifted_exps(f);
    e / s
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
                    let (m, _, s) = shifted_exps(row);
                    m + s.ln() - row[label]
                })
                .sum::<f64>()
                / n
        }
    }
}

/// What one pass needs of the loss at the outputs `f`: the mean loss `L_D`,
/// the residuals `R[n] = (1/N) ∂ℓ/∂f(x_n)` and, for cross-entropy, the
/// probabilities `P = softmax(f)` row by row (for `∂²ℓ/∂f²`, see
/// [`output_hessian_times`]). Each row's exponentials (`shifted_exps`) are
/// evaluated once and serve `L_D` (`log Σ e`) and `P` (`e / Σ e`); the values
/// are those of [`loss_value`] and of [`softmax`] on each row, to the bit.
pub(crate) struct OutputTerms {
    pub loss: f64,
    pub residuals: Array2<f64>,
    pub probs: Option<Array2<f64>>,
}

/// [`OutputTerms`] of outputs `f` (`N × k`).
pub(crate) fn output_terms(f: &Array2<f64>, targets: &Targets) -> OutputTerms {
    let n = f.nrows() as f64;
    match targets {
        Targets::Regression(y) => OutputTerms {
            loss: loss_value(f, targets),
            residuals: (f - y) / n,
            probs: None,
        },
        Targets::Classes(c) => {
            let mut p = f.clone();
            let mut terms = Vec::with_capacity(c.len());
            for ((mut row, src), &label) in p.rows_mut().into_iter().zip(f.rows()).zip(c) {
                let (m, e, s) = shifted_exps(src);
                terms.push(m + s.ln() - src[label]);
                row.assign(&(e / s));
            }
            let mut r = p.clone();
            for (mut row, &label) in r.rows_mut().into_iter().zip(c) {
                row[label] -= 1.0;
            }
            OutputTerms {
                loss: terms.iter().sum::<f64>() / n,
                residuals: r / n,
                probs: Some(p),
            }
        }
    }
}

/// `(L_D, R)` with `R[n] = (1/N) ∂ℓ/∂f(x_n)`.
pub(crate) fn loss_and_residuals(f: &Array2<f64>, targets: &Targets) -> (f64, Array2<f64>) {
    let t = output_terms(f, targets);
    (t.loss, t.residuals)
}

/// `(1/N) ∂²ℓ/∂f² · ṙ` per sample, for an output-space direction `ṙ` (`N × k`),
/// from [`OutputTerms::probs`]: for cross-entropy (`Some(P)`) `(1/N) (diag(p_n) − p_n p_nᵀ) ṙ_n` per sample,
/// for squared error (`None`) `ṙ / N`.
pub(crate) fn output_hessian_times(probs: Option<&Array2<f64>>, df: &Array2<f64>) -> Array2<f64> {
    let n = df.nrows() as f64;
    let Some(p) = probs else {
        return df / n;
    };
    let mut out = p * df;
    for (mut row, prow) in out.rows_mut().into_iter().zip(p.rows()) {
        let s = row.sum();
        row.zip_mut_with(&prow, |o, &pi| *o -= pi * s);
    }
    out / n
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// One evaluation of the exponentials per row gives the loss of
    /// [`loss_value`] and the rows of [`softmax`] bit for bit, also for rows
    /// far from zero (the shift by the row maximum), and the residuals are
    /// `(P − Y) / N`.
    #[test]
    fn output_terms_equal_the_separate_formulas_to_the_bit() {
        let f = array![
            [0.3, -1.2, 2.5, 0.0],
            [700.0, 699.5, -3.0, 12.0],
            [-1e-3, 1e-3, 0.1, -40.0]
        ];
        let targets = Targets::Classes(vec![2, 0, 3]);
        let t = output_terms(&f, &targets);
        assert_eq!(t.loss.to_bits(), loss_value(&f, &targets).to_bits());
        // Independently of the shared row evaluation: −ln p_y from the
        // exponentials taken directly (rows 0 and 2 are small enough), and
        // row 1's −ln p_0 = ln(1 + e^{−0.5} + …) by hand.
        let direct = |n: usize, label: usize| {
            let z: f64 = f.row(n).iter().map(|v| v.exp()).sum();
            z.ln() - f[[n, label]]
        };
        let row1 = (1.0 + (-0.5f64).exp() + (-703.0f64).exp() + (-688.0f64).exp()).ln();
        let want = (direct(0, 2) + row1 + direct(2, 3)) / 3.0;
        // A few roundings apart (sums in another order): 4 ulps.
        assert!(
            (t.loss - want).abs() <= 4.0 * f64::EPSILON * want.abs(),
            "{} vs {want}",
            t.loss
        );
        let p = t.probs.expect("cross-entropy keeps P");
        for (n, (row, &label)) in p.rows().into_iter().zip([2usize, 0, 3].iter()).enumerate() {
            let want = softmax(f.row(n));
            for (a, b) in row.iter().zip(&want) {
                assert_eq!(a.to_bits(), b.to_bits());
            }
            for (c, (&r, &pc)) in t.residuals.row(n).iter().zip(row).enumerate() {
                let y = if c == label { 1.0 } else { 0.0 };
                assert_eq!(r.to_bits(), ((pc - y) / 3.0).to_bits());
            }
        }
        let y = array![[1.0, 0.0, 0.0, 2.0], [0.0; 4], [0.5; 4]];
        let reg = output_terms(&f, &Targets::Regression(y.clone()));
        assert!(reg.probs.is_none());
        assert_eq!(reg.residuals, (&f - &y) / 3.0);
        assert_eq!(reg.loss, loss_value(&f, &Targets::Regression(y)));
    }

    /// `(1/N)(diag p − p pᵀ) ṙ` row by row against the matrix formed
    /// explicitly; squared error is `ṙ / N`.
    #[test]
    fn output_hessian_times_matches_the_explicit_softmax_hessian() {
        let f = array![[0.3, -1.2, 2.5], [1.0, 0.5, -3.0]];
        let p = output_terms(&f, &Targets::Classes(vec![0, 1]))
            .probs
            .unwrap();
        let df = array![[1.0, -2.0, 0.25], [0.0, 3.0, -1.0]];
        let got = output_hessian_times(Some(&p), &df);
        for n in 0..2 {
            for i in 0..3 {
                let mut want = 0.0;
                for j in 0..3 {
                    let h = if i == j { p[[n, i]] } else { 0.0 } - p[[n, i]] * p[[n, j]];
                    want += h * df[[n, j]];
                }
                assert!((got[[n, i]] - want / 2.0).abs() < 1e-15);
            }
        }
        assert_eq!(output_hessian_times(None, &df), &df / 2.0);
    }
}
