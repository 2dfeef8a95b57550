//! Word swaps, a robustness perturbation: one left-to-right pass over the words (runs of
//! non-whitespace) in which each position, with probability `rate`, trades places with its
//! right-hand neighbour. The words stay the same, only their order changes, and the whitespace
//! between them stays where it was. A word swapped forward can be swapped again at its new
//! position, so at high rates a word may travel several places (as in one bubble-sort pass).

use super::{TextContext, TextTransform, chance, replace_words, word_spans};
use super::{Vocabulary, validate_rate};
use crate::battery::spec::TransformSpec;
use crate::transform::TransformError;
use crate::transform::registry::{Build, TransformKind};

pub(super) struct WordSwap {
    rate: f64,
}

impl WordSwap {
    pub(super) fn new(rate: f32) -> Result<Self, TransformError> {
        Ok(Self { rate: super::rate("word-swap", rate)? })
    }
}

impl TextTransform for WordSwap {
    fn edit_text(&self, text: &mut String, ctx: &mut TextContext<'_>) {
        let spans = word_spans(text);
        let mut words: Vec<String> = spans.iter().map(|span| text[span.clone()].to_string()).collect();
        for i in 1..words.len() {
            if chance(ctx.placement_rng, self.rate) {
                words.swap(i - 1, i);
            }
        }
        *text = replace_words(text, &spans, &words);
    }

    fn control(&self) -> Option<Box<dyn TextTransform>> {
        None
    }
}

/// `kind: word-swap`: a robustness perturbation, so no matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "word-swap",
    has_control: false,
    keys: &["kind", "rate"],
    validate: |c, fields, _probe| validate_rate(c, fields).map(|rate| TransformSpec::WordSwap { rate }),
    build: Build::Text(build),
};

fn build(spec: &TransformSpec, _vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    let TransformSpec::WordSwap { rate } = spec else { return Err(crate::transform::mismatched(KIND.name, spec)) };
    Ok(Box::new(WordSwap::new(*rate)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::Stream;
    use crate::transform::text::build;
    use crate::transform::text::testing::{edit_text, vocabulary};

    fn swap(rate: f32) -> Box<dyn TextTransform> {
        build(&TransformSpec::WordSwap { rate }, &vocabulary()).unwrap()
    }

    #[test]
    fn rate_one_moves_the_first_word_to_the_end() {
        // Every position swaps, so the first word bubbles all the way along.
        let t = swap(1.0);
        assert_eq!(edit_text(t.as_ref(), "the  movie was\tgood", 0, Stream::Probe), "movie  was good\tthe");
        assert_eq!(edit_text(t.as_ref(), "single", 0, Stream::Probe), "single");
        assert_eq!(edit_text(t.as_ref(), "", 0, Stream::Probe), "");
    }

    #[test]
    fn a_partial_rate_reorders_some_samples_and_keeps_the_words() {
        let t = swap(0.3);
        let text = "un deux trois quatre cinq six sept huit";
        let mut changed = 0;
        for sample in 0..20 {
            let out = edit_text(t.as_ref(), text, sample, Stream::Probe);
            let (mut a, mut b): (Vec<&str>, Vec<&str>) = (text.split(' ').collect(), out.split(' ').collect());
            changed += usize::from(a != b);
            a.sort_unstable();
            b.sort_unstable();
            assert_eq!(a, b);
        }
        assert!(changed > 10, "{changed}");
        assert!(t.control().is_none());
    }
}
