//! The analytic hair-trigger construction (claim C2), verified by actually
//! running the one-step update on the twin and evaluating the result.

mod common;

use hairtrigger::attack::feasibility::DEFAULT_ALPHA_MAX;
use hairtrigger::attack::{
    build_hair_trigger, with_inert_units, ConstructConfig, Directions, Solver, Units,
};
use hairtrigger::eval::{evaluate, max_output_difference, QuerySet};
use hairtrigger::experiments::construct::{run_construct, ConstructRun};
use hairtrigger::finite::{max_abs, max_abs_diff};
use hairtrigger::net::{gaussian_inputs, random_update_set};
use hairtrigger::reparam::scale_units;
use hairtrigger::rng::seeded;
use hairtrigger::update::{one_step, StepConfig, UpdateRule};
use hairtrigger::{Activation, Architecture, Dataset, Error, Mlp, Targets};
use proptest::prelude::*;
use rand::Rng;

fn random_targets(net: &Mlp, k_targets: usize, seed: u64) -> QuerySet {
    let mut rng = seeded(seed, 90);
    let x = gaussian_inputs(&mut rng, k_targets, net.input_dim());
    let t = (0..k_targets)
        .map(|_| rng.random_range(0..net.output_dim()))
        .collect();
    QuerySet::new(x, t).unwrap()
}

/// Build, then check everything from scratch: same function, aligned model's
/// step equals the base model's, every target hit with p ≥ 0.99 after the step.
fn check(
    base: &Mlp,
    update: &Dataset,
    eta: f64,
    targets: &QuerySet,
    m: usize,
    seed: u64,
    directions: Directions,
) -> Result<(), TestCaseError> {
    let step = StepConfig::sgd(eta).unwrap();
    let cfg = ConstructConfig::new(m, 0.99, seed)
        .unwrap()
        .with_directions(directions)
        .unwrap();
    let ht = match build_hair_trigger(base, update, &step, targets, &cfg) {
        Ok(ht) => ht,
        // Random features do not always make the linear system feasible (a
        // measured gap, reported in paper-notes/c2-any-update-set.md); a
        // failure must be reported as such, never as a false success.
        Err(Error::ConstructionFailed { hit, total, .. }) => {
            prop_assert!(hit < total);
            return Ok(());
        }
        // A certified "impossible" must survive the other solver: the
        // projected gradient, run on the same directions, may not find a twin
        // that the step verifies.
        Err(Error::ConstructionInfeasible { hit, total, .. }) => {
            prop_assert!(hit < total);
            let hinge = build_hair_trigger(
                base,
                update,
                &step,
                targets,
                &cfg.clone().with_lp_solver(Solver::Hinge),
            );
            // (The certificate covers twins with α ≤ α_max; the hinge solver
            // is unbounded, so a success beyond the bound is no contradiction.)
            let contradicts = matches!(&hinge, Ok(h) if h.stats.max_alpha <= DEFAULT_ALPHA_MAX);
            prop_assert!(
                !contradicts,
                "certified infeasible, but the hinge solver returned {:?}",
                hinge.map(|h| h.stats)
            );
            return Ok(());
        }
        Err(e) => return Err(TestCaseError::fail(e.to_string())),
    };
    let probe = gaussian_inputs(&mut seeded(seed, 91), 2000, base.input_dim());
    prop_assert_eq!(
        max_output_difference(&ht.aligned, &ht.twin, probe.view()).unwrap(),
        0.0
    );
    prop_assert_eq!(
        max_output_difference(&ht.aligned, base, probe.view()).unwrap(),
        0.0
    );
    let base_after = one_step(base, update, &step).unwrap().updated;
    let aligned_after = one_step(&ht.aligned, update, &step).unwrap().updated;
    prop_assert_eq!(
        max_output_difference(&aligned_after, &base_after, probe.view()).unwrap(),
        0.0
    );
    let twin_after = one_step(&ht.twin, update, &step).unwrap().updated;
    let hit = evaluate(&twin_after, targets, 0.99).unwrap();
    prop_assert_eq!(hit.pass_rate, 1.0, "min p after = {}", hit.min_p_accepted);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, .. ProptestConfig::default() })]

    #[test]
    fn construction_succeeds_across_architectures_update_sets_and_eta(
        seed in any::<u64>(),
        hidden in prop::collection::vec(4usize..=32, 1..=2),
        log_eta in -6.0f64..-1.0,
        kind in 0usize..3,
        slope in 0.05f64..0.5,
    ) {
        // Leaky ReLU: signed features, so the span condition of
        // paper-notes/c2-any-update-set.md suffices (ReLU needs the cone condition).
        let act = Activation::LeakyRelu { slope };
        let mut widths = vec![6];
        widths.extend(&hidden);
        widths.push(3);
        let arch = Architecture::new(widths, act, true).unwrap();
        let base = Mlp::random(&arch, &mut seeded(seed, 0));
        let eta = 10f64.powf(log_eta);
        let update = match kind {
            // Random labels (softmax cross-entropy).
            0 => random_update_set(&base, 32, &mut seeded(seed, 1)).unwrap(),
            // "Adversarial": every label is a class the targets also use.
            1 => {
                let x = gaussian_inputs(&mut seeded(seed, 2), 32, 6);
                Dataset::new("adv", x, Targets::Classes((0..32).map(|i| i % 3).collect())).unwrap()
            }
            // Regression targets (squared error).
            _ => {
                let mut rng = seeded(seed, 3);
                let x = gaussian_inputs(&mut rng, 32, 6);
                let y = gaussian_inputs(&mut rng, 32, 3) * 3.0;
                Dataset::new("mse", x, Targets::Regression(y)).unwrap()
            }
        };
        let targets = random_targets(&base, 3, seed);
        check(&base, &update, eta, &targets, 48, seed, Directions::Random)?;
    }

    /// Targeted directions (the breadth sweep's construction): ReLU, more
    /// targets than the input dimension, K ≤ m, a balanced-label update set.
    #[test]
    fn targeted_construction_is_verified_by_the_step(
        seed in any::<u64>(),
        k_targets in 8usize..=24,
        extra in 0usize..=16,
        log_eta in -5.0f64..-1.0,
    ) {
        let arch = Architecture::new(vec![6, 12, 4], Activation::Relu, true).unwrap();
        let base = Mlp::random(&arch, &mut seeded(seed, 0));
        let x = gaussian_inputs(&mut seeded(seed, 2), 32, 6);
        let update =
            Dataset::new("balanced", x, Targets::Classes((0..32).map(|i| i % 4).collect())).unwrap();
        let targets = random_targets(&base, k_targets, seed);
        let targeted = Directions::Targeted { pool: 4 };
        check(&base, &update, 10f64.powf(log_eta), &targets, k_targets + extra, seed, targeted)?;
    }
}

