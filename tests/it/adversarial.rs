//! Adversarial probes (issue #16) against the committed digits MLP with the real ONNX Runtime:
//! the Square Attack breaks nothing at ε = 0, breaks more as ε and the query budget grow, counts
//! its queries exactly within the budget, gives the same numbers whatever the thread count and
//! batch size, compares itself with references and a recorded baseline, and its battery keys
//! are validated like every other.

use crate::common;

use std::path::{Path, PathBuf};

use common::{fixture, probity, scan};
use predicates::prelude::*;
use serde_json::Value;

const MODEL: &str = "clean-mlp64-s1.onnx";

/// A battery of adversarial probes: `(id, attack map)` each, on `samples` inputs.
fn battery(dir: &Path, samples: usize, probes: &[(&str, String)]) -> PathBuf {
    let mut text = format!(
        "schema: probity/battery/v1\nname: adv\nversion: \"1\"\ndescription: d\nmodality: image\n\
         defaults:\n  seed: 16\n  samples: {samples}\nprobes:\n"
    );
    for (id, attack) in probes {
        text.push_str(&format!(
            "  - id: {id}\n    category: adversarial\n    attack: {attack}\n    thresholds: {{max-attack-success: 1.0}}\n"
        ));
    }
    let path = dir.join("adv.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn square(norm: &str, epsilon: f64, queries: u32) -> String {
    format!("{{method: square, norm: {norm}, epsilon: {epsilon}, queries: {queries}}}")
}

fn run(battery: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--battery", battery.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    scan(&fixture(MODEL), &fixture("digits-test.npz"), &args).report
}

fn probed(report: &Value) -> &Vec<Value> {
    report["probes"].as_array().unwrap()
}

fn successes(report: &Value) -> Vec<u64> {
    probed(report).iter().map(|p| p["attack"]["successes"].as_u64().unwrap()).collect()
}

fn non_decreasing(values: &[u64]) -> bool {
    values.windows(2).all(|w| w[0] <= w[1])
}

#[test]
fn nothing_is_broken_at_epsilon_zero_and_more_as_epsilon_grows() {
    let dir = tempfile::tempdir().unwrap();
    for (norm, radii) in [("linf", [0.0, 0.02, 0.05, 0.1, 0.2]), ("l2", [0.0, 0.25, 0.5, 1.0, 2.0])] {
        let probes: Vec<(String, String)> =
            radii.iter().enumerate().map(|(k, &e)| (format!("{norm}-{k}"), square(norm, e, 200))).collect();
        let probes: Vec<(&str, String)> = probes.iter().map(|(id, a)| (id.as_str(), a.clone())).collect();
        let report = run(&battery(dir.path(), 100, &probes), &[]);
        let broken = successes(&report);
        assert_eq!(broken[0], 0, "{norm}: {broken:?}");
        assert!(non_decreasing(&broken), "{norm}: {broken:?}");
        assert!(broken[4] > broken[1], "{norm}: {broken:?}");
        // At ε = 0 every input keeps its clean class: robust accuracy is clean accuracy.
        let first = &probed(&report)[0];
        assert_eq!(first["flip_rate"], 0.0);
        assert_eq!(first["accuracy_probed"], first["accuracy_clean"]);
    }
}

#[test]
fn more_queries_break_more_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let budgets = [1, 10, 100, 1000];
    let probes: Vec<(String, String)> = budgets.iter().map(|&q| (format!("q{q}"), square("linf", 0.05, q))).collect();
    let probes: Vec<(&str, String)> = probes.iter().map(|(id, a)| (id.as_str(), a.clone())).collect();
    let report = run(&battery(dir.path(), 100, &probes), &[]);
    let broken = successes(&report);
    assert!(non_decreasing(&broken), "{broken:?}");
    assert!(broken[3] > broken[0], "{broken:?}");
}

#[test]
fn queries_are_counted_exactly_and_stay_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let probes = [("a", square("linf", 0.05, 50)), ("b", square("l2", 0.5, 30))];
    let report = run(&battery(dir.path(), 80, &probes), &[]);
    let mut attack_queries = 0;
    for (p, budget) in probed(&report).iter().zip([50, 30]) {
        let a = &p["attack"];
        let (attacked, queries) = (a["attacked"].as_u64().unwrap(), a["queries"].as_u64().unwrap());
        assert_eq!(attacked, 80);
        // At least the initial point per input, at most the budget per input.
        assert!((attacked..=attacked * budget).contains(&queries), "{a}");
        // An input that failed spent its whole budget; the successful ones fewer or as many.
        let broken = a["successes"].as_u64().unwrap();
        assert!(queries >= (attacked - broken) * budget, "{a}");
        let upper_quartile = a["queries_to_success"]["q3"].as_f64().unwrap();
        assert!(upper_quartile <= budget as f64, "{a}");
        attack_queries += queries;
    }
    // The scan's total: the clean pass (400), the attacks, and one replay of each adversarial input.
    assert_eq!(report["queries"].as_u64().unwrap(), 400 + attack_queries + 2 * 80);
}

