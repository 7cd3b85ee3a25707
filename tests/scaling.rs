//! C3: fits against textbook values, the breadth bounds, the constructive lower
//! bound checked by running the step, and the severity law.

use hairtrigger::attack::Solver;
use hairtrigger::experiments::breadth::{
    ln_max_cells, sign_pattern_upper_bound, BreadthConfig, BreadthSetup, Outcome,
};
use hairtrigger::experiments::severity::{run_severity, SeverityConfig};
use hairtrigger::stats::{fit_line, fit_power_law};
use hairtrigger::Error;

#[test]
fn line_fit_matches_a_hand_computed_example() {
    // x̄ = 3, ȳ = 4, S_xx = 10, S_xy = 6: b = 0.6, a = 2.2, SS_res = 2.4,
    // SS_tot = 6 → R² = 0.6; s² = 0.8, se(b) = √0.08; t_{0.975,3} = 3.182446305284263.
    let f = fit_line(&[1.0, 2.0, 3.0, 4.0, 5.0], &[2.0, 4.0, 5.0, 4.0, 5.0]).unwrap();
    assert!((f.slope - 0.6).abs() < 1e-12);
    assert!((f.intercept - 2.2).abs() < 1e-12);
    assert!((f.r_squared.unwrap() - 0.6).abs() < 1e-12);
    let half = 3.182446305284263 * 0.08f64.sqrt();
    assert!((f.slope_ci95.0 - (0.6 - half)).abs() < 1e-9);
    assert!((f.slope_ci95.1 - (0.6 + half)).abs() < 1e-9);
    let se_a = (0.8f64 * (1.0 / 5.0 + 9.0 / 10.0)).sqrt();
    assert!((f.intercept_se - se_a).abs() < 1e-12);
}

#[test]
fn power_law_fit_recovers_the_exponent() {
    let x: Vec<f64> = (1..=8).map(|i| f64::from(i) * 1.7).collect();
    let y: Vec<f64> = x.iter().map(|v| 3.0 * v.powf(1.5)).collect();
    let f = fit_power_law(&x, &y).unwrap();
    assert!((f.slope - 1.5).abs() < 1e-12);
    assert!((f.intercept - 3f64.ln()).abs() < 1e-12);
    assert!((f.r_squared.unwrap() - 1.0).abs() < 1e-12);
}

#[test]
fn fits_reject_bad_input() {
    assert!(matches!(
        fit_line(&[1.0, 2.0], &[1.0, 2.0]),
        Err(Error::EmptyData(_))
    ));
    assert!(matches!(
        fit_line(&[1.0, 2.0, 3.0], &[1.0, 2.0]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        fit_line(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]),
        Err(Error::EmptyData(_))
    ));
    assert!(matches!(
        fit_line(&[1.0, f64::NAN, 3.0], &[1.0, 2.0, 3.0]),
        Err(Error::NonFinite(_))
    ));
    assert!(fit_power_law(&[1.0, 0.0, 2.0], &[1.0, 2.0, 3.0]).is_err());
}

#[test]
fn cell_count_matches_the_binomial_sum() {
    // Σ_{i ≤ 3} C(10, i) = 1 + 10 + 45 + 120.
    assert!((ln_max_cells(10, 3) - 176f64.ln()).abs() < 1e-12);
    // m ≥ p: all 2^p sign patterns.
    assert!((ln_max_cells(7, 9) - 128f64.ln()).abs() < 1e-12);
}

/// `ln C(K)` of the sign-pattern bound with `v` parameters of degree `d`.
fn ln_pattern_count(m: usize, kk: usize, v: usize, degree: f64) -> f64 {
    let (n_in, n, pairs) = (32, 32, 6.0);
    let v = v as f64;
    let p = kk as f64 * pairs;
    let w = if p >= v {
        v * (4.0 * degree * std::f64::consts::E * p / v).ln()
    } else {
        p * 2f64.ln()
    };
    m as f64 * (2f64.ln() + ln_max_cells(kk + n - 1, n_in)) + w
}

