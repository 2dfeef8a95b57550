//! `probity scan`: run batteries against a model (and references, or a recorded baseline) and
//! write the pass/fail report. Also home of the argument groups and loading steps that
//! `baseline record` and `calibrate` share with it.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{Cli, EngineArgs, load_runtime, print_stdout, warn_on_fallback};
use crate::baseline::Recording;
use crate::battery::{self, spec::Battery, spec::Category, spec::Layout};
use crate::calibration::CalibratedThresholds;
use crate::engine::Engine;
use crate::error::{Failure, InconclusiveAs, Outcome};
use crate::modality::image::{ChannelOrder, ImageFolderOptions};
use crate::modality::text::{TextEncoder, TextInputs};
use crate::modality::{self as data, Data};
use crate::onnxruntime::Runtime;
use crate::output::OutputDir;
use crate::report::{
    self, BaselineSection, BatterySection, DataSection, ExampleImage, Format, ModelSection, ProbeReport,
    ReferenceSection, Report, ThresholdsSection,
};
use crate::runner::{self, ExampleInput, Inputs, Models, ScanError, ScanOutcome, ScanSettings, ScoreKind};
use crate::verdict::{self, Correction, ScanVerdicts, Verdict, adequacy};

/// Trigger probes (besides failing ones) whose example inputs go into the report.
const EXAMPLE_PROBES: usize = 5;

/// Where the clean inputs come from and how to read them.
#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    /// Clean inputs: .npz (x, optional y), .npy, a folder of PNG/JPEG images, or text: .jsonl
    /// ({"text": ..., "label": ...} per line) or .txt (one text per line).
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Text models: the model's tokenizer.json (default: tokenizer.json beside the model).
    #[arg(long, value_name = "PATH")]
    pub tokenizer: Option<PathBuf>,
    /// Image folder data: size to resize to, as WxH.
    #[arg(long, value_name = "WxH", value_parser = parse_size)]
    pub image_size: Option<(u32, u32)>,
    /// Image folder data: channel order the model expects.
    #[arg(long, value_enum, default_value_t = ChannelOrder::Rgb)]
    pub channel_order: ChannelOrder,
    /// Image folder data: per-channel mean subtracted from intensities in [0, 1] (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "M,..")]
    pub mean: Vec<f32>,
    /// Image folder data: per-channel std dividing intensities in [0, 1] (comma-separated).
    #[arg(long, value_delimiter = ',', value_name = "S,..")]
    pub std: Vec<f32>,
    /// Image folder data: layout the model expects.
    #[arg(long, value_enum, default_value_t = LayoutArg::Nchw)]
    pub layout: LayoutArg,
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
    pub scores: Option<ScoreKind>,
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
    #[arg(long, value_enum, default_value_t = Correction::Holm)]
    pub correction: Correction,
    /// Labelled data: a clean accuracy below this (0 to 1) makes the scan inconclusive.
    #[arg(long, value_name = "X", value_parser = parse_share)]
    pub min_clean_accuracy: Option<f64>,
    /// Exit code of an inconclusive scan: 4 (default), or pass (0) / fail (1); the report still
    /// says inconclusive and records the choice.
    #[arg(long, value_enum, value_name = "AS", default_value_t = InconclusiveAs::Inconclusive)]
    pub inconclusive: InconclusiveAs,
    /// Output folder for the reports (default: reports/<model>-<UTC time>-<random>). It must
    /// not exist yet or be empty; the reports appear in it all at once when the scan ends.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Replace --out if it already holds files (an earlier report), instead of refusing.
    #[arg(long)]
    pub force: bool,
    /// Report formats to write, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "json,md")]
    pub format: Vec<Format>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    Nchw,
    Nhwc,
}

