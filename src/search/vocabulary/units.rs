//! Multi-piece words as units: words the tokenizer splits into several pieces
//! (`tarantula` → `tara ##nt ##ula` in WordPiece, `Ġtar ant ula` in byte-level BPE) are swept
//! as one candidate, their pieces inserted contiguously at one word boundary, in the screen,
//! the halving, the control comparison and the confirmation alike.
//!
//! A backdoor keyed on such a word fires only when all its pieces appear in a row, so sweeping
//! the pieces one by one (`##ula` alone) never finds it, and no vocabulary entry spells it.
//! Candidate words come from two places, both finite and stated in the report:
//!
//! - **the data**: every word of the texts the sweep tokenizes that spans two or more pieces
//!   (in first-seen order, at most [`MAX_DATA_UNITS`]). Only for vocabularies the group screen
//!   covers (real pre-trained encoders); small vocabularies keep their token-by-token sweep.
//! - **a word list** (`words:` in the battery's search spec, a file relative to the battery,
//!   one word or phrase per line, `#` comments): each entry tokenized as it would be in the
//!   middle of a sentence (after a space); entries that are one piece are already swept as
//!   tokens and are skipped.
//!
//! Words nobody wrote (in the data or the list) are not tried: the space of piece sequences is
//! too large to enumerate.
//!
//! A unit has a *sweep id* past the vocabulary (`vocabulary.len() + j` for unit `j`), so the
//! sweep's candidate sets stay lists of ids; [`Candidates`] resolves an id to its pieces and
//! its name.

use serde::{Deserialize, Serialize};

use crate::transform::text::{TokenSequence, Vocabulary};

/// Most multi-piece words taken from the data (the first seen).
pub const MAX_DATA_UNITS: usize = 4096;

/// A word of several pieces, swept as one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub pieces: Vec<u32>,
}

/// Where the units came from, in the report as `search.vocabulary.units`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct UnitCoverage {
    /// Multi-piece words of the data's texts.
    pub from_data: usize,
    /// Multi-piece entries of the word list (`words:`), not already in the data.
    pub from_list: usize,
    /// Word-list entries skipped because they are a single piece (swept as tokens anyway).
    pub single_piece: usize,
}

/// Gathers distinct multi-piece words, in first-seen order, at most `limit`.
#[derive(Debug, Default)]
pub struct Collector {
    seen: std::collections::HashSet<Vec<u32>>,
    pub units: Vec<Unit>,
}

impl Collector {
    /// Adds `pieces` as a unit unless it is one piece, already in, or `limit` is reached;
    /// whether it was added.
    pub fn add(&mut self, pieces: Vec<u32>, limit: usize) -> bool {
        if pieces.len() < 2 || self.units.len() >= limit || self.seen.contains(&pieces) {
            return false;
        }
        self.seen.insert(pieces.clone());
        self.units.push(Unit { pieces });
        true
    }

    /// Adds the multi-piece words of `seq`: runs of content positions that start a word and
    /// continue it (the tokenizer's own word ids, so one rule serves WordPiece `##`, BPE `Ġ`
    /// and SentencePiece `▁`). How many were added.
    pub fn add_words_of(&mut self, seq: &TokenSequence, limit: usize) -> usize {
        let mut added = 0;
        let mut i = 0;
        while i < seq.ids.len() {
            if seq.special[i] || !seq.word_start[i] {
                i += 1;
                continue;
            }
            let end = (i + 1..seq.ids.len()).find(|&j| seq.special[j] || seq.word_start[j]).unwrap_or(seq.ids.len());
            added += usize::from(self.add(seq.ids[i..end].to_vec(), limit));
            i = end;
        }
        added
    }
}

/// The pieces of one word-list entry tokenized after a space (special tokens dropped).
pub fn pieces(encoded: &TokenSequence) -> Vec<u32> {
    encoded.ids.iter().zip(&encoded.special).filter(|(_, s)| !**s).map(|(&id, _)| id).collect()
}

/// The entries of a word list: trimmed non-empty lines that are not `#` comments.
pub fn entries(text: &str) -> Vec<&str> {
    text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect()
}

