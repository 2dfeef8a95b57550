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
//! - **Ordinary values** per feature, measured first on every row: its control (each row's
//!   feature replaced by the same feature of another clean row, drawn per row from the
//!   `Control` stream, as permutation importance does) and its quantiles. The most either moves
//!   into class `k` is what the feature does naturally; the quantiles are the reference, not
//!   candidates.
//! - **Successive halving** (Jamieson & Talwalkar, 2016): every other single-feature candidate
//!   is judged on the first `n0` rows, the better half (never fewer than [`KEEP_MIN`]) on twice
//!   as many, and so on until a rung uses every row; `n0` is the largest that fits the budget.
//!   Candidates are ranked by the Clopper–Pearson lower bound (one-sided 90%) of their
//!   flip-into rate minus their feature's ordinary rate.
//! - **Effect and anomaly index.** A single edit's *effect* toward `k` is its flip-into rate
//!   minus its feature's ordinary rate: a feature the model relies on moves many rows when set
//!   to an extreme, but so do its own extremes in the data (tree ensembles saturate beyond the
//!   range), so its effect is small; a trigger moves rows that no ordinary value of its feature
//!   moves. The effect is scored against every candidate's first-rung effect toward `k` as a
//!   signed anomaly index (median and 1.4826 · MAD, as [`crate::stats::anomaly_indices`];
//!   Rousseeuw & Croux, 1993), the scale floored at [`SCALE_FLOOR`] of the rows so that a
//!   population of inert candidates does not turn a few rows into an outlier. A candidate
//!   stands out from [`ANOMALY_THRESHOLD`].
//! - **Pairs**: a lock's parts move few rows alone, so pairs are chosen by a weaker score, the
//!   flip-into rate beyond the feature's control: the [`Settings::pair_features`] features
//!   whose single edits score highest are paired, each with its most extreme values either
//!   side and, on each side beyond the data, its best-scoring value (ties to the one nearest
//!   the data). Pairs go through their own halving. A pair's effect is its *interaction*:
//!   its rate minus the more of two references, both measured on every row: its *twin* (both
//!   values clamped into their feature's range, the pair at the edge of the data) and its two
//!   single edits added up. Natural features interact too (two extremes of a confident tree
//!   ensemble move most rows, each alone a tenth), but trees saturate beyond the data, so
//!   the twin moves as many; a lock's twin moves none, and its parts little. The interaction
//!   is scored against the first rung's pairs like the singles' effects.
//!
//! - **Extrapolated features.** Linear models and networks extrapolate: an informative feature
//!   set hundreds of spreads past the data keeps moving rows (a clean logistic regression sends
//!   every row to one class), far beyond what its values in the data do, toward one class past
//!   one end and another class past the other. A trigger looks the same from one end only, so
//!   the reference pass also tries each feature's farthest candidate past each end; a feature
//!   whose two far values each move [`LEVER_GAIN`] of the rows or more into some class beyond
//!   its ordinary rate, into different classes, is *extrapolated* ([`Lever`]): its values past
//!   the data are left out of the sweep (singles and pairs) and it is listed in
//!   [`Sweep::extrapolated`]. Tree ensembles are constant past the data, so a trigger planted
//!   past one end leaves the other end inert, and the feature is swept. A backdoor planted past
//!   *both* ends of one feature, toward two classes, or in a model that extrapolates its trigger
//!   feature, is not found this way; `--reference` decides there.
//!
//! Memory is bounded: (candidate, row) pairs are materialised one oracle batch
//! ([`ORACLE_BATCH`] rows) at a time. Given the same seed, key, rows and oracle the sweep is
//! deterministic. As with the other searches, these numbers only *choose* what to confirm; the
//! verdict comes from held-out rows through the gating statistics.

use crate::search::halving::Halving;
use crate::search::ranking::{Outlier, lower_bound};
use rand::RngExt;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use ndarray::ArrayView2;

use super::data::FeatureStats;
use super::transforms::SetFeatures;
use crate::engine::EngineError;
use crate::stats::{clopper_pearson, fisher_exact_greater};
use crate::transform::{Stream, sample_rng};

