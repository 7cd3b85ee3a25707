//! Helpers shared by the integration tests (included with `mod common;`).
#![allow(dead_code)]

use hairtrigger::net::random_update_set;
use hairtrigger::rng::seeded;
use hairtrigger::{Activation, Architecture, Dataset, Mlp};
use ndarray::Array2;

/// Every activation; the first five have `σ(0) = 0` (the zero-input units'
/// tests index `0..5`), the sigmoid last (`σ(0) = ½`).
pub const ACTIVATIONS: [Activation; 6] = [
    Activation::Identity,
    Activation::Relu,
    Activation::LeakyRelu { slope: 0.1 },
    Activation::Tanh,
    Activation::Gelu,
    Activation::Sigmoid,
];

/// A seeded random network and a random update set of `n` samples for it.
pub fn net_and_data(
    widths: &[usize],
    act: Activation,
    bias: bool,
    seed: u64,
    n: usize,
) -> (Mlp, Dataset) {
    let arch = Architecture::new(widths.to_vec(), act, bias).unwrap();
    let net = Mlp::random(&arch, &mut seeded(seed, 0));
    let data = random_update_set(&net, n, &mut seeded(seed, 1)).unwrap();
    (net, data)
}

/// `‖a − b‖ / max(‖a‖, ‖b‖)` over flat parameter vectors.
pub fn rel_err(a: &Mlp, b: &Mlp) -> f64 {
    let (fa, fb) = (a.to_flat(), b.to_flat());
    let diff = (&fa - &fb).mapv(|v| v * v).sum().sqrt();
    let scale = fa.dot(&fa).sqrt().max(fb.dot(&fb).sqrt());
    if scale == 0.0 {
        diff
    } else {
        diff / scale
    }
}

/// A `rows × cols` matrix of xorshift draws, uniform in `[−1, 1)`: cheap,
/// seeded, independent of the crate's RNG streams.
pub fn matrix(rows: usize, cols: usize, seed: u64) -> Array2<f64> {
    let mut state = seed | 1;
    Array2::from_shape_fn((rows, cols), |_| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    })
}
