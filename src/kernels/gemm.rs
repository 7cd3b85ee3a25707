//! `C = A B` in f64, the one GEMM of the crate.
//!
//! The arithmetic is this crate's packed GEMM ([`super::packed`]: Goto/BLIS
//! blocking with an AVX2 + FMA `6 × 8` register tile) where the CPU has AVX2
//! and FMA, and `matrixmultiply` (through ndarray's `general_mat_mul`)
//! elsewhere. Both accept any strides, so transposed views cost nothing.
//! On this 2-core machine class the packed kernel runs at ≈ 80 % of the FMA
//! peak on one core against `matrixmultiply`'s ≈ 65–70 %
//! (`paper-notes/performance.md`).
//!
//! Large products are split into fixed blocks of [`COL_BLOCK`] columns of `C`
//! (or, when `C` is narrow, [`ROW_BLOCK`] rows) computed in parallel with
//! rayon. Column blocks let each task pack only its own slice of `B` (the
//! weight matrix, usually the large operand); row blocks would re-pack all of
//! `B` once per block: on two cores, 29.7 → 50.9 GFLOP/s at
//! `256 × 1024 × 1024` in one interleaved measurement.
//!
//! Determinism: the split depends on the shape only, never on the thread
//! count, and each element `C_ij = Σ_p A_ip B_pj` is accumulated in the same
//! order whatever block it falls in (the `p` blocking is the same for every
//! block), so results are bit-identical to one unsplit call for any number of
//! threads (tested below). They differ in the last bits between CPUs with and
//! without AVX2 + FMA (different kernels), as with any BLAS.

use super::packed::{self, MatMut, MatRef, PackedA};
use ndarray::{linalg::general_mat_mul, s, Array2, ArrayView2, ArrayViewMut2, Axis};
use rayon::prelude::*;

/// Rows of `C` per parallel GEMM task when `C` is too narrow to split by columns.
pub const ROW_BLOCK: usize = 64;
/// Columns of `C` per parallel GEMM task.
pub const COL_BLOCK: usize = 256;
/// Products with fewer multiply-adds than this run on the calling thread.
const PAR_GEMM_FLOPS: usize = 1 << 20;

/// `C = A B` for `A: n × k`, `B: k × m` (any strides, e.g. transposed views).
///
/// Where the packed kernel runs, the output is not zeroed first (a `memset`
/// of `C` per product was 2–3 % of a meta-learning step): the packed kernels
/// store every element of `C` before any is read (the first depth block
/// overwrites, `k = 0` writes zeros), so no uninitialised value is read.
pub fn matmul(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let (n, m) = (a.nrows(), b.ncols());
    if !packed::available() {
        let mut c = Array2::<f64>::zeros((n, m));
        matmul_into(a, b, c.view_mut());
        return c;
    }
    let mut c = Array2::<f64>::uninit((n, m));
    // SAFETY: `c` owns `n × m` values in standard layout. With the packed
    // kernel available every path of `matmul_into` (`Lhs::Packed` and
    // `Lhs::Unpacked`, serial or split into blocks) writes each element of
    // the view through raw pointers before it reads it (see above), so once
    // it returns every element is initialised.
    unsafe {
        let view = ArrayViewMut2::from_shape_ptr((n, m), c.as_mut_ptr().cast::<f64>());
        matmul_into(a, b, view);
        c.assume_init()
    }
}

/// `C ← A B` into an existing `n × m` output (its old values are ignored), so
/// repeated products reuse memory instead of faulting in fresh pages: at
/// `w = 4096` a fresh `w × w` output costs about a third of the product's time.
pub fn matmul_into(a: ArrayView2<f64>, b: ArrayView2<f64>, mut c: ArrayViewMut2<f64>) {
    let (n, k) = a.dim();
    let m = b.ncols();
    assert_eq!(k, b.nrows(), "matmul: inner dimensions differ");
    assert_eq!(c.dim(), (n, m), "matmul: output shape differs");
    if n * k * m < PAR_GEMM_FLOPS || (n <= ROW_BLOCK && m <= COL_BLOCK) {
        serial_matmul(a, b, c);
    } else if m > COL_BLOCK {
        // `A` is prepared (packed) once and shared by every column block.
        let lhs = Lhs::new(a);
        c.axis_chunks_iter_mut(Axis(1), COL_BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(j, c_blk)| {
                let start = j * COL_BLOCK;
                lhs.times_into(b.slice(s![.., start..start + c_blk.ncols()]), c_blk);
            });
    } else {
        c.axis_chunks_iter_mut(Axis(0), ROW_BLOCK)
            .into_par_iter()
            .enumerate()
            .for_each(|(i, c_blk)| {
                let start = i * ROW_BLOCK;
                serial_matmul(a.slice(s![start..start + c_blk.nrows(), ..]), b, c_blk);
            });
    }
}

