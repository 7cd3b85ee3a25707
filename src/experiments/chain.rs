//! `hairtrigger chain`: the scalar chain (`paper-notes/reparameterizations.md`, §1) `f(x) = w2 w1 x` at
//! `(w1, w2) = (c, 1/c)`, one SGD step simulated with the general network code
//! (a `1 → 1 → 1` identity network without biases) and compared with the
//! closed form `1 − η g x (c² + c⁻²) + η² g² x²` ([`crate::reparam::scalar_chain_post_step`]).
//! The difference is reported relative to the largest term of the formula,
//! because at large `c` the product cancels to about zero.

use crate::error::{Error, Result};
use crate::net::{Activation, Dataset, Layer, Mlp, Targets};
use crate::reparam::scalar_chain_post_step;
use crate::update::{one_step, StepConfig};
use ndarray::array;
use serde::Serialize;

/// One chain comparison.
#[derive(Clone, Debug, Serialize)]
pub struct ChainRecord {
    pub c: f64,
    pub eta: f64,
    pub x: f64,
    pub y: f64,
    /// `w1⁺ w2⁺` from the simulated step.
    pub simulated: f64,
    /// `w1⁺ w2⁺` from the closed form.
    pub closed_form: f64,
    /// `|simulated − closed_form|`.
    pub abs_diff: f64,
    /// The largest term of the closed form.
    pub largest_term: f64,
    /// `abs_diff / largest_term`.
    pub rel_diff: f64,
    /// The same step from the un-rescaled chain `(1, 1)` (closed form).
    pub baseline_product_after: f64,
}

/// Simulate and compare at `(c, 1/c)`. Errors for `c ≤ 0` or non-finite inputs.
pub fn run_chain(c: f64, eta: f64, x: f64, y: f64) -> Result<ChainRecord> {
    if !(c.is_finite() && c > 0.0) {
        return Err(Error::InvalidParameter {
            name: "chain scale c",
            value: c,
            expected: "must be finite and > 0",
        });
    }
    if !(1.0 / c).is_finite() {
        return Err(Error::OutOfRange {
            setting: format!("--c {c:e}"),
            reason: "too small: w2 = 1/c is not finite in f64".into(),
        });
    }
    for (flag, v) in [("--x", x), ("--y", y)] {
        if !v.is_finite() {
            return Err(Error::OutOfRange {
                setting: format!("{flag} {v}"),
                reason: "must be finite".into(),
            });
        }
    }
    let step = StepConfig::sgd(eta)?;
    let closed = scalar_chain_post_step(c, 1.0 / c, x, y, eta)?;
    let baseline = scalar_chain_post_step(1.0, 1.0, x, y, eta)?;
    let layer = |w: f64| Layer {
        weight: array![[w]],
        bias: None,
    };
    let net = Mlp::from_layers(vec![layer(c), layer(1.0 / c)], Activation::Identity)?;
    let data = Dataset::new(
        "chain sample",
        array![[x]],
        Targets::Regression(array![[y]]),
    )?;
    let plus = one_step(&net, &data, &step)?.updated;
    let simulated = plus.layers()[0].weight[[0, 0]] * plus.layers()[1].weight[[0, 0]];
    let abs_diff = (simulated - closed.product_after).abs();
    let largest = closed.largest_term();
    let record = ChainRecord {
        c,
        eta,
        x,
        y,
        simulated,
        closed_form: closed.product_after,
        abs_diff,
        largest_term: largest,
        rel_diff: if largest > 0.0 {
            abs_diff / largest
        } else {
            abs_diff
        },
        baseline_product_after: baseline.product_after,
    };
    // Large c, η or x overflow f64 (c² η g x ≈ 1e400 at c = 1e200): say so
    // instead of reporting -inf and NaN.
    crate::finite::ensure_finite("chain record", &record).map_err(|e| Error::OutOfRange {
        setting: format!("--c {c:e} --eta {eta:e} --x {x:e} --y {y:e}"),
        reason: format!("one step leaves f64's range ({e})"),
    })?;
    Ok(record)
}

/// `reproduce`'s scalar-chain stage: [`run_chain`] at `points` values of `c`
/// spaced geometrically in `[1e-2, 1e2]` (η = 1e-4, x = 1, y = 0), the
/// `chain` table, the `chain_post_step` figure and one claim.
pub struct ChainSweep {
    pub points: usize,
}

impl crate::experiments::report::Experiment for ChainSweep {
    type Output = Vec<ChainRecord>;

    fn name(&self) -> &'static str {
        "chain"
    }

    fn work(&self) -> u64 {
        self.points as u64
    }

    fn run(&self, progress: &dyn crate::progress::Progress) -> Result<Vec<ChainRecord>> {
        (0..self.points)
            .map(|i| {
                let t = i as f64 / (self.points - 1) as f64;
                let c = 10f64.powf(-2.0 + 4.0 * t);
                progress.inc(1);
                run_chain(c, 1e-4, 1.0, 0.0)
            })
            .collect()
    }

    fn write(
        &self,
        chain: &Vec<ChainRecord>,
        dir: &std::path::Path,
    ) -> Result<crate::experiments::report::Artifacts> {
        crate::experiments::output::write_records(dir, "chain", chain)?;
        chain_figure(chain).write_figures(dir, "chain_post_step")?;
        Ok(crate::experiments::report::Artifacts {
            figures: vec!["chain_post_step"],
            tables: vec!["chain"],
            ..Default::default()
        })
    }

    fn claims(&self, chain: &Vec<ChainRecord>) -> Vec<crate::experiments::report::ReportRow> {
        let err = chain
            .iter()
            .map(|r| r.rel_diff)
            .fold(f64::NEG_INFINITY, crate::finite::nan_max);
        vec![crate::experiments::report::ReportRow::at_most(
            "chain",
            format!("max |simulated − closed form| / largest term, scalar chain, {} values of c in [1e-2, 1e2]", chain.len()),
            err,
            1e-12,
        )]
    }
}

/// One step's effect against `c`: simulated, closed form, and `c = 1`.
pub fn chain_figure(chain: &[ChainRecord]) -> crate::plot::Chart {
    use crate::plot::{Chart, Legend, Series, Style};
    let change = |after: f64| (after - 1.0).abs();
    Chart {
        title: "Scalar chain (c, 1/c): size of one SGD step's effect".into(),
        x_label: "rescaling c (log scale)".into(),
        y_label: "|w1⁺w2⁺ − w1w2|  (η = 1e-4, x = 1, y = 0)".into(),
        log_x: true,
        log_y: true,
        legend: Legend::UpperMiddle,
        series: vec![
            Series {
                label: "closed form η g x (c² + c⁻²) − η² g² x²".into(),
                points: chain.iter().map(|r| (r.c, change(r.closed_form))).collect(),
                style: Style::Line,
            },
            Series {
                label: "simulated step (f64)".into(),
                points: chain.iter().map(|r| (r.c, change(r.simulated))).collect(),
                style: Style::Markers,
            },
            Series {
                label: "same function, c = 1".into(),
                points: chain
                    .iter()
                    .map(|r| (r.c, change(r.baseline_product_after)))
                    .collect(),
                style: Style::Dashed,
            },
        ],
    }
}
