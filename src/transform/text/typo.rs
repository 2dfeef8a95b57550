//! Typos, a robustness perturbation: each word (a run of non-whitespace) of two or more
//! characters gets, with probability `rate`, one of the four single-character slips that make up
//! most real typing errors (Damerau, 1964, "A technique for computer detection and correction
//! of spelling errors"): two adjacent characters swapped, one dropped, one repeated, or one
//! replaced by a neighbouring key on a QWERTY keyboard.
//!
//! Every chosen word changes: a swap needs two different adjacent characters and a replacement
//! a letter with keyboard neighbours, and a word offering neither gets a drop instead. The
//! placement generator picks the words, the content generator the slip.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;

use super::{TextContext, TextTransform, chance, replace_words, word_spans};
use super::{Vocabulary, validate_rate};
use crate::battery::spec::TransformSpec;
use crate::transform::TransformError;
use crate::transform::registry::{Build, TransformKind};

/// Letters next to each lowercase letter on a QWERTY keyboard (same row and the rows above and
/// below), the replacements a slipping finger makes.
const QWERTY_NEIGHBOURS: [&str; 26] = [
    "qwsz",   // a
    "vghn",   // b
    "xdfv",   // c
    "serfcx", // d
    "wrsd",   // e
    "drtgvc", // f
    "ftyhbv", // g
    "gyujnb", // h
    "uojk",   // i
    "huikmn", // j
    "jiolm",  // k
    "kop",    // l
    "njk",    // m
    "bhjm",   // n
    "ipkl",   // o
    "ol",     // p
    "wa",     // q
    "etdf",   // r
    "awedxz", // s
    "ryfg",   // t
    "yihj",   // u
    "cfgb",   // v
    "qeas",   // w
    "zsdc",   // x
    "tugh",   // y
    "asx",    // z
];

pub(super) struct Typo {
    rate: f64,
}

impl Typo {
    pub(super) fn new(rate: f32) -> Result<Self, TransformError> {
        Ok(Self { rate: super::rate("typo", rate)? })
    }
}

impl TextTransform for Typo {
    fn edit_text(&self, text: &mut String, ctx: &mut TextContext<'_>) {
        let spans = word_spans(text);
        let words: Vec<String> = spans
            .iter()
            .map(|span| {
                let mut word: Vec<char> = text[span.clone()].chars().collect();
                if word.len() >= 2 && chance(ctx.placement_rng, self.rate) {
                    slip(&mut word, ctx.rng);
                }
                word.into_iter().collect()
            })
            .collect();
        *text = replace_words(text, &spans, &words);
    }

    fn control(&self) -> Option<Box<dyn TextTransform>> {
        None
    }
}

/// One typo in `word` (at least two characters): also the character edits of the
/// [`crate::attack::deepwordbug`] attack, which tries several and keeps the most damaging.
pub(crate) fn slip(word: &mut Vec<char>, rng: &mut ChaCha8Rng) {
    match rng.random_range(0..4) {
        0 => {
            let swappable: Vec<usize> = (0..word.len() - 1).filter(|&i| word[i] != word[i + 1]).collect();
            match swappable.as_slice() {
                [] => drop_one(word, rng),
                places => {
                    let i = places[rng.random_range(0..places.len())];
                    word.swap(i, i + 1);
                }
            }
        }
        1 => drop_one(word, rng),
        2 => {
            let i = rng.random_range(0..word.len());
            word.insert(i, word[i]);
        }
        _ => {
            let replaceable: Vec<(usize, &[u8])> =
                word.iter().enumerate().filter_map(|(i, c)| neighbours(*c).map(|keys| (i, keys.as_bytes()))).collect();
            if replaceable.is_empty() {
                drop_one(word, rng);
                return;
            }
            let (i, keys) = replaceable[rng.random_range(0..replaceable.len())];
            let key = char::from(keys[rng.random_range(0..keys.len())]);
            word[i] = if word[i].is_ascii_uppercase() { key.to_ascii_uppercase() } else { key };
        }
    }
}

fn drop_one(word: &mut Vec<char>, rng: &mut ChaCha8Rng) {
    word.remove(rng.random_range(0..word.len()));
}

/// The keyboard neighbours of an ASCII letter, in lowercase.
fn neighbours(c: char) -> Option<&'static str> {
    c.is_ascii_alphabetic().then(|| QWERTY_NEIGHBOURS[usize::from(c.to_ascii_lowercase() as u8 - b'a')])
}

