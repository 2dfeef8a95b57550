//! What runs when: clean baselines once, then every probe of every battery, on the candidate
//! model and on every reference model, with the evidence handed to [`crate::verdict`].
//!
//! For each probe the runner draws the probe's samples (a seeded permutation of the clean
//! inputs, so a probe with `samples: k` sees the first `k` of the same order) and queues the
//! probe's run and, for a trigger probe, its matched control's. `pipeline.rs` streams the queued
//! runs through the models: the next chunk of transformed inputs is built while the candidate
//! and every reference classify the current one, so they all see exactly the same inputs.
//! Memory is bounded by a few chunks, not the data; only predictions are kept. Each
//! sample's randomness is derived from (seed, battery, probe id, data index), so results do not
//! depend on thread count or chunking. A recorded baseline replays in place of a live model.

use std::time::Instant;

mod image;
mod pipeline;
mod text;

use ndarray::Array3;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::baseline::Recording;
use crate::battery::spec::{Battery, Category, Layout, Probe, SearchSpec, Thresholds, TransformSpec};
use crate::calibration::CalibratedThresholds;
use crate::data::{Dataset, TextDataset};
use crate::engine::{Engine, EngineError, InputData};
use crate::search::SearchSummary;
use crate::text::TextEncoder;
use crate::transform::{self, Stream, ValueRange};
use crate::verdict::{self, Comparison, Correction, Direction, Observation, ProbeEvidence, ProbeJudgement};

pub use image::Probing;

/// Samples transformed and classified per chunk: bounds memory whatever the data size, and
/// small enough that building the next chunk overlaps inference of this one.
pub const CHUNK: usize = 256;

/// Input bytes a chunk may hold: up to three chunks exist at once, so large inputs (a 3x224x224
/// sample is 588 KiB) get fewer samples per chunk, never less than one batch.
const CHUNK_BYTES: usize = 32 * 1024 * 1024;

/// Samples per chunk for a model: [`CHUNK`], or fewer when they would exceed [`CHUNK_BYTES`],
/// rounded up to whole batches so that every call but a stream's last is a full batch.
pub fn chunk_size(engine: &Engine) -> usize {
    let batch = engine.batch_size.max(1);
    let fits = CHUNK_BYTES / crate::engine::sample_bytes(&engine.signature).max(1);
    CHUNK.min(fits).max(1).div_ceil(batch) * batch
}
/// Named model inputs for one batch.
pub type Batch = Vec<(String, InputData)>;

/// Scores kept per input in predictions (and in recorded baselines).
pub const TOP_K: usize = 3;
/// One input's `TOP_K` highest (class, raw score) pairs, best first, held inline: a scan makes
/// one per model query, and a heap allocation for each showed in the tiny MLP's profile.
/// Serialised as a plain list, like the `Vec` it replaced, so recorded baselines still read.
pub type TopScores = smallvec::SmallVec<[(usize, f32); TOP_K]>;
/// Example inputs kept per probe for reports.
const EXAMPLES: usize = 3;

