//! Coarse-to-fine patch search with successive halving.
//!
//! Candidates are every patch size × grid position (with the given stride) × content: the
//! per-channel extremes (black/white for one channel, the eight corners of the colour cube for
//! three), two checkerboard phases and two seeded noise patterns. Rung `r` evaluates the
//! surviving candidates on `n0 · 3^r` search images; a third survive each rung (plus the best
//! candidate of every class, so each class keeps a contender), until a rung uses every search
//! image. Candidates are ranked by a lower confidence bound of their attack success rate
//! (Clopper–Pearson at 90%), which puts estimates from different sample sizes on one scale —
//! into each class, and into *any* other class along a consistent mapping (each clean class
//! sent to one class of its own, as an all-to-all backdoor `y → y + 1` does, which spreads its
//! flips over every class and so never wins any single one). The mapping's best candidate is
//! chosen when its bound beats every class's.
//! `n0` is chosen so the whole search fits the query budget. With too many candidates for the
//! budget (a large input at stride 1), positions are first coarsened to a grid whose step is a
//! fraction of the patch size — `⌈side / k⌉`, the largest `k` that fits, plus the last position
//! so edges and corners are always tried: a patch then still covers any trigger up to
//! `(1 − 1/k)` of its side completely. Only if even `k = 2` does not fit is a seeded subset
//! searched.

use ndarray::{Array2, Array3, ArrayViewMut3};
use rand::seq::SliceRandom;

use super::{ClassCandidate, Coverage, Oracle, SearchInput, SearchOutcome, anomaly, attack_success, predict};
use crate::battery::spec::{Extent, SearchContent};
use crate::engine::EngineError;
use crate::transform::{self, MaskedTrigger, Stream, ValueRange};

/// Survivors per rung: one in `ETA`, and `ETA` times the samples.
const ETA: usize = 3;
/// Fewest samples a candidate is judged on at the first rung.
const MIN_FIRST_RUNG: usize = 4;
/// Confidence of the lower bound used for ranking (two-sided alpha 0.2 → one-sided 90%).
const RANKING_ALPHA: f64 = 0.2;

/// What fills a patch.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Content {
    /// A corner of the colour cube (bit `c` = channel `c` at its maximum); for one channel,
    /// 0 is black and 1 white.
    Corner(usize),
    /// A checkerboard of the two extremes; the phase says which one the corner pixel takes.
    Checkerboard(usize),
    /// The `k`-th seeded noise pattern.
    Noise(usize),
}

/// One candidate trigger: a `height` × `width` patch at (`top`, `left`) filled with `content`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Patch {
    height: usize,
    width: usize,
    top: usize,
    left: usize,
    content: Content,
}

/// One patch size: its (height, width), and the rows and columns it starts at.
type Placements = ((usize, usize), Vec<usize>, Vec<usize>);

/// The search space, enumerated lazily: candidate `k` is worked out from `k` when needed, in
/// the order sizes × rows × columns × contents.
struct Space {
    channels: usize,
    height: usize,
    width: usize,
    sizes: Vec<Placements>,
    contents: Vec<Content>,
    /// The noise patterns, `[C, H, W]` each (a patch reads the top-left corner of its own).
    noise: Vec<Array3<f32>>,
}

impl Space {
    fn new(
        (channels, height, width): (usize, usize, usize),
        sizes: &[Extent],
        stride: u32,
        contents: &[SearchContent],
        seed: u64,
    ) -> Self {
        let step = stride.max(1) as usize;
        let mut listed = Vec::new();
        let mut noise = Vec::new();
        for content in contents {
            match content {
                SearchContent::Extremes => {
                    let corners = if channels == 3 { 8 } else { 2 };
                    listed.extend((0..corners).map(Content::Corner));
                }
                SearchContent::Checkerboard => listed.extend((0..2).map(Content::Checkerboard)),
                SearchContent::Noise => {
                    for k in 0..2u64 {
                        listed.push(Content::Noise(noise.len()));
                        noise.push(noise_pattern(seed, k, channels, height, width));
                    }
                }
            }
        }
        let patches: Vec<(usize, usize)> =
            sizes.iter().map(|&size| (pixels(size, height).min(height), pixels(size, width).min(width))).collect();
        let sizes =
            patches.iter().map(|&(h, w)| ((h, w), starts(height, h, step, false), starts(width, w, step, false)));
        Self { channels, height, width, sizes: sizes.collect(), contents: listed, noise }
    }

