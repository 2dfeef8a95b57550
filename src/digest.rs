//! SHA-256 digests: the one place the crate hashes what a scan depends on (models, data,
//! tokenizers, batteries, thresholds), and [`FileDigest`], the `{path, sha256}` record that
//! reports, recordings, calibrations and attestations write.
//!
//! Digests are lowercase hex. [`sha256_file`] streams the file, so a multi-gigabyte model or
//! data file is never held in memory to be hashed. It is implemented in
//! `onnxruntime/provision.rs` because `build.rs` compiles that file on its own (with nothing but
//! `std`, `sha2`, `hex` and `zip`) to verify the ONNX Runtime it fetches; the rest of the crate
//! reaches it here.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use crate::onnxruntime::provision::sha256_file;

/// SHA-256 of `bytes`, as lowercase hex.
pub fn sha256_bytes(bytes: impl AsRef<[u8]>) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a file's bytes or, for a folder (an image folder, a recorded baseline), of every
/// file under it: the digest of the lines `RELATIVE-PATH SHA-256`, one per file, sorted by path
/// (`/`-separated), so it changes when any file is added, removed, renamed or edited.
pub fn sha256_tree(path: &Path) -> std::io::Result<String> {
    if !std::fs::metadata(path)?.is_dir() {
        return sha256_file(path);
    }
    let mut lines = Vec::new();
    let mut folders = vec![path.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let entry = entry?;
            let file = entry.path();
            if entry.file_type()?.is_dir() {
                folders.push(file);
                continue;
            }
            let relative = file.strip_prefix(path).unwrap_or(&file);
            let name: Vec<String> =
                relative.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
            lines.push(format!("{} {}\n", name.join("/"), sha256_file(&file)?));
        }
    }
    lines.sort();
    Ok(sha256_bytes(lines.concat()))
}

/// A file and the SHA-256 of its bytes, serialised as `{"path": ..., "sha256": ...}`.
///
/// `P` is how the file is named: a path on this machine (the default), or, for a model's
/// external data files, the location as written inside the model (`FileDigest<String>`), which
/// is what attestation subjects are named by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest<P = PathBuf> {
    pub path: P,
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FIPS 180-2, appendix B.1, and `sha256sum` of the empty file.
    const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn bytes_hash_to_the_published_test_vectors() {
        assert_eq!(sha256_bytes(b"abc"), ABC);
        assert_eq!(sha256_bytes([]), EMPTY);
    }

    #[test]
    fn a_file_streamed_in_chunks_hashes_like_its_bytes() {
        let dir = tempfile::tempdir().unwrap();
        // Larger than one 64 KiB read, and not a multiple of it.
        let bytes: Vec<u8> = (0..200_003u32).map(|i| (i * 31 % 251) as u8).collect();
        let path = dir.path().join("f.bin");
        std::fs::write(&path, &bytes).unwrap();
        assert_eq!(sha256_file(&path).unwrap(), sha256_bytes(&bytes));
        std::fs::write(&path, b"").unwrap();
        assert_eq!(sha256_file(&path).unwrap(), EMPTY);
    }

    #[test]
    fn a_folder_digest_covers_every_file_and_its_name() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("a.txt"), b"abc").unwrap();
        std::fs::write(dir.path().join("sub/b.txt"), b"").unwrap();
        // printf 'a.txt ABC\nsub/b.txt EMPTY\n' | sha256sum, with the digests written out.
        let expected = sha256_bytes(format!("a.txt {ABC}\nsub/b.txt {EMPTY}\n"));
        assert_eq!(sha256_tree(dir.path()).unwrap(), expected);
        assert_eq!(sha256_tree(&dir.path().join("a.txt")).unwrap(), ABC, "a file is its own digest");
        std::fs::rename(dir.path().join("sub/b.txt"), dir.path().join("sub/c.txt")).unwrap();
        assert_ne!(sha256_tree(dir.path()).unwrap(), expected, "a renamed file changes the digest");
    }

    #[test]
    fn a_file_digest_is_written_as_path_and_sha256() {
        let local = FileDigest { path: PathBuf::from("models/m.onnx"), sha256: ABC.into() };
        let json = serde_json::to_string(&local).unwrap();
        assert_eq!(json, format!(r#"{{"path":"models/m.onnx","sha256":"{ABC}"}}"#));
        assert_eq!(serde_json::from_str::<FileDigest>(&json).unwrap(), local);
        let yaml = serde_saphyr::to_string(&local).unwrap();
        let lines: Vec<&str> = yaml.lines().collect();
        assert_eq!(lines, ["path: models/m.onnx".to_string(), format!("sha256: {ABC}")]);
        let external = FileDigest { path: "m.onnx.data".to_string(), sha256: EMPTY.into() };
        let json = serde_json::to_string(&external).unwrap();
        assert_eq!(json, format!(r#"{{"path":"m.onnx.data","sha256":"{EMPTY}"}}"#));
    }
}
