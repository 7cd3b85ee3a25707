//! Permutation of hidden units: unit `i` of the new layer is unit `π(i)` of the
//! old one (rows of `W_l`, entries of `b_l`, columns of `W_{l+1}` permuted
//! together). `f` is unchanged because the sum over units is order-free; the
//! map is a permutation of parameter coordinates, hence an isometry, and the
//! one-step future is the same function (up to the rounding of a reordered sum).

use crate::error::{Error, Result};
use crate::net::Mlp;
use crate::reparam::hidden_width;
use ndarray::Axis;

/// Reorder hidden layer `hidden` so that new unit `i` is old unit `perm[i]`.
pub fn permute_units(net: &Mlp, hidden: usize, perm: &[usize]) -> Result<Mlp> {
    let n = hidden_width(net, hidden)?;
    if perm.len() != n {
        return Err(Error::InvalidPermutation {
            n,
            detail: format!("has length {}", perm.len()),
        });
    }
    let mut seen = vec![false; n];
    for &p in perm {
        if p >= n || seen[p] {
            return Err(Error::InvalidPermutation {
                n,
                detail: format!("entry {p} out of range or repeated"),
            });
        }
        seen[p] = true;
    }
    let mut out = net.clone();
    let layers = out.layers_mut();
    let inc = &mut layers[hidden - 1];
    inc.weight = inc.weight.select(Axis(0), perm);
    if let Some(b) = inc.bias.as_mut() {
        *b = b.select(Axis(0), perm);
    }
    let next = &mut layers[hidden];
    next.weight = next.weight.select(Axis(1), perm);
    Ok(out)
}
