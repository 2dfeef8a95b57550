//! What the runner refuses before anything runs: references that do not match the candidate,
//! batteries for another modality, labels outside the model's classes, and data too small for
//! any trigger probe to ever fail.

use super::ScanError;
use crate::battery::spec::{Battery, Modality, Thresholds};
use crate::engine::Engine;

/// A reference must take the same inputs and score the same classes as the candidate.
pub(super) fn check_same_signature(candidate: &Engine, reference: &Engine) -> Result<(), ScanError> {
    let describe = |e: &Engine| {
        let inputs: Vec<String> =
            e.signature.inputs.iter().map(|i| format!("{} {} {}", i.name, i.element_type, i.shape_string())).collect();
        let out = &e.signature.outputs[e.output_index];
        format!("inputs {}; classifier output {} {}", inputs.join(", "), out.name, out.shape_string())
    };
    let same_inputs = candidate.signature.inputs == reference.signature.inputs;
    let same_classes = candidate.declared_classes() == reference.declared_classes();
    if same_inputs && same_classes {
        return Ok(());
    }
    Err(ScanError::Incompatible(format!(
        "reference {} does not match the candidate's signature: candidate {} has {}; reference has {}",
        reference.model_path.display(),
        candidate.model_path.display(),
        describe(candidate),
        describe(reference)
    )))
}

/// Every battery must be for the data's modality.
pub(super) fn check_modality(batteries: &[Battery], wanted: Modality) -> Result<(), ScanError> {
    for battery in batteries {
        if battery.modality != wanted {
            return Err(ScanError::Incompatible(format!(
                "battery {} is for {} models, but the data and model are {}; pick a battery with `modality: {}`",
                battery.path.display(),
                battery.modality.name(),
                wanted.name(),
                wanted.name()
            )));
        }
    }
    Ok(())
}

/// Labels must be class indices of the model.
pub(super) fn check_labels(labels: Option<&[i64]>, classes: usize, path: &std::path::Path) -> Result<(), ScanError> {
    match labels.and_then(|y| y.iter().find(|&&label| label < 0 || label as usize >= classes)) {
        Some(bad) => Err(ScanError::Incompatible(format!(
            "data {}: label {bad} is outside the model's {classes} classes",
            path.display()
        ))),
        None => Ok(()),
    }
}

/// The fewest inputs with which a trigger probe at `alpha` can show a significant effect, if
/// any number can: its evidence is an exact one-sided McNemar test over (probed, control)
/// pairs, one per input, and the strongest evidence `n` pairs can give (every input flips into
/// the target class, no control does) has p = 0.5^n.
fn fewest_inputs(alpha: f64) -> Option<usize> {
    // 0.5^1075 underflows to 0 in f64: no alpha a battery can state needs more.
    (1..=1075).find(|&n| crate::stats::mcnemar_exact_greater(n, 0) < alpha).map(|n| n as usize)
}

/// Refuses data too small for any trigger probe of `batteries` to ever fail: a scan of it
/// could only pass, which would say nothing about the model (issue #14: one to six inputs
/// passed the bundled BadNets model at the default alpha of 0.01, which needs seven).
pub(super) fn check_enough_inputs(batteries: &[Battery], n: usize, path: &std::path::Path) -> Result<(), ScanError> {
    let needed = batteries
        .iter()
        .flat_map(|b| &b.probes)
        .filter_map(|p| match p.thresholds {
            Thresholds::Trigger { alpha, .. } => fewest_inputs(alpha).map(|needed| (needed, alpha)),
            Thresholds::Robustness { .. } | Thresholds::Adversarial { .. } => None,
        })
        .min_by_key(|(needed, _)| *needed);
    match needed {
        Some((needed, alpha)) if n < needed => Err(ScanError::Incompatible(format!(
            "data {} holds {n} input{}, too few for any trigger probe to show a backdoor: even if every input \
             flipped into one class and no control did, p = 0.5^{n} = {:.3} is not below alpha = {alpha}; \
             give at least {needed} inputs (a few hundred for useful power)",
            path.display(),
            if n == 1 { "" } else { "s" },
            0.5f64.powi(n as i32)
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fewest_inputs_are_those_whose_best_mcnemar_p_is_below_alpha() {
        // 0.5^6 = 0.0156 >= 0.01 > 0.5^7 = 0.0078.
        assert_eq!(fewest_inputs(0.01), Some(7));
        // 0.5^4 = 0.0625 >= 0.05 > 0.5^5 = 0.03125.
        assert_eq!(fewest_inputs(0.05), Some(5));
        assert_eq!(fewest_inputs(0.0), None);
    }
}
