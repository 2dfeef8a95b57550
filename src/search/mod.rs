//! Black-box trigger discovery: searching for an unknown trigger with forward passes only.
//!
//! Two methods, each recovering one candidate trigger per target class as a mask and a pattern
//! ([`MaskedTrigger`]):
//! - [`patch`]: coarse-to-fine patch search over sizes × positions × contents with successive
//!   halving (Jamieson & Talwalkar, 2016): every candidate gets a few samples, the best third
//!   three times as many, and so on, so the budget goes to promising candidates;
//! - [`peak`]: adversarial peaks (AEVA, Guo et al., 2022) — targeted decision-based attacks
//!   towards each class, and how concentrated their perturbations are;
//! - [`reverse`]: Neural Cleanse's objective (Wang et al., 2019) — the smallest mask and
//!   pattern that send inputs to class `t` — optimised with antithetic NES gradient estimates
//!   (Wierstra et al., 2014; as in B3, Dong et al., 2021), since an ONNX file gives no gradients.
//!
//! Searches are lazy and bounded: candidates are descriptions (size, position, content) stamped
//! onto clean images only when a batch is built, and every evaluation goes through
//! [`Oracle::classify`], which packs (candidate, image) pairs into full batches and holds one
//! batch of probed images at a time — so memory does not grow with the number of candidates,
//! and a GPU sees few, full calls instead of one small call per candidate.
//!
//! The model-level statistic is Neural Cleanse's anomaly index over classes (median absolute
//! deviation; one-sided). It only *chooses* which trigger to confirm: the runner then applies
//! the chosen trigger to held-out inputs the search never saw, against a matched control (and
//! references), through the gating statistics — so the verdict keeps its significance
//! guarantee however many candidates the search looked at.

pub mod halving;
pub mod patch;
pub mod peak;
pub mod ranking;
pub mod reverse;
pub mod vocabulary;

use ndarray::{Array2, Array3, ArrayView1, ArrayView3, ArrayViewMut3};
use serde::{Deserialize, Serialize};

use crate::engine::EngineError;
use crate::transform::{MaskedTrigger, ValueRange};

/// Writes image `i` of an evaluation, `[C, H, W]`, into a view holding arbitrary values.
pub type Fill<'f> = dyn Fn(usize, ArrayViewMut3<'_, f32>) + Sync + 'f;

/// The model, as a search sees it.
pub trait Oracle {
    /// Classifies `count` images, each written on demand by `fill`, a full batch at a time;
    /// `row(i, probabilities)` receives image `i`'s class probabilities, in order.
    fn classify(
        &mut self,
        count: usize,
        fill: &Fill<'_>,
        row: &mut dyn FnMut(usize, ArrayView1<'_, f32>),
    ) -> Result<(), EngineError>;
}

/// The predicted class of each of `count` images written by `fill`.
pub fn predict(oracle: &mut dyn Oracle, count: usize, fill: &Fill<'_>) -> Result<Vec<usize>, EngineError> {
    let mut predicted = vec![0; count];
    oracle.classify(count, fill, &mut |i, row| predicted[i] = argmax_row(row))?;
    Ok(predicted)
}

/// The clean `[C, H, W]` images a search draws on, borrowed from wherever they are held.
pub trait Images: Sync {
    fn count(&self) -> usize;
    fn image(&self, i: usize) -> ArrayView3<'_, f32>;
}

impl Images for Vec<Array3<f32>> {
    fn count(&self) -> usize {
        self.len()
    }

    fn image(&self, i: usize) -> ArrayView3<'_, f32> {
        self[i].view()
    }
}

/// What the search needs besides the model.
pub struct SearchInput<'a> {
    /// Clean `[C, H, W]` images of the search split.
    pub images: &'a dyn Images,
    /// The model's clean predictions on them.
    pub clean: &'a [usize],
    pub classes: usize,
    pub range: &'a ValueRange,
    pub seed: u64,
    /// `battery/probe` key, for deriving random streams.
    pub key: &'a str,
}

