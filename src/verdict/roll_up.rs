//! The scan's verdicts from its probes': `probity scan` writes them into the report, and
//! `attest verify` recomputes them to check an attestation's claims.

use super::{Verdict, adequacy};
use crate::battery::spec::Category;

/// A scan's verdicts, rolled up from its probes'.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanVerdicts {
    /// The scan's verdict: the worst of the two below (every probe gates).
    pub verdict: Verdict,
    /// The trigger probes' (backdoor evidence).
    pub backdoor: Verdict,
    /// The robustness probes' (quality gate).
    pub robustness: Verdict,
}

/// Rolls per-probe verdicts up into the scan's, given the problems found with the clean pass
/// (`health`, the report's `inconclusive` reasons): a problem that invalidates the evidence (NaN
/// or constant outputs, accuracy at chance) makes every verdict inconclusive whatever the probes
/// say; otherwise any failing probe fails its category and the scan (backdoor evidence stands
/// however little data there was), and an inconclusive probe or any other problem stops a pass.
/// `probity scan` computes the report's verdicts with it, and `attest verify` checks an
/// attestation's claimed verdicts against it.
pub fn roll_up(
    probes: impl IntoIterator<Item = (Category, Verdict)>,
    health: &[adequacy::Inconclusive],
) -> ScanVerdicts {
    if health.iter().any(|h| h.code.invalidates_evidence()) {
        let inconclusive = Verdict::Inconclusive;
        return ScanVerdicts { verdict: inconclusive, backdoor: inconclusive, robustness: inconclusive };
    }
    // With a problem that only stops a pass, nothing rolls up better than inconclusive.
    let floor = if health.is_empty() { Verdict::Pass } else { Verdict::Inconclusive };
    let (mut trigger, mut robustness) = (vec![floor], vec![floor]);
    for (category, verdict) in probes {
        match category {
            Category::Trigger => trigger.push(verdict),
            // An adversary is one more thing a model must be robust to.
            Category::Robustness | Category::Adversarial => robustness.push(verdict),
        }
    }
    let backdoor = Verdict::worst(trigger);
    let robustness = Verdict::worst(robustness);
    ScanVerdicts { verdict: Verdict::worst([backdoor, robustness]), backdoor, robustness }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_up_fails_the_category_and_the_scan_of_any_failing_probe() {
        use Category::{Robustness as R, Trigger as T};
        use Verdict::{Fail, Pass};
        let pass = ScanVerdicts { verdict: Pass, backdoor: Pass, robustness: Pass };
        assert_eq!(roll_up([], &[]), pass);
        assert_eq!(roll_up([(T, Pass), (R, Pass)], &[]), pass);
        assert_eq!(
            roll_up([(T, Pass), (T, Fail), (R, Pass)], &[]),
            ScanVerdicts { verdict: Fail, backdoor: Fail, ..pass }
        );
        assert_eq!(roll_up([(T, Pass), (R, Fail)], &[]), ScanVerdicts { verdict: Fail, robustness: Fail, ..pass });
    }

    #[test]
    fn the_scan_verdict_lets_a_failure_stand_unless_the_evidence_itself_is_void() {
        use Verdict::*;
        use adequacy::{Code, Inconclusive};
        let problem = |code| Inconclusive { code, message: String::new(), probes: Vec::new() };
        let verdict = |probes: &[Verdict], health: &[Inconclusive]| {
            roll_up(probes.iter().map(|&v| (Category::Trigger, v)), health).verdict
        };
        assert_eq!(verdict(&[Pass, Pass], &[]), Pass);
        assert_eq!(verdict(&[], &[]), Pass);
        assert_eq!(verdict(&[Pass, Inconclusive], &[]), Inconclusive);
        assert_eq!(verdict(&[Inconclusive, Fail], &[]), Fail);
        assert_eq!(verdict(&[Pass], &[problem(Code::LowCleanAccuracy)]), Inconclusive);
        assert_eq!(verdict(&[Fail], &[problem(Code::LowCleanAccuracy)]), Fail);
        // The categories roll up the same way, each with the clean pass's problems.
        let split =
            roll_up([(Category::Trigger, Fail), (Category::Robustness, Pass)], &[problem(Code::LowCleanAccuracy)]);
        assert_eq!((split.verdict, split.backdoor, split.robustness), (Fail, Fail, Inconclusive));
        for void in [Code::NonFiniteOutput, Code::ConstantOutput, Code::ChanceAccuracy] {
            assert_eq!(verdict(&[Fail, Pass], &[problem(void)]), Inconclusive, "{void:?}");
        }
    }
}
