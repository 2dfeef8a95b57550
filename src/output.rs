//! Writing output files atomically: a temporary file in the target folder, flushed, then
//! renamed over the target — so a file that exists is complete, whatever interrupted the run.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically, readable by others as a normal file would be (0644 on
/// Unix; temporary files are created 0600).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(folder)?;
    let mut tmp = tempfile::NamedTempFile::new_in(folder)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file().set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}
