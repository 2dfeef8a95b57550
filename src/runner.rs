//! What runs when: the clean baseline once, then every probe of every battery against it.
//!
//! For each probe the runner draws the probe's samples (a seeded permutation of the clean
//! inputs, so a probe with `samples: k` sees the first `k` of the same order), builds the
//! transformed inputs — and, for trigger probes, the matched control — in parallel with rayon,
//! feeds them to the engine chunk by chunk (memory stays bounded by the chunk, not the data),
//! and keeps only the predicted classes. Each sample's randomness is derived from (seed,
//! battery, probe id, data index), so results do not depend on thread count or chunking.

use std::time::Instant;

use ndarray::{ArrayD, ArrayViewMut3, Axis, IxDyn};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::battery::spec::{Battery, Category, Layout, ValueRangeSpec};
use crate::data::Dataset;
use crate::engine::{Engine, EngineError, InputData};
use crate::transform::{self, Geometry, SampleContext, Stream, Transform, ValueRange};
use crate::verdict::{self, Observation, ProbeJudgement, ProbeNumbers};

/// Samples transformed and classified per chunk: bounds memory whatever the data size.
const CHUNK: usize = 1024;

/// Whether the classifier output holds probabilities or logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreKind {
    Probabilities,
    Logits,
}

/// Settings of one scan beyond the batteries themselves.
#[derive(Debug, Clone, Default)]
pub struct ScanSettings {
    /// Replaces every battery's seed.
    pub seed: Option<u64>,
    /// Overrides the detected score kind.
    pub scores: Option<ScoreKind>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Incompatible(String),
    #[error("battery {battery}, probe '{probe}': {detail}")]
    Transform { battery: String, probe: String, detail: String },
}

/// How inputs were interpreted for one battery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputInterpretation {
    pub layout: Layout,
    pub layout_inferred: bool,
    pub value_range: Vec<(f32, f32)>,
    pub value_range_inferred: bool,
}

/// One probe's outcome, before report formatting.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub battery_index: usize,
    pub probe_index: usize,
    pub numbers: ProbeNumbers,
    pub judgement: ProbeJudgement,
}

/// Everything a scan measured.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub classes: usize,
    pub scores: ScoreKind,
    pub scores_detected: bool,
    pub clean_accuracy: Option<f64>,
    pub interpretations: Vec<InputInterpretation>,
    pub seeds: Vec<u64>,
    pub probes: Vec<ProbeOutcome>,
    pub queries: u64,
    pub elapsed_seconds: f64,
}

