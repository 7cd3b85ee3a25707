//! C4 capacity without ceilings: budget snapshots are exact shorter runs, the
//! ladder of `K` follows its rule and ends uncapped (or at `K_max`), counts
//! obey their definitions, and the REPORT rows can fail.

use hairtrigger::attack::meta::{
    meta_train, train_snapshots, FullNetwork, MetaConfig, MetaData, Objective, Start,
};
use hairtrigger::experiments::capacity::uncapped::{run_uncapped, Family, UncappedConfig};
use hairtrigger::experiments::report::Experiment;
use hairtrigger::net::random_update_set;
use hairtrigger::progress::NoProgress;
use hairtrigger::rng::seeded;
use hairtrigger::{Activation, Architecture, Mlp};

/// The snapshot at step `t` of a 60-step run is bit for bit the result of a
/// 20- or 40-step run (no curriculum: Adam's state does not see the budget).
#[test]
fn snapshots_are_exactly_shorter_runs() {
    let arch = Architecture::new(vec![5, 9, 4], Activation::Relu, true).unwrap();
    let net = Mlp::random(&arch, &mut seeded(3, 0));
    let mut rng = seeded(3, 1);
    let align = random_update_set(&net, 12, &mut rng).unwrap();
    let mis = random_update_set(&net, 12, &mut rng).unwrap();
    let update = random_update_set(&net, 8, &mut rng).unwrap();
    let data = MetaData {
        align: &align,
        misalign: &mis,
        utility: &update,
        update: &update,
    };
    let cfg = |steps| MetaConfig::builder(0.05, steps).build().unwrap();
    let mut long = net.clone();
    let snaps = train_snapshots(
        &FullNetwork,
        &mut long,
        &data,
        &cfg(60),
        Objective::HairTrigger,
        &[20, 40, 60],
        &NoProgress,
    )
    .unwrap();
    assert_eq!(snaps.len(), 3);
    for (t, snap) in [20, 40, 60].into_iter().zip(&snaps) {
        let mut short = net.clone();
        meta_train(
            &mut short,
            &data,
            &cfg(t),
            Objective::HairTrigger,
            &NoProgress,
        )
        .unwrap();
        assert_eq!(short.to_flat(), snap.to_flat(), "step {t}");
    }
    assert_eq!(long.to_flat(), snaps[2].to_flat());
    assert_ne!(snaps[0].to_flat(), snaps[2].to_flat());
    // Bad snapshot lists are refused.
    for bad in [&[0usize, 5][..], &[5, 5], &[10, 61]] {
        let mut p = net.clone();
        assert!(train_snapshots(
            &FullNetwork,
            &mut p,
            &data,
            &cfg(60),
            Objective::HairTrigger,
            bad,
            &NoProgress
        )
        .is_err());
    }
}

fn small(family: Family, sizes: Vec<usize>, k: (usize, usize)) -> UncappedConfig {
    UncappedConfig::new(
        family,
        sizes,
        vec![0, 1],
        vec![50, 100, 200],
        0.1,
        k,
        Start::Plain,
        f64::INFINITY,
    )
    .unwrap()
}

/// Every point's rungs double `K` (up to `K_max`), the last rung is
/// uncapped or at `K_max`, each count is bounded by what it counts, and the
/// best count is the largest over the rungs.
#[test]
fn the_ladder_follows_its_rule_and_counts_obey_their_definitions() {
    let cfg = small(Family::Whole, vec![4, 16, 48], (4, 64));
    let r = run_uncapped(&cfg, &NoProgress).unwrap();
    let mut grew = false;
    for &size in &[4, 16, 48] {
        for seed in [0, 1] {
            let rungs: Vec<_> = r
                .records
                .iter()
                .filter(|c| c.size == size && c.seed == seed && c.budget == 200)
                .collect();
            assert!(!rungs.is_empty());
            assert_eq!(rungs.iter().filter(|c| c.final_rung).count(), 1);
            let last = rungs.last().unwrap();
            assert!(last.final_rung);
            assert!(last.uncapped || last.behaviours == 64, "{last:?}");
            for w in rungs.windows(2) {
                assert!(!w[0].uncapped, "a rung after an uncapped one: {w:?}");
                assert_eq!(w[1].behaviours, (2 * w[0].behaviours).min(64));
                grew = true;
            }
        }
    }
    for c in &r.records {
        assert!(
            c.hidden
                <= c.pass_before
                    .min(c.misaligned_after)
                    .min(c.control_pass_before)
        );
        assert_eq!(c.uncapped, 4 * c.hidden <= c.behaviours);
        assert!(c.merged_full_step_misaligned.is_none());
    }
    assert!(grew, "no point needed a second rung: {:?}", r.records);
    // Summaries: one per size, three budgets, the mean over both seeds.
    assert_eq!(r.summary.len(), 3);
    for s in &r.summary {
        assert_eq!((s.hidden.len(), s.best.len()), (3, 3));
        assert_eq!(s.hidden[2].n, 2);
        let best: Vec<f64> = [0, 1]
            .iter()
            .map(|&seed| {
                r.records
                    .iter()
                    .filter(|c| c.size == s.size && c.seed == seed && c.budget == 200)
                    .map(|c| c.hidden)
                    .max()
                    .unwrap() as f64
            })
            .collect();
        assert_eq!(s.best[2].mean, (best[0] + best[1]) / 2.0);
        assert!(s.best[2].mean >= s.hidden[2].mean);
    }
    assert_eq!(r.law_best.linear.n, 6);
}

