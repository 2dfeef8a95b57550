//! Square Attack (Andriushchenko, Croce, Flammarion & Hein, "Square Attack: a query-efficient
//! black-box adversarial attack via random search", ECCV 2020): random search over square
//! windows, accepting a candidate when it lowers the margin loss ([`super::margin`]).
//!
//! Following the paper's reference code (and IBM ART's `SquareAttack`, which implements it):
//! - **L∞**: start from vertical stripes (each column of each channel moved by ±ε); each step
//!   sets one square window, per channel, to the clean values ±ε (clipped to the valid range).
//! - **L2**: start from a grid of "meta pseudo-Gaussian" bumps of random sign, scaled to norm
//!   ε; each step puts a fresh bump (plus the window's old perturbation, renormalised) into one
//!   window, moves the mass of a second window into it, and rescales the whole perturbation to
//!   norm ε.
//! - The window's share of the image, p, halves on the paper's schedule (ART's
//!   `_get_percentage_of_elements`): p_init until 0.1% of the iterations, p_init/2 until 0.5%,
//!   then /4, /8, … at 2%, 5%, 10%, 20%, 40%, 60% and 80%. The side is `round(sqrt(p·h·w))`,
//!   at least 1 (L∞) or 3 and odd (L2), and below the image's side.
//!
//! Two departures, both for determinism and batching: each input draws its own window (ART
//! draws one per iteration for the whole batch), and the initial perturbation is accepted
//! without comparing it with the clean input (as in the paper's code; ART spends a query on the
//! clean input). A query is one model evaluation of one input: the initial point is the first,
//! each step one more, and an input stops as soon as it succeeds or its budget is spent.

use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::{Ask, AttackInput, AttackRun, Attempt, Norm, margin};
use crate::engine::EngineError;
use crate::search::{Oracle, argmax_row};
use crate::transform::{Stream, sample_rng};

/// An attack's settings, with ε already in the data's value units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub norm: Norm,
    pub epsilon: f32,
    /// Queries per input, the initial point included (at least 1).
    pub queries: u32,
    /// The window's initial share of the image (the paper uses 0.05 for L∞, 0.1 for L2).
    pub p_init: f32,
    /// Aim at a class drawn per input (uniformly among the others) instead of any wrong class.
    pub targeted: bool,
}

impl Settings {
    /// What the summary reports.
    pub fn ask(&self) -> Ask {
        Ask { norm: self.norm.into(), epsilon: self.epsilon, queries: self.queries, targeted: self.targeted }
    }
}

/// The window's share of the image at iteration `it` of `iters` (ART's schedule).
pub fn window_share(p_init: f32, it: u32, iters: u32) -> f32 {
    const BOUNDS: [f64; 9] = [0.001, 0.005, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8];
    let progress = f64::from(it) / f64::from(iters.max(1));
    // `bisect_left`: how many bounds lie strictly below the progress.
    let halvings = BOUNDS.iter().filter(|&&b| b < progress).count();
    p_init / (1u32 << halvings) as f32
}

/// The side of the square window for share `p` of an `h`×`w` image.
fn side(norm: Norm, p: f32, h: usize, w: usize) -> usize {
    let s = (f64::from(p) * (h * w) as f64).sqrt().round() as usize;
    let s = match norm {
        Norm::Linf => s.max(1),
        Norm::L2 => {
            let s = s.max(3);
            if s.is_multiple_of(2) { s + 1 } else { s }
        }
    };
    s.min(h.min(w).saturating_sub(1)).max(1)
}

/// Per input: its generator and where its attack stands.
struct State {
    rng: ChaCha8Rng,
    target: Option<usize>,
    /// The class the attack moves away from (untargeted) or towards (targeted).
    class: usize,
    loss: f64,
    predicted: usize,
    confidence: f32,
    queries: u32,
    done: bool,
    success: bool,
}

impl State {
    fn succeeded(&self, predicted: usize) -> bool {
        super::breaks(self.target, self.class, predicted)
    }
}

/// One input's next candidate: a window and what goes in it.
enum Proposal {
    /// L∞: the window at (`top`, `left`) set to the clean values plus `sign[c]`·ε.
    Linf { top: usize, left: usize, side: usize, signs: Vec<f32> },
    /// L2: window 1 holds `values` (`[C, s, s]`), window 2 is emptied, the rest of the
    /// perturbation kept; the whole is then scaled by `scale` (ε over its norm).
    L2 { top: usize, left: usize, top2: usize, left2: usize, side: usize, values: Vec<f32>, scale: f32 },
}

/// Image dimensions `[C, H, W]`.
#[derive(Clone, Copy)]
struct Dims {
    c: usize,
    h: usize,
    w: usize,
}

impl Dims {
    fn size(self) -> usize {
        self.c * self.h * self.w
    }
}

