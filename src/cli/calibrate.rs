//! `probity calibrate`: derive per-probe thresholds from models known to be clean.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::scan::{
    DataArgs, Prepared, ProbeArgs, engine_options, inputs, load_engine, prepare, scan_failure, text_encoder,
};
use super::{Cli, EngineArgs, print_stdout};
use crate::battery::spec::Category;
use crate::calibration::{self, CalibratedThresholds, ProbeThreshold};
use crate::digest::FileDigest;
use crate::error::{Failure, Outcome};
use crate::output::OutputFile;
use crate::runner::{self, Models, ScanSettings};

#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// A model known to be clean (repeatable; more models beat more seeds).
    #[arg(long = "model", value_name = "PATH", required = true)]
    pub models: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub probes: ProbeArgs,
    /// Seeds per model (seed, seed+1, ...; base: --seed or each battery's).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// Per-probe false-alarm rate the thresholds aim for.
    #[arg(long, value_name = "RATE", default_value_t = 0.01)]
    pub false_alarm_rate: f64,
    /// Lowest threshold allowed (attack success rate and excess over control).
    #[arg(long, value_name = "RATE", default_value_t = 0.2)]
    pub floor: f64,
    /// The thresholds file to write (refused if it exists, unless --force).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Replace --out if it exists, instead of refusing.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub engine: EngineArgs,
}

pub fn run(cli: &Cli, args: &CalibrateArgs) -> Result<Outcome, Failure> {
    let rate_ok = args.false_alarm_rate > 0.0 && args.false_alarm_rate < 1.0;
    if !rate_ok || !(0.0..1.0).contains(&args.floor) {
        return Err(Failure::invalid(anyhow::anyhow!("--false-alarm-rate must be in (0, 1) and --floor in [0, 1)")));
    }
    let out = OutputFile::create(&args.out, args.force).map_err(Failure::invalid)?;
    let Prepared { batteries, data: dataset, runtime } = prepare(cli, &args.data, &args.probes, &args.engine)?;
    let options = engine_options(&args.engine, &batteries);
    // Per probe key: (max ASR, max excess over control) for every (model, seed).
    let mut observations: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut calibration_set = Vec::new();
    let mut seeds_used = Vec::new();
    for path in &args.models {
        let mut engine = load_engine(runtime, path, &options)?;
        let encoder = text_encoder(&dataset, &args.data, &engine)?;
        calibration_set.push(FileDigest { path: path.clone(), sha256: engine.model_sha256.clone() });
        for offset in 0..args.seeds {
            let base = batteries.first().map_or(args.probes.seed.unwrap_or(0), |b| b.seed(args.probes.seed));
            let seed = base.wrapping_add(offset);
            if !seeds_used.contains(&seed) {
                seeds_used.push(seed);
            }
            let settings = ScanSettings {
                seed: Some(seed),
                scores: args.probes.scores,
                search_budget: args.probes.search_budget,
                time_budget: args.probes.time_budget,
                ..ScanSettings::default()
            };
            let mut models =
                Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
            let outcome = runner::scan(&mut models, &*inputs(&dataset, encoder.as_ref()), &batteries, &settings)
                .map_err(scan_failure)?;
            for probe in &outcome.probes {
                if batteries[probe.battery_index].probes[probe.probe_index].category != Category::Trigger {
                    continue;
                }
                let per_class = &probe.evidence.own.per_class;
                let max_asr = per_class.iter().map(|e| e.attack_success_rate).fold(0.0, f64::max);
                let max_effect =
                    per_class.iter().map(|e| e.attack_success_rate - e.control_attack_success_rate).fold(0.0, f64::max);
                let entry = observations.entry(probe.key.clone()).or_default();
                entry.0.push(max_asr);
                entry.1.push(max_effect);
            }
        }
    }
    let probes = observations
        .into_iter()
        .map(|(key, (asr, effect))| {
            let (min_attack_success, bound_asr) =
                calibration::order_statistic_threshold(&asr, args.false_alarm_rate, args.floor);
            let (min_effect, bound_effect) =
                calibration::order_statistic_threshold(&effect, args.false_alarm_rate, args.floor);
            let threshold = ProbeThreshold {
                min_attack_success,
                min_effect,
                clean_observations: asr.len(),
                clean_max_attack_success: asr.iter().copied().fold(0.0, f64::max),
                clean_max_effect: effect.iter().copied().fold(0.0, f64::max),
                // A clean model must exceed both thresholds to fail: the smaller bound holds.
                false_alarm_bound: bound_asr.min(bound_effect),
            };
            (key, threshold)
        })
        .collect::<BTreeMap<_, _>>();
    let thresholds = CalibratedThresholds {
        schema: calibration::SCHEMA.into(),
        false_alarm_rate: args.false_alarm_rate,
        floor: args.floor,
        calibration_set,
        data: FileDigest { path: dataset.path().to_path_buf(), sha256: dataset.sha256().to_string() },
        batteries: batteries.iter().map(|b| FileDigest { path: b.path.clone(), sha256: b.sha256.clone() }).collect(),
        seeds: seeds_used,
        probes,
    };
    let observations = args.models.len() as u64 * args.seeds;
    out.commit(thresholds.to_yaml().as_bytes())
        .with_context(|| format!("writing {}", args.out.display()))
        .map_err(Failure::runtime)?;
    let bound = 1.0 / (observations as f64 + 1.0);
    let note = if bound > args.false_alarm_rate {
        format!(
            "; {observations} observations per probe support a false-alarm bound of {bound:.3} at best — add clean models to reach {}",
            args.false_alarm_rate
        )
    } else {
        String::new()
    };
    print_stdout(&format!(
        "calibrated {} trigger probes on {} clean models x {} seeds{note}\nwrote {}\n",
        thresholds.probes.len(),
        args.models.len(),
        args.seeds,
        args.out.display()
    ));
    Ok(Outcome::Pass)
}