    /// The same space on the finest grid coarser than the stride (`⌈side / k⌉`, largest `k`)
    /// that holds at most `most` candidates; `None` when the stride grid already fits.
    fn coarsened(&self, stride: u32, most: usize) -> Option<Space> {
        if self.len() <= most {
            return None;
        }
        let step = stride.max(1) as usize;
        let largest = self.height.max(self.width);
        let grid = |k: usize| -> Vec<Placements> {
            self.sizes
                .iter()
                .map(|&((h, w), _, _)| {
                    let (dy, dx) = (h.div_ceil(k).max(step), w.div_ceil(k).max(step));
                    ((h, w), starts(self.height, h, dy, true), starts(self.width, w, dx, true))
                })
                .collect()
        };
        let count = |sizes: &[Placements]| {
            sizes.iter().map(|(_, rows, cols)| rows.len() * cols.len() * self.contents.len()).sum::<usize>()
        };
        let k = (2..=largest).rev().find(|&k| count(&grid(k)) <= most).unwrap_or(2);
        Some(Space {
            channels: self.channels,
            height: self.height,
            width: self.width,
            sizes: grid(k),
            contents: self.contents.clone(),
            noise: self.noise.clone(),
        })
    }

    /// Per size, the (row, column) steps between positions.
    fn steps(&self) -> Vec<[usize; 2]> {
        let step = |starts: &[usize]| if starts.len() > 1 { starts[1] - starts[0] } else { 1 };
        self.sizes.iter().map(|(_, rows, cols)| [step(rows), step(cols)]).collect()
    }

    fn len(&self) -> usize {
        self.sizes.iter().map(|(_, rows, cols)| rows.len() * cols.len() * self.contents.len()).sum()
    }

    fn get(&self, mut k: usize) -> Patch {
        let per_position = self.contents.len();
        for ((height, width), rows, cols) in &self.sizes {
            let here = rows.len() * cols.len() * per_position;
            if k < here {
                let (position, content) = (k / per_position, k % per_position);
                return Patch {
                    height: *height,
                    width: *width,
                    top: rows[position / cols.len()],
                    left: cols[position % cols.len()],
                    content: self.contents[content],
                };
            }
            k -= here;
        }
        unreachable!("candidate index within the space")
    }

    /// Intensity of `content` at (channel, row, column) within the patch.
    fn intensity(&self, content: Content, c: usize, y: usize, x: usize) -> f32 {
        match content {
            Content::Corner(bits) => {
                if self.channels == 3 {
                    ((bits >> c) & 1) as f32
                } else {
                    (bits & 1) as f32
                }
            }
            Content::Checkerboard(phase) => ((y + x + phase) % 2) as f32,
            Content::Noise(k) => self.noise[k][[c, y, x]],
        }
    }

    /// Stamps the patch onto an image in place (content mapped into the range).
    fn stamp(&self, patch: &Patch, mut image: ArrayViewMut3<'_, f32>, range: &ValueRange) {
        for c in 0..self.channels {
            for y in 0..patch.height {
                for x in 0..patch.width {
                    let level = range.level(c, self.intensity(patch.content, c, y, x));
                    image[[c, patch.top + y, patch.left + x]] = range.clamp(c, level);
                }
            }
        }
    }

    /// The patch as a full-size mask and pattern: what the runner confirms and reports.
    fn trigger(&self, patch: &Patch) -> MaskedTrigger {
        let mut mask = Array2::<f32>::zeros((self.height, self.width));
        let mut pattern = Array3::<f32>::zeros((self.channels, self.height, self.width));
        for y in 0..patch.height {
            for x in 0..patch.width {
                mask[[patch.top + y, patch.left + x]] = 1.0;
                for c in 0..self.channels {
                    pattern[[c, patch.top + y, patch.left + x]] = self.intensity(patch.content, c, y, x);
                }
            }
        }
        MaskedTrigger { mask, pattern }
    }

    fn describe(&self, patch: &Patch) -> String {
        let name = match patch.content {
            Content::Corner(bits) if self.channels == 3 => {
                format!("colour ({}, {}, {})", bits & 1, (bits >> 1) & 1, (bits >> 2) & 1)
            }
            Content::Corner(1) => "white".to_string(),
            Content::Corner(_) => "black".to_string(),
            Content::Checkerboard(phase) => format!("checkerboard phase {phase}"),
            Content::Noise(k) => format!("noise {k}"),
        };
        format!("{}x{} at row {}, column {}, {name}", patch.width, patch.height, patch.top, patch.left)
    }
}

