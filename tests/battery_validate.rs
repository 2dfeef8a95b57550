//! `probity battery validate` through the real binary: every problem in a battery is reported
//! at its line and column in one run, and the exit code says whether the files can be used.

mod common;

use std::path::Path;

use common::probity;
use predicates::prelude::*;

/// Fixture batteries, named relative to the crate root so that messages (and snapshots) are the
/// same on every machine.
fn battery(name: &str) -> String {
    format!("tests/fixtures/batteries/{name}")
}

fn validate(files: &[&str]) -> assert_cmd::assert::Assert {
    let mut cmd = probity();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR")).args(["battery", "validate"]);
    for file in files {
        cmd.arg(battery(file));
    }
    cmd.assert()
}

fn stderr(assert: &assert_cmd::assert::Assert) -> String {
    String::from_utf8_lossy(&assert.get_output().stderr).into_owned()
}

/// `(code, line, column)` of every rendered diagnostic, in order.
fn reported(stderr: &str, file: &str) -> Vec<(String, u32, u32)> {
    let mut found = Vec::new();
    let mut code = None;
    for line in stderr.lines() {
        if let Some(rest) = line.strip_prefix("error[") {
            code = rest.split(']').next().map(str::to_string);
        } else if let Some(at) = line.trim_start().strip_prefix("--> ") {
            let at = at.strip_prefix(file).and_then(|a| a.strip_prefix(':')).expect("diagnostic names the file");
            let (l, c) = at.split_once(':').expect("line:column");
            found.push((code.take().expect("header before location"), l.parse().unwrap(), c.parse().unwrap()));
        }
    }
    found
}

#[test]
fn a_valid_battery_passes_with_a_summary() {
    validate(&["valid.yaml"])
        .success()
        .stdout(predicate::eq(format!(
            "ok: {} — image-triggers v1, 13 probes (8 trigger, 5 robustness)\n",
            battery("valid.yaml")
        )))
        .stderr(predicate::str::is_empty());
}

#[test]
fn every_problem_in_a_malformed_battery_is_reported_with_its_position() {
    let assert = validate(&["malformed.yaml"]).code(2).stdout(predicate::str::is_empty());
    let expected: Vec<(String, u32, u32)> = [
        ("bad-value", 8, 10),          // alpha: 1.5
        ("wrong-type", 9, 12),         // samples: many
        ("bad-value", 10, 11),         // layout: nwhc
        ("missing-key", 16, 7),        // no size (it is spelt `sizes`)
        ("unknown-key", 17, 7),        // sizes
        ("bad-value", 18, 24),         // solid: 1.2
        ("bad-value", 20, 9),          // id: Blend_Noise
        ("bad-value", 24, 54),         // orientation: diagonal
        ("category-mismatch", 27, 7),  // max-flip-rate on a trigger probe
        ("category-mismatch", 31, 23), // blur as a trigger
        ("duplicate-id", 33, 9),       // patch-white-2px again
        ("bad-value", 38, 17),         // position: centre
        ("file-not-found", 39, 24),    // triggers/missing.png
        ("bad-value", 43, 14),         // samples: -5
        ("bad-value", 44, 23),         // kind: rotatte
        ("bad-value", 47, 15),         // category: robustnes
        ("wrong-type", 48, 44),        // std: "0.1"
    ]
    .into_iter()
    .map(|(code, line, column)| (code.to_string(), line, column))
    .collect();
    assert_eq!(reported(&stderr(&assert), &battery("malformed.yaml")), expected);
}

#[test]
fn malformed_battery_diagnostics_snapshot() {
    let assert = validate(&["malformed.yaml"]).code(2);
    insta::assert_snapshot!("malformed", stderr(&assert));
}

#[test]
fn a_valid_text_battery_passes_with_a_summary() {
    validate(&["valid-text.yaml"])
        .success()
        .stdout(predicate::eq(format!(
            "ok: {} — text-triggers v1, 8 probes (6 trigger, 2 robustness)\n",
            battery("valid-text.yaml")
        )))
        .stderr(predicate::str::is_empty());
}

#[test]
fn every_problem_in_a_malformed_text_battery_is_reported_with_its_position() {
    let assert = validate(&["malformed-text.yaml"]).code(2).stdout(predicate::str::is_empty());
    let expected: Vec<(String, u32, u32)> = [
        ("bad-value", 11, 42),         // text: "  "
        ("bad-value", 11, 58),         // position: middle
        ("bad-value", 15, 44),         // token: ""
        ("category-mismatch", 19, 23), // patch in a text battery
        ("category-mismatch", 24, 13), // typo as a trigger
        ("bad-value", 25, 13),         // rate: 0
        ("bad-value", 29, 46),         // characters: zero_width
        ("bad-value", 29, 65),         // count: 100
        ("missing-key", 33, 16),       // no rate (it is spelt `rates`)
        ("unknown-key", 33, 34),       // rates
        ("bad-value", 37, 56),         // tokens: subwords
        ("bad-value", 37, 74),         // pairs: 65
        ("category-mismatch", 41, 22), // patch search in a text battery
    ]
    .into_iter()
    .map(|(code, line, column)| (code.to_string(), line, column))
    .collect();
    assert_eq!(reported(&stderr(&assert), &battery("malformed-text.yaml")), expected);
}

