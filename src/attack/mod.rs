//! Black-box evasion attacks: how easily can a model be pushed to a wrong answer by a small
//! perturbation found with queries only (no gradients: an ONNX file gives none)?
//!
//! Where [`crate::search`] looks for one trigger that moves many inputs, an attack looks for
//! one perturbation per input, inside a norm ball of radius ε around it. The attacks query the
//! model through the same [`Oracle`] as the searches, which packs every input's next candidate
//! into full batches: one inference call serves many inputs, and memory holds one batch of
//! probed images plus each input's current best perturbation (never candidates × input size).
//!
//! - [`square`]: Square Attack (Andriushchenko et al., ECCV 2020), score-based, L∞ and L2;
//! - [`hopskipjump`]: HopSkipJump (Chen et al., IEEE S&P 2020), decision-based (classes only), L2;
//! - [`deepwordbug`]: DeepWordBug (Gao et al., 2018), score-based, character edits in text.
//!
//! Every input's randomness comes from its own generator ([`crate::transform::sample_rng`]
//! keyed by the seed, the probe and the input's data index), and an input's course depends only
//! on its own scores, so results do not depend on thread count, batch size or which other
//! inputs are attacked alongside.

pub mod deepwordbug;
pub mod hopskipjump;
#[cfg(test)]
mod mock;
pub mod square;

use ndarray::{ArrayView1, ArrayViewMut3};
use rand::RngExt;
use serde::{Deserialize, Serialize};

use crate::search::Images;
use crate::transform::{Stream, ValueRange, sample_rng};

pub use crate::search::Oracle;

/// The norm a perturbation is measured (and bounded) in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Norm {
    /// The largest change of any value.
    Linf,
    /// The Euclidean length of the change over all values.
    L2,
}

impl Norm {
    /// The name battery files use (`norm: linf`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Linf => "linf",
            Self::L2 => "l2",
        }
    }

    /// The size of `delta` in this norm.
    pub fn size(self, delta: impl Iterator<Item = f32>) -> f32 {
        match self {
            Self::Linf => delta.fold(0.0, |m, d| m.max(d.abs())),
            Self::L2 => delta.map(|d| f64::from(d) * f64::from(d)).sum::<f64>().sqrt() as f32,
        }
    }
}

/// How an attack's perturbations are sized in its summary: an image norm, or a text attack's
/// count of edited words. Written like [`Norm`] (`linf`, `l2`, `edits`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Measure {
    Linf,
    L2,
    /// Words given a character edit.
    Edits,
}

impl Measure {
    /// The name reports print.
    pub fn name(self) -> &'static str {
        match self {
            Self::Linf => Norm::Linf.name(),
            Self::L2 => Norm::L2.name(),
            Self::Edits => "edits",
        }
    }
}

impl From<Norm> for Measure {
    fn from(norm: Norm) -> Self {
        match norm {
            Norm::Linf => Self::Linf,
            Norm::L2 => Self::L2,
        }
    }
}

/// What an attack needs besides the model.
pub struct AttackInput<'a> {
    /// Clean `[C, H, W]` images.
    pub images: &'a dyn Images,
    /// Their data indices: each input's generator is keyed by its index.
    pub indices: &'a [usize],
    /// The model's clean predictions on them (what an untargeted attack moves away from).
    pub clean: &'a [usize],
    pub classes: usize,
    pub range: &'a ValueRange,
    pub seed: u64,
    /// `battery/probe` key, for deriving random streams.
    pub key: &'a str,
}

/// The class a targeted attack aims input `i` at: drawn uniformly among the others from the
/// input's placement stream (`None` for a one-class model).
pub(crate) fn draw_target(input: &AttackInput<'_>, i: usize) -> Option<usize> {
    target_of(input.seed, input.key, input.indices[i], input.clean[i], input.classes)
}

/// The target of the input at data index `index` whose clean class is `class`, whatever the
/// modality: [`draw_target`]'s rule.
pub(crate) fn target_of(seed: u64, key: &str, index: usize, class: usize, classes: usize) -> Option<usize> {
    (classes > 1).then(|| {
        let mut placement = sample_rng(seed, key, index as u64, Stream::Placement);
        let draw = placement.random_range(0..classes - 1);
        if draw >= class { draw + 1 } else { draw }
    })
}

/// Whether the model's class `predicted` breaks an input whose clean class is `clean`: the
/// target when the attack is targeted, any other class when it is not. Every attack's rule.
pub(crate) fn breaks(target: Option<usize>, clean: usize, predicted: usize) -> bool {
    match target {
        Some(t) => predicted == t,
        None => predicted != clean,
    }
}

