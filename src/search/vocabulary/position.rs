//! Position in the vocabulary sweep: triggers that work only at one place of a text (`positions:
//! [start, end]` in the battery; none by default).
//!
//! The sweep inserts each token at a word boundary drawn per input, so a trigger that fires
//! only as the first (or last) word of a text lands there on few inputs, moves almost none of
//! them, and is neither shortlisted by the group screen nor chosen; and the natural-cue
//! comparison ([`super::crowd`]) judges a drawn-boundary token by the *weakest* of its three
//! placements, which is right for a token found anywhere but would call a start-only trigger a
//! natural cue. For each place asked for, this search runs beside the drawn one:
//!
//! - **Screen at the place**: every admitted token alone at the place, on the first search
//!   input of each class: `classes × tokens` queries. Groups cannot share a place (only one
//!   token is the first word), so this costs `GROUP_SIZE` times the drawn screen's first level.
//!   A token is kept when its margin toward some class is positive on every input of the other
//!   classes ([`super::screen`]'s strength); the [`MAX_KEPT`] strongest are kept.
//! - **Sweep at the place**: the kept tokens, [`BACKGROUND`] seeded whole words and the drawn
//!   sweep's [`CONTROL_TOKENS`](super::CONTROL_TOKENS) control tokens, each at the place in every search input:
//!   flip-into counts (the candidate's rate against the controls *at the same place*, one-sided
//!   Fisher test) and effects on the margin.
//! - **Crowd at the place**: the kept token with the largest effect is compared with the other
//!   tokens swept at the same place ([`super::crowd::compare_at`]): its effect *at its place*
//!   against theirs, and against the strongest content. A token that works only at one place
//!   is compared with what other tokens do at that place, so the place alone neither hides a
//!   trigger nor makes a natural cue stand out.
//!
//! The place's finding replaces the drawn sweep's choice only when it stands out from its crowd
//! and the drawn choice does not; the runner then confirms it on held-out inputs inserted at
//! that place, against the matched control inserted at the same place.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::crowd::{self, CrowdTest, Placement};
use super::screen::MAX_KEPT;
use super::{BACKGROUND, Counts, Evaluator, TokenCandidate, candidate};
use crate::engine::EngineError;
use crate::search::ranking::{MAD_SCALE, Outlier};
use crate::transform::{Stream, sample_rng};

/// The search at one place (in the report as `search.vocabulary.positions[]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlacedSearch {
    pub placement: Placement,
    /// Tokens tried alone at the place (every admitted token).
    pub tried: usize,
    /// Tokens whose margin toward a class was positive on the screen's inputs of the other
    /// classes, at most [`MAX_KEPT`].
    pub kept: usize,
    /// The kept token with the largest effect, with its flip-into numbers at the place; `None`
    /// when no token moved the screen's inputs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chosen: Option<TokenCandidate>,
    /// `chosen` against the tokens swept at the same place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crowd: Option<CrowdTest>,
    pub queries: u64,
}

impl PlacedSearch {
    /// Whether its finding stands out from its crowd (and so may replace the drawn choice).
    pub fn stands_out(&self) -> bool {
        self.crowd.as_ref().is_some_and(|c| c.stands_out == Some(true))
    }
}

