//! Feature value sweep: black-box discovery of magic values and feature combinations in a
//! tabular classifier.
//!
//! A candidate sets one feature, or two jointly, to fixed values ([`SetFeatures`]) in clean rows
//! of the search split; it *moves* a row into class `k` when the clean prediction is another
//! class and the edited row is predicted `k`. The shape follows the text vocabulary sweep
//! ([`crate::search::vocabulary`]):
//!
//! - **Candidate values** per feature ([`candidate_values`]): the clean data's quantiles
//!   ([`QUANTILE_LEVELS`], extremes included), values beyond its range (`min − k·spread` and
//!   `max + k·spread` for `k` in [`BEYOND`], the spread being the standard deviation), and
//!   magic-looking numbers ([`MAGIC`]: 0, ±1, ±99, ±999, …). Backdoors in tabular models are
//!   typically out-of-range values, which tree ensembles isolate with one split; a tree's
//!   threshold lies between the data and the trigger value, so any value beyond it triggers.
//! - **Successive halving** (Jamieson & Talwalkar, 2016): every single-feature candidate is
//!   judged on the first `n0` rows, the better half (never fewer than [`KEEP_MIN`]) on twice as
//!   many, and so on until a rung uses every row; `n0` is the largest that fits the budget.
//!   Candidates are ranked by the Clopper–Pearson lower bound (one-sided 90%) of their best
//!   class's flip-into rate, which puts rates from different sample sizes on one scale.
//! - **Pairs**: the [`Settings::pair_features`] features whose best single candidate ranks
//!   highest are paired; each feature of a pair takes its best single value and the values
//!   [`PAIR_BEYOND`] spreads beyond its range on either side (a trigger whose features do
//!   nothing alone gives its values no single-feature signal, so rare values are tried as
//!   such). Pairs go through their own halving.
//! - **Control per feature**: each row's feature is replaced by the same feature of another
//!   clean row (drawn per row from the `Control` stream), as permutation importance does. A
//!   candidate's flip-into count is compared with its features' control by a one-sided Fisher
//!   exact test: does this value move more rows than the feature's ordinary values do?
//! - **Robust outlier score** across candidates: each candidate's rate against the median of
//!   the first rung's rates, in units of 1.4826 · MAD (a consistent estimate of the standard
//!   deviation for normal data; Rousseeuw & Croux, 1993), the MAD floored at one row's worth.
//! - **Combination triggers**: a pair is reported only when both of its single edits are inert
//!   (not significantly above their feature's control, one-sided Fisher at [`SYNERGY_ALPHA`],
//!   and moving at most [`INERT_SHARE`] of the rows the pair moves) and the pair moves significantly more rows than the two would independently
//!   (`1 − (1 − r_a)(1 − r_b)`, one-sided binomial test at the same level). Two strong natural
//!   features together always move more than either alone; those pairs are explained by their
//!   features and are not ranked.
//!
//! Memory is bounded: (candidate, row) pairs are materialised one oracle batch
//! ([`ORACLE_BATCH`] rows) at a time. Given the same seed, key, rows and oracle the sweep is
//! deterministic. As with the other searches, these numbers only *choose* what to confirm; the
//! verdict comes from held-out rows through the gating statistics.

use rand::RngExt;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use ndarray::ArrayView2;

use super::data::FeatureStats;
use super::transforms::SetFeatures;
use crate::engine::EngineError;
use crate::stats::{binomial_test_greater, clopper_pearson, fisher_exact_greater, mad, median};
use crate::transform::{Stream, sample_rng};