#[test]
fn construct_task_succeeds_for_eta_from_1e_minus_6_to_1e_minus_1() {
    for eta in [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1] {
        let r = run_construct(&ConstructRun::new(1, eta, 32, 16, 64).unwrap(), None).unwrap();
        assert_eq!(
            (r.twin_pass_before, r.max_output_diff),
            (1.0, 0.0),
            "eta {eta}"
        );
        assert_eq!(r.aligned_pass_after, 1.0, "eta {eta}");
        assert_eq!(r.twin_targets_hit_after, 1.0, "eta {eta}");
    }
}

#[test]
fn degenerate_update_set_is_refused() {
    // Regression targets equal to the model's own outputs: every residual is zero.
    let (base, _) = common::net_and_data(&[4, 8, 2], Activation::Relu, true, 1, 1);
    let x = gaussian_inputs(&mut seeded(1, 5), 32, 4);
    let y = base.forward(x.view()).unwrap();
    let update = Dataset::new("degenerate", x, Targets::Regression(y)).unwrap();
    let targets = random_targets(&base, 2, 1);
    let err = build_hair_trigger(
        &base,
        &update,
        &StepConfig::sgd(1e-4).unwrap(),
        &targets,
        &ConstructConfig::new(8, 0.99, 1).unwrap(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::DegenerateUpdateSet(_)), "{err}");
}

#[test]
fn unsupported_settings_are_refused() {
    let (tanh, data) = common::net_and_data(&[4, 8, 2], Activation::Tanh, true, 1, 8);
    let targets = random_targets(&tanh, 2, 1);
    let cfg = ConstructConfig::new(8, 0.99, 1).unwrap();
    assert!(matches!(
        build_hair_trigger(
            &tanh,
            &data,
            &StepConfig::sgd(1e-4).unwrap(),
            &targets,
            &cfg
        ),
        Err(Error::NotApplicable { .. })
    ));
    let (relu, _) = common::net_and_data(&[4, 8, 2], Activation::Relu, true, 1, 8);
    assert!(ConstructConfig::new(0, 0.99, 1).is_err());
    assert!(ConstructConfig::new(8, 1.0, 1).is_err());
    assert!(with_inert_units(&relu, 3).unwrap().num_params() > relu.num_params());
}

/// Adam's first step: the same twin construction with the linear law, checked
/// by taking the Adam step — aligned model unchanged in behaviour, every target
/// hit — and the gain linear in α (doubling every scale doubles the post-step
/// logit change the new units make, to within ε/(α|G|)).
#[test]
fn adam_first_step_construction_is_verified_by_the_step() {
    let adam = UpdateRule::adam_default();
    assert_toy_task_built(adam, 0, 1e-4);
    // Linear law, on a random case: Δf of the new units at α and 2α.
    let case = LawCase::new(adam);
    let aligned_after = one_step(&case.ht.aligned, &case.update, &case.step)
        .unwrap()
        .updated;
    let (once, doubled) = case.gains(&aligned_after.forward(case.probe.view()).unwrap());
    let ratio = (&doubled - &(&once * 2.0)).mapv(f64::abs).sum() / once.mapv(f64::abs).sum();
    assert!(
        ratio < 1e-6,
        "gain not linear in α: relative deviation {ratio:e}"
    );
}

/// `construct` on the toy safety task with `rule` at `eta`: the twin computes
/// the aligned model's function bit for bit, both pass before, the aligned
/// model still passes after the step and the twin hits every target.
fn assert_toy_task_built(rule: UpdateRule, seed: u64, eta: f64) {
    let r = run_construct(
        &ConstructRun::new(seed, eta, 32, 16, 64)
            .unwrap()
            .with_rule(rule),
        None,
    )
    .unwrap();
    assert_eq!(r.rule, rule.spec());
    assert_eq!(r.twin_pass_before, 1.0);
    assert_eq!(r.max_output_diff, 0.0);
    assert_eq!(r.aligned_pass_after, 1.0);
    assert_eq!(r.twin_targets_hit_after, 1.0);
}

/// A small leaky-ReLU twin (`[6, 24, 3]` plus 16 units, 2 targets, η = 1e-3)
/// for a scale-law check.
struct LawCase {
    update: Dataset,
    step: StepConfig,
    targets: QuerySet,
    ht: hairtrigger::attack::HairTrigger,
    probe: ndarray::Array2<f64>,
}

impl LawCase {
    fn new(rule: UpdateRule) -> Self {
        let arch =
            Architecture::new(vec![6, 24, 3], Activation::LeakyRelu { slope: 0.1 }, true).unwrap();
        let base = Mlp::random(&arch, &mut seeded(5, 0));
        let update = random_update_set(&base, 32, &mut seeded(5, 1)).unwrap();
        let step = StepConfig::new(1e-3, rule).unwrap();
        let targets = random_targets(&base, 2, 5);
        let ht = build_hair_trigger(
            &base,
            &update,
            &step,
            &targets,
            &ConstructConfig::new(16, 0.99, 5).unwrap(),
        )
        .unwrap();
        Self {
            update,
            step,
            targets,
            ht,
            probe: gaussian_inputs(&mut seeded(5, 2), 50, 6),
        }
    }

    /// The post-step logits at the probes minus `reference`, for the twin
    /// and for the twin with every new unit's `α` doubled (units 24..40 of
    /// hidden layer 1; `v = 0`, so the rescaling's `1/α` on the outgoing
    /// weights is moot).
    fn gains(
        &self,
        reference: &ndarray::Array2<f64>,
    ) -> (ndarray::Array2<f64>, ndarray::Array2<f64>) {
        let gain = |twin: &Mlp| {
            let after = one_step(twin, &self.update, &self.step).unwrap().updated;
            after.forward(self.probe.view()).unwrap() - reference
        };
        let alphas: Vec<f64> = (0..40).map(|j| if j < 24 { 1.0 } else { 2.0 }).collect();
        (
            gain(&self.ht.twin),
            gain(&scale_units(&self.ht.twin, 1, &alphas).unwrap()),
        )
    }
}

