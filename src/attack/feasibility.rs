//! The construction's feasibility problem as a linear program, decided by an
//! interior-point solver (Clarabel), with a checked Farkas certificate for
//! every "no".
//!
//! For fixed unit directions the twin's post-step logit gaps are *exactly*
//! linear in `γ = α² ≥ 0` (see [`super::analytic`]: the new units' incoming
//! weights do not move, and the rest of the network moves as in the aligned
//! model), so "do these directions hit every target" is the question
//!
//! `∃ γ ≥ 0 : A γ ≥ b`,  `A[(i,c), j] = −η (G[t_i, j] − G[c, j]) ĥ_j(q_i⁺)`,
//! `b_(i,c) = f⁺_c(q_i) − f⁺_{t_i}(q_i) + ln(p*(k−1)/(1−p*))`.
//!
//! **The box.** The question is asked for twins whose hidden scales are
//! bounded, `0 ≤ α_j ≤ α_max` (`0 ≤ γ_j ≤ Γ = α_max²`): this is what makes a
//! "no" provable in f64 (below), and it is the honest reading of a "no" — no
//! twin *with hidden pre-activations up to `α_max` times unit RMS* hits the
//! targets. The default [`DEFAULT_ALPHA_MAX`] `= 10⁷` lies above every scale a
//! successful construction has used (largest measured: `α ≈ 1.7·10⁶`, breadth
//! at `m = 1000`, `η = 10⁻³`).
//!
//! **The LP.** With a safety margin `μ ≥ 0` (floating-point drift between the
//! linear model and the step actually taken),
//!
//! `s* = min { s : A γ + s 1 ≥ b + μ 1, γ ≥ 0, s ≥ 0 }`,
//!
//! always feasible and bounded below, whose dual is
//!
//! `s* = max { (b + μ1)ᵀ y : Aᵀ y ≤ 0, 1ᵀ y ≤ 1, y ≥ 0 }`.
//!
//! `s* = 0`: a `γ` with every margin `μ` above the threshold. `0 < s* ≤ μ`: the
//! threshold itself is reachable (`γ` misses the safety margin by `s*`); the
//! answer is "yes" when that `γ` lies in the box, "undecided" otherwise.
//! `s* > μ`: the dual optimum `y` has `bᵀ y ≥ s* − μ 1ᵀy > 0` and `Aᵀ y ≤ 0`
//! to the solver's tolerance — Farkas' alternative, **no** `γ ≥ 0` reaches `b` —
//! and it is handed to the check below for the box. (The box is left out of
//! the LP itself: rows `γ_j ≤ Γ ~ 10¹⁴` would wreck the interior point's scaling.)
//!
//! **The certificate, checked independently.** The check does not trust the
//! solver: with `y ≥ 0` (clipped), `w = Aᵀ y` recomputed in doubled precision
//! with a rigorous error bound `|w_j − (Aᵀy)_j| ≤ e_j` (compensated dot
//! products, [`kernels::matvec_t_dot2`]: `e_j ≈ u|w_j| + 2γ_k² Σ_r |A_rj| y_r`),
//! and `β = bᵀ y` less its own error bound, every `γ ∈ [0, Γ]^m` satisfies
//!
//! `yᵀ(Aγ − b) ≤ Σ_j (w_j + e_j)⁺ γ_j − β ≤ Γ Σ_j (w_j + e_j)⁺ − β`,
//!
//! so `β > Γ Σ_j (w_j + e_j)⁺` proves that some row fails for every such `γ`:
//! the "no" is certified. (Without the box one would need `Aᵀy ≤ 0` exactly,
//! which a dual vector computed in f64 cannot show on tight columns, where
//! `Aᵀy = 0` in exact arithmetic rounds to `±ε`.) The certificate also records
//! the largest box it would prove, `α_cert = (β / Σ_j (w_j + e_j)⁺)^{1/2}`
//! (`∞` when every `w_j + e_j ≤ 0`).
//! A "no" whose check fails is reported as undecided, as is every solver
//! failure (iteration limit, numerical trouble).

use crate::error::{Error, Result};
use crate::kernels;
use clarabel::algebra::CscMatrix;
use clarabel::solver::{
    DefaultSettingsBuilder, DefaultSolver, IPSolver, NonnegativeConeT, SolverStatus,
};
use ndarray::{Array1, Array2, Axis};
use serde::Serialize;

