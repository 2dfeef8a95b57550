//! Attestations: an [in-toto Statement v1] saying which model file (and which external data
//! files) passed which scan, and the check that a file on disk is the one attested.
//!
//! The statement's subject is the model file's SHA-256, followed by one subject per external
//! data file; the predicate ([`PREDICATE_TYPE`]) records what the verdict depends on: battery,
//! data, runtime and library digests, execution provider, seeds and the derivation of the
//! samples' generators from them, and the per-probe verdicts. It
//! carries no timestamp, so the same scan gives the same bytes; signing tools (cosign,
//! in-toto) wrap it in a signed envelope and add their own. The statement is built from the
//! report model ([`Statement::for_report`]); the exporter in `report/intoto.rs` writes it.
//!
//! Checking one ([`Document`], [`verify`]) has three parts, each reported on its own:
//! - **signature** ([`dsse`]): a DSSE envelope's signature over the statement, checked with a
//!   key the verifier trusts; a bare statement, or an envelope checked with no key, is said to
//!   be unchecked, never taken as signed;
//! - **consistency** (`consistency.rs`): the statement does not contradict itself (subjects vs
//!   the predicate's digests, claimed verdicts vs the per-probe verdicts). This catches a
//!   hand-edited statement, not a forged one: only a signature does that;
//! - **the files**: the model (and its external data) on disk have the attested digests, and the
//!   attested scan passed.
//!
//! [in-toto Statement v1]: https://github.com/in-toto/attestation/blob/main/spec/v1/statement.md

mod consistency;
pub mod dsse;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::battery::spec::Category;
use crate::digest::FileDigest;
use crate::report::Report;
use crate::verdict::{Correction, Verdict};

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

/// Why an attestation cannot be used (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum AttestError {
    #[error("cannot read attestation {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error(
        "{path} is not a probity attestation: {detail}; pass the attestation.intoto.json that `probity scan --format intoto` wrote, or a DSSE envelope of it"
    )]
    Invalid { path: PathBuf, detail: String },
    #[error("cannot read model {path}: {cause}")]
    Model { path: PathBuf, cause: std::io::Error },
    #[error(transparent)]
    Vetting(#[from] crate::model::ModelError),
    #[error("cannot read key {path}: {cause}")]
    KeyRead { path: PathBuf, cause: std::io::Error },
    #[error("key {path} is {cause}")]
    Key { path: PathBuf, cause: dsse::KeyError },
}

/// An attestation file as read: a bare statement, or a DSSE envelope around one (on its own
/// or in a Sigstore bundle). The statement inside an envelope is only parsed once its
/// signature has had its say ([`Document::signature`], then [`Document::statement`]).
#[derive(Debug, Clone)]
pub enum Document {
    Bare { bytes: Vec<u8> },
    Envelope { envelope: dsse::Envelope, payload: Vec<u8> },
}

/// What was found out about an attestation's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// No key was given, or there is no signature to check: the statement is not known to be
    /// authentic. `why` completes "not checked (...)".
    NotChecked { why: String },
    /// Signature `index` (1-based) of `count` verifies with the key.
    Verified { index: usize, count: usize },
    /// A key was given and no signature verifies with it (or there is none); one reason each.
    Invalid { reasons: Vec<String> },
}

impl Document {
    pub fn read(path: &Path) -> Result<Self, AttestError> {
        let bytes = std::fs::read(path).map_err(|cause| AttestError::Read { path: path.to_path_buf(), cause })?;
        Self::parse(path, &bytes)
    }

    /// Tells a bare statement from an envelope and decodes the envelope's payload; `path` is
    /// for messages only.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, AttestError> {
        let invalid = |detail: String| AttestError::Invalid { path: path.to_path_buf(), detail };
        let document: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if !dsse::is_envelope(&document) {
            return Ok(Self::Bare { bytes: bytes.to_vec() });
        }
        let envelope = dsse::Envelope::from_document(document).map_err(|e| invalid(e.to_string()))?;
        let payload = envelope.payload_bytes().map_err(|e| invalid(e.to_string()))?;
        Ok(Self::Envelope { envelope, payload })
    }

    /// Checks the signature with `key`, when one is given. A bare statement checked with a key
    /// is invalid: the user asked for a signed attestation and this one is not.
    pub fn signature(&self, key: Option<&dsse::PublicKey>) -> SignatureStatus {
        match (self, key) {
            (Self::Bare { .. }, None) => {
                SignatureStatus::NotChecked { why: "bare statement, not a DSSE envelope".into() }
            }
            (Self::Bare { .. }, Some(_)) => SignatureStatus::Invalid {
                reasons: vec!["the attestation is a bare statement with no signature, but a key was given".into()],
            },
            (Self::Envelope { envelope, .. }, None) => SignatureStatus::NotChecked {
                why: format!("DSSE envelope with {} signature(s); pass --key to verify one", envelope.signatures.len()),
            },
            (Self::Envelope { envelope, payload }, Some(key)) => match envelope.check(payload, key) {
                dsse::SignatureCheck::Verified { index, count } => SignatureStatus::Verified { index, count },
                dsse::SignatureCheck::Invalid { reasons } => SignatureStatus::Invalid { reasons },
            },
        }
    }

    /// The statement's bytes: the file itself, or the envelope's payload.
    pub fn statement_bytes(&self) -> &[u8] {
        match self {
            Self::Bare { bytes } => bytes,
            Self::Envelope { payload, .. } => payload,
        }
    }

    /// Parses and checks the statement (see [`Statement::parse`]).
    pub fn statement(&self, path: &Path) -> Result<Statement, AttestError> {
        Statement::parse(path, self.statement_bytes())
    }
}

