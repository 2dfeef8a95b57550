//! `probity baseline record`: run the batteries on an accepted model and store what it did,
//! for later scans with a baseline.

use std::path::PathBuf;

use anyhow::Context;

use super::setup::{
    Prepared, Setup, engine_options, floor_needs_labels, load_engine, model_inputs, prepare, scan_failure,
};
use crate::digest::FileDigest;
use crate::error::Failure;
use crate::output::OutputDir;
use crate::runner::{self, Models, ProgressHandle, ScanSettings};

/// A recording, as the library takes it.
#[derive(Debug, Clone, Default)]
pub struct RecordOptions {
    /// The accepted model.
    pub model: PathBuf,
    pub setup: Setup,
    /// Folder to write `baseline.json` into (must not exist yet or be empty, unless `force`).
    pub out: PathBuf,
    pub force: bool,
    /// Labelled data: refuse to record when clean accuracy is below this.
    pub min_clean_accuracy: Option<f64>,
    pub progress: Option<ProgressHandle>,
}

/// A finished recording.
#[derive(Debug)]
pub struct Recorded {
    /// Probes recorded.
    pub probes: usize,
    /// Clean inputs.
    pub inputs: usize,
    /// Model queries spent.
    pub queries: u64,
    /// The baseline file, where it is now.
    pub path: PathBuf,
}

/// Records a model's behaviour on the batteries.
pub fn record(options: &RecordOptions) -> Result<Recorded, Failure> {
    let out = OutputDir::create(&options.out, options.force).map_err(Failure::invalid)?;
    let Prepared { batteries, data: dataset, runtime } = prepare(&options.setup)?;
    floor_needs_labels(options.min_clean_accuracy, &dataset)?;
    let engine_options = engine_options(&options.setup.engine, &batteries);
    let mut engine = load_engine(runtime, &options.model, &engine_options)?;
    let ready = model_inputs(&dataset, &options.setup.data, &mut engine)?;
    let settings = ScanSettings {
        progress: options.progress.clone(),
        min_clean_accuracy: options.min_clean_accuracy,
        ..options.setup.probes.settings()
    };
    let mut models = Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
    let outcome = runner::scan(&mut models, &*ready.inputs, &batteries, &settings).map_err(scan_failure)?;
    // Issue 14: later scans replay this recording as the known-good behaviour; a model with
    // NaN or constant outputs, or at chance on this data (a wrong tokenizer), is no such thing.
    if !outcome.health.is_empty() {
        let reasons: Vec<String> = outcome.health.iter().map(|h| format!("{}: {}", h.code.name(), h.message)).collect();
        return Err(Failure::invalid(anyhow::anyhow!(
            "not recording a baseline of {} on {}: {}",
            engine.model_path.display(),
            dataset.path().display(),
            reasons.join("; ")
        )));
    }
    let model = FileDigest { path: engine.model_path.clone(), sha256: engine.model_sha256.clone() };
    let tokenizer = ready.tokenizer_digest();
    let recording = outcome.recording(
        model,
        dataset.digest(),
        tokenizer,
        &batteries,
        runtime.info.clone(),
        engine.provider.clone(),
    );
    let staged = recording
        .write(out.path())
        .with_context(|| format!("writing the baseline into a temporary folder beside {}", options.out.display()))
        .map_err(Failure::runtime)?;
    let path = out.final_path(&staged);
    out.commit()
        .with_context(|| format!("moving the baseline into {}", options.out.display()))
        .map_err(Failure::runtime)?;
    Ok(Recorded { probes: outcome.probes.len(), inputs: dataset.len(), queries: outcome.queries, path })
}
