//! Property tests of the construction's LP (`attack::feasibility`): systems
//! made feasible by construction are found feasible with a `γ` that satisfies
//! them; systems made infeasible by construction are certified, and the
//! certificate is checked here again by plain arithmetic (`y ≥ 0` and
//! `Γ Σ_j (Aᵀy)_j⁺ < bᵀy` for the box `γ ≤ Γ = 10¹⁴`); and no verdict ever
//! contradicts a witness.

use hairtrigger::attack::feasibility::{check_certificate, decide, Verdict};
use ndarray::{Array1, Array2};
use proptest::prelude::*;

mod common;
use common::matrix;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// `b = A γ₀ − slack` with `γ₀ ≥ 0`: feasible, and the returned `γ` meets
    /// every row at the threshold.
    #[test]
    fn planted_solution_is_found(rows in 1usize..40, cols in 1usize..20, seed in any::<u64>(), scale in -6.0f64..2.0) {
        let a = matrix(rows, cols, seed) * 10f64.powf(scale);
        // γ₀ ≤ 5 · 10⁶ ≪ Γ = 10¹⁴: inside the box.
        let g0 = matrix(cols, 1, seed ^ 0x9e37).column(0).mapv(f64::abs) * 5.0 * 10f64.powf(-scale);
        let b = a.dot(&g0) - 0.1;
        let d = decide(&a, &b, 0.05, 1e7, "proptest").unwrap();
        prop_assert!(matches!(d.verdict, Verdict::Feasible), "{:?}", d.verdict);
        prop_assert!(d.gamma.iter().all(|&v| v >= 0.0));
        let got = a.dot(&d.gamma);
        for r in 0..rows {
            let tol = 1e-7 * (1.0 + b[r].abs());
            prop_assert!(got[r] >= b[r] - tol, "row {}: {} < {}", r, got[r], b[r]);
        }
    }

    /// A row `a` and its negation `−a` with `b = (1, 0.5)`: `aγ ≥ 1` and
    /// `aγ ≤ −0.5` contradict, whatever the other rows say.
    #[test]
    fn planted_contradiction_is_certified(rows in 0usize..30, cols in 1usize..20, seed in any::<u64>()) {
        let extra = matrix(rows, cols, seed);
        let row = matrix(1, cols, seed ^ 0x51);
        let mut a = Array2::zeros((rows + 2, cols));
        a.slice_mut(ndarray::s![..rows, ..]).assign(&extra);
        a.row_mut(rows).assign(&row.row(0));
        a.row_mut(rows + 1).assign(&(-&row.row(0)));
        let mut b = Array1::from_elem(rows + 2, -1e3);
        b[rows] = 1.0;
        b[rows + 1] = 0.5;
        let d = decide(&a, &b, 0.1, 1e7, "proptest").unwrap();
        let Verdict::Infeasible(cert) = d.verdict else {
            return Err(TestCaseError::fail(format!("not certified: {:?}", d.verdict)));
        };
        prop_assert!(cert.y.iter().all(|&v| v >= 0.0));
        prop_assert!(b.dot(&cert.y) > 0.0);
        // The box argument, redone by hand: Γ Σ_j (Aᵀy)_j⁺ < bᵀy.
        let aty = a.t().dot(&cert.y);
        let positive: f64 = aty.iter().map(|&v| v.max(0.0)).sum();
        prop_assert!(1e14 * positive < b.dot(&cert.y), "Aᵀy = {}, bᵀy = {}", aty, b.dot(&cert.y));
        // The checker agrees with itself on the returned vector.
        let again = check_certificate(&a, &b, &cert.y, 1e7);
        prop_assert!(again.is_certified());
    }

    /// Random systems: a "feasible" verdict comes with a `γ` meeting the rows,
    /// an "infeasible" one with a vector that is a certificate, and the two
    /// never both exist (a certificate `y` and a witness `γ` would give
    /// `0 ≥ yᵀAγ ≥ yᵀb > 0`).
    #[test]
    fn verdicts_never_contradict_their_witnesses(rows in 1usize..30, cols in 1usize..12, seed in any::<u64>(), shift in -2.0f64..2.0) {
        let a = matrix(rows, cols, seed);
        let b = matrix(rows, 1, seed ^ 0xabc).column(0).to_owned() + shift;
        let d = decide(&a, &b, 0.05, 1e7, "proptest").unwrap();
        match d.verdict {
            Verdict::Feasible => {
                let got = a.dot(&d.gamma);
                for r in 0..rows {
                    prop_assert!(got[r] >= b[r] - 1e-7 * (1.0 + b[r].abs()));
                }
                prop_assert!(d.shortfall <= 0.05);
            }
            Verdict::Infeasible(cert) => {
                // Evaluated in about twice f64's precision (a plain dot's
                // rounding, ~1e-17 on columns whose true value is ~0, is larger
                // than what the certificate may leave: 1e-14 of `bᵀy`).
                let positive: f64 = (0..cols)
                    .map(|j| accurate_dot(a.column(j), cert.y.view()).max(0.0))
                    .sum();
                prop_assert!(1e14 * positive < accurate_dot(b.view(), cert.y.view()));
                prop_assert!(d.shortfall > 0.05);
            }
            Verdict::Undecided { .. } => {}
        }
    }
}

/// The proptest above accepts "undecided"; this keeps it from passing
/// vacuously: on 200 fixed random systems of its kind both verdicts occur and
/// at most 2% are undecided. When this test was written: 104 feasible, 95
/// certified infeasible, 1 undecided (seed 68, an infeasible system whose
/// checked certificate proves the "no" only up to α ≤ 9.1·10⁶, short of the
/// box 10⁷: a near-tight case, reported as undecided rather than trusted).
#[test]
fn random_systems_are_decided() {
    let (mut feasible, mut infeasible, mut undecided) = (0, 0, 0);
    for seed in 0..200u64 {
        let rows = 1 + (seed as usize * 7) % 29;
        let cols = 1 + (seed as usize * 5) % 11;
        let a = matrix(rows, cols, seed);
        let shift = (seed % 9) as f64 / 2.0 - 2.0;
        let b = matrix(rows, 1, seed ^ 0xabc).column(0).to_owned() + shift;
        match decide(&a, &b, 0.05, 1e7, "fixed").unwrap().verdict {
            Verdict::Feasible => feasible += 1,
            Verdict::Infeasible(_) => infeasible += 1,
            Verdict::Undecided { .. } => undecided += 1,
        }
    }
    assert!(
        undecided <= 4,
        "{undecided} undecided ({feasible} feasible, {infeasible} infeasible)"
    );
    assert!(feasible > 0 && infeasible > 0, "{feasible} / {infeasible}");
}

/// `x·y` by Ogita–Rump–Oishi's Dot2 (error-free two-product by FMA and
/// two-sum), as accurate as a dot product in twice f64's precision: the
/// test's own implementation, independent of the crate's.
fn accurate_dot(x: ndarray::ArrayView1<f64>, y: ndarray::ArrayView1<f64>) -> f64 {
    let (mut s, mut c) = (0.0f64, 0.0f64);
    for (&xi, &yi) in x.iter().zip(y.iter()) {
        let p = xi * yi;
        let p_err = xi.mul_add(yi, -p);
        let t = s + p;
        let z = t - s;
        let s_err = (s - (t - z)) + (p - z);
        s = t;
        c += p_err + s_err;
    }
    s + c
}
