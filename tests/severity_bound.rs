//! The certified severity bound (`attack::severity_bound`) against an
//! independent evaluation of `φ`, closed forms, and the real SGD step.

use hairtrigger::attack::severity::best_dormant_direction;
use hairtrigger::attack::severity_bound::{Budget, Relaxation};
use hairtrigger::experiments::report::Experiment;
use hairtrigger::experiments::scaling::certified::SeverityCertificate;
use hairtrigger::{Activation, Architecture, Mlp};
use ndarray::{Array1, Array2};
use proptest::prelude::*;

/// `φ(y) = η σ(y·ẑ_q) Σ_n (−Δr_n) σ(y·ẑ_n)`, written out directly.
fn phi(act: Activation, y: &[f64], z_d: &Array2<f64>, z_q: &[f64], dr: &[f64], eta: f64) -> f64 {
    let sigma = |a: f64| match act {
        Activation::Identity => a,
        Activation::Relu => a.max(0.0),
        Activation::LeakyRelu { slope } => {
            if a > 0.0 {
                a
            } else {
                slope * a
            }
        }
        _ => unreachable!(),
    };
    let d = z_q.len();
    let pre = |z: &[f64]| (0..d).map(|i| y[i] * z[i]).sum::<f64>() + y[d];
    let s: f64 = z_d
        .rows()
        .into_iter()
        .zip(dr)
        .map(|(z, &r)| -r * sigma(pre(z.as_slice().unwrap())))
        .sum();
    eta * sigma(pre(z_q)) * s
}

/// An Mlp whose only role is to carry the activation into the search.
fn carrier(act: Activation, d: usize) -> Mlp {
    let arch = Architecture::new(vec![2, d, 2], act, true).unwrap();
    Mlp::random(&arch, &mut hairtrigger::rng::seeded(0, 0))
}

fn act_of(k: usize) -> Activation {
    [
        Activation::Relu,
        Activation::LeakyRelu { slope: 0.1 },
        Activation::LeakyRelu { slope: 2.0 },
        Activation::Identity,
    ][k]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// The bound is above `φ` at every point of the box and the ball, and
    /// above what the search finds.
    #[test]
    fn the_bound_is_above_phi_everywhere(
        d in 2usize..6,
        n in 1usize..8,
        k in 0usize..4,
        data in prop::collection::vec(-2.0f64..2.0, 64),
        points in prop::collection::vec(-1.0f64..1.0, 7 * 40),
    ) {
        let act = act_of(k);
        let z_d = Array2::from_shape_fn((n, d), |(i, j)| data[i * d + j]);
        let z_q: Vec<f64> = (0..d).map(|j| data[40 + j]).collect();
        let dr: Vec<f64> = (0..n).map(|i| data[50 + i] * 0.3).collect();
        let eta = 0.1;
        let zq = Array2::from_shape_vec((1, d), z_q.clone()).unwrap();
        let dra = Array1::from(dr.clone());
        let relax = Relaxation::new(act, &z_d, &zq, &dra).unwrap();
        let (b_inf, b_2) = (relax.certified_bound(Budget::Linf, eta), relax.certified_bound(Budget::L2, eta));
        let slack = |b: f64| b * (1.0 + 1e-12) + 1e-15;
        for p in points.chunks(7).take(40) {
            let y: Vec<f64> = p[..=d].to_vec();
            prop_assert!(phi(act, &y, &z_d, &z_q, &dr, eta) <= slack(b_inf));
            // Vertices of the box too (φ's maximum over the box need not be at one).
            let v: Vec<f64> = y.iter().map(|x| x.signum()).collect();
            prop_assert!(phi(act, &v, &z_d, &z_q, &dr, eta) <= slack(b_inf));
            let norm = y.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
            let s: Vec<f64> = y.iter().map(|x| x / norm).collect();
            prop_assert!(phi(act, &s, &z_d, &z_q, &dr, eta) <= slack(b_2));
        }
        let net = carrier(act, d);
        for (budget, bound) in [(Budget::Linf, b_inf), (Budget::L2, b_2)] {
            let (u, b, found) = best_dormant_direction(&net, &z_d, &zq, &dra, eta, (budget, 16, 3));
            let mut y = u.to_vec();
            y.push(b);
            prop_assert!((phi(act, &y, &z_d, &z_q, &dr, eta) - found).abs() <= 1e-12 * found.abs().max(1.0));
            prop_assert!(found <= slack(bound));
        }
    }
}

