//! Agreement of the candidate with a recorded baseline, with near-ties excused as numerical
//! noise (e.g. CPU vs CUDA).

use super::BaselineAgreement;
use crate::predictions::Predictions;

/// Counts agreement with a recording while excusing near-ties.
#[derive(Debug, Default)]
pub(super) struct BaselineTally {
    pub compared: usize,
    exact: usize,
    tolerated: usize,
    pub unmatched: usize,
}

impl BaselineTally {
    /// The candidate's classes, with a disagreement replaced by the recorded class when the
    /// recording's top-2 margin is below `tolerance` and the candidate chose the recorded
    /// runner-up: numerical noise on a near-tie, not a change in behaviour.
    pub fn snap(&mut self, candidate: &Predictions, recorded: &Predictions, tolerance: f32) -> Vec<usize> {
        candidate
            .class
            .iter()
            .zip(&recorded.class)
            .zip(&recorded.top)
            .map(|((&c, &r), top)| {
                self.compared += 1;
                if c == r {
                    self.exact += 1;
                    return c;
                }
                let near_tie = top.len() >= 2 && top[1].0 == c && (top[0].1 - top[1].1).abs() < tolerance;
                if near_tie {
                    self.tolerated += 1;
                    r
                } else {
                    c
                }
            })
            .collect()
    }

    pub fn finish(&self, tolerance: f32, unrun: usize) -> BaselineAgreement {
        let share = |k: usize| if self.compared == 0 { 0.0 } else { k as f64 / self.compared as f64 };
        BaselineAgreement {
            compared: self.compared,
            exact: share(self.exact),
            within_tolerance: share(self.exact + self.tolerated),
            tolerance,
            unmatched_probes: self.unmatched + unrun,
        }
    }
}
