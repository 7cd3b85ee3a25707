//! Unit splitting: unit `j` with outgoing weights `v_j` becomes two units with
//! the same incoming weights and bias and outgoing weights `(1−β) v_j` (the
//! original) and `β v_j` (a copy appended at the end of the layer). Since both
//! copies compute the same `h_j`, `(1−β) v_j h_j + β v_j h_j = v_j h_j`.
//!
//! After one SGD step each copy's outgoing weights move by the full
//! `−η Σ_n h_j(x_n) r_n`, twice the original unit's, and their incoming weights
//! move in proportion to `(1−β)` and `β`: the function after the step differs.

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::reparam::{append_units, check_unit};
use ndarray::{Array1, Array2, Axis};

/// Split unit `unit` of hidden layer `hidden` with fraction `beta` (finite).
pub fn split_unit(net: &Mlp, hidden: usize, unit: usize, beta: f64) -> Result<Mlp> {
    check_unit(net, hidden, unit)?;
    if !beta.is_finite() {
        return Err(Error::InvalidParameter {
            name: "split fraction beta",
            value: beta,
            expected: "must be finite",
        });
    }
    let layers = net.layers();
    let u = layers[hidden - 1]
        .weight
        .row(unit)
        .to_owned()
        .insert_axis(Axis(0));
    let b = Array1::from(vec![layers[hidden - 1]
        .bias
        .as_ref()
        .map_or(0.0, |b| b[unit])]);
    let v_col = layers[hidden].weight.column(unit).to_owned();
    let v_new: Array2<f64> = (&v_col * beta).insert_axis(Axis(1));
    let mut out = append_units(net, hidden, &u, &b, &v_new)?;
    out.layers_mut()[hidden]
        .weight
        .column_mut(unit)
        .assign(&(&v_col * (1.0 - beta)));
    Ok(out)
}