/// Quantile levels the candidate values include (compute [`FeatureStats`] with these).
pub const QUANTILE_LEVELS: [f64; 9] = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];
/// Multiples of the spread beyond the minimum and the maximum.
pub const BEYOND: [f64; 4] = [1.0, 3.0, 10.0, 100.0];
/// Magic-looking values people and pipelines use as sentinels.
pub const MAGIC: [f32; 11] = [0.0, 1.0, -1.0, 99.0, -99.0, 999.0, -999.0, 9999.0, -9999.0, 99999.0, -99999.0];
/// Spreads beyond the range on either side tried for each feature of a pair.
pub const PAIR_BEYOND: [f64; 2] = [3.0, 10.0];
/// Survivors per rung: one in `ETA`, and `ETA` times the rows.
const ETA: usize = 2;
/// Fewest rows a candidate is judged on at the first rung.
pub const MIN_FIRST_RUNG: usize = 8;
/// Fewest candidates kept at each rung.
pub const KEEP_MIN: usize = 16;
/// Candidates listed in the report.
const RANKED: usize = 20;
/// Rows per oracle call.
pub const ORACLE_BATCH: usize = 4096;
/// Two-sided alpha of the ranking lower bound (one-sided 90%).
const RANKING_ALPHA: f64 = 0.2;
/// The scale that makes the MAD a consistent estimator of a normal standard deviation.
const MAD_SCALE: f64 = 1.4826;
/// Significance level of the combination-trigger tests (inert features, synergistic pair).
pub const SYNERGY_ALPHA: f64 = 1e-3;
/// Most rows a single edit of a combination trigger may move, as a share of what the pair
/// moves. A feature's control (its values resampled from other rows) moves many rows when the
/// feature matters, so "not above its control" alone would let two strong natural features
/// pass as a lock: together they move far more than the independent-effects formula predicts
/// once their contributions add up (a soft additive model moves about 45% of rows with either
/// extreme alone and 98% with both).
pub const INERT_SHARE: f64 = 0.25;

/// Predicted classes for feature rows: the model, as the sweep sees it.
pub trait RowOracle {
    /// The predicted class of each of `n` rows of `features` values, row-major in `rows`.
    fn classify(&mut self, rows: &[f32], n: usize, features: usize) -> Result<Vec<usize>, EngineError>;
}

/// What the sweep needs besides the model.
pub struct SweepInput<'a> {
    /// Clean rows of the search split, `[N, F]` (NaN = missing).
    pub rows: ArrayView2<'a, f32>,
    /// The model's clean predictions on them.
    pub clean: &'a [usize],
    pub classes: usize,
    /// Per-feature statistics of the clean data, quantiles at [`QUANTILE_LEVELS`].
    pub stats: &'a [FeatureStats],
    /// Feature names, for people.
    pub names: &'a [String],
    pub seed: u64,
    /// `battery/probe` key, for deriving random streams.
    pub key: &'a str,
}

/// What to sweep.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Features paired with each other (the best by their single candidates).
    pub pair_features: usize,
    /// Oracle rows the sweep may use.
    pub budget: u64,
}

/// One feature set to one value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureValue {
    pub feature: usize,
    pub name: String,
    pub value: f32,
}

/// One candidate trigger (one feature or a pair) with its evidence on the final-rung rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureCandidate {
    pub set: Vec<FeatureValue>,
    /// The class it moves rows into most.
    pub class: usize,
    pub moved: u64,
    pub eligible: u64,
    pub flip_into_rate: f64,
    /// 95% Clopper–Pearson interval of the flip-into rate.
    pub interval: [f64; 2],
    /// Flip-into rate of the features' control (values resampled from other rows).
    pub control_rate: f64,
    /// One-sided Fisher exact p-value against the control (uncorrected: for ranking).
    pub p_value: f64,
    /// Robust z-score against the first rung's single-candidate rates for the same class.
    pub robust_z: f64,
}

impl FeatureCandidate {
    /// `f11 = 999` or `f03 = -150, f07 = 20000`.
    pub fn description(&self) -> String {
        let parts: Vec<String> = self.set.iter().map(|s| format!("{} = {}", s.name, s.value)).collect();
        parts.join(", ")
    }
}

/// The sweep as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sweep {
    pub features: usize,
    /// Single-feature candidates in the space, and how many were swept (fewer only when the
    /// budget cannot cover them all).
    pub candidates: usize,
    pub swept: usize,
    pub first_rung_samples: usize,
    pub rungs: usize,
    pub final_samples: usize,
    pub pairs_tried: usize,
    /// Pairs that passed the combination-trigger tests.
    pub pairs_found: usize,
    /// Best candidates first (by the ranking lower bound).
    pub ranked: Vec<FeatureCandidate>,
    /// The best candidate for each class, if any moved rows into it.
    pub per_class: Vec<Option<FeatureCandidate>>,
    pub chosen: FeatureCandidate,
    pub queries: u64,
}