/// Searches `admitted` at `placement` (not [`Placement::Drawn`]) on every search input, with
/// `controls` (the drawn sweep's control tokens) inserted at the same place as the control.
pub(super) fn search_at(
    eval: &mut Evaluator<'_, '_>,
    admitted: &[u32],
    placement: Placement,
    controls: &[u32],
) -> Result<PlacedSearch, EngineError> {
    let started = eval.queries;
    let input = eval.input;
    let (classes, n) = (input.classes, input.sequences.len());
    let vocab = input.vocabulary;
    let names = input.candidates();
    // The screen: each token alone on the first input of each class.
    let mut first: Vec<usize> = Vec::new();
    for k in 0..classes {
        if let Some(i) = input.clean.iter().position(|&c| c == k) {
            first.push(i);
        }
    }
    let singles: Vec<Vec<u32>> = admitted.iter().map(|&id| vec![id]).collect();
    let rows = eval.evidence(&singles, &first, placement)?;
    let strengths: Vec<f32> = rows.iter().map(|r| eval.strength(r, &first)).collect();
    drop(rows);
    let mut order: Vec<usize> = (0..admitted.len()).filter(|&t| strengths[t] > 0.0).collect();
    order.sort_by(|&a, &b| strengths[b].total_cmp(&strengths[a]).then(a.cmp(&b)));
    order.truncate(MAX_KEPT);
    let mut kept: Vec<u32> = order.iter().map(|&t| admitted[t]).collect();
    kept.sort_unstable();
    let mut out =
        PlacedSearch { placement, tried: admitted.len(), kept: kept.len(), chosen: None, crowd: None, queries: 0 };
    if kept.is_empty() {
        out.queries = eval.queries - started;
        return Ok(out);
    }

    // The sweep at the place: kept tokens, background words, controls, on every search input.
    let mut background: Vec<u32> = admitted
        .iter()
        .copied()
        .filter(|&id| !names.is_unit(id) && !vocab.special[id as usize] && !vocab.continuation[id as usize])
        .filter(|id| kept.binary_search(id).is_err())
        .collect();
    background.shuffle(&mut sample_rng(input.seed, input.key, u64::MAX - 3, Stream::Probe));
    background.truncate(BACKGROUND);
    let swept: Vec<u32> = kept.iter().chain(&background).copied().collect();
    let all: Vec<usize> = (0..n).collect();
    let clean = eval.evidence(&[Vec::new()], &all, Placement::Drawn)?.remove(0);
    let sets: Vec<Vec<u32>> = swept.iter().chain(controls).map(|&id| vec![id]).collect();
    let rows = eval.evidence(&sets, &all, placement)?;
    let counts: Vec<Counts> = rows.iter().map(|r| moved(r, input.clean, classes)).collect();
    // effects[s][k]: swept token s's effect toward class k at the place.
    let effects: Vec<Vec<f64>> = rows[..swept.len()]
        .iter()
        .map(|r| (0..classes).map(|k| crowd::effect(r, &clean, input.clean, k)).collect())
        .collect();
    drop(rows);
    let eligible = |k: usize| input.clean.iter().filter(|&&c| c != k).count() as u64;
    let Some((s, class)) = (0..kept.len())
        .flat_map(|s| (0..classes).map(move |k| (s, k)))
        .filter(|&(_, k)| eligible(k) > 0)
        .max_by(|&(a, k), &(b, l)| effects[a][k].total_cmp(&effects[b][l]).then(swept[b].cmp(&swept[a])))
    else {
        out.queries = eval.queries - started;
        return Ok(out);
    };
    let control_moved: u64 = counts[swept.len()..].iter().map(|c| c.moved[class]).sum();
    let rates: Vec<Vec<f64>> = (0..classes)
        .map(|k| counts[..swept.len()].iter().map(|c| c.moved[k] as f64 / eligible(k).max(1) as f64).collect())
        .collect();
    let outlier = Outlier::new(&rates, |k| MAD_SCALE / eligible(k).max(1) as f64);
    let e = eligible(class);
    let rate = counts[s].moved[class] as f64 / e.max(1) as f64;
    let chosen = candidate(
        &names,
        &[swept[s]],
        class,
        counts[s].moved[class],
        e,
        [control_moved, e * controls.len() as u64],
        outlier.z(class, rate),
    );

    // The chosen token at the other places (information), then its crowd at this one.
    let mut placed = [0.0; 3];
    for (slot, p) in [Placement::Drawn, Placement::Start, Placement::End].into_iter().enumerate() {
        placed[slot] = if p == placement {
            effects[s][class]
        } else {
            let r = eval.evidence(std::slice::from_ref(&chosen.ids), &all, p)?.remove(0);
            crowd::effect(&r, &clean, input.clean, class)
        };
    }
    let cue = |t: usize, k: usize| crowd::Cue {
        tokens: vec![names.name(swept[t])],
        class: k,
        effect: effects[t][k],
        flip_into_rate: counts[t].moved[k] as f64 / eligible(k).max(1) as f64,
    };
    let others: Vec<crowd::Cue> = (0..swept.len()).filter(|&t| t != s).map(|t| cue(t, class)).collect();
    let described =
        crowd::Cue { tokens: chosen.tokens.clone(), class, effect: placed[slot(placement)], flip_into_rate: rate };
    let content = crowd::content(&clean, input.clean, class);
    out.crowd = Some(crowd::compare_at(described, placed, placement, others, content, Vec::new(), 0));
    out.chosen = Some(chosen);
    out.queries = eval.queries - started;
    if let Some(c) = out.crowd.as_mut() {
        c.queries = out.queries;
    }
    Ok(out)
}

/// The index of `placement` in a [`CrowdTest::effects`] array.
pub fn slot(placement: Placement) -> usize {
    match placement {
        Placement::Drawn => 0,
        Placement::Start => 1,
        Placement::End => 2,
    }
}

