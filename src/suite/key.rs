//! What a suite item's result depends on, as content digests: the model and its external data,
//! the data, the tokenizer, the batteries, references and baseline, the seed and search budget,
//! probity's version, the ONNX Runtime build and the execution provider. An item is stored under
//! [`ItemKey::id`], so a result is reused only when every one of these is unchanged, and
//! changing one model file reruns only that model's item.
//!
//! Paths are not part of the key: moving the registry does not invalidate its results.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::SuiteError;
use super::spec::SuiteModel;
use crate::battery::spec::Battery;
use crate::digest::{FileDigest, sha256_bytes, sha256_file, sha256_tree};

/// The digests an item's result depends on (`suite.json` lists them per model).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemKey {
    pub model: String,
    /// The model's external data files, by their location inside the model.
    pub external_data: Vec<FileDigest<String>>,
    pub data: String,
    pub tokenizer: Option<String>,
    /// Each battery's SHA-256 (the bundled ones' too), in the order they run.
    pub batteries: Vec<String>,
    pub references: Vec<String>,
    pub baseline: Option<String>,
    /// The suite's `seed:` (absent: each battery's own, covered by its digest).
    pub seed: Option<u64>,
    pub search_budget: Option<u64>,
    /// How the data was read, where the suite says (`modality:`, `label-column:`).
    pub data_reading: Option<String>,
    pub probity_version: String,
    /// SHA-256 of the ONNX Runtime library.
    pub onnxruntime: String,
    /// The execution provider asked for (`cpu`, `cuda:0`).
    pub execution_provider: String,
}

impl ItemKey {
    /// The folder name an item is stored under: the first 32 hex digits (128 bits) of the
    /// SHA-256 of the key's JSON.
    pub fn id(&self) -> String {
        let json = serde_json::to_vec(self).unwrap_or_default();
        sha256_bytes(json)[..32].to_string()
    }
}

/// What is the same for every item of a run.
pub struct RunFacts {
    pub seed: Option<u64>,
    pub search_budget: Option<u64>,
    pub onnxruntime: String,
    pub execution_provider: String,
}

/// Digests computed once per file: many models share their data, references and tokenizer.
#[derive(Default)]
pub struct DigestCache {
    files: HashMap<PathBuf, String>,
}

impl DigestCache {
    /// The SHA-256 of a file or folder ([`sha256_tree`]), `what` naming it in an error.
    pub fn digest(&mut self, suite: &Path, what: &'static str, path: &Path) -> Result<String, SuiteError> {
        if let Some(found) = self.files.get(path) {
            return Ok(found.clone());
        }
        let digest = sha256_tree(path).map_err(|cause| SuiteError::Input {
            path: suite.to_path_buf(),
            what,
            file: path.to_path_buf(),
            cause,
        })?;
        self.files.insert(path.to_path_buf(), digest.clone());
        Ok(digest)
    }
}

/// The key of `model`'s item, run with `batteries`.
pub fn item_key(
    suite: &Path,
    model: &SuiteModel,
    batteries: &[Battery],
    tokenizer: Option<&Path>,
    facts: &RunFacts,
    cache: &mut DigestCache,
) -> Result<ItemKey, SuiteError> {
    let unreadable = |file: &Path, cause| SuiteError::Input {
        path: suite.to_path_buf(),
        what: "model",
        file: file.to_path_buf(),
        cause,
    };
    let model_digest = sha256_file(&model.path).map_err(|e| unreadable(&model.path, e))?;
    // An unreadable or unsafe model keeps no external data here; its scan reports why.
    let external = crate::model::read_facts(&model.path).map(|f| f.external_data).unwrap_or_default();
    let external_data = external
        .iter()
        .map(|file| {
            let sha256 = sha256_file(&file.path).map_err(|e| unreadable(&file.path, e))?;
            Ok(FileDigest { path: file.location.clone(), sha256 })
        })
        .collect::<Result<Vec<_>, SuiteError>>()?;
    let references =
        model.references.iter().map(|r| cache.digest(suite, "reference model", r)).collect::<Result<Vec<_>, _>>()?;
    let data_reading = match (model.modality, &model.label_column) {
        (None, None) => None,
        (modality, label) => Some(format!(
            "modality={} label-column={}",
            modality.map_or("auto", |m| m.name()),
            label.as_deref().unwrap_or("auto")
        )),
    };
    Ok(ItemKey {
        model: model_digest,
        external_data,
        data: cache.digest(suite, "data", &model.data)?,
        tokenizer: tokenizer.map(|t| cache.digest(suite, "tokenizer", t)).transpose()?,
        batteries: batteries.iter().map(|b| b.sha256.clone()).collect(),
        references,
        baseline: model.baseline.as_deref().map(|b| cache.digest(suite, "baseline", b)).transpose()?,
        seed: facts.seed,
        search_budget: facts.search_budget,
        data_reading,
        probity_version: env!("CARGO_PKG_VERSION").into(),
        onnxruntime: facts.onnxruntime.clone(),
        execution_provider: facts.execution_provider.clone(),
    })
}

/// Bytes a model occupies (the file and its external data): what shards are balanced by.
pub fn model_size(path: &Path) -> u64 {
    let size = |p: &Path| std::fs::metadata(p).map_or(0, |m| m.len());
    let external = crate::model::read_facts(path).map(|f| f.external_data).unwrap_or_default();
    size(path) + external.iter().map(|f| size(&f.path)).sum::<u64>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ItemKey {
        ItemKey {
            model: "m".into(),
            external_data: Vec::new(),
            data: "d".into(),
            tokenizer: None,
            batteries: vec!["b".into()],
            references: Vec::new(),
            baseline: None,
            seed: None,
            search_budget: None,
            data_reading: None,
            probity_version: "0.1.0".into(),
            onnxruntime: "o".into(),
            execution_provider: "cpu".into(),
        }
    }

    #[test]
    fn every_part_of_the_key_changes_its_id() {
        let base = key();
        assert_eq!(base.id().len(), 32);
        assert_eq!(base.id(), key().id(), "the same parts give the same id");
        let variants = [
            ItemKey { model: "m2".into(), ..key() },
            ItemKey { external_data: vec![FileDigest { path: "w.bin".into(), sha256: "x".into() }], ..key() },
            ItemKey { data: "d2".into(), ..key() },
            ItemKey { tokenizer: Some("t".into()), ..key() },
            ItemKey { batteries: vec!["b2".into()], ..key() },
            ItemKey { references: vec!["r".into()], ..key() },
            ItemKey { baseline: Some("r".into()), ..key() },
            ItemKey { seed: Some(0), ..key() },
            ItemKey { search_budget: Some(100), ..key() },
            ItemKey { probity_version: "0.2.0".into(), ..key() },
            ItemKey { onnxruntime: "o2".into(), ..key() },
            ItemKey { execution_provider: "cuda:0".into(), ..key() },
        ];
        for variant in variants {
            assert_ne!(variant.id(), base.id(), "{variant:?}");
        }
    }
}
