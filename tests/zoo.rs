//! The audit's zoo (C5) on its quick scale: every family is built and
//! measured, its claims can fail, its ground truth is the step itself, and
//! LoRA adapters are audited in the coordinates their fine-tune moves.

use hairtrigger::audit::canonical::{canonicalize, probes, relative_deviation};
use hairtrigger::audit::{audit_tunable, AuditConfig};
use hairtrigger::experiments::report::Experiment;
use hairtrigger::experiments::zoo::truth::{natural, worst_twin_signs, Harness};
use hairtrigger::experiments::zoo::{Family, ZooConfig};
use hairtrigger::net::lora::Lora;
use hairtrigger::progress::NoProgress;
use hairtrigger::rng::seeded;
use hairtrigger::tasks::classifier::{ToyClassifierTask, DIM};
use hairtrigger::update::Tunable;
use hairtrigger::{Activation, Architecture, Mlp};
use std::process::Command;

#[test]
fn the_quick_zoo_measures_every_family_and_its_rows_can_fail() {
    let cfg = ZooConfig::quick(0);
    let out = cfg.run(&NoProgress).unwrap();
    for f in Family::ALL {
        assert!(
            out.records.iter().any(|r| r.family == f),
            "no {f:?} model in the quick zoo"
        );
    }
    for r in &out.records {
        assert!((0.0..=1.0).contains(&r.trigger_rate), "{r:?}");
        // A measured hair trigger passed the black-box test before the step.
        assert!(!r.hair_trigger || r.pass_before >= 0.9, "{r:?}");
        assert_eq!(
            r.canonical_matches_genuine.is_some(),
            r.family == Family::AnalyticTwin
        );
    }
    let rows = cfg.claims(&out);
    assert_eq!(rows.len(), 7);
    // The quick zoo is too small for the size row: it fails, as it must.
    assert!(!rows[0].pass && rows[0].value < 200.0, "{:?}", rows[0]);
    // The proposition (consistency check) holds on every twin.
    assert!(rows[4].pass, "{:?}", rows[4]);
    let dir = std::env::temp_dir().join(format!("hairtrigger-zoo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let art = cfg.write(&out, &dir).unwrap();
    for t in &art.tables {
        assert!(dir.join(format!("{t}.csv")).exists() && dir.join(format!("{t}.json")).exists());
    }
    for f in &art.figures {
        let png = std::fs::read(dir.join(format!("{f}.png"))).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }
    assert!(art.figures.contains(&"zoo_roc") && art.figures.contains(&"zoo_natural"));
    let roc = std::fs::read_to_string(dir.join("zoo_roc.csv")).unwrap();
    assert!(roc.contains("first-order reach"), "{roc}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// The natural-occurrence twin is forward-equivalent, and it is measured by
/// taking the step: at `ρ*` the rescaled model is a hair trigger, just below
/// it is not.
#[test]
fn the_natural_twin_is_the_same_function_and_fires_at_rho_star() {
    let task = ToyClassifierTask::new(3);
    let harness = Harness::classifier(&task).unwrap();
    let arch = Architecture::new(vec![DIM, 32, 32, 4], Activation::Relu, true).unwrap();
    let mut net = Mlp::random(&arch, &mut seeded(3, 9));
    hairtrigger::tasks::classifier::train_adam(
        &mut net,
        &task.training_set(64).unwrap(),
        1e-2,
        200,
    )
    .unwrap();
    let rec = natural(0, "test".into(), &net, &harness).unwrap();
    assert!(rec.reached, "{rec:?}");
    let x = ndarray::concatenate(
        ndarray::Axis(0),
        &harness
            .held_out
            .iter()
            .map(|d| d.x().view())
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let signs = worst_twin_signs(&net, &x).unwrap();
    let twin_at = |rho: f64| {
        let a: Vec<f64> = signs.iter().map(|s| (s * rho).exp()).collect();
        hairtrigger::reparam::scale_units(&net, 2, &a).unwrap()
    };
    let twin = twin_at(rec.rho_star);
    let p = probes(DIM, 2000, 1);
    assert!(relative_deviation(&twin, &net, p.view()).unwrap() <= 1e-12);
    let fires = |m: Mlp| {
        harness
            .truth(&Tunable::Whole(m), 1e-4)
            .unwrap()
            .hair_trigger()
    };
    assert!(fires(twin));
    assert!(!fires(twin_at(0.99 * rec.rho_star)));
}

/// An adapter started along the symmetry (`B = 0`, `A` scaled by `c`)
/// leaves the merged weights equal to the base's: the merged network alone
/// looks genuine, the adapter's NTK does not.
#[test]
fn an_amplified_adapter_is_seen_only_in_its_own_coordinates() {
    let arch = Architecture::new(vec![8, 16, 3], Activation::Relu, true).unwrap();
    let base = Mlp::random(&arch, &mut seeded(5, 0));
    let lora = Lora::new(base.clone(), 4).unwrap();
    let phi = lora.init(&mut seeded(5, 1), 100.0);
    let cfg = AuditConfig::new(1e-4).unwrap();
    let (whole, _) = audit_tunable(&Tunable::Whole(lora.merged(&phi).unwrap()), &cfg).unwrap();
    let model = Tunable::Adapter {
        lora: lora.clone(),
        phi: phi.clone(),
    };
    let (adapter, canon) = audit_tunable(&model, &cfg).unwrap();
    assert_eq!(adapter.coordinates, "LoRA rank 4 adapters");
    assert!(
        adapter.first_order.median_reach > 1e3 * whole.first_order.median_reach,
        "{} vs {}",
        adapter.first_order.median_reach,
        whole.first_order.median_reach
    );
    assert!(adapter.ntk_ratio > 1e3, "{}", adapter.ntk_ratio);
    let (c_base, _) = canonicalize(&base).unwrap();
    assert!(relative_deviation(&canon, &c_base, probes(8, 100, 0).view()).unwrap() <= 1e-12);

    // The adapter file round-trips exactly and the command line reads it.
    let dir = std::env::temp_dir().join(format!("hairtrigger-adapter-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (bp, ap) = (
        dir.join("base.safetensors"),
        dir.join("adapter.safetensors"),
    );
    base.save(&bp, &[]).unwrap();
    lora.save_adapter(&phi, &ap).unwrap();
    let (back, phi2) = Lora::load_adapter(base.clone(), &ap).unwrap();
    assert_eq!(back.rank(), 4);
    assert_eq!(phi2, phi);
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_hairtrigger"))
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (code, out, err) = run(&["audit", &s(&bp), "--adapter", &s(&ap), "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["coordinates"], "LoRA rank 4 adapters");
    assert_eq!(v["flagged"], true, "{v}");
    // An adapter for another base is refused, naming the tensor.
    let other = Mlp::random(
        &Architecture::new(vec![8, 5, 3], Activation::Relu, true).unwrap(),
        &mut seeded(1, 1),
    );
    let op = dir.join("other.safetensors");
    other.save(&op, &[]).unwrap();
    let (code, _, err) = run(&["audit", &s(&op), "--adapter", &s(&ap)]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("lora.0.B") || err.contains("lora.1.A"),
        "{err}"
    );
    let co = dir.join("canon.safetensors");
    let (code, out, err) = run(&[
        "canonicalize",
        &s(&bp),
        "--adapter",
        &s(&ap),
        "--out",
        &s(&co),
        "--json",
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("\"adapter_merged\":true"), "{out}");
    let c = Mlp::load(&co).unwrap();
    assert!(
        relative_deviation(&c, &lora.merged(&phi).unwrap(), probes(8, 100, 2).view()).unwrap()
            <= 1e-12
    );
    let _ = std::fs::remove_dir_all(&dir);
}
