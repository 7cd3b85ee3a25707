//! A property-based fuzz pass (proptest; cargo-fuzz needs a nightly
//! toolchain): random and mutated command lines, safetensors bytes and shard
//! files must each be accepted or refused with an error — never a panic.
//! Bounded to a few seconds: 256 cases per property.

use clap::Parser;
use hairtrigger::cli::Cli;
use hairtrigger::experiments::reproduce::{scaling_config, Scale};
use hairtrigger::experiments::scaling::{merge_shards, parse_shard, run_shard, Shard};
use hairtrigger::net::io::read_tensors_from_bytes;
use hairtrigger::rng::seeded;
use hairtrigger::{Architecture, Mlp};
use proptest::prelude::*;
use std::sync::OnceLock;

const TOKENS: &[&str] = &[
    "equiv",
    "chain",
    "construct",
    "scaling",
    "merge",
    "meta",
    "capacity",
    "passes",
    "reproduce",
    "--arch",
    "--act",
    "--seed",
    "--probes",
    "--eta",
    "--c",
    "--x",
    "--y",
    "--json",
    "--quick",
    "--full",
    "--out",
    "--save",
    "--shard",
    "--task",
    "--all",
    "--width",
    "--lora-rank",
    "--update-size",
    "--steps",
    "--widths",
    "--lora-ranks",
    "--base-width",
    "--behaviours",
    "--outer",
    "--batch",
    "--reps",
    "--device",
    "--redundant",
    "--queries",
    "--update",
    "--max-memory",
    "--no-bias",
    "--first-order",
    "0",
    "1",
    "-1",
    "3",
    "1e-320",
    "1e308",
    "-inf",
    "NaN",
    "inf",
    "18446744073709551615",
    "99999999999",
    "16,0,10",
    "8,8,8",
    "4,5,6",
    "16,1000000000,10",
    "0/2",
    "2/2",
    "0/99999999999",
    "relu",
    "tanh",
    "leaky_relu:-1",
    "",
    "cuda:7",
    "1M",
    "-5G",
    "x.json",
    "honesty",
    "poison",
];

fn cli_args() -> impl Strategy<Value = Vec<String>> {
    let token = || {
        prop_oneof![
            8 => proptest::sample::select(TOKENS).prop_map(str::to_string),
            1 => "[-a-z0-9.,:/]{0,12}",
        ]
    };
    // Mostly "subcommand, then flag/value pairs", so that many lines parse
    // and reach the validation; sometimes any tokens at all.
    let shaped = (
        proptest::sample::select(&TOKENS[..9]),
        proptest::collection::vec((proptest::sample::select(&TOKENS[9..43]), token()), 0..5),
    )
        .prop_map(|(sub, pairs)| {
            std::iter::once(sub.to_string())
                .chain(pairs.into_iter().flat_map(|(f, v)| [f.to_string(), v]))
                .collect()
        });
    prop_oneof![3 => shaped, 1 => proptest::collection::vec(token(), 0..8)]
}

fn model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| {
        let arch = Architecture::parse("3,4,2", "relu", true).unwrap();
        let net = Mlp::random(&arch, &mut seeded(1, 1));
        let dir = std::env::temp_dir().join(format!("hairtrigger-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        net.save(&path, &[]).unwrap();
        std::fs::read(&path).unwrap()
    })
}

fn shard_texts() -> &'static (String, String) {
    static TEXTS: OnceLock<(String, String)> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let cfg = scaling_config(Scale::Quick, 0).unwrap();
        let bar = indicatif::ProgressBar::hidden();
        let part = |i| {
            let s = run_shard(&cfg, Shard { index: i, count: 2 }, &bar).unwrap();
            serde_json::to_string(&s).unwrap()
        };
        (part(0), part(1))
    })
}

/// Overwrite `edits` positions of `bytes` (positions taken modulo the length).
fn mutate(mut bytes: Vec<u8>, edits: &[(usize, u8)]) -> Vec<u8> {
    if !bytes.is_empty() {
        for &(i, b) in edits {
            let n = bytes.len();
            bytes[i % n] = b;
        }
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn command_lines_parse_or_are_refused(args in cli_args()) {
        let argv = std::iter::once("hairtrigger".to_string()).chain(args);
        if let Ok(cli) = Cli::try_parse_from(argv) {
            // Validation only (sizes, seeds, paths, combinations): no run.
            let _ = cli.check();
        }
    }

    #[test]
    fn model_bytes_load_or_are_refused(
        cut in 0usize..2000,
        edits in proptest::collection::vec((0usize..4000, any::<u8>()), 0..6),
        junk in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let good = model_bytes();
        prop_assert!(Mlp::from_safetensors_bytes(good, "good").is_ok());
        let cut = &good[..cut.min(good.len())];
        let _ = Mlp::from_safetensors_bytes(cut, "truncated");
        let mutated = mutate(good.to_vec(), &edits);
        let _ = Mlp::from_safetensors_bytes(&mutated, "mutated");
        let _ = read_tensors_from_bytes(&mutated, "mutated");
        let _ = Mlp::from_safetensors_bytes(&junk, "junk");
        let relu = Some(hairtrigger::Activation::Relu);
        let _ = hairtrigger::net::torch::from_bytes_any(cut, "truncated", relu);
        let _ = hairtrigger::net::torch::from_bytes_any(&mutated, "mutated", relu);
        if cut.len() < good.len() {
            prop_assert!(Mlp::from_safetensors_bytes(cut, "truncated").is_err());
        }
    }

    #[test]
    fn shard_files_merge_or_are_refused(
        cut in 0usize..20_000,
        edits in proptest::collection::vec((0usize..20_000, proptest::sample::select(b"0123456789,[]{}\": -e.".to_vec())), 0..4),
        spec in "[0-9/ ]{0,8}",
    ) {
        let (a, b) = shard_texts();
        let cfg = scaling_config(Scale::Quick, 0).unwrap();
        let _ = Shard::parse(&spec);
        let other = parse_shard(b, "b").unwrap();
        for text in [
            a[..cut.min(a.len())].to_string(),
            String::from_utf8_lossy(&mutate(a.as_bytes().to_vec(), &edits)).into_owned(),
        ] {
            if let Ok(shard) = parse_shard(&text, "fuzzed") {
                let _ = merge_shards(&cfg, vec![shard, other.clone()]);
            }
        }
    }
}
