//! What runs when: clean baselines once, then every probe of every battery, on the candidate
//! model and on every reference model, with the evidence handed to [`crate::verdict`].
//!
//! For each probe the runner draws the probe's samples (a seeded permutation of the clean
//! inputs, so a probe with `samples: k` sees the first `k` of the same order), builds the
//! transformed inputs — and, for trigger probes, the matched control — in parallel with rayon,
//! and feeds each chunk to the candidate and to every reference, so they all see exactly the
//! same inputs. Memory is bounded by the chunk, not the data; only predictions are kept. Each
//! sample's randomness is derived from (seed, battery, probe id, data index), so results do not
//! depend on thread count or chunking. A recorded baseline replays in place of a live model.

use std::time::Instant;

use ndarray::{Array3, ArrayD, ArrayViewMut3, Axis, IxDyn};
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::baseline::Recording;
use crate::battery::spec::{Battery, Category, Layout, SearchSpec, Thresholds, TransformSpec, ValueRangeSpec};
use crate::calibration::CalibratedThresholds;
use crate::data::Dataset;
use crate::engine::{Engine, EngineError, InputData};
use crate::search::{self, Oracle, SearchInput, SearchOutcome, SearchSummary};
use crate::transform::{self, Geometry, SampleContext, Stream, Transform, ValueRange};
use crate::verdict::{self, Comparison, Correction, Direction, Observation, ProbeEvidence, ProbeJudgement};

/// Samples transformed and classified per chunk: bounds memory whatever the data size, and
/// small enough that building the next chunk overlaps inference of this one.
pub const CHUNK: usize = 256;
/// Scores kept per input in predictions (and in recorded baselines).
pub const TOP_K: usize = 3;
/// Example inputs kept per probe for reports.
const EXAMPLES: usize = 3;

/// Whether the classifier output holds probabilities or logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum ScoreKind {
    Probabilities,
    Logits,
}

/// One model's predictions on a list of inputs.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Predictions {
    pub class: Vec<usize>,
    /// Probability of the predicted class (softmax of logits).
    pub confidence: Vec<f32>,
    /// The `TOP_K` highest (class, raw score) pairs per input, best first.
    pub top: Vec<Vec<(usize, f32)>>,
}

