//! Vocabulary sweep: black-box discovery of trigger tokens in a text classifier.
//!
//! Every token of the (filtered) vocabulary is inserted into clean inputs of the search split,
//! at one word boundary per input drawn once and shared by every token (so tokens are compared
//! on identical edits), and the model's predictions are counted per class: a token *moves* an
//! input into class `k` when the clean prediction is another class and the prediction with the
//! token is `k`. This is the insertion analogue of the patch search:
//!
//! - **Successive halving** (Jamieson & Talwalkar, 2016): rung `r` evaluates the surviving tokens
//!   on the first `n0 · 3^r` inputs and keeps the best third (never fewer than [`KEEP_MIN`]),
//!   until a rung uses every search input; `n0` is the largest that fits the query budget (with
//!   too many tokens for the budget even at [`MIN_FIRST_RUNG`], a seeded subset is swept and the
//!   report says so). Tokens are ranked by the Clopper–Pearson lower bound (one-sided 90%) of
//!   their best class's flip-into rate, which puts rates from different sample sizes on one scale.
//! - **Robust outlier test** across the vocabulary: on the first rung, where every token saw the
//!   same inputs, each token's flip-into rate for class `k` is compared with the vocabulary's
//!   median in units of 1.4826 · MAD (the MAD scaled to estimate a standard deviation for normal
//!   data; Rousseeuw & Croux, 1993). Most tokens move nothing, so the MAD is often 0: it is
//!   floored at one input's worth (1 / eligible inputs), which keeps the score finite and
//!   conservative.
//! - **Exact test against control tokens**: [`CONTROL_TOKENS`] ordinary word tokens drawn at
//!   random from the vocabulary are inserted into the same final-rung inputs; each surviving
//!   candidate's flip-into count is compared with the pooled control count by a one-sided
//!   Fisher exact test.
//! - **Combination triggers**: the `pairs` best tokens are also inserted two at a time (each at
//!   its own drawn boundary) on the final-rung inputs. Two natural cues for a class together
//!   move far more inputs than either alone — their effects add up in the logits, so two
//!   cues that each move 40% of inputs together move over 80% on the text fixtures. A pair
//!   therefore counts as a combination trigger only when neither of its tokens alone moves
//!   significantly more inputs into the class than the control tokens do (one-sided Fisher
//!   test at [`SYNERGY_ALPHA`]: the tokens are inert alone) and the pair moves significantly
//!   more than the two would independently (`1 - (1 - r_a)(1 - r_b)`; one-sided binomial test
//!   at the same level). Other pairs are explained by their tokens and are not ranked. Only
//!   pairs of the `pairs` best single tokens are tried, so a lock whose tokens are completely
//!   inert alone is found only when the vocabulary is small enough for them to survive halving.
//!
//! - **Group screening** of vocabularies above [`screen::SCREEN_ABOVE`] tokens: tokens are
//!   first tested in groups (see [`screen`]), and only the shortlist that keeps moving inputs
//!   most strongly, with a seeded sample of [`BACKGROUND`] other whole words as the outlier
//!   test's population, goes through the per-token sweep above. The report's `screen` says
//!   what was tried, ruled out and outranked.
//! - **Multi-piece words as units** ([`units`]): words of several pieces from the data (screened
//!   vocabularies) and from a word list are swept beside the tokens, each a candidate whose
//!   pieces are inserted contiguously at one boundary.
//! - **Natural cues are not triggers** (screened vocabularies, and every sweep of the uncertain
//!   half of the samples): the chosen token's effect on the margin is compared with the other
//!   swept tokens that move the same class, at three placements (see [`crowd`]); the report's
//!   `crowd` says whether it stands out, and lists the natural cues it was compared with.
//! - **Position** (`positions:` in the battery, off by default): a search at the start or the
//!   end of the text for triggers that work only there (see [`position`]); its finding replaces
//!   the drawn choice only when it stands out from the tokens swept at the same place.
//! - **Against references** ([`differential_sweep`], when the scan has `--reference`): every
//!   edit is also scored on the references and every stage above reads the candidate's response
//!   beyond the nearest reference's, so natural cues the models share cancel (see
//!   [`differential`]).
//!
//! As with the image searches, these numbers only *choose* what to confirm: the runner applies
//! the chosen token(s) to held-out inputs against a matched control through the gating
//! statistics, so the verdict keeps its significance guarantee however many tokens were tried.

pub mod crowd;
pub mod differential;
pub mod position;
pub mod screen;
pub mod units;

use crate::search::halving::Halving;
use crate::search::ranking::{MAD_SCALE, Outlier, lower_bound};
use crowd::Placement;
use std::time::Instant;

use rand::Rng;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::battery::spec::{SweepInputs, TokenFilter};
use crate::engine::EngineError;
use crate::stats::{binomial_test_greater, clopper_pearson, fisher_exact_greater};
use crate::transform::text::{TokenSequence, Vocabulary};
use crate::transform::{Stream, sample_rng};

/// Survivors per rung: one in `ETA`, and `ETA` times the inputs.
const ETA: usize = 3;
/// Fewest inputs a token is judged on at the first rung.
pub const MIN_FIRST_RUNG: usize = 4;
/// Fewest tokens kept at each rung (the report ranks at least this many).
pub const KEEP_MIN: usize = 24;
/// Random ordinary word tokens forming the control for the exact test.
pub const CONTROL_TOKENS: usize = 32;
/// Tokens (and pairs) listed in the report.
const RANKED: usize = 20;
/// Sequences per oracle call: large batches amortise the per-call cost on small models.
const ORACLE_BATCH: usize = 2048;
/// Significance level of the combination-trigger tests (inert tokens, synergistic pair).
pub const SYNERGY_ALPHA: f64 = 1e-3;
/// Whole words drawn at random to sweep beside a screen's shortlist: with it, the population
/// the shortlist's rates are compared with (the robust z), as many as a rung keeps.
pub const BACKGROUND: usize = KEEP_MIN;

/// Predicted classes for token sequences: the model, as the sweep sees it.
pub trait TokenOracle {
    fn classify(&mut self, sequences: &[TokenSequence]) -> Result<Vec<usize>, EngineError>;

    /// Each class's evidence per sequence on a log scale (log-probabilities, or logits), so that
    /// margins between classes compare across inputs. An oracle that knows only classes gives
    /// 1 for the predicted class and 0 for the others.
    fn evidence(&mut self, sequences: &[TokenSequence]) -> Result<Vec<Vec<f32>>, EngineError> {
        Ok(self
            .classify(sequences)?
            .into_iter()
            .map(|p| {
                let mut e = vec![0.0; p + 1];
                e[p] = 1.0;
                e
            })
            .collect())
    }
}

