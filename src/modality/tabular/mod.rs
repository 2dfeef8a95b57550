//! The tabular modality: classifiers over rows of numeric features (fraud, credit, churn
//! models; scikit-learn pipelines and gradient-boosted trees exported with skl2onnx), issue #15.
//!
//! - [`data`]: CSV (with a header) and `.npz` rows, missing values, per-feature statistics;
//! - [`transforms`]: edits of a row (set features, spread-scaled noise, missing values);
//! - [`search`]: the feature value sweep that looks for magic values and feature combinations.

pub mod data;
pub mod search;
pub mod transforms;
