//! Helpers for the text transform tests: a small WordPiece-like vocabulary, tokenizing by
//! whole words against it, and running a transform on one sample with the generators the runner
//! would derive.

use super::{TextContext, TextTransform, TokenSequence, Vocabulary};
use crate::transform::{Stream, sample_rng};

/// Base seed and probe id the tests derive sample generators from.
const SEED: u64 = 7;
const PROBE: &str = "test-text-probe";

/// Ids 0..=3 are special, 4.. ordinary words, then two continuation pieces.
pub(super) const TOKENS: &[&str] =
    &["[PAD]", "[CLS]", "[SEP]", "[UNK]", "the", "movie", "was", "good", "bad", "cf", "mn", "##ing", "##s"];
pub(super) const CLS: u32 = 1;
pub(super) const SEP: u32 = 2;

pub(super) fn vocabulary() -> Vocabulary {
    let special: Vec<bool> = TOKENS.iter().map(|t| t.starts_with('[')).collect();
    let continuation: Vec<bool> = TOKENS.iter().map(|t| t.starts_with("##")).collect();
    // The benign words: ordinary whole words, not the `cf`/`mn` a trigger test inserts.
    let control_pool = (4..=8).collect();
    Vocabulary { tokens: TOKENS.iter().map(|t| t.to_string()).collect(), special, continuation, control_pool }
}

/// `[CLS] ids… [SEP]`, each id a word start unless it is a continuation piece.
pub(super) fn sequence(ids: &[u32]) -> TokenSequence {
    let vocabulary = vocabulary();
    let mut tokens = TokenSequence { ids: vec![CLS], special: vec![true], word_start: vec![false] };
    for &id in ids {
        tokens.ids.push(id);
        tokens.special.push(false);
        tokens.word_start.push(!vocabulary.continuation[id as usize]);
    }
    tokens.ids.push(SEP);
    tokens.special.push(true);
    tokens.word_start.push(false);
    tokens
}

/// Runs `f` with sample `sample`'s generators for the probe (`Stream::Probe`) or its control
/// (`Stream::Control`); both draw placement from the same `Stream::Placement`.
fn with_context<T>(sample: u64, stream: Stream, f: impl FnOnce(&mut TextContext<'_>) -> T) -> T {
    let vocabulary = vocabulary();
    let mut rng = sample_rng(SEED, PROBE, sample, stream);
    let mut placement_rng = sample_rng(SEED, PROBE, sample, Stream::Placement);
    let mut ctx = TextContext {
        rng: &mut rng,
        placement_rng: &mut placement_rng,
        vocabulary: &vocabulary,
        index: sample as usize,
    };
    f(&mut ctx)
}

/// `text` after `transform`'s text edit as sample `sample` of `stream`.
pub(super) fn edit_text(transform: &dyn TextTransform, text: &str, sample: u64, stream: Stream) -> String {
    let mut out = text.to_string();
    with_context(sample, stream, |ctx| transform.edit_text(&mut out, ctx));
    out
}

/// `tokens` after `transform`'s token edit as sample `sample` of `stream`.
pub(super) fn edit_tokens(
    transform: &dyn TextTransform,
    tokens: &TokenSequence,
    sample: u64,
    stream: Stream,
) -> TokenSequence {
    let mut out = tokens.clone();
    with_context(sample, stream, |ctx| transform.edit_tokens(&mut out, ctx));
    out
}
