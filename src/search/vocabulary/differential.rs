//! The differential vocabulary sweep: with known-good reference models (`--reference`), every
//! edit the sweep makes is scored on the candidate *and* on each reference, and the sweep sees
//! the candidate's response beyond the reference's, so natural cues the models share cancel
//! and a word planted in the candidate alone stands out.
//!
//! A self-baseline sweep cannot tell a weak ordinary-word backdoor from the model's own natural
//! cues: on the MiniLM benchmark a "window" backdoor of 10–14 nats sits among clean cue words of
//! 8–11 nats ("nickel", "1961"). Confirming the sweep's choice against a reference does not help
//! when the choice is already a cue the reference shares. So here the reference takes part in
//! the *search*: the evidence row of an edited input (log-probabilities or logits per class, as
//! [`super::TokenOracle::evidence`] gives them) becomes
//!
//! ```text
//! candidate(edited) − (reference(edited) − reference(clean))
//! ```
//!
//! the candidate's evidence with the reference's response to the same edit (same input, same
//! drawn boundary) taken out. On an unedited input it is the candidate's own row, so every
//! stage keeps its meaning and reads the difference: the halving counts an input as *moved*
//! into class `k` when the corrected row's top class is `k` (the candidate moves beyond what
//! the reference explains), the crowd comparison's *effect* is the median of the candidate's
//! margin rise minus the reference's, and the group screen ([`super::screen`], and the screen
//! at one place) ranks groups by the smallest such differential rise over its inputs instead of
//! the smallest margin (a shared cue cancels toward the clean margin, not above zero, so a
//! margin test would rule out a planted word weaker than the input's content along with it).
//!
//! **Several references.** Per edited input, the reference whose response is nearest the
//! candidate's (the smallest Euclidean distance between the two per-class shift vectors; the
//! first on ties) is taken out: the difference is what *no* reference explains, the search-side
//! counterpart of the confirmation's rule that the candidate must depart from every reference.
//!
//! **Cost.** Each edit is one query per model, counted in the sweep's queries; the budget is
//! shared out in edits (`budget / models`), so `budget` still bounds the model queries. The
//! chosen token is confirmed as always: on held-out inputs, against its control and against
//! every reference through the gating statistics.

use serde::{Deserialize, Serialize};

use super::TokenOracle;
use crate::engine::EngineError;
use crate::transform::text::TokenSequence;

/// The references a differential sweep is taken against, as the report names them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DifferentialSweep {
    /// Each reference model (its path).
    pub references: Vec<String>,
    /// Model queries per edit: the candidate and every reference.
    pub queries_per_edit: u64,
}

/// The reference side of a differential sweep: the models and their clean evidence on every
/// search input.
pub(super) struct Against<'o> {
    oracles: Vec<&'o mut dyn TokenOracle>,
    /// The candidate's clean evidence per search input.
    candidate_clean: Vec<Vec<f32>>,
    /// Each reference's clean evidence per search input: `reference_clean[r][i]`.
    reference_clean: Vec<Vec<Vec<f32>>>,
}

impl<'o> Against<'o> {
    /// Scores the clean `sequences` (the search inputs) on the candidate and every reference.
    pub(super) fn new(
        candidate: &mut dyn TokenOracle,
        mut oracles: Vec<&'o mut dyn TokenOracle>,
        sequences: &[TokenSequence],
    ) -> Result<Self, EngineError> {
        let candidate_clean = candidate.evidence(sequences)?;
        let reference_clean = oracles.iter_mut().map(|o| o.evidence(sequences)).collect::<Result<_, _>>()?;
        Ok(Self { oracles, candidate_clean, reference_clean })
    }

    /// Model queries per edit.
    pub(super) fn models(&self) -> u64 {
        1 + self.oracles.len() as u64
    }

    /// The candidate's clean evidence on search input `i`.
    pub(super) fn clean(&self, i: usize) -> &[f32] {
        &self.candidate_clean[i]
    }

    /// The differential evidence of `sequences`, the `j`-th an edit of search input
    /// `inputs[j]`, given the candidate's evidence on them.
    pub(super) fn correct(
        &mut self,
        candidate: Vec<Vec<f32>>,
        sequences: &[TokenSequence],
        inputs: &[usize],
    ) -> Result<Vec<Vec<f32>>, EngineError> {
        let references: Vec<Vec<Vec<f32>>> =
            self.oracles.iter_mut().map(|o| o.evidence(sequences)).collect::<Result<_, _>>()?;
        Ok(candidate
            .iter()
            .zip(inputs)
            .enumerate()
            .map(|(j, (row, &i))| {
                let shifts: Vec<(&[f32], &[f32])> = references
                    .iter()
                    .zip(&self.reference_clean)
                    .map(|(edited, clean)| (edited[j].as_slice(), clean[i].as_slice()))
                    .collect();
                corrected(row, &self.candidate_clean[i], &shifts)
            })
            .collect())
    }
}