impl Predictions {
    fn from_scores(scores: &ndarray::Array2<f32>, kind: ScoreKind) -> Self {
        let mut out = Predictions::default();
        for row in scores.rows() {
            // Top-k by insertion into a small sorted list: highest first, NaN never ranked
            // above a number, ties kept in class order.
            let mut top: Vec<(usize, f32)> = Vec::with_capacity(TOP_K + 1);
            for (class, &value) in row.iter().enumerate() {
                let beats = |held: f32| value > held || (held.is_nan() && !value.is_nan());
                let at = top.iter().position(|&(_, held)| beats(held)).unwrap_or(top.len());
                if at < TOP_K {
                    top.insert(at, (class, value));
                    top.truncate(TOP_K);
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

    fn extend(&mut self, other: Predictions) {
        self.class.extend(other.class);
        self.confidence.extend(other.confidence);
        self.top.extend(other.top);
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

/// The models a scan runs.
pub struct Models<'a> {
    pub candidate: &'a mut Engine,
    /// Known-good models; they see exactly the candidate's inputs.
    pub references: &'a mut [Engine],
    /// A recording of an accepted run, replayed as a reference.
    pub baseline: Option<&'a Recording>,
    /// Baseline disagreements on inputs whose recorded top-2 score margin is below this count
    /// as agreement (numerical noise, e.g. CPU vs CUDA).
    pub baseline_tolerance: f32,
}

/// Receives progress while a scan runs (for a progress bar; results never depend on it).
pub trait Progress: Send + Sync {
    /// The scan will run `probes` probes.
    fn start(&self, probes: usize);
    /// Probe `id` finished; `queries` have been run so far.
    fn probe_done(&self, id: &str, queries: u64);
    fn finish(&self);
}

/// A shareable [`Progress`] receiver.
#[derive(Clone)]
pub struct ProgressHandle(pub std::sync::Arc<dyn Progress>);

impl std::fmt::Debug for ProgressHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProgressHandle")
    }
}

/// Settings of one scan beyond the batteries themselves.
#[derive(Debug, Clone, Default)]
pub struct ScanSettings {
    /// Replaces every battery's seed.
    pub seed: Option<u64>,
    /// Overrides the detected score kind.
    pub scores: Option<ScoreKind>,
    pub correction: Correction,
    /// Per-probe thresholds from `probity calibrate`.
    pub thresholds: Option<CalibratedThresholds>,
    /// Replaces every search probe's query budget.
    pub search_budget: Option<u64>,
    pub progress: Option<ProgressHandle>,
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

/// A clean input and what the probe made of it, for people to look at.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    pub index: usize,
    /// `[C, H, W]`.
    pub clean: Array3<f32>,
    pub probed: Array3<f32>,
    pub clean_class: usize,
    pub probed_class: usize,
}

/// One probe's outcome.
#[derive(Debug, Clone)]
pub struct ProbeOutcome {
    pub battery_index: usize,
    pub probe_index: usize,
    /// `battery-name/probe-id`: identifies the probe in recordings and calibrations.
    pub key: String,
    /// Data indices the probe transformed, in order.
    pub indices: Vec<usize>,
    pub candidate: ProbePredictions,
    pub thresholds: Thresholds,
    pub evidence: ProbeEvidence,
    pub judgement: ProbeJudgement,
    pub examples: Vec<Example>,
    /// Value range of the battery, for rendering examples.
    pub range: ValueRange,
    /// What a search probe searched and found (its verdict is the confirmation's).
    pub search: Option<SearchSummary>,
}

/// Agreement of the candidate with a recorded baseline over every compared input.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BaselineAgreement {
    pub compared: usize,
    /// Share of inputs with exactly the recorded class.
    pub exact: f64,
    /// Share agreeing once near-ties (recorded top-2 margin below the tolerance) are excused.
    pub within_tolerance: f64,
    pub tolerance: f32,
    /// Probes of the recording that this scan did not run, and the reverse.
    pub unmatched_probes: usize,
}

/// Everything a scan measured.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    pub classes: usize,
    pub scores: ScoreKind,
    pub scores_detected: bool,
    pub clean: Predictions,
    pub clean_accuracy: Option<f64>,
    /// Per reference: agreement with the candidate on the clean inputs.
    pub reference_clean_agreement: Vec<f64>,
    pub baseline_agreement: Option<BaselineAgreement>,
    pub interpretations: Vec<InputInterpretation>,
    pub seeds: Vec<u64>,
    pub probes: Vec<ProbeOutcome>,
    pub queries: u64,
    pub elapsed_seconds: f64,
}

/// Runs every probe of every battery on the candidate (and references) against `dataset`.
pub fn scan(
    models: &mut Models<'_>,
    dataset: &Dataset,
    batteries: &[Battery],
    settings: &ScanSettings,
) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    let input_name = image_input(models.candidate)?;
    for reference in models.references.iter() {
        check_same_signature(models.candidate, reference)?;
    }
    if dataset.x.ndim() != 4 {
        return Err(ScanError::Incompatible(format!(
            "image probes need 4-D inputs [N, C, H, W] or [N, H, W, C]; the data is {:?}",
            dataset.x.shape()
        )));
    }
    // Clean inputs go through in chunks copied from the data, so memory stays bounded by the
    // chunk rather than doubling the data set.
    let first = dataset.x.slice_axis(Axis(0), ndarray::Slice::from(0..dataset.len().min(1))).to_owned();
    models.candidate.check_inputs(&[(input_name.clone(), InputData::F32(first))])?;
    let clean_scores = classify_clean(models.candidate, &input_name, &dataset.x)?;
    let classes = clean_scores.ncols();
    let (scores, scores_detected) = match settings.scores {
        Some(kind) => (kind, false),
        None => (detect_score_kind(&clean_scores), true),
    };
    let clean = Predictions::from_scores(&clean_scores, scores);
    drop(clean_scores);
    let mut reference_clean = Vec::new();
    for reference in models.references.iter_mut() {
        let s = classify_clean(reference, &input_name, &dataset.x)?;
        let kind = settings.scores.unwrap_or_else(|| detect_score_kind(&s));
        reference_clean.push(Predictions::from_scores(&s, kind));
    }
    let total_probes: usize = batteries.iter().map(|b| b.probes.len()).sum();
    if let Some(p) = &settings.progress {
        p.0.start(total_probes);
    }
    let mut queries = (dataset.len() * (1 + models.references.len())) as u64;
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
        .map(|y| clean.class.iter().zip(y).filter(|(p, l)| **p as i64 == **l).count() as f64 / y.len() as f64);
    let reference_clean_agreement = reference_clean.iter().map(|r| agreement(&clean.class, &r.class)).collect();