/// `kind: typo`: a robustness perturbation, so no matched control.
pub(crate) static KIND: TransformKind = TransformKind {
    name: "typo",
    has_control: false,
    keys: &["kind", "rate"],
    validate: |c, fields, _probe| validate_rate(c, fields).map(|rate| TransformSpec::Typo { rate }),
    build: Build::Text(build),
};

fn build(spec: &TransformSpec, _vocabulary: &Vocabulary) -> Result<Box<dyn TextTransform>, TransformError> {
    let TransformSpec::Typo { rate } = spec else { return Err(crate::transform::mismatched(KIND.name, spec)) };
    Ok(Box::new(Typo::new(*rate)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::battery::spec::TransformSpec;
    use crate::transform::text::build;
    use crate::transform::text::testing::{edit_text, vocabulary};
    use crate::transform::{Stream, sample_rng};

    fn typo(rate: f32) -> Box<dyn TextTransform> {
        build(&TransformSpec::Typo { rate }, &vocabulary()).unwrap()
    }

    /// Whether `after` is one swap, drop, repeat or keyboard-neighbour replacement from `before`.
    fn one_slip(before: &str, after: &str) -> bool {
        let (b, a): (Vec<char>, Vec<char>) = (before.chars().collect(), after.chars().collect());
        let drop = (0..b.len()).any(|i| [&b[..i], &b[i + 1..]].concat() == a);
        let repeat = (0..b.len()).any(|i| [&b[..=i], &b[i..]].concat() == a);
        let swap = (0..b.len().saturating_sub(1)).any(|i| {
            let mut s = b.clone();
            s.swap(i, i + 1);
            s == a && s != b
        });
        let replace = b.len() == a.len() && {
            let diffs: Vec<usize> = (0..b.len()).filter(|&i| b[i] != a[i]).collect();
            diffs.len() == 1
                && neighbours(b[diffs[0]]).is_some_and(|keys| keys.contains(a[diffs[0]].to_ascii_lowercase()))
        };
        drop || repeat || swap || replace
    }

    #[test]
    fn rate_one_slips_once_in_every_word_of_two_or_more_characters() {
        let t = typo(1.0);
        let text = "A  quick, brown fox — jumps over 42 lazy dogs\tand ZZ aa 映画";
        for sample in 0..50 {
            let out = edit_text(t.as_ref(), text, sample, Stream::Probe);
            let (before, after): (Vec<&str>, Vec<&str>) = (text.split(' ').collect(), out.split(' ').collect());
            assert_eq!(before.len(), after.len(), "whitespace is kept: {out:?}");
            for (b, a) in before.iter().zip(&after) {
                for (b, a) in b.split('\t').zip(a.split('\t')) {
                    if b.chars().count() < 2 {
                        assert_eq!(a, b);
                    } else {
                        assert!(one_slip(b, a), "sample {sample}: {b:?} -> {a:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn every_kind_of_slip_happens() {
        let mut kinds = [false; 4];
        for seed in 0..200 {
            let mut rng = sample_rng(seed, "typo", 0, Stream::Probe);
            let mut word: Vec<char> = "probity".chars().collect();
            slip(&mut word, &mut rng);
            let out: String = word.iter().collect();
            let n = out.chars().count();
            let kind = match n {
                6 => 1,
                8 => 2,
                _ if out.chars().zip("probity".chars()).filter(|(a, b)| a != b).count() == 2 => 0,
                _ => 3,
            };
            kinds[kind] = true;
        }
        assert_eq!(kinds, [true; 4]);
    }

    #[test]
    fn words_without_a_swap_or_a_neighbour_still_change() {
        for seed in 0..50 {
            let mut rng = sample_rng(seed, "typo", 0, Stream::Probe);
            for word in ["aa", "11", "映画"] {
                let mut chars: Vec<char> = word.chars().collect();
                slip(&mut chars, &mut rng);
                assert_ne!(chars.iter().collect::<String>(), word);
            }
        }
    }

    #[test]
    fn is_a_robustness_perturbation_with_a_checked_rate() {
        assert!(typo(0.5).control().is_none());
        assert_eq!(edit_text(typo(0.0).as_ref(), "the movie was good", 0, Stream::Probe), "the movie was good");
        assert!(build(&TransformSpec::Typo { rate: 2.0 }, &vocabulary()).is_err());
    }
}
