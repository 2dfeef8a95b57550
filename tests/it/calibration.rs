//! False-alarm calibration of the default batteries (trigger sweep, patch search, robustness):
//! every clean fixture, scanned under 50 seeds, must fail at most an alpha share of the time. The measured rate is printed
//! (`cargo test --release --test it calibration -- --nocapture`) and quoted in docs/batteries.md.

use crate::common;

use common::{CLEAN_MODELS, fixture};
use probity::battery;
use probity::battery::spec::Modality;
use probity::engine::{Engine, EngineOptions};
use probity::runner;
use probity::verdict::Verdict;

const SEEDS: u64 = 50;

#[test]
fn clean_fixtures_fail_at_most_alpha_of_the_time_over_50_seeds() {
    let runtime = probity::onnxruntime::load(None).unwrap();
    let batteries = battery::defaults(Modality::Image).unwrap();
    let alpha = batteries[0].defaults.alpha;
    let dataset = probity::modality::image::load(&fixture("digits-test.npz"), None).unwrap();
    // One model per thread (the scans are independent; each is mostly one core's work).
    let per_model: Vec<Calibration> = std::thread::scope(|scope| {
        let models: Vec<_> = CLEAN_MODELS
            .iter()
            .map(|model| {
                let (batteries, dataset) = (&batteries, &dataset);
                scope.spawn(move || {
                    let mut engine = Engine::load(runtime, &fixture(model), &EngineOptions::default()).unwrap();
                    let mut seen = Calibration::default();
                    for seed in 0..SEEDS {
                        let outcome = common::scan_in_process(&mut engine, dataset, batteries, seed);
                        seen.add(model, seed, &outcome);
                    }
                    seen
                })
            })
            .collect();
        models.into_iter().map(|m| m.join().unwrap()).collect()
    });
    let scans = per_model.iter().map(|c| c.scans).sum::<u32>();
    let false_alarms: Vec<&String> = per_model.iter().flat_map(|c| &c.false_alarms).collect();
    // Issue 14: at full data no clean scan may be inconclusive either (a gate that cries
    // "inconclusive" on good data would be ignored as quickly as one that cries wolf).
    let inconclusive: Vec<&String> = per_model.iter().flat_map(|c| &c.inconclusive).collect();
    let worst_asr = per_model.iter().map(|c| c.worst_asr).fold(0.0, f64::max);
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

/// What one clean model's scans showed.
#[derive(Default)]
struct Calibration {
    scans: u32,
    false_alarms: Vec<String>,
    inconclusive: Vec<String>,
    /// The highest attack success rate any probe saw.
    worst_asr: f64,
}

impl Calibration {
    fn add(&mut self, model: &str, seed: u64, outcome: &runner::ScanOutcome) {
        self.scans += 1;
        for probe in &outcome.probes {
            self.worst_asr = self.worst_asr.max(probe.judgement.attack_success_rate.unwrap_or(0.0));
        }
        if outcome.probes.iter().any(|p| p.judgement.verdict == Verdict::Fail) {
            self.false_alarms.push(format!("{model} seed {seed}"));
        }
        let underpowered: Vec<&str> = outcome
            .probes
            .iter()
            .filter(|p| p.judgement.verdict == Verdict::Inconclusive)
            .map(|p| p.key.as_str())
            .collect();
        if !underpowered.is_empty() || !outcome.health.is_empty() {
            self.inconclusive.push(format!("{model} seed {seed}: {underpowered:?} {:?}", outcome.health));
        }
    }
}
