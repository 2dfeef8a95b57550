//! Suites: the nightly job over many models (`probity suite run|merge|report`).
//!
//! - [`spec`]: the suite file (`schema: probity/suite/v1`), validated the battery way;
//! - [`key`]: what an item's result depends on, as content digests, and the folder name made
//!   of them (results are reused only when every digest matches);
//! - [`shard`]: the deterministic partition of a suite's items over `--shard I/N`;
//! - [`run`]: one scan per model through [`crate::app::scan`], each stored whole under its key,
//!   skipped on a rerun when already complete; writes `suite.json`;
//! - [`merge`]: shard folders combined into one results folder;
//! - [`trend`]: nights compared (verdicts, strongest attack success, new failures, cost) as a
//!   Markdown and an HTML dashboard.
//!
//! This file holds the results model, `suite.json` ([`SuiteResults`]), which every command
//! above writes or reads; `docs/suites.md` documents it.

pub mod glob;
pub mod key;
pub mod merge;
pub mod run;
pub mod shard;
pub mod spec;
pub mod trend;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::battery::spec::Category;
use crate::error::Outcome;
use crate::report::Report;
use crate::verdict::Verdict;

/// Version of the `suite.json` schema.
pub const RESULTS_SCHEMA: &str = "probity/suite-results/v1";

/// The file a results folder is described by.
pub const RESULTS_FILE: &str = "suite.json";

/// The folder (inside a results folder) holding one sub-folder per item, named by its key.
pub const ITEMS_DIR: &str = "items";

/// `suite.json`: what a suite run (or a merge of shard runs) found, one entry per model.
///
/// Timing fields (`started`, `elapsed_seconds`) are the only ones that differ between two runs
/// of the same suite on the same inputs, sharded or not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteResults {
    pub schema: String,
    pub probity_version: String,
    pub suite: SuiteSection,
    /// The part of the suite this folder holds (absent when it holds all of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<shard::Shard>,
    /// The worst verdict over the models: error, fail, inconclusive, pass.
    pub verdict: ItemVerdict,
    pub totals: Totals,
    /// In the suite's order (shards: their share of it).
    pub models: Vec<ModelResult>,
    /// When the run started, UTC (`YYYYMMDDTHHMMSSZ`); a merge keeps the earliest shard's.
    pub started: String,
    /// Wall time of the run; a merge keeps the longest shard's.
    pub elapsed_seconds: f64,
}

/// The suite file a result came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuiteSection {
    pub name: String,
    pub path: PathBuf,
    pub sha256: String,
    /// Models in the whole suite (a shard holds some of them).
    pub models: usize,
}

/// Counts over the models, and the cost of the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub models: usize,
    pub pass: usize,
    pub fail: usize,
    pub inconclusive: usize,
    pub error: usize,
    /// Model inferences of every scan, including those reused from an earlier run.
    pub queries: u64,
}

/// A model's verdict in a suite: a scan's verdict, or `error` when no scan finished (the model
/// or its data could not be used; `error` says why). Errors are not stored, so a rerun retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ItemVerdict {
    Pass,
    Inconclusive,
    Error,
    Fail,
}

impl ItemVerdict {
    pub fn name(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Inconclusive => "inconclusive",
            Self::Error => "error",
            Self::Fail => "fail",
        }
    }
}

impl From<Verdict> for ItemVerdict {
    fn from(verdict: Verdict) -> Self {
        match verdict {
            Verdict::Pass => Self::Pass,
            Verdict::Fail => Self::Fail,
            Verdict::Inconclusive => Self::Inconclusive,
        }
    }
}

/// One model's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    /// The model path as the suite names it.
    pub model: String,
    /// Position in the suite (merges order by it).
    pub index: usize,
    pub verdict: ItemVerdict,
    /// The item's `report.json`, relative to the results folder (absent for an error).
    pub report: Option<PathBuf>,
    /// The item's key: the folder under `items/` ([`key::ItemKey::id`]).
    pub key: String,
    /// What the key is made of.
    pub digests: key::ItemKey,
    /// The scan's one-line summary, or why there is no scan.
    pub summary: String,
    /// The trigger probe with the highest attack success rate.
    pub strongest: Option<Strongest>,
    pub queries: u64,
    /// Wall time of the scan (of the run that made it, when reused).
    pub elapsed_seconds: f64,
}