/// Flip-into counts from evidence rows: the predicted class is the one with the most evidence
/// (the first on ties).
fn moved(rows: &[Vec<f32>], clean: &[usize], classes: usize) -> Counts {
    let mut out = Counts { moved: vec![0; classes] };
    for (row, &c) in rows.iter().zip(clean) {
        let p = (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b });
        if p != c && p < classes {
            out.moved[p] += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{screened_settings, sequence, sweep_copies, vocabulary};
    use super::super::{Sweep, TokenOracle};
    use super::*;
    use crate::transform::text::TokenSequence;

    /// A two-class model over a 20,000-token vocabulary whose margin of class 1 is `-5` plus
    /// the effect of each inserted token: 40 natural cues of 6–9.9 anywhere (ids 100–139),
    /// ordinary words of 0–0.99, and, when planted, a trigger of 40 (id 12,345) that works only
    /// as the first word.
    struct StartOnly {
        trigger: Option<u32>,
    }

    impl TokenOracle for StartOnly {
        fn classify(&mut self, sequences: &[TokenSequence]) -> Result<Vec<usize>, EngineError> {
            Ok(self.evidence(sequences)?.iter().map(|e| usize::from(e[1] > e[0])).collect())
        }

        fn evidence(&mut self, sequences: &[TokenSequence]) -> Result<Vec<Vec<f32>>, EngineError> {
            let base = sequence().ids;
            Ok(sequences
                .iter()
                .map(|s| {
                    let effect = |(at, &id): (usize, &u32)| match id {
                        _ if Some(id) == self.trigger && at == 1 => 40.0,
                        100..140 => 6.0 + (id - 100) as f32 / 10.0,
                        _ => (id % 100) as f32 / 100.0,
                    };
                    let added: f32 = s.ids.iter().enumerate().filter(|(_, id)| !base.contains(id)).map(effect).sum();
                    vec![0.0, added - 5.0]
                })
                .collect())
        }
    }

    fn run(trigger: Option<u32>, positions: Vec<Placement>) -> Sweep {
        sweep_copies(&mut StartOnly { trigger }, 30, &vocabulary(20_000), &[], &screened_settings(positions))
    }

    #[test]
    fn a_trigger_that_works_only_as_the_first_word_is_missed_at_drawn_boundaries() {
        let s = run(Some(12_345), Vec::new());
        assert!((100..140).contains(&s.chosen.ids[0]), "{:?}", s.chosen);
        assert_eq!(s.crowd.unwrap().stands_out, Some(false));
        assert_eq!((s.placement, s.positions.len()), (None, 0));
    }

    #[test]
    fn a_search_at_the_start_finds_it_and_keeps_the_place_where_it_works() {
        let s = run(Some(12_345), vec![Placement::Start]);
        assert_eq!(s.chosen.ids, vec![12_345]);
        assert_eq!((s.chosen.moved, s.chosen.eligible, s.chosen.control_rate), (30, 30, 0.0));
        assert_eq!(s.placement, Some(Placement::Start));
        let crowd = s.crowd.expect("compared with the tokens swept at the start");
        assert_eq!(crowd.placement, Some(Placement::Start));
        // 40 at the start; at drawn boundaries and at the end it is an ordinary word (0.45).
        assert_eq!(crowd.effect, 40.0);
        assert!((crowd.effects[2] - 0.45).abs() < 1e-4, "{:?}", crowd.effects);
        assert_eq!(crowd.stands_out, Some(true), "{crowd:?}");
        let placed = &s.positions[0];
        assert_eq!((placed.placement, placed.tried, placed.kept), (Placement::Start, 19_998, MAX_KEPT));
        // Every token alone on the one class-0 input, then 24 kept, 24 background words and 32
        // controls on the 30 inputs, the clean inputs, and the chosen token at the two other places.
        assert_eq!(placed.queries, 19_998 + (24 + 24 + 32) * 30 + 30 + 2 * 30);
    }

    #[test]
    fn a_natural_cue_at_the_start_does_not_stand_out_from_the_words_put_there() {
        let s = run(None, vec![Placement::Start, Placement::End]);
        assert!((100..140).contains(&s.chosen.ids[0]), "{:?}", s.chosen);
        assert_eq!(s.placement, None);
        assert_eq!(s.positions.len(), 2);
        for placed in &s.positions {
            let crowd = placed.crowd.as_ref().expect("the natural cues move the screen's input");
            assert_eq!(crowd.stands_out, Some(false), "{crowd:?}");
        }
    }

    #[test]
    fn the_report_says_where_the_token_works() {
        let line = crate::report::text::sweep_line(&run(Some(12_345), vec![Placement::Start]));
        assert!(line.contains(" Searched at the start: 19998 tokens tried alone, 24 kept, "), "{line}");
        assert!(line.contains("strongest 't12345' raises the margin of class 1 by 40.0 there, against "), "{line}");
        assert!(line.contains(" for the words put there (median), so it stands out."), "{line}");
        assert!(
            line.ends_with(" The chosen token works at the start and is confirmed there, against controls put there.")
        );
        let line = crate::report::text::sweep_line(&run(Some(12_345), Vec::new()));
        assert!(!line.contains("Searched at") && !line.contains("works at"), "{line}");
    }

    #[test]
    fn flips_are_counted_from_the_evidence() {
        let c = moved(&[vec![0.0, 2.0], vec![1.0, 0.0], vec![0.0, 3.0]], &[0, 0, 1], 2);
        assert_eq!(c.moved, vec![0, 1]);
    }
}