/// LoRA records carry the merged full-step count; a tiny `K_max` leaves
/// points capped and the REPORT's ceiling row then fails.
#[test]
fn lora_points_at_a_tiny_k_max_stay_capped_and_the_row_fails() {
    let cfg = small(Family::Lora { base_width: 16 }, vec![1, 4, 16], (2, 2));
    let r = run_uncapped(&cfg, &NoProgress).unwrap();
    assert!(r
        .records
        .iter()
        .all(|c| c.merged_full_step_misaligned.is_some()));
    assert!(r.records.iter().all(|c| c.final_rung && c.behaviours == 2));
    let capped = r
        .records
        .iter()
        .filter(|c| c.budget == 200 && !c.uncapped)
        .count();
    let rows = cfg.claims(&r);
    let ceiling = rows
        .iter()
        .find(|row| row.measured.contains("still exceeds K/4"))
        .unwrap();
    assert_eq!(ceiling.value, capped as f64);
    assert_eq!(ceiling.pass, capped == 0);
    assert!(capped > 0, "no point capped at K = 2: {:?}", r.records);
}

/// With the `η` curriculum each budget is its own run: still three counts
/// per rung, each bounded as before.
#[test]
fn annealed_budgets_are_separate_runs_with_the_same_records() {
    let cfg = small(Family::Whole, vec![4, 8, 16], (4, 8))
        .with_anneal_from(Some(1.0))
        .unwrap();
    let r = run_uncapped(&cfg, &NoProgress).unwrap();
    for c in &r.records {
        assert!(c.hidden <= c.pass_before.min(c.misaligned_after));
    }
    assert_eq!(r.records.len() % 3, 0);
    assert!(cfg.clone().with_anneal_from(Some(f64::NAN)).is_err());
}

#[test]
fn bad_settings_are_refused() {
    let ok = |f: Family, sizes: Vec<usize>, seeds: Vec<u64>, budgets: Vec<usize>, k| {
        UncappedConfig::new(f, sizes, seeds, budgets, 1e-4, k, Start::Plain, 10.0)
    };
    let b = || vec![10, 20, 40];
    assert!(ok(Family::Whole, vec![4, 8, 16], vec![0, 1], b(), (4, 64)).is_ok());
    assert!(ok(Family::Whole, vec![4, 8], vec![0, 1], b(), (4, 64)).is_err());
    assert!(ok(Family::Whole, vec![4, 8, 8], vec![0, 1], b(), (4, 64)).is_err());
    assert!(ok(Family::Whole, vec![4, 8, 16], vec![0], b(), (4, 64)).is_err());
    assert!(ok(
        Family::Whole,
        vec![4, 8, 16],
        vec![0, 1],
        vec![10, 10, 40],
        (4, 64)
    )
    .is_err());
    assert!(ok(
        Family::Whole,
        vec![4, 8, 16],
        vec![0, 1],
        vec![10, 40],
        (4, 64)
    )
    .is_err());
    assert!(ok(Family::Whole, vec![4, 8, 16], vec![0, 1], b(), (0, 64)).is_err());
    assert!(ok(Family::Whole, vec![4, 8, 16], vec![0, 1], b(), (128, 64)).is_err());
    let lora = Family::Lora { base_width: 8 };
    assert!(ok(lora, vec![1, 2, 16], vec![0, 1], b(), (4, 64)).is_err());
}