#[test]
fn thread_count_and_batch_size_change_no_number() {
    let dir = tempfile::tempdir().unwrap();
    let probes = [("a", square("linf", 0.05, 100)), ("b", square("l2", 0.5, 100))];
    let path = battery(dir.path(), 64, &probes);
    let one = run(&path, &["--threads", "1", "--batch-size", "7"]);
    let two = run(&path, &["--threads", "2", "--batch-size", "64"]);
    assert_eq!(probed(&one), probed(&two));
    assert!(successes(&one).iter().sum::<u64>() > 0);
}

#[test]
fn the_same_model_as_reference_or_baseline_is_not_less_robust() {
    let dir = tempfile::tempdir().unwrap();
    let path = battery(dir.path(), 60, &[("a", square("linf", 0.08, 100))]);
    let reference = fixture(MODEL).display().to_string();
    let report = run(&path, &["--reference", &reference]);
    let p = &probed(&report)[0];
    let against = &p["references"][0]["per_class"][0];
    // Same model, same inputs, same randomness: every input pairs with itself.
    assert_eq!(against["probe_into"], against["control_into"]);
    assert_eq!(against["p_value"], 1.0);
    assert_eq!(p["verdict"], "pass");
    assert_eq!(p["attack"]["reference_successes"][0], p["attack"]["successes"]);

    let recorded = tempfile::tempdir().unwrap();
    probity()
        .args(["baseline", "record", "--model"])
        .arg(fixture(MODEL))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .args(["--battery", path.to_str().unwrap(), "--out"])
        .arg(recorded.path())
        .assert()
        .success();
    let report = run(&path, &["--baseline", recorded.path().to_str().unwrap()]);
    let p = &probed(&report)[0];
    assert_eq!(p["baseline"]["per_class"][0]["p_value"], 1.0);
    assert_eq!(p["verdict"], "pass");
}

#[test]
fn a_threshold_fails_the_probe_and_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let text = "schema: probity/battery/v1\nname: adv\nversion: \"1\"\ndescription: d\nmodality: image\n\
                defaults:\n  samples: 60\nprobes:\n  - id: strict\n    category: adversarial\n    \
                attack: {method: square, epsilon-fraction: 0.2, queries: 100}\n    \
                thresholds: {max-attack-success: 0.05}\n";
    let path = dir.path().join("strict.yaml");
    std::fs::write(&path, text).unwrap();
    let out = scan(&fixture(MODEL), &fixture("digits-test.npz"), &["--battery", path.to_str().unwrap()]);
    assert_eq!(out.code, 1);
    let p = &probed(&out.report)[0];
    assert_eq!(p["verdict"], "fail");
    assert!(p["reason"].as_str().unwrap().contains("(max 5.0%)"), "{}", p["reason"]);
    let interval = &p["attack_success_interval"];
    let asr = p["attack_success_rate"].as_f64().unwrap();
    assert!(interval["lower"].as_f64().unwrap() <= asr && asr <= interval["upper"].as_f64().unwrap());
    // The broken inputs come first among the examples, as before/after image pairs.
    let example = &p["examples"][0];
    assert_ne!(example["clean_class"], example["probed_class"]);
    assert!(!example["probed_png"].as_str().unwrap().is_empty());
    assert_eq!(out.report["robustness_verdict"], "fail");
}

