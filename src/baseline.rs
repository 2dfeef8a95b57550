//! Recorded baselines: what an accepted model predicted on every probe, kept so a later scan
//! can test "did behaviour change since the model we accepted?" without the old model.
//!
//! A recording (`DIR/baseline.json`, schema `probity/baseline/v1`) holds, per probe and input,
//! the predicted class and the top-k scores, plus the digests of model, batteries and data,
//! the seeds and the runtime ([`crate::runner::ScanOutcome::recording`] makes one). Replaying it against other batteries, data or seeds would compare
//! different inputs, so [`Recording::mismatches`] lists every difference and the scan refuses
//! (exit 2) unless told to allow it; probes whose inputs differ are then skipped.
//!
//! A recording also names the derivation of the samples' generators
//! ([`SAMPLE_RNG_VERSION`]). Under another derivation every random probe sees other inputs, so
//! [`Recording::read`] refuses such a recording outright (no flag lets it through): the fix is
//! to record the baseline again.
//!
//! Reading checks what the file holds before anything indexes with it: digests are SHA-256s,
//! each probe's predictions match its input indices in number, the indices lie within the clean
//! predictions, confidences are probabilities, probe keys are unique. Every problem is reported
//! at file:line:column with a stable code (the battery diagnostics' rendering).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::battery::diagnostics::{Code, Diagnostic, Diagnostics, Findings, UNIT};
use crate::battery::spec::Battery;
use crate::digest::FileDigest;
use crate::engine::ProviderUsed;
use crate::onnxruntime::RuntimeInfo;
use crate::predictions::{Predictions, ScoreKind};
use crate::transform::SAMPLE_RNG_VERSION;

pub const SCHEMA: &str = "probity/baseline/v1";
const FILE: &str = "baseline.json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedBattery {
    pub name: String,
    pub version: String,
    pub path: PathBuf,
    pub sha256: String,
    pub seed: u64,
}

/// What one probe produced on the recorded model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedProbe {
    /// `battery-name/probe-id`.
    pub key: String,
    pub indices: Vec<usize>,
    pub probed: Predictions,
    pub control: Option<Predictions>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recording {
    pub schema: String,
    pub probity_version: String,
    pub model: FileDigest,
    pub data: FileDigest,
    /// Text data: the tokenizer the inputs were encoded with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<FileDigest>,
    pub batteries: Vec<RecordedBattery>,
    /// How the probes' inputs were derived from the seeds ([`SAMPLE_RNG_VERSION`]); recordings
    /// without it were made with `probity/sample-rng/v1`.
    #[serde(default = "crate::transform::unrecorded_sample_rng")]
    pub sample_rng: String,
    pub onnxruntime: RuntimeInfo,
    pub execution_provider: ProviderUsed,
    pub scores: ScoreKind,
    pub clean: Predictions,
    pub probes: Vec<RecordedProbe>,
}

#[derive(Debug, thiserror::Error)]
pub enum BaselineError {
    #[error("cannot read baseline {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    /// Every problem in the file, located (exit 2).
    #[error(
        "{} is not a usable probity baseline:\n{}\nrecord one with `probity baseline record`",
        .path.display(),
        .diagnostics.to_string().trim_end()
    )]
    Invalid { path: PathBuf, diagnostics: Diagnostics },
    #[error(
        "baseline {path} was recorded under different conditions:\n  - {}\nrecord a new baseline, or pass --allow-baseline-mismatch to compare the probes whose inputs still match",
        .reasons.join("\n  - ")
    )]
    Mismatch { path: PathBuf, reasons: Vec<String> },
    #[error(
        "baseline {path} was recorded with sample generators '{recorded}'{}, but this probity derives them with '{SAMPLE_RNG_VERSION}': every random probe would see other inputs than the recorded ones\nre-record the baseline with this probity version: probity baseline record --model {} --data {} --out {} (with the batteries and --seed it was recorded with)",
        unrecorded_note(.recorded),
        .model.display(),
        .data.display(),
        .dir.display()
    )]
    SampleRng { path: PathBuf, recorded: String, model: PathBuf, data: PathBuf, dir: PathBuf },
}

