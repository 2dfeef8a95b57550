//! Helpers shared by the integration tests: fixture paths and the real binary.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/digits").join(name)
}

pub fn probity() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("probity").expect("binary builds");
    cmd.env_remove("ORT_DYLIB_PATH");
    cmd
}

pub fn manifest() -> serde_json::Value {
    let text = std::fs::read_to_string(fixture("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("manifest is JSON")
}

/// The six independently trained clean digits fixtures.
pub const CLEAN_MODELS: [&str; 6] = [
    "clean-mlp64-s1.onnx",
    "clean-mlp64-s2.onnx",
    "clean-mlp32x32-s3.onnx",
    "clean-mlp128-s4.onnx",
    "clean-logreg-s5.onnx",
    "clean-mlp48-s6.onnx",
];

/// A finished `probity scan` (exit 0, 1 or 4), with what it printed and wrote.
pub struct Scan {
    pub code: i32,
    pub report: serde_json::Value,
    pub stdout: String,
    /// The output folder; kept alive so callers can look at the other files.
    pub out: tempfile::TempDir,
}

/// Runs `probity scan --model MODEL --data DATA --out <fresh folder> EXTRA...` and reads the
/// report; panics (with stderr) unless it exits 0, 1 or 4 (inconclusive: a report is written).
pub fn scan(model: &std::path::Path, data: &std::path::Path, extra: &[&str]) -> Scan {
    let out = tempfile::tempdir().unwrap();
    let output = probity()
        .arg("scan")
        .arg("--model")
        .arg(model)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out.path())
        .args(extra)
        .output()
        .unwrap();
    let code = output.status.code().unwrap();
    assert!(
        matches!(code, 0 | 1 | 4),
        "scan of {} exited {code}: {}",
        model.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    let report = serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    Scan { code, report, stdout: String::from_utf8_lossy(&output.stdout).into_owned(), out }
}

/// The scan the CLI runs, in-process: `engine` alone (no reference or baseline) over `inputs`
/// with `batteries`, at `seed`. For loops over many seeds, which would otherwise pay a process
/// start and a session load per scan.
pub fn scan_in_process(
    engine: &mut probity::engine::Engine,
    inputs: &dyn probity::runner::Inputs,
    batteries: &[probity::battery::spec::Battery],
    seed: u64,
) -> probity::runner::ScanOutcome {
    let settings = probity::runner::ScanSettings { seed: Some(seed), ..Default::default() };
    let mut models =
        probity::runner::Models { candidate: engine, references: &mut [], baseline: None, baseline_tolerance: 0.0 };
    probity::runner::scan(&mut models, inputs, batteries, &settings).unwrap()
}