/// Flips that follow a consistent mapping: for each clean class, the flips into the one class
/// most of its flipped inputs went to, summed; and the inputs counted (every input).
fn consistent_flips(clean: &[usize], predicted: &[usize], classes: usize) -> (usize, usize) {
    let mut counts = vec![0usize; classes * classes];
    for (&c, &p) in clean.iter().zip(predicted) {
        if c != p && c < classes && p < classes {
            counts[c * classes + p] += 1;
        }
    }
    let along = counts.chunks(classes.max(1)).map(|row| row.iter().copied().max().unwrap_or(0)).sum();
    (along, clean.len())
}

/// Where a patch of `patch` pixels can start along a side of `side`: every `step`-th position,
/// and with `last` also the final one (so a coarse grid still reaches the far edge).
fn starts(side: usize, patch: usize, step: usize, last: bool) -> Vec<usize> {
    let end = side - patch;
    let mut out: Vec<usize> = (0..=end).step_by(step.max(1)).collect();
    if last && out.last() != Some(&end) {
        out.push(end);
    }
    out
}

fn pixels(extent: Extent, side: usize) -> usize {
    match extent {
        Extent::Pixels(n) => n as usize,
        Extent::Fraction(f) => ((f * side as f32).round() as usize).max(1),
    }
}

fn noise_pattern(seed: u64, k: u64, channels: usize, height: usize, width: usize) -> Array3<f32> {
    use rand::RngExt;
    let mut rng = transform::sample_rng(seed, "search-noise", k, Stream::Probe);
    Array3::from_shape_simple_fn((channels, height, width), || rng.random::<f32>())
}

/// The candidate space a patch search declares, as `battery preview` shows it: per size, its
/// height and width in pixels and how many rows and columns it may start at; the contents tried
/// at each place; and the candidates in all. (The search itself coarsens the grid when its
/// budget does not cover this space.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceOutline {
    /// (height, width, rows, columns) per size.
    pub sizes: Vec<(usize, usize, usize, usize)>,
    pub contents: usize,
    pub candidates: usize,
}

