//! Figures for papers: line and scatter series on linear or logarithmic axes,
//! written as SVG (vector, text kept as text) with plotters.

use crate::error::{Error, Result};
use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use std::path::Path;

/// How a series is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A solid line through the points.
    Line,
    /// A dashed line (bounds, predictions).
    Dashed,
    /// Circles at the points (measurements).
    Markers,
}

/// One named series.
#[derive(Clone, Debug)]
pub struct Series {
    /// Legend label.
    pub label: String,
    /// `(x, y)` points.
    pub points: Vec<(f64, f64)>,
    /// Drawing style.
    pub style: Style,
}

/// A figure: title, axis labels (with units), axis scales and series.
#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub log_x: bool,
    pub log_y: bool,
    pub series: Vec<Series>,
}

/// A colour-blind-safe palette (Okabe–Ito).
const PALETTE: [RGBColor; 6] = [
    RGBColor(0, 114, 178),
    RGBColor(213, 94, 0),
    RGBColor(0, 158, 115),
    RGBColor(204, 121, 167),
    RGBColor(230, 159, 0),
    RGBColor(86, 180, 233),
];

impl Chart {
    /// Write the chart as an SVG of `800 × 560` px.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        let (xr, yr) = self.ranges()?;
        let root = SVGBackend::new(path, (800, 560)).into_drawing_area();
        match (self.log_x, self.log_y) {
            (false, false) => self.draw(&root, xr.0..xr.1, yr.0..yr.1),
            (true, false) => self.draw(&root, (xr.0..xr.1).log_scale(), yr.0..yr.1),
            (false, true) => self.draw(&root, xr.0..xr.1, (yr.0..yr.1).log_scale()),
            (true, true) => self.draw(&root, (xr.0..xr.1).log_scale(), (yr.0..yr.1).log_scale()),
        }
        .map_err(|e| Error::Plot(format!("{}: {e}", path.display())))?;
        root.present()
            .map_err(|e| Error::Plot(format!("{}: {e}", path.display())))
    }

    /// Data ranges with a 5% margin (multiplicative on log axes).
    fn ranges(&self) -> Result<((f64, f64), (f64, f64))> {
        let pts = self.series.iter().flat_map(|s| s.points.iter());
        let (mut x0, mut x1, mut y0, mut y1) = (
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NEG_INFINITY,
        );
        for &(x, y) in pts {
            if (self.log_x && x <= 0.0)
                || (self.log_y && y <= 0.0)
                || !x.is_finite()
                || !y.is_finite()
            {
                continue;
            }
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        if !(x0.is_finite() && y0.is_finite()) {
            return Err(Error::Plot(format!(
                "chart {:?} has no drawable points",
                self.title
            )));
        }
        let pad = |lo: f64, hi: f64, log: bool| {
            if log {
                (lo / 1.2, hi * 1.2)
            } else {
                let d = if hi > lo {
                    0.05 * (hi - lo)
                } else {
                    0.05 * hi.abs().max(1.0)
                };
                (lo - d, hi + d)
            }
        };
        Ok((pad(x0, x1, self.log_x), pad(y0, y1, self.log_y)))
    }

    fn draw<DB, X, Y>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
        x: X,
        y: Y,
    ) -> std::result::Result<(), String>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 26))
            .margin(14)
            .x_label_area_size(56)
            .y_label_area_size(84)
            .build_cartesian_2d(x, y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(("sans-serif", 18))
            .axis_desc_style(("sans-serif", 20))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(e)?;
        for (i, s) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = s.points.clone();
            match s.style {
                Style::Line => chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(2)))
                    .map_err(e)?
                    .label(&s.label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    }),
                Style::Dashed => chart
                    .draw_series(DashedLineSeries::new(pts, 8, 5, color.stroke_width(2)))
                    .map_err(e)?
                    .label(&s.label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    }),
                Style::Markers => chart
                    .draw_series(
                        pts.into_iter()
                            .map(|p| Circle::new(p, 4, color.stroke_width(2))),
                    )
                    .map_err(e)?
                    .label(&s.label)
                    .legend(move |(x, y)| Circle::new((x + 10, y), 4, color.stroke_width(2))),
            };
        }
        chart
            .configure_series_labels()
            .label_font(("sans-serif", 18))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        Ok(())
    }
}
