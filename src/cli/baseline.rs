//! `probity baseline record`: run the batteries on an accepted model and store what it did,
//! for later `probity scan --baseline DIR`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};

use super::scan::{
    DataArgs, Prepared, ProbeArgs, engine_options, floor_needs_labels, inputs, load_engine, prepare, scan_failure,
    text_encoder,
};
use super::{Cli, EngineArgs, print_stdout};
use crate::digest::FileDigest;
use crate::error::{Failure, Outcome};
use crate::output::OutputDir;
use crate::runner::{self, Models, ScanSettings};

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
    let out = OutputDir::create(&args.out, args.force).map_err(Failure::invalid)?;
    let Prepared { batteries, data: dataset, runtime } = prepare(cli, &args.data, &args.probes, &args.engine)?;
    floor_needs_labels(args.min_clean_accuracy, &dataset)?;
    let options = engine_options(&args.engine, &batteries);
    let mut engine = load_engine(runtime, &args.model, &options)?;
    let encoder = text_encoder(&dataset, &args.data, &engine)?;
    let settings = ScanSettings {
        seed: args.probes.seed,
        scores: args.probes.scores,
        search_budget: args.probes.search_budget,
        time_budget: args.probes.time_budget,
        progress: super::progress::handle(cli.quiet),
        min_clean_accuracy: args.min_clean_accuracy,
        ..ScanSettings::default()
    };
    let mut models = Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
    let outcome =
        runner::scan(&mut models, &*inputs(&dataset, encoder.as_ref()), &batteries, &settings).map_err(scan_failure)?;
    // Issue 14: later scans replay this recording as the known-good behaviour; a model with
    // NaN or constant outputs, or at chance on this data (a wrong tokenizer), is no such thing.
    if !outcome.health.is_empty() {
        let reasons: Vec<String> = outcome.health.iter().map(|h| format!("{}: {}", h.code.name(), h.message)).collect();
        return Err(Failure::invalid(anyhow::anyhow!(
            "not recording a baseline of {} on {}: {}",
            engine.model_path.display(),
            dataset.path().display(),
            reasons.join("; ")
        )));
    }
    let model = FileDigest { path: engine.model_path.clone(), sha256: engine.model_sha256.clone() };
    let tokenizer = encoder.as_ref().map(|e| FileDigest { path: e.path.clone(), sha256: e.sha256.clone() });
    let recording = outcome.recording(
        model,
        dataset.digest(),
        tokenizer,
        &batteries,
        runtime.info.clone(),
        engine.provider.clone(),
    );
    let staged = recording
        .write(out.path())
        .with_context(|| format!("writing the baseline into a temporary folder beside {}", args.out.display()))
        .map_err(Failure::runtime)?;
    let path = out.final_path(&staged);
    out.commit()
        .with_context(|| format!("moving the baseline into {}", args.out.display()))
        .map_err(Failure::runtime)?;
    print_stdout(&format!(
        "recorded {} probes x {} inputs ({} queries) into {}\n",
        outcome.probes.len(),
        dataset.len(),
        outcome.queries,
        path.display()
    ));
    Ok(Outcome::Pass)
}
