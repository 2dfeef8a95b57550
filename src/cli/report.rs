//! `probity report render REPORT --format ...` re-renders a `report.json` in other formats;
//! `probity report diff OLD NEW` lists what changed significantly between two scans.
//!
//! Neither runs a model. `render` exits 0 once the files are written, whatever the scan's
//! verdict; `diff` exits 0 when nothing changed significantly and 1 when something did (the
//! rule is in `report/diff.rs` and `docs/reports.md`). An unreadable report is exit 2.

use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow};
use clap::{Args, Subcommand};

use super::print_stdout;
use super::values::{self, FormatArg};
use crate::error::{Failure, Outcome};
use crate::report::{self, Format, Report};

#[derive(Debug, Args)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub command: ReportCommand,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Re-render a report.json as json, md, html, junit, sarif or intoto.
    Render(RenderArgs),
    /// List probes whose verdict or numbers changed significantly; exit 1 when any did.
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// The report.json a scan wrote.
    #[arg(value_name = "REPORT")]
    pub report: PathBuf,
    /// Formats to write, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', required = true)]
    pub format: Vec<FormatArg>,
    /// Folder to write into (default: the report's folder); files of the same names in it are
    /// replaced.
    #[arg(long, value_name = "DIR", conflicts_with = "stdout")]
    pub out: Option<PathBuf>,
    /// Print the one requested format to stdout instead of writing files.
    #[arg(long)]
    pub stdout: bool,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    /// The earlier report.json.
    #[arg(value_name = "OLD")]
    pub old: PathBuf,
    /// The later report.json.
    #[arg(value_name = "NEW")]
    pub new: PathBuf,
    /// Print the differences as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: &ReportArgs) -> Result<Outcome, Failure> {
    match &args.command {
        ReportCommand::Render(args) => render(args),
        ReportCommand::Diff(args) => diff(args),
    }
}

/// Reads a `report.json`, refusing other schemas.
pub(super) fn read_report(path: &Path) -> Result<Report, Failure> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("cannot read report {}", path.display()))
        .map_err(Failure::invalid)?;
    let value: serde_json::Value = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not JSON", path.display()))
        .map_err(Failure::invalid)?;
    let schema = value.get("schema").and_then(|s| s.as_str()).unwrap_or("");
    if schema != report::SCHEMA {
        return Err(Failure::invalid(anyhow!(
            "{} has schema '{schema}', not '{}'; pass the report.json that `probity scan` wrote",
            path.display(),
            report::SCHEMA
        )));
    }
    serde_json::from_value(value)
        .with_context(|| format!("{} is not a valid {} report", path.display(), report::SCHEMA))
        .map_err(Failure::invalid)
}

fn render(args: &RenderArgs) -> Result<Outcome, Failure> {
    let report = read_report(&args.report)?;
    if args.stdout {
        let [format] = args.format.as_slice() else {
            return Err(Failure::invalid(anyhow!("--stdout prints one format; pass exactly one to --format")));
        };
        let bytes = Format::from(*format).render(&report);
        print_stdout(&String::from_utf8_lossy(&bytes));
        return Ok(Outcome::Pass);
    }
    let out = match &args.out {
        Some(dir) => dir.clone(),
        None => args.report.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(),
    };
    crate::output::check_folder(&out).map_err(Failure::invalid)?;
    let written = report::write(&out, &report, &values::formats(&args.format))
        .with_context(|| format!("writing into {}", out.display()))
        .map_err(Failure::runtime)?;
    let lines: String = written.iter().map(|p| format!("wrote {}\n", p.display())).collect();
    print_stdout(&lines);
    Ok(Outcome::Pass)
}

fn diff(args: &DiffArgs) -> Result<Outcome, Failure> {
    let old = read_report(&args.old)?;
    let new = read_report(&args.new)?;
    let diff = report::diff::diff(&old, &new);
    if args.json {
        let mut text = serde_json::to_string_pretty(&diff).map_err(Failure::runtime)?;
        text.push('\n');
        print_stdout(&text);
    } else {
        print_stdout(&diff.render_text());
    }
    Ok(if diff.is_empty() { Outcome::Pass } else { Outcome::Fail })
}