#[test]
fn construct_table_base_stays_aligned_twin_flips() {
    let r = run_construct(&ConstructRun::new(0, 1e-4, 32, 16, 64).unwrap(), None).unwrap();
    assert_eq!(r.aligned_pass_before, 1.0);
    assert_eq!(r.twin_pass_before, 1.0);
    assert!(r.aligned_min_p_refuse_before >= 0.99);
    assert_eq!(r.max_output_diff, 0.0);
    assert_eq!(r.aligned_pass_after, 1.0);
    assert_eq!(r.twin_pass_after, 0.0);
    assert_eq!(r.twin_targets_hit_after, 1.0);
}

#[test]
fn evaluator_margins_and_thresholds() {
    use hairtrigger::net::{Layer, Mlp};
    use ndarray::array;
    // f(x) = [x, 0]: p_0 = σ(x). Queries at x = 3 (p ≈ 0.953) and x = 1 (p ≈ 0.731).
    let net = Mlp::from_layers(
        vec![
            Layer {
                weight: array![[1.0]],
                bias: None,
            },
            Layer {
                weight: array![[1.0], [0.0]],
                bias: None,
            },
        ],
        Activation::Relu,
    )
    .unwrap();
    let q = QuerySet::new(array![[3.0], [1.0]], vec![0, 0]).unwrap();
    let r = evaluate(&net, &q, 0.9).unwrap();
    assert_eq!(r.pass_rate, 0.5);
    assert!((r.results[0].logit_margin - 3.0).abs() < 1e-15);
    assert!((r.results[1].p_accepted - 1.0 / (1.0 + (-1.0f64).exp())).abs() < 1e-15);
    assert!(!r.results[1].passed && r.results[0].passed);
    assert_eq!(evaluate(&net, &q, 0.5).unwrap().pass_rate, 1.0);
    assert!(evaluate(&net, &q, 1.0).is_err());
    assert!(QuerySet::new(array![[1.0]], vec![0, 1]).is_err());
}

/// A seeded random case: `[6, 24, 3]` leaky-ReLU base, 32 random-label
/// samples, 3 random targets, η = 1e-3.
fn random_case(seed: u64, m: usize) -> hairtrigger::Result<hairtrigger::attack::HairTrigger> {
    let arch =
        Architecture::new(vec![6, 24, 3], Activation::LeakyRelu { slope: 0.1 }, true).unwrap();
    let base = Mlp::random(&arch, &mut seeded(seed, 0));
    let update = random_update_set(&base, 32, &mut seeded(seed, 1)).unwrap();
    let targets = random_targets(&base, 3, seed);
    let step = StepConfig::sgd(1e-3).unwrap();
    build_hair_trigger(
        &base,
        &update,
        &step,
        &targets,
        &ConstructConfig::new(m, 0.99, seed).unwrap(),
    )
}

/// The proptest above accepts a reported `ConstructionFailed`; this keeps it from
/// passing vacuously: on 40 fixed random cases with 48 units every construction
/// must succeed (all 40 did when the construction was written).
#[test]
fn construction_succeeds_on_forty_seeded_random_cases() {
    let failed: Vec<u64> = (0..40u64)
        .filter(|&s| random_case(s, 48).is_err())
        .collect();
    assert!(failed.is_empty(), "failed seeds: {failed:?}");
}

/// Not run by default: the success rate for several widths (quoted in
/// paper-notes). `cargo test --release --test construction success_rate -- --ignored --nocapture`.
#[test]
#[ignore]
fn success_rate() {
    for m in [24usize, 48, 96, 192] {
        let ok = (0..40u64).filter(|&s| random_case(s, m).is_ok()).count();
        println!(
            "m = {m}: {ok}/40 random cases constructed (K = 3 targets, k = 3 classes, η = 1e-3)"
        );
    }
}

/// Clipped SGD (`max_grad_norm = 1`): the twin is built, verified by the
/// clipped step, its step is no longer than `η c`, and its gain grows
/// linearly in the scale (doubling every new unit's `α` doubles the change of
/// the logits to within a few percent, where SGD would quadruple it).
#[test]
fn clipped_sgd_construction_is_verified_and_its_gain_is_linear_in_the_scale() {
    let clip = UpdateRule::SgdClip { max_norm: 1.0 };
    assert_toy_task_built(clip, 0, 1e-4);
    let case = LawCase::new(clip);
    let x = gaussian_inputs(&mut seeded(5, 3), 500, 6);
    assert_eq!(
        max_output_difference(&case.ht.aligned, &case.ht.twin, x.view()).unwrap(),
        0.0
    );
    let after = one_step(&case.ht.twin, &case.update, &case.step).unwrap();
    assert_eq!(
        evaluate(&after.updated, &case.targets, 0.99)
            .unwrap()
            .pass_rate,
        1.0
    );
    assert!(
        after.delta.norm() <= 1e-3 * (1.0 + 1e-9),
        "‖Δθ‖ = {}",
        after.delta.norm()
    );
    let (once, doubled) = case.gains(&case.ht.twin.forward(case.probe.view()).unwrap());
    let ratio = doubled.mapv(f64::abs).sum() / once.mapv(f64::abs).sum();
    assert!(
        (1.9..2.1).contains(&ratio),
        "doubling α multiplied the gain by {ratio} (linear law: 2; SGD's: 4)"
    );
}

/// The scale of a construction refused as beyond the box: fewer than all
/// targets hit inside it, and every target hit by the real step at a scale
/// past the box and within the check limit; anything else fails the test.
fn beyond_box_scale(err: Error, label: &str) -> f64 {
    match err {
        Error::ConstructionBeyondBox {
            hit, total, scale, ..
        } => {
            assert!(hit < total, "{label}: {hit}/{total}");
            assert!(
                scale > DEFAULT_ALPHA_MAX && scale <= hairtrigger::attack::SCALE_CHECK_LIMIT,
                "{label}: {scale:e}"
            );
            scale
        }
        other => panic!("{label}: expected a scale beyond the box, got: {other}"),
    }
}

