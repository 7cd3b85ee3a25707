//! One point of each C3 sweep, timed: one breadth point (the whole `K*` search
//! at seed 0, default setting) with each solver, the cost of a breadth point
//! against `m` with the LP, and the severity sweep at `reproduce`'s default
//! scale. (The empirical NTK is in `benches/step.rs` with the other network
//! passes.)
//!
//! A breadth point is not GEMM-bound: with [`Solver::Hinge`] its time goes to
//! the projected gradient's matrix–vector passes (thousands per attempt), with
//! [`Solver::Lp`] to the interior point's sparse LDLᵀ factorisations
//! (20–40 per attempt), so it is reported in time per point, not GFLOP/s.
//! `breadth_cost/m` times the whole search at m = 30 … 1000 (fit the exponent
//! with `scripts/bench_exponent.py`); larger points (m = 3000, 10,000) take
//! minutes each and are timed once by `cargo run --release --example
//! breadth_point -- M`, not here.
//!
//! Run: `cargo bench --bench sweep`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use hairtrigger::attack::Solver;
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
    for (name, solver) in [
        ("breadth_point_lp", Solver::Lp),
        ("breadth_point_hinge", Solver::Hinge),
    ] {
        let setup = BreadthSetup::new(
            BreadthConfig::standard(1264)
                .unwrap()
                .with_lp_solver(solver),
        )
        .unwrap();
        for m in [30usize, 95, 256] {
            group.bench_with_input(BenchmarkId::new(name, m), &m, |b, &m| {
                b.iter(|| black_box(setup.search(m, 0).unwrap()))
            });
        }
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

/// The LP breadth point's cost against `m` (the `K*` search of `scaling --full`'s
/// seed-0 point at each `m`).
fn bench_breadth_cost(c: &mut Criterion) {
    hairtrigger::alloc::retain_freed_memory();
    let mut group = c.benchmark_group("breadth_cost");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(5));
    for m in [30usize, 100, 300, 1000] {
        let setup =
            BreadthSetup::new(BreadthConfig::standard((4 * m + 64).max(4064)).unwrap()).unwrap();
        group.bench_with_input(BenchmarkId::new("m", m), &m, |b, &m| {
            b.iter(|| black_box(setup.search(m, 0).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_sweep, bench_breadth_cost);
criterion_main!(benches);
