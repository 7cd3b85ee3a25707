//! `hairtrigger audit` and `hairtrigger canonicalize`: white-box scores of a
//! saved model, its canonical form, and (with an update set) the exact
//! one-step future of both.

use super::{non_empty_path, Printer};
use crate::audit::canonical::canonicalize;
use crate::audit::{audit, AuditReport, AuditThresholds};
use crate::error::{Error, Result};
use crate::net::io::read_tensors;
use crate::net::torch::{load_any, save_like};
use crate::net::{Dataset, Mlp, Targets};
use crate::update::{one_step, StepConfig};
use clap::Args;
use ndarray::Array2;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// Arguments of `hairtrigger audit`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct AuditArgs {
    /// The model: safetensors as `construct --save` writes it, or a PyTorch state dict (`nn.Sequential` keys `0.weight`, `2.weight`, … or `layers.{l}.weight`; F64, F32, F16, BF16).
    #[arg(value_parser = non_empty_path)]
    pub model: String,
    /// The hidden activation when the file's metadata names none: relu, leaky_relu:SLOPE, tanh, gelu, identity.
    #[arg(long)]
    pub act: Option<String>,
    /// Update set and queries (`update.x`, `update.y`, `queries.x`, as `construct --save` writes `data.safetensors`): adds the exact one-step future.
    #[arg(long, value_parser = non_empty_path)]
    pub data: Option<String>,
    /// Learning rate of the SGD step on the update set.
    #[arg(long, default_value_t = 1e-4, allow_hyphen_values = true)]
    pub eta: f64,
    /// Seed of the probe inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The exact one-step future on a given update set.
#[derive(Clone, Debug, Serialize)]
pub struct StepAudit {
    pub eta: f64,
    pub update_samples: usize,
    pub queries: usize,
    /// Queries whose answer (argmax) one SGD step changes, for the model.
    pub changed_by_step: usize,
    /// The same for the canonical form.
    pub canonical_changed_by_step: usize,
    /// Queries on which the stepped model and the stepped canonical form answer differently.
    pub futures_disagree: usize,
}

/// `audit`'s output: the scores and, with `--data`, the step.
#[derive(Clone, Debug, Serialize)]
pub struct AuditOutput {
    pub model: String,
    #[serde(flatten)]
    pub report: AuditReport,
    pub step: Option<StepAudit>,
}

fn parse_act(a: Option<&str>) -> Result<Option<crate::Activation>> {
    a.map(crate::Activation::parse).transpose()
}

/// The answer (argmax) per row.
fn answers(net: &Mlp, x: &Array2<f64>) -> Result<Vec<usize>> {
    Ok(net
        .forward(x.view())?
        .rows()
        .into_iter()
        .map(crate::eval::answer)
        .collect())
}

