//! How text becomes a text model's inputs: the model's own `tokenizer.json` (HuggingFace
//! `tokenizers`), truncation and padding to the model's limits, and the int64 tensors the model
//! declares (`input_ids`, and `attention_mask` / `token_type_ids` when it takes them).
//!
//! The tokenizer is checked against the model before anything runs, because a mismatched one
//! does not fail loudly in general — it feeds the wrong tokens: ids beyond the model's embedding
//! table (ONNX Runtime's Gather then fails mid-scan), no padding token, or inputs the encoder
//! cannot fill. Each is an error naming both files and the fix.
//!
//! The tokenizer on its own ([`TextTokenizer`]: vocabulary, length limits, text → ids) is what
//! text probes need; [`TextEncoder`] adds what the model decides (its length, its inputs,
//! padding), so a preview without a model uses the first alone.
//!
//! Tokenization itself runs with the tokenizer's own truncation and padding switched off: text
//! probes may edit the token ids after tokenization (see [`crate::transform::text`]), so the
//! encoder truncates (keeping the trailing special tokens such as `[SEP]`) and pads afterwards.
//! Sequences are padded to the model's fixed length when it declares one; otherwise each batch
//! is padded to its own longest sequence ([`Padding`]), whatever the tokenizer's own padding
//! says: a tokenizer saved with `padding="max_length"` (128 for many sentence encoders) would
//! make every 12-token input cost 128 positions. Natural lengths are exact for models that mask
//! padding, and [`TextEncoder::check_padding`] verifies it on the data before a scan: when the
//! model's scores change with less padding, the tokenizer's length is kept. Batches are fixed by
//! the runner, not by the thread count, so the numbers do not depend on threads.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayD};
use serde::{Deserialize, Serialize};
use tokenizers::{PaddingStrategy, Tokenizer};

use crate::engine::{Dim, Engine, InputData};
use crate::runner::Batch;
use crate::transform::text::{TokenSequence, Vocabulary};

/// Longest sequence fed when neither the model nor the tokenizer states a limit (BERT's).
const DEFAULT_MAX_LENGTH: usize = 512;

/// Characters of text kept per token position before tokenizing. Only the first `max_length`
/// tokens reach the model, so text far beyond them is work without effect: a 10 MB line took
/// 97 s to tokenize for a 64-token model. English averages 4 to 5 characters per token in
/// WordPiece and BPE vocabularies; 32 leaves room for long unknown words and runs of
/// punctuation or whitespace, so the cut never changes the tokens a normal text feeds.
pub const CHARS_PER_TOKEN: usize = 32;

/// What one model input receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Feed {
    Ids,
    Mask,
    TypeIds,
}

#[derive(Debug, thiserror::Error)]
pub enum TextError {
    #[error("cannot read tokenizer {path}: {detail}; pass the model's tokenizer.json with --tokenizer")]
    Load { path: PathBuf, detail: String },
    #[error("tokenizer {tokenizer} does not fit model {model}: {detail}")]
    Mismatch { tokenizer: PathBuf, model: PathBuf, detail: String },
    #[error("tokenizer {path} failed on input {index}: {detail}")]
    Encode { path: PathBuf, index: usize, detail: String },
}

/// How batches are padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "to")]
pub enum Padding {
    /// To the model's fixed sequence length.
    Model { length: usize },
    /// Each batch to its longest sequence (the model's sequence axis is dynamic).
    Longest,
    /// To the tokenizer's fixed padding length, because the model's scores changed when
    /// padded less ([`TextEncoder::check_padding`]): it does not mask padding.
    Tokenizer { length: usize },
}

/// Largest difference between a model's scores on the same texts padded to the tokenizer's
/// length and to the batch's longest, relative to the scores' scale (at least 1), that still
/// counts as the same output: float rounding, not a model that reads its padding.
pub const PADDING_TOLERANCE: f32 = 1e-4;

/// Texts [`TextEncoder::check_padding`] runs both ways.
pub const PADDING_CHECK_TEXTS: usize = 32;

/// What [`TextEncoder::check_padding`] found.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PaddingCheck {
    /// Texts compared, and the tokenizer's fixed length they were compared at.
    pub texts: usize,
    pub tokenizer_length: usize,
    /// Largest score difference, relative to the scores' scale (at least 1).
    pub max_difference: f32,
    /// Whether every text kept its predicted class.
    pub same_classes: bool,
}