/// Runs every probe of every battery against the model's clean predictions on `dataset`.
pub fn scan(
    engine: &mut Engine,
    dataset: &Dataset,
    batteries: &[Battery],
    settings: &ScanSettings,
) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    let input_name = match engine.signature.inputs.as_slice() {
        [single] => single.name.clone(),
        inputs => {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(ScanError::Incompatible(format!(
                "image batteries need a model with one image input; this model declares {} ({})",
                inputs.len(),
                names.join(", ")
            )));
        }
    };
    let clean_inputs = [(input_name.clone(), InputData::F32(dataset.x.clone()))];
    engine.check_inputs(&clean_inputs)?;
    if dataset.x.ndim() != 4 {
        return Err(ScanError::Incompatible(format!(
            "image probes need 4-D inputs [N, C, H, W] or [N, H, W, C]; the data is {:?}",
            dataset.x.shape()
        )));
    }
    let clean_scores = engine.classify(&clean_inputs)?;
    let mut queries = dataset.len() as u64;
    let classes = clean_scores.ncols();
    let (scores, scores_detected) = match settings.scores {
        Some(kind) => (kind, false),
        None => (detect_score_kind(&clean_scores), true),
    };
    let clean_pred = argmax_rows(&clean_scores);
    if let Some(y) = &dataset.y
        && let Some(bad) = y.iter().find(|&&label| label < 0 || label as usize >= classes)
    {
        return Err(ScanError::Incompatible(format!(
            "data {}: label {bad} is outside the model's {classes} classes",
            dataset.path.display()
        )));
    }
    let clean_accuracy = dataset
        .y
        .as_ref()
        .map(|y| clean_pred.iter().zip(y).filter(|(p, l)| **p as i64 == **l).count() as f64 / y.len() as f64);

    let mut interpretations = Vec::new();
    let mut seeds = Vec::new();
    let mut gathered: Vec<(
        usize,
        usize,
        crate::battery::spec::Category,
        crate::battery::spec::Thresholds,
        ProbeNumbers,
    )> = Vec::new();
    for (b, battery) in batteries.iter().enumerate() {
        let seed = settings.seed.unwrap_or(battery.defaults.seed);
        seeds.push(seed);
        let interpretation = interpret(battery, &dataset.x);
        let geometry = geometry(dataset.x.shape(), interpretation.layout);
        let range = ValueRange {
            lo: interpretation.value_range.iter().map(|r| r.0).collect(),
            hi: interpretation.value_range.iter().map(|r| r.1).collect(),
        };
        if range.lo.len() != geometry.channels {
            return Err(ScanError::Incompatible(format!(
                "battery {} declares a value range for {} channels; the inputs have {}",
                battery.path.display(),
                range.lo.len(),
                geometry.channels
            )));
        }
        let order = sample_order(seed, dataset.len());
        for (p, probe) in battery.probes.iter().enumerate() {
            let key = format!("{}/{}", battery.name, probe.id);
            let transform_err = |detail: String| ScanError::Transform {
                battery: battery.path.display().to_string(),
                probe: probe.id.clone(),
                detail,
            };
            let probe_transform =
                transform::build(&probe.transform, geometry).map_err(|e| transform_err(e.to_string()))?;
            let control = match probe.category {
                Category::Trigger => Some(probe_transform.control().ok_or_else(|| {
                    transform_err(format!("transform '{}' has no matched control", probe.transform.kind()))
                })?),
                Category::Robustness => None,
            };
            let indices = &order[..probe.samples.min(order.len())];
            let job = ProbeJob { seed, key: &key, layout: interpretation.layout, range: &range, input: &input_name };
            let probed = job.predict(engine, &dataset.x, indices, probe_transform.as_ref(), Stream::Probe)?;
            queries += indices.len() as u64;
            let control_pred = match &control {
                Some(c) => {
                    queries += indices.len() as u64;
                    Some(job.predict(engine, &dataset.x, indices, c.as_ref(), Stream::Control)?)
                }
                None => None,
            };
            let clean: Vec<usize> = indices.iter().map(|&i| clean_pred[i]).collect();
            let labels: Option<Vec<i64>> = dataset.y.as_ref().map(|y| indices.iter().map(|&i| y[i]).collect());
            let numbers = verdict::observe(&Observation {
                classes,
                clean: &clean,
                probed: &probed,
                control: control_pred.as_deref(),
                labels: labels.as_deref(),
            });
            gathered.push((b, p, probe.category, probe.thresholds, numbers));
        }
        interpretations.push(interpretation);
    }
    let mut judged: Vec<_> = gathered.iter().map(|(_, _, c, t, n)| (*c, *t, n.clone())).collect();
    let judgements = verdict::judge(&mut judged);
    let probes = gathered
        .iter()
        .zip(judged)
        .zip(judgements)
        .map(|(((b, p, ..), (_, _, numbers)), judgement)| ProbeOutcome {
            battery_index: *b,
            probe_index: *p,
            numbers,
            judgement,
        })
        .collect();
    Ok(ScanOutcome {
        classes,
        scores,
        scores_detected,
        clean_accuracy,
        interpretations,
        seeds,
        probes,
        queries,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Which inputs one probe transforms and how.
struct ProbeJob<'a> {
    seed: u64,
    key: &'a str,
    layout: Layout,
    range: &'a ValueRange,
    input: &'a str,
}

impl ProbeJob<'_> {
    /// Transforms the selected inputs chunk by chunk and returns the predicted classes.
    fn predict(
        &self,
        engine: &mut Engine,
        x: &ArrayD<f32>,
        indices: &[usize],
        transform: &dyn Transform,
        stream: Stream,
    ) -> Result<Vec<usize>, ScanError> {
        let mut predictions = Vec::with_capacity(indices.len());
        for chunk in indices.chunks(CHUNK) {
            let batch = self.transform_chunk(x, chunk, transform, stream);
            let scores = engine.classify(&[(self.input.to_string(), InputData::F32(batch))])?;
            predictions.extend(argmax_rows(&scores));
        }
        Ok(predictions)
    }

    fn transform_chunk(
        &self,
        x: &ArrayD<f32>,
        chunk: &[usize],
        transform: &dyn Transform,
        stream: Stream,
    ) -> ArrayD<f32> {
        let mut shape = x.shape().to_vec();
        shape[0] = chunk.len();
        let mut batch = ArrayD::<f32>::zeros(IxDyn(&shape));
        batch.axis_iter_mut(Axis(0)).into_par_iter().zip(chunk.par_iter()).for_each(|(mut slot, &index)| {
            slot.assign(&x.index_axis(Axis(0), index));
            let mut rng = transform::sample_rng(self.seed, self.key, index as u64, stream);
            let mut placement_rng = transform::sample_rng(self.seed, self.key, index as u64, Stream::Placement);
            let mut ctx = SampleContext { rng: &mut rng, placement_rng: &mut placement_rng, range: self.range };
            let image = slot.into_dimensionality::<ndarray::Ix3>().expect("4-D inputs checked before");
            transform.apply(chw(image, self.layout), &mut ctx);
        });
        batch
    }
}

