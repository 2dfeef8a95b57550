//! From predictions to verdicts: pure functions, no I/O.
//!
//! Three kinds of evidence, all counted per probe and per class `c` over paired outcomes (the
//! same inputs seen two ways):
//! - **self-baseline** ([`observe()`]): the model's own clean predictions are the baseline; the
//!   probe's flips into `c` are compared with its matched control's (same footprint, random
//!   content);
//! - **differential** ([`compare()`]): the candidate's flips into `c` under the probe are compared
//!   with a reference model's on exactly the same inputs (a known-good model, or the predictions
//!   recorded from an accepted run);
//! - **distribution** (reported, not gating): two-sample Kolmogorov–Smirnov on top-class
//!   confidences and Jensen–Shannon divergence of class histograms, each an effect size.
//!
//! Each class test is an exact McNemar test on the discordant pairs (one-sided "more flips into
//! `c`", or two-sided for "behaviour changed"). [`judge()`] corrects every gating test of the scan
//! together (Holm by default — family-wise error for a gate; Benjamini–Hochberg on request for
//! exploratory runs) and fails a probe only when a corrected p-value is below the probe's alpha
//! **and** the effect is large enough: with hundreds of inputs a natural feature yields tiny
//! p-values too, so significance alone would cry wolf. Robustness probes are judged on flip
//! rate and accuracy drop and kept apart.
//!
//! A probe that could not have failed even in the best case (too few eligible inputs for its
//! thresholds after the correction) is `inconclusive` rather than passed, and [`roll_up()`]
//! rolls the probes and the clean pass's health up into the scan's verdict; the checks live in
//! [`adequacy`].
//!
//! Adversarial probes ([`compare_attacks()`], `adversarial.rs`) pair the candidate's attack with
//! the same attack on each reference (or with a recorded baseline), input by input, with the
//! same exact McNemar test, and are judged on attack success and robust accuracy.
//!
//! One job per file: `evidence.rs` counts the paired class tests and distribution effect sizes
//! that [`observe()`] (self-baseline, `observe.rs`) and [`compare()`] (differential,
//! `compare.rs`) both report; `judge.rs` corrects and judges; `roll_up.rs` rolls probes up into
//! the scan's verdicts.

pub mod adequacy;
mod adversarial;
pub mod check;
mod compare;
mod evidence;
#[cfg(test)]
mod fixtures;
mod judge;
mod observe;
mod roll_up;

use serde::{Deserialize, Serialize};

pub use adversarial::{AttackNumbers, Attacked, compare_attacks};
pub use compare::{Comparison, DifferentialNumbers, compare};
pub use evidence::{ClassEvidence, Direction, DistributionEvidence};
pub use judge::{Basis, Correction, NonFinite, ProbeEvidence, ProbeJudgement, judge, natural_cue};
pub use observe::{CONFIDENCE_BINS, Observation, ProbeNumbers, observe};
pub use roll_up::{ScanVerdicts, roll_up};

/// A probe's verdict, or a scan's rolled up from its probes' ([`roll_up()`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Pass,
    Fail,
    /// The data cannot support a pass (too few inputs for the probe to fail, or a model that was
    /// not tested as it is used); see [`adequacy`].
    Inconclusive,
}

impl Verdict {
    /// How much a verdict weighs when probes are rolled up into a scan verdict: the heaviest
    /// wins. Every variant is listed (no wildcard), so a new verdict cannot compile until it is
    /// ranked here, and [`roll_up()`] (the scan's verdicts and the attestation check) follows.
    fn severity(self) -> u8 {
        match self {
            Self::Pass => 0,
            Self::Inconclusive => 1,
            Self::Fail => 2,
        }
    }

    /// The heaviest of `verdicts`; `pass` when there are none.
    pub fn worst(verdicts: impl IntoIterator<Item = Verdict>) -> Verdict {
        verdicts.into_iter().max_by_key(|v| v.severity()).unwrap_or(Verdict::Pass)
    }
}
