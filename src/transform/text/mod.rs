//! Text transforms: one file per transform behind [`TextTransform`], built from a validated
//! [`TransformSpec`] by [`build`] through the kind's descriptor in [`super::registry`].
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
//!
//! Within a transform the two generators have fixed roles: `placement_rng` decides *where*
//! (which boundary, which letters, which words) and `rng` decides *what* (which control word,
//! which invisible character, which typo). For a trigger this is what makes its control edit the
//! same places; robustness transforms keep the same split so every file reads alike.
//!
//! Trigger transforms (`insert_text.rs`, `insert_token.rs`, `homoglyph.rs`, `invisible.rs`) have
//! a matched control; robustness perturbations (`typo.rs`, `word_swap.rs`) do not. Each file also
//! declares its kind's descriptor (`KIND`); adding a transform means one new file, its spec
//! variant and one line in [`super::registry::KINDS`].

pub(super) mod homoglyph;
pub(super) mod insert_text;
pub(super) mod insert_token;
pub(super) mod invisible;
#[cfg(test)]
mod testing;
pub(super) mod typo;
pub(super) mod word_swap;

use std::ops::Range;

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::TransformError;
use super::registry::{self, Build};
use crate::battery::diagnostics::UNIT_NONZERO;
use crate::battery::spec::{TextPosition, TransformSpec};
use crate::battery::validate::{Checker, Fields};
pub use insert_token::InsertTokens;
pub(crate) use typo::slip;

/// The tokenizer's vocabulary as transforms and the vocabulary sweep see it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Vocabulary {
    /// Token strings by id (`tokens[id]`), as the tokenizer spells them (e.g. `##ing`).
    pub tokens: Vec<String>,
    /// Whether each id is a special token (`[CLS]`, `[PAD]`, …).
    pub special: Vec<bool>,
    /// Whether each id is a continuation piece (`##ing`) rather than the start of a word.
    pub continuation: Vec<bool>,
    /// Ordinary whole-word tokens with at least two letters, in id order: the benign content of
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

    /// Inserts the pieces of one word (`tara ##nt ##ula`) contiguously at `at`: the first
    /// starts a word, the others continue it, so no later insertion lands inside it. One piece
    /// is [`TokenSequence::insert`].
    pub fn insert_word(&mut self, at: usize, pieces: &[u32]) {
        for (k, &id) in pieces.iter().enumerate() {
            self.insert(at + k, id);
            self.word_start[at + k] = k == 0;
        }
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
    /// The sample's data index: a transform made for particular inputs (an attack's
    /// adversarial texts) looks its input up by it.
    pub index: usize,
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
///
/// The trigger kinds that draw their control's content from [`Vocabulary::control_pool`]
/// (`insert-text`, `insert-token`) refuse a vocabulary whose pool is empty: a control that
/// inserted nothing would not be matched, and every effective insertion would look like a
/// trigger.
pub fn build(spec: &TransformSpec, vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    match registry::of(spec).map(|kind| &kind.build) {
        Some(Build::Text(build)) => build(spec, vocabulary),
        Some(Build::Image(_)) => {
            Err(TransformError::Invalid(format!("`{}` is an image transform, not a text one", spec.kind())))
        }
        Some(Build::Tabular(_)) => {
            Err(TransformError::Invalid(format!("`{}` is a tabular transform, not a text one", spec.kind())))
        }
        None => Err(super::not_a_transform(spec)),
    }
}

const TEXT_POSITIONS: &[(&str, TextPosition)] =
    &[("start", TextPosition::Start), ("end", TextPosition::End), ("random", TextPosition::Random)];

/// `position:` of a text transform: start, end or random (the default).
fn validate_position(c: &mut Checker, fields: &Fields<'_>) -> Option<TextPosition> {
    fields
        .get("position")
        .map_or(Some(TextPosition::Random), |n| c.choice(n, &fields.label("position"), TEXT_POSITIONS))
}

/// `rate:` (required) of a text transform: the share of letters or words it edits.
fn validate_rate(c: &mut Checker, fields: &Fields<'_>) -> Option<f32> {
    c.required(fields, "rate").and_then(|n| c.number_in(n, &fields.label("rate"), UNIT_NONZERO)).map(|r| r as f32)
}

fn needs_control_pool(kind: &str, vocabulary: &Vocabulary) -> Result<(), TransformError> {
    if vocabulary.control_pool.is_empty() {
        return Err(TransformError::Invalid(format!(
            "`{kind}` needs ordinary whole-word tokens to build its matched control from, but the tokenizer's \
             vocabulary ({} tokens) has none",
            vocabulary.len()
        )));
    }
    Ok(())
}

/// Fails unless `rate` is a probability, naming the transform.
fn rate(kind: &str, rate: f32) -> Result<f64, TransformError> {
    if (0.0..=1.0).contains(&rate) {
        Ok(f64::from(rate))
    } else {
        Err(TransformError::Invalid(format!("{kind} `rate` must be in [0, 1], got {rate}")))
    }
}

/// True with probability `rate`. Drawn as one uniform in `[0, 1)`, so a rate of 0 never fires, a
/// rate of 1 always does, and each call costs the generator the same whatever the rate.
fn chance(rng: &mut ChaCha8Rng, rate: f64) -> bool {
    rng.random::<f64>() < rate
}

/// Which of `places` (at least one, in text order) a `position` picks: the first, the last, or
/// one drawn uniformly from `placement_rng` (drawn only for `random`).
fn pick(position: TextPosition, places: usize, placement_rng: &mut ChaCha8Rng) -> usize {
    match position {
        TextPosition::Start => 0,
        TextPosition::End => places.saturating_sub(1),
        TextPosition::Random => placement_rng.random_range(0..places.max(1)),
    }
}

/// A benign whole-word token for a control, drawn from `rng`; `None` when the pool is empty (only
/// reachable through a transform built without [`build`]'s check).
fn control_token(rng: &mut ChaCha8Rng, vocabulary: &Vocabulary) -> Option<u32> {
    let pool = &vocabulary.control_pool;
    (!pool.is_empty()).then(|| pool[rng.random_range(0..pool.len())])
}

/// Byte ranges of the words of `text`: maximal runs of non-whitespace characters.
pub(crate) fn word_spans(text: &str) -> Vec<Range<usize>> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (false, None) => start = Some(i),
            (true, Some(s)) => {
                spans.push(s..i);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push(s..text.len());
    }
    spans
}

