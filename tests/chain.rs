//! The scalar chain (`paper-notes/reparameterizations.md`, §1): one SGD step on `f(x) = w2 w1 x` simulated with the
//! general network code against the closed form
//! `w1⁺w2⁺ = w1w2 − η g x (w1² + w2²) + η² g² x² w1w2`.

use hairtrigger::experiments::chain::run_chain;
use hairtrigger::reparam::scalar_chain_post_step;

#[test]
fn simulated_step_matches_closed_form_for_c_from_1e_minus_2_to_1e2() {
    for i in 0..=80 {
        let c = 10f64.powf(-2.0 + 4.0 * i as f64 / 80.0);
        for &(eta, x, y) in &[(1e-4, 1.0, 0.0), (1e-2, -0.7, 2.5), (1e-6, 3.0, -1.0)] {
            let r = run_chain(c, eta, x, y).unwrap();
            assert!(
                r.rel_diff <= 1e-12,
                "c={c} eta={eta} x={x} y={y}: {:e}",
                r.rel_diff
            );
        }
    }
}

#[test]
fn closed_form_at_c_equals_one_is_the_plain_step() {
    // (1, 1): g = x − y, w1⁺ = w2⁺ = 1 − η g x.
    let (eta, x, y) = (0.01, 2.0, 0.5);
    let s = scalar_chain_post_step(1.0, 1.0, x, y, eta).unwrap();
    let w = 1.0 - eta * (x - y) * x;
    assert!((s.product_after - w * w).abs() < 1e-15);
}

#[test]
fn effect_of_one_step_grows_like_c_squared() {
    // |Δ(w1w2)| = η g x (c² + c⁻²) − η² g² x²: unbounded in c at fixed function.
    let eta = 1e-4;
    let d = |c: f64| (run_chain(c, eta, 1.0, 0.0).unwrap().simulated - 1.0).abs();
    for c in [2.0, 5.0, 10.0, 50.0] {
        let predicted = eta * (c * c + 1.0 / (c * c)) - eta * eta;
        assert!(
            (d(c) - predicted).abs() <= 1e-12 * (1.0 + predicted),
            "c={c}"
        );
    }
    assert!(d(50.0) > 1000.0 * d(1.0));
}
