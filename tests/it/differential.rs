//! Differential testing through the real binary: reference models, recorded baselines and
//! calibrated thresholds.

use crate::common;

use std::path::Path;

use common::{fixture, probity};
use predicates::prelude::*;
use serde_json::Value;

const OTHER_CLEAN: [&str; 5] = [
    "clean-mlp64-s2.onnx",
    "clean-mlp32x32-s3.onnx",
    "clean-mlp128-s4.onnx",
    "clean-logreg-s5.onnx",
    "clean-mlp48-s6.onnx",
];
const REFERENCE: &str = "clean-mlp64-s1.onnx";
const NATURAL: &str = "tests/fixtures/batteries/natural-features.yaml";

/// Runs `probity scan` on the digits test data; returns (exit code, report.json).
fn scan(model: &str, extra: &[&str]) -> (i32, Value) {
    let run = common::scan(&fixture(model), &fixture("digits-test.npz"), extra);
    (run.code, run.report)
}

fn reference_args() -> Vec<String> {
    vec!["--reference".into(), fixture(REFERENCE).display().to_string()]
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

#[test]
fn with_a_clean_reference_the_backdoored_fixture_fails_naming_probe_and_class() {
    let (code, report) = scan("badnets-mlp64.onnx", &args(&reference_args()));
    assert_eq!(code, 1);
    let probe =
        report["probes"].as_array().unwrap().iter().find(|p| p["id"] == "patch-white-1of4-bottom-right").unwrap();
    assert_eq!(probe["verdict"], "fail");
    assert_eq!(probe["basis"], "reference");
    assert_eq!(probe["target_class"], 7);
    assert!(probe["references"][0]["per_class"][7]["control_attack_success_rate"].as_f64().unwrap() < 0.1);
    assert!(report["references"][0]["clean_agreement"].as_f64().unwrap() > 0.95);
}

#[test]
fn natural_features_fool_the_self_baseline_but_not_a_reference() {
    // Self-baseline: a 5x5 white block moves ~88% of clean-mlp64-s2's inputs into class 4.
    let (code, report) = scan("clean-mlp64-s2.onnx", &["--battery", NATURAL]);
    assert_eq!(code, 1, "the self-baseline scan is expected to be fooled here");
    let fooled = report["probes"].as_array().unwrap().iter().find(|p| p["verdict"] == "fail").unwrap();
    assert_eq!(fooled["id"], "patch-white-5px-center");
    // Every other clean model does much the same, so against a clean reference it passes.
    for model in OTHER_CLEAN {
        let mut extra = reference_args();
        extra.extend(["--battery".into(), NATURAL.into(), "--battery".into(), "batteries/image-triggers.yaml".into()]);
        let (code, report) = scan(model, &args(&extra));
        assert_eq!(code, 0, "{model} flagged against the reference: {}", report["summary"]);
    }
}

#[test]
fn a_reference_with_another_signature_exits_2_explaining_the_difference() {
    probity()
        .arg("scan")
        .arg("--model")
        .arg(fixture("clean-mlp64-s2.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--reference")
        .arg(fixture("clean-mlp64-s1-batch1.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not match the candidate's signature"))
        .stderr(predicate::str::contains("[N, 1, 8, 8]"))
        .stderr(predicate::str::contains("[1, 1, 8, 8]"));
}

fn record(model: &str, dir: &Path, extra: &[&str]) {
    probity()
        .args(["baseline", "record", "--model"])
        .arg(fixture(model))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(dir)
        .args(extra)
        .assert()
        .success()
        .stdout(predicate::str::contains("baseline.json"));
}

#[test]
fn replaying_a_baseline_of_the_same_model_agrees_exactly_and_a_backdoor_fails() {
    let dir = tempfile::tempdir().unwrap();
    record(REFERENCE, dir.path(), &[]);
    let baseline = dir.path().display().to_string();
    let (code, report) = scan(REFERENCE, &["--baseline", &baseline]);
    assert_eq!(code, 0);
    assert_eq!(report["baseline"]["agreement"]["exact"], 1.0);
    assert_eq!(report["baseline"]["agreement"]["unmatched_probes"], 0);
    assert!(report["baseline"]["agreement"]["compared"].as_u64().unwrap() >= 400 * 43);
    let (code, report) = scan("badnets-mlp64.onnx", &["--baseline", &baseline]);
    assert_eq!(code, 1);
    let failing: Vec<&Value> = report["probes"].as_array().unwrap().iter().filter(|p| p["verdict"] == "fail").collect();
    assert!(failing.iter().any(|p| p["id"] == "patch-white-1of4-bottom-right" && p["target_class"] == 7));
    assert!(failing.iter().all(|p| p["basis"] == "baseline" || p["basis"] == "self-baseline"));
}

#[test]
fn a_baseline_from_other_batteries_or_seeds_is_refused_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    record(REFERENCE, dir.path(), &["--battery", "batteries/image-robustness.yaml"]);
    let baseline = dir.path().display().to_string();
    probity()
        .arg("scan")
        .arg("--model")
        .arg(fixture(REFERENCE))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .args(["--baseline", &baseline])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("recorded under different conditions"))
        .stderr(predicate::str::contains("batteries: recorded with image-robustness"))
        .stderr(predicate::str::contains("--allow-baseline-mismatch"));
    let (code, report) = scan(
        REFERENCE,
        &[
            "--baseline",
            &baseline,
            "--allow-baseline-mismatch",
            "--battery",
            "batteries/image-robustness.yaml",
            "--seed",
            "5",
        ],
    );
    assert_eq!(code, 0);
    assert!(report["baseline"]["mismatches"][0].as_str().unwrap().starts_with("seeds"));
}

