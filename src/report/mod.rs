//! The report model — one serialisable description of a scan — and its exporters.
//!
//! Exporters are pure functions from a [`Report`] to bytes, one file per format (`json.rs`,
//! `markdown.rs`, `html.rs`, `junit.rs`, `sarif.rs`, `intoto.rs`); they never compute
//! statistics. A new format is one file plus one arm in [`Format`]. [`write`](fn@write) puts
//! the chosen formats into the output folder atomically (temporary file, then rename), so a
//! report file that exists is a complete one. [`diff`] compares two reports (nightly trends).
//! [`build`] makes the report of a scan: the verdict roll-up and the summary live there.

pub mod build;
pub(crate) mod charts;
pub mod diff;
pub mod html;
pub mod images;
pub mod intoto;
pub mod json;
pub mod junit;
pub mod markdown;
pub mod sarif;
pub(crate) mod text;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::battery::spec::{Category, Thresholds, TransformSpec};
use crate::digest::FileDigest;
use crate::engine::{ProviderUsed, TensorSpec};
use crate::error::InconclusiveAs;
use crate::onnxruntime::RuntimeInfo;
use crate::runner::{BaselineAgreement, ImageInterpretation, ScoreKind};
pub use crate::runner::{Example, FeatureChange};
use crate::stats::Interval;
use crate::verdict::adequacy::{Inconclusive, Power};
use crate::verdict::{Basis, ClassEvidence, Correction, DifferentialNumbers, DistributionEvidence, Verdict};

/// Version of the `report.json` schema; bumped on any breaking change.
pub const SCHEMA: &str = "probity/report/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema: String,
    pub probity_version: String,
    /// `fail` when any gating probe failed; `inconclusive` when the scan cannot support a pass
    /// (see `inconclusive`).
    pub verdict: Verdict,
    /// Verdict of the trigger probes alone (backdoor evidence).
    pub backdoor_verdict: Verdict,
    /// Verdict of the robustness probes alone (quality gate).
    pub robustness_verdict: Verdict,
    /// Why the scan cannot support a pass (underpowered probes, a model not tested as it is
    /// used); empty when it can. Non-empty beside a `fail` verdict when backdoor evidence stands
    /// regardless.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inconclusive: Vec<Inconclusive>,
    /// What an inconclusive verdict exits with (`--inconclusive`; absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_as: Option<InconclusiveAs>,
    /// The exit code the scan gave for its verdict (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<u8>,
    pub summary: String,
    /// Model inferences run, one per input (clean, probed and control).
    pub queries: u64,
    pub elapsed_seconds: f64,
    pub model: ModelSection,
    pub onnxruntime: RuntimeInfo,
    pub execution_provider: ProviderUsed,
    pub threads: Option<usize>,
    pub batch_size: usize,
    /// How the sessions were fed: the GPU, and the input shapes each session saw (absent in
    /// older reports).
    #[serde(default)]
    pub engine: EngineSection,
    pub data: DataSection,
    pub batteries: Vec<BatterySection>,
    /// How each sample's generator is derived from (seed, probe, sample index):
    /// [`transform::SAMPLE_RNG_VERSION`](crate::transform::SAMPLE_RNG_VERSION). Reports that do
    /// not record it were made with [`SAMPLE_RNG_UNRECORDED`](crate::transform::SAMPLE_RNG_UNRECORDED).
    #[serde(default = "crate::transform::unrecorded_sample_rng")]
    pub sample_rng: String,
    /// Multiple-testing correction over the gating tests.
    pub correction: Correction,
    /// Known-good models the candidate was compared with (`--reference`).
    pub references: Vec<ReferenceSection>,
    /// The recorded baseline replayed (`--baseline`).
    pub baseline: Option<BaselineSection>,
    /// Calibrated thresholds used (`--thresholds`).
    pub thresholds: Option<ThresholdsSection>,
    pub probes: Vec<ProbeReport>,
}

/// What the engine did besides classifying: where it ran and which shapes it was sent.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct EngineSection {
    /// The GPU of a CUDA session (name and memory as the driver reports them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<crate::gpu::DeviceInfo>,
    /// One entry per session: the candidate first, then each reference.
    pub sessions: Vec<SessionShapes>,
}

/// Call shapes a session lists one by one; beyond them, their count and ranges.
pub const LISTED_SHAPES: usize = 16;

/// The distinct input shapes one session was sent during the scan. A model with fixed axes
/// gets every call at the engine's batch size (a short last batch is padded): one shape per
/// session. A text model with a dynamic sequence axis gets one per rows × length, often
/// hundreds: the first [`LISTED_SHAPES`] are listed, with the count and each axis's range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionShapes {
    pub model: PathBuf,
    /// Each distinct call shape, in first-use order (at most [`LISTED_SHAPES`]): every model
    /// input's shape, in the model's input order.
    pub input_shapes: Vec<Vec<Vec<usize>>>,
    /// How many distinct shapes there were, when more than are listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_shapes: Option<usize>,
    /// Per model input, per axis, the smallest and largest size sent, when not every shape
    /// is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape_ranges: Option<Vec<Vec<[usize; 2]>>>,
}

