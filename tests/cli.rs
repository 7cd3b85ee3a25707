//! The `hairtrigger` binary end to end.

use std::process::Command;

fn hairtrigger(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hairtrigger"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn help_lists_every_subcommand() {
    let (ok, out, _) = hairtrigger(&["--help"]);
    assert!(ok);
    for sub in [
        "equiv",
        "chain",
        "construct",
        "meta",
        "scaling",
        "merge",
        "reproduce",
        "capacity",
        "passes",
        "audit",
        "canonicalize",
    ] {
        assert!(
            out.lines().any(|l| l.trim_start().starts_with(sub)),
            "{sub} missing:\n{out}"
        );
    }
}

#[test]
fn equiv_json_has_stable_fields_and_meets_the_tolerances() {
    let (ok, out, err) = hairtrigger(&[
        "equiv",
        "--arch",
        "8,24,24,5",
        "--act",
        "relu",
        "--seed",
        "7",
        "--probes",
        "2000",
        "--json",
    ]);
    assert!(ok, "{err}");
    let records: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 7);
    for r in &records {
        for key in [
            "construction",
            "applicable",
            "forward_max_rel",
            "grad_norm_rel_change",
            "ntk_rel_change",
            "post_step_divergence_abs",
            "isometry",
        ] {
            assert!(r.get(key).is_some(), "field {key} missing in {r}");
        }
        if r["applicable"].as_bool().unwrap() {
            assert!(r["forward_max_rel"].as_f64().unwrap() <= 1e-10);
            let div = r["post_step_vs_base_step"].as_f64().unwrap();
            if r["isometry"].as_bool().unwrap() {
                assert!(r["post_step_divergence_rel"].as_f64().unwrap() <= 1e-10);
            } else {
                assert!(div >= 1e-6, "{r}");
            }
        }
    }
    // ReLU: positive scaling, permutation, split, dormant, cancelling pair apply.
    assert_eq!(
        records
            .iter()
            .filter(|r| r["applicable"].as_bool().unwrap())
            .count(),
        5
    );
}

#[test]
fn chain_agrees_with_the_closed_form() {
    let (ok, out, _) = hairtrigger(&[
        "chain", "--c", "10", "--eta", "1e-4", "--x", "1", "--y", "0", "--json",
    ]);
    assert!(ok);
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!(r["rel_diff"].as_f64().unwrap() <= 1e-12);
    let expected = 1.0 - 1e-4 * (100.0 + 0.01) + 1e-8;
    assert!((r["closed_form"].as_f64().unwrap() - expected).abs() < 1e-15);
}

#[test]
fn bad_input_exits_with_a_message_naming_the_value() {
    let (ok, _, err) = hairtrigger(&["equiv", "--arch", "16,0,10"]);
    assert!(!ok);
    assert!(err.contains("width 0 at layer 1"), "{err}");
    let (ok, _, err) = hairtrigger(&["chain", "--c", "-1"]);
    assert!(!ok);
    assert!(err.contains("-1"), "{err}");
    let (ok, _, err) = hairtrigger(&["equiv", "--eta", "NaN"]);
    assert!(!ok);
    assert!(err.contains("NaN"), "{err}");
    let (ok, _, err) = hairtrigger(&["equiv", "--act", "softsign"]);
    assert!(!ok);
    assert!(err.contains("softsign"), "{err}");
    let (ok, _, err) = hairtrigger(&["construct", "--update", "poison"]);
    assert!(!ok);
    assert!(err.contains("poison"), "{err}");
}

