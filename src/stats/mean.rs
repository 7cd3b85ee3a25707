//! The mean of repeated measurements (seeds) and its 95% confidence interval
//! `x̄ ± t_{0.975, n−1} s/√n`, `s² = Σ (x_i − x̄)²/(n − 1)` (Student's t, from
//! statrs; undefined for `n = 1`).

use crate::error::{Error, Result};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// Mean, 95% interval and range of `n ≥ 1` finite values.
#[derive(Clone, Copy, Debug, Serialize, PartialEq)]
pub struct MeanCi {
    pub n: usize,
    pub mean: f64,
    /// Lower end of the 95% interval (`None` for `n = 1`).
    pub ci95_lo: Option<f64>,
    /// Upper end of the 95% interval (`None` for `n = 1`).
    pub ci95_hi: Option<f64>,
    pub min: f64,
    pub max: f64,
}

/// [`MeanCi`] of `values` (at least one, all finite).
pub fn mean_ci95(values: &[f64]) -> Result<MeanCi> {
    if values.is_empty() {
        return Err(Error::EmptyData("mean and confidence interval (no values)"));
    }
    for &v in values {
        crate::finite::check_finite("a value of a mean", v)?;
    }
    let n = values.len();
    let nf = n as f64;
    let mean = values.iter().sum::<f64>() / nf;
    let (min, max) = (
        values.iter().copied().fold(f64::INFINITY, f64::min),
        values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    );
    let half = if n > 1 {
        let s2 = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (nf - 1.0);
        let t = StudentsT::new(0.0, 1.0, nf - 1.0)
            .map_err(|e| Error::NonFinite(format!("Student t with {} dof: {e}", n - 1)))?
            .inverse_cdf(0.975);
        Some(t * (s2 / nf).sqrt())
    } else {
        None
    };
    Ok(MeanCi {
        n,
        mean,
        ci95_lo: half.map(|h| mean - h),
        ci95_hi: half.map(|h| mean + h),
        min,
        max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_values_use_t_with_two_degrees_of_freedom() {
        // x̄ = 2, s = 1, t_{0.975, 2} = 4.302652729911275.
        let m = mean_ci95(&[1.0, 2.0, 3.0]).unwrap();
        assert_eq!(m.mean, 2.0);
        let half = 4.302_652_729_911_275 / 3f64.sqrt();
        assert!((m.ci95_lo.unwrap() - (2.0 - half)).abs() < 1e-9);
        assert!((m.ci95_hi.unwrap() - (2.0 + half)).abs() < 1e-9);
        assert_eq!((m.min, m.max), (1.0, 3.0));
    }

    #[test]
    fn one_value_has_no_interval_and_bad_input_is_refused() {
        let m = mean_ci95(&[5.0]).unwrap();
        assert_eq!((m.mean, m.ci95_lo, m.ci95_hi), (5.0, None, None));
        assert!(mean_ci95(&[]).is_err());
        assert!(mean_ci95(&[1.0, f64::NAN]).is_err());
    }
}
