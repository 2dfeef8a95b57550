//! DeepWordBug (Gao, Lanchantin, Soffa & Qi, "Black-box generation of adversarial text
//! sequences to evade deep learning classifiers", IEEE S&P Workshops 2018): a score-based,
//! character-level attack on text. Words are ranked by how much the prediction suffers when
//! each is removed, then the top-ranked words get small character edits, one word at a time,
//! until the prediction breaks or a budget runs out.
//!
//! As in TextAttack's `DeepWordBugGao2018` recipe (greedy search over words ranked by deletion):
//! - **Ranking** (one round, all inputs in one packed call): the clean text and, for each word
//!   of two or more characters, the text without it; a word ranks higher the lower the margin
//!   loss ([`super::margin`]) without it.
//! - **Editing** (one round per word, in rank order): `candidates` character edits of the
//!   word, each one of the typo transform's slips (adjacent swap, drop, repeat, keyboard-neighbour
//!   substitution: [`crate::transform::text::slip`]); the edit with the lowest margin is kept if
//!   it lowers the margin, and the attack succeeds when it breaks the prediction
//!   ([`super::breaks`]).
//!
//! Budgets: `edits` is the most words an input may have edited (one character edit each), and
//! `queries` the most texts scored per input. A round is spent whole or not at all: an input
//! whose next round would exceed its query budget stops before it. An input's course does not
//! depend on either budget (its generator draws the same edits whatever they are); the budgets
//! only cut it short, so success can only grow with them. A query is one text scored: the
//! ranking round costs one more than the number of editable words, an editing round the number
//! of distinct candidate edits.

use std::ops::Range;

use ndarray::ArrayView1;
use rand_chacha::ChaCha8Rng;

use super::{Ask, AttackRun, Attempt, Measure, margin};
use crate::engine::EngineError;
use crate::search::argmax_row;
use crate::transform::text::{replace_words, slip, word_spans};
use crate::transform::{Stream, sample_rng};

/// Writes text `i` of an evaluation.
pub type TextFill<'f> = dyn Fn(usize) -> String + Sync + 'f;

/// The model, as a text attack sees it.
pub trait TextOracle {
    /// Scores `count` texts, each written on demand by `text`, packed into full batches;
    /// `row(i, probabilities)` receives text `i`'s class probabilities (not necessarily in
    /// order).
    fn classify(
        &mut self,
        count: usize,
        text: &TextFill<'_>,
        row: &mut dyn FnMut(usize, ArrayView1<'_, f32>),
    ) -> Result<(), EngineError>;
}

/// The attack's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// The most words edited per input (one character edit each); 0 edits nothing.
    pub edits: u32,
    /// Texts scored per input, the ranking round included.
    pub queries: u32,
    /// Character edits tried per word (at least 1).
    pub candidates: u32,
    /// Aim at a class drawn per input (uniformly among the others) instead of any wrong class.
    pub targeted: bool,
}

impl Settings {
    /// What the summary reports: the edit budget stands where an image attack's radius does.
    pub fn ask(&self) -> Ask {
        Ask { norm: Measure::Edits, epsilon: self.edits as f32, queries: self.queries, targeted: self.targeted }
    }
}

/// What the attack needs besides the model.
pub struct TextAttackInput<'a> {
    /// The clean texts, as the model's tokenizer will see them (already clipped).
    pub texts: &'a [String],
    /// Their data indices: each input's generator is keyed by its index.
    pub indices: &'a [usize],
    /// The model's clean predictions on them.
    pub clean: &'a [usize],
    pub classes: usize,
    pub seed: u64,
    /// `battery/probe` key, for deriving random streams.
    pub key: &'a str,
}

/// Per input: its words and where its attack stands.
struct State {
    rng: ChaCha8Rng,
    target: Option<usize>,
    class: usize,
    spans: Vec<Range<usize>>,
    /// The current words (edited ones replaced).
    words: Vec<String>,
    /// Positions of the editable words, most important first (after the ranking round).
    order: Vec<usize>,
    /// How far down `order` the attack has come.
    next: usize,
    loss: f64,
    predicted: usize,
    confidence: f32,
    queries: u32,
    edits: u32,
    done: bool,
    success: bool,
}

impl State {
    /// The text with word `at` replaced by `word`.
    fn text_with(&self, original: &str, at: usize, word: &str) -> String {
        let mut words = self.words.clone();
        words[at] = word.to_string();
        replace_words(original, &self.spans, &words)
    }
}

/// One queried text: the input it belongs to, and the word it changes (`None`: the text as it
/// stands) and to what.
struct Query {
    input: usize,
    word: Option<(usize, String)>,
}

