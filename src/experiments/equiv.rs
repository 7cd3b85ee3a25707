//! `hairtrigger equiv`: apply every forward-equivalent reparameterization to a
//! random network and measure what changes (claim C1).
//!
//! For `θ' = T(θ)` it reports, over `n_probe` Gaussian inputs:
//! * forward deviation `max_x |f_θ'(x) − f_θ(x)|`, absolute and relative to
//!   `max_x |f_θ(x)|` (should be rounding only);
//! * gradient-norm change `|‖∇L_D(θ')‖ − ‖∇L_D(θ)‖| / ‖∇L_D(θ)‖` on a random
//!   update set `D` (norms, because width-changing constructions live in a
//!   different parameter space);
//! * NTK change `‖Θ_θ' − Θ_θ‖_F / ‖Θ_θ‖_F` on `n_ntk` probe inputs (function
//!   space, so comparable across widths);
//! * post-step divergence `max_x |f_{θ'⁺}(x) − f_{θ⁺}(x)|` after one SGD step
//!   with `η`, absolute, relative to `max |f_θ|`, and relative to the base
//!   model's own step `max_x |f_{θ⁺}(x) − f_θ(x)|`.

use crate::error::{Error, Result};
use crate::finite::{max_abs, max_abs_diff};
use crate::net::{gaussian_inputs, random_update_set};
use crate::net::{gradient, ntk, Architecture, Dataset, Mlp};
use crate::reparam::ReparamKind;
use crate::rng::{seeded, stream};
use crate::update::{one_step, StepConfig};
use ndarray::Array2;
use rand::Rng;
use serde::Serialize;

/// Validated settings of [`run_equiv`].
#[derive(Clone, Debug, Serialize)]
pub struct EquivConfig {
    arch: Architecture,
    seed: u64,
    n_probe: usize,
    n_update: usize,
    n_ntk: usize,
    step: StepConfig,
}

impl EquivConfig {
    /// `n_probe` inputs for the forward and post-step comparisons, `n_update`
    /// samples in the update set, `n_ntk` inputs for the NTK, SGD with `eta`.
    pub fn new(
        arch: Architecture,
        seed: u64,
        n_probe: usize,
        n_update: usize,
        n_ntk: usize,
        eta: f64,
    ) -> Result<Self> {
        for (what, v) in [
            ("probe set", n_probe),
            ("update set", n_update),
            ("NTK probe set", n_ntk),
        ] {
            if v == 0 {
                return Err(Error::EmptyData(what));
            }
        }
        Ok(Self {
            arch,
            seed,
            n_probe,
            n_update,
            n_ntk,
            step: StepConfig::sgd(eta)?,
        })
    }
    /// Peak memory in bytes (an over-estimate): a few dozen parameter-sized
    /// buffers for the base network, its twins (grown by at most a quarter
    /// of a layer) and their steps, the probe activations before and after
    /// the step (`n_probe · Σ n_l`, doubled for the growth), and the NTK's
    /// Jacobians (`n_ntk · k · P`, twice).
    pub fn memory_estimate(&self) -> f64 {
        let p = 1.6 * self.arch.num_params() as f64;
        let k = self.arch.output_dim() as f64;
        crate::limits::f64_bytes(
            64.0 * p
                + 8.0 * (self.n_probe + self.n_update) as f64 * 2.0 * self.arch.total_width()
                + 4.0 * self.n_ntk as f64 * k * p,
        )
    }
    /// The defaults of `hairtrigger equiv`: 10,000 probes, 32 update samples,
    /// 8 NTK inputs, `η = 10⁻⁴`.
    pub fn standard(arch: Architecture, seed: u64) -> Result<Self> {
        Self::new(arch, seed, Self::DEFAULT_PROBES, 32, 8, Self::DEFAULT_ETA)
    }
    /// The architecture.
    pub fn arch(&self) -> &Architecture {
        &self.arch
    }
}

/// One construction's measurements (`None` where it does not apply).
#[derive(Clone, Debug, Serialize)]
pub struct EquivRecord {
    pub construction: &'static str,
    pub activation: String,
    pub seed: u64,
    pub widths_before: String,
    pub widths_after: Option<String>,
    pub hidden_layer: usize,
    pub applicable: bool,
    pub reason: Option<String>,
    pub isometry: bool,
    pub params_before: usize,
    pub params_after: Option<usize>,
    pub forward_max_abs: Option<f64>,
    pub forward_max_rel: Option<f64>,
    pub grad_norm_rel_change: Option<f64>,
    pub ntk_rel_change: Option<f64>,
    pub post_step_divergence_abs: Option<f64>,
    pub post_step_divergence_rel: Option<f64>,
    pub post_step_vs_base_step: Option<f64>,
    pub eta: f64,
}