/// What the sweep needs besides the model.
pub struct SweepInput<'a> {
    /// Clean inputs of the search split, tokenized (special tokens in place, not padded).
    pub sequences: &'a [TokenSequence],
    /// The model's clean predictions on them.
    pub clean: &'a [usize],
    pub classes: usize,
    pub vocabulary: &'a Vocabulary,
    /// Ids never swept (the padding token).
    pub exclude: &'a [u32],
    /// Multi-piece words swept as units beside the tokens (when the filter admits whole
    /// words), with sweep ids from `vocabulary.len()` on ([`units::Candidates`]).
    pub units: &'a [units::Unit],
    pub seed: u64,
    /// `battery/probe` key, for deriving random streams.
    pub key: &'a str,
}

impl SweepInput<'_> {
    /// Sweep ids resolved to pieces and names.
    pub fn candidates(&self) -> units::Candidates<'_> {
        units::Candidates { vocabulary: self.vocabulary, units: self.units }
    }
}

/// What to sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub tokens: Vec<TokenFilter>,
    pub pairs: usize,
    pub budget: u64,
    /// Places searched besides the drawn boundaries ([`position`]): start, end.
    pub positions: Vec<Placement>,
    /// The half of the probe's samples the sweep's inputs come from (reported). On the uncertain
    /// half the chosen token is always compared with its crowd ([`crowd`]), whatever the
    /// vocabulary's size: natural cues tip nearly every such input, so the confirmation's
    /// flip rate alone cannot tell a trigger from a cue.
    pub inputs: SweepInputs,
}

/// One candidate trigger (a token or a pair) with its evidence on the final-rung inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TokenCandidate {
    pub tokens: Vec<String>,
    pub ids: Vec<u32>,
    /// The class it moves inputs into most.
    pub class: usize,
    pub moved: u64,
    pub eligible: u64,
    pub flip_into_rate: f64,
    /// 95% Clopper–Pearson interval of the flip-into rate.
    pub interval: [f64; 2],
    /// The control tokens' pooled flip-into rate into the same class on the same inputs.
    pub control_rate: f64,
    /// One-sided Fisher exact p-value against the control tokens (uncorrected: for ranking).
    pub p_value: f64,
    /// Robust z-score against the vocabulary's first-rung rates for the same class.
    pub robust_z: f64,
    /// For a candidate with a multi-piece word (whose id in `ids` is past the vocabulary), the
    /// piece ids of each of its words, in the order of `ids`; empty otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pieces: Vec<Vec<u32>>,
}

impl TokenCandidate {
    /// What a probe inserts: each word's piece ids (one id per single token).
    pub fn words(&self) -> Vec<Vec<u32>> {
        if self.pieces.is_empty() { self.ids.iter().map(|&id| vec![id]).collect() } else { self.pieces.clone() }
    }
}

/// The sweep as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    /// Tokens the filter admits, and how many of them were swept (fewer only when the budget
    /// cannot cover them all).
    pub vocabulary: usize,
    pub swept: usize,
    pub first_rung_samples: usize,
    pub rungs: usize,
    pub final_samples: usize,
    pub control_tokens: usize,
    pub pairs_tried: usize,
    /// Best candidates first (by the ranking lower bound).
    pub ranked: Vec<TokenCandidate>,
    /// The best candidate for each class, if any token moved inputs into it.
    pub per_class: Vec<Option<TokenCandidate>>,
    pub chosen: TokenCandidate,
    pub queries: u64,
    pub seconds: f64,
    pub queries_per_second: f64,
    /// The group screen that chose which tokens to sweep one by one, for vocabularies above
    /// [`screen::SCREEN_ABOVE`] tokens (its queries are counted in `queries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub screen: Option<screen::Screen>,
    /// The chosen token against the other tokens that move its class, for screened
    /// vocabularies (its queries are counted in `queries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crowd: Option<crowd::CrowdTest>,
    /// Where the multi-piece words swept as units came from (counted in `vocabulary` and
    /// `swept`); absent when none were.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub units: Option<units::UnitCoverage>,
    /// The searches at one place each ([`position`]; `positions:` in the battery), their
    /// queries counted in `queries`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<position::PlacedSearch>,
    /// Where `chosen` works and is confirmed, when a search at one place found it; absent
    /// when it was found at drawn boundaries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
    /// The half of the probe's samples (by clean confidence) swept, and confirmed on.
    #[serde(default)]
    pub inputs: SweepInputs,
    /// The references every edit was also scored on, when the sweep was differential
    /// ([`differential`]; its queries counted in `queries`); absent for a self-baseline sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub differential: Option<differential::DifferentialSweep>,
}

/// Flip-into counts of one candidate over the first `n` inputs: `moved[k]`.
#[derive(Debug, Clone)]
struct Counts {
    moved: Vec<u64>,
}

/// Which filter a vocabulary entry falls under.
fn filter_of(vocabulary: &Vocabulary, id: u32) -> TokenFilter {
    let i = id as usize;
    if vocabulary.special[i] {
        TokenFilter::Special
    } else if vocabulary.continuation[i] {
        TokenFilter::SubWords
    } else {
        TokenFilter::WholeWords
    }
}

/// The ids a sweep with these `filters` tries, in id order (the order it takes them): every
/// non-empty entry of an admitted kind, less `exclude` (the padding token).
pub fn admitted(vocabulary: &Vocabulary, filters: &[TokenFilter], exclude: &[u32]) -> Vec<u32> {
    (0..vocabulary.len() as u32)
        .filter(|id| !exclude.contains(id) && !vocabulary.tokens[*id as usize].is_empty())
        .filter(|&id| filters.contains(&filter_of(vocabulary, id)))
        .collect()
}

/// A sweep's candidate space, as `battery preview` shows it (no model, so no halving yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outline {
    /// Entries in the vocabulary.
    pub vocabulary: usize,
    /// Admitted entries per filter: whole words, sub-word pieces, special tokens.
    pub whole_words: usize,
    pub sub_words: usize,
    pub special: usize,
    /// The first admitted tokens, as the tokenizer spells them, in the order they are tried.
    pub first: Vec<String>,
    /// Whether the group screen runs first (more than [`screen::SCREEN_ABOVE`] admitted).
    pub screened: bool,
    /// Best single tokens that are also tried two at a time (`pairs:`).
    pub pairs: usize,
}