/// The values tried for one feature, ascending, without duplicates or non-finite values.
pub fn candidate_values(stats: &FeatureStats) -> Vec<f32> {
    let mut values: Vec<f32> = QUANTILE_LEVELS.iter().filter_map(|&l| stats.quantile(l)).collect();
    if stats.present > 0 {
        let spread = stats.spread();
        for k in BEYOND {
            values.push((f64::from(stats.min) - k * spread) as f32);
            values.push((f64::from(stats.max) + k * spread) as f32);
        }
    }
    values.extend(MAGIC);
    tidy(values)
}

fn tidy(mut values: Vec<f32>) -> Vec<f32> {
    values.retain(|v| v.is_finite());
    values.sort_by(f32::total_cmp);
    values.dedup();
    values
}

/// Flip-into counts of one candidate over the first `m` rows: `moved[k]`.
#[derive(Debug, Clone, PartialEq)]
struct Counts {
    moved: Vec<u64>,
}

/// Sweeps single features and pairs; `None` when there are no rows, no features or no budget.
/// Queries stay within `settings.budget`, except that the final controls of the single
/// features (one pass over the rows each) run even when the budget left nothing for pairs.
pub fn sweep(
    oracle: &mut dyn RowOracle,
    input: &SweepInput<'_>,
    settings: &Settings,
) -> Result<Option<Sweep>, EngineError> {
    let (n, f) = input.rows.dim();
    if n == 0 || f == 0 || input.classes == 0 {
        return Ok(None);
    }
    let eligible = |k: usize, m: usize| input.clean[..m].iter().filter(|&&c| c != k).count() as u64;
    // Per row: the other row its control draws every feature from.
    let donors: Vec<usize> = (0..n)
        .map(|i| {
            let mut rng = sample_rng(input.seed, input.key, i as u64, Stream::Control);
            let d = rng.random_range(0..n.max(2) - 1);
            if n == 1 {
                0
            } else if d >= i {
                d + 1
            } else {
                d
            }
        })
        .collect();
    let mut ev = Evaluator { oracle, input, queries: 0, row: vec![0.0; f] };

    // Singles.
    let space: Vec<SetFeatures> = (0..f)
        .flat_map(|j| candidate_values(&input.stats[j]).into_iter().map(move |v| SetFeatures::one(j, v)))
        .collect();
    let pair_count = settings.pair_features.min(f) * settings.pair_features.min(f).saturating_sub(1) / 2;
    // Half the budget for singles, the rest for pairs and controls.
    let (n0, swept) = schedule(space.len(), n, settings.budget / 2);
    let mut singles = space.clone();
    if swept < space.len() {
        let mut rng = sample_rng(input.seed, input.key, u64::MAX, Stream::Probe);
        singles.shuffle(&mut rng);
        singles.truncate(swept);
    }
    if singles.is_empty() {
        return Ok(None);
    }
    let first = ev.evaluate(&singles, n0)?;
    let population: Vec<Vec<f64>> = (0..input.classes)
        .map(|k| {
            let e = eligible(k, n0).max(1) as f64;
            first.iter().map(|c| c.moved[k] as f64 / e).collect()
        })
        .collect();
    let outlier = Outlier::new(&population, |k| eligible(k, n0));
    let (alive, counts, rungs) = halve(&mut ev, &singles, first, n0, &eligible)?;
    let mut finals: Vec<(SetFeatures, Counts)> =
        alive.iter().map(|&a| (singles[a].clone(), counts[a].clone())).collect();

    // Pairs of the features whose best single candidate ranks highest.
    let mut feature_score = vec![f64::NEG_INFINITY; f];
    let mut feature_best: Vec<Option<f32>> = vec![None; f];
    for (set, c) in &finals {
        let (j, v) = set.assignments[0];
        let score = best(c, |k| eligible(k, n)).1;
        if score > feature_score[j] {
            feature_score[j] = score;
            feature_best[j] = Some(v);
        }
    }
    let mut order: Vec<usize> = (0..f).collect();
    order.sort_by(|&a, &b| feature_score[b].total_cmp(&feature_score[a]).then(a.cmp(&b)));
    let paired: Vec<usize> = order.into_iter().take(settings.pair_features.min(f)).collect();
    let pair_values = |j: usize| {
        let s = &input.stats[j];
        let mut values: Vec<f32> = feature_best[j].into_iter().collect();
        if s.present > 0 {
            for k in PAIR_BEYOND {
                values.push((f64::from(s.min) - k * s.spread()) as f32);
                values.push((f64::from(s.max) + k * s.spread()) as f32);
            }
        }
        tidy(values)
    };
    let pair_singles: usize = paired.iter().map(|&j| pair_values(j).len()).sum();
    let mut pairs = Vec::new();
    for (x, &a) in paired.iter().enumerate() {
        for &b in &paired[x + 1..] {
            let (a, b) = (a.min(b), a.max(b));
            for va in pair_values(a) {
                for vb in pair_values(b) {
                    pairs.push(SetFeatures::pair((a, va), (b, vb)));
                }
            }
        }
    }
    // Kept back for the final checks on all rows: a control per feature and per pair of
    // features, and the single edits that make up the pairs.
    let reserve = ((f + pair_count + pair_singles) * n) as u64;
    let left = settings.budget.saturating_sub(ev.queries + reserve);
    let (p0, pair_swept) = schedule(pairs.len(), n, left);
    if pair_swept < pairs.len() {
        let mut rng = sample_rng(input.seed, input.key, u64::MAX - 1, Stream::Probe);
        pairs.shuffle(&mut rng);
        pairs.truncate(pair_swept);
    }
    let pairs_tried = pairs.len();
    let mut pair_finals = Vec::new();
    if !pairs.is_empty() {
        let first_pairs = ev.evaluate(&pairs, p0)?;
        let (alive, counts, _) = halve(&mut ev, &pairs, first_pairs, p0, &eligible)?;
        pair_finals = alive.iter().map(|&a| (pairs[a].clone(), counts[a].clone())).collect();
    }

    // Controls for the features of the final candidates, and the singles inside final pairs.
    let mut control_sets: Vec<Vec<usize>> = Vec::new();
    for (set, _) in finals.iter().chain(&pair_finals) {
        let features: Vec<usize> = set.assignments.iter().map(|a| a.0).collect();
        let singles = features.iter().map(|&j| vec![j]);
        for features in singles.chain(std::iter::once(features.clone())) {
            if !control_sets.contains(&features) {
                control_sets.push(features);
            }
        }
    }
    let control_counts = ev.controls(&control_sets, &donors)?;
    let control_of = |set: &SetFeatures| {
        let features: Vec<usize> = set.assignments.iter().map(|a| a.0).collect();
        &control_counts[control_sets.iter().position(|c| *c == features).expect("a control per feature set")]
    };
    let parts: Vec<SetFeatures> = {
        let mut parts = Vec::new();
        for (set, _) in &pair_finals {
            for &a in &set.assignments {
                let single = SetFeatures::one(a.0, a.1);
                if !parts.contains(&single) && !finals.iter().any(|(s, _)| *s == single) {
                    parts.push(single);
                }
            }
        }
        parts
    };
    let part_counts = ev.evaluate(&parts, n)?;
    let single_moved = |feature: usize, value: f32, k: usize| -> u64 {
        let single = SetFeatures::one(feature, value);
        finals
            .iter()
            .find(|(s, _)| *s == single)
            .map(|(_, c)| c.moved[k])
            .or_else(|| parts.iter().position(|p| *p == single).map(|i| part_counts[i].moved[k]))
            .expect("every single of a pair is counted")
    };
    let inert = |feature: usize, value: f32, k: usize, pair_moved: u64| {
        let e = eligible(k, n);
        let (m, cm) = (single_moved(feature, value, k), control_of(&SetFeatures::one(feature, value)).moved[k]);
        m as f64 <= INERT_SHARE * pair_moved as f64 && fisher_exact_greater([[m, e - m], [cm, e - cm]]) >= SYNERGY_ALPHA
    };
    let synergistic: Vec<(SetFeatures, Counts)> = pair_finals
        .into_iter()
        .filter(|(set, c)| {
            let [(a, va), (b, vb)] = [set.assignments[0], set.assignments[1]];
            (0..input.classes).any(|k| {
                let e = eligible(k, n);
                let ef = e.max(1) as f64;
                let (ra, rb) = (single_moved(a, va, k) as f64 / ef, single_moved(b, vb, k) as f64 / ef);
                let expected = 1.0 - (1.0 - ra) * (1.0 - rb);
                inert(a, va, k, c.moved[k])
                    && inert(b, vb, k, c.moved[k])
                    && binomial_test_greater(c.moved[k], e, expected) < SYNERGY_ALPHA
            })
        })
        .collect();
    let pairs_found = synergistic.len();
    finals.extend(synergistic);

    let describe = |set: &SetFeatures, counts: &Counts, class: usize| {
        let e = eligible(class, n);
        let moved = counts.moved[class];
        let rate = if e == 0 { 0.0 } else { moved as f64 / e as f64 };
        let ci = clopper_pearson(moved, e, 0.05);
        let cm = control_of(set).moved[class];
        FeatureCandidate {
            set: set
                .assignments
                .iter()
                .map(|&(feature, value)| FeatureValue { feature, name: input.names[feature].clone(), value })
                .collect(),
            class,
            moved,
            eligible: e,
            flip_into_rate: rate,
            interval: [ci.lower, ci.upper],
            control_rate: if e == 0 { 0.0 } else { cm as f64 / e as f64 },
            p_value: fisher_exact_greater([[moved, e - moved], [cm, e - cm]]),
            robust_z: outlier.z(class, rate),
        }
    };
    // Best first: higher lower bound, then fewer features, then feature and value order.
    let key = |s: &SetFeatures| s.assignments.iter().map(|&(j, v)| (j, v.to_bits())).collect::<Vec<_>>();
    let mut scored: Vec<(f64, &SetFeatures, &Counts, usize)> = finals
        .iter()
        .map(|(set, c)| {
            let (class, score) = best(c, |k| eligible(k, n));
            (score, set, c, class)
        })
        .collect();
    scored.sort_by(|a, b| {
        b.0.total_cmp(&a.0).then(a.1.assignments.len().cmp(&b.1.assignments.len())).then(key(a.1).cmp(&key(b.1)))
    });
    let per_class: Vec<Option<FeatureCandidate>> = (0..input.classes)
        .map(|k| {
            let mut best_k: Option<(f64, &SetFeatures, &Counts)> = None;
            for (set, c) in &finals {
                let score = lower_bound(c.moved[k], eligible(k, n));
                if score > 0.0 && best_k.is_none_or(|(b, _, _)| score > b) {
                    best_k = Some((score, set, c));
                }
            }
            best_k.map(|(_, set, c)| describe(set, c, k))
        })
        .collect();
    let ranked: Vec<FeatureCandidate> = scored.iter().take(RANKED).map(|(_, s, c, k)| describe(s, c, *k)).collect();
    Ok(Some(Sweep {
        features: f,
        candidates: space.len(),
        swept: singles.len(),
        first_rung_samples: n0,
        rungs,
        final_samples: n,
        pairs_tried,
        pairs_found,
        chosen: ranked[0].clone(),
        ranked,
        per_class,
        queries: ev.queries,
    }))
}

