//! The DeepWordBug text attack (issue #16) against the committed text fixtures with the real
//! ONNX Runtime: nothing is broken at edit budget 0, more as the edit and query budgets grow,
//! queries stay within the budget, numbers do not depend on threads or batch size, the
//! `cf`-poisoned model is compared with a clean reference, reports show the edits, and the
//! battery keys are validated like every other.

use crate::common;

use std::path::{Path, PathBuf};

use common::{probity, scan};
use predicates::prelude::*;
use serde_json::Value;

fn text_fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text").join(name)
}

const CLEAN: &str = "text-clean-h32-s1.onnx";
const POISONED: &str = "text-backdoor-cf.onnx";

/// A text battery of adversarial probes: `(id, attack map)` each, on `samples` inputs.
fn battery(dir: &Path, samples: usize, probes: &[(String, String)]) -> PathBuf {
    let mut text = format!(
        "schema: probity/battery/v1\nname: adv-text\nversion: \"1\"\ndescription: d\nmodality: text\n\
         defaults:\n  seed: 16\n  samples: {samples}\nprobes:\n"
    );
    for (id, attack) in probes {
        text.push_str(&format!(
            "  - id: {id}\n    category: adversarial\n    attack: {attack}\n    thresholds: {{max-attack-success: 1.0}}\n"
        ));
    }
    let path = dir.join("adv-text.yaml");
    std::fs::write(&path, text).unwrap();
    path
}

fn deepwordbug(edits: u32, queries: u32) -> String {
    format!("{{method: deepwordbug, edits: {edits}, queries: {queries}}}")
}

fn run(model: &str, battery: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--battery", battery.to_str().unwrap(), "--format", "json"];
    args.extend_from_slice(extra);
    scan(&text_fixture(model), &text_fixture("text-test.jsonl"), &args).report
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
fn nothing_is_broken_at_edit_budget_zero_and_more_as_the_edit_budget_grows() {
    let dir = tempfile::tempdir().unwrap();
    let probes: Vec<(String, String)> =
        [0, 1, 2, 4, 8].iter().map(|&e| (format!("edits-{e}"), deepwordbug(e, 500))).collect();
    let report = run(CLEAN, &battery(dir.path(), 80, &probes), &[]);
    let broken = successes(&report);
    assert_eq!(broken[0], 0, "{broken:?}");
    assert!(non_decreasing(&broken), "{broken:?}");
    assert!(broken[4] > broken[1], "{broken:?}");
    // At budget 0 nothing is queried and every input keeps its clean class.
    let first = &probed(&report)[0];
    assert_eq!(first["attack"]["queries"], 0);
    assert_eq!(first["flip_rate"], 0.0);
    assert_eq!(first["accuracy_probed"], first["accuracy_clean"]);
    // Every success used at most its probe's edit budget.
    for (p, budget) in probed(&report).iter().zip([0.0, 1.0, 2.0, 4.0, 8.0]) {
        if let Some(q3) = p["attack"]["perturbation"]["q3"].as_f64() {
            assert!(q3 <= budget, "{}", p["attack"]);
        }
    }
}

#[test]
fn more_queries_break_more_inputs_and_stay_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let budgets = [5u64, 20, 60, 400];
    let probes: Vec<(String, String)> = budgets.iter().map(|&q| (format!("q{q}"), deepwordbug(8, q as u32))).collect();
    let report = run(CLEAN, &battery(dir.path(), 80, &probes), &[]);
    let broken = successes(&report);
    assert!(non_decreasing(&broken), "{broken:?}");
    assert!(broken[3] > broken[0], "{broken:?}");
    let mut attack_queries = 0;
    for (p, budget) in probed(&report).iter().zip(budgets) {
        let a = &p["attack"];
        let (attacked, queries) = (a["attacked"].as_u64().unwrap(), a["queries"].as_u64().unwrap());
        assert_eq!(attacked, 80);
        assert!(queries <= attacked * budget, "{a}");
        if let Some(q3) = a["queries_to_success"]["q3"].as_f64() {
            assert!(q3 <= budget as f64, "{a}");
        }
        attack_queries += queries;
    }
    // The scan's total: the clean pass (400), the attacks, and one replay of each adversarial text.
    assert_eq!(report["queries"].as_u64().unwrap(), 400 + attack_queries + 4 * 80);
}