/// Quantile levels the candidate values include (compute [`FeatureStats`] with these).
pub const QUANTILE_LEVELS: [f64; 9] = [0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0];
/// Multiples of the spread beyond the minimum and the maximum.
pub const BEYOND: [f64; 4] = [1.0, 3.0, 10.0, 100.0];
/// Magic-looking values people and pipelines use as sentinels.
pub const MAGIC: [f32; 11] = [0.0, 1.0, -1.0, 99.0, -99.0, 999.0, -999.0, 9999.0, -9999.0, 99999.0, -99999.0];
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
/// Smallest scale of the anomaly index, as a share of the rows: when most candidates do
/// nothing their MAD is a row or two, and the index would make a few rows' worth of natural
/// sensitivity look like an outlier. With [`ANOMALY_THRESHOLD`], a candidate must move at least
/// 30% of the rows beyond what the typical candidate moves.
pub const SCALE_FLOOR: f64 = 0.05;
/// Anomaly index from which a candidate stands out (as a robust z-score, far above the
/// Neural Cleanse index of 2: the population is hundreds of candidates, not ten labels).
pub const ANOMALY_THRESHOLD: f64 = 6.0;
/// Share of the rows a feature's farthest value past one end must move into a class beyond the
/// feature's ordinary rate for that end to count as extrapolated.
pub const LEVER_GAIN: f64 = 0.05;

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
    /// Anomaly index of the effect: how far it lies above the first rung's candidates toward
    /// the same class (singles against singles, pairs against pairs), in robust standard
    /// deviations ([`crate::search::ranking::Outlier`]). It stands out from [`ANOMALY_THRESHOLD`].
    pub robust_z: f64,
    /// What the candidate's rate is measured against: for one feature, the most its ordinary
    /// values move (its control and its quantiles); for a pair, the more of its twin (both
    /// values clamped into the data's range) and its two single edits added up.
    pub reference_rate: f64,
    /// `flip_into_rate − reference_rate`.
    pub effect: f64,
}

impl FeatureCandidate {
    /// `f11 = 999` or `f03 = -150, f07 = 20000`.
    pub fn description(&self) -> String {
        let parts: Vec<String> = self.set.iter().map(|s| format!("{} = {}", s.name, s.value)).collect();
        parts.join(", ")
    }

    /// Whether the anomaly index reaches [`ANOMALY_THRESHOLD`].
    pub fn stands_out(&self) -> bool {
        self.robust_z >= ANOMALY_THRESHOLD
    }
}

/// One end of a feature's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// Past the minimum.
    Below,
    /// Past the maximum.
    Above,
}

/// What a feature's farthest candidate past one end of the data does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reach {
    pub end: End,
    pub value: f32,
    /// The class it moves most rows into beyond the feature's ordinary rate, and that gain.
    pub class: usize,
    pub gain: f64,
}

/// A feature the model extrapolates past both ends of the data, toward different classes (see
/// the module documentation): its values past the data are not swept.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lever {
    pub feature: usize,
    pub name: String,
    pub below: Reach,
    pub above: Reach,
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
    /// Final pairs that stand out.
    pub pairs_found: usize,
    /// Best candidates first, by anomaly index (each toward its best class).
    pub ranked: Vec<FeatureCandidate>,
    /// The best candidate toward each class, if any moved rows into it.
    pub per_class: Vec<Option<FeatureCandidate>>,
    /// The best candidate: a scan confirms it on held-out rows.
    pub chosen: FeatureCandidate,
    pub queries: u64,
    /// [`ANOMALY_THRESHOLD`], for readers of the serialised sweep.
    pub threshold: f64,
    /// Features the model extrapolates past both ends, left out past the data.
    #[serde(default)]
    pub extrapolated: Vec<Lever>,
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

/// Flip-into counts of one candidate over the first `rows` rows: `moved[k]`.
#[derive(Debug, Clone, PartialEq)]
struct Counts {
    moved: Vec<u64>,
    rows: usize,
}

