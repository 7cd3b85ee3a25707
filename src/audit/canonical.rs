//! A canonical representative of a network's symmetry orbit: the same
//! function, with the reparameterization freedom of claim C1 removed.
//!
//! For hidden layer `l` (units `j` with incoming `(u_j, b_j)`, outgoing `v_j`),
//! in this order, until nothing changes:
//!
//! 1. **Silent units** (`v_j = 0`, dormant or inert) contribute `0 · h_j = 0`
//!    and are removed.
//! 2. **Constant units** (`u_j = 0`) output `σ(b_j)` for every input; their
//!    contribution `σ(b_j) v_j` is folded into the next layer's bias (removed
//!    only where that layer has a bias, or where `σ(b_j) = 0`).
//! 3. **Parallel units**: for a positively homogeneous `σ` (ReLU, leaky ReLU,
//!    identity), `(u_j, b_j) = c (u_k, b_k)` with `c > 0` gives
//!    `h_j = c h_k`, so `v_k ← v_k + c v_j` and `j` is removed — this merges
//!    splits (`βv, (1−β)v`) and cancelling pairs (`+v, −v`, which then leave
//!    a silent unit for step 1). For any other `σ` only exact duplicates
//!    (`c = 1`) are merged. Directions are compared after normalising to unit
//!    ∞-norm, within a relative `1e-12`.
//! 4. **Balance** (positively homogeneous `σ` only): every unit is rescaled by
//!    `α_j = √(‖v_j‖/‖(u_j, b_j)‖)`, `(u, b, v) → (α u, α b, v/α)`, so that
//!    its incoming and outgoing norms agree; layers are swept until no `α`
//!    moves by more than `1e-12` (equi-normalization: each sweep lowers
//!    `‖θ‖²`, and the fixed point is the minimum-norm point of the rescaling
//!    orbit).
//! 5. **Order**: units are sorted by their incoming weights (lexicographic),
//!    removing the permutation symmetry.
//!
//! Steps 1–3 are exact in exact arithmetic, 4–5 too; the floating-point
//! deviation of the result is measured on probe inputs and reported.
//! `paper-notes/audit.md` states which twin families this maps onto the genuine
//! model's canonical form (and so defuses before a fine-tune) and which not.

use crate::error::Result;
use crate::finite::{max_abs, nan_max};
use crate::net::{Layer, Mlp};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use serde::Serialize;

/// What [`canonicalize`] changed.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct CanonicalReport {
    /// Units with zero outgoing and non-zero incoming weights (dormant).
    pub dormant_removed: usize,
    /// Units with zero incoming and zero outgoing weights (inert).
    pub inert_removed: usize,
    /// Units with zero incoming weights folded into the next bias.
    pub constant_folded: usize,
    /// Units merged into a parallel (split, duplicated or cancelling) partner.
    pub merged: usize,
    /// Balancing sweeps run (0 when the activation is not positively homogeneous).
    pub balance_sweeps: usize,
    /// Largest `|ln α_j|` of the balancing rescale: how far from balanced the
    /// units were (0 when not balanced).
    pub max_log_rescale: f64,
    /// Hidden widths before and after.
    pub widths_before: Vec<usize>,
    pub widths_after: Vec<usize>,
}

/// Relative tolerance for parallel directions and the balance fixed point.
const TOL: f64 = 1e-12;

