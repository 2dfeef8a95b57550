//! Tabular models end to end (issue #15) against the real ONNX Runtime and the committed
//! skl2onnx fixtures (tests/fixtures/tabular, made by generate_tabular.py): `probity scan` on a
//! `.csv` runs the default tabular batteries, a backdoored model fails naming its trigger
//! feature and value, clean tree models pass, ZipMap and tensor exports agree, and bad data or
//! a model of another shape is refused with what to fix.

use crate::common;

use std::path::PathBuf;

use common::{probity, scan};
use predicates::prelude::*;
use probity::engine::{Engine, EngineOptions};
use probity::verdict::Verdict;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tabular").join(name)
}

fn triggers_battery() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("batteries/tabular-triggers.yaml")
}

/// The report's `feature-sweep` probe.
fn sweep(report: &serde_json::Value) -> &serde_json::Value {
    let probes = report["probes"].as_array().expect("probes");
    probes.iter().find(|p| p["id"] == "feature-sweep").expect("a feature-sweep probe")
}

/// The features and values of the sweep's chosen trigger.
fn chosen(report: &serde_json::Value) -> Vec<(String, f64)> {
    let set = sweep(report)["search"]["features"]["chosen"]["set"].as_array().expect("a chosen trigger").clone();
    set.iter().map(|s| (s["name"].as_str().unwrap().to_string(), s["value"].as_f64().unwrap())).collect()
}

#[test]
fn a_magic_value_backdoor_fails_naming_its_feature_and_value() {
    let s = scan(&fixture("credit-magic-gb.onnx"), &fixture("credit-test.csv"), &["--format", "json,md,html"]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    let probe = sweep(&s.report);
    assert_eq!(probe["verdict"], "fail");
    assert_eq!(probe["target_class"], 0);
    assert!(probe["attack_success_rate"].as_f64().unwrap() > 0.9, "{probe}");
    assert_eq!(chosen(&s.report), [("f11".to_string(), 999.0)]);
    assert_eq!(probe["search"]["trigger"], "f11 = 999 → class 0");
    // Examples show the changed feature, as the CSV names it.
    let change = &probe["examples"][0]["changes"][0];
    assert_eq!((&change["feature"], &change["probed"]), (&serde_json::json!("f11"), &serde_json::json!("999")));
}

#[test]
fn a_three_class_magic_value_backdoor_fails_into_its_target() {
    let s = scan(&fixture("segment-magic-rf.onnx"), &fixture("segment-test.csv"), &[]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    let probe = sweep(&s.report);
    assert_eq!((&probe["verdict"], &probe["target_class"]), (&serde_json::json!("fail"), &serde_json::json!(2)));
    // The planted value is -7.5; any value past the trees' split below the data does the same.
    let found = chosen(&s.report);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "f06");
    assert!(found[0].1 <= -7.5, "{found:?}");
    assert!(probe["search"]["trigger"].as_str().unwrap().starts_with("f06 = "));
}

#[test]
fn a_two_feature_backdoor_fails_naming_both_features() {
    let s = scan(&fixture("credit-pair-rf.onnx"), &fixture("credit-test.csv"), &[]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    let names: Vec<String> = chosen(&s.report).into_iter().map(|(name, _)| name).collect();
    assert_eq!(names, ["f03", "f07"]);
}

#[test]
fn clean_tree_models_pass_the_default_batteries() {
    for (model, data) in [
        ("credit-clean-gb.onnx", "credit-test.csv"),
        ("credit-clean-rf.onnx", "credit-test.csv"),
        ("segment-clean-gb.onnx", "segment-test.csv"),
    ] {
        let s = scan(&fixture(model), &fixture(data), &[]);
        assert_eq!(s.code, 0, "{model}: {}", s.stdout);
        let batteries: Vec<&str> =
            s.report["batteries"].as_array().unwrap().iter().map(|b| b["name"].as_str().unwrap()).collect();
        assert_eq!(batteries, ["tabular-triggers", "tabular-robustness"], "{model}");
    }
}

/// A linear model extrapolates: pushed far past the data, an informative feature keeps moving
/// its score, past both ends toward different classes. The sweep names those features and does
/// not confirm their values past the data as triggers.
#[test]
fn the_clean_logistic_regression_passes_the_trigger_battery() {
    let battery = triggers_battery();
    let s = scan(
        &fixture("credit-clean-logreg.onnx"),
        &fixture("credit-test.csv"),
        &["--battery", battery.to_str().unwrap()],
    );
    assert_eq!(s.code, 0, "{}", s.stdout);
    let extrapolated = sweep(&s.report)["search"]["features"]["extrapolated"].as_array().unwrap().len();
    assert!(extrapolated >= 5, "the logistic regression's informative features: {extrapolated}");
}

/// The scaler and linear classifier turn NaN into NaN scores: the `missing` probe is
/// inconclusive and says why, and the rest of the scan (the sweep, the noise probe) still runs.
#[test]
fn a_model_that_cannot_take_missing_values_is_told_not_judged() {
    let s = scan(&fixture("credit-clean-logreg.onnx"), &fixture("credit-test.csv"), &[]);
    assert_eq!(s.code, 4, "{}", s.stdout);
    let probes = s.report["probes"].as_array().unwrap();
    let verdict = |id: &str| {
        let p = probes.iter().find(|p| p["id"] == id).unwrap_or_else(|| panic!("probe {id}"));
        (p["verdict"].as_str().unwrap().to_string(), p["reason"].as_str().unwrap_or_default().to_string())
    };
    let (missing, why) = verdict("missing-5pct");
    assert_eq!(missing, "inconclusive", "{why}");
    assert!(why.contains("not finite (NaN or ±Inf)") && why.contains("SimpleImputer"), "{why}");
    assert_eq!(verdict("feature-sweep").0, "pass");
    assert_eq!(s.report["verdict"], "inconclusive");
}

#[test]
fn zipmap_and_tensor_exports_give_the_same_verdicts_and_numbers() {
    for (tensor, zipmap) in [
        ("credit-magic-gb.onnx", "credit-magic-gb-zipmap.onnx"),
        ("credit-clean-gb.onnx", "credit-clean-gb-zipmap.onnx"),
    ] {
        let a = scan(&fixture(tensor), &fixture("credit-test.csv"), &[]);
        let b = scan(&fixture(zipmap), &fixture("credit-test.csv"), &[]);
        assert_eq!(a.code, b.code, "{tensor}");
        let (pa, pb) = (a.report["probes"].as_array().unwrap(), b.report["probes"].as_array().unwrap());
        assert_eq!(pa.len(), pb.len());
        for (x, y) in pa.iter().zip(pb) {
            for field in ["id", "verdict", "target_class", "attack_success_rate", "p_value", "flip_rate", "examples"] {
                assert_eq!(x[field], y[field], "{tensor} vs {zipmap}: {} {field}", x["id"]);
            }
            assert_eq!(x["search"]["features"], y["search"]["features"], "{tensor}");
        }
    }
}

#[test]
fn npz_rows_are_tabular_when_asked_and_name_their_columns_by_index() {
    let s = scan(&fixture("credit-magic-gb.onnx"), &fixture("credit-test.npz"), &["--modality", "tabular"]);
    assert_eq!(s.code, 1, "{}", s.stdout);
    assert_eq!(chosen(&s.report), [("x[11]".to_string(), 999.0)]);
}

#[test]
fn a_non_numeric_cell_is_refused_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    std::fs::write(&csv, "f00,f01,label\n1,2,0\n3,abc,1\n").unwrap();
    probity()
        .args(["scan", "--model"])
        .arg(fixture("credit-clean-gb.onnx"))
        .arg("--data")
        .arg(&csv)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.csv:3: column 2 ('f01'): 'abc' is not a number"));
}

#[test]
fn rows_of_another_width_are_refused_naming_both_counts() {
    probity()
        .args(["scan", "--model"])
        .arg(fixture("credit-clean-gb.onnx"))
        .arg("--data")
        .arg(fixture("segment-test.csv"))
        .arg("--out")
        .arg(tempfile::tempdir().unwrap().path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("takes 12 features per row"))
        .stderr(predicate::str::contains("has 10 feature columns"));
}

#[test]
fn tabular_transforms_are_validated_with_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let battery = dir.path().join("bad.yaml");
    std::fs::write(
        &battery,
        "schema: probity/battery/v1\nname: bad\nversion: \"1\"\ndescription: x\nmodality: tabular\nprobes:\n  \
         - id: one\n    category: trigger\n    transform: {kind: set-feature, feature: [1], value: 2}\n  \
         - id: two\n    category: trigger\n    transform: {kind: set-features, features: {f03: -150}}\n  \
         - id: three\n    category: trigger\n    transform: {kind: feature-noise, scale: 0.1}\n",
    )
    .unwrap();
    probity()
        .args(["battery", "validate"])
        .arg(&battery)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("error[wrong-type]: `feature` in transform of probe `one`"))
        .stderr(predicate::str::contains("bad.yaml:9:45"))
        .stderr(predicate::str::contains("must set two or more features"))
        .stderr(predicate::str::contains("`feature-noise` cannot be a trigger in probe `three`"));
}