/// Runs the attack on every input of `input` within the budgets of `settings`.
pub fn attack(
    oracle: &mut dyn TextOracle,
    input: &TextAttackInput<'_>,
    settings: &Settings,
) -> Result<AttackRun<Vec<String>>, EngineError> {
    let texts = input.texts;
    let budget = settings.queries;
    let mut states: Vec<State> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let index = input.indices[i];
            let class = input.clean[i];
            let spans = word_spans(text);
            let words: Vec<String> = spans.iter().map(|s| text[s.clone()].to_string()).collect();
            let target = settings
                .targeted
                .then(|| super::target_of(input.seed, input.key, index, class, input.classes))
                .flatten();
            State {
                rng: sample_rng(input.seed, input.key, index as u64, Stream::Probe),
                target,
                class,
                spans,
                words,
                order: Vec::new(),
                next: 0,
                loss: f64::INFINITY,
                predicted: class,
                confidence: 0.0,
                queries: 0,
                edits: 0,
                done: false,
                success: false,
            }
        })
        .collect();

    // Ranking: the text as it is, and without each editable word.
    let mut queries: Vec<Query> = Vec::new();
    for (i, state) in states.iter_mut().enumerate() {
        let editable: Vec<usize> = (0..state.words.len()).filter(|&w| state.words[w].chars().count() >= 2).collect();
        let cost = editable.len() as u64 + 1;
        if settings.edits == 0 || editable.is_empty() || cost > u64::from(budget) {
            state.done = true;
            continue;
        }
        queries.push(Query { input: i, word: None });
        queries.extend(editable.iter().map(|&w| Query { input: i, word: Some((w, String::new())) }));
    }
    let mut without = vec![f64::INFINITY; queries.len()];
    score(oracle, texts, &queries, &mut states, &mut |k, state, loss, row| match queries[k].word {
        None => {
            state.loss = loss;
            state.predicted = argmax_row(row);
            state.confidence = row[state.predicted];
        }
        Some(_) => without[k] = loss,
    })?;
    let mut ranked: Vec<(usize, f64, usize)> = queries
        .iter()
        .zip(&without)
        .filter_map(|(q, &loss)| q.word.as_ref().map(|(w, _)| (q.input, loss, *w)))
        .collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)).then(a.2.cmp(&b.2)));
    for (i, _, w) in ranked {
        states[i].order.push(w);
    }

    // Editing: one word per input per round, its candidate edits all scored in one call.
    loop {
        let mut queries: Vec<Query> = Vec::new();
        for (i, state) in states.iter_mut().enumerate() {
            if state.done {
                continue;
            }
            if state.next >= state.order.len() || state.edits >= settings.edits {
                state.done = true;
                continue;
            }
            let at = state.order[state.next];
            let word: Vec<char> = state.words[at].chars().collect();
            let mut tried: Vec<String> = Vec::new();
            for _ in 0..settings.candidates.max(1) {
                let mut edited = word.clone();
                slip(&mut edited, &mut state.rng);
                let edited: String = edited.into_iter().collect();
                if edited != state.words[at] && !tried.contains(&edited) {
                    tried.push(edited);
                }
            }
            if tried.is_empty() {
                // Every slip changes a word, so this is only a guard: move on to the next word.
                state.next += 1;
                continue;
            }
            if u64::from(state.queries) + tried.len() as u64 > u64::from(budget) {
                state.done = true;
                continue;
            }
            queries.extend(tried.into_iter().map(|edit| Query { input: i, word: Some((at, edit)) }));
        }
        if queries.is_empty() {
            break;
        }
        // Per input: its best candidate (lowest loss, the first on a tie) and its class.
        let mut best: Vec<Option<(f64, usize, usize, f32)>> = vec![None; states.len()];
        score(oracle, texts, &queries, &mut states, &mut |k, _, loss, row| {
            let held = &mut best[queries[k].input];
            if held.is_none_or(|(l, j, ..)| loss < l || (loss == l && k < j)) {
                let predicted = argmax_row(row);
                *held = Some((loss, k, predicted, row[predicted]));
            }
        })?;
        for (i, state) in states.iter_mut().enumerate() {
            let Some((loss, k, predicted, confidence)) = best[i] else { continue };
            state.next += 1;
            if loss < state.loss {
                let (at, edit) = queries[k].word.clone().expect("an editing query");
                state.words[at] = edit;
                state.edits += 1;
                state.loss = loss;
                state.predicted = predicted;
                state.confidence = confidence;
                if super::breaks(state.target, state.class, predicted) {
                    state.success = true;
                    state.done = true;
                }
            }
        }
    }

    let attempts: Vec<Attempt> = states
        .iter()
        .enumerate()
        .map(|(i, s)| Attempt {
            index: input.indices[i],
            target: s.target,
            success: s.success,
            queries: s.queries,
            perturbation: s.edits as f32,
            class: s.predicted,
            confidence: s.confidence,
        })
        .collect();
    let adversarial =
        states.iter().zip(texts).map(|(s, text)| replace_words(text, &s.spans, &s.words)).collect::<Vec<_>>();
    let queries = attempts.iter().map(|a| u64::from(a.queries)).sum();
    Ok(AttackRun { attempts, adversarial, queries })
}

/// What [`score`] hands each result to: the query's number, its input's state, its loss and
/// its class probabilities.
type Seen<'s> = dyn FnMut(usize, &mut State, f64, ArrayView1<'_, f32>) + 's;

/// Scores every query in one oracle call, counts it against its input, and hands
/// `seen(k, state, loss, probabilities)` each result.
fn score(
    oracle: &mut dyn TextOracle,
    texts: &[String],
    queries: &[Query],
    states: &mut [State],
    seen: &mut Seen<'_>,
) -> Result<(), EngineError> {
    let write = |k: usize| {
        let q = &queries[k];
        let state = &states[q.input];
        match &q.word {
            None => replace_words(&texts[q.input], &state.spans, &state.words),
            Some((at, word)) => state.text_with(&texts[q.input], *at, word),
        }
    };
    // The texts are written before any state changes: collect the results first.
    let mut results: Vec<(usize, f64, Vec<f32>)> = Vec::with_capacity(queries.len());
    oracle.classify(queries.len(), &write, &mut |k, row| {
        let state = &states[queries[k].input];
        let loss = margin(row, state.target.unwrap_or(state.class), state.target.is_some());
        results.push((k, loss, row.to_vec()));
    })?;
    results.sort_by_key(|r| r.0);
    for (k, loss, row) in results {
        let state = &mut states[queries[k].input];
        state.queries += 1;
        seen(k, state, loss, ArrayView1::from(&row));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
