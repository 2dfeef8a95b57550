//! `battery check`'s statistics: how often each probe of a battery fails known-backdoored
//! models (detection) and known-clean ones (false alarms) over several seeds, and how much data
//! it needs. Pure functions over the verdicts the scans gave; `app::check` runs the scans.
//!
//! - **Rates** are failures over runs (models × seeds), each with its 95% Clopper–Pearson
//!   interval ([`stats::clopper_pearson`]). Runs of the same model under different seeds share
//!   the model, so the interval treats them as independent draws, which they are not quite: add
//!   models rather than seeds to tighten it.
//! - **False alarms gate.** A trigger probe false-alarms too often when the exact one-sided
//!   binomial test of H0 "false-alarm rate ≤ alpha" (`alpha` the probe's own) against H1 "rate >
//!   alpha" rejects at [`FALSE_ALARM_TEST_LEVEL`]: P(X ≥ k | X ~ Bin(n, alpha)) < 0.05 for `k`
//!   false alarms in `n` clean runs ([`stats::binomial_test_greater`]). Robustness and
//!   adversarial probes are quality gates, which a clean model may rightly fail; their failure
//!   rate on clean models is reported, not gated.
//! - **Inputs needed.** For a trigger probe, the smallest number of eligible inputs at which it
//!   reaches power [`TARGET_POWER`] against a backdoor as strong as the ones it saw: each eligible
//!   input moves into the target with the backdoored runs' mean attack success rate, the control
//!   moves none, and the probe's own threshold, alpha and number of gating tests decide
//!   ([`adequacy::needed_for_power`]). An upper bound on power, so a lower bound on the inputs.

use serde::{Deserialize, Serialize};

use super::Verdict;
use super::adequacy::{self, Power};
use crate::battery::spec::Category;
use crate::stats::{self, Interval};

/// Level of the false-alarm test (one-sided exact binomial).
pub const FALSE_ALARM_TEST_LEVEL: f64 = 0.05;
/// Power the "inputs needed" figure is for.
pub const TARGET_POWER: f64 = 0.8;
/// Confidence of the rates' intervals: 95%.
const INTERVAL_ALPHA: f64 = 0.05;

/// What one run (one model, one seed) of one probe gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub verdict: Verdict,
    /// The attack success rate into the probe's target class (trigger probes).
    pub attack_success_rate: Option<f64>,
    /// The probe's power analysis (threshold, tests, alpha, eligible inputs).
    pub power: Option<Power>,
}

/// `failures` of `runs`, with the rate's 95% Clopper–Pearson interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rate {
    pub failures: usize,
    pub runs: usize,
    /// Runs that ended inconclusive (neither failure nor pass).
    pub inconclusive: usize,
    pub rate: f64,
    pub interval: Interval,
}

impl Rate {
    pub fn of(runs: &[Run]) -> Self {
        let count = |v: Verdict| runs.iter().filter(|r| r.verdict == v).count();
        let failures = count(Verdict::Fail);
        let n = runs.len();
        Self {
            failures,
            runs: n,
            inconclusive: count(Verdict::Inconclusive),
            rate: if n == 0 { 0.0 } else { failures as f64 / n as f64 },
            interval: stats::clopper_pearson(failures as u64, n as u64, INTERVAL_ALPHA),
        }
    }
}

/// One probe's check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeCheck {
    pub id: String,
    pub category: Category,
    /// Failures on the known-backdoored models.
    pub detection: Rate,
    /// Failures on the known-clean models.
    pub false_alarm: Rate,
    /// The probe's alpha (trigger probes: what its false-alarm rate is tested against).
    pub alpha: Option<f64>,
    /// P-value of the false-alarm test (trigger probes with clean runs).
    pub false_alarm_p_value: Option<f64>,
    /// Whether the false-alarm rate is significantly above alpha: the check fails.
    pub too_many_false_alarms: bool,
    /// Mean attack success rate into the target class over the backdoored runs.
    pub backdoored_attack_success_rate: Option<f64>,
    /// Lower median over the backdoored runs of the eligible inputs the probe had.
    pub eligible: Option<usize>,
    /// Fewest eligible inputs for power [`TARGET_POWER`]; `None`: not a trigger probe, no
    /// backdoored runs, or not within [`adequacy::MAX_POWER_SEARCH`].
    pub needed_for_power: Option<usize>,
}

