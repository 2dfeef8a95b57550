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
