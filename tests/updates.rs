//! One-step update rules and determinism.

mod common;

use common::{net_and_data, rel_err};
use hairtrigger::net::{gradient, gradient_into};
use hairtrigger::update::{one_step, step_in_place, StepConfig, UpdateRule};
use hairtrigger::Activation;

#[test]
fn sgd_step_is_minus_eta_gradient() {
    let (net, data) = net_and_data(&[5, 9, 3], Activation::Gelu, true, 1, 12);
    let (_, g) = gradient(&net, &data).unwrap();
    let step = one_step(&net, &data, &StepConfig::sgd(0.05).unwrap()).unwrap();
    assert_eq!(step.delta, g.map(|v| -0.05 * v));
    let mut expect = net.clone();
    expect.axpy(-0.05, &g).unwrap();
    assert_eq!(step.updated, expect);
}

#[test]
fn adam_first_step_is_minus_eta_sign_up_to_eps() {
    let (net, data) = net_and_data(&[5, 9, 3], Activation::Tanh, true, 2, 12);
    let (_, g) = gradient(&net, &data).unwrap();
    let cfg = StepConfig::new(1e-3, UpdateRule::adam_default()).unwrap();
    let step = one_step(&net, &data, &cfg).unwrap();
    for (d, gv) in step.delta.to_flat().iter().zip(g.to_flat().iter()) {
        // Δ = −η g / (|g| + ε): equal to −η sign(g) up to a factor |g|/(|g|+ε).
        let want = -1e-3 * gv / (gv.abs() + 1e-8);
        assert!(
            (d - want).abs() <= 1e-18 + 1e-15 * want.abs(),
            "{d} vs {want}"
        );
        if gv.abs() > 1e-4 {
            assert!((d + 1e-3 * gv.signum()).abs() <= 1e-3 * 1e-4);
        }
    }
    // The step's size does not depend on the gradient's scale, unlike SGD.
    let sgd = one_step(&net, &data, &StepConfig::sgd(1e-3).unwrap()).unwrap();
    assert!(rel_err(&sgd.delta, &step.delta) > 0.5);
}

#[test]
fn one_and_two_threads_give_bit_identical_results() {
    // Large enough that the parallel GEMM and elementwise paths are taken.
    let (net, data) = net_and_data(&[64, 512, 512, 10], Activation::Relu, true, 3, 256);
    let run = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let f = net.forward(data.x().view()).unwrap();
                let step = one_step(&net, &data, &StepConfig::sgd(1e-4).unwrap()).unwrap();
                (f, step.updated)
            })
    };
    let (f1, p1) = run(1);
    let (f2, p2) = run(2);
    assert!(f1
        .iter()
        .zip(f2.iter())
        .all(|(a, b)| a.to_bits() == b.to_bits()));
    assert!(p1
        .to_flat()
        .iter()
        .zip(p2.to_flat().iter())
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

#[test]
fn same_seed_same_network_different_seed_different_network() {
    let (a, da) = net_and_data(&[4, 8, 2], Activation::Relu, true, 9, 5);
    let (b, db) = net_and_data(&[4, 8, 2], Activation::Relu, true, 9, 5);
    let (c, _) = net_and_data(&[4, 8, 2], Activation::Relu, true, 10, 5);
    assert_eq!(a, b);
    assert_eq!(da, db);
    assert_ne!(a, c);
}

/// The buffer-reusing loop form gives exactly the allocating results, step
/// after step, for SGD and Adam's first step, and reports a wrong-shaped
/// buffer instead of writing into it.
#[test]
fn in_place_steps_equal_allocating_steps_bit_for_bit() {
    let (net, data) = net_and_data(&[6, 300, 40, 3], Activation::Relu, true, 7, 32);
    for cfg in [
        StepConfig::sgd(0.05).unwrap(),
        StepConfig::new(1e-3, UpdateRule::adam_default()).unwrap(),
    ] {
        let mut grad = net.zeros_like();
        let mut in_place = net.clone();
        let mut reference = net.clone();
        for _ in 0..3 {
            let step = one_step(&reference, &data, &cfg).unwrap();
            let loss = step_in_place(&mut in_place, &data, &cfg, &mut grad).unwrap();
            assert_eq!(loss.to_bits(), step.loss_before.to_bits());
            assert_eq!(grad, gradient(&reference, &data).unwrap().1);
            reference = step.updated;
            assert_eq!(in_place, reference);
        }
    }
    let (other, _) = net_and_data(&[6, 5, 3], Activation::Relu, true, 7, 32);
    let mut wrong = other.zeros_like();
    assert!(gradient_into(&net, &data, &mut wrong).is_err());
}
