//! The dense hot loops: matrix products and fused elementwise passes.
//!
//! This is the only module that knows how dense arithmetic is executed. Every
//! other module calls these functions, so a faster CPU path or a GPU backend
//! replaces the arithmetic in one place.
//!
//! * GEMM `C = A B` goes through `matrixmultiply` (cache-blocked, SIMD microkernels
//!   selected at run time) via ndarray. Large products are split into fixed blocks
//!   of [`ROW_BLOCK`] rows of `C`, computed in parallel with rayon. The split
//!   depends on the shape only, never on the thread count, and each element of
//!   `C` is accumulated in the same order whatever the split, so results are
//!   bit-identical for any number of threads.
//! * Elementwise passes (bias + activation, activation derivative products) are
//!   fused so each array is traversed once; large ones run in parallel (still
//!   elementwise, hence deterministic).

pub mod linalg;

use crate::net::Activation;
use ndarray::{
    linalg::general_mat_mul, s, Array1, Array2, ArrayBase, ArrayView1, ArrayView2, Axis, Ix2, Zip,
};
use rayon::prelude::*;

/// Rows of `C` per parallel GEMM task.
pub const ROW_BLOCK: usize = 64;
/// Products with fewer multiply-adds than this run on the calling thread.
const PAR_GEMM_FLOPS: usize = 1 << 20;
/// Elementwise passes over fewer elements than this run on the calling thread.
const PAR_ELEMENTS: usize = 1 << 15;

/// `C = A B` for `A: n × k`, `B: k × m` (any strides, e.g. transposed views).
pub fn matmul(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Array2<f64> {
    let (n, k) = a.dim();
    let m = b.ncols();
    assert_eq!(k, b.nrows(), "matmul: inner dimensions differ");
    let mut c = Array2::<f64>::zeros((n, m));
    if n * k * m < PAR_GEMM_FLOPS || n <= ROW_BLOCK {
        general_mat_mul(1.0, &a, &b, 0.0, &mut c);
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

/// `y = A x`.
pub fn matvec<S: ndarray::Data<Elem = f64>>(a: &ArrayBase<S, Ix2>, x: &Array1<f64>) -> Array1<f64> {
    a.dot(x)
}

/// `y = Aᵀ x`, accumulated row by row (`y += x_r A[r, :]`): contiguous,
/// vectorised axpys on a row-major `A` instead of strided column dots.
pub fn matvec_t(a: &Array2<f64>, x: &Array1<f64>) -> Array1<f64> {
    let mut y = Array1::zeros(a.ncols());
    for (row, &xr) in a.rows().into_iter().zip(x.iter()) {
        if xr != 0.0 {
            y.scaled_add(xr, &row);
        }
    }
    y
}

/// Affine map of a batch: `Z = H Wᵀ + 1 bᵀ` (`H: N × n_in`, `W: n_out × n_in`).
pub fn affine(h: ArrayView2<f64>, w: ArrayView2<f64>, b: Option<ArrayView1<f64>>) -> Array2<f64> {
    let mut z = matmul_nt(h, w);
    if let Some(b) = b {
        z.rows_mut().into_iter().for_each(|mut row| row += &b);
    }
    z
}

/// `σ(Z)` elementwise.
pub fn activate(z: &Array2<f64>, act: Activation) -> Array2<f64> {
    map_elementwise(z, move |v| act.apply(v))
}

/// `G ⊙ σ'(Z)`: the backward pass through an activation, fused.
pub fn times_derivative(g: &Array2<f64>, z: &Array2<f64>, act: Activation) -> Array2<f64> {
    zip_elementwise(g, z, move |gv, zv| gv * act.derivative(zv))
}

/// `A ⊙ B`.
pub fn hadamard(a: &Array2<f64>, b: &Array2<f64>) -> Array2<f64> {
    zip_elementwise(a, b, |x, y| x * y)
}

/// `Σ_n G[n, :]`: the bias gradient of a batch.
pub fn column_sums(g: &Array2<f64>) -> Array1<f64> {
    g.sum_axis(Axis(0))
}

/// `f(a)` elementwise, in parallel for large arrays.
pub fn map_elementwise(a: &Array2<f64>, f: impl Fn(f64) -> f64 + Sync + Send) -> Array2<f64> {
    if a.len() < PAR_ELEMENTS {
        a.mapv(f)
    } else {
        Zip::from(a).par_map_collect(|&v| f(v))
    }
}

/// `f(a, b)` elementwise, in parallel for large arrays.
pub fn zip_elementwise(
    a: &Array2<f64>,
    b: &Array2<f64>,
    f: impl Fn(f64, f64) -> f64 + Sync + Send,
) -> Array2<f64> {
    assert_eq!(a.dim(), b.dim(), "zip_elementwise: shapes differ");
    if a.len() < PAR_ELEMENTS {
        Zip::from(a).and(b).map_collect(|&x, &y| f(x, y))
    } else {
        Zip::from(a).and(b).par_map_collect(|&x, &y| f(x, y))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
