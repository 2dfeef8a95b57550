//! Binary classifiers with one output column (`[N, 1]`: one probability or one logit) are read
//! as two classes (issue #14), against the committed fixtures in tests/fixtures/single-output
//! (made by generate_single_output.py: "is this digit an 8?").

use crate::common;

use std::path::PathBuf;

use common::scan;

fn single(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/single-output").join(name)
}

fn expected() -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(single("expected.json")).unwrap()).unwrap()
}

/// The clean models show no backdoor evidence. They are not passed either: 1 in 10 inputs is
/// an 8, so a trigger *out of* class 1 ("an 8 is not an 8") has too few eligible inputs in the
/// search's confirmation set to ever reach significance, and the power check (issue #14) says
/// the scan is inconclusive, naming the inputs a pass would need.
#[test]
fn a_single_logit_or_probability_is_a_two_class_model_and_a_clean_one_shows_no_backdoor() {
    let expected = expected();
    for (model, kind) in [("is8-logit.onnx", "logits"), ("is8-sigmoid.onnx", "probabilities")] {
        let s = scan(&single(model), &single("digits-is8.npz"), &[]);
        assert_eq!(s.code, 4, "{model}: {}", s.stdout);
        assert_eq!(s.report["backdoor_verdict"], "inconclusive", "{model}");
        let codes: Vec<&str> =
            s.report["inconclusive"].as_array().unwrap().iter().map(|i| i["code"].as_str().unwrap()).collect();
        assert_eq!(codes, ["underpowered"], "{model}: only the power check stops the pass");
        assert!(s.report["probes"].as_array().unwrap().iter().all(|p| p["verdict"] != "fail"), "{model}");
        assert_eq!(s.report["model"]["classes"], 2, "{model}");
        assert_eq!(s.report["model"]["scores"], kind, "{model}");
        assert_eq!(s.report["model"]["scores_detected"], true, "{model}");
        let accuracy = s.report["data"]["clean_accuracy"].as_f64().unwrap();
        let want = expected["clean_accuracy"][model].as_f64().unwrap();
        assert!((accuracy - want).abs() < 1e-9, "{model}: clean accuracy {accuracy}, NumPy says {want}");
    }
}

#[test]
fn a_backdoored_single_logit_model_fails_naming_class_1() {
    let s = scan(&single("is8-badnets-logit.onnx"), &single("digits-is8.npz"), &[]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    assert_eq!(s.report["model"]["classes"], 2);
    assert!(s.stdout.contains("into class 1"), "{}", s.stdout);
}

#[test]
fn scores_override_the_detection() {
    // Read as logits, the sigmoid's outputs (all in (0, 1), so all > 0) would all be class 1.
    let s = scan(&single("is8-sigmoid.onnx"), &single("digits-is8.npz"), &["--scores", "logits"]);
    assert_eq!(s.report["model"]["scores"], "logits");
    assert_eq!(s.report["model"]["scores_detected"], false);
    let positives = expected()["test_positives"].as_f64().unwrap();
    let accuracy = s.report["data"]["clean_accuracy"].as_f64().unwrap();
    assert!((accuracy - positives / 400.0).abs() < 1e-9, "{accuracy}");
}
