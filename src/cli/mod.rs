//! Command-line interface: what the user typed ([`Cli`] and its argument groups, one file per
//! command), turned into the library's options (`options.rs`), handed to [`crate::app`], and
//! the result printed and mapped to an exit code.

mod attest;
mod baseline;
mod battery;
mod calibrate;
mod inspect;
mod options;
mod progress;
mod report;
mod scan;
mod suite;
mod values;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::{EngineOptions, ExecutionProvider};
use crate::error::{Failure, Outcome};
use values::{ConvAlgorithmSearchArg, OptimizationLevelArg};

/// Behavioural backdoor testing for ONNX classifiers.
#[derive(Debug, Parser)]
#[command(name = "probity", version, about, long_about = None)]
pub struct Cli {
    /// ONNX Runtime shared library to load instead of the pinned build (also: ORT_DYLIB_PATH).
    #[arg(long, global = true, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,

    /// No progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Describe a model: signature, SHA-256, opsets, producer, and the runtime that loads it.
    Inspect(inspect::InspectArgs),
    /// Work with battery files.
    Battery(battery::BatteryArgs),
    /// Scan a model with trigger and robustness batteries; exit 1 on evidence of a backdoor.
    Scan(Box<scan::ScanArgs>),
    /// Record a model's behaviour on the batteries, for later `scan --baseline`.
    Baseline(baseline::BaselineArgs),
    /// Derive per-probe thresholds from models known to be clean.
    Calibrate(Box<calibrate::CalibrateArgs>),
    /// Re-render a report.json in other formats, or compare two reports.
    Report(report::ReportArgs),
    /// Verify that a model file is the one an attestation says passed, or sign an attestation.
    Attest(attest::AttestArgs),
    /// Scan every model of a suite file (resumable, shardable), merge shards, report trends.
    Suite(Box<suite::SuiteArgs>),
}

/// Flags that decide how models are run; shared by every command that runs one.
#[derive(Debug, Clone, Args)]
pub struct EngineArgs {
    /// Execution provider: cpu, cuda or cuda:DEVICE.
    #[arg(long, default_value = "cpu", value_name = "EP")]
    pub ep: ExecutionProvider,
    /// Provider to fall back to when the requested one cannot be registered (only: cpu).
    #[arg(long, value_name = "EP", value_parser = ["cpu"])]
    pub ep_fallback: Option<String>,
    /// Intra-op threads for ONNX Runtime (default: ONNX Runtime decides).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Graph optimisation level.
    #[arg(long, value_enum, default_value_t = OptimizationLevelArg::All)]
    pub graph_optimization: OptimizationLevelArg,
    /// Samples per inference call (default: chosen from the input size, 64 to 1024).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub batch_size: Option<u32>,
    /// Name of the classifier output (default: the first float output shaped [N, C]).
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// How cuDNN picks convolution algorithms on CUDA (exhaustive benchmarks each new shape).
    #[arg(long, value_enum, default_value_t = ConvAlgorithmSearchArg::Heuristic, value_name = "HOW")]
    pub cudnn_conv_algo_search: ConvAlgorithmSearchArg,
}

impl EngineArgs {
    pub fn options(&self) -> EngineOptions {
        EngineOptions {
            execution_provider: self.ep,
            fallback_to_cpu: self.ep_fallback.is_some(),
            threads: self.threads.map(usize::from),
            optimization: self.graph_optimization.into(),
            batch_size: self.batch_size.map(|b| b as usize),
            output: self.output.clone(),
            conv_algorithm_search: self.cudnn_conv_algo_search.into(),
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<Outcome, Failure> {
    match &cli.command {
        Command::Inspect(args) => inspect::run(&cli, args),
        Command::Battery(args) => battery::run(&cli, args),
        Command::Scan(args) => scan::run(&cli, args),
        Command::Baseline(args) => baseline::run(&cli, args),
        Command::Calibrate(args) => calibrate::run(&cli, args),
        Command::Report(args) => report::run(args),
        Command::Attest(args) => attest::run(args),
        Command::Suite(args) => suite::run(&cli, args),
    }
}

/// Prints to stdout; a closed pipe (`probity ... | head`) is not an error. (`println!` would
/// panic on it: Rust ignores SIGPIPE, so the write fails with EPIPE instead of ending the process.)
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

/// Prints to stderr; a closed stderr is not an error either (`eprintln!` would panic on it).
pub use crate::app::warn as print_stderr;