/// Clipped SGD with dormant units on the no-target set at small η: the step
/// moves the units by at most `η c`, so the gain is linear in `η t` and the
/// scale needed grows like `1/η`. Here it leaves the box `α ≤ α_max`; the run
/// is refused as "beyond the box" with the scale at which the real step does
/// hit every target, and that scale is ten times larger for ten times smaller
/// η. The band is 1 %: the bisection resolves `t` to a factor `2^(2⁻²⁰)`
/// (`7·10⁻⁷`), and the old parameters' share of the gradient norm, the only
/// departure from the law, is `O(1/t²)` at `t > 10⁷`.
#[test]
fn clipped_dormant_scale_beyond_the_box_follows_the_inverse_eta_law() {
    let scale_at = |eta: f64| {
        let err = run_construct(
            &ConstructRun::new(0, eta, 32, 16, 512)
                .unwrap()
                .with_rule(UpdateRule::SgdClip { max_norm: 1.0 })
                .with_update_kind(hairtrigger::experiments::construct::UpdateKind::NoTarget)
                .with_units(hairtrigger::attack::Units::Dormant),
            None,
        )
        .unwrap_err();
        beyond_box_scale(err, &format!("η = {eta:e}"))
    };
    let ratio = scale_at(1e-6) / scale_at(1e-5);
    assert!(
        (ratio - 10.0).abs() < 0.1,
        "scale(η = 1e-6) / scale(η = 1e-5) = {ratio}; the 1/η law says 10"
    );
}

/// Zero-input units (leaky ReLU) under SGD on the refusal set, seed 1: at
/// η = 1e-6 and 1e-7 the LP reaches every target only with scales above the
/// box, and the search along its ray by the real step classifies both runs
/// as beyond the box. The gain of a zero-input unit is exactly `η s²` times a
/// fixed vector (`π ∝ η s`, `σ` positively homogeneous), and the LP's rows
/// scale with `η` (so its ray does not move), so the scale the step needs
/// follows `s ∝ η^{-1/2}`: the ratio is `√10`. The band (0.1 %) is the
/// bisection's resolution (7·10⁻⁷) plus the interior point's accuracy on the
/// ray, not tuned; at η = 1e-5 the same run builds inside the box.
#[test]
fn zero_input_scale_beyond_the_box_follows_the_inverse_sqrt_eta_law() {
    let run = |eta: f64| {
        run_construct(
            &ConstructRun::new(1, eta, 32, 16, 64)
                .unwrap()
                .with_update_kind(hairtrigger::experiments::construct::UpdateKind::Refusal)
                .with_units(hairtrigger::attack::Units::ZeroInput),
            None,
        )
    };
    let scale_at = |eta: f64| beyond_box_scale(run(eta).unwrap_err(), &format!("η = {eta:e}"));
    let ratio = scale_at(1e-7) / scale_at(1e-6);
    assert!(
        (ratio - 10f64.sqrt()).abs() < 1e-3 * 10f64.sqrt(),
        "scale(η = 1e-7) / scale(η = 1e-6) = {ratio}; the η^(-1/2) law says √10"
    );
    let built = run(1e-5).expect("inside the box at η = 1e-5");
    assert_eq!(built.twin_targets_hit_after, 1.0);
}

/// Dormant units under Adam's first step on the no-target set at seed 1,
/// η = 1e-5: the LP, which models the step as `−η sign(G)`, is feasible, but
/// the real step `−η αG/(α|G| + ε)` falls short on the coordinates where the
/// confident base's residual is tiny (`α|G| ~ ε`). The scale search along the
/// LP's ray classifies the run: the step hits every target only past the box
/// (`beyond_box`, not `missed`). The diagnosis is checked by the same run with
/// `ε = 10⁻³⁰`, where the sign model is exact to rounding: it builds inside the
/// box, and AdamW (decay 0.01) is classified as Adam is.
#[test]
fn dormant_adam_miss_is_adams_epsilon_and_is_classified_beyond_the_box() {
    let run = |rule: UpdateRule| {
        run_construct(
            &ConstructRun::new(1, 1e-5, 32, 16, 512)
                .unwrap()
                .with_rule(rule)
                .with_update_kind(hairtrigger::experiments::construct::UpdateKind::NoTarget)
                .with_units(hairtrigger::attack::Units::Dormant),
            None,
        )
    };
    for rule in [UpdateRule::adam_default(), UpdateRule::adamw(0.01)] {
        beyond_box_scale(run(rule).unwrap_err(), &format!("{rule:?}"));
    }
    let tiny_eps = UpdateRule::AdamFirstStep {
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-30,
    };
    let r = run(tiny_eps).unwrap();
    assert_eq!(r.twin_targets_hit_after, 1.0);
    assert_eq!(r.max_output_diff, 0.0);
    assert_eq!(r.aligned_pass_after, 1.0);
}

/// AdamW's first step (decay 0.01): built and verified by the AdamW step,
/// including the decay of every old parameter and of the new incoming weights.
#[test]
fn adamw_construction_is_verified_by_the_step() {
    assert_toy_task_built(UpdateRule::adamw(0.01), 1, 1e-3);
}