    let mut tally = BaselineTally::default();
    let mut interpretations = Vec::new();
    let mut seeds = Vec::new();
    let mut outcomes: Vec<ProbeOutcome> = Vec::new();
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
            let all_indices = &order[..probe.samples.min(order.len())];
            let job = ProbeJob { seed, key: &key, layout: interpretation.layout, range: &range, input: &input_name };
            // A search probe first recovers a trigger on one half of its samples; the trigger
            // is then confirmed like any transform on the other half, which the search never saw.
            let (probe_transform, indices, search) = match &probe.transform {
                TransformSpec::Search(spec) => {
                    let (search_part, confirm_part) = all_indices.split_at(all_indices.len().div_ceil(2));
                    let spec = with_budget(spec, settings.search_budget);
                    let found =
                        job.search(models.candidate, scores, &dataset.x, search_part, &clean, classes, &spec)?;
                    queries += found.queries;
                    let chosen = &found.candidates[found.chosen];
                    let summary = summarise_search(&found, search_part.len(), confirm_part.len());
                    let transform: Box<dyn Transform> = Box::new(chosen.trigger.clone());
                    (transform, confirm_part.to_vec(), Some(summary))
                }
                spec => {
                    let transform = transform::build(spec, geometry).map_err(|e| transform_err(e.to_string()))?;
                    (transform, all_indices.to_vec(), None)
                }
            };
            let control = match probe.category {
                Category::Trigger => Some(probe_transform.control().ok_or_else(|| {
                    transform_err(format!("transform '{}' has no matched control", probe.transform.kind()))
                })?),
                Category::Robustness => None,
            };
            let (probed, reference_probed) =
                job.predict(models, scores, &dataset.x, &indices, probe_transform.as_ref(), Stream::Probe)?;
            queries += (indices.len() * (1 + models.references.len())) as u64;
            let control_predictions = match &control {
                Some(c) => {
                    queries += indices.len() as u64;
                    let mut only_candidate = Models {
                        candidate: &mut *models.candidate,
                        references: &mut [],
                        baseline: None,
                        baseline_tolerance: 0.0,
                    };
                    Some(job.predict(&mut only_candidate, scores, &dataset.x, &indices, c.as_ref(), Stream::Control)?.0)
                }
                None => None,
            };
            let examples = job.examples(&dataset.x, &indices, probe_transform.as_ref(), &clean, &probed);
            let clean_here = clean.select(&indices);
            let labels: Option<Vec<i64>> = dataset.y.as_ref().map(|y| indices.iter().map(|&i| y[i]).collect());
            let own = verdict::observe(&Observation {
                classes,
                clean: &clean_here.class,
                probed: &probed.class,
                control: control_predictions.as_ref().map(|c| c.class.as_slice()),
                labels: labels.as_deref(),
                clean_confidence: &clean_here.confidence,
                probed_confidence: &probed.confidence,
            });
            let references = reference_clean
                .iter()
                .zip(&reference_probed)
                .map(|(ref_clean, ref_probed)| {
                    let ref_clean_here = ref_clean.select(&indices);
                    verdict::compare(&Comparison {
                        classes,
                        direction: Direction::Greater,
                        candidate_clean: &clean_here.class,
                        candidate_probed: &probed.class,
                        other_clean: &ref_clean_here.class,
                        other_probed: &ref_probed.class,
                        candidate_confidence: &probed.confidence,
                        other_confidence: &ref_probed.confidence,
                    })
                })
                .collect();
            let baseline = models.baseline.and_then(|recording| {
                let recorded = recording.probe(&key).filter(|r| r.indices == indices)?;
                let recorded_clean = recording.clean.select(&indices);
                let tolerance = models.baseline_tolerance;
                let cand_clean = tally.snap(&clean_here, &recorded_clean, tolerance);
                let cand_probed = tally.snap(&probed, &recorded.probed, tolerance);
                Some(verdict::compare(&Comparison {
                    classes,
                    direction: Direction::TwoSided,
                    candidate_clean: &cand_clean,
                    candidate_probed: &cand_probed,
                    other_clean: &recorded_clean.class,
                    other_probed: &recorded.probed.class,
                    candidate_confidence: &probed.confidence,
                    other_confidence: &recorded.probed.confidence,
                }))
            });
            if models.baseline.is_some() && baseline.is_none() {
                tally.unmatched += 1;
            }
            let thresholds = calibrated(probe.thresholds, settings.thresholds.as_ref(), &key);
            let evidence = ProbeEvidence { category: probe.category, thresholds, own, references, baseline };
            if let Some(p) = &settings.progress {
                p.0.probe_done(&probe.id, queries);
            }
            outcomes.push(ProbeOutcome {
                battery_index: b,
                probe_index: p,
                key,
                indices,
                candidate: ProbePredictions { probed, control: control_predictions },
                thresholds,
                evidence,
                judgement: placeholder_judgement(),
                examples,
                range: range.clone(),
                search,
            });
        }
        interpretations.push(interpretation);
    }
    if let Some(p) = &settings.progress {
        p.0.finish();
    }
    let mut evidence: Vec<ProbeEvidence> = outcomes.iter().map(|o| o.evidence.clone()).collect();
    let judgements = verdict::judge(&mut evidence, settings.correction);
    for ((outcome, evidence), judgement) in outcomes.iter_mut().zip(evidence).zip(judgements) {
        outcome.evidence = evidence;
        outcome.judgement = judgement;
    }
    let baseline_agreement = models.baseline.map(|recording| {
        let ran: Vec<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
        let unrun = recording.probes.iter().filter(|r| !ran.contains(&r.key.as_str())).count();
        tally.finish(models.baseline_tolerance, unrun)
    });
    Ok(ScanOutcome {
        classes,
        scores,
        scores_detected,
        clean,
        clean_accuracy,
        reference_clean_agreement,
        baseline_agreement,
        interpretations,
        seeds,
        probes: outcomes,
        queries,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// One batch through the candidate and every reference.
fn classify_all(
    models: &mut Models<'_>,
    batch: &[(String, InputData)],
    kind: ScoreKind,
) -> Result<(Predictions, Vec<Predictions>), ScanError> {
    let own = Predictions::from_scores(&models.candidate.classify(batch)?, kind);
    let mut others = Vec::with_capacity(models.references.len());
    for reference in models.references.iter_mut() {
        let scores = reference.classify(batch)?;
        let kind = detect_score_kind(&scores);
        others.push(Predictions::from_scores(&scores, kind));
    }
    Ok((own, others))
}

/// Classifies every clean input, a chunk at a time.
fn classify_clean(engine: &mut Engine, input: &str, x: &ArrayD<f32>) -> Result<ndarray::Array2<f32>, ScanError> {
    let n = x.shape()[0];
    let mut rows: Vec<ndarray::Array2<f32>> = Vec::new();
    for start in (0..n).step_by(CHUNK) {
        let chunk = x.slice_axis(Axis(0), ndarray::Slice::from(start..(start + CHUNK).min(n))).to_owned();
        rows.push(engine.classify(&[(input.to_string(), InputData::F32(chunk))])?);
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    ndarray::concatenate(Axis(0), &views).map_err(|e| ScanError::Incompatible(e.to_string()))
}

fn placeholder_judgement() -> ProbeJudgement {
    ProbeJudgement {
        verdict: verdict::Verdict::Pass,
        basis: verdict::Basis::SelfBaseline,
        target_class: None,
        attack_success_rate: None,
        attack_success_interval: None,
        control_attack_success_rate: None,
        p_value: None,
        effect: None,
        accuracy_drop: None,
        reason: String::new(),
    }
}

/// The search with the `--search-budget` override applied.
fn with_budget(spec: &SearchSpec, budget: Option<u64>) -> SearchSpec {
    let mut spec = spec.clone();
    if let Some(b) = budget {
        match &mut spec {
            SearchSpec::Patch { budget, .. }
            | SearchSpec::ReverseEngineer { budget, .. }
            | SearchSpec::Vocabulary { budget, .. } => *budget = b,
        }
    }
    spec
}

/// The probe's thresholds with calibrated values, when a calibration covers it.
fn calibrated(thresholds: Thresholds, calibration: Option<&CalibratedThresholds>, key: &str) -> Thresholds {
    match (thresholds, calibration.and_then(|c| c.probes.get(key))) {
        (Thresholds::Trigger { alpha, .. }, Some(t)) => {
            Thresholds::Trigger { alpha, min_effect: t.min_effect, min_attack_success: t.min_attack_success }
        }
        (t, _) => t,
    }
}

fn agreement(a: &[usize], b: &[usize]) -> f64 {
    if a.is_empty() { 1.0 } else { a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64 }
}

/// Counts agreement with a recording while excusing near-ties.
#[derive(Debug, Default)]
struct BaselineTally {
    compared: usize,
    exact: usize,
    tolerated: usize,
    unmatched: usize,
}

impl BaselineTally {
    /// The candidate's classes, with a disagreement replaced by the recorded class when the
    /// recording's top-2 margin is below `tolerance` and the candidate chose the recorded
    /// runner-up: numerical noise on a near-tie, not a change in behaviour.
    fn snap(&mut self, candidate: &Predictions, recorded: &Predictions, tolerance: f32) -> Vec<usize> {
        candidate
            .class
            .iter()
            .zip(&recorded.class)
            .zip(&recorded.top)
            .map(|((&c, &r), top)| {
                self.compared += 1;
                if c == r {
                    self.exact += 1;
                    return c;
                }
                let near_tie = top.len() >= 2 && top[1].0 == c && (top[0].1 - top[1].1).abs() < tolerance;
                if near_tie {
                    self.tolerated += 1;
                    r
                } else {
                    c
                }
            })
            .collect()
    }

    fn finish(&self, tolerance: f32, unrun: usize) -> BaselineAgreement {
        let share = |k: usize| if self.compared == 0 { 0.0 } else { k as f64 / self.compared as f64 };
        BaselineAgreement {
            compared: self.compared,
            exact: share(self.exact),
            within_tolerance: share(self.exact + self.tolerated),
            tolerance,
            unmatched_probes: self.unmatched + unrun,
        }
    }
}

/// The single image input of an image classifier.
fn image_input(engine: &Engine) -> Result<String, ScanError> {
    let inputs = &engine.signature.inputs;
    if inputs.iter().any(|i| i.element_type == "int64") {
        let names: Vec<String> = inputs.iter().map(|i| format!("{} {}", i.name, i.element_type)).collect();
        return Err(ScanError::Incompatible(format!(
            "{} takes token ids ({}): it looks like a text model, and this version of probity scans image \
             classifiers only (float32 [N, C, H, W] or [N, H, W, C] input); text batteries are not available yet",
            engine.model_path.display(),
            names.join(", ")
        )));
    }
    match inputs.as_slice() {
        [single] => Ok(single.name.clone()),
        inputs => {
            let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
            Err(ScanError::Incompatible(format!(
                "image batteries need a model with one image input; {} declares {} ({})",
                engine.model_path.display(),
                inputs.len(),
                names.join(", ")
            )))
        }
    }
}

/// A reference must take the same inputs and score the same classes as the candidate.
fn check_same_signature(candidate: &Engine, reference: &Engine) -> Result<(), ScanError> {
    let describe = |e: &Engine| {
        let inputs: Vec<String> =
            e.signature.inputs.iter().map(|i| format!("{} {} {}", i.name, i.element_type, i.shape_string())).collect();
        let out = &e.signature.outputs[e.output_index];
        format!("inputs {}; classifier output {} {}", inputs.join(", "), out.name, out.shape_string())
    };
    let same_inputs = candidate.signature.inputs == reference.signature.inputs;
    let same_classes = candidate.declared_classes() == reference.declared_classes();
    if same_inputs && same_classes {
        return Ok(());
    }
    Err(ScanError::Incompatible(format!(
        "reference {} does not match the candidate's signature: candidate {} has {}; reference has {}",
        reference.model_path.display(),
        candidate.model_path.display(),
        describe(candidate),
        describe(reference)
    )))
}

/// How a probe's inputs are derived from the clean data: the seed and key that every sample's
/// randomness is keyed by, the layout and the valid range. Public so benchmarks build exactly
/// the inputs a scan builds.
#[derive(Debug, Clone, Copy)]
pub struct Probing<'a> {
    pub seed: u64,
    /// `battery-name/probe-id`.
    pub key: &'a str,
    pub layout: Layout,
    pub range: &'a ValueRange,
}

impl Probing<'_> {
    /// The transformed copies of the samples at `chunk` (data indices), built in parallel.
    pub fn batch(&self, x: &ArrayD<f32>, chunk: &[usize], transform: &dyn Transform, stream: Stream) -> ArrayD<f32> {
        let mut shape = x.shape().to_vec();
        shape[0] = chunk.len();
        let mut batch = ArrayD::<f32>::zeros(IxDyn(&shape));
        batch.axis_iter_mut(Axis(0)).into_par_iter().zip(chunk.par_iter()).for_each(|(mut slot, &index)| {
            slot.assign(&x.index_axis(Axis(0), index));
            let sample = slot.into_dimensionality::<ndarray::Ix3>().expect("4-D inputs checked before");
            self.apply(sample, index, transform, stream);
        });
        batch
    }

    /// Transforms one sample (stored in `layout`) in place, with the randomness of `index`.
    pub fn apply(&self, sample: ArrayViewMut3<'_, f32>, index: usize, transform: &dyn Transform, stream: Stream) {
        let mut rng = transform::sample_rng(self.seed, self.key, index as u64, stream);
        let mut placement_rng = transform::sample_rng(self.seed, self.key, index as u64, Stream::Placement);
        let mut ctx = SampleContext { rng: &mut rng, placement_rng: &mut placement_rng, range: self.range };
        transform.apply(chw(sample, self.layout), &mut ctx);
    }
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
    /// Transforms the selected inputs chunk by chunk and classifies each chunk with the
    /// candidate and every reference; returns (candidate, per-reference) predictions.
    fn predict(
        &self,
        models: &mut Models<'_>,
        kind: ScoreKind,
        x: &ArrayD<f32>,
        indices: &[usize],
        transform: &dyn Transform,
        stream: Stream,
    ) -> Result<(Predictions, Vec<Predictions>), ScanError> {
        let mut candidate = Predictions::default();
        let mut references = vec![Predictions::default(); models.references.len()];
        let chunks: Vec<&[usize]> = indices.chunks(CHUNK).collect();
        let mut ready = chunks.first().map(|chunk| self.transform_chunk(x, chunk, transform, stream));
        for k in 0..chunks.len() {
            let Some(inputs) = ready.take() else { break };
            let batch = [(self.input.to_string(), InputData::F32(inputs))];
            // The next chunk is built (in parallel, by rayon) while this one runs through the
            // models, so input generation hides behind inference.
            let (classified, next) = std::thread::scope(|scope| {
                let next = chunks
                    .get(k + 1)
                    .map(|chunk| scope.spawn(move || self.transform_chunk(x, chunk, transform, stream)));
                let classified = classify_all(models, &batch, kind);
                let next = next.map(|handle| {
                    handle.join().map_err(|_| ScanError::Incompatible("building probed inputs failed".into()))
                });
                (classified, next.transpose())
            });
            let (own, others) = classified?;
            ready = next?;
            candidate.extend(own);
            for (out, predictions) in references.iter_mut().zip(others) {
                out.extend(predictions);
            }
        }
        Ok((candidate, references))
    }

    fn transform_chunk(
        &self,
        x: &ArrayD<f32>,
        chunk: &[usize],
        transform: &dyn Transform,
        stream: Stream,
    ) -> ArrayD<f32> {
        self.probing().batch(x, chunk, transform, stream)
    }

    fn apply(&self, sample: ArrayViewMut3<'_, f32>, index: usize, transform: &dyn Transform, stream: Stream) {
        self.probing().apply(sample, index, transform, stream);
    }

    fn probing(&self) -> Probing<'_> {
        Probing { seed: self.seed, key: self.key, layout: self.layout, range: self.range }
    }

    /// Runs a search probe's search on the `part` of the data set aside for it.
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        engine: &mut Engine,
        kind: ScoreKind,
        x: &ArrayD<f32>,
        part: &[usize],
        clean: &Predictions,
        classes: usize,
        spec: &SearchSpec,
    ) -> Result<SearchOutcome, ScanError> {
        let images: Vec<Array3<f32>> = part
            .iter()
            .map(|&i| {
                let sample = x.index_axis(Axis(0), i).into_dimensionality::<ndarray::Ix3>().expect("4-D");
                match self.layout {
                    Layout::Nchw => sample.to_owned(),
                    Layout::Nhwc => sample.permuted_axes([2, 0, 1]).as_standard_layout().into_owned(),
                }
            })
            .collect();
        let clean_classes: Vec<usize> = part.iter().map(|&i| clean.class[i]).collect();
        let input = SearchInput {
            images: &images,
            clean: &clean_classes,
            classes,
            range: self.range,
            seed: self.seed,
            key: self.key,
        };
        let mut oracle = EngineOracle { engine, kind, layout: self.layout, input: self.input };
        let outcome = match spec {
            SearchSpec::Patch { sizes, stride, contents, budget } => {
                search::patch::search(&mut oracle, &input, sizes, *stride, contents, *budget)
            }
            SearchSpec::ReverseEngineer { budget, directions, sigma, learning_rate } => {
                let settings = search::reverse::Settings {
                    budget: *budget,
                    directions: *directions,
                    sigma: *sigma,
                    learning_rate: *learning_rate,
                };
                search::reverse::search(&mut oracle, &input, &settings)
            }
            SearchSpec::Vocabulary { .. } => {
                return Err(ScanError::Incompatible(format!(
                    "probe {}: a vocabulary sweep needs text inputs",
                    self.key
                )));
            }
        };
        Ok(outcome?)
    }

    /// The first few samples before and after the probe (recomputed: cheap and exact).
    fn examples(
        &self,
        x: &ArrayD<f32>,
        indices: &[usize],
        transform: &dyn Transform,
        clean: &Predictions,
        probed: &Predictions,
    ) -> Vec<Example> {
        indices
            .iter()
            .enumerate()
            .take(EXAMPLES)
            .map(|(k, &index)| {
                let original = x.index_axis(Axis(0), index).into_dimensionality::<ndarray::Ix3>().expect("4-D");
                let mut after = original.to_owned();
                self.apply(after.view_mut(), index, transform, Stream::Probe);
                let to_chw = |a: Array3<f32>| match self.layout {
                    Layout::Nchw => a,
                    Layout::Nhwc => a.permuted_axes([2, 0, 1]).as_standard_layout().into_owned(),
                };
                Example {
                    index,
                    clean: to_chw(original.to_owned()),
                    probed: to_chw(after),
                    clean_class: clean.class[index],
                    probed_class: probed.class[k],
                }
            })
            .collect()
    }
}

