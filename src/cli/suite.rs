//! `probity suite run|merge|report`: the arguments, and the results printed and mapped to exit
//! codes. The work is [`crate::suite`].
//!
//! `run` and `merge` exit 1 if any model failed, else 2 or 3 if a model could not be scanned
//! (its data or model unusable, or a runtime failure; the suite's other models still ran), else
//! 4 if any was inconclusive, else 0. A bad suite file is exit 2 with every problem listed.
//! `report` exits 0, or 1 with `--fail-on-regression` when a model fails tonight that did not
//! fail the previous night.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::{Cli, EngineArgs, print_stdout};
use crate::error::{Failure, Outcome};
use crate::suite::shard::Shard;
use crate::suite::{ItemVerdict, SuiteResults, merge, run, trend};

#[derive(Debug, Args)]
pub struct SuiteArgs {
    #[command(subcommand)]
    pub command: SuiteCommand,
}

#[derive(Debug, Subcommand)]
pub enum SuiteCommand {
    /// Scan every model of a suite file; reruns reuse complete results.
    Run(RunArgs),
    /// Combine shard results folders into one.
    Merge(MergeArgs),
    /// Write a Markdown and an HTML dashboard comparing nights.
    Report(ReportArgs),
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The suite file (schema: probity/suite/v1).
    #[arg(value_name = "SUITE")]
    pub suite: PathBuf,
    /// Results folder: items/<key>/ per model and suite.json (created if missing).
    #[arg(long, value_name = "DIR")]
    pub results: PathBuf,
    /// Rescan models whose result is already stored.
    #[arg(long)]
    pub force: bool,
    /// Run only shard I of N (0 <= I < N), e.g. --shard "$JOB_COMPLETION_INDEX/4".
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
    /// Scans to run at once, each with an equal share of the cores (for small models).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub jobs: u16,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct MergeArgs {
    /// The shards' results folders.
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Folder to write the merged results into (new or empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace --out if it already holds files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Tonight's results folder.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// Earlier nights' results folders, oldest first.
    #[arg(long, value_name = "DIR", num_args = 1..)]
    pub history: Vec<PathBuf>,
    /// Folder for suite-report.md and suite-report.html (default: DIR).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Exit 1 when a model fails tonight that did not fail the previous night.
    #[arg(long)]
    pub fail_on_regression: bool,
}

pub fn run(cli: &Cli, args: &SuiteArgs) -> Result<Outcome, Failure> {
    match &args.command {
        SuiteCommand::Run(a) => suite_run(cli, a),
        SuiteCommand::Merge(a) => suite_merge(a),
        SuiteCommand::Report(a) => suite_report(a),
    }
}

fn suite_run(cli: &Cli, args: &RunArgs) -> Result<Outcome, Failure> {
    let options = run::RunOptions {
        suite: args.suite.clone(),
        results: args.results.clone(),
        force: args.force,
        shard: args.shard,
        jobs: usize::from(args.jobs),
        ort_lib: cli.ort_lib.clone(),
        engine: args.engine.options(),
        progress: super::progress::suite(cli.quiet),
    };
    let done = run::run(&options)?;
    let mut lines = String::new();
    for m in &done.results.models {
        let how = if done.kept.contains(&m.model) { "kept" } else { "ran " };
        lines.push_str(&format!("{how} {:<12} {}: {}\n", m.verdict.name(), m.model, m.summary));
    }
    lines.push_str(&format!(
        "{} models: {} ran, {} kept from an earlier run\nwrote {}\n",
        done.results.models.len(),
        done.ran.len() + done.errors.len(),
        done.kept.len(),
        done.written.display()
    ));
    print_stdout(&lines);
    let invalid = done.errors.iter().all(|e| matches!(e.failure, Failure::InvalidInput(_)));
    outcome(&done.results, invalid)
}

fn suite_merge(args: &MergeArgs) -> Result<Outcome, Failure> {
    let merged = merge::merge(&args.dirs, &args.out, args.force)?;
    print_stdout(&format!(
        "merged {} folders: {} models ({} pass, {} fail, {} inconclusive, {} error)\nwrote {}\n",
        args.dirs.len(),
        merged.totals.models,
        merged.totals.pass,
        merged.totals.fail,
        merged.totals.inconclusive,
        merged.totals.error,
        args.out.join(crate::suite::RESULTS_FILE).display()
    ));
    outcome(&merged, false)
}

/// The exit code of a suite's results (see the module docs); `invalid`: every error was the
/// user's input (exit 2 rather than 3).
fn outcome(results: &SuiteResults, invalid: bool) -> Result<Outcome, Failure> {
    if results.totals.fail == 0 && results.totals.error > 0 {
        let failed: Vec<String> = results
            .models
            .iter()
            .filter(|m| m.verdict == ItemVerdict::Error)
            .map(|m| format!("  {}: {}", m.model, m.summary))
            .collect();
        let error = anyhow::anyhow!("{} models could not be scanned:\n{}", failed.len(), failed.join("\n"));
        return Err(if invalid { Failure::invalid(error) } else { Failure::runtime(error) });
    }
    Ok(results.outcome())
}

fn suite_report(args: &ReportArgs) -> Result<Outcome, Failure> {
    let nights = trend::read_nights(&args.dir, &args.history).map_err(Failure::invalid)?;
    let t = trend::trend(&nights);
    let out = args.out.clone().unwrap_or_else(|| args.dir.clone());
    crate::output::check_folder(&out).map_err(Failure::invalid)?;
    let written = trend::write(&out, &t).map_err(Failure::runtime)?;
    let mut lines = format!(
        "{} nights; since the previous night: {} new failures, {} recovered\n",
        t.nights.len(),
        t.new_failures.len(),
        t.recovered.len()
    );
    for model in &t.new_failures {
        lines.push_str(&format!("new failure: {model}\n"));
    }
    for path in written {
        lines.push_str(&format!("wrote {}\n", path.display()));
    }
    print_stdout(&lines);
    Ok(if args.fail_on_regression && t.regressed() { Outcome::Fail } else { Outcome::Pass })
}
