//! The tabular modality: classifiers over rows of numeric features (fraud, credit, churn
//! models; scikit-learn pipelines and gradient-boosted trees exported with skl2onnx), issue #15.
//!
//! - [`data`]: CSV (with a header) and `.npz` rows, missing values, per-feature statistics;
//! - [`transforms`]: edits of a row (set features, spread-scaled noise, missing values);
//! - [`search`]: the feature value sweep that looks for magic values and feature combinations;
//! - [`kit`]: the data readied for a model, and a battery's probes over it (the runner's side).
//!
//! `.csv` data is tabular; `.npz` data is tabular when the user says so (`--modality tabular`).

pub mod data;
pub mod kit;
pub mod search;
pub mod transforms;

/// Whether `path` is tabular data without being told: a `.csv` file.
pub fn claims(path: &std::path::Path) -> bool {
    path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"))
}
