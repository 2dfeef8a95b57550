//! Small prediction sets for the verdict tests, with numbers worked out by hand.

use super::{Comparison, DifferentialNumbers, Direction, Observation, ProbeNumbers, compare, observe};

const CONF: [f32; 6] = [0.9; 6];

/// Six inputs, three classes; the probe sends everything to class 2, the control nothing.
pub fn steered() -> ProbeNumbers {
    observe(&Observation {
        classes: 3,
        clean: &[0, 0, 1, 1, 2, 2],
        probed: &[2, 2, 2, 2, 2, 2],
        control: Some(&[0, 0, 1, 1, 2, 2]),
        labels: Some(&[0, 0, 1, 1, 2, 0]),
        clean_confidence: &CONF,
        probed_confidence: &CONF,
    })
}

/// 40 inputs of class 0; the candidate sends `candidate` of them to class 1 under the
/// probe, the reference `reference` of them.
pub fn differential(candidate: usize, reference: usize) -> DifferentialNumbers {
    let clean = vec![0usize; 40];
    let cand: Vec<usize> = (0..40).map(|i| usize::from(i < candidate)).collect();
    let refr: Vec<usize> = (0..40).map(|i| usize::from(i < reference)).collect();
    let conf = vec![0.9f32; 40];
    compare(&Comparison {
        classes: 2,
        direction: Direction::Greater,
        candidate_clean: &clean,
        candidate_probed: &cand,
        other_clean: &clean,
        other_probed: &refr,
        candidate_confidence: &conf,
        other_confidence: &conf,
    })
}
