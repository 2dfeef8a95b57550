//! `probity inspect` through the real binary and the real ONNX Runtime.

use crate::common;

use common::{fixture, manifest, probity};
use predicates::prelude::*;

fn manifest_sha(file: &str) -> String {
    let m = manifest();
    let models = m["models"].as_array().expect("manifest lists models");
    let entry = models.iter().find(|e| e["file"] == file).expect("model in manifest");
    entry["sha256"].as_str().unwrap().to_string()
}

#[test]
fn prints_signature_and_hash() {
    let sha = manifest_sha("clean-mlp64-s1.onnx");
    probity()
        .args(["inspect"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .assert()
        .success()
        .stdout(predicate::str::contains(sha))
        .stdout(predicate::str::contains("[N, 1, 8, 8]"))
        .stdout(predicate::str::contains("probabilities"))
        .stdout(predicate::str::contains("ai.onnx 17"))
        .stdout(predicate::str::contains("onnxruntime  1.31.1"));
}

#[test]
fn json_records_runtime_version_and_library_hash() {
    let out = probity().arg("inspect").arg(fixture("tiny-text.onnx")).arg("--json").output().unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["onnxruntime"]["version"], "1.31.1");
    assert_eq!(v["onnxruntime"]["library_sha256"].as_str().unwrap().len(), 64);
    assert_eq!(v["inputs"][0]["name"], "input_ids");
    assert_eq!(v["inputs"][0]["element_type"], "int64");
    assert_eq!(v["inputs"][0]["shape"][0], "N");
    assert_eq!(v["execution_provider"]["used"], "cpu");
    let providers = v["onnxruntime"]["available_providers"].as_array().unwrap();
    assert!(providers.iter().any(|p| p == "CPUExecutionProvider"));
}

#[test]
fn external_data_inside_the_model_folder_is_accepted() {
    let out = probity().arg("inspect").arg(fixture("external-data-ok.onnx")).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["external_data"][0]["location"], "external-data-ok.weights.bin");
}

#[test]
fn a_file_that_is_not_a_model_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.onnx");
    std::fs::write(&path, "this is not a protobuf\n").unwrap();
    probity()
        .arg("inspect")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is not an ONNX model"))
        .stderr(predicate::str::contains("notes.onnx"));
}