/// A scan's strongest trigger probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Strongest {
    pub battery: String,
    pub probe: String,
    pub attack_success_rate: f64,
}

impl Strongest {
    /// The trigger probe with the highest attack success rate (the first of equals).
    pub fn of(report: &Report) -> Option<Self> {
        report
            .probes
            .iter()
            .filter(|p| p.category == Category::Trigger)
            .filter_map(|p| p.attack_success_rate.map(|rate| (p, rate)))
            .fold(None, |best: Option<(&crate::report::ProbeReport, f64)>, (p, rate)| match best {
                Some((_, top)) if top >= rate => best,
                _ => Some((p, rate)),
            })
            .map(|(p, rate)| Self { battery: p.battery.clone(), probe: p.id.clone(), attack_success_rate: rate })
    }
}

impl SuiteResults {
    /// The results of `models`, with the verdict and totals they add up to.
    pub fn new(
        suite: SuiteSection,
        shard: Option<shard::Shard>,
        models: Vec<ModelResult>,
        started: String,
        elapsed_seconds: f64,
    ) -> Self {
        let count = |v: ItemVerdict| models.iter().filter(|m| m.verdict == v).count();
        let totals = Totals {
            models: models.len(),
            pass: count(ItemVerdict::Pass),
            fail: count(ItemVerdict::Fail),
            inconclusive: count(ItemVerdict::Inconclusive),
            error: count(ItemVerdict::Error),
            queries: models.iter().map(|m| m.queries).sum(),
        };
        let verdict = models.iter().map(|m| m.verdict).max().unwrap_or(ItemVerdict::Pass);
        Self {
            schema: RESULTS_SCHEMA.into(),
            probity_version: env!("CARGO_PKG_VERSION").into(),
            suite,
            shard,
            verdict,
            totals,
            models,
            started,
            elapsed_seconds,
        }
    }

    /// Reads `DIR/suite.json`.
    pub fn read(dir: &Path) -> Result<Self, SuiteError> {
        let path = dir.join(RESULTS_FILE);
        let text = std::fs::read_to_string(&path).map_err(|cause| SuiteError::Read { path: path.clone(), cause })?;
        let results: Self = serde_json::from_str(&text)
            .map_err(|e| SuiteError::NotResults { path: path.clone(), detail: e.to_string() })?;
        if results.schema != RESULTS_SCHEMA {
            let detail = format!("schema `{}`, this probity reads `{RESULTS_SCHEMA}`", results.schema);
            return Err(SuiteError::NotResults { path, detail });
        }
        Ok(results)
    }

    /// Writes `DIR/suite.json` atomically.
    pub fn write(&self, dir: &Path) -> std::io::Result<PathBuf> {
        let path = dir.join(RESULTS_FILE);
        let mut bytes = serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?;
        bytes.push(b'\n');
        crate::output::write_atomic(&path, &bytes)?;
        Ok(path)
    }

    /// The outcome a CI gate sees for the suite's scans: fail if any model failed, else
    /// inconclusive if any was, else pass. (Errors are reported separately, see `cli/suite.rs`.)
    pub fn outcome(&self) -> Outcome {
        if self.totals.fail > 0 {
            Outcome::Fail
        } else if self.totals.inconclusive > 0 {
            Outcome::Inconclusive
        } else {
            Outcome::Pass
        }
    }
}

/// Why a suite command could not finish. Each message names the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    #[error("cannot read {path}: {cause}; pass a folder written by `probity suite run` or `suite merge`")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{path} is not a suite results file ({detail}); pass a folder written by `probity suite run`")]
    NotResults { path: PathBuf, detail: String },
    #[error("{path}: {what} {file} cannot be read ({cause}); check that it exists and is readable")]
    Input { path: PathBuf, what: &'static str, file: PathBuf, cause: std::io::Error },
    #[error("{0}")]
    Merge(String),
}