/// The canonical form of `net` (see the module documentation).
pub fn canonicalize(net: &Mlp) -> Result<(Mlp, CanonicalReport)> {
    let act = net.activation();
    let homogeneous = act.is_positively_homogeneous();
    let mut layers: Vec<Layer> = net.layers().to_vec();
    let mut report = CanonicalReport {
        widths_before: net.architecture().widths().to_vec(),
        ..Default::default()
    };
    for l in 0..layers.len().saturating_sub(1) {
        loop {
            let before = layers[l].n_out();
            remove_silent(&mut layers, l, &mut report);
            fold_constant(&mut layers, l, act, &mut report);
            merge_parallel(&mut layers, l, homogeneous, &mut report);
            if layers[l].n_out() == before {
                break;
            }
        }
    }
    if homogeneous && layers.len() > 1 {
        balance(&mut layers, &mut report);
    }
    for l in 0..layers.len().saturating_sub(1) {
        sort_units(&mut layers, l);
    }
    let out = Mlp::from_layers(layers, act)?;
    report.widths_after = out.architecture().widths().to_vec();
    Ok((out, report))
}

/// `max_x |f_a(x) − f_b(x)| / max_x |f_b(x)|` on `x` (the absolute deviation
/// where `f_b` vanishes; [`crate::backend::relative_max_difference`]).
///
/// Both networks see the probes in chunks of [`DEVIATION_CHUNK`] rows
/// ([`chunked_outputs`], the two side by side), so that the activations stay
/// small; only the `N × k` outputs are kept.
pub fn relative_deviation(a: &Mlp, b: &Mlp, x: ArrayView2<f64>) -> Result<f64> {
    let (fa, fb) = rayon::join(|| chunked_outputs(a, x), || chunked_outputs(b, x));
    relative_deviation_from(&fa?, &fb?)
}

/// `f(x)` computed in chunks of [`DEVIATION_CHUNK`] rows (so that a
/// reference can be computed while something else runs).
pub fn chunked_outputs(net: &Mlp, x: ArrayView2<f64>) -> Result<Array2<f64>> {
    let parts = x
        .axis_chunks_iter(Axis(0), DEVIATION_CHUNK)
        .map(|c| net.forward(c))
        .collect::<Result<Vec<_>>>()?;
    let views: Vec<_> = parts.iter().map(|p| p.view()).collect();
    Ok(ndarray::concatenate(Axis(0), &views).expect("same width"))
}

/// [`relative_deviation`] of outputs already computed: `fa` against the
/// reference `fb`.
pub fn relative_deviation_from(fa: &Array2<f64>, fb: &Array2<f64>) -> Result<f64> {
    if fa.dim() != fb.dim() {
        return Err(crate::Error::DimensionMismatch {
            context: "relative deviation (outputs)",
            expected: fb.len(),
            got: fa.len(),
        });
    }
    Ok(crate::backend::relative_max_difference(
        fa.iter(),
        fb.iter(),
    ))
}

/// Rows per chunk of [`relative_deviation`].
pub const DEVIATION_CHUNK: usize = 1024;

fn incoming(layer: &Layer, j: usize) -> Array1<f64> {
    let mut v = layer.weight.row(j).to_vec();
    v.push(layer.bias.as_ref().map_or(0.0, |b| b[j]));
    Array1::from(v)
}

fn is_zero(v: impl IntoIterator<Item = f64>) -> bool {
    v.into_iter().all(|x| x == 0.0)
}

/// Keep the units of hidden layer `l` (output of `layers[l]`) where `keep` holds.
fn retain_units(layers: &mut [Layer], l: usize, keep: &[bool]) {
    let idx: Vec<usize> = (0..keep.len()).filter(|&j| keep[j]).collect();
    let cur = &mut layers[l];
    cur.weight = cur.weight.select(Axis(0), &idx);
    if let Some(b) = cur.bias.as_mut() {
        *b = b.select(Axis(0), &idx);
    }
    let next = &mut layers[l + 1];
    next.weight = next.weight.select(Axis(1), &idx);
}

fn remove_silent(layers: &mut [Layer], l: usize, report: &mut CanonicalReport) {
    let n = layers[l].n_out();
    let mut keep: Vec<bool> = (0..n)
        .map(|j| !is_zero(layers[l + 1].weight.column(j).iter().copied()))
        .collect();
    // A layer keeps width ≥ 1: an all-silent layer keeps its first unit.
    if !keep.iter().any(|&k| k) {
        keep[0] = true;
    }
    for j in (0..n).filter(|&j| !keep[j]) {
        if is_zero(incoming(&layers[l], j).iter().copied()) {
            report.inert_removed += 1;
        } else {
            report.dormant_removed += 1;
        }
    }
    retain_units(layers, l, &keep);
}

