//! Matrix–vector kernels: `A x`, `Aᵀ x` and the fused hinge pass of the
//! hair-trigger solver, built on one dot product with a fixed summation order.
//!
//! Every dot product is ndarray's (eight-fold unrolled, a fixed order), so the
//! fused pass below changes how often `A` is read, not a single bit of the
//! results.

use ndarray::{Array1, Array2, ArrayBase, Data, Ix2};

/// `y = A x`, one dot product per row of `A` (as ndarray's `A.dot(x)`).
pub fn matvec<S: Data<Elem = f64>>(a: &ArrayBase<S, Ix2>, x: &Array1<f64>) -> Array1<f64> {
    assert_eq!(a.ncols(), x.len(), "matvec: columns and vector differ");
    a.rows().into_iter().map(|row| row.dot(x)).collect()
}

/// `y = Aᵀ x`, accumulated row by row (`y += x_r A[r, :]`): contiguous,
/// vectorised axpys on a row-major `A` instead of strided column dots. Rows
/// with `x_r = 0` are skipped.
pub fn matvec_t(a: &Array2<f64>, x: &Array1<f64>) -> Array1<f64> {
    assert_eq!(a.nrows(), x.len(), "matvec_t: rows and vector differ");
    let mut y = Array1::zeros(a.ncols());
    for (row, &xr) in a.rows().into_iter().zip(x.iter()) {
        if xr != 0.0 {
            y.scaled_add(xr, &row);
        }
    }
    y
}

/// One fused pass over the rows of `A` for the hinge objective
/// `½ Σ_r max(0, need_r − a_r·y)²`: returns `(Aᵀ s, satisfied)` with the slack
/// `s_r = max(0, need_r − a_r·y)` and `satisfied = (s = 0)`.
///
/// Each row is read once (the dot product and the axpy `Aᵀs += s_r a_r` reuse
/// it from L1) instead of twice for `A y` then `Aᵀ s`; the arithmetic, and so
/// every bit of the result, is that of [`matvec`] followed by [`matvec_t`].
pub fn hinge_gradient(a: &Array2<f64>, need: &Array1<f64>, y: &Array1<f64>) -> (Array1<f64>, bool) {
    assert_eq!(
        a.nrows(),
        need.len(),
        "hinge_gradient: rows and need differ"
    );
    let mut grad = Array1::zeros(a.ncols());
    let mut satisfied = true;
    for (row, &nr) in a.rows().into_iter().zip(need.iter()) {
        let slack = (nr - row.dot(y)).max(0.0);
        if slack != 0.0 {
            satisfied = false;
            grad.scaled_add(slack, &row);
        }
    }
    (grad, satisfied)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(n: usize, seed: u64) -> Vec<f64> {
        let mut s = seed | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 - 0.5
            })
            .collect()
    }

    #[test]
    fn fused_hinge_pass_equals_matvec_then_matvec_t() {
        let a = Array2::from_shape_vec((37, 53), sequence(37 * 53, 7)).unwrap();
        let y = Array1::from(sequence(53, 9));
        let need = Array1::from(sequence(37, 17));
        let slack = (&need - &matvec(&a, &y)).mapv(|s| s.max(0.0));
        let (grad, satisfied) = hinge_gradient(&a, &need, &y);
        assert_eq!(grad, matvec_t(&a, &slack));
        assert_eq!(satisfied, slack.iter().all(|&s| s == 0.0));
        assert!(!satisfied);
        let (zero, ok) = hinge_gradient(&a, &Array1::from_elem(37, -1e9), &y);
        assert!(ok && zero.iter().all(|&g| g == 0.0));
    }

    #[test]
    fn matvec_equals_ndarray_dot() {
        let a = Array2::from_shape_vec((20, 30), sequence(600, 21)).unwrap();
        let x = Array1::from(sequence(30, 23));
        assert_eq!(matvec(&a, &x), a.dot(&x));
        assert_eq!(
            matvec(&a.slice(ndarray::s![2..9, ..]), &x),
            a.slice(ndarray::s![2..9, ..]).dot(&x)
        );
    }
}
