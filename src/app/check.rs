//! `probity battery check`: run one battery over models known to be clean and models known to be
//! backdoored, each under several seeds, and say per probe how often it detects the backdoors,
//! how often it false-alarms, and how much data it needs ([`crate::verdict::check`] holds the
//! statistics). The scans are the runner's own, as `calibrate` runs them: model by model, seed
//! offset by seed offset.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::setup::{Prepared, Setup, engine_options, load_engine, model_inputs, prepare, scan_failure};
use crate::digest::FileDigest;
use crate::error::Failure;
use crate::runner::{self, Models, ScanSettings};
use crate::verdict::check::{self, FALSE_ALARM_TEST_LEVEL, ProbeCheck, Run, TARGET_POWER};

/// A check, as the library takes it. `setup.probes.batteries` holds the one battery checked.
#[derive(Debug, Clone, Default)]
pub struct CheckOptions {
    pub clean: Vec<PathBuf>,
    pub backdoored: Vec<PathBuf>,
    pub setup: Setup,
    /// Seeds per model: the battery's seed (or `--seed`) plus 0, 1, ..., `seeds - 1`.
    pub seeds: u64,
}

/// The result: what `battery check` prints (Markdown) and writes (JSON).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatteryCheck {
    pub battery: String,
    pub battery_path: PathBuf,
    pub battery_sha256: String,
    pub data: FileDigest,
    pub clean_models: Vec<FileDigest>,
    pub backdoored_models: Vec<FileDigest>,
    /// The seeds every model ran with.
    pub seeds: Vec<u64>,
    pub probes: Vec<ProbeCheck>,
}

impl BatteryCheck {
    /// The probes whose false-alarm rate is significantly above their alpha.
    pub fn too_many_false_alarms(&self) -> Vec<&ProbeCheck> {
        self.probes.iter().filter(|p| p.too_many_false_alarms).collect()
    }
}

/// Runs the battery over every model and seed.
pub fn check(options: &CheckOptions) -> Result<BatteryCheck, Failure> {
    if options.clean.is_empty() && options.backdoored.is_empty() {
        return Err(Failure::invalid(anyhow::anyhow!("give at least one --clean or --backdoored model")));
    }
    let Prepared { batteries, data: dataset, runtime } = prepare(&options.setup)?;
    let [battery] = batteries.as_slice() else {
        return Err(Failure::invalid(anyhow::anyhow!("battery check takes exactly one battery")));
    };
    let engine_options = engine_options(&options.setup.engine, &batteries);
    let base = options.setup.probes.settings();
    let seeds: Vec<u64> = (0..options.seeds)
        .map(|offset| ScanSettings { seed_offset: offset, ..base.clone() }.seed_for(battery))
        .collect();
    // Per probe index: the runs on backdoored models, then on clean ones.
    let mut runs: BTreeMap<usize, (Vec<Run>, Vec<Run>)> = BTreeMap::new();
    let mut digests = (Vec::new(), Vec::new());
    for (path, backdoored) in
        options.backdoored.iter().map(|p| (p, true)).chain(options.clean.iter().map(|p| (p, false)))
    {
        let mut engine = load_engine(runtime, path, &engine_options)?;
        let ready = model_inputs(&dataset, &options.setup.data, &mut engine)?;
        let digest = FileDigest { path: path.clone(), sha256: engine.model_sha256.clone() };
        if backdoored {
            digests.0.push(digest)
        } else {
            digests.1.push(digest)
        }
        for offset in 0..options.seeds {
            let settings = ScanSettings { seed_offset: offset, ..base.clone() };
            let mut models =
                Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
            let outcome = runner::scan(&mut models, &*ready.inputs, &batteries, &settings).map_err(scan_failure)?;
            for probe in &outcome.probes {
                let run = Run {
                    verdict: probe.judgement.verdict,
                    attack_success_rate: probe.judgement.attack_success_rate,
                    power: probe.judgement.power.clone(),
                };
                let entry = runs.entry(probe.probe_index).or_default();
                if backdoored { entry.0.push(run) } else { entry.1.push(run) }
            }
        }
    }
    let probes = battery
        .probes
        .iter()
        .enumerate()
        .map(|(i, probe)| {
            let (on_backdoored, on_clean) = runs.remove(&i).unwrap_or_default();
            check::probe(&probe.id, probe.category, &on_backdoored, &on_clean)
        })
        .collect();
    Ok(BatteryCheck {
        battery: battery.name.clone(),
        battery_path: battery.path.clone(),
        battery_sha256: battery.sha256.clone(),
        data: dataset.digest(),
        clean_models: digests.1,
        backdoored_models: digests.0,
        seeds,
        probes,
    })
}

/// The check as Markdown: one table row per probe, then what the columns mean.
pub fn markdown(check: &BatteryCheck) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# battery check: {}\n", check.battery);
    let _ = writeln!(
        out,
        "`{}` on `{}`: {} backdoored and {} clean models × {} seeds.\n",
        check.battery_path.display(),
        check.data.path.display(),
        check.backdoored_models.len(),
        check.clean_models.len(),
        check.seeds.len()
    );
    out.push_str("| probe | category | detection | false alarms | alpha | p (FA > alpha) | backdoor ASR | eligible | needed for power 0.8 |\n");
    out.push_str("|---|---|---|---|---|---|---|---|---|\n");
    let number = |v: Option<f64>, digits: usize| v.map_or("–".to_string(), |v| format!("{v:.digits$}"));
    for p in &check.probes {
        let rate = |r: &check::Rate| {
            if r.runs == 0 {
                return "–".to_string();
            }
            let inconclusive =
                if r.inconclusive > 0 { format!(", {} inconclusive", r.inconclusive) } else { String::new() };
            format!(
                "{}/{} = {:.1}% [{:.1}, {:.1}]{inconclusive}",
                r.failures,
                r.runs,
                100.0 * r.rate,
                100.0 * r.interval.lower,
                100.0 * r.interval.upper
            )
        };
        let flag = if p.too_many_false_alarms { " **too many**" } else { "" };
        let needed = match (p.needed_for_power, p.backdoored_attack_success_rate) {
            (Some(n), _) => n.to_string(),
            (None, Some(_)) => "not reached".to_string(),
            (None, None) => "–".to_string(),
        };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}{flag} | {} | {} | {} | {} | {needed} |",
            p.id,
            crate::report::text::category_word(p.category),
            rate(&p.detection),
            rate(&p.false_alarm),
            number(p.alpha, 3),
            number(p.false_alarm_p_value, 4),
            number(p.backdoored_attack_success_rate, 3),
            p.eligible.map_or("–".to_string(), |e| e.to_string()),
        );
    }
    let _ = write!(
        out,
        "\nDetection: failures on the backdoored models; false alarms: failures on the clean models; each over \
         models × seeds with its 95% Clopper–Pearson interval. A trigger probe false-alarms too often when the \
         one-sided exact binomial test of \"rate ≤ alpha\" rejects at {FALSE_ALARM_TEST_LEVEL} (column p). Needed for \
         power {TARGET_POWER}: the fewest eligible inputs at which the probe would fail a backdoor of the backdoored \
         models' mean attack success rate (ASR) with probability {TARGET_POWER}, its control moving nothing (a lower \
         bound); eligible: what it had (lower median over the backdoored runs).\n"
    );
    out
}