pub use crate::engine::ScoreKind;

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
    fn from_scores(scores: &ndarray::Array2<f32>, kind: ScoreKind) -> Self {
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

    fn extend(&mut self, other: Predictions) {
        self.class.extend(other.class);
        self.confidence.extend(other.confidence);
        self.top.extend(other.top);
    }

    /// The entries in `rows`.
    fn rows(&self, rows: std::ops::Range<usize>) -> Predictions {
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
    /// Added to each battery's seed (or to `seed`): `calibrate` runs seed, seed+1, ...
    pub seed_offset: u64,
    /// Overrides the detected score kind.
    pub scores: Option<ScoreKind>,
    pub correction: Correction,
    /// Per-probe thresholds from `probity calibrate`.
    pub thresholds: Option<CalibratedThresholds>,
    /// Replaces every search probe's query budget.
    pub search_budget: Option<u64>,
    /// Wall-clock target for the scan: search budgets shrink to what fits at the model's
    /// measured speed.
    pub time_budget: Option<std::time::Duration>,
    pub progress: Option<ProgressHandle>,
    /// `--min-clean-accuracy`: with labels, a clean accuracy below this stops a pass.
    pub min_clean_accuracy: Option<f64>,
}

impl ScanSettings {
    /// The seed a battery runs with: `seed`, or the battery's own, plus `seed_offset`.
    pub fn seed_for(&self, battery: &Battery) -> u64 {
        self.seed.unwrap_or(battery.defaults.seed).wrapping_add(self.seed_offset)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Incompatible(String),
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
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
    pub input: ExampleInput,
    pub clean_class: usize,
    pub probed_class: usize,
}

/// An example input before and after a probe.
#[derive(Debug, Clone, PartialEq)]
pub enum ExampleInput {
    Image {
        /// `[C, H, W]`.
        clean: Array3<f32>,
        probed: Array3<f32>,
        /// The battery's valid range, for rendering.
        range: ValueRange,
    },
    Text {
        clean: String,
        /// The text after the probe's text edits.
        probed: String,
        /// The tokens the model received (after token edits and truncation; no padding).
        tokens: Vec<String>,
    },
}

/// The clean inputs a scan probes, with what turns them into model inputs.
#[derive(Debug, Clone, Copy)]
pub enum Inputs<'a> {
    Images(&'a Dataset),
    Text { data: &'a TextDataset, encoder: &'a TextEncoder },
}

impl Inputs<'_> {
    pub fn len(&self) -> usize {
        match self {
            Self::Images(d) => d.len(),
            Self::Text { data, .. } => data.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn labels(&self) -> Option<&[i64]> {
        match self {
            Self::Images(d) => d.y.as_deref(),
            Self::Text { data, .. } => data.y.as_deref(),
        }
    }

    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Images(d) => &d.path,
            Self::Text { data, .. } => &data.path,
        }
    }

    pub fn sha256(&self) -> &str {
        match self {
            Self::Images(d) => &d.sha256,
            Self::Text { data, .. } => &data.sha256,
        }
    }
}

/// What a probe may need from the scan while it is prepared: searches query the candidate.
pub(crate) struct SearchContext<'a> {
    pub engine: &'a mut Engine,
    pub kind: ScoreKind,
    pub clean: &'a Predictions,
    pub classes: usize,
    /// `--search-budget`, replacing the probe's own.
    pub budget: Option<u64>,
}

/// A probe ready to run: its transform (recovered by a search, for search probes) and the data
/// indices it runs on.
pub(crate) struct Prepared<T: ?Sized> {
    pub transform: Box<T>,
    pub indices: Vec<usize>,
    pub search: Option<SearchSummary>,
    /// Model queries the search spent.
    pub queries: u64,
}

impl<T: ?Sized> Prepared<T> {
    /// A declared transform, run on all of the probe's samples.
    pub fn fixed(transform: Box<T>, indices: &[usize]) -> Self {
        Self { transform, indices: indices.to_vec(), search: None, queries: 0 }
    }

    /// A trigger a search recovered, confirmed on the samples the search never saw.
    pub fn found(transform: Box<T>, confirm: &[usize], search: SearchSummary, queries: u64) -> Self {
        Self { transform, indices: confirm.to_vec(), search: Some(search), queries }
    }
}

/// One battery's probes over one modality's inputs: everything about a probe that depends on
/// what the inputs are. The rest (batches through the models, evidence, verdicts, baselines)
/// is shared by [`scan`].
pub(crate) trait Kit: Sync {
    type Transform: ?Sized + Sync;

    /// Builds the probe's transform, running its search first for a search probe.
    fn prepare(
        &self,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        ctx: SearchContext<'_>,
    ) -> Result<Prepared<Self::Transform>, ScanError>;

    /// The matched control of a trigger transform (`None` for robustness perturbations).
    fn control(&self, transform: &Self::Transform) -> Option<Box<Self::Transform>>;