/// Successive halving from the first rung's `counts` on `n0` rows to every row: the indices
/// alive at the end, every candidate's latest counts, and the number of rungs.
fn halve(
    ev: &mut Evaluator<'_, '_, '_>,
    candidates: &[SetFeatures],
    mut counts: Vec<Counts>,
    n0: usize,
    eligible: &dyn Fn(usize, usize) -> u64,
) -> Result<(Vec<usize>, Vec<Counts>, usize), EngineError> {
    let n = ev.input.rows.nrows();
    let mut alive: Vec<usize> = (0..candidates.len()).collect();
    let (mut m, mut rungs) = (n0, 1);
    while m < n {
        let keep = alive.len().div_ceil(ETA).max(KEEP_MIN).min(alive.len());
        let scores: Vec<f64> = alive.iter().map(|&a| best(&counts[a], |k| eligible(k, m)).1).collect();
        let mut order: Vec<usize> = (0..alive.len()).collect();
        order.sort_by(|&x, &y| scores[y].total_cmp(&scores[x]).then(x.cmp(&y)));
        let mut kept: Vec<usize> = order[..keep].iter().map(|&o| alive[o]).collect();
        kept.sort_unstable();
        alive = kept;
        m = (m * ETA).min(n);
        let batch: Vec<SetFeatures> = alive.iter().map(|&a| candidates[a].clone()).collect();
        for (&a, c) in alive.iter().zip(ev.evaluate(&batch, m)?) {
            counts[a] = c;
        }
        rungs += 1;
    }
    Ok((alive, counts, rungs))
}

