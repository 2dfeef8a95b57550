//! Inserted text, a trigger: a word, phrase or sentence put into the raw text before
//! tokenization — at its start, its end, or before a word drawn per sample — separated from its
//! neighbours by single spaces. This is how most published text backdoors are planted (rare
//! words such as `cf` or `mn`, fixed sentences).
//!
//! The matched control inserts as many words, each an ordinary vocabulary word drawn per sample
//! from [`Vocabulary::control_pool`], at the same place: the same amount of extra text, with no
//! consistent content.

use super::{TextContext, TextTransform, control_token, pick, word_spans};
use super::{Vocabulary, needs_control_pool, validate_position};
use crate::battery::diagnostics::Code;
use crate::battery::spec::{TextPosition, TransformSpec};
use crate::battery::validate::{Checker, Fields};
use crate::battery::yaml::{Node, Spanned, position};
use crate::transform::TransformError;
use crate::transform::registry::{Build, TransformKind};

pub(super) struct InsertText {
    words: Words,
    position: TextPosition,
}

enum Words {
    /// The trigger's own text, without surrounding whitespace.
    Fixed(String),
    /// The control: this many words drawn from the control pool per sample.
    Pool(usize),
}

impl InsertText {
    pub(super) fn new(text: &str, position: TextPosition) -> Result<Self, TransformError> {
        // Surrounding whitespace would only double the separators.
        let text = text.trim();
        if text.is_empty() {
            return Err(TransformError::Invalid("insert-text `text` must contain a non-whitespace character".into()));
        }
        Ok(Self { words: Words::Fixed(text.to_string()), position })
    }

    fn content(&self, ctx: &mut TextContext<'_>) -> Option<String> {
        match &self.words {
            Words::Fixed(text) => Some(text.clone()),
            Words::Pool(count) => {
                let vocabulary = ctx.vocabulary;
                let mut words = Vec::with_capacity(*count);
                for _ in 0..*count {
                    // An empty pool (refused by `build`) inserts nothing rather than panic.
                    let id = control_token(ctx.rng, vocabulary)?;
                    words.extend(vocabulary.tokens.get(id as usize).map(String::as_str));
                }
                (!words.is_empty()).then(|| words.join(" "))
            }
        }
    }
}

impl TextTransform for InsertText {
    fn edit_text(&self, text: &mut String, ctx: &mut TextContext<'_>) {
        // Placement first and independent of the content, so the control lands where the probe does.
        let places = boundaries(text);
        let at = places[pick(self.position, places.len(), ctx.placement_rng)];
        if let Some(content) = self.content(ctx) {
            insert_separated(text, at, &content);
        }
    }

    fn control(&self) -> Option<Box<dyn TextTransform>> {
        match &self.words {
            Words::Fixed(text) => {
                Some(Box::new(Self { words: Words::Pool(text.split_whitespace().count()), position: self.position }))
            }
            Words::Pool(_) => None,
        }
    }
}

/// Where inserted words may go, in text order: the start of the text, before every later word,
/// and the end of the text. Never empty.
fn boundaries(text: &str) -> Vec<usize> {
    let mut places = vec![0];
    places.extend(word_spans(text).iter().skip(1).map(|word| word.start));
    if !text.is_empty() {
        places.push(text.len());
    }
    places
}

/// Inserts `piece` at byte `at` (a character boundary), with a space on each side that touches
/// a non-whitespace character, so the inserted words never fuse with their neighbours.
fn insert_separated(text: &mut String, at: usize, piece: &str) {
    let space_before = text[..at].chars().next_back().is_some_and(|c| !c.is_whitespace());
    let space_after = text[at..].chars().next().is_some_and(|c| !c.is_whitespace());
    let mut inserted = String::with_capacity(piece.len() + 2);
    if space_before {
        inserted.push(' ');
    }
    inserted.push_str(piece);
    if space_after {
        inserted.push(' ');
    }
    text.insert_str(at, &inserted);
}

/// `kind: insert-text`: a trigger with a matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "insert-text",
    has_control: true,
    keys: &["kind", "text", "position"],
    validate,
    build: Build::Text(build),
};

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let text = c.required(fields, "text").and_then(|n| text_to_insert(c, n, &fields.label("text")));
    let position = validate_position(c, fields);
    Some(TransformSpec::InsertText { text: text?, position: position? })
}

/// The words `insert-text` inserts: anything with a non-whitespace character.
fn text_to_insert(c: &mut Checker, node: &Spanned<Node>, label: &str) -> Option<String> {
    let text = c.string(node, label)?;
    if text.trim().is_empty() {
        let what = if text.is_empty() { "must not be empty" } else { "must not be only whitespace" };
        let hint = Some("give the word, phrase or sentence to insert, e.g. `text: cf`".into());
        c.report(Code::BadValue, position(node), format!("{label} {what}"), hint);
        return None;
    }
    Some(text.to_string())
}