fn fold_constant(
    layers: &mut [Layer],
    l: usize,
    act: crate::Activation,
    report: &mut CanonicalReport,
) {
    let n = layers[l].n_out();
    let mut keep = vec![true; n];
    for j in 0..n {
        // Keep the layer's last unit (width ≥ 1) and units with inputs.
        if keep.iter().filter(|&&k| k).count() == 1 && keep[j]
            || !is_zero(layers[l].weight.row(j).iter().copied())
        {
            continue;
        }
        let h = act.apply(layers[l].bias.as_ref().map_or(0.0, |b| b[j]));
        if h == 0.0 {
            keep[j] = false;
        } else if let Some(nb) = layers[l + 1].bias.as_ref() {
            let folded = nb + &(layers[l + 1].weight.column(j).to_owned() * h);
            layers[l + 1].bias = Some(folded);
            keep[j] = false;
        }
        if !keep[j] {
            report.constant_folded += 1;
        }
    }
    retain_units(layers, l, &keep);
}

/// `(u, b)` scaled to unit ∞-norm, and the norm.
fn direction(layer: &Layer, j: usize) -> (Array1<f64>, f64) {
    let v = incoming(layer, j);
    let n = max_abs(&v.view().insert_axis(Axis(0)));
    (if n > 0.0 { v / n } else { v }, n)
}

fn merge_parallel(layers: &mut [Layer], l: usize, homogeneous: bool, report: &mut CanonicalReport) {
    let n = layers[l].n_out();
    let dirs: Vec<(Array1<f64>, f64)> = (0..n).map(|j| direction(&layers[l], j)).collect();
    let mut keep = vec![true; n];
    for j in 0..n {
        if !keep[j] || dirs[j].1 == 0.0 {
            continue;
        }
        for k in (j + 1)..n {
            if !keep[k] || dirs[k].1 == 0.0 {
                continue;
            }
            let same = if homogeneous {
                // Short-circuits on the first differing coordinate.
                dirs[j]
                    .0
                    .iter()
                    .zip(dirs[k].0.iter())
                    .all(|(a, b)| (a - b).abs() <= TOL)
            } else {
                incoming(&layers[l], j) == incoming(&layers[l], k)
            };
            if same {
                // h_k = c h_j with c = ‖(u_k, b_k)‖ / ‖(u_j, b_j)‖.
                let c = if homogeneous {
                    dirs[k].1 / dirs[j].1
                } else {
                    1.0
                };
                let vk = layers[l + 1].weight.column(k).to_owned();
                let mut vj = layers[l + 1].weight.column_mut(j);
                vj.scaled_add(c, &vk);
                keep[k] = false;
                report.merged += 1;
            }
        }
    }
    retain_units(layers, l, &keep);
}

