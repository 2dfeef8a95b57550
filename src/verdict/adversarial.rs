//! Adversarial evidence and judgement: how often a black-box attack broke the candidate, its
//! robust accuracy, and whether it is less robust than the references (or than a recorded
//! baseline) on the same inputs.
//!
//! The comparison is paired, input by input: an input is *discordant* when the attack broke one
//! model and not the other, and the exact McNemar test (one-sided: the candidate broken more
//! often) asks whether the candidate's excess could be chance ([`crate::stats::mcnemar_exact_greater`]).
//! It joins the scan's other gating tests in the multiple-testing correction. As for trigger
//! probes, the candidate fails only when the corrected p-value is below alpha **and** its attack
//! success exceeds the other model's by at least `min-effect`, and it must be less robust than
//! every reference. Thresholds (`max-attack-success`, `min-robust-accuracy`) compare the point
//! estimate with the limit, as robustness probes do; the report gives the Clopper–Pearson
//! interval beside it. A probe that could not show its limit is met even with no successes is
//! inconclusive ([`super::adequacy::robustness_power`]).

use serde::{Deserialize, Serialize};

use super::evidence::{ClassEvidence, Direction, distribution, rate};
use super::{Basis, DifferentialNumbers, ProbeEvidence, ProbeJudgement, Verdict, adequacy};
use crate::battery::spec::Thresholds;
use crate::stats;

/// What an attack came to on one model, input by input.
#[derive(Debug, Clone, Copy)]
pub struct Attacked<'a> {
    /// Whether the attack broke the input (moved it off its clean class, or onto its target).
    pub success: &'a [bool],
    /// The model's class and top-class confidence on each final input.
    pub class: &'a [usize],
    pub confidence: &'a [f32],
}

/// Counts of an attack on the candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttackNumbers {
    pub attacked: usize,
    pub successes: usize,
}

/// The candidate's attack against another model's (a reference, or a recording) on the same
/// inputs: one paired test, reported as the class-`classes` ("any class") entry like the
/// all-to-all entry of trigger comparisons.
pub fn compare_attacks(
    classes: usize,
    direction: Direction,
    candidate: &Attacked<'_>,
    other: &Attacked<'_>,
) -> DifferentialNumbers {
    let pairs = candidate.success.iter().zip(other.success);
    let (mut first, mut second, mut first_only, mut second_only) = (0, 0, 0u64, 0u64);
    for (&a, &b) in pairs {
        first += usize::from(a);
        second += usize::from(b);
        first_only += u64::from(a && !b);
        second_only += u64::from(b && !a);
    }
    let n = candidate.success.len();
    let p_value = match direction {
        Direction::Greater => stats::mcnemar_exact_greater(first_only, second_only),
        Direction::TwoSided => stats::mcnemar_exact_two_sided(first_only, second_only),
    };
    let agree = |a: &[usize], b: &[usize]| rate(a.iter().zip(b).filter(|(x, y)| x == y).count(), a.len());
    DifferentialNumbers {
        direction,
        agreement_clean: 1.0,
        agreement_probed: agree(candidate.class, other.class),
        per_class: vec![ClassEvidence {
            class: classes,
            eligible: n,
            probe_into: first,
            control_into: second,
            attack_success_rate: rate(first, n),
            control_attack_success_rate: rate(second, n),
            p_value,
            p_value_adjusted: p_value,
        }],
        distribution: distribution(classes, candidate.class, other.class, candidate.confidence, other.confidence),
    }
}

