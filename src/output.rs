//! Writing outputs so that a reader sees all of them or none, whatever interrupts the run.
//!
//! - One file: [`write_atomic`] (a temporary file in the target folder, flushed, renamed over
//!   the target) or, when the target is chosen before the work starts, [`OutputFile`].
//! - A set of files (a scan's reports, a baseline): [`OutputDir`] stages them in a temporary
//!   sibling folder and renames it into place once every file is written.
//!
//! Both check the target when they are created — before any model runs — so that an `--out`
//! that cannot be written (an existing file, `/dev/null`, an unwritable folder, an earlier
//! report) is refused at once rather than after the whole scan. Policy: an existing non-empty
//! output folder or an existing output file is replaced only with `--force`; an empty folder is
//! used as is.
//!
//! Staged outputs are registered with [`remove_pending_on_signals`]: on SIGINT, SIGTERM or
//! SIGHUP they are deleted and the process exits with 128 + the signal number (130, 143, 129),
//! so an interrupted run leaves neither a partial report set nor temporary files.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// Why an output location cannot be used. Each message names the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("--out {path} exists and is not a folder; pass a new or empty folder")]
    NotAFolder { path: PathBuf },
    #[error("--out {path} already holds files (an earlier report?); pass a new folder, or add --force to replace it")]
    NotEmpty { path: PathBuf },
    #[error("--out {path} exists and is not a regular file (a folder or a device); pass a file path")]
    NotAFile { path: PathBuf },
    #[error("--out {path} already exists; pass another path, or add --force to replace it")]
    Exists { path: PathBuf },
    #[error("--out {path}: cannot write into {folder} ({cause}); choose a writable location")]
    Unwritable { path: PathBuf, folder: PathBuf, cause: std::io::Error },
}

/// Writes `bytes` to `path` atomically, readable by others as a normal file would be (0644 on
/// Unix; temporary files are created 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = parent(path);
    std::fs::create_dir_all(folder)?;
    let mut tmp = tempfile::NamedTempFile::new_in(folder)?;
    write_complete(tmp.as_file_mut(), bytes)?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn write_complete(file: &mut std::fs::File, bytes: &[u8]) -> std::io::Result<()> {
    file.write_all(bytes)?;
    file.sync_all()?;
    set_mode(file, 0o644)
}

fn set_mode(file: &std::fs::File, mode: u32) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    #[cfg(not(unix))]
    let _ = (file, mode);
    Ok(())
}

/// The folder a path is in (`.` for a bare name).
fn parent(path: &Path) -> &Path {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// A folder of outputs being written: files go into a temporary sibling folder
/// (`.NAME.XXXXXX.tmp`), which [`commit`](Self::commit) renames to the target. Dropped without
/// a commit (an error, a panic), the temporary folder is deleted.
#[derive(Debug)]
pub struct OutputDir {
    target: PathBuf,
    staging: Option<tempfile::TempDir>,
}

impl OutputDir {
    /// Checks `target` and creates the temporary folder beside it. `replace`: an existing
    /// non-empty folder may be replaced (`--force`).
    pub fn create(target: &Path, replace: bool) -> Result<Self, OutputError> {
        let target = named(target)?;
        match std::fs::metadata(&target) {
            Ok(meta) if !meta.is_dir() => return Err(OutputError::NotAFolder { path: target }),
            Ok(_) if !replace && !is_empty_dir(&target) => return Err(OutputError::NotEmpty { path: target }),
            _ => {}
        }
        let folder = parent(&target).to_path_buf();
        let unwritable = |cause| OutputError::Unwritable { path: target.clone(), folder: folder.clone(), cause };
        std::fs::create_dir_all(&folder).map_err(unwritable)?;
        let mut pending = pending();
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.", file_name(&target)))
            .suffix(".tmp")
            .tempdir_in(&folder)
            .map_err(unwritable)?;
        #[cfg(unix)]
        {
            // Readable by others like any folder (temporary folders are created 0700).
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755));
        }
        pending.push(staging.path().to_path_buf());
        Ok(Self { target, staging: Some(staging) })
    }

    /// The folder to write into until [`commit`](Self::commit).
    pub fn path(&self) -> &Path {
        self.staging.as_ref().map_or(&self.target, |s| s.path())
    }

    /// The folder the outputs end up in.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Where a file written under [`path`](Self::path) will be once committed.
    pub fn final_path(&self, staged: &Path) -> PathBuf {
        staged.strip_prefix(self.path()).map_or_else(|_| staged.to_path_buf(), |rel| self.target.join(rel))
    }

    /// Moves the written folder into place and returns its path. A folder already there (only
    /// possible with `replace`) is moved aside first and deleted after.
    pub fn commit(mut self) -> std::io::Result<PathBuf> {
        let Some(staging) = self.staging.take() else { return Ok(self.target.clone()) };
        // Held until the rename is done, so a signal either removes the staging folder before
        // it is published or finds nothing left to remove.
        let _pending = unstage(staging.path());
        let staged = staging.keep();
        let result = publish(&staged, &self.target);
        if result.is_err() {
            let _ = std::fs::remove_dir_all(&staged);
        }
        result.map(|()| self.target.clone())
    }
}

