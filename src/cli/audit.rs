//! `hairtrigger audit` and `hairtrigger canonicalize`: white-box scores of a
//! saved model, its canonical form, and (with an update set) the exact
//! one-step future of both.

use super::{non_empty_path, Printer};
use crate::audit::canonical::canonicalize;
use crate::audit::{audit_tunable, AuditConfig, AuditReport};
use crate::error::{Error, Result};
use crate::eval::answers;
use crate::net::io::read_tensors;
use crate::net::torch::{load_any, save_like};
use crate::net::{Dataset, Targets};
use crate::update::Tunable;
use crate::update::{one_step, StepConfig, UpdateRule};
use clap::Args;
use ndarray::Array2;
use serde::Serialize;
use std::path::Path;
use std::process::ExitCode;

/// The model file, its activation and its adapters: the input of `audit`
/// and `canonicalize` (neither modifies it).
#[derive(Args, Debug)]
pub struct ModelInput {
    /// The model: safetensors as `construct --save` writes it, or a PyTorch state dict (`nn.Sequential` keys `0.weight`, `2.weight`, … or `layers.{l}.weight`; F64, F32, F16, BF16). Never modified.
    #[arg(value_parser = non_empty_path)]
    pub model: String,
    /// The hidden activation when the file's metadata names none: relu, leaky_relu:SLOPE, tanh, gelu, sigmoid, identity.
    #[arg(long)]
    pub act: Option<String>,
    /// LoRA adapters on MODEL (safetensors with `lora.{l}.A` `[r, n_in]` and `lora.{l}.B` `[n_out, r]` for every layer, F64). `audit`: the fine-tune trains the adapters only, so the reach and NTK ratio use the adapters' NTK, the symmetry scores the merged network; `canonicalize`: merged into the weights first.
    #[arg(long, value_parser = non_empty_path)]
    pub adapter: Option<String>,
}

impl ModelInput {
    /// The model as its fine-tune moves it, and the layout it was read in.
    fn load(&self) -> Result<(Tunable, crate::net::torch::Layout)> {
        let act = self
            .act
            .as_deref()
            .map(crate::Activation::parse)
            .transpose()?;
        let (base, layout) = load_any(Path::new(&self.model), act)?;
        let model = match &self.adapter {
            None => Tunable::Whole(base),
            Some(p) => {
                let (lora, phi) = crate::net::lora::Lora::load_adapter(base, Path::new(p))?;
                Tunable::Adapter { lora, phi }
            }
        };
        Ok((model, layout))
    }
}