/// The outline of the space searched over `[C, H, W]` images of `dims`.
pub fn outline(dims: (usize, usize, usize), sizes: &[Extent], stride: u32, contents: &[SearchContent]) -> SpaceOutline {
    let space = Space::new(dims, sizes, stride, contents, 0);
    SpaceOutline {
        sizes: space.sizes.iter().map(|((h, w), rows, cols)| (*h, *w, rows.len(), cols.len())).collect(),
        contents: space.contents.len(),
        candidates: space.len(),
    }
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
    let available = input.images.count();
    let n = available.max(1);
    let dims = if available == 0 { (1, 1, 1) } else { input.images.image(0).dim() };
    let asked = Space::new(dims, sizes, stride, contents, input.seed);
    // Rungs until the sample count reaches every search image.
    let mut rungs = 1;
    while MIN_FIRST_RUNG * ETA.pow(rungs as u32 - 1) < n {
        rungs += 1;
    }
    let per_candidate_budget = budget as usize / rungs.max(1);
    let most = (per_candidate_budget / MIN_FIRST_RUNG).max(input.classes);
    let coarse = asked.coarsened(stride, most);
    let space = coarse.as_ref().unwrap_or(&asked);
    // Candidate indices only: a candidate's pixels exist just while a batch is built.
    let mut pool: Vec<usize> = (0..space.len()).collect();
    if pool.len() * MIN_FIRST_RUNG > per_candidate_budget {
        let keep = (per_candidate_budget / MIN_FIRST_RUNG).max(input.classes);
        let mut rng = transform::sample_rng(input.seed, input.key, 0, Stream::Placement);
        pool.shuffle(&mut rng);
        pool.truncate(keep);
    }
    // At least MIN_FIRST_RUNG samples, but never more than there are.
    let first = (per_candidate_budget / pool.len().max(1)).max(MIN_FIRST_RUNG).min(n);
    let coverage = Coverage {
        space: asked.len() as u64,
        grid: space.len() as u64,
        steps: space.steps(),
        evaluated: pool.len() as u64,
        first_rung_samples: first.min(available),
        rungs: 0,
    };
    let mut alive: Vec<usize> = (0..pool.len()).collect();
    // Best (candidate, score, asr) per class so far, and along a consistent mapping.
    let mut best: Vec<Option<(usize, f64, f64)>> = vec![None; input.classes];
    let mut mapped: Option<(usize, f64, f64)> = None;
    let mut queries = 0u64;
    let mut samples = first;
    let mut rungs_run = 0;
    loop {
        rungs_run += 1;
        let m = samples.min(available);
        let clean = &input.clean[..m];
        // Every (candidate, image) pair of the rung in one packed evaluation.
        let patches: Vec<Patch> = alive.iter().map(|&k| space.get(pool[k])).collect();
        let fill = |i: usize, mut image: ArrayViewMut3<'_, f32>| {
            image.assign(&input.images.image(i % m));
            space.stamp(&patches[i / m], image, input.range);
        };
        let predicted = predict(oracle, patches.len() * m, &fill)?;
        queries += predicted.len() as u64;
        let mut scored: Vec<(usize, f64)> = Vec::with_capacity(alive.len());
        for (j, &k) in alive.iter().enumerate() {
            let predicted = &predicted[j * m..(j + 1) * m];
            let mut top = 0.0f64;
            for (class, held) in best.iter_mut().enumerate() {
                let (into, eligible) = attack_success(clean, predicted, class);
                let asr = if eligible == 0 { 0.0 } else { into as f64 / eligible as f64 };
                let lower = crate::stats::clopper_pearson(into as u64, eligible as u64, RANKING_ALPHA).lower;
                top = top.max(lower);
                // A re-evaluation on more samples replaces the candidate's own earlier estimate.
                let better = held.is_none_or(|(kept, s, _)| kept == k || lower > s);
                if better {
                    *held = Some((k, lower, asr));
                }
            }
            let (along, total) = consistent_flips(clean, predicted, input.classes);
            let rate = if total == 0 { 0.0 } else { along as f64 / total as f64 };
            let lower = crate::stats::clopper_pearson(along as u64, total as u64, RANKING_ALPHA).lower;
            top = top.max(lower);
            if mapped.is_none_or(|(kept, s, _)| kept == k || lower > s) {
                mapped = Some((k, lower, rate));
            }
            scored.push((k, top));
        }
        if samples >= n || alive.len() <= 1 {
            break;
        }
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut next: Vec<usize> = scored.iter().take(alive.len().div_ceil(ETA)).map(|s| s.0).collect();
        for (k, _, _) in best.iter().flatten().chain(&mapped) {
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
            let patch = space.get(pool[k]);
            ClassCandidate {
                class,
                trigger: space.trigger(&patch),
                attack_success_rate: asr,
                statistic: score,
                description: space.describe(&patch),
            }
        })
        .collect();
    let statistic: Vec<f64> = candidates.iter().map(|c| c.statistic).collect();
    let mut anomaly_index = anomaly(&statistic, true);
    let mut chosen =
        (0..candidates.len()).max_by(|&a, &b| statistic[a].total_cmp(&statistic[b]).then(b.cmp(&a))).unwrap_or(0);
    let mut candidates = candidates;
    // The mapping's candidate joins as the "any class" entry (class = classes) and is chosen
    // when it beats every single class: an all-to-all trigger.
    if let Some((k, score, rate)) = mapped
        && score > statistic.get(chosen).copied().unwrap_or(0.0)
    {
        let patch = space.get(pool[k]);
        candidates.push(ClassCandidate {
            class: input.classes,
            trigger: space.trigger(&patch),
            attack_success_rate: rate,
            statistic: score,
            description: format!("{} (any class, consistent mapping)", space.describe(&patch)),
        });
        // The anomaly index compares classes; the mapping has no class to compare with.
        anomaly_index.push(0.0);
        chosen = candidates.len() - 1;
    }
    Ok(SearchOutcome {
        method: "patch",
        coverage: Some(Coverage { rungs: rungs_run, ..coverage }),
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
        fn classify(
            &mut self,
            count: usize,
            fill: &crate::search::Fill<'_>,
            row: &mut dyn FnMut(usize, ndarray::ArrayView1<'_, f32>),
        ) -> Result<(), EngineError> {
            let mut image = Array3::<f32>::zeros((1, 4, 4));
            for i in 0..count {
                fill(i, image.view_mut());
                let on = image[[0, 3, 3]] > 0.5;
                row(i, ndarray::arr1(&[if on { 0.0 } else { 1.0 }, if on { 1.0 } else { 0.0 }]).view());
            }
            Ok(())
        }
    }

    #[test]
    fn consistent_flips_count_each_clean_class_once_along_its_commonest_target() {
        // Class 0 goes to 1 twice and to 2 once; class 1 goes to 2 twice; one input stays.
        let clean = [0, 0, 0, 1, 1, 2];
        let predicted = [1, 1, 2, 2, 2, 2];
        assert_eq!(consistent_flips(&clean, &predicted, 3), (4, 6));
    }

    /// A toy all-to-all backdoor: `y → (y + 1) % 3` when pixel (3, 3) is bright; the clean
    /// class is the image's value at (0, 0) times 3.
    struct Shift;

    impl Oracle for Shift {
        fn classify(
            &mut self,
            count: usize,
            fill: &crate::search::Fill<'_>,
            row: &mut dyn FnMut(usize, ndarray::ArrayView1<'_, f32>),
        ) -> Result<(), EngineError> {
            let mut image = Array3::<f32>::zeros((1, 4, 4));
            for i in 0..count {
                fill(i, image.view_mut());
                let clean = (image[[0, 0, 0]] * 3.0).round() as usize % 3;
                let class = if image[[0, 3, 3]] > 0.5 { (clean + 1) % 3 } else { clean };
                let mut scores = ndarray::Array1::<f32>::zeros(3);
                scores[class] = 1.0;
                row(i, scores.view());
            }
            Ok(())
        }
    }

    #[test]
    fn an_all_to_all_trigger_is_chosen_through_its_mapping() {
        let images: Vec<Array3<f32>> = (0..30)
            .map(|i| {
                let mut image = Array3::<f32>::zeros((1, 4, 4));
                image[[0, 0, 0]] = (i % 3) as f32 / 3.0;
                image
            })
            .collect();
        let clean: Vec<usize> = (0..30).map(|i| i % 3).collect();
        let range = crate::transform::ValueRange { lo: vec![0.0], hi: vec![1.0] };
        let input = SearchInput { images: &images, clean: &clean, classes: 3, range: &range, seed: 1, key: "t" };
        let outcome = search(&mut Shift, &input, &[Extent::Pixels(1)], 1, &[SearchContent::Extremes], 100_000).unwrap();
        let chosen = &outcome.candidates[outcome.chosen];
        // Each class alone gets a third of the flips; the mapping gets them all.
        assert_eq!(chosen.class, 3, "{:?}", outcome.candidates);
        assert_eq!(chosen.attack_success_rate, 1.0);
        assert_eq!(chosen.trigger.mask[[3, 3]], 1.0);
    }

    #[test]
    fn a_space_too_large_for_the_budget_is_coarsened_to_a_grid_that_reaches_every_edge() {
        let sizes = [Extent::Fraction(0.125), Extent::Fraction(0.25)];
        let asked = Space::new((3, 224, 224), &sizes, 1, &[SearchContent::Extremes], 1);
        // (197² + 169²) positions × 8 colours.
        assert_eq!(asked.len(), (197 * 197 + 169 * 169) * 8);
        let grid = asked.coarsened(1, 10_000).expect("too large for 10,000");
        assert!(grid.len() <= 10_000 && grid.len() > 2_500, "{}", grid.len());
        for ((h, w), rows, cols) in &grid.sizes {
            // Steps of at most half the patch, and the last start is the far edge.
            assert!(rows[1] - rows[0] <= h / 2 && cols[1] - cols[0] <= w / 2);
            assert_eq!((*rows.last().unwrap(), *cols.last().unwrap()), (224 - h, 224 - w));
        }
        // A 20x20 trigger in the bottom-right corner lies wholly inside some 28x28 candidate.
        let covered = (0..grid.len())
            .map(|k| grid.get(k))
            .any(|p| p.height == 28 && p.top <= 200 && p.top + 28 >= 220 && p.left <= 200 && p.left + 28 >= 220);
        assert!(covered);
        assert!(Space::new((1, 8, 8), &sizes, 1, &[SearchContent::Extremes], 1).coarsened(1, 10_000).is_none());
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