/// `candidate` (an edited input's evidence) less the response of the reference nearest it:
/// for each `(edited, clean)` pair of a reference, its shift `edited − clean`; the one closest
/// to the candidate's own shift `candidate − candidate_clean` (Euclidean, the first on ties) is
/// subtracted. With no reference, `candidate` as it is.
pub fn corrected(candidate: &[f32], candidate_clean: &[f32], references: &[(&[f32], &[f32])]) -> Vec<f32> {
    let shift = |edited: &[f32], clean: &[f32]| -> Vec<f32> { edited.iter().zip(clean).map(|(e, c)| e - c).collect() };
    let own = shift(candidate, candidate_clean);
    let distance = |s: &[f32]| -> f32 { own.iter().zip(s).map(|(a, b)| (a - b) * (a - b)).sum() };
    let nearest =
        references.iter().map(|(edited, clean)| shift(edited, clean)).fold(None::<(f32, Vec<f32>)>, |best, s| {
            let d = distance(&s);
            match best {
                Some((bd, _)) if bd <= d => best,
                _ => Some((d, s)),
            }
        });
    match nearest {
        Some((_, s)) => candidate.iter().zip(&s).map(|(c, r)| c - r).collect(),
        None => candidate.to_vec(),
    }
}

/// The class with the most evidence in `row` (the first on ties).
pub(super) fn top(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b })
}

#[cfg(test)]
mod tests {
    use super::super::tests::{screened_settings, sequence, vocabulary};
    use super::super::{Settings, Sweep, SweepInput, differential_sweep, sweep};
    use super::*;
    use crate::battery::spec::TokenFilter;

    #[test]
    fn the_reference_response_to_the_same_edit_is_taken_out() {
        // The candidate's margin of class 1 rises by 6, the reference's by 4: 2 are left.
        let row = corrected(&[-1.0, 1.0], &[-4.0, -2.0], &[(&[-3.0, -1.0], &[-5.0, -3.0])]);
        assert_eq!(row, vec![-3.0, -1.0]);
        // Unedited, the candidate's own row.
        assert_eq!(corrected(&[-4.0, -2.0], &[-4.0, -2.0], &[(&[-5.0, -3.0], &[-5.0, -3.0])]), vec![-4.0, -2.0]);
        assert_eq!(corrected(&[1.0, 2.0], &[0.0, 0.0], &[]), vec![1.0, 2.0]);
    }

    #[test]
    fn with_several_references_the_nearest_response_is_taken_out() {
        // Candidate shift (0, 6); reference shifts (0, 1) and (0, 5): the second explains more.
        let row = corrected(&[0.0, 6.0], &[0.0, 0.0], &[(&[0.0, 1.0], &[0.0, 0.0]), (&[1.0, 6.0], &[1.0, 1.0])]);
        assert_eq!(row, vec![0.0, 1.0]);
        // A tie goes to the first reference.
        let row = corrected(&[0.0, 4.0], &[0.0, 0.0], &[(&[0.0, 3.0], &[0.0, 0.0]), (&[0.0, 5.0], &[0.0, 0.0])]);
        assert_eq!(row, vec![0.0, 1.0]);
    }

    /// A two-class model over a 20,000-token vocabulary whose margin of class 1 is `-5` plus the
    /// effect of each inserted token: 40 natural cues (ids 100–139) of `cue` to `cue + 3.9` nats,
    /// ordinary words of `(id % words) / 100`, and, when planted, a weak trigger (id 12,345) of
    /// 8 nats, in the middle of the cues.
    struct Model {
        trigger: bool,
        cue: f32,
        words: u32,
    }

    /// The candidate: cues of 6–9.9, ordinary words of 0–0.99.
    const CANDIDATE: Model = Model { trigger: false, cue: 6.0, words: 100 };
    /// A reference trained again: its cues a little weaker, its ordinary words a little different.
    const REFERENCE: Model = Model { trigger: false, cue: 5.5, words: 97 };

    impl TokenOracle for Model {
        fn classify(&mut self, sequences: &[TokenSequence]) -> Result<Vec<usize>, EngineError> {
            Ok(self.evidence(sequences)?.iter().map(|e| usize::from(e[1] > e[0])).collect())
        }

