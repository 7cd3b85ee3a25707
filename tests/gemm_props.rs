//! Property tests of the crate's GEMM (`kernels::matmul`, `matmul_into`,
//! `serial_matmul`) against the naive triple loop, on random shapes that cross
//! the packed kernel's block edges (`MR = 6`, `NR = 8`, `KC = 256`, `MC = 72`)
//! and the parallel split (`COL_BLOCK = 256`, `ROW_BLOCK = 64`), with
//! transposed operands and outputs.

use hairtrigger::kernels;
use ndarray::Array2;
use proptest::prelude::*;

mod common;
use common::matrix;

fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
        (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// `|C − C_naive| ≤ 1e-14 · k` entrywise (entries of A, B in [−1, 1]), the
    /// same bits through every entry point and operand layout.
    #[test]
    fn gemm_matches_the_triple_loop(
        n in 1usize..300,
        k in 0usize..600,
        m in 1usize..600,
        transpose_a in any::<bool>(),
        transpose_b in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let a = matrix(n, k, seed);
        let b = matrix(k, m, seed.wrapping_add(1));
        let want = naive(&a, &b);
        let (at, bt) = (a.t().to_owned(), b.t().to_owned());
        let a_view = if transpose_a { at.t() } else { a.view() };
        let b_view = if transpose_b { bt.t() } else { b.view() };
        let c = kernels::matmul(a_view, b_view);
        let err = (&c - &want).iter().fold(0.0f64, |e, d| e.max(d.abs()));
        prop_assert!(err <= 1e-14 * k.max(1) as f64, "max error {err:e} at {n}x{k}x{m}");
        let mut into = Array2::from_elem((m, n), f64::NAN);
        kernels::matmul_into(a.view(), b.view(), into.view_mut().reversed_axes());
        prop_assert_eq!(into.t(), c.view());
        let mut serial = Array2::from_elem((n, m), f64::NAN);
        kernels::serial_matmul(a.view(), b.view(), serial.view_mut());
        prop_assert_eq!(serial, c);
    }
}
