//! Modalities: what kind of inputs a model takes, each in its own folder. A modality loads its
//! clean data, turns it into model inputs, builds its probes' transforms, drives its searches
//! and draws the examples in reports; the runner ([`crate::runner`]) does the rest the same way
//! for all of them.
//!
//! A modality's folder implements [`CleanData`] for its loaded data and [`ScanInputs`] (with a
//! [`Session`] and a [`Kit`]) for the inputs the runner scans. This file is the registry: which
//! modality a `--data` path belongs to ([`load_any`]), and the [`Data`] it loads to.
//!
//! [`Session`]: crate::runner::Session
//! [`Kit`]: crate::runner::Kit

use std::path::Path;

use crate::data::DataError;

pub mod image;
pub mod tabular;
pub mod text;

pub use crate::runner::{CleanData, ScanInputs};

/// Clean data of any modality, as loaded from `--data`.
#[derive(Debug, Clone)]
pub enum Data {
    Images(image::Dataset),
    Text(text::TextDataset),
}

impl Data {
    /// The data as its modality describes it: the one place a new modality's variant is named.
    pub fn clean(&self) -> &dyn CleanData {
        match self {
            Self::Images(d) => d,
            Self::Text(d) => d,
        }
    }

    pub fn path(&self) -> &Path {
        self.clean().path()
    }

    pub fn sha256(&self) -> &str {
        self.clean().sha256()
    }

    /// Path and SHA-256, as reports and recorded baselines name the data.
    pub fn digest(&self) -> crate::digest::FileDigest {
        crate::digest::FileDigest { path: self.path().to_path_buf(), sha256: self.sha256().to_string() }
    }

    pub fn len(&self) -> usize {
        self.clean().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn labelled(&self) -> bool {
        self.clean().labels().is_some()
    }

    /// The battery modality the data serves.
    pub fn modality(&self) -> crate::battery::spec::Modality {
        self.clean().modality()
    }
}

/// Loads `path` with the modality that claims it: text for `.jsonl` and `.txt`, images
/// (`.npy`, `.npz`, or a folder with `folder` options) for everything else.
pub fn load_any(path: &Path, folder: Option<&image::ImageFolderOptions>) -> Result<Data, DataError> {
    if text::claims(path) { text::load(path).map(Data::Text) } else { image::load(path, folder).map(Data::Images) }
}