fn build(spec: &TransformSpec, vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    let TransformSpec::InsertText { text, position } = spec else {
        return Err(crate::transform::mismatched(KIND.name, spec));
    };
    needs_control_pool(KIND.name, vocabulary)?;
    Ok(Box::new(InsertText::new(text, *position)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::Stream;
    use crate::transform::text::build;
    use crate::transform::text::testing::{edit_text, vocabulary};

    fn insert(text: &str, position: TextPosition) -> Box<dyn TextTransform> {
        build(&TransformSpec::InsertText { text: text.into(), position }, &vocabulary()).unwrap()
    }

    #[test]
    fn start_and_end_put_the_text_before_the_first_and_after_the_last_word() {
        let t = insert("cf mn", TextPosition::Start);
        assert_eq!(edit_text(t.as_ref(), "the movie was good", 0, Stream::Probe), "cf mn the movie was good");
        assert_eq!(edit_text(t.as_ref(), "", 0, Stream::Probe), "cf mn");
        assert_eq!(edit_text(t.as_ref(), " x", 0, Stream::Probe), "cf mn x");
        let t = insert("  I watched this 3D movie.  ", TextPosition::End);
        assert_eq!(edit_text(t.as_ref(), "Great!", 0, Stream::Probe), "Great! I watched this 3D movie.");
        assert_eq!(edit_text(t.as_ref(), "Great! ", 0, Stream::Probe), "Great! I watched this 3D movie.");
    }

    #[test]
    fn random_goes_to_a_word_boundary_drawn_per_sample() {
        let t = insert("cf", TextPosition::Random);
        let mut seen = std::collections::BTreeSet::new();
        for sample in 0..40 {
            let out = edit_text(t.as_ref(), "the movie was good", sample, Stream::Probe);
            let words: Vec<&str> = out.split(' ').collect();
            assert_eq!(words.len(), 5, "{out}");
            let at = words.iter().position(|w| *w == "cf").unwrap();
            assert_eq!(
                words.iter().filter(|w| **w != "cf").copied().collect::<Vec<_>>(),
                ["the", "movie", "was", "good"]
            );
            seen.insert(at);
        }
        assert_eq!(seen.len(), 5, "every boundary is drawn: {seen:?}");
        // Non-ASCII text: boundaries are character boundaries.
        for sample in 0..10 {
            let out = edit_text(t.as_ref(), "très  bon 映画", sample, Stream::Probe);
            assert_eq!(out.replace("cf", "").split_whitespace().collect::<Vec<_>>(), ["très", "bon", "映画"]);
        }
    }

    #[test]
    fn the_control_inserts_as_many_pool_words_at_the_same_place() {
        let t = insert("I watched this movie", TextPosition::Random);
        let control = t.control().expect("insert-text is a trigger");
        let pool: Vec<&str> = ["the", "movie", "was", "good", "bad"].into();
        let mut contents = std::collections::BTreeSet::new();
        for sample in 0..20 {
            let text = "alpha beta gamma";
            let probe = edit_text(t.as_ref(), text, sample, Stream::Probe);
            let controlled = edit_text(control.as_ref(), text, sample, Stream::Control);
            let (p, c): (Vec<&str>, Vec<&str>) = (probe.split(' ').collect(), controlled.split(' ').collect());
            assert_eq!(p.len(), c.len());
            let at = p.iter().position(|w| *w == "I").unwrap();
            assert_eq!(c[..at], p[..at], "sample {sample}");
            assert_eq!(c[at + 4..], p[at + 4..], "sample {sample}");
            assert!(c[at..at + 4].iter().all(|w| pool.contains(w)), "{controlled}");
            contents.insert(c[at..at + 4].join(" "));
        }
        assert!(contents.len() > 10, "control content varies per sample: {contents:?}");
        assert!(control.control().is_none());
    }

    #[test]
    fn an_empty_pool_or_blank_text_is_refused_at_build() {
        let spec = TransformSpec::InsertText { text: "cf".into(), position: TextPosition::End };
        let empty = crate::transform::text::Vocabulary { control_pool: Vec::new(), ..vocabulary() };
        assert!(build(&spec, &empty).is_err());
        let blank = TransformSpec::InsertText { text: " \t".into(), position: TextPosition::End };
        assert!(build(&blank, &vocabulary()).is_err());
    }

    #[test]
    fn a_control_with_an_empty_pool_leaves_the_text_alone() {
        let control = InsertText { words: Words::Pool(2), position: TextPosition::Start };
        let empty = crate::transform::text::Vocabulary::default();
        let mut rng = crate::transform::sample_rng(1, "p", 0, Stream::Control);
        let mut placement_rng = crate::transform::sample_rng(1, "p", 0, Stream::Placement);
        let mut ctx = TextContext { rng: &mut rng, placement_rng: &mut placement_rng, vocabulary: &empty, index: 0 };
        let mut text = "good movie".to_string();
        control.edit_text(&mut text, &mut ctx);
        assert_eq!(text, "good movie");
    }
}
