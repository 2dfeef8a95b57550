//! `probity attest verify --model M --attestation A`: is this model file the one that passed?
//!
//! Exit 0 with a `verified:` line when the model's SHA-256 (and every external data file's)
//! matches the attestation and the attested scan passed; exit 1 with one `rejected:` line per
//! problem (a digest mismatch names the expected and the actual digest; an attested scan that
//! failed is rejected too); exit 2 when the attestation or the model cannot be read.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::print_stdout;
use crate::attest::{self, Statement, Verification};
use crate::error::{Failure, Outcome};

#[derive(Debug, Args)]
pub struct AttestArgs {
    #[command(subcommand)]
    pub command: AttestCommand,
}

#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Check that a model file (and its external data) is the one an attestation says passed.
    Verify(VerifyArgs),
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The model file to check.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// The attestation.intoto.json written by `probity scan --format intoto`.
    #[arg(long, value_name = "PATH")]
    pub attestation: PathBuf,
}

pub fn run(args: &AttestArgs) -> Result<Outcome, Failure> {
    match &args.command {
        AttestCommand::Verify(args) => verify(args),
    }
}

fn verify(args: &VerifyArgs) -> Result<Outcome, Failure> {
    let statement = Statement::read(&args.attestation).map_err(Failure::invalid)?;
    match attest::verify(&args.model, &statement).map_err(Failure::invalid)? {
        Verification::Verified { model_sha256, external_data } => {
            let p = &statement.predicate;
            let batteries: Vec<String> = p.batteries.iter().map(|b| format!("{} v{}", b.name, b.version)).collect();
            let external = match external_data {
                0 => String::new(),
                n => format!(" and its {n} external data file(s)"),
            };
            print_stdout(&format!(
                "verified: {} (sha256 {model_sha256}){external} passed probity {} with {} on ONNX Runtime {} ({})\n",
                args.model.display(),
                p.scanner.version,
                batteries.join(", "),
                p.onnxruntime.version,
                p.execution_provider.used,
            ));
            Ok(Outcome::Pass)
        }
        Verification::Rejected { problems } => {
            let lines: String = problems.iter().map(|p| format!("rejected: {p}\n")).collect();
            print_stdout(&lines);
            Ok(Outcome::Fail)
        }
    }
}