impl Recording {
    pub fn probe(&self, key: &str) -> Option<&RecordedProbe> {
        self.probes.iter().find(|p| p.key == key)
    }

    /// Every way this scan's batteries, data and seeds differ from the recording's.
    pub fn mismatches(
        &self,
        data: &FileDigest,
        tokenizer: Option<&FileDigest>,
        batteries: &[Battery],
        seeds: &[u64],
    ) -> Vec<String> {
        let mut reasons = Vec::new();
        if self.data.sha256 != data.sha256 {
            reasons.push(format!(
                "data: recorded with {} (sha256 {}), now {} (sha256 {})",
                self.data.path.display(),
                short(&self.data.sha256),
                data.path.display(),
                short(&data.sha256)
            ));
        }
        let digest = |t: Option<&FileDigest>| t.map(|t| t.sha256.clone());
        if digest(self.tokenizer.as_ref()) != digest(tokenizer) {
            let describe = |t: Option<&FileDigest>| {
                t.map_or_else(|| "none".to_string(), |t| format!("{} (sha256 {})", t.path.display(), short(&t.sha256)))
            };
            reasons.push(format!(
                "tokenizer: recorded with {}, now {}",
                describe(self.tokenizer.as_ref()),
                describe(tokenizer)
            ));
        }
        let now: Vec<(&str, &str)> = batteries.iter().map(|b| (b.name.as_str(), b.sha256.as_str())).collect();
        let then: Vec<(&str, &str)> = self.batteries.iter().map(|b| (b.name.as_str(), b.sha256.as_str())).collect();
        if now != then {
            let list = |v: &[(&str, &str)]| {
                v.iter().map(|(n, h)| format!("{n} ({})", short(h))).collect::<Vec<_>>().join(", ")
            };
            reasons.push(format!("batteries: recorded with {}, now {}", list(&then), list(&now)));
        }
        let recorded_seeds: Vec<u64> = self.batteries.iter().map(|b| b.seed).collect();
        if recorded_seeds != seeds {
            reasons.push(format!("seeds: recorded with {recorded_seeds:?}, now {seeds:?}"));
        }
        reasons
    }

    /// Writes `DIR/baseline.json` atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let target = dir.join(FILE);
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        crate::output::write_atomic(&target, &bytes)?;
        Ok(target)
    }

    /// Reads `DIR/baseline.json` (or the file itself when given one).
    pub fn read(path: &Path) -> Result<Self, BaselineError> {
        let file = if path.is_dir() { path.join(FILE) } else { path.to_path_buf() };
        let bytes = std::fs::read(&file).map_err(|cause| BaselineError::Io { path: file.clone(), cause })?;
        let recording: Recording = serde_json::from_slice(&bytes).map_err(|e| {
            use serde_json::error::Category as C;
            let code = match e.classify() {
                C::Syntax | C::Eof | C::Io => Code::JsonSyntax,
                C::Data if e.to_string().starts_with("missing field") => Code::MissingKey,
                C::Data => Code::WrongType,
            };
            let message = e.to_string();
            let message = message.rfind(" at line ").map_or(message.as_str(), |i| &message[..i]).to_string();
            let at = Diagnostic {
                code,
                file: file.clone(),
                line: u32::try_from(e.line()).unwrap_or(u32::MAX),
                column: u32::try_from(e.column()).unwrap_or(u32::MAX),
                message,
                hint: None,
            };
            BaselineError::Invalid { path: file.clone(), diagnostics: Diagnostics(vec![at]) }
        })?;
        // serde_json keeps no positions: the text is scanned for them, only when there is a problem.
        let text = String::from_utf8_lossy(&bytes);
        recording
            .findings()
            .into_result(&file, |at| crate::battery::json::position(&text, at))
            .map_err(|diagnostics| BaselineError::Invalid { path: file.clone(), diagnostics })?;
        if recording.sample_rng != SAMPLE_RNG_VERSION {
            let dir = file.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
            return Err(BaselineError::SampleRng {
                recorded: recording.sample_rng,
                model: recording.model.path,
                data: recording.data.path,
                dir,
                path: file,
            });
        }
        Ok(recording)
    }
}

