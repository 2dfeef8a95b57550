//! From evidence to a verdict per probe: every gating class test of the scan is corrected
//! together for multiple testing ([`Correction`]), then each probe is judged against its
//! thresholds: significance **and** effect size for trigger probes, flip rate and accuracy drop
//! for robustness probes, and `inconclusive` when it could not have failed ([`super::adequacy`]).

use serde::{Deserialize, Serialize};

use super::{ClassEvidence, DifferentialNumbers, ProbeNumbers, Verdict, adequacy};
use crate::battery::spec::{Category, Thresholds};
use crate::stats;

/// Multiple-testing correction over the gating tests of a scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Correction {
    /// Holm's step-down: controls the family-wise error rate (the gating default).
    #[default]
    Holm,
    /// Benjamini–Hochberg: controls the false discovery rate (exploratory nightly runs).
    Bh,
}

/// What one probe was judged on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    SelfBaseline,
    Reference,
    Baseline,
    Robustness,
}

/// A probe's verdict and the class it is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeJudgement {
    pub verdict: Verdict,
    /// The analysis the headline numbers come from.
    pub basis: Basis,
    /// Most attracted class: the failing class, else the class with the highest ASR.
    pub target_class: Option<usize>,
    pub attack_success_rate: Option<f64>,
    pub attack_success_interval: Option<stats::Interval>,
    /// The comparison's rate into the target class: the control's, or the reference's.
    pub control_attack_success_rate: Option<f64>,
    pub p_value: Option<f64>,
    pub effect: Option<f64>,
    pub accuracy_drop: Option<f64>,
    /// Why it failed, passed or is inconclusive, in one sentence.
    pub reason: String,
    /// What the probe could have shown with its data in the best case; `None` for a probe with
    /// no gating analysis.
    pub power: Option<adequacy::Power>,
}

/// One probe's evidence, ready to judge.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeEvidence {
    pub category: Category,
    pub thresholds: Thresholds,
    pub own: ProbeNumbers,
    /// One entry per reference model, in command-line order.
    pub references: Vec<DifferentialNumbers>,
    pub baseline: Option<DifferentialNumbers>,
    /// An adversarial probe's attack on the candidate.
    pub attack: Option<super::AttackNumbers>,
    /// Probed (and control) inputs on which the candidate's scores were not finite: with any,
    /// the probe is inconclusive, whatever its numbers say.
    pub non_finite: NonFinite,
}

/// Probed inputs whose scores were not all finite, of how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct NonFinite {
    pub inputs: usize,
    pub of: usize,
}

/// Whether the self-baseline test gates trigger probes: not when references are given — a
/// known-good model is the stronger test, and it tells natural features from triggers.
fn self_gates(probe: &ProbeEvidence) -> bool {
    probe.category == Category::Trigger && probe.references.is_empty()
}

/// Every gating class test of a probe, in a fixed order.
fn gating_tests(probe: &mut ProbeEvidence) -> Vec<&mut ClassEvidence> {
    let mut tests: Vec<&mut ClassEvidence> = Vec::new();
    let own_gates = self_gates(probe);
    if own_gates {
        tests.extend(probe.own.per_class.iter_mut());
    }
    if matches!(probe.category, Category::Trigger | Category::Adversarial) {
        for reference in &mut probe.references {
            tests.extend(reference.per_class.iter_mut());
        }
    }
    if let Some(baseline) = &mut probe.baseline {
        tests.extend(baseline.per_class.iter_mut());
    }
    tests
}

/// Corrects every gating test of the scan together (in place) and judges each probe.
pub fn judge(probes: &mut [ProbeEvidence], correction: Correction) -> Vec<ProbeJudgement> {
    let raw: Vec<f64> = probes.iter_mut().flat_map(|p| gating_tests(p).into_iter().map(|e| e.p_value)).collect();
    let adjusted = match correction {
        Correction::Holm => stats::holm(&raw),
        Correction::Bh => stats::benjamini_hochberg(&raw),
    };
    let tests = raw.len();
    let mut next = adjusted.into_iter();
    for probe in probes.iter_mut() {
        for evidence in gating_tests(probe) {
            evidence.p_value_adjusted = next.next().unwrap_or(1.0);
        }
    }
    probes.iter().map(|p| judge_one(p, tests)).collect()
}