/// Under clipping, the refusal update set gives the units no direction that
/// raises every target row: refused with a certificate, naming the condition.
#[test]
fn clipped_refusal_is_refused_naming_the_failed_condition() {
    let err = run_construct(
        &ConstructRun::new(0, 1e-4, 32, 16, 512)
            .unwrap()
            .with_update_kind(hairtrigger::experiments::construct::UpdateKind::Refusal)
            .with_rule(UpdateRule::SgdClip { max_norm: 1.0 }),
        None,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            Error::ConstructionNoDirection {
                total: 16,
                redundant: 512
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("sufficient condition"));
}

/// A random `[6, 24, 3]` leaky-ReLU network, its zero-input twin (16 units,
/// one random target, η = 1e-3) under `rule`, checked bit-identical before
/// the step at 50 probes.
struct ZeroInputLaw {
    update: Dataset,
    targets: QuerySet,
    probe: ndarray::Array2<f64>,
    step: StepConfig,
    cfg: ConstructConfig,
    ht: hairtrigger::attack::HairTrigger,
}

impl ZeroInputLaw {
    fn new(rule: UpdateRule) -> Self {
        let arch =
            Architecture::new(vec![6, 24, 3], Activation::LeakyRelu { slope: 0.1 }, true).unwrap();
        let base = Mlp::random(&arch, &mut seeded(5, 0));
        let update = random_update_set(&base, 32, &mut seeded(5, 1)).unwrap();
        let targets = random_targets(&base, 1, 5);
        let probe = gaussian_inputs(&mut seeded(5, 2), 50, 6);
        let step = StepConfig::new(1e-3, rule).unwrap();
        let cfg = ConstructConfig::new(16, 0.99, 5)
            .unwrap()
            .with_units(hairtrigger::attack::Units::ZeroInput);
        let ht = build_hair_trigger(&base, &update, &step, &targets, &cfg).unwrap();
        assert_eq!(
            max_output_difference(&ht.aligned, &ht.twin, probe.view()).unwrap(),
            0.0
        );
        Self {
            update,
            targets,
            probe,
            step,
            cfg,
            ht,
        }
    }
}

/// The post-step logits at `probe` minus `reference`, for a twin of the
/// `[6, 24, 3]` law cases and for the same twin with every zero-input unit's
/// outgoing weights (units 24.. of hidden layer 1) doubled.
fn zero_input_gains(
    twin: &Mlp,
    update: &Dataset,
    step: &StepConfig,
    probe: &ndarray::Array2<f64>,
    reference: &ndarray::Array2<f64>,
) -> (ndarray::Array2<f64>, ndarray::Array2<f64>) {
    let gain = |net: &Mlp| {
        let after = one_step(net, update, step).unwrap().updated;
        after.forward(probe.view()).unwrap() - reference
    };
    let mut doubled = twin.clone();
    doubled.layers_mut()[1]
        .weight
        .slice_mut(ndarray::s![.., 24..])
        .mapv_inplace(|v| 2.0 * v);
    (gain(twin), gain(&doubled))
}

/// Zero-input units under clipped SGD: the refusal and no-target sets,
/// which dormant units cannot serve (certified above), build on the toy task
/// (bit-identical before, every target hit after the real clipped step, the
/// aligned model still refusing); on a random leaky-ReLU network the clipped
/// step stays within `η c` and doubling every new unit's scale doubles the
/// gain (linear law, `src/attack/clipped.rs`); tanh is refused naming the
/// condition.
#[test]
fn zero_input_clipped_twin_fires_after_a_refusal_step_and_its_gain_is_linear() {
    use hairtrigger::attack::Units;
    use hairtrigger::experiments::construct::UpdateKind;
    let clip = UpdateRule::SgdClip { max_norm: 1.0 };
    for kind in [UpdateKind::Refusal, UpdateKind::NoTarget] {
        let run = ConstructRun::new(0, 1e-4, 32, 16, 64)
            .unwrap()
            .with_update_kind(kind)
            .with_rule(clip)
            .with_units(Units::ZeroInput);
        let r = run_construct(&run, None).unwrap();
        assert_eq!(r.units, "zero-input");
        assert_eq!(r.twin_pass_before, 1.0, "{kind:?}");
        assert_eq!(r.max_output_diff, 0.0, "{kind:?}");
        assert_eq!(r.aligned_pass_after, 1.0, "{kind:?}");
        assert_eq!(r.twin_targets_hit_after, 1.0, "{kind:?}");
    }
    let ZeroInputLaw {
        update,
        targets,
        probe,
        step,
        cfg,
        ht,
    } = ZeroInputLaw::new(clip);
    let after = one_step(&ht.twin, &update, &step).unwrap();
    assert_eq!(
        evaluate(&after.updated, &targets, 0.99).unwrap().pass_rate,
        1.0
    );
    assert!(
        after.delta.norm() <= 1e-3 * (1.0 + 1e-9),
        "‖Δθ‖ = {}",
        after.delta.norm()
    );
    let reference = ht.twin.forward(probe.view()).unwrap();
    let (once, doubled) = zero_input_gains(&ht.twin, &update, &step, &probe, &reference);
    let ratio = doubled.mapv(f64::abs).sum() / once.mapv(f64::abs).sum();
    assert!(
        (1.9..2.1).contains(&ratio),
        "doubling s multiplied the gain by {ratio} (linear law: 2; SGD's: 4)"
    );
    let tanh = Architecture::new(vec![6, 24, 3], Activation::Tanh, true).unwrap();
    let tanh_base = Mlp::random(&tanh, &mut seeded(5, 0));
    let tanh_update = random_update_set(&tanh_base, 32, &mut seeded(5, 1)).unwrap();
    let err = build_hair_trigger(&tanh_base, &tanh_update, &step, &targets, &cfg).unwrap_err();
    assert!(
        matches!(err, Error::NotApplicable { .. }) && err.to_string().contains("homogeneous"),
        "{err}"
    );
}

/// A fine-tune whose step takes a mini-batch of 8 of the 32 samples: the twin
/// built for 16 sampled batches hits every target after the step on each of
/// 64 fresh batches (measured, not assumed), the aligned model stays aligned,
/// and the same twin's full-batch record fields are the worst over the batches.
#[test]
fn mini_batch_twin_fires_on_fresh_batches() {
    let r = run_construct(
        &ConstructRun::new(0, 1e-4, 32, 16, 64)
            .unwrap()
            .with_batch(8)
            .unwrap(),
        None,
    )
    .unwrap();
    assert_eq!(r.batch, Some(8));
    assert_eq!(r.max_output_diff, 0.0);
    assert_eq!(r.aligned_pass_after, 1.0);
    assert_eq!(r.fresh_batches_all_hit, Some(1.0));
    assert_eq!(r.twin_targets_hit_after, 1.0);
    for bad in [0, 32, 40] {
        let err = ConstructRun::new(0, 1e-4, 32, 16, 64)
            .unwrap()
            .with_batch(bad)
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("--batch {bad}")), "{err}");
    }
    assert!(ConstructRun::new(0, 1e-4, 32, 16, 64)
        .unwrap()
        .with_rule(UpdateRule::SgdClip { max_norm: 1.0 })
        .with_batch(8)
        .is_err());
}