/// Reads a PEM public key file for [`Document::signature`].
pub fn read_public_key(path: &Path) -> Result<dsse::PublicKey, AttestError> {
    let text =
        std::fs::read_to_string(path).map_err(|cause| AttestError::KeyRead { path: path.to_path_buf(), cause })?;
    dsse::PublicKey::from_pem(&text).map_err(|cause| AttestError::Key { path: path.to_path_buf(), cause })
}

/// Reads a PEM private key file for [`dsse::Envelope::sign`].
pub fn read_private_key(path: &Path) -> Result<dsse::PrivateKey, AttestError> {
    let text =
        std::fs::read_to_string(path).map_err(|cause| AttestError::KeyRead { path: path.to_path_buf(), cause })?;
    dsse::PrivateKey::from_pem(&text).map_err(|cause| AttestError::Key { path: path.to_path_buf(), cause })
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

    /// Parses and checks a statement's bytes: the statement and predicate types, and a model
    /// subject whose digest is a SHA-256; `path` is for messages only.
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Self, AttestError> {
        let invalid = |detail: String| AttestError::Invalid { path: path.to_path_buf(), detail };
        let statement: Self = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
        if statement.statement_type != STATEMENT_TYPE {
            return Err(invalid(format!("_type is '{}', not '{STATEMENT_TYPE}'", statement.statement_type)));
        }
        if statement.predicate_type != PREDICATE_TYPE {
            return Err(invalid(format!("predicateType is '{}', not '{PREDICATE_TYPE}'", statement.predicate_type)));
        }
        if statement.model_subject().is_none() {
            return Err(invalid(format!(
                "no subject is named '{}' (predicate.model.name)",
                statement.predicate.model.name
            )));
        }
        if let Some(bad) = statement.subject.iter().find(|s| !is_sha256(&s.digest.sha256)) {
            return Err(invalid(format!("subject '{}' has no SHA-256 digest", bad.name)));
        }
        Ok(statement)
    }

    /// The subject naming the model file.
    pub fn model_subject(&self) -> Option<&Subject> {
        self.subject.iter().find(|s| s.name == self.predicate.model.name)
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The result of checking a model file against an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verification {
    /// The files are the attested ones and the attested scan passed.
    Verified { model_sha256: String, external_data: usize },
    /// A file differs from (or is missing in) the attestation, or the attested scan failed;
    /// each problem is one sentence naming the expected and the actual digest.
    Rejected { problems: Vec<String> },
}

/// Checks that the statement does not contradict itself ([`Statement::contradictions`]), that
/// the model at `model` (and every external data file it reads) has the digests the statement
/// attests, and that the attested scan passed. The signature is [`Document::signature`]'s job.
///
/// The model's own digest is compared first: a modified file may not even decode, and it is
/// rejected as a mismatch, not as an unreadable model.
pub fn verify(model: &Path, statement: &Statement) -> Result<Verification, AttestError> {
    let bytes = std::fs::read(model).map_err(|cause| AttestError::Model { path: model.to_path_buf(), cause })?;
    let actual = crate::digest::sha256_bytes(&bytes);
    let mut problems: Vec<String> =
        statement.contradictions().into_iter().map(|c| format!("the attestation contradicts itself: {c}")).collect();
    let Some(expected) = statement.model_subject() else {
        problems.push("the attestation names no model subject".into());
        return Ok(Verification::Rejected { problems });
    };
    if !actual.eq_ignore_ascii_case(&expected.digest.sha256) {
        problems.push(format!(
            "model {} does not match the attestation: expected sha256 {} (subject '{}'), actual sha256 {actual}",
            model.display(),
            expected.digest.sha256,
            expected.name
        ));
        return Ok(Verification::Rejected { problems });
    }
    let facts = crate::model::facts_from_bytes(model, &bytes)?;
    let attested: Vec<&Subject> = statement.subject.iter().filter(|s| s.name != expected.name).collect();
    for file in &facts.external_data {
        let actual = match crate::digest::sha256_file(&file.path) {
            Ok(digest) => digest,
            Err(e) => {
                problems.push(format!("external data file {} cannot be read: {e}", file.path.display()));
                continue;
            }
        };
        match attested.iter().find(|s| s.name == file.location) {
            Some(s) if s.digest.sha256.eq_ignore_ascii_case(&actual) => {}
            Some(s) => problems.push(format!(
                "external data file {} does not match the attestation: expected sha256 {}, actual sha256 {actual}",
                file.path.display(),
                s.digest.sha256
            )),
            None => problems.push(format!(
                "external data file {} (sha256 {actual}) is not in the attestation",
                file.path.display()
            )),
        }
    }
    for s in &attested {
        if !facts.external_data.iter().any(|f| f.location == s.name) {
            problems.push(format!("attested external data file '{}' is not read by the model", s.name));
        }
    }
    if statement.predicate.verdict != Verdict::Pass {
        problems.push(format!(
            "the model is the attested one, but the attested scan did not pass: {}",
            statement.predicate.summary
        ));
    }
    Ok(if problems.is_empty() {
        Verification::Verified { model_sha256: actual, external_data: facts.external_data.len() }
    } else {
        Verification::Rejected { problems }
    })
}