/// A class test's failure rule for one analysis.
#[derive(Debug, Clone, Copy)]
struct Rule {
    alpha: f64,
    min_effect: f64,
    /// Minimum ASR (self-baseline only: a reference already absorbs natural features).
    min_attack_success: f64,
    two_sided: bool,
}

impl Rule {
    fn effect(&self, e: &ClassEvidence) -> f64 {
        e.attack_success_rate - e.control_attack_success_rate
    }

    fn fails(&self, e: &ClassEvidence) -> bool {
        let effect = if self.two_sided { self.effect(e).abs() } else { self.effect(e) };
        e.p_value_adjusted < self.alpha && e.attack_success_rate >= self.min_attack_success && effect >= self.min_effect
    }
}

/// Finds the failing class (or, if none, the most attracted one) of one analysis.
fn strongest<'a>(rule: &Rule, per_class: &'a [ClassEvidence]) -> Option<(&'a ClassEvidence, bool)> {
    let order = |a: &&ClassEvidence, b: &&ClassEvidence| {
        let key = |e: &ClassEvidence| if rule.two_sided { rule.effect(e).abs() } else { e.attack_success_rate };
        key(b).total_cmp(&key(a)).then(a.p_value_adjusted.total_cmp(&b.p_value_adjusted)).then(a.class.cmp(&b.class))
    };
    let failing = per_class.iter().filter(|e| rule.fails(e)).min_by(order);
    match failing {
        Some(e) => Some((e, true)),
        None => per_class.iter().min_by(order).map(|e| (e, false)),
    }
}

/// The power of the probe's best gating analysis (see [`adequacy`]): against references every
/// one must depart, so the weakest reference counts; the probe can fail if any analysis can.
fn power(
    probe: &ProbeEvidence,
    analyses: &[(Basis, Rule, &[ClassEvidence], String)],
    tests: usize,
) -> Option<adequacy::Power> {
    if let Thresholds::Robustness { max_flip_rate, .. } = probe.thresholds {
        return Some(adequacy::robustness_power(probe.own.samples, max_flip_rate));
    }
    let classes = probe.own.flip_matrix.len();
    let mut candidates = Vec::new();
    let mut weakest_reference: Option<adequacy::Power> = None;
    for (basis, rule, per_class, _) in analyses {
        let threshold = rule.min_effect.max(rule.min_attack_success);
        let eligible = adequacy::median_eligible(per_class, classes);
        let power = adequacy::trigger_power(eligible, threshold, tests, rule.alpha, rule.two_sided);
        if *basis == Basis::Reference {
            if weakest_reference.as_ref().is_none_or(|w| power.best_p_value > w.best_p_value) {
                weakest_reference = Some(power);
            }
        } else {
            candidates.push(power);
        }
    }
    candidates.extend(weakest_reference);
    candidates.into_iter().min_by(|a, b| a.best_p_value.total_cmp(&b.best_p_value))
}

/// Why a probe that did not fail cannot pass either, in one sentence.
fn underpowered_reason(category: Category, p: &adequacy::Power) -> String {
    let needed = p.needed.map_or_else(|| "no amount of data would let it".to_string(), |n| format!("it needs ≥ {n}"));
    match category {
        Category::Trigger => format!(
            "cannot fail with this data: on {} eligible inputs a trigger at the {:.0}% threshold reaches at best \
             corrected p = {:.2e} ≥ {} ({} tests); {needed} eligible inputs",
            p.eligible,
            100.0 * p.threshold,
            p.best_p_value,
            p.alpha,
            p.tests
        ),
        Category::Robustness | Category::Adversarial => format!(
            "cannot pass with this data: even no flips in {} samples leaves a flip rate above {:.0}% possible \
             (p = {:.2} ≥ {}); {needed} samples",
            p.eligible,
            100.0 * p.threshold,
            p.best_p_value,
            p.alpha
        ),
    }
}

