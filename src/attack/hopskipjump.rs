//! HopSkipJump (Chen, Jordan & Wainwright, "HopSkipJumpAttack: a query-efficient decision-based
//! attack", IEEE S&P 2020), L2: a decision-based attack that sees only the model's class for each
//! query. From an adversarial starting point it walks along the decision boundary towards the
//! clean input, each iteration in three parts:
//!
//! 1. **bisect** the segment between the clean input and the current point down to the boundary
//!    (to a share θ = 0.01/√d of the segment, d the number of values);
//! 2. **estimate the boundary's normal** from the classes of `n_t = min(⌊n₀·√(t+1)⌋, 10,000)`
//!    points `current + δ·u`, `u` uniform on the unit sphere (Gaussian, normalised), clipped to
//!    the valid range: the mean of the (clipped) directions weighted by ±1 (adversarial or not),
//!    less the weights' mean (the authors' baseline); δ is 0.1 of the range at t = 0, then
//!    √d·θ·‖current − clean‖ = 0.01·‖current − clean‖;
//! 3. **step** along it by ‖current − clean‖/√(t+1), halved until the point is adversarial.
//!
//! The starting point is a uniform random image, drawn until one is adversarial (at most 100
//! draws), then bisected towards the clean input to 0.001 of the segment; an aimed attack (the
//! adversarial-peak search) first tries an image the model already puts in the target class.
//! All of this follows IBM ART's `HopSkipJump` (its `_init_sample`, `_attack`,
//! `_binary_search`, `_compute_delta`, `_compute_update`), which follows the authors' code.
//!
//! HopSkipJump minimises the perturbation instead of searching inside a ball, so its **success
//! at ε** is defined here as: some query within the budget was adversarial (another class, or
//! the target) at L2 distance ≤ ε from the clean input. The attack stops at that query, whose
//! input becomes the final one; an input never brought within ε ends as its clean self. So
//! success cannot be above zero at ε = 0 and can only grow with ε and with the budget (an
//! input's course does not depend on either until it stops). A query is one model evaluation of
//! one input, the starting draws included; a gradient estimate cut short by the budget uses the
//! samples it could afford. Every input's generator is its own
//! ([`crate::transform::sample_rng`]), and the directions of iteration t are drawn from a
//! ChaCha8 key taken from it with the sample's number as the stream, so they can be drawn again
//! when the classes come back instead of being held (memory: four images per input).

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;
use rayon::prelude::*;

use super::{AttackInput, AttackRun, Attempt, Norm, fill_flat};
use crate::engine::EngineError;
use crate::search::{Images, Oracle, argmax_row};
use crate::transform::{Stream, sample_rng};

/// Most samples of one gradient estimate (ART's `max_eval`).
const MAX_EVALS: u32 = 10_000;
/// Random draws for a starting point before giving up on an input (ART's `init_size`).
const INIT_DRAWS: u32 = 100;
/// Share of the segment the starting point's bisection stops at (ART's init threshold).
const INIT_THRESHOLD: f64 = 0.001;

/// HopSkipJump's settings, with ε already in the data's value units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Success radius (L2): the attack stops once an adversarial query lies within it.
    pub epsilon: f32,
    /// Queries per input, the starting draws included (at least 1).
    pub queries: u32,
    /// Aim at a class drawn per input (uniformly among the others) instead of any wrong class.
    pub targeted: bool,
    /// Samples of the first gradient estimate, n₀ (ART's `init_eval`, 100).
    pub init_evals: u32,
}

impl Settings {
    /// What the summary reports.
    pub fn ask(&self) -> super::Ask {
        super::Ask { norm: Norm::L2.into(), epsilon: self.epsilon, queries: self.queries, targeted: self.targeted }
    }
}

/// Where an aimed attack goes and starts: the adversarial-peak search aims every input at one
/// class and starts it from an image the model puts there.
pub struct Aim<'a> {
    /// Per input, the class to move it into.
    pub targets: &'a [usize],
    /// Images to start from.
    pub starts: &'a dyn Images,
    /// Per input, the image of `starts` it begins with, if any.
    pub start: &'a [Option<usize>],
}

