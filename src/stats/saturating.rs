//! Linear against saturating growth: which law the measured points support.
//!
//! The saturating law is `y = a x / (b + x)` (`a` the ceiling, `b` the `x` at
//! which half of it is reached; `b → ∞` is a line through the origin, `b → 0`
//! a constant). For a fixed `b` it is linear in `a`, so
//! `a(b) = Σ y_i u_i / Σ u_i²` with `u_i = x_i/(b + x_i)`; `b` is found by a
//! scan over 241 log-spaced values in `[x_min/10³, x_max·10³]`, refined by a
//! golden-section search on `ln b` around the best. Both laws have two
//! parameters, and are compared by Akaike's criterion
//! `AIC = n ln(SS_res/n) + 2k` (`k = 2` each, so the difference is
//! `n ln(SS_sat/SS_lin)`); a difference below 2 does not tell them apart.

use super::LineFit;
use crate::error::{Error, Result};
use serde::Serialize;

/// The least-squares saturating law.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct SaturatingFit {
    /// Ceiling `a`.
    pub ceiling: f64,
    /// Half-saturation size `b`.
    pub half_size: f64,
    pub ss_res: f64,
}

impl SaturatingFit {
    /// `a x / (b + x)`.
    pub fn predict(&self, x: f64) -> f64 {
        self.ceiling * x / (self.half_size + x)
    }
}

/// Which law the points support.
#[derive(Clone, Copy, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Preferred {
    Linear,
    Saturating,
    /// `|ΔAIC| < 2`.
    Neither,
}

/// Both fits and Akaike's verdict.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct GrowthLaw {
    pub linear: LineFit,
    pub linear_ss_res: f64,
    pub saturating: SaturatingFit,
    /// `AIC_linear − AIC_saturating` (positive: the saturating law is better).
    pub aic_linear_minus_saturating: f64,
    pub preferred: Preferred,
}

fn ss_res_sat(x: &[f64], y: &[f64], b: f64) -> (f64, f64) {
    let u: Vec<f64> = x.iter().map(|&v| v / (b + v)).collect();
    let uu: f64 = u.iter().map(|v| v * v).sum();
    let a = if uu > 0.0 {
        u.iter().zip(y).map(|(p, q)| p * q).sum::<f64>() / uu
    } else {
        0.0
    };
    let ss = u.iter().zip(y).map(|(p, q)| (q - a * p).powi(2)).sum();
    (a, ss)
}

/// Fit `y = a x/(b + x)` (positive `x`, finite `y`, at least 3 points).
pub fn fit_saturating(x: &[f64], y: &[f64]) -> Result<SaturatingFit> {
    if x.len() != y.len() {
        return Err(Error::DimensionMismatch {
            context: "saturating fit points (x vs y)",
            expected: x.len(),
            got: y.len(),
        });
    }
    if x.len() < 3 {
        return Err(Error::EmptyData("saturating fit (needs at least 3 points)"));
    }
    if let Some(v) = x.iter().find(|v| !(v.is_finite() && **v > 0.0)) {
        return Err(Error::InvalidParameter {
            name: "saturating fit x",
            value: *v,
            expected: "finite and positive",
        });
    }
    if let Some(v) = y.iter().find(|v| !v.is_finite()) {
        return Err(Error::NonFinite(format!("saturating fit y = {v}")));
    }
    let lo = x.iter().copied().fold(f64::INFINITY, f64::min).ln() - 3.0 * 10f64.ln();
    let hi = x.iter().copied().fold(0.0, f64::max).ln() + 3.0 * 10f64.ln();
    let cost = |lb: f64| ss_res_sat(x, y, lb.exp()).1;
    const GRID: usize = 241;
    let step = (hi - lo) / (GRID - 1) as f64;
    let best = (0..GRID)
        .map(|i| lo + step * i as f64)
        .map(|lb| (lb, cost(lb)))
        .fold((lo, f64::INFINITY), |m, p| if p.1 < m.1 { p } else { m });
    // Golden section on [best − step, best + step].
    let (mut a, mut b) = (best.0 - step, best.0 + step);
    let g = (5f64.sqrt() - 1.0) / 2.0;
    for _ in 0..60 {
        let (c, d) = (b - g * (b - a), a + g * (b - a));
        if cost(c) < cost(d) {
            b = d;
        } else {
            a = c;
        }
    }
    let mid = 0.5 * (a + b);
    let lb = if cost(mid) < best.1 { mid } else { best.0 };
    let (ceiling, ss_res) = ss_res_sat(x, y, lb.exp());
    Ok(SaturatingFit {
        ceiling,
        half_size: lb.exp(),
        ss_res,
    })
}

/// The line and the saturating law through `(x, y)`, compared by AIC.
pub fn compare_growth(x: &[f64], y: &[f64]) -> Result<GrowthLaw> {
    let linear = super::fit_line(x, y)?;
    let linear_ss_res: f64 = x
        .iter()
        .zip(y)
        .map(|(&p, &q)| (q - linear.predict(p)).powi(2))
        .sum();
    let saturating = fit_saturating(x, y)?;
    let n = x.len() as f64;
    // A perfect fit leaves SS = 0; a floor keeps the logarithms finite.
    let floor = 1e-300;
    let aic = |ss: f64| n * (ss.max(floor) / n).ln() + 4.0;
    let d = aic(linear_ss_res) - aic(saturating.ss_res);
    let preferred = if d >= 2.0 {
        Preferred::Saturating
    } else if d <= -2.0 {
        Preferred::Linear
    } else {
        Preferred::Neither
    };
    Ok(GrowthLaw {
        linear,
        linear_ss_res,
        saturating,
        aic_linear_minus_saturating: d,
        preferred,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_exact_saturating_law_and_prefers_it() {
        let x: Vec<f64> = [100.0, 300.0, 1e3, 3e3, 1e4, 3e4].to_vec();
        let y: Vec<f64> = x.iter().map(|v| 250.0 * v / (2000.0 + v)).collect();
        let f = fit_saturating(&x, &y).unwrap();
        assert!((f.ceiling - 250.0).abs() < 1e-6 * 250.0, "{f:?}");
        assert!((f.half_size - 2000.0).abs() < 1e-6 * 2000.0, "{f:?}");
        let law = compare_growth(&x, &y).unwrap();
        assert_eq!(law.preferred, Preferred::Saturating);
    }

    #[test]
    fn prefers_the_line_on_points_with_an_intercept_the_saturating_law_lacks() {
        // y = −20 + 0.01 x: a threshold below which nothing is hidden.
        let x: Vec<f64> = [2e3, 4e3, 8e3, 1.6e4, 3.2e4, 6.4e4].to_vec();
        let noise = [0.3, -0.2, 0.1, -0.3, 0.2, -0.1];
        let y: Vec<f64> = x
            .iter()
            .zip(noise)
            .map(|(v, e)| -20.0 + 0.01 * v + e)
            .collect();
        let law = compare_growth(&x, &y).unwrap();
        assert_eq!(law.preferred, Preferred::Linear, "{law:?}");
        assert!(law.saturating.ss_res > law.linear_ss_res);
    }

    #[test]
    fn refuses_non_positive_sizes() {
        assert!(fit_saturating(&[0.0, 1.0, 2.0], &[1.0, 2.0, 3.0]).is_err());
        assert!(fit_saturating(&[1.0, 2.0], &[1.0, 2.0]).is_err());
    }
}