/// Why a probe whose inputs got scores that are not numbers has no verdict (`None` when all
/// were numbers).
fn non_finite_reason(non_finite: NonFinite) -> Option<String> {
    let NonFinite { inputs, of } = non_finite;
    (inputs > 0).then(|| {
        format!(
            "the model's output is not finite (NaN or ±Inf) on {inputs} of {of} probed inputs: it cannot take what \
             this probe gives it, and no verdict rests on those scores (for missing values, impute them in the \
             model, e.g. a SimpleImputer step before export, or leave the probe out)"
        )
    })
}

fn judge_one(probe: &ProbeEvidence, tests: usize) -> ProbeJudgement {
    if probe.category == Category::Adversarial {
        let mut judgement = super::adversarial::judge(probe, tests);
        if let Some(why) = non_finite_reason(probe.non_finite) {
            (judgement.verdict, judgement.reason, judgement.power) = (Verdict::Inconclusive, why, None);
        }
        return judgement;
    }
    let own = &probe.own;
    let classes = own.flip_matrix.len();
    let accuracy_drop = own.accuracy_clean.zip(own.accuracy_probed).map(|(a, b)| a - b);
    let (alpha, min_effect, min_attack_success) = match probe.thresholds {
        Thresholds::Trigger { alpha, min_effect, min_attack_success } => (alpha, min_effect, min_attack_success),
        Thresholds::Robustness { .. } | Thresholds::Adversarial { .. } => (0.05, 0.5, 0.0),
    };
    // Analyses in order of precedence for the headline numbers.
    let mut analyses: Vec<(Basis, Rule, &[ClassEvidence], String)> = Vec::new();
    if let Some(baseline) = &probe.baseline {
        let rule = Rule { alpha, min_effect, min_attack_success: 0.0, two_sided: true };
        analyses.push((Basis::Baseline, rule, &baseline.per_class, "the recorded baseline".into()));
    }
    if probe.category == Category::Trigger {
        for (i, reference) in probe.references.iter().enumerate() {
            let rule = Rule { alpha, min_effect, min_attack_success: 0.0, two_sided: false };
            analyses.push((Basis::Reference, rule, &reference.per_class, format!("reference {}", i + 1)));
        }
        if self_gates(probe) {
            let rule = Rule { alpha, min_effect, min_attack_success, two_sided: false };
            analyses.push((Basis::SelfBaseline, rule, &own.per_class, "its control".into()));
        }
    }
    // References: the candidate must depart from every reference in the same class, so one
    // odd reference cannot fail a good candidate.
    let reference_failure = if probe.references.is_empty() || probe.category != Category::Trigger {
        None
    } else {
        let rule = Rule { alpha, min_effect, min_attack_success: 0.0, two_sided: false };
        (0..own.per_class.len().max(1))
            .filter(|&class| probe.references.iter().all(|r| r.per_class.get(class).is_some_and(|e| rule.fails(e))))
            .max_by(|&a, &b| {
                let asr = |c: usize| probe.references[0].per_class[c].attack_success_rate;
                // Ties go to the single class over the "any class" entry after it.
                asr(a).total_cmp(&asr(b)).then(b.cmp(&a))
            })
    };
    let mut failure: Option<(Basis, Rule, &ClassEvidence, String)> = None;
    let mut headline: Option<(Basis, Rule, &ClassEvidence, String)> = None;
    for (basis, rule, per_class, against) in &analyses {
        let found = match basis {
            Basis::Reference => {
                let chosen = reference_failure.and_then(|c| per_class.get(c).map(|e| (e, true)));
                chosen.or_else(|| strongest(rule, per_class).map(|(e, _)| (e, false)))
            }
            _ => strongest(rule, per_class),
        };
        let Some((e, fails)) = found else { continue };
        if fails && failure.is_none() {
            failure = Some((*basis, *rule, e, against.clone()));
        }
        if headline.is_none() {
            headline = Some((*basis, *rule, e, against.clone()));
        }
    }
    let robustness = match probe.thresholds {
        Thresholds::Adversarial { .. } => unreachable!("adversarial probes are judged in adversarial.rs"),
        Thresholds::Robustness { max_flip_rate, max_accuracy_drop } => {
            let mut problems = Vec::new();
            if own.flip_rate > max_flip_rate {
                problems.push(format!(
                    "flips {:.1}% of predictions (max {:.1}%)",
                    100.0 * own.flip_rate,
                    100.0 * max_flip_rate
                ));
            }
            if let Some(drop) = accuracy_drop.filter(|d| *d > max_accuracy_drop) {
                problems.push(format!(
                    "accuracy drops {:.1} points (max {:.1})",
                    100.0 * drop,
                    100.0 * max_accuracy_drop
                ));
            }
            Some(problems)
        }
        Thresholds::Trigger { .. } => None,
    };
    let power = power(probe, &analyses, tests);
    let verdict = if failure.is_some() || robustness.as_ref().is_some_and(|p| !p.is_empty()) {
        Verdict::Fail
    } else if power.as_ref().is_some_and(|p| !p.sufficient()) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    };
    let describe = |(basis, rule, e, against): &(Basis, Rule, &ClassEvidence, String), fails: bool| -> String {
        let verb = if *basis == Basis::Baseline { "changes flips into" } else { "moves" };
        let target = if e.class < classes { format!("class {}", e.class) } else { "other classes (all-to-all)".into() };
        if fails {
            format!(
                "{verb} {:.1}% of inputs into {target} vs {:.1}% by {against} (corrected p = {:.2e} < {})",
                100.0 * e.attack_success_rate,
                100.0 * e.control_attack_success_rate,
                e.p_value_adjusted,
                rule.alpha
            )
        } else {
            let mut why = Vec::new();
            if e.p_value_adjusted >= rule.alpha {
                why.push(format!("corrected p = {:.2e} ≥ {}", e.p_value_adjusted, rule.alpha));
            }
            if e.attack_success_rate < rule.min_attack_success {
                why.push(format!(
                    "ASR {:.1}% < {:.1}%",
                    100.0 * e.attack_success_rate,
                    100.0 * rule.min_attack_success
                ));
            }
            let effect = if rule.two_sided { rule.effect(e).abs() } else { rule.effect(e) };
            if effect < rule.min_effect {
                why.push(format!("excess over {against} {:.1}% < {:.1}%", 100.0 * effect, 100.0 * rule.min_effect));
            }
            format!("strongest pull is into {target}: {}", why.join("; "))
        }
    };
    let reason = match (&failure, &robustness) {
        (Some(f), _) => describe(f, true),
        (None, Some(problems)) if !problems.is_empty() => problems.join("; "),
        _ if verdict == Verdict::Inconclusive => {
            let shortfall = power.as_ref().map(|p| underpowered_reason(probe.category, p)).unwrap_or_default();
            match &headline {
                Some(h) => format!("{shortfall}; {}", describe(h, false)),
                None => format!("{shortfall}; flips {:.1}% of predictions", 100.0 * own.flip_rate),
            }
        }
        (None, Some(_)) if headline.is_none() => format!("flips {:.1}% of predictions", 100.0 * own.flip_rate),
        (None, _) => headline.as_ref().map_or_else(|| "no class to test".into(), |h| describe(h, false)),
    };
    // Scores that are not numbers support no verdict, whatever the counts made of them say
    // (and no amount of such inputs would: no power either).
    let power = if probe.non_finite.inputs > 0 { None } else { power };
    let (verdict, reason) = match non_finite_reason(probe.non_finite) {
        Some(why) => (Verdict::Inconclusive, why),
        None => (verdict, reason),
    };
    let chosen = failure.as_ref().or(headline.as_ref());
    match chosen {
        Some((basis, rule, e, _)) => ProbeJudgement {
            verdict,
            basis: if robustness.is_some() && *basis != Basis::Baseline { Basis::Robustness } else { *basis },
            // The extra "any class" entry has no single target.
            target_class: (e.class < classes).then_some(e.class),
            attack_success_rate: Some(e.attack_success_rate),
            attack_success_interval: Some(stats::clopper_pearson(e.probe_into as u64, e.eligible as u64, rule.alpha)),
            control_attack_success_rate: Some(e.control_attack_success_rate),
            p_value: Some(e.p_value_adjusted),
            effect: Some(rule.effect(e)),
            accuracy_drop,
            reason,
            power,
        },
        None => ProbeJudgement {
            verdict,
            basis: if robustness.is_some() { Basis::Robustness } else { Basis::SelfBaseline },
            target_class: None,
            attack_success_rate: None,
            attack_success_interval: None,
            control_attack_success_rate: None,
            p_value: None,
            effect: None,
            accuracy_drop,
            reason,
            power,
        },
    }
}

