//! Inserted vocabulary tokens, a trigger: token ids put into the tokenized sample at word
//! boundaries ([`TokenSequence::boundaries`]), after tokenization. This reaches what no raw
//! string produces — a lone continuation piece (`##ing`), a special token (`[MASK]`) — and is
//! the one insertion the vocabulary sweep (`search/`) reuses for single tokens and pairs.
//!
//! The matched control inserts as many tokens, each drawn per sample from
//! [`super::Vocabulary::control_pool`], at the same boundaries.

use super::{TextContext, TextTransform, TokenSequence, control_token, pick};
use super::{Vocabulary, needs_control_pool, validate_position};
use crate::battery::diagnostics::Code;
use crate::battery::spec::{TextPosition, TransformSpec};
use crate::battery::validate::{Checker, Fields};
use crate::battery::yaml::{Node, Spanned, position};
use crate::transform::TransformError;
use crate::transform::registry::{Build, TransformKind};

/// Inserts one or more token ids (or words of several pieces, each kept contiguous) into a
/// tokenized sample: for `start` and `end`, one after the other before the first word or after
/// the last; for `random`, each at its own boundary drawn per sample.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsertTokens {
    tokens: Tokens,
    position: TextPosition,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tokens {
    /// The trigger's words, each one or more piece ids inserted contiguously.
    Fixed(Vec<Vec<u32>>),
    /// The control: this many ids (one word each) drawn from the control pool per sample.
    Pool(usize),
}

impl InsertTokens {
    /// Inserts `ids` (vocabulary ids; not checked here, since the caller got them from the
    /// vocabulary) at `position`. Its control draws its tokens from the context's
    /// [`super::Vocabulary::control_pool`] and inserts nothing when that is empty.
    pub fn new(ids: Vec<u32>, position: TextPosition) -> Self {
        Self::words(ids.into_iter().map(|id| vec![id]).collect(), position)
    }

    /// Inserts `words`, each the piece ids of one word (`tara ##nt ##ula`) kept together, at
    /// `position`. Its control inserts one pool word per word, so both change the sequence's
    /// word boundaries alike and land in the same places.
    pub fn words(words: Vec<Vec<u32>>, position: TextPosition) -> Self {
        Self { tokens: Tokens::Fixed(words), position }
    }
}

impl TextTransform for InsertTokens {
    fn edit_tokens(&self, tokens: &mut TokenSequence, ctx: &mut TextContext<'_>) {
        let count = match &self.tokens {
            Tokens::Fixed(ids) => ids.len(),
            Tokens::Pool(count) => *count,
        };
        let mut at = None;
        for i in 0..count {
            // The placement draws depend only on the sequence's shape, which probe and control
            // change alike (each inserts word-starting tokens), so both land in the same places.
            let place = match self.position {
                TextPosition::Random => None,
                // One after the other, so a pair reads in order.
                TextPosition::Start | TextPosition::End => at.map(|a: usize| a + 1),
            };
            let place = place.unwrap_or_else(|| {
                let boundaries = tokens.boundaries();
                boundaries[pick(self.position, boundaries.len(), ctx.placement_rng)]
            });
            let drawn;
            let pieces: &[u32] = match &self.tokens {
                Tokens::Fixed(words) => &words[i],
                // An empty pool (refused by `build`) inserts nothing rather than panic.
                Tokens::Pool(_) => match control_token(ctx.rng, ctx.vocabulary) {
                    Some(id) => {
                        drawn = [id];
                        &drawn
                    }
                    None => return,
                },
            };
            tokens.insert_word(place, pieces);
            // The next word of a pair goes after this one's last piece.
            at = Some(place + pieces.len().saturating_sub(1));
        }
    }

    fn control(&self) -> Option<Box<dyn TextTransform>> {
        match &self.tokens {
            Tokens::Fixed(ids) => Some(Box::new(Self { tokens: Tokens::Pool(ids.len()), position: self.position })),
            Tokens::Pool(_) => None,
        }
    }
}