#[test]
fn reproduce_quick_writes_a_report_without_fail() {
    let dir = std::env::temp_dir().join(format!("hairtrigger-repro-{}", std::process::id()));
    let (ok, out, err) = hairtrigger(&["reproduce", "--quick", "--out", dir.to_str().unwrap()]);
    assert!(ok, "{out}\n{err}");
    let report = std::fs::read_to_string(dir.join("REPORT.md")).unwrap();
    assert!(report.contains("PASS"));
    assert!(!report.contains("FAIL"), "{report}");
    assert!(report.contains("C3 breadth") && report.contains("C3 severity"));
    let png = std::fs::read(dir.join("breadth.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    for f in [
        "equiv.csv",
        "equiv.json",
        "chain.csv",
        "chain.json",
        "chain_post_step.svg",
        "chain_post_step.png",
        "breadth.csv",
        "breadth_tries.json",
        "breadth.svg",
        "breadth.png",
        "severity.csv",
        "severity_width.png",
        "severity_bound.svg",
        "scaling_fits.json",
        "report.json",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // Passed: nothing to inspect (a failure above leaves the folder).
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn sharded_scaling_merges_to_the_single_run_bit_for_bit() {
    let base = std::env::temp_dir().join(format!("hairtrigger-shards-{}", std::process::id()));
    let (single, parts, merged) = (base.join("single"), base.join("parts"), base.join("merged"));
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, out, err) = hairtrigger(&["scaling", "--quick", "--out", &s(&single)]);
    assert!(ok, "{out}\n{err}");
    for i in 0..3 {
        let shard = format!("{i}/3");
        let (ok, out, err) =
            hairtrigger(&["scaling", "--quick", "--shard", &shard, "--out", &s(&parts)]);
        assert!(ok, "{out}\n{err}");
    }
    let files: Vec<String> = (0..3)
        .map(|i| s(&parts.join(format!("shard-{i}-of-3.json"))))
        .collect();
    let mut args = vec!["merge", "--quick", "--out"];
    let m = s(&merged);
    args.push(&m);
    args.extend(files.iter().map(String::as_str));
    let (ok, out, err) = hairtrigger(&args);
    assert!(ok, "{out}\n{err}");
    for f in [
        "breadth.csv",
        "breadth.json",
        "breadth_tries.json",
        "severity.csv",
        "scaling_fits.json",
        "breadth.svg",
        "breadth.png",
    ] {
        let a = std::fs::read(single.join(f)).unwrap();
        let b = std::fs::read(merged.join(f)).unwrap();
        assert!(
            a == b,
            "{f} differs between the single run and the merged slices"
        );
    }
    // A missing slice is an error, not a partial result.
    let (ok, _, err) = hairtrigger(&["merge", "--quick", "--out", &m, &files[0], &files[2]]);
    assert!(!ok);
    assert!(err.contains("expected 3 slices"), "{err}");
    let (ok, _, err) = hairtrigger(&["scaling", "--quick", "--shard", "3/3"]);
    assert!(!ok);
    assert!(err.contains("3/3"), "{err}");
    // The solver is part of a slice's settings: hinge slices merge only
    // under `merge --solver hinge`, and are refused under the default.
    let hinge = base.join("hinge");
    let (ok, out, err) = hairtrigger(&[
        "scaling",
        "--quick",
        "--solver",
        "hinge",
        "--shard",
        "0/1",
        "--out",
        &s(&hinge),
    ]);
    assert!(ok, "{out}\n{err}");
    let h = s(&hinge.join("shard-0-of-1.json"));
    let (ok, out, err) = hairtrigger(&["merge", "--quick", "--solver", "hinge", "--out", &m, &h]);
    assert!(ok, "{out}\n{err}");
    let (ok, _, _) = hairtrigger(&["merge", "--quick", "--out", &m, &h]);
    assert!(!ok, "hinge slices merged as LP slices");
    let _ = std::fs::remove_dir_all(&base);
}

/// The sweep parallelises over (m, seed) points and inside the kernels; its
/// output must not depend on the number of threads.
#[test]
fn scaling_output_is_identical_for_one_and_two_threads() {
    let base = std::env::temp_dir().join(format!("hairtrigger-threads-{}", std::process::id()));
    let run = |threads: &str| {
        let dir = base.join(threads);
        let out = Command::new(env!("CARGO_BIN_EXE_hairtrigger"))
            .args(["scaling", "--quick", "--out", dir.to_str().unwrap()])
            .env("RAYON_NUM_THREADS", threads)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        dir
    };
    let (one, two) = (run("1"), run("2"));
    for f in [
        "breadth.json",
        "breadth_tries.csv",
        "severity.json",
        "scaling_fits.json",
    ] {
        let a = std::fs::read(one.join(f)).unwrap();
        let b = std::fs::read(two.join(f)).unwrap();
        assert!(a == b, "{f} differs between 1 and 2 threads");
    }
    let _ = std::fs::remove_dir_all(&base);
}

/// Parse stdout of a `--json` run into one value per line.
fn json_lines(out: &str) -> Vec<serde_json::Value> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn tmp_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("hairtrigger-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn construct_builds_a_twin_that_hits_every_target() {
    let (ok, out, err) = hairtrigger(&["construct", "--json"]);
    assert!(ok, "{err}");
    let r = &json_lines(&out)[0];
    assert_eq!(r["twin_pass_before"], 1.0);
    assert_eq!(r["aligned_pass_after"], 1.0);
    assert_eq!(r["twin_targets_hit_after"], 1.0);
    assert!(r["max_output_diff"].as_f64().unwrap() <= 1e-12);
}

#[test]
fn construct_defaults_to_a_set_without_the_target_and_zero_input_units() {
    let (ok, out, err) = hairtrigger(&["construct", "--json"]);
    assert!(ok, "{err}");
    let r = &json_lines(&out)[0];
    assert_eq!(r["update_kind"], "no_target");
    assert_eq!(r["units"], "zero-input");
    // Clipped SGD and mini-batches take zero-input units too; the hinge
    // solver only dormant ones: the default follows the run.
    let (ok, out, err) = hairtrigger(&[
        "construct",
        "--update",
        "refusal",
        "--rule",
        "sgd-clip",
        "--json",
    ]);
    assert!(ok, "{err}");
    let r = &json_lines(&out)[0];
    assert_eq!(r["units"], "zero-input");
    assert_eq!(r["twin_targets_hit_after"], 1.0);
    let (ok, out, err) = hairtrigger(&[
        "construct",
        "--solver",
        "hinge",
        "--update",
        "benign",
        "--json",
    ]);
    assert!(ok, "{err}");
    assert_eq!(json_lines(&out)[0]["units"], "dormant");
    // An explicit choice the construction refuses is an error, not a fallback.
    let (ok, _, err) = hairtrigger(&["construct", "--solver", "hinge", "--units", "zero-input"]);
    assert!(!ok);
    assert!(err.contains("LP solver"), "{err}");
    let (ok, _, err) = hairtrigger(&[
        "construct",
        "--act",
        "tanh",
        "--rule",
        "sgd-clip",
        "--units",
        "zero-input",
    ]);
    assert!(!ok);
    assert!(err.contains("positively homogeneous"), "{err}");
}

/// A mini-batch as large as the update set the kind gives (one sample) is
/// an error naming the setting, not a panic.
#[test]
fn construct_refuses_a_batch_larger_than_the_update_set() {
    let (ok, _, err) = hairtrigger(&["construct", "--update", "single", "--batch", "8"]);
    assert!(!ok);
    assert!(
        err.contains("--batch 8") && err.contains("1 sample") && !err.contains("panicked"),
        "{err}"
    );
}

#[test]
fn meta_start_and_clip_are_checked_and_named() {
    let (ok, _, err) = hairtrigger(&["meta", "--start", "sideways", "--steps", "2"]);
    assert!(
        !ok && err.contains("--start") && err.contains("sideways"),
        "{err}"
    );
    let (ok, _, err) = hairtrigger(&["meta", "--clip", "0", "--steps", "2"]);
    assert!(!ok && err.contains("clip"), "{err}");
    let (ok, _, err) = hairtrigger(&["meta", "--clip", "often", "--steps", "2"]);
    assert!(
        !ok && err.contains("--clip") && err.contains("often"),
        "{err}"
    );
    let d = tmp_dir("meta-plain");
    let (ok, out, err) = hairtrigger(&[
        "meta",
        "--task",
        "safety",
        "--start",
        "plain",
        "--clip",
        "none",
        "--steps",
        "5",
        "--json",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(
        json_lines(&out)
            .iter()
            .any(|r| r["model"] == "hair_trigger_plain"),
        "{out}"
    );
}

#[test]
fn meta_writes_the_table_for_a_control_and_a_hair_trigger_model() {
    let d = tmp_dir("meta");
    let (ok, out, err) = hairtrigger(&[
        "meta",
        "--task",
        "safety",
        "--steps",
        "20",
        "--json",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let rows = json_lines(&out);
    let models: Vec<&str> = rows.iter().map(|r| r["model"].as_str().unwrap()).collect();
    assert!(models.contains(&"control") && models.iter().any(|m| m.starts_with("hair")));
    for r in &rows {
        assert_eq!(r["task"], "safety");
        assert_eq!(r["steps"], 20);
        for k in ["pass_before", "misaligned_after", "aligned_after"] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} = {v}");
        }
    }
    for f in [
        "meta.csv",
        "meta.json",
        "meta_fragility.csv",
        "meta_table.md",
        "meta_run.json",
    ] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn capacity_counts_per_width_and_per_rank() {
    let d = tmp_dir("capacity");
    let out_dir = d.to_str().unwrap();
    let (ok, out, err) = hairtrigger(&[
        "capacity",
        "--widths",
        "4,6,8",
        "--behaviours",
        "8",
        "--steps",
        "5",
        "--json",
        "--out",
        out_dir,
    ]);
    assert!(ok, "{err}");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 4, "three widths and the fit");
    for (r, w) in rows.iter().zip([4u64, 6, 8]) {
        assert_eq!(r["width"], w);
        // 32 → W → 10 with biases.
        assert_eq!(r["params"], 33 * w + (w + 1) * 10);
        assert!(r["hidden"].as_u64().unwrap() <= 8);
    }
    assert!(rows[3].get("slope").is_some());
    let (ok, out, err) = hairtrigger(&[
        "capacity",
        "--lora-ranks",
        "1,2,3",
        "--behaviours",
        "8",
        "--steps",
        "5",
        "--json",
        "--out",
        out_dir,
    ]);
    assert!(ok, "{err}");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 4);
    for (r, rank) in rows.iter().zip([1u64, 2, 3]) {
        assert_eq!(r["rank"], rank);
    }
    for f in [
        "capacity.csv",
        "capacity_fit.json",
        "lora.csv",
        "lora_fit.json",
        "capacity_run.json",
    ] {
        assert!(d.join(f).is_file(), "{f} missing");
    }
}

#[test]
fn passes_times_every_width() {
    let d = tmp_dir("passes");
    let (ok, out, err) = hairtrigger(&[
        "passes",
        "--widths",
        "8,16",
        "--outer",
        "8",
        "--batch",
        "4",
        "--reps",
        "1",
        "--json",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let rows = json_lines(&out);
    assert_eq!(rows.len(), 2);
    for (r, w) in rows.iter().zip([8u64, 16]) {
        assert_eq!(r["width"], w);
        // [8, w, 8, 10] with biases.
        assert_eq!(r["params"], 9 * w + (w + 1) * 8 + 9 * 10);
    }
    assert!(d.join("passes.csv").is_file());
}

#[test]
fn capacity_is_its_own_subcommand_and_meta_no_longer_mentions_it() {
    let (ok, out, _) = hairtrigger(&["capacity", "--help"]);
    assert!(ok && out.contains("--lora-ranks") && out.contains("--widths"));
    let (ok, out, _) = hairtrigger(&["meta", "--help"]);
    assert!(ok && !out.contains("capacity") && !out.contains("--widths"));
    let (ok, _, err) = hairtrigger(&["meta", "--capacity"]);
    assert!(!ok && err.contains("unexpected argument"), "{err}");
}

#[test]
fn audit_and_canonicalize_on_construct_output() {
    let d = tmp_dir("audit");
    let save = d.join("save");
    let s = |p: &std::path::Path| p.to_str().unwrap().to_string();
    let (ok, _, err) = hairtrigger(&["construct", "--save", &s(&save), "--json"]);
    assert!(ok, "{err}");
    let data = s(&save.join("data.safetensors"));
    let audit = |m: &str| {
        let (ok, out, err) = hairtrigger(&["audit", &s(&save.join(m)), "--data", &data, "--json"]);
        assert!(ok, "{err}");
        json_lines(&out).remove(0)
    };
    let (a, t) = (audit("aligned.safetensors"), audit("twin.safetensors"));
    assert_eq!(a["flagged"], false);
    assert_eq!(t["flagged"], true);
    assert_eq!(a["steps"][0]["rule"], "sgd");
    assert_eq!(t["steps"][1]["rule"], "adam");
    assert_eq!(a["steps"][0]["changed_by_step"], 0);
    assert_eq!(t["steps"][0]["changed_by_step"], 16, "the trigger fires");
    assert_eq!(t["queries_given"], true);
    assert_eq!(
        t["steps"][0]["canonical_changed_by_step"], 0,
        "canonicalization defuses it"
    );
    // Every rule `construct` takes is accepted by `audit` too, by the same parser.
    let (ok, out, err) = hairtrigger(&[
        "audit",
        &s(&save.join("twin.safetensors")),
        "--data",
        &data,
        "--rule",
        "sgd-clip,adamw:0.1",
        "--json",
    ]);
    assert!(ok, "{err}");
    let steps = &json_lines(&out)[0]["steps"];
    assert_eq!(steps[0]["rule"], "sgd-clip");
    assert_eq!(steps[1]["rule"], "adamw:0.1");
    let (ok, _, err) = hairtrigger(&[
        "audit",
        &s(&save.join("twin.safetensors")),
        "--data",
        &data,
        "--rule",
        "sgd-clip:0",
    ]);
    assert!(!ok && err.contains("--rule"), "{err}");
    let twin = save.join("twin.safetensors");
    let before = std::fs::read(&twin).unwrap();
    let out = d.join("canon.safetensors");
    let (ok, _, err) = hairtrigger(&["canonicalize", &s(&twin), "--out", &s(&out)]);
    assert!(ok, "{err}");
    assert_eq!(
        std::fs::read(&twin).unwrap(),
        before,
        "the input is never modified"
    );
    let canon = hairtrigger::Mlp::load(&out).unwrap();
    assert_eq!(canon.architecture().widths(), &[16, 32, 32, 4]);
    let (ok, _, err) = hairtrigger(&["canonicalize", &s(&twin), "--out", &s(&twin)]);
    assert!(!ok && err.contains("never modified"), "{err}");
    let junk = d.join("junk.safetensors");
    std::fs::write(&junk, &before[..before.len() / 3]).unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hairtrigger"))
        .args(["audit", &s(&junk)])
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "a truncated file is a clear error"
    );
}

/// A state dict as `safetensors.torch.save_file(model.state_dict(), path)`
/// writes it for `nn.Sequential(Linear, ReLU, Linear, ReLU, Linear)`: keys
/// `0.*`, `2.*`, `4.*`, F32, no metadata.
fn torch_sequential_f32(path: &std::path::Path, net: &hairtrigger::Mlp) {
    use safetensors::tensor::{Dtype, TensorView};
    let mut data: Vec<(String, Vec<usize>, Vec<u8>)> = Vec::new();
    for (l, layer) in net.layers().iter().enumerate() {
        let w: Vec<u8> = layer
            .weight
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect();
        data.push((
            format!("{}.weight", 2 * l),
            vec![layer.n_out(), layer.n_in()],
            w,
        ));
        let b: Vec<u8> = layer
            .bias
            .as_ref()
            .unwrap()
            .iter()
            .flat_map(|&v| (v as f32).to_le_bytes())
            .collect();
        data.push((format!("{}.bias", 2 * l), vec![layer.n_out()], b));
    }
    let views: Vec<(String, TensorView)> = data
        .iter()
        .map(|(k, s, b)| {
            (
                k.clone(),
                TensorView::new(Dtype::F32, s.clone(), b).unwrap(),
            )
        })
        .collect();
    std::fs::write(path, safetensors::serialize(views, &None).unwrap()).unwrap();
}

#[test]
fn a_pytorch_sequential_f32_model_audits_and_canonicalizes_in_its_own_layout() {
    use hairtrigger::reparam::add_random_dormant_units;
    use hairtrigger::rng::seeded;
    let d = tmp_dir("torch");
    std::fs::create_dir_all(&d).unwrap();
    let arch = hairtrigger::Architecture::parse("8,16,16,3", "relu", true).unwrap();
    let net = hairtrigger::Mlp::random(&arch, &mut seeded(5, 0));
    let twin = add_random_dormant_units(&net, 2, 4, &mut seeded(5, 1)).unwrap();
    let path = d.join("model.safetensors");
    torch_sequential_f32(&path, &twin);
    let p = path.to_str().unwrap();
    let (ok, _, err) = hairtrigger(&["audit", p]);
    assert!(
        !ok && err.contains("--act"),
        "no activation in the file: {err}"
    );
    let (ok, out, err) = hairtrigger(&["audit", p, "--act", "relu", "--json"]);
    assert!(ok, "{err}");
    let r = json_lines(&out).remove(0);
    assert_eq!(r["flagged"], true);
    assert_eq!(r["canonical"]["dormant_removed"], 4);
    let out_path = d.join("canonical.safetensors");
    let (ok, _, err) = hairtrigger(&[
        "canonicalize",
        p,
        "--act",
        "relu",
        "--out",
        out_path.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let bytes = std::fs::read(&out_path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut names: Vec<String> = st.names().into_iter().cloned().collect();
    names.sort();
    assert_eq!(
        names,
        ["0.bias", "0.weight", "2.bias", "2.weight", "4.bias", "4.weight"]
    );
    let w2 = st.tensor("2.weight").unwrap();
    assert_eq!(w2.dtype(), safetensors::tensor::Dtype::F32);
    assert_eq!(w2.shape(), [16, 16], "the 4 dormant units are gone");
    // Loads back (activation now in the metadata) and computes the same
    // function as the F32 input, to f32 precision.
    let (canon, _) = hairtrigger::net::torch::load_any(&out_path, None).unwrap();
    let (orig, _) =
        hairtrigger::net::torch::load_any(&path, Some(hairtrigger::Activation::Relu)).unwrap();
    let x = hairtrigger::net::gaussian_inputs(&mut seeded(5, 2), 100, 8);
    let (a, b) = (
        canon.forward(x.view()).unwrap(),
        orig.forward(x.view()).unwrap(),
    );
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let dev = (&a - &b).iter().fold(0.0f64, |m, v| m.max(v.abs()));
    assert!(dev <= 1e-6 * scale, "deviation {dev:e}");
}

#[test]
fn capacity_start_and_clip_are_checked_and_recorded() {
    let (ok, _, err) = hairtrigger(&["capacity", "--widths", "4,8,12", "--start", "x"]);
    assert!(!ok && err.contains("--start"), "{err}");
    let (ok, _, err) = hairtrigger(&["capacity", "--widths", "4,8,12", "--clip", "-1"]);
    assert!(!ok && err.contains("clip"), "{err}");
    let d = tmp_dir("capacity-plain");
    let (ok, out, err) = hairtrigger(&[
        "capacity",
        "--widths",
        "4,8,12",
        "--behaviours",
        "4",
        "--steps",
        "5",
        "--start",
        "plain",
        "--clip",
        "none",
        "--json",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    let rows = json_lines(&out);
    let widths: Vec<_> = rows.iter().filter(|r| r.get("width").is_some()).collect();
    assert_eq!(widths.len(), 3, "{out}");
    for r in widths {
        // A behaviour the control fails is never credited to the attack.
        let field = |k: &str| r[k].as_u64().unwrap_or_else(|| panic!("{k} missing: {r}"));
        assert!(field("hidden_control_passing") <= field("hidden"), "{r}");
        assert!(field("control_pass_before") <= 4, "{r}");
    }
}

/// `capacity --uncapped --anneal` (reproduce's LoRA stage, each budget its
/// own run) runs from the command line and records three budgets per rung.
#[test]
fn capacity_uncapped_runs_with_an_eta_curriculum() {
    let d = tmp_dir("capacity-uncapped-anneal");
    let (ok, out, err) = hairtrigger(&[
        "capacity",
        "--uncapped",
        "--lora-ranks",
        "1,2,3",
        "--base-width",
        "8",
        "--k-start",
        "4",
        "--k-max",
        "8",
        "--budgets",
        "4,8,16",
        "--seeds",
        "2",
        "--anneal",
        "0.1",
        "--start",
        "plain",
        "--clip",
        "none",
        "--out",
        d.to_str().unwrap(),
    ]);
    assert!(ok, "{err}");
    assert!(!out.is_empty());
    let csv = std::fs::read_to_string(d.join("capacity_uncapped_lora.csv"))
        .unwrap_or_else(|e| panic!("no uncapped table in {}: {e}", d.display()));
    // Column 5 is `budget` (family, size, params, seed, behaviours, budget, …).
    let budgets: std::collections::BTreeSet<&str> = csv
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').nth(5))
        .collect();
    assert_eq!(budgets.len(), 3, "{csv}");
}