/// Default bound `α_max` on the twin's hidden scales (module docs).
pub const DEFAULT_ALPHA_MAX: f64 = 1e7;

/// What the LP found: the `γ` of least shortfall and the verdict.
#[derive(Clone, Debug)]
pub struct Decision {
    /// `γ ≥ 0` minimising the shortfall `s` (zeros when the solver failed).
    pub gamma: Array1<f64>,
    /// `s*`: `A γ ≥ b + (μ − s*) 1` (`∞` when the solver failed).
    pub shortfall: f64,
    pub verdict: Verdict,
}

impl Decision {
    /// The least-shortfall `γ`, with the undecided verdict's status, when the
    /// LP reaches every row only with a scale variable above the box: the
    /// verdict is undecided (the box is the question asked), no certificate
    /// was sought, and the shortfall is finite. `None` for a feasible or
    /// certified answer, a solver failure (`shortfall = ∞`, `γ = 0`) and a
    /// "no" whose check fell short (it carries its certificate). A
    /// construction searches along this `γ`'s ray by the real step to tell
    /// "beyond the box" from "missed".
    pub fn scales_beyond_box(&self) -> Option<(&Array1<f64>, &str)> {
        match &self.verdict {
            Verdict::Undecided {
                status,
                certificate: None,
            } if self.shortfall.is_finite() && self.gamma.iter().any(|&g| g > 0.0) => {
                Some((&self.gamma, status))
            }
            _ => None,
        }
    }
}

/// Whether `∃ γ ≥ 0 : A γ ≥ b`.
#[derive(Clone, Debug)]
pub enum Verdict {
    /// Yes: `gamma` reaches `b` (`shortfall ≤ μ`).
    Feasible,
    /// No, with its checked certificate.
    Infeasible(FarkasCertificate),
    /// The solver could not decide (its status), or its "no" did not survive
    /// the check (then `certificate` says how far it got).
    Undecided {
        status: String,
        certificate: Option<FarkasCertificate>,
    },
}

/// A Farkas vector `y ≥ 0` and what the independent f64 check made of it.
#[derive(Clone, Debug, Serialize)]
pub struct FarkasCertificate {
    #[serde(skip)]
    pub y: Array1<f64>,
    /// `bᵀ y` less its rounding bound (must be `> 0`).
    pub gap: f64,
    /// `Σ_j (w_j + e_j)⁺`: how far `Aᵀ y ≤ 0` is from holding, rounding included.
    pub violation: f64,
    /// The largest `α_max` this `y` proves the "no" for,
    /// `(gap / violation)^{1/2}` (`∞` for an exact certificate, 0 if `gap ≤ 0`).
    pub alpha_cert: f64,
    /// The box asked about.
    pub alpha_max: f64,
}

impl FarkasCertificate {
    /// The check proves the "no" for the box asked about.
    pub fn is_certified(&self) -> bool {
        self.gap > 0.0 && self.alpha_cert > self.alpha_max
    }
}

/// Check a candidate Farkas vector `y` for `{γ ∈ [0, α_max²]^m : A γ ≥ b}`
/// in f64, independently of how it was found (see the module docs).
pub fn check_certificate(
    a: &Array2<f64>,
    b: &Array1<f64>,
    y: &Array1<f64>,
    alpha_max: f64,
) -> FarkasCertificate {
    let y = y.mapv(|v| if v > 0.0 { v } else { 0.0 });
    let (w, e) = kernels::matvec_t_dot2(a, &y);
    // NaN propagates (a NaN entry is never "≤ 0"); `f64::max` would drop it.
    let violation: f64 = w
        .iter()
        .zip(e.iter())
        .map(|(&wj, &ej)| crate::finite::nan_max(wj + ej, 0.0))
        .sum();
    let (beta, beta_err) = kernels::matvec_t_dot2(&b.view().insert_axis(Axis(1)).to_owned(), &y);
    let gap = beta[0] - beta_err[0];
    let alpha_cert = if gap.is_nan() || gap <= 0.0 {
        0.0
    } else if violation == 0.0 {
        f64::INFINITY
    } else {
        (gap / violation).sqrt()
    };
    FarkasCertificate {
        y,
        gap,
        violation,
        alpha_cert,
        alpha_max,
    }
}

