//! Issue 14: the third verdict. A scan that cannot support a pass — too few inputs for a probe
//! to fail, a model whose outputs are NaN or constant, clean accuracy at chance (a wrong
//! tokenizer) — exits 4 and says why in words and in `report.json`, instead of passing (or
//! failing) on garbage. The real binary, the real ONNX Runtime, the committed fixtures.

use crate::common;

use std::path::{Path, PathBuf};

use common::{fixture, probity};
use predicates::prelude::*;
use serde_json::Value;

fn degenerate(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/degenerate").join(name)
}

fn text(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/text").join(name)
}

/// The first `rows` digits test inputs (with labels) as an .npz in `dir`.
fn digits_head(dir: &Path, rows: usize) -> PathBuf {
    let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(fixture("digits-test.npz")).unwrap()).unwrap();
    let x: ndarray::Array4<f32> = npz.by_name("x").unwrap();
    let y: ndarray::Array1<i64> = npz.by_name("y").unwrap();
    let path = dir.join(format!("digits-{rows}.npz"));
    let mut out = ndarray_npy::NpzWriter::new(std::fs::File::create(&path).unwrap());
    out.add_array("x", &x.slice(ndarray::s![..rows, .., .., ..]).to_owned()).unwrap();
    out.add_array("y", &y.slice(ndarray::s![..rows]).to_owned()).unwrap();
    out.finish().unwrap();
    path
}