/// Runs the attack on every input of `input` with at most `settings.queries` queries each.
pub fn attack(oracle: &mut dyn Oracle, input: &AttackInput<'_>, settings: &Settings) -> Result<AttackRun, EngineError> {
    let n = input.images.count();
    if n == 0 {
        return Ok(AttackRun { attempts: Vec::new(), adversarial: Vec::new(), queries: 0 });
    }
    let (c, h, w) = input.images.image(0).dim();
    let dims = Dims { c, h, w };
    let size = dims.size();
    let budget = settings.queries.max(1);
    let mut states: Vec<State> = (0..n)
        .map(|i| {
            let index = input.indices[i] as u64;
            let rng = sample_rng(input.seed, input.key, index, Stream::Probe);
            let class = input.clean[i];
            let target = settings.targeted.then(|| super::draw_target(input, i)).flatten();
            State {
                rng,
                target,
                class,
                loss: f64::INFINITY,
                predicted: class,
                confidence: 0.0,
                queries: 0,
                done: false,
                success: false,
            }
        })
        .collect();
    // The clean inputs, flat `[C, H, W]` whatever their layout, read once.
    let mut originals = vec![0f32; n * size];
    originals.par_chunks_mut(size).enumerate().for_each(|(i, row)| {
        for ((ch, y, x), v) in input.images.image(i).indexed_iter() {
            row[(ch * h + y) * w + x] = *v;
        }
    });
    let clean = |i: usize| &originals[i * size..(i + 1) * size];

    // The initial point, for every input.
    let mut best = originals.clone();
    best.par_chunks_mut(size).zip(states.par_iter_mut()).enumerate().for_each(|(i, (row, state))| {
        match settings.norm {
            Norm::Linf => stripes(row, dims, settings.epsilon, input, &mut state.rng),
            Norm::L2 => bumps(row, dims, settings.epsilon, input, &mut state.rng, clean(i)),
        }
    });
    let everyone: Vec<usize> = (0..n).collect();
    evaluate(oracle, &everyone, &mut states, size, &|j, out| out.copy_from_slice(&best[j * size..(j + 1) * size]))?;

    let iters = budget - 1;
    for it in 0..iters {
        let active: Vec<usize> = (0..n).filter(|&i| !states[i].done).collect();
        if active.is_empty() {
            break;
        }
        let share = window_share(settings.p_init, it, iters);
        let proposals: Vec<Proposal> = {
            let mut mine: Vec<(usize, &mut State)> = states.iter_mut().enumerate().filter(|(_, s)| !s.done).collect();
            mine.par_iter_mut()
                .map(|(i, state)| {
                    let row = &best[*i * size..(*i + 1) * size];
                    propose(settings, dims, share, row, clean(*i), &mut state.rng)
                })
                .collect()
        };
        let write = |j: usize, out: &mut [f32]| {
            let i = active[j];
            apply(&proposals[j], dims, settings.epsilon, &best[i * size..(i + 1) * size], clean(i), input, out);
        };
        let improved = evaluate(oracle, &active, &mut states, size, &write)?;
        // Accepted candidates become each input's best, rebuilt exactly as they were queried.
        let mut accepted: Vec<(usize, &mut [f32])> = best
            .chunks_mut(size)
            .enumerate()
            .filter(|(i, _)| active.binary_search(i).is_ok_and(|j| improved[j]))
            .collect();
        accepted.par_iter_mut().for_each(|(i, row)| {
            let j = active.binary_search(i).expect("an active input");
            let mut out = vec![0f32; size];
            apply(&proposals[j], dims, settings.epsilon, row, clean(*i), input, &mut out);
            row.copy_from_slice(&out);
        });
    }

    let attempts = states
        .iter()
        .enumerate()
        .map(|(i, s)| Attempt {
            index: input.indices[i],
            target: s.target,
            success: s.success,
            queries: s.queries,
            perturbation: settings.norm.size((0..size).map(|k| best[i * size + k] - clean(i)[k])),
            class: s.predicted,
            confidence: s.confidence,
        })
        .collect::<Vec<_>>();
    let queries = attempts.iter().map(|a| u64::from(a.queries)).sum();
    Ok(AttackRun { attempts, adversarial: best, queries })
}