/// One sample whose features are the query's, ReLU, `Δr = −c`: `φ = η c relu(y·ẑ)²`,
/// whose maximum is `η c ‖ẑ‖₁²` over the box and `η c ‖ẑ‖₂²` over the ball —
/// the bound and the search must both reach it.
#[test]
fn the_bound_and_the_search_are_exact_on_a_closed_form() {
    let z = [0.5, -1.25, 2.0];
    let c = 0.7;
    let eta = 1e-3;
    let z_d = Array2::from_shape_vec((1, 3), z.to_vec()).unwrap();
    let dr = Array1::from(vec![-c]);
    let relax = Relaxation::new(Activation::Relu, &z_d, &z_d, &dr).unwrap();
    let l1 = z.iter().map(|v: &f64| v.abs()).sum::<f64>() + 1.0;
    let l2 = z.iter().map(|v| v * v).sum::<f64>() + 1.0;
    let (want_inf, want_2) = (eta * c * l1 * l1, eta * c * l2);
    let net = carrier(Activation::Relu, 3);
    for (budget, want) in [(Budget::Linf, want_inf), (Budget::L2, want_2)] {
        let bound = relax.certified_bound(budget, eta);
        assert!(
            (bound - want).abs() <= 1e-12 * want,
            "{budget:?}: bound {bound} vs {want}"
        );
        let (_, _, found) = best_dormant_direction(&net, &z_d, &z_d, &dr, eta, (budget, 8, 1));
        assert!(
            (found - want).abs() <= 1e-9 * want,
            "{budget:?}: found {found} vs {want}"
        );
    }
}

#[test]
fn the_bound_refuses_bounded_activations_and_bad_shapes() {
    let z = Array2::from_shape_vec((2, 2), vec![1.0, 0.0, 0.0, 1.0]).unwrap();
    let q = Array2::from_shape_vec((1, 2), vec![1.0, 1.0]).unwrap();
    let dr = Array1::from(vec![0.1, -0.1]);
    let err = Relaxation::new(Activation::Tanh, &z, &q, &dr).unwrap_err();
    assert!(err.to_string().contains("relu"), "{err}");
    let wide = Array2::from_shape_vec((1, 3), vec![1.0, 1.0, 1.0]).unwrap();
    assert!(Relaxation::new(Activation::Relu, &z, &wide, &dr).is_err());
    assert!(Relaxation::new(Activation::Relu, &z, &q, &Array1::from(vec![0.1])).is_err());
    let nan = Array1::from(vec![f64::NAN, 0.1]);
    assert!(Relaxation::new(Activation::Relu, &z, &q, &nan).is_err());
}

/// The stage on one seed: the real step never exceeds the certificate, and
/// every gap is finite and at least 1.
#[test]
fn the_certificate_stage_checks_the_bound_through_the_step() {
    let stage = SeverityCertificate {
        seeds: vec![3],
        rescale_factors: vec![1.0, 8.0, 16.0, 32.0],
        eta: 1e-4,
        units: 4,
        starts: 64,
    };
    let all = stage.run(&hairtrigger::progress::NoProgress).unwrap();
    let out = &all.certified;
    assert_eq!(out.len(), 3);
    for r in out {
        let b2 = r.bound * r.bound;
        for g in [
            r.gap_linf,
            r.gap_l2,
            r.worst_query_gap_linf,
            r.worst_query_gap_l2,
        ] {
            let g = g.expect("the search finds a positive severity on the benign set");
            assert!((1.0 - 1e-12..2.0).contains(&g), "{r:?}");
        }
        assert!(r.worst_query_gap_linf >= r.gap_linf && r.worst_query_gap_l2 >= r.gap_l2);
        assert!(r.measured_linf <= 4.0 * b2 * r.certified_linf * (1.0 + 1e-9));
        assert!((r.measured_linf - 4.0 * b2 * r.found_linf).abs() <= 1e-6 * r.measured_linf.abs());
        assert!((r.measured_l2 - r.measured_l2_one_unit).abs() <= 1e-9 * r.measured_l2.abs());
    }
    // The rescaling family: within the bound, additive, and its best twin
    // grows with B (the law is Θ(B²); the REPORT row checks the exponent).
    assert_eq!(all.rescaled.len(), 3 * 4);
    for r in &all.rescaled {
        assert!(r.max_abs_param <= r.bound * (1.0 + 1e-12), "{r:?}");
        assert!(
            (r.measured - r.sum_of_unit_bests).abs() <= 1e-9 * r.measured.abs(),
            "{r:?}"
        );
        assert!(r.measured >= 0.0, "{r:?}");
    }
    for base in ["ReLU, 16-32-32-4", "leaky ReLU 0.1, 16-32-32-4"] {
        let s: Vec<f64> = all
            .rescaled
            .iter()
            .filter(|r| r.base == base)
            .map(|r| r.measured)
            .collect();
        assert!(s.windows(2).all(|w| w[1] > w[0]), "{base}: {s:?}");
    }
    let rows = stage.claims(&all);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|r| r.value.is_finite()));
}
