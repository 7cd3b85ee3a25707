//! The runs behind each command and figure. Each experiment takes a validated
//! configuration, is deterministic given its seed, and returns flat records
//! (one per run) that [`output`] writes as CSV and JSON.

pub mod breadth;
pub mod capacity;
pub mod chain;
pub mod construct;
pub mod equiv;
pub mod meta;
pub mod output;
pub mod passes;
pub mod reproduce;
pub mod scaling;
pub mod severity;

use crate::error::Result;
use crate::net::{normal_matrix, Dataset, Mlp, Targets};
use ndarray::Array2;
use rand::Rng;

/// `n` inputs with i.i.d. `N(0, 1)` coordinates, `n × d`.
pub fn gaussian_inputs<R: Rng + ?Sized>(rng: &mut R, n: usize, d: usize) -> Array2<f64> {
    normal_matrix(rng, n, d, 1.0)
}

/// A random update set for `net`: Gaussian inputs and uniformly random class
/// labels (softmax cross-entropy) when `k ≥ 2`, Gaussian regression targets
/// (squared error) when `k = 1`.
pub fn random_update_set<R: Rng + ?Sized>(net: &Mlp, n: usize, rng: &mut R) -> Result<Dataset> {
    let x = gaussian_inputs(rng, n, net.input_dim());
    let k = net.output_dim();
    let targets = if k >= 2 {
        Targets::Classes((0..n).map(|_| rng.random_range(0..k)).collect())
    } else {
        Targets::Regression(normal_matrix(rng, n, 1, 1.0))
    };
    Dataset::new("random update set", x, targets)
}

pub use crate::finite::{max_abs, max_abs_diff};
