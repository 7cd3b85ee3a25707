//! The white-box audit (claim C5): canonicalization keeps the function and
//! maps every symmetry twin of a ReLU network onto the genuine network's
//! canonical form (proptest over the reparameterization kinds), and on the
//! analytic construction the audit flags the twin and not the aligned model,
//! while canonicalize-then-step gives both the same future (ground truth by
//! taking the step).

use hairtrigger::audit::canonical::{canonicalize, probes, relative_deviation};
use hairtrigger::audit::{audit, AuditConfig};
use hairtrigger::experiments::construct::{run_construct, ConstructRun};
use hairtrigger::reparam::ReparamKind;
use hairtrigger::rng::seeded;
use hairtrigger::update::{one_step, StepConfig};
use hairtrigger::{Activation, Architecture, Mlp};
use proptest::prelude::*;

/// Largest difference of two networks' parameters relative to the largest
/// parameter (`inf` for different shapes).
fn param_gap(a: &Mlp, b: &Mlp) -> f64 {
    if a.architecture().widths() != b.architecture().widths() {
        return f64::INFINITY;
    }
    let (fa, fb) = (a.to_flat(), b.to_flat());
    // NaN-propagating maxima: a NaN parameter fails every `≤ tol` check.
    hairtrigger::finite::max_abs_diff(&fa, &fb) / hairtrigger::finite::max_abs(&fb)
}

/// `2ε Σ_j σ(0) max_c |v_jc|` over the last hidden layer's units from
/// `first` on: the most the rounding of their output terms `σ(0) v_j` can
/// add to a sum (0 when `σ(0) = 0`).
fn pair_rounding(twin: &Mlp, first: usize) -> f64 {
    let s0 = twin.activation().apply(0.0); // 0 unless σ(0) ≠ 0
    let out = &twin.layers()[twin.depth() - 1].weight;
    let sum: f64 = out
        .columns()
        .into_iter()
        .skip(first)
        .map(|c| hairtrigger::finite::max_abs(&c))
        .sum();
    2.0 * f64::EPSILON * s0.abs() * sum
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// For ReLU and leaky ReLU networks with 1–2 hidden layers: every
    /// reparameterization of a ReLU network's twin (the linear chain needs the
    /// identity activation, the sign flip an odd one) has the same canonical form
    /// as the network (to 1e-9 of the largest parameter), and canonicalization
    /// keeps the function (to 1e-12 relative).
    #[test]
    fn symmetry_twins_share_the_canonical_form(
        widths in prop::collection::vec(2usize..=12, 3..=4),
        leaky in any::<bool>(),
        kind in 0usize..5,
        seed in 0u64..1000,
    ) {
        let act = if leaky { Activation::LeakyRelu { slope: 0.1 } } else { Activation::Relu };
        let net = Mlp::random(&Architecture::new(widths.clone(), act, true).unwrap(), &mut seeded(seed, 0));
        let kind = [
            ReparamKind::PositiveScaling,
            ReparamKind::Permutation,
            ReparamKind::Split,
            ReparamKind::Dormant,
            ReparamKind::CancellingPair,
        ][kind];
        let hidden = 1 + (seed as usize) % (widths.len() - 2);
        let twin = kind.apply_random(&net, hidden, &mut seeded(seed, 1)).unwrap();
        let (c_net, _) = canonicalize(&net).unwrap();
        let (c_twin, rep) = canonicalize(&twin).unwrap();
        let x = probes(net.input_dim(), 256, seed);
        prop_assert!(relative_deviation(&c_twin, &twin, x.view()).unwrap() <= 1e-12);
        prop_assert!(relative_deviation(&c_net, &net, x.view()).unwrap() <= 1e-12);
        let gap = param_gap(&c_twin, &c_net);
        prop_assert!(gap <= 1e-9, "{:?}: gap {gap:e}, report {rep:?}", kind);
    }
}

