//! One point of each sweep, timed: the empirical NTK of a `[w, w, w, 10]` ReLU
//! network on 64 × 64 inputs (w = 256, 1024), one C3 breadth point (the
//! `K*` search at m = 30 and m = 95, seed 0, default setting), and the C3
//! severity sweep at `reproduce`'s default scale.
//!
//! Run: `cargo bench --bench sweep`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hairtrigger::experiments::breadth::{BreadthConfig, BreadthSetup};
use hairtrigger::experiments::gaussian_inputs;
use hairtrigger::experiments::severity::{run_severity, SeverityConfig};
use hairtrigger::net::ntk;
use hairtrigger::rng::seeded;
use hairtrigger::{Activation, Architecture, Mlp};
use std::hint::black_box;
use std::time::Duration;

fn bench_sweep(c: &mut Criterion) {
    let mut group = c.benchmark_group("sweep");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for w in [256usize, 1024] {
        let arch = Architecture::new(vec![w, w, w, 10], Activation::Relu, true).unwrap();
        let net = Mlp::random(&arch, &mut seeded(0, 0));
        let x = gaussian_inputs(&mut seeded(0, 1), 64, w);
        group.bench_with_input(BenchmarkId::new("ntk_64x64", w), &w, |b, _| {
            b.iter(|| black_box(ntk(&net, x.view(), x.view()).unwrap()))
        });
    }
    let setup = BreadthSetup::new(BreadthConfig::standard(1264).unwrap()).unwrap();
    for m in [30usize, 95] {
        group.bench_with_input(BenchmarkId::new("breadth_point", m), &m, |b, &m| {
            b.iter(|| black_box(setup.search(m, 0).unwrap()))
        });
    }
    let sev = SeverityConfig::new(
        0,
        1e-4,
        32,
        (0..=8).map(|i| 1 << i).collect(),
        (0..=5).map(|i| f64::from(1u32 << i)).collect(),
        16,
    )
    .unwrap();
    group.bench_function("severity_default", |b| {
        b.iter(|| black_box(run_severity(&sev).unwrap()))
    });
    group.finish();
}

criterion_group!(benches, bench_sweep);
criterion_main!(benches);