/// Sweep ids resolved to what is inserted and what the report calls them: vocabulary ids as
/// themselves, ids past the vocabulary as the units in order.
#[derive(Clone, Copy)]
pub struct Candidates<'a> {
    pub vocabulary: &'a Vocabulary,
    pub units: &'a [Unit],
}

impl<'a> Candidates<'a> {
    /// The ids inserted contiguously for sweep id `id`.
    pub fn pieces<'b>(&self, id: &'b u32) -> &'b [u32]
    where
        'a: 'b,
    {
        match (*id as usize).checked_sub(self.vocabulary.len()) {
            Some(j) => &self.units[j].pieces,
            None => std::slice::from_ref(id),
        }
    }

    /// Whether `id` is a unit.
    pub fn is_unit(&self, id: u32) -> bool {
        id as usize >= self.vocabulary.len()
    }

    /// The name the report gives `id`: the token, or a unit's pieces joined by spaces
    /// (`tara ##nt ##ula`), as the model receives them.
    pub fn name(&self, id: u32) -> String {
        self.pieces(&id).iter().map(|&p| self.vocabulary.tokens[p as usize].as_str()).collect::<Vec<_>>().join(" ")
    }

    /// The sweep ids of the units.
    pub fn unit_ids(&self) -> std::ops::Range<u32> {
        let first = self.vocabulary.len() as u32;
        first..first + self.units.len() as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[CLS] the tara ##nt ##ula sat [SEP]` and `[CLS] tara ##nt ##ula ! [SEP]`.
    fn sequences() -> Vec<TokenSequence> {
        let seq = |ids: &[u32], starts: &[bool]| {
            let mut special = vec![false; ids.len()];
            special[0] = true;
            *special.last_mut().unwrap() = true;
            TokenSequence { ids: ids.to_vec(), special, word_start: starts.to_vec() }
        };
        vec![
            seq(&[0, 5, 6, 7, 8, 9, 1], &[false, true, true, false, false, true, false]),
            seq(&[0, 6, 7, 8, 10, 1], &[false, true, false, false, true, false]),
        ]
    }

    fn vocabulary() -> Vocabulary {
        let tokens = ["[CLS]", "[SEP]", "a", "b", "c", "the", "tara", "##nt", "##ula", "sat", "!"];
        Vocabulary {
            tokens: tokens.iter().map(|t| t.to_string()).collect(),
            special: tokens.iter().map(|t| t.starts_with('[')).collect(),
            continuation: tokens.iter().map(|t| t.starts_with("##")).collect(),
            control_pool: vec![2, 3, 4],
        }
    }

    fn from_sequences(sequences: &[TokenSequence], limit: usize) -> Vec<Unit> {
        let mut c = Collector::default();
        for seq in sequences {
            c.add_words_of(seq, limit);
        }
        c.units
    }

    #[test]
    fn the_data_s_multi_piece_words_are_units_once_each() {
        let units = from_sequences(&sequences(), 10);
        assert_eq!(units, vec![Unit { pieces: vec![6, 7, 8] }]);
        assert!(from_sequences(&sequences(), 0).is_empty());
        let mut c = Collector::default();
        assert!(!c.add(vec![9], 10), "one piece is a token, swept anyway");
        assert!(c.add(vec![9, 7], 10) && !c.add(vec![9, 7], 10));
    }

    #[test]
    fn a_unit_is_named_by_its_pieces_and_resolves_past_the_vocabulary() {
        let vocabulary = vocabulary();
        let units = from_sequences(&sequences(), 10);
        let c = Candidates { vocabulary: &vocabulary, units: &units };
        let ids: Vec<u32> = c.unit_ids().collect();
        assert_eq!(ids, vec![11]);
        assert_eq!(c.pieces(&11), &[6, 7, 8]);
        assert_eq!(c.pieces(&5), &[5]);
        assert_eq!(c.name(11), "tara ##nt ##ula");
        assert_eq!(c.name(9), "sat");
        assert!(c.is_unit(11) && !c.is_unit(10));
    }

    #[test]
    fn a_word_list_skips_blank_lines_and_comments() {
        assert_eq!(entries("# triggers\ntarantula\n\n  james bond \n#x\n"), vec!["tarantula", "james bond"]);
        assert_eq!(pieces(&sequences()[1]), vec![6, 7, 8, 10]);
    }
}
