//! What a model predicted: raw scores read as classes, confidences and top-k scores.
//!
//! A leaf of the crate: the runner produces predictions, recorded baselines store and replay
//! them, searches read scores as probabilities. A model's raw scores are probabilities or
//! logits ([`ScoreKind`]); the runner decides which once per model, on its clean pass.

use serde::{Deserialize, Serialize};

pub use crate::engine::ScoreKind;

/// Scores kept per input in predictions (and in recorded baselines).
pub const TOP_K: usize = 3;
/// One input's `TOP_K` highest (class, raw score) pairs, best first, held inline: a scan makes
/// one per model query, and a heap allocation for each showed in the tiny MLP's profile.
/// Serialised as a plain list, like the `Vec` it replaced, so recorded baselines still read.
pub type TopScores = smallvec::SmallVec<[(usize, f32); TOP_K]>;

/// One model's predictions on a list of inputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Predictions {
    pub class: Vec<usize>,
    /// Probability of the predicted class (softmax of logits).
    pub confidence: Vec<f32>,
    /// The `TOP_K` highest (class, raw score) pairs per input, best first.
    pub top: Vec<TopScores>,
}

impl Predictions {
    pub(crate) fn from_scores(scores: &ndarray::Array2<f32>, kind: ScoreKind) -> Self {
        let mut out = Predictions::default();
        for row in scores.rows() {
            // Top-k by insertion into a small sorted list: highest first, NaN never ranked
            // above a number, ties kept in class order.
            let mut top = TopScores::new();
            for (class, &value) in row.iter().enumerate() {
                let beats = |held: f32| value > held || (held.is_nan() && !value.is_nan());
                // Most scores do not beat the lowest kept one: one predictable comparison.
                if top.len() == TOP_K && !beats(top[TOP_K - 1].1) {
                    continue;
                }
                let at = top.iter().position(|&(_, held)| beats(held)).unwrap_or(top.len());
                if at < TOP_K {
                    if top.len() == TOP_K {
                        top.pop();
                    }
                    top.insert(at, (class, value));
                }
            }
            let best = top.first().map_or(0, |t| t.0);
            let confidence = match kind {
                ScoreKind::Probabilities => row[best],
                ScoreKind::Logits => {
                    let max = row[best];
                    // NaN scores are left out so the confidence stays a number.
                    let total: f32 = row.iter().filter(|v| !v.is_nan()).map(|v| (v - max).exp()).sum();
                    if max.is_nan() { 0.0 } else { 1.0 / total }
                }
            };
            out.class.push(best);
            out.confidence.push(confidence);
            out.top.push(top);
        }
        out
    }

    pub(crate) fn extend(&mut self, other: Predictions) {
        self.class.extend(other.class);
        self.confidence.extend(other.confidence);
        self.top.extend(other.top);
    }

    /// The entries in `rows`.
    pub(crate) fn rows(&self, rows: std::ops::Range<usize>) -> Predictions {
        Predictions {
            class: self.class[rows.clone()].to_vec(),
            confidence: self.confidence[rows.clone()].to_vec(),
            top: self.top[rows].to_vec(),
        }
    }

    /// The entries at `indices`.
    pub fn select(&self, indices: &[usize]) -> Predictions {
        Predictions {
            class: indices.iter().map(|&i| self.class[i]).collect(),
            confidence: indices.iter().map(|&i| self.confidence[i]).collect(),
            top: indices.iter().map(|&i| self.top[i].clone()).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.class.len()
    }

    pub fn is_empty(&self) -> bool {
        self.class.is_empty()
    }
}

/// What a probe produced on one model.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProbePredictions {
    pub probed: Predictions,
    pub control: Option<Predictions>,
}

/// Turns logits into probabilities in place (rows of probabilities are left as they are).
pub(crate) fn to_probabilities(scores: &mut ndarray::Array2<f32>, kind: ScoreKind) {
    if kind == ScoreKind::Logits {
        for mut row in scores.rows_mut() {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            row.mapv_inplace(|v| (v - max).exp());
            let total = row.sum();
            row.mapv_inplace(|v| v / total);
        }
    }
}

/// Probabilities when every row is non-negative and sums to 1 (±1e-3), else logits. A single
/// column (a binary classifier's one score) holds probabilities when every value lies in
/// [0, 1], else logits.
pub fn detect_score_kind(scores: &ndarray::Array2<f32>) -> ScoreKind {
    let in_range = |v: &f32| (0.0..=1.0 + 1e-6).contains(v);
    let probabilities = if scores.ncols() == 1 {
        scores.iter().all(in_range)
    } else {
        scores.rows().into_iter().all(|row| row.iter().all(in_range) && (row.sum() - 1.0).abs() < 1e-3)
    };
    if probabilities { ScoreKind::Probabilities } else { ScoreKind::Logits }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_highest_first_with_ties_in_class_order_and_nan_last() {
        let scores = ndarray::arr2(&[[0.1f32, 0.5, 0.5, f32::NAN, 0.2], [f32::NAN, f32::NAN, 0.0, -1.0, -2.0]]);
        let p = Predictions::from_scores(&scores, ScoreKind::Logits);
        assert_eq!(p.class, vec![1, 2]);
        assert_eq!(p.top[0].as_slice(), [(1, 0.5), (2, 0.5), (4, 0.2)]);
        assert_eq!(p.top[1].iter().map(|t| t.0).collect::<Vec<_>>(), vec![2, 3, 4]);
        // Softmax of the best logit over the numbers: e^0.5 / (e^0.1 + 2e^0.5 + e^0.2).
        let expected = 0.5f32.exp() / (0.1f32.exp() + 2.0 * 0.5f32.exp() + 0.2f32.exp());
        assert!((p.confidence[0] - expected).abs() < 1e-6, "{}", p.confidence[0]);
    }

    proptest::proptest! {
        #[test]
        fn top_k_matches_a_stable_sort(row in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::num::f32::ANY,
                proptest::sample::select(vec![0.0f32, -0.0, 1.0, f32::INFINITY, f32::NEG_INFINITY, f32::NAN]),
            ],
            1..12,
        )) {
            // Descending, NaN after every number, -0.0 equal to 0.0; the sort is stable, so
            // ties stay in class order.
            let descending = |a: &f32, b: &f32| match (a.is_nan(), b.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) => b.partial_cmp(a).expect("numbers"),
            };
            let mut order: Vec<usize> = (0..row.len()).collect();
            order.sort_by(|&i, &j| descending(&row[i], &row[j]));
            let expected: Vec<usize> = order.into_iter().take(TOP_K).collect();
            let scores = ndarray::Array2::from_shape_vec((1, row.len()), row.clone()).expect("one row");
            let p = Predictions::from_scores(&scores, ScoreKind::Probabilities);
            let got: Vec<usize> = p.top[0].iter().map(|t| t.0).collect();
            proptest::prop_assert_eq!(&got, &expected);
            proptest::prop_assert_eq!(p.class[0], expected[0]);
        }
    }

    #[test]
    fn probabilities_and_logits_are_told_apart() {
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[0.2f32, 0.8], [1.0, 0.0]])), ScoreKind::Probabilities);
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[2.0f32, -1.0]])), ScoreKind::Logits);
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[0.2f32, 0.2]])), ScoreKind::Logits);
        // A single column: a sigmoid output in [0, 1], or a logit anywhere.
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[0.2f32], [1.0], [0.0]])), ScoreKind::Probabilities);
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[0.2f32], [-0.3]])), ScoreKind::Logits);
    }
}