/// What one input's attack is doing.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Querying `current` (a random draw or the given start) until it is adversarial.
    Start {
        draws: u32,
    },
    /// Bisecting between the clean input (α = 0) and `current` (α = 1); `hit` is the answer at
    /// `hi`.
    Bisect {
        lo: f64,
        hi: f64,
        threshold: f64,
        start: bool,
        hit: (usize, f32),
    },
    /// Estimating the boundary's normal at `current` from `samples` points.
    Gradient {
        samples: u32,
    },
    /// Trying `current + size·update`.
    Step {
        size: f64,
    },
    Done,
}

/// Per input: its generator and where its attack stands.
struct State {
    rng: ChaCha8Rng,
    target: Option<usize>,
    /// The clean class (untargeted: the one to leave).
    class: usize,
    phase: Phase,
    /// Iteration t of the boundary walk.
    iteration: u32,
    /// The gradient probe's radius δ this iteration.
    delta: f64,
    /// The key of this iteration's directions.
    directions: u64,
    queries: u32,
    success: bool,
    /// Distance of `current` (once adversarial) and of the best adversarial point.
    distance: f64,
    /// The model's class and its probability at `current`.
    here: (usize, f32),
    best: f64,
    /// The model's class and its probability at the best point (or the success).
    predicted: usize,
    confidence: f32,
}

impl State {
    fn adversarial(&self, class: usize) -> bool {
        super::breaks(self.target, self.class, class)
    }

    /// Queries this input sends in the next round.
    fn wanted(&self, budget: u32) -> u32 {
        let left = budget.saturating_sub(self.queries);
        match self.phase {
            Phase::Done => 0,
            Phase::Gradient { samples } => samples.min(left),
            _ => 1.min(left),
        }
    }
}

/// Image dimensions and the quantities the attack derives from them.
#[derive(Clone, Copy)]
struct Shape {
    plane: usize,
    size: usize,
    /// θ, the main bisection's stopping share.
    theta: f64,
    /// δ at t = 0: 0.1 of the mean channel's range.
    first_delta: f64,
}

/// Per input, the images the attack holds, flat `[C, H, W]`.
struct Rows<'a> {
    clean: &'a [f32],
    current: &'a mut [f32],
    update: &'a mut [f32],
    best: &'a mut [f32],
}

/// The raw outcome, before a probe turns unbroken inputs back into clean ones.
pub(crate) struct Walk {
    pub attempts: Vec<Attempt>,
    /// Per input, the best adversarial point found (the success, or the closest checkpoint on
    /// the boundary), or the clean input where none was found.
    pub best: Vec<f32>,
    /// Per input, whether an adversarial point was found at all.
    pub found: Vec<bool>,
}

/// Runs the attack on every input of `input` with at most `settings.queries` queries each.
pub fn attack(oracle: &mut dyn Oracle, input: &AttackInput<'_>, settings: &Settings) -> Result<AttackRun, EngineError> {
    let walk = walk(oracle, input, settings, None)?;
    let size = walk.best.len() / walk.attempts.len().max(1);
    let mut adversarial = walk.best;
    for (i, a) in walk.attempts.iter().enumerate() {
        if !a.success {
            let image = input.images.image(i);
            let (_, h, w) = image.dim();
            let row = &mut adversarial[i * size..(i + 1) * size];
            for ((ch, y, x), v) in image.indexed_iter() {
                row[(ch * h + y) * w + x] = *v;
            }
        }
    }
    let attempts: Vec<Attempt> = walk
        .attempts
        .into_iter()
        .zip(input.clean)
        .map(|(a, &clean)| if a.success { a } else { Attempt { perturbation: 0.0, class: clean, ..a } })
        .collect();
    let queries = attempts.iter().map(|a| u64::from(a.queries)).sum();
    Ok(AttackRun { attempts, adversarial, queries })
}

