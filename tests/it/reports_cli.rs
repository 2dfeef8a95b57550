//! The report formats end to end: `scan --format`, `report render`, `report diff` and
//! `attest verify`, with the real binary and the committed digits fixtures.

use crate::common;

use std::path::{Path, PathBuf};

use common::{fixture, probity};
use predicates::prelude::*;
use serde_json::Value;

const ALL_FORMATS: &str = "json,md,html,junit,sarif,intoto";

/// Scans `model` (a path) into `out` with the given formats; returns the exit code.
fn scan_into(model: &Path, out: &Path, formats: &str) -> i32 {
    let assert = probity()
        .args(["scan", "--model"])
        .arg(model)
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(out)
        .args(["--format", formats])
        .assert();
    assert.get_output().status.code().expect("exit code")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A scan of `model` with every format, in a fresh folder (kept alive by the returned guard).
fn scanned(model: &str) -> (tempfile::TempDir, PathBuf, i32) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("scan");
    let code = scan_into(&fixture(model), &out, ALL_FORMATS);
    (dir, out, code)
}

#[test]
fn scan_writes_every_requested_format() {
    let (_dir, out, code) = scanned("badnets-mlp64.onnx");
    assert_eq!(code, 1);
    for name in
        ["report.json", "report.md", "report.html", "report.junit.xml", "report.sarif", "attestation.intoto.json"]
    {
        assert!(out.join(name).is_file(), "{name} written");
    }
    let html = read(&out.join("report.html"));
    assert!(html.contains("<svg"), "charts are inline SVG");
    let report: Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    let failing: Vec<&Value> = report["probes"].as_array().unwrap().iter().filter(|p| p["verdict"] == "fail").collect();
    let junit = read(&out.join("report.junit.xml"));
    assert_eq!(junit.matches("<failure ").count(), failing.len());
    let sarif: Value = serde_json::from_str(&read(&out.join("report.sarif"))).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), failing.len());
    let trigger = results
        .iter()
        .find(|r| r["locations"][0]["logicalLocations"][0]["name"] == "patch-white-1of4-bottom-right")
        .expect("the true trigger is a SARIF result");
    let location = &trigger["locations"][0]["physicalLocation"];
    assert_eq!(location["artifactLocation"]["uri"], "batteries/image-triggers.yaml");
    let line = failing.iter().find(|p| p["id"] == "patch-white-1of4-bottom-right").unwrap()["line"].clone();
    assert_eq!(location["region"]["startLine"], line);
}

