//! Text transforms: one file per transform behind [`TextTransform`], built from a validated
//! [`TransformSpec`] by [`build`] — the single registration point for text.
//!
//! A text probe edits each sample in two places: the raw string before tokenization
//! ([`TextTransform::edit_text`]: inserted words and sentences, homoglyphs, invisible
//! characters, typos, word order) and the token ids after it ([`TextTransform::edit_tokens`]:
//! single vocabulary tokens, including sub-word pieces and special tokens that no raw string
//! produces). The runner tokenizes between the two and truncates and pads afterwards, so an
//! edit never has to know the model's sequence length.
//!
//! Randomness comes only from the [`TextContext`]'s generators, derived from (seed, probe id,
//! sample index) as for images: results do not depend on thread scheduling, batch size or order.
//! A trigger transform's [`TextTransform::control`] edits the same places (the placement draw is
//! shared) with benign content drawn per sample from [`Vocabulary::control_pool`].

use rand_chacha::ChaCha8Rng;

use super::TransformError;
use crate::battery::spec::TransformSpec;

/// The tokenizer's vocabulary as transforms and the vocabulary sweep see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vocabulary {
    /// Token strings by id (`tokens[id]`), as the tokenizer spells them (e.g. `##ing`).
    pub tokens: Vec<String>,
    /// Whether each id is a special token (`[CLS]`, `[PAD]`, …).
    pub special: Vec<bool>,
    /// Whether each id is a continuation piece (`##ing`) rather than the start of a word.
    pub continuation: Vec<bool>,
    /// Ordinary whole-word tokens with at least one letter, in id order: the benign content of
    /// controls (a random word where the trigger puts its word).
    pub control_pool: Vec<u32>,
}

impl Vocabulary {
    /// The id of `token`, spelled as in the vocabulary.
    pub fn id(&self, token: &str) -> Option<u32> {
        self.tokens.iter().position(|t| t == token).map(|i| i as u32)
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }
}

/// One tokenized sample before truncation and padding: the ids with the tokenizer's special
/// tokens (e.g. `[CLS] … [SEP]`) in place.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenSequence {
    pub ids: Vec<u32>,
    /// Whether each position holds a special token added by the tokenizer (never edited).
    pub special: Vec<bool>,
    /// Whether each position starts a word (false for continuation pieces).
    pub word_start: Vec<bool>,
}

impl TokenSequence {
    /// Positions where a whole token can be inserted without splitting a word: before every
    /// word-starting content token and right after the last content token. Never before the
    /// leading special tokens nor after the trailing ones.
    pub fn boundaries(&self) -> Vec<usize> {
        let Some(first) = self.special.iter().position(|s| !s) else {
            // Only special tokens (an empty text): which of them lead and which trail is not
            // recorded; the middle is right for the usual pairs (`[CLS] [SEP]`, `<s> </s>`).
            return vec![self.special.len() / 2];
        };
        let end = self.special.iter().rposition(|s| !s).map_or(first, |last| last + 1);
        let mut out: Vec<usize> = (first..end).filter(|&i| self.word_start[i]).collect();
        out.push(end);
        out
    }

    /// Inserts `id` as an ordinary word-starting token at `at`.
    pub fn insert(&mut self, at: usize, id: u32) {
        self.ids.insert(at, id);
        self.special.insert(at, false);
        self.word_start.insert(at, true);
    }
}

/// The randomness and context one sample is transformed with.
pub struct TextContext<'a> {
    /// Drawn for content: differs between a probe and its control.
    pub rng: &'a mut ChaCha8Rng,
    /// Drawn for placement: shared by a probe and its control, so the control edits the same
    /// places.
    pub placement_rng: &'a mut ChaCha8Rng,
    pub vocabulary: &'a Vocabulary,
}

/// A transform of one text sample.
pub trait TextTransform: Send + Sync {
    /// Edits the raw text before tokenization (default: unchanged).
    fn edit_text(&self, _text: &mut String, _ctx: &mut TextContext<'_>) {}

    /// Edits the token ids after tokenization (default: unchanged).
    fn edit_tokens(&self, _tokens: &mut TokenSequence, _ctx: &mut TextContext<'_>) {}

    /// The matched control of a trigger probe: the same places and amount of change with
    /// benign content. `None` for robustness perturbations.
    fn control(&self) -> Option<Box<dyn TextTransform>>;
}

/// Builds the text transform a probe declares, for this tokenizer's vocabulary. Everything
/// checkable once is checked here (a token missing from the vocabulary, parameter domains), so
/// that applying the transform cannot fail.
pub fn build(spec: &TransformSpec, _vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    Err(TransformError::Invalid(format!("`{}` is not a text transform", spec.kind())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_of_an_empty_text_lie_between_its_special_tokens() {
        let only_special = TokenSequence { ids: vec![101, 102], special: vec![true, true], word_start: vec![false; 2] };
        assert_eq!(only_special.boundaries(), [1]);
        assert_eq!(TokenSequence::default().boundaries(), [0]);
    }
}
