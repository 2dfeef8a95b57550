//! Build script: provisions the pinned ONNX Runtime library so that a fresh clone needs no
//! manual install step. The fetch-and-verify logic lives in `src/onnxruntime/provision.rs`,
//! shared with the binary (which re-provisions on first run if the cache was removed).
//!
//! Failure here is a warning, not a build error: a user who brings their own library
//! (`--ort-lib`, `ORT_DYLIB_PATH`) or works air-gapped must still be able to build. The
//! binary then reports the missing library with the fix.

#[path = "src/onnxruntime/provision.rs"]
#[allow(dead_code)]
mod provision;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=src/onnxruntime/provision.rs");
    for var in ["PROBITY_CACHE_DIR", "XDG_CACHE_HOME", "HOME", "PROBITY_SKIP_ORT_FETCH", "PROBITY_PYTHON"] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let arch = std::env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let mut bundled = String::new();
    if std::env::var_os("PROBITY_SKIP_ORT_FETCH").is_some_and(|v| !v.is_empty()) {
        println!(
            "cargo:warning=PROBITY_SKIP_ORT_FETCH is set: not fetching ONNX Runtime; use --ort-lib or ORT_DYLIB_PATH"
        );
    } else {
        match (provision::wheel_pin(&arch, &os), provision::cache_root()) {
            (Some(pin), Some(root)) => match provision::ensure_library(&root, &pin) {
                Ok(lib) => bundled = lib.display().to_string(),
                Err(e) => println!("cargo:warning=ONNX Runtime not provisioned: {e}"),
            },
            (None, _) => {
                println!("cargo:warning=no pinned ONNX Runtime wheel for {arch}-{os}; use --ort-lib or ORT_DYLIB_PATH")
            }
            (_, None) => println!("cargo:warning=no cache folder (HOME unset); set PROBITY_CACHE_DIR"),
        }
    }
    println!("cargo:rustc-env=PROBITY_BUILD_ORT_LIB={bundled}");
    println!("cargo:rustc-env=PROBITY_TARGET_ARCH={arch}");
    println!("cargo:rustc-env=PROBITY_TARGET_OS={os}");
}
