//! Differential evidence: the candidate against a reference model (is there a trigger the
//! reference lacks?) or the predictions recorded from an accepted run (did behaviour change?),
//! on exactly the same clean and probed inputs.

use serde::{Deserialize, Serialize};

use super::evidence::{ClassEvidence, Direction, DistributionEvidence, class_evidence, distribution, rate};

/// The candidate and another model (or a recording) on the same clean and probed inputs.
#[derive(Debug, Clone, Copy)]
pub struct Comparison<'a> {
    pub classes: usize,
    pub direction: Direction,
    pub candidate_clean: &'a [usize],
    pub candidate_probed: &'a [usize],
    pub other_clean: &'a [usize],
    pub other_probed: &'a [usize],
    pub candidate_confidence: &'a [f32],
    pub other_confidence: &'a [f32],
}

/// Candidate vs one reference (or the recorded baseline) for one probe.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifferentialNumbers {
    pub direction: Direction,
    /// Share of inputs on which the two predict the same class, clean and probed.
    pub agreement_clean: f64,
    pub agreement_probed: f64,
    /// `attack_success_rate` is the candidate's, `control_attack_success_rate` the other's.
    pub per_class: Vec<ClassEvidence>,
    pub distribution: DistributionEvidence,
}

/// Compares the candidate with another model (or a recording) on the same inputs.
pub fn compare(c: &Comparison<'_>) -> DifferentialNumbers {
    let agree = |a: &[usize], b: &[usize]| rate(a.iter().zip(b).filter(|(x, y)| x == y).count(), a.len());
    DifferentialNumbers {
        direction: c.direction,
        agreement_clean: agree(c.candidate_clean, c.other_clean),
        agreement_probed: agree(c.candidate_probed, c.other_probed),
        per_class: class_evidence(
            c.classes,
            c.direction,
            c.candidate_clean,
            c.other_clean,
            c.candidate_probed,
            c.other_probed,
        ),
        distribution: distribution(
            c.classes,
            c.candidate_probed,
            c.other_probed,
            c.candidate_confidence,
            c.other_confidence,
        ),
    }
}

#[cfg(test)]
mod tests {
    use crate::verdict::fixtures::differential;

    #[test]
    fn compare_pairs_candidate_and_reference_on_the_same_inputs() {
        let d = differential(36, 4);
        assert_eq!(d.agreement_clean, 1.0);
        assert!((d.agreement_probed - 8.0 / 40.0).abs() < 1e-12);
        let e = &d.per_class[1];
        assert_eq!((e.eligible, e.probe_into, e.control_into), (40, 36, 4));
        // 32 discordant pairs, all the candidate's: p = 2^-32.
        assert!((e.p_value - 0.5f64.powi(32)).abs() < 1e-20);
    }
}
