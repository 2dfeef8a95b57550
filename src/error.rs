//! How a run ends, and the exit code a CI gate sees.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | pass: every gating probe passed (or the command succeeded) |
//! | 1 | fail: at least one gating probe failed |
//! | 2 | invalid input: a model, data file, battery, flag or library that cannot be used as given |
//! | 3 | runtime failure: something broke while running (inference error, I/O while writing) |
//! | 4 | inconclusive: the scan ran but cannot support a pass (too few inputs for a probe to fail, NaN or constant model outputs, clean accuracy at chance or below `--min-clean-accuracy`); `--inconclusive pass\|fail` maps it to 0 or 1 |
//! | 130, 143, 129 | interrupted by SIGINT, SIGTERM or SIGHUP; staged outputs removed (`output.rs`) |

use std::process::ExitCode;

use serde::{Deserialize, Serialize};

/// Outcome of a command that ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
    /// The scan ran but cannot support a pass (exit 4 unless `--inconclusive` maps it).
    Inconclusive,
}

impl Outcome {
    /// The number a CI gate sees.
    pub fn code(self) -> u8 {
        match self {
            Self::Pass => 0,
            Self::Fail => 1,
            Self::Inconclusive => 4,
        }
    }

    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(self.code())
    }
}

/// What an inconclusive scan exits with (`--inconclusive`). Exit 4 by default, so that a CI step
/// fails rather than passing on data that could not have caught anything; a pipeline that
/// prefers otherwise says so, and the report records the choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InconclusiveAs {
    /// Exit 4.
    #[default]
    Inconclusive,
    /// Exit 0, as a pass (the report still says inconclusive).
    Pass,
    /// Exit 1, as a fail (the report still says inconclusive).
    Fail,
}

impl InconclusiveAs {
    /// The value as `--inconclusive` and `report.json` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Inconclusive => "inconclusive",
            Self::Pass => "pass",
            Self::Fail => "fail",
        }
    }

    /// The outcome of a scan with this verdict.
    pub fn outcome(self, verdict: crate::verdict::Verdict) -> Outcome {
        use crate::verdict::Verdict;
        match (verdict, self) {
            (Verdict::Pass, _) | (Verdict::Inconclusive, Self::Pass) => Outcome::Pass,
            (Verdict::Fail, _) | (Verdict::Inconclusive, Self::Fail) => Outcome::Fail,
            (Verdict::Inconclusive, Self::Inconclusive) => Outcome::Inconclusive,
        }
    }
}

/// Why a command could not finish.
#[derive(Debug)]
pub enum Failure {
    /// The user's input cannot be used; the message says which and how to fix it.
    InvalidInput(anyhow::Error),
    /// Something broke while running.
    Runtime(anyhow::Error),
}

impl Failure {
    pub fn invalid(error: impl Into<anyhow::Error>) -> Self {
        Self::InvalidInput(error.into())
    }

    pub fn runtime(error: impl Into<anyhow::Error>) -> Self {
        Self::Runtime(error.into())
    }

    pub fn exit_code(&self) -> ExitCode {
        match self {
            Self::InvalidInput(_) => ExitCode::from(2),
            Self::Runtime(_) => ExitCode::from(3),
        }
    }

    pub fn error(&self) -> &anyhow::Error {
        match self {
            Self::InvalidInput(e) | Self::Runtime(e) => e,
        }
    }
}

impl From<crate::onnxruntime::RuntimeError> for Failure {
    fn from(e: crate::onnxruntime::RuntimeError) -> Self {
        Self::invalid(e)
    }
}

impl From<crate::engine::EngineError> for Failure {
    fn from(e: crate::engine::EngineError) -> Self {
        use crate::engine::EngineError as E;
        match e {
            E::Run(_) => Self::runtime(e),
            _ => Self::invalid(e),
        }
    }
}
