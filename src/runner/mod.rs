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
//!
//! Files: `kit.rs` (what a modality provides: [`ScanInputs`], [`Session`], [`Kit`]),
//! `run.rs` (the probes of each battery, queued and judged), `pipeline.rs` (the stream of
//! chunks through the models), `checks.rs` (what is refused before anything runs),
//! `budget.rs` (search query budgets), `baseline_tally.rs` (agreement with a recording).
//! Predictions themselves are [`crate::predictions`].

use std::time::Instant;

mod baseline_tally;
mod budget;
mod checks;
mod kit;
mod pipeline;
mod run;

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use crate::baseline::{RecordedBattery, RecordedProbe, Recording};
use crate::battery::spec::{Battery, Layout, Thresholds};
use crate::calibration::CalibratedThresholds;
use crate::digest::FileDigest;
use crate::engine::{Engine, EngineError, ProviderUsed};
use crate::onnxruntime::RuntimeInfo;
use crate::search::SearchSummary;
use crate::transform::{self, Stream};
use crate::verdict::{self, Correction, ProbeEvidence, ProbeJudgement};

pub use crate::predictions::{Predictions, ProbePredictions, ScoreKind};
pub(crate) use budget::with_budget;
pub use kit::{
    CleanData, EXAMPLES, Example, FeatureChange, Groups, Kit, Part, Prepared, ScanInputs, SearchContext, Session,
};

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
pub type Batch = crate::engine::NamedInputs;

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
        battery.seed(self.seed).wrapping_add(self.seed_offset)
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

/// How image inputs were interpreted for one battery (their layout and value range, given or
/// inferred); other modalities need no interpreting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageInterpretation {
    pub layout: Layout,
    pub layout_inferred: bool,
    pub value_range: Vec<(f32, f32)>,
    pub value_range_inferred: bool,
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
    /// What an attack probe's attack did.
    pub attack: Option<crate::attack::AttackSummary>,
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
    pub interpretations: Vec<Option<ImageInterpretation>>,
    pub seeds: Vec<u64>,
    pub probes: Vec<ProbeOutcome>,
    pub queries: u64,
    pub elapsed_seconds: f64,
}

/// Clean inputs of any modality, as the application holds them: [`scan`] runs the runner
/// specialised to the modality's [`ScanInputs`]. Every [`ScanInputs`] is one.
pub trait Inputs: CleanData + Sync {
    /// [`scan`] over these inputs.
    fn scan_with(
        &self,
        models: &mut Models<'_>,
        batteries: &[Battery],
        settings: &ScanSettings,
    ) -> Result<ScanOutcome, ScanError>;
}

impl<I: ScanInputs> Inputs for I {
    fn scan_with(
        &self,
        models: &mut Models<'_>,
        batteries: &[Battery],
        settings: &ScanSettings,
    ) -> Result<ScanOutcome, ScanError> {
        scan_inputs(models, self, batteries, settings).map_err(|e| self.explain(e))
    }
}

/// How each model's raw scores are read: decided once per model, on its clean pass (from
/// `--scores` when given), and kept for every probed batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ScoreKinds {
    pub candidate: ScoreKind,
    /// One per reference model, in order.
    pub references: Vec<ScoreKind>,
}

/// Runs every probe of every battery on the candidate (and references) against `inputs`.
pub fn scan(
    models: &mut Models<'_>,
    inputs: &dyn Inputs,
    batteries: &[Battery],
    settings: &ScanSettings,
) -> Result<ScanOutcome, ScanError> {
    inputs.scan_with(models, batteries, settings)
}