impl SessionShapes {
    /// What a report says of the `shapes` a session at `model` was sent.
    pub fn of(model: PathBuf, shapes: &[Vec<Vec<usize>>]) -> Self {
        if shapes.len() <= LISTED_SHAPES {
            return Self { model, input_shapes: shapes.to_vec(), distinct_shapes: None, shape_ranges: None };
        }
        let ranges = shapes[0]
            .iter()
            .enumerate()
            .map(|(input, dims)| {
                (0..dims.len())
                    .map(|axis| {
                        let sizes = shapes.iter().filter_map(|s| s.get(input)?.get(axis).copied());
                        sizes.fold([usize::MAX, 0], |[lo, hi], v| [lo.min(v), hi.max(v)])
                    })
                    .collect()
            })
            .collect();
        Self {
            model,
            input_shapes: shapes[..LISTED_SHAPES].to_vec(),
            distinct_shapes: Some(shapes.len()),
            shape_ranges: Some(ranges),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceSection {
    pub path: PathBuf,
    pub sha256: String,
    /// Share of clean inputs on which candidate and reference predict the same class.
    pub clean_agreement: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BaselineSection {
    pub path: PathBuf,
    /// The model the baseline was recorded from.
    pub model_sha256: String,
    pub recorded_onnxruntime: String,
    pub recorded_execution_provider: String,
    pub agreement: BaselineAgreement,
    /// Differences from the recording that `--allow-baseline-mismatch` let through.
    pub mismatches: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdsSection {
    pub path: PathBuf,
    pub sha256: String,
    pub false_alarm_rate: f64,
    /// The clean models the thresholds were calibrated on.
    pub calibration_set: Vec<PathBuf>,
    /// Probes of this scan that the calibration covered.
    pub calibrated_probes: usize,
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
    /// Files the model reads tensor data from, with their SHA-256 (absent in older reports); each
    /// path is the file's location as written in the model (relative to the model's folder).
    #[serde(default)]
    pub external_data: Vec<FileDigest<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataSection {
    pub path: PathBuf,
    pub sha256: String,
    pub inputs: usize,
    pub labelled: bool,
    pub clean_accuracy: Option<f64>,
    /// Text data: the tokenizer that turned it into token ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<TokenizerSection>,
    /// Text data: empty or blank records the loader dropped (with their labels); not in `inputs`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub blank_skipped: usize,
    /// Text data: texts longer than the encoder's character budget, of which only the start
    /// was probed and tokenized.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub texts_clipped: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenizerSection {
    pub path: PathBuf,
    pub sha256: String,
    pub vocabulary: usize,
    /// Longest sequence fed to the model, special tokens included.
    pub max_length: usize,
    /// How batches were padded (absent in reports before natural-length batches).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<crate::modality::text::Padding>,
    /// The check that chose between the tokenizer's fixed length and natural lengths.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding_check: Option<crate::modality::text::PaddingCheck>,
    /// Clean texts' lengths in tokens as fed (truncated): shortest, median, longest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence_lengths: Option<[usize; 3]>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatterySection {
    pub path: PathBuf,
    pub sha256: String,
    pub name: String,
    pub version: String,
    pub seed: u64,
    /// How image inputs were interpreted (absent for text batteries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inputs: Option<ImageInterpretation>,
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
    /// The analysis the verdict and headline numbers come from.
    pub basis: Basis,
    pub reason: String,
    /// What the probe could have shown with its data in the best case; below alpha or the
    /// probe is `inconclusive` (absent in older reports).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power: Option<Power>,
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
    /// Self-baseline evidence per class (probe vs its matched control).
    pub per_class: Vec<ClassEvidence>,
    /// `flip_matrix[clean][probed]` sample counts.
    pub flip_matrix: Vec<Vec<u64>>,
    /// Top-class confidence histograms (20 bins over [0, 1]) on clean and probed inputs.
    pub confidence_clean: Vec<u64>,
    pub confidence_probed: Vec<u64>,
    /// Clean vs probed distributions of the candidate.
    pub distribution: DistributionEvidence,
    /// Candidate vs each reference on the probed inputs.
    pub references: Vec<DifferentialNumbers>,
    /// Candidate vs the recorded baseline.
    pub baseline: Option<DifferentialNumbers>,
    /// A few inputs before and after (failing probes and the strongest trigger probes).
    pub examples: Vec<Example>,
    /// Search probes: what the search found; the numbers above are its confirmation.
    pub search: Option<crate::search::SearchSummary>,
    /// Adversarial probes: what the attack did (queries and perturbation sizes to success).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attack: Option<crate::attack::AttackSummary>,
}

/// An output format (documented in `docs/reports.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `report.json`: the report model itself (`docs/report-schema.md`).
    Json,
    /// `report.md`: a summary for a CI job summary or a pull-request comment.
    Md,
    /// `report.html`: one self-contained page with charts, for a person.
    Html,
    /// `report.junit.xml`: one test case per probe, for CI test panels.
    Junit,
    /// `report.sarif`: SARIF 2.1.0, one result per failing probe, for code-scanning panels.
    Sarif,
    /// `attestation.intoto.json`: an in-toto Statement v1 about the model file, ready to sign.
    Intoto,
}

impl Format {
    /// Every format, in the order `--format` lists them.
    pub const ALL: [Format; 6] = [Self::Json, Self::Md, Self::Html, Self::Junit, Self::Sarif, Self::Intoto];

    pub fn file_name(self) -> &'static str {
        match self {
            Self::Json => "report.json",
            Self::Md => "report.md",
            Self::Html => "report.html",
            Self::Junit => "report.junit.xml",
            Self::Sarif => "report.sarif",
            Self::Intoto => "attestation.intoto.json",
        }
    }

    /// The exporter for this format: a pure function of the report.
    pub fn render(self, report: &Report) -> Vec<u8> {
        match self {
            Self::Json => json::render(report),
            Self::Md => markdown::render(report),
            Self::Html => html::render(report),
            Self::Junit => junit::render(report),
            Self::Sarif => sarif::render(report),
            Self::Intoto => intoto::render(report),
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
        crate::output::write_atomic(&target, &format.render(report))?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_of_few_shapes_lists_them_all() {
        let shapes = vec![vec![vec![256, 1, 8, 8]], vec![vec![7, 1, 8, 8]]];
        let s = SessionShapes::of("m.onnx".into(), &shapes);
        assert_eq!((s.input_shapes, s.distinct_shapes, s.shape_ranges), (shapes, None, None));
    }

    #[test]
    fn a_session_of_many_shapes_lists_the_first_and_gives_each_axis_range() {
        // A text model's calls: rows × length for ids and mask, 40 distinct shapes.
        let shapes: Vec<Vec<Vec<usize>>> = (0..40).map(|i| vec![vec![64 - i, 10 + i], vec![64 - i, 10 + i]]).collect();
        let s = SessionShapes::of("m.onnx".into(), &shapes);
        assert_eq!(s.input_shapes, shapes[..LISTED_SHAPES]);
        assert_eq!(s.distinct_shapes, Some(40));
        assert_eq!(s.shape_ranges, Some(vec![vec![[25, 64], [10, 49]]; 2]));
    }

    /// The committed failing report, with its first example turned into a table row the probe
    /// changed in two features.
    fn report_with_changes() -> Report {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/reports/report-fail.json");
        let mut report: Report = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let probe = report.probes.iter_mut().find(|p| !p.examples.is_empty()).expect("a probe with examples");
        let change = |feature: &str, clean: &str, probed: &str| FeatureChange {
            feature: feature.into(),
            clean: clean.into(),
            probed: probed.into(),
        };
        probe.examples = vec![Example {
            index: 7,
            changes: vec![change("age", "41", "99"), change("plan", "basic", "a|b")],
            clean_class: 0,
            probed_class: 1,
            ..Example::default()
        }];
        report
    }

    #[test]
    fn table_examples_show_the_changed_features_in_every_format() {
        let report = report_with_changes();
        let json = String::from_utf8(Format::Json.render(&report)).unwrap();
        assert!(json.contains(r#""changes": ["#) && json.contains(r#""feature": "age""#), "{json}");
        assert_eq!(serde_json::from_str::<Report>(&json).unwrap(), report, "round trip");
        let md = String::from_utf8(Format::Md.render(&report)).unwrap();
        assert!(md.contains("| input | feature | clean | probed | class |"), "{md}");
        assert!(md.contains("| 7 | `age` | 41 | 99 | 0 → 1 |"), "{md}");
        assert!(md.contains("| 7 | `plan` | basic | a\\|b | 0 → 1 |"), "a pipe does not break the table: {md}");
        let html = String::from_utf8(Format::Html.render(&report)).unwrap();
        assert!(html.contains("<td>age</td><td>41</td><td>99</td><td>0 → 1</td>"), "{html}");
    }

    #[test]
    fn image_and_text_examples_carry_no_changes_field() {
        let json = serde_json::to_string(&Example { clean_png: "AA==".into(), ..Example::default() }).unwrap();
        assert!(!json.contains("changes"), "{json}");
    }
}
