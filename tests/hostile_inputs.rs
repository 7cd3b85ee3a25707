//! Hostile and careless command lines against the release binary, one test per
//! class of defect: refused input exits 2 (never 101 for a panic or 134 for
//! an abort) with a message naming the option; no output holds NaN or inf;
//! `--json` standard output is JSON lines only; interrupted writes leave the
//! previous files intact; ad-hoc runs never write `plots/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn run_in(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hairtrigger"));
    c.args(args);
    if let Some(d) = dir {
        c.current_dir(d);
    }
    c.output().unwrap()
}

fn run(args: &[&str]) -> Output {
    run_in(None, args)
}

fn text(o: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Exit 2 with an `error:` naming `needle`, and no NaN/inf printed.
fn refused(args: &[&str], needle: &str) {
    let o = run(args);
    let (out, err) = text(&o);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {out}\n{err}");
    assert!(err.contains("error:"), "{args:?}: {err}");
    assert!(
        err.contains(needle),
        "{args:?}: expected {needle:?} in\n{err}"
    );
    assert!(
        !out.contains("NaN") && !out.contains("inf"),
        "{args:?}: {out}"
    );
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hairtrigger-hostile-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// Every CSV/JSON/Markdown file under `dir` is free of NaN and inf.
fn assert_no_non_finite(dir: &Path) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ["csv", "json", "md"].contains(&ext) {
            let t = std::fs::read_to_string(&p).unwrap();
            for bad in ["NaN", "inf,", ": inf", "\"inf\""] {
                assert!(!t.contains(bad), "{} contains {bad}", p.display());
            }
        }
    }
}

/// All plain files of `dir` (not hidden), name → bytes.
fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            (e.path().is_file() && !name.starts_with('.'))
                .then(|| (name, std::fs::read(e.path()).unwrap()))
        })
        .collect()
}

// Class 1: a hand-edited shard file is refused, never a panic; jobs moved to
// another slice or swapped are refused too.
#[test]
fn edited_shard_files_are_refused_not_a_panic() {
    let d = tmp("shards");
    for i in 0..2 {
        let shard = format!("{i}/2");
        let o = run(&["scaling", "--quick", "--shard", &shard, "--out", &s(&d)]);
        assert!(o.status.success(), "{}", text(&o).1);
    }
    let read = |i: usize| -> serde_json::Value {
        let t = std::fs::read_to_string(d.join(format!("shard-{i}-of-2.json"))).unwrap();
        serde_json::from_str(&t).unwrap()
    };
    let write = |name: &str, v: &serde_json::Value| -> String {
        let p = d.join(name);
        std::fs::write(&p, serde_json::to_string(v).unwrap()).unwrap();
        s(&p)
    };
    let (a, b) = (read(0), read(1));
    let out = s(&d.join("merged"));
    let merge = |files: &[String]| {
        let mut args = vec!["merge", "--quick", "--out", &out];
        args.extend(files.iter().map(|f| f.as_str()));
        run(&args)
    };
    let good = [write("a.json", &a), write("b.json", &b)];
    assert!(merge(&good).status.success());

    // shard.index edited to equal n (was an index-out-of-bounds panic).
    let mut bad = b.clone();
    bad["shard"]["index"] = serde_json::json!(2);
    let o = merge(&[good[0].clone(), write("idx.json", &bad)]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    assert!(text(&o).1.contains("not one of 2 slices"), "{}", text(&o).1);

    // A job moved from slice 1 to slice 0.
    let (mut a2, mut b2) = (a.clone(), b.clone());
    let moved = b2["points"].as_array_mut().unwrap().remove(0);
    a2["points"].as_array_mut().unwrap().push(moved);
    let o = merge(&[write("a2.json", &a2), write("b2.json", &b2)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        text(&o).1.contains("belongs to slice 1/2"),
        "{}",
        text(&o).1
    );

    // Two job ids swapped inside slice 0.
    let mut a3 = a.clone();
    let pts = a3["points"].as_array_mut().unwrap();
    let (j0, j1) = (pts[0][0].clone(), pts[1][0].clone());
    pts[0][0] = j1;
    pts[1][0] = j0;
    let o = merge(&[write("a3.json", &a3), good[1].clone()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).1.contains("but its point is"), "{}", text(&o).1);

    // Not JSON at all, and a truncated file.
    let junk = d.join("junk.json");
    std::fs::write(&junk, b"\x00\xffnot json").unwrap();
    let t = std::fs::read_to_string(&good[0]).unwrap();
    let cut = write("cut.json", &serde_json::Value::Null);
    std::fs::write(&cut, &t[..t.len() / 2]).unwrap();
    for f in [s(&junk), cut] {
        let o = merge(&[f, good[1].clone()]);
        assert_eq!(o.status.code(), Some(2), "{}", text(&o).1);
    }
}

// Class 2: numbers that leave f64 are errors naming the options, never NaN/inf
// with exit 0; reductions propagate NaN (see finite.rs's unit tests).
#[test]
fn non_finite_results_are_errors_naming_the_options() {
    for c in ["1e200", "1e-200"] {
        refused(&["chain", "--c", c], "--c");
    }
    refused(&["chain", "--eta", "1e200"], "--eta 1e200");
    refused(&["chain", "--x", "1e150"], "--x 1e150");
    refused(
        &["equiv", "--eta", "1e200", "--probes", "100"],
        "--eta 1e200",
    );
    refused(
        &["equiv", "--eta", "1e-320", "--probes", "100"],
        "--eta 1e-320",
    );
    refused(
        &[
            "equiv",
            "--arch",
            "16,1,1,10",
            "--no-bias",
            "--probes",
            "100",
        ],
        "--no-bias",
    );
}

// Class 2, the fit: an undefined R² is written as an explicit string.
#[test]
fn an_undefined_fit_says_so_instead_of_null() {
    let d = tmp("fit");
    let o = run(&[
        "capacity",
        "--widths",
        "4,5,6",
        "--behaviours",
        "4",
        "--steps",
        "1",
        "--out",
        &s(&d),
    ]);
    assert!(o.status.success(), "{}", text(&o).1);
    let fit: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("capacity_fit.json")).unwrap())
            .unwrap();
    let r2 = &fit["r_squared"];
    assert!(
        r2.is_number() || r2.as_str().is_some_and(|t| t.starts_with("undefined:")),
        "{r2}"
    );
    assert_no_non_finite(&d);
}

