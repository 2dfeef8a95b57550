//! Modalities: what kind of inputs a model takes, each in its own folder. A modality loads its
//! clean data, turns it into model inputs, builds its probes' transforms, drives its searches
//! and draws the examples in reports; the runner ([`crate::runner`]) does the rest the same way
//! for all of them.
//!
//! A modality's folder implements [`LoadedData`] (over the runner's [`CleanData`]) for its
//! loaded data: checking that a model takes its kind of input and readying the data for it
//! ([`ModelInputs`]). What it readies implements [`ScanInputs`] (with a [`Session`] and a
//! [`Kit`], whose examples are already in the form reports show). This file is the registry:
//! which modality a `--data` path belongs to ([`load_any`]: `.jsonl`/`.txt` text, `.csv`
//! tabular, anything else images, unless [`LoadOptions::modality`] says), and the [`Data`] it
//! loads to; a new modality is its folder plus one [`Data`] variant, its arm in [`Data::clean`]
//! and its line in [`load_any`].
//!
//! [`Session`]: crate::runner::Session
//! [`Kit`]: crate::runner::Kit

use std::path::Path;

use crate::battery::spec::Modality;
use crate::data::DataError;
use crate::digest::FileDigest;
use crate::engine::Engine;
use crate::error::Failure;
use crate::report::TokenizerSection;
use crate::runner::Inputs;

pub mod image;
pub mod tabular;
pub mod text;

pub use crate::runner::{CleanData, ScanInputs};

/// What a model's inputs are built with besides the data, as the user gave it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ModelInputOptions<'a> {
    /// Text models: the tokenizer (default: `tokenizer.json` beside the model).
    pub tokenizer: Option<&'a Path>,
}

/// Loaded data of one modality, as the application uses it before and around a scan.
pub trait LoadedData: CleanData + Sync {
    /// The tokenizer a scan of this data on the model at `model` would read, with its SHA-256
    /// (empty where it cannot be read): what recorded baselines are checked against before any
    /// model loads. `None` for data that needs none.
    fn tokenizer(&self, _options: &ModelInputOptions<'_>, _model: &Path) -> Option<FileDigest> {
        None
    }

    /// Checks that `engine`'s model takes this kind of input and readies the data for it.
    /// Failures are the user's input (exit 2) and say what to pass instead.
    fn prepare<'a>(&'a self, engine: &mut Engine, options: &ModelInputOptions<'_>) -> Result<ModelInputs<'a>, Failure>;
}

/// Loaded data readied for one model: what the runner scans and what reports say about it.
pub struct ModelInputs<'a> {
    pub inputs: Box<dyn Inputs + 'a>,
    /// The tokenizer that turns the data into the model's inputs, for reports and baselines.
    pub tokenizer: Option<TokenizerSection>,
    pub notes: DataNotes,
    /// What of the data the model will not see in full, each a line for stderr.
    pub warnings: Vec<String>,
}

impl ModelInputs<'_> {
    /// The data as it is, with nothing to note.
    pub fn plain<'a>(inputs: impl Inputs + 'a) -> ModelInputs<'a> {
        ModelInputs { inputs: Box::new(inputs), tokenizer: None, notes: DataNotes::default(), warnings: Vec::new() }
    }

    /// The tokenizer as recorded baselines name it.
    pub fn tokenizer_digest(&self) -> Option<FileDigest> {
        self.tokenizer.as_ref().map(|t| FileDigest { path: t.path.clone(), sha256: t.sha256.clone() })
    }
}

/// What reports say about how the data reached the model (zero where it does not apply).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataNotes {
    /// Empty or blank records the loader dropped (with their labels).
    pub blank_skipped: usize,
    /// Texts longer than the tokenizer's character budget, of which only the start is probed.
    pub texts_clipped: usize,
}

/// Clean data of any modality, as loaded from `--data`.
#[derive(Debug, Clone)]
pub enum Data {
    Images(image::Dataset),
    Text(text::TextDataset),
    Tabular(tabular::data::TabularData),
}

impl Data {
    /// The data as its modality describes it: the one place a new modality's variant is named.
    pub fn clean(&self) -> &dyn LoadedData {
        match self {
            Self::Images(d) => d,
            Self::Text(d) => d,
            Self::Tabular(d) => d,
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

    /// See [`LoadedData::tokenizer`].
    pub fn tokenizer(&self, options: &ModelInputOptions<'_>, model: &Path) -> Option<FileDigest> {
        self.clean().tokenizer(options, model)
    }

    /// See [`LoadedData::prepare`].
    pub fn prepare(&self, engine: &mut Engine, options: &ModelInputOptions<'_>) -> Result<ModelInputs<'_>, Failure> {
        self.clean().prepare(engine, options)
    }

    /// The battery modality the data serves.
    pub fn modality(&self) -> crate::battery::spec::Modality {
        self.clean().modality()
    }
}

/// The modality of the data at `path`: `named` (`--modality`) when given, else the one whose
/// extension it has (`.jsonl`/`.txt` text, `.csv` tabular), else images. Reads nothing.
pub fn modality_of(path: &Path, named: Option<Modality>) -> Modality {
    named.unwrap_or(if text::claims(path) {
        Modality::Text
    } else if tabular::claims(path) {
        Modality::Tabular
    } else {
        Modality::Image
    })
}

/// How `--data` is read besides its path.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions<'a> {
    /// Image folders: how to turn the images into model inputs.
    pub folder: Option<&'a image::ImageFolderOptions>,
    /// The modality the user named (`--modality`); `None` goes by the path.
    pub modality: Option<Modality>,
    /// Tabular CSV: the label column (`--label-column`); `None` takes `label` if there is one.
    pub label_column: Option<&'a str>,
}

/// Why `--data` could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Tabular(#[from] tabular::data::TabularDataError),
}

/// Loads `path` with the modality the user named or, by default, the one that claims it: text
/// for `.jsonl` and `.txt`, tabular for `.csv`, images (`.npy`, `.npz`, or a folder with
/// `folder` options) for everything else.
pub fn load_any(path: &Path, options: &LoadOptions<'_>) -> Result<Data, LoadError> {
    Ok(match modality_of(path, options.modality) {
        Modality::Text => Data::Text(text::load(path)?),
        Modality::Image => Data::Images(image::load(path, options.folder)?),
        Modality::Tabular => {
            let label = match options.label_column {
                Some(name) => tabular::data::LabelColumn::Named(name.to_string()),
                None => tabular::data::LabelColumn::Auto,
            };
            Data::Tabular(tabular::data::load(path, &label)?)
        }
    })
}
