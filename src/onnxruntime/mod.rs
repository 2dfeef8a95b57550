//! Locating, verifying and loading the ONNX Runtime shared library.
//!
//! Order of precedence: `--ort-lib PATH`, then `ORT_DYLIB_PATH`, then the pinned official build:
//! from the cache folder `PROBITY_CACHE_DIR` names at run time if it is set, else the one
//! `build.rs` provisioned, else the per-user cache (re-provisioned here if the cache was removed
//! since the build, or lost its library). Whatever is loaded is described by [`RuntimeInfo`] — version,
//! path, SHA-256 and where it came from — which every report and `inspect` output records.
//!
//! The library is loaded once per process; `ort` keeps it in a global.

pub mod provision;

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// Oldest ONNX Runtime minor version the `ort` bindings (feature `api-31`) can drive.
const MIN_MINOR: u32 = 31;

/// How the library to load was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LibrarySource {
    /// `--ort-lib PATH` on the command line.
    Flag,
    /// The `ORT_DYLIB_PATH` environment variable.
    Environment,
    /// The pinned official build fetched into probity's cache.
    Pinned,
}

/// The ONNX Runtime library that actually runs the models.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeInfo {
    pub version: String,
    pub library_path: PathBuf,
    pub library_sha256: String,
    pub source: LibrarySource,
    /// Execution providers compiled into this build of ONNX Runtime.
    pub available_providers: Vec<String>,
}

/// Why ONNX Runtime could not be loaded. Each message ends with the fix.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library {path} (from {origin}) does not exist; point --ort-lib or ORT_DYLIB_PATH at libonnxruntime.so.{}",
        provision::ORT_VERSION
    )]
    Missing { path: PathBuf, origin: &'static str },
    #[error(
        "{path} (from {origin}) is not a loadable ONNX Runtime library: {detail}; point --ort-lib or ORT_DYLIB_PATH at libonnxruntime.so.{} (CPU or GPU build)",
        provision::ORT_VERSION
    )]
    NotALibrary { path: PathBuf, origin: &'static str, detail: String },
    #[error(
        "{path} (from {origin}) is ONNX Runtime {found}, but probity needs 1.{MIN_MINOR} or newer (it is built and tested against {}); use a newer build or unset the override to use the pinned one",
        provision::ORT_VERSION
    )]
    WrongVersion { path: PathBuf, origin: &'static str, found: String },
    #[error("no ONNX Runtime library is available: {0}")]
    Provision(provision::ProvisionError),
    #[error("cannot read {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("ONNX Runtime failed to initialise from {path}: {detail}")]
    Init { path: PathBuf, detail: String },
    #[error("ONNX Runtime was already loaded from {loaded} in this process; cannot switch to {requested}")]
    AlreadyLoaded { loaded: PathBuf, requested: PathBuf },
}

/// A loaded ONNX Runtime: its description and the environment sessions are built in.
pub struct Runtime {
    pub info: RuntimeInfo,
    environment: ort::environment::Environment,
}

impl Runtime {
    pub fn environment(&self) -> &ort::environment::Environment {
        &self.environment
    }
}

impl From<provision::ProvisionError> for RuntimeError {
    fn from(e: provision::ProvisionError) -> Self {
        Self::Provision(e)
    }
}

static LOADED: OnceLock<Runtime> = OnceLock::new();
/// Held while a first load is under way: ONNX Runtime allows one environment per process, so
/// two threads loading at once (parallel tests, or a library user) must not both build one.
static LOADING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Loads ONNX Runtime (once per process) and describes it.
pub fn load(explicit: Option<&Path>) -> Result<&'static Runtime, RuntimeError> {
    let (path, source) = choose_library(explicit)?;
    let already = |runtime: &'static Runtime| {
        let same = std::fs::canonicalize(&path).is_ok_and(|p| p == runtime.info.library_path);
        if same {
            Ok(runtime)
        } else {
            Err(RuntimeError::AlreadyLoaded { loaded: runtime.info.library_path.clone(), requested: path.clone() })
        }
    };
    if let Some(runtime) = LOADED.get() {
        return already(runtime);
    }
    // A poisoned lock only means another thread's load panicked; nothing it guards is left half-set.
    let _loading = LOADING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(runtime) = LOADED.get() {
        return already(runtime);
    }
    let runtime = load_from(&path, source)?;
    Ok(LOADED.get_or_init(|| runtime))
}

fn origin(source: LibrarySource) -> &'static str {
    match source {
        LibrarySource::Flag => "--ort-lib",
        LibrarySource::Environment => "ORT_DYLIB_PATH",
        LibrarySource::Pinned => "probity's pinned build",
    }
}