/// Judges one adversarial probe (its comparisons' p-values already corrected).
pub(super) fn judge(probe: &ProbeEvidence, tests: usize) -> ProbeJudgement {
    let Thresholds::Adversarial { alpha, min_effect, max_attack_success, min_robust_accuracy } = probe.thresholds
    else {
        unreachable!("only adversarial probes are judged here")
    };
    let own = &probe.own;
    let numbers = probe.attack.unwrap_or(AttackNumbers { attacked: own.samples, successes: 0 });
    let asr = rate(numbers.successes, numbers.attacked);
    let robust_accuracy = own.accuracy_probed;
    let accuracy_drop = own.accuracy_clean.zip(own.accuracy_probed).map(|(a, b)| a - b);
    let fails = |e: &ClassEvidence| {
        e.p_value_adjusted < alpha && e.attack_success_rate - e.control_attack_success_rate >= min_effect
    };

    let mut problems: Vec<(Basis, String)> = Vec::new();
    let mut powers: Vec<adequacy::Power> = Vec::new();
    let mut unjudged: Vec<&str> = Vec::new();
    if let Some(max) = max_attack_success {
        if asr > max {
            let message = format!("the attack breaks {:.1}% of inputs (max {:.1}%)", 100.0 * asr, 100.0 * max);
            problems.push((Basis::Robustness, message));
        }
        powers.push(adequacy::robustness_power(numbers.attacked, max));
    }
    if let Some(min) = min_robust_accuracy {
        match robust_accuracy {
            Some(accuracy) => {
                if accuracy < min {
                    let message = format!("robust accuracy is {:.1}% (min {:.1}%)", 100.0 * accuracy, 100.0 * min);
                    problems.push((Basis::Robustness, message));
                }
                powers.push(adequacy::robustness_power(own.samples, 1.0 - min));
            }
            None => unjudged.push("`min-robust-accuracy` needs labels in the data"),
        }
    }
    // Against the references: the candidate must be less robust than every one of them.
    let against_references = probe.references.iter().filter_map(|r| r.per_class.first()).collect::<Vec<_>>();
    if !against_references.is_empty() {
        if against_references.iter().all(|e| fails(e)) {
            let weakest = against_references
                .iter()
                .max_by(|a, b| a.p_value_adjusted.total_cmp(&b.p_value_adjusted))
                .expect("not empty");
            problems.push((Basis::Reference, describe(weakest, "every reference", alpha)));
        }
        let eligible = against_references.iter().map(|e| e.eligible).min().unwrap_or(0);
        powers.push(adequacy::trigger_power(eligible, min_effect, tests, alpha, false));
    }
    let against_baseline = probe.baseline.as_ref().and_then(|b| b.per_class.first());
    if let Some(e) = against_baseline {
        if fails(e) {
            problems.push((Basis::Baseline, describe(e, "the recorded baseline", alpha)));
        }
        powers.push(adequacy::trigger_power(e.eligible, min_effect, tests, alpha, false));
    }

    let power = powers.into_iter().min_by(|a, b| a.best_p_value.total_cmp(&b.best_p_value));
    let summary = format!(
        "the attack breaks {:.1}% of {} inputs{}",
        100.0 * asr,
        numbers.attacked,
        robust_accuracy.map_or_else(String::new, |a| format!(", robust accuracy {:.1}%", 100.0 * a))
    );
    let (verdict, basis, reason) = match (problems.first(), &power) {
        (Some((basis, _)), _) => {
            (Verdict::Fail, *basis, problems.iter().map(|(_, m)| m.as_str()).collect::<Vec<_>>().join("; "))
        }
        (None, None) => {
            let why = if unjudged.is_empty() {
                "nothing to judge it against: set `max-attack-success` or `min-robust-accuracy`, or give \
                 --reference or --baseline"
                    .to_string()
            } else {
                unjudged.join("; ")
            };
            (Verdict::Inconclusive, Basis::Robustness, format!("{why}; {summary}"))
        }
        (None, Some(p)) if !p.sufficient() => {
            let needed = p.needed.map_or_else(|| "no amount of data would".into(), |n| format!("it needs ≥ {n}"));
            let reason = format!(
                "cannot pass with this data: even an attack that broke nothing on {} inputs would leave the \
                 limit possible (p = {:.2} ≥ {}); {needed} inputs; {summary}",
                p.eligible, p.best_p_value, p.alpha
            );
            (Verdict::Inconclusive, Basis::Robustness, reason)
        }
        (None, Some(_)) => (Verdict::Pass, Basis::Robustness, summary),
    };
    let compared = against_baseline.or_else(|| against_references.first().copied());
    ProbeJudgement {
        verdict,
        basis,
        target_class: None,
        attack_success_rate: Some(asr),
        attack_success_interval: Some(stats::clopper_pearson(numbers.successes as u64, numbers.attacked as u64, alpha)),
        control_attack_success_rate: compared.map(|e| e.control_attack_success_rate),
        p_value: compared.map(|e| e.p_value_adjusted),
        effect: compared.map(|e| e.attack_success_rate - e.control_attack_success_rate),
        accuracy_drop,
        reason,
        power,
    }
}