// Class 3: an interrupted write (a file-size limit kills the process while it
// writes) leaves the earlier run's files intact, byte for byte.
#[test]
fn interrupted_writes_leave_the_previous_files_intact() {
    let d = tmp("atomic");
    let save = d.join("save");
    let o = run(&["construct", "--seed", "0", "--save", &s(&save), "--json"]);
    assert!(o.status.success(), "{}", text(&o).1);
    let before = snapshot(&save);
    assert!(before.contains_key("aligned.safetensors") && before.contains_key("settings.json"));
    let settings: serde_json::Value =
        serde_json::from_str(std::str::from_utf8(&before["settings.json"]).unwrap()).unwrap();
    assert_eq!(settings["seed"], 0);
    // 8 KiB per file: the first model file is larger, so the write is cut.
    let cmd = format!(
        "ulimit -f 8; exec '{}' construct --seed 1 --save '{}'",
        env!("CARGO_BIN_EXE_hairtrigger"),
        s(&save)
    );
    let o = Command::new("bash").args(["-c", &cmd]).output().unwrap();
    assert!(
        !o.status.success(),
        "the size limit should have stopped the run"
    );
    assert_eq!(snapshot(&save), before, "a cut write changed the saved set");

    // The same for a sweep's output folder (CSV, JSON and figures).
    let out = d.join("scaling");
    assert!(run(&["scaling", "--quick", "--out", &s(&out)])
        .status
        .success());
    let before = snapshot(&out);
    let cmd = format!(
        "ulimit -f 16; exec '{}' scaling --quick --seed 1 --out '{}'",
        env!("CARGO_BIN_EXE_hairtrigger"),
        s(&out)
    );
    let o = Command::new("bash").args(["-c", &cmd]).output().unwrap();
    assert!(!o.status.success());
    assert_eq!(snapshot(&out), before, "a cut sweep mixed two runs' files");
}

