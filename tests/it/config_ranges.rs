//! Thresholds and recorded baselines are range-checked when read (issue #14, item 3): a value
//! outside its range is exit 2 with a `file:line:column` diagnostic, rendered like a battery's.

use crate::common;

use common::{fixture, probity};
use predicates::prelude::*;

fn scan_with(flag: &str, path: &std::path::Path) -> assert_cmd::assert::Assert {
    let out = tempfile::tempdir().unwrap();
    probity()
        .args(["scan", "--quiet", "--model"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(out.path())
        .arg(flag)
        .arg(path)
        .assert()
}

const THRESHOLDS: &str = "\
schema: probity/thresholds/v1
false-alarm-rate: 0.01
floor: 0.3
calibration-set: []
data:
  path: digits-test.npz
  sha256: 0000000000000000000000000000000000000000000000000000000000000000
batteries: []
seeds: [1]
probes:
  image-triggers/patch-white-1of4-bottom-right:
    min-attack-success: 5.0
    min-effect: 0.4
    clean-observations: 12
    clean-max-attack-success: 0.49
    clean-max-effect: 0.39
    false-alarm-bound: 0.07
";

#[test]
fn thresholds_with_min_attack_success_5_are_refused_at_their_line_and_column() {
    // Before #14 this was accepted, and a probe moving 100% of inputs passed ("< 500.0%").
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("thresholds.yaml");
    std::fs::write(&path, THRESHOLDS).unwrap();
    scan_with("--thresholds", &path)
        .code(2)
        .stderr(predicate::str::contains(
            "error[bad-value]: `min-attack-success` of probe `image-triggers/patch-white-1of4-bottom-right` must be in [0, 1], found 5",
        ))
        .stderr(predicate::str::contains(format!("--> {}:12:25", path.display())))
        .stderr(predicate::str::contains("0.8 means 80%, so 5 would mean 500%"));
    // Every problem at once, in file order.
    let worse = THRESHOLDS
        .replace("false-alarm-rate: 0.01", "false-alarm-rate: 1.5")
        .replace("min-effect: 0.4", "min-effect: -2");
    std::fs::write(&path, worse).unwrap();
    let assert = scan_with("--thresholds", &path).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    let located: Vec<&str> = stderr.lines().filter(|l| l.trim_start().starts_with("-->")).collect();
    let expected: Vec<String> =
        ["2:19", "12:25", "13:17"].iter().map(|at| format!("  --> {}:{at}", path.display())).collect();
    assert_eq!(located, expected, "{stderr}");
}

#[test]
fn a_recorded_baseline_with_an_index_past_its_inputs_is_refused_where_it_stands() {
    let dir = tempfile::tempdir().unwrap();
    probity()
        .args(["baseline", "record", "--quiet", "--model"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(dir.path())
        .assert()
        .code(0);
    let file = dir.path().join("baseline.json");
    let mut recording: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    let inputs = recording["clean"]["class"].as_array().unwrap().len();
    recording["probes"][1]["indices"][0] = serde_json::json!(inputs + 5);
    recording["clean"]["confidence"][3] = serde_json::json!(1.5);
    // Pretty-printed, so that positions are lines apart.
    std::fs::write(&file, serde_json::to_vec_pretty(&recording).unwrap()).unwrap();
    let assert = scan_with("--baseline", dir.path()).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).into_owned();
    assert!(
        stderr.contains("error[bad-value]: confidence 3 of the clean predictions must be in [0, 1], found 1.5"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("input index {} of probe `", inputs + 5)), "{stderr}");
    assert!(stderr.contains("is past the"), "{stderr}");
    // Each at the line of the offending value.
    let text = String::from_utf8(std::fs::read(&file).unwrap()).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.trim() == needle).unwrap() + 1;
    let located: Vec<&str> = stderr.lines().filter(|l| l.trim_start().starts_with("-->")).collect();
    assert_eq!(located.len(), 2, "{stderr}");
    assert!(located[0].contains(&format!("baseline.json:{}:", line_of("1.5,"))), "{stderr}");
    assert!(located[1].contains(&format!("baseline.json:{}:", line_of(&format!("{},", inputs + 5)))), "{stderr}");
}