impl Drop for OutputDir {
    fn drop(&mut self) {
        if let Some(staging) = self.staging.take() {
            let _pending = unstage(staging.path());
            drop(staging);
        }
    }
}

fn publish(staged: &Path, target: &Path) -> std::io::Result<()> {
    // Renaming a folder over an empty folder replaces it; over a non-empty one it fails.
    if std::fs::metadata(target).is_ok_and(|m| m.is_dir()) && !is_empty_dir(target) {
        let aside = staged.with_extension("old");
        std::fs::rename(target, &aside)?;
        let result = std::fs::rename(staged, target);
        match &result {
            Ok(()) => std::fs::remove_dir_all(&aside)?,
            Err(_) => {
                let _ = std::fs::rename(&aside, target);
            }
        }
        return result;
    }
    std::fs::rename(staged, target)
}

/// One output file chosen before the work starts: the temporary file is created beside the
/// target at once (proving the folder writable) and renamed over it by
/// [`commit`](Self::commit).
#[derive(Debug)]
pub struct OutputFile {
    target: PathBuf,
    staging: Option<tempfile::NamedTempFile>,
}

impl OutputFile {
    /// Checks `target`; `replace`: an existing file may be replaced (`--force`).
    pub fn create(target: &Path, replace: bool) -> Result<Self, OutputError> {
        let target = named(target)?;
        match std::fs::metadata(&target) {
            Ok(meta) if !meta.is_file() => return Err(OutputError::NotAFile { path: target }),
            Ok(_) if !replace => return Err(OutputError::Exists { path: target }),
            _ => {}
        }
        let folder = parent(&target).to_path_buf();
        let unwritable = |cause| OutputError::Unwritable { path: target.clone(), folder: folder.clone(), cause };
        std::fs::create_dir_all(&folder).map_err(unwritable)?;
        let mut pending = pending();
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.", file_name(&target)))
            .suffix(".tmp")
            .tempfile_in(&folder)
            .map_err(unwritable)?;
        pending.push(staging.path().to_path_buf());
        Ok(Self { target, staging: Some(staging) })
    }

    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Writes `bytes` and renames the file over the target.
    pub fn commit(mut self, bytes: &[u8]) -> std::io::Result<PathBuf> {
        let Some(mut staging) = self.staging.take() else { return Ok(self.target.clone()) };
        write_complete(staging.as_file_mut(), bytes)?;
        let _pending = unstage(staging.path());
        staging.persist(&self.target).map_err(|e| e.error)?;
        Ok(self.target.clone())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some(staging) = self.staging.take() {
            let _pending = unstage(staging.path());
            drop(staging);
        }
    }
}

/// A folder that may hold more files (`report render --out`): it must be a folder (or not exist
/// yet) and writable. Files in it are then written with [`write_atomic`].
pub fn check_folder(target: &Path) -> Result<(), OutputError> {
    if std::fs::metadata(target).is_ok_and(|m| !m.is_dir()) {
        return Err(OutputError::NotAFolder { path: target.to_path_buf() });
    }
    let unwritable =
        |cause| OutputError::Unwritable { path: target.to_path_buf(), folder: target.to_path_buf(), cause };
    std::fs::create_dir_all(target).map_err(unwritable)?;
    tempfile::Builder::new().prefix(".probity-check.").tempfile_in(target).map_err(unwritable)?;
    Ok(())
}

/// `NAME-YYYYMMDDTHHMMSSZ-XXXXXX`: a UTC timestamp people can sort and read, and six random hex
/// digits so that two runs in the same second never share a name.
pub fn unique_name(stem: &str) -> String {
    use std::hash::{BuildHasher, Hasher};
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    // RandomState is seeded from the OS per process; mixing in the pid and the nanoseconds
    // separates two runs even where it is not.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_u128(now.as_nanos());
    format!("{stem}-{}-{:06x}", utc_stamp(now.as_secs()), hasher.finish() & 0xff_ffff)
}

/// The current UTC time as `YYYYMMDDTHHMMSSZ`.
pub fn utc_now() -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    utc_stamp(now.as_secs())
}

/// Seconds since the Unix epoch as `YYYYMMDDTHHMMSSZ`.
fn utc_stamp(seconds: u64) -> String {
    let days = seconds / 86_400;
    let rest = seconds % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rest / 3600, rest % 3600 / 60, rest % 60)
}

/// Days since 1970-01-01 to the proleptic Gregorian (year, month, day): Howard Hinnant's
/// `civil_from_days` (<https://howardhinnant.github.io/date_algorithms.html#civil_from_days>),
/// for days on or after the epoch. Eras are 400-year cycles of 146,097 days; 719,468 shifts the
/// epoch to 0000-03-01 so that leap days fall at the end of each year.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// A path with a final component to name the temporary sibling after (`.` becomes the absolute
/// path of the current folder).
fn named(target: &Path) -> Result<PathBuf, OutputError> {
    if target.file_name().is_some() {
        return Ok(target.to_path_buf());
    }
    std::fs::canonicalize(target).map_err(|cause| OutputError::Unwritable {
        path: target.to_path_buf(),
        folder: target.to_path_buf(),
        cause,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default()
}

fn is_empty_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut entries| entries.next().is_none())
}