/// The boundary walk of every input; `aim` fixes targets and starting images.
pub(crate) fn walk(
    oracle: &mut dyn Oracle,
    input: &AttackInput<'_>,
    settings: &Settings,
    aim: Option<&Aim<'_>>,
) -> Result<Walk, EngineError> {
    let n = input.images.count();
    if n == 0 {
        return Ok(Walk { attempts: Vec::new(), best: Vec::new(), found: Vec::new() });
    }
    let (c, h, w) = input.images.image(0).dim();
    let size = c * h * w;
    let widths: Vec<f64> = input.range.lo.iter().zip(&input.range.hi).map(|(lo, hi)| f64::from(hi - lo)).collect();
    let shape = Shape {
        plane: h * w,
        size,
        theta: 0.01 / (size as f64).sqrt(),
        first_delta: 0.1 * widths.iter().sum::<f64>() / widths.len().max(1) as f64,
    };
    let budget = settings.queries.max(1);
    let mut states: Vec<State> = (0..n)
        .map(|i| {
            let index = input.indices[i] as u64;
            let class = input.clean[i];
            let target = match aim {
                Some(aim) => Some(aim.targets[i]),
                None => settings.targeted.then(|| super::draw_target(input, i)).flatten(),
            };
            State {
                rng: sample_rng(input.seed, input.key, index, Stream::Probe),
                target,
                class,
                phase: Phase::Start { draws: 0 },
                iteration: 0,
                delta: shape.first_delta,
                directions: 0,
                queries: 0,
                success: false,
                distance: f64::INFINITY,
                here: (class, 0.0),
                best: f64::INFINITY,
                predicted: class,
                confidence: 0.0,
            }
        })
        .collect();
    let mut clean = vec![0f32; n * size];
    clean.par_chunks_mut(size).enumerate().for_each(|(i, row)| {
        for ((ch, y, x), v) in input.images.image(i).indexed_iter() {
            row[(ch * h + y) * w + x] = *v;
        }
    });
    let mut best = clean.clone();
    let mut update = vec![0f32; n * size];
    // Each input's first point: its aimed start, or a random draw.
    let mut current = vec![0f32; n * size];
    current.par_chunks_mut(size).zip(states.par_iter_mut()).enumerate().for_each(|(i, (row, state))| {
        match aim.and_then(|a| a.start[i]) {
            Some(k) => {
                for ((ch, y, x), v) in aim.expect("an aim").starts.image(k).indexed_iter() {
                    row[(ch * h + y) * w + x] = *v;
                }
            }
            None => draw(row, shape, input, &mut state.rng),
        }
    });

    loop {
        let wanted: Vec<u32> = states.iter().map(|s| s.wanted(budget)).collect();
        let mut offsets = Vec::with_capacity(n + 1);
        offsets.push(0usize);
        for &k in &wanted {
            offsets.push(offsets.last().expect("starts with 0") + k as usize);
        }
        let total = offsets[n];
        if total == 0 {
            break;
        }
        let owner = |j: usize| offsets.partition_point(|&o| o <= j) - 1;
        let write = |j: usize, out: &mut [f32]| {
            let i = owner(j);
            let k = (j - offsets[i]) as u32;
            let rows = (&clean[i * size..(i + 1) * size], &current[i * size..(i + 1) * size]);
            query(&states[i], k, rows.0, rows.1, &update[i * size..(i + 1) * size], shape, input, out);
        };
        let mut answers: Vec<(usize, f32)> = vec![(0, 0.0); total];
        oracle.classify(total, &fill_flat(size, &write), &mut |j, row| {
            let class = argmax_row(row);
            answers[j] = (class, row[class]);
        })?;
        let rows = clean.par_chunks(size).zip(current.par_chunks_mut(size)).zip(update.par_chunks_mut(size));
        rows.zip(best.par_chunks_mut(size)).zip(states.par_iter_mut()).enumerate().for_each(
            |(i, ((((clean, current), update), best), state))| {
                let mine = &answers[offsets[i]..offsets[i + 1]];
                if !mine.is_empty() {
                    let rows = Rows { clean, current, update, best };
                    advance(state, mine, rows, shape, settings, input);
                    if state.queries >= budget {
                        state.phase = Phase::Done;
                    }
                }
            },
        );
    }

    let found: Vec<bool> = states.iter().map(|s| s.best.is_finite()).collect();
    let attempts = states
        .iter()
        .enumerate()
        .map(|(i, s)| Attempt {
            index: input.indices[i],
            target: s.target,
            success: s.success,
            queries: s.queries,
            perturbation: if s.best.is_finite() { s.best as f32 } else { 0.0 },
            class: s.predicted,
            confidence: s.confidence,
        })
        .collect();
    Ok(Walk { attempts, best, found })
}

