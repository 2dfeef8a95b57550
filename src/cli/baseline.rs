//! `probity baseline record`: run the batteries on an accepted model and store what it did,
//! for later `probity scan --baseline DIR`. The recording itself is [`crate::app::baseline`].

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::scan::{DataArgs, ProbeArgs};
use super::{Cli, EngineArgs, print_stdout};
use crate::error::{Failure, Outcome};

#[derive(Debug, Args)]
pub struct BaselineArgs {
    #[command(subcommand)]
    pub command: BaselineCommand,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Record the model's predictions on every probe into DIR/baseline.json.
    Record(Box<RecordArgs>),
}

#[derive(Debug, Args)]
pub struct RecordArgs {
    /// The accepted model.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Folder to write baseline.json into. It must not exist yet or be empty; it appears when
    /// the recording is complete.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace --out if it already holds files, instead of refusing.
    #[arg(long)]
    pub force: bool,
    /// Labelled data: refuse to record when clean accuracy is below this (0 to 1).
    #[arg(long, value_name = "X", value_parser = super::scan::parse_share)]
    pub min_clean_accuracy: Option<f64>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(cli: &Cli, args: &BaselineArgs) -> Result<Outcome, Failure> {
    match &args.command {
        BaselineCommand::Record(args) => record(cli, args),
    }
}

fn record(cli: &Cli, args: &RecordArgs) -> Result<Outcome, Failure> {
    let recorded = crate::app::baseline::record(&super::options::record(cli, args))?;
    print_stdout(&format!(
        "recorded {} probes x {} inputs ({} queries) into {}\n",
        recorded.probes,
        recorded.inputs,
        recorded.queries,
        recorded.path.display()
    ));
    Ok(Outcome::Pass)
}
