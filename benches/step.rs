//! The network passes at publication widths: forward, gradient (forward +
//! backward), one SGD step (allocating, and the loop forms `gradient_into` /
//! `sgd_step_in_place` that reuse one gradient buffer), Hessian-vector
//! product (allocating, and `hvp_into` into a reused buffer) and the
//! empirical NTK of a `[w, w, w, 10]` ReLU network on a batch of 256, for
//! w ∈ {256, 1024, 2048, 4096, 8192} (override with
//! `HAIRTRIGGER_BENCH_WIDTHS=256,1024`).
//!
//! A `gemm` group times the two GEMM shapes alone (`256 × w · w × w` and
//! `w × 256 · 256 × w`, the latter also into a reused output), each beside
//! the kernels this crate used before for a same-run comparison:
//! `matrixmultiply` in the same 256-column split (`*_matrixmultiply_before`)
//! and, for the forward shape, the original 64-row split
//! (`forward_h_wt_rows64_before`).
//!
//! Throughput is reported in elements/s where **one element is one
//! floating-point operation of the matrix products** (counted analytically,
//! elementwise work excluded), so criterion's `Gelem/s` reads as GFLOP/s.
//! With `N` the batch, `n_l` the widths, `F = 2 N Σ_l n_{l−1} n_l` (one
//! forward pass), `F_1` the first layer's share and `k` the outputs:
//! forward `F`; gradient and step `3F − F_1`; HVP `9F − 6F_1` (the forward
//! and backward pass, then per layer `R{H}Wᵀ`, `H Vᵀ`, the two weight terms,
//! `G W`, `R{G} W` and `G V`, with no product by `R{H_0} = 0`); NTK of the
//! batch with itself `2F + 2k(F − F_1 − F_L) + Σ_l (2N² n_{l−1} + 2(kN)² n_l)`,
//! where `F_L` is the last layer's share (forward passes of both arguments, `k`
//! backward passes per argument, the input Gram and the k² signal Grams per
//! layer).
//!
//! Each bench function first calls `alloc::retain_freed_memory`, as the
//! binary does.
//!
//! Run: `cargo bench --bench step` (about ten minutes on two cores, most of it
//! at w = 8192).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use hairtrigger::kernels;
use hairtrigger::net::{gaussian_inputs, random_update_set};
use hairtrigger::net::{gradient, gradient_into, hvp, hvp_into, ntk};
use hairtrigger::rng::seeded;
use hairtrigger::update::{one_step, step_in_place, StepConfig};
use hairtrigger::{Activation, Architecture, Mlp};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, Axis};
use rayon::prelude::*;
use std::hint::black_box;
use std::time::Duration;

const BATCH: usize = 256;
const DEFAULT_WIDTHS: [usize; 5] = [256, 1024, 2048, 4096, 8192];

/// Widths from `HAIRTRIGGER_BENCH_WIDTHS` (comma-separated), else the defaults.
fn widths() -> Vec<usize> {
    match std::env::var("HAIRTRIGGER_BENCH_WIDTHS") {
        Ok(list) => list
            .split(',')
            .map(|w| {
                w.trim()
                    .parse()
                    .expect("HAIRTRIGGER_BENCH_WIDTHS: comma-separated widths")
            })
            .collect(),
        Err(_) => DEFAULT_WIDTHS.to_vec(),
    }
}

