//! Homoglyphs, a trigger: Latin letters swapped for letters of other scripts that look the same
//! (Cyrillic `а` U+0430 for `a`, Greek `Ν` U+039D for `N`). A reader sees the same text; the
//! tokenizer sees rare code points, which backdoor attacks have used as invisible-to-review
//! triggers (e.g. Boucher et al., 2022, "Bad Characters: Imperceptible NLP Attacks").
//!
//! Each letter that has a look-alike in [`LOOKALIKES`] is replaced with probability `rate`,
//! decided by the placement generator; letters without one are never chosen. The matched control
//! replaces the same letters by another ASCII letter of the same case drawn per sample: the same
//! number of changed characters in the same places, without the change of script.

use rand::RngExt;

use super::{TextContext, TextTransform, chance};
use super::{Vocabulary, validate_rate};
use crate::battery::spec::TransformSpec;
use crate::transform::TransformError;
use crate::transform::registry::{Build, TransformKind};

/// Latin letters and their look-alikes: Cyrillic where it has one, Greek otherwise. Kept to
/// glyphs that render identically in common fonts; letters missing here are never replaced.
const LOOKALIKES: &[(char, char)] = &[
    ('a', '\u{0430}'),
    ('c', '\u{0441}'),
    ('d', '\u{0501}'),
    ('e', '\u{0435}'),
    ('h', '\u{04BB}'),
    ('i', '\u{0456}'),
    ('j', '\u{0458}'),
    ('o', '\u{043E}'),
    ('p', '\u{0440}'),
    ('q', '\u{051B}'),
    ('s', '\u{0455}'),
    ('w', '\u{051D}'),
    ('x', '\u{0445}'),
    ('y', '\u{0443}'),
    ('A', '\u{0410}'),
    ('B', '\u{0412}'),
    ('C', '\u{0421}'),
    ('E', '\u{0415}'),
    ('H', '\u{041D}'),
    ('I', '\u{0406}'),
    ('J', '\u{0408}'),
    ('K', '\u{041A}'),
    ('M', '\u{041C}'),
    ('N', '\u{039D}'),
    ('O', '\u{041E}'),
    ('P', '\u{0420}'),
    ('S', '\u{0405}'),
    ('T', '\u{0422}'),
    ('X', '\u{0425}'),
    ('Y', '\u{04AE}'),
    ('Z', '\u{0396}'),
];

fn lookalike(c: char) -> Option<char> {
    LOOKALIKES.iter().find(|(latin, _)| *latin == c).map(|(_, other)| *other)
}

pub(super) struct Homoglyph {
    rate: f64,
    /// The matched control: another ASCII letter instead of the look-alike.
    control: bool,
}

impl Homoglyph {
    pub(super) fn new(rate: f32) -> Result<Self, TransformError> {
        Ok(Self { rate: super::rate("homoglyph", rate)?, control: false })
    }
}

impl TextTransform for Homoglyph {
    fn edit_text(&self, text: &mut String, ctx: &mut TextContext<'_>) {
        let mut out = String::with_capacity(text.len() + text.len() / 2);
        for c in text.chars() {
            // One placement draw per eligible letter, whatever the content: the control's letters
            // are the probe's.
            match lookalike(c) {
                Some(other) if chance(ctx.placement_rng, self.rate) => {
                    out.push(if self.control { other_letter(c, ctx.rng) } else { other });
                }
                _ => out.push(c),
            }
        }
        *text = out;
    }

    fn control(&self) -> Option<Box<dyn TextTransform>> {
        (!self.control).then(|| Box::new(Self { rate: self.rate, control: true }) as Box<dyn TextTransform>)
    }
}