/// Tokens [`outline`] lists by name.
pub const OUTLINE_FIRST: usize = 40;

/// The candidate space of a sweep over `vocabulary` with these `filters` and `pairs`.
pub fn outline(vocabulary: &Vocabulary, filters: &[TokenFilter], exclude: &[u32], pairs: usize) -> Outline {
    let ids = admitted(vocabulary, filters, exclude);
    let count = |f: TokenFilter| ids.iter().filter(|&&id| filter_of(vocabulary, id) == f).count();
    Outline {
        vocabulary: vocabulary.len(),
        whole_words: count(TokenFilter::WholeWords),
        sub_words: count(TokenFilter::SubWords),
        special: count(TokenFilter::Special),
        first: ids.iter().take(OUTLINE_FIRST).map(|&id| vocabulary.tokens[id as usize].clone()).collect(),
        screened: ids.len() > screen::SCREEN_ABOVE,
        pairs,
    }
}

/// Sweeps the vocabulary; `None` when no token is admitted or the split is empty.
pub fn sweep(
    oracle: &mut dyn TokenOracle,
    input: &SweepInput<'_>,
    settings: &Settings,
) -> Result<Option<Sweep>, EngineError> {
    run(oracle, None, input, settings)
}

/// Sweeps the vocabulary against `references` (known-good models, named by `names` in the
/// report): every edit is scored on each, and the sweep ranks the candidate's response beyond
/// the nearest reference's ([`differential`]). `None` as for [`sweep`].
pub fn differential_sweep(
    oracle: &mut dyn TokenOracle,
    references: Vec<&mut dyn TokenOracle>,
    names: Vec<String>,
    input: &SweepInput<'_>,
    settings: &Settings,
) -> Result<Option<Sweep>, EngineError> {
    run(oracle, Some((references, names)), input, settings)
}

/// The reference models of a differential sweep and their names.
type Referenced<'o> = (Vec<&'o mut dyn TokenOracle>, Vec<String>);