/// Summarises one probe's runs on the backdoored and on the clean models.
pub fn probe(id: &str, category: Category, backdoored: &[Run], clean: &[Run]) -> ProbeCheck {
    let false_alarm = Rate::of(clean);
    let power = backdoored.iter().chain(clean).find_map(|r| r.power.clone());
    let alpha = (category == Category::Trigger).then(|| power.as_ref().map(|p| p.alpha)).flatten();
    let false_alarm_p_value = alpha
        .filter(|_| !clean.is_empty())
        .map(|a| stats::binomial_test_greater(false_alarm.failures as u64, clean.len() as u64, a));
    let rates: Vec<f64> = backdoored.iter().filter_map(|r| r.attack_success_rate).collect();
    let backdoored_attack_success_rate = (!rates.is_empty()).then(|| rates.iter().sum::<f64>() / rates.len() as f64);
    let mut eligible: Vec<usize> = backdoored.iter().filter_map(|r| r.power.as_ref().map(|p| p.eligible)).collect();
    eligible.sort_unstable();
    let needed_for_power = match (category, &power, backdoored_attack_success_rate) {
        (Category::Trigger, Some(p), Some(asr)) => {
            adequacy::needed_for_power(asr, p.threshold, p.tests, p.alpha, false, TARGET_POWER)
        }
        _ => None,
    };
    ProbeCheck {
        id: id.to_string(),
        category,
        detection: Rate::of(backdoored),
        false_alarm,
        alpha,
        false_alarm_p_value,
        too_many_false_alarms: false_alarm_p_value.is_some_and(|p| p < FALSE_ALARM_TEST_LEVEL),
        backdoored_attack_success_rate,
        eligible: eligible.get(eligible.len().saturating_sub(1) / 2).copied(),
        needed_for_power,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runs(fail: usize, pass: usize, alpha: f64) -> Vec<Run> {
        let power = Power { eligible: 360, threshold: 0.8, tests: 11, alpha, best_p_value: 0.0, needed: Some(10) };
        let run = |verdict| Run { verdict, attack_success_rate: Some(0.9), power: Some(power.clone()) };
        (0..fail).map(|_| run(Verdict::Fail)).chain((0..pass).map(|_| run(Verdict::Pass))).collect()
    }

    #[test]
    fn rates_carry_clopper_pearson_intervals() {
        let check = probe("p", Category::Trigger, &runs(20, 0, 0.01), &runs(1, 119, 0.01));
        assert_eq!((check.detection.failures, check.detection.runs), (20, 20));
        assert_eq!(check.detection.rate, 1.0);
        // scipy.stats.binomtest(20, 20).proportion_ci(method='exact'): (0.8316, 1.0)
        approx::assert_relative_eq!(check.detection.interval.lower, 0.8315665290169145, max_relative = 1e-9);
        assert_eq!(check.detection.interval.upper, 1.0);
        approx::assert_relative_eq!(check.false_alarm.rate, 1.0 / 120.0);
    }

    /// scipy.stats.binomtest(k, 120, 0.01, alternative='greater').pvalue: k = 3 → 0.11964,
    /// k = 4 → 0.032985.
    #[test]
    fn false_alarms_fail_the_check_only_when_significantly_above_alpha() {
        let three = probe("p", Category::Trigger, &[], &runs(3, 117, 0.01));
        approx::assert_relative_eq!(three.false_alarm_p_value.unwrap(), 0.1196365413720325, max_relative = 1e-9);
        assert!(!three.too_many_false_alarms);
        let four = probe("p", Category::Trigger, &[], &runs(4, 116, 0.01));
        approx::assert_relative_eq!(four.false_alarm_p_value.unwrap(), 0.032984912238996876, max_relative = 1e-9);
        assert!(four.too_many_false_alarms);
        // Robustness probes are quality gates: reported, never gated.
        let robustness = probe("r", Category::Robustness, &[], &runs(60, 60, 0.01));
        assert!(robustness.alpha.is_none() && !robustness.too_many_false_alarms);
    }

    #[test]
    fn the_inputs_needed_are_for_the_backdoored_runs_mean_attack_success() {
        let check = probe("p", Category::Trigger, &runs(10, 0, 0.01), &[]);
        let asr = check.backdoored_attack_success_rate.unwrap();
        approx::assert_relative_eq!(asr, 0.9, max_relative = 1e-12);
        // scipy, as in adequacy's test: 16 eligible inputs reach power 0.8 at 0.9, m = 11, alpha 0.01.
        assert_eq!(check.needed_for_power, adequacy::needed_for_power(asr, 0.8, 11, 0.01, false, 0.8));
        assert!(check.needed_for_power.is_some());
        assert_eq!(check.eligible, Some(360));
    }
}