/// The base network and the fixed inputs every construction is measured on.
struct Baseline {
    net: Mlp,
    probe: Array2<f64>,
    ntk_probe: Array2<f64>,
    update: Dataset,
    f: Array2<f64>,
    f_plus: Array2<f64>,
    grad_norm: f64,
    ntk: Array2<f64>,
}

/// Build the seeded base network, run every construction on it, and measure.
pub fn run_equiv(cfg: &EquivConfig) -> Result<Vec<EquivRecord>> {
    let base = baseline(cfg)?;
    let mut choice_rng = seeded(cfg.seed, stream::EQUIV_LAYER_CHOICE);
    let n_hidden = base.net.depth() - 1;
    ReparamKind::ALL
        .iter()
        .map(|&c| {
            let hidden = if n_hidden == 0 {
                0
            } else {
                choice_rng.random_range(1..=n_hidden)
            };
            let mut rng = seeded(cfg.seed, stream::EQUIV_KIND + c as u64);
            measure(
                cfg,
                &base,
                c,
                hidden,
                c.apply_random(&base.net, hidden, &mut rng),
            )
        })
        .collect()
}

fn baseline(cfg: &EquivConfig) -> Result<Baseline> {
    let net = Mlp::random(&cfg.arch, &mut seeded(cfg.seed, stream::NET_INIT));
    let mut data_rng = seeded(cfg.seed, stream::PROBES);
    let probe = gaussian_inputs(&mut data_rng, cfg.n_probe, cfg.arch.input_dim());
    let ntk_probe = gaussian_inputs(&mut data_rng, cfg.n_ntk, cfg.arch.input_dim());
    let update = random_update_set(
        &net,
        cfg.n_update,
        &mut seeded(cfg.seed, stream::EQUIV_UPDATE),
    )?;
    let f = net.forward(probe.view())?;
    let plus = one_step(&net, &update, &cfg.step)?.updated;
    let f_plus = plus.forward(probe.view())?;
    let grad_norm = gradient(&net, &update)?.1.norm();
    let ntk = ntk(&net, ntk_probe.view(), ntk_probe.view())?;
    Ok(Baseline {
        net,
        probe,
        ntk_probe,
        update,
        f,
        f_plus,
        grad_norm,
        ntk,
    })
}

fn measure(
    cfg: &EquivConfig,
    base: &Baseline,
    c: ReparamKind,
    hidden: usize,
    twin: Result<Mlp>,
) -> Result<EquivRecord> {
    let mut rec = EquivRecord {
        construction: c.name(),
        activation: cfg.arch.activation().name(),
        seed: cfg.seed,
        widths_before: cfg.arch.widths_string(),
        widths_after: None,
        hidden_layer: hidden,
        applicable: false,
        reason: None,
        isometry: c.is_isometry(),
        params_before: cfg.arch.num_params(),
        params_after: None,
        forward_max_abs: None,
        forward_max_rel: None,
        grad_norm_rel_change: None,
        ntk_rel_change: None,
        post_step_divergence_abs: None,
        post_step_divergence_rel: None,
        post_step_vs_base_step: None,
        eta: cfg.step.eta(),
    };
    let twin = match twin {
        Ok(t) => t,
        Err(e @ (Error::NotApplicable { .. } | Error::LayerOutOfRange { .. })) => {
            rec.reason = Some(e.to_string());
            return Ok(rec);
        }
        Err(e) => return Err(e),
    };
    let scale = max_abs(&base.f);
    let fwd = max_abs_diff(&twin.forward(base.probe.view())?, &base.f);
    let grad_norm = gradient(&twin, &base.update)?.1.norm();
    let twin_ntk = ntk(&twin, base.ntk_probe.view(), base.ntk_probe.view())?;
    let ntk_change = (&twin_ntk - &base.ntk).mapv(|v| v * v).sum().sqrt()
        / base.ntk.mapv(|v| v * v).sum().sqrt();
    let twin_plus = one_step(&twin, &base.update, &cfg.step)?.updated;
    let div = max_abs_diff(&twin_plus.forward(base.probe.view())?, &base.f_plus);
    let base_step = max_abs_diff(&base.f_plus, &base.f);
    rec.widths_after = Some(twin.architecture().widths_string());
    rec.applicable = true;
    rec.params_after = Some(twin.num_params());
    rec.forward_max_abs = Some(fwd);
    rec.forward_max_rel = Some(fwd / scale);
    rec.grad_norm_rel_change = Some((grad_norm - base.grad_norm).abs() / base.grad_norm);
    rec.ntk_rel_change = Some(ntk_change);
    rec.post_step_divergence_abs = Some(div);
    rec.post_step_divergence_rel = Some(div / scale);
    rec.post_step_vs_base_step = Some(div / base_step);
    Ok(rec)
}

/// `reproduce`'s C1 stage: [`run_equiv`] on every configuration (in
/// parallel), the `equiv` table, four C1 claims and the per-construction
/// section of `REPORT.md`.
pub struct EquivSweep {
    pub configs: Vec<EquivConfig>,
}