/// A uniform random image in the valid range.
fn draw(row: &mut [f32], shape: Shape, input: &AttackInput<'_>, rng: &mut ChaCha8Rng) {
    for (k, v) in row.iter_mut().enumerate() {
        let ch = k / shape.plane;
        let (lo, hi) = (input.range.lo[ch], input.range.hi[ch]);
        *v = if hi > lo { rng.random_range(lo..hi) } else { lo };
    }
}

/// Direction `k` of a gradient estimate keyed `key`: Gaussian, normalised to unit L2 norm.
fn direction(key: u64, k: u32, size: usize) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(key);
    rng.set_stream(u64::from(k));
    let mut u: Vec<f32> = (0..size).map(|_| rng.sample::<f32, _>(StandardNormal)).collect();
    let norm = Norm::L2.size(u.iter().copied());
    if norm > 0.0 {
        u.iter_mut().for_each(|v| *v /= norm);
    }
    u
}

/// Writes query `k` of an input's next round into `out`.
#[allow(clippy::too_many_arguments)]
fn query(
    state: &State,
    k: u32,
    clean: &[f32],
    current: &[f32],
    update: &[f32],
    shape: Shape,
    input: &AttackInput<'_>,
    out: &mut [f32],
) {
    match state.phase {
        Phase::Start { .. } | Phase::Done => out.copy_from_slice(current),
        Phase::Bisect { lo, hi, .. } => blend(clean, current, (lo + hi) / 2.0, out),
        Phase::Gradient { .. } => {
            let u = direction(state.directions, k, shape.size);
            for (j, o) in out.iter_mut().enumerate() {
                *o = input.range.clamp(j / shape.plane, current[j] + (state.delta as f32) * u[j]);
            }
        }
        Phase::Step { size } => {
            for (j, o) in out.iter_mut().enumerate() {
                *o = input.range.clamp(j / shape.plane, current[j] + (size as f32) * update[j]);
            }
        }
    }
}

/// `(1 − α)·clean + α·current` (ART's `_interpolate` for L2).
fn blend(clean: &[f32], current: &[f32], alpha: f64, out: &mut [f32]) {
    let a = alpha as f32;
    for ((o, x), c) in out.iter_mut().zip(clean).zip(current) {
        *o = (1.0 - a) * x + a * c;
    }
}

fn distance(a: &[f32], b: &[f32]) -> f64 {
    f64::from(Norm::L2.size(a.iter().zip(b).map(|(x, y)| x - y)))
}