/// Temporary outputs to delete if a signal ends the run.
static PENDING: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

fn pending() -> MutexGuard<'static, Vec<PathBuf>> {
    PENDING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes `staged` off the signal handler's list and returns the list still locked: the caller
/// publishes or deletes it before letting go, so a signal never races the rename or the delete.
fn unstage(staged: &Path) -> MutexGuard<'static, Vec<PathBuf>> {
    let mut pending = pending();
    pending.retain(|p| p != staged);
    pending
}

/// Starts a thread that, on SIGINT, SIGTERM or SIGHUP, deletes every staged output and exits
/// with 128 + the signal number (the shell convention: 130 for Ctrl-C, 143 for `kill`).
///
/// The exit is `_exit`: no destructors or `atexit` handlers run while ONNX Runtime's threads
/// may still be working.
pub fn remove_pending_on_signals() -> std::io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new().name("probity-signals".into()).spawn(move || {
        if let Some(signal) = signals.forever().next() {
            // Held until exit: a commit in progress finishes first or never starts.
            let pending = pending();
            for path in pending.iter() {
                let _ = if path.is_dir() { std::fs::remove_dir_all(path) } else { std::fs::remove_file(path) };
            }
            signal_hook::low_level::exit(128 + signal);
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_stamps_match_known_dates() {
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        // date -u -d @951782400: Tue Feb 29 00:00:00 UTC 2000 (a leap day in a century year).
        assert_eq!(utc_stamp(951_782_400), "20000229T000000Z");
        // date -u -d @1795867199: Sat Nov 28 11:59:59 UTC 2026
        assert_eq!(utc_stamp(1_795_867_199), "20261128T115959Z");
    }

    #[test]
    fn unique_names_differ_within_one_second() {
        let a = unique_name("m");
        let b = unique_name("m");
        assert_ne!(a, b);
        assert!(a.starts_with("m-") && a.len() == "m-YYYYMMDDTHHMMSSZ-xxxxxx".len(), "{a}");
    }

    #[test]
    fn an_output_folder_appears_whole_at_commit() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        let dir = OutputDir::create(&target, false).unwrap();
        write_atomic(&dir.path().join("a.json"), b"{}").unwrap();
        write_atomic(&dir.path().join("search/b.png"), b"png").unwrap();
        assert!(!target.exists(), "nothing visible before the commit");
        assert_eq!(dir.final_path(&dir.path().join("search/b.png")), target.join("search/b.png"));
        dir.commit().unwrap();
        assert_eq!(std::fs::read(target.join("search/b.png")).unwrap(), b"png");
        let names: Vec<_> = std::fs::read_dir(root.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["out"], "no temporary folder left");
    }

    #[test]
    fn a_dropped_output_folder_leaves_nothing() {
        let root = tempfile::tempdir().unwrap();
        let dir = OutputDir::create(&root.path().join("out"), false).unwrap();
        write_atomic(&dir.path().join("a.json"), b"{}").unwrap();
        drop(dir);
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 0);
    }

    #[test]
    fn an_earlier_report_is_replaced_only_when_asked() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("out");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old.md"), "old").unwrap();
        assert!(matches!(OutputDir::create(&target, false), Err(OutputError::NotEmpty { .. })));
        let dir = OutputDir::create(&target, true).unwrap();
        write_atomic(&dir.path().join("new.md"), b"new").unwrap();
        dir.commit().unwrap();
        assert!(!target.join("old.md").exists(), "the old set is gone, not mixed with the new one");
        assert!(target.join("new.md").exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_empty_folder_is_used_as_is() {
        let root = tempfile::tempdir().unwrap();
        let dir = OutputDir::create(root.path(), false).unwrap();
        write_atomic(&dir.path().join("a.json"), b"{}").unwrap();
        dir.commit().unwrap();
        assert!(root.path().join("a.json").is_file());
    }

    #[test]
    fn files_and_devices_are_not_output_folders() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert!(matches!(OutputDir::create(&file, true), Err(OutputError::NotAFolder { .. })));
        assert!(matches!(OutputDir::create(Path::new("/dev/null"), true), Err(OutputError::NotAFolder { .. })));
        assert!(matches!(OutputDir::create(&file.join("out"), false), Err(OutputError::Unwritable { .. })));
        assert!(matches!(OutputFile::create(Path::new("/dev/null"), true), Err(OutputError::NotAFile { .. })));
        assert!(matches!(OutputFile::create(root.path(), true), Err(OutputError::NotAFile { .. })));
        assert!(matches!(check_folder(&file), Err(OutputError::NotAFolder { .. })));
    }

    #[test]
    fn an_output_file_replaces_an_existing_one_only_when_asked() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("t.yaml");
        std::fs::write(&target, "old").unwrap();
        assert!(matches!(OutputFile::create(&target, false), Err(OutputError::Exists { .. })));
        OutputFile::create(&target, true).unwrap().commit(b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "no temporary file left");
    }
}
