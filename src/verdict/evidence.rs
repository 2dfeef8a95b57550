//! The evidence both analyses count over paired outcomes: per class, flips into the class by
//! two sides of a comparison with the exact McNemar test ([`ClassEvidence`]), and distribution
//! effect sizes ([`DistributionEvidence`]). [`super::observe()`] pairs a probe with its matched
//! control, [`super::compare()`] the candidate with another model; both count with the functions
//! here, so the two analyses cannot drift apart.

use serde::{Deserialize, Serialize};

use crate::stats;

/// Evidence that a probe steers inputs into one class more than something else does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassEvidence {
    pub class: usize,
    /// Samples whose clean prediction is not this class.
    pub eligible: usize,
    pub probe_into: usize,
    /// Flips into the class by the comparison: the control, or the reference model.
    pub control_into: usize,
    pub attack_success_rate: f64,
    pub control_attack_success_rate: f64,
    /// Exact McNemar p-value, before correction.
    pub p_value: f64,
    /// Corrected over all gating tests of the scan.
    pub p_value_adjusted: f64,
}

/// Distribution-level effect sizes (reported, not gating).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistributionEvidence {
    /// Two-sample KS statistic D on top-class confidences, and its p-value.
    pub ks_statistic: f64,
    pub ks_p_value: f64,
    /// Jensen–Shannon divergence (bits, in [0, 1]) between predicted-class histograms.
    pub js_divergence: f64,
}

/// Which departures a differential test looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// The candidate flips into a class more often (a reference model: is there a trigger?).
    Greater,
    /// Either way (a recorded baseline: did behaviour change?).
    TwoSided,
}

pub(super) fn rate(k: usize, n: usize) -> f64 {
    if n == 0 { 0.0 } else { k as f64 / n as f64 }
}

fn class_histogram(classes: usize, predictions: &[usize]) -> Vec<u64> {
    let mut bins = vec![0u64; classes];
    for &p in predictions {
        if p < classes {
            bins[p] += 1;
        }
    }
    bins
}

pub(super) fn distribution(
    classes: usize,
    a: &[usize],
    b: &[usize],
    conf_a: &[f32],
    conf_b: &[f32],
) -> DistributionEvidence {
    let widen = |v: &[f32]| v.iter().map(|&x| f64::from(x)).collect::<Vec<f64>>();
    let ks = stats::ks_two_sample(&widen(conf_a), &widen(conf_b));
    DistributionEvidence {
        ks_statistic: ks.statistic,
        ks_p_value: ks.p_value,
        js_divergence: stats::jensen_shannon(&class_histogram(classes, a), &class_histogram(classes, b)),
    }
}

/// Per class: paired flips into the class by `first` and `second` over inputs whose clean
/// predictions (by both `clean_*`) are not that class, with the exact McNemar test. One more
/// entry follows the classes, with `class == classes`: flips away from the clean prediction
/// into *any* other class — the signature of an all-to-all backdoor (`y → y + 1`), which
/// spreads its flips over every class and so never concentrates on one.
pub(super) fn class_evidence(
    classes: usize,
    direction: Direction,
    clean_first: &[usize],
    clean_second: &[usize],
    first: &[usize],
    second: &[usize],
) -> Vec<ClassEvidence> {
    let paired = |class: usize,
                  eligible_at: &dyn Fn(usize) -> bool,
                  into_first: &dyn Fn(usize) -> bool,
                  into_second: &dyn Fn(usize) -> bool| {
        let (mut eligible, mut first_into, mut second_into) = (0, 0, 0);
        let (mut first_only, mut second_only) = (0u64, 0u64);
        for i in (0..first.len()).filter(|&i| eligible_at(i)) {
            eligible += 1;
            let a = into_first(i);
            let b = into_second(i);
            first_into += usize::from(a);
            second_into += usize::from(b);
            first_only += u64::from(a && !b);
            second_only += u64::from(b && !a);
        }
        let p_value = match direction {
            Direction::Greater => stats::mcnemar_exact_greater(first_only, second_only),
            Direction::TwoSided => stats::mcnemar_exact_two_sided(first_only, second_only),
        };
        ClassEvidence {
            class,
            eligible,
            probe_into: first_into,
            control_into: second_into,
            attack_success_rate: rate(first_into, eligible),
            control_attack_success_rate: rate(second_into, eligible),
            p_value,
            p_value_adjusted: p_value,
        }
    };
    let mut evidence: Vec<ClassEvidence> = (0..classes)
        .map(|class| {
            paired(class, &|i| clean_first[i] != class && clean_second[i] != class, &|i| first[i] == class, &|i| {
                second[i] == class
            })
        })
        .collect();
    evidence.push(paired(classes, &|_| true, &|i| first[i] != clean_first[i], &|i| second[i] != clean_second[i]));
    evidence
}
