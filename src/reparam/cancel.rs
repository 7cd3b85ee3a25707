//! Cancelling pairs: two new units with the same incoming weights `u` and bias
//! `b` and outgoing weights `+v` and `−v`. Their contributions
//! `v h(x) − v h(x)` cancel, so `f` is unchanged.
//!
//! In one step both outgoing vectors move by the same `−(η/N) Σ_n h(x_n) r_n`
//! (their sum no longer cancels) while the incoming weights move in opposite
//! directions (gradients `±v·r σ'(z) x`): the function after the step differs.

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::reparam::append_units;
use ndarray::{stack, Array1, Axis};

/// Append the pair `(u, b, +v)`, `(u, b, −v)` to hidden layer `hidden`.
pub fn add_cancelling_pair(
    net: &Mlp,
    hidden: usize,
    u: &Array1<f64>,
    b: f64,
    v: &Array1<f64>,
) -> Result<Mlp> {
    if !b.is_finite() {
        return Err(Error::InvalidParameter {
            name: "cancelling pair bias",
            value: b,
            expected: "must be finite",
        });
    }
    let incoming = stack(Axis(0), &[u.view(), u.view()]).expect("same length");
    let neg = -v;
    let outgoing = stack(Axis(1), &[v.view(), neg.view()]).expect("same length");
    append_units(net, hidden, &incoming, &Array1::from(vec![b, b]), &outgoing)
}