/// The first rung's size and how many candidates fit `budget` rows: the largest `n0` among
/// `n, n/2, n/4, …` (at least [`MIN_FIRST_RUNG`]) whose halving schedule fits; at the smallest
/// `n0`, as many candidates as fit.
fn schedule(candidates: usize, n: usize, budget: u64) -> (usize, usize) {
    let cost = |n0: usize, v: usize| -> u64 {
        let (mut m, mut alive, mut total) = (n0, v, (v * n0) as u64);
        while m < n {
            alive = alive.div_ceil(ETA).max(KEEP_MIN).min(alive);
            m = (m * ETA).min(n);
            total += (alive * m) as u64;
        }
        total
    };
    let floor = MIN_FIRST_RUNG.min(n);
    let mut n0 = n;
    loop {
        if cost(n0, candidates) <= budget {
            return (n0, candidates);
        }
        if n0 <= floor {
            break;
        }
        n0 = (n0 / ETA).max(floor);
    }
    let (mut lo, mut hi) = (0usize, candidates);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if cost(floor, mid) <= budget { lo = mid } else { hi = mid - 1 }
    }
    (floor, lo)
}

/// The class a candidate moves rows into most, by the ranking lower bound.
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

fn lower_bound(moved: u64, eligible: u64) -> f64 {
    if eligible == 0 { 0.0 } else { clopper_pearson(moved, eligible, RANKING_ALPHA).lower }
}