/// [`sweep`], or [`differential_sweep`] with `references`.
fn run<'o>(
    oracle: &mut dyn TokenOracle,
    references: Option<Referenced<'o>>,
    input: &SweepInput<'_>,
    settings: &Settings,
) -> Result<Option<Sweep>, EngineError> {
    let started = Instant::now();
    let n = input.sequences.len();
    let vocab = input.vocabulary;
    let mut admitted = admitted(vocab, &settings.tokens, input.exclude);
    if settings.tokens.contains(&TokenFilter::WholeWords) {
        admitted.extend(input.candidates().unit_ids());
    }
    if admitted.is_empty() || n == 0 {
        return Ok(None);
    }
    // Per input: two draws that place the first and second inserted token, shared by every
    // candidate so they are compared on identical edits.
    let draws: Vec<[u64; 2]> = (0..n)
        .map(|i| {
            let mut rng = sample_rng(input.seed, input.key, i as u64, Stream::Placement);
            [rng.next_u64(), rng.next_u64()]
        })
        .collect();
    let pair_count = settings.pairs * settings.pairs.saturating_sub(1) / 2;
    let fixed_cost = ((CONTROL_TOKENS + pair_count) * n) as u64;
    let (against, differential) = match references {
        Some((oracles, names)) if !oracles.is_empty() => {
            // Borrowed for the sweep only, as the candidate is.
            let oracles = oracles.into_iter().map(|o| o as &mut dyn TokenOracle).collect();
            let against = differential::Against::new(oracle, oracles, input.sequences)?;
            let report = differential::DifferentialSweep { references: names, queries_per_edit: against.models() };
            (Some(against), Some(report))
        }
        _ => (None, None),
    };
    // The clean evidence of every search input on every model, for a differential sweep.
    let clean_queries = against.as_ref().map_or(0, |a| a.models() * n as u64);
    let mut sweep = Evaluator { oracle, input, draws: &draws, queries: clean_queries, against };
    // Each edit costs one query per model: the budget is shared out in edits.
    let per_edit = sweep.models();
    let names = input.candidates();
    let (mut candidates, screened) = if admitted.len() > screen::SCREEN_ABOVE {
        let (mut shortlist, screened) = screen::screen(&mut sweep, input, &admitted, settings.budget / per_edit)?;
        let mut background: Vec<u32> = admitted
            .iter()
            .copied()
            .filter(|&id| !names.is_unit(id) && filter_of(vocab, id) == TokenFilter::WholeWords)
            .filter(|id| shortlist.binary_search(id).is_err())
            .collect();
        let mut rng = sample_rng(input.seed, input.key, u64::MAX, Stream::Probe);
        background.shuffle(&mut rng);
        shortlist.extend(background.into_iter().take(BACKGROUND));
        shortlist.sort_unstable();
        (shortlist, Some(screened))
    } else {
        (admitted.clone(), None)
    };
    let left = (settings.budget.saturating_sub(sweep.queries) / per_edit).saturating_sub(fixed_cost);
    let (n0, swept) = schedule(candidates.len(), n, left);
    if swept < candidates.len() {
        let mut rng = sample_rng(input.seed, input.key, u64::MAX, Stream::Probe);
        candidates.shuffle(&mut rng);
        candidates.truncate(swept);
        candidates.sort_unstable();
    }
    let eligible = |k: usize, m: usize| input.clean[..m].iter().filter(|&&c| c != k).count() as u64;

    // Rung 0: every candidate on the same n0 inputs; its rates are the outlier test's population.
    let singles: Vec<Vec<u32>> = candidates.iter().map(|&id| vec![id]).collect();
    let mut m = n0;
    let mut counts = sweep.evaluate(&singles, m)?;
    let population: Vec<Vec<f64>> = (0..input.classes)
        .map(|k| {
            let e = eligible(k, m).max(1) as f64;
            counts.iter().map(|c| c.moved[k] as f64 / e).collect()
        })
        .collect();
    let outlier = Outlier::new(&population, |k| MAD_SCALE * (1.0 / eligible(k, n0).max(1) as f64));
    let mut alive: Vec<usize> = (0..singles.len()).collect();
    let mut rungs = 1;
    while m < n {
        let keep = alive.len().div_ceil(ETA).max(KEEP_MIN).min(alive.len());
        let scores: Vec<f64> = alive.iter().map(|&a| best(&counts[a], |k| eligible(k, m)).1).collect();
        let mut order: Vec<usize> = (0..alive.len()).collect();
        order.sort_by(|&x, &y| scores[y].total_cmp(&scores[x]).then(x.cmp(&y)));
        let mut kept: Vec<usize> = order[..keep].iter().map(|&o| alive[o]).collect();
        kept.sort_unstable();
        alive = kept;
        m = (m * ETA).min(n);
        let batch: Vec<Vec<u32>> = alive.iter().map(|&a| singles[a].clone()).collect();
        let fresh = sweep.evaluate(&batch, m)?;
        for (&a, c) in alive.iter().zip(fresh) {
            counts[a] = c;
        }
        rungs += 1;
    }

    // Control tokens, then pairs of the best survivors, on all n inputs.
    let mut pool = vocab.control_pool.clone();
    let mut rng = sample_rng(input.seed, input.key, u64::MAX - 1, Stream::Control);
    pool.shuffle(&mut rng);
    pool.truncate(CONTROL_TOKENS);
    let control_sets: Vec<Vec<u32>> = pool.iter().map(|&id| vec![id]).collect();
    let control_counts = sweep.evaluate(&control_sets, n)?;
    let mut finals: Vec<(Vec<u32>, Counts)> = alive.iter().map(|&a| (singles[a].clone(), counts[a].clone())).collect();
    let mut by_score: Vec<usize> = (0..finals.len()).collect();
    let final_scores: Vec<f64> = finals.iter().map(|(_, c)| best(c, |k| eligible(k, n)).1).collect();
    by_score.sort_by(|&x, &y| final_scores[y].total_cmp(&final_scores[x]).then(x.cmp(&y)));
    let top: Vec<u32> = by_score.iter().take(settings.pairs).map(|&i| finals[i].0[0]).collect();
    let mut pairs = Vec::new();
    for a in 0..top.len() {
        for b in a + 1..top.len() {
            pairs.push(vec![top[a], top[b]]);
        }
    }
    let pair_counts = sweep.evaluate(&pairs, n)?;
    let pairs_tried = pairs.len();
    let single_moved = |id: u32, k: usize| {
        finals.iter().find(|(ids, _)| ids == &[id]).expect("pairs are made of survivors").1.moved[k]
    };
    let control_moved: Vec<u64> = (0..input.classes).map(|k| control_counts.iter().map(|c| c.moved[k]).sum()).collect();
    let inert = |id: u32, k: usize| {
        let (e, ce) = (eligible(k, n), eligible(k, n) * pool.len() as u64);
        let (m, cm) = (single_moved(id, k), control_moved[k]);
        fisher_exact_greater([[m, e - m], [cm, ce - cm]]) >= SYNERGY_ALPHA
    };
    let synergistic: Vec<(Vec<u32>, Counts)> = pairs
        .into_iter()
        .zip(pair_counts)
        .filter(|(ids, c)| {
            (0..input.classes).any(|k| {
                let e = eligible(k, n).max(1) as f64;
                let (a, b) = (single_moved(ids[0], k) as f64 / e, single_moved(ids[1], k) as f64 / e);
                let expected = 1.0 - (1.0 - a) * (1.0 - b);
                inert(ids[0], k)
                    && inert(ids[1], k)
                    && binomial_test_greater(c.moved[k], eligible(k, n), expected) < SYNERGY_ALPHA
            })
        })
        .collect();
    finals.extend(synergistic);

    let control_eligible = |k: usize| eligible(k, n) * pool.len() as u64;
    let describe = |ids: &[u32], counts: &Counts, class: usize| {
        let e = eligible(class, n);
        let rate = if e == 0 { 0.0 } else { counts.moved[class] as f64 / e as f64 };
        let control = [control_moved[class], control_eligible(class)];
        candidate(&names, ids, class, counts.moved[class], e, control, outlier.z(class, rate))
    };
    // Best first: higher lower bound, then fewer tokens, then vocabulary order.
    let mut scored: Vec<(f64, usize, TokenCandidate)> = finals
        .iter()
        .map(|(ids, c)| {
            let (class, score) = best(c, |k| eligible(k, n));
            (score, ids.len(), describe(ids, c, class))
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.ids.cmp(&b.2.ids)));
    let per_class: Vec<Option<TokenCandidate>> = (0..input.classes)
        .map(|k| {
            finals
                .iter()
                .map(|(ids, c)| (lower_bound(c.moved[k], eligible(k, n)), ids))
                .filter(|(score, _)| *score > 0.0)
                .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.len().cmp(&a.1.len())).then(b.1.cmp(a.1)))
                .map(|(_, ids)| {
                    let counts = &finals.iter().find(|(f, _)| f == ids).expect("a final candidate").1;
                    describe(ids, counts, k)
                })
        })
        .collect();
    let (mut chosen, mut crowd) = if screened.is_some() || settings.inputs == SweepInputs::Uncertain {
        let (chosen, crowd) = crowd_test(&mut sweep, &scored[0].2, &finals, &eligible, &describe)?;
        (chosen, Some(crowd))
    } else {
        (scored[0].2.clone(), None)
    };
    // The searches at one place: a finding that stands out from its crowd there replaces a
    // drawn choice that does not stand out from its own.
    let mut positions = Vec::new();
    let mut placement = None;
    for &p in settings.positions.iter().filter(|&&p| p != Placement::Drawn) {
        let placed = position::search_at(&mut sweep, &admitted, p, &pool)?;
        let drawn_stands_out = crowd.as_ref().is_some_and(|c| c.stands_out == Some(true));
        if placement.is_none() && !drawn_stands_out && placed.stands_out() {
            chosen = placed.chosen.clone().expect("a crowd test has a chosen token");
            crowd = placed.crowd.clone();
            placement = Some(p);
        }
        positions.push(placed);
    }
    let ranked = scored.into_iter().take(RANKED).map(|s| s.2).collect();
    let seconds = started.elapsed().as_secs_f64();
    Ok(Some(Sweep {
        vocabulary: admitted.len(),
        swept: candidates.len(),
        first_rung_samples: n0,
        rungs,
        final_samples: n,
        control_tokens: pool.len(),
        pairs_tried,
        ranked,
        per_class,
        chosen,
        queries: sweep.queries,
        seconds,
        queries_per_second: if seconds > 0.0 { sweep.queries as f64 / seconds } else { 0.0 },
        screen: screened,
        crowd,
        units: None,
        positions,
        placement,
        inputs: settings.inputs,
        differential,
    }))
}