/// Takes in the answers to one input's round and moves its attack on.
fn advance(
    state: &mut State,
    answers: &[(usize, f32)],
    rows: Rows<'_>,
    shape: Shape,
    settings: &Settings,
    input: &AttackInput<'_>,
) {
    let Rows { clean, current, update, best } = rows;
    state.queries += answers.len() as u32;
    // An adversarial query within ε ends the attack there.
    let succeed = |state: &mut State, point: &[f32], (class, p): (usize, f32), best: &mut [f32]| {
        let d = distance(point, clean);
        if d <= f64::from(settings.epsilon) {
            best.copy_from_slice(point);
            state.best = d;
            state.success = true;
            state.predicted = class;
            state.confidence = p;
            state.phase = Phase::Done;
            true
        } else {
            false
        }
    };
    // `current` has moved to an adversarial point: keep it if it is the closest yet.
    let checkpoint = |state: &mut State, current: &[f32], best: &mut [f32], (class, p): (usize, f32)| {
        state.distance = distance(current, clean);
        state.here = (class, p);
        if state.distance < state.best {
            state.best = state.distance;
            best.copy_from_slice(current);
            state.predicted = class;
            state.confidence = p;
        }
    };
    match state.phase {
        Phase::Done => {}
        Phase::Start { draws } => {
            let answer = answers[0];
            if state.adversarial(answer.0) {
                checkpoint(state, current, best, answer);
                if !succeed(state, current, answer, best) {
                    state.phase =
                        Phase::Bisect { lo: 0.0, hi: 1.0, threshold: INIT_THRESHOLD, start: true, hit: answer };
                }
            } else if draws + 1 >= INIT_DRAWS {
                state.phase = Phase::Done;
            } else {
                draw(current, shape, input, &mut state.rng);
                state.phase = Phase::Start { draws: draws + 1 };
            }
        }
        Phase::Bisect { mut lo, mut hi, threshold, start, mut hit } => {
            let mid = (lo + hi) / 2.0;
            let answer = answers[0];
            if state.adversarial(answer.0) {
                let mut point = vec![0f32; shape.size];
                blend(clean, current, mid, &mut point);
                if succeed(state, &point, answer, best) {
                    return;
                }
                hi = mid;
                hit = answer;
            } else {
                lo = mid;
            }
            if hi - lo > threshold {
                state.phase = Phase::Bisect { lo, hi, threshold, start, hit };
                return;
            }
            if hi < 1.0 {
                let mut point = vec![0f32; shape.size];
                blend(clean, current, hi, &mut point);
                current.copy_from_slice(&point);
                checkpoint(state, current, best, hit);
            }
            if start {
                // The walk's first iteration bisects again, to θ, after fixing δ.
                state.delta = shape.first_delta;
                state.phase = Phase::Bisect { lo: 0.0, hi: 1.0, threshold: shape.theta, start: false, hit };
            } else {
                let n = (f64::from(settings.init_evals) * f64::from(state.iteration + 1).sqrt()) as u32;
                state.directions = state.rng.random();
                state.phase = Phase::Gradient { samples: n.clamp(1, MAX_EVALS) };
            }
        }
        Phase::Gradient { .. } => {
            let m = answers.len();
            let hits = answers.iter().filter(|a| state.adversarial(a.0)).count();
            let mean = (2.0 * hits as f64 - m as f64) / m as f64;
            let mut grad = vec![0f64; shape.size];
            let mut point = vec![0f32; shape.size];
            let delta = state.delta as f32;
            for (k, &answer) in answers.iter().enumerate() {
                let u = direction(state.directions, k as u32, shape.size);
                for (j, p) in point.iter_mut().enumerate() {
                    *p = input.range.clamp(j / shape.plane, current[j] + delta * u[j]);
                }
                let adversarial = state.adversarial(answer.0);
                if adversarial && succeed(state, &point, answer, best) {
                    return;
                }
                // ART: all one sign → ± the mean direction; otherwise the baseline-corrected mean.
                let weight = if hits == m {
                    1.0
                } else if hits == 0 {
                    -1.0
                } else {
                    (if adversarial { 1.0 } else { -1.0 }) - mean
                };
                for ((g, p), c) in grad.iter_mut().zip(&point).zip(current.iter()) {
                    *g += weight * f64::from(p - c) / f64::from(delta);
                }
            }
            let norm = grad.iter().map(|g| g * g).sum::<f64>().sqrt();
            if norm > 0.0 && norm.is_finite() {
                for (u, g) in update.iter_mut().zip(&grad) {
                    *u = (g / norm) as f32;
                }
                let size = state.distance / f64::from(state.iteration + 1).sqrt();
                state.phase = Phase::Step { size };
            } else {
                next_iteration(state, shape);
            }
        }
        Phase::Step { size } => {
            let answer = answers[0];
            if state.adversarial(answer.0) {
                for (j, c) in current.iter_mut().enumerate() {
                    *c = input.range.clamp(j / shape.plane, *c + (size as f32) * update[j]);
                }
                if succeed(state, current, answer, best) {
                    return;
                }
                checkpoint(state, current, best, answer);
                next_iteration(state, shape);
            } else {
                state.phase = Phase::Step { size: size / 2.0 };
            }
        }
    }
}

/// Starts the next iteration: δ from the current distance (ART's `_compute_delta`), then bisect.
fn next_iteration(state: &mut State, shape: Shape) {
    state.iteration += 1;
    // √d·θ·dist with θ = 0.01/√d.
    state.delta = 0.01 * state.distance;
    state.phase = Phase::Bisect { lo: 0.0, hi: 1.0, threshold: shape.theta, start: false, hit: state.here };
}

#[cfg(test)]
mod tests;