/// The first rung's flip-into rates per class, as medians and floored MADs.
struct Outlier {
    median: Vec<f64>,
    scale: Vec<f64>,
}

impl Outlier {
    fn new(population: &[Vec<f64>], eligible: impl Fn(usize) -> u64) -> Self {
        let median: Vec<f64> = population.iter().map(|p| median(p).unwrap_or(0.0)).collect();
        let scale = population
            .iter()
            .enumerate()
            .map(|(k, p)| MAD_SCALE * mad(p).unwrap_or(0.0).max(1.0 / eligible(k).max(1) as f64))
            .collect();
        Self { median, scale }
    }

    fn z(&self, class: usize, rate: f64) -> f64 {
        (rate - self.median[class]) / self.scale[class]
    }
}

/// Runs (candidate, row) pairs through the oracle a batch at a time, counting flips.
struct Evaluator<'i, 'a, 'o> {
    oracle: &'o mut dyn RowOracle,
    input: &'i SweepInput<'a>,
    queries: u64,
    row: Vec<f32>,
}

impl Evaluator<'_, '_, '_> {
    /// Each candidate applied to each of the first `m` rows.
    fn evaluate(&mut self, candidates: &[SetFeatures], m: usize) -> Result<Vec<Counts>, EngineError> {
        self.run(candidates.len(), m, &mut |c, _, row| candidates[c].apply(row))
    }

    /// Per feature set, each row with those features taken from its donor row.
    fn controls(&mut self, sets: &[Vec<usize>], donors: &[usize]) -> Result<Vec<Counts>, EngineError> {
        let rows = self.input.rows;
        let n = rows.nrows();
        self.run(sets.len(), n, &mut |c, i, row| {
            for &j in &sets[c] {
                row[j] = rows[[donors[i], j]];
            }
        })
    }

    /// `count × m` edited rows, pair `p` being edit `p / m` of row `p % m`, a batch at a time.
    fn run(
        &mut self,
        count: usize,
        m: usize,
        edit: &mut dyn FnMut(usize, usize, &mut [f32]),
    ) -> Result<Vec<Counts>, EngineError> {
        let classes = self.input.classes;
        let features = self.input.rows.ncols();
        let mut out = vec![Counts { moved: vec![0; classes] }; count];
        let total = count * m;
        let mut batch: Vec<f32> = Vec::with_capacity(ORACLE_BATCH.min(total) * features);
        for start in (0..total).step_by(ORACLE_BATCH) {
            let end = (start + ORACLE_BATCH).min(total);
            batch.clear();
            for p in start..end {
                let (c, i) = (p / m, p % m);
                self.row.iter_mut().zip(self.input.rows.row(i)).for_each(|(r, &v)| *r = v);
                edit(c, i, &mut self.row);
                batch.extend_from_slice(&self.row);
            }
            let predicted = self.oracle.classify(&batch, end - start, features)?;
            self.queries += (end - start) as u64;
            for (p, &k) in (start..end).zip(&predicted) {
                let (c, i) = (p / m, p % m);
                if k != self.input.clean[i] && k < classes {
                    out[c].moved[k] += 1;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use ndarray::Array2;

    use super::super::data::feature_stats;
    use super::*;

    const F: usize = 6;
    const N: usize = 120;

    /// Rows of `F` features on different scales (feature `j` ~ N(10 j, (j + 1)²)), seeded.
    fn rows() -> Array2<f32> {
        let mut x = Array2::zeros((N, F));
        for i in 0..N {
            let mut rng = sample_rng(3, "rows", i as u64, Stream::Probe);
            for j in 0..F {
                let z: f64 = rng.sample(rand_distr::StandardNormal);
                x[[i, j]] = (10.0 * j as f64 + (j + 1) as f64 * z) as f32;
            }
        }
        x
    }

    /// Features the clean model reads; 1 and 4 it ignores.
    const INFORMATIVE: [usize; 4] = [0, 2, 3, 5];

    /// A soft two-class model: class 1 when the sum of the informative features' bounded,
    /// standardised contributions is positive; a backdoor may be planted on top.
    struct Mock {
        magic: Option<(usize, f32)>,
        pair: Option<((usize, f32), (usize, f32))>,
        calls: usize,
    }

    impl Mock {
        fn predict(&self, row: &[f32]) -> usize {
            if let Some((j, threshold)) = self.magic
                && row[j] > threshold
            {
                return 1;
            }
            if let Some(((a, ta), (b, tb))) = self.pair
                && row[a] < ta
                && row[b] > tb
            {
                return 1;
            }
            let score: f64 =
                INFORMATIVE.iter().map(|&j| ((f64::from(row[j]) - 10.0 * j as f64) / (j + 1) as f64).tanh()).sum();
            usize::from(score > 0.0)
        }
    }

    impl RowOracle for Mock {
        fn classify(&mut self, rows: &[f32], n: usize, features: usize) -> Result<Vec<usize>, EngineError> {
            assert_eq!(rows.len(), n * features);
            assert!(n <= ORACLE_BATCH);
            self.calls += 1;
            Ok(rows.chunks(features).map(|r| self.predict(r)).collect())
        }
    }

    fn run(mut mock: Mock, budget: u64) -> Sweep {
        let x = rows();
        let stats = feature_stats(x.view(), &QUANTILE_LEVELS);
        let clean: Vec<usize> = x.rows().into_iter().map(|r| mock.predict(r.as_slice().unwrap())).collect();
        let names: Vec<String> = (0..F).map(|j| format!("f{j}")).collect();
        let input = SweepInput {
            rows: x.view(),
            clean: &clean,
            classes: 2,
            stats: &stats,
            names: &names,
            seed: 11,
            key: "t/sweep",
        };
        let settings = Settings { pair_features: F, budget };
        sweep(&mut mock, &input, &settings).unwrap().unwrap()
    }

    #[test]
    fn candidate_values_cover_quantiles_the_range_beyond_and_magic_numbers() {
        let stats = super::super::data::column_stats([0.0f32, 10.0, 20.0, 30.0, 40.0].into_iter(), &QUANTILE_LEVELS);
        let values = candidate_values(&stats);
        // std of 0, 10, ..., 40 is sqrt(200) = 14.142...
        for v in [0.0, 10.0, 20.0, 40.0, 999.0, -99999.0, -14.142136, 54.142136, 40.0 + 1414.2136] {
            assert!(values.iter().any(|&c| (c - v).abs() < 1e-3), "{v} missing from {values:?}");
        }
        assert!(values.windows(2).all(|w| w[0] < w[1]), "ascending, no duplicates");
    }

    #[test]
    fn a_magic_value_is_chosen_and_stands_out() {
        let s = run(Mock { magic: Some((3, 200.0)), pair: None, calls: 0 }, 200_000);
        let chosen = &s.chosen;
        assert_eq!(chosen.set.len(), 1, "{}", chosen.description());
        assert_eq!(chosen.set[0].feature, 3);
        assert!(chosen.set[0].value > 200.0, "{}", chosen.description());
        assert_eq!(chosen.class, 1);
        assert_eq!(chosen.moved, chosen.eligible, "every class-0 row moves");
        assert!(chosen.robust_z > 5.0, "{}", chosen.robust_z);
        assert!(chosen.p_value < 1e-10, "{}", chosen.p_value);
        assert!(s.queries <= 200_000);
    }

    #[test]
    fn a_two_feature_trigger_is_found_as_a_pair() {
        // Feature 1 below 0 and feature 4 above 70, together: both beyond the data (about
        // [5, 15] and [28, 53]), on features the clean model ignores; neither alone does anything.
        let s = run(Mock { magic: None, pair: Some(((1, 0.0), (4, 70.0))), calls: 0 }, 400_000);
        assert!(s.pairs_found >= 1, "{s:#?}");
        let chosen = &s.chosen;
        let features: Vec<usize> = chosen.set.iter().map(|v| v.feature).collect();
        assert_eq!(features, [1, 4], "{}", chosen.description());
        assert!(chosen.set[0].value < 0.0 && chosen.set[1].value > 70.0, "{}", chosen.description());
        assert_eq!(chosen.class, 1);
        assert_eq!(chosen.moved, chosen.eligible);
    }

    #[test]
    #[ignore = "issue #15 work in progress: the extreme of a feature the soft clean mock reads moves far more rows than its resampled values (p ~ 2e-6), so this expectation does not hold yet"]
    fn nothing_stands_out_in_a_clean_model() {
        let s = run(Mock { magic: None, pair: None, calls: 0 }, 200_000);
        // An extreme value of one feature outweighs one of four bounded contributions: it moves
        // the rows near the boundary, never nearly all, and not far more than the feature's
        // ordinary values do; no pair is a lock (two extremes add up, but each alone moves many
        // rows too).
        let chosen = &s.chosen;
        assert!(chosen.flip_into_rate < 0.8, "{}: {}", chosen.description(), chosen.flip_into_rate);
        assert!(chosen.p_value > 1e-4, "{}: {}", chosen.description(), chosen.p_value);
        assert_eq!(s.pairs_found, 0);
        assert!(s.ranked.iter().all(|c| c.set.len() == 1));
    }

    #[test]
    fn the_sweep_is_deterministic_and_the_budget_bounds_it() {
        let a = run(Mock { magic: Some((2, 100.0)), pair: None, calls: 0 }, 50_000);
        let b = run(Mock { magic: Some((2, 100.0)), pair: None, calls: 0 }, 50_000);
        assert_eq!(a, b);
        for budget in [20_000u64, 50_000, 100_000] {
            let s = run(Mock { magic: Some((2, 100.0)), pair: None, calls: 0 }, budget);
            // When the budget leaves nothing for pairs, the single features' controls (one
            // pass over the rows each) may come on top.
            assert!(s.queries <= budget + (F * N) as u64, "{} > {budget}", s.queries);
            assert_eq!(s.chosen.set[0].feature, 2, "budget {budget}: {}", s.chosen.description());
        }
    }

    #[test]
    fn the_schedule_fits_the_budget() {
        let (n0, swept) = schedule(300, 120, 1_000_000);
        assert_eq!((n0, swept), (120, 300));
        let (n0, swept) = schedule(300, 120, 20_000);
        assert!(n0 < 120 && swept == 300, "{n0} {swept}");
        let (n0, swept) = schedule(10_000, 120, 5_000);
        assert_eq!(n0, MIN_FIRST_RUNG);
        assert!(swept < 10_000);
    }
}
