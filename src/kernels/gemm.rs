//! `C = A B` in f64, the one GEMM of the crate.
//!
//! The arithmetic is `matrixmultiply`'s (packed, cache-blocked, with SIMD
//! microkernels chosen at run time: AVX2 + FMA on x86-64), through ndarray's
//! `general_mat_mul`, which accepts any strides (transposed views cost
//! nothing). Large products are split into fixed blocks of [`COL_BLOCK`]
//! columns of `C` (or, when `C` is narrow, [`ROW_BLOCK`] rows) computed in
//! parallel with rayon. Column blocks let each task pack only its own slice of
//! `B` (the weight matrix, usually the large operand); row blocks would re-pack
//! all of `B` once per block: on two cores, 29.7 → 50.9 GFLOP/s at
//! `256 × 1024 × 1024` in one interleaved measurement (`paper-notes/performance.md`).
//!
//! Determinism: the split depends on the shape only, never on the thread
//! count, and each element `C_ij = Σ_p A_ip B_pj` is accumulated in the same
//! order whatever block it falls in (the `p` blocking is the same for every
//! block), so results are bit-identical to one unsplit call for any number of
//! threads (tested below).

use ndarray::{linalg::general_mat_mul, s, Array2, ArrayView2, Axis};
use rayon::prelude::*;

/// Rows of `C` per parallel GEMM task when `C` is too narrow to split by columns.
pub const ROW_BLOCK: usize = 64;
/// Columns of `C` per parallel GEMM task.
pub const COL_BLOCK: usize = 256;
/// Products with fewer multiply-adds than this run on the calling thread.
const PAR_GEMM_FLOPS: usize = 1 << 20;

/// `C = A B` for `A: n × k`, `B: k × m` (any strides, e.g. transposed views).
pub fn matmul(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let (n, k) = a.dim();
    let m = b.ncols();
    assert_eq!(k, b.nrows(), "matmul: inner dimensions differ");
    let mut c = Array2::<f64>::zeros((n, m));
    if n * k * m < PAR_GEMM_FLOPS || (n <= ROW_BLOCK && m <= COL_BLOCK) {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
    } else if m > COL_BLOCK {
        c.axis_chunks_iter_mut(Axis(1), COL_BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(j, mut c_blk)| {
                let start = j * COL_BLOCK;
                let b_blk = b.slice(s![.., start..start + c_blk.ncols()]);
                general_mat_mul(1.0, &a, &b_blk, 0.0, &mut c_blk);
            });
    } else {
        c.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(i, mut c_blk)| {
                let start = i * ROW_BLOCK;
                let a_blk = a.slice(s![start..start + c_blk.nrows(), ..]);
                general_mat_mul(1.0, &a_blk, &b, 0.0, &mut c_blk);
            });
    }
    c
}

/// `C = A Bᵀ`.
pub fn matmul_nt(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    matmul(a, b.t())
}

/// `C = Aᵀ B`.
pub fn matmul_tn(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    matmul(a.t(), b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    fn naive(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
        Array2::from_shape_fn((a.nrows(), b.ncols()), |(i, j)| {
            (0..a.ncols()).map(|p| a[[i, p]] * b[[p, j]]).sum()
        })
    }

    #[test]
    fn matmul_matches_naive_on_both_paths() {
        for &(n, k, m) in &[(3, 4, 5), (300, 70, 90)] {
            let a = Array2::from_shape_fn((n, k), |(i, j)| ((i * 7 + j * 3) % 11) as f64 - 5.0);
            let b = Array2::from_shape_fn((k, m), |(i, j)| ((i * 5 + j) % 13) as f64 * 0.25);
            let c = matmul(a.view(), b.view());
            assert!((&c - &naive(&a, &b)).iter().all(|d| d.abs() < 1e-9));
            let ct = matmul_tn(a.t(), b.view());
            assert_eq!(ct, c);
        }
    }

    /// The parallel split must not change a single bit: every path (column
    /// blocks, row blocks, transposed operands) equals one unsplit
    /// `matrixmultiply` call exactly, on data whose sums round.
    #[test]
    fn split_products_are_bit_identical_to_one_call() {
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        };
        for &(n, k, m) in &[(100, 300, 700), (700, 300, 100), (513, 257, 129)] {
            let a = Array2::from_shape_fn((n, k), |_| next());
            let b = Array2::from_shape_fn((m, k), |_| next());
            let mut one = Array2::zeros((n, m));
            general_mat_mul(1.0, &a, &b.t(), 0.0, &mut one);
            assert_eq!(matmul_nt(a.view(), b.view()), one, "{n}x{k}x{m}");
            let at = a.t().to_owned();
            assert_eq!(matmul_tn(at.view(), b.t()), one, "{n}x{k}x{m} (tn)");
        }
    }
}