#[test]
fn upper_bound_is_the_first_k_satisfying_its_inequality() {
    let (n_in, n, k, delta) = (32, 32, 4, 0.01f64);
    // w_j = α_j (u_j, b_j): n_in + 1 parameters per unit, degree 2.
    let holds = |m: usize, kk: usize| {
        ln_pattern_count(m, kk, m * (n_in + 1), 2.0) <= delta.ln() + kk as f64 * 3f64.ln()
    };
    // The first version's count: (u_j, b_j, α_j), degree 4.
    let held_before = |m: usize, kk: usize| {
        ln_pattern_count(m, kk, m * (n_in + 2), 4.0) <= delta.ln() + kk as f64 * 3f64.ln()
    };
    let mut last = 0;
    for m in [1, 2, 5, 17, 60, 300] {
        let ub = sign_pattern_upper_bound(m, n_in, n, k, delta);
        assert!(
            holds(m, ub),
            "m = {m}: bound {ub} does not satisfy the inequality"
        );
        assert!(
            !holds(m, ub - 1),
            "m = {m}: {} already satisfies it",
            ub - 1
        );
        assert!(ub >= last, "not monotone in m");
        // Strictly tighter than the first version's (whose bound is the
        // first K where `held_before` holds), and still far above m.
        assert!(!held_before(m, ub), "m = {m}: not tighter at {ub}");
        assert!(ub > m);
        last = ub;
    }
}

/// The homogeneity behind the bound's parameter count: scaling a dormant
/// unit's incoming weights and bias by `α` scales its post-step term by `α²`
/// exactly (ReLU and leaky ReLU), checked by taking the step. So `α_j` is
/// not a parameter beside `(u_j, b_j)`, and the post-step logits are
/// quadratic in `w_j = α_j (u_j, b_j)` on each activation pattern.
#[test]
fn dormant_post_step_term_is_quadratic_in_the_units_scale() {
    use hairtrigger::net::{gaussian_inputs, random_update_set, Activation, Architecture, Mlp};
    use hairtrigger::reparam::add_dormant_units;
    use hairtrigger::rng::seeded;
    use hairtrigger::update::{one_step, StepConfig};
    for act in [Activation::Relu, Activation::LeakyRelu { slope: 0.1 }] {
        let mut rng = seeded(11, 0);
        let arch = Architecture::new(vec![6, 5, 3], act, true).unwrap();
        let base = Mlp::random(&arch, &mut rng);
        let data = random_update_set(&base, 12, &mut rng).unwrap();
        let probes = gaussian_inputs(&mut rng, 20, 6);
        let u = gaussian_inputs(&mut rng, 4, 6);
        let b = gaussian_inputs(&mut rng, 1, 4).row(0).to_owned();
        let step = StepConfig::sgd(1e-2).unwrap();
        let after_base = one_step(&base, &data, &step).unwrap().updated;
        let f0 = after_base.forward(probes.view()).unwrap();
        let term = |alpha: f64| {
            let twin = add_dormant_units(&base, 1, &(&u * alpha), &(&b * alpha)).unwrap();
            let after = one_step(&twin, &data, &step).unwrap().updated;
            after.forward(probes.view()).unwrap() - &f0
        };
        let (t1, t3) = (term(1.0), term(3.0));
        // `max_abs` propagates a NaN, which then fails both comparisons.
        let scale = hairtrigger::finite::max_abs(&t1);
        assert!(scale > 1e-6, "{act:?}: the dormant units moved nothing");
        let worst = hairtrigger::finite::max_abs(&(&t3 - &(&t1 * 9.0)));
        assert!(worst <= 1e-10 * 9.0 * scale.max(1.0), "{act:?}: {worst:e}");
    }
}

/// The first factor of the upper bound, independently: one ReLU unit
/// `σ(u·x + b)` on `p` points in general position in `ℝ^n` realises exactly
/// `2 Σ_{i≤n} C(p−1, i)` activation patterns (Cover 1965: the regions of a
/// central arrangement of `p` hyperplanes in `(u, b) ∈ ℝ^{n+1}`), which is
/// `2 · exp(ln_max_cells(p − 1, n))`. Counted here by sampling 400,000 random
/// `(u, b)` and collecting the distinct sign patterns: never more than the
/// formula, and (every region of these random points being hit) exactly it.
#[test]
fn unit_activation_patterns_match_covers_count() {
    use hairtrigger::net::gaussian_inputs;
    use hairtrigger::rng::seeded;
    use std::collections::HashSet;
    for (p, n) in [(7usize, 2usize), (9, 1), (5, 3)] {
        let x = gaussian_inputs(&mut seeded(5, p as u64), p, n);
        let ub = gaussian_inputs(&mut seeded(6, p as u64), 400_000, n + 1);
        let patterns: HashSet<u64> = ub
            .rows()
            .into_iter()
            .map(|w| {
                x.rows()
                    .into_iter()
                    .enumerate()
                    .fold(0u64, |bits, (i, xi)| {
                        let z: f64 = xi.dot(&w.slice(ndarray::s![..n])) + w[n];
                        bits | (u64::from(z > 0.0) << i)
                    })
            })
            .collect();
        let cover = 2.0 * ln_max_cells(p - 1, n).exp();
        assert_eq!(patterns.len() as f64, cover.round(), "p = {p}, n = {n}");
    }
}