    /// The model inputs for one chunk: each part's samples with its transform applied, the
    /// parts' rows one after another.
    fn build(&self, parts: &[pipeline::Part<'_, Self::Transform>]) -> Result<Batch, ScanError>;

    /// The first few samples before and after the probe.
    fn examples(
        &self,
        key: &str,
        indices: &[usize],
        transform: &Self::Transform,
        clean: &Predictions,
        probed: &Predictions,
    ) -> Vec<Example>;
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
    /// What is wrong with the clean pass (non-finite or constant outputs, accuracy at chance or
    /// below the floor): reasons the scan cannot pass, see [`verdict::adequacy`].
    pub health: Vec<verdict::adequacy::Inconclusive>,
    /// Per reference: agreement with the candidate on the clean inputs.
    pub reference_clean_agreement: Vec<f64>,
    pub baseline_agreement: Option<BaselineAgreement>,
    /// Per battery, how image inputs were interpreted (`None` for text).
    pub interpretations: Vec<Option<InputInterpretation>>,
    pub seeds: Vec<u64>,
    pub probes: Vec<ProbeOutcome>,
    pub queries: u64,
    pub elapsed_seconds: f64,
}

/// Runs every probe of every battery on the candidate (and references) against `inputs`.
pub fn scan(
    models: &mut Models<'_>,
    inputs: Inputs<'_>,
    batteries: &[Battery],
    settings: &ScanSettings,
) -> Result<ScanOutcome, ScanError> {
    let result = scan_inputs(models, inputs, batteries, settings);
    match inputs {
        Inputs::Text { encoder, .. } => result.map_err(|e| text::explain(e, encoder)),
        Inputs::Images(_) => result,
    }
}

fn scan_inputs(
    models: &mut Models<'_>,
    inputs: Inputs<'_>,
    batteries: &[Battery],
    settings: &ScanSettings,
) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    for reference in models.references.iter() {
        check_same_signature(models.candidate, reference)?;
    }
    let image_input = match inputs {
        Inputs::Images(dataset) => Some(image::check(models.candidate, dataset)?),
        Inputs::Text { .. } => None,
    };
    for battery in batteries {
        let wanted = match inputs {
            Inputs::Images(_) => crate::battery::spec::Modality::Image,
            Inputs::Text { .. } => crate::battery::spec::Modality::Text,
        };
        if battery.modality != wanted {
            return Err(ScanError::Incompatible(format!(
                "battery {} is for {} models, but the data and model are {}; pick a battery with `modality: {}`",
                battery.path.display(),
                battery.modality.name(),
                wanted.name(),
                wanted.name()
            )));
        }
    }
    check_enough_inputs(batteries, inputs.len(), inputs.path())?;
    let clean_chunk = |chunk: &[usize], extremes: Option<&mut image::Extremes>| -> Result<Batch, ScanError> {
        match inputs {
            Inputs::Images(dataset) => {
                image::clean_chunk(image_input.as_deref().unwrap_or_default(), dataset, chunk, extremes)
            }
            Inputs::Text { data, encoder } => text::clean_chunk(data, encoder, chunk),
        }
    };
    let n = inputs.len();
    // The candidate's clean pass also finds the data's value range, for batteries that do not
    // declare one.
    let mut extremes = match inputs {
        Inputs::Images(dataset) => image::Extremes::for_batteries(batteries, dataset.shape()),
        Inputs::Text { .. } => image::Extremes::default(),
    };
    let clean_started = Instant::now();
    let clean_scores = classify_scores(models.candidate, n, &mut |chunk| clean_chunk(chunk, Some(&mut extremes)))?;
    let seconds_per_query = clean_started.elapsed().as_secs_f64() / n.max(1) as f64;
    // Checked on the raw scores (a single-column output before it is read as two classes),
    // before softmax can hide a NaN or squash a constant.
    let raw_columns = clean_scores.ncols();
    let mut health: Vec<verdict::adequacy::Inconclusive> = match clean_scores.as_slice() {
        Some(raw) => verdict::adequacy::output_problem(raw, raw_columns),
        None => verdict::adequacy::output_problem(&clean_scores.iter().copied().collect::<Vec<f32>>(), raw_columns),
    }
    .into_iter()
    .collect();
    let (scores, scores_detected) = match settings.scores {
        Some(kind) => (kind, false),
        None => (detect_score_kind(&clean_scores), true),
    };
    let clean_scores = models.candidate.read_single_column_as(scores, clean_scores);
    let classes = clean_scores.ncols();
    let clean = Predictions::from_scores(&clean_scores, scores);
    drop(clean_scores);
    let mut reference_clean = Vec::new();
    for reference in models.references.iter_mut() {
        let s = classify_scores(reference, n, &mut |chunk| clean_chunk(chunk, None))?;
        let kind = settings.scores.unwrap_or_else(|| detect_score_kind(&s));
        let s = reference.read_single_column_as(kind, s);
        reference_clean.push(Predictions::from_scores(&s, kind));
    }
    let total_probes: usize = batteries.iter().map(|b| b.probes.len()).sum();
    if let Some(p) = &settings.progress {
        p.0.start(total_probes);
    }
    let search_allowance = settings.time_budget.map(|target| {
        let left = target.as_secs_f64() - started.elapsed().as_secs_f64();
        search_allowance(batteries, n, models.references.len(), left, seconds_per_query)
    });
    let mut run = Run {
        settings,
        search_allowance,
        scores,
        classes,
        clean,
        reference_clean,
        labels: inputs.labels(),
        tally: BaselineTally::default(),
        outcomes: Vec::new(),
        queries: (n * (1 + models.references.len())) as u64,
    };
    if let Some(bad) = run.labels.and_then(|y| y.iter().find(|&&label| label < 0 || label as usize >= classes)) {
        return Err(ScanError::Incompatible(format!(
            "data {}: label {bad} is outside the model's {classes} classes",
            inputs.path().display()
        )));
    }
    let clean_accuracy = run
        .labels
        .map(|y| run.clean.class.iter().zip(y).filter(|(p, l)| **p as i64 == **l).count() as f64 / y.len() as f64);
    // A NaN or constant model is at chance too; saying so twice adds nothing.
    if let (Some(labels), true) = (run.labels, health.is_empty()) {
        health.extend(verdict::adequacy::chance_problem(&run.clean.class, labels));
    }
    if let (Some(accuracy), Some(floor)) = (clean_accuracy, settings.min_clean_accuracy) {
        health.extend(verdict::adequacy::floor_problem(accuracy, floor));
    }
    let reference_clean_agreement = run.reference_clean.iter().map(|r| agreement(&run.clean.class, &r.class)).collect();

    let mut interpretations = Vec::new();
    let mut seeds = Vec::new();
    for (b, battery) in batteries.iter().enumerate() {
        let seed = settings.seed_for(battery);
        seeds.push(seed);
        match inputs {
            Inputs::Images(dataset) => {
                let input = image_input.as_deref().unwrap_or_default();
                let (kit, interpretation) = image::ImageKit::new(battery, seed, input, dataset, &mut extremes)?;
                run.battery(models, b, battery, seed, &kit)?;
                interpretations.push(Some(interpretation));
            }
            Inputs::Text { data, encoder } => {
                let kit = text::TextKit { seed, data, encoder };
                run.battery(models, b, battery, seed, &kit)?;
                interpretations.push(None);
            }
        }
    }
    if let Some(p) = &settings.progress {
        p.0.finish();
    }
    let Run { clean, mut outcomes, tally, queries, .. } = run;
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
        health,
        reference_clean_agreement,
        baseline_agreement,
        interpretations,
        seeds,
        probes: outcomes,
        queries,
        elapsed_seconds: started.elapsed().as_secs_f64(),
    })
}

