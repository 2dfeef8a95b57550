//! Coarse-to-fine patch search with successive halving.
//!
//! Candidates are every patch size × grid position (with the given stride) × content: the
//! per-channel extremes (black/white for one channel, the eight corners of the colour cube for
//! three), two checkerboard phases and two seeded noise patterns. Rung `r` evaluates the
//! surviving candidates on `n0 · 3^r` search images; a third survive each rung (plus the best
//! candidate of every class, so each class keeps a contender), until a rung uses every search
//! image. Candidates are ranked by a lower confidence bound of their attack success rate
//! (Clopper–Pearson at 90%), which puts estimates from different sample sizes on one scale.
//! `n0` is chosen so the whole search fits the query budget; with too many candidates for the
//! budget, a seeded subset is searched.

use ndarray::{Array2, Array3};
use rand::seq::SliceRandom;

use super::{ClassCandidate, Oracle, SearchInput, SearchOutcome, anomaly, argmax, attack_success, stamp};
use crate::battery::spec::{Extent, SearchContent};
use crate::engine::EngineError;
use crate::transform::{self, MaskedTrigger, Stream};

/// Survivors per rung: one in `ETA`, and `ETA` times the samples.
const ETA: usize = 3;
/// Fewest samples a candidate is judged on at the first rung.
const MIN_FIRST_RUNG: usize = 4;
/// Confidence of the lower bound used for ranking (two-sided alpha 0.2 → one-sided 90%).
const RANKING_ALPHA: f64 = 0.2;

/// Intensity of a content at (channel, row, column) within the patch.
type PatternFn = Box<dyn Fn(usize, usize, usize) -> f32>;

struct Candidate {
    trigger: MaskedTrigger,
    description: String,
}

fn pixels(extent: Extent, side: usize) -> usize {
    match extent {
        Extent::Pixels(n) => n as usize,
        Extent::Fraction(f) => ((f * side as f32).round() as usize).max(1),
    }
}

/// Every candidate trigger of the search space.
fn candidates(
    channels: usize,
    height: usize,
    width: usize,
    sizes: &[Extent],
    stride: u32,
    contents: &[SearchContent],
    seed: u64,
) -> Vec<Candidate> {
    let mut patterns: Vec<(String, PatternFn)> = Vec::new();
    for content in contents {
        match content {
            SearchContent::Extremes => {
                let corners = if channels == 3 { 8 } else { 2 };
                for corner in 0..corners {
                    let name = if channels == 3 {
                        format!("colour ({}, {}, {})", corner & 1, (corner >> 1) & 1, (corner >> 2) & 1)
                    } else if corner == 1 {
                        "white".to_string()
                    } else {
                        "black".to_string()
                    };
                    let bits = corner;
                    patterns.push((
                        name,
                        Box::new(
                            move |c, _, _| {
                                if channels == 3 { ((bits >> c) & 1) as f32 } else { (bits & 1) as f32 }
                            },
                        ),
                    ));
                }
            }
            SearchContent::Checkerboard => {
                for phase in 0..2 {
                    patterns.push((
                        format!("checkerboard phase {phase}"),
                        Box::new(move |_, y, x| ((y + x + phase) % 2) as f32),
                    ));
                }
            }
            SearchContent::Noise => {
                for k in 0..2u64 {
                    let noise = noise_pattern(seed, k, channels, height, width);
                    patterns.push((format!("noise {k}"), Box::new(move |c, y, x| noise[[c, y, x]])));
                }
            }
        }
    }
    let mut out = Vec::new();
    for &size in sizes {
        let (h, w) = (pixels(size, height).min(height), pixels(size, width).min(width));
        let step = stride.max(1) as usize;
        for top in (0..=height - h).step_by(step) {
            for left in (0..=width - w).step_by(step) {
                for (name, pattern) in &patterns {
                    let mut mask = Array2::<f32>::zeros((height, width));
                    let mut content = Array3::<f32>::zeros((channels, height, width));
                    for y in top..top + h {
                        for x in left..left + w {
                            mask[[y, x]] = 1.0;
                            for c in 0..channels {
                                content[[c, y, x]] = pattern(c, y - top, x - left);
                            }
                        }
                    }
                    let trigger = MaskedTrigger { mask, pattern: content };
                    out.push(Candidate {
                        trigger,
                        description: format!("{w}x{h} at row {top}, column {left}, {name}"),
                    });
                }
            }
        }
    }
    out
}

fn noise_pattern(seed: u64, k: u64, channels: usize, height: usize, width: usize) -> Array3<f32> {
    use rand::RngExt;
    let mut rng = transform::sample_rng(seed, "search-noise", k, Stream::Probe);
    Array3::from_shape_simple_fn((channels, height, width), || rng.random::<f32>())
}

