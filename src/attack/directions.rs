//! Incoming directions `(û_j, b̂_j)` of the hair-trigger construction's
//! redundant units.
//!
//! Unit `j` with direction `(û, b̂)` moves the post-step logits at a query `q` by
//! `γ_j ĥ_j(q⁺) w_j` with `w_j = −η Σ_n r_n ĥ_j(x_n)` (see [`super::analytic`]).
//! Two choices:
//!
//! - **Random**: Gaussian directions, normalised to unit RMS pre-activation on `D`.
//! - **Targeted**: *structured units* first. The targets are sorted by class and
//!   cut into `G = min(m, K)` groups of consecutive same-class targets (sizes
//!   differing by at most one). The unit of group `g` (class `t`) points at
//!   `Σ_{i∈g} z(q_i⁺) + z(x_{n_t})`, where `n_t` is the update sample whose
//!   residual favours `t` most (`max_n min_{c≠t} (r_n[c] − r_n[t])`), with the
//!   threshold halfway between the smallest pre-activation of its own points
//!   and the largest of every other query and update sample. When that gap is
//!   positive the unit fires on exactly its own points, so (ReLU) it moves only
//!   its own queries, in the direction `−r_{n_t}`, which favours `t`. The
//!   remaining `m − G` units come from `pool·m` Gaussian candidates: unit `j`
//!   takes the unused candidate with the largest gain
//!   `ĥ(q_i⁺) · min_{c≠t_i} (w_{t_i} − w_c)` at target `i = j mod K`.
//!
//! A direction is only a proposal: the scales `γ` are solved afterwards and
//! success is decided by running the step.

use crate::kernels;
use crate::net::{normal_matrix, Activation};
use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use rand::Rng;
use serde::Serialize;

/// How the redundant units' incoming directions are chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Directions {
    /// Independent Gaussian directions (the default).
    Random,
    /// Structured units per group of targets, the rest picked from `pool × m`
    /// Gaussian candidates by their gain at a target.
    Targeted { pool: usize },
}

/// `(û, b̂)` for `m` units: `z_d` (`N × n_in`) and `z_q` (`K × n_in`) are the
/// last hidden layer's inputs on the update set and (after the step) on the
/// queries, `residuals` is `N × k`, `targets` the target class per query.
#[allow(clippy::too_many_arguments)]
pub(crate) fn choose_directions<R: Rng + ?Sized>(
    how: Directions,
    rng: &mut R,
    m: usize,
    act: Activation,
    z_d: &Array2<f64>,
    z_q: &Array2<f64>,
    residuals: &Array2<f64>,
    targets: &[usize],
) -> ChosenDirections {
    let n_in = z_d.ncols();
    match how {
        Directions::Random => {
            let (u, b) = unit_rms_directions(rng, m, n_in, z_d);
            ChosenDirections {
                u,
                b,
                serves: vec![Vec::new(); m],
            }
        }
        Directions::Targeted { pool } => {
            let (su, sb, mut serves) = structured_units(m, z_d, z_q, residuals, targets);
            let rest = m - su.nrows();
            if rest == 0 {
                return ChosenDirections {
                    u: su,
                    b: sb,
                    serves,
                };
            }
            let (u, b) = unit_rms_directions(rng, pool * m, n_in, z_d);
            let g = kernels::matmul_tn(
                residuals.view(),
                kernels::activate(&kernels::affine(z_d.view(), u.view(), Some(b.view())), act)
                    .view(),
            );
            let feat_q =
                kernels::activate(&kernels::affine(z_q.view(), u.view(), Some(b.view())), act);
            let pick = dedicate_units(&g, &feat_q, targets, rest);
            let u = ndarray::concatenate(Axis(0), &[su.view(), u.select(Axis(0), &pick).view()])
                .expect("same width");
            let b = ndarray::concatenate(Axis(0), &[sb.view(), b.select(Axis(0), &pick).view()])
                .expect("vectors");
            serves.extend((0..rest).map(|_| Vec::new()));
            ChosenDirections { u, b, serves }
        }
    }
}

