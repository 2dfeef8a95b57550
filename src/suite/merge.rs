//! `probity suite merge DIR... --out DIR`: shard results folders combined into one, as if the
//! suite had run unsharded: the items' folders copied, `suite.json` listing every model in the
//! suite's order (timing aside, the same file an unsharded run writes).
//!
//! The folders must come from one suite file (same SHA-256) and together hold every model of
//! it; a missing shard is an error naming the models it lacks, not a smaller suite.

use std::path::{Path, PathBuf};

use super::{ITEMS_DIR, ModelResult, SuiteError, SuiteResults};
use crate::error::Failure;
use crate::output::OutputDir;

/// Merges the results folders `dirs` into `out` (new or empty, or replaced with `force`).
pub fn merge(dirs: &[PathBuf], out: &Path, force: bool) -> Result<SuiteResults, Failure> {
    let target = OutputDir::create(out, force).map_err(Failure::invalid)?;
    let parts: Vec<(PathBuf, SuiteResults)> = dirs
        .iter()
        .map(|d| SuiteResults::read(d).map(|r| (d.clone(), r)))
        .collect::<Result<_, _>>()
        .map_err(Failure::invalid)?;
    let merged = combine(&parts).map_err(Failure::invalid)?;
    for model in &merged.models {
        let Some(report) = &model.report else { continue };
        let Some((dir, _)) = parts.iter().find(|(_, r)| r.models.iter().any(|m| m.index == model.index)) else {
            continue;
        };
        let item = Path::new(ITEMS_DIR).join(&model.key);
        copy_tree(&dir.join(&item), &target.path().join(&item)).map_err(|e| {
            Failure::runtime(anyhow::anyhow!("copying {} (for {}): {e}", dir.join(report).display(), model.model))
        })?;
    }
    merged.write(target.path()).map_err(Failure::runtime)?;
    target
        .commit()
        .map_err(|e| Failure::runtime(anyhow::anyhow!("moving the merged results into {}: {e}", out.display())))?;
    Ok(merged)
}

/// The suite results the parts add up to.
pub fn combine(parts: &[(PathBuf, SuiteResults)]) -> Result<SuiteResults, SuiteError> {
    let Some((first_dir, first)) = parts.first() else {
        return Err(SuiteError::Merge("nothing to merge: pass the results folders of the shards".into()));
    };
    if let Some((dir, _)) = parts.iter().find(|(_, r)| r.suite.sha256 != first.suite.sha256) {
        return Err(SuiteError::Merge(format!(
            "{} and {} hold results of different suite files (SHA-256 differs); merge the shards of one run",
            first_dir.display(),
            dir.display()
        )));
    }
    let mut models: Vec<ModelResult> = Vec::new();
    for (_, part) in parts {
        for model in &part.models {
            match models.iter().find(|m| m.index == model.index) {
                // The same item in two folders (a shard run twice): the same key is the same result.
                Some(seen) if seen.key == model.key => {}
                Some(seen) => {
                    return Err(SuiteError::Merge(format!(
                        "model {} has two different results (keys {} and {}): were the folders made from different files?",
                        model.model, seen.key, model.key
                    )));
                }
                None => models.push(model.clone()),
            }
        }
    }
    models.sort_by_key(|m| m.index);
    let missing: Vec<usize> = (0..first.suite.models).filter(|i| !models.iter().any(|m| m.index == *i)).collect();
    if !missing.is_empty() {
        let shards: Vec<String> = parts.iter().filter_map(|(_, r)| r.shard.map(|s| s.to_string())).collect();
        return Err(SuiteError::Merge(format!(
            "{} of the suite's {} models have no result in these folders (shards given: {}); pass every shard's folder",
            missing.len(),
            first.suite.models,
            if shards.is_empty() { "none".to_string() } else { shards.join(", ") }
        )));
    }
    let started = parts.iter().map(|(_, r)| r.started.clone()).min().unwrap_or_default();
    let elapsed = parts.iter().map(|(_, r)| r.elapsed_seconds).fold(0.0, f64::max);
    Ok(SuiteResults::new(first.suite.clone(), None, models, started, elapsed))
}

/// Copies the folder `from` (files and sub-folders) to `to`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