#[test]
fn attack_keys_are_validated_with_their_place_and_a_suggestion() {
    let dir = tempfile::tempdir().unwrap();
    let text = "schema: probity/battery/v1\nname: adv\nversion: \"1\"\ndescription: d\nmodality: image\nprobes:\n\
                \x20 - id: a\n    category: adversarial\n    attack: {method: square, norm: lnf, epsilon: 0.1}\n\
                \x20 - id: b\n    category: robustness\n    attack: {method: square, epsilon: 0.1}\n\
                \x20 - id: c\n    category: adversarial\n    attack: {method: sqare, epsilon: 0.1}\n\
                \x20 - id: d\n    category: adversarial\n    attack: {method: square, epsilon: 0.1, epsilon-fraction: 0.1}\n\
                \x20 - id: e\n    category: adversarial\n    transform: {kind: blur, sigma: 1}\n\
                \x20 - id: f\n    category: adversarial\n    attack: {method: square}\n";
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    probity()
        .args(["battery", "validate"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{file}:9:36")))
        .stderr(predicate::str::contains("did you mean `linf`?"))
        .stderr(predicate::str::contains("so it must be `category: adversarial`"))
        .stderr(predicate::str::contains("did you mean `square`?"))
        .stderr(predicate::str::contains("has both `epsilon` and `epsilon-fraction`"))
        .stderr(predicate::str::contains("must declare an `attack`, not a `transform`"))
        .stderr(predicate::str::contains("missing key `epsilon` (or `epsilon-fraction`)"));
}

fn hopskipjump(epsilon: f64, queries: u32) -> String {
    format!("{{method: hopskipjump, epsilon: {epsilon}, queries: {queries}}}")
}

#[test]
fn hopskipjump_breaks_nothing_at_epsilon_zero_and_more_as_epsilon_and_budget_grow() {
    let dir = tempfile::tempdir().unwrap();
    let mut probes: Vec<(String, String)> =
        [0.0, 0.5, 1.0, 2.0].iter().enumerate().map(|(k, &e)| (format!("e{k}"), hopskipjump(e, 300))).collect();
    probes.extend([20, 100, 600].iter().map(|&q| (format!("q{q}"), hopskipjump(1.0, q))));
    let probes: Vec<(&str, String)> = probes.iter().map(|(id, a)| (id.as_str(), a.clone())).collect();
    let report = run(&battery(dir.path(), 40, &probes), &[]);
    let broken = successes(&report);
    let (by_epsilon, by_budget) = broken.split_at(4);
    assert_eq!(by_epsilon[0], 0, "{broken:?}");
    assert!(non_decreasing(by_epsilon) && by_epsilon[3] > by_epsilon[1], "{broken:?}");
    assert!(non_decreasing(by_budget) && by_budget[2] > by_budget[0], "{broken:?}");
    // Queries: between one and the budget per input, summed exactly; successes within ε.
    let mut attack_queries = 0;
    for (p, budget) in probed(&report).iter().zip([300, 300, 300, 300, 20, 100, 600]) {
        let a = &p["attack"];
        let queries = a["queries"].as_u64().unwrap();
        assert!((40..=40 * budget).contains(&queries), "{a}");
        assert!(queries >= (40 - a["successes"].as_u64().unwrap()) * budget, "{a}");
        if let Some(size) = a["perturbation"]["q3"].as_f64() {
            assert!(size <= a["epsilon"].as_f64().unwrap() + 1e-6, "{a}");
        }
        assert_eq!(a["norm"], "l2");
        attack_queries += queries;
    }
    // The clean pass, the attacks, and one replay of each probe's inputs.
    assert_eq!(report["queries"].as_u64().unwrap(), 400 + attack_queries + 7 * 40);
}

#[test]
fn hopskipjump_numbers_do_not_depend_on_threads_or_batch_size() {
    let dir = tempfile::tempdir().unwrap();
    let targeted = "{method: hopskipjump, epsilon: 1.5, queries: 300, targeted: true}".to_string();
    let path = battery(dir.path(), 30, &[("u", hopskipjump(1.0, 300)), ("t", targeted)]);
    let one = run(&path, &["--threads", "1", "--batch-size", "7"]);
    let two = run(&path, &["--threads", "2", "--batch-size", "64"]);
    assert_eq!(probed(&one), probed(&two));
    assert!(successes(&one).iter().sum::<u64>() > 0);
}

#[test]
fn hopskipjump_keys_are_validated() {
    let dir = tempfile::tempdir().unwrap();
    let text = "schema: probity/battery/v1\nname: adv\nversion: \"1\"\ndescription: d\nmodality: image\nprobes:\n\
                \x20 - id: a\n    category: adversarial\n    attack: {method: hopskipjump, norm: linf, epsilon: 0.1}\n\
                \x20 - id: b\n    category: adversarial\n    attack: {method: hopskipjump, epsilon: 0.1, p-init: 0.1}\n\
                \x20 - id: c\n    category: adversarial\n    attack: {method: hopskipjump, epsilon: 1, gradient-samples: 0}\n\
                \x20 - id: d\n    category: adversarial\n    attack: {method: hopskipjum, epsilon: 1}\n";
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    probity()
        .args(["battery", "validate"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{file}:9:41")))
        .stderr(predicate::str::contains("of `hopskipjump` must be l2, found `linf`"))
        .stderr(predicate::str::contains(format!("{file}:12:49")))
        .stderr(predicate::str::contains("`p-init`"))
        .stderr(predicate::str::contains("gradient-samples"))
        .stderr(predicate::str::contains("did you mean `hopskipjump`?"));
}