/// `C = A B` on the calling thread: the packed AVX2 + FMA kernel
/// ([`packed`]) where the CPU has it, `matrixmultiply` otherwise.
pub fn serial_matmul(a: ArrayView2<f64>, b: ArrayView2<f64>, c: ArrayViewMut2<f64>) {
    assert_eq!(a.ncols(), b.nrows(), "matmul: inner dimensions differ");
    assert_eq!(
        c.dim(),
        (a.nrows(), b.ncols()),
        "matmul: output shape differs"
    );
    Lhs::new(a).times_into(b, c);
}

/// The left operand of a product, ready for the kernel this CPU runs: packed
/// for [`packed`], or the view itself for `matrixmultiply` (which packs
/// internally). The one place that chooses between the two.
enum Lhs<'a> {
    Packed(PackedA),
    /// Small enough for the packed kernel to read it in place.
    Unpacked(ArrayView2<'a, f64>),
    Plain(ArrayView2<'a, f64>),
}

impl<'a> Lhs<'a> {
    fn new(a: ArrayView2<'a, f64>) -> Self {
        if !packed::available() {
            Lhs::Plain(a)
        } else if packed::unpacked_fits(&mat_ref(&a)) {
            Lhs::Unpacked(a)
        } else {
            // SAFETY: `a` is a valid view.
            Lhs::Packed(unsafe { PackedA::new(&mat_ref(&a)) })
        }
    }

    /// `C = A B` (serial); shapes are checked by the callers.
    fn times_into(&self, b: ArrayView2<f64>, mut c: ArrayViewMut2<f64>) {
        match self {
            // SAFETY: the views own or borrow valid memory of the stated
            // shapes and strides; `c` is borrowed mutably, so it overlaps
            // neither input.
            Lhs::Packed(pa) => unsafe { packed::gemm(pa, mat_ref(&b), mat_mut(&mut c)) },
            // SAFETY: as above, and `Lhs::new` checked `unpacked_fits`.
            Lhs::Unpacked(a) => unsafe {
                packed::gemm_unpacked(&mat_ref(a), mat_ref(&b), mat_mut(&mut c))
            },
            Lhs::Plain(a) => general_mat_mul(1.0, a, &b, 0.0, &mut c),
        }
    }
}

/// The raw layout of a view for the packed kernel.
fn mat_ref(v: &ArrayView2<f64>) -> MatRef {
    MatRef {
        ptr: v.as_ptr(),
        rows: v.nrows(),
        cols: v.ncols(),
        rs: v.strides()[0],
        cs: v.strides()[1],
    }
}

/// The raw layout of a writable view for the packed kernel.
fn mat_mut(v: &mut ArrayViewMut2<f64>) -> MatMut {
    MatMut {
        ptr: v.as_mut_ptr(),
        rs: v.strides()[0],
        cs: v.strides()[1],
    }
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

    fn noise(seed: u64) -> impl FnMut() -> f64 {
        let mut state = seed;
        move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f64 / (1u64 << 53) as f64 - 0.5
        }
    }

    fn max_abs_diff(x: &Array2<f64>, y: &Array2<f64>) -> f64 {
        x.iter()
            .zip(y)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0, f64::max)
    }

    /// Shapes around every blocking boundary (`MR = 6`, `NR = 8`, `KC = 256`,
    /// `MC = 72`, `NC = 512`), with contiguous, transposed and strided
    /// operands and a transposed output, against the naive triple loop.
    #[test]
    fn serial_matmul_matches_naive_at_block_edges() {
        let mut next = noise(0x2545_F491_4F6C_DD1D);
        for &(n, k, m) in &[
            (1, 1, 1),
            (5, 3, 7),
            (6, 256, 8),
            (7, 257, 9),
            (73, 300, 515),
            (144, 513, 17),
            (13, 0, 11),
        ] {
            let a = Array2::from_shape_fn((n, k), |_| next());
            let b = Array2::from_shape_fn((k, m), |_| next());
            let want = naive(&a, &b);
            let tol = 1e-13 * (k.max(1) as f64);
            let at = a.t().to_owned();
            let bt = b.t().to_owned();
            // Every stride pattern of the inputs gives the same bits.
            let mut c = Array2::zeros((n, m));
            serial_matmul(a.view(), b.view(), c.view_mut());
            assert!(max_abs_diff(&c, &want) <= tol, "{n}x{k}x{m}");
            for (av, bv) in [(at.t(), b.view()), (a.view(), bt.t()), (at.t(), bt.t())] {
                let mut c2 = Array2::from_elem((n, m), f64::NAN);
                serial_matmul(av, bv, c2.view_mut());
                assert_eq!(c2, c, "{n}x{k}x{m} strides");
            }
            // A transposed output, and operands taken every other row/column.
            let mut ct = Array2::from_elem((m, n), f64::NAN);
            serial_matmul(a.view(), b.view(), ct.view_mut().reversed_axes());
            assert_eq!(ct.t(), c, "{n}x{k}x{m} transposed output");
            let a2 = Array2::from_shape_fn((2 * n, 2 * k), |(i, j)| a[[i / 2, j / 2]]);
            let b2 = Array2::from_shape_fn((2 * k, 2 * m), |(i, j)| b[[i / 2, j / 2]]);
            let mut c3 = Array2::from_elem((n, m), f64::NAN);
            serial_matmul(
                a2.slice(s![..;2, ..;2]),
                b2.slice(s![..;2, ..;2]),
                c3.view_mut(),
            );
            assert_eq!(c3, c, "{n}x{k}x{m} stepped views");
        }
    }

    /// Small products skip packing; the unpacked path must give the packed
    /// path's bits exactly, for every stride pattern and edge tile.
    #[test]
    fn unpacked_small_products_are_bit_identical_to_packed() {
        if !packed::available() {
            return;
        }
        let mut next = noise(0x51_7CC1_B727_220A);
        for &(n, k, m) in &[
            (1, 1, 1),
            (5, 3, 7),
            (6, 8, 8),
            (32, 32, 64),
            (32, 64, 10),
            (13, 256, 17),
            (64, 256, 9),
        ] {
            let a = Array2::from_shape_fn((n, k), |_| next());
            let b = Array2::from_shape_fn((k, m), |_| next());
            let (at, bt) = (a.t().to_owned(), b.t().to_owned());
            for (av, bv) in [
                (a.view(), b.view()),
                (at.t(), b.view()),
                (a.view(), bt.t()),
                (at.t(), bt.t()),
            ] {
                assert!(packed::unpacked_fits(&mat_ref(&av)));
                let mut want = Array2::from_elem((n, m), f64::NAN);
                Lhs::Packed(unsafe { PackedA::new(&mat_ref(&av)) }).times_into(bv, want.view_mut());
                let mut got = Array2::from_elem((n, m), f64::NAN);
                Lhs::Unpacked(av).times_into(bv, got.view_mut());
                assert_eq!(got, want, "{n}x{k}x{m}");
                let mut got_t = Array2::from_elem((m, n), f64::NAN);
                Lhs::Unpacked(av).times_into(bv, got_t.view_mut().reversed_axes());
                assert_eq!(got_t.t(), want, "{n}x{k}x{m} transposed output");
            }
        }
    }

    /// The parallel split must not change a single bit: every path (column
    /// blocks, row blocks, transposed operands) equals one unsplit serial call
    /// exactly, on data whose sums round.
    #[test]
    fn split_products_are_bit_identical_to_one_call() {
        let mut next = noise(0x9E37_79B9_7F4A_7C15);
        for &(n, k, m) in &[(100, 300, 700), (700, 300, 100), (513, 257, 129)] {
            let a = Array2::from_shape_fn((n, k), |_| next());
            let b = Array2::from_shape_fn((m, k), |_| next());
            let mut one = Array2::zeros((n, m));
            serial_matmul(a.view(), b.t(), one.view_mut());
            assert_eq!(matmul_nt(a.view(), b.view()), one, "{n}x{k}x{m}");
            let at = a.t().to_owned();
            assert_eq!(matmul_tn(at.view(), b.t()), one, "{n}x{k}x{m} (tn)");
            let threads = rayon::ThreadPoolBuilder::new()
                .num_threads(3)
                .build()
                .unwrap();
            let three = threads.install(|| matmul_nt(a.view(), b.view()));
            assert_eq!(three, one, "{n}x{k}x{m} (3 threads)");
        }
    }
}