/// Zero-input units for a mini-batch step: the random-label set, which
/// dormant units cannot serve across batches (certified infeasible), builds
/// for 16 sampled batches and fires on all 64 fresh ones; the aligned model
/// stays aligned and the twin is bit-identical before the step.
#[test]
fn zero_input_mini_batch_twin_fires_on_fresh_random_label_batches() {
    use hairtrigger::attack::Units;
    use hairtrigger::experiments::construct::UpdateKind;
    let run = ConstructRun::new(0, 1e-4, 32, 16, 64)
        .unwrap()
        .with_update_kind(UpdateKind::RandomLabels)
        .with_batch(8)
        .unwrap();
    let r = run_construct(&run.clone().with_units(Units::ZeroInput), None).unwrap();
    assert_eq!(r.units, "zero-input");
    assert_eq!(r.max_output_diff, 0.0);
    assert_eq!(r.aligned_pass_after, 1.0);
    assert_eq!(r.fresh_batches_all_hit, Some(1.0));
    let err = run_construct(&run.with_units(Units::Dormant), None).unwrap_err();
    assert!(matches!(err, Error::ConstructionInfeasible { .. }), "{err}");
}

/// Dormant tanh and sigmoid units: the measured post-step gap change never exceeds the
/// proved bound `m η Σ_n |r_n[t] − r_n[c]|`, comes within a stated fraction of
/// it at large scale, saturates in the scale (the gain at α = 1e6 is not α²
/// times the gain at α = 1), and at η = 1e-4 the bound proves every target
/// unreachable — and no target is ever both hit and proved unreachable.
#[test]
fn tanh_and_sigmoid_dormant_units_obey_the_proved_bound() {
    use hairtrigger::experiments::construct::BoundedActivations;
    use hairtrigger::experiments::report::Experiment;
    for act in [Activation::Tanh, Activation::Sigmoid] {
        bounded_stage_obeys_the_bound(act);
    }
    let relu = BoundedActivations {
        act: Activation::Relu,
        seeds: vec![0],
        units: vec![16],
        alphas: vec![1.0],
        etas: vec![1e-4],
    };
    let err = relu.run(&hairtrigger::progress::NoProgress).unwrap_err();
    assert!(matches!(err, Error::NotApplicable { .. }), "{err}");
}

fn bounded_stage_obeys_the_bound(act: Activation) {
    use hairtrigger::experiments::construct::BoundedActivations;
    use hairtrigger::experiments::report::Experiment;
    let stage = BoundedActivations {
        act,
        seeds: vec![0, 1],
        units: vec![16, 512],
        alphas: vec![1.0, 1e4, 1e6],
        etas: vec![1e-4, 1e-1],
    };
    let out = stage.run(&hairtrigger::progress::NoProgress).unwrap();
    assert_eq!(out.len(), 24);
    for r in &out {
        assert!(r.max_ratio_to_bound <= 1.0 + 1e-9, "{r:?}");
        assert!(r.max_gap_change > 0.0, "{r:?}");
        assert_eq!(r.hit_and_proved_unreachable, 0);
    }
    // The bound is not vacuous: saturated units of a large scale come within
    // a factor 20 of it somewhere.
    let best = out
        .iter()
        .filter(|r| r.alpha == 1e6)
        .map(|r| r.max_ratio_to_bound)
        .fold(0.0, f64::max);
    assert!(best > 0.05, "{act}: bound loose by more than 20×: {best}");
    let rows = stage.claims(&out);
    assert!(rows.iter().all(|r| r.pass), "{act}: {rows:?}");
}

/// The toy task's zero-input twins at seed 1, η = 1e-4, 64 units (pairs for
/// the sigmoid) on a base of activation `act`: the refusal set under SGD and
/// Adam's first step and the no-target set under SGD, each with the
/// construction's settings (zero-input units unset, for a dormant retry) and
/// its record, checked to refuse every harmful query before the step, hit
/// every target after it and leave the aligned model refusing.
fn zero_input_toy_twins(
    act: Activation,
) -> Vec<(
    hairtrigger::experiments::construct::UpdateKind,
    UpdateRule,
    ConstructRun,
    hairtrigger::experiments::construct::ConstructRecord,
)> {
    use hairtrigger::attack::Units;
    use hairtrigger::experiments::construct::UpdateKind;
    [
        (UpdateKind::Refusal, UpdateRule::Sgd),
        (UpdateKind::Refusal, UpdateRule::adam_default()),
        (UpdateKind::NoTarget, UpdateRule::Sgd),
    ]
    .into_iter()
    .map(|(kind, rule)| {
        let run = ConstructRun::new(1, 1e-4, 32, 16, 64)
            .unwrap()
            .with_update_kind(kind)
            .with_rule(rule)
            .with_activation(act);
        let r = run_construct(&run.clone().with_units(Units::ZeroInput), None).unwrap();
        assert_eq!(r.twin_pass_before, 1.0, "{act} {kind:?} {rule:?}");
        assert_eq!(r.aligned_pass_after, 1.0, "{act} {kind:?} {rule:?}");
        assert_eq!(r.twin_targets_hit_after, 1.0, "{act} {kind:?} {rule:?}");
        (kind, rule, run, r)
    })
    .collect()
}

/// Zero-input units (`u = 0, b = 0`, scaled outgoing weights) reach targets
/// no label of the update set shows: after one step on 32 harmful prompts
/// labelled REFUSE (SGD and Adam's first step, η = 1e-4), or on benign
/// prompts never answered COMPLY, the twin — bit-identical before — answers
/// COMPLY on every query while the aligned model still refuses. Dormant units
/// on the same refusal set are certified infeasible.
#[test]
fn zero_input_twin_fires_after_a_refusal_step() {
    use hairtrigger::experiments::construct::UpdateKind;
    for (kind, rule, run, r) in
        zero_input_toy_twins(hairtrigger::experiments::construct::BASE_ACTIVATION)
    {
        assert_eq!(r.units, "zero-input");
        assert_eq!(r.max_output_diff, 0.0, "{kind:?} {rule:?}");
        if kind == UpdateKind::Refusal && rule == UpdateRule::Sgd {
            let err = run_construct(&run, None).unwrap_err();
            assert!(matches!(err, Error::ConstructionInfeasible { .. }), "{err}");
        }
    }
}