/// An oracle's `fill` from a writer of flat `[C, H, W]` images of `size` values, whatever the
/// layout of the view it is handed.
pub(crate) fn fill_flat<'w>(
    size: usize,
    write: &'w (dyn Fn(usize, &mut [f32]) + Sync),
) -> impl Fn(usize, ArrayViewMut3<'_, f32>) + Sync + 'w {
    move |j: usize, mut view: ArrayViewMut3<'_, f32>| match view.as_slice_mut() {
        Some(out) => write(j, out),
        None => {
            let mut out = vec![0f32; size];
            write(j, &mut out);
            for (v, o) in view.iter_mut().zip(out) {
                *v = o;
            }
        }
    }
}

/// What an attack was asked for, as its summary reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ask {
    pub norm: Measure,
    /// The radius, in the data's value units (for a text attack, the edit budget).
    pub epsilon: f32,
    pub queries: u32,
    pub targeted: bool,
}

/// How one input fared.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The input's data index.
    pub index: usize,
    /// The class a targeted attack aimed at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<usize>,
    pub success: bool,
    /// Model queries spent on this input: for a success, the queries it took.
    pub queries: u32,
    /// Size of the final perturbation in the attack's norm, in the data's value units.
    pub perturbation: f32,
    /// The model's class for the final (adversarial) input, and its probability.
    pub class: usize,
    pub confidence: f32,
}

/// An attack over many inputs: how each fared and the adversarial inputs themselves.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackRun<X = Vec<f32>> {
    pub attempts: Vec<Attempt>,
    /// The final inputs in input order (the clean input itself where the attack found nothing
    /// better): images `[C, H, W]` each, one after another, or texts.
    pub adversarial: X,
    /// Queries spent over every input (the sum of the attempts').
    pub queries: u64,
}

impl AttackRun {
    /// Input `i`'s final image, flat `[C, H, W]`.
    pub fn image(&self, i: usize) -> &[f32] {
        let size = self.adversarial.len() / self.attempts.len().max(1);
        &self.adversarial[i * size..(i + 1) * size]
    }
}

/// What an attack probe measured on one model, input by input (in the probe's sample order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Outcomes {
    pub success: Vec<bool>,
    /// The model's class and its probability on each final input.
    pub class: Vec<usize>,
    pub confidence: Vec<f32>,
}

impl Outcomes {
    pub fn of<X>(run: &AttackRun<X>) -> Self {
        Self {
            success: run.attempts.iter().map(|a| a.success).collect(),
            class: run.attempts.iter().map(|a| a.class).collect(),
            confidence: run.attempts.iter().map(|a| a.confidence).collect(),
        }
    }
}

/// An attack probe's result: the report's summary and, per model, what each input came to.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackResult {
    pub summary: AttackSummary,
    pub candidate: Outcomes,
    /// The same attack (same inputs, seed and budget) on each reference model.
    pub references: Vec<Outcomes>,
}

/// Lower quartile, median and upper quartile (linear interpolation, numpy's default).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Quartiles {
    pub q1: f64,
    pub median: f64,
    pub q3: f64,
}

impl Quartiles {
    /// The quartiles of `values`, `None` when there are none.
    pub fn of(values: &[f64]) -> Option<Self> {
        let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
        if sorted.is_empty() {
            return None;
        }
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| {
            let pos = q * (sorted.len() - 1) as f64;
            let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
            sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
        };
        Some(Self { q1: at(0.25), median: at(0.5), q3: at(0.75) })
    }
}

/// What an attack probe did, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttackSummary {
    pub method: String,
    pub norm: Measure,
    /// The radius, in the data's value units (for a text attack, the edit budget in words).
    pub epsilon: f32,
    pub queries_per_input: u32,
    pub targeted: bool,
    pub attacked: usize,
    pub successes: usize,
    /// Queries spent on the candidate, over every input.
    pub queries: u64,
    /// Of the successful inputs: queries to success, and the perturbation's size in the norm.
    pub queries_to_success: Option<Quartiles>,
    pub perturbation: Option<Quartiles>,
    /// Successes of the same attack on each reference model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reference_successes: Vec<usize>,
}

impl AttackSummary {
    /// The summary of `run` on the candidate (`references`: the runs on the references).
    pub fn of<X>(method: &str, settings: &Ask, run: &AttackRun<X>, references: &[AttackRun<X>]) -> Self {
        let won: Vec<&Attempt> = run.attempts.iter().filter(|a| a.success).collect();
        let queries: Vec<f64> = won.iter().map(|a| f64::from(a.queries)).collect();
        let sizes: Vec<f64> = won.iter().map(|a| f64::from(a.perturbation)).collect();
        Self {
            method: method.into(),
            norm: settings.norm,
            epsilon: settings.epsilon,
            queries_per_input: settings.queries,
            targeted: settings.targeted,
            attacked: run.attempts.len(),
            successes: won.len(),
            queries: run.queries,
            queries_to_success: Quartiles::of(&queries),
            perturbation: Quartiles::of(&sizes),
            reference_successes: references.iter().map(|r| r.attempts.iter().filter(|a| a.success).count()).collect(),
        }
    }
}