/// Sweeps single features and pairs; `None` when there are no rows, no features or no budget.
/// Queries stay within `settings.budget`, except that the reference pass (each feature's
/// control, quantiles and farthest values, over every row) and the final checks of the pairs
/// run in full.
pub fn sweep(
    oracle: &mut dyn RowOracle,
    input: &SweepInput<'_>,
    settings: &Settings,
) -> Result<Option<Sweep>, EngineError> {
    let (n, f) = input.rows.dim();
    let classes = input.classes;
    if n == 0 || f == 0 || classes == 0 {
        return Ok(None);
    }
    let eligible = |k: usize, m: usize| input.clean[..m].iter().filter(|&&c| c != k).count() as u64;
    let rate = |c: &Counts, k: usize| c.moved[k] as f64 / eligible(k, c.rows).max(1) as f64;
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

    // Reference: what each feature's ordinary values do, over every row.
    let feature_sets: Vec<Vec<usize>> = (0..f).map(|j| vec![j]).collect();
    let controls = ev.controls(&feature_sets, &donors)?;
    let ordinary_values: Vec<Vec<f32>> = (0..f).map(|j| quantile_values(&input.stats[j])).collect();
    let quantiles: Vec<SetFeatures> =
        (0..f).flat_map(|j| ordinary_values[j].iter().map(move |&v| SetFeatures::one(j, v))).collect();
    let quantile_counts = ev.evaluate(&quantiles, n)?;
    let control_rate: Vec<Vec<f64>> = controls.iter().map(|c| (0..classes).map(|k| rate(c, k)).collect()).collect();
    let mut ordinary = control_rate.clone();
    for (set, c) in quantiles.iter().zip(&quantile_counts) {
        let j = set.assignments[0].0;
        for (k, o) in ordinary[j].iter_mut().enumerate() {
            *o = o.max(rate(c, k));
        }
    }
    // Each feature's farthest candidate past each end: which features the model extrapolates.
    let far: Vec<SetFeatures> = (0..f)
        .flat_map(|j| {
            [End::Below, End::Above]
                .into_iter()
                .filter_map(move |end| far_value(&input.stats[j], end))
                .map(move |v| SetFeatures::one(j, v))
        })
        .collect();
    let far_counts = ev.evaluate(&far, n)?;
    let reach = |j: usize, end: End| {
        let value = far_value(&input.stats[j], end)?;
        let c =
            &far_counts[far.iter().position(|s| *s == SetFeatures::one(j, value)).expect("every far value is counted")];
        let (class, gain) = (0..classes)
            .map(|k| (k, rate(c, k) - ordinary[j][k]))
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))?;
        Some(Reach { end, value, class, gain })
    };
    let extrapolated: Vec<Lever> = (0..f)
        .filter_map(|j| {
            let (below, above) = (reach(j, End::Below)?, reach(j, End::Above)?);
            (below.gain >= LEVER_GAIN && above.gain >= LEVER_GAIN && below.class != above.class).then(|| Lever {
                feature: j,
                name: input.names[j].clone(),
                below,
                above,
            })
        })
        .collect();
    // Whether a value is swept: inside the data, or past it on a feature not extrapolated.
    let sweepable = |j: usize, v: f32| {
        let s = &input.stats[j];
        s.present == 0 || (s.min..=s.max).contains(&v) || !extrapolated.iter().any(|l| l.feature == j)
    };

    // Singles: every candidate value that is not one of the feature's quantiles.
    let space: Vec<SetFeatures> = (0..f)
        .flat_map(|j| {
            let ordinary = &ordinary_values[j];
            candidate_values(&input.stats[j])
                .into_iter()
                .filter(move |&v| !ordinary.contains(&v) && sweepable(j, v))
                .map(move |v| SetFeatures::one(j, v))
        })
        .collect();
    // Half of what the reference left for singles, the rest for pairs.
    let (n0, swept) = schedule(space.len(), n, settings.budget.saturating_sub(ev.queries) / 2);
    let mut singles = space.clone();
    if swept < space.len() {
        let mut rng = sample_rng(input.seed, input.key, u64::MAX, Stream::Probe);
        singles.shuffle(&mut rng);
        singles.truncate(swept);
    }
    if singles.is_empty() {
        return Ok(None);
    }
    let single_effect = |set: &SetFeatures, c: &Counts, k: usize| rate(c, k) - ordinary[set.assignments[0].0][k];
    let first = ev.evaluate(&singles, n0)?;
    let single_outlier = Outlier::new(
        &(0..classes)
            .map(|k| singles.iter().zip(&first).map(|(s, c)| single_effect(s, c, k)).collect::<Vec<f64>>())
            .collect::<Vec<_>>(),
        |_| SCALE_FLOOR,
    );
    let (alive, counts, rungs) = halve(&mut ev, &singles, first, &|a, c| {
        let j = singles[a].assignments[0].0;
        (0..classes).map(|k| lower_bound(c.moved[k], eligible(k, c.rows)) - ordinary[j][k]).fold(f64::MIN, f64::max)
    })?;

    // Pairs, among the features and values whose single edits move some rows beyond their
    // feature's control: a weak score, since a lock's parts each move few rows.
    let weak = |a: usize| {
        let j = singles[a].assignments[0].0;
        (0..classes).map(|k| rate(&counts[a], k) - control_rate[j][k]).fold(f64::MIN, f64::max)
    };
    let mut feature_score = vec![f64::NEG_INFINITY; f];
    for (a, single) in singles.iter().enumerate() {
        let j = single.assignments[0].0;
        feature_score[j] = feature_score[j].max(weak(a));
    }
    let mut order: Vec<usize> = (0..f).collect();
    order.sort_by(|&a, &b| feature_score[b].total_cmp(&feature_score[a]).then(a.cmp(&b)));
    let paired: Vec<usize> = order.into_iter().take(settings.pair_features.min(f)).collect();
    // Per feature: its most extreme values either side, and on each side beyond the data the
    // value with the best weak score (ties to the one nearest the data).
    let pair_values = |j: usize| {
        let s = &input.stats[j];
        let all: Vec<f32> = candidate_values(s).into_iter().filter(|&v| sweepable(j, v)).collect();
        let mut values: Vec<f32> = all.first().into_iter().chain(all.last()).copied().collect();
        if s.present > 0 {
            for (side, edge) in [(-1.0, f64::from(s.min)), (1.0, f64::from(s.max))] {
                // How far beyond the data's edge on this side; positive beyond it.
                let distance = |a: usize| side * (f64::from(singles[a].assignments[0].1) - edge);
                let best = (0..singles.len())
                    .filter(|&a| singles[a].assignments[0].0 == j && distance(a) > 0.0)
                    .max_by(|&x, &y| weak(x).total_cmp(&weak(y)).then(distance(y).total_cmp(&distance(x))));
                values.extend(best.map(|a| singles[a].assignments[0].1));
            }
        }
        tidy(values)
    };
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
    // What each single edit does, as far as the sweep has measured it (0 if never swept).
    let single_rate = |j: usize, v: f32, k: usize| {
        let single = SetFeatures::one(j, v);
        (0..singles.len()).find(|&a| singles[a] == single).map_or(0.0, |a| rate(&counts[a], k))
    };
    // Kept back for the final checks on all rows: a control per pair of features and the
    // single edits that make up the pairs.
    let pair_count = paired.len() * paired.len().saturating_sub(1) / 2;
    let pair_singles: usize = paired.iter().map(|&j| pair_values(j).len()).sum();
    let reserve = ((pair_count + pair_singles) * n) as u64;
    // Each pair's twin at the edge of the data: both values clamped into their feature's range.
    // Tree ensembles saturate beyond the data, so two natural features set beyond it move about
    // as many rows as their twin does; a lock's twin moves none.
    let twin = |set: &SetFeatures| {
        let clamp = |(j, v): (usize, f32)| {
            let s = &input.stats[j];
            (j, if s.present > 0 { v.clamp(s.min, s.max) } else { v })
        };
        SetFeatures::pair(clamp(set.assignments[0]), clamp(set.assignments[1]))
    };
    let mut twins: Vec<SetFeatures> = Vec::new();
    for p in &pairs {
        let t = twin(p);
        if !twins.contains(&t) {
            twins.push(t);
        }
    }
    if ev.queries + ((twins.len() * n) as u64) + reserve > settings.budget {
        // No room for the pairs' references: no pairs.
        pairs.clear();
        twins.clear();
    }
    let twin_counts = ev.evaluate(&twins, n)?;
    let twin_rate = |set: &SetFeatures, k: usize| {
        let t = twin(set);
        rate(&twin_counts[twins.iter().position(|x| *x == t).expect("every pair has its twin")], k)
    };
    // A pair's reference: its twin, or its two single edits added up, whichever moves more.
    let pair_reference = |set: &SetFeatures, k: usize, part: &dyn Fn(usize, f32, usize) -> f64| {
        let [(a, va), (b, vb)] = [set.assignments[0], set.assignments[1]];
        twin_rate(set, k).max(part(a, va, k) + part(b, vb, k))
    };
    let interaction = |set: &SetFeatures, c: &Counts, k: usize, part: &dyn Fn(usize, f32, usize) -> f64| {
        rate(c, k) - pair_reference(set, k, part)
    };
    let left = settings.budget.saturating_sub(ev.queries + reserve);
    let (p0, pair_swept) = schedule(pairs.len(), n, left);
    if pair_swept < pairs.len() {
        let mut rng = sample_rng(input.seed, input.key, u64::MAX - 1, Stream::Probe);
        pairs.shuffle(&mut rng);
        pairs.truncate(pair_swept);
    }
    let pairs_tried = pairs.len();
    let mut pair_outlier = Outlier::new(&vec![Vec::new(); classes], |_| SCALE_FLOOR);
    let mut pair_finals: Vec<(SetFeatures, Counts)> = Vec::new();
    if !pairs.is_empty() {
        let first_pairs = ev.evaluate(&pairs, p0)?;
        pair_outlier = Outlier::new(
            &(0..classes)
                .map(|k| pairs.iter().zip(&first_pairs).map(|(s, c)| interaction(s, c, k, &single_rate)).collect())
                .collect::<Vec<Vec<f64>>>(),
            |_| SCALE_FLOOR,
        );
        let (alive, counts, _) = halve(&mut ev, &pairs, first_pairs, &|a, c| {
            (0..classes)
                .map(|k| lower_bound(c.moved[k], eligible(k, c.rows)) - pair_reference(&pairs[a], k, &single_rate))
                .fold(f64::MIN, f64::max)
        })?;
        pair_finals = alive.iter().map(|&a| (pairs[a].clone(), counts[a].clone())).collect();
    }

    // Final checks: every single edit inside a final pair and every pair's control, on all rows.
    let finals: Vec<(SetFeatures, Counts)> = alive.iter().map(|&a| (singles[a].clone(), counts[a].clone())).collect();
    let mut parts: Vec<SetFeatures> = Vec::new();
    let mut pair_sets: Vec<Vec<usize>> = Vec::new();
    for (set, _) in &pair_finals {
        for &(j, v) in &set.assignments {
            let single = SetFeatures::one(j, v);
            if !parts.contains(&single) {
                parts.push(single);
            }
        }
        let features: Vec<usize> = set.assignments.iter().map(|a| a.0).collect();
        if !pair_sets.contains(&features) {
            pair_sets.push(features);
        }
    }
    let part_counts = ev.evaluate(&parts, n)?;
    let pair_controls = ev.controls(&pair_sets, &donors)?;
    let part_rate = |j: usize, v: f32, k: usize| {
        let i = parts.iter().position(|p| *p == SetFeatures::one(j, v)).expect("every part of a final pair is counted");
        rate(&part_counts[i], k)
    };

    // Every final candidate seen toward every class, scored by its anomaly index.
    let views: Vec<Vec<FeatureCandidate>> = finals
        .iter()
        .chain(&pair_finals)
        .map(|(set, c)| {
            let features: Vec<usize> = set.assignments.iter().map(|a| a.0).collect();
            let control = if features.len() == 1 {
                &controls[features[0]]
            } else {
                &pair_controls[pair_sets.iter().position(|p| *p == features).expect("a control per pair")]
            };
            (0..classes)
                .map(|k| {
                    let (reference, z) = if set.assignments.len() == 2 {
                        (pair_reference(set, k, &part_rate), pair_outlier.z(k, interaction(set, c, k, &part_rate)))
                    } else {
                        (ordinary[features[0]][k], single_outlier.z(k, single_effect(set, c, k)))
                    };
                    let e = eligible(k, n);
                    let (moved, cm) = (c.moved[k], control.moved[k]);
                    let ci = clopper_pearson(moved, e, 0.05);
                    FeatureCandidate {
                        set: set
                            .assignments
                            .iter()
                            .map(|&(feature, value)| FeatureValue {
                                feature,
                                name: input.names[feature].clone(),
                                value,
                            })
                            .collect(),
                        class: k,
                        moved,
                        eligible: e,
                        flip_into_rate: rate(c, k),
                        interval: [ci.lower, ci.upper],
                        control_rate: rate(control, k),
                        p_value: fisher_exact_greater([[moved, e - moved], [cm, e - cm]]),
                        robust_z: z,
                        reference_rate: reference,
                        effect: rate(c, k) - reference,
                    }
                })
                .collect()
        })
        .collect();
    // Best first: higher anomaly score, then fewer features, then feature and value order.
    let order = |a: &FeatureCandidate, b: &FeatureCandidate| {
        let key = |c: &FeatureCandidate| c.set.iter().map(|s| (s.feature, s.value.to_bits())).collect::<Vec<_>>();
        b.robust_z.total_cmp(&a.robust_z).then(a.set.len().cmp(&b.set.len())).then(key(a).cmp(&key(b)))
    };
    let mut ranked: Vec<FeatureCandidate> = views
        .iter()
        .map(|v| v.iter().min_by(|a, b| order(a, b).then(a.class.cmp(&b.class))).expect("classes > 0").clone())
        .collect();
    ranked.sort_by(order);
    let per_class: Vec<Option<FeatureCandidate>> = (0..classes)
        .map(|k| views.iter().map(|v| &v[k]).filter(|c| c.moved > 0).min_by(|a, b| order(a, b)).cloned())
        .collect();
    let pairs_found = pair_finals.len().min(ranked.iter().filter(|c| c.set.len() == 2 && c.stands_out()).count());
    ranked.truncate(RANKED);
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
        threshold: ANOMALY_THRESHOLD,
        extrapolated,
    }))
}