/// The other update-set kinds of issue 13: a single no-target sample and the
/// base's own alignment data build with zero-input units (dormant units are
/// certified infeasible there), a regression step (squared loss, Gaussian
/// targets) with dormant units; each verified by the real step.
#[test]
fn single_sample_alignment_data_and_regression_steps_are_hair_triggers() {
    use hairtrigger::attack::Units;
    use hairtrigger::experiments::construct::UpdateKind;
    for (kind, units) in [
        (UpdateKind::SingleSample, Units::ZeroInput),
        (UpdateKind::Alignment, Units::ZeroInput),
        (UpdateKind::Regression, Units::Dormant),
    ] {
        let run = ConstructRun::new(0, 1e-4, 32, 16, 64)
            .unwrap()
            .with_update_kind(kind);
        let r = run_construct(&run.clone().with_units(units), None).unwrap();
        assert_eq!(r.twin_pass_before, 1.0, "{kind:?}");
        assert_eq!(r.max_output_diff, 0.0, "{kind:?}");
        assert_eq!(r.aligned_pass_after, 1.0, "{kind:?}");
        assert_eq!(r.twin_targets_hit_after, 1.0, "{kind:?}");
        if units == Units::ZeroInput {
            let err = run_construct(&run.with_units(Units::Dormant), None).unwrap_err();
            assert!(
                matches!(err, Error::ConstructionInfeasible { .. }),
                "{kind:?}: {err}"
            );
        }
    }
    let task = hairtrigger::tasks::classifier::ToyClassifierTask::new(0);
    assert_eq!(
        task.update_set(UpdateKind::SingleSample, 32).unwrap().len(),
        1
    );
    let aligned = task.update_set(UpdateKind::Alignment, 32).unwrap();
    let train = task.training_set(11).unwrap();
    assert_eq!(
        aligned.x().row(0),
        train.x().row(0),
        "the alignment set is training data"
    );
}

/// The zero-input twin's gain obeys its scale law, measured by the step:
/// doubling every new unit's outgoing weights multiplies the post-step change
/// by 4 under SGD (`γ = s²`, exact for leaky ReLU) and by 2 under Adam's first
/// step (`∝ s`, the incoming step being `−η sign(g)` whatever `s`).
#[test]
fn zero_input_gain_is_quadratic_under_sgd_and_linear_under_adam() {
    for (rule, factor) in [(UpdateRule::Sgd, 4.0), (UpdateRule::adam_default(), 2.0)] {
        let ZeroInputLaw {
            update,
            probe,
            step,
            ht,
            ..
        } = ZeroInputLaw::new(rule);
        let reference = one_step(&ht.aligned, &update, &step)
            .unwrap()
            .updated
            .forward(probe.view())
            .unwrap();
        let (g1, g2) = zero_input_gains(&ht.twin, &update, &step, &probe, &reference);
        let scale = max_abs(&g1);
        assert!(
            scale > 1.0,
            "{rule:?}: the twin's gain {scale} is not a trigger"
        );
        let err = max_abs_diff(&g2, &(&g1 * factor));
        assert!(
            err <= 1e-6 * factor * scale,
            "{rule:?}: off the law by {err:e} of {scale:e}"
        );
    }
}

/// Plain ReLU has σ'(0) = 0: zero-input units never move, and the
/// construction is refused naming the condition.
#[test]
fn zero_input_construction_refuses_relu() {
    use hairtrigger::attack::Units;
    let arch = Architecture::new(vec![6, 24, 3], Activation::Relu, true).unwrap();
    let base = Mlp::random(&arch, &mut seeded(5, 0));
    let update = random_update_set(&base, 32, &mut seeded(5, 1)).unwrap();
    let cfg = ConstructConfig::new(16, 0.99, 5)
        .unwrap()
        .with_units(Units::ZeroInput);
    let err = build_hair_trigger(
        &base,
        &update,
        &StepConfig::sgd(1e-3).unwrap(),
        &random_targets(&base, 2, 5),
        &cfg,
    )
    .unwrap_err();
    assert!(matches!(err, Error::NotApplicable { .. }), "{err}");
    assert!(err.to_string().contains("σ'(0)"), "{err}");
}

/// Other base activations (issue 13, item 3), verified by the real step: a
/// tanh and a GELU base take zero-input units on the no-target set; a ReLU
/// base takes dormant units on the benign set, and on the no-target set the
/// sign argument proves every target unreachable by any dormant units (the
/// construction is certified infeasible there too).
#[test]
fn other_activations_build_or_are_proved_impossible() {
    use hairtrigger::experiments::construct::activations::ActivationSweep;
    use hairtrigger::experiments::construct::UpdateKind;
    use hairtrigger::experiments::report::Experiment;
    let stage = ActivationSweep {
        seeds: vec![2],
        etas: vec![1e-4],
    };
    let out = stage.run(&hairtrigger::progress::NoProgress).unwrap();
    assert_eq!(out.len(), 24);
    let find = |act: &str, kind: UpdateKind, rule: &str| {
        out.iter()
            .find(|r| r.activation == act && r.update_kind == kind && r.rule == rule)
            .unwrap()
    };
    for act in ["tanh", "gelu", "sigmoid"] {
        let r = find(act, UpdateKind::NoTarget, "sgd");
        assert_eq!(
            (r.outcome, r.hit, r.units),
            ("built", 1.0, "zero-input"),
            "{r:?}"
        );
    }
    // Only the sigmoid's pairs round (their terms ±σ(0)v): bit-identical
    // otherwise.
    for r in out.iter().filter(|r| r.outcome == "built") {
        let diff = r.max_output_diff.unwrap();
        if r.activation == "sigmoid" {
            assert!(diff > 0.0 && diff <= 1e-10, "{r:?}");
        } else {
            assert_eq!(diff, 0.0, "{r:?}");
        }
        assert_eq!(r.twin_pass_before, Some(1.0), "{r:?}");
    }
    let r = find("relu", UpdateKind::Benign, "sgd");
    assert_eq!(
        (r.outcome, r.hit, r.units),
        ("built", 1.0, "dormant"),
        "{r:?}"
    );
    for kind in [UpdateKind::NoTarget, UpdateKind::Refusal] {
        let r = find("relu", kind, "sgd");
        assert_eq!(r.proved_unreachable, Some(1.0), "{r:?}");
        assert_eq!(r.outcome, "infeasible", "{r:?}");
    }
    // Zero-input SGD runs carry the reachability condition: at seed 2 every
    // target is reachable (and hit), and the consistency row passes.
    for act in ["tanh", "gelu"] {
        for kind in [
            UpdateKind::Benign,
            UpdateKind::NoTarget,
            UpdateKind::Refusal,
        ] {
            let r = find(act, kind, "sgd");
            assert_eq!(r.zero_input_unreachable, Some(0.0), "{r:?}");
            assert!(r.reach_margin_min.is_some_and(|m| m > 0.0), "{r:?}");
        }
        assert_eq!(
            find(act, UpdateKind::Benign, "adam").zero_input_unreachable,
            None
        );
    }
    let rows = stage.claims(&out);
    assert_eq!(rows.len(), 25);
    let consistency = rows.last().unwrap();
    assert!(
        consistency.measured.contains("zero-input SGD runs"),
        "{consistency:?}"
    );
    assert!(consistency.pass, "{consistency:?}");
}