#[test]
fn a_baseline_recorded_with_other_sample_generators_is_refused_even_when_mismatches_are_allowed() {
    // Issue 13, item 6: sample generators v2 changed every random probe's inputs, so a v1
    // recording (one that names no generators) cannot be replayed; the fix is to record again.
    let dir = tempfile::tempdir().unwrap();
    record(REFERENCE, dir.path(), &["--battery", "batteries/image-robustness.yaml"]);
    let file = dir.path().join("baseline.json");
    let mut recording: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(recording["sample_rng"], "probity/sample-rng/v2");
    recording.as_object_mut().unwrap().remove("sample_rng");
    std::fs::write(&file, serde_json::to_vec(&recording).unwrap()).unwrap();
    for allow in [&[][..], &["--allow-baseline-mismatch"][..]] {
        probity()
            .arg("scan")
            .arg("--model")
            .arg(fixture(REFERENCE))
            .arg("--data")
            .arg(fixture("digits-test.npz"))
            .args(["--battery", "batteries/image-robustness.yaml", "--baseline"])
            .arg(dir.path())
            .args(allow)
            .assert()
            .code(2)
            .stderr(predicate::str::contains(file.display().to_string()))
            .stderr(predicate::str::contains("recorded with sample generators 'probity/sample-rng/v1'"))
            .stderr(predicate::str::contains("derives them with 'probity/sample-rng/v2'"))
            .stderr(predicate::str::contains(
                "re-record the baseline with this probity version: probity baseline record --model",
            ));
    }
}

#[test]
fn calibrated_thresholds_are_derived_from_clean_models_and_recorded_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let thresholds = dir.path().join("thresholds.yaml");
    probity()
        .arg("calibrate")
        .args(["--model", &fixture("clean-mlp64-s2.onnx").display().to_string()])
        .args(["--model", &fixture("clean-mlp128-s4.onnx").display().to_string()])
        .args(["--model", &fixture("clean-logreg-s5.onnx").display().to_string()])
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .args(["--battery", "batteries/image-triggers.yaml", "--seeds", "2", "--out"])
        .arg(&thresholds)
        .assert()
        .success()
        .stdout(predicate::str::contains("calibrated 37 trigger probes on 3 clean models x 2 seeds"));
    let text = std::fs::read_to_string(&thresholds).unwrap();
    assert!(text.contains("schema: probity/thresholds/v1"), "{text}");
    let t = thresholds.display().to_string();
    let (code, report) =
        scan("badnets-mlp64.onnx", &["--thresholds", &t, "--battery", "batteries/image-triggers.yaml"]);
    assert_eq!(code, 1);
    assert_eq!(report["thresholds"]["calibrated_probes"], 37);
    assert_eq!(report["thresholds"]["calibration_set"].as_array().unwrap().len(), 3);
    let probe = report["probes"].as_array().unwrap().iter().find(|p| p["id"] == "patch-black-1of4-center").unwrap();
    let calibrated: Vec<&str> = text.lines().skip_while(|l| !l.contains("patch-black-1of4-center:")).take(3).collect();
    let min_asr = probe["thresholds"]["min_attack_success"].as_f64().unwrap();
    assert!(calibrated[1].contains(&format!("min-attack-success: {min_asr}")), "{calibrated:?} vs {min_asr}");
    // A calibration model under a calibration seed stays below every threshold by
    // construction (thresholds sit just above the largest clean observation). A *new* clean
    // model is only bounded in probability: with 6 observations, 1/7 per probe.
    let base = "20261125";
    let (code, report) = scan(
        "clean-mlp64-s2.onnx",
        &["--thresholds", &t, "--battery", "batteries/image-triggers.yaml", "--seed", base],
    );
    assert_eq!(code, 0, "{}", report["summary"]);
}