#[test]
fn malformed_text_battery_diagnostics_snapshot() {
    let assert = validate(&["malformed-text.yaml"]).code(2);
    insta::assert_snapshot!("malformed-text", stderr(&assert));
}

#[test]
fn a_yaml_syntax_error_is_reported_with_its_position() {
    validate(&["syntax-error.yaml"]).code(2).stdout(predicate::str::is_empty()).stderr(predicate::str::starts_with(
        format!(
            "error[yaml-syntax]: mapping values are not allowed in this context\n  --> {}:7:14\n",
            battery("syntax-error.yaml")
        ),
    ));
}

#[test]
fn one_bad_file_fails_the_run_but_every_file_is_checked() {
    let assert = validate(&["malformed.yaml", "valid.yaml", "syntax-error.yaml"])
        .code(2)
        .stdout(predicate::str::contains(format!("ok: {}", battery("valid.yaml"))));
    let text = stderr(&assert);
    assert!(text.contains("malformed.yaml:48:44"), "{text}");
    assert!(text.contains("error[yaml-syntax]"), "{text}");
    assert!(text.ends_with("\n\nerror: 2 of 3 battery files invalid: 18 problems\n"), "{text}");
}

#[test]
fn a_missing_battery_file_is_invalid_input() {
    validate(&["no-such-battery.yaml"])
        .code(2)
        .stderr(predicate::str::contains("error[file-not-found]: battery file not found"));
}

#[test]
fn validate_needs_no_onnx_runtime() {
    // The runtime is never loaded: an unusable library path does not matter.
    let mut cmd = probity();
    cmd.current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("ORT_DYLIB_PATH", Path::new("/nonexistent/libonnxruntime.so"))
        .args(["--ort-lib", "/nonexistent/libonnxruntime.so", "battery", "validate"])
        .arg(battery("valid.yaml"))
        .assert()
        .success();
}

#[test]
fn every_bundled_battery_validates() {
    let mut names: Vec<String> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/batteries"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path().display().to_string())
        .filter(|p| p.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 4, "{names:?}");
    let output = common::probity().args(["battery", "validate"]).args(&names).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(stdout.lines().filter(|l| l.starts_with("ok: ")).count(), names.len(), "{stdout}");
}

/// Issue 14: an alias bomb (ten lists of ten aliases, nine levels deep: 10^9 values once expanded)
/// is refused with a whole sentence naming the limit, at the line where the parser stopped.
#[test]
fn a_yaml_alias_bomb_is_refused_with_a_readable_message() {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.yaml");
    let mut text = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for level in 1..9 {
        let aliases = vec![format!("*a{}", level - 1); 10].join(", ");
        text.push_str(&format!("a{level}: &a{level} [{aliases}]\n"));
    }
    std::fs::write(&bomb, text).unwrap();
    let assert = probity().args(["battery", "validate"]).arg(&bomb).assert().code(2);
    let stderr = stderr(&assert);
    assert!(stderr.contains("error[yaml-syntax]: the file expands"), "{stderr}");
    assert!(stderr.contains("more than 250,000 values"), "{stderr}");
    assert!(stderr.contains("(an alias bomb?"), "{stderr}");
    assert!(!stderr.contains("budget breached"), "serde-saphyr's debug text is not shown: {stderr}");
    assert!(stderr.contains(&format!("--> {}:", bomb.display())), "names the file and position: {stderr}");
}

/// Issue 14: `probity battery validate FILE | head -0` — a reader that has gone away is not an
/// error, and nothing panics.
#[test]
fn a_closed_stdout_ends_quietly() {
    use std::process::{Command, Stdio};
    // The reading end is closed before the child starts, so its first write fails with EPIPE.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let output = Command::new(env!("CARGO_BIN_EXE_probity"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["battery", "validate"])
        .args((0..3).map(|_| battery("valid.yaml")))
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Issue 14: diagnostics to a closed stderr still end with the documented exit code, not a panic
/// (exit 101).
#[test]
fn a_closed_stderr_ends_with_the_exit_code_not_a_panic() {
    use std::process::{Command, Stdio};
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let status = Command::new(env!("CARGO_BIN_EXE_probity"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["battery", "validate"])
        .args([battery("malformed.yaml"), battery("valid.yaml")])
        .stdout(Stdio::null())
        .stderr(writer)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(2));
}
