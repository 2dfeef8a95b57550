//! Text data readied for a model: the model must take token ids, and its tokenizer (given or
//! beside the model) is loaded and checked against it. Says what of the data the model will not
//! see in full: blank records the loader dropped and texts cut to the encoder's character budget.

use std::path::Path;

use super::data::TextDataset;
use super::encoder::{CHARS_PER_TOKEN, PADDING_CHECK_TEXTS, Padding, TextEncoder, is_text_model, tokenizer_path};
use super::kit::TextInputs;
use crate::battery::spec::{Battery, Modality};
use crate::digest::FileDigest;
use crate::engine::Engine;
use crate::error::Failure;
use crate::modality::{DataNotes, LoadedData, ModelInputOptions, ModelInputs};
use crate::report::TokenizerSection;
use crate::runner::{CleanData, ScanError, ScanInputs};

impl LoadedData for TextDataset {
    fn tokenizer(&self, options: &ModelInputOptions<'_>, model: &Path) -> Option<FileDigest> {
        tokenizer_path(options.tokenizer, model).map(|path| {
            let sha256 = crate::digest::sha256_file(&path).unwrap_or_default();
            FileDigest { path, sha256 }
        })
    }

    fn prepare<'a>(&'a self, engine: &mut Engine, options: &ModelInputOptions<'_>) -> Result<ModelInputs<'a>, Failure> {
        if !is_text_model(engine) {
            return Err(Failure::invalid(anyhow::anyhow!(
                "{} holds text but {} takes no token ids (it is not a text model); pass image data (.npz, .npy or a folder)",
                self.path.display(),
                engine.model_path.display()
            )));
        }
        let Some(path) = tokenizer_path(options.tokenizer, &engine.model_path) else {
            return Err(Failure::invalid(anyhow::anyhow!(
                "{} is a text model: pass its tokenizer with --tokenizer PATH (no tokenizer.json beside the model)",
                engine.model_path.display()
            )));
        };
        let mut encoder = TextEncoder::new(&path, engine).map_err(Failure::invalid)?;
        let sequences = self
            .texts
            .iter()
            .enumerate()
            .map(|(i, t)| encoder.tokenizer.encode(t, i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::invalid)?;
        let sample = &sequences[..sequences.len().min(PADDING_CHECK_TEXTS)];
        let padding_check = encoder.check_padding(engine, sample).map_err(Failure::from)?;
        let notes = DataNotes { blank_skipped: self.blank, texts_clipped: clipped_texts(self, &encoder) };
        let mut lengths: Vec<usize> = sequences.iter().map(|s| s.ids.len().min(encoder.tokenizer.max_length)).collect();
        lengths.sort_unstable();
        let tokenizer = TokenizerSection {
            path: encoder.tokenizer.path.clone(),
            sha256: encoder.tokenizer.sha256.clone(),
            vocabulary: encoder.tokenizer.vocabulary.len(),
            max_length: encoder.tokenizer.max_length,
            padding: Some(encoder.padding),
            padding_check,
            sequence_lengths: (!lengths.is_empty())
                .then(|| [lengths[0], lengths[lengths.len() / 2], lengths[lengths.len() - 1]]),
        };
        let mut warnings = warnings(self, &encoder, notes);
        if let (Some(check), Padding::Tokenizer { length }) = (padding_check, encoder.padding) {
            warnings.push(format!(
                "warning: {}: the scores change when a batch is padded to its longest text instead of the tokenizer's \
                 {length} tokens (relative difference {:.1e}{}): the model does not mask padding, so every batch is \
                 padded to {length}\n",
                engine.model_path.display(),
                check.max_difference,
                if check.same_classes { "" } else { ", and predicted classes change" }
            ));
        }
        Ok(ModelInputs {
            inputs: Box::new(EncodedTexts { data: self, encoder }),
            tokenizer: Some(tokenizer),
            notes,
            warnings,
        })
    }
}

/// How many texts are longer than the encoder's character budget (only their start is probed).
fn clipped_texts(data: &TextDataset, encoder: &TextEncoder) -> usize {
    data.texts.iter().filter(|t| encoder.tokenizer.clip(t).len() < t.len()).count()
}

/// What of the text data the model will not see in full, as stderr lines.
fn warnings(data: &TextDataset, encoder: &TextEncoder, notes: DataNotes) -> Vec<String> {
    let mut lines = Vec::new();
    if notes.blank_skipped > 0 {
        lines.push(format!(
            "warning: {}: {} empty or blank texts were skipped (with their labels); {} texts remain\n",
            data.path.display(),
            notes.blank_skipped,
            data.len()
        ));
    }
    if notes.texts_clipped > 0 {
        lines.push(format!(
            "warning: {}: {} texts are longer than {} characters ({} per token position of the model's {}); \
             only their start is tokenized\n",
            data.path.display(),
            notes.texts_clipped,
            encoder.tokenizer.char_budget(),
            CHARS_PER_TOKEN,
            encoder.tokenizer.max_length
        ));
    }
    lines
}

/// Clean texts with the tokenizer checked against the model: scanned as [`TextInputs`].
struct EncodedTexts<'a> {
    data: &'a TextDataset,
    encoder: TextEncoder,
}

impl EncodedTexts<'_> {
    fn view(&self) -> TextInputs<'_> {
        TextInputs { data: self.data, encoder: &self.encoder }
    }
}

impl CleanData for EncodedTexts<'_> {
    fn modality(&self) -> Modality {
        self.data.modality()
    }

    fn path(&self) -> &Path {
        &self.data.path
    }

    fn sha256(&self) -> &str {
        &self.data.sha256
    }

    fn len(&self) -> usize {
        self.data.len()
    }

    fn labels(&self) -> Option<&[i64]> {
        self.data.y.as_deref()
    }
}

impl ScanInputs for EncodedTexts<'_> {
    type Session<'s>
        = TextInputs<'s>
    where
        Self: 's;

    /// The encoder was checked against the candidate when it was built.
    fn session(&self, _: &Engine, _: &[Battery]) -> Result<TextInputs<'_>, ScanError> {
        Ok(self.view())
    }

    fn explain(&self, error: ScanError) -> ScanError {
        self.view().explain(error)
    }
}