/// Directions `(û_j, b̂_j)` (rows of `u`, entries of `b`) and, for each unit,
/// the targets it was built for (empty for random units).
pub(crate) struct ChosenDirections {
    pub u: Array2<f64>,
    pub b: Array1<f64>,
    pub serves: Vec<Vec<usize>>,
}

/// `count` Gaussian directions normalised to unit RMS pre-activation on `z_d`.
fn unit_rms_directions<R: Rng + ?Sized>(
    rng: &mut R,
    count: usize,
    n_in: usize,
    z_d: &Array2<f64>,
) -> (Array2<f64>, Array1<f64>) {
    let mut u = normal_matrix(rng, count, n_in, 1.0 / (n_in as f64).sqrt());
    let mut b = normal_matrix(rng, count, 1, 1.0).column(0).to_owned();
    let pre = kernels::affine(z_d.view(), u.view(), Some(b.view()));
    for j in 0..count {
        let rms = (pre.column(j).mapv(|v| v * v).sum() / pre.nrows() as f64)
            .sqrt()
            .max(1e-12);
        u.row_mut(j).mapv_inplace(|v| v / rms);
        b[j] /= rms;
    }
    (u, b)
}

/// How strongly the step on sample `n` pushes class `t` up against every other
/// class: `min_{c≠t} (r_n[c] − r_n[t])` (`w ∝ −r`).
fn favour(r: ArrayView1<f64>, t: usize) -> f64 {
    (0..r.len())
        .filter(|&c| c != t)
        .map(|c| r[c] - r[t])
        .fold(f64::INFINITY, f64::min)
}

/// Split the targets into at most `m` groups of one class each: every query
/// its own group when `m ≥ K` (in query order); otherwise class `c` with `n_c`
/// targets gets `g_c ≈ m n_c / K ≥ 1` groups of consecutive (in query order)
/// targets, the largest classes first when `m` is below the number of classes.
fn group_targets(m: usize, targets: &[usize]) -> Vec<Vec<usize>> {
    let kq = targets.len();
    if m >= kq {
        return (0..kq).map(|i| vec![i]).collect();
    }
    let classes = targets.iter().copied().max().map_or(0, |c| c + 1);
    let members: Vec<Vec<usize>> = (0..classes)
        .map(|c| (0..kq).filter(|&i| targets[i] == c).collect())
        .collect();
    let mut present: Vec<usize> = (0..classes).filter(|&c| !members[c].is_empty()).collect();
    present.sort_by_key(|&c| (std::cmp::Reverse(members[c].len()), c));
    present.truncate(m);
    let mut alloc = vec![0usize; classes];
    for &c in &present {
        alloc[c] = 1;
    }
    // Hand out the remaining groups to the class with the most targets per group.
    for _ in present.len()..m {
        let c = *present
            .iter()
            .max_by(|&&a, &&b| {
                let ra = members[a].len() as f64 / alloc[a] as f64;
                let rb = members[b].len() as f64 / alloc[b] as f64;
                ra.total_cmp(&rb).then(b.cmp(&a))
            })
            .expect("at least one class");
        alloc[c] += 1;
    }
    let mut pieces = Vec::new();
    for &c in &present {
        let (n, g) = (members[c].len(), alloc[c].min(members[c].len()));
        for j in 0..g {
            pieces.push(members[c][j * n / g..(j + 1) * n / g].to_vec());
        }
    }
    pieces
}

