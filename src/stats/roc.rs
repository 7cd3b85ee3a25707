//! Receiver operating characteristic of a score that should be larger on
//! positives than on negatives.
//!
//! For scores `s_i` with labels `y_i ∈ {0, 1}` (`P` positives, `N`
//! negatives) and the rule "flag when `s ≥ t`", each threshold `t` gives the
//! true-positive rate `TPR(t) = #{y = 1, s ≥ t} / P` and the false-positive
//! rate `FPR(t) = #{y = 0, s ≥ t} / N`. The curve runs through `(0, 0)`, one
//! point per distinct score (highest first) and `(1, 1)`; tied scores move
//! both rates at once, so ties are drawn as the diagonal segment they are.
//!
//! The area under it is the Mann–Whitney probability
//! `AUROC = P(s⁺ > s⁻) + ½ P(s⁺ = s⁻)` over independent draws of a positive
//! and a negative score (computed from ranks with mid-ranks for ties, which
//! equals the trapezoidal area of the curve). `TPR at FPR ≤ α` is the largest
//! `TPR(t)` over thresholds with `FPR(t) ≤ α`.

use serde::Serialize;

/// One point of a ROC curve.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct RocPoint {
    /// Flag when the score is at least this (`+∞` for the origin).
    #[serde(skip)]
    pub threshold: f64,
    pub fpr: f64,
    pub tpr: f64,
}

/// A ROC curve and its summaries.
#[derive(Clone, Debug, Serialize)]
pub struct Roc {
    pub positives: usize,
    pub negatives: usize,
    pub auroc: f64,
    /// Largest TPR at FPR ≤ 1%.
    pub tpr_at_1pct_fpr: f64,
    pub points: Vec<RocPoint>,
}

/// The ROC curve of `scores` against `labels` (`true` = positive); `None`
/// when there are no positives or no negatives (the curve is undefined), or
/// when a score is NaN.
pub fn roc(scores: &[f64], labels: &[bool]) -> Option<Roc> {
    assert_eq!(scores.len(), labels.len(), "roc: one label per score");
    let p = labels.iter().filter(|&&y| y).count();
    let n = labels.len() - p;
    if p == 0 || n == 0 || scores.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    let mut points = vec![RocPoint {
        threshold: f64::INFINITY,
        fpr: 0.0,
        tpr: 0.0,
    }];
    let (mut tp, mut fp) = (0usize, 0usize);
    let mut i = 0;
    while i < order.len() {
        let t = scores[order[i]];
        while i < order.len() && scores[order[i]] == t {
            if labels[order[i]] {
                tp += 1;
            } else {
                fp += 1;
            }
            i += 1;
        }
        points.push(RocPoint {
            threshold: t,
            fpr: fp as f64 / n as f64,
            tpr: tp as f64 / p as f64,
        });
    }
    let tpr_at_1pct_fpr = points
        .iter()
        .filter(|q| q.fpr <= 0.01)
        .map(|q| q.tpr)
        .fold(0.0, crate::finite::nan_max);
    Some(Roc {
        positives: p,
        negatives: n,
        auroc: mann_whitney_auc(scores, labels, &order),
        tpr_at_1pct_fpr,
        points,
    })
}

/// `(Σ ranks of positives − P(P+1)/2) / (P N)` with mid-ranks for ties;
/// `order` sorts the scores from highest to lowest.
fn mann_whitney_auc(scores: &[f64], labels: &[bool], order: &[usize]) -> f64 {
    let len = order.len();
    let (mut rank_sum, mut p) = (0.0, 0usize);
    let mut i = 0;
    while i < len {
        let mut j = i;
        while j < len && scores[order[j]] == scores[order[i]] {
            j += 1;
        }
        // Ascending ranks of positions i..j (1-based, lowest score = rank 1).
        let mid = (len - j + 1 + len - i) as f64 / 2.0;
        for &k in &order[i..j] {
            if labels[k] {
                rank_sum += mid;
                p += 1;
            }
        }
        i = j;
    }
    let n = len - p;
    (rank_sum - (p * (p + 1)) as f64 / 2.0) / (p as f64 * n as f64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `P(s⁺ > s⁻) + ½ P(=)` by enumerating every pair.
    fn brute_auc(s: &[f64], y: &[bool]) -> f64 {
        let mut acc = 0.0;
        let mut pairs = 0.0;
        for (a, &ya) in s.iter().zip(y) {
            for (b, &yb) in s.iter().zip(y) {
                if ya && !yb {
                    pairs += 1.0;
                    acc += if a > b {
                        1.0
                    } else if a == b {
                        0.5
                    } else {
                        0.0
                    };
                }
            }
        }
        acc / pairs
    }

    /// The trapezoidal area under the curve's points.
    fn trapezoid(r: &Roc) -> f64 {
        r.points
            .windows(2)
            .map(|w| (w[1].fpr - w[0].fpr) * (w[1].tpr + w[0].tpr) / 2.0)
            .sum()
    }

    #[test]
    fn separable_scores_give_one_and_reversed_give_zero() {
        let y = [true, true, false, false, false];
        let r = roc(&[5.0, 4.0, 1.0, 2.0, 3.0], &y).unwrap();
        assert_eq!(r.auroc, 1.0);
        assert_eq!(r.tpr_at_1pct_fpr, 1.0);
        let r = roc(&[0.0, 0.5, 1.0, 2.0, 3.0], &y).unwrap();
        assert_eq!(r.auroc, 0.0);
        assert_eq!(r.tpr_at_1pct_fpr, 0.0);
        // Constant scores: chance, and no threshold separates anything.
        let r = roc(&[1.0; 5], &y).unwrap();
        assert_eq!(r.auroc, 0.5);
        assert_eq!(r.points.len(), 2);
        assert!(roc(&[1.0, 2.0], &[true, true]).is_none());
        assert!(roc(&[f64::NAN, 2.0], &[true, false]).is_none());
    }

    proptest! {
        /// The rank formula equals the pair count and the curve's area, with ties.
        #[test]
        fn auroc_is_the_pair_probability_and_the_area(
            s in proptest::collection::vec(0u8..6, 2..40),
            y in proptest::collection::vec(any::<bool>(), 40),
        ) {
            let s: Vec<f64> = s.iter().map(|&v| f64::from(v)).collect();
            let y = &y[..s.len()];
            prop_assume!(y.iter().any(|&v| v) && y.iter().any(|&v| !v));
            let r = roc(&s, y).unwrap();
            prop_assert!((r.auroc - brute_auc(&s, y)).abs() < 1e-12);
            prop_assert!((r.auroc - trapezoid(&r)).abs() < 1e-12);
            let last = r.points.last().unwrap();
            prop_assert_eq!((last.fpr, last.tpr), (1.0, 1.0));
        }
    }
}