impl crate::experiments::report::Experiment for EquivSweep {
    type Output = Vec<EquivRecord>;

    fn name(&self) -> &'static str {
        "C1 equiv"
    }

    fn work(&self) -> u64 {
        self.configs.len() as u64
    }

    fn run(&self, progress: &dyn crate::progress::Progress) -> Result<Vec<EquivRecord>> {
        use rayon::prelude::*;
        Ok(self
            .configs
            .par_iter()
            .map(|t| {
                let r = run_equiv(t);
                progress.inc(1);
                r
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter()
            .flatten()
            .collect())
    }

    fn write(
        &self,
        out: &Vec<EquivRecord>,
        dir: &std::path::Path,
    ) -> Result<crate::experiments::report::Artifacts> {
        crate::experiments::output::write_records(dir, "equiv", out)?;
        Ok(crate::experiments::report::Artifacts {
            tables: vec!["equiv"],
            ..Default::default()
        })
    }

    fn claims(&self, equiv: &Vec<EquivRecord>) -> Vec<crate::experiments::report::ReportRow> {
        use crate::experiments::report::ReportRow;
        let applicable = || equiv.iter().filter(|r| r.applicable);
        let iso = || applicable().filter(|r| r.isometry);
        let non_iso = || applicable().filter(|r| !r.isometry);
        let n_app = applicable().count();
        let fwd = extreme(applicable(), |r| r.forward_max_rel, true);
        let iso_div = extreme(iso(), |r| r.post_step_divergence_rel, true);
        let non_iso_div = extreme(non_iso(), |r| r.post_step_vs_base_step, false);
        let non_iso_ntk = extreme(non_iso(), |r| r.ntk_rel_change, false);
        vec![
            ReportRow::at_most("C1", format!("max relative forward deviation |f' − f| / max|f| over {n_app} reparameterized networks"), fwd, 1e-10),
            ReportRow::at_most("C1", format!("max post-step divergence of the isometries (permutation, sign flip) / max|f| (zero up to rounding), {} runs", iso().count()), iso_div, 1e-10),
            ReportRow::at_least("C1", format!("min post-step divergence of the non-isometries / the base model's own step (far above rounding), {} runs", non_iso().count()), non_iso_div, 1e-6),
            ReportRow::at_least("C1", "min relative NTK change ‖Θ' − Θ‖_F/‖Θ‖_F of the non-isometries", non_iso_ntk, 1e-6),
        ]
    }

    fn section(&self, equiv: &Vec<EquivRecord>) -> Option<String> {
        use std::fmt::Write as _;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "\n## C1 per construction\n\nMaximum over seeds and architectures. `div/step` is the post-step divergence `max|f_θ'⁺ − f_θ⁺|` divided by the base model's own step `max|f_θ⁺ − f_θ|` (η = 1e-4, SGD, 32 random samples).\n"
        );
        let _ = writeln!(s, "| activation | construction | fwd rel | grad-norm change | NTK change | div/step |\n|---|---|---|---|---|---|");
        let mut keys: Vec<(String, &str)> = equiv
            .iter()
            .map(|r| (r.activation.clone(), r.construction))
            .collect();
        keys.sort();
        keys.dedup();
        for (act, con) in keys {
            let group = || {
                equiv
                    .iter()
                    .filter(|r| r.activation == act && r.construction == con)
            };
            if !group().any(|r| r.applicable) {
                let _ = writeln!(s, "| {act} | {con} | n/a | n/a | n/a | n/a |");
                continue;
            }
            let m = |get: fn(&EquivRecord) -> Option<f64>| extreme(group(), get, true);
            let _ = writeln!(
                s,
                "| {act} | {con} | {:.1e} | {:.2e} | {:.2e} | {:.2e} |",
                m(|r| r.forward_max_rel),
                m(|r| r.grad_norm_rel_change),
                m(|r| r.ntk_rel_change),
                m(|r| r.post_step_vs_base_step)
            );
        }
        Some(s)
    }
}

/// The largest (`max`) or smallest value of `get` over the records where it
/// applies, NaN-propagating (`∓∞` when it applies to none).
fn extreme<'a>(
    it: impl Iterator<Item = &'a EquivRecord>,
    get: impl Fn(&EquivRecord) -> Option<f64>,
    max: bool,
) -> f64 {
    use crate::finite::{nan_max, nan_min};
    let vals = it.filter_map(get);
    if max {
        vals.fold(f64::NEG_INFINITY, nan_max)
    } else {
        vals.fold(f64::INFINITY, nan_min)
    }
}

/// Documented defaults (the command line uses the same values).
impl EquivConfig {
    /// Probe inputs of the forward and post-step comparisons.
    pub const DEFAULT_PROBES: usize = 10_000;
    /// Learning rate of the SGD step.
    pub const DEFAULT_ETA: f64 = 1e-4;
}
