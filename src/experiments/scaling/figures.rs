//! The C3 figures: breadth (`K*` against extra parameters, with both bounds)
//! and severity (against width and against the parameter bound).

use super::ScalingResult;
use crate::experiments::scaling::breadth::BreadthPoint;
use crate::experiments::scaling::severity::{SeverityAxis, SeverityRecord};
use crate::plot::{Chart, Legend, Series, Style};
use crate::stats::LineFit;

pub fn breadth_chart(r: &ScalingResult) -> Chart {
    let f = &r.breadth_fit;
    let mut widths: Vec<(usize, usize)> = r
        .breadth
        .iter()
        .map(|p| (p.extra_params, p.redundant))
        .collect();
    widths.sort();
    widths.dedup();
    let per_width = |get: &dyn Fn(&BreadthPoint) -> usize| -> Vec<(f64, f64)> {
        widths
            .iter()
            .filter_map(|&(px, m)| {
                r.breadth
                    .iter()
                    .find(|p| p.redundant == m)
                    .map(|p| (px as f64, get(p) as f64))
            })
            .collect()
    };
    let fit_line: Vec<(f64, f64)> = widths
        .iter()
        .map(|&(px, _)| (px as f64, f.predict(px as f64)))
        .filter(|&(_, y)| y > 0.0)
        .collect();
    Chart {
        title: "C3 breadth: hidden behaviours vs overparameterization".into(),
        x_label: "extra parameters P = m(n_in + 1 + k)".into(),
        y_label: "targets hit after one step, K*".into(),
        log_x: true,
        log_y: true,
        legend: Legend::UpperLeft,
        series: vec![
            Series {
                label: "measured K* (each seed)".into(),
                points: r
                    .breadth
                    .iter()
                    .filter(|p| p.k_star > 0)
                    .map(|p| (p.extra_params as f64, p.k_star as f64))
                    .collect(),
                style: Style::Markers,
            },
            Series {
                label: format!(
                    "fit K* = {:.3} + {:.4} P (R² = {})",
                    f.intercept,
                    f.slope,
                    f.r_squared_text(4)
                ),
                points: fit_line,
                style: Style::Line,
            },
            Series {
                label: "constructive lower bound (first seed)".into(),
                points: per_width(&|p| p.k_lower),
                style: Style::Dashed,
            },
            Series {
                label: "sign-pattern upper bound (δ = 0.01)".into(),
                points: per_width(&|p| p.k_upper),
                style: Style::Dashed,
            },
        ],
    }
}

pub fn severity_charts(r: &ScalingResult) -> (Chart, Chart) {
    let series =
        |sweep: SeverityAxis, x: &dyn Fn(&SeverityRecord) -> f64, fit: &LineFit, var: &str| {
            let pts: Vec<&SeverityRecord> =
                r.severity.iter().filter(|s| s.sweep == sweep).collect();
            vec![
                Series {
                    label: format!(
                        "measured (actual SGD step), fitted exponent of {var}: {:.4}",
                        fit.slope
                    ),
                    points: pts.iter().map(|s| (x(s), s.measured)).collect(),
                    style: Style::Markers,
                },
                Series {
                    label: "predicted m·B²·φ₁*".into(),
                    points: pts.iter().map(|s| (x(s), s.predicted)).collect(),
                    style: Style::Dashed,
                },
            ]
        };
    let b0 = r
        .severity
        .iter()
        .find(|s| s.sweep == SeverityAxis::Width)
        .map_or(f64::NAN, |s| s.bound);
    let m0 = r
        .severity
        .iter()
        .find(|s| s.sweep == SeverityAxis::Bound)
        .map_or(0, |s| s.redundant);
    (
        Chart {
            title: format!("C3 severity vs width (B = {b0})"),
            x_label: "redundant units m".into(),
            y_label: "post-step change of COMPLY−REFUSE margin (logits)".into(),
            log_x: true,
            log_y: true,
            legend: Legend::UpperLeft,
            series: series(
                SeverityAxis::Width,
                &|s| s.redundant as f64,
                &r.severity_width_fit,
                "m",
            ),
        },
        Chart {
            title: format!("C3 severity vs parameter bound (m = {m0})"),
            x_label: "bound B on every parameter's magnitude".into(),
            y_label: "post-step change of COMPLY−REFUSE margin (logits)".into(),
            log_x: true,
            log_y: true,
            legend: Legend::UpperLeft,
            series: series(
                SeverityAxis::Bound,
                &|s| s.bound,
                &r.severity_bound_fit,
                "B",
            ),
        },
    )
}