/// The solver's dual vector `y` and sparsified copies of it (entries below
/// `τ · max y` set to zero, `τ ∈ {10⁻¹², 10⁻⁹, 10⁻⁶, 10⁻³}`: an interior-point
/// `y` is positive on every row, and its negligible entries are what keeps
/// `Aᵀy` slightly positive on columns the certificate does not need), each
/// followed by up to [`REFINE_PASSES`] least-norm corrections that push the
/// columns with `(Aᵀy)_j + e_j > 0` to `−2 e_j` (`δ_S = −Â (ÂᵀÂ)⁻¹ (w_J + 3 e_J)`,
/// `Â = A[S, J]` on the support `S` of `y`). Whichever candidate the
/// independent check bounds best is returned: nothing computed here is trusted
/// without the check.
fn strongest_certificate(
    a: &Array2<f64>,
    b: &Array1<f64>,
    y: Array1<f64>,
    alpha_max: f64,
) -> FarkasCertificate {
    let mut best = check_certificate(a, b, &y, alpha_max);
    // `best.y` is clipped to y ≥ 0, NaN entries to 0, so this max is finite.
    let top = best.y.iter().copied().fold(0.0f64, f64::max);
    let raw = best.y.clone();
    for tau in [1e-12, 1e-9, 1e-6, 1e-3] {
        if best.is_certified() {
            break;
        }
        let mut cand_y = raw.mapv(|v| if v >= tau * top { v } else { 0.0 });
        for pass in 0..=REFINE_PASSES {
            let cand = check_certificate(a, b, &cand_y, alpha_max);
            if cand.alpha_cert > best.alpha_cert {
                best = cand;
            }
            if pass == REFINE_PASSES || best.is_certified() {
                break;
            }
            match correction(a, &cand_y) {
                Some(next) => cand_y = next,
                None => break,
            }
        }
    }
    best
}

/// One least-norm correction of `y` (see [`strongest_certificate`]), or `None`
/// when nothing is to be corrected or the Gram matrix is singular.
fn correction(a: &Array2<f64>, y: &Array1<f64>) -> Option<Array1<f64>> {
    let (w, e) = kernels::matvec_t_dot2(a, y);
    let cols: Vec<usize> = (0..a.ncols()).filter(|&j| w[j] + e[j] > 0.0).collect();
    let support: Vec<usize> = (0..a.nrows()).filter(|&r| y[r] > 0.0).collect();
    if cols.is_empty() || support.len() < cols.len() {
        return None;
    }
    let sub = a.select(Axis(0), &support).select(Axis(1), &cols);
    let gram = kernels::matmul_tn(sub.view(), sub.view());
    let lu = kernels::linalg::Lu::new(&gram).ok()?;
    let rhs: Array1<f64> = cols.iter().map(|&j| w[j] + 3.0 * e[j]).collect();
    let delta = kernels::matvec(&sub, &lu.solve(&rhs));
    let mut next = y.clone();
    for (k, &r) in support.iter().enumerate() {
        next[r] = (next[r] - delta[k]).max(0.0);
    }
    Some(next)
}

/// When the full LP's certificate is too weak (a reduced-accuracy solve): the
/// rows `S` where `y` is not negligible (`y_r > 10⁻⁶ max y`) form a smaller
/// system that is infeasible too if `y` was nearly right; solve its LP alone
/// (fewer rows, better conditioned) and check its dual vector, padded with
/// zeros, against the *whole* system. `None` when the subsystem is feasible
/// or its solve fails.
fn support_certificate(
    a: &Array2<f64>,
    b: &Array1<f64>,
    y: &Array1<f64>,
    margin: f64,
    alpha_max: f64,
    what: &str,
) -> Result<Option<FarkasCertificate>> {
    let top = y.iter().copied().fold(0.0f64, f64::max);
    let support: Vec<usize> = (0..a.nrows()).filter(|&r| y[r] > 1e-6 * top).collect();
    if support.is_empty() || support.len() == a.nrows() {
        return Ok(None);
    }
    let sub_a = a.select(Axis(0), &support);
    let sub_b = b.select(Axis(0), &support);
    let lp = ScaledLp::new(&sub_a, what);
    let sol = lp.solve(&sub_b, margin, Phase::LeastShortfall, None)?;
    if !matches!(
        sol.status,
        SolverStatus::Solved | SolverStatus::AlmostSolved
    ) || sol.x[lp.live.len()] <= margin
    {
        return Ok(None);
    }
    let mut full = Array1::<f64>::zeros(a.nrows());
    for (k, &r) in support.iter().enumerate() {
        full[r] = sol.z[k];
    }
    Ok(Some(strongest_certificate(a, b, full, alpha_max)))
}

