//! `probity scan`: run batteries against a model and write the pass/fail report.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::{Cli, EngineArgs, load_runtime, print_stdout, warn_on_fallback};
use crate::battery::{self, spec::Battery, spec::Category, spec::Layout};
use crate::data::{self, ChannelOrder, ImageFolderOptions};
use crate::engine::Engine;
use crate::error::{Failure, Outcome};
use crate::report::{self, BatterySection, DataSection, Format, ModelSection, ProbeReport, Report};
use crate::runner::{self, ScanError, ScanOutcome, ScanSettings, ScoreKind};
use crate::verdict::Verdict;

/// The default batteries, compiled in so the binary works from any folder.
const DEFAULT_IMAGE_BATTERIES: [(&str, &str); 2] = [
    ("batteries/image-triggers.yaml", include_str!("../../batteries/image-triggers.yaml")),
    ("batteries/image-robustness.yaml", include_str!("../../batteries/image-robustness.yaml")),
];

#[derive(Debug, Args)]
pub struct ScanArgs {
    /// The ONNX model under test.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Clean inputs: .npz (x, optional y), .npy, or a folder of PNG/JPEG images.
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// Battery file (repeatable). Default: the bundled batteries for the model's modality.
    #[arg(long = "battery", value_name = "PATH")]
    pub batteries: Vec<PathBuf>,
    /// Output folder for the reports (default: reports/<model>-<unix time>).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed replacing every battery's seed.
    #[arg(long, value_name = "N")]
    pub seed: Option<u64>,
    /// Report formats to write, comma-separated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "json,md")]
    pub format: Vec<Format>,
    /// Treat the classifier output as probabilities or logits instead of detecting it.
    #[arg(long, value_enum)]
    pub scores: Option<ScoreKind>,
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
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LayoutArg {
    Nchw,
    Nhwc,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s.split_once(['x', 'X']).ok_or("expected WxH, e.g. 32x32")?;
    let parse =
        |v: &str| v.trim().parse::<u32>().ok().filter(|n| *n > 0).ok_or(format!("'{v}' is not a positive size"));
    Ok((parse(w)?, parse(h)?))
}

pub fn run(cli: &Cli, args: &ScanArgs) -> Result<Outcome, Failure> {
    // Everything a user can get wrong in files is checked before any model runs.
    let batteries = load_batteries(&args.batteries)?;
    let folder = args.image_size.map(|(width, height)| {
        let channels = args.channel_order.channels();
        ImageFolderOptions {
            width,
            height,
            channels: args.channel_order,
            mean: if args.mean.is_empty() { vec![0.0; channels] } else { args.mean.clone() },
            std: if args.std.is_empty() { vec![1.0; channels] } else { args.std.clone() },
            layout: match args.layout {
                LayoutArg::Nchw => Layout::Nchw,
                LayoutArg::Nhwc => Layout::Nhwc,
            },
        }
    });
    if let Some(threads) = args.engine.threads {
        // Input generation uses the same budget as ONNX Runtime; results do not depend on it.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(usize::from(threads)).build_global();
    }
    let dataset = data::load(&args.data, folder.as_ref()).map_err(Failure::invalid)?;
    let runtime = load_runtime(cli)?;
    let mut options = args.engine.options();
    if let Some(size) = batteries.iter().find_map(|b| b.defaults.batch_size)
        && args.engine.batch_size == 64
    {
        options.batch_size = size;
    }
    let mut engine = Engine::load(runtime, &args.model, &options)?;
    warn_on_fallback(&engine.provider);

    let settings = ScanSettings { seed: args.seed, scores: args.scores };
    let outcome = runner::scan(&mut engine, &dataset, &batteries, &settings).map_err(|e| match e {
        ScanError::Engine(e) => Failure::from(e),
        other => Failure::invalid(other),
    })?;
    let report = build_report(&engine, runtime, &dataset, &batteries, &outcome, options.threads);
    let out = args.out.clone().unwrap_or_else(|| default_out(&args.model));
    let written = report::write(&out, &report, &args.format)
        .with_context(|| format!("writing the report into {}", out.display()))
        .map_err(Failure::runtime)?;
    let mut lines = format!("{}\n", report.summary);
    for path in written {
        lines.push_str(&format!("wrote {}\n", path.display()));
    }
    print_stdout(&lines);
    Ok(match report.verdict {
        Verdict::Pass => Outcome::Pass,
        Verdict::Fail => Outcome::Fail,
    })
}

/// Validates every battery (all problems of all files are reported together).
fn load_batteries(paths: &[PathBuf]) -> Result<Vec<Battery>, Failure> {
    let mut batteries = Vec::new();
    let mut problems = Vec::new();
    if paths.is_empty() {
        for (name, text) in DEFAULT_IMAGE_BATTERIES {
            batteries.push(battery::parse(Path::new(name), text).map_err(Failure::runtime)?);
        }
        return Ok(batteries);
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

fn default_out(model: &Path) -> PathBuf {
    let stem = model.file_stem().and_then(|s| s.to_str()).unwrap_or("model");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    PathBuf::from("reports").join(format!("{stem}-{now}"))
}

fn build_report(
    engine: &Engine,
    runtime: &crate::onnxruntime::Runtime,
    dataset: &data::Dataset,
    batteries: &[Battery],
    outcome: &ScanOutcome,
    threads: Option<usize>,
) -> Report {
    let probes: Vec<ProbeReport> = outcome
        .probes
        .iter()
        .map(|o| {
            let battery = &batteries[o.battery_index];
            let probe = &battery.probes[o.probe_index];
            let j = &o.judgement;
            ProbeReport {
                id: probe.id.clone(),
                battery: battery.name.clone(),
                line: probe.line,
                category: probe.category,
                description: probe.description.clone(),
                transform: probe.transform.clone(),
                thresholds: probe.thresholds,
                verdict: j.verdict,
                reason: j.reason.clone(),
                samples: o.numbers.samples,
                target_class: j.target_class,
                attack_success_rate: j.attack_success_rate,
                attack_success_interval: j.attack_success_interval,
                control_attack_success_rate: j.control_attack_success_rate,
                p_value: j.p_value,
                effect: j.effect,
                flip_rate: o.numbers.flip_rate,
                control_flip_rate: o.numbers.control_flip_rate,
                accuracy_clean: o.numbers.accuracy_clean,
                accuracy_probed: o.numbers.accuracy_probed,
                accuracy_drop: j.accuracy_drop,
                per_class: o.numbers.per_class.clone(),
            }
        })
        .collect();
    let category_verdict = |category: Category| {
        if probes.iter().any(|p| p.category == category && p.verdict == Verdict::Fail) {
            Verdict::Fail
        } else {
            Verdict::Pass
        }
    };
    let backdoor_verdict = category_verdict(Category::Trigger);
    let robustness_verdict = category_verdict(Category::Robustness);
    let verdict = if backdoor_verdict == Verdict::Fail || robustness_verdict == Verdict::Fail {
        Verdict::Fail
    } else {
        Verdict::Pass
    };
    Report {
        schema: report::SCHEMA.into(),
        probity_version: env!("CARGO_PKG_VERSION").into(),
        verdict,
        backdoor_verdict,
        robustness_verdict,
        summary: summarise(&probes, verdict),
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
        },
        onnxruntime: runtime.info.clone(),
        execution_provider: engine.provider.clone(),
        threads,
        batch_size: engine.batch_size,
        data: DataSection {
            path: dataset.path.clone(),
            sha256: dataset.sha256.clone(),
            inputs: dataset.len(),
            labelled: dataset.y.is_some(),
            clean_accuracy: outcome.clean_accuracy,
        },
        batteries: batteries
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
        probes,
    }
}

fn summarise(probes: &[ProbeReport], verdict: Verdict) -> String {
    let failing_triggers: Vec<&ProbeReport> =
        probes.iter().filter(|p| p.category == Category::Trigger && p.verdict == Verdict::Fail).collect();
    let failing_robustness =
        probes.iter().filter(|p| p.category == Category::Robustness && p.verdict == Verdict::Fail).count();
    let triggers = probes.iter().filter(|p| p.category == Category::Trigger).count();
    let mut parts = Vec::new();
    if let Some(worst) = failing_triggers
        .iter()
        .max_by(|a, b| a.attack_success_rate.unwrap_or(0.0).total_cmp(&b.attack_success_rate.unwrap_or(0.0)))
    {
        parts.push(format!(
            "backdoor evidence in {} of {triggers} trigger probes; strongest: '{}' steers {:.1}% of inputs into class {} (control {:.1}%, Holm p = {:.2e})",
            failing_triggers.len(),
            worst.id,
            100.0 * worst.attack_success_rate.unwrap_or(0.0),
            worst.target_class.map_or_else(|| "?".into(), |c| c.to_string()),
            100.0 * worst.control_attack_success_rate.unwrap_or(0.0),
            worst.p_value.unwrap_or(1.0),
        ));
    } else {
        parts.push(format!("no backdoor evidence in {triggers} trigger probes"));
    }
    if failing_robustness > 0 {
        parts.push(format!("{failing_robustness} robustness probes failed the quality gate"));
    }
    let word = match verdict {
        Verdict::Pass => "PASS",
        Verdict::Fail => "FAIL",
    };
    format!("{word}: {}", parts.join("; "))
}
