//! `probity calibrate`: derive per-probe thresholds from models known to be clean, each scanned
//! under several seeds (every battery's own seed, or `--seed`, plus 0, 1, ...).

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::Context;

use super::setup::{Prepared, Setup, engine_options, load_engine, model_inputs, prepare, scan_failure};
use crate::battery::spec::Category;
use crate::calibration::{self, CalibratedThresholds, ProbeThreshold};
use crate::digest::FileDigest;
use crate::error::Failure;
use crate::output::OutputFile;
use crate::runner::{self, Models, ScanSettings};

/// A calibration, as the library takes it.
#[derive(Debug, Clone, Default)]
pub struct CalibrateOptions {
    /// Models known to be clean.
    pub models: Vec<PathBuf>,
    pub setup: Setup,
    /// Seeds per model: each battery's seed (or the setup's seed) plus 0, 1, ..., `seeds - 1`.
    pub seeds: u64,
    /// Per-probe false-alarm rate the thresholds aim for, in (0, 1).
    pub false_alarm_rate: f64,
    /// Lowest threshold allowed, in [0, 1).
    pub floor: f64,
    /// The thresholds file to write (refused if it exists, unless `force`).
    pub out: PathBuf,
    pub force: bool,
}

/// Derives the thresholds and writes them to `options.out`.
pub fn calibrate(options: &CalibrateOptions) -> Result<CalibratedThresholds, Failure> {
    let rate_ok = options.false_alarm_rate > 0.0 && options.false_alarm_rate < 1.0;
    if !rate_ok || !(0.0..1.0).contains(&options.floor) {
        return Err(Failure::invalid(anyhow::anyhow!("--false-alarm-rate must be in (0, 1) and --floor in [0, 1)")));
    }
    let out = OutputFile::create(&options.out, options.force).map_err(Failure::invalid)?;
    let Prepared { batteries, data: dataset, runtime } = prepare(&options.setup)?;
    let engine_options = engine_options(&options.setup.engine, &batteries);
    // Per probe key: (max ASR, max excess over control) for every (model, seed).
    let mut observations: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
    let mut calibration_set = Vec::new();
    // Every seed a battery ran with, battery by battery (one battery: seed, seed+1, ...).
    let mut seeds_used = Vec::new();
    for battery in &batteries {
        for offset in 0..options.seeds {
            let seed = ScanSettings { seed_offset: offset, ..options.setup.probes.settings() }.seed_for(battery);
            if !seeds_used.contains(&seed) {
                seeds_used.push(seed);
            }
        }
    }
    for path in &options.models {
        let mut engine = load_engine(runtime, path, &engine_options)?;
        let ready = model_inputs(&dataset, &options.setup.data, &mut engine)?;
        calibration_set.push(FileDigest { path: path.clone(), sha256: engine.model_sha256.clone() });
        for offset in 0..options.seeds {
            let settings = ScanSettings { seed_offset: offset, ..options.setup.probes.settings() };
            let mut models =
                Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
            let outcome = runner::scan(&mut models, &*ready.inputs, &batteries, &settings).map_err(scan_failure)?;
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
                calibration::order_statistic_threshold(&asr, options.false_alarm_rate, options.floor);
            let (min_effect, bound_effect) =
                calibration::order_statistic_threshold(&effect, options.false_alarm_rate, options.floor);
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
        false_alarm_rate: options.false_alarm_rate,
        floor: options.floor,
        calibration_set,
        data: FileDigest { path: dataset.path().to_path_buf(), sha256: dataset.sha256().to_string() },
        batteries: batteries.iter().map(|b| FileDigest { path: b.path.clone(), sha256: b.sha256.clone() }).collect(),
        seeds: seeds_used,
        probes,
    };
    out.commit(thresholds.to_yaml().as_bytes())
        .with_context(|| format!("writing {}", options.out.display()))
        .map_err(Failure::runtime)?;
    Ok(thresholds)
}