#[test]
fn scan_writes_json_and_markdown_by_default() {
    let dir = tempfile::tempdir().unwrap();
    probity()
        .args(["scan", "--model"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(dir.path())
        .assert()
        .code(0);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("report.") || n.ends_with(".intoto.json"))
        .collect();
    names.sort();
    assert_eq!(names, ["report.json", "report.md"]);
}

#[test]
fn report_render_reproduces_what_the_scan_wrote() {
    let (dir, out, _) = scanned("badnets-mlp64.onnx");
    let again = dir.path().join("again");
    probity()
        .args(["report", "render"])
        .arg(out.join("report.json"))
        .args(["--format", "md,html,junit,sarif,intoto", "--out"])
        .arg(&again)
        .assert()
        .code(0)
        .stdout(predicate::str::contains("wrote"));
    for name in ["report.md", "report.html", "report.junit.xml", "report.sarif", "attestation.intoto.json"] {
        assert!(read(&out.join(name)) == read(&again.join(name)), "{name} differs when re-rendered");
    }
}

#[test]
fn report_render_prints_one_format_to_stdout() {
    let (_dir, out, _) = scanned("badnets-mlp64.onnx");
    probity()
        .args(["report", "render"])
        .arg(out.join("report.json"))
        .args(["--format", "md", "--stdout"])
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("# probity scan: FAIL"));
    probity()
        .args(["report", "render"])
        .arg(out.join("report.json"))
        .args(["--format", "md,html", "--stdout"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exactly one"));
}

#[test]
fn report_render_refuses_what_is_not_a_report() {
    let (_dir, out, _) = scanned("badnets-mlp64.onnx");
    probity()
        .args(["report", "render"])
        .arg(out.join("attestation.intoto.json"))
        .args(["--format", "html"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not 'probity/report/v1'"));
}

#[test]
fn report_diff_of_a_report_with_itself_exits_0() {
    let (_dir, out, _) = scanned("badnets-mlp64.onnx");
    probity()
        .args(["report", "diff"])
        .arg(out.join("report.json"))
        .arg(out.join("report.json"))
        .assert()
        .code(0)
        .stdout(predicate::str::contains("no significant change"));
}

#[test]
fn report_diff_names_the_probe_that_started_failing() {
    let (_c, clean, _) = scanned("clean-mlp64-s1.onnx");
    let (_b, backdoored, _) = scanned("badnets-mlp64.onnx");
    let assert = probity()
        .args(["report", "diff"])
        .arg(clean.join("report.json"))
        .arg(backdoored.join("report.json"))
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).into_owned();
    assert!(stdout.contains("verdict: PASS -> FAIL"), "{stdout}");
    assert!(stdout.contains("changed  image-triggers/patch-white-1of4-bottom-right [PASS -> FAIL]"), "{stdout}");
    assert!(stdout.contains("note: model sha256 differs"), "{stdout}");
    // And as JSON.
    let assert = probity()
        .args(["report", "diff", "--json"])
        .arg(clean.join("report.json"))
        .arg(backdoored.join("report.json"))
        .assert()
        .code(1);
    let diff: Value = serde_json::from_slice(&assert.get_output().stdout).unwrap();
    assert_eq!(diff["new_verdict"], "fail");
    assert!(diff["changed"].as_array().unwrap().iter().any(|c| c["id"] == "patch-white-1of4-bottom-right"));
}

#[test]
fn report_diff_lists_added_and_removed_probes() {
    let (dir, out, _) = scanned("clean-mlp64-s1.onnx");
    let mut report: Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    let probes = report["probes"].as_array_mut().unwrap();
    let removed = probes.remove(0)["id"].as_str().unwrap().to_owned();
    let mut added = probes[0].clone();
    added["id"] = "patch-added".into();
    probes.push(added);
    let edited = dir.path().join("edited.json");
    std::fs::write(&edited, serde_json::to_string(&report).unwrap()).unwrap();
    probity()
        .args(["report", "diff"])
        .arg(out.join("report.json"))
        .arg(&edited)
        .assert()
        .code(1)
        .stdout(predicate::str::contains(format!("removed  image-triggers/{removed}")))
        .stdout(predicate::str::contains("added    image-triggers/patch-added"));
}

// --- attest verify ------------------------------------------------------------------------

fn verify(model: &Path, attestation: &Path) -> assert_cmd::assert::Assert {
    probity().args(["attest", "verify", "--model"]).arg(model).arg("--attestation").arg(attestation).assert()
}

#[test]
fn attest_verify_accepts_the_scanned_model() {
    let (_dir, out, code) = scanned("clean-mlp64-s1.onnx");
    assert_eq!(code, 0);
    let sha = serde_json::from_str::<Value>(&read(&out.join("report.json"))).unwrap()["model"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    verify(&fixture("clean-mlp64-s1.onnx"), &out.join("attestation.intoto.json"))
        .code(0)
        .stdout(predicate::str::starts_with("verified: "))
        .stdout(predicate::str::contains(sha));
}

#[test]
fn attest_verify_rejects_a_one_byte_modified_copy() {
    let (dir, out, _) = scanned("clean-mlp64-s1.onnx");
    let mut bytes = std::fs::read(fixture("clean-mlp64-s1.onnx")).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    let copy = dir.path().join("clean-mlp64-s1.onnx");
    std::fs::write(&copy, &bytes).unwrap();
    let attested = serde_json::from_str::<Value>(&read(&out.join("report.json"))).unwrap()["model"]["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    let actual = probity::onnxruntime::provision::sha256_file(&copy).unwrap();
    verify(&copy, &out.join("attestation.intoto.json"))
        .code(1)
        .stdout(predicate::str::contains("does not match the attestation"))
        .stdout(predicate::str::contains(format!("expected sha256 {attested}")))
        .stdout(predicate::str::contains(format!("actual sha256 {actual}")));
}

#[test]
fn attest_verify_rejects_the_attestation_of_a_failed_scan() {
    let (_dir, out, code) = scanned("badnets-mlp64.onnx");
    assert_eq!(code, 1);
    verify(&fixture("badnets-mlp64.onnx"), &out.join("attestation.intoto.json"))
        .code(1)
        .stdout(predicate::str::contains("the attested scan did not pass"));
}

#[test]
fn attest_verify_checks_external_data_files() {
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    std::fs::create_dir(&models).unwrap();
    for name in ["external-data-ok.onnx", "external-data-ok.weights.bin"] {
        std::fs::copy(fixture(name), models.join(name)).unwrap();
    }
    let model = models.join("external-data-ok.onnx");
    let out = dir.path().join("scan");
    assert_eq!(scan_into(&model, &out, "json,intoto"), 0);
    let statement: Value = serde_json::from_str(&read(&out.join("attestation.intoto.json"))).unwrap();
    assert_eq!(statement["subject"][1]["name"], "external-data-ok.weights.bin");
    verify(&model, &out.join("attestation.intoto.json"))
        .code(0)
        .stdout(predicate::str::contains("and its 1 external data file(s)"));
    let weights = models.join("external-data-ok.weights.bin");
    let mut bytes = std::fs::read(&weights).unwrap();
    bytes[0] ^= 0x01;
    std::fs::write(&weights, &bytes).unwrap();
    verify(&model, &out.join("attestation.intoto.json"))
        .code(1)
        .stdout(predicate::str::contains("external data file"))
        .stdout(predicate::str::contains("does not match the attestation"));
}

#[test]
fn attest_verify_refuses_what_is_not_an_attestation() {
    let (_dir, out, _) = scanned("clean-mlp64-s1.onnx");
    verify(&fixture("clean-mlp64-s1.onnx"), &out.join("report.json"))
        .code(2)
        .stderr(predicate::str::contains("is not a probity attestation"));
    verify(&fixture("clean-mlp64-s1.onnx"), &out.join("missing.json"))
        .code(2)
        .stderr(predicate::str::contains("cannot read attestation"));
}