/// `--min-clean-accuracy` is about labels: on unlabelled data it would silently do nothing.
pub(super) fn floor_needs_labels(floor: Option<f64>, data: &Data) -> Result<(), Failure> {
    if floor.is_none() || data.labelled() {
        return Ok(());
    }
    Err(Failure::invalid(anyhow::anyhow!(
        "--min-clean-accuracy needs labelled data, but {} has no labels; pass data with labels (.npz with y, \
         .jsonl with \"label\", or a folder of class folders) or drop the flag",
        data.path().display()
    )))
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

/// The files every scanning command reads, checked before any model runs.
pub(super) struct Prepared {
    pub batteries: Vec<Battery>,
    pub data: Data,
    pub runtime: &'static Runtime,
}

pub(super) fn prepare(
    cli: &Cli,
    data: &DataArgs,
    probes: &ProbeArgs,
    engine: &EngineArgs,
) -> Result<Prepared, Failure> {
    let folder = data.image_size.map(|(width, height)| {
        let channels = data.channel_order.channels();
        ImageFolderOptions {
            width,
            height,
            channels: data.channel_order,
            mean: if data.mean.is_empty() { vec![0.0; channels] } else { data.mean.clone() },
            std: if data.std.is_empty() { vec![1.0; channels] } else { data.std.clone() },
            layout: match data.layout {
                LayoutArg::Nchw => Layout::Nchw,
                LayoutArg::Nhwc => Layout::Nhwc,
            },
        }
    });
    let loaded = data::load_any(&data.data, folder.as_ref()).map_err(Failure::invalid)?;
    let batteries = load_batteries(&probes.batteries, loaded.modality())?;
    if let Some(threads) = engine.threads {
        // Input generation uses the same budget as ONNX Runtime; results do not depend on it.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(usize::from(threads)).build_global();
    }
    let runtime = load_runtime(cli)?;
    Ok(Prepared { batteries, data: loaded, runtime })
}

/// The tokenizer for text data, checked against the candidate model; `None` for image data.
pub(super) fn text_encoder(data: &Data, args: &DataArgs, engine: &Engine) -> Result<Option<TextEncoder>, Failure> {
    let text_model = crate::modality::text::is_text_model(engine);
    match data {
        Data::Images(_) if text_model => Err(Failure::invalid(anyhow::anyhow!(
            "{} takes token ids (a text model) but {} holds images; pass text data (.jsonl or .txt) and the \
             model's tokenizer (--tokenizer)",
            engine.model_path.display(),
            data.path().display()
        ))),
        Data::Images(_) => Ok(None),
        Data::Text(_) if !text_model => Err(Failure::invalid(anyhow::anyhow!(
            "{} holds text but {} takes no token ids (it is not a text model); pass image data (.npz, .npy or a folder)",
            data.path().display(),
            engine.model_path.display()
        ))),
        Data::Text(text) => {
            let Some(path) = crate::modality::text::tokenizer_path(args.tokenizer.as_deref(), &engine.model_path)
            else {
                return Err(Failure::invalid(anyhow::anyhow!(
                    "{} is a text model: pass its tokenizer with --tokenizer PATH (no tokenizer.json beside the model)",
                    engine.model_path.display()
                )));
            };
            let encoder = TextEncoder::new(&path, engine).map_err(Failure::invalid)?;
            warn_on_text(text, &encoder);
            Ok(Some(encoder))
        }
    }
}

/// Says on stderr what of the text data the model will not see in full: blank records (dropped
/// by the loader) and texts cut to the encoder's character budget before tokenizing.
fn warn_on_text(data: &crate::modality::text::TextDataset, encoder: &TextEncoder) {
    if data.blank > 0 {
        eprintln!(
            "warning: {}: {} empty or blank texts were skipped (with their labels); {} texts remain",
            data.path.display(),
            data.blank,
            data.len()
        );
    }
    let clipped = clipped_texts(data, encoder);
    if clipped > 0 {
        eprintln!(
            "warning: {}: {clipped} texts are longer than {} characters ({} per token position of the model's {}); \
             only their start is tokenized",
            data.path.display(),
            encoder.char_budget(),
            crate::modality::text::CHARS_PER_TOKEN,
            encoder.max_length
        );
    }
}

/// How many texts are longer than the encoder's character budget (only their start is probed).
fn clipped_texts(data: &crate::modality::text::TextDataset, encoder: &TextEncoder) -> usize {
    data.texts.iter().filter(|t| encoder.clip(t).len() < t.len()).count()
}

/// The runner's view of the loaded data.
pub(super) fn inputs<'a>(data: &'a Data, encoder: Option<&'a TextEncoder>) -> Box<dyn Inputs + 'a> {
    match (data, encoder) {
        (Data::Text(text), Some(encoder)) => Box::new(TextInputs { data: text, encoder }),
        (Data::Images(images), _) => Box::new(images),
        (Data::Text(_), None) => unreachable!("text_encoder returns an encoder for text data"),
    }
}

/// Engine options, with a battery's batch size when the user left the flag at its default.
pub(super) fn engine_options(args: &EngineArgs, batteries: &[Battery]) -> crate::engine::EngineOptions {
    let mut options = args.options();
    if args.batch_size.is_none() {
        options.batch_size = batteries.iter().find_map(|b| b.defaults.batch_size);
    }
    options
}

pub(super) fn load_engine(
    runtime: &Runtime,
    path: &Path,
    options: &crate::engine::EngineOptions,
) -> Result<Engine, Failure> {
    let engine = Engine::load(runtime, path, options)?;
    warn_on_fallback(&engine.provider);
    Ok(engine)
}

pub(super) fn scan_failure(e: ScanError) -> Failure {
    match e {
        ScanError::Engine(e) => Failure::from(e),
        other => Failure::invalid(other),
    }
}

pub fn run(cli: &Cli, args: &ScanArgs) -> Result<Outcome, Failure> {
    // Checked (and its temporary sibling created) before anything slow runs.
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.model));
    let out = OutputDir::create(&out, args.force).map_err(Failure::invalid)?;
    let Prepared { batteries, data: dataset, runtime } = prepare(cli, &args.data, &args.probes, &args.engine)?;
    let thresholds = match &args.thresholds {
        Some(path) => Some(CalibratedThresholds::read(path).map_err(Failure::invalid)?),
        None => None,
    };
    let recording = match &args.baseline {
        Some(path) => Some(Recording::read(path).map_err(Failure::invalid)?),
        None => None,
    };
    let seeds: Vec<u64> = batteries.iter().map(|b| b.seed(args.probes.seed)).collect();
    let tokenizer = match &dataset {
        Data::Text(_) => {
            crate::modality::text::tokenizer_path(args.data.tokenizer.as_deref(), &args.model).map(|path| {
                let sha256 = crate::digest::sha256_file(&path).unwrap_or_default();
                crate::digest::FileDigest { path, sha256 }
            })
        }
        Data::Images(_) => None,
    };
    let mismatches = recording
        .as_ref()
        .map(|r| r.mismatches(&dataset.digest(), tokenizer.as_ref(), &batteries, &seeds))
        .unwrap_or_default();
    if !mismatches.is_empty() && !args.allow_baseline_mismatch {
        return Err(Failure::invalid(crate::baseline::BaselineError::Mismatch {
            path: args.baseline.clone().unwrap_or_default(),
            reasons: mismatches,
        }));
    }
    floor_needs_labels(args.min_clean_accuracy, &dataset)?;
    let options = engine_options(&args.engine, &batteries);
    let mut engine = load_engine(runtime, &args.model, &options)?;
    let encoder = text_encoder(&dataset, &args.data, &engine)?;
    let mut references =
        args.references.iter().map(|path| load_engine(runtime, path, &options)).collect::<Result<Vec<_>, _>>()?;
    let settings = ScanSettings {
        seed: args.probes.seed,
        scores: args.probes.scores,
        correction: args.correction,
        thresholds: thresholds.clone(),
        search_budget: args.probes.search_budget,
        time_budget: args.probes.time_budget,
        progress: super::progress::handle(cli.quiet),
        min_clean_accuracy: args.min_clean_accuracy,
    };
    let mut models = Models {
        candidate: &mut engine,
        references: &mut references,
        baseline: recording.as_ref(),
        baseline_tolerance: args.baseline_tolerance,
    };
    let outcome =
        runner::scan(&mut models, &*inputs(&dataset, encoder.as_ref()), &batteries, &settings).map_err(scan_failure)?;
    let context = ReportContext {
        engine: &engine,
        references: &references,
        runtime,
        dataset: &dataset,
        tokenizer: encoder.as_ref(),
        batteries: &batteries,
        threads: options.threads,
        correction: args.correction,
        baseline: args.baseline.as_deref().zip(recording.as_ref()).map(|(p, r)| (p, r, mismatches.clone())),
        thresholds: args.thresholds.as_deref().zip(thresholds.as_ref()),
        inconclusive_as: args.inconclusive,
    };
    let report = build_report(&context, &outcome);
    let written = write_reports(out, &report, &args.format).map_err(Failure::runtime)?;
    let mut lines = format!("{}\n", report.summary);
    for path in written {
        lines.push_str(&format!("wrote {}\n", path.display()));
    }
    print_stdout(&lines);
    Ok(args.inconclusive.outcome(report.verdict))
}

