//! `probity battery validate FILE...`: check battery files and report every problem in them.
//!
//! Needs no model and no ONNX Runtime. Each valid file gets an `ok:` line on stdout; every
//! diagnostic of every invalid file goes to stderr; the exit code is 2 when any file has a
//! problem (see `error.rs`).

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};

use super::{print_stderr, print_stdout};
use crate::battery::{self, spec};
use crate::error::{Failure, Outcome};

#[derive(Debug, Args)]
pub struct BatteryArgs {
    #[command(subcommand)]
    pub command: BatteryCommand,
}

#[derive(Debug, Subcommand)]
pub enum BatteryCommand {
    /// Check battery files, reporting every problem with its line and column.
    Validate(ValidateArgs),
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Battery files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(args: &BatteryArgs) -> Result<Outcome, Failure> {
    match &args.command {
        BatteryCommand::Validate(args) => validate(args),
    }
}

fn validate(args: &ValidateArgs) -> Result<Outcome, Failure> {
    let mut invalid_files = 0;
    let mut errors = 0;
    for file in &args.files {
        match battery::load(file) {
            Ok(battery) => print_stdout(&format!("ok: {} — {}\n", file.display(), summary(&battery))),
            Err(diagnostics) => {
                // Blank lines between files as between diagnostics.
                if errors > 0 {
                    print_stderr("\n");
                }
                print_stderr(&diagnostics.to_string());
                invalid_files += 1;
                errors += diagnostics.len();
            }
        }
    }
    if invalid_files == 0 {
        return Ok(Outcome::Pass);
    }
    // A blank line between the last diagnostic and the summary that `main` prints.
    print_stderr("\n");
    let problems = format!("{errors} {}", plural(errors, "problem"));
    let message = match args.files.as_slice() {
        [file] => format!("invalid battery {}: {problems}", file.display()),
        files => format!("{invalid_files} of {} battery files invalid: {problems}", files.len()),
    };
    Err(Failure::invalid(anyhow!(message)))
}

/// `NAME vVERSION, N probes (T trigger, R robustness)`, and `, A adversarial` when there are.
fn summary(battery: &spec::Battery) -> String {
    let count = |category| battery.probes.iter().filter(|p| p.category == category).count();
    let (triggers, robustness) = (count(spec::Category::Trigger), count(spec::Category::Robustness));
    let adversarial = match count(spec::Category::Adversarial) {
        0 => String::new(),
        n => format!(", {n} adversarial"),
    };
    format!(
        "{} v{}, {} {} ({triggers} trigger, {robustness} robustness{adversarial})",
        battery.name,
        battery.version,
        battery.probes.len(),
        plural(battery.probes.len(), "probe")
    )
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 { word.to_string() } else { format!("{word}s") }
}