/// The interior point's KKT factorisation: faer's supernodal LDLᵀ, on one
/// thread (so that results do not depend on the thread count; the sweeps run
/// their points in parallel instead). The KKT matrix of a breadth attempt
/// holds the dense `3K × m` block `Â`, whose elimination fills a dense Schur
/// complement; the supernodal factorisation does that fill with dense block
/// kernels where QDLDL (Clarabel's default) works column by column. Measured
/// (`paper-notes/performance.md`): the same `K*` and verdicts on all 96 points
/// of `scaling --full`, 95 against 103 s; at `m = 3000` one feasible attempt
/// (`K = 2048`) 40 s against 108 s, and the whole breadth point 13 min where
/// QDLDL had not finished after 36 min.
const KKT_FACTORISATION: &str = "faer";

/// Correction passes [`strongest_certificate`] tries.
const REFINE_PASSES: usize = 3;

/// Decide `∃ γ ∈ [0, α_max²]^m : A γ ≥ b` with safety margin `margin ≥ 0`
/// (module docs). `what` names the data in errors.
pub fn decide(
    a: &Array2<f64>,
    b: &Array1<f64>,
    margin: f64,
    alpha_max: f64,
    what: &str,
) -> Result<Decision> {
    if !(alpha_max > 0.0 && alpha_max.is_finite()) {
        return Err(Error::InvalidParameter {
            name: "alpha_max",
            value: alpha_max,
            expected: "a finite bound > 0 on the hidden scales",
        });
    }
    if a.nrows() != b.len() {
        return Err(Error::DimensionMismatch {
            context: "feasibility LP (rows of A vs entries of b)",
            expected: a.nrows(),
            got: b.len(),
        });
    }
    if let Some(((r, c), _)) = a.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "{what}: constraint matrix entry ({r}, {c})"
        )));
    }
    if let Some((r, _)) = b.iter().enumerate().find(|(_, v)| !v.is_finite()) {
        return Err(Error::NonFinite(format!(
            "{what}: right-hand side entry {r}"
        )));
    }
    let (rows, m) = a.dim();
    if rows == 0 {
        return Ok(Decision {
            gamma: Array1::zeros(m),
            shortfall: 0.0,
            verdict: Verdict::Feasible,
        });
    }
    let cap = alpha_max * alpha_max;
    let lp = ScaledLp::new(a, what);
    let sol = lp.solve(b, margin, Phase::LeastShortfall, None)?;
    let status = sol.status;
    if !matches!(status, SolverStatus::Solved | SolverStatus::AlmostSolved) {
        return Ok(Decision {
            gamma: Array1::zeros(m),
            shortfall: f64::INFINITY,
            verdict: Verdict::Undecided {
                status: format!("{status:?}"),
                certificate: None,
            },
        });
    }
    let shortfall = crate::finite::nan_max(sol.x[lp.live.len()], 0.0);
    let mut gamma = lp.gamma(&sol.x);
    // The interior point's own accuracy on s*: a shortfall within it is none.
    let slack = 1e-9 * (1.0 + crate::finite::max_abs(b));
    if shortfall <= margin + slack && gamma.iter().any(|&g| g > cap) {
        // The optimal face of the least-shortfall LP is unbounded in γ, and an
        // interior point may return a large γ on it: ask for the least Σ γ̂
        // that keeps half the margin left.
        let keep = 0.5 * (margin - shortfall).max(0.0);
        let second = lp.solve(b, keep, Phase::LeastScale, None)?;
        if matches!(
            second.status,
            SolverStatus::Solved | SolverStatus::AlmostSolved
        ) {
            gamma = lp.gamma(&second.x);
        }
    }
    let verdict = if shortfall <= margin + slack {
        let top = gamma.iter().copied().fold(0.0f64, crate::finite::nan_max);
        if top <= cap {
            Verdict::Feasible
        } else {
            Verdict::Undecided {
                status: format!(
                    "feasible, but only with a scale variable of {top:.3e}, above its bound {cap:.1e}"
                ),
                certificate: None,
            }
        }
    } else {
        let raw = Array1::from_iter(sol.z[..a.nrows()].iter().copied());
        let mut cert = strongest_certificate(a, b, raw, alpha_max);
        if !cert.is_certified() {
            if let Some(better) = support_certificate(a, b, &cert.y, margin, alpha_max, what)? {
                if better.alpha_cert > cert.alpha_cert {
                    cert = better;
                }
            }
        }
        // The independent check, not the solver's status, decides.
        if cert.is_certified() {
            Verdict::Infeasible(cert)
        } else {
            Verdict::Undecided {
                status: format!(
                    "{status:?}: the certificate proves the no only for α_max < {:.3e}, not {alpha_max:.1e}",
                    cert.alpha_cert
                ),
                certificate: Some(cert),
            }
        }
    };
    Ok(Decision {
        gamma,
        shortfall,
        verdict,
    })
}

