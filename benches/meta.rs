//! The toy meta-learning loop of issue C4's speed target: a one-hidden-layer
//! ReLU MLP `32 → 64 → 10` (the activation `hairtrigger meta` uses), 32 alignment samples, 32 misalignment samples, 32
//! update samples, one meta-step = the exact second-order meta-gradient
//! (`∇L_align(θ) + (I − η H_D) ∇L_mis(θ⁺)`, through the HVP) plus an Adam
//! update. Targets (issue 16): ≤ 100 µs per meta-step on one thread (2 s per
//! 20,000), and ≥ 15× the PyTorch loop `examples/torch_meta_reference.py`
//! run beside it; measured in `paper-notes/performance.md`.
//!
//! Run: `RAYON_NUM_THREADS=1 cargo bench --bench meta`.

use criterion::{criterion_group, criterion_main, Criterion};
use hairtrigger::attack::meta::{meta_train, MetaConfig, MetaData, MetaOrder, Objective};
use hairtrigger::net::random_update_set;
use hairtrigger::rng::seeded;
use hairtrigger::{Activation, Architecture, Dataset, Mlp, Targets};
use std::hint::black_box;
use std::time::Duration;

fn bench_meta(c: &mut Criterion) {
    hairtrigger::alloc::retain_freed_memory();
    let arch = Architecture::new(vec![32, 64, 10], Activation::Relu, true).unwrap();
    let net = Mlp::random(&arch, &mut seeded(0, 0));
    let mut rng = seeded(0, 1);
    let align = random_update_set(&net, 32, &mut rng).unwrap();
    let mis = Dataset::new(
        "mis",
        align.x().clone(),
        Targets::Classes((0..32).map(|i| (i * 7 + 3) % 10).collect()),
    )
    .unwrap();
    let util = random_update_set(&net, 8, &mut rng).unwrap();
    let update = random_update_set(&net, 32, &mut rng).unwrap();
    let data = MetaData {
        align: &align,
        misalign: &mis,
        utility: &util,
        update: &update,
    };
    let mut group = c.benchmark_group("meta");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for (name, order) in [
        ("second_order_100_steps", MetaOrder::Second),
        ("first_order_100_steps", MetaOrder::First),
    ] {
        let cfg = MetaConfig::new(1e-4, 1.0, 0.1, 1e-2, 10.0, 100)
            .unwrap()
            .with_order(order);
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut n = net.clone();
                meta_train(
                    &mut n,
                    &data,
                    &cfg,
                    Objective::HairTrigger,
                    &hairtrigger::progress::NoProgress,
                )
                .unwrap();
                black_box(n)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_meta);
criterion_main!(benches);