/// A feature's farthest candidate value past `end` of the data, if any lies past it.
fn far_value(stats: &FeatureStats, end: End) -> Option<f32> {
    if stats.present == 0 {
        return None;
    }
    let values = candidate_values(stats);
    match end {
        End::Below => values.first().copied().filter(|&v| v < stats.min),
        End::Above => values.last().copied().filter(|&v| v > stats.max),
    }
}

/// A feature's values at [`QUANTILE_LEVELS`]: its ordinary values.
fn quantile_values(stats: &FeatureStats) -> Vec<f32> {
    tidy(QUANTILE_LEVELS.iter().filter_map(|&l| stats.quantile(l)).collect())
}

/// Successive halving from the first rung's `counts` to every row, ranking by `score(index,
/// counts)`: the indices alive at the end, every candidate's latest counts, and the rungs.
fn halve(
    ev: &mut Evaluator<'_, '_, '_>,
    candidates: &[SetFeatures],
    mut counts: Vec<Counts>,
    score: &dyn Fn(usize, &Counts) -> f64,
) -> Result<(Vec<usize>, Vec<Counts>, usize), EngineError> {
    let n = ev.input.rows.nrows();
    let mut alive: Vec<usize> = (0..candidates.len()).collect();
    let (mut m, mut rungs) = (counts.first().map_or(n, |c| c.rows), 1);
    while m < n {
        let keep = alive.len().div_ceil(ETA).max(KEEP_MIN).min(alive.len());
        let scores: Vec<f64> = alive.iter().map(|&a| score(a, &counts[a])).collect();
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
    Halving { eta: ETA, keep_min: KEEP_MIN, min_first_rung: MIN_FIRST_RUNG, min_candidates: 0 }
        .schedule(candidates, n, budget)
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
        let mut out = vec![Counts { moved: vec![0; classes], rows: m }; count];
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
        /// Weight of feature 0's contribution (1 like the others in the plain mock).
        weight: f64,
        /// Unbounded contributions (a linear model) instead of bounded ones.
        linear: bool,
        calls: usize,
    }

    impl Mock {
        fn clean() -> Self {
            Self { magic: None, pair: None, weight: 1.0, linear: false, calls: 0 }
        }
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
            let standardised = |j: usize| (f64::from(row[j]) - 10.0 * j as f64) / (j + 1) as f64;
            let contribution = |j: usize| if self.linear { standardised(j) } else { standardised(j).tanh() };
            let score: f64 =
                INFORMATIVE.iter().map(|&j| if j == 0 { self.weight } else { 1.0 } * contribution(j)).sum();
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

    fn run(mock: Mock, budget: u64) -> Sweep {
        run_seeded(mock, budget, 11)
    }

    fn run_seeded(mut mock: Mock, budget: u64, seed: u64) -> Sweep {
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
            seed,
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
        let s = run(Mock { magic: Some((3, 200.0)), ..Mock::clean() }, 200_000);
        let chosen = &s.chosen;
        assert_eq!(chosen.set.len(), 1, "{}", chosen.description());
        assert_eq!(chosen.set[0].feature, 3);
        assert!(chosen.set[0].value > 200.0, "{}", chosen.description());
        assert_eq!(chosen.class, 1);
        assert_eq!(chosen.moved, chosen.eligible, "every class-0 row moves");
        assert!(chosen.stands_out(), "{}", chosen.robust_z);
        assert!(chosen.p_value < 1e-10, "{}", chosen.p_value);
        assert!(s.ranked[1..].iter().all(|c| c.set[0].feature == 3 || !c.stands_out()), "{:#?}", s.ranked);
        assert!(s.queries <= 200_000);
    }

    #[test]
    fn a_two_feature_trigger_is_found_as_a_pair() {
        // Feature 1 below 0 and feature 4 above 70, together: both beyond the data (about
        // [5, 15] and [28, 53]), on features the clean model ignores; neither alone does anything.
        let s = run(Mock { pair: Some(((1, 0.0), (4, 70.0))), ..Mock::clean() }, 400_000);
        assert!(s.pairs_found >= 1, "{s:#?}");
        let chosen = &s.chosen;
        assert!(chosen.stands_out(), "{chosen:?}");
        assert!(
            s.ranked.iter().all(|c| c.set.len() == 2 || !c.stands_out()),
            "no single part stands out: {:#?}",
            s.ranked
        );
        let features: Vec<usize> = chosen.set.iter().map(|v| v.feature).collect();
        assert_eq!(features, [1, 4], "{}", chosen.description());
        assert!(chosen.set[0].value < 0.0 && chosen.set[1].value > 70.0, "{}", chosen.description());
        assert_eq!(chosen.class, 1);
        assert_eq!(chosen.moved, chosen.eligible);
    }

    #[test]
    fn nothing_stands_out_in_a_clean_model() {
        for seed in 0..5 {
            let s = run_seeded(Mock::clean(), 200_000, seed);
            // An extreme value of one feature outweighs one of four bounded contributions: it
            // moves the rows near the boundary, never nearly all, and no more than the feature's
            // own largest or smallest values in the data do. Two extremes together move more
            // rows, but no more than their single edits add up to.
            let chosen = &s.chosen;
            assert!(!chosen.stands_out(), "seed {seed}: {}: {chosen:?}", chosen.description());
            assert!(chosen.effect < 0.2, "seed {seed}: {}: {}", chosen.description(), chosen.effect);
            assert_eq!(s.pairs_found, 0, "seed {seed}: {:#?}", s.ranked);
            assert!(s.ranked.iter().all(|c| !c.stands_out()), "seed {seed}");
        }
    }

    #[test]
    fn a_feature_the_model_relies_on_is_not_a_trigger() {
        // Feature 0 weighs three times the others: its high values alone decide the class, and
        // its extremes move most rows, far more than its resampled values do. Its own largest
        // values in the data do the same, so nothing about the extreme is anomalous.
        let s = run(Mock { weight: 3.0, ..Mock::clean() }, 200_000);
        let extreme = s.ranked.iter().find(|c| c.set.len() == 1 && c.set[0].feature == 0 && c.set[0].value > 100.0);
        if let Some(extreme) = extreme {
            assert!(extreme.flip_into_rate > extreme.control_rate, "{extreme:?}");
        }
        assert!(!s.chosen.stands_out(), "{}: {:?}", s.chosen.description(), s.chosen);
        assert_eq!(s.pairs_found, 0, "{:#?}", s.ranked);
        // The same model with a magic value planted on another feature: the trigger still stands out.
        let s = run(Mock { weight: 3.0, magic: Some((4, 400.0)), ..Mock::clean() }, 200_000);
        assert_eq!((s.chosen.set[0].feature, s.chosen.class), (4, 1), "{}", s.chosen.description());
        assert!(s.chosen.stands_out(), "{:?}", s.chosen);
    }

    #[test]
    fn a_linear_model_extrapolates_its_features_and_nothing_is_chosen_past_them() {
        // A linear model moves every row to class 1 with an informative feature far above the
        // data, and to class 0 far below it: far more than the feature's own extremes do.
        let s = run(Mock { linear: true, ..Mock::clean() }, 200_000);
        // (A feature whose own extremes in the data already move nearly every row it can move
        // gains nothing past them, and need not be listed.)
        let levers: Vec<usize> = s.extrapolated.iter().map(|l| l.feature).collect();
        assert!(levers.len() >= 3 && levers.iter().all(|j| INFORMATIVE.contains(j)), "{:#?}", s.extrapolated);
        for l in &s.extrapolated {
            assert_eq!((l.below.class, l.above.class), (0, 1), "{l:?}");
            assert!(l.below.gain >= LEVER_GAIN && l.above.gain >= LEVER_GAIN, "{l:?}");
        }
        let past_the_data = |c: &FeatureCandidate| {
            c.set.iter().any(|v| {
                let st = feature_stats(rows().view(), &QUANTILE_LEVELS).swap_remove(v.feature);
                levers.contains(&v.feature) && !(st.min..=st.max).contains(&v.value)
            })
        };
        assert!(!s.ranked.iter().any(past_the_data), "{:#?}", s.ranked);
        assert!(!s.chosen.stands_out(), "{}: {:?}", s.chosen.description(), s.chosen);
    }

    #[test]
    fn a_trigger_on_a_feature_a_linear_model_ignores_still_stands_out() {
        // Feature 4 is not read by the linear part: nothing moves past its lower end, so it is
        // not extrapolated, and its planted threshold is found like in a tree ensemble.
        let s = run(Mock { linear: true, magic: Some((4, 400.0)), ..Mock::clean() }, 200_000);
        assert!(s.extrapolated.iter().all(|l| l.feature != 4), "{:#?}", s.extrapolated);
        assert_eq!((s.chosen.set[0].feature, s.chosen.class), (4, 1), "{}", s.chosen.description());
        assert!(s.chosen.set[0].value > 400.0);
        assert!(s.chosen.stands_out(), "{:?}", s.chosen);
    }

    #[test]
    fn a_bounded_model_extrapolates_nothing() {
        for mock in [Mock::clean(), Mock { magic: Some((3, 200.0)), ..Mock::clean() }] {
            let s = run(mock, 200_000);
            assert!(s.extrapolated.is_empty(), "{:#?}", s.extrapolated);
        }
    }

    #[test]
    fn the_sweep_is_deterministic_and_the_budget_bounds_it() {
        let a = run(Mock { magic: Some((2, 100.0)), ..Mock::clean() }, 50_000);
        let b = run(Mock { magic: Some((2, 100.0)), ..Mock::clean() }, 50_000);
        assert_eq!(a, b);
        for budget in [20_000u64, 50_000, 100_000] {
            let s = run(Mock { magic: Some((2, 100.0)), ..Mock::clean() }, budget);
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