/// A `[C, H, W]` view of one sample stored in `layout`, without copying.
fn chw(sample: ArrayViewMut3<'_, f32>, layout: Layout) -> ArrayViewMut3<'_, f32> {
    match layout {
        Layout::Nchw => sample,
        Layout::Nhwc => sample.permuted_axes([2, 0, 1]),
    }
}

fn geometry(shape: &[usize], layout: Layout) -> Geometry {
    match layout {
        Layout::Nchw => Geometry { channels: shape[1], height: shape[2], width: shape[3] },
        Layout::Nhwc => Geometry { channels: shape[3], height: shape[1], width: shape[2] },
    }
}

/// The battery's declared layout and range, or what the data says.
fn interpret(battery: &Battery, x: &ArrayD<f32>) -> InputInterpretation {
    let shape = x.shape();
    let (layout, layout_inferred) = match battery.defaults.layout {
        Some(layout) => (layout, false),
        None => {
            let looks_like_channels = |d: usize| matches!(d, 1 | 3 | 4);
            let layout = if !looks_like_channels(shape[1]) && looks_like_channels(shape[3]) {
                Layout::Nhwc
            } else {
                Layout::Nchw
            };
            (layout, true)
        }
    };
    let channels = geometry(shape, layout).channels;
    let (value_range, value_range_inferred) = match &battery.defaults.value_range {
        Some(ValueRangeSpec::All { lo, hi }) => (vec![(*lo, *hi); channels], false),
        Some(ValueRangeSpec::PerChannel(ranges)) => (ranges.clone(), false),
        None => {
            let axis = match layout {
                Layout::Nchw => 1,
                Layout::Nhwc => 3,
            };
            let ranges = (0..channels)
                .map(|c| {
                    let lane = x.index_axis(Axis(axis), c);
                    let lo = lane.iter().copied().fold(f32::INFINITY, f32::min);
                    let hi = lane.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                    if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
                })
                .collect();
            (ranges, true)
        }
    };
    InputInterpretation { layout, layout_inferred, value_range, value_range_inferred }
}

/// A seeded permutation of `0..n`: probes with `samples: k` use its first `k` entries.
fn sample_order(seed: u64, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = transform::sample_rng(seed, "sample-order", 0, Stream::Placement);
    order.shuffle(&mut rng);
    order
}

/// Probabilities when every row is non-negative and sums to 1 (±1e-3), else logits.
pub fn detect_score_kind(scores: &ndarray::Array2<f32>) -> ScoreKind {
    let probabilities = scores
        .rows()
        .into_iter()
        .all(|row| row.iter().all(|v| (0.0..=1.0 + 1e-6).contains(v)) && (row.sum() - 1.0).abs() < 1e-3);
    if probabilities { ScoreKind::Probabilities } else { ScoreKind::Logits }
}

/// Index of the largest score in each row (first on ties; NaN never wins).
pub fn argmax_rows(scores: &ndarray::Array2<f32>) -> Vec<usize> {
    scores
        .rows()
        .into_iter()
        .map(|row| {
            let mut best = 0;
            for (j, v) in row.iter().enumerate() {
                if *v > row[best] || row[best].is_nan() {
                    best = j;
                }
            }
            best
        })
        .collect()
}
