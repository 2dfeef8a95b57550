//! What every scanning command (`scan`, `baseline record`, `calibrate`) does before a model
//! runs: read the data and the batteries, load ONNX Runtime, build the engines and, for text
//! data readied for each model (by its modality: for text, the tokenizer checked against it).

use std::path::{Path, PathBuf};

use crate::battery::{self, spec::Battery};
use crate::engine::{Engine, EngineOptions};
use crate::error::Failure;
use crate::modality::image::ImageFolderOptions;
use crate::modality::{self as data, Data, ModelInputOptions, ModelInputs};
use crate::onnxruntime::{self, Runtime};
use crate::runner::{ScanError, ScanSettings, ScoreKind};

/// Where the clean inputs come from and how to read them.
#[derive(Debug, Clone, Default)]
pub struct DataOptions {
    /// `.npz`, `.npy`, a folder of images, `.jsonl` or `.txt`, or `.csv`.
    pub path: PathBuf,
    /// Text models: the tokenizer (default: `tokenizer.json` beside the model).
    pub tokenizer: Option<PathBuf>,
    /// Image folders: how to turn the images into model inputs.
    pub image_folder: Option<ImageFolderOptions>,
    /// The data's modality, when the path does not say it (`.npz` rows as tabular data).
    pub modality: Option<battery::spec::Modality>,
    /// Tabular CSV: the column holding the labels (default `label`, if present).
    pub label_column: Option<String>,
}

impl DataOptions {
    /// What the modality builds a model's inputs with.
    pub fn model_inputs(&self) -> ModelInputOptions<'_> {
        ModelInputOptions { tokenizer: self.tokenizer.as_deref() }
    }
}

/// Which probes run, and with which seed and budgets.
#[derive(Debug, Clone, Default)]
pub struct ProbeOptions {
    /// Battery files; empty: the bundled batteries for the data's modality.
    pub batteries: Vec<PathBuf>,
    /// Replaces every battery's seed.
    pub seed: Option<u64>,
    /// Overrides the detected score kind.
    pub scores: Option<ScoreKind>,
    /// Replaces every search probe's query budget.
    pub search_budget: Option<u64>,
    /// Wall-clock target for the whole scan.
    pub time_budget: Option<std::time::Duration>,
}

impl ProbeOptions {
    /// The runner's settings for these probes (the rest at their defaults).
    pub fn settings(&self) -> ScanSettings {
        ScanSettings {
            seed: self.seed,
            scores: self.scores,
            search_budget: self.search_budget,
            time_budget: self.time_budget,
            ..ScanSettings::default()
        }
    }
}

/// What every scanning command is given besides its own options.
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// ONNX Runtime library to load instead of the pinned build.
    pub ort_lib: Option<PathBuf>,
    pub data: DataOptions,
    pub probes: ProbeOptions,
    /// As the user gave them; [`engine_options`] fills in a battery's batch size.
    pub engine: EngineOptions,
}

/// The files every scanning command reads, checked before any model runs.
pub struct Prepared {
    pub batteries: Vec<Battery>,
    pub data: Data,
    pub runtime: &'static Runtime,
}

/// Reads the data and the batteries and loads ONNX Runtime, in that order.
pub fn prepare(setup: &Setup) -> Result<Prepared, Failure> {
    let options = data::LoadOptions {
        folder: setup.data.image_folder.as_ref(),
        modality: setup.data.modality,
        label_column: setup.data.label_column.as_deref(),
    };
    let loaded = data::load_any(&setup.data.path, &options).map_err(Failure::invalid)?;
    let batteries = load_batteries(&setup.probes.batteries, loaded.modality())?;
    if let Some(threads) = setup.engine.threads {
        // Input generation uses the same budget as ONNX Runtime; results do not depend on it.
        let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    }
    let runtime = onnxruntime::load(setup.ort_lib.as_deref())?;
    Ok(Prepared { batteries, data: loaded, runtime })
}

/// Validates every battery (all problems of all files are reported together).
pub fn load_batteries(paths: &[PathBuf], modality: battery::spec::Modality) -> Result<Vec<Battery>, Failure> {
    let mut batteries = Vec::new();
    let mut problems = Vec::new();
    if paths.is_empty() {
        return battery::defaults(modality).map_err(Failure::runtime);
    }
    for path in paths {
        match battery::load(path) {
            Ok(b) => batteries.push(b),
            Err(d) => problems.push(d.to_string()),
        }
    }
    if !problems.is_empty() {
        return Err(Failure::invalid(anyhow::anyhow!("invalid battery:\n{}", problems.join("\n"))));
    }
    Ok(batteries)
}

/// `--min-clean-accuracy` is about labels: on unlabelled data it would silently do nothing.
pub fn floor_needs_labels(floor: Option<f64>, data: &Data) -> Result<(), Failure> {
    if floor.is_none() || data.labelled() {
        return Ok(());
    }
    Err(Failure::invalid(anyhow::anyhow!(
        "--min-clean-accuracy needs labelled data, but {} has no labels; pass data with labels (.npz with y, \
         .jsonl with \"label\", or a folder of class folders) or drop the flag",
        data.path().display()
    )))
}

/// Engine options, with a battery's batch size when the user gave none.
pub fn engine_options(options: &EngineOptions, batteries: &[Battery]) -> EngineOptions {
    let mut options = options.clone();
    if options.batch_size.is_none() {
        options.batch_size = batteries.iter().find_map(|b| b.defaults.batch_size);
    }
    options
}

/// Loads a model; a provider fallback is said on stderr.
pub fn load_engine(runtime: &Runtime, path: &Path, options: &EngineOptions) -> Result<Engine, Failure> {
    let engine = Engine::load(runtime, path, options)?;
    if let Some(reason) = &engine.provider.fallback_reason {
        super::warn(&format!(
            "warning: {} unavailable, falling back to {}: {reason}\n",
            engine.provider.requested, engine.provider.used
        ));
    }
    Ok(engine)
}

/// The data readied for `engine`'s model (for text models, with the tokenizer checked against
/// it); what the model will not see of the data in full is said on stderr.
pub fn model_inputs<'a>(
    data: &'a Data,
    options: &DataOptions,
    engine: &mut Engine,
) -> Result<ModelInputs<'a>, Failure> {
    let ready = data.prepare(engine, &options.model_inputs())?;
    for warning in &ready.warnings {
        super::warn(warning);
    }
    Ok(ready)
}

/// A runner error as a command failure: an inference error is a runtime failure (exit 3),
/// anything else the user's input (exit 2).
pub fn scan_failure(e: ScanError) -> Failure {
    match e {
        ScanError::Engine(e) => Failure::from(e),
        other => Failure::invalid(other),
    }
}