/// Margin loss (Carlini & Wagner, 2017; the Square Attack's default) on log-probabilities,
/// which equals the margin of the logits for a softmax model: untargeted, the true class's
/// log-probability minus the best other's (the attack succeeds below zero); targeted, the best
/// non-target's minus the target's. Probabilities are floored at the smallest normal `f32`,
/// so a saturated softmax gives a large finite margin, not infinity.
pub(crate) fn margin(probabilities: ArrayView1<'_, f32>, class: usize, targeted: bool) -> f64 {
    let log = |p: f32| f64::from(p.max(f32::MIN_POSITIVE)).ln();
    let mut other = f64::NEG_INFINITY;
    for (j, &p) in probabilities.iter().enumerate() {
        if j != class {
            other = other.max(log(p));
        }
    }
    let own = log(probabilities[class]);
    if targeted { other - own } else { own - other }
}

/// The adversarial inputs an attack found, replayed as a probe's transform: each sample is
/// replaced by its own adversarial input (looked up by data index), so the runner classifies
/// them with the candidate like any probed batch, and reports draw them as before/after pairs.
pub struct Adversarial {
    /// Data index → position of its image in `images`.
    positions: std::collections::HashMap<usize, usize>,
    images: Vec<f32>,
    size: usize,
}

impl Adversarial {
    /// The final inputs of `run`, by data index.
    pub fn from_run(run: AttackRun) -> Self {
        let size = run.adversarial.len() / run.attempts.len().max(1);
        let positions = run.attempts.iter().enumerate().map(|(k, a)| (a.index, k)).collect();
        Self { positions, images: run.adversarial, size }
    }
}

impl crate::transform::Transform for Adversarial {
    fn apply(&self, mut image: ndarray::ArrayViewMut3<'_, f32>, ctx: &mut crate::transform::SampleContext<'_>) {
        // Only attacked samples are ever replayed; any other is left as it is.
        let Some(&k) = self.positions.get(&ctx.index) else { return };
        let stored = &self.images[k * self.size..(k + 1) * self.size];
        let (_, h, w) = image.dim();
        for ((c, y, x), v) in image.indexed_iter_mut() {
            *v = stored[(c * h + y) * w + x];
        }
    }

    fn control(&self) -> Option<Box<dyn crate::transform::Transform>> {
        None
    }
}

/// The adversarial texts a text attack found, replayed as a probe's text transform: each
/// attacked sample's text is replaced by its own adversarial text (looked up by data index).
pub struct AdversarialTexts {
    texts: std::collections::HashMap<usize, String>,
}

impl AdversarialTexts {
    /// The final texts of `run`, by data index.
    pub fn from_run(run: AttackRun<Vec<String>>) -> Self {
        Self { texts: run.attempts.iter().map(|a| a.index).zip(run.adversarial).collect() }
    }
}

impl crate::transform::text::TextTransform for AdversarialTexts {
    fn edit_text(&self, text: &mut String, ctx: &mut crate::transform::text::TextContext<'_>) {
        // Only attacked samples are ever replayed; any other is left as it is.
        if let Some(adversarial) = self.texts.get(&ctx.index) {
            adversarial.clone_into(text);
        }
    }

    fn control(&self) -> Option<Box<dyn crate::transform::text::TextTransform>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quartiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [25, 50, 75]) = [1.75, 2.5, 3.25]
        assert_eq!(Quartiles::of(&[4.0, 1.0, 3.0, 2.0]), Some(Quartiles { q1: 1.75, median: 2.5, q3: 3.25 }));
        assert_eq!(Quartiles::of(&[7.0]), Some(Quartiles { q1: 7.0, median: 7.0, q3: 7.0 }));
        assert_eq!(Quartiles::of(&[]), None);
    }

    #[test]
    fn the_margin_is_the_logit_margin_of_a_softmax() {
        // Logits [2, 0, -1]: softmax, then the margin of class 0 over the best other is 2 - 0.
        let logits = [2.0f32, 0.0, -1.0];
        let total: f32 = logits.iter().map(|v| v.exp()).sum();
        let p = ndarray::Array1::from_iter(logits.iter().map(|v| v.exp() / total));
        assert!((margin(p.view(), 0, false) - 2.0).abs() < 1e-6);
        // Targeted at class 2: the best other (class 0) minus the target, 2 - (-1).
        assert!((margin(p.view(), 2, true) - 3.0).abs() < 1e-6);
    }
}
