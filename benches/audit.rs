//! The cost of `audit` and of the canonical form against width: random ReLU
//! networks `[784, w, w, 10]`, w = 128 … 1024 (1024 ≈ 1.9M parameters, the
//! issue's ≤ 1 s target for an audit without an update set).
//!
//! Run: `cargo bench --bench audit` (`HAIRTRIGGER_BENCH_WIDTHS=128,256` to choose).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hairtrigger::audit::canonical::canonicalize;
use hairtrigger::audit::{audit, AuditConfig};
use hairtrigger::rng::seeded;
use hairtrigger::{Activation, Architecture, Mlp};
use std::hint::black_box;
use std::time::Duration;

fn widths() -> Vec<usize> {
    std::env::var("HAIRTRIGGER_BENCH_WIDTHS")
        .ok()
        .and_then(|s| s.split(',').map(|w| w.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![128, 256, 512, 1024])
}

fn bench_audit(c: &mut Criterion) {
    hairtrigger::alloc::retain_freed_memory();
    let cfg = AuditConfig::new(1e-4).unwrap();
    let mut group = c.benchmark_group("audit");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for w in widths() {
        let arch = Architecture::new(vec![784, w, w, 10], Activation::Relu, true).unwrap();
        let net = Mlp::random(&arch, &mut seeded(0, 0));
        group.bench_with_input(BenchmarkId::new("canonicalize", w), &net, |b, n| {
            b.iter(|| black_box(canonicalize(n).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("audit", w), &net, |b, n| {
            b.iter(|| black_box(audit(n, &cfg).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_audit);
criterion_main!(benches);