/// `argmin { cᵀγ : A γ ≥ b + μ 1, γ ≥ 0 }` for a cost `c ≥ 0` (one entry
/// per column of `A`), or `None` when the solver does not report it solved
/// (an infeasible system included: decide that first with [`decide`]). The
/// returned `γ` is the solver's, not re-checked here; its caller verifies
/// what it builds from it.
pub fn least_cost(
    a: &Array2<f64>,
    b: &Array1<f64>,
    margin: f64,
    cost: &Array1<f64>,
    what: &str,
) -> Result<Option<Array1<f64>>> {
    if cost.len() != a.ncols() {
        return Err(Error::DimensionMismatch {
            context: "least-cost LP (cost entries vs columns of A)",
            expected: a.ncols(),
            got: cost.len(),
        });
    }
    if let Some((j, _)) = cost
        .iter()
        .enumerate()
        .find(|(_, v)| !(v.is_finite() && **v >= 0.0))
    {
        return Err(Error::NonFinite(format!(
            "{what}: cost entry {j} is not finite and ≥ 0"
        )));
    }
    let lp = ScaledLp::new(a, what);
    let sol = lp.solve(b, margin, Phase::LeastScale, Some(cost))?;
    Ok(matches!(
        sol.status,
        SolverStatus::Solved | SolverStatus::AlmostSolved
    )
    .then(|| lp.gamma(&sol.x)))
}

/// Which LP [`ScaledLp::solve`] sets up over `x = (γ̂_live, s)`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// `min s` s.t. `Â γ̂ + s 1 ≥ b + μ 1`, `γ̂, s ≥ 0`.
    LeastShortfall,
    /// `min 1ᵀγ̂` s.t. `Â γ̂ ≥ b + μ 1`, `γ̂ ≥ 0` (`s` fixed at 0), or
    /// `min cᵀγ` with a cost vector `c ≥ 0` ([`least_cost`]).
    LeastScale,
}

/// `A` with its nonzero columns scaled to unit norm, `Â = A[:, live] / ‖a_j‖`.
struct ScaledLp<'a> {
    a: &'a Array2<f64>,
    norms: Vec<f64>,
    live: Vec<usize>,
    what: &'a str,
}

impl<'a> ScaledLp<'a> {
    /// Column scaling `γ̂_j = ‖a_j‖ γ_j`; all-zero columns cannot help and
    /// are dropped.
    fn new(a: &'a Array2<f64>, what: &'a str) -> Self {
        let norms: Vec<f64> = a.axis_iter(Axis(1)).map(|c| c.dot(&c).sqrt()).collect();
        let live = (0..a.ncols()).filter(|&j| norms[j] > 0.0).collect();
        Self {
            a,
            norms,
            live,
            what,
        }
    }

    /// `γ_j = γ̂_j / ‖a_j‖` on the live columns (negative rounding clipped to
    /// 0, NaN kept), 0 elsewhere.
    fn gamma(&self, x: &[f64]) -> Array1<f64> {
        let mut gamma = Array1::<f64>::zeros(self.a.ncols());
        for (col, &j) in self.live.iter().enumerate() {
            gamma[j] = crate::finite::nan_max(x[col], 0.0) / self.norms[j];
        }
        gamma
    }

