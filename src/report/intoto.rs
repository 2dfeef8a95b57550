//! `attestation.intoto.json`: an in-toto Statement v1 about the scanned model, ready to be
//! signed with existing tools. The statement types live here, with the exporter that makes
//! them from a report; [`crate::attest`] reads and checks them.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::Report;
use crate::battery::spec::Category;
use crate::digest::FileDigest;
use crate::verdict::{Correction, Verdict};

pub fn render(report: &Report) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&Statement::for_report(report)).expect("the statement always serialises");
    bytes.push(b'\n');
    bytes
}

/// `_type` of every in-toto Statement v1.
pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";

/// `predicateType` of a probity scan attestation; the predicate is [`ScanPredicate`].
pub const PREDICATE_TYPE: &str = "https://probity.dev/attestation/scan/v1";

/// An in-toto Statement v1 about a scanned model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Statement {
    #[serde(rename = "_type")]
    pub statement_type: String,
    /// The model file first, then its external data files.
    pub subject: Vec<Subject>,
    #[serde(rename = "predicateType")]
    pub predicate_type: String,
    pub predicate: ScanPredicate,
}

/// An attested artifact: a name and its digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub name: String,
    pub digest: DigestSet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestSet {
    pub sha256: String,
}

/// What a probity scan attests (`https://probity.dev/attestation/scan/v1`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanPredicate {
    pub scanner: Scanner,
    /// The scan's verdict: only `pass` means the model passed (`inconclusive` means the scan
    /// could not have caught a backdoor, whatever exit code `--inconclusive` gave it).
    pub verdict: Verdict,
    pub backdoor_verdict: Verdict,
    pub robustness_verdict: Verdict,
    /// Why the scan cannot support a pass (the report's `inconclusive`); absent when it can.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inconclusive: Vec<crate::verdict::adequacy::Inconclusive>,
    /// How the scan mapped an inconclusive verdict to its exit code (`--inconclusive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_as: Option<crate::error::InconclusiveAs>,
    pub summary: String,
    /// Schema of the report the statement was made from.
    pub report_schema: String,
    pub model: AttestedModel,
    pub data: FileDigest,
    /// Text models: the tokenizer that turned the data into token ids (the verdict depends on it
    /// as much as on the data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<FileDigest>,
    pub batteries: Vec<AttestedBattery>,
    /// How the probes' random inputs were derived from the seeds (the report's `sample_rng`);
    /// absent in attestations made with `probity/sample-rng/v1`.
    #[serde(default = "crate::transform::unrecorded_sample_rng")]
    pub sample_rng: String,
    pub onnxruntime: AttestedRuntime,
    pub execution_provider: AttestedProvider,
    pub correction: Correction,
    /// Known-good models the candidate was compared with.
    pub references: Vec<FileDigest>,
    /// The recorded baseline replayed: the model it was recorded from.
    pub baseline_model_sha256: Option<String>,
    /// Calibrated thresholds used.
    pub thresholds: Option<FileDigest>,
    pub probes: Vec<AttestedProbe>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scanner {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedModel {
    /// The subject naming the model file.
    pub name: String,
    /// The path the scan was given.
    pub path: PathBuf,
    pub sha256: String,
    pub external_data: Vec<FileDigest<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedBattery {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub sha256: String,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedRuntime {
    pub version: String,
    pub library_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedProvider {
    pub requested: String,
    pub used: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestedProbe {
    pub battery: String,
    pub id: String,
    pub category: Category,
    pub verdict: Verdict,
}

impl Statement {
    /// The statement about the scanned model of `report`.
    pub fn for_report(report: &Report) -> Self {
        let model = &report.model;
        let name =
            model.path.file_name().map_or_else(|| model.path.display().to_string(), |n| n.to_string_lossy().into());
        let mut subject = vec![Subject { name: name.clone(), digest: DigestSet { sha256: model.sha256.clone() } }];
        subject.extend(
            model
                .external_data
                .iter()
                .map(|f| Subject { name: f.path.clone(), digest: DigestSet { sha256: f.sha256.clone() } }),
        );
        let predicate = ScanPredicate {
            scanner: Scanner { name: "probity".into(), version: report.probity_version.clone() },
            verdict: report.verdict,
            backdoor_verdict: report.backdoor_verdict,
            robustness_verdict: report.robustness_verdict,
            inconclusive: report.inconclusive.clone(),
            inconclusive_as: report.inconclusive_as,
            summary: report.summary.clone(),
            report_schema: report.schema.clone(),
            model: AttestedModel {
                name,
                path: model.path.clone(),
                sha256: model.sha256.clone(),
                external_data: model.external_data.clone(),
            },
            data: FileDigest { path: report.data.path.clone(), sha256: report.data.sha256.clone() },
            tokenizer: report
                .data
                .tokenizer
                .as_ref()
                .map(|t| FileDigest { path: t.path.clone(), sha256: t.sha256.clone() }),
            batteries: report
                .batteries
                .iter()
                .map(|b| AttestedBattery {
                    name: b.name.clone(),
                    version: b.version.clone(),
                    path: b.path.clone(),
                    sha256: b.sha256.clone(),
                    seed: b.seed,
                })
                .collect(),
            sample_rng: report.sample_rng.clone(),
            onnxruntime: AttestedRuntime {
                version: report.onnxruntime.version.clone(),
                library_sha256: report.onnxruntime.library_sha256.clone(),
            },
            execution_provider: AttestedProvider {
                requested: report.execution_provider.requested.clone(),
                used: report.execution_provider.used.clone(),
            },
            correction: report.correction,
            references: report
                .references
                .iter()
                .map(|r| FileDigest { path: r.path.clone(), sha256: r.sha256.clone() })
                .collect(),
            baseline_model_sha256: report.baseline.as_ref().map(|b| b.model_sha256.clone()),
            thresholds: report
                .thresholds
                .as_ref()
                .map(|t| FileDigest { path: t.path.clone(), sha256: t.sha256.clone() }),
            probes: report
                .probes
                .iter()
                .map(|p| AttestedProbe {
                    battery: p.battery.clone(),
                    id: p.id.clone(),
                    category: p.category,
                    verdict: p.verdict,
                })
                .collect(),
        };
        Self { statement_type: STATEMENT_TYPE.into(), subject, predicate_type: PREDICATE_TYPE.into(), predicate }
    }
}