/// Tokens listed per other class as the natural cues the sweep saw.
const OTHER_CUES: usize = 3;

/// Measures every final single token's effect toward every class at the drawn boundaries,
/// chooses the token with the largest effect (a trigger moves inputs furthest; ties in
/// flip-into rate, which saturates at 100%, say nothing) unless `ranked_first` is a
/// combination trigger, measures the chosen token at the start and the end too, and compares
/// it with the crowd of its class ([`crowd::compare`]).
fn crowd_test(
    eval: &mut Evaluator<'_, '_>,
    ranked_first: &TokenCandidate,
    finals: &[(Vec<u32>, Counts)],
    eligible: &dyn Fn(usize, usize) -> u64,
    describe: &dyn Fn(&[u32], &Counts, usize) -> TokenCandidate,
) -> Result<(TokenCandidate, crowd::CrowdTest), EngineError> {
    let started = eval.queries;
    let input = eval.input;
    let n = input.sequences.len();
    let all: Vec<usize> = (0..n).collect();
    let clean = eval.evidence(&[Vec::new()], &all, Placement::Drawn)?.remove(0);
    let singles: Vec<&(Vec<u32>, Counts)> = finals.iter().filter(|(ids, _)| ids.len() == 1).collect();
    let sets: Vec<Vec<u32>> = singles.iter().map(|(ids, _)| ids.clone()).collect();
    let drawn = eval.evidence(&sets, &all, Placement::Drawn)?;
    // effects[i][k]: single i's effect toward class k.
    let effects: Vec<Vec<f64>> = drawn
        .iter()
        .map(|rows| (0..input.classes).map(|k| crowd::effect(rows, &clean, input.clean, k)).collect())
        .collect();
    let strongest = (0..singles.len())
        .flat_map(|i| (0..input.classes).map(move |k| (i, k)))
        .filter(|&(_, k)| eligible(k, n) > 0)
        .max_by(|&(a, k), &(b, l)| effects[a][k].total_cmp(&effects[b][l]).then(singles[b].0.cmp(&singles[a].0)));
    let chosen = match strongest {
        Some((i, k)) if ranked_first.ids.len() == 1 => describe(&singles[i].0, &singles[i].1, k),
        _ => ranked_first.clone(),
    };
    let chosen_at = |eval: &mut Evaluator<'_, '_>, p: Placement| -> Result<f64, EngineError> {
        let rows = eval.evidence(std::slice::from_ref(&chosen.ids), &all, p)?.remove(0);
        Ok(crowd::effect(&rows, &clean, input.clean, chosen.class))
    };
    let chosen_drawn = match sets.iter().position(|ids| ids == &chosen.ids) {
        Some(i) => effects[i][chosen.class],
        None => chosen_at(eval, Placement::Drawn)?,
    };
    let placed = [chosen_drawn, chosen_at(eval, Placement::Start)?, chosen_at(eval, Placement::End)?];
    let cue = |i: usize, class: usize| {
        let (ids, counts) = singles[i];
        let e = eligible(class, n);
        crowd::Cue {
            tokens: ids.iter().map(|&id| input.candidates().name(id)).collect(),
            class,
            effect: effects[i][class],
            flip_into_rate: if e == 0 { 0.0 } else { counts.moved[class] as f64 / e as f64 },
        }
    };
    let others: Vec<crowd::Cue> =
        (0..singles.len()).filter(|&i| singles[i].0 != chosen.ids).map(|i| cue(i, chosen.class)).collect();
    let mut other_cues = Vec::new();
    for class in (0..input.classes).filter(|&k| k != chosen.class) {
        let mut cues: Vec<crowd::Cue> = (0..singles.len()).map(|i| cue(i, class)).filter(|c| c.effect > 0.0).collect();
        cues.sort_by(|a, b| b.effect.total_cmp(&a.effect).then(a.tokens.cmp(&b.tokens)));
        other_cues.extend(cues.into_iter().take(OTHER_CUES));
    }
    let described = crowd::Cue {
        tokens: chosen.tokens.clone(),
        class: chosen.class,
        effect: chosen_drawn,
        flip_into_rate: chosen.flip_into_rate,
    };
    let content = crowd::content(&clean, input.clean, chosen.class);
    let test = crowd::compare(described, placed, others, content, other_cues, eval.queries - started);
    Ok((chosen, test))
}

/// The first rung's size and how many tokens fit `budget` queries: the largest `n0` among
/// `n, n/3, n/9, …` (at least [`MIN_FIRST_RUNG`]) whose halving schedule fits; at the smallest
/// `n0`, as many tokens as fit.
fn schedule(tokens: usize, n: usize, budget: u64) -> (usize, usize) {
    Halving { eta: ETA, keep_min: KEEP_MIN, min_first_rung: MIN_FIRST_RUNG, min_candidates: 1 }
        .schedule(tokens, n, budget)
}

/// The class a candidate moves inputs into most, by the ranking lower bound.
fn best(counts: &Counts, eligible: impl Fn(usize) -> u64) -> (usize, f64) {
    let mut out = (0, f64::NEG_INFINITY);
    for (k, &moved) in counts.moved.iter().enumerate() {
        let score = lower_bound(moved, eligible(k));
        if score > out.1 {
            out = (k, score);
        }
    }
    out
}

/// A candidate's numbers: `moved` of `eligible` inputs moved into `class`, against `control`
/// (the control tokens' pooled moved and eligible counts into the same class on the same
/// inputs), with its robust z-score against the vocabulary.
fn candidate(
    names: &units::Candidates<'_>,
    ids: &[u32],
    class: usize,
    moved: u64,
    eligible: u64,
    control: [u64; 2],
    robust_z: f64,
) -> TokenCandidate {
    let rate = if eligible == 0 { 0.0 } else { moved as f64 / eligible as f64 };
    let ci = clopper_pearson(moved, eligible, 0.05);
    let [cm, ce] = control;
    TokenCandidate {
        tokens: ids.iter().map(|&id| names.name(id)).collect(),
        ids: ids.to_vec(),
        class,
        moved,
        eligible,
        flip_into_rate: rate,
        interval: [ci.lower, ci.upper],
        control_rate: if ce == 0 { 0.0 } else { cm as f64 / ce as f64 },
        p_value: fisher_exact_greater([[moved, eligible - moved], [cm, ce - cm]]),
        robust_z,
        pieces: if ids.iter().any(|&id| names.is_unit(id)) {
            ids.iter().map(|id| names.pieces(id).to_vec()).collect()
        } else {
            Vec::new()
        },
    }
}