fn reasons_of(report: &Value) -> Vec<(String, String)> {
    report["inconclusive"]
        .as_array()
        .map(|list| {
            list.iter()
                .map(|r| (r["code"].as_str().unwrap().to_string(), r["message"].as_str().unwrap().to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn the_backdoored_model_on_16_rows_is_inconclusive_and_names_the_inputs_a_pass_needs() {
    // Measured before issue 14: PASS at 16 rows although the trigger moved 100% of inputs.
    let dir = tempfile::tempdir().unwrap();
    let data = digits_head(dir.path(), 16);
    let run = common::scan(&fixture("badnets-mlp64.onnx"), &data, &[]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.report["verdict"], "inconclusive");
    assert_eq!(run.report["backdoor_verdict"], "inconclusive");
    assert_eq!(run.report["exit_code"], 4);
    assert_eq!(run.report["inconclusive_as"], "inconclusive");
    let reasons = reasons_of(&run.report);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(reasons[0].0, "underpowered");
    // 38 trigger probes × 11 class tests = 418 under Holm at alpha 0.01 and an 80% threshold:
    // 2^k > 41,800 → k = 16 flips, ⌈0.8 n⌉ ≥ 16 → 19 eligible inputs. `search-patch` confirms on
    // 8 of the 16 rows, 7 of them eligible: 19 × 16 / 7 → about 44 inputs.
    assert!(
        reasons[0].1.contains(
            "a pass needs about 44 inputs ('search-patch' has 7 eligible inputs where its 80% threshold needs ≥ 19"
        ),
        "{}",
        reasons[0].1
    );
    assert!(run.stdout.starts_with("INCONCLUSIVE: "), "{}", run.stdout);
    assert!(run.stdout.contains("a pass needs about 44 inputs"), "{}", run.stdout);
    // Per probe: the planted trigger's probe is inconclusive, with its power in the report.
    let probes = run.report["probes"].as_array().unwrap();
    let planted = probes.iter().find(|p| p["id"] == "patch-white-1of4-bottom-right").unwrap();
    assert_eq!(planted["verdict"], "inconclusive");
    assert_eq!(planted["power"]["tests"], 418);
    assert_eq!(planted["power"]["needed"], 19);
    assert!(planted["power"]["best_p_value"].as_f64().unwrap() >= 0.01);
    assert!(planted["reason"].as_str().unwrap().contains("cannot fail with this data"), "{}", planted["reason"]);
    let listed = run.report["inconclusive"][0]["probes"].as_array().unwrap();
    assert!(listed.iter().any(|p| p == "patch-white-1of4-bottom-right"));
    // The Markdown report says it too.
    let md = std::fs::read_to_string(run.out.path().join("report.md")).unwrap();
    assert!(md.starts_with("# probity scan: INCONCLUSIVE"), "{md}");
    assert!(md.contains("- `underpowered`: "), "{md}");
}

#[test]
fn the_backdoored_model_on_the_full_test_set_still_fails() {
    let run = common::scan(&fixture("badnets-mlp64.onnx"), &fixture("digits-test.npz"), &[]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.report["verdict"], "fail");
    assert_eq!(run.report["exit_code"], 1);
    assert!(reasons_of(&run.report).is_empty(), "{:?}", reasons_of(&run.report));
}

#[test]
fn a_model_that_outputs_nan_is_inconclusive_not_passed() {
    // Measured before issue 14: PASS, exit 0.
    let run = common::scan(&degenerate("nan-output.onnx"), &fixture("digits-test.npz"), &[]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.report["verdict"], "inconclusive");
    let reasons = reasons_of(&run.report);
    assert_eq!(reasons[0].0, "non-finite-output", "{reasons:?}");
    assert!(reasons[0].1.contains("not finite (NaN or ±Inf) on 400 of 400 clean inputs"), "{}", reasons[0].1);
    // Said once: a NaN model is at chance too, which adds nothing.
    assert_eq!(reasons.len(), 1, "{reasons:?}");
}

#[test]
fn a_constant_model_is_inconclusive_not_passed() {
    // Measured before issue 14: PASS at 10.2% clean accuracy.
    let run = common::scan(&degenerate("constant-output.onnx"), &fixture("digits-test.npz"), &[]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    let reasons = reasons_of(&run.report);
    assert_eq!(reasons[0].0, "constant-output", "{reasons:?}");
    assert!(reasons[0].1.contains("every one of the 400 clean inputs class 7"), "{}", reasons[0].1);
    assert_eq!(run.report["robustness_verdict"], "inconclusive");
}

/// The text fixtures' tokenizer with every ordinary token's id rotated by 600 (special tokens
/// kept): the right size and format, the wrong ids.
fn permuted_tokenizer(dir: &Path) -> PathBuf {
    let mut tokenizer: Value = serde_json::from_str(&std::fs::read_to_string(text("tokenizer.json")).unwrap()).unwrap();
    let vocab = tokenizer["model"]["vocab"].as_object_mut().unwrap();
    let ordinary = vocab.len() as u64 - 5;
    for id in vocab.values_mut() {
        let old = id.as_u64().unwrap();
        if old >= 5 {
            *id = Value::from(5 + (old - 5 + 600) % ordinary);
        }
    }
    let path = dir.join("tokenizer.json");
    std::fs::write(&path, serde_json::to_vec(&tokenizer).unwrap()).unwrap();
    path
}

#[test]
fn a_wrong_tokenizer_is_inconclusive_at_chance_not_a_failure() {
    // Measured before issue 14: the clean text model FAILED at 51% clean accuracy.
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = permuted_tokenizer(dir.path());
    let run = common::scan(
        &text("text-clean-h32-s1.onnx"),
        &text("text-test.jsonl"),
        &["--tokenizer", tokenizer.to_str().unwrap()],
    );
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.report["verdict"], "inconclusive");
    let reasons = reasons_of(&run.report);
    assert_eq!(reasons[0].0, "chance-accuracy", "{reasons:?}");
    assert!(reasons[0].1.contains("clean accuracy is at chance"), "{}", reasons[0].1);
    assert!(reasons[0].1.contains("wrong tokenizer?"), "{}", reasons[0].1);
    assert!(run.stdout.contains("wrong tokenizer?"), "{}", run.stdout);
    // With the right tokenizer the same model and data pass, with nothing inconclusive.
    let right = common::scan(&text("text-clean-h32-s1.onnx"), &text("text-test.jsonl"), &[]);
    assert_eq!(right.code, 0, "{}", right.stdout);
    assert!(reasons_of(&right.report).is_empty());
}

#[test]
fn inconclusive_can_be_mapped_to_pass_or_fail_and_the_report_still_says_inconclusive() {
    let dir = tempfile::tempdir().unwrap();
    let data = digits_head(dir.path(), 16);
    for (mapped, code) in [("pass", 0), ("fail", 1)] {
        let run = common::scan(&fixture("badnets-mlp64.onnx"), &data, &["--inconclusive", mapped]);
        assert_eq!(run.code, code, "--inconclusive {mapped}");
        assert_eq!(run.report["verdict"], "inconclusive");
        assert_eq!(run.report["inconclusive_as"], mapped);
        assert_eq!(run.report["exit_code"], code);
        assert!(run.stdout.starts_with("INCONCLUSIVE: "), "{}", run.stdout);
    }
}

#[test]
fn a_clean_accuracy_floor_stops_a_pass_and_is_validated() {
    // clean-mlp64-s1 is ~95% accurate on the digits test set: a 99.9% floor stops its pass.
    let run =
        common::scan(&fixture("clean-mlp64-s1.onnx"), &fixture("digits-test.npz"), &["--min-clean-accuracy", "0.999"]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    let reasons = reasons_of(&run.report);
    assert_eq!(reasons.len(), 1, "{reasons:?}");
    assert_eq!(reasons[0].0, "low-clean-accuracy");
    assert!(reasons[0].1.contains("below the --min-clean-accuracy floor of 99.9%"), "{}", reasons[0].1);
    let run =
        common::scan(&fixture("clean-mlp64-s1.onnx"), &fixture("digits-test.npz"), &["--min-clean-accuracy", "0.5"]);
    assert_eq!(run.code, 0, "{}", run.stdout);
    // Out of range, and on data without labels: invalid input, before any model runs.
    probity()
        .args(["scan", "--model"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .args(["--min-clean-accuracy", "1.5"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("'1.5' is not a share between 0 and 1"));
    let out = tempfile::tempdir().unwrap();
    probity()
        .args(["scan", "--model"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test-x.npy"))
        .args(["--min-clean-accuracy", "0.5", "--out"])
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--min-clean-accuracy needs labelled data"));
}

#[test]
fn a_baseline_is_not_recorded_from_a_model_that_was_not_tested_as_it_is_used() {
    // A recording is replayed as the known-good behaviour: one of NaN outputs, or of a model at
    // chance on the data, would make every later comparison meaningless.
    let dir = tempfile::tempdir().unwrap();
    let record = |model: &Path, extra: &[&str], out: &Path| {
        probity()
            .args(["baseline", "record", "--model"])
            .arg(model)
            .arg("--data")
            .arg(fixture("digits-test.npz"))
            .args(["--battery", "batteries/image-robustness.yaml", "--out"])
            .arg(out)
            .args(extra)
            .assert()
    };
    let nan = dir.path().join("nan");
    record(&degenerate("nan-output.onnx"), &[], &nan)
        .code(2)
        .stderr(predicate::str::contains("not recording a baseline"))
        .stderr(predicate::str::contains("non-finite-output"));
    assert!(!nan.join("baseline.json").exists());
    let floor = dir.path().join("floor");
    record(&fixture("clean-mlp64-s1.onnx"), &["--min-clean-accuracy", "0.999"], &floor)
        .code(2)
        .stderr(predicate::str::contains("low-clean-accuracy"));
    let good = dir.path().join("good");
    record(&fixture("clean-mlp64-s1.onnx"), &["--min-clean-accuracy", "0.5"], &good).code(0);
    assert!(good.join("baseline.json").exists());
}

#[test]
fn three_labelled_rows_are_too_few_labels_not_a_model_at_chance() {
    // Seen by a careless user: 3 text rows, all right, were called "at chance … wrong tokenizer?".
    let dir = tempfile::tempdir().unwrap();
    let rows: Vec<&str> = include_str!("../fixtures/text/text-test.jsonl").lines().take(3).collect();
    let data = dir.path().join("three.jsonl");
    std::fs::write(&data, rows.join("\n") + "\n").unwrap();
    // Trigger batteries refuse 3 inputs outright (exit 2); a robustness battery runs on them.
    let battery = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("batteries/text-robustness.yaml");
    let run = common::scan(&text("text-clean-h32-s1.onnx"), &data, &["--battery", battery.to_str().unwrap()]);
    assert_eq!(run.code, 4, "{}", run.stdout);
    assert_eq!(run.report["verdict"], "inconclusive");
    let reasons = reasons_of(&run.report);
    let codes: Vec<&str> = reasons.iter().map(|r| r.0.as_str()).collect();
    assert!(codes.contains(&"too-few-labels"), "{reasons:?}");
    assert!(!codes.contains(&"chance-accuracy"), "{reasons:?}");
    assert!(!run.stdout.contains("wrong tokenizer?"), "{}", run.stdout);
    // Labels 1, 1, 0: chance 2/3, and (2/3)^12 = 0.0077 is the first below 0.01.
    assert!(run.stdout.contains("at least 12 labelled inputs"), "{}", run.stdout);
}
