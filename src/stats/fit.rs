//! Least-squares fits and their uncertainty.
//!
//! For points `(x_i, y_i)`, `i = 1..n`, the ordinary least-squares line
//! `y = a + b x` has `b = S_xy / S_xx`, `a = ȳ − b x̄`, residual variance
//! `s² = Σ (y_i − a − b x_i)² / (n − 2)`, standard errors
//! `se(b) = s / √S_xx`, `se(a) = s √(1/n + x̄²/S_xx)`, and `R² = 1 − SS_res/SS_tot`.
//! The 95% confidence intervals are `b ± t_{0.975, n−2} se(b)` (Student's t,
//! from statrs).

use crate::error::{Error, Result};
use serde::Serialize;
use statrs::distribution::{ContinuousCDF, StudentsT};

/// An ordinary least-squares line with 95% confidence intervals.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct LineFit {
    pub n: usize,
    pub slope: f64,
    pub intercept: f64,
    /// `1 − SS_res/SS_tot`; `None` when every `y` is equal (no variance to
    /// explain), written as the string `"undefined: …"` in CSV/JSON.
    #[serde(serialize_with = "r_squared_or_undefined")]
    pub r_squared: Option<f64>,
    pub slope_se: f64,
    pub intercept_se: f64,
    pub slope_ci95: (f64, f64),
    pub intercept_ci95: (f64, f64),
}

/// Why `R²` can be undefined.
pub const R_SQUARED_UNDEFINED: &str = "undefined: every y value is equal (no variance to explain)";

fn r_squared_or_undefined<S: serde::Serializer>(
    r: &Option<f64>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match r {
        Some(v) => s.serialize_f64(*v),
        None => s.serialize_str(R_SQUARED_UNDEFINED),
    }
}

impl LineFit {
    /// `R²` to `decimals` decimals, or `undefined` (every `y` equal).
    pub fn r_squared_text(&self, decimals: usize) -> String {
        self.r_squared
            .map_or_else(|| "undefined".to_string(), |r| format!("{r:.decimals$}"))
    }

    /// `a + b x`.
    pub fn predict(&self, x: f64) -> f64 {
        self.intercept + self.slope * x
    }
}

/// Fit `y = a + b x` by least squares; needs `n ≥ 3` finite points and two
/// distinct `x` values.
pub fn fit_line(x: &[f64], y: &[f64]) -> Result<LineFit> {
    if x.len() != y.len() {
        return Err(Error::DimensionMismatch {
            context: "fit points (x vs y)",
            expected: x.len(),
            got: y.len(),
        });
    }
    let n = x.len();
    if n < 3 {
        return Err(Error::EmptyData("line fit (needs at least 3 points)"));
    }
    if let Some(v) = x.iter().chain(y).find(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("line fit point {v}")));
    }
    let nf = n as f64;
    let mx = x.iter().sum::<f64>() / nf;
    let my = y.iter().sum::<f64>() / nf;
    let sxx: f64 = x.iter().map(|v| (v - mx).powi(2)).sum();
    let sxy: f64 = x.iter().zip(y).map(|(a, b)| (a - mx) * (b - my)).sum();
    let syy: f64 = y.iter().map(|v| (v - my).powi(2)).sum();
    if sxx == 0.0 {
        return Err(Error::EmptyData("line fit (all x values are equal)"));
    }
    let slope = sxy / sxx;
    let intercept = my - slope * mx;
    let ss_res: f64 = x
        .iter()
        .zip(y)
        .map(|(a, b)| (b - intercept - slope * a).powi(2))
        .sum();
    // Undefined when every y is equal: there is no variance to explain.
    let r_squared = (syy > 0.0).then(|| 1.0 - ss_res / syy);
    let s = (ss_res / (nf - 2.0)).sqrt();
    let slope_se = s / sxx.sqrt();
    let intercept_se = s * (1.0 / nf + mx * mx / sxx).sqrt();
    let t = StudentsT::new(0.0, 1.0, nf - 2.0)
        .map_err(|e| Error::NonFinite(format!("Student t with {} dof: {e}", n - 2)))?
        .inverse_cdf(0.975);
    Ok(LineFit {
        n,
        slope,
        intercept,
        r_squared,
        slope_se,
        intercept_se,
        slope_ci95: (slope - t * slope_se, slope + t * slope_se),
        intercept_ci95: (intercept - t * intercept_se, intercept + t * intercept_se),
    })
}

/// Fit `ln y = ln c + p ln x` (a power law `y = c x^p`); all values must be positive.
pub fn fit_power_law(x: &[f64], y: &[f64]) -> Result<LineFit> {
    if let Some(v) = x.iter().chain(y).find(|v| v.is_nan() || **v <= 0.0) {
        return Err(Error::InvalidParameter {
            name: "power-law fit value",
            value: *v,
            expected: "must be positive",
        });
    }
    let lx: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let ly: Vec<f64> = y.iter().map(|v| v.ln()).collect();
    fit_line(&lx, &ly)
}