/// A `tokenizer.json` on its own: its vocabulary, its length limits and the step from text to
/// token ids. It is all a text probe needs to edit and tokenize a text, so `battery preview`
/// builds text probes from it without a model; a scan wraps it in a [`TextEncoder`].
pub struct TextTokenizer {
    inner: Tokenizer,
    pub path: PathBuf,
    pub sha256: String,
    pub vocabulary: Vocabulary,
    /// Longest sequence fed, special tokens included: the model's fixed length once
    /// [`TextEncoder::new`] has read it, else the tokenizer's own fixed padding or truncation
    /// length, else [`DEFAULT_MAX_LENGTH`].
    pub max_length: usize,
    /// The tokenizer's own fixed padding length, if it asks for one.
    pub tokenizer_length: Option<usize>,
    /// The padding token, as the tokenizer declares it or by its usual names.
    pub pad_id: Option<u32>,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer").field("path", &self.path).field("max_length", &self.max_length).finish()
    }
}

/// A tokenizer checked against a model, turning texts into that model's inputs.
pub struct TextEncoder {
    pub tokenizer: TextTokenizer,
    pub padding: Padding,
    pub pad_id: u32,
    feeds: Vec<(String, Feed)>,
}

impl std::fmt::Debug for TextEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextEncoder").field("tokenizer", &self.tokenizer).field("padding", &self.padding).finish()
    }
}

/// The tokenizer a text model is scanned with: `--tokenizer`, else `tokenizer.json` beside the
/// model.
pub fn tokenizer_path(explicit: Option<&Path>, model: &Path) -> Option<PathBuf> {
    explicit.map(Path::to_path_buf).or_else(|| {
        let beside = model.parent().unwrap_or(Path::new(".")).join("tokenizer.json");
        beside.is_file().then_some(beside)
    })
}

/// Whether a model takes token ids (int64 inputs) rather than images.
pub fn is_text_model(engine: &Engine) -> bool {
    engine.signature.inputs.iter().any(|i| i.element_type == "int64")
}

impl TextTokenizer {
    /// Loads the tokenizer at `path`, with its own truncation and padding switched off (the
    /// encoder truncates and pads after the probes' token edits).
    pub fn load(path: &Path) -> Result<Self, TextError> {
        let bytes =
            std::fs::read(path).map_err(|e| TextError::Load { path: path.to_path_buf(), detail: e.to_string() })?;
        let mut tokenizer = Tokenizer::from_bytes(&bytes).map_err(|e| TextError::Load {
            path: path.to_path_buf(),
            detail: format!("not a HuggingFace tokenizer.json ({e})"),
        })?;
        let padding = tokenizer.get_padding().cloned();
        let tokenizer_length = match padding.as_ref().map(|p| &p.strategy) {
            Some(PaddingStrategy::Fixed(n)) => Some(*n),
            _ => None,
        };
        let truncation = tokenizer.get_truncation().map(|t| t.max_length);
        let max_length = tokenizer_length.or(truncation).unwrap_or(DEFAULT_MAX_LENGTH);

        let vocab = tokenizer.get_vocab(true);
        let size = vocab.values().max().map_or(0, |m| *m as usize + 1);
        let mut tokens = vec![String::new(); size];
        for (token, &id) in &vocab {
            tokens[id as usize] = token.clone();
        }
        let mut special = vec![false; size];
        for (id, added) in tokenizer.get_added_tokens_decoder() {
            if added.special && (id as usize) < size {
                special[id as usize] = true;
            }
        }
        let pad_id = padding
            .as_ref()
            .map(|p| p.pad_id)
            .or_else(|| ["[PAD]", "<pad>", "<|pad|>", "<|padding|>"].iter().find_map(|t| vocab.get(*t).copied()));
        let _ = tokenizer.with_truncation(None);
        tokenizer.with_padding(None);
        Ok(Self {
            inner: tokenizer,
            path: path.to_path_buf(),
            sha256: crate::digest::sha256_bytes(&bytes),
            vocabulary: vocabulary(tokens, special),
            max_length,
            tokenizer_length,
            pad_id,
        })
    }

