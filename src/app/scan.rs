//! `probity scan`: run the batteries against a model (and references, or a recorded baseline)
//! and write the report set.

use std::path::{Path, PathBuf};

use anyhow::Context;

use super::setup::{
    Prepared, Setup, engine_options, floor_needs_labels, load_engine, model_inputs, prepare, scan_failure,
};
use crate::baseline::Recording;
use crate::calibration::CalibratedThresholds;
use crate::error::{Failure, InconclusiveAs};
use crate::output::OutputDir;
use crate::report::{self, Format, Report, build::ReportContext};
use crate::runner::{self, Models, ProgressHandle, ScanSettings};
use crate::verdict::Correction;

/// A scan, as the library takes it.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// The model under test.
    pub model: PathBuf,
    pub setup: Setup,
    /// Known-good models compared on the same inputs.
    pub references: Vec<PathBuf>,
    /// A recorded baseline folder to compare with.
    pub baseline: Option<PathBuf>,
    /// Compare with a baseline recorded with other batteries, data or seeds (matching probes only).
    pub allow_baseline_mismatch: bool,
    /// Baseline disagreements with recorded top-2 scores closer than this are excused.
    pub baseline_tolerance: f32,
    /// Calibrated per-probe thresholds file.
    pub thresholds: Option<PathBuf>,
    pub correction: Correction,
    /// Labelled data: a clean accuracy below this makes the scan inconclusive.
    pub min_clean_accuracy: Option<f64>,
    /// Exit code of an inconclusive scan (recorded in the report).
    pub inconclusive: InconclusiveAs,
    /// Output folder (default: `reports/<model>-<UTC time>-<random>`).
    pub out: Option<PathBuf>,
    /// Replace `out` if it already holds files.
    pub force: bool,
    pub formats: Vec<Format>,
    pub progress: Option<ProgressHandle>,
}

/// A finished scan: its report and the files written, where they are now.
#[derive(Debug)]
pub struct Scanned {
    pub report: Report,
    pub written: Vec<PathBuf>,
}

/// Runs a scan and writes its reports.
pub fn scan(options: &ScanOptions) -> Result<Scanned, Failure> {
    // Checked (and its temporary sibling created) before anything slow runs.
    let out = options.out.clone().unwrap_or_else(|| default_out(&options.model));
    let out = OutputDir::create(&out, options.force).map_err(Failure::invalid)?;
    let Prepared { batteries, data: dataset, runtime } = prepare(&options.setup)?;
    let thresholds = match &options.thresholds {
        Some(path) => Some(CalibratedThresholds::read(path).map_err(Failure::invalid)?),
        None => None,
    };
    let recording = match &options.baseline {
        Some(path) => Some(Recording::read(path).map_err(Failure::invalid)?),
        None => None,
    };
    let settings = ScanSettings {
        correction: options.correction,
        thresholds: thresholds.clone(),
        progress: options.progress.clone(),
        min_clean_accuracy: options.min_clean_accuracy,
        ..options.setup.probes.settings()
    };
    let seeds: Vec<u64> = batteries.iter().map(|b| settings.seed_for(b)).collect();
    let tokenizer = dataset.tokenizer(&options.setup.data.model_inputs(), &options.model);
    let mismatches = recording
        .as_ref()
        .map(|r| r.mismatches(&dataset.digest(), tokenizer.as_ref(), &batteries, &seeds))
        .unwrap_or_default();
    if !mismatches.is_empty() && !options.allow_baseline_mismatch {
        return Err(Failure::invalid(crate::baseline::BaselineError::Mismatch {
            path: options.baseline.clone().unwrap_or_default(),
            reasons: mismatches,
        }));
    }
    floor_needs_labels(options.min_clean_accuracy, &dataset)?;
    let engine_options = engine_options(&options.setup.engine, &batteries);
    let mut engine = load_engine(runtime, &options.model, &engine_options)?;
    let ready = model_inputs(&dataset, &options.setup.data, &mut engine)?;
    let mut references = options
        .references
        .iter()
        .map(|path| load_engine(runtime, path, &engine_options))
        .collect::<Result<Vec<_>, _>>()?;
    let mut models = Models {
        candidate: &mut engine,
        references: &mut references,
        baseline: recording.as_ref(),
        baseline_tolerance: options.baseline_tolerance,
    };
    let outcome = runner::scan(&mut models, &*ready.inputs, &batteries, &settings).map_err(scan_failure)?;
    let context = ReportContext {
        engine: &engine,
        references: &references,
        runtime,
        dataset: &dataset,
        inputs: &ready,
        batteries: &batteries,
        threads: engine_options.threads,
        correction: options.correction,
        baseline: options.baseline.as_deref().zip(recording.as_ref()).map(|(p, r)| (p, r, mismatches.clone())),
        thresholds: options.thresholds.as_deref().zip(thresholds.as_ref()),
        inconclusive_as: options.inconclusive,
    };
    let report = report::build::build(&context, &outcome);
    let written = write_reports(out, &report, &options.formats).map_err(Failure::runtime)?;
    Ok(Scanned { report, written })
}

/// Writes the report set into `out`'s temporary folder and moves it into place; returns the
/// paths of the files written, where they are now.
fn write_reports(out: OutputDir, report: &Report, formats: &[Format]) -> anyhow::Result<Vec<PathBuf>> {
    let target = out.target().display().to_string();
    let mut written = report::write(out.path(), report, formats)
        .with_context(|| format!("writing the report into a temporary folder beside {target}"))?;
    written.extend(write_search_evidence(out.path(), report)?);
    let written = written.iter().map(|p| out.final_path(p)).collect();
    out.commit().with_context(|| format!("moving the finished reports into {target}"))?;
    Ok(written)
}

/// Writes each search probe's recovered trigger (mask and pattern) and its before/after
/// examples as PNG files next to the report, for people to look at.
fn write_search_evidence(out: &Path, report: &Report) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (name, bytes) in report::images::search_evidence(report)? {
        let path = out.join("search").join(name);
        crate::output::write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// `reports/<model>-<YYYYMMDDTHHMMSSZ>-<6 hex digits>`: never shared by two scans.
fn default_out(model: &Path) -> PathBuf {
    let stem = model.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    PathBuf::from("reports").join(crate::output::unique_name(stem))
}