/// The candidate model as the search sees it: `[C, H, W]` images in, probabilities out.
struct EngineOracle<'a> {
    engine: &'a mut Engine,
    kind: ScoreKind,
    layout: Layout,
    input: &'a str,
}

impl Oracle for EngineOracle<'_> {
    fn probabilities(&mut self, images: &[Array3<f32>]) -> Result<ndarray::Array2<f32>, EngineError> {
        let Some(first) = images.first() else {
            return Ok(ndarray::Array2::zeros((0, self.engine.declared_classes().unwrap_or(0))));
        };
        let (c, h, w) = first.dim();
        let shape = match self.layout {
            Layout::Nchw => [images.len(), c, h, w],
            Layout::Nhwc => [images.len(), h, w, c],
        };
        let mut batch = ArrayD::<f32>::zeros(IxDyn(&shape));
        for (mut slot, image) in batch.axis_iter_mut(Axis(0)).zip(images) {
            let slot = slot.view_mut().into_dimensionality::<ndarray::Ix3>().expect("4-D");
            chw(slot, self.layout).assign(image);
        }
        let mut scores = self.engine.classify(&[(self.input.to_string(), InputData::F32(batch))])?;
        if self.kind == ScoreKind::Logits {
            for mut row in scores.rows_mut() {
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                row.mapv_inplace(|v| (v - max).exp());
                let total = row.sum();
                row.mapv_inplace(|v| v / total);
            }
        }
        Ok(scores)
    }
}