    /// Characters of a text tokenized at most ([`CHARS_PER_TOKEN`] per token position).
    pub fn char_budget(&self) -> usize {
        self.max_length.saturating_mul(CHARS_PER_TOKEN)
    }

    /// `text` cut to [`TextTokenizer::char_budget`] characters: what [`TextTokenizer::encode`] reads.
    pub fn clip<'t>(&self, text: &'t str) -> &'t str {
        match text.char_indices().nth(self.char_budget()) {
            Some((end, _)) => &text[..end],
            None => text,
        }
    }

    /// Tokenizes one text (its first [`TextTokenizer::char_budget`] characters), special tokens
    /// included, neither truncated to the model's length nor padded.
    pub fn encode(&self, text: &str, index: usize) -> Result<TokenSequence, TextError> {
        let encoding = self.inner.encode(self.clip(text), true).map_err(|e| TextError::Encode {
            path: self.path.clone(),
            index,
            detail: e.to_string(),
        })?;
        let special: Vec<bool> = encoding.get_special_tokens_mask().iter().map(|&m| m == 1).collect();
        let words = encoding.get_word_ids();
        let word_start = (0..words.len())
            .map(|i| !special[i] && (i == 0 || words[i].is_none() || words[i] != words[i - 1] || special[i - 1]))
            .collect();
        Ok(TokenSequence { ids: encoding.get_ids().to_vec(), special, word_start })
    }

    /// The ids fed for `seq`: truncated to `max_length`, trailing special tokens kept.
    pub fn truncate(&self, seq: &TokenSequence) -> Vec<u32> {
        if seq.ids.len() <= self.max_length {
            return seq.ids.clone();
        }
        let trailing = seq.special.iter().rev().take_while(|s| **s).count().min(self.max_length);
        let mut out = seq.ids[..self.max_length - trailing].to_vec();
        out.extend_from_slice(&seq.ids[seq.ids.len() - trailing..]);
        out
    }
}

impl TextEncoder {
    /// Loads the tokenizer at `path` and checks it against `engine`'s model.
    pub fn new(path: &Path, engine: &Engine) -> Result<Self, TextError> {
        let mut tokenizer = TextTokenizer::load(path)?;
        let mismatch = |detail: String| TextError::Mismatch {
            tokenizer: path.to_path_buf(),
            model: engine.model_path.clone(),
            detail,
        };
        let feeds = feeds(engine).map_err(mismatch)?;
        let ids_input = feeds.iter().find(|(_, f)| *f == Feed::Ids).map(|(n, _)| n.clone()).expect("checked by feeds");

        let model_length =
            engine.signature.inputs.iter().find(|i| i.name == ids_input).and_then(|i| match i.shape.get(1) {
                Some(Dim::Fixed(n)) if *n > 0 => Some(*n as usize),
                _ => None,
            });
        let padding = match model_length {
            Some(n) => {
                tokenizer.max_length = n;
                Padding::Model { length: n }
            }
            None => Padding::Longest,
        };
        let Some(pad_id) = tokenizer.pad_id else {
            return Err(mismatch(
                "the tokenizer declares no padding (and has no [PAD] or <pad> token), so batches cannot be padded; \
                 use the tokenizer.json saved with the model (save_pretrained writes its padding token)"
                    .into(),
            ));
        };
        let size = tokenizer.vocabulary.len();
        if let Some(table) = engine.facts.lookup_tables.iter().find(|t| t.input == ids_input)
            && (size as u64) > table.rows
        {
            let highest = &tokenizer.vocabulary.tokens[size - 1];
            return Err(mismatch(format!(
                "the tokenizer has {size} token ids (up to {} = '{highest}') but the model's embedding table \
                 '{}' (indexed by '{ids_input}') has {} rows, so ids {} and above would fail or read the wrong rows; \
                 pass the tokenizer the model was trained with (--tokenizer)",
                size - 1,
                table.table,
                table.rows,
                table.rows
            )));
        }
        if tokenizer.vocabulary.control_pool.is_empty() {
            return Err(mismatch("the tokenizer has no ordinary word tokens to draw control words from".into()));
        }
        Ok(Self { tokenizer, padding, pad_id, feeds })
    }