fn choose_library(explicit: Option<&Path>) -> Result<(PathBuf, LibrarySource), RuntimeError> {
    if let Some(path) = explicit {
        return Ok((path.to_path_buf(), LibrarySource::Flag));
    }
    if let Some(path) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return Ok((PathBuf::from(path), LibrarySource::Environment));
    }
    let arch = env!("PROBITY_TARGET_ARCH");
    let os = env!("PROBITY_TARGET_OS");
    let pin = || {
        provision::wheel_pin(arch, os).ok_or_else(|| provision::ProvisionError::UnsupportedPlatform {
            arch: arch.to_string(),
            os: os.to_string(),
        })
    };
    // A cache folder named at run time is the one the user asked for: use it (provisioning it
    // if need be), never the folder the build happened to use.
    if let Some(root) = provision::cache_dir_override() {
        let lib = provision::ensure_library(&root, &pin()?)?;
        return Ok((lib, LibrarySource::Pinned));
    }
    let built = env!("PROBITY_BUILD_ORT_LIB");
    if !built.is_empty() && Path::new(built).is_file() {
        return Ok((PathBuf::from(built), LibrarySource::Pinned));
    }
    let root = provision::cache_root().ok_or(provision::ProvisionError::NoCacheDir)?;
    let lib = provision::ensure_library(&root, &pin()?)?;
    Ok((lib, LibrarySource::Pinned))
}

fn load_from(path: &Path, source: LibrarySource) -> Result<Runtime, RuntimeError> {
    let origin = origin(source);
    if !path.exists() {
        return Err(RuntimeError::Missing { path: path.to_path_buf(), origin });
    }
    // Make the path absolute so `ort` does not resolve it against the executable's folder.
    let path = std::fs::canonicalize(path).map_err(|cause| RuntimeError::Io { path: path.to_path_buf(), cause })?;
    let library_sha256 =
        crate::digest::sha256_file(&path).map_err(|cause| RuntimeError::Io { path: path.clone(), cause })?;
    if source == LibrarySource::Pinned {
        // The cache may have been tampered with after the build verified it.
        let pin = provision::wheel_pin(env!("PROBITY_TARGET_ARCH"), env!("PROBITY_TARGET_OS"));
        if let Some(pin) = pin.filter(|p| p.library_sha256 != library_sha256) {
            return Err(provision::ProvisionError::DigestMismatch {
                what: "the cached ONNX Runtime library".into(),
                path,
                expected: pin.library_sha256.into(),
                actual: library_sha256,
            }
            .into());
        }
    }
    let version = probe_version(&path, origin)?;
    let minor = version.split('.').nth(1).and_then(|m| m.parse::<u32>().ok()).unwrap_or(0);
    if !version.starts_with("1.") || minor < MIN_MINOR {
        return Err(RuntimeError::WrongVersion { path, origin, found: version });
    }
    let environment = ort::init_from(&path)
        .map_err(|e| RuntimeError::NotALibrary { path: path.clone(), origin, detail: e.to_string() })?
        .with_name("probity")
        .with_telemetry(false)
        .build()
        .map_err(|e| RuntimeError::Init { path: path.clone(), detail: e.to_string() })?;
    let available_providers =
        available_providers().map_err(|detail| RuntimeError::Init { path: path.clone(), detail })?;
    let info = RuntimeInfo { version, library_path: path, library_sha256, source, available_providers };
    Ok(Runtime { info, environment })
}

/// Opens the library on its own to read its version string before `ort` commits to it, so a
/// wrong file or version is reported by probity rather than as a panic inside `ort`.
fn probe_version(path: &Path, origin: &'static str) -> Result<String, RuntimeError> {
    let not_a_library = |detail: String| RuntimeError::NotALibrary { path: path.to_path_buf(), origin, detail };
    // SAFETY: loading a shared library runs its initialisers; the user chose this file as their
    // ONNX Runtime, which is exactly the code probity is about to run anyway.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| {
        let cause = std::error::Error::source(&e).map(|c| format!(" ({c})")).unwrap_or_default();
        not_a_library(format!("{e}{cause}"))
    })?;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase") }.map_err(|_| not_a_library("it does not export OrtGetApiBase".into()))?;
    // SAFETY: the function takes no arguments and returns a pointer to a static struct.
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err(not_a_library("OrtGetApiBase returned null".into()));
    }
    // SAFETY: `base` is non-null and points to the library's static OrtApiBase; the version string
    // is a static NUL-terminated string owned by the library.
    let version = unsafe { CStr::from_ptr(((*base).GetVersionString)()) };
    Ok(version.to_string_lossy().into_owned())
}

fn available_providers() -> Result<Vec<String>, String> {
    let api = ort::api();
    let mut names: *mut *mut std::ffi::c_char = std::ptr::null_mut();
    let mut count: std::ffi::c_int = 0;
    // SAFETY: documented C API call; on success ONNX Runtime owns the returned array until
    // ReleaseAvailableProviders, which we call before returning.
    unsafe {
        let status = (api.GetAvailableProviders)(&mut names, &mut count);
        if !status.0.is_null() {
            (api.ReleaseStatus)(status.0);
            return Err("GetAvailableProviders failed".into());
        }
        let providers =
            (0..count.max(0) as usize).map(|i| CStr::from_ptr(*names.add(i)).to_string_lossy().into_owned()).collect();
        let _ = (api.ReleaseAvailableProviders)(names, count);
        Ok(providers)
    }
}
