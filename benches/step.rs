//! Forward, backward (gradient), one SGD step and Hessian-vector product of a
//! `[w, w, w, 10]` network on a batch of 256, for w ∈ {64, 512, 2048}.
//!
//! Throughput is reported in elements/s where **one element is one
//! floating-point operation of the matrix products** (counted analytically,
//! elementwise work excluded), so criterion's `Gelem/s` reads as GFLOP/s.
//! With `F = 2 N Σ_l n_{l−1} n_l` and `F_1` the first layer's share:
//! forward `F`; gradient `3F − F_1`; step `3F − F_1`; HVP `8F − 4F_1`.
//!
//! Run: `cargo bench --bench step`.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hairtrigger::experiments::random_update_set;
use hairtrigger::net::{gradient, hvp};
use hairtrigger::rng::seeded;
use hairtrigger::update::{one_step, StepConfig};
use hairtrigger::{Activation, Architecture, Mlp};
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 256;

fn bench_step(c: &mut Criterion) {
    let mut group = c.benchmark_group("step");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for w in [64usize, 512, 2048] {
        let arch = Architecture::new(vec![w, w, w, 10], Activation::Relu, true).unwrap();
        let net = Mlp::random(&arch, &mut seeded(0, 0));
        let data = random_update_set(&net, BATCH, &mut seeded(0, 1)).unwrap();
        let dir = Mlp::random(&arch, &mut seeded(0, 2));
        let step = StepConfig::sgd(1e-4).unwrap();
        let widths = arch.widths();
        let layer_flops: Vec<u64> = widths
            .windows(2)
            .map(|p| 2 * (BATCH * p[0] * p[1]) as u64)
            .collect();
        let f: u64 = layer_flops.iter().sum();
        let f1 = layer_flops[0];

        group.throughput(Throughput::Elements(f));
        group.bench_with_input(BenchmarkId::new("forward", w), &w, |b, _| {
            b.iter(|| black_box(net.forward(data.x().view()).unwrap()))
        });
        group.throughput(Throughput::Elements(3 * f - f1));
        group.bench_with_input(BenchmarkId::new("gradient", w), &w, |b, _| {
            b.iter(|| black_box(gradient(&net, &data).unwrap()))
        });
        group.bench_with_input(BenchmarkId::new("sgd_step", w), &w, |b, _| {
            b.iter(|| black_box(one_step(&net, &data, &step).unwrap()))
        });
        group.throughput(Throughput::Elements(8 * f - 4 * f1));
        group.bench_with_input(BenchmarkId::new("hvp", w), &w, |b, _| {
            b.iter(|| black_box(hvp(&net, &data, &dir).unwrap()))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_step);
criterion_main!(benches);
