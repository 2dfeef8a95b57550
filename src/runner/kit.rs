//! What a modality gives the runner: its clean inputs ([`ScanInputs`]), a scan's view of them
//! ([`Session`]), and one battery's probes over them ([`Kit`]). Everything else (the clean pass,
//! batches through the models, evidence, verdicts, baselines) is the runner's and the same for
//! every modality. A modality implements these in its folder under `src/modality/`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{Batch, ImageInterpretation, ScanError};
use crate::battery::spec::{Battery, Modality, Probe};
use crate::engine::{Engine, ScoreKind};
use crate::predictions::Predictions;
use crate::search::SearchSummary;
use crate::transform::Stream;

/// Example inputs kept per probe for reports.
pub const EXAMPLES: usize = 3;

/// What every modality's loaded data says about itself, for reports, baselines and checks.
pub trait CleanData {
    /// The battery modality this data serves (`modality:` in a battery file).
    fn modality(&self) -> Modality;
    fn path(&self) -> &Path;
    /// SHA-256 of the data as loaded, for reports and recorded baselines.
    fn sha256(&self) -> &str;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    fn labels(&self) -> Option<&[i64]>;
}

/// A modality's clean inputs, with what turns them into model inputs: what the runner scans.
pub trait ScanInputs: CleanData + Sync {
    /// A scan of these inputs on one candidate.
    type Session<'s>: Session
    where
        Self: 's;

    /// Checks that the inputs fit the candidate, before anything runs, and starts a scan.
    fn session(&self, candidate: &Engine, batteries: &[Battery]) -> Result<Self::Session<'_>, ScanError>;

    /// The error a scan of these inputs failed with, explained in the modality's terms.
    fn explain(&self, error: ScanError) -> ScanError {
        error
    }
}

/// Inputs held by reference scan as the inputs themselves, so a caller can hand the runner
/// borrowed data of any modality (`Box<dyn Inputs + '_>` over `&Dataset`).
impl<I: CleanData + ?Sized> CleanData for &I {
    fn modality(&self) -> Modality {
        (**self).modality()
    }

    fn path(&self) -> &Path {
        (**self).path()
    }

    fn sha256(&self) -> &str {
        (**self).sha256()
    }

    fn len(&self) -> usize {
        (**self).len()
    }

    fn labels(&self) -> Option<&[i64]> {
        (**self).labels()
    }
}

impl<I: ScanInputs> ScanInputs for &I {
    type Session<'s>
        = I::Session<'s>
    where
        Self: 's;

    fn session(&self, candidate: &Engine, batteries: &[Battery]) -> Result<Self::Session<'_>, ScanError> {
        (**self).session(candidate, batteries)
    }

    fn explain(&self, error: ScanError) -> ScanError {
        (**self).explain(error)
    }
}

/// One scan's view of a modality's inputs.
pub trait Session {
    /// One battery's probes.
    type Kit<'k>: Kit
    where
        Self: 'k;

    /// The clean inputs at `chunk`. `candidate` is true on the candidate's clean pass, which
    /// reads every input once, in order (image data folds its value range in on the way).
    fn clean_chunk(&mut self, chunk: &[usize], candidate: bool) -> Result<Batch, ScanError>;

    /// The clean inputs at `chunk` as model calls of at most `batch` rows, grouped as
    /// [`Kit::build_groups`] groups probed inputs, so that an input a probe leaves unchanged
    /// is scored as it was on the clean pass.
    fn clean_groups(&mut self, chunk: &[usize], candidate: bool, batch: usize) -> Result<Groups, ScanError> {
        let _ = batch;
        Ok(vec![((0..chunk.len()).collect(), self.clean_chunk(chunk, candidate)?)])
    }

    /// The battery's probes over these inputs, and how the inputs were interpreted for it
    /// (`None` where nothing needed interpreting).
    fn kit(&mut self, battery: &Battery, seed: u64) -> Result<(Self::Kit<'_>, Option<ImageInterpretation>), ScanError>;
}

/// What a probe may need from the scan while it is prepared: searches query the candidate,
/// attacks query the candidate and every reference.
pub struct SearchContext<'a> {
    pub engine: &'a mut Engine,
    pub kind: ScoreKind,
    pub clean: &'a Predictions,
    pub classes: usize,
    /// `--search-budget`, replacing the probe's own.
    pub budget: Option<u64>,
    /// The reference models, how their scores are read, and their clean predictions.
    pub references: &'a mut [Engine],
    pub reference_kinds: &'a [ScoreKind],
    pub reference_clean: &'a [Predictions],
}

