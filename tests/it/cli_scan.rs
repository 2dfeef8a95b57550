//! `probity scan` end to end: the real binary, the real ONNX Runtime, the committed fixtures and
//! the bundled default batteries.

use crate::common;

use common::{CLEAN_MODELS, fixture, manifest, probity};
use predicates::prelude::*;
use serde_json::Value;

/// Runs a scan of the digits test data into a fresh folder; returns (exit code, report.json, stdout).
fn scan(model: &str, extra: &[&str]) -> (i32, Value, String) {
    scan_data(model, &fixture("digits-test.npz"), extra)
}

fn backdoor_target() -> i64 {
    let m = manifest();
    let entry = m["models"].as_array().unwrap().iter().find(|e| e["file"] == "badnets-mlp64.onnx").unwrap();
    entry["target_class"].as_i64().unwrap()
}

#[test]
fn the_backdoored_fixture_fails_naming_its_target_class() {
    let (code, report, stdout) = scan("badnets-mlp64.onnx", &[]);
    assert_eq!(code, 1);
    assert_eq!(report["verdict"], "fail");
    assert_eq!(report["backdoor_verdict"], "fail");
    let target = backdoor_target();
    let failing: Vec<&Value> = report["probes"].as_array().unwrap().iter().filter(|p| p["verdict"] == "fail").collect();
    assert!(!failing.is_empty());
    for probe in &failing {
        assert_eq!(probe["category"], "trigger", "{}", probe["id"]);
        assert_eq!(probe["target_class"].as_i64(), Some(target), "{}", probe["id"]);
        assert!(probe["attack_success_rate"].as_f64().unwrap() >= 0.8);
        assert!(probe["p_value"].as_f64().unwrap() < 0.01);
        let ci = &probe["attack_success_interval"];
        assert!(ci["lower"].as_f64().unwrap() <= probe["attack_success_rate"].as_f64().unwrap());
    }
    // The true trigger (white 2x2 bottom-right on 8x8) is among the failing probes.
    assert!(failing.iter().any(|p| p["id"] == "patch-white-1of4-bottom-right"));
    assert!(stdout.contains(&format!("into class {target}")), "{stdout}");
}

#[test]
fn every_clean_fixture_passes_the_default_batteries() {
    for model in CLEAN_MODELS {
        let (code, report, stdout) = scan(model, &[]);
        assert_eq!(code, 0, "{model} was flagged: {stdout}");
        assert_eq!(report["verdict"], "pass", "{model}");
    }
}