/// Runs the search.
pub fn search(
    oracle: &mut dyn Oracle,
    input: &SearchInput<'_>,
    sizes: &[Extent],
    stride: u32,
    contents: &[SearchContent],
    budget: u64,
) -> Result<SearchOutcome, EngineError> {
    let (channels, height, width) = input.images.first().map_or((1, 1, 1), |i| i.dim());
    let mut pool = candidates(channels, height, width, sizes, stride, contents, input.seed);
    let n = input.images.len().max(1);
    // Rungs until the sample count reaches every search image.
    let mut rungs = 1;
    while MIN_FIRST_RUNG * ETA.pow(rungs as u32 - 1) < n {
        rungs += 1;
    }
    let per_candidate_budget = budget as usize / rungs.max(1);
    if pool.len() * MIN_FIRST_RUNG > per_candidate_budget {
        let keep = (per_candidate_budget / MIN_FIRST_RUNG).max(input.classes);
        let mut rng = transform::sample_rng(input.seed, input.key, 0, Stream::Placement);
        pool.shuffle(&mut rng);
        pool.truncate(keep);
    }
    let first = (per_candidate_budget / pool.len().max(1)).clamp(MIN_FIRST_RUNG, n);
    let mut alive: Vec<usize> = (0..pool.len()).collect();
    // Best (candidate, score, asr) per class so far.
    let mut best: Vec<Option<(usize, f64, f64)>> = vec![None; input.classes];
    let mut queries = 0u64;
    let mut samples = first;
    loop {
        let used = &input.images[..samples.min(n)];
        let clean = &input.clean[..samples.min(n)];
        let mut scored: Vec<(usize, f64)> = Vec::with_capacity(alive.len());
        for &k in &alive {
            let trigger = &pool[k].trigger;
            let probed: Vec<Array3<f32>> = used.iter().map(|img| stamp(img, trigger, input.range)).collect();
            let predicted = argmax(&oracle.probabilities(&probed)?);
            queries += probed.len() as u64;
            let mut top = 0.0f64;
            for (class, held) in best.iter_mut().enumerate() {
                let (into, eligible) = attack_success(clean, &predicted, class);
                let asr = if eligible == 0 { 0.0 } else { into as f64 / eligible as f64 };
                let lower = crate::stats::clopper_pearson(into as u64, eligible as u64, RANKING_ALPHA).lower;
                top = top.max(lower);
                // A re-evaluation on more samples replaces the candidate's own earlier estimate.
                let better = held.is_none_or(|(kept, s, _)| kept == k || lower > s);
                if better {
                    *held = Some((k, lower, asr));
                }
            }
            scored.push((k, top));
        }
        if samples >= n || alive.len() <= 1 {
            break;
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut next: Vec<usize> = scored.iter().take(alive.len().div_ceil(ETA)).map(|s| s.0).collect();
        for (k, _, _) in best.iter().flatten() {
            if !next.contains(k) {
                next.push(*k);
            }
        }
        next.sort_unstable();
        alive = next;
        samples = (samples * ETA).min(n);
    }
    let candidates: Vec<ClassCandidate> = best
        .iter()
        .enumerate()
        .map(|(class, found)| {
            let (k, score, asr) = found.unwrap_or((0, 0.0, 0.0));
            ClassCandidate {
                class,
                trigger: pool[k].trigger.clone(),
                attack_success_rate: asr,
                statistic: score,
                description: pool[k].description.clone(),
            }
        })
        .collect();
    let statistic: Vec<f64> = candidates.iter().map(|c| c.statistic).collect();
    let anomaly_index = anomaly(&statistic, true);
    let chosen =
        (0..candidates.len()).max_by(|&a, &b| statistic[a].total_cmp(&statistic[b]).then(b.cmp(&a))).unwrap_or(0);
    Ok(SearchOutcome {
        method: "patch",
        statistic: "attack-success lower bound (90%)",
        candidates,
        anomaly_index,
        chosen,
        queries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy "model": class 1 when pixel (3, 3) is bright, else class 0.
    struct Bright;

    impl Oracle for Bright {
        fn probabilities(&mut self, images: &[Array3<f32>]) -> Result<Array2<f32>, EngineError> {
            Ok(Array2::from_shape_fn((images.len(), 2), |(i, c)| {
                let on = images[i][[0, 3, 3]] > 0.5;
                if (c == 1) == on { 1.0 } else { 0.0 }
            }))
        }
    }

    #[test]
    fn finds_the_pixel_that_flips_the_toy_model() {
        let images = vec![Array3::<f32>::zeros((1, 4, 4)); 30];
        let clean = vec![0usize; 30];
        let range = crate::transform::ValueRange { lo: vec![0.0], hi: vec![1.0] };
        let input = SearchInput { images: &images, clean: &clean, classes: 2, range: &range, seed: 1, key: "t" };
        let outcome =
            search(&mut Bright, &input, &[Extent::Pixels(1)], 1, &[SearchContent::Extremes], 100_000).unwrap();
        let chosen = &outcome.candidates[outcome.chosen];
        assert_eq!(chosen.class, 1);
        assert_eq!(chosen.attack_success_rate, 1.0);
        assert_eq!(chosen.trigger.mask[[3, 3]], 1.0);
        assert_eq!(chosen.trigger.mask_l1(), 1.0);
        assert!(outcome.queries <= 100_000);
        // Determinism: the same inputs give the same outcome.
        let again = search(&mut Bright, &input, &[Extent::Pixels(1)], 1, &[SearchContent::Extremes], 100_000).unwrap();
        assert_eq!(again, outcome);
    }
}