/// Queries the candidates of the inputs at `which` (written by `write(j, out)` as flat
/// `[C, H, W]`), and updates each input's loss, class, queries and success. Returns, per
/// candidate, whether it lowered its input's loss (and so becomes its best).
fn evaluate(
    oracle: &mut dyn Oracle,
    which: &[usize],
    states: &mut [State],
    size: usize,
    write: &(dyn Fn(usize, &mut [f32]) + Sync),
) -> Result<Vec<bool>, EngineError> {
    let fill = super::fill_flat(size, write);
    let mut improved = vec![false; which.len()];
    oracle.classify(which.len(), &fill, &mut |j, row| {
        let state = &mut states[which[j]];
        let target = state.target.unwrap_or(state.class);
        let loss = margin(row, target, state.target.is_some());
        state.queries += 1;
        if loss < state.loss {
            improved[j] = true;
            state.loss = loss;
            state.predicted = argmax_row(row);
            state.confidence = row[state.predicted];
            if state.succeeded(state.predicted) {
                state.done = true;
                state.success = true;
            }
        }
    })?;
    Ok(improved)
}

/// L∞ start: each column of each channel moved by ±ε (vertical stripes), clipped.
fn stripes(row: &mut [f32], d: Dims, epsilon: f32, input: &AttackInput<'_>, rng: &mut ChaCha8Rng) {
    for ch in 0..d.c {
        for x in 0..d.w {
            let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
            for y in 0..d.h {
                let k = (ch * d.h + y) * d.w + x;
                row[k] = input.range.clamp(ch, row[k] + sign * epsilon);
            }
        }
    }
}

/// L2 start: a grid of `s`×`s` bumps (`s = h / 5`), each of random sign per channel, the
/// whole scaled to norm ε, clipped. `row` holds the clean image on entry.
fn bumps(row: &mut [f32], d: Dims, epsilon: f32, input: &AttackInput<'_>, rng: &mut ChaCha8Rng, clean: &[f32]) {
    let s = (d.h / 5).max(1);
    let start = d.h.saturating_sub(s * 5) / 2;
    let mut delta = vec![0f32; d.size()];
    for by in 0..d.h / s {
        for bx in 0..d.w / s {
            let bump = meta_pseudo_gaussian(s, rng);
            let signs: Vec<f32> = (0..d.c).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
            for (ch, sign) in signs.iter().enumerate() {
                for u in 0..s {
                    for v in 0..s {
                        let (y, x) = (start + by * s + u, start + bx * s + v);
                        if y < d.h && x < d.w {
                            delta[(ch * d.h + y) * d.w + x] += sign * bump[u * s + v];
                        }
                    }
                }
            }
        }
    }
    let norm = Norm::L2.size(delta.iter().copied());
    let scale = if norm > 0.0 { epsilon / norm } else { 0.0 };
    for (k, v) in row.iter_mut().enumerate() {
        *v = input.range.clamp(k / (d.h * d.w), clean[k] + scale * delta[k]);
    }
}

/// A window position: `0..limit - side` (ART's `randint(0, limit - side)`).
fn position(rng: &mut ChaCha8Rng, limit: usize, side: usize) -> usize {
    let room = limit.saturating_sub(side);
    if room == 0 { 0 } else { rng.random_range(0..room) }
}

/// An input's next candidate, drawn from its generator.
fn propose(settings: &Settings, d: Dims, share: f32, best: &[f32], clean: &[f32], rng: &mut ChaCha8Rng) -> Proposal {
    let s = side(settings.norm, share, d.h, d.w);
    match settings.norm {
        Norm::Linf => {
            let top = position(rng, d.h, s);
            let left = position(rng, d.w, s);
            let signs = (0..d.c).map(|_| if rng.random::<bool>() { 1.0 } else { -1.0 }).collect();
            Proposal::Linf { top, left, side: s, signs }
        }
        Norm::L2 => {
            let (top, left) = (position(rng, d.h, s), position(rng, d.w, s));
            let (top2, left2) = (position(rng, d.h, s), position(rng, d.w, s));
            let delta = |k: usize| best[k] - clean[k];
            let at = |ch: usize, y: usize, x: usize| (ch * d.h + y) * d.w + x;
            let in_window = |y: usize, x: usize, t: usize, l: usize| y >= t && y < t + s && x >= l && x < l + s;
            let total = Norm::L2.size((0..d.size()).map(delta));
            let bump = meta_pseudo_gaussian(s, rng);
            let mut values = vec![0f32; d.c * s * s];
            for ch in 0..d.c {
                let sign = if rng.random::<bool>() { 1.0 } else { -1.0 };
                let window = Norm::L2.size((0..s * s).map(|k| delta(at(ch, top + k / s, left + k % s))));
                let mut union = 0f64;
                for y in 0..d.h {
                    for x in 0..d.w {
                        if in_window(y, x, top, left) || in_window(y, x, top2, left2) {
                            union += f64::from(delta(at(ch, y, x))).powi(2);
                        }
                    }
                }
                let fresh = &mut values[ch * s * s..(ch + 1) * s * s];
                for (k, v) in fresh.iter_mut().enumerate() {
                    *v = sign * bump[k] + delta(at(ch, top + k / s, left + k % s)) / (1e-10 + window);
                }
                let length = Norm::L2.size(fresh.iter().copied());
                let room = (f64::from(settings.epsilon).powi(2) - f64::from(total).powi(2)).max(0.0);
                let wanted = (room / d.c as f64 + union).sqrt() as f32;
                let scale = if length > 0.0 { wanted / length } else { 0.0 };
                fresh.iter_mut().for_each(|v| *v *= scale);
            }
            // The norm of the new perturbation, which the whole is scaled by.
            let mut squares = 0f64;
            for ch in 0..d.c {
                for y in 0..d.h {
                    for x in 0..d.w {
                        let v = if in_window(y, x, top, left) {
                            values[(ch * s + y - top) * s + x - left]
                        } else if in_window(y, x, top2, left2) {
                            0.0
                        } else {
                            delta(at(ch, y, x))
                        };
                        squares += f64::from(v).powi(2);
                    }
                }
            }
            let norm = squares.sqrt() as f32;
            let scale = if norm > 0.0 { settings.epsilon / norm } else { 0.0 };
            Proposal::L2 { top, left, top2, left2, side: s, values, scale }
        }
    }
}

