//! Group screening: how a vocabulary sweep covers a vocabulary too large to try token by token
//! (more than [`SCREEN_ABOVE`] tokens, e.g. the 30,522 WordPiece tokens of BERT-family
//! encoders) within its budget.
//!
//! Adaptive group testing (Dorfman, 1943; Hwang's generalized binary splitting, 1972): tokens
//! are inserted [`GROUP_SIZE`] at a time, each at its own drawn boundary, into a few confident
//! inputs: at the first level one input of each class, at later levels [`LATER_STAGES`] of
//! each. A group's *strength* toward class `k` is the smallest margin of `k` over the other
//! classes (log-probabilities or logits) on the inputs of the other classes; its strength is
//! that of its strongest class. A trigger moves every input into its class whatever the input
//! says, so its group's margin is large on all of them. Groups that move no input (strength
//! ≤ 0) are ruled out; of the others the [`MAX_KEPT`] strongest are kept (the rest are reported
//! as outranked), split in halves, and tested again, down to single tokens. A trigger among `V`
//! tokens therefore costs `V / GROUP_SIZE` groups at the first level and `log2(GROUP_SIZE)`
//! levels of at most `2 · MAX_KEPT` halves, not `V` trials. Class flips alone cannot do this on
//! a real sentence encoder: sixteen random words flip three confident short sentences in four
//! (MiniLM-L6, measured), so nearly every group "moves" its inputs; margins rank them.
//!
//! Whole words are grouped and tested before multi-piece words ([`super::units`], each unit one
//! member of its group, its pieces inserted together), then sub-word pieces, and special tokens
//! last (groups never mix them, and ties in strength keep that order). The single tokens that survive every
//! level form the shortlist the per-token sweep ranks and the confirmation tests; strong
//! natural cue words survive too, which is why the shortlist is ranked and confirmed rather
//! than reported as found.

use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::{Evaluator, SweepInput};
use crate::battery::spec::TokenFilter;
use crate::engine::EngineError;
use crate::transform::{Stream, sample_rng};

/// Vocabularies up to this many admitted tokens are swept token by token (every token on the
/// first rung of successive halving, which also finds pairs of tokens inert alone); larger ones
/// are screened in groups first. The text fixtures' 1,204 tokens stay below it; a 30 k-token
/// vocabulary would cost 30 k trials per input.
pub const SCREEN_ABOVE: usize = 4096;
/// Tokens per group at the first level (halved at each level after it), unless the budget asks
/// for larger groups; `log2(16) = 4` splitting levels follow the first.
pub const GROUP_SIZE: usize = 16;
/// Inputs per class each group is tested on after the first level.
pub const LATER_STAGES: usize = 2;
/// Groups kept at each level (the strongest), and so the most tokens shortlisted.
pub const MAX_KEPT: usize = 24;

/// What the screen tried and ruled out (in the report as `search.vocabulary.screen`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Screen {
    /// Tokens per group at the first level.
    pub group_size: usize,
    /// Tokens inserted, in a group, into the first level's inputs: every admitted token.
    pub tried: usize,
    /// Tokens in a group that moved none of its inputs into any class: none of them forces a
    /// class where it is inserted.
    pub ruled_out: usize,
    /// Tokens in groups that moved inputs, but less than the [`MAX_KEPT`] strongest groups of
    /// their level.
    pub outranked: usize,
    /// Single tokens that stayed among the strongest at every level (handed to the per-token
    /// sweep).
    pub shortlisted: usize,
    /// Splitting levels run (the first one included).
    pub levels: usize,
    /// Inputs the levels drew from.
    pub inputs: usize,
    pub queries: u64,
}