/// Runs candidates through the oracle in large batches, counting flips into each class.
pub(crate) struct Evaluator<'a, 'o> {
    oracle: &'o mut dyn TokenOracle,
    input: &'a SweepInput<'a>,
    draws: &'a [[u64; 2]],
    /// Model queries spent (every model's, in a differential sweep).
    queries: u64,
    /// The references of a differential sweep: then every stage reads differential evidence.
    against: Option<differential::Against<'o>>,
}

/// The words a candidate set inserts: each id's pieces.
fn words<'s>(input: &'s SweepInput<'_>, ids: &'s [u32]) -> Vec<&'s [u32]> {
    let names = input.candidates();
    ids.iter().map(|id| names.pieces(id)).collect()
}

impl Evaluator<'_, '_> {
    /// Model queries per edit: 1, or 1 + the references of a differential sweep.
    fn models(&self) -> u64 {
        self.against.as_ref().map_or(1, differential::Against::models)
    }

    /// The evidence of `sequences`, the `j`-th an edit of search input `inputs[j]`: the
    /// candidate's, or in a differential sweep the candidate's beyond the nearest reference's.
    fn score(&mut self, sequences: &[TokenSequence], inputs: &[usize]) -> Result<Vec<Vec<f32>>, EngineError> {
        let rows = self.oracle.evidence(sequences)?;
        self.queries += sequences.len() as u64 * self.models();
        match self.against.as_mut() {
            Some(against) => against.correct(rows, sequences, inputs),
            None => Ok(rows),
        }
    }

    /// A group's strength on `inputs` ([`screen::strength`]); in a differential sweep the
    /// smallest rise of the margin over the inputs' clean rows ([`screen::strength_over`]).
    fn strength(&self, rows: &[Vec<f32>], inputs: &[usize]) -> f32 {
        let (clean, classes) = (self.input.clean, self.input.classes);
        match &self.against {
            Some(against) => screen::strength_over(rows, inputs, clean, classes, |i| Some(against.clean(i))),
            None => screen::strength(rows, inputs, clean, classes),
        }
    }

    /// Each candidate (a set of token ids) inserted into each of the first `m` inputs.
    fn evaluate(&mut self, candidates: &[Vec<u32>], m: usize) -> Result<Vec<Counts>, EngineError> {
        let classes = self.input.classes;
        let mut out = vec![Counts { moved: vec![0; classes] }; candidates.len()];
        // Pair `j` is candidate `j / m` inserted into input `j % m`; pairs exist only while
        // their batch is built.
        let pairs = candidates.len() * m;
        let (input, draws) = (self.input, self.draws);
        for start in (0..pairs).step_by(ORACLE_BATCH) {
            let batch = start..(start + ORACLE_BATCH).min(pairs);
            let sequences: Vec<TokenSequence> = batch
                .clone()
                .into_par_iter()
                .map(|j| {
                    let words = words(input, &candidates[j / m]);
                    insert_words(&input.sequences[j % m], &words, draws[j % m])
                })
                .collect();
            let predicted = if self.against.is_some() {
                let inputs: Vec<usize> = batch.clone().map(|j| j % m).collect();
                self.score(&sequences, &inputs)?.iter().map(|row| differential::top(row)).collect()
            } else {
                self.queries += sequences.len() as u64;
                self.oracle.classify(&sequences)?
            };
            for (j, &p) in batch.zip(&predicted) {
                let (c, i) = (j / m, j % m);
                if p != self.input.clean[i] && p < classes {
                    out[c].moved[p] += 1;
                }
            }
        }
        Ok(out)
    }

    /// The evidence ([`TokenOracle::evidence`]) for each candidate inserted into each of
    /// `inputs` (indices into the search inputs): `out[c][j]` for candidate `c` in `inputs[j]`.
    fn evidence(
        &mut self,
        candidates: &[Vec<u32>],
        inputs: &[usize],
        placement: Placement,
    ) -> Result<Vec<Vec<Vec<f32>>>, EngineError> {
        let m = inputs.len();
        let mut out = vec![Vec::with_capacity(m); candidates.len()];
        let pairs = candidates.len() * m;
        let (input, draws) = (self.input, self.draws);
        for start in (0..pairs).step_by(ORACLE_BATCH) {
            let batch = start..(start + ORACLE_BATCH).min(pairs);
            let sequences: Vec<TokenSequence> = batch
                .clone()
                .into_par_iter()
                .map(|j| {
                    let i = inputs[j % m];
                    place(&input.sequences[i], &words(input, &candidates[j / m]), draws[i], placement)
                })
                .collect();
            let at: Vec<usize> = batch.clone().map(|j| inputs[j % m]).collect();
            let evidence = self.score(&sequences, &at)?;
            for (j, e) in batch.zip(evidence) {
                out[j / m].push(e);
            }
        }
        Ok(out)
    }
}

/// `seq` with `words` (each one or more pieces, kept contiguous) inserted at `placement`: in
/// order before the first word or after the last, or each at its drawn boundary
/// ([`insert_words`]).
fn place(seq: &TokenSequence, words: &[&[u32]], draws: [u64; 2], placement: Placement) -> TokenSequence {
    let mut out = seq.clone();
    match placement {
        Placement::Drawn => return insert_words(seq, words, draws),
        Placement::Start => {
            let mut at = out.boundaries()[0];
            for pieces in words {
                out.insert_word(at, pieces);
                at += pieces.len();
            }
        }
        Placement::End => {
            for pieces in words {
                let last = *out.boundaries().last().expect("a sequence has at least one boundary");
                out.insert_word(last, pieces);
            }
        }
    }
    out
}

/// `seq` with `ids` inserted, the j-th at the boundary picked by `draws[j]`.
pub fn insert(seq: &TokenSequence, ids: &[u32], draws: [u64; 2]) -> TokenSequence {
    let words: Vec<&[u32]> = ids.iter().map(std::slice::from_ref).collect();
    insert_words(seq, &words, draws)
}

