//! The runner through the library: what a scan measures on the candidate and its references.

use crate::common;

use common::fixture;
use probity::battery;
use probity::engine::{Engine, EngineOptions, ScoreKind};
use probity::runner::{self, Models, ScanSettings};

/// One robustness probe and one trigger probe over the digits.
fn battery() -> probity::battery::spec::Battery {
    let text = "schema: probity/battery/v1\nname: b\nversion: \"1\"\ndescription: d\nmodality: image\n\
                defaults: {seed: 3, samples: 200, value-range: [0, 16]}\nprobes:\n\
                - {id: noise, category: robustness, transform: {kind: gaussian-noise, std: 0.25}}\n\
                - {id: patch, category: trigger, transform: {kind: patch, size: 2, position: bottom-right, content: {solid: 1.0}}}\n";
    battery::parse(std::path::Path::new("b.yaml"), text).expect("a valid battery")
}

/// Issue 15: a reference's score kind is decided once, from `--scores` when given, and holds
/// for its probed inputs too. Before, it was detected again on every probed batch, so a model
/// ending in softmax read as logits on the clean pass (as `--scores logits` says) and as
/// probabilities on the probes: the same model as candidate and as reference then reported
/// different confidences.
#[test]
fn scores_given_hold_for_the_references_probed_inputs_too() {
    let runtime = probity::onnxruntime::load(None).unwrap();
    let dataset = probity::modality::image::load(&fixture("digits-test.npz"), None).unwrap();
    let model = fixture("clean-mlp64-s1.onnx");
    let mut candidate = Engine::load(runtime, &model, &EngineOptions::default()).unwrap();
    let mut references = vec![Engine::load(runtime, &model, &EngineOptions::default()).unwrap()];
    let mut models =
        Models { candidate: &mut candidate, references: &mut references, baseline: None, baseline_tolerance: 0.0 };
    let settings = ScanSettings { scores: Some(ScoreKind::Logits), ..ScanSettings::default() };
    let outcome = runner::scan(&mut models, &dataset, &[battery()], &settings).unwrap();
    assert_eq!(outcome.probes.len(), 2);
    for probe in &outcome.probes {
        let reference = &probe.evidence.references[0];
        assert_eq!(reference.agreement_probed, 1.0, "{}", probe.key);
        assert_eq!(
            reference.distribution.ks_statistic, 0.0,
            "{}: the reference is the candidate, so its confidences are the candidate's",
            probe.key
        );
    }
}