/// The best trigger found for one target class.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassCandidate {
    pub class: usize,
    pub trigger: MaskedTrigger,
    /// Attack success rate on the search split (inputs whose clean prediction is another class).
    pub attack_success_rate: f64,
    /// The statistic the anomaly index is computed on.
    pub statistic: f64,
    /// What the candidate is, for people (e.g. "2x2 at (6, 6), white").
    pub description: String,
}

/// Per-class results of a search.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchOutcome {
    pub method: &'static str,
    /// What `statistic` measures, e.g. "attack-success lower bound" or "mask L1".
    pub statistic: &'static str,
    pub candidates: Vec<ClassCandidate>,
    /// Anomaly index per class (positive = more trigger-like than the median class).
    pub anomaly_index: Vec<f64>,
    /// Index into `candidates` of the most anomalous class: the trigger to confirm.
    pub chosen: usize,
    pub queries: u64,
    /// How much of its candidate space the search covered (`None` for searches that optimise
    /// rather than enumerate).
    pub coverage: Option<Coverage>,
}

/// How much of an enumerated candidate space a search looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    /// Candidates in the space the battery asked for (sizes × positions × contents).
    pub space: u64,
    /// Candidates on the grid searched: the space itself, or a coarser grid when the space
    /// does not fit the budget.
    pub grid: u64,
    /// Per size, the (row, column) step between the grid's positions in pixels.
    pub steps: Vec<[usize; 2]>,
    /// Candidates evaluated at the first rung; the rest of the grid was skipped to fit the
    /// budget.
    pub evaluated: u64,
    pub first_rung_samples: usize,
    pub rungs: usize,
}

/// The query budget a search probe had, and why it was smaller than asked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BudgetReport {
    /// The battery's budget, or `--search-budget`.
    pub requested: u64,
    /// The budget the search ran with.
    pub granted: u64,
    /// Why `granted` is below `requested` (the scan's time budget), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limited_by: Option<String>,
}

/// Per-class evidence of a search, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchSummary {
    pub method: String,
    pub statistic: String,
    pub per_class: Vec<SearchClassSummary>,
    pub chosen_class: usize,
    pub queries: u64,
    /// Inputs the search used; the confirmation uses the rest.
    pub search_samples: usize,
    pub confirmation_samples: usize,
    /// The recovered trigger of the chosen class as PNG (base64): mask (white = trigger) and
    /// pattern shown through the mask. Empty for text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub mask_png: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pattern_png: String,
    /// Size of the chosen trigger: pixels (sum of the mask) for images, tokens for text.
    pub mask_l1: f64,
    /// Bounding box of the chosen mask's pixels above one half, if any.
    pub mask_bounds: Option<Bounds>,
    /// A text vocabulary sweep's ranked tokens, controls and throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vocabulary: Option<vocabulary::Sweep>,
    /// A tabular feature sweep's ranked edits, controls and throughput.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub features: Option<crate::modality::tabular::search::Sweep>,
    /// The recovered trigger in words, where it has a short form (`f11 = 999 → class 0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<String>,
    /// How much of the candidate space a patch search covered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    /// The query budget the search had.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<BudgetReport>,
}

/// A rectangle of pixels: rows `top..top + height`, columns `left..left + width`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bounds {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

impl Bounds {
    /// The box around the mask's pixels above one half.
    pub fn of_mask(mask: &Array2<f32>) -> Option<Bounds> {
        let on: Vec<(usize, usize)> = mask.indexed_iter().filter(|(_, v)| **v > 0.5).map(|(i, _)| i).collect();
        let top = on.iter().map(|p| p.0).min()?;
        let bottom = on.iter().map(|p| p.0).max()?;
        let left = on.iter().map(|p| p.1).min()?;
        let right = on.iter().map(|p| p.1).max()?;
        Some(Bounds { top, left, height: bottom - top + 1, width: right - left + 1 })
    }