// Class 4: sizes far beyond memory are refused before allocation (exit 2,
// naming the option and the estimate), never aborted (134).
#[test]
fn huge_sizes_are_refused_naming_the_option() {
    let big = "100000000000";
    let cases: &[(&[&str], &str)] = &[
        (
            &["equiv", "--arch", "16,1000000000,10"],
            "--arch 16,1000000000,10",
        ),
        (&["equiv", "--probes", big], "--probes"),
        (&["construct", "--redundant", big], "--redundant"),
        (&["construct", "--queries", big], "--queries"),
        (&["construct", "--update-size", big], "--update-size"),
        (&["meta", "--width", "1000000000"], "--width"),
        (&["capacity", "--widths", "8,16,1000000000"], "--widths"),
        (
            &["capacity", "--widths", "8,16,32", "--behaviours", big],
            "--behaviours",
        ),
        (
            &["capacity", "--lora-ranks", "1,2,4", "--base-width", big],
            "--base-width",
        ),
        (&["passes", "--widths", big], "--widths"),
        (&["passes", "--widths", "8", "--outer", big], "--outer"),
        (&["passes", "--widths", "8", "--batch", big], "--batch"),
    ];
    for (args, flag) in cases {
        refused(args, flag);
    }
    refused(
        &["equiv", "--arch", &format!("16,{big},{big},10")],
        "architecture widths",
    );
    // An explicit budget is honoured.
    refused(
        &["--max-memory", "1M", "equiv", "--probes", "100000"],
        "--max-memory",
    );
    refused(&["meta", "--steps", "100000000"], "--steps");
}

// Class 5: seeds whose range leaves u64 are refused, naming the seed.
#[test]
fn seed_overflow_is_refused() {
    let max = u64::MAX.to_string();
    refused(&["scaling", "--quick", "--seed", &max], &max);
    refused(
        &["reproduce", "--seed", &(u64::MAX - 2).to_string()],
        "overflows u64",
    );
}

// Class 6: with --json, standard output is JSON objects only, one a line.
#[test]
fn json_output_is_json_lines_only() {
    let d = tmp("json");
    let o = s(&d);
    let commands: &[&[&str]] = &[
        &["chain", "--json"],
        &["equiv", "--probes", "200", "--json"],
        &["scaling", "--quick", "--json", "--out", &o],
        &[
            "capacity",
            "--widths",
            "4,5,6",
            "--behaviours",
            "4",
            "--steps",
            "2",
            "--json",
            "--out",
            &o,
        ],
        &[
            "capacity",
            "--lora-ranks",
            "1,2,3",
            "--behaviours",
            "4",
            "--steps",
            "2",
            "--json",
            "--out",
            &o,
        ],
        &["meta", "--steps", "2", "--json", "--out", &o],
        &[
            "passes", "--widths", "8,16", "--outer", "8", "--batch", "4", "--reps", "1", "--json",
            "--out", &o,
        ],
    ];
    for args in commands {
        let out = run(args);
        let (stdout, err) = text(&out);
        assert!(out.status.success(), "{args:?}: {err}");
        assert!(!stdout.trim().is_empty(), "{args:?}: no JSON");
        for line in stdout.lines() {
            let v: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {line}"));
            assert!(v.is_object(), "{args:?}: {line}");
        }
    }
}

// Class 7: an empty path is refused instead of writing into the current folder.
#[test]
fn empty_paths_are_refused() {
    for args in [
        &["scaling", "--quick", "--out", ""][..],
        &["construct", "--save", ""],
        &["meta", "--out", ""],
        &["reproduce", "--out", ""],
        &["merge", "--out", "", "x.json"],
    ] {
        refused(args, "the path is empty");
    }
}