    /// Clarabel's form: `min qᵀx` s.t. `Ã x + σ = b̃`, `σ ≥ 0`, with rows
    /// `−Â γ̂ − s ≤ −(b + μ)`, `−γ̂ ≤ 0`, `−s ≤ 0` (and `s ≤ 0` for
    /// [`Phase::LeastScale`]). The box enters the certificate check and the
    /// acceptance of `γ` only: as rows `γ̂_j ≤ ‖a_j‖ Γ` (`Γ ~ 10¹⁴`) it would
    /// wreck the interior point's scaling.
    fn solve(
        &self,
        b: &Array1<f64>,
        margin: f64,
        phase: Phase,
        cost: Option<&Array1<f64>>,
    ) -> Result<clarabel::solver::DefaultSolution<f64>> {
        let rows = self.a.nrows();
        let n = self.live.len() + 1;
        let fix_s = usize::from(phase == Phase::LeastScale);
        let total_rows = rows + n + fix_s;
        let mut colptr = Vec::with_capacity(n + 1);
        let mut rowval = Vec::new();
        let mut nzval = Vec::new();
        colptr.push(0);
        for (col, &j) in self.live.iter().enumerate() {
            for r in 0..rows {
                let v = self.a[[r, j]];
                if v != 0.0 {
                    rowval.push(r);
                    nzval.push(-v / self.norms[j]);
                }
            }
            rowval.push(rows + col);
            nzval.push(-1.0);
            colptr.push(rowval.len());
        }
        for r in 0..rows {
            rowval.push(r);
            nzval.push(-1.0);
        }
        rowval.push(rows + n - 1);
        nzval.push(-1.0);
        if fix_s == 1 {
            rowval.push(rows + n);
            nzval.push(1.0);
        }
        colptr.push(rowval.len());
        let a_tilde = CscMatrix::new(total_rows, n, colptr, rowval, nzval);
        let mut b_tilde: Vec<f64> = b.iter().map(|&v| -(v + margin)).collect();
        b_tilde.extend(std::iter::repeat_n(0.0, n + fix_s));
        let q: Vec<f64> = match phase {
            Phase::LeastShortfall => (0..n).map(|c| f64::from(u8::from(c == n - 1))).collect(),
            Phase::LeastScale => match cost {
                // c_j γ_j = (c_j / ‖a_j‖) γ̂_j.
                Some(c) => self
                    .live
                    .iter()
                    .map(|&j| c[j] / self.norms[j])
                    .chain(std::iter::once(0.0))
                    .collect(),
                None => (0..n).map(|c| f64::from(u8::from(c < n - 1))).collect(),
            },
        };
        let p = CscMatrix::<f64>::zeros((n, n));
        let settings = DefaultSettingsBuilder::default()
            .verbose(false)
            .max_iter(200)
            .tol_gap_abs(1e-13)
            .tol_gap_rel(1e-13)
            .tol_feas(1e-13)
            .direct_solve_method(KKT_FACTORISATION.into())
            .max_threads(1)
            .build()
            .map_err(|e| Error::Solver(format!("{}: settings: {e}", self.what)))?;
        let cones = [NonnegativeConeT(total_rows)];
        let mut solver = DefaultSolver::new(&p, &q, &a_tilde, &b_tilde, &cones, settings)
            .map_err(|e| Error::Solver(format!("{}: {e:?}", self.what)))?;
        solver.solve();
        Ok(solver.solution)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn feasible_system_returns_a_gamma_that_satisfies_it() {
        let a = array![[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]];
        let b = array![1.0, 1.0, 3.0];
        let d = decide(&a, &b, 0.1, 1e7, "test").unwrap();
        assert!(matches!(d.verdict, Verdict::Feasible), "{d:?}");
        let (gamma, shortfall) = (d.gamma, d.shortfall);
        assert!(gamma.iter().all(|&g| g >= 0.0));
        let got = a.dot(&gamma);
        for r in 0..3 {
            assert!(
                got[r] >= b[r] + 0.1 - shortfall - 1e-8,
                "row {r}: {got} vs {b}"
            );
        }
    }

    #[test]
    fn infeasible_system_is_certified_and_the_certificate_is_a_farkas_vector() {
        // γ₁ ≥ 1 and −γ₁ ≥ −0.5 cannot both hold.
        let a = array![[1.0, 0.0], [-1.0, 0.0]];
        let b = array![1.0, -0.5];
        let Verdict::Infeasible(cert) = decide(&a, &b, 0.1, 1e7, "test").unwrap().verdict else {
            panic!("infeasible system not certified")
        };
        assert!(cert.gap > 0.0);
        let w = a.t().dot(&cert.y);
        assert!(w.iter().all(|&v| v <= 1e-12), "Aᵀy = {w}");
        assert!(cert.y.iter().all(|&v| v >= 0.0));
    }

    #[test]
    fn a_vector_that_is_not_a_certificate_is_rejected() {
        let a = array![[1.0, 0.0], [-1.0, 0.0]];
        let b = array![1.0, -0.5];
        // y = (1, 0): bᵀy = 1 > 0 but Aᵀy = (1, 0) is not ≤ 0.
        let cert = check_certificate(&a, &b, &array![1.0, 0.0], 1e7);
        assert!(!cert.is_certified());
        assert!(cert.alpha_cert < 2.0);
    }

    #[test]
    fn a_negative_requirement_needs_nothing() {
        // Rows only asking for γ-combinations ≥ negative numbers: γ = 0 works.
        let a = array![[0.0, 1.0], [0.0, -1.0]];
        let b = array![-1.0, -1.0];
        assert!(matches!(
            decide(&a, &b, 0.5, 1e7, "test").unwrap().verdict,
            Verdict::Feasible
        ));
    }

    #[test]
    fn an_all_zero_column_with_a_positive_need_is_infeasible() {
        let a = array![[0.0], [0.0]];
        let b = array![1.0, 0.0];
        assert!(matches!(
            decide(&a, &b, 0.5, 1e7, "test").unwrap().verdict,
            Verdict::Infeasible(_)
        ));
    }

    #[test]
    fn the_box_is_checked_for_a_yes_and_proves_a_no() {
        // γ ≥ 4 is feasible, but not within α ≤ 1 (γ ≤ 1).
        let a = array![[1.0]];
        let b = array![4.0];
        let open = decide(&a, &b, 0.0, 10.0, "test").unwrap();
        assert!(matches!(open.verdict, Verdict::Feasible), "{open:?}");
        // The LP's γ lies outside the box: not a "yes" for the box.
        let boxed = decide(&a, &b, 0.0, 1.0, "test").unwrap();
        assert!(
            matches!(&boxed.verdict, Verdict::Undecided { status, .. } if status.contains("above its bound")),
            "{boxed:?}"
        );
        // Its ray is offered to the construction's search, the γ ≥ 4 it
        // needs (to the interior point's accuracy); a yes and a no offer none.
        let (ray, status) = boxed.scales_beyond_box().expect("a ray beyond the box");
        assert!(status.contains("above its bound"), "{status}");
        assert!(ray[0] >= 4.0 * (1.0 - 1e-6), "{ray}");
        assert!(open.scales_beyond_box().is_none());
        let no = decide(&array![[0.0]], &array![1.0], 0.5, 1e7, "test").unwrap();
        assert!(no.scales_beyond_box().is_none(), "{no:?}");
        // y = 1 proves the box "no": bᵀy = 4 > Γ (Aᵀy)⁺ = 1, and no more
        // than α_max < 2 (Γ < 4).
        let cert = check_certificate(&a, &b, &array![1.0], 1.0);
        assert!(cert.is_certified());
        assert!(cert.alpha_cert > 1.99 && cert.alpha_cert < 2.0, "{cert:?}");
        assert!(!check_certificate(&a, &b, &array![1.0], 2.5).is_certified());
        assert!(decide(&a, &b, 0.0, f64::NAN, "test").is_err());
    }

    #[test]
    fn non_finite_data_is_an_error_naming_the_entry() {
        let a = array![[1.0, f64::NAN]];
        let err = decide(&a, &array![1.0], 0.0, 1e7, "unit test").unwrap_err();
        assert!(err.to_string().contains("(0, 1)"), "{err}");
        let err = decide(
            &array![[1.0]],
            &array![f64::INFINITY],
            0.0,
            1e7,
            "unit test",
        )
        .unwrap_err();
        assert!(err.to_string().contains("right-hand side"), "{err}");
    }
}
