//! Attestations: an [in-toto Statement v1] saying which model file (and which external data
//! files) passed which scan, and the check that a file on disk is the one attested.
//!
//! The statement's subject is the model file's SHA-256, followed by one subject per external
//! data file; the predicate ([`PREDICATE_TYPE`]) records what the verdict depends on: battery,
//! data, runtime and library digests, execution provider, seeds and the derivation of the
//! samples' generators from them, and the per-probe verdicts. It
//! carries no timestamp, so the same scan gives the same bytes; signing tools (cosign,
//! in-toto) wrap it in a signed envelope and add their own. The statement is an export of the
//! report model: its types and [`Statement::for_report`] live in [`crate::report::intoto`]
//! (re-exported here); this module reads and checks statements.
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

use sha2::{Digest as _, Sha256};

use crate::verdict::Verdict;

pub use crate::report::intoto::{
    AttestedBattery, AttestedModel, AttestedProbe, AttestedProvider, AttestedRuntime, DigestSet, PREDICATE_TYPE,
    STATEMENT_TYPE, ScanPredicate, Scanner, Statement, Subject,
};

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
    let actual = hex::encode(Sha256::digest(&bytes));
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
        let actual = match crate::onnxruntime::provision::sha256_file(&file.path) {
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