/// Screens `admitted` in groups; returns the shortlisted ids in vocabulary order and what the
/// screen covered. The first level spends at most about half of `budget` (larger groups when
/// it would not fit).
pub(super) fn screen(
    eval: &mut Evaluator<'_, '_>,
    input: &SweepInput<'_>,
    admitted: &[u32],
    budget: u64,
) -> Result<(Vec<u32>, Screen), EngineError> {
    let started = eval.queries;
    let classes = input.classes;
    // Stage s: the s-th search input of each class (in search order).
    let mut by_class: Vec<Vec<usize>> = vec![Vec::new(); classes];
    for (i, &c) in input.clean.iter().enumerate() {
        if c < classes {
            by_class[c].push(i);
        }
    }
    let stage = |s: usize| -> Vec<usize> { by_class.iter().filter_map(|inputs| inputs.get(s).copied()).collect() };
    let first: Vec<usize> = stage(0);
    let later: Vec<usize> = (0..LATER_STAGES).flat_map(stage).collect();

    // Whole words, then multi-piece words (units), then sub-word pieces, then special tokens,
    // each tier in seeded order.
    let vocab = input.vocabulary;
    let tier = |id: u32| {
        let i = id as usize;
        if i >= vocab.len() {
            None
        } else if vocab.special[i] {
            Some(TokenFilter::Special)
        } else if vocab.continuation[i] {
            Some(TokenFilter::SubWords)
        } else {
            Some(TokenFilter::WholeWords)
        }
    };
    let mut group_size = GROUP_SIZE;
    let first_cost = |g: usize| (admitted.len().div_ceil(g) * first.len()) as u64;
    while first_cost(group_size) > budget / 2 && group_size < admitted.len() {
        group_size *= 2;
    }
    let mut rng = sample_rng(input.seed, input.key, u64::MAX - 2, Stream::Probe);
    let mut groups: Vec<Vec<u32>> = Vec::new();
    for t in [Some(TokenFilter::WholeWords), None, Some(TokenFilter::SubWords), Some(TokenFilter::Special)] {
        let mut ids: Vec<u32> = admitted.iter().copied().filter(|&id| tier(id) == t).collect();
        ids.shuffle(&mut rng);
        groups.extend(ids.chunks(group_size).map(<[u32]>::to_vec));
    }
    let mut out = Screen {
        group_size,
        tried: admitted.len(),
        ruled_out: 0,
        outranked: 0,
        shortlisted: 0,
        levels: 0,
        inputs: later.len().max(first.len()),
        queries: 0,
    };
    loop {
        let inputs = if out.levels == 0 { &first } else { &later };
        out.levels += 1;
        let evidence = eval.evidence(&groups, inputs, super::Placement::Drawn)?;
        let strength: Vec<f32> = evidence.iter().map(|rows| eval.strength(rows, inputs)).collect();
        let mut order: Vec<usize> = (0..groups.len()).filter(|&g| strength[g] > 0.0).collect();
        out.ruled_out += (0..groups.len()).filter(|&g| strength[g] <= 0.0).map(|g| groups[g].len()).sum::<usize>();
        order.sort_by(|&a, &b| strength[b].total_cmp(&strength[a]).then(a.cmp(&b)));
        out.outranked += order.iter().skip(MAX_KEPT).map(|&g| groups[g].len()).sum::<usize>();
        order.truncate(MAX_KEPT);
        order.sort_unstable();
        let kept: Vec<Vec<u32>> = order.into_iter().map(|g| std::mem::take(&mut groups[g])).collect();
        if kept.iter().all(|g| g.len() == 1) {
            groups = kept;
            break;
        }
        groups = kept
            .into_iter()
            .flat_map(|g| {
                let half = g.len().div_ceil(2);
                if g.len() == 1 { vec![g] } else { vec![g[..half].to_vec(), g[half..].to_vec()] }
            })
            .collect();
    }
    let mut shortlist: Vec<u32> = groups.iter().map(|g| g[0]).collect();
    shortlist.sort_unstable();
    out.shortlisted = shortlist.len();
    out.queries = eval.queries - started;
    Ok((shortlist, out))
}

/// How strongly a group moves `inputs` into the class it moves them into most: for each class
/// `k`, the smallest margin of `k` over the best other class on the inputs whose clean class is
/// not `k` (positive: all of them moved), and the largest of these over the classes.
pub(super) fn strength(rows: &[Vec<f32>], inputs: &[usize], clean: &[usize], classes: usize) -> f32 {
    strength_over(rows, inputs, clean, classes, |_| None)
}

/// As [`strength`], each margin less the margin of the same class on the input's clean
/// evidence row, `base(i)` (when it gives one): the smallest *rise* of the margin. A
/// differential sweep ([`super::differential`]) ranks groups so, since a cue the reference
/// shares cancels toward the input's clean margin, not above zero.
pub(super) fn strength_over<'r>(
    rows: &[Vec<f32>],
    inputs: &[usize],
    clean: &[usize],
    classes: usize,
    base: impl Fn(usize) -> Option<&'r [f32]>,
) -> f32 {
    let at = |row: &[f32], k: usize| row.get(k).copied().unwrap_or(0.0);
    let margin = |row: &[f32], k: usize| {
        let other =
            (0..classes.max(row.len())).filter(|&j| j != k).map(|j| at(row, j)).fold(f32::NEG_INFINITY, f32::max);
        at(row, k) - other
    };
    (0..classes)
        .filter_map(|k| {
            rows.iter()
                .zip(inputs)
                .filter(|(_, i)| clean[**i] != k)
                .map(|(row, &i)| margin(row, k) - base(i).map_or(0.0, |b| margin(b, k)))
                .reduce(f32::min)
        })
        .fold(f32::NEG_INFINITY, f32::max)
}