/// A prepared probe waiting in the queue for [`Run::run_queue`].
struct Ready<'b, T: ?Sized> {
    index: usize,
    probe: &'b Probe,
    key: String,
    prepared: Prepared<T>,
    control: Option<Box<T>>,
}

/// What a scan has measured so far, shared by every battery.
struct Run<'s> {
    settings: &'s ScanSettings,
    /// Queries each search probe may spend under the time budget.
    search_allowance: Option<u64>,
    scores: ScoreKind,
    classes: usize,
    clean: Predictions,
    reference_clean: Vec<Predictions>,
    labels: Option<&'s [i64]>,
    tally: BaselineTally,
    outcomes: Vec<ProbeOutcome>,
    queries: u64,
}

impl Run<'_> {
    /// Runs every probe of one battery through `kit`. Fixed probes queue up and stream through
    /// the models together ([`pipeline`]); a search needs the candidate to itself, so the queue
    /// is run before each search probe. Outcomes keep the battery's probe order.
    fn battery<'b, K: Kit>(
        &mut self,
        models: &mut Models<'_>,
        b: usize,
        battery: &'b Battery,
        seed: u64,
        kit: &K,
    ) -> Result<(), ScanError> {
        let order = sample_order(seed, self.clean.len());
        let mut queue: Vec<Ready<'b, K::Transform>> = Vec::new();
        for (p, probe) in battery.probes.iter().enumerate() {
            if matches!(probe.transform, TransformSpec::Search(_)) {
                self.run_queue(models, b, kit, &mut queue)?;
            }
            let key = format!("{}/{}", battery.name, probe.id);
            let in_probe = |e: ScanError| match e {
                ScanError::Transform { detail, .. } => ScanError::Transform {
                    battery: battery.path.display().to_string(),
                    probe: probe.id.clone(),
                    detail,
                },
                other => other,
            };
            let all_indices = &order[..probe.samples.min(order.len())];
            let budget = match &probe.transform {
                TransformSpec::Search(spec) => Some(self.search_budget(spec)),
                _ => None,
            };
            let ctx = SearchContext {
                engine: &mut *models.candidate,
                kind: self.scores,
                clean: &self.clean,
                classes: self.classes,
                budget: budget.as_ref().map(|b| b.granted),
            };
            let mut prepared = kit.prepare(probe, &key, all_indices, ctx).map_err(in_probe)?;
            if let Some(summary) = prepared.search.as_mut() {
                summary.budget = budget;
            }
            self.queries += prepared.queries;
            let control = match probe.category {
                Category::Trigger => Some(kit.control(prepared.transform.as_ref()).ok_or_else(|| {
                    in_probe(ScanError::Transform {
                        battery: String::new(),
                        probe: probe.id.clone(),
                        detail: format!("transform '{}' has no matched control", probe.transform.kind()),
                    })
                })?),
                Category::Robustness => None,
            };
            queue.push(Ready { index: p, probe, key, prepared, control });
        }
        self.run_queue(models, b, kit, &mut queue)
    }

    /// The budget a search probe runs with: its own (or `--search-budget`), cut to the time
    /// budget's allowance.
    fn search_budget(&self, spec: &SearchSpec) -> crate::search::BudgetReport {
        let requested = self.settings.search_budget.unwrap_or_else(|| budget_of(spec));
        match self.search_allowance {
            Some(allowed) if allowed < requested => crate::search::BudgetReport {
                requested,
                granted: allowed,
                limited_by: Some("time budget (--time-budget)".into()),
            },
            _ => crate::search::BudgetReport { requested, granted: requested, limited_by: None },
        }
    }

    /// Streams the queued probes (and their controls) through the models and records their
    /// outcomes, in queue order.
    fn run_queue<K: Kit>(
        &mut self,
        models: &mut Models<'_>,
        b: usize,
        kit: &K,
        queue: &mut Vec<Ready<'_, K::Transform>>,
    ) -> Result<(), ScanError> {
        let mut jobs = Vec::new();
        // Per job, the probe whose last job it is (its control's, if it has one).
        let mut finishes = Vec::new();
        for ready in queue.iter() {
            let (key, indices) = (ready.key.as_str(), ready.prepared.indices.as_slice());
            let transform = ready.prepared.transform.as_ref();
            jobs.push(pipeline::Job { key, indices, transform, stream: Stream::Probe, references: true });
            finishes.push(None);
            if let Some(control) = &ready.control {
                let transform = control.as_ref();
                jobs.push(pipeline::Job { key, indices, transform, stream: Stream::Control, references: false });
                finishes.push(None);
            }
            *finishes.last_mut().expect("pushed just above") = Some(ready.probe.id.as_str());
        }
        let mut outputs = Vec::with_capacity(jobs.len());
        let references = models.references.len();
        pipeline::run(models, self.scores, kit, &jobs, |j, output| {
            let per_input = if jobs[j].references { 1 + references } else { 1 };
            self.queries += (jobs[j].indices.len() * per_input) as u64;
            outputs.push(output);
            if let (Some(id), Some(progress)) = (finishes[j], &self.settings.progress) {
                progress.0.probe_done(id, self.queries);
            }
        })?;
        drop(jobs);
        let mut outputs = outputs.into_iter();
        for ready in queue.drain(..) {
            let Ready { index, probe, key, prepared, control } = ready;
            let own = outputs.next().expect("one output per job");
            let control_predictions = control.map(|_| outputs.next().expect("one output per job").candidate);
            let indices = prepared.indices;
            let probed = own.candidate;
            let examples = kit.examples(&key, &indices, prepared.transform.as_ref(), &self.clean, &probed);
            let evidence =
                self.evidence(models, probe, &key, &indices, &probed, control_predictions.as_ref(), &own.references);
            self.outcomes.push(ProbeOutcome {
                battery_index: b,
                probe_index: index,
                thresholds: evidence.thresholds,
                key,
                indices,
                candidate: ProbePredictions { probed, control: control_predictions },
                evidence,
                judgement: placeholder_judgement(),
                examples,
                search: prepared.search,
            });
        }
        Ok(())
    }

    /// A probe's evidence: against its control, the references and a recorded baseline.
    #[allow(clippy::too_many_arguments)]
    fn evidence(
        &mut self,
        models: &Models<'_>,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        probed: &Predictions,
        control: Option<&Predictions>,
        reference_probed: &[Predictions],
    ) -> ProbeEvidence {
        let classes = self.classes;
        let clean_here = self.clean.select(indices);
        let labels: Option<Vec<i64>> = self.labels.map(|y| indices.iter().map(|&i| y[i]).collect());
        let own = verdict::observe(&Observation {
            classes,
            clean: &clean_here.class,
            probed: &probed.class,
            control: control.map(|c| c.class.as_slice()),
            labels: labels.as_deref(),
            clean_confidence: &clean_here.confidence,
            probed_confidence: &probed.confidence,
        });
        let references = self
            .reference_clean
            .iter()
            .zip(reference_probed)
            .map(|(ref_clean, ref_probed)| {
                let ref_clean_here = ref_clean.select(indices);
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
        let tally = &mut self.tally;
        let baseline = models.baseline.and_then(|recording| {
            let recorded = recording.probe(key).filter(|r| r.indices == indices)?;
            let recorded_clean = recording.clean.select(indices);
            let tolerance = models.baseline_tolerance;
            let cand_clean = tally.snap(&clean_here, &recorded_clean, tolerance);
            let cand_probed = tally.snap(probed, &recorded.probed, tolerance);
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
            self.tally.unmatched += 1;
        }
        let thresholds = calibrated(probe.thresholds, self.settings.thresholds.as_ref(), key);
        ProbeEvidence { category: probe.category, thresholds, own, references, baseline }
    }
}

/// Raw scores of every clean input, a chunk at a time.
fn classify_scores(
    engine: &mut Engine,
    n: usize,
    chunk_inputs: &mut dyn FnMut(&[usize]) -> Result<Batch, ScanError>,
) -> Result<ndarray::Array2<f32>, ScanError> {
    let indices: Vec<usize> = (0..n).collect();
    let mut rows: Vec<ndarray::Array2<f32>> = Vec::new();
    for chunk in indices.chunks(chunk_size(engine)) {
        rows.push(engine.classify(&chunk_inputs(chunk)?)?);
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views).map_err(|e| ScanError::Incompatible(e.to_string()))
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

/// One batch through the candidate and, when `references`, every reference.
fn classify_all(
    models: &mut Models<'_>,
    batch: &[(String, InputData)],
    kind: ScoreKind,
    references: bool,
) -> Result<(Predictions, Vec<Predictions>), ScanError> {
    let own = Predictions::from_scores(&models.candidate.classify(batch)?, kind);
    let mut others = Vec::new();
    for reference in models.references.iter_mut().filter(|_| references) {
        let scores = reference.classify(batch)?;
        let kind = detect_score_kind(&scores);
        others.push(Predictions::from_scores(&scores, kind));
    }
    Ok((own, others))
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
        power: None,
    }
}

/// A search's own query budget.
fn budget_of(spec: &SearchSpec) -> u64 {
    match spec {
        SearchSpec::Patch { budget, .. }
        | SearchSpec::ReverseEngineer { budget, .. }
        | SearchSpec::Vocabulary { budget, .. } => *budget,
    }
}

/// Fewest queries a search probe is granted however tight the time budget: below this a
/// search cannot rank even a few hundred candidates.
const MIN_SEARCH_QUERIES: u64 = 2_000;

/// Queries each search probe may spend so that the scan fits in `seconds_left`, at
/// `seconds_per_query` (measured on the clean pass): the fixed probes' queries come first,
/// the searches share the rest equally. Rounded down to 1, 2 or 5 × 10^k so that small
/// differences in measured speed give the same budget (and the same results).
fn search_allowance(
    batteries: &[Battery],
    n: usize,
    references: usize,
    seconds_left: f64,
    seconds_per_query: f64,
) -> u64 {
    let mut fixed = 0u64;
    let mut searches = 0u64;
    for probe in batteries.iter().flat_map(|b| &b.probes) {
        match (&probe.transform, probe.category) {
            (TransformSpec::Search(_), _) => searches += 1,
            (_, Category::Trigger) => fixed += (probe.samples.min(n) * (2 + references)) as u64,
            (_, Category::Robustness) => fixed += (probe.samples.min(n) * (1 + references)) as u64,
        }
    }
    let left = (seconds_left - fixed as f64 * seconds_per_query).max(0.0);
    let each = left / searches.max(1) as f64 / seconds_per_query.max(1e-9);
    round_down_125(each.min(u64::MAX as f64 / 2.0) as u64).max(MIN_SEARCH_QUERIES)
}

/// The largest 1, 2 or 5 × 10^k not above `n` (0 for 0).
fn round_down_125(n: u64) -> u64 {
    if n == 0 {
        return 0;
    }
    let decade = 10u64.pow(n.ilog10());
    [5, 2, 1].into_iter().map(|m| m * decade).find(|&v| v <= n).unwrap_or(decade)
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

/// The fewest inputs with which a trigger probe at `alpha` can show a significant effect, if
/// any number can: its evidence is an exact one-sided McNemar test over (probed, control)
/// pairs, one per input, and the strongest evidence `n` pairs can give (every input flips into
/// the target class, no control does) has p = 0.5^n.
fn fewest_inputs(alpha: f64) -> Option<usize> {
    // 0.5^1075 underflows to 0 in f64: no alpha a battery can state needs more.
    (1..=1075).find(|&n| crate::stats::mcnemar_exact_greater(n, 0) < alpha).map(|n| n as usize)
}

/// Refuses data too small for any trigger probe of `batteries` to ever fail: a scan of it
/// could only pass, which would say nothing about the model (issue #14: one to six inputs
/// passed the bundled BadNets model at the default alpha of 0.01, which needs seven).
fn check_enough_inputs(batteries: &[Battery], n: usize, path: &std::path::Path) -> Result<(), ScanError> {
    let needed = batteries
        .iter()
        .flat_map(|b| &b.probes)
        .filter_map(|p| match p.thresholds {
            Thresholds::Trigger { alpha, .. } => fewest_inputs(alpha).map(|needed| (needed, alpha)),
            Thresholds::Robustness { .. } => None,
        })
        .min_by_key(|(needed, _)| *needed);
    match needed {
        Some((needed, alpha)) if n < needed => Err(ScanError::Incompatible(format!(
            "data {} holds {n} input{}, too few for any trigger probe to show a backdoor: even if every input \
             flipped into one class and no control did, p = 0.5^{n} = {:.3} is not below alpha = {alpha}; \
             give at least {needed} inputs (a few hundred for useful power)",
            path.display(),
            if n == 1 { "" } else { "s" },
            0.5f64.powi(n as i32)
        ))),
        _ => Ok(()),
    }
}

/// A seeded permutation of `0..n`: probes with `samples: k` use its first `k` entries.
pub fn sample_order(seed: u64, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = transform::sample_rng(seed, "sample-order", 0, Stream::Placement);
    order.shuffle(&mut rng);
    order
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
    fn the_time_budget_pays_for_the_fixed_probes_first_and_splits_the_rest_among_searches() {
        let battery = crate::battery::parse(
            std::path::Path::new("t.yaml"),
            "schema: probity/battery/v1\nname: b\nversion: \"1\"\nmodality: image\ndefaults: {samples: 100}\nprobes:\n\
             - {id: t, category: trigger, transform: {kind: patch, size: 2, position: top-left, content: {solid: 1.0}}}\n\
             - {id: r, category: robustness, transform: {kind: gaussian-noise, std: 0.1}}\n\
             - {id: s1, category: trigger, search: {method: patch, sizes: [1], stride: 1, contents: [extremes], budget: 1000000}}\n\
             - {id: s2, category: trigger, search: {method: patch, sizes: [1], stride: 1, contents: [extremes], budget: 1000000}}\n",
        )
        .expect("a valid battery");
        // Fixed probes: trigger 50 x 2 (probe and control) + robustness 50 = 150 queries of the
        // 50 inputs; at 1 ms a query, 10 s leaves 9.85 s, 4,925 queries per search -> 2,000.
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 0, 10.0, 1e-3), 2_000);
        // 100 s: 49,925 each -> 20,000; one reference makes every fixed query cost more.
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 0, 100.0, 1e-3), 20_000);
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 1, 100.0, 1e-3), 20_000);
        // No time left: the floor.
        assert_eq!(search_allowance(std::slice::from_ref(&battery), 50, 0, 0.0, 1e-3), MIN_SEARCH_QUERIES);
    }

    #[test]
    fn the_fewest_inputs_are_those_whose_best_mcnemar_p_is_below_alpha() {
        // 0.5^6 = 0.0156 >= 0.01 > 0.5^7 = 0.0078.
        assert_eq!(fewest_inputs(0.01), Some(7));
        // 0.5^4 = 0.0625 >= 0.05 > 0.5^5 = 0.03125.
        assert_eq!(fewest_inputs(0.05), Some(5));
        assert_eq!(fewest_inputs(0.0), None);
    }

    #[test]
    fn budgets_round_down_to_one_two_five() {
        let rounded: Vec<u64> = [0, 1, 7, 19, 20, 49, 50, 99, 123_456, 999_999].map(round_down_125).to_vec();
        assert_eq!(rounded, vec![0, 1, 5, 10, 20, 20, 50, 50, 100_000, 500_000]);
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