fn balance(layers: &mut [Layer], report: &mut CanonicalReport) {
    let norm = |v: ArrayView1<f64>| v.dot(&v).sqrt();
    for sweep in 1..=500 {
        let mut moved = 0.0f64;
        for l in 0..layers.len() - 1 {
            // Units of one layer own disjoint rows of `W_l` and columns of
            // `W_{l+1}`, so all their factors can be computed before any is
            // applied (the same arithmetic as unit by unit). The outgoing
            // columns are read as rows of one contiguous transpose.
            let mut out_sq = vec![0.0f64; layers[l].n_out()];
            for row in layers[l + 1].weight.rows() {
                for (acc, w) in out_sq.iter_mut().zip(row.iter()) {
                    *acc += w * w;
                }
            }
            let alphas: Vec<f64> = (0..layers[l].n_out())
                .map(|j| {
                    let nu = norm(incoming(&layers[l], j).view());
                    let nv = out_sq[j].sqrt();
                    if nu == 0.0 || nv == 0.0 {
                        1.0
                    } else {
                        (nv / nu).sqrt()
                    }
                })
                .collect();
            for (j, &alpha) in alphas.iter().enumerate() {
                if alpha == 1.0 {
                    continue;
                }
                let log = alpha.ln().abs();
                moved = nan_max(moved, log);
                if sweep == 1 {
                    report.max_log_rescale = nan_max(report.max_log_rescale, log);
                }
                layers[l].weight.row_mut(j).mapv_inplace(|w| w * alpha);
                if let Some(b) = layers[l].bias.as_mut() {
                    b[j] *= alpha;
                }
            }
            for mut row in layers[l + 1].weight.rows_mut() {
                for (w, &alpha) in row.iter_mut().zip(&alphas) {
                    if alpha != 1.0 {
                        *w /= alpha;
                    }
                }
            }
        }
        report.balance_sweeps = sweep;
        if moved <= TOL {
            break;
        }
    }
}

fn sort_units(layers: &mut [Layer], l: usize) {
    let n = layers[l].n_out();
    let rows: Vec<Array1<f64>> = (0..n).map(|j| incoming(&layers[l], j)).collect();
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| {
        rows[a]
            .iter()
            .zip(rows[b].iter())
            .map(|(x, y)| x.total_cmp(y))
            .find(|o| o.is_ne())
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let cur = &mut layers[l];
    cur.weight = cur.weight.select(Axis(0), &order);
    if let Some(b) = cur.bias.as_mut() {
        *b = b.select(Axis(0), &order);
    }
    let next = &mut layers[l + 1];
    next.weight = next.weight.select(Axis(1), &order);
}

/// Per-unit `ln(‖(u_j, b_j)‖ / ‖v_j‖)` of every hidden unit with both norms
/// non-zero, layer by layer: `0` for a balanced unit.
pub fn log_imbalance(net: &Mlp) -> Vec<f64> {
    let layers = net.layers();
    let norm = |v: Array1<f64>| v.dot(&v).sqrt();
    let mut out = Vec::new();
    for l in 0..layers.len().saturating_sub(1) {
        for j in 0..layers[l].n_out() {
            let nu = norm(incoming(&layers[l], j));
            let nv = norm(layers[l + 1].weight.column(j).to_owned());
            if nu > 0.0 && nv > 0.0 {
                out.push((nu / nv).ln());
            }
        }
    }
    out
}

/// `m × n` Gaussian probe inputs for deviation checks (seeded, `N(0, 1)`).
pub fn probes(n_in: usize, m: usize, seed: u64) -> Array2<f64> {
    crate::net::gaussian_inputs(
        &mut crate::rng::seeded(seed, crate::rng::stream::AUDIT_PROBES),
        m,
        n_in,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Activation, Architecture};

    /// A hidden layer whose every unit is constant (`u = 0`) folds all but one
    /// into the next bias and keeps the function (the last unit stays, and is
    /// not also folded).
    #[test]
    fn an_all_constant_layer_keeps_the_function() {
        let arch = Architecture::new(vec![3, 4, 2], Activation::Relu, true).unwrap();
        let mut net = Mlp::random(&arch, &mut crate::rng::seeded(9, 0));
        net.layers_mut()[0].weight.fill(0.0);
        net.layers_mut()[0].bias = Some(ndarray::array![0.5, 1.0, -0.3, 2.0]);
        let (c, rep) = canonicalize(&net).unwrap();
        let x = probes(3, 50, 1);
        assert!(relative_deviation(&c, &net, x.view()).unwrap() <= 1e-15);
        assert_eq!(c.architecture().widths(), &[3, 1, 2]);
        assert_eq!(rep.constant_folded, 3);
    }
}
