//! `probity battery ...`: tools for battery authors, none of which needs a model.
//!
//! `validate FILE...` checks battery files and reports every problem in them: each valid file
//! gets an `ok:` line on stdout; every diagnostic of every invalid file goes to stderr; the exit
//! code is 2 when any file has a problem (see `error.rs`). `schema` prints the JSON Schema of
//! battery files (`battery::schema`); `new` writes a commented starter battery
//! (`battery::starter`). `check` is the exception that runs models: a battery's detection and
//! false-alarm rates over known models (`app::check`); it exits 1 when a probe false-alarms
//! significantly more often than its alpha.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::{Args, Subcommand};

use super::scan::DataArgs;
use super::{Cli, EngineArgs, print_stderr, print_stdout};
use crate::app::check::CheckOptions;
use crate::app::preview::PreviewOptions;
use crate::app::setup::{ProbeOptions, Setup};
use crate::battery::{self, spec};
use crate::error::{Failure, Outcome};
use crate::output::OutputDir;

#[derive(Debug, Args)]
pub struct BatteryArgs {
    #[command(subcommand)]
    pub command: BatteryCommand,
}

#[derive(Debug, Subcommand)]
pub enum BatteryCommand {
    /// Check battery files, reporting every problem with its line and column.
    Validate(ValidateArgs),
    /// Print the JSON Schema (draft 2020-12) of battery files, for editors.
    Schema,
    /// Write a commented starter battery to edit into your own.
    New(NewArgs),
    /// Show what a battery's probes do to inputs, without a model (per probe: an image PNG grid
    /// or a text HTML page of clean | probed | matched control, a table of the tabular values
    /// changed; a search's candidate space). Text batteries need --tokenizer.
    Preview(Box<PreviewArgs>),
    /// Run a battery over known-clean and known-backdoored models and seeds: per probe, the
    /// detection and false-alarm rates and the inputs it needs; exit 1 on too many false alarms.
    Check(Box<CheckArgs>),
}

#[derive(Debug, Args)]
pub struct PreviewArgs {
    /// The battery file to preview.
    #[arg(value_name = "BATTERY")]
    pub battery: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Only this probe (by id).
    #[arg(long, value_name = "ID")]
    pub probe: Option<String>,
    /// Samples (rows) per probe.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub count: u32,
    /// Replaces the battery's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// The folder to write the previews into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Replace --out if it already holds files.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The battery file to check.
    #[arg(value_name = "BATTERY")]
    pub battery: PathBuf,
    /// Models known to be clean.
    #[arg(long, value_name = "MODEL", num_args = 1..)]
    pub clean: Vec<PathBuf>,
    /// Models known to be backdoored (with a trigger the battery is meant to catch).
    #[arg(long, value_name = "MODEL", num_args = 1..)]
    pub backdoored: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Seeds per model (seed, seed+1, ...; base: --seed or the battery's).
    #[arg(long, value_name = "K", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Replaces the battery's seed as the first seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Also write check.md and check.json into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace --out if it already holds files.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// Which inputs the battery's probes transform.
    #[arg(long, value_enum)]
    pub modality: StarterModality,
    /// Write the battery here (refused when the file exists) instead of to stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// The modalities with a starter battery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StarterModality {
    Image,
    Text,
}

impl From<StarterModality> for spec::Modality {
    fn from(value: StarterModality) -> Self {
        match value {
            StarterModality::Image => Self::Image,
            StarterModality::Text => Self::Text,
        }
    }
}

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Battery files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

pub fn run(cli: &Cli, args: &BatteryArgs) -> Result<Outcome, Failure> {
    match &args.command {
        BatteryCommand::Validate(args) => validate(args),
        BatteryCommand::Schema => {
            print_stdout(&battery::schema::json());
            Ok(Outcome::Pass)
        }
        BatteryCommand::New(args) => new(args),
        BatteryCommand::Check(args) => check(cli, args),
        BatteryCommand::Preview(args) => preview(args),
    }
}

fn preview(args: &PreviewArgs) -> Result<Outcome, Failure> {
    let options = PreviewOptions {
        battery: args.battery.clone(),
        data: args.data.options(),
        probe: args.probe.clone(),
        count: args.count as usize,
        seed: args.seed,
        out: args.out.clone(),
        force: args.force,
    };
    for file in crate::app::preview::preview(&options)? {
        print_stdout(&format!("{}: {} ({})\n", file.probe, file.path.display(), file.summary));
    }
    Ok(Outcome::Pass)
}

fn check(cli: &Cli, args: &CheckArgs) -> Result<Outcome, Failure> {
    let options = CheckOptions {
        clean: args.clean.clone(),
        backdoored: args.backdoored.clone(),
        setup: Setup {
            ort_lib: cli.ort_lib.clone(),
            data: args.data.options(),
            probes: ProbeOptions { batteries: vec![args.battery.clone()], seed: args.seed, ..ProbeOptions::default() },
            engine: args.engine.options(),
        },
        seeds: args.seeds,
    };
    // Checked before anything slow runs.
    let out = match &args.out {
        Some(dir) => Some(OutputDir::create(dir, args.force).map_err(Failure::invalid)?),
        None => None,
    };
    let checked = crate::app::check::check(&options)?;
    let markdown = crate::app::check::markdown(&checked);
    if let Some(out) = out {
        let json = serde_json::to_string_pretty(&checked).map_err(Failure::runtime)? + "\n";
        for (name, bytes) in [("check.md", markdown.as_bytes()), ("check.json", json.as_bytes())] {
            crate::output::write_atomic(&out.path().join(name), bytes)
                .map_err(|e| Failure::runtime(anyhow!("writing {name}: {e}")))?;
        }
        out.commit().map_err(|e| Failure::runtime(anyhow!("moving the check into place: {e}")))?;
    }
    print_stdout(&markdown);
    let noisy = checked.too_many_false_alarms();
    if noisy.is_empty() {
        return Ok(Outcome::Pass);
    }
    let ids: Vec<&str> = noisy.iter().map(|p| p.id.as_str()).collect();
    print_stderr(&format!(
        "{} false-alarm(s) significantly more often than its alpha on the clean models: {}\n",
        if ids.len() == 1 { "1 probe" } else { "probes" },
        ids.join(", ")
    ));
    Ok(Outcome::Fail)
}

fn new(args: &NewArgs) -> Result<Outcome, Failure> {
    let modality = spec::Modality::from(args.modality);
    let starter = battery::starter::text(modality)
        .ok_or_else(|| Failure::invalid(anyhow!("no starter battery for modality {}", modality.name())))?;
    let Some(out) = &args.out else {
        print_stdout(starter);
        return Ok(Outcome::Pass);
    };
    // `create_new`: an existing battery is never overwritten.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(out)
        .and_then(|mut file| std::io::Write::write_all(&mut file, starter.as_bytes()));
    match written {
        Ok(()) => {
            print_stdout(&format!("wrote {}\n", out.display()));
            Ok(Outcome::Pass)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Failure::invalid(anyhow!("{} already exists; choose another --out or remove it first", out.display())))
        }
        Err(e) => Err(Failure::invalid(anyhow!("cannot write {}: {e}", out.display()))),
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