#[test]
fn report_records_provenance_and_the_stable_fields() {
    let (_, report, _) = scan("clean-logreg-s5.onnx", &["--seed", "7"]);
    assert_eq!(report["schema"], "probity/report/v1");
    assert_eq!(report["model"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["onnxruntime"]["version"], "1.31.1");
    assert_eq!(report["onnxruntime"]["library_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["execution_provider"]["used"], "cpu");
    assert_eq!(report["data"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(report["batteries"].as_array().unwrap().len(), 3);
    assert_eq!(report["batteries"][0]["seed"], 7);
    assert_eq!(report["batteries"][0]["sha256"].as_str().unwrap().len(), 64);
    assert!(report["queries"].as_u64().unwrap() > 400);
    assert!(report["elapsed_seconds"].as_f64().is_some());
    assert_eq!(report["model"]["scores"], "probabilities");
    for probe in report["probes"].as_array().unwrap() {
        for key in ["id", "category", "verdict", "target_class", "attack_success_rate", "p_value"] {
            assert!(probe.get(key).is_some(), "probe lacks {key}");
        }
    }
    let (_, logits, _) = scan("clean-mlp64-s2.onnx", &["--battery", "batteries/image-robustness.yaml"]);
    assert_eq!(logits["model"]["scores"], "logits");
}

fn numbers(report: &Value) -> Value {
    let mut r = report.clone();
    r.as_object_mut().unwrap().remove("elapsed_seconds");
    r
}

#[test]
fn same_command_twice_and_any_thread_count_give_identical_numbers() {
    let (_, first, _) = scan("badnets-mlp64.onnx", &["--seed", "11", "--threads", "1"]);
    let (_, second, _) = scan("badnets-mlp64.onnx", &["--seed", "11", "--threads", "1"]);
    let (_, two_threads, _) = scan("badnets-mlp64.onnx", &["--seed", "11", "--threads", "2", "--batch-size", "7"]);
    assert_eq!(numbers(&first), numbers(&second));
    let strip = |r: &Value| {
        let mut r = numbers(r);
        r.as_object_mut().unwrap().remove("threads");
        r.as_object_mut().unwrap().remove("batch_size");
        r.as_object_mut().unwrap().remove("engine");
        r
    };
    assert_eq!(strip(&first), strip(&two_threads));
    // Each session saw one input shape: the batch size, short batches padded up to it.
    assert_eq!(first["engine"]["sessions"][0]["input_shapes"], serde_json::json!([[[1024, 1, 8, 8]]]));
    assert_eq!(two_threads["engine"]["sessions"][0]["input_shapes"], serde_json::json!([[[7, 1, 8, 8]]]));
}

/// Issue 13: every session sees at most two input shapes in a scan (here exactly one: the batch
/// size, or 1 for a model that fixes its batch to 1), references included, so a GPU never pays
/// a new algorithm search for a short batch or a search rung.
#[test]
fn every_session_sees_one_input_shape_references_and_batch_one_models_included() {
    let reference = fixture("clean-mlp64-s2.onnx");
    let reference = reference.to_str().unwrap();
    let search = ["--battery", "batteries/image-search.yaml", "--search-budget", "5000", "--batch-size", "48"];
    let (_, report, _) = scan("clean-mlp64-s1.onnx", &[&search[..], &["--reference", reference]].concat());
    let sessions = report["engine"]["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "the candidate and the reference");
    for session in sessions {
        assert_eq!(session["input_shapes"], serde_json::json!([[[48, 1, 8, 8]]]), "{session}");
    }
    let (_, report, _) = scan("clean-mlp64-s1-batch1.onnx", &["--battery", "batteries/image-robustness.yaml"]);
    assert_eq!(report["engine"]["sessions"][0]["input_shapes"], serde_json::json!([[[1, 1, 8, 8]]]));
}

#[test]
fn data_of_the_wrong_shape_exits_2_naming_both_shapes() {
    let out = tempfile::tempdir().unwrap();
    probity()
        .arg("scan")
        .arg("--model")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-wrong-shape.npz"))
        .arg("--out")
        .arg(out.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("[N, 1, 8, 8]"))
        .stderr(predicate::str::contains("[N, 1, 7, 7]"));
    assert!(!out.path().join("report.json").exists(), "no report after invalid input");
}

#[test]
fn a_malformed_battery_exits_2_before_any_model_runs() {
    let dir = tempfile::tempdir().unwrap();
    let battery = dir.path().join("bad.yaml");
    std::fs::write(
        &battery,
        "schema: probity/battery/v1\nname: bad\nversion: 1\nmodality: image\nprobes:\n  - id: p\n    category: trigger\n    transform: {kind: patch, size: 2, content: {solid: 3.0}}\n    colour: red\n",
    )
    .unwrap();
    probity()
        .arg("scan")
        .arg("--model")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--battery")
        .arg(&battery)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("bad.yaml:8:"))
        .stderr(predicate::str::contains("bad.yaml:9:"));
    assert!(!dir.path().join("out").exists());
}

#[test]
fn data_that_is_not_an_array_file_exits_2() {
    probity()
        .arg("scan")
        .arg("--model")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("manifest.json"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("manifest.json"))
        // A text file without a text extension (a pipe, say) is told how to be read.
        .stderr(predicate::str::contains("--modality text|tabular"));
}

#[test]
fn npy_inputs_without_labels_are_scanned() {
    let (code, report, _) = scan_data("clean-mlp64-s1.onnx", &fixture("digits-test-x.npy"), &[]);
    assert_eq!(code, 0);
    assert_eq!(report["data"]["labelled"], false);
    assert!(report["data"]["clean_accuracy"].is_null());
}

#[test]
fn a_folder_of_png_images_is_resized_normalised_and_labelled_by_subfolder() {
    // Write the first 60 test digits as 16x16 grayscale PNGs in class folders; probity resizes
    // them back to 8x8.
    let mut npz = ndarray_npy::NpzReader::new(std::fs::File::open(fixture("digits-test.npz")).unwrap()).unwrap();
    let x: ndarray::Array4<f32> = npz.by_name("x").unwrap();
    let y: ndarray::Array1<i64> = npz.by_name("y").unwrap();
    let dir = tempfile::tempdir().unwrap();
    for i in 0..60 {
        let class_dir = dir.path().join(y[i].to_string());
        std::fs::create_dir_all(&class_dir).unwrap();
        let img = image::GrayImage::from_fn(16, 16, |c, r| {
            image::Luma([(x[[i, 0, (r / 2) as usize, (c / 2) as usize]] * 255.0).round() as u8])
        });
        img.save(class_dir.join(format!("{i:03}.png"))).unwrap();
    }
    let args = ["--image-size", "8x8", "--channel-order", "gray", "--battery", "batteries/image-robustness.yaml"];
    let (code, report, _) = scan_data("clean-mlp64-s1.onnx", dir.path(), &args);
    assert_eq!(code, 0);
    assert_eq!(report["data"]["inputs"], 60);
    assert_eq!(report["data"]["labelled"], true);
    assert!(report["data"]["clean_accuracy"].as_f64().unwrap() > 0.8);
}

fn scan_data(model: &str, data: &std::path::Path, extra: &[&str]) -> (i32, Value, String) {
    let run = common::scan(&fixture(model), data, extra);
    assert!(run.out.path().join("report.md").exists());
    (run.code, run.report, run.stdout)
}

#[test]
fn a_channels_last_model_gets_exactly_the_same_probes_as_its_channels_first_twin() {
    // Same weights; the NHWC model transposes its input. Transforms act on [C, H, W] views of
    // either layout, so every probed input, prediction and number must be identical.
    let (code_nchw, nchw, _) = scan("clean-mlp64-s1.onnx", &["--seed", "3"]);
    let (code_nhwc, nhwc, _) =
        scan_data("clean-mlp64-s1-nhwc.onnx", &fixture("digits-test-nhwc.npz"), &["--seed", "3"]);
    assert_eq!(code_nchw, code_nhwc);
    assert_eq!(nhwc["batteries"][0]["inputs"]["layout"], "nhwc");
    assert_eq!(nhwc["batteries"][0]["inputs"]["layout_inferred"], true);
    let numbers = |r: &Value| {
        r["probes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["id"].clone(), p["verdict"].clone(), p["per_class"].clone(), p["flip_rate"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(numbers(&nchw), numbers(&nhwc));
}

/// The first `n` rows of the digits test data, written to `dir`.
fn first_rows(dir: &std::path::Path, n: usize) -> std::path::PathBuf {
    use ndarray_npy::{NpzReader, NpzWriter};
    let mut npz = NpzReader::new(std::fs::File::open(fixture("digits-test.npz")).unwrap()).unwrap();
    let x: ndarray::ArrayD<f32> = npz.by_name("x").unwrap();
    let y: ndarray::ArrayD<i64> = npz.by_name("y").unwrap();
    let path = dir.join(format!("rows{n}.npz"));
    let mut writer = NpzWriter::new(std::fs::File::create(&path).unwrap());
    writer.add_array("x", &x.slice_axis(ndarray::Axis(0), (0..n).into()).to_owned()).unwrap();
    writer.add_array("y", &y.slice_axis(ndarray::Axis(0), (0..n).into()).to_owned()).unwrap();
    writer.finish().unwrap();
    path
}

/// Issue #14: one to six inputs once panicked in the patch search (exit 101) and, later, passed
/// the backdoored model. With six or fewer inputs no trigger probe can reach alpha = 0.01
/// (0.5^6 = 0.016), so a PASS would be meaningless: the scan says so instead.
#[test]
fn one_to_six_inputs_never_panic_and_never_pass() {
    let dir = tempfile::tempdir().unwrap();
    for n in 1..=6 {
        let data = first_rows(dir.path(), n);
        let output = probity()
            .arg("scan")
            .arg("--model")
            .arg(fixture("badnets-mlp64.onnx"))
            .arg("--data")
            .arg(&data)
            .arg("--out")
            .arg(dir.path().join(format!("out{n}")))
            .output()
            .unwrap();
        let code = output.status.code().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_ne!(code, 101, "{n} inputs: panicked: {stderr}");
        assert_ne!(code, 0, "{n} inputs: passed");
        assert!(stderr.contains(&format!("rows{n}.npz")) && stderr.contains("too few"), "{n} inputs: {stderr}");
    }
}

/// Issue #14: all-NaN data once passed the backdoored model.
#[test]
fn all_nan_data_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nan.npy");
    ndarray_npy::write_npy(&path, &ndarray::Array4::<f32>::from_elem((10, 1, 8, 8), f32::NAN)).unwrap();
    probity()
        .arg("scan")
        .arg("--model")
        .arg(fixture("badnets-mlp64.onnx"))
        .arg("--data")
        .arg(&path)
        .arg("--out")
        .arg(dir.path().join("out"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("nan.npy"))
        .stderr(predicate::str::contains("10 of 10 inputs hold non-finite values (the first is input 0, with NaN)"));
}