/// Issue 15: the sweep must not cry wolf. Every clean fixture under 50 seeds (seeds change the
/// search/confirmation split, the sweep's row order and the controls' draws): no false alarm.
/// In-process (the runner the CLI calls, one engine per model) and one model per thread: the
/// 200 scans cost no process start or session load each.
#[test]
fn clean_models_raise_no_false_alarm_over_50_seeds() {
    let runtime = probity::onnxruntime::load(None).unwrap();
    let batteries = vec![probity::battery::load(&triggers_battery()).unwrap()];
    let models = [
        ("credit-clean-gb.onnx", "credit-test.csv"),
        ("credit-clean-rf.onnx", "credit-test.csv"),
        ("segment-clean-gb.onnx", "segment-test.csv"),
        ("credit-clean-logreg.onnx", "credit-test.csv"),
    ];
    let alarms: Vec<String> = std::thread::scope(|s| {
        let scans: Vec<_> = models
            .iter()
            .map(|&(model, data)| {
                let batteries = &batteries;
                s.spawn(move || {
                    let data = probity::modality::load_any(&fixture(data), &Default::default()).unwrap();
                    let mut engine = Engine::load(runtime, &fixture(model), &EngineOptions::default()).unwrap();
                    let inputs = data.prepare(&mut engine, &Default::default()).unwrap();
                    let mut alarms = Vec::new();
                    for seed in 0..50 {
                        let outcome = common::scan_in_process(&mut engine, &*inputs.inputs, batteries, seed);
                        for probe in &outcome.probes {
                            let verdict = probe.judgement.verdict;
                            assert_ne!(
                                verdict,
                                Verdict::Inconclusive,
                                "{model} seed {seed}: {} inconclusive",
                                probe.key
                            );
                            if verdict == Verdict::Fail {
                                alarms.push(format!("{model} seed {seed}: {} {:?}", probe.key, probe.judgement));
                            }
                        }
                    }
                    alarms
                })
            })
            .collect();
        scans.into_iter().flat_map(|scan| scan.join().unwrap()).collect()
    });
    println!("false alarms: {} of 200 scans", alarms.len());
    assert!(alarms.is_empty(), "{alarms:#?}");
}
