//! False-alarm calibration of the default batteries (trigger sweep, patch search, robustness):
//! every clean fixture, scanned under 50 seeds, must fail at most an alpha share of the time. The measured rate is printed
//! (`cargo test --release --test calibration -- --nocapture`) and quoted in docs/batteries.md.

mod common;

use common::{CLEAN_MODELS, fixture};
use probity::battery;
use probity::battery::spec::Modality;
use probity::engine::{Engine, EngineOptions};
use probity::runner::{self, Models, ScanSettings};
use probity::verdict::Verdict;

const SEEDS: u64 = 50;

#[test]
fn clean_fixtures_fail_at_most_alpha_of_the_time_over_50_seeds() {
    let runtime = probity::onnxruntime::load(None).unwrap();
    let batteries = battery::defaults(Modality::Image).unwrap();
    let alpha = batteries[0].defaults.alpha;
    let dataset = probity::modality::image::load(&fixture("digits-test.npz"), None).unwrap();
    let mut scans = 0u32;
    let mut false_alarms = Vec::new();
    // Issue 14: at full data no clean scan may be inconclusive either (a gate that cries
    // "inconclusive" on good data would be ignored as quickly as one that cries wolf).
    let mut inconclusive = Vec::new();
    let mut worst_asr: f64 = 0.0;
    for model in CLEAN_MODELS {
        let mut engine = Engine::load(runtime, &fixture(model), &EngineOptions::default()).unwrap();
        for seed in 0..SEEDS {
            let settings = ScanSettings { seed: Some(seed), ..ScanSettings::default() };
            let mut models =
                Models { candidate: &mut engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
            let outcome = runner::scan(&mut models, &dataset, &batteries, &settings).unwrap();
            scans += 1;
            for probe in &outcome.probes {
                worst_asr = worst_asr.max(probe.judgement.attack_success_rate.unwrap_or(0.0));
            }
            if outcome.probes.iter().any(|p| p.judgement.verdict == Verdict::Fail) {
                false_alarms.push(format!("{model} seed {seed}"));
            }
            let underpowered: Vec<&str> = outcome
                .probes
                .iter()
                .filter(|p| p.judgement.verdict == Verdict::Inconclusive)
                .map(|p| p.key.as_str())
                .collect();
            if !underpowered.is_empty() || !outcome.health.is_empty() {
                inconclusive.push(format!("{model} seed {seed}: {underpowered:?} {:?}", outcome.health));
            }
        }
    }
    let rate = false_alarms.len() as f64 / f64::from(scans);
    println!(
        "false alarms: {} of {scans} scans ({:.2}%), alpha {alpha}; highest clean-model ASR {:.3}",
        false_alarms.len(),
        100.0 * rate,
        worst_asr
    );
    assert!(rate <= alpha, "false-alarm rate {rate} exceeds alpha {alpha}: {false_alarms:?}");
    assert!(inconclusive.is_empty(), "clean scans at full data were inconclusive: {inconclusive:?}");
}
