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
use crate::experiments::{gaussian_inputs, max_abs, max_abs_diff, random_update_set};
use crate::net::{gradient, ntk, Architecture, Dataset, Mlp};
use crate::reparam;
use crate::rng::seeded;
use crate::update::{one_step, StepConfig};
use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

/// The constructions of [`crate::reparam`], as run by this experiment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Construction {
    /// `(A W_l, W_{l+1} A⁻¹)`, random well-conditioned `A`.
    LinearChain,
    /// `α_j = exp(U(−1, 1))` per unit.
    PositiveScaling,
    /// Each unit flipped with probability ½.
    SignFlip,
    /// A uniformly random permutation.
    Permutation,
    /// A random unit split with `β = 0.3`.
    Split,
    /// `max(1, n/4)` random dormant units.
    Dormant,
    /// A `±v` pair copying a random unit's incoming weights, `v ~ N(0, 1/n_{l+1})`.
    CancellingPair,
}

impl Construction {
    /// Every construction, in report order.
    pub const ALL: [Construction; 7] = [
        Construction::LinearChain,
        Construction::PositiveScaling,
        Construction::SignFlip,
        Construction::Permutation,
        Construction::Split,
        Construction::Dormant,
        Construction::CancellingPair,
    ];

    /// Stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            Construction::LinearChain => "linear_chain",
            Construction::PositiveScaling => "positive_scaling",
            Construction::SignFlip => "sign_flip",
            Construction::Permutation => "permutation",
            Construction::Split => "split",
            Construction::Dormant => "dormant",
            Construction::CancellingPair => "cancelling_pair",
        }
    }

    /// Whether `θ ↦ θ'` is an isometry of parameter space (then the one-step
    /// future is the same function, up to rounding).
    pub fn is_isometry(self) -> bool {
        matches!(self, Construction::SignFlip | Construction::Permutation)
    }

    /// Apply a random instance at hidden layer `hidden`.
    pub fn apply_random<R: Rng + ?Sized>(
        self,
        net: &Mlp,
        hidden: usize,
        rng: &mut R,
    ) -> Result<Mlp> {
        let n = reparam::hidden_width(net, hidden)?;
        match self {
            Construction::LinearChain => {
                let g = crate::net::normal_matrix(rng, n, n, 0.3 / (n as f64).sqrt());
                let a = Array2::from_shape_fn((n, n), |(i, j)| {
                    let diag = if i == j {
                        (0.5 * rng.random_range(-1.0..1.0f64)).exp()
                    } else {
                        0.0
                    };
                    diag + g[[i, j]]
                });
                reparam::rescale_linear_chain(net, hidden, &a)
            }
            Construction::PositiveScaling => {
                let alphas: Vec<f64> = (0..n)
                    .map(|_| rng.random_range(-1.0..1.0f64).exp())
                    .collect();
                reparam::scale_units(net, hidden, &alphas)
            }
            Construction::SignFlip => {
                let flips: Vec<bool> = (0..n).map(|_| rng.random_bool(0.5)).collect();
                reparam::flip_signs(net, hidden, &flips)
            }
            Construction::Permutation => {
                let mut perm: Vec<usize> = (0..n).collect();
                perm.shuffle(rng);
                reparam::permute_units(net, hidden, &perm)
            }
            Construction::Split => reparam::split_unit(net, hidden, rng.random_range(0..n), 0.3),
            Construction::Dormant => {
                reparam::add_random_dormant_units(net, hidden, (n / 4).max(1), rng)
            }
            Construction::CancellingPair => {
                let j = rng.random_range(0..n);
                let inc = &net.layers()[hidden - 1];
                let u = inc.weight.row(j).to_owned();
                let b = inc.bias.as_ref().map_or(0.0, |b| b[j]);
                let n_next = net.layers()[hidden].n_out();
                let v: Array1<f64> =
                    crate::net::normal_matrix(rng, n_next, 1, 1.0 / (n_next as f64).sqrt())
                        .column(0)
                        .to_owned();
                reparam::add_cancelling_pair(net, hidden, &u, b, &v)
            }
        }
    }
}

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
        Self::new(arch, seed, 10_000, 32, 8, 1e-4)
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
    let mut choice_rng = seeded(cfg.seed, 3);
    let n_hidden = base.net.depth() - 1;
    Construction::ALL
        .iter()
        .map(|&c| {
            let hidden = if n_hidden == 0 {
                0
            } else {
                choice_rng.random_range(1..=n_hidden)
            };
            let mut rng = seeded(cfg.seed, 100 + c as u64);
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
    let net = Mlp::random(&cfg.arch, &mut seeded(cfg.seed, 0));
    let mut data_rng = seeded(cfg.seed, 1);
    let probe = gaussian_inputs(&mut data_rng, cfg.n_probe, cfg.arch.input_dim());
    let ntk_probe = gaussian_inputs(&mut data_rng, cfg.n_ntk, cfg.arch.input_dim());
    let update = random_update_set(&net, cfg.n_update, &mut seeded(cfg.seed, 2))?;
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
    c: Construction,
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
