//! The report model — one serialisable description of a scan — and its exporters.
//!
//! Exporters are pure functions from a [`Report`] to bytes, one file per format (`json.rs`,
//! `markdown.rs`); they never compute statistics. [`write`] puts the chosen formats into the
//! output folder atomically (temporary file, then rename), so a report file that exists is a
//! complete one.

pub mod json;
pub mod markdown;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::battery::spec::{Category, Thresholds, TransformSpec};
use crate::engine::{ProviderUsed, TensorSpec};
use crate::onnxruntime::RuntimeInfo;
use crate::runner::{InputInterpretation, ScoreKind};
use crate::stats::Interval;
use crate::verdict::{ClassEvidence, Verdict};

/// Version of the `report.json` schema; bumped on any breaking change.
pub const SCHEMA: &str = "probity/report/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub probity_version: String,
    /// `fail` when any gating probe failed.
    pub verdict: Verdict,
    /// Verdict of the trigger probes alone (backdoor evidence).
    pub backdoor_verdict: Verdict,
    /// Verdict of the robustness probes alone (quality gate).
    pub robustness_verdict: Verdict,
    pub summary: String,
    /// Model inferences run, one per input (clean, probed and control).
    pub queries: u64,
    pub elapsed_seconds: f64,
    pub model: ModelSection,
    pub onnxruntime: RuntimeInfo,
    pub execution_provider: ProviderUsed,
    pub threads: Option<usize>,
    pub batch_size: usize,
    pub data: DataSection,
    pub batteries: Vec<BatterySection>,
    pub probes: Vec<ProbeReport>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSection {
    pub path: PathBuf,
    pub sha256: String,
    pub inputs: Vec<TensorSpec>,
    pub outputs: Vec<TensorSpec>,
    pub classifier_output: String,
    pub classes: usize,
    pub scores: ScoreKind,
    /// `false` when `--scores` overrode the detection.
    pub scores_detected: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSection {
    pub path: PathBuf,
    pub sha256: String,
    pub inputs: usize,
    pub labelled: bool,
    pub clean_accuracy: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatterySection {
    pub path: PathBuf,
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub seed: u64,
    pub inputs: InputInterpretation,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    pub id: String,
    pub battery: String,
    /// Line of the probe's `id` in its battery file.
    pub line: u32,
    pub category: Category,
    pub description: String,
    pub transform: TransformSpec,
    pub thresholds: Thresholds,
    pub verdict: Verdict,
    pub reason: String,
    pub samples: usize,
    pub target_class: Option<usize>,
    pub attack_success_rate: Option<f64>,
    pub attack_success_interval: Option<Interval>,
    pub control_attack_success_rate: Option<f64>,
    /// Holm-corrected p-value of the target class's test.
    pub p_value: Option<f64>,
    pub effect: Option<f64>,
    pub flip_rate: f64,
    pub control_flip_rate: Option<f64>,
    pub accuracy_clean: Option<f64>,
    pub accuracy_probed: Option<f64>,
    pub accuracy_drop: Option<f64>,
    pub per_class: Vec<ClassEvidence>,
}

/// An output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Json,
    Md,
}

impl Format {
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Json => "report.json",
            Self::Md => "report.md",
        }
    }

    /// The exporter for this format: a pure function of the report.
    pub fn render(self, report: &Report) -> Vec<u8> {
        match self {
            Self::Json => json::render(report),
            Self::Md => markdown::render(report),
        }
    }
}

/// Writes every format into `dir` atomically and returns the written paths. The JSON report
/// is written last, so tooling that waits for `report.json` sees every other file complete.
pub fn write(dir: &Path, report: &Report, formats: &[Format]) -> std::io::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut ordered: Vec<Format> = formats.to_vec();
    ordered.sort_by_key(|f| *f == Format::Json);
    ordered.dedup();
    let mut written = Vec::new();
    for format in ordered {
        let target = dir.join(format.file_name());
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        std::io::Write::write_all(&mut tmp, &format.render(report))?;
        tmp.as_file().sync_all()?;
        tmp.persist(&target).map_err(|e| e.error)?;
        written.push(target);
    }
    Ok(written)
}
