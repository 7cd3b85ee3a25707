//! Matrix–vector kernels: `A x`, `Aᵀ x` and the fused hinge pass of the
//! hair-trigger solver, built on one dot product with a fixed summation order,
//! and `Aᵀ x` in doubled precision with an error bound (for checking LP
//! certificates).
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

/// `Aᵀ x` in twice the working precision, with a rigorous error bound per
/// entry: returns `(w, err)` with `|w_j − (Aᵀx)_j| ≤ err_j` for the exact
/// `(Aᵀx)_j` of the f64 inputs (no underflow assumed).
///
/// Each column is the compensated dot product *Dot2* of Ogita, Rump and Oishi
/// (SIAM J. Sci. Comput. 26, 2005): every product split exactly by an FMA
/// (`a·x = p + e`), every sum by Knuth's TwoSum, the low-order parts summed
/// apart, so that `|w − xᵀa| ≤ u |xᵀa| + γ_n² Σ |a_r x_r|`
/// (`u = 2⁻⁵³`, `γ_n = n u / (1 − n u)`, `n` the nonzero terms). `err_j` is that
/// bound with `|xᵀa| ≤ |w| + err` resolved and `Σ |a_r x_r|` (itself computed
/// with relative error `≤ γ_n`) taken twice. Accumulated row by row, like
/// [`matvec_t`]; rows with `x_r = 0` contribute exactly nothing and are skipped.
pub fn matvec_t_dot2(a: &Array2<f64>, x: &Array1<f64>) -> (Array1<f64>, Array1<f64>) {
    assert_eq!(a.nrows(), x.len(), "matvec_t_dot2: rows and vector differ");
    let cols = a.ncols();
    let (mut hi, mut lo, mut abs) = (vec![0.0f64; cols], vec![0.0f64; cols], vec![0.0f64; cols]);
    let mut terms = 0usize;
    for (row, &xr) in a.rows().into_iter().zip(x.iter()) {
        if xr == 0.0 {
            continue;
        }
        terms += 1;
        for (j, &arj) in row.iter().enumerate() {
            let p = arj * xr;
            let perr = arj.mul_add(xr, -p);
            let s = hi[j] + p;
            let z = s - hi[j];
            let serr = (hi[j] - (s - z)) + (p - z);
            hi[j] = s;
            lo[j] += serr + perr;
            abs[j] += p.abs();
        }
    }
    let u = f64::EPSILON / 2.0;
    let nu = terms.max(1) as f64 * u;
    let gamma_n = nu / (1.0 - nu);
    let mut w = Array1::zeros(cols);
    let mut err = Array1::zeros(cols);
    for j in 0..cols {
        w[j] = hi[j] + lo[j];
        err[j] = (u * w[j].abs() + 2.0 * gamma_n * gamma_n * abs[j]) / (1.0 - u);
    }
    (w, err)
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

    #[test]
    fn dot2_recovers_what_plain_summation_cancels_away() {
        // Column 0: 1e17 + 1 − 1e17 = 1 exactly; plain f64 summation gives 0.
        // Column 1: integers whose exact sum fits an i128.
        let a = ndarray::array![[1e17, 3.0], [1.0, -7.0], [-1e17, 11.0]];
        let x = ndarray::array![1.0, 1.0, 1.0];
        assert_eq!(matvec_t(&a, &x)[0], 0.0);
        let (w, err) = matvec_t_dot2(&a, &x);
        assert_eq!(w[0], 1.0);
        assert_eq!(w[1], 7.0);
        // γ₃² · 2·10¹⁷ · 2 ≈ 4·10⁻¹⁴: far below the value it bounds.
        assert!(err[0] < 1e-13 && err[1] < 1e-14, "{err}");
        // Random integer data: the bound holds against the exact i128 sum.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut draw = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % 2_000_001) as i64 - 1_000_000
        };
        let a = Array2::from_shape_fn((200, 7), |_| draw() as f64 * 1e9);
        let x = Array1::from_shape_fn(200, |_| draw() as f64);
        let (w, err) = matvec_t_dot2(&a, &x);
        for j in 0..7 {
            let exact: i128 = (0..200).map(|r| (a[[r, j]] as i128) * (x[r] as i128)).sum();
            assert!(
                ((w[j] as i128) - exact).abs() as f64 <= err[j].max(1.0),
                "column {j}"
            );
        }
    }

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