fn bench_step(c: &mut Criterion) {
    hairtrigger::alloc::retain_freed_memory();
    let mut group = c.benchmark_group("step");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for w in widths() {
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
        let (f1, fl) = (layer_flops[0], layer_flops[layer_flops.len() - 1]);
        let k = *widths.last().unwrap() as u64;
        let n = BATCH as u64;
        let grams: u64 = widths
            .windows(2)
            .map(|p| 2 * n * n * p[0] as u64 + 2 * (k * n) * (k * n) * p[1] as u64)
            .sum();

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
        let mut grad = net.zeros_like();
        group.bench_with_input(BenchmarkId::new("gradient_into", w), &w, |b, _| {
            b.iter(|| black_box(gradient_into(&net, &data, &mut grad).unwrap()))
        });
        let mut moving = net.clone();
        group.bench_with_input(BenchmarkId::new("sgd_step_in_place", w), &w, |b, _| {
            b.iter(|| black_box(step_in_place(&mut moving, &data, &step, &mut grad).unwrap()))
        });
        group.throughput(Throughput::Elements(9 * f - 6 * f1));
        group.bench_with_input(BenchmarkId::new("hvp", w), &w, |b, _| {
            b.iter(|| black_box(hvp(&net, &data, &dir).unwrap()))
        });
        let mut hv = net.zeros_like();
        group.bench_with_input(BenchmarkId::new("hvp_into", w), &w, |b, _| {
            b.iter(|| hvp_into(&net, &data, &dir, black_box(&mut hv)).unwrap())
        });
        group.throughput(Throughput::Elements(2 * f + 2 * k * (f - f1 - fl) + grams));
        group.bench_with_input(BenchmarkId::new("ntk", w), &w, |b, _| {
            b.iter(|| black_box(ntk(&net, data.x().view(), data.x().view()).unwrap()))
        });
    }
    group.finish();
}

/// The kernels this crate used before, for comparison in the same run:
/// `C = A B` through `matrixmultiply`, split into `block`-wide slices of `C`
/// along `axis`. Rows of 64 were the original split (each block re-packing
/// all of `B`); columns of 256 are today's split with the previous kernel.
fn matrixmultiply_split(
    a: ArrayView2<f64>,
    b: ArrayView2<f64>,
    axis: Axis,
    block: usize,
) -> Array2<f64> {
    let mut c = Array2::<f64>::zeros((a.nrows(), b.ncols()));
    c.axis_chunks_iter_mut(axis, block)
        .into_par_iter()
        .enumerate()
        .for_each(|(i, mut c_blk)| {
            let range = i * block..i * block + c_blk.len_of(axis);
            if axis == Axis(0) {
                general_mat_mul(1.0, &a.slice(s![range, ..]), &b, 0.0, &mut c_blk);
            } else {
                general_mat_mul(1.0, &a, &b.slice(s![.., range]), 0.0, &mut c_blk);
            }
        });
    c
}

/// The GEMMs alone, at the shapes the passes use: the forward product
/// `H Wᵀ` (`256 × w` by `w × w`, 2·256·w² FLOP) and the weight gradient
/// `Gᵀ H` (`w × 256` by `256 × w`, the same count).
fn bench_gemm(c: &mut Criterion) {
    hairtrigger::alloc::retain_freed_memory();
    let mut group = c.benchmark_group("gemm");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for w in widths() {
        let h = gaussian_inputs(&mut seeded(1, 0), BATCH, w);
        let weight = gaussian_inputs(&mut seeded(1, 1), w, w);
        group.throughput(Throughput::Elements(2 * (BATCH * w * w) as u64));
        group.bench_with_input(BenchmarkId::new("forward_h_wt", w), &w, |b, _| {
            b.iter(|| black_box(kernels::matmul_nt(h.view(), weight.view())))
        });
        group.bench_with_input(
            BenchmarkId::new("forward_h_wt_rows64_before", w),
            &w,
            |b, _| b.iter(|| black_box(matrixmultiply_split(h.view(), weight.t(), Axis(0), 64))),
        );
        group.bench_with_input(
            BenchmarkId::new("forward_h_wt_matrixmultiply_before", w),
            &w,
            |b, _| b.iter(|| black_box(matrixmultiply_split(h.view(), weight.t(), Axis(1), 256))),
        );
        group.bench_with_input(BenchmarkId::new("weight_grad_gt_h", w), &w, |b, _| {
            b.iter(|| black_box(kernels::matmul_tn(h.view(), h.view())))
        });
        group.bench_with_input(
            BenchmarkId::new("weight_grad_gt_h_matrixmultiply_before", w),
            &w,
            |b, _| b.iter(|| black_box(matrixmultiply_split(h.t(), h.view(), Axis(1), 256))),
        );
        let mut out = Array2::<f64>::zeros((w, w));
        group.bench_with_input(BenchmarkId::new("weight_grad_gt_h_into", w), &w, |b, _| {
            b.iter(|| kernels::matmul_into(h.t(), h.view(), black_box(out.view_mut())))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_gemm, bench_step);
criterion_main!(benches);