// Class 8: options of another mode, impossible combinations and bad values are
// refused at once (before any training), with negative numbers read as values.
#[test]
fn misplaced_and_impossible_options_are_refused_up_front() {
    refused(&["meta", "--capacity"], "unexpected argument '--capacity'");
    refused(&["meta", "--widths", "0"], "unexpected argument '--widths'");
    refused(
        &["meta", "--lora", "--steps", "5"],
        "unexpected argument '--lora'",
    );
    refused(
        &["capacity", "--widths", "8,16,32", "--lora-ranks", "1,2,4"],
        "cannot be used with",
    );
    refused(
        &["capacity", "--widths", "8,16,32", "--base-width", "8"],
        "cannot be used with",
    );
    refused(&["capacity"], "required arguments were not provided");
    refused(
        &["meta", "--width", "16", "--lora-rank", "100"],
        "--lora-rank",
    );
    refused(&["meta", "--steps", "0"], "--steps");
    refused(&["capacity", "--widths", "8,8,8"], "--widths");
    refused(&["capacity", "--widths", "8,16"], "at least 3");
    refused(
        &["scaling", "--quick", "--shard", "0/99999999999"],
        "breadth points",
    );
    refused(&["passes", "--widths", "8", "--reps", "0"], "reps");
    for v in ["-1", "-inf", "-1e-3"] {
        refused(&["chain", "--eta", v], "learning rate");
        refused(&["meta", "--eta", v], "learning rate");
    }
    refused(&["construct", "--eta", "-inf"], "learning rate");
    refused(
        &["construct", "--rule", "sgd-clip:0"],
        "--rule from \"sgd-clip:0\"",
    );
    refused(&["construct", "--rule", "adamw:-1"], "weight decay");
    refused(&["construct", "--batch", "0"], "--batch 0");
    refused(&["construct", "--batch", "32"], "--batch 32");
    refused(
        &["construct", "--batch", "8", "--rule", "sgd-clip"],
        "--batch 8",
    );
    refused(
        &["construct", "--rule", "adamw:20", "--eta", "0.1"],
        "--rule adamw:20 with --eta 0.1",
    );
    // A negative count or seed is an invalid value, not an unknown flag.
    refused(&["equiv", "--seed", "-1"], "invalid value '-1' for '--seed");
    refused(
        &["construct", "--queries", "-5"],
        "invalid value '-5' for '--queries",
    );
    refused(&["capacity", "--lora-ranks", "0,1,2"], "LoRA rank");
    // `passes` creates its folder before timing anything: a path under a
    // regular file fails at once, with no timing row printed.
    let d = tmp("passes");
    let file = d.join("file");
    std::fs::write(&file, b"x").unwrap();
    let o = run(&["passes", "--widths", "512", "--out", &s(&file.join("sub"))]);
    let (out, _) = text(&o);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        !out.lines().any(|l| l.trim_start().starts_with("512")),
        "{out}"
    );
}

// Class 9: messages name the option the user typed, not a derived value.
#[test]
fn messages_name_the_option_not_a_derived_value() {
    refused(&["chain", "--c", "1e-320"], "--c 1e-320");
    refused(&["meta", "--eta", "1e-320"], "--eta 1e-320");
    refused(
        &["capacity", "--widths", "4,5,6", "--eta", "1e-320"],
        "--eta 1e-320",
    );
    refused(&["construct", "--eta", "1e-310"], "--eta 1e-310");
    refused(&["construct", "--eta", "1e308"], "--eta 1e308");
    refused(&["meta", "--eta", "1e308", "--steps", "1"], "--eta 1e308");
}

// Class 10: without --out, ad-hoc commands write under runs/<command>/, never plots/.
#[test]
fn ad_hoc_runs_never_write_plots() {
    let d = tmp("defaults");
    let cases: &[(&[&str], &str)] = &[
        (&["scaling", "--quick"], "runs/scaling/breadth.csv"),
        (
            &[
                "capacity",
                "--widths",
                "4,5,6",
                "--behaviours",
                "4",
                "--steps",
                "1",
            ],
            "runs/capacity/capacity.csv",
        ),
        (&["meta", "--steps", "1"], "runs/meta/meta_table.md"),
        (
            &[
                "passes", "--widths", "8", "--outer", "8", "--batch", "4", "--reps", "1",
            ],
            "runs/passes/passes.csv",
        ),
    ];
    for (args, file) in cases {
        let o = run_in(Some(&d), args);
        assert!(o.status.success(), "{args:?}: {}", text(&o).1);
        assert!(d.join(file).is_file(), "{args:?} did not write {file}");
        let folder = Path::new(file).parent().unwrap();
        let command = folder.file_name().unwrap().to_str().unwrap();
        let settings = d.join(folder).join(format!("{command}_run.json"));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(settings).unwrap()).unwrap();
        assert!(v["hairtrigger_version"].is_string() && v["settings"].is_object());
    }
    assert!(!d.join("plots").exists(), "an ad-hoc run wrote plots/");
    assert_no_non_finite(&d.join("runs/scaling"));
}
