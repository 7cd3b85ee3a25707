//! One point of each C3 sweep, timed: one breadth point (the whole `K*` search
//! at m = 30, 95 and 256 redundant units, seed 0, default setting) and the
//! severity sweep at `reproduce`'s default scale. (The empirical NTK is in
//! `benches/step.rs` with the other network passes.)
//!
//! A breadth point is not GEMM-bound: its time goes to the projected-gradient
//! solver's matrix–vector passes, whose iteration count depends on the data,
//! so it is reported in time per point, not GFLOP/s.
//!
//! Run: `cargo bench --bench sweep`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hairtrigger::experiments::breadth::{BreadthConfig, BreadthSetup};
use hairtrigger::experiments::severity::{run_severity, SeverityConfig};
use std::hint::black_box;
use std::time::Duration;

fn bench_sweep(c: &mut Criterion) {
    hairtrigger::alloc::retain_freed_memory();
    let mut group = c.benchmark_group("sweep");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    let setup = BreadthSetup::new(BreadthConfig::standard(1264).unwrap()).unwrap();
    for m in [30usize, 95, 256] {
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
