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

/// Clipped SGD against a hand-written PyTorch-style `clip_grad_norm_`: one
/// global factor `min(1, c/(‖g‖ + 1e-6))` on the flat gradient, so the step is
/// never longer than `η c`; with a norm above the gradient's it is SGD bit for bit.
#[test]
fn clipped_sgd_is_sgd_on_the_clipped_gradient() {
    let (net, data) = net_and_data(&[5, 9, 3], Activation::Relu, true, 4, 12);
    let (_, g) = gradient(&net, &data).unwrap();
    let flat = g.to_flat();
    let norm = flat.iter().map(|v| v * v).sum::<f64>().sqrt();
    for c in [norm / 10.0, norm / 2.0] {
        let cfg = StepConfig::new(0.1, UpdateRule::SgdClip { max_norm: c }).unwrap();
        let step = one_step(&net, &data, &cfg).unwrap();
        let kappa = c / (norm + 1e-6);
        for (d, gv) in step.delta.to_flat().iter().zip(flat.iter()) {
            let want = -0.1 * (kappa * gv);
            assert!(
                (d - want).abs() <= 1e-15 * want.abs().max(1e-300),
                "{d} vs {want}"
            );
        }
        let len = step.delta.norm();
        assert!(
            len <= 0.1 * c * (1.0 + 1e-12),
            "‖Δθ‖ = {len} > η c = {}",
            0.1 * c
        );
        assert!(
            len >= 0.1 * c * (1.0 - 1e-6),
            "clipped step shorter than η c: {len}"
        );
    }
    let loose = StepConfig::new(
        0.1,
        UpdateRule::SgdClip {
            max_norm: 2.0 * norm,
        },
    )
    .unwrap();
    let sgd = StepConfig::sgd(0.1).unwrap();
    assert_eq!(
        one_step(&net, &data, &loose).unwrap().updated,
        one_step(&net, &data, &sgd).unwrap().updated
    );
}

/// AdamW's first step is Adam's plus the decoupled decay `−ηλθ` on every
/// coordinate (PyTorch: `θ ← θ(1 − ηλ)` then Adam's update); `λ = 0` is Adam.
#[test]
fn adamw_first_step_is_adam_plus_decoupled_decay() {
    let (net, data) = net_and_data(&[5, 9, 3], Activation::Tanh, true, 6, 12);
    let (eta, lambda) = (1e-2, 0.5);
    let adam = one_step(
        &net,
        &data,
        &StepConfig::new(eta, UpdateRule::adam_default()).unwrap(),
    )
    .unwrap();
    let adamw = one_step(
        &net,
        &data,
        &StepConfig::new(eta, UpdateRule::adamw(lambda)).unwrap(),
    )
    .unwrap();
    let theta = net.to_flat();
    for ((w, a), t) in adamw
        .delta
        .to_flat()
        .iter()
        .zip(adam.delta.to_flat().iter())
        .zip(theta.iter())
    {
        let want = a - eta * lambda * t;
        assert!((w - want).abs() <= 1e-15 * (a.abs() + (eta * lambda * t).abs()));
    }
    let no_decay = one_step(
        &net,
        &data,
        &StepConfig::new(eta, UpdateRule::adamw(0.0)).unwrap(),
    )
    .unwrap();
    assert_eq!(no_decay.updated, adam.updated);
}

/// The in-place loop form agrees bit for bit with the allocating one for the
/// rules that read `θ` (decay) or the whole gradient (clipping).
#[test]
fn in_place_clipped_and_decayed_steps_equal_allocating_steps() {
    let (net, data) = net_and_data(&[6, 300, 40, 3], Activation::Relu, true, 8, 32);
    for cfg in [
        StepConfig::new(0.05, UpdateRule::SgdClip { max_norm: 1e-3 }).unwrap(),
        StepConfig::new(1e-3, UpdateRule::adamw(0.1)).unwrap(),
    ] {
        let mut grad = net.zeros_like();
        let mut in_place = net.clone();
        let mut reference = net.clone();
        for _ in 0..3 {
            reference = one_step(&reference, &data, &cfg).unwrap().updated;
            step_in_place(&mut in_place, &data, &cfg, &mut grad).unwrap();
            assert_eq!(in_place, reference);
        }
    }
}

#[test]
fn rule_specs_parse_round_trip_and_bad_constants_are_refused() {
    for spec in [
        "sgd",
        "adam",
        "sgd-clip",
        "sgd-clip:0.25",
        "adamw",
        "adamw:0",
        "adamw:0.1",
    ] {
        let rule = UpdateRule::parse(spec).unwrap();
        assert_eq!(UpdateRule::parse(&rule.spec()).unwrap(), rule, "{spec}");
    }
    assert_eq!(
        UpdateRule::parse("sgd-clip").unwrap(),
        UpdateRule::SgdClip { max_norm: 1.0 }
    );
    for bad in [
        "sgd-clip:0",
        "sgd-clip:-1",
        "sgd-clip:inf",
        "sgd-clip:x",
        "adamw:-0.1",
        "adamw:nan",
        "adam:1",
        "sgd:",
        "clip",
        "",
    ] {
        let err = UpdateRule::parse(bad).unwrap_err().to_string();
        assert!(err.contains("--rule"), "{bad}: {err}");
    }
    // ηλ ≥ 1 would flip the sign of every parameter: refused.
    assert!(StepConfig::new(0.5, UpdateRule::adamw(2.0)).is_err());
}