    /// The model inputs for `sequences`: truncated to `max_length` (trailing special tokens
    /// kept) and padded on the right.
    pub fn batch(&self, sequences: &[TokenSequence]) -> Vec<(String, InputData)> {
        self.pack(sequences.iter())
    }

    /// `sequences` split into model batches of at most `size` rows, each of one length so that
    /// no row is padded (only when batches are padded to their longest; with a fixed length,
    /// consecutive rows): indices into `sequences`, shortest first, ties in order, with the
    /// batch's inputs. Which row goes with which depends only on the sequences and `size`,
    /// never on threads; a row's scores do not depend on its batch beyond float rounding, which
    /// [`TextEncoder::check_padding`] bounds before a scan.
    pub fn length_groups(&self, sequences: &[TokenSequence], size: usize) -> Vec<(Vec<usize>, Batch)> {
        let natural = self.padding == Padding::Longest;
        let fed = |i: usize| if natural { sequences[i].ids.len().min(self.tokenizer.max_length) } else { 0 };
        let mut order: Vec<usize> = (0..sequences.len()).collect();
        order.sort_by_key(|&i| (fed(i), i));
        order
            .chunk_by(|&a, &b| fed(a) == fed(b))
            .flat_map(|length| length.chunks(size.max(1)))
            .map(|group| (group.to_vec(), self.pack(group.iter().map(|&i| &sequences[i]))))
            .collect()
    }

    fn pack<'s>(&self, sequences: impl Iterator<Item = &'s TokenSequence>) -> Vec<(String, InputData)> {
        let trimmed: Vec<Vec<u32>> = sequences.map(|s| self.tokenizer.truncate(s)).collect();
        let length = match self.padding {
            Padding::Model { length } | Padding::Tokenizer { length } => length,
            Padding::Longest => trimmed.iter().map(Vec::len).max().unwrap_or(1).max(1),
        };
        let n = trimmed.len();
        let mut ids = Array2::<i64>::from_elem((n, length), i64::from(self.pad_id));
        let mut mask = Array2::<i64>::zeros((n, length));
        for (row, seq) in trimmed.iter().enumerate() {
            for (col, &id) in seq.iter().enumerate() {
                ids[[row, col]] = i64::from(id);
                mask[[row, col]] = 1;
            }
        }
        self.feeds
            .iter()
            .map(|(name, feed)| {
                let data: ArrayD<i64> = match feed {
                    Feed::Ids => ids.clone().into_dyn(),
                    Feed::Mask => mask.clone().into_dyn(),
                    Feed::TypeIds => Array2::<i64>::zeros((n, length)).into_dyn(),
                };
                (name.clone(), InputData::I64(data))
            })
            .collect()
    }

    /// When the tokenizer asks for a fixed length the model does not: runs `sample` padded to
    /// that length and to the batch's longest, and keeps natural lengths only if the scores
    /// agree within [`PADDING_TOLERANCE`] and no class changes; otherwise pads to the
    /// tokenizer's length from then on. `None` when there is nothing to check.
    pub fn check_padding(
        &mut self,
        engine: &mut Engine,
        sample: &[TokenSequence],
    ) -> Result<Option<PaddingCheck>, crate::engine::EngineError> {
        let (Padding::Longest, Some(length)) = (self.padding, self.tokenizer.tokenizer_length) else {
            return Ok(None);
        };
        if sample.is_empty() {
            return Ok(None);
        }
        let natural = engine.classify(&self.batch(sample))?;
        self.padding = Padding::Tokenizer { length };
        let fixed = engine.classify(&self.batch(sample))?;
        let scale = fixed.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let max_difference =
            natural.iter().zip(&fixed).fold(0.0f32, |m, (a, b)| if a == b { m } else { m.max((a - b).abs()) }) / scale;
        let argmax = |scores: &ndarray::Array2<f32>| -> Vec<usize> {
            scores
                .rows()
                .into_iter()
                .map(|r| r.iter().enumerate().fold(0, |best, (k, &v)| if v > r[best] { k } else { best }))
                .collect()
        };
        let same_classes = argmax(&natural) == argmax(&fixed);
        // A score finite one way and not the other is no agreement (`max` skips NaN).
        let finite_alike = natural.iter().zip(&fixed).all(|(a, b)| a.is_finite() == b.is_finite());
        if same_classes && finite_alike && max_difference <= PADDING_TOLERANCE {
            self.padding = Padding::Longest;
        }
        Ok(Some(PaddingCheck { texts: sample.len(), tokenizer_length: length, max_difference, same_classes }))
    }
}

