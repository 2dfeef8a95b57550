//! What can go wrong loading clean data, whatever its modality: one error type for every
//! modality's loader (`crate::modality::*::data`), so the runner and the CLI report them alike.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read data {path}: {cause}")]
    Io { path: PathBuf, cause: std::io::Error },
    #[error("data {path}: {detail}")]
    Format { path: PathBuf, detail: String },
    #[error("data {path} has no array named 'x' (it holds: {names}); save the inputs as x (and labels as y)")]
    NoInputs { path: PathBuf, names: String },
    #[error("data {path}: 'y' has {labels} labels for {inputs} inputs")]
    LabelCount { path: PathBuf, labels: usize, inputs: usize },
    #[error(
        "{path} is a folder of images: give --image-size WxH (and --channel-order, --mean, --std as the model was trained)"
    )]
    FolderNeedsOptions { path: PathBuf },
    #[error("data {path} holds no inputs")]
    Empty { path: PathBuf },
    #[error(
        "data {path}: {rows} of {total} inputs hold non-finite values (the first is input {first_row}, with {first_kind}); \
         models cannot be probed on NaN or infinite inputs: drop or repair those rows"
    )]
    NonFinite { path: PathBuf, rows: usize, total: usize, first_row: usize, first_kind: &'static str },
    #[error("data {path}: label {label} of input {row} is not a class index (an integer >= 0); fix 'y'")]
    BadLabel { path: PathBuf, row: usize, label: i64 },
    #[error("data {path}: every text is empty or blank; give at least one non-empty text")]
    AllBlank { path: PathBuf },
}