#[test]
fn thread_count_and_batch_size_change_no_number() {
    let dir = tempfile::tempdir().unwrap();
    let probes = [
        ("untargeted".to_string(), deepwordbug(3, 200)),
        ("targeted".to_string(), "{method: deepwordbug, edits: 3, queries: 200, targeted: true}".to_string()),
    ];
    let path = battery(dir.path(), 64, &probes);
    let one = run(POISONED, &path, &["--threads", "1", "--batch-size", "7"]);
    let two = run(POISONED, &path, &["--threads", "2", "--batch-size", "64"]);
    assert_eq!(probed(&one), probed(&two));
    assert!(successes(&one).iter().sum::<u64>() > 0);
}

#[test]
fn the_poisoned_model_is_attacked_beside_a_clean_reference_and_reports_show_the_edits() {
    let dir = tempfile::tempdir().unwrap();
    let path = battery(dir.path(), 60, &[("dwb".to_string(), deepwordbug(4, 300))]);
    let reference = text_fixture(CLEAN).display().to_string();
    let args = ["--battery", path.to_str().unwrap(), "--format", "json,md,html", "--reference", &reference];
    let s = scan(&text_fixture(POISONED), &text_fixture("text-test.jsonl"), &args);
    let p = &probed(&s.report)[0];
    let a = &p["attack"];
    assert_eq!(
        (a["method"].as_str(), a["norm"].as_str(), a["epsilon"].as_f64()),
        (Some("deepwordbug"), Some("edits"), Some(4.0))
    );
    assert_eq!(a["reference_successes"].as_array().unwrap().len(), 1);
    assert!(p["references"][0]["per_class"].is_array(), "{p}");
    // The broken inputs come first among the examples: their texts differ from the clean ones.
    let example = &p["examples"][0];
    assert_ne!(example["clean_class"], example["probed_class"]);
    assert_ne!(example["clean_text"], example["probed_text"]);
    let html = std::fs::read_to_string(s.out.path().join("report.html")).unwrap();
    assert!(html.contains("<mark>") || html.contains("<del>"), "edited characters are highlighted");
    let md = std::fs::read_to_string(s.out.path().join("report.md")).unwrap();
    assert!(md.contains("deepwordbug edits ε = 4"), "{md}");
}

#[test]
fn deepwordbug_keys_are_validated_with_their_place() {
    let dir = tempfile::tempdir().unwrap();
    let text = "schema: probity/battery/v1\nname: adv\nversion: \"1\"\ndescription: d\nmodality: text\nprobes:\n\
                \x20 - id: a\n    category: adversarial\n    attack: {method: deepwordbug, edits: -1}\n\
                \x20 - id: b\n    category: adversarial\n    attack: {method: deepwordbug}\n\
                \x20 - id: c\n    category: adversarial\n    attack: {method: deepwordbug, edits: 2, candidate: 3}\n\
                \x20 - id: d\n    category: adversarial\n    attack: {method: square, epsilon: 0.1}\n";
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, text).unwrap();
    let file = path.display().to_string();
    probity()
        .args(["battery", "validate"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("{file}:9:42")))
        .stderr(predicate::str::contains("missing key `edits`"))
        .stderr(predicate::str::contains("did you mean `candidates`?"))
        .stderr(predicate::str::contains("`square` needs `modality: image`"));
    // And the other way round: a text attack on an image battery.
    let text = "schema: probity/battery/v1\nname: adv\nversion: \"1\"\ndescription: d\nmodality: image\nprobes:\n\
                \x20 - id: a\n    category: adversarial\n    attack: {method: deepwordbug, edits: 2}\n";
    std::fs::write(&path, text).unwrap();
    probity()
        .args(["battery", "validate"])
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("perturbs text inputs, but the battery's modality is image"))
        .stderr(predicate::str::contains("`deepwordbug` needs `modality: text`"));
}