fn describe(e: &ClassEvidence, against: &str, alpha: f64) -> String {
    format!(
        "less robust than {against}: the attack breaks {:.1}% of inputs vs {:.1}% (corrected p = {:.2e} < {alpha})",
        100.0 * e.attack_success_rate,
        100.0 * e.control_attack_success_rate,
        e.p_value_adjusted
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attacked<'a>(success: &'a [bool], class: &'a [usize], confidence: &'a [f32]) -> Attacked<'a> {
        Attacked { success, class, confidence }
    }

    #[test]
    fn the_paired_test_counts_only_discordant_inputs() {
        // 10 inputs: both broken on 2, only the candidate on 6, only the reference on 1.
        let candidate: Vec<bool> = (0..10).map(|i| i < 8).collect();
        let other: Vec<bool> = (0..10).map(|i| i < 2 || i == 9).collect();
        let class = [0usize; 10];
        let confidence = [0.5f32; 10];
        let d = compare_attacks(
            3,
            Direction::Greater,
            &attacked(&candidate, &class, &confidence),
            &attacked(&other, &class, &confidence),
        );
        let e = &d.per_class[0];
        assert_eq!((e.class, e.eligible, e.probe_into, e.control_into), (3, 10, 8, 3));
        // scipy.stats.binomtest(6, 7, 0.5, alternative="greater").pvalue = 0.0625
        assert!((e.p_value - 0.0625).abs() < 1e-12, "{}", e.p_value);
    }

    /// A probe that broke `successes` of `attacked` inputs, with these limits.
    fn probe(successes: usize, attacked: usize, max: Option<f64>, min: Option<f64>) -> ProbeEvidence {
        let clean = vec![0usize; attacked];
        let probed: Vec<usize> = (0..attacked).map(|i| usize::from(i < successes)).collect();
        let labels = vec![0i64; attacked];
        let confidence = vec![0.9f32; attacked];
        let own = crate::verdict::observe(&crate::verdict::Observation {
            classes: 2,
            clean: &clean,
            probed: &probed,
            control: None,
            labels: Some(&labels),
            clean_confidence: &confidence,
            probed_confidence: &confidence,
        });
        ProbeEvidence {
            category: crate::battery::spec::Category::Adversarial,
            thresholds: Thresholds::Adversarial {
                alpha: 0.05,
                min_effect: 0.1,
                max_attack_success: max,
                min_robust_accuracy: min,
            },
            own,
            references: Vec::new(),
            baseline: None,
            attack: Some(AttackNumbers { attacked, successes }),
            non_finite: crate::verdict::NonFinite::default(),
        }
    }

    #[test]
    fn limits_fail_above_them_pass_below_and_thin_evidence_is_inconclusive() {
        let fail = judge(&probe(30, 100, Some(0.2), None), 0);
        assert_eq!(fail.verdict, Verdict::Fail);
        assert_eq!(fail.attack_success_rate, Some(0.3));
        let interval = fail.attack_success_interval.unwrap();
        assert!(interval.lower < 0.3 && 0.3 < interval.upper);
        assert_eq!(judge(&probe(10, 100, Some(0.2), None), 0).verdict, Verdict::Pass);
        // Robust accuracy 70% < 80%.
        assert_eq!(judge(&probe(30, 100, None, Some(0.8)), 0).verdict, Verdict::Fail);
        // Five inputs cannot show a 20% limit is met: P(no success | 20%) = 0.8^5 = 0.33 ≥ 0.05.
        assert_eq!(judge(&probe(0, 5, Some(0.2), None), 0).verdict, Verdict::Inconclusive);
        // Nothing to judge against: inconclusive, never a silent pass.
        let nothing = judge(&probe(0, 100, None, None), 0);
        assert_eq!(nothing.verdict, Verdict::Inconclusive);
        assert!(nothing.reason.contains("nothing to judge it against"), "{}", nothing.reason);
    }
}