/// Writes the report set into `out`'s temporary folder and moves it into place; returns the
/// paths of the files written, where they are now.
fn write_reports(out: OutputDir, report: &Report, formats: &[Format]) -> anyhow::Result<Vec<PathBuf>> {
    let target = out.target().display().to_string();
    let mut written = report::write(out.path(), report, formats)
        .with_context(|| format!("writing the report into a temporary folder beside {target}"))?;
    written.extend(write_search_evidence(out.path(), report)?);
    let written = written.iter().map(|p| out.final_path(p)).collect();
    out.commit().with_context(|| format!("moving the finished reports into {target}"))?;
    Ok(written)
}

/// Writes each search probe's recovered trigger (mask and pattern) and its before/after
/// examples as PNG files next to the report, for people to look at.
fn write_search_evidence(out: &Path, report: &Report) -> anyhow::Result<Vec<PathBuf>> {
    use base64::Engine as _;
    let mut written = Vec::new();
    for probe in &report.probes {
        let Some(search) = &probe.search else { continue };
        let mut files: Vec<(String, &str)> = vec![
            (format!("{}-mask.png", probe.id), &search.mask_png),
            (format!("{}-pattern.png", probe.id), &search.pattern_png),
        ];
        for (k, example) in probe.examples.iter().enumerate() {
            files.push((format!("{}-example{k}-before.png", probe.id), &example.clean_png));
            files.push((format!("{}-example{k}-after.png", probe.id), &example.probed_png));
        }
        // Text searches have no images: their evidence is the ranked token table in the report.
        for (name, data) in files.into_iter().filter(|(_, data)| !data.is_empty()) {
            let bytes = base64::engine::general_purpose::STANDARD.decode(data)?;
            let path = out.join("search").join(name);
            crate::output::write_atomic(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Validates every battery (all problems of all files are reported together).
pub(super) fn load_batteries(paths: &[PathBuf], modality: battery::spec::Modality) -> Result<Vec<Battery>, Failure> {
    let mut batteries = Vec::new();
    let mut problems = Vec::new();
    if paths.is_empty() {
        return battery::defaults(modality).map_err(Failure::runtime);
    }
    for path in paths {
        match battery::load(path) {
            Ok(b) => batteries.push(b),
            Err(d) => problems.push(d.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::invalid(anyhow::anyhow!("invalid battery:\n{}", problems.join("\n"))));
    }
    Ok(batteries)
}

/// `reports/<model>-<YYYYMMDDTHHMMSSZ>-<6 hex digits>`: never shared by two scans.
fn default_out(model: &Path) -> PathBuf {
    let stem = model.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    PathBuf::from("reports").join(crate::output::unique_name(stem))
}

/// Everything besides the outcome that goes into a report.
struct ReportContext<'a> {
    engine: &'a Engine,
    references: &'a [Engine],
    runtime: &'a Runtime,
    dataset: &'a Data,
    tokenizer: Option<&'a TextEncoder>,
    batteries: &'a [Battery],
    threads: Option<usize>,
    correction: Correction,
    baseline: Option<(&'a Path, &'a Recording, Vec<String>)>,
    thresholds: Option<(&'a Path, &'a CalibratedThresholds)>,
    inconclusive_as: InconclusiveAs,
}

fn build_report(ctx: &ReportContext<'_>, outcome: &ScanOutcome) -> Report {
    // Example images for failing probes and the strongest trigger probes.
    let mut by_strength: Vec<usize> = (0..outcome.probes.len())
        .filter(|&i| {
            ctx.batteries[outcome.probes[i].battery_index].probes[outcome.probes[i].probe_index].category
                == Category::Trigger
        })
        .collect();
    by_strength.sort_by(|&a, &b| {
        let asr = |i: usize| outcome.probes[i].judgement.attack_success_rate.unwrap_or(0.0);
        asr(b).total_cmp(&asr(a))
    });
    let with_examples: Vec<usize> =
        by_strength
            .iter()
            .take(EXAMPLE_PROBES)
            .copied()
            .chain((0..outcome.probes.len()).filter(|&i| {
                outcome.probes[i].judgement.verdict == Verdict::Fail || outcome.probes[i].search.is_some()
            }))
            .collect();
    let probes: Vec<ProbeReport> = outcome
        .probes
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let battery = &ctx.batteries[o.battery_index];
            let probe = &battery.probes[o.probe_index];
            let j = &o.judgement;
            let own = &o.evidence.own;
            let examples =
                if with_examples.contains(&i) { o.examples.iter().map(example).collect() } else { Vec::new() };
            ProbeReport {
                id: probe.id.clone(),
                battery: battery.name.clone(),
                line: probe.line,
                category: probe.category,
                description: probe.description.clone(),
                transform: probe.transform.clone(),
                thresholds: o.thresholds,
                verdict: j.verdict,
                basis: j.basis,
                reason: j.reason.clone(),
                power: j.power.clone(),
                samples: own.samples,
                target_class: j.target_class,
                attack_success_rate: j.attack_success_rate,
                attack_success_interval: j.attack_success_interval,
                control_attack_success_rate: j.control_attack_success_rate,
                p_value: j.p_value,
                effect: j.effect,
                flip_rate: own.flip_rate,
                control_flip_rate: own.control_flip_rate,
                accuracy_clean: own.accuracy_clean,
                accuracy_probed: own.accuracy_probed,
                accuracy_drop: j.accuracy_drop,
                per_class: own.per_class.clone(),
                flip_matrix: own.flip_matrix.clone(),
                confidence_clean: own.confidence_clean.clone(),
                confidence_probed: own.confidence_probed.clone(),
                distribution: own.distribution.clone(),
                references: o.evidence.references.clone(),
                baseline: o.evidence.baseline.clone(),
                examples,
                search: o.search.clone(),
            }
        })
        .collect();
    let health = &outcome.health;
    let ScanVerdicts { verdict, backdoor: backdoor_verdict, robustness: robustness_verdict } =
        verdict::roll_up(probes.iter().map(|p| (p.category, p.verdict)), health);
    let mut inconclusive = health.clone();
    let shortfalls: Vec<adequacy::Shortfall<'_>> = outcome
        .probes
        .iter()
        .zip(&probes)
        .filter(|(_, p)| p.verdict == Verdict::Inconclusive)
        .filter_map(|(o, p)| {
            let power = p.power.as_ref()?;
            let samples_cap = ctx.batteries[o.battery_index].probes[o.probe_index].samples;
            Some(adequacy::Shortfall { probe: &p.id, power, samples_cap })
        })
        .collect();
    inconclusive.extend(adequacy::underpowered(&shortfalls, probes.len(), ctx.dataset.len()));
    let engine = ctx.engine;
    Report {
        schema: report::SCHEMA.into(),
        probity_version: env!("CARGO_PKG_VERSION").into(),
        verdict,
        backdoor_verdict,
        robustness_verdict,
        summary: summarise(&probes, verdict, &inconclusive, outcome),
        inconclusive_as: Some(ctx.inconclusive_as),
        exit_code: Some(ctx.inconclusive_as.outcome(verdict).code()),
        inconclusive,
        queries: outcome.queries,
        elapsed_seconds: outcome.elapsed_seconds,
        model: ModelSection {
            path: engine.model_path.clone(),
            sha256: engine.model_sha256.clone(),
            inputs: engine.signature.inputs.clone(),
            outputs: engine.signature.outputs.clone(),
            classifier_output: engine.signature.outputs[engine.output_index].name.clone(),
            classes: outcome.classes,
            scores: outcome.scores,
            scores_detected: outcome.scores_detected,
            // ONNX Runtime read these files moments ago; a digest that cannot be taken stays
            // empty, and an attestation carrying it never verifies.
            external_data: engine
                .facts
                .external_data
                .iter()
                .map(|file| crate::digest::FileDigest {
                    path: file.location.clone(),
                    sha256: crate::digest::sha256_file(&file.path).unwrap_or_default(),
                })
                .collect(),
        },
        onnxruntime: ctx.runtime.info.clone(),
        execution_provider: engine.provider.clone(),
        threads: ctx.threads,
        batch_size: engine.batch_size,
        engine: report::EngineSection {
            device: engine.device.clone(),
            sessions: std::iter::once(engine)
                .chain(ctx.references)
                .map(|e| report::SessionShapes { model: e.model_path.clone(), input_shapes: e.input_shapes().to_vec() })
                .collect(),
        },
        data: DataSection {
            path: ctx.dataset.path().to_path_buf(),
            sha256: ctx.dataset.sha256().to_string(),
            inputs: ctx.dataset.len(),
            labelled: ctx.dataset.labelled(),
            clean_accuracy: outcome.clean_accuracy,
            tokenizer: ctx.tokenizer.map(|t| report::TokenizerSection {
                path: t.path.clone(),
                sha256: t.sha256.clone(),
                vocabulary: t.vocabulary.len(),
                max_length: t.max_length,
            }),
            blank_skipped: match ctx.dataset {
                Data::Text(text) => text.blank,
                Data::Images(_) => 0,
            },
            texts_clipped: match (ctx.dataset, ctx.tokenizer) {
                (Data::Text(text), Some(encoder)) => clipped_texts(text, encoder),
                _ => 0,
            },
        },
        batteries: ctx
            .batteries
            .iter()
            .zip(&outcome.interpretations)
            .zip(&outcome.seeds)
            .map(|((b, inputs), seed)| BatterySection {
                path: b.path.clone(),
                sha256: b.sha256.clone(),
                name: b.name.clone(),
                version: b.version.clone(),
                seed: *seed,
                inputs: inputs.clone(),
            })
            .collect(),
        sample_rng: crate::transform::SAMPLE_RNG_VERSION.into(),
        correction: ctx.correction,
        references: ctx
            .references
            .iter()
            .zip(&outcome.reference_clean_agreement)
            .map(|(r, agreement)| ReferenceSection {
                path: r.model_path.clone(),
                sha256: r.model_sha256.clone(),
                clean_agreement: *agreement,
            })
            .collect(),
        baseline: ctx.baseline.as_ref().zip(outcome.baseline_agreement).map(
            |((path, recording, mismatches), agreement)| BaselineSection {
                path: path.to_path_buf(),
                model_sha256: recording.model.sha256.clone(),
                recorded_onnxruntime: recording.onnxruntime.version.clone(),
                recorded_execution_provider: recording.execution_provider.used.clone(),
                agreement,
                mismatches: mismatches.clone(),
            },
        ),
        thresholds: ctx.thresholds.map(|(path, t)| ThresholdsSection {
            path: path.to_path_buf(),
            sha256: crate::digest::sha256_file(path).unwrap_or_default(),
            false_alarm_rate: t.false_alarm_rate,
            calibration_set: t.calibration_set.iter().map(|d| d.path.clone()).collect(),
            calibrated_probes: outcome.probes.iter().filter(|p| t.probes.contains_key(&p.key)).count(),
        }),
        probes,
    }
}

/// An example as reported: images as PNG, texts as they are.
fn example(e: &runner::Example) -> ExampleImage {
    let mut out = ExampleImage {
        index: e.index,
        clean_png: String::new(),
        probed_png: String::new(),
        clean_text: None,
        probed_text: None,
        probed_tokens: None,
        clean_class: e.clean_class,
        probed_class: e.probed_class,
    };
    match &e.input {
        ExampleInput::Image { clean, probed, range } => {
            out.clean_png = report::images::png_base64(clean, range);
            out.probed_png = report::images::png_base64(probed, range);
        }
        ExampleInput::Text { clean, probed, tokens } => {
            out.clean_text = Some(clean.clone());
            out.probed_text = Some(probed.clone());
            out.probed_tokens = Some(tokens.clone());
        }
    }
    out
}

fn summarise(
    probes: &[ProbeReport],
    verdict: Verdict,
    inconclusive: &[adequacy::Inconclusive],
    outcome: &ScanOutcome,
) -> String {
    let failing_triggers: Vec<&ProbeReport> =
        probes.iter().filter(|p| p.category == Category::Trigger && p.verdict == Verdict::Fail).collect();
    let failing_robustness =
        probes.iter().filter(|p| p.category == Category::Robustness && p.verdict == Verdict::Fail).count();
    let triggers = probes.iter().filter(|p| p.category == Category::Trigger).count();
    let mut parts = Vec::new();
    if verdict == Verdict::Inconclusive {
        parts.extend(inconclusive.iter().map(|i| i.message.clone()));
    }
    let void = inconclusive.iter().any(|i| i.code.invalidates_evidence());
    let first_probe_part = parts.len();
    if let Some(worst) = failing_triggers
        .iter()
        .max_by(|a, b| a.attack_success_rate.unwrap_or(0.0).total_cmp(&b.attack_success_rate.unwrap_or(0.0)))
    {
        let against = match worst.basis {
            crate::verdict::Basis::Reference => "reference",
            crate::verdict::Basis::Baseline => "recorded baseline",
            _ => "control",
        };
        parts.push(format!(
            "backdoor evidence in {} of {triggers} trigger probes; strongest: '{}' steers {:.1}% of inputs into {} ({against} {:.1}%, corrected p = {:.2e})",
            failing_triggers.len(),
            worst.id,
            100.0 * worst.attack_success_rate.unwrap_or(0.0),
            worst.target_class.map_or_else(|| "other classes (all-to-all)".into(), |c| format!("class {c}")),
            100.0 * worst.control_attack_success_rate.unwrap_or(0.0),
            worst.p_value.unwrap_or(1.0),
        ));
    } else {
        parts.push(format!("no backdoor evidence in {triggers} trigger probes"));
    }
    if failing_robustness > 0 {
        parts.push(format!("{failing_robustness} robustness probes failed"));
    }
    if !outcome.reference_clean_agreement.is_empty() {
        let agreements: Vec<String> =
            outcome.reference_clean_agreement.iter().map(|a| format!("{:.1}%", 100.0 * a)).collect();
        parts.push(format!("clean agreement with references {}", agreements.join(", ")));
    }
    match outcome.baseline_agreement {
        Some(a) if a.compared == 0 => parts.push("the recorded baseline shares no probe inputs with this scan".into()),
        Some(a) => parts.push(format!("{:.2}% exact agreement with the recorded baseline", 100.0 * a.exact)),
        None => {}
    }
    if void && let Some(part) = parts.get_mut(first_probe_part) {
        *part = format!("probe results, not to be trusted: {part}");
    }
    format!("{}: {}", report::text::verdict_word(verdict), parts.join("; "))
}