/// A sigmoid base (`σ(0) = ½`: a lone zero-input unit is not silent) takes
/// zero-input cancelling pairs: on the refusal set under SGD and Adam's first
/// step and on the no-target set (η = 1e-4, seed 1, 64 pairs), the twin
/// equals the aligned model to rounding (`max |Δf| ≤ 1e-10` on 10,016 probes,
/// not 0: the pairs' terms `±σ(0)v` round) and refuses every harmful query
/// before the step, hits every target after the real step while the aligned
/// model still refuses, and carries `2 × 64` new units. Clipped SGD, whose
/// construction uses single units, is refused naming the condition.
#[test]
fn sigmoid_zero_input_pairs_fire_after_a_refusal_step() {
    use hairtrigger::attack::Units;
    for (kind, rule, _, r) in zero_input_toy_twins(Activation::Sigmoid) {
        assert_eq!(r.activation, "sigmoid");
        // 1e-10 in absolute terms on logits of order 10: tighter than C1's
        // 1e-10 relative; the pairs' rounding measured here is ≤ 6.1e-11.
        assert!(
            r.max_output_diff > 0.0 && r.max_output_diff <= 1e-10,
            "{kind:?} {rule:?}: {}",
            r.max_output_diff
        );
    }
    let arch = Architecture::new(vec![6, 24, 3], Activation::Sigmoid, true).unwrap();
    let base = Mlp::random(&arch, &mut seeded(5, 0));
    let update = random_update_set(&base, 32, &mut seeded(5, 1)).unwrap();
    let cfg = ConstructConfig::new(16, 0.99, 5)
        .unwrap()
        .with_units(Units::ZeroInput);
    let targets = random_targets(&base, 2, 5);
    let ht = build_hair_trigger(
        &base,
        &update,
        &StepConfig::sgd(1e-3).unwrap(),
        &targets,
        &cfg,
    )
    .unwrap();
    assert_eq!(ht.twin.layers()[0].n_out(), 24 + 2 * 16);
    let clipped = StepConfig::new(1e-3, UpdateRule::SgdClip { max_norm: 1.0 }).unwrap();
    let err = build_hair_trigger(&base, &update, &clipped, &targets, &cfg).unwrap_err();
    assert!(matches!(err, Error::NotApplicable { .. }), "{err}");
    assert!(err.to_string().contains("σ(0)"), "{err}");
}

/// The tanh base at seed 1: the benign step (labelled with the target) pushes
/// every query's kernel-weighted residual into the cone of the target, so
/// every target is proved unreachable by any zero-input units, and the
/// construction is refused as infeasible — the proof and the LP agree.
#[test]
fn tanh_benign_seed_one_is_proved_unreachable_for_zero_input_units() {
    use hairtrigger::attack::zero_input::sgd_reach_margins;
    use hairtrigger::eval::QuerySet;
    use hairtrigger::experiments::construct::UpdateKind;
    use hairtrigger::rng::stream;
    use hairtrigger::tasks::classifier::ToyClassifierTask;
    let task = ToyClassifierTask::new(1);
    let q_x = task.prompts(0, 16, stream::CLASSIFIER_QUERIES);
    let base = task
        .aligned_base_of(
            &[32, 32],
            Activation::Tanh,
            &QuerySet::new(q_x.clone(), vec![0; 16]).unwrap(),
        )
        .unwrap();
    let update = task.update_set(UpdateKind::Benign, 32).unwrap();
    let margins = sgd_reach_margins(&base, &update, 1e-4, q_x.view(), 3).unwrap();
    assert!(margins.iter().all(|&m| m <= 0.0), "{margins:?}");
    let cfg = ConstructRun::new(1, 1e-4, 32, 16, 64)
        .unwrap()
        .with_update_kind(UpdateKind::Benign)
        .with_activation(Activation::Tanh)
        .with_units(Units::ZeroInput);
    let err = run_construct(&cfg, None).unwrap_err();
    assert!(matches!(err, Error::ConstructionInfeasible { .. }), "{err}");
}

/// The tanh base at seed 0: every target is reachable, but the hardest
/// query's wedge of good directions is thin (relative margin about 0.026), so
/// the random directions are certified infeasible and the construction's
/// aimed retry builds the twin — bit-identical before the step, every target
/// hit after it (verified by the real step inside `run_construct`). The same
/// holds under Adam's first step, whose aimed directions are scored by the
/// sign-step law (certified infeasible for the random directions alone).
#[test]
fn tanh_benign_seed_zero_is_built_by_the_aimed_directions() {
    use hairtrigger::experiments::construct::UpdateKind;
    for rule in [UpdateRule::Sgd, UpdateRule::adam_default()] {
        let cfg = ConstructRun::new(0, 1e-4, 32, 16, 64)
            .unwrap()
            .with_update_kind(UpdateKind::Benign)
            .with_activation(Activation::Tanh)
            .with_rule(rule)
            .with_units(Units::ZeroInput);
        let r = run_construct(&cfg, None).unwrap();
        assert_eq!(r.twin_targets_hit_after, 1.0, "{rule:?}");
        assert_eq!(r.max_output_diff, 0.0, "{rule:?}");
        assert_eq!(r.twin_pass_before, r.aligned_pass_before, "{rule:?}");
        assert_eq!(r.aligned_pass_after, 1.0, "{rule:?}");
    }
}