impl Recording {
    /// Every value the scan cannot use as recorded (and a schema this probity does not read).
    fn findings(&self) -> Findings {
        let mut found = Findings::default();
        if self.schema != SCHEMA {
            found.push(
                Code::UnsupportedSchema,
                &["schema"],
                format!("schema '{}' is not '{SCHEMA}'", self.schema),
                Some("record the baseline again with this probity".into()),
            );
        }
        found.sha256(&["model", "sha256"], "`model.sha256`", &self.model.sha256);
        found.sha256(&["data", "sha256"], "`data.sha256`", &self.data.sha256);
        if let Some(t) = &self.tokenizer {
            found.sha256(&["tokenizer", "sha256"], "`tokenizer.sha256`", &t.sha256);
        }
        for (i, b) in self.batteries.iter().enumerate() {
            found.sha256(
                &["batteries", &i.to_string(), "sha256"],
                &format!("`sha256` of battery `{}`", b.name),
                &b.sha256,
            );
        }
        predictions(&mut found, &["clean"], "the clean predictions", &self.clean, None);
        let inputs = self.clean.class.len();
        let mut keys = std::collections::BTreeSet::new();
        for (i, probe) in self.probes.iter().enumerate() {
            let i = i.to_string();
            if !keys.insert(probe.key.as_str()) {
                found.push(
                    Code::DuplicateId,
                    &["probes", &i, "key"],
                    format!("probe `{}` is recorded more than once", probe.key),
                    None,
                );
            }
            if let Some((j, index)) = probe.indices.iter().enumerate().find(|(_, index)| **index >= inputs) {
                found.push(
                    Code::BadValue,
                    &["probes", &i, "indices", &j.to_string()],
                    format!("input index {index} of probe `{}` is past the {inputs} clean predictions", probe.key),
                    None,
                );
            }
            let n = Some(probe.indices.len());
            predictions(&mut found, &["probes", &i, "probed"], &format!("probe `{}`", probe.key), &probe.probed, n);
            if let Some(control) = &probe.control {
                let what = format!("the control of probe `{}`", probe.key);
                predictions(&mut found, &["probes", &i, "control"], &what, control, n);
            }
        }
        found
    }
}

/// One input per entry in every list of `p` (`expected` of them when known), and confidences that
/// are probabilities. Only the first bad confidence is reported: one is enough to re-record.
fn predictions(found: &mut Findings, path: &[&str], what: &str, p: &Predictions, expected: Option<usize>) {
    let n = expected.unwrap_or(p.class.len());
    for (field, len) in [("class", p.class.len()), ("confidence", p.confidence.len()), ("top", p.top.len())] {
        if len != n {
            let mut at = path.to_vec();
            at.push(field);
            found.push(
                Code::BadValue,
                &at,
                format!("{what} has {len} `{field}` entries for {n} inputs"),
                Some("the recording is truncated or edited; record the baseline again".into()),
            );
        }
    }
    if let Some((j, c)) = p.confidence.iter().enumerate().find(|(_, c)| !UNIT.contains(f64::from(**c))) {
        let j = j.to_string();
        let mut at = path.to_vec();
        at.extend(["confidence", &j]);
        found.range(&at, &format!("confidence {j} of {what}"), f64::from(*c), UNIT);
    }
}

/// Explains a recorded derivation the file did not name but was given by default.
fn unrecorded_note(recorded: &str) -> &'static str {
    if recorded == crate::transform::SAMPLE_RNG_UNRECORDED {
        " (baselines that name none were all recorded with it)"
    } else {
        ""
    }
}

fn short(sha: &str) -> &str {
    &sha[..sha.len().min(12)]
}