/// The structured units of [`Directions::Targeted`], one per group of
/// same-class targets (see [`group_targets`]), normalised to unit length,
/// with the targets each one serves.
fn structured_units(
    m: usize,
    z_d: &Array2<f64>,
    z_q: &Array2<f64>,
    residuals: &Array2<f64>,
    targets: &[usize],
) -> (Array2<f64>, Array1<f64>, Vec<Vec<usize>>) {
    let pieces = group_targets(m, targets);
    let n_in = z_d.ncols();
    let mut u = Array2::zeros((pieces.len(), n_in));
    let mut b = Array1::zeros(pieces.len());
    // Groups in class order; a unit that cannot be silent on every other query
    // falls back to being silent on the earlier groups' queries only (the
    // triangular construction of [`separable_prefix`]).
    let mut earlier: Vec<usize> = Vec::new();
    for (g, members) in pieces.iter().enumerate() {
        let mut unit = group_unit(members, z_d, z_q.view(), residuals, targets);
        if unit.gap <= 0.0 {
            let local: Vec<usize> = earlier.iter().chain(members).copied().collect();
            let zl = z_q.select(Axis(0), &local);
            let tl: Vec<usize> = local.iter().map(|&i| targets[i]).collect();
            let own: Vec<usize> = (earlier.len()..local.len()).collect();
            let tri = group_unit(&own, z_d, zl.view(), residuals, &tl);
            if tri.gap > unit.gap {
                unit = tri;
            }
        }
        earlier.extend(members);
        u.row_mut(g).assign(&unit.direction);
        b[g] = unit.bias;
    }
    (u, b, pieces)
}

/// A structured unit and its separation gap.
pub(crate) struct GroupUnit {
    pub direction: Array1<f64>,
    pub bias: f64,
    /// Smallest pre-activation on its own points minus the largest on every
    /// other query and update sample (before the bias): `> 0` means it fires on
    /// exactly its own points.
    pub gap: f64,
    /// Its update sample's residual raises the target against every other
    /// class (`false` only when no sample of `D` does).
    pub favoured: bool,
}

/// The unit for `members` (queries of one target class `t`) and one update
/// sample whose residual favours `t` (`favour > 0`): among those samples, the
/// one giving the largest gap (the first sample favouring `t` most when none does).
pub(crate) fn group_unit(
    members: &[usize],
    z_d: &Array2<f64>,
    z_q: ArrayView2<f64>,
    residuals: &Array2<f64>,
    targets: &[usize],
) -> GroupUnit {
    let t = targets[members[0]];
    let favours: Vec<f64> = (0..residuals.nrows())
        .map(|n| favour(residuals.row(n), t))
        .collect();
    let mut candidates: Vec<usize> = (0..favours.len()).filter(|&n| favours[n] > 0.0).collect();
    let favoured = !candidates.is_empty();
    if !favoured {
        let best = (0..favours.len()).fold(0, |a, n| if favours[n] > favours[a] { n } else { a });
        candidates.push(best);
    }
    candidates
        .into_iter()
        .map(|n| GroupUnit {
            favoured,
            ..unit_through(members, n, z_d, z_q)
        })
        .fold(None, |acc: Option<GroupUnit>, u| match acc {
            Some(a) if a.gap >= u.gap => Some(a),
            _ => Some(u),
        })
        .expect("at least one candidate")
}

/// The unit pointing at `Σ_{i∈members} z(q_i) + z(x_n)`, threshold halfway
/// across the gap to every other query and update sample.
fn unit_through(members: &[usize], n: usize, z_d: &Array2<f64>, z_q: ArrayView2<f64>) -> GroupUnit {
    let mut dir = z_d.row(n).to_owned();
    for &i in members {
        dir += &z_q.row(i);
    }
    let norm = dir.dot(&dir).sqrt().max(1e-300);
    dir /= norm;
    // Pre-activations (before the bias) of every query and update sample.
    let (pq, pd) = (kernels::matvec(&z_q, &dir), kernels::matvec(z_d, &dir));
    let own_min = members
        .iter()
        .map(|&i| pq[i])
        .chain([pd[n]])
        .fold(f64::INFINITY, f64::min);
    let others_max = (0..pq.len())
        .filter(|i| !members.contains(i))
        .map(|i| pq[i])
        .chain((0..pd.len()).filter(|&o| o != n).map(|o| pd[o]))
        .fold(f64::NEG_INFINITY, f64::max);
    GroupUnit {
        direction: dir,
        bias: -0.5 * (own_min + others_max),
        gap: own_min - others_max,
        favoured: false,
    }
}

