//! `probity scan`: its arguments, and the argument groups that `baseline record` and
//! `calibrate` share with it. The scan itself is [`crate::app::scan`].

use std::path::PathBuf;

use clap::Args;

use super::values::{ChannelOrderArg, CorrectionArg, FormatArg, InconclusiveArg, ScoreKindArg};
use super::{Cli, EngineArgs, print_stdout};
use crate::error::{Failure, InconclusiveAs, Outcome};

/// Where the clean inputs come from and how to read them.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Clean inputs: .npz (x, optional y), .npy, a folder of PNG/JPEG images, text: .jsonl
    /// ({"text": ..., "label": ...} per line) or .txt (one text per line), or table rows: .csv
    /// with a header (numeric features and a `label` column).
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Text models: the model's tokenizer.json (default: tokenizer.json beside the model).
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Image folder data: size to resize to, as WxH.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub image_size: Option<(u32, u32)>,
    /// Image folder data: channel order the model expects.
    #[arg(long, value_enum, default_value_t = ChannelOrderArg::Rgb)]
    pub channel_order: ChannelOrderArg,
    /// Image folder data: per-channel mean subtracted from intensities in [0, 1] (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "M,..")]
    pub mean: Vec<f32>,
    /// Image folder data: per-channel std dividing intensities in [0, 1] (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "S,..")]
    pub std: Vec<f32>,
    /// Image folder data: layout the model expects.
    #[arg(long, value_enum, default_value_t = LayoutArg::Nchw)]
    pub layout: LayoutArg,
    /// What the data is, where its extension does not say: `tabular` reads an .npz `x` [N, F]
    /// as feature rows (by default .csv is tabular, .jsonl/.txt text, the rest images).
    #[arg(long, value_enum, value_name = "MODALITY")]
    pub modality: Option<ModalityArg>,
    /// Tabular CSV data: the column holding the labels (default: `label`, if the header has it).
    #[arg(long, value_name = "NAME")]
    pub label_column: Option<String>,
}

/// The modality `--modality` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ModalityArg {
    Image,
    Text,
    Tabular,
}

/// Which probes run, and with which seed.
#[derive(Debug, Clone, Args)]
pub struct ProbeArgs {
    /// Battery file (repeatable). Default: the bundled batteries for the model's modality.
    #[arg(long = "battery", value_name = "PATH")]
    pub batteries: Vec<PathBuf>,
    /// Seed replacing every battery's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Treat the classifier output as probabilities or logits instead of detecting it.
    #[arg(long, value_enum)]
    pub scores: Option<ScoreKindArg>,
    /// Model queries each search probe may spend (replaces the batteries' budgets).
    #[arg(long, value_name = "QUERIES", value_parser = clap::value_parser!(u64).range(100..))]
    pub search_budget: Option<u64>,
    /// Wall-clock target for the whole scan (e.g. 90s, 10m, 1h): search budgets shrink to fit
    /// the model's measured speed; the report records the budgets granted (pass them back with
    /// --search-budget to reproduce a scan exactly).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub time_budget: Option<std::time::Duration>,
}

/// A duration as `90s`, `10m`, `1h` or plain seconds.
fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let seconds = match unit {
        "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("unknown unit '{unit}' in '{text}': write e.g. 90s, 10m or 1h")),
    };
    match number.parse::<f64>() {
        Ok(n) if n.is_finite() && n > 0.0 => Ok(std::time::Duration::from_secs_f64(n * seconds)),
        _ => Err(format!("'{text}' is not a positive duration: write e.g. 90s, 10m or 1h")),
    }
}

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The ONNX model under test.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Known-good model to compare with on the same inputs (repeatable).
    #[arg(long = "reference", value_name = "MODEL")]
    pub references: Vec<PathBuf>,
    /// Recorded baseline folder (from `probity baseline record`) to compare with.
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// Compare with a baseline recorded with other batteries, data or seeds (matching probes only).
    #[arg(long, requires = "baseline")]
    pub allow_baseline_mismatch: bool,
    /// Excuse baseline disagreements where the recorded top-2 scores differ by less than this.
    #[arg(long, value_name = "T", default_value_t = 0.0, requires = "baseline")]
    pub baseline_tolerance: f32,
    /// Calibrated per-probe thresholds (from `probity calibrate`).
    #[arg(long, value_name = "FILE")]
    pub thresholds: Option<PathBuf>,
    /// Multiple-testing correction: holm (gating default) or bh (exploratory).
    #[arg(long, value_enum, default_value_t = CorrectionArg::Holm)]
    pub correction: CorrectionArg,
    /// Labelled data: a clean accuracy below this (0 to 1) makes the scan inconclusive.
    #[arg(long, value_name = "X", value_parser = parse_share)]
    pub min_clean_accuracy: Option<f64>,
    /// Exit code of an inconclusive scan: 4 (default), or pass (0) / fail (1); the report still
    /// says inconclusive and records the choice.
    #[arg(long, value_enum, value_name = "AS", default_value_t = InconclusiveArg::Inconclusive)]
    pub inconclusive: InconclusiveArg,
    /// Output folder for the reports (default: reports/<model>-<UTC time>-<random>). It must
    /// not exist yet or be empty; the reports appear in it all at once when the scan ends.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace --out if it already holds files (an earlier report), instead of refusing.
    #[arg(long)]
    pub force: bool,
    /// Report formats to write, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "json,md")]
    pub format: Vec<FormatArg>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    Nchw,
    Nhwc,
}

/// A share in [0, 1], e.g. `0.8`.
pub(super) fn parse_share(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!("'{text}' is not a share between 0 and 1: write e.g. 0.8 for 80%")),
    }
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or("expected WxH, e.g. 32x32")?;
    let parse =
        |v: &str| v.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or(format!("'{v}' is not a positive size"));
    Ok((parse(w)?, parse(h)?))
}

/// Runs `probity scan` and prints its summary and the files written.
pub fn run(cli: &Cli, args: &ScanArgs) -> Result<Outcome, Failure> {
    let scanned = crate::app::scan::scan(&super::options::scan(cli, args))?;
    let mut lines = format!("{}\n", scanned.report.summary);
    for path in scanned.written {
        lines.push_str(&format!("wrote {}\n", path.display()));
    }
    print_stdout(&lines);
    Ok(InconclusiveAs::from(args.inconclusive).outcome(scanned.report.verdict))
}