/// Arguments of `hairtrigger audit`.
#[derive(Args, Debug)]
#[command(allow_negative_numbers = true)]
pub struct AuditArgs {
    #[command(flatten)]
    pub input: ModelInput,
    /// The update set (safetensors with `update.x` `[n, d]` and `update.y` `[n]` class indices, as `construct --save` writes `data.safetensors`): adds the exact one-step future.
    #[arg(long, value_parser = non_empty_path)]
    pub update_set: Option<String>,
    /// The queries a black-box evaluation tests (safetensors with `queries.x` `[q, d]`): the first-order reach is computed on them (Gaussian probes otherwise) and, with `--update-set`, the answers before and after the step.
    #[arg(long, value_parser = non_empty_path)]
    pub queries: Option<String>,
    /// Shorthand for `--update-set FILE --queries FILE` (one file with all three tensors).
    #[arg(long, value_parser = non_empty_path, conflicts_with_all = ["update_set", "queries"])]
    pub data: Option<String>,
    /// The fine-tuner's learning rate: of the first-order reach and of the step.
    #[arg(long, default_value_t = 1e-4, allow_hyphen_values = true)]
    pub eta: f64,
    /// Update rules of the exact step, comma-separated: sgd, adam (Adam's first step, PyTorch defaults), sgd-clip or sgd-clip:NORM (clipped SGD), adamw or adamw:DECAY.
    #[arg(long, value_delimiter = ',', default_value = "sgd,adam")]
    pub rule: Vec<String>,
    /// Seed of the probe inputs.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

/// The exact one-step future on a given update set, under one rule.
#[derive(Clone, Debug, Serialize)]
pub struct StepAudit {
    pub rule: String,
    pub eta: f64,
    pub update_samples: usize,
    pub queries: usize,
    /// Queries whose answer (argmax) one step changes, for the model.
    pub changed_by_step: usize,
    /// The same for the canonical form.
    pub canonical_changed_by_step: usize,
    /// Queries on which the stepped model and the stepped canonical form answer differently.
    pub futures_disagree: usize,
}

/// `audit`'s output: the scores and, with an update set, the step per rule.
#[derive(Clone, Debug, Serialize)]
pub struct AuditOutput {
    pub model: String,
    #[serde(flatten)]
    pub report: AuditReport,
    pub steps: Vec<StepAudit>,
}

/// Parse a rule ([`UpdateRule::parse`]: `sgd`, `adam`, `sgd-clip[:c]`,
/// `adamw[:λ]`) at learning rate `eta`.
fn parse_rule(name: &str, eta: f64) -> Result<StepConfig> {
    StepConfig::new(eta, UpdateRule::parse(name)?)
}

fn data_error(path: &Path, reason: String) -> Error {
    Error::ModelFile {
        path: path.display().to_string(),
        reason,
    }
}

/// A `[rows, cols]` tensor of a data file.
fn take_matrix(
    t: &mut std::collections::BTreeMap<String, crate::net::io::Tensor>,
    path: &Path,
    name: &str,
) -> Result<Array2<f64>> {
    let m = t
        .remove(name)
        .ok_or_else(|| data_error(path, format!("tensor {name} missing")))?;
    if m.shape.len() != 2 {
        return Err(data_error(
            path,
            format!("{name} has shape {:?}, expected [n, d]", m.shape),
        ));
    }
    Array2::from_shape_vec((m.shape[0], m.shape[1]), m.data)
        .map_err(|e| data_error(path, e.to_string()))
}

/// Read `queries.x`.
pub fn read_queries(path: &Path) -> Result<Array2<f64>> {
    let (mut t, _) = read_tensors(path)?;
    take_matrix(&mut t, path, "queries.x")
}

/// Read `update.x` and `update.y` (class indices below `classes`).
pub fn read_update_set(path: &Path, classes: usize) -> Result<Dataset> {
    let (mut t, _) = read_tensors(path)?;
    let ux = take_matrix(&mut t, path, "update.x")?;
    let uy = t
        .remove("update.y")
        .ok_or_else(|| data_error(path, "tensor update.y missing".into()))?;
    let labels = uy
        .data
        .iter()
        .map(|&v| {
            if v.fract() == 0.0 && v >= 0.0 && (v as usize) < classes {
                Ok(v as usize)
            } else {
                Err(data_error(
                    path,
                    format!("update.y holds {v}, not a class index below {classes}"),
                ))
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Dataset::new("update set", ux, Targets::Classes(labels))
}

/// Read `update.x`, `update.y` and `queries.x` from one file.
pub fn read_data(path: &Path, classes: usize) -> Result<(Dataset, Array2<f64>)> {
    Ok((read_update_set(path, classes)?, read_queries(path)?))
}

impl AuditArgs {
    /// Load, audit and (with an update set) step the model and its canonical
    /// form under every rule.
    pub fn check(&self) -> Result<AuditOutput> {
        let rules = self
            .rule
            .iter()
            .map(|r| parse_rule(r, self.eta).map(|c| (r.clone(), c)))
            .collect::<Result<Vec<_>>>()?;
        let (model, _) = self.input.load()?;
        let net = model.before()?;
        let update_path = self.update_set.as_ref().or(self.data.as_ref());
        let queries_path = self.queries.as_ref().or(self.data.as_ref());
        let queries = queries_path
            .map(|p| read_queries(Path::new(p)))
            .transpose()?;
        let mut cfg = AuditConfig::new(self.eta)
            .map_err(|_| Error::OutOfRange {
                setting: format!("--eta {:e}", self.eta),
                reason: "must be a positive finite learning rate".into(),
            })?
            .with_seed(self.seed);
        if let Some(q) = &queries {
            cfg = cfg.with_queries(q.clone())?;
        }
        let (report, canon) = audit_tunable(&model, &cfg)?;
        let mut steps = Vec::new();
        if let Some(u) = update_path {
            let update = read_update_set(Path::new(u), net.output_dim())?;
            let q = match &queries {
                Some(q) => q.clone(),
                None => update.x().clone(),
            };
            let diff = |a: &[usize], b: &[usize]| a.iter().zip(b).filter(|(x, y)| x != y).count();
            let (before, cbefore) = (answers(&net, &q)?, answers(&canon, &q)?);
            for (name, step) in &rules {
                let after = answers(&model.after(&update, self.eta, step.rule(), 1)?, &q)?;
                let cafter = answers(&one_step(&canon, &update, step)?.updated, &q)?;
                steps.push(StepAudit {
                    rule: name.clone(),
                    eta: self.eta,
                    update_samples: update.len(),
                    queries: q.nrows(),
                    changed_by_step: diff(&before, &after),
                    canonical_changed_by_step: diff(&cbefore, &cafter),
                    futures_disagree: diff(&after, &cafter),
                });
            }
        }
        Ok(AuditOutput {
            model: self.input.model.clone(),
            report,
            steps,
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
        let f = &r.first_order;
        out.text(format!(
            "first-order reach at η = {:e} on {} {} queries: median {:.3e}, max {:.3e}; {:.0}% flippable by some update set of {} inputs drawn like them",
            f.eta,
            f.queries,
            if r.queries_given { "given" } else { "Gaussian" },
            f.median_reach,
            f.max_reach,
            100.0 * f.flippable_fraction,
            f.probes
        ));
        for s in &r.skipped {
            out.text(format!("skipped: {s}"));
        }
        for s in &o.steps {
            out.text(format!(
                "one {} step (η = {:e}, {} samples): {} of {} query answers change; canonical form: {}; stepped model vs stepped canonical form disagree on {}",
                s.rule, s.eta, s.update_samples, s.changed_by_step, s.queries, s.canonical_changed_by_step, s.futures_disagree
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
    #[command(flatten)]
    pub input: ModelInput,
    /// Where to write the canonical form (same format).
    #[arg(long, value_parser = non_empty_path)]
    pub out: String,
    /// Gaussian inputs of the function check (max relative deviation of the canonical form, f64; 1 … 1,000,000). At 1.86M parameters each 1,000 cost about 7.4 GFLOP.
    #[arg(long, default_value_t = crate::audit::DEVIATION_PROBES)]
    pub probes: usize,
    /// One JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

impl CanonicalizeArgs {
    /// Canonicalize, check the function on 10,000 probes, write.
    pub fn run(&self) -> Result<ExitCode> {
        if Path::new(&self.out) == Path::new(&self.input.model) {
            return Err(Error::Parse {
                what: "--out",
                input: self.out.clone(),
                reason: "is the input model; the input is never modified".into(),
            });
        }
        if self.input.adapter.as_deref().map(Path::new) == Some(Path::new(&self.out)) {
            return Err(Error::Parse {
                what: "--out",
                input: self.out.clone(),
                reason: "is the input adapter; the input is never modified".into(),
            });
        }
        if !(1..=1_000_000).contains(&self.probes) {
            return Err(Error::OutOfRange {
                setting: format!("--probes {}", self.probes),
                reason: "must be between 1 and 1,000,000".into(),
            });
        }
        let (model, layout) = self.input.load()?;
        let net = model.before()?;
        use crate::audit::canonical::{chunked_outputs, probes, relative_deviation_from};
        let x = probes(net.input_dim(), self.probes, 0);
        // The input's outputs on the probes are computed while it is
        // canonicalized (the check's two forwards dominate the run).
        let (canonical, reference) =
            rayon::join(|| canonicalize(&net), || chunked_outputs(&net, x.view()));
        let (canon, rep) = canonical?;
        let dev = relative_deviation_from(&chunked_outputs(&canon, x.view())?, &reference?)?;
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
            adapter_merged: bool,
            probes: usize,
            max_rel_deviation: f64,
        }
        let rec = Record {
            model: &self.input.model,
            out: &self.out,
            report: &rep,
            adapter_merged: self.input.adapter.is_some(),
            probes: self.probes,
            max_rel_deviation: dev,
        };
        if out.json() {
            out.record(&rec)?;
        } else {
            out.text(format!(
                "wrote {}: widths {:?} → {:?}, max relative deviation {dev:.2e} over {} probes",
                self.out, rep.widths_before, rep.widths_after, self.probes
            ));
        }
        Ok(ExitCode::SUCCESS)
    }
}