/// Writes the candidate `proposal` makes of `best` into `out` (flat `[C, H, W]`).
fn apply(
    proposal: &Proposal,
    d: Dims,
    epsilon: f32,
    best: &[f32],
    clean: &[f32],
    input: &AttackInput<'_>,
    out: &mut [f32],
) {
    match proposal {
        Proposal::Linf { top, left, side, signs } => {
            out.copy_from_slice(best);
            for (ch, sign) in signs.iter().enumerate() {
                for y in *top..top + side {
                    for x in *left..left + side {
                        let k = (ch * d.h + y) * d.w + x;
                        out[k] = input.range.clamp(ch, clean[k] + sign * epsilon);
                    }
                }
            }
        }
        Proposal::L2 { top, left, top2, left2, side, values, scale } => {
            let s = *side;
            let in_window = |y: usize, x: usize, t: usize, l: usize| y >= t && y < t + s && x >= l && x < l + s;
            for ch in 0..d.c {
                for y in 0..d.h {
                    for x in 0..d.w {
                        let k = (ch * d.h + y) * d.w + x;
                        let delta = if in_window(y, x, *top, *left) {
                            values[(ch * s + y - top) * s + x - left]
                        } else if in_window(y, x, *top2, *left2) {
                            0.0
                        } else {
                            best[k] - clean[k]
                        };
                        out[k] = input.range.clamp(ch, clean[k] + scale * delta);
                    }
                }
            }
        }
    }
}

/// The paper's `pseudo_gaussian_pert_rectangles(x, y)`: concentric rectangles weighted
/// `1 / (r + 1)²`, unit L2 norm; `x` rows of `y`.
fn pseudo_gaussian(rows: usize, cols: usize) -> Vec<f32> {
    let mut delta = vec![0f64; rows * cols];
    if rows == 0 || cols == 0 {
        return Vec::new();
    }
    let (xc, yc) = (rows / 2 + 1, cols / 2 + 1);
    let (mut r0, mut c0) = (xc as i64 - 1, yc as i64 - 1);
    for counter in 0..xc.max(yc) {
        let span = 2 * counter as i64 + 1;
        let (ra, rb) = (r0.max(0) as usize, ((r0 + span).min(rows as i64)).max(0) as usize);
        let (ca, cb) = (c0.max(0) as usize, ((c0 + span).min(cols as i64)).max(0) as usize);
        for r in ra..rb {
            for c in ca..cb {
                delta[r * cols + c] += 1.0 / ((counter + 1) * (counter + 1)) as f64;
            }
        }
        r0 -= 1;
        c0 -= 1;
    }
    let norm = delta.iter().map(|v| v * v).sum::<f64>().sqrt();
    delta.iter().map(|v| if norm > 0.0 { (v / norm) as f32 } else { 0.0 }).collect()
}

/// The paper's `meta_pseudo_gaussian_pert(s)`: a positive bump over the top half and a negative
/// one over the bottom, unit L2 norm, transposed with probability one half.
fn meta_pseudo_gaussian(s: usize, rng: &mut ChaCha8Rng) -> Vec<f32> {
    let half = s / 2;
    let mut delta: Vec<f32> = pseudo_gaussian(half, s);
    delta.extend(pseudo_gaussian(s - half, s).into_iter().map(|v| -v));
    let norm = Norm::L2.size(delta.iter().copied());
    if norm > 0.0 {
        delta.iter_mut().for_each(|v| *v /= norm);
    }
    if rng.random::<f64>() > 0.5 {
        let copy = delta.clone();
        for r in 0..s {
            for c in 0..s {
                delta[r * s + c] = copy[c * s + r];
            }
        }
    }
    delta
}

#[cfg(test)]
mod tests;