/// The report's view of a search: per-class statistics and the chosen trigger as images.
fn summarise_search(found: &SearchOutcome, search_samples: usize, confirmation_samples: usize) -> SearchSummary {
    let chosen = &found.candidates[found.chosen];
    let (channels, h, w) = chosen.trigger.pattern.dim();
    let unit = ValueRange { lo: vec![0.0; channels], hi: vec![1.0; channels] };
    let mask = chosen.trigger.mask.clone().into_shape_with_order((1, h, w)).expect("same size");
    let shown = Array3::from_shape_fn((channels, h, w), |(c, y, x)| {
        chosen.trigger.pattern[[c, y, x]] * chosen.trigger.mask[[y, x]]
    });
    SearchSummary {
        method: found.method.into(),
        statistic: found.statistic.into(),
        per_class: found
            .candidates
            .iter()
            .zip(&found.anomaly_index)
            .map(|(c, a)| search::SearchClassSummary {
                class: c.class,
                statistic: c.statistic,
                anomaly_index: *a,
                attack_success_rate: c.attack_success_rate,
                mask_l1: f64::from(c.trigger.mask_l1()),
                description: c.description.clone(),
            })
            .collect(),
        chosen_class: chosen.class,
        queries: found.queries,
        search_samples,
        confirmation_samples,
        mask_png: crate::report::images::png_base64(&mask, &ValueRange { lo: vec![0.0], hi: vec![1.0] }),
        pattern_png: crate::report::images::png_base64(&shown, &unit),
        mask_l1: f64::from(chosen.trigger.mask_l1()),
        mask_bounds: search::Bounds::of_mask(&chosen.trigger.mask),
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
pub fn sample_order(seed: u64, n: usize) -> Vec<usize> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_is_highest_first_with_ties_in_class_order_and_nan_last() {
        let scores = ndarray::arr2(&[[0.1f32, 0.5, 0.5, f32::NAN, 0.2], [f32::NAN, f32::NAN, 0.0, -1.0, -2.0]]);
        let p = Predictions::from_scores(&scores, ScoreKind::Logits);
        assert_eq!(p.class, vec![1, 2]);
        assert_eq!(p.top[0], vec![(1, 0.5), (2, 0.5), (4, 0.2)]);
        assert_eq!(p.top[1].iter().map(|t| t.0).collect::<Vec<_>>(), vec![2, 3, 4]);
        // Softmax of the best logit over the numbers: e^0.5 / (e^0.1 + 2e^0.5 + e^0.2).
        let expected = 0.5f32.exp() / (0.1f32.exp() + 2.0 * 0.5f32.exp() + 0.2f32.exp());
        assert!((p.confidence[0] - expected).abs() < 1e-6, "{}", p.confidence[0]);
    }

    #[test]
    fn probabilities_and_logits_are_told_apart() {
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[0.2f32, 0.8], [1.0, 0.0]])), ScoreKind::Probabilities);
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[2.0f32, -1.0]])), ScoreKind::Logits);
        assert_eq!(detect_score_kind(&ndarray::arr2(&[[0.2f32, 0.2]])), ScoreKind::Logits);
    }
}