fn scan_inputs<I: ScanInputs>(
    models: &mut Models<'_>,
    inputs: &I,
    batteries: &[Battery],
    settings: &ScanSettings,
) -> Result<ScanOutcome, ScanError> {
    let started = Instant::now();
    for reference in models.references.iter() {
        checks::check_same_signature(models.candidate, reference)?;
    }
    let mut session = inputs.session(models.candidate, batteries)?;
    checks::check_modality(batteries, inputs.modality())?;
    checks::check_enough_inputs(batteries, inputs.len(), inputs.path())?;
    let n = inputs.len();
    let clean_started = Instant::now();
    let batch = models.candidate.batch_size;
    let clean_scores = classify_scores(models.candidate, n, &mut |chunk| session.clean_groups(chunk, true, batch))?;
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
        None => (crate::predictions::detect_score_kind(&clean_scores), true),
    };
    let clean_scores = models.candidate.read_single_column_as(scores, clean_scores);
    let classes = clean_scores.ncols();
    let clean = Predictions::from_scores(&clean_scores, scores);
    drop(clean_scores);
    let mut kinds = ScoreKinds { candidate: scores, references: Vec::new() };
    let mut reference_clean = Vec::new();
    for reference in models.references.iter_mut() {
        let batch = reference.batch_size;
        let s = classify_scores(reference, n, &mut |chunk| session.clean_groups(chunk, false, batch))?;
        let kind = settings.scores.unwrap_or_else(|| crate::predictions::detect_score_kind(&s));
        let s = reference.read_single_column_as(kind, s);
        reference_clean.push(Predictions::from_scores(&s, kind));
        kinds.references.push(kind);
    }
    let total_probes: usize = batteries.iter().map(|b| b.probes.len()).sum();
    if let Some(p) = &settings.progress {
        p.0.start(total_probes);
    }
    let search_allowance = settings.time_budget.map(|target| {
        let left = target.as_secs_f64() - started.elapsed().as_secs_f64();
        budget::search_allowance(batteries, n, models.references.len(), left, seconds_per_query)
    });
    let labels = inputs.labels();
    checks::check_labels(labels, classes, inputs.path())?;
    let clean_accuracy =
        labels.map(|y| clean.class.iter().zip(y).filter(|(p, l)| **p as i64 == **l).count() as f64 / y.len() as f64);
    // A NaN or constant model is at chance too; saying so twice adds nothing.
    if let (Some(labels), true) = (labels, health.is_empty()) {
        health.extend(verdict::adequacy::chance_problem(&clean.class, labels));
    }
    if let (Some(accuracy), Some(floor)) = (clean_accuracy, settings.min_clean_accuracy) {
        health.extend(verdict::adequacy::floor_problem(accuracy, floor));
    }
    let reference_clean_agreement = reference_clean.iter().map(|r| agreement(&clean.class, &r.class)).collect();
    let mut run = run::Run::new(settings, search_allowance, kinds, classes, clean, reference_clean, labels, n);
    let mut interpretations = Vec::new();
    let mut seeds = Vec::new();
    for (b, battery) in batteries.iter().enumerate() {
        let seed = settings.seed_for(battery);
        seeds.push(seed);
        let (kit, interpretation) = session.kit(battery, seed)?;
        run.battery(models, b, battery, seed, &kit)?;
        interpretations.push(interpretation);
    }
    if let Some(p) = &settings.progress {
        p.0.finish();
    }
    let run::Finished { clean, outcomes, baseline_agreement, queries } = run.finish(models);
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

/// Raw scores of every clean input, a chunk at a time.
fn classify_scores(
    engine: &mut Engine,
    n: usize,
    chunk_inputs: &mut dyn FnMut(&[usize]) -> Result<Groups, ScanError>,
) -> Result<ndarray::Array2<f32>, ScanError> {
    let indices: Vec<usize> = (0..n).collect();
    let mut rows: Vec<ndarray::Array2<f32>> = Vec::new();
    for chunk in indices.chunks(chunk_size(engine)) {
        rows.push(engine.classify_groups(&chunk_inputs(chunk)?)?);
    }
    let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
    ndarray::concatenate(ndarray::Axis(0), &views).map_err(|e| ScanError::Incompatible(e.to_string()))
}

/// Share of inputs on which two models predict the same class.
fn agreement(a: &[usize], b: &[usize]) -> f64 {
    if a.is_empty() { 1.0 } else { a.iter().zip(b).filter(|(x, y)| x == y).count() as f64 / a.len() as f64 }
}

/// `battery-name/probe-id`: how recordings, calibrations and every sample's randomness name a
/// probe.
pub fn probe_key(battery: &Battery, probe: &crate::battery::spec::Probe) -> String {
    format!("{}/{}", battery.name, probe.id)
}

/// A seeded permutation of `0..n`: probes with `samples: k` use its first `k` entries.
pub fn sample_order(seed: u64, n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = transform::sample_rng(seed, "sample-order", 0, Stream::Placement);
    order.shuffle(&mut rng);
    order
}

impl ScanOutcome {
    /// The recording of this scan, for `probity baseline record`: what a later scan replays.
    pub fn recording(
        &self,
        model: FileDigest,
        data: FileDigest,
        tokenizer: Option<FileDigest>,
        batteries: &[Battery],
        onnxruntime: RuntimeInfo,
        execution_provider: ProviderUsed,
    ) -> Recording {
        Recording {
            schema: crate::baseline::SCHEMA.into(),
            probity_version: env!("CARGO_PKG_VERSION").into(),
            model,
            data,
            tokenizer,
            batteries: batteries
                .iter()
                .zip(&self.seeds)
                .map(|(b, seed)| RecordedBattery {
                    name: b.name.clone(),
                    version: b.version.clone(),
                    path: b.path.clone(),
                    sha256: b.sha256.clone(),
                    seed: *seed,
                })
                .collect(),
            sample_rng: transform::SAMPLE_RNG_VERSION.into(),
            onnxruntime,
            execution_provider,
            scores: self.scores,
            clean: self.clean.clone(),
            probes: self
                .probes
                .iter()
                .map(|p| RecordedProbe {
                    key: p.key.clone(),
                    indices: p.indices.clone(),
                    probed: p.candidate.probed.clone(),
                    control: p.candidate.control.clone(),
                })
                .collect(),
        }
    }
}
