//! Self-baseline evidence: what one probe did to the model's own clean predictions, and how
//! that compares with its matched control (same footprint, random content).

use serde::{Deserialize, Serialize};

use super::evidence::{ClassEvidence, Direction, DistributionEvidence, class_evidence, distribution, rate};

/// The predictions one probe produced, aligned sample by sample.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub classes: usize,
    pub clean: &'a [usize],
    pub probed: &'a [usize],
    /// The matched control's predictions (trigger probes).
    pub control: Option<&'a [usize]>,
    pub labels: Option<&'a [i64]>,
    /// Top-class confidence on the clean and the probed inputs (for distribution evidence).
    pub clean_confidence: &'a [f32],
    pub probed_confidence: &'a [f32],
}

/// Everything counted for one probe against the model's own clean baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeNumbers {
    pub samples: usize,
    pub flip_rate: f64,
    pub control_flip_rate: Option<f64>,
    pub accuracy_clean: Option<f64>,
    pub accuracy_probed: Option<f64>,
    pub per_class: Vec<ClassEvidence>,
    /// `flip_matrix[clean][probed]`: how many samples went from one class to another.
    pub flip_matrix: Vec<Vec<u64>>,
    /// Top-class confidence histograms (20 equal bins over [0, 1]).
    pub confidence_clean: Vec<u64>,
    pub confidence_probed: Vec<u64>,
    pub distribution: DistributionEvidence,
}

fn accuracy(predictions: &[usize], labels: &[i64]) -> f64 {
    let correct = predictions.iter().zip(labels).filter(|(p, y)| **p as i64 == **y).count();
    rate(correct, predictions.len())
}

/// Bins of the confidence histograms.
pub const CONFIDENCE_BINS: usize = 20;

fn confidence_histogram(confidence: &[f32]) -> Vec<u64> {
    let mut bins = vec![0u64; CONFIDENCE_BINS];
    for &c in confidence {
        let bin = ((c.clamp(0.0, 1.0) * CONFIDENCE_BINS as f32) as usize).min(CONFIDENCE_BINS - 1);
        bins[bin] += 1;
    }
    bins
}

/// Counts what one probe did against the model's own clean baseline.
pub fn observe(o: &Observation<'_>) -> ProbeNumbers {
    let n = o.clean.len();
    let flips = |preds: &[usize]| rate(o.clean.iter().zip(preds).filter(|(a, b)| a != b).count(), n);
    let per_class = match o.control {
        Some(control) => class_evidence(o.classes, Direction::Greater, o.clean, o.clean, o.probed, control),
        None => Vec::new(),
    };
    let mut flip_matrix = vec![vec![0u64; o.classes]; o.classes];
    for (&a, &b) in o.clean.iter().zip(o.probed) {
        if a < o.classes && b < o.classes {
            flip_matrix[a][b] += 1;
        }
    }
    ProbeNumbers {
        samples: n,
        flip_rate: flips(o.probed),
        control_flip_rate: o.control.map(flips),
        accuracy_clean: o.labels.map(|y| accuracy(o.clean, y)),
        accuracy_probed: o.labels.map(|y| accuracy(o.probed, y)),
        per_class,
        flip_matrix,
        confidence_clean: confidence_histogram(o.clean_confidence),
        confidence_probed: confidence_histogram(o.probed_confidence),
        distribution: distribution(o.classes, o.clean, o.probed, o.clean_confidence, o.probed_confidence),
    }
}

#[cfg(test)]
mod tests {
    use crate::verdict::fixtures::steered;

    #[test]
    fn observe_counts_flips_into_each_class_over_eligible_inputs() {
        let n = steered();
        assert_eq!(n.samples, 6);
        assert!((n.flip_rate - 4.0 / 6.0).abs() < 1e-12);
        assert_eq!(n.control_flip_rate, Some(0.0));
        let class2 = &n.per_class[2];
        assert_eq!((class2.eligible, class2.probe_into, class2.control_into), (4, 4, 0));
        assert_eq!(class2.attack_success_rate, 1.0);
        // Four discordant pairs, all in the probe's favour: P(Bin(4, 1/2) >= 4) = 1/16.
        assert!((class2.p_value - 0.0625).abs() < 1e-12);
        assert_eq!(n.per_class[0].p_value, 1.0);
        // Labels: clean predictions get 5 of 6 right, probed ones 1 of 6.
        assert!((n.accuracy_clean.unwrap() - 5.0 / 6.0).abs() < 1e-12);
        assert!((n.accuracy_probed.unwrap() - 1.0 / 6.0).abs() < 1e-12);
        assert_eq!(n.flip_matrix[0], vec![0, 0, 2]);
        assert_eq!(n.flip_matrix[2], vec![0, 0, 2]);
        // Class histograms clean [2,2,2] vs probed [0,0,6]: JSD = 1 - (1/2)H-terms; by hand,
        // M = [1/6, 1/6, 2/3]; KL(P||M) = 2*(1/3)log2(2) + (1/3)log2(1/2) = 1/3, KL(Q||M) = log2(3/2).
        let expected = 0.5 * (1.0 / 3.0) + 0.5 * (1.5f64).log2();
        assert!((n.distribution.js_divergence - expected).abs() < 1e-12);
        assert_eq!(n.confidence_clean[18], 6);
    }
}