/// The constructive lower bound is a theorem: the construction must hit all
/// `K_lb` targets, checked by running the step (inside `attempt`).
#[test]
fn lower_bound_targets_are_hit_by_the_actual_step() {
    let setup = BreadthSetup::new(BreadthConfig::standard(64).unwrap()).unwrap();
    for (m, seed) in [(4, 0), (9, 1), (16, 2)] {
        let all = setup.targets(seed).unwrap();
        let lb = setup.lower_bound(&all, m).unwrap();
        assert!(lb >= 1 && lb <= m, "m = {m}: lower bound {lb}");
        let (hit, outcome) = setup.attempt(&all, lb, m, seed).unwrap();
        assert_eq!(hit, lb, "m = {m}, seed {seed}: {hit} of {lb} targets");
        assert_eq!(outcome, Outcome::Reached);
    }
}

/// The two solvers answer the same question, one with proofs: a `K` the
/// projected-gradient solver reaches (verified by the step) can never be
/// certified infeasible by the LP, and every `K` the LP reaches is verified by
/// the step too. On these points every first failure of the LP is certified.
#[test]
fn lp_certificates_never_contradict_a_found_twin() {
    let lp = BreadthSetup::new(BreadthConfig::standard(160).unwrap()).unwrap();
    let hinge = BreadthSetup::new(
        BreadthConfig::standard(160)
            .unwrap()
            .with_lp_solver(Solver::Hinge),
    )
    .unwrap();
    for (m, seed) in [(5, 0), (13, 1), (30, 2)] {
        let all = lp.targets(seed).unwrap();
        let p = lp.search(m, seed).unwrap();
        assert!(p.k_star_certified, "m = {m}, seed {seed}: {p:?}");
        assert_eq!(p.undecided, 0);
        let q = hinge.search(m, seed).unwrap();
        assert!(
            q.k_star <= p.k_star,
            "hinge found K = {} > LP's {}",
            q.k_star,
            p.k_star
        );
        for t in &q.tries {
            if t.success {
                let (hit, outcome) = lp.attempt(&all, t.k, m, seed).unwrap();
                assert_ne!(
                    outcome,
                    Outcome::Infeasible,
                    "m = {m}: K = {} reached by hinge",
                    t.k
                );
                assert_eq!(hit, t.k);
            }
        }
    }
}

#[test]
fn breadth_search_is_deterministic_and_within_bounds() {
    let setup = BreadthSetup::new(BreadthConfig::standard(64).unwrap()).unwrap();
    let a = setup.search(8, 3).unwrap();
    let b = setup.search(8, 3).unwrap();
    assert_eq!(a.k_star, b.k_star);
    assert_eq!(a.attempts, b.attempts);
    assert!(a.k_lower <= a.k_star && a.k_star <= a.k_upper);
    // Every success recorded by the search is at most K*, every failure above it.
    for t in &a.tries {
        assert_eq!(t.success, t.k <= a.k_star, "try {t:?} vs K* = {}", a.k_star);
    }
}

#[test]
fn severity_follows_m_b_squared_through_the_actual_step() {
    let cfg = SeverityConfig::new(1, 1e-4, 32, vec![1, 3, 10], vec![1.0, 2.5, 7.0], 5).unwrap();
    let records = run_severity(&cfg).unwrap();
    assert_eq!(records.len(), 6);
    for r in &records {
        assert!(r.measured > 0.0, "{r:?}");
        assert!(r.rel_error <= 1e-9, "{r:?}");
        assert!(r.twin_max_abs_param <= r.bound, "{r:?}");
        assert_eq!(r.forward_max_diff, 0.0, "twin differs from the base: {r:?}");
    }
    // The law itself, from the measured values alone: S(3 m) = 3 S(m), S(2.5 B) = 6.25 S(B).
    let w: Vec<f64> = records
        .iter()
        .filter(|r| r.sweep == hairtrigger::experiments::severity::SeverityAxis::Width)
        .map(|r| r.measured)
        .collect();
    assert!((w[1] / w[0] - 3.0).abs() < 1e-9);
    let b: Vec<f64> = records
        .iter()
        .filter(|r| r.sweep == hairtrigger::experiments::severity::SeverityAxis::Bound)
        .map(|r| r.measured)
        .collect();
    assert!((b[1] / b[0] - 6.25).abs() < 1e-9);
}