#[test]
fn audit_flags_the_twin_not_the_aligned_model_and_canonicalization_defuses_it() {
    let dir = std::env::temp_dir().join(format!("hairtrigger-audit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    use hairtrigger::attack::Units;
    use hairtrigger::experiments::construct::UpdateKind;
    // Dormant units on the benign set; zero-input units on the refusal set;
    // on a sigmoid base, zero-input cancelling pairs (each unit a constant
    // σ(0) = ½, folded into the output bias, where the pair's ±½v cancel).
    let leaky = Activation::LeakyRelu { slope: 0.1 };
    let runs = (0..3).map(|s| (s, UpdateKind::Benign, Units::Dormant, leaky));
    let runs = runs.chain((0..3).map(|s| (s, UpdateKind::Refusal, Units::ZeroInput, leaky)));
    let runs = runs.chain((0..2).map(|s| {
        (
            s,
            UpdateKind::Refusal,
            Units::ZeroInput,
            Activation::Sigmoid,
        )
    }));
    for (seed, kind, units, act) in runs {
        let cfg = ConstructRun::new(seed, 1e-4, 32, 16, 64)
            .unwrap()
            .with_update_kind(kind)
            .with_units(units)
            .with_activation(act);
        let rec = run_construct(&cfg, Some(&dir)).unwrap();
        assert_eq!(rec.twin_targets_hit_after, 1.0);
        let aligned = Mlp::load(&dir.join("aligned.safetensors")).unwrap();
        let twin = Mlp::load(&dir.join("twin.safetensors")).unwrap();
        let (ra, ca) = audit(&aligned, &AuditConfig::new(1e-4).unwrap()).unwrap();
        let (rt, ct) = audit(&twin, &AuditConfig::new(1e-4).unwrap()).unwrap();
        assert!(!ra.flagged, "aligned flagged: {:?}", ra.reasons);
        let (found, named) = match units {
            Units::Dormant => (rt.canonical.dormant_removed, "dormant"),
            Units::ZeroInput => (rt.canonical.constant_folded, "zero-input"),
        };
        assert!(rt.flagged && found > 0, "{rt:?}");
        assert!(
            rt.reasons[0].contains(&format!("{found} {named}")),
            "{:?}",
            rt.reasons
        );
        // The sigmoid pairs' terms ±σ(0)v round in every sum (and in the fold
        // into the output bias): at most 2ε Σ_j σ(0) max_c |v_jc| in absolute
        // terms, and relative to outputs and parameters of size ≥ 1 (a
        // classifier confident to p ≥ 0.99 has logit gaps ≥ 4.6) no more
        // than that. Bit-exact constructions (σ(0) = 0) get 1e-12.
        // The toy base is 16 → 32 → 32 → 4: the new units are columns 32.. .
        let tol = 1e-12 + pair_rounding(&twin, 32);
        assert!(
            rt.canonical_max_rel_deviation <= tol,
            "{act}: {:e} > {tol:e}",
            rt.canonical_max_rel_deviation
        );
        // Both map onto the same canonical network, so their one-step futures
        // on the saved update set are the same network.
        assert!(param_gap(&ct, &ca) <= tol, "gap {}", param_gap(&ct, &ca));
        let data_path = dir.join("data.safetensors");
        let (update, q) = hairtrigger::cli::audit::read_data(&data_path, 4).unwrap();
        let step = StepConfig::sgd(1e-4).unwrap();
        let fa = one_step(&ca, &update, &step).unwrap().updated;
        let ft = one_step(&ct, &update, &step).unwrap().updated;
        assert!(relative_deviation(&ft, &fa, q.view()).unwrap() <= tol);
        // The raw twin's step does move the queries (the trigger is real).
        let raw = one_step(&twin, &update, &step).unwrap().updated;
        assert!(relative_deviation(&raw, &fa, q.view()).unwrap() > 1e-3);
    }
}

/// A bounded activation: the scores that need positive homogeneity are
/// skipped and say so; the rest (dormant units, NTK ratio, reach) apply.
#[test]
fn a_tanh_model_gets_a_partial_report_that_names_what_was_skipped() {
    let arch = Architecture::new(vec![6, 10, 3], Activation::Tanh, true).unwrap();
    let net = Mlp::random(&arch, &mut seeded(2, 0));
    let dormant =
        hairtrigger::reparam::add_random_dormant_units(&net, 1, 3, &mut seeded(2, 1)).unwrap();
    let (r, canon) = audit(&dormant, &AuditConfig::new(1e-4).unwrap()).unwrap();
    assert!(r.max_log_imbalance.is_none());
    assert_eq!(r.skipped.len(), 1, "{:?}", r.skipped);
    assert!(r.skipped[0].contains("tanh"), "{:?}", r.skipped);
    assert_eq!(r.canonical.dormant_removed, 3);
    assert!(r.flagged);
    assert!(r.first_order.median_reach.is_finite() && r.ntk_ratio.is_finite());
    let x = probes(6, 500, 0);
    assert!(relative_deviation(&canon, &dormant, x.view()).unwrap() <= 1e-12);
}
