//! Small dense linear algebra: LU factorisation with partial pivoting,
//! `P A = L U`, used to invert the change of basis `A` of a deep linear chain
//! and to solve the small systems of the constructions.
//!
//! A pivot with `|u_kk| ≤ tol · max_ij |a_ij|` (`tol` = [`SINGULAR_RTOL`]) is
//! treated as zero and the matrix is reported singular, naming the column.

use crate::error::{Error, Result};
use ndarray::{Array1, Array2};

/// Relative pivot tolerance below which a matrix counts as singular.
pub const SINGULAR_RTOL: f64 = 1e-12;

/// An LU factorisation `P A = L U` of a square matrix.
#[derive(Clone, Debug)]
pub struct Lu {
    lu: Array2<f64>,
    perm: Vec<usize>,
}

impl Lu {
    /// Factorise `a`, failing with [`Error::SingularMatrix`] on a (numerically)
    /// zero pivot and [`Error::DimensionMismatch`] if `a` is not square.
    pub fn new(a: &Array2<f64>) -> Result<Self> {
        let n = a.nrows();
        if a.ncols() != n {
            return Err(Error::DimensionMismatch {
                context: "LU of a non-square matrix (columns vs rows)",
                expected: n,
                got: a.ncols(),
            });
        }
        if a.iter().any(|v| !v.is_finite()) {
            return Err(Error::NonFinite("matrix to factorise".into()));
        }
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let mut lu = a.clone();
        let mut perm: Vec<usize> = (0..n).collect();
        for k in 0..n {
            let (p, pmax) = (k..n)
                .map(|i| (i, lu[[i, k]].abs()))
                .fold((k, -1.0), |best, c| if c.1 > best.1 { c } else { best });
            if pmax <= SINGULAR_RTOL * scale || scale == 0.0 {
                return Err(Error::SingularMatrix {
                    column: k,
                    pivot: pmax,
                    tol: SINGULAR_RTOL,
                });
            }
            if p != k {
                for j in 0..n {
                    lu.swap([k, j], [p, j]);
                }
                perm.swap(k, p);
            }
            let pivot = lu[[k, k]];
            for i in k + 1..n {
                let factor = lu[[i, k]] / pivot;
                lu[[i, k]] = factor;
                for j in k + 1..n {
                    lu[[i, j]] -= factor * lu[[k, j]];
                }
            }
        }
        Ok(Self { lu, perm })
    }

    /// Solve `A x = b`.
    pub fn solve(&self, b: &Array1<f64>) -> Array1<f64> {
        let n = self.lu.nrows();
        let mut x = Array1::from_shape_fn(n, |i| b[self.perm[i]]);
        for i in 0..n {
            for j in 0..i {
                x[i] -= self.lu[[i, j]] * x[j];
            }
        }
        for i in (0..n).rev() {
            for j in i + 1..n {
                x[i] -= self.lu[[i, j]] * x[j];
            }
            x[i] /= self.lu[[i, i]];
        }
        x
    }

    /// `A⁻¹`, column by column.
    pub fn inverse(&self) -> Array2<f64> {
        let n = self.lu.nrows();
        let mut inv = Array2::zeros((n, n));
        for j in 0..n {
            let mut e = Array1::zeros(n);
            e[j] = 1.0;
            inv.column_mut(j).assign(&self.solve(&e));
        }
        inv
    }
}

/// `A⁻¹`, or an error naming the zero pivot.
pub fn inverse(a: &Array2<f64>) -> Result<Array2<f64>> {
    Ok(Lu::new(a)?.inverse())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn inverse_times_matrix_is_identity() {
        let a = array![[0.0, 2.0, 1.0], [1.0, -1.0, 3.0], [4.0, 0.5, 0.0]];
        let inv = inverse(&a).unwrap();
        let eye = a.dot(&inv);
        for ((i, j), v) in eye.indexed_iter() {
            let want = if i == j { 1.0 } else { 0.0 };
            assert!((v - want).abs() < 1e-14, "({i},{j}) = {v}");
        }
    }

    #[test]
    fn singular_matrix_is_reported() {
        let a = array![[1.0, 2.0], [2.0, 4.0]];
        match inverse(&a) {
            Err(Error::SingularMatrix { column, .. }) => assert_eq!(column, 1),
            other => panic!("expected SingularMatrix, got {other:?}"),
        }
        assert!(inverse(&Array2::zeros((3, 3))).is_err());
        assert!(inverse(&Array2::zeros((2, 3))).is_err());
    }
}