/// Read `update.x`, `update.y` and `queries.x`.
pub fn read_data(path: &Path, classes: usize) -> Result<(Dataset, Array2<f64>)> {
    let bad = |reason: String| Error::ModelFile {
        path: path.display().to_string(),
        reason,
    };
    let (mut t, _) = read_tensors(path)?;
    let mut take = |name: &str| {
        t.remove(name)
            .ok_or_else(|| bad(format!("tensor {name} missing")))
    };
    let matrix = |name: &str, t: crate::net::io::Tensor| -> Result<Array2<f64>> {
        if t.shape.len() != 2 {
            return Err(bad(format!(
                "{name} has shape {:?}, expected [n, d]",
                t.shape
            )));
        }
        Array2::from_shape_vec((t.shape[0], t.shape[1]), t.data).map_err(|e| bad(e.to_string()))
    };
    let ux = matrix("update.x", take("update.x")?)?;
    let qx = matrix("queries.x", take("queries.x")?)?;
    let uy = take("update.y")?;
    let labels = uy
        .data
        .iter()
        .map(|&v| {
            if v.fract() == 0.0 && v >= 0.0 && (v as usize) < classes {
                Ok(v as usize)
            } else {
                Err(bad(format!(
                    "update.y holds {v}, not a class index below {classes}"
                )))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((
        Dataset::new("update set", ux, Targets::Classes(labels))?,
        qx,
    ))
}

impl AuditArgs {
    /// Load, audit and (with `--data`) step the model and its canonical form.
    pub fn check(&self) -> Result<AuditOutput> {
        let (net, _) = load_any(Path::new(&self.model), parse_act(self.act.as_deref())?)?;
        let (report, canon) = audit(&net, AuditThresholds::default(), self.seed)?;
        let step = match &self.data {
            None => None,
            Some(d) => {
                let (update, q) = read_data(Path::new(d), net.output_dim())?;
                let cfg = StepConfig::sgd(self.eta)?;
                let before = answers(&net, &q)?;
                let after = answers(&one_step(&net, &update, &cfg)?.updated, &q)?;
                let cbefore = answers(&canon, &q)?;
                let cafter = answers(&one_step(&canon, &update, &cfg)?.updated, &q)?;
                let diff =
                    |a: &[usize], b: &[usize]| a.iter().zip(b).filter(|(x, y)| x != y).count();
                Some(StepAudit {
                    eta: self.eta,
                    update_samples: update.len(),
                    queries: q.nrows(),
                    changed_by_step: diff(&before, &after),
                    canonical_changed_by_step: diff(&cbefore, &cafter),
                    futures_disagree: diff(&after, &cafter),
                })
            }
        };
        Ok(AuditOutput {
            model: self.model.clone(),
            report,
            step,
        })
    }

    /// Audit and print; exit 0 whether or not the model is flagged.
    pub fn run(&self) -> Result<ExitCode> {
        let o = self.check()?;
        let out = Printer::new(self.json);
        if out.json() {
            out.record(&o)?;
            return Ok(ExitCode::SUCCESS);
        }
        let r = &o.report;
        let c = &r.canonical;
        out.text(format!(
            "model {} ({:?}, {}, {} parameters)",
            o.model, r.widths, r.activation, r.params
        ));
        out.text(format!(
            "canonical form: {} dormant, {} inert, {} constant, {} parallel units removed; widths {:?}; max |ln α| {:.3}; deviation {:.2e}",
            c.dormant_removed, c.inert_removed, c.constant_folded, c.merged, c.widths_after, c.max_log_rescale, r.canonical_max_rel_deviation
        ));
        out.text(format!(
            "norm imbalance max |ln(‖u‖/‖v‖)| {}; NTK / canonical NTK {:.3e}",
            r.max_log_imbalance
                .map_or("n/a".into(), |v| format!("{v:.3}")),
            r.ntk_ratio
        ));
        if let Some(s) = &o.step {
            out.text(format!(
                "one SGD step (η = {:e}, {} samples): {} of {} query answers change; canonical form: {}; stepped model vs stepped canonical form disagree on {}",
                s.eta, s.update_samples, s.changed_by_step, s.queries, s.canonical_changed_by_step, s.futures_disagree
            ));
        }
        out.text(if r.flagged {
            format!("flagged: true ({})", r.reasons.join("; "))
        } else {
            "flagged: false".to_string()
        });
        Ok(ExitCode::SUCCESS)
    }
}

/// Arguments of `hairtrigger canonicalize`.
#[derive(Args, Debug)]
pub struct CanonicalizeArgs {
    /// The model (as for `audit`); never modified.
    #[arg(value_parser = non_empty_path)]
    pub model: String,
    /// The hidden activation when the file's metadata names none.
    #[arg(long)]
    pub act: Option<String>,
    /// Where to write the canonical form (same format).
    #[arg(long, value_parser = non_empty_path)]
    pub out: String,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl CanonicalizeArgs {
    /// Canonicalize, check the function on 10,000 probes, write.
    pub fn run(&self) -> Result<ExitCode> {
        if Path::new(&self.out) == Path::new(&self.model) {
            return Err(Error::Parse {
                what: "--out",
                input: self.out.clone(),
                reason: "is the input model; the input is never modified".into(),
            });
        }
        let (net, layout) = load_any(Path::new(&self.model), parse_act(self.act.as_deref())?)?;
        let (canon, rep) = canonicalize(&net)?;
        let x = crate::audit::canonical::probes(net.input_dim(), crate::audit::DEVIATION_PROBES, 0);
        let dev = crate::audit::canonical::relative_deviation(&canon, &net, x.view())?;
        save_like(
            &canon,
            Path::new(&self.out),
            &layout,
            &[("canonical", "true".to_string())],
        )?;
        let out = Printer::new(self.json);
        #[derive(Serialize)]
        struct Record<'a> {
            model: &'a str,
            out: &'a str,
            #[serde(flatten)]
            report: &'a crate::audit::canonical::CanonicalReport,
            max_rel_deviation: f64,
        }
        let rec = Record {
            model: &self.model,
            out: &self.out,
            report: &rep,
            max_rel_deviation: dev,
        };
        if out.json() {
            out.record(&rec)?;
        } else {
            out.text(format!(
                "wrote {}: widths {:?} → {:?}, max relative deviation {dev:.2e} over {} probes",
                self.out,
                rep.widths_before,
                rep.widths_after,
                crate::audit::DEVIATION_PROBES
            ));
        }
        Ok(ExitCode::SUCCESS)
    }
}