    /// Intersection over union with another box (1 = the same pixels).
    pub fn overlap(&self, other: &Bounds) -> f64 {
        let rows = (self.top + self.height).min(other.top + other.height).saturating_sub(self.top.max(other.top));
        let cols = (self.left + self.width).min(other.left + other.width).saturating_sub(self.left.max(other.left));
        let intersection = (rows * cols) as f64;
        let union = (self.height * self.width + other.height * other.width) as f64 - intersection;
        if union == 0.0 { 0.0 } else { intersection / union }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchClassSummary {
    pub class: usize,
    pub statistic: f64,
    pub anomaly_index: f64,
    pub attack_success_rate: f64,
    pub mask_l1: f64,
    pub description: String,
}

/// Anomaly index as in Neural Cleanse: distance from the median in units of the consistent
/// MAD estimate of the standard deviation. `higher_is_anomalous` picks the side.
pub fn anomaly(values: &[f64], higher_is_anomalous: bool) -> Vec<f64> {
    let indices = crate::stats::anomaly_indices(values);
    let median = crate::stats::median(values).unwrap_or(0.0);
    values
        .iter()
        .zip(indices)
        .map(|(v, a)| {
            let above = *v > median;
            if above == higher_is_anomalous { a } else { -a }
        })
        .collect()
}

/// Attack success of `predicted` into `class` over inputs whose clean class differs.
pub(crate) fn attack_success(clean: &[usize], predicted: &[usize], class: usize) -> (usize, usize) {
    let mut eligible = 0;
    let mut into = 0;
    for (&c, &p) in clean.iter().zip(predicted) {
        if c != class {
            eligible += 1;
            into += usize::from(p == class);
        }
    }
    (into, eligible)
}

/// Index of the largest probability in a row (the first one on ties).
pub(crate) fn argmax_row(row: ArrayView1<'_, f32>) -> usize {
    let mut best = 0;
    for (j, v) in row.iter().enumerate() {
        if *v > row[best] {
            best = j;
        }
    }
    best
}

/// Applies a trigger to a clean image in place (content mapped into the range, clipped).
pub(crate) fn stamp(mut image: ArrayViewMut3<'_, f32>, trigger: &MaskedTrigger, range: &ValueRange) {
    for ((c, y, x), v) in image.indexed_iter_mut() {
        let m = trigger.mask[[y, x]];
        if m > 0.0 {
            *v = range.clamp(c, (1.0 - m) * *v + m * range.level(c, trigger.pattern[[c, y, x]]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anomaly_is_one_sided() {
        // Median 0.1, MAD 0.0 -> fallback scale; the outlier is large and positive.
        let values = [0.1, 0.12, 0.09, 0.11, 0.95];
        let high = anomaly(&values, true);
        assert!(high[4] > 2.0, "{high:?}");
        let low = anomaly(&values, false);
        assert!(low[4] < -2.0, "{low:?}");
    }

    #[test]
    fn bounds_and_overlap() {
        let mut mask = Array2::<f32>::zeros((8, 8));
        mask.slice_mut(ndarray::s![6..8, 6..8]).fill(1.0);
        let found = Bounds::of_mask(&mask).unwrap();
        assert_eq!(found, Bounds { top: 6, left: 6, height: 2, width: 2 });
        assert_eq!(found.overlap(&found), 1.0);
        // A 2x2 box shifted by one column shares 2 of 6 pixels.
        let shifted = Bounds { top: 6, left: 5, height: 2, width: 2 };
        assert!((found.overlap(&shifted) - 2.0 / 6.0).abs() < 1e-12);
        assert_eq!(Bounds::of_mask(&Array2::zeros((2, 2))), None);
    }

    #[test]
    fn attack_success_counts_only_other_classes() {
        assert_eq!(attack_success(&[0, 1, 2, 2], &[2, 2, 2, 0], 2), (2, 2));
    }
}
