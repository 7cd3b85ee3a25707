//! `hairtrigger chain`: the scalar chain `f(x) = w2 w1 x` at `(c, 1/c)`, one
//! SGD step simulated and in closed form.

use super::Printer;
use crate::error::Result;
use crate::experiments::chain::{run_chain, ChainRecord};
use clap::Args;
use std::process::ExitCode;

/// Arguments of `hairtrigger chain`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct ChainArgs {
    /// Rescaling c > 0.
    #[arg(long = "c", default_value_t = 10.0, allow_hyphen_values = true)]
    pub c: f64,
    /// Learning rate.
    #[arg(long, default_value_t = 1e-4, allow_hyphen_values = true)]
    pub eta: f64,
    /// Input x.
    #[arg(long, default_value_t = 1.0, allow_hyphen_values = true)]
    pub x: f64,
    /// Target y.
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub y: f64,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl ChainArgs {
    /// The chain is cheap: checking it is running it.
    pub fn check(&self) -> Result<ChainRecord> {
        run_chain(self.c, self.eta, self.x, self.y)
    }

    /// Run and print.
    pub fn run(&self) -> Result<ExitCode> {
        let r = self.check()?;
        let out = Printer::new(self.json);
        if out.json() {
            out.record(&r)?;
            return Ok(ExitCode::SUCCESS);
        }
        let (c, eta, x, y) = (self.c, self.eta, self.x, self.y);
        out.text(format!(
            "scalar chain (w1, w2) = ({c}, {}), x = {x}, y = {y}, η = {eta:e}",
            1.0 / c
        ));
        out.text(format!(
            "post-step product, simulated   : {:.17e}",
            r.simulated
        ));
        out.text(format!(
            "post-step product, closed form : {:.17e}",
            r.closed_form
        ));
        out.text(format!(
            "difference                     : {:.3e} ({:.3e} of the largest term {:.3e})",
            r.abs_diff, r.rel_diff, r.largest_term
        ));
        out.text(format!(
            "same function at (1, 1)        : {:.17e}",
            r.baseline_product_after
        ));
        Ok(ExitCode::SUCCESS)
    }
}