#[test]
fn distribution_evidence_and_the_correction_are_reported() {
    let (_, report) = scan("badnets-mlp64.onnx", &["--battery", "batteries/image-triggers.yaml", "--correction", "bh"]);
    assert_eq!(report["correction"], "bh");
    let probe =
        report["probes"].as_array().unwrap().iter().find(|p| p["id"] == "patch-white-1of4-bottom-right").unwrap();
    let d = &probe["distribution"];
    assert!(d["js_divergence"].as_f64().unwrap() > 0.3, "{d}");
    assert!(d["ks_statistic"].as_f64().unwrap() >= 0.0);
    assert_eq!(probe["flip_matrix"].as_array().unwrap().len(), 10);
    assert!(!probe["examples"].as_array().unwrap().is_empty());
}

/// A one-probe trigger battery named `name` with its own `seed`: the probe draws 100 of the
/// clean inputs, so what it observes depends on the seed.
fn seeded_battery(dir: &std::path::Path, name: &str, seed: u64) -> std::path::PathBuf {
    let path = dir.join(format!("{name}.yaml"));
    let yaml = format!(
        "schema: probity/battery/v1\nname: {name}\nversion: \"1\"\ndescription: One seeded patch probe.\n\
         modality: image\n\ndefaults:\n  seed: {seed}\n  alpha: 0.05\n  min-effect: 0.5\n  \
         min-attack-success: 0.8\n  samples: 100\n  value-range: [0, 1]\n  layout: nchw\n\n\
         probes:\n  - id: {name}-patch\n    category: trigger\n    description: A white quarter.\n    \
         transform:\n      kind: patch\n      size: 4\n      position: top-left\n      content: {{solid: 1.0}}\n"
    );
    std::fs::write(&path, yaml).unwrap();
    path
}

/// `probity calibrate --battery ... --seeds 2 --out thresholds.yaml` on one clean model.
fn calibrate(batteries: &[&std::path::Path], out: &std::path::Path) -> probity::calibration::CalibratedThresholds {
    let mut cmd = probity();
    cmd.args(["--quiet", "calibrate", "--model"]).arg(fixture("clean-mlp64-s2.onnx"));
    cmd.arg("--data").arg(fixture("digits-test.npz"));
    for battery in batteries {
        cmd.arg("--battery").arg(battery);
    }
    cmd.args(["--seeds", "2", "--out"]).arg(out).assert().success();
    probity::calibration::CalibratedThresholds::read(out).unwrap()
}

/// Issue 15: without `--seed`, `calibrate` ran every battery under the first battery's seed.
/// Each battery runs under its own seed (plus 0, 1, ...), as `--seeds` says, so a battery
/// calibrated next to another gets the thresholds it gets alone.
#[test]
fn calibrate_runs_each_battery_under_its_own_seed() {
    let dir = tempfile::tempdir().unwrap();
    let first = seeded_battery(dir.path(), "first", 7);
    let second = seeded_battery(dir.path(), "second", 100);
    let together = calibrate(&[&first, &second], &dir.path().join("together.yaml"));
    let alone = calibrate(&[&second], &dir.path().join("alone.yaml"));
    assert_eq!(together.seeds, [7, 8, 100, 101]);
    assert_eq!(alone.seeds, [100, 101]);
    assert_eq!(together.probes["second/second-patch"], alone.probes["second/second-patch"]);
}