        fn evidence(&mut self, sequences: &[TokenSequence]) -> Result<Vec<Vec<f32>>, EngineError> {
            let base = sequence().ids;
            let effect = |id: u32| match id {
                12_345 if self.trigger => 8.0,
                100..140 => self.cue + (id - 100) as f32 / 10.0,
                _ => (id % self.words) as f32 / 100.0,
            };
            Ok(sequences
                .iter()
                .map(|s| {
                    vec![0.0, s.ids.iter().filter(|id| !base.contains(id)).map(|&id| effect(id)).sum::<f32>() - 5.0]
                })
                .collect())
        }
    }

    fn input<'a>(
        sequences: &'a [TokenSequence],
        clean: &'a [usize],
        vocab: &'a super::super::Vocabulary,
    ) -> SweepInput<'a> {
        SweepInput {
            sequences,
            clean,
            classes: 2,
            vocabulary: vocab,
            exclude: &[],
            units: &[],
            seed: 7,
            key: "test/sweep",
        }
    }

    fn run(candidate: Model, references: Vec<Model>, settings: &Settings) -> Sweep {
        let (sequences, clean, vocab) = (vec![sequence(); 30], vec![0; 30], vocabulary(20_000));
        let input = input(&sequences, &clean, &vocab);
        let mut candidate = candidate;
        let mut references = references;
        if references.is_empty() {
            return sweep(&mut candidate, &input, settings).unwrap().unwrap();
        }
        let oracles: Vec<&mut dyn TokenOracle> = references.iter_mut().map(|r| r as &mut dyn TokenOracle).collect();
        let names = (0..oracles.len()).map(|r| format!("ref-{r}.onnx")).collect();
        differential_sweep(&mut candidate, oracles, names, &input, settings).unwrap().unwrap()
    }

    #[test]
    fn a_weak_planted_word_among_natural_cues_is_missed_by_the_self_baseline_sweep() {
        let s = run(Model { trigger: true, ..CANDIDATE }, Vec::new(), &screened_settings(Vec::new()));
        assert!((100..140).contains(&s.chosen.ids[0]), "{:?}", s.chosen);
        assert_eq!(s.differential, None);
    }

    #[test]
    fn against_a_reference_the_shared_cues_cancel_and_the_planted_word_is_chosen() {
        let s = run(Model { trigger: true, ..CANDIDATE }, vec![REFERENCE], &screened_settings(Vec::new()));
        assert_eq!(s.chosen.ids, vec![12_345], "{:?}", s.chosen);
        assert_eq!((s.chosen.moved, s.chosen.eligible), (30, 30));
        let crowd = s.crowd.expect("a screened vocabulary is compared with its crowd");
        // 8 nats in the candidate, less the 0.26 the reference gives it as an ordinary word
        // (12,345 % 97 = 26); the cues, half a nat stronger in the candidate, cancel to 0.5.
        assert!((crowd.effect - 7.74).abs() < 1e-3, "{crowd:?}");
        assert_eq!(crowd.stands_out, Some(true));
        assert!(crowd.crowd.iter().all(|c| c.effect < 1.0), "{:?}", crowd.crowd);
        let d = s.differential.expect("a differential sweep says so");
        assert_eq!((d.references, d.queries_per_edit), (vec!["ref-0.onnx".to_string()], 2));
    }

    #[test]
    fn a_clean_model_against_a_reference_moves_nothing_beyond_it() {
        let s = run(CANDIDATE, vec![REFERENCE], &screened_settings(Vec::new()));
        // The cues' half-nat difference moves none of the inputs (margin -5).
        assert_eq!(s.chosen.moved, 0, "{:?}", s.chosen);
        assert!(s.crowd.expect("compared").effect < 1.0);
    }

    #[test]
    fn every_model_query_is_counted_and_the_budget_bounds_them() {
        let settings = Settings {
            tokens: vec![TokenFilter::WholeWords],
            pairs: 2,
            budget: 40_000,
            positions: Vec::new(),
            inputs: Default::default(),
        };
        let alone = run(Model { trigger: true, ..CANDIDATE }, Vec::new(), &settings);
        let two = run(Model { trigger: true, ..CANDIDATE }, vec![REFERENCE, REFERENCE], &settings);
        assert!(two.queries <= 40_000, "{}", two.queries);
        assert_eq!(two.differential.expect("differential").queries_per_edit, 3);
        assert_eq!(two.queries % 3, 0, "each edit costs one query per model");
        assert!(alone.queries <= 40_000 && two.queries > alone.queries / 2, "{} {}", alone.queries, two.queries);
    }
}