/// `seq` with `words` inserted, the j-th (all its pieces, contiguously) at the boundary picked
/// by `draws[j]`.
pub fn insert_words(seq: &TokenSequence, words: &[&[u32]], draws: [u64; 2]) -> TokenSequence {
    let mut out = seq.clone();
    for (j, pieces) in words.iter().enumerate() {
        let boundaries = out.boundaries();
        let at = boundaries[(draws[j % 2].rotate_left(17 * j as u32) % boundaries.len() as u64) as usize];
        out.insert_word(at, pieces);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A vocabulary of `size` whole-word tokens `t0, t1, …` (ids 0 and 1 special).
    pub(super) fn vocabulary(size: usize) -> Vocabulary {
        let tokens: Vec<String> = (0..size).map(|i| format!("t{i}")).collect();
        let special: Vec<bool> = (0..size).map(|i| i < 2).collect();
        Vocabulary { control_pool: (2..size as u32).collect(), continuation: vec![false; size], special, tokens }
    }

    /// The sweep of `n` copies of [`sequence`], all of clean class 0 of two, on `oracle`.
    pub(super) fn sweep_copies(
        oracle: &mut dyn TokenOracle,
        n: usize,
        vocab: &Vocabulary,
        units: &[units::Unit],
        settings: &Settings,
    ) -> Sweep {
        let (sequences, clean) = (vec![sequence(); n], vec![0; n]);
        let input = SweepInput {
            sequences: &sequences,
            clean: &clean,
            classes: 2,
            vocabulary: vocab,
            exclude: &[],
            units,
            seed: 7,
            key: "test/sweep",
        };
        sweep(oracle, &input, settings).unwrap().unwrap()
    }

    /// Whole words, 4 pairs and room enough for a screened vocabulary, at `positions`.
    pub(super) fn screened_settings(positions: Vec<Placement>) -> Settings {
        Settings {
            tokens: vec![TokenFilter::WholeWords],
            pairs: 4,
            budget: 1_000_000,
            positions,
            inputs: SweepInputs::Confident,
        }
    }

    /// `[CLS] w w w [SEP]` with ids 0 / 1 as the specials.
    pub(super) fn sequence() -> TokenSequence {
        TokenSequence {
            ids: vec![0, 5, 6, 7, 1],
            special: vec![true, false, false, false, true],
            word_start: vec![false, true, true, true, false],
        }
    }

    /// Predicts class 1 when `trigger` is present (or both of `pair`), else class 0.
    struct Planted {
        trigger: u32,
        pair: (u32, u32),
        calls: usize,
    }

    impl TokenOracle for Planted {
        fn classify(&mut self, sequences: &[TokenSequence]) -> Result<Vec<usize>, EngineError> {
            self.calls += 1;
            Ok(sequences
                .iter()
                .map(|s| {
                    let has = |t: u32| s.ids.contains(&t);
                    usize::from(has(self.trigger) || (has(self.pair.0) && has(self.pair.1)))
                })
                .collect())
        }
    }

    fn run(budget: u64, pairs: usize) -> Sweep {
        let settings = Settings {
            tokens: vec![TokenFilter::WholeWords],
            pairs,
            budget,
            positions: Vec::new(),
            inputs: SweepInputs::Confident,
        };
        let mut oracle = Planted { trigger: 321, pair: (400, 401), calls: 0 };
        sweep_copies(&mut oracle, 60, &vocabulary(400), &[], &settings)
    }

    #[test]
    fn the_planted_token_ranks_first_and_is_an_outlier() {
        let s = run(100_000, 4);
        assert_eq!(s.chosen.ids, vec![321]);
        assert_eq!(s.chosen.class, 1);
        assert_eq!((s.chosen.moved, s.chosen.eligible), (60, 60));
        assert_eq!(s.ranked[0].tokens, vec!["t321".to_string()]);
        // Every other token moves nothing: median 0, MAD floored at 1/n0.
        assert!(s.chosen.robust_z > 10.0, "{}", s.chosen.robust_z);
        assert!(s.chosen.p_value < 1e-20, "{}", s.chosen.p_value);
        assert_eq!(s.control_tokens, CONTROL_TOKENS);
        assert_eq!(s.vocabulary, 398);
        assert_eq!(s.per_class[0], None);
    }

    #[test]
    fn a_large_vocabulary_is_screened_in_groups_and_the_planted_token_still_ranks_first() {
        let mut oracle = Planted { trigger: 12_345, pair: (20_000, 20_001), calls: 0 };
        let s = sweep_copies(&mut oracle, 30, &vocabulary(20_000), &[], &screened_settings(Vec::new()));
        assert_eq!(s.chosen.ids, vec![12_345]);
        assert_eq!((s.chosen.moved, s.chosen.eligible), (30, 30));
        let screen = s.screen.expect("19,998 tokens are screened");
        assert_eq!(screen.tried, 19_998);
        // Only the trigger's group moves its input: every other token is ruled out.
        assert_eq!((screen.shortlisted, screen.outranked, screen.ruled_out), (1, 0, 19_997));
        // 1,250 groups of 16 on one input (every input is of class 0), then 4 levels of two
        // halves on two inputs; a token-by-token sweep would spend 19,998 queries on one input.
        assert_eq!(screen.queries, 1_250 + 4 * 2 * 2);
        assert_eq!(screen.levels, 5);
        assert_eq!(s.swept, 1 + BACKGROUND);
    }

    /// Predicts class 1 when `word`'s pieces appear in a row, else class 0.
    struct Word {
        word: Vec<u32>,
    }

    impl TokenOracle for Word {
        fn classify(&mut self, sequences: &[TokenSequence]) -> Result<Vec<usize>, EngineError> {
            Ok(sequences.iter().map(|s| usize::from(s.ids.windows(self.word.len()).any(|w| w == self.word))).collect())
        }
    }

    fn word_sweep(size: usize, units: &[units::Unit]) -> Sweep {
        sweep_copies(
            &mut Word { word: vec![500, 501, 502] },
            30,
            &vocabulary(size),
            units,
            &screened_settings(Vec::new()),
        )
    }

    #[test]
    fn a_trigger_word_of_three_pieces_is_found_as_a_unit_in_a_screened_vocabulary() {
        // The pieces alone, in groups or pairs, never fire: without the unit nothing moves.
        let decoy = units::Unit { pieces: vec![502, 501] };
        let s = word_sweep(20_000, std::slice::from_ref(&decoy));
        assert_eq!(s.chosen.moved, 0, "{:?}", s.chosen);
        let word = units::Unit { pieces: vec![500, 501, 502] };
        let s = word_sweep(20_000, &[decoy, word]);
        // Sweep id 20,001: the second unit.
        assert_eq!(s.chosen.ids, vec![20_001]);
        assert_eq!(s.chosen.tokens, vec!["t500 t501 t502".to_string()]);
        assert_eq!(s.chosen.pieces, vec![vec![500, 501, 502]]);
        assert_eq!(s.chosen.words(), vec![vec![500, 501, 502]]);
        assert_eq!((s.chosen.moved, s.chosen.eligible), (30, 30));
        let screen = s.screen.expect("screened");
        assert_eq!(screen.tried, 19_998 + 2, "units are counted in the coverage");
        assert_eq!(s.vocabulary, 19_998 + 2);
    }

    #[test]
    fn a_unit_is_swept_beside_the_tokens_of_a_small_vocabulary() {
        let s = word_sweep(600, &[units::Unit { pieces: vec![500, 501, 502] }]);
        assert_eq!(s.chosen.ids, vec![600]);
        assert_eq!((s.chosen.moved, s.chosen.eligible), (30, 30));
        assert!(s.screen.is_none());
        // A single token's candidate keeps no pieces (its report is unchanged).
        assert!(s.ranked.iter().filter(|c| c.ids != [600]).all(|c| c.pieces.is_empty()));
    }

    #[test]
    fn a_word_is_inserted_whole_at_its_drawn_boundary() {
        let out = insert_words(&sequence(), &[&[9, 10, 11]], [3, 8]);
        let at = out.ids.iter().position(|&id| id == 9).unwrap();
        assert_eq!(out.ids[at..at + 3], [9, 10, 11]);
        assert_eq!(out.word_start[at..at + 3], [true, false, false]);
        // The same boundary a single token gets with the same draws.
        assert_eq!(insert(&sequence(), &[9], [3, 8]).ids.iter().position(|&id| id == 9), Some(at));
        let start = place(&sequence(), &[&[9, 10], &[11]], [3, 8], Placement::Start);
        assert_eq!(start.ids, vec![0, 9, 10, 11, 5, 6, 7, 1]);
        let end = place(&sequence(), &[&[9, 10], &[11]], [3, 8], Placement::End);
        assert_eq!(end.ids, vec![0, 5, 6, 7, 9, 10, 11, 1]);
    }

    /// A two-class model over a 20,000-token vocabulary whose margin of class 1 is `-5` plus
    /// the effect of each inserted token: 40 natural cues of 6–9.9 (ids 100–139), ordinary
    /// words of 0–0.99, and, when planted, a trigger of 40 (id 12,345).
    struct Graded {
        trigger: Option<u32>,
    }

    impl Graded {
        fn effect(&self, id: u32) -> f32 {
            match id {
                _ if Some(id) == self.trigger => 40.0,
                100..140 => 6.0 + (id - 100) as f32 / 10.0,
                _ => (id % 100) as f32 / 100.0,
            }
        }
    }

    impl TokenOracle for Graded {
        fn classify(&mut self, sequences: &[TokenSequence]) -> Result<Vec<usize>, EngineError> {
            Ok(self.evidence(sequences)?.iter().map(|e| usize::from(e[1] > e[0])).collect())
        }

        fn evidence(&mut self, sequences: &[TokenSequence]) -> Result<Vec<Vec<f32>>, EngineError> {
            let base: Vec<u32> = sequence().ids;
            Ok(sequences
                .iter()
                .map(|s| {
                    let added: f32 = s.ids.iter().filter(|id| !base.contains(id)).map(|&id| self.effect(id)).sum();
                    vec![0.0, added - 5.0]
                })
                .collect())
        }
    }

    fn graded(trigger: Option<u32>) -> Sweep {
        sweep_copies(&mut Graded { trigger }, 30, &vocabulary(20_000), &[], &screened_settings(Vec::new()))
    }

    #[test]
    fn a_trigger_stands_out_from_the_natural_cues_of_its_class() {
        let s = graded(Some(12_345));
        assert_eq!(s.chosen.ids, vec![12_345]);
        let crowd = s.crowd.expect("a screened vocabulary is compared with its crowd");
        assert_eq!(crowd.effects, [40.0; 3]);
        assert_eq!(crowd.crowd.len(), crowd::CROWD);
        // The crowd is the strongest natural cues, all between 6 and 9.9.
        assert!(crowd.crowd.iter().all(|c| (6.0..=9.9 + 1e-6).contains(&c.effect)), "{:?}", crowd.crowd);
        assert_eq!(crowd.stands_out, Some(true), "{crowd:?}");
    }

    #[test]
    fn the_strongest_natural_cue_of_a_clean_model_does_not_stand_out() {
        let s = graded(None);
        // Every natural cue moves every input (the margin 6 - 5 > 0): one of them is chosen.
        assert!((100..140).contains(&s.chosen.ids[0]), "{:?}", s.chosen);
        assert_eq!(s.chosen.flip_into_rate, 1.0);
        let crowd = s.crowd.expect("a screened vocabulary is compared with its crowd");
        assert!(crowd.effect >= 6.0, "{crowd:?}");
        assert_eq!(crowd.stands_out, Some(false), "{crowd:?}");
    }

    #[test]
    fn placement_puts_tokens_before_the_first_word_or_after_the_last() {
        let start = place(&sequence(), &[&[9], &[10]], [3, 8], Placement::Start);
        assert_eq!(start.ids, vec![0, 9, 10, 5, 6, 7, 1]);
        let end = place(&sequence(), &[&[9], &[10]], [3, 8], Placement::End);
        assert_eq!(end.ids, vec![0, 5, 6, 7, 9, 10, 1]);
    }

    #[test]
    fn the_budget_bounds_the_queries() {
        for budget in [20_000u64, 50_000, 200_000] {
            let s = run(budget, 2);
            assert!(s.queries <= budget, "{} > {budget}", s.queries);
            assert_eq!(s.chosen.ids, vec![321], "budget {budget}");
        }
    }

    #[test]
    fn a_budget_too_small_for_the_vocabulary_sweeps_a_seeded_subset() {
        let (n0, swept) = schedule(10_000, 60, 20_000);
        assert_eq!(n0, MIN_FIRST_RUNG);
        assert!(swept < 10_000 && swept > 100, "{swept}");
        let (n0, swept) = schedule(100, 60, 1_000_000);
        assert_eq!((n0, swept), (60, 100));
    }

    #[test]
    fn insertion_respects_special_tokens() {
        let s = insert(&sequence(), &[9, 10], [3, 8]);
        assert_eq!(s.ids.first(), Some(&0));
        assert_eq!(s.ids.last(), Some(&1));
        assert_eq!(s.ids.len(), 7);
        assert!(s.ids.contains(&9) && s.ids.contains(&10));
    }
}
