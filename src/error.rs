//! How a run ends, and the exit code a CI gate sees.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | pass: every gating probe passed (or the command succeeded) |
//! | 1 | fail: at least one gating probe failed |
//! | 2 | invalid input: a model, data file, battery, flag or library that cannot be used as given |
//! | 3 | runtime failure: something broke while running (inference error, I/O while writing) |
//! | 130, 143, 129 | interrupted by SIGINT, SIGTERM or SIGHUP; staged outputs removed (`output.rs`) |

use std::process::ExitCode;

/// Outcome of a command that ran to completion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail,
}

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        match self {
            Self::Pass => ExitCode::SUCCESS,
            Self::Fail => ExitCode::from(1),
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