/// `kind: insert-token`: a trigger with a matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "insert-token",
    has_control: true,
    keys: &["kind", "token", "position"],
    validate,
    build: Build::Text(build),
};

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let token = c.required(fields, "token").and_then(|n| token(c, n, &fields.label("token")));
    let position = validate_position(c, fields);
    Some(TransformSpec::InsertToken { token: token?, position: position? })
}

/// The token `insert-token` inserts, spelled as in the tokenizer's vocabulary. Whether the
/// vocabulary has it is known only with the model, so that is checked when the scan starts.
fn token(c: &mut Checker, node: &Spanned<Node>, label: &str) -> Option<String> {
    let token = c.string(node, label)?;
    if token.is_empty() {
        let hint = Some("spell the token as the tokenizer's vocabulary does, e.g. `cf` or `##ing`".into());
        c.report(Code::BadValue, position(node), format!("{label} must not be empty"), hint);
        return None;
    }
    Some(token.to_string())
}

fn build(spec: &TransformSpec, vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    let TransformSpec::InsertToken { token, position } = spec else {
        return Err(crate::transform::mismatched(KIND.name, spec));
    };
    let Some(id) = vocabulary.id(token) else {
        return Err(TransformError::Invalid(format!(
            "token `{token}` is not in the tokenizer's vocabulary ({} tokens); spell it as the vocabulary does \
             (e.g. `##ing` for a WordPiece continuation)",
            vocabulary.len()
        )));
    };
    needs_control_pool(KIND.name, vocabulary)?;
    Ok(Box::new(InsertTokens::new(vec![id], *position)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::Stream;
    use crate::transform::text::testing::{CLS, SEP, edit_tokens, sequence, vocabulary};
    use crate::transform::text::{Vocabulary, build};

    // Ids in the test vocabulary.
    const THE: u32 = 4;
    const MOVIE: u32 = 5;
    const GOOD: u32 = 7;
    const CF: u32 = 9;
    const MN: u32 = 10;
    const ING: u32 = 11;

    fn token(token: &str, position: TextPosition) -> Box<dyn TextTransform> {
        build(&TransformSpec::InsertToken { token: token.into(), position }, &vocabulary()).unwrap()
    }

    #[test]
    fn build_looks_the_token_up_and_names_a_missing_one() {
        let t = token("cf", TextPosition::Start);
        assert_eq!(edit_tokens(t.as_ref(), &sequence(&[THE, MOVIE]), 0, Stream::Probe).ids, [CLS, CF, THE, MOVIE, SEP]);
        let spec = TransformSpec::InsertToken { token: "zz".into(), position: TextPosition::Start };
        let error = build(&spec, &vocabulary()).err().expect("zz is not in the vocabulary").to_string();
        assert!(error.starts_with("token `zz` is not in the tokenizer's vocabulary (13 tokens)"), "{error}");
        let empty = Vocabulary { control_pool: Vec::new(), ..vocabulary() };
        let spec = TransformSpec::InsertToken { token: "cf".into(), position: TextPosition::Start };
        assert!(build(&spec, &empty).is_err());
    }

    #[test]
    fn start_and_end_stay_inside_the_special_tokens_and_keep_the_order() {
        let text = sequence(&[THE, MOVIE, ING, GOOD]);
        let pair = InsertTokens::new(vec![CF, MN], TextPosition::Start);
        let out = edit_tokens(&pair, &text, 0, Stream::Probe);
        assert_eq!(out.ids, [CLS, CF, MN, THE, MOVIE, ING, GOOD, SEP]);
        assert_eq!(out.special, [true, false, false, false, false, false, false, true]);
        assert_eq!(out.word_start[1..3], [true, true]);
        let pair = InsertTokens::new(vec![CF, MN], TextPosition::End);
        assert_eq!(edit_tokens(&pair, &text, 0, Stream::Probe).ids, [CLS, THE, MOVIE, ING, GOOD, CF, MN, SEP]);
        // Nothing but the special tokens (an empty text): still between them.
        assert_eq!(edit_tokens(&pair, &sequence(&[]), 0, Stream::Probe).ids, [CLS, CF, MN, SEP]);
        // No tokens at all.
        assert_eq!(edit_tokens(&pair, &TokenSequence::default(), 0, Stream::Probe).ids, [CF, MN]);
    }

    #[test]
    fn random_never_splits_a_word_and_varies_per_sample() {
        let text = sequence(&[THE, MOVIE, ING, GOOD]);
        let t = token("cf", TextPosition::Random);
        let mut places = std::collections::BTreeSet::new();
        for sample in 0..40 {
            let out = edit_tokens(t.as_ref(), &text, sample, Stream::Probe);
            let at = out.ids.iter().position(|&id| id == CF).unwrap();
            assert!([1, 2, 4, 5].contains(&at), "sample {sample}: {:?}", out.ids);
            places.insert(at);
        }
        assert_eq!(places.len(), 4);
    }

    #[test]
    fn the_control_inserts_pool_tokens_at_the_same_boundaries() {
        let text = sequence(&[THE, MOVIE, ING, GOOD, THE]);
        let pair = InsertTokens::new(vec![CF, MN], TextPosition::Random);
        let control = pair.control().expect("a control");
        let pool = vocabulary().control_pool;
        for sample in 0..20 {
            let probe = edit_tokens(&pair, &text, sample, Stream::Probe);
            let controlled = edit_tokens(control.as_ref(), &text, sample, Stream::Control);
            assert_eq!(probe.ids.len(), controlled.ids.len());
            assert_eq!(probe.word_start, controlled.word_start);
            for (i, (p, c)) in probe.ids.iter().zip(&controlled.ids).enumerate() {
                if *p == CF || *p == MN {
                    assert!(pool.contains(c), "sample {sample} at {i}: {controlled:?}");
                } else {
                    assert_eq!(p, c, "sample {sample} at {i}");
                }
            }
        }
        assert!(control.control().is_none());
    }

    #[test]
    fn a_word_of_several_pieces_stays_whole_and_its_control_is_one_word_at_the_same_place() {
        let text = sequence(&[THE, MOVIE, GOOD, THE]);
        let word = InsertTokens::words(vec![vec![CF, ING, ING]], TextPosition::Random);
        let control = word.control().expect("a control");
        for sample in 0..20 {
            let out = edit_tokens(&word, &text, sample, Stream::Probe);
            let at = out.ids.iter().position(|&id| id == CF).unwrap();
            assert_eq!(out.ids[at..at + 3], [CF, ING, ING], "sample {sample}");
            assert_eq!(out.word_start[at..at + 3], [true, false, false], "sample {sample}");
            let controlled = edit_tokens(control.as_ref(), &text, sample, Stream::Control);
            assert_eq!(controlled.ids.len(), text.ids.len() + 1);
            assert!(vocabulary().control_pool.contains(&controlled.ids[at]), "sample {sample}: {controlled:?}");
        }
        // At the start, a second word follows the first one's last piece.
        let pair = InsertTokens::words(vec![vec![CF, ING], vec![MN]], TextPosition::Start);
        assert_eq!(edit_tokens(&pair, &text, 0, Stream::Probe).ids, [CLS, CF, ING, MN, THE, MOVIE, GOOD, THE, SEP]);
        // One-piece words are `new`.
        assert_eq!(
            InsertTokens::words(vec![vec![CF]], TextPosition::End),
            InsertTokens::new(vec![CF], TextPosition::End)
        );
    }

    #[test]
    fn a_control_with_an_empty_pool_inserts_nothing() {
        let control = InsertTokens::new(vec![CF], TextPosition::End).control().unwrap();
        let empty = Vocabulary::default();
        let mut rng = crate::transform::sample_rng(1, "p", 0, Stream::Control);
        let mut placement_rng = crate::transform::sample_rng(1, "p", 0, Stream::Placement);
        let mut ctx = TextContext { rng: &mut rng, placement_rng: &mut placement_rng, vocabulary: &empty, index: 0 };
        let mut tokens = sequence(&[THE]);
        control.edit_tokens(&mut tokens, &mut ctx);
        assert_eq!(tokens, sequence(&[THE]));
    }
}