#[test]
fn traversing_external_data_is_refused_naming_the_tensor() {
    probity()
        .arg("inspect")
        .arg(fixture("external-data-traversal.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("../../outside.bin"))
        .stderr(predicate::str::contains("'..'"))
        .stderr(predicate::str::contains("tensor '"));
}

#[test]
fn absolute_external_data_is_refused() {
    probity()
        .arg("inspect")
        .arg(fixture("external-data-absolute.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/etc/passwd"))
        .stderr(predicate::str::contains("absolute path"));
}

#[cfg(unix)]
#[test]
fn external_data_through_a_link_outside_the_folder_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.bin"), vec![0u8; 2600]).unwrap();
    let model = std::fs::read(fixture("external-data-ok.onnx")).unwrap();
    std::fs::write(dir.path().join("m.onnx"), model).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.bin"), dir.path().join("external-data-ok.weights.bin"))
        .unwrap();
    probity()
        .arg("inspect")
        .arg(dir.path().join("m.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("outside the model's folder"));
}

#[test]
fn a_bad_ort_lib_exits_2_with_the_fix() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libonnxruntime.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    probity()
        .arg("--ort-lib")
        .arg(&fake)
        .arg("inspect")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a loadable ONNX Runtime library"))
        .stderr(predicate::str::contains("--ort-lib"));
    probity()
        .env("ORT_DYLIB_PATH", dir.path().join("missing.so"))
        .arg("inspect")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"))
        .stderr(predicate::str::contains("ORT_DYLIB_PATH"));
}

#[test]
fn a_library_that_is_not_onnx_runtime_exits_2() {
    // libc is a real shared library without OrtGetApiBase.
    let libc = ["/lib/x86_64-linux-gnu/libc.so.6", "/lib/aarch64-linux-gnu/libc.so.6", "/usr/lib/libc.so.6"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists());
    let Some(libc) = libc else { return };
    probity()
        .args(["--ort-lib", libc, "inspect"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("OrtGetApiBase"));
}

#[test]
fn cuda_without_cuda_fails_clearly_and_falls_back_when_allowed() {
    let cuda_available = {
        let out = probity().arg("inspect").arg(fixture("clean-mlp64-s1.onnx")).arg("--json").output().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["onnxruntime"]["available_providers"].as_array().unwrap().iter().any(|p| p == "CUDAExecutionProvider")
    };
    if cuda_available {
        return; // Covered on GPU machines by the CUDA check in the closing notes.
    }
    probity()
        .args(["inspect", "--ep", "cuda"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cuda:0 is not available"))
        .stderr(predicate::str::contains("--ep-fallback cpu"));
    probity()
        .args(["inspect", "--ep", "cuda:0", "--ep-fallback", "cpu"])
        .arg(fixture("clean-mlp64-s1.onnx"))
        .assert()
        .success()
        .stderr(predicate::str::contains("falling back to cpu"))
        .stdout(predicate::str::contains("requested cuda:0"));
}

#[test]
fn unknown_execution_provider_is_a_usage_error() {
    probity().args(["inspect", "--ep", "tpu"]).arg(fixture("clean-mlp64-s1.onnx")).assert().code(2);
}

/// The pinned library this build loads by default, and its install folder's name.
fn pinned_library() -> (std::path::PathBuf, std::ffi::OsString) {
    let out = probity().arg("inspect").arg(fixture("clean-mlp64-s1.onnx")).arg("--json").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["onnxruntime"]["source"], "pinned", "tests run with the pinned library");
    let library = std::path::PathBuf::from(v["onnxruntime"]["library_path"].as_str().unwrap());
    let folder = library.parent().and_then(|p| p.file_name()).unwrap().to_os_string();
    (library, folder)
}

/// Issue 14: `PROBITY_CACHE_DIR` set when probity runs (not only when it was built) decides
/// where the pinned library is loaded from.
#[test]
fn the_cache_folder_named_at_run_time_is_used() {
    let (library, folder) = pinned_library();
    let cache = tempfile::tempdir().unwrap();
    let install = cache.path().join(&folder);
    std::fs::create_dir(&install).unwrap();
    std::fs::copy(&library, install.join(library.file_name().unwrap())).unwrap();
    let out = probity()
        .env("PROBITY_CACHE_DIR", cache.path())
        .arg("inspect")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let loaded = std::path::PathBuf::from(v["onnxruntime"]["library_path"].as_str().unwrap());
    assert_eq!(loaded, install.canonicalize().unwrap().join(library.file_name().unwrap()));
    assert_eq!(v["onnxruntime"]["source"], "pinned");
}

/// Issue 14: a cache folder whose library was deleted (the folder kept) is fetched again; when
/// that cannot work (here: no Python, so no network either), the message names the folder and
/// the fix instead of "Directory not empty".
#[test]
fn a_cache_folder_without_its_library_names_the_folder_and_the_fix() {
    let (library, folder) = pinned_library();
    let cache = tempfile::tempdir().unwrap();
    let install = cache.path().join(&folder);
    std::fs::create_dir(&install).unwrap();
    let providers = library.with_file_name("libonnxruntime_providers_shared.so");
    std::fs::copy(&providers, install.join("libonnxruntime_providers_shared.so")).unwrap();
    let out = probity()
        .env("PROBITY_CACHE_DIR", cache.path())
        .env("PROBITY_PYTHON", cache.path().join("no-such-python"))
        .arg("inspect")
        .arg(fixture("clean-mlp64-s1.onnx"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&format!("cache folder {} has no libonnxruntime.so.", install.display())), "{stderr}");
    assert!(stderr.contains(&format!("or delete {} and rerun", install.display())), "{stderr}");
    assert!(!stderr.contains("os error 39"), "{stderr}");
}