/// Which tensor each model input gets, by its name; every input must be fillable.
fn feeds(engine: &Engine) -> Result<Vec<(String, Feed)>, String> {
    let mut out = Vec::new();
    for input in &engine.signature.inputs {
        let name = input.name.to_ascii_lowercase();
        let feed = if name.contains("mask") {
            Feed::Mask
        } else if name.contains("token_type") || name.contains("segment") {
            Feed::TypeIds
        } else if name.contains("ids") || name.contains("input") {
            Feed::Ids
        } else {
            return Err(format!(
                "the model input '{}' is none of token ids (input_ids), attention_mask or token_type_ids, so the \
                 tokenizer cannot fill it",
                input.name
            ));
        };
        if input.element_type != "int64" {
            return Err(format!(
                "the model input '{}' is {}, but token inputs must be int64",
                input.name, input.element_type
            ));
        }
        if input.shape.len() != 2 {
            return Err(format!(
                "the model input '{}' has shape {}, but token inputs are [batch, sequence]",
                input.name,
                input.shape_string()
            ));
        }
        out.push((input.name.clone(), feed));
    }
    if out.iter().filter(|(_, f)| *f == Feed::Ids).count() != 1 {
        let names: Vec<&str> = out.iter().map(|(n, _)| n.as_str()).collect();
        return Err(format!("expected exactly one token-id input (e.g. input_ids) among {}", names.join(", ")));
    }
    Ok(out)
}

/// The vocabulary as transforms see it, with word starts told from continuation pieces by the
/// tokenizer family's marker: WordPiece prefixes continuations with `##`; byte-level BPE
/// (`Ġ`) and SentencePiece (`▁`) mark word starts instead.
fn vocabulary(tokens: Vec<String>, special: Vec<bool>) -> Vocabulary {
    let count = |p: &str| tokens.iter().filter(|t| t.starts_with(p)).count();
    let (hashes, g, underline) = (count("##"), count("Ġ"), count("▁"));
    let continuation: Vec<bool> = tokens
        .iter()
        .zip(&special)
        .map(|(t, &s)| {
            !s && if hashes >= g.max(underline) && hashes > 0 {
                t.starts_with("##")
            } else if g > underline {
                !t.starts_with('Ġ')
            } else if underline > 0 {
                !t.starts_with('▁')
            } else {
                false
            }
        })
        .collect();
    let control_pool = (0..tokens.len())
        .filter(|&i| !special[i] && !continuation[i] && !tokens[i].is_empty())
        .filter(|&i| tokens[i].chars().filter(|c| c.is_alphabetic()).count() >= 2)
        .map(|i| i as u32)
        .collect();
    Vocabulary { tokens, special, continuation, control_pool }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(tokens: &[&str]) -> Vec<String> {
        tokens.iter().map(|t| t.to_string()).collect()
    }

    #[test]
    fn word_starts_are_told_apart_by_the_tokenizer_family() {
        // WordPiece: continuations carry `##`.
        let v = vocabulary(words(&["[PAD]", "movie", "##s", "cf", "a"]), vec![true, false, false, false, false]);
        assert_eq!(v.continuation, vec![false, false, true, false, false]);
        // Controls are ordinary whole words with at least two letters.
        assert_eq!(v.control_pool, vec![1, 3]);
        // Byte-level BPE: `Ġ` marks a word start, everything else continues a word.
        let v = vocabulary(words(&["<pad>", "Ġmovie", "s", "Ġcf", "Ġthe"]), vec![true, false, false, false, false]);
        assert_eq!(v.continuation, vec![false, false, true, false, false]);
        // SentencePiece: `▁` marks a word start.
        let v = vocabulary(words(&["<pad>", "▁movie", "s", "▁cf"]), vec![true, false, false, false]);
        assert_eq!(v.continuation, vec![false, false, true, false]);
    }
}