/// The constructive lower bound for ReLU units: the largest `K ≤ m` such that
/// for every `i < K` the single-query unit of `q_i` ([`group_unit`], with the
/// *earlier* queries `q_0..q_{i−1}` and the other update samples as the points
/// to stay silent on) has a positive gap, its update sample favouring `t_i`.
///
/// Proof that these `K` targets are hit together: unit `i` is silent on every
/// earlier query, so at query `i` only units `0..=i` act, and unit `i` adds
/// `γ_i ĥ_i(q_i) (−η r_n ĥ_i(x_n))`, which raises `t_i` against every other
/// class. Choosing `γ_0, γ_1, …` in turn, each large enough for its own query
/// given the earlier units, reaches any margin at every query (triangular system).
pub(crate) fn separable_prefix(
    m: usize,
    z_d: &Array2<f64>,
    z_q: &Array2<f64>,
    residuals: &Array2<f64>,
    targets: &[usize],
) -> usize {
    let mut kk = 0;
    while kk < m.min(targets.len()) {
        let earlier = z_q.slice(ndarray::s![..=kk, ..]);
        let unit = group_unit(&[kk], z_d, earlier, residuals, &targets[..=kk]);
        if !(unit.favoured && unit.gap > 0.0) {
            break;
        }
        kk += 1;
    }
    kk
}

/// For unit `j`, target `i = j mod K`: the unused candidate with the largest
/// gain `ĥ_p(q_i) · min_{c≠t_i} (G[c,p] − G[t_i,p])` (the sign of `w = −η G`).
fn dedicate_units(g: &Array2<f64>, feat_q: &Array2<f64>, t: &[usize], m: usize) -> Vec<usize> {
    let pool = g.ncols();
    let mut used = vec![false; pool];
    let mut pick = Vec::with_capacity(m);
    for j in 0..m {
        let i = j % t.len();
        let best = (0..pool)
            .filter(|&p| !used[p])
            .map(|p| (p, feat_q[[i, p]] * favour(g.column(p), t[i])))
            .fold((usize::MAX, f64::NEG_INFINITY), |acc, (p, v)| {
                if v > acc.1 {
                    (p, v)
                } else {
                    acc
                }
            })
            .0;
        used[best] = true;
        pick.push(best);
    }
    pick
}

#[cfg(test)]
mod tests {
    use super::group_targets;
    use proptest::prelude::*;

    proptest! {
        /// Every target lands in exactly one group, groups are single-class and
        /// non-empty, and there are at most `m` of them (all `K` when `m ≥ K`).
        #[test]
        fn groups_partition_the_targets(
            targets in proptest::collection::vec(0usize..5, 1..60),
            m in 1usize..80,
        ) {
            let classes = targets.iter().collect::<std::collections::BTreeSet<_>>().len();
            let groups = group_targets(m, &targets);
            prop_assert!(groups.len() <= m);
            prop_assert!(groups.iter().all(|g| !g.is_empty()));
            prop_assert!(groups.iter().all(|g| g.iter().all(|&i| targets[i] == targets[g[0]])));
            let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
            seen.sort();
            if m >= classes {
                prop_assert_eq!(seen, (0..targets.len()).collect::<Vec<_>>());
            } else {
                seen.dedup();
                prop_assert_eq!(seen.len(), groups.iter().map(Vec::len).sum::<usize>());
            }
            if m >= targets.len() {
                prop_assert_eq!(groups.len(), targets.len());
            }
        }
    }
}