/// Rebuilds `text` with each word replaced by `words[i]`, the whitespace between them kept as it
/// was; `spans` are `text`'s [`word_spans`], one per entry of `words`.
pub(crate) fn replace_words(text: &str, spans: &[Range<usize>], words: &[String]) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut at = 0;
    for (span, word) in spans.iter().zip(words) {
        out.push_str(&text[at..span.start]);
        out.push_str(word);
        at = span.end;
    }
    out.push_str(&text[at..]);
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::testing::{CLS, SEP, TOKENS, edit_text, edit_tokens, sequence, vocabulary};
    use super::*;
    use crate::battery::spec::InvisibleSet;
    use crate::transform::Stream;

    fn position() -> impl Strategy<Value = TextPosition> {
        prop_oneof![Just(TextPosition::Start), Just(TextPosition::End), Just(TextPosition::Random)]
    }

    /// Any valid text spec (parameters within what battery validation admits, rates from 0).
    fn spec() -> impl Strategy<Value = TransformSpec> {
        let token = proptest::sample::select(TOKENS.to_vec()).prop_map(String::from);
        let set = prop_oneof![Just(InvisibleSet::ZeroWidth), Just(InvisibleSet::Bidi)];
        prop_oneof![
            ("\\PC*\\S\\PC*", position()).prop_map(|(text, position)| TransformSpec::InsertText { text, position }),
            (token, position()).prop_map(|(token, position)| TransformSpec::InsertToken { token, position }),
            (0.0f32..=1.0).prop_map(|rate| TransformSpec::Homoglyph { rate }),
            (set, 1u32..=64, position()).prop_map(|(characters, count, position)| TransformSpec::Invisible {
                characters,
                count,
                position
            }),
            (0.0f32..=1.0).prop_map(|rate| TransformSpec::Typo { rate }),
            (0.0f32..=1.0).prop_map(|rate| TransformSpec::WordSwap { rate }),
        ]
    }

    /// Any text: empty, whitespace runs, non-ASCII, control characters.
    fn text() -> impl Strategy<Value = String> {
        prop_oneof![Just(String::new()), "[ \t\n]{0,4}", "[a-zA-Z ,.!]{0,40}", "\\PC{0,30}", ".{0,30}"]
    }

    /// Token sequences: none at all, only special tokens, or `[CLS] … [SEP]` around ids of the
    /// test vocabulary (continuation pieces included).
    fn tokens() -> impl Strategy<Value = TokenSequence> {
        prop_oneof![
            Just(TokenSequence::default()),
            Just(sequence(&[])),
            proptest::collection::vec(3u32..TOKENS.len() as u32, 0..12).prop_map(|ids| sequence(&ids)),
        ]
    }

    proptest! {
        #[test]
        fn every_transform_and_control_is_total_and_deterministic(
            spec in spec(), text in text(), tokens in tokens(), sample in 0u64..4,
        ) {
            let transform = build(&spec, &vocabulary()).map_err(|e| TestCaseError::fail(format!("{spec:?}: {e}")))?;
            let control = transform.control();
            let mut runs = vec![(transform.as_ref(), Stream::Probe)];
            runs.extend(control.as_deref().map(|c| (c, Stream::Control)));
            for (t, stream) in runs {
                let out = edit_text(t, &text, sample, stream);
                prop_assert_eq!(&out, &edit_text(t, &text, sample, stream));
                let out = edit_tokens(t, &tokens, sample, stream);
                prop_assert_eq!(&out, &edit_tokens(t, &tokens, sample, stream));
                prop_assert_eq!(out.ids.len(), out.special.len());
                prop_assert_eq!(out.ids.len(), out.word_start.len());
            }
        }

        #[test]
        fn insert_text_at_the_start_leads_the_text(inserted in "\\PC*\\S\\PC*", text in text()) {
            let spec = TransformSpec::InsertText { text: inserted.clone(), position: TextPosition::Start };
            let out = edit_text(build(&spec, &vocabulary()).unwrap().as_ref(), &text, 0, Stream::Probe);
            prop_assert!(out.starts_with(inserted.trim()), "{:?}", out);
            prop_assert!(out.ends_with(&text));
        }

        #[test]
        fn homoglyph_at_rate_zero_is_the_identity(text in text()) {
            let t = build(&TransformSpec::Homoglyph { rate: 0.0 }, &vocabulary()).unwrap();
            prop_assert_eq!(edit_text(t.as_ref(), &text, 0, Stream::Probe), text.clone());
            prop_assert_eq!(edit_text(t.control().unwrap().as_ref(), &text, 0, Stream::Control), text);
        }

        #[test]
        fn word_swap_keeps_the_multiset_of_words(text in text(), rate in 0.0f32..=1.0, sample in 0u64..4) {
            let t = build(&TransformSpec::WordSwap { rate }, &vocabulary()).unwrap();
            let out = edit_text(t.as_ref(), &text, sample, Stream::Probe);
            let mut before: Vec<&str> = text.split_whitespace().collect();
            let mut after: Vec<&str> = out.split_whitespace().collect();
            before.sort_unstable();
            after.sort_unstable();
            prop_assert_eq!(before, after);
        }

        #[test]
        fn invisible_inserts_exactly_count_characters(
            text in text(), count in 1u32..=64, position in position(), bidi in any::<bool>(),
        ) {
            let characters = if bidi { InvisibleSet::Bidi } else { InvisibleSet::ZeroWidth };
            let t = build(&TransformSpec::Invisible { characters, count, position }, &vocabulary()).unwrap();
            for (t, stream) in [(t.as_ref(), Stream::Probe), (t.control().unwrap().as_ref(), Stream::Control)] {
                let out = edit_text(t, &text, 0, stream);
                prop_assert_eq!(out.chars().count(), text.chars().count() + count as usize);
            }
        }

        #[test]
        fn insert_token_adds_one_ordinary_token_between_the_special_ones(
            tokens in tokens(), position in position(), sample in 0u64..4,
        ) {
            let t = build(&TransformSpec::InsertToken { token: "cf".into(), position }, &vocabulary()).unwrap();
            let out = edit_tokens(t.as_ref(), &tokens, sample, Stream::Probe);
            prop_assert_eq!(out.ids.len(), tokens.ids.len() + 1);
            let at = out.ids.iter().position(|&id| vocabulary().tokens[id as usize] == "cf").unwrap();
            prop_assert!(!out.special[at] && out.word_start[at]);
            if let Some(&first) = tokens.ids.first() {
                prop_assert_eq!(out.ids.first(), Some(&first));
                prop_assert_eq!(out.ids.last(), tokens.ids.last());
                prop_assert!(first == CLS && tokens.ids.last() == Some(&SEP));
            }
        }
    }

    #[test]
    fn boundaries_are_word_starts_and_the_end_inside_the_special_tokens() {
        // [CLS] the movie ##ing good [SEP]
        assert_eq!(sequence(&[4, 5, 11, 7]).boundaries(), [1, 2, 4, 5]);
        assert_eq!(TokenSequence::default().boundaries(), [0]);
        // An empty text: between [CLS] and [SEP], not after [SEP].
        assert_eq!(sequence(&[]).boundaries(), [1]);
    }

    #[test]
    fn build_refuses_image_transforms_and_searches() {
        let blur = TransformSpec::Blur { sigma: 1.0 };
        assert!(build(&blur, &vocabulary()).err().unwrap().to_string().contains("`blur` is an image transform"));
        let search = TransformSpec::Search(crate::battery::spec::SearchSpec::Vocabulary {
            tokens: vec![],
            pairs: 0,
            budget: 1000,
            words: None,
            positions: vec![],
            inputs: Default::default(),
        });
        assert!(build(&search, &vocabulary()).is_err());
    }

    #[test]
    fn only_the_trigger_kinds_have_a_control() {
        // What each kind's descriptor declares (and validation allows as a trigger) is what its
        // built transform does.
        let with_control = |spec: TransformSpec| {
            let has = build(&spec, &vocabulary()).unwrap().control().is_some();
            assert_eq!(registry::of(&spec).map(|kind| kind.has_control), Some(has), "{}", spec.kind());
            has
        };
        let p = TextPosition::Random;
        assert!(with_control(TransformSpec::InsertText { text: "cf".into(), position: p }));
        assert!(with_control(TransformSpec::InsertToken { token: "cf".into(), position: p }));
        assert!(with_control(TransformSpec::Homoglyph { rate: 0.1 }));
        assert!(with_control(TransformSpec::Invisible { characters: InvisibleSet::ZeroWidth, count: 1, position: p }));
        assert!(!with_control(TransformSpec::Typo { rate: 0.1 }));
        assert!(!with_control(TransformSpec::WordSwap { rate: 0.1 }));
    }
}
