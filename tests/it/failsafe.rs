//! Issue 14, fail-safe output: an `--out` that cannot be used is refused before any model runs;
//! report sets appear whole or not at all, also when the run is interrupted; default folders are
//! never shared by two scans.

use crate::common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{fixture, probity};
use predicates::prelude::*;

/// `scan` of the clean digits model with `--out out` and `extra` flags.
fn scan(out: &Path, extra: &[&str]) -> assert_cmd::assert::Assert {
    probity()
        .args(["scan", "--model"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(out)
        .args(extra)
        .assert()
}

/// A scan that takes tens of seconds: a black-box trigger search with a large query budget.
/// Were `--out` checked only after it, the tests below would exit 0 after a long wait.
const SLOW: [&str; 4] = ["--battery", "batteries/image-search-deep.yaml", "--search-budget", "10000000"];

fn slow_scan_args(out: &Path) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = ["scan", "--model"].map(Into::into).to_vec();
    args.push(fixture("clean-mlp64-s1.onnx").into());
    args.push("--data".into());
    args.push(fixture("digits-test.npz").into());
    args.extend(SLOW.map(Into::into));
    args.extend(["--threads".into(), "1".into(), "--out".into(), out.as_os_str().to_owned()]);
    args
}

/// Names in `dir` (sorted).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn temporaries(dir: &Path) -> Vec<String> {
    names(dir).into_iter().filter(|n| n.contains(".tmp") || n.ends_with(".old")).collect()
}

#[test]
fn an_out_that_is_a_file_or_a_device_is_refused_before_any_model_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "keep me").unwrap();
    for out in [file.clone(), PathBuf::from("/dev/null")] {
        probity()
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .args(slow_scan_args(&out))
            .assert()
            .code(2)
            .stdout(predicate::str::is_empty())
            .stderr(predicate::str::contains(format!("--out {} exists and is not a folder", out.display())));
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
    assert_eq!(names(dir.path()), ["notes.txt"]);
}

#[test]
fn an_out_in_a_folder_that_cannot_be_created_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "").unwrap();
    // A regular file as the parent folder: unwritable even for root, which ignores permissions.
    let out = file.join("report");
    probity()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(slow_scan_args(&out))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("--out {}: cannot write into {}", out.display(), file.display())))
        .stderr(predicate::str::contains("choose a writable location"));
}

#[test]
fn an_earlier_report_is_not_overwritten_without_force() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("report.sarif"), "from an earlier scan").unwrap();
    probity()
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(slow_scan_args(&out))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("--out {} already holds files", out.display())))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(names(&out), ["report.sarif"]);
    // With --force the whole folder is replaced: no file of the earlier set survives next to
    // the new one.
    scan(&out, &["--force"]).code(0);
    assert_eq!(names(&out), ["report.json", "report.md", "search"]);
    assert!(temporaries(dir.path()).is_empty(), "{:?}", names(dir.path()));
}

#[test]
fn a_finished_scan_leaves_its_reports_and_no_temporaries() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    scan(&out, &["--format", "json,md,html,junit,sarif,intoto"]).code(0);
    assert_eq!(names(dir.path()), ["report"]);
    assert!(temporaries(&out).is_empty(), "{:?}", names(&out));
    assert!(temporaries(&out.join("search")).is_empty());
}

#[test]
fn two_scans_without_out_write_two_folders() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        probity()
            .current_dir(dir.path())
            .args(["scan", "--model"])
            .arg(fixture("clean-mlp64-s1.onnx"))
            .arg("--data")
            .arg(fixture("digits-test.npz"))
            .assert()
            .code(0);
    }
    let reports = names(&dir.path().join("reports"));
    assert_eq!(reports.len(), 2, "{reports:?}");
    for name in &reports {
        // clean-mlp64-s1-YYYYMMDDTHHMMSSZ-xxxxxx
        let rest = name.strip_prefix("clean-mlp64-s1-").unwrap_or_else(|| panic!("{name}"));
        let (stamp, suffix) = rest.split_once('-').unwrap_or_else(|| panic!("{name}"));
        assert!(stamp.len() == 16 && stamp.starts_with("20") && stamp.ends_with('Z'), "{name}");
        assert!(suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_hexdigit()), "{name}");
        assert!(dir.path().join("reports").join(name).join("report.json").is_file());
    }
}

/// Starts the slow scan, waits until its temporary folder exists (so the run is under way and
/// the signal handler is installed), sends `signal` and returns the exit code.
fn interrupted_scan(signal: &str, dir: &Path, out: &Path) -> Option<i32> {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_probity"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("ORT_DYLIB_PATH")
        .args(slow_scan_args(out))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while temporaries(dir).is_empty() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the scan ended ({status}) before its temporary folder was seen");
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no temporary folder after a minute");
        std::thread::sleep(Duration::from_millis(5));
    }
    let sent = std::process::Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status();
    assert!(sent.unwrap().success());
    child.wait().unwrap().code()
}

#[test]
fn an_interrupted_scan_leaves_no_report_and_no_temporaries() {
    for (signal, code) in [("TERM", 143), ("INT", 130)] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("report");
        assert_eq!(interrupted_scan(signal, dir.path(), &out), Some(code), "SIG{signal}");
        assert_eq!(names(dir.path()), Vec::<String>::new(), "SIG{signal} left files behind");
    }
}

#[test]
fn baseline_record_refuses_a_folder_with_files_and_publishes_whole() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("baseline");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("notes.txt"), "").unwrap();
    let record = |out: &Path, extra: &[&str]| {
        probity()
            .args(["baseline", "record", "--model"])
            .arg(fixture("clean-mlp64-s1.onnx"))
            .arg("--data")
            .arg(fixture("digits-test.npz"))
            .args(["--battery", "batteries/image-robustness.yaml", "--out"])
            .arg(out)
            .args(extra)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .assert()
    };
    record(&out, &[]).code(2).stderr(predicate::str::contains("already holds files"));
    let fresh = dir.path().join("fresh");
    record(&fresh, &[]).code(0).stdout(predicate::str::contains(fresh.join("baseline.json").display().to_string()));
    assert_eq!(names(&fresh), ["baseline.json"]);
    assert_eq!(names(dir.path()), ["baseline", "fresh"]);
}

#[test]
fn calibrate_refuses_an_existing_thresholds_file_before_running() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("thresholds.yaml");
    std::fs::write(&out, "calibrated yesterday").unwrap();
    probity()
        .arg("calibrate")
        .arg("--model")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("--out {} already exists", out.display())))
        .stderr(predicate::str::contains("--force"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "calibrated yesterday");
    probity()
        .arg("calibrate")
        .arg("--model")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--data")
        .arg(fixture("digits-test.npz"))
        .arg("--out")
        .arg("/dev/null")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--out /dev/null exists and is not a regular file"));
}

#[test]
fn report_render_into_a_file_is_invalid_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report");
    scan(&out, &["--battery", "batteries/image-robustness.yaml"]).code(0);
    let file = dir.path().join("notes.txt");
    std::fs::write(&file, "").unwrap();
    probity()
        .args(["report", "render"])
        .arg(out.join("report.json"))
        .args(["--format", "html", "--out"])
        .arg(&file)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(format!("--out {} exists and is not a folder", file.display())));
}