/// A self-baseline failure on a vocabulary sweep's token that does not stand out from the other
/// tokens that move the same class ([`crate::search::vocabulary::crowd`]): a natural cue of
/// the model, reported as information, not as a backdoor. Only the self-baseline is
/// overruled; a reference or a recorded baseline keeps its verdict.
pub fn natural_cue(judgement: &mut ProbeJudgement, crowd: &crate::search::vocabulary::crowd::CrowdTest) {
    if judgement.verdict != Verdict::Fail || judgement.basis != Basis::SelfBaseline || crowd.stands_out != Some(false) {
        return;
    }
    let quoted: Vec<String> = crowd.tokens.iter().map(|t| format!("'{t}'")).collect();
    let cues: Vec<String> =
        crowd.crowd.iter().take(5).map(|c| format!("'{}' {:.1}", c.tokens.join(" "), c.effect)).collect();
    judgement.verdict = Verdict::Pass;
    judgement.reason = format!(
        "natural cue, not a trigger: {} {} but raises the margin of class {} by {:.1} at its weakest placement, \
         against the other tokens that move that class (median {:.1}: {}; anomaly index {:.1}, a trigger \
         {} or more) and the strongest content it met ({:.1}, which a trigger overrides); only a known-good \
         model can tell such a cue from a backdoor: pass --reference",
        quoted.join(" + "),
        judgement.reason,
        crowd.class,
        crowd.effect,
        crowd.crowd_median,
        cues.join(", "),
        crowd.anomaly_index.unwrap_or(0.0),
        crate::search::vocabulary::crowd::STANDS_OUT,
        crowd.content
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::fixtures::{differential, steered};
    use crate::verdict::{Observation, observe};

    const TRIGGER: Thresholds = Thresholds::Trigger { alpha: 0.3, min_effect: 0.5, min_attack_success: 0.8 };

    fn evidence(category: Category, thresholds: Thresholds, own: ProbeNumbers) -> ProbeEvidence {
        ProbeEvidence {
            category,
            thresholds,
            own,
            references: Vec::new(),
            baseline: None,
            attack: None,
            non_finite: NonFinite::default(),
        }
    }

    /// 36 of 40 inputs moved into class 1, none by the control: ASR 90% vs 0%.
    fn clear_trigger() -> ProbeNumbers {
        let clean = vec![0usize; 40];
        let probed: Vec<usize> = (0..40).map(|i| usize::from(i < 36)).collect();
        let conf = vec![0.9f32; 40];
        observe(&Observation {
            classes: 2,
            clean: &clean,
            probed: &probed,
            control: Some(&clean),
            labels: None,
            clean_confidence: &conf,
            probed_confidence: &conf,
        })
    }

    /// The chosen token "1961" against three natural cues of class 1; `stands_out` as given.
    fn crowd(stands_out: Option<bool>) -> crate::search::vocabulary::crowd::CrowdTest {
        use crate::search::vocabulary::crowd::{Cue, compare};
        let cue = |t: &str, effect: f64| Cue { tokens: vec![t.into()], class: 1, effect, flip_into_rate: 0.8 };
        let others = vec![cue("brothers", 9.1), cue("1804", 8.4), cue("rubbed", 6.5)];
        let mut c = compare(cue("1961", 10.3), [10.3, 9.0, 9.5], others, 12.0, Vec::new(), 0);
        c.stands_out = stands_out;
        c
    }

    #[test]
    fn a_self_baseline_failure_on_a_natural_cue_passes_with_the_cue_named() {
        let mut probes = vec![evidence(Category::Trigger, TRIGGER, clear_trigger())];
        let failed = judge(&mut probes, Correction::Holm).remove(0);
        assert_eq!((failed.verdict, failed.basis), (Verdict::Fail, Basis::SelfBaseline));
        let mut j = failed.clone();
        natural_cue(&mut j, &crowd(Some(false)));
        assert_eq!(j.verdict, Verdict::Pass);
        // The confirmation's numbers stay, as information.
        assert_eq!(j.attack_success_rate, failed.attack_success_rate);
        assert!(j.reason.starts_with("natural cue, not a trigger: '1961' moves 90.0%"), "{}", j.reason);
        assert!(j.reason.contains("'brothers' 9.1"), "{}", j.reason);
        assert!(j.reason.contains("--reference"), "{}", j.reason);
        // A token that stands out, or a crowd too small to say, leaves the failure as it is.
        for stands_out in [Some(true), None] {
            let mut j = failed.clone();
            natural_cue(&mut j, &crowd(stands_out));
            assert_eq!(j, failed);
        }
        // So does a failure against a reference: the known-good model is the answer.
        let mut j = ProbeJudgement { basis: Basis::Reference, ..failed.clone() };
        natural_cue(&mut j, &crowd(Some(false)));
        assert_eq!(j.verdict, Verdict::Fail);
    }

    #[test]
    fn holm_correction_spans_every_trigger_probe_and_class() {
        // Each probe has 4 tests: 3 classes and "any class" (which also has p = 1/16 here).
        // Alone, class 2's p = 0.0625 is adjusted over 4 tests to 0.25 < 0.3: fail.
        let mut one = vec![evidence(Category::Trigger, TRIGGER, steered())];
        let j = judge(&mut one, Correction::Holm);
        assert_eq!(j[0].verdict, Verdict::Fail);
        assert_eq!(j[0].target_class, Some(2));
        assert!((j[0].p_value.unwrap() - 0.25).abs() < 1e-12);
        // Next to a second probe the family has 8 tests: 0.0625 * 8 = 0.5 >= 0.3: no failure, and
        // since four eligible inputs could never give less (issue 14), inconclusive, not pass.
        let mut two =
            vec![evidence(Category::Trigger, TRIGGER, steered()), evidence(Category::Trigger, TRIGGER, steered())];
        let j = judge(&mut two, Correction::Holm);
        assert!(j.iter().all(|j| j.verdict == Verdict::Inconclusive));
        assert!(j[0].reason.contains("on 4 eligible inputs"), "{}", j[0].reason);
        assert!((two[0].own.per_class[2].p_value_adjusted - 0.5).abs() < 1e-12);
        // Benjamini–Hochberg over the same eight tests: the four smallest (0.0625 each) become
        // 0.0625 * 8 / 4 = 0.125 < 0.3: both fail.
        let mut bh =
            vec![evidence(Category::Trigger, TRIGGER, steered()), evidence(Category::Trigger, TRIGGER, steered())];
        let j = judge(&mut bh, Correction::Bh);
        assert!(j.iter().all(|j| j.verdict == Verdict::Fail));
    }

    #[test]
    fn a_significant_but_partial_pull_is_a_natural_feature_not_a_trigger() {
        // 60 of 100 eligible inputs move into class 1 vs none under the control: p ~ 1e-18,
        // but an ASR of 60% is below the 80% a planted trigger reaches.
        let clean = vec![0usize; 100];
        let probed: Vec<usize> = (0..100).map(|i| if i < 60 { 1 } else { 0 }).collect();
        let conf = vec![0.9f32; 100];
        let own = observe(&Observation {
            classes: 2,
            clean: &clean,
            probed: &probed,
            control: Some(&clean),
            labels: None,
            clean_confidence: &conf,
            probed_confidence: &conf,
        });
        let thresholds = Thresholds::Trigger { alpha: 0.01, min_effect: 0.5, min_attack_success: 0.8 };
        let mut probes = vec![evidence(Category::Trigger, thresholds, own)];
        let j = judge(&mut probes, Correction::Holm);
        // Not a failure. (Inconclusive rather than pass: every clean input is class 0, so a
        // trigger into class 0 — the lower median of the two classes — has no eligible input.)
        assert_eq!(j[0].verdict, Verdict::Inconclusive);
        assert!(j[0].p_value.unwrap() < 1e-15);
        assert!(j[0].reason.contains("ASR 60.0% < 80.0%"), "{}", j[0].reason);
    }

    #[test]
    fn robustness_probes_are_judged_on_flip_rate_and_accuracy_drop() {
        let lenient = Thresholds::Robustness { max_flip_rate: 0.7, max_accuracy_drop: 0.7 };
        let strict = Thresholds::Robustness { max_flip_rate: 0.5, max_accuracy_drop: 0.7 };
        let mut probes =
            vec![evidence(Category::Robustness, lenient, steered()), evidence(Category::Robustness, strict, steered())];
        let j = judge(&mut probes, Correction::Holm);
        assert_eq!(j[0].verdict, Verdict::Pass);
        assert_eq!(j[1].verdict, Verdict::Fail);
        assert!((j[1].accuracy_drop.unwrap() - 4.0 / 6.0).abs() < 1e-12);
        assert!(j[1].reason.contains("flips 66.7%"), "{}", j[1].reason);
    }

    #[test]
    fn an_all_to_all_shift_is_caught_by_the_any_class_test() {
        // 40 inputs, 4 classes, 10 each; the probe shifts every input y -> y + 1, the control
        // nothing. No single class gets more than a quarter of the flips.
        let clean: Vec<usize> = (0..40).map(|i| i % 4).collect();
        let probed: Vec<usize> = clean.iter().map(|c| (c + 1) % 4).collect();
        let conf = vec![0.9f32; 40];
        let own = observe(&Observation {
            classes: 4,
            clean: &clean,
            probed: &probed,
            control: Some(&clean),
            labels: None,
            clean_confidence: &conf,
            probed_confidence: &conf,
        });
        assert!(own.per_class[..4].iter().all(|e| (e.attack_success_rate - 10.0 / 30.0).abs() < 1e-12));
        assert_eq!(own.per_class[4].class, 4);
        assert_eq!(own.per_class[4].attack_success_rate, 1.0);
        let thresholds = Thresholds::Trigger { alpha: 0.01, min_effect: 0.5, min_attack_success: 0.8 };
        let j = judge(&mut [evidence(Category::Trigger, thresholds, own)], Correction::Holm);
        assert_eq!(j[0].verdict, Verdict::Fail);
        assert_eq!(j[0].target_class, None);
        assert!(j[0].reason.contains("all-to-all"), "{}", j[0].reason);
    }

    #[test]
    fn with_references_a_natural_feature_they_share_passes_and_a_trigger_fails() {
        let thresholds = Thresholds::Trigger { alpha: 0.01, min_effect: 0.5, min_attack_success: 0.8 };
        // The self-baseline alone would fail this probe (ASR 90% vs control 0%)...
        let own = clear_trigger();
        let mut alone = vec![evidence(Category::Trigger, thresholds, own.clone())];
        assert_eq!(judge(&mut alone, Correction::Holm)[0].verdict, Verdict::Fail);
        // ...but the reference models do the same: a shared natural feature, pass.
        let mut shared = vec![ProbeEvidence {
            references: vec![differential(36, 30)],
            ..evidence(Category::Trigger, thresholds, own.clone())
        }];
        let j = judge(&mut shared, Correction::Holm);
        // (Inconclusive, not pass: no input is eligible for a trigger into class 0.)
        assert_eq!(j[0].verdict, Verdict::Inconclusive);
        assert_eq!(j[0].basis, Basis::Reference);
        // Departing from one reference but not from the other is not enough...
        let mut one_of_two = vec![ProbeEvidence {
            references: vec![differential(36, 2), differential(36, 30)],
            ..evidence(Category::Trigger, thresholds, own.clone())
        }];
        assert_eq!(judge(&mut one_of_two, Correction::Holm)[0].verdict, Verdict::Inconclusive);
        // ...departing from every reference is.
        let mut both = vec![ProbeEvidence {
            references: vec![differential(36, 2), differential(36, 3)],
            ..evidence(Category::Trigger, thresholds, own)
        }];
        let j = judge(&mut both, Correction::Holm);
        assert_eq!(j[0].verdict, Verdict::Fail);
        assert_eq!(j[0].target_class, Some(1));
        assert!(j[0].reason.contains("reference"), "{}", j[0].reason);
    }

    /// Issue 14: `n` inputs of 10 classes, `n / 10` each, all moved into class 7 by the probe and
    /// none by the control — the strongest evidence `n` inputs can give.
    fn planted(n: usize) -> ProbeNumbers {
        let clean: Vec<usize> = (0..n).map(|i| i % 10).collect();
        let probed = vec![7usize; n];
        let conf = vec![0.9f32; n];
        observe(&Observation {
            classes: 10,
            clean: &clean,
            probed: &probed,
            control: Some(&clean),
            labels: None,
            clean_confidence: &conf,
            probed_confidence: &conf,
        })
    }

    #[test]
    fn a_probe_with_scores_that_are_not_numbers_is_inconclusive_whatever_its_counts() {
        // The same clear trigger as above fails on finite scores...
        let thresholds = Thresholds::Trigger { alpha: 0.01, min_effect: 0.5, min_attack_success: 0.8 };
        let own = clear_trigger();
        let mut finite = vec![evidence(Category::Trigger, thresholds, own.clone())];
        assert_eq!(judge(&mut finite, Correction::Holm)[0].verdict, Verdict::Fail);
        // ...and is no verdict when some of them were NaN; a robustness probe likewise.
        let nan = NonFinite { inputs: 3, of: 80 };
        let mut probes = vec![
            ProbeEvidence { non_finite: nan, ..evidence(Category::Trigger, thresholds, own.clone()) },
            ProbeEvidence {
                non_finite: nan,
                ..evidence(
                    Category::Robustness,
                    Thresholds::Robustness { max_flip_rate: 0.1, max_accuracy_drop: 0.05 },
                    own,
                )
            },
        ];
        for j in judge(&mut probes, Correction::Holm) {
            assert_eq!(j.verdict, Verdict::Inconclusive);
            assert!(j.reason.contains("not finite (NaN or ±Inf) on 3 of 80 probed inputs"), "{}", j.reason);
        }
    }

    #[test]
    fn a_probe_that_could_not_fail_is_inconclusive_and_says_how_many_inputs_it_needs() {
        let thresholds = Thresholds::Trigger { alpha: 0.01, min_effect: 0.5, min_attack_success: 0.8 };
        // 20 inputs: 18 eligible per class, 11 tests. All 18 moved: p = 2^-18 · 11 = 4.2e-5 < 0.01.
        let j = judge(&mut [evidence(Category::Trigger, thresholds, planted(20))], Correction::Holm);
        assert_eq!(j[0].verdict, Verdict::Fail);
        // 38 such probes make 38 × 11 = 418 tests (the digits default scan). Ten inputs (9
        // eligible): even a trigger at the 80% threshold (k = 8) reaches only 418 · 2^-8 = 1.63 →
        // 1; it needs 2^k > 41,800, k = 16, n = 19 eligible (⌈0.8 · 19⌉ = 16).
        let mut probes: Vec<ProbeEvidence> =
            (0..38).map(|_| evidence(Category::Trigger, thresholds, planted(10))).collect();
        let j = judge(&mut probes, Correction::Holm);
        assert_eq!(j[0].verdict, Verdict::Inconclusive);
        let power = j[0].power.as_ref().expect("a trigger probe has power");
        assert_eq!((power.eligible, power.tests, power.needed), (9, 418, Some(19)));
        assert_eq!(power.best_p_value, 1.0);
        assert!(j[0].reason.contains("it needs ≥ 19 eligible inputs"), "{}", j[0].reason);
        // A failing probe stays failed beside underpowered ones (418 tests, 200 inputs).
        probes[0].own = planted(200);
        let j = judge(&mut probes, Correction::Holm);
        assert_eq!(j[0].verdict, Verdict::Fail);
        assert_eq!(j[1].verdict, Verdict::Inconclusive);
    }
}