/// A probe ready to run: its transform (recovered by a search, for search probes) and the data
/// indices it runs on.
pub struct Prepared<T: ?Sized> {
    pub transform: Box<T>,
    pub indices: Vec<usize>,
    pub search: Option<SearchSummary>,
    /// Model queries the search (or the attack, on every model) spent.
    pub queries: u64,
    /// An attack probe's result: the transform replays its adversarial inputs.
    pub attack: Option<crate::attack::AttackResult>,
}

impl<T: ?Sized> Prepared<T> {
    /// A declared transform, run on all of the probe's samples.
    pub fn fixed(transform: Box<T>, indices: &[usize]) -> Self {
        Self { transform, indices: indices.to_vec(), search: None, queries: 0, attack: None }
    }

    /// A trigger a search recovered, confirmed on the samples the search never saw.
    pub fn found(transform: Box<T>, confirm: &[usize], search: SearchSummary, queries: u64) -> Self {
        Self { transform, indices: confirm.to_vec(), search: Some(search), queries, attack: None }
    }

    /// Adversarial inputs an attack found on all of the probe's samples.
    pub fn attacked(transform: Box<T>, indices: &[usize], attack: crate::attack::AttackResult, queries: u64) -> Self {
        Self { transform, indices: indices.to_vec(), search: None, queries, attack: Some(attack) }
    }
}

/// One battery's probes over one modality's inputs: everything about a probe that depends on
/// what the inputs are. The rest (batches through the models, evidence, verdicts, baselines)
/// is shared by [`super::scan`].
pub trait Kit: Sync {
    type Transform: ?Sized + Sync;

    /// Builds the probe's transform, running its search first for a search probe.
    fn prepare(
        &self,
        probe: &Probe,
        key: &str,
        indices: &[usize],
        ctx: SearchContext<'_>,
    ) -> Result<Prepared<Self::Transform>, ScanError>;

    /// The matched control of a trigger transform (`None` for robustness perturbations).
    fn control(&self, transform: &Self::Transform) -> Option<Box<Self::Transform>>;

    /// The model inputs for one chunk: each part's samples with its transform applied, the
    /// parts' rows one after another.
    fn build(&self, parts: &[Part<'_, Self::Transform>]) -> Result<Batch, ScanError>;

    /// The model calls for one chunk: each holds the chunk's rows it lists
    /// ([`crate::engine::Engine::classify_groups`]), at most `batch` of them. One call of
    /// [`Kit::build`]'s rows in order unless a modality's inputs vary in length (text groups
    /// rows of one length, so that no row is padded to a longer one's length).
    fn build_groups(&self, parts: &[Part<'_, Self::Transform>], batch: usize) -> Result<Groups, ScanError> {
        let _ = batch;
        let rows = parts.iter().map(|p| p.indices.len()).sum();
        Ok(vec![((0..rows).collect(), self.build(parts)?)])
    }

    /// The first few samples before and after the probe, as reports show them.
    fn examples(
        &self,
        key: &str,
        indices: &[usize],
        transform: &Self::Transform,
        clean: &Predictions,
        probed: &Predictions,
    ) -> Vec<Example>;

    /// Takes back a classified batch (image inputs reuse their buffers for the next chunk).
    fn recycle(&self, batch: Batch) {
        drop(batch);
    }
}

/// Model calls and the rows of their chunk each holds ([`Kit::build_groups`]).
pub type Groups = Vec<(Vec<usize>, Batch)>;

/// Part of a chunk: one job's samples at `indices`, with the job's transform and stream.
pub struct Part<'a, T: ?Sized> {
    pub key: &'a str,
    pub indices: &'a [usize],
    pub transform: &'a T,
    pub stream: Stream,
}

/// A clean input and what the probe made of it, in the form reports show it (each modality
/// fills its own fields): images as PNG (base64), texts as they are with the tokens the model
/// received, table rows as the features the probe changed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Example {
    pub index: usize,
    /// Images: PNG (base64); empty otherwise.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub clean_png: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub probed_png: String,
    /// Text: the clean text, the text after the probe's edits, and the tokens the model got
    /// (after token edits and truncation; no padding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clean_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probed_tokens: Option<Vec<String>>,
    /// Tables: the features the probe changed, in column order; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<FeatureChange>,
    pub clean_class: usize,
    pub probed_class: usize,
}

/// One feature of a table row before and after a probe, as the modality writes its values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureChange {
    pub feature: String,
    pub clean: String,
    pub probed: String,
}
