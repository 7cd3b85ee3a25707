//! Figures for papers: line and scatter series on linear or logarithmic axes,
//! written as SVG (vector, text kept as text) and PNG (1600 × 1120 px, twice
//! the SVG's size, for slides and for journals that want bitmaps) with plotters.
//! Text is laid out with DejaVu Sans, embedded in the binary
//! (`assets/fonts`, Bitstream Vera / DejaVu licence), so figures look the same
//! on every machine and need no system fonts.

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
    /// Where the legend goes (choose the emptiest corner).
    pub legend: Legend,
}

/// Legend placement.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Legend {
    UpperLeft,
    UpperMiddle,
    #[default]
    UpperRight,
    LowerRight,
}

/// Tick labels: plain numbers without a trailing `.0`, powers of ten as `1e5`.
fn tick(v: &f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-2..1e4).contains(&a) {
        let s = format!("{v:.0e}");
        if s.parse::<f64>().is_ok_and(|p| ((p - v) / v).abs() < 1e-9) {
            return s;
        }
        return format!("{v:.1e}");
    }
    let s = format!("{v:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
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

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// Register the embedded font under the family name the charts use (once).
fn register_fonts() -> Result<()> {
    static ONCE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    let ok = *ONCE.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::Plot(
            "the embedded DejaVu Sans font did not load".into(),
        ))
    }
}

impl Chart {
    /// Write the chart as an SVG of `800 × 560` px.
    pub fn write_svg(&self, path: &Path) -> Result<()> {
        register_fonts()?;
        let mut svg = String::new();
        {
            let root = SVGBackend::with_string(&mut svg, (800, 560)).into_drawing_area();
            self.render(&root, 1.0)
                .map_err(|e| Error::Plot(format!("{}: {e}", path.display())))?;
            root.present()
                .map_err(|e| Error::Plot(format!("{}: {e}", path.display())))?;
        }
        crate::fsio::write_atomic(path, svg.as_bytes())
    }

    /// Write the chart as a PNG of `1600 × 1120` px (the SVG layout at 2×).
    pub fn write_png(&self, path: &Path) -> Result<()> {
        register_fonts()?;
        crate::fsio::write_atomic_with(path, |tmp| {
            let root = BitMapBackend::new(tmp, (1600, 1120)).into_drawing_area();
            self.render(&root, 2.0)
                .map_err(|e| Error::Plot(format!("{}: {e}", path.display())))?;
            root.present()
                .map_err(|e| Error::Plot(format!("{}: {e}", path.display())))
        })
    }

    /// Write `stem.svg` and `stem.png` in `dir`.
    pub fn write_figures(&self, dir: &Path, stem: &str) -> Result<()> {
        self.write_svg(&dir.join(format!("{stem}.svg")))?;
        self.write_png(&dir.join(format!("{stem}.png")))
    }

    fn render<DB: DrawingBackend>(
        &self,
        root: &DrawingArea<DB, plotters::coord::Shift>,
        scale: f64,
    ) -> std::result::Result<(), String> {
        let (xr, yr) = self.ranges().map_err(|e| e.to_string())?;
        match (self.log_x, self.log_y) {
            (false, false) => self.draw(root, xr.0..xr.1, yr.0..yr.1, scale),
            (true, false) => self.draw(root, (xr.0..xr.1).log_scale(), yr.0..yr.1, scale),
            (false, true) => self.draw(root, xr.0..xr.1, (yr.0..yr.1).log_scale(), scale),
            (true, true) => self.draw(
                root,
                (xr.0..xr.1).log_scale(),
                (yr.0..yr.1).log_scale(),
                scale,
            ),
        }
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
        scale: f64,
    ) -> std::result::Result<(), String>
    where
        DB: DrawingBackend,
        X: AsRangedCoord<Value = f64>,
        Y: AsRangedCoord<Value = f64>,
        X::CoordDescType: ValueFormatter<f64>,
        Y::CoordDescType: ValueFormatter<f64>,
    {
        let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let px = |v: f64| (v * scale).round() as u32;
        let font = |v: f64| ("sans-serif", v * scale);
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, font(26.0))
            .margin(px(14.0))
            .x_label_area_size(px(56.0))
            .y_label_area_size(px(84.0))
            .build_cartesian_2d(x, y)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_label)
            .y_desc(&self.y_label)
            .label_style(font(18.0))
            .axis_desc_style(font(20.0))
            .light_line_style(WHITE.mix(0.0))
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .draw()
            .map_err(e)?;
        let (w2, dash, gap, r4, l20) = (px(2.0), px(8.0), px(5.0), px(4.0) as i32, px(20.0) as i32);
        for (i, s) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let pts: Vec<(f64, f64)> = s.points.clone();
            match s.style {
                Style::Line => chart
                    .draw_series(LineSeries::new(pts, color.stroke_width(w2)))
                    .map_err(e)?
                    .label(&s.label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + l20, y)], color.stroke_width(w2))
                    }),
                Style::Dashed => chart
                    .draw_series(DashedLineSeries::new(
                        pts,
                        dash,
                        gap,
                        color.stroke_width(w2),
                    ))
                    .map_err(e)?
                    .label(&s.label)
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + l20, y)], color.stroke_width(w2))
                    }),
                Style::Markers => chart
                    .draw_series(
                        pts.into_iter()
                            .map(|p| Circle::new(p, r4, color.stroke_width(w2))),
                    )
                    .map_err(e)?
                    .label(&s.label)
                    .legend(move |(x, y)| {
                        Circle::new((x + l20 / 2, y), r4, color.stroke_width(w2))
                    }),
            };
        }
        chart
            .configure_series_labels()
            .label_font(font(18.0))
            .legend_area_size(px(30.0))
            .position(match self.legend {
                Legend::UpperLeft => SeriesLabelPosition::UpperLeft,
                Legend::UpperMiddle => SeriesLabelPosition::UpperMiddle,
                Legend::UpperRight => SeriesLabelPosition::UpperRight,
                Legend::LowerRight => SeriesLabelPosition::LowerRight,
            })
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK)
            .draw()
            .map_err(e)?;
        Ok(())
    }
}
