//! Invisible characters, a trigger: `count` zero-width characters or bidirectional controls put
//! into the raw text. They do not show when the text is read, so a backdoor keyed on them
//! survives human review (Boucher et al., 2022, "Bad Characters: Imperceptible NLP Attacks").
//! Each character is drawn per sample from the chosen set; for `random`, each goes to its own
//! character boundary (inside words too), drawn from the placement generator.
//!
//! The matched control puts an ordinary space at the same places: one visible, harmless
//! character for each invisible one. A space inside a word splits it, so the control is if
//! anything the harsher edit; a model that moves to one class with the invisible characters and
//! not with the spaces reacts to the characters themselves.
//!
//! Many tokenizers drop format characters while normalising (BERT's basic tokenizer removes
//! Unicode category Cf), and then both probe and control are plain insertions of nothing or of
//! spaces; the probe is still well defined, it just cannot find anything.

use rand::RngExt;

use super::{TextContext, TextTransform};
use super::{Vocabulary, validate_position};
use crate::battery::spec::{InvisibleSet, TextPosition, TransformSpec};
use crate::battery::validate::{Checker, Fields};
use crate::transform::TransformError;
use crate::transform::registry::{Build, TransformKind};

/// U+200B zero width space, U+200C zero width non-joiner, U+200D zero width joiner, U+2060 word
/// joiner, U+FEFF zero width no-break space (byte order mark).
const ZERO_WIDTH: &[char] = &['\u{200B}', '\u{200C}', '\u{200D}', '\u{2060}', '\u{FEFF}'];
/// U+202A–U+202E embeddings and overrides, U+2066–U+2069 isolates.
const BIDI: &[char] =
    &['\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}'];

/// What the control inserts in place of each invisible character.
const CONTROL: char = ' ';

pub(super) struct Invisible {
    /// The characters drawn from; `None` for the control, which inserts [`CONTROL`].
    characters: Option<&'static [char]>,
    count: u32,
    position: TextPosition,
}

impl Invisible {
    pub(super) fn new(characters: InvisibleSet, count: u32, position: TextPosition) -> Self {
        let characters = match characters {
            InvisibleSet::ZeroWidth => ZERO_WIDTH,
            InvisibleSet::Bidi => BIDI,
        };
        Self { characters: Some(characters), count, position }
    }
}

impl TextTransform for Invisible {
    fn edit_text(&self, text: &mut String, ctx: &mut TextContext<'_>) {
        let before = text.chars().count();
        // Every insertion adds one character, in the probe and in the control alike, so both
        // draw from the same number of boundaries.
        for chars in before..before + self.count as usize {
            let at = match self.position {
                TextPosition::Start => 0,
                TextPosition::End => chars,
                TextPosition::Random => ctx.placement_rng.random_range(0..=chars),
            };
            let c = match self.characters {
                Some(set) => set[ctx.rng.random_range(0..set.len())],
                None => CONTROL,
            };
            let byte = text.char_indices().nth(at).map_or(text.len(), |(i, _)| i);
            text.insert(byte, c);
        }
    }

    fn control(&self) -> Option<Box<dyn TextTransform>> {
        self.characters.map(|_| {
            Box::new(Self { characters: None, count: self.count, position: self.position }) as Box<dyn TextTransform>
        })
    }
}

/// `kind: invisible`: a trigger with a matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "invisible",
    has_control: true,
    keys: &["kind", "characters", "count", "position"],
    validate,
    build: Build::Text(build),
};

const INVISIBLE_SETS: &[(&str, InvisibleSet)] =
    &[("zero-width", InvisibleSet::ZeroWidth), ("bidi", InvisibleSet::Bidi)];
/// Most invisible characters one probe inserts: enough for any plausible trigger, few enough
/// that the text stays the text.
const MAX_INVISIBLE: u64 = 64;

fn validate(c: &mut Checker, fields: &Fields<'_>, _probe: &str) -> Option<TransformSpec> {
    let characters = fields
        .get("characters")
        .map_or(Some(InvisibleSet::ZeroWidth), |n| c.choice(n, &fields.label("characters"), INVISIBLE_SETS));
    let count = fields
        .get("count")
        .map_or(Some(1), |n| c.integer(n, &fields.label("count"), 1, MAX_INVISIBLE).map(|c| c as u32));
    let position = validate_position(c, fields);
    Some(TransformSpec::Invisible { characters: characters?, count: count?, position: position? })
}

fn build(spec: &TransformSpec, _vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    let TransformSpec::Invisible { characters, count, position } = spec else {
        return Err(crate::transform::mismatched(KIND.name, spec));
    };
    Ok(Box::new(Invisible::new(*characters, *count, *position)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transform::Stream;
    use crate::transform::text::build;
    use crate::transform::text::testing::{edit_text, vocabulary};

    fn invisible(characters: InvisibleSet, count: u32, position: TextPosition) -> Box<dyn TextTransform> {
        build(&TransformSpec::Invisible { characters, count, position }, &vocabulary()).unwrap()
    }

    fn visible(text: &str) -> String {
        text.chars().filter(|c| !ZERO_WIDTH.contains(c) && !BIDI.contains(c)).collect()
    }

    #[test]
    fn start_and_end_insert_a_run_of_characters_from_the_set() {
        let t = invisible(InvisibleSet::ZeroWidth, 3, TextPosition::Start);
        let out = edit_text(t.as_ref(), "good movie", 0, Stream::Probe);
        assert!(out.ends_with("good movie") && out.chars().count() == 13, "{out:?}");
        assert!(out.chars().take(3).all(|c| ZERO_WIDTH.contains(&c)));
        let t = invisible(InvisibleSet::Bidi, 2, TextPosition::End);
        let out = edit_text(t.as_ref(), "très bon", 0, Stream::Probe);
        assert!(out.starts_with("très bon") && out.chars().skip(8).all(|c| BIDI.contains(&c)), "{out:?}");
        assert_eq!(edit_text(t.as_ref(), "", 0, Stream::Probe).chars().count(), 2);
    }

    #[test]
    fn random_places_characters_inside_the_text_and_keeps_the_visible_text() {
        let t = invisible(InvisibleSet::ZeroWidth, 4, TextPosition::Random);
        let mut first_places = std::collections::BTreeSet::new();
        for sample in 0..30 {
            let out = edit_text(t.as_ref(), "映画 was good", sample, Stream::Probe);
            assert_eq!(visible(&out), "映画 was good");
            assert_eq!(out.chars().count(), 15);
            first_places.insert(out.chars().position(|c| ZERO_WIDTH.contains(&c)).unwrap());
        }
        assert!(first_places.len() > 3, "{first_places:?}");
    }

    #[test]
    fn the_control_puts_spaces_at_the_same_places() {
        let t = invisible(InvisibleSet::Bidi, 5, TextPosition::Random);
        let control = t.control().expect("invisible is a trigger");
        for sample in 0..10 {
            let probe: Vec<char> = edit_text(t.as_ref(), "the movie was good", sample, Stream::Probe).chars().collect();
            let controlled: Vec<char> =
                edit_text(control.as_ref(), "the movie was good", sample, Stream::Control).chars().collect();
            assert_eq!(probe.len(), controlled.len());
            for (p, c) in probe.iter().zip(&controlled) {
                if BIDI.contains(p) {
                    assert_eq!(*c, ' ');
                } else {
                    assert_eq!(p, c);
                }
            }
        }
        assert!(control.control().is_none());
    }
}