/// A uniformly drawn ASCII letter of `c`'s case other than `c` (an ASCII letter).
fn other_letter(c: char, rng: &mut rand_chacha::ChaCha8Rng) -> char {
    let base = if c.is_ascii_uppercase() { b'A' } else { b'a' };
    let own = c as u8 - base;
    let drawn = rng.random_range(0..25u8);
    // Skip over `c` itself: 25 equally likely others.
    char::from(base + if drawn >= own { drawn + 1 } else { drawn })
}

/// `kind: homoglyph`: a trigger with a matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "homoglyph",
    has_control: true,
    keys: &["kind", "rate"],
    validate: |c, fields, _probe| validate_rate(c, fields).map(|rate| TransformSpec::Homoglyph { rate }),
    build: Build::Text(build),
};

fn build(spec: &TransformSpec, _vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    let TransformSpec::Homoglyph { rate } = spec else { return Err(crate::transform::mismatched(KIND.name, spec)) };
    Ok(Box::new(Homoglyph::new(*rate)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::Stream;
    use crate::transform::text::build;
    use crate::transform::text::testing::{edit_text, vocabulary};

    fn homoglyph(rate: f32) -> Box<dyn TextTransform> {
        build(&TransformSpec::Homoglyph { rate }, &vocabulary()).unwrap()
    }

    #[test]
    fn every_lookalike_is_another_script_and_every_latin_letter_appears_once() {
        for (i, (latin, other)) in LOOKALIKES.iter().enumerate() {
            assert!(latin.is_ascii_alphabetic() && !other.is_ascii(), "{latin}");
            assert!(other.is_alphabetic(), "{other:?}");
            assert!(LOOKALIKES[i + 1..].iter().all(|(l, _)| l != latin), "{latin} twice");
        }
    }

    #[test]
    fn rate_one_replaces_every_letter_with_a_lookalike_and_nothing_else() {
        let t = homoglyph(1.0);
        assert_eq!(
            edit_text(t.as_ref(), "a cold Box, 42 fun!", 0, Stream::Probe),
            "\u{430} \u{441}\u{43E}l\u{501} \u{412}\u{43E}\u{445}, 42 fun!"
        );
        assert_eq!(edit_text(t.as_ref(), "", 0, Stream::Probe), "");
        assert_eq!(edit_text(t.as_ref(), "ünïcödé 映画", 0, Stream::Probe), "ünï\u{441}ö\u{501}é 映画");
    }

    #[test]
    fn a_partial_rate_replaces_about_that_share() {
        let t = homoglyph(0.3);
        let text = "a".repeat(2000);
        let out = edit_text(t.as_ref(), &text, 0, Stream::Probe);
        let replaced = out.chars().filter(|c| *c == '\u{0430}').count();
        // Binomial(2000, 0.3): standard deviation about 20.5; the bound is about five of them.
        assert!((replaced as i64 - 600).abs() < 100, "{replaced}");
    }

    #[test]
    fn the_control_changes_the_same_letters_to_other_ascii_letters_of_the_same_case() {
        let t = homoglyph(0.5);
        let control = t.control().expect("homoglyph is a trigger");
        let text = "The quick brown fox JUMPS over the lazy dog, again and again.";
        for sample in 0..10 {
            let probe: Vec<char> = edit_text(t.as_ref(), text, sample, Stream::Probe).chars().collect();
            let controlled: Vec<char> = edit_text(control.as_ref(), text, sample, Stream::Control).chars().collect();
            for ((original, p), c) in text.chars().zip(probe).zip(controlled) {
                assert_eq!(original != p, original != c, "sample {sample}: {original} {p} {c}");
                if original != c {
                    assert!(c.is_ascii_alphabetic() && c.is_ascii_uppercase() == original.is_ascii_uppercase());
                }
            }
        }
        assert!(control.control().is_none());
    }

    #[test]
    fn rates_outside_zero_to_one_are_refused() {
        for rate in [-0.1, 1.5, f32::NAN] {
            assert!(build(&TransformSpec::Homoglyph { rate }, &vocabulary()).is_err(), "{rate}");
        }
    }
}