#[test]
fn severity_rejects_inadmissible_bounds_and_widths() {
    assert!(SeverityConfig::new(0, 1e-4, 32, vec![1], vec![0.5], 1).is_err());
    assert!(SeverityConfig::new(0, 1e-4, 32, vec![0], vec![1.0], 1).is_err());
    assert!(SeverityConfig::new(0, -1e-4, 32, vec![1], vec![1.0], 1).is_err());
    assert!(SeverityConfig::new(0, 1e-4, 0, vec![1], vec![1.0], 1).is_err());
}

/// The sweep across input dimensions: its `n_in = 32` points are the main
/// sweep's points (same base, same queries), every `K*` is certified, its
/// rows are finite, and bad settings are refused.
#[test]
fn breadth_across_input_dimensions_reuses_the_breadth_point() {
    use hairtrigger::experiments::report::Experiment;
    use hairtrigger::experiments::scaling::dims::{run_dims, BreadthDims};
    let cfg = BreadthDims::new(vec![8, 32], vec![3, 5, 9], vec![0]).unwrap();
    let r = run_dims(&cfg, &hairtrigger::progress::NoProgress).unwrap();
    assert_eq!(r.points.len(), 6);
    assert!(
        r.points.iter().all(|p| p.k_star_certified),
        "{:?}",
        r.points
    );
    let main = BreadthSetup::new(BreadthConfig::standard(4 * 9 + 64).unwrap()).unwrap();
    for p in r.points.iter().filter(|p| p.input_dim == 32) {
        assert_eq!(p.k_star, main.search(p.redundant, p.seed).unwrap().k_star);
        assert_eq!(p.extra_params, p.redundant * (32 + 1 + 4));
    }
    let rows = cfg.claims(&r);
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|row| row.value.is_finite()), "{rows:?}");
    assert!(BreadthDims::new(vec![8], vec![3, 5, 9], vec![0]).is_err());
    assert!(BreadthDims::new(vec![8, 32], vec![3, 5], vec![0]).is_err());
    assert!(BreadthDims::new(vec![0, 32], vec![3, 5, 9], vec![0]).is_err());
}

/// The sweep across numbers of classes: its `k = 4` points are the main
/// sweep's points, a `k = 8` point counts its outgoing weights in `P`, every
/// `K*` is certified, and bad class counts are refused.
#[test]
fn breadth_across_classes_reuses_the_breadth_point() {
    use hairtrigger::experiments::report::Experiment;
    use hairtrigger::experiments::scaling::dims::{run_dims, BreadthDims};
    let cfg = BreadthDims::across_classes(32, vec![4, 8], vec![3, 5, 9], vec![0]).unwrap();
    let r = run_dims(&cfg, &hairtrigger::progress::NoProgress).unwrap();
    assert_eq!(r.points.len(), 6);
    assert!(r
        .points
        .iter()
        .all(|p| p.k_star_certified && p.input_dim == 32));
    let main = BreadthSetup::new(BreadthConfig::standard(4 * 9 + 64).unwrap()).unwrap();
    for p in &r.points {
        assert_eq!(p.extra_params, p.redundant * (32 + 1 + p.classes));
        if p.classes == 4 {
            assert_eq!(p.k_star, main.search(p.redundant, p.seed).unwrap().k_star);
        }
    }
    let rows = cfg.claims(&r);
    assert_eq!(rows.len(), 3);
    assert!(
        rows[0].measured.contains("k ∈ {4, 8} (n_in = 32)"),
        "{rows:?}"
    );
    assert!(rows.iter().all(|row| row.value.is_finite()), "{rows:?}");
    assert!(BreadthDims::across_classes(32, vec![2, 4], vec![3, 5, 9], vec![0]).is_err());
    assert!(BreadthDims::across_classes(32, vec![4], vec![3, 5, 9], vec![0]).is_err());
    assert!(BreadthDims::across_classes(0, vec![3, 4], vec![3, 5, 9], vec![0]).is_err());
}
