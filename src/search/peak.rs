//! Adversarial-peak search (after AEVA: Guo, Li & Liu, "AEVA: Black-box backdoor detection
//! using adversarial extreme value analysis", ICLR 2022): with class labels only, a backdoor's
//! target class is the one that small perturbations reach from everywhere *through the same few
//! pixels*: the trigger. So every class `t` is attacked from inputs of other classes with
//! targeted HopSkipJump ([`crate::attack::hopskipjump`], started from an image the model
//! already puts in `t`, as AEVA does), and each found perturbation δ is summarised by its
//! **peak**: the share of its mass (|δ| summed over channels, per pixel) in its `PEAK_PIXELS`
//! largest pixels (AEVA's `array_sort`, which uses the top 2). The class statistic is the mean
//! peak over the inputs attacked towards it (AEVA sums, per source class, the largest peak; with
//! about one input per source class here the two agree up to a constant), and the anomaly index
//! ([`super::anomaly`], high side) picks the class.
//!
//! The choice is then confirmed like every search's: the chosen class's perturbations are
//! turned into a trigger — the pixels holding half the mass of their mean normalised |δ| (at
//! most 1/16 of the image), each channel pushed to the extreme its mean δ points at — which the
//! runner stamps on held-out inputs against a matched control. The per-class description also
//! gives the median L2 size of the perturbations (how little it takes) and the length of their
//! mean direction (1 when every input is pushed the same way: how universal it is).
//!
//! Cost: `budget / (classes × inputs)` queries per attack, all attacks packed together into
//! full batches; memory: four images per attack.

use ndarray::{Array2, Array3, ArrayView3};

use super::{ClassCandidate, Images, Oracle, SearchInput, SearchOutcome, anomaly};
use crate::attack::AttackInput;
use crate::attack::hopskipjump::{self, Aim};
use crate::engine::EngineError;
use crate::transform::MaskedTrigger;

/// Pixels whose share of a perturbation's mass is its peak (AEVA's top 2).
const PEAK_PIXELS: usize = 2;
/// Share of the mean perturbation's mass the recovered trigger's pixels hold.
const TRIGGER_MASS: f64 = 0.5;

/// The search's settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Queries over every attack.
    pub budget: u64,
    /// Inputs attacked towards each class.
    pub inputs: usize,
}

/// The inputs attacked towards each class, with their targets and starting images.
struct Picked<'a> {
    images: &'a dyn Images,
    /// Per attack: the search image attacked.
    at: Vec<usize>,
}

impl Images for Picked<'_> {
    fn count(&self) -> usize {
        self.at.len()
    }

    fn image(&self, i: usize) -> ArrayView3<'_, f32> {
        self.images.image(self.at[i])
    }
}

/// Up to `m` search images whose clean class is not `t`, taken in turn from each other class so
/// that every source class is represented.
fn sources(clean: &[usize], classes: usize, t: usize, m: usize) -> Vec<usize> {
    let by_class: Vec<Vec<usize>> =
        (0..classes).map(|c| (0..clean.len()).filter(|&i| clean[i] == c && c != t).collect()).collect();
    let mut picked = Vec::with_capacity(m);
    for rank in 0.. {
        let before = picked.len();
        for members in &by_class {
            if picked.len() < m
                && let Some(&i) = members.get(rank)
            {
                picked.push(i);
            }
        }
        if picked.len() == m || picked.len() == before {
            break;
        }
    }
    picked
}

/// The share of `delta`'s mass (per pixel, summed over channels) in its largest pixels.
fn peak(delta: &[f32], channels: usize, plane: usize) -> f64 {
    let mut mass: Vec<f64> =
        (0..plane).map(|p| (0..channels).map(|c| f64::from(delta[c * plane + p].abs())).sum()).collect();
    let total: f64 = mass.iter().sum();
    if total == 0.0 {
        return 0.0;
    }
    mass.sort_by(|a, b| b.total_cmp(a));
    mass.iter().take(PEAK_PIXELS).sum::<f64>() / total
}

/// Searches every class; see the module docs.
pub fn search(
    oracle: &mut dyn Oracle,
    input: &SearchInput<'_>,
    settings: &Settings,
) -> Result<SearchOutcome, EngineError> {
    let n = input.images.count();
    let classes = input.classes;
    let (channels, h, w) = input.images.image(0).dim();
    let (plane, size) = (h * w, channels * h * w);
    let mut at = Vec::new();
    let mut targets = Vec::new();
    let mut start = Vec::new();
    let mut indices = Vec::new();
    for t in 0..classes {
        let own: Vec<usize> = (0..n).filter(|&i| input.clean[i] == t).collect();
        for (j, i) in sources(input.clean, classes, t, settings.inputs).into_iter().enumerate() {
            at.push(i);
            targets.push(t);
            start.push((!own.is_empty()).then(|| own[j % own.len()]));
            // Each attack's generator: the class and the image, so none shares another's.
            indices.push(t * n + i);
        }
    }
    let picked = Picked { images: input.images, at };
    let clean: Vec<usize> = picked.at.iter().map(|&i| input.clean[i]).collect();
    let attacks = picked.at.len().max(1) as u64;
    let hsj = hopskipjump::Settings {
        // Never stop early: the search wants each attack's smallest perturbation.
        epsilon: 0.0,
        queries: u32::try_from(settings.budget / attacks).unwrap_or(u32::MAX).max(1),
        targeted: true,
        init_evals: 100,
    };
    let attack_input = AttackInput {
        images: &picked,
        indices: &indices,
        clean: &clean,
        classes,
        range: input.range,
        seed: input.seed,
        key: input.key,
    };
    let aim = Aim { targets: &targets, starts: input.images, start: &start };
    let walk = hopskipjump::walk(oracle, &attack_input, &hsj, Some(&aim))?;
    let queries = walk.attempts.iter().map(|a| u64::from(a.queries)).sum();

    let mut candidates = Vec::with_capacity(classes);
    for t in 0..classes {
        // The perturbations that reached class t, as (δ, its L2 size).
        let mut deltas: Vec<(Vec<f32>, f64)> = Vec::new();
        let mut attempted = 0usize;
        for (k, &target) in targets.iter().enumerate() {
            if target != t {
                continue;
            }
            attempted += 1;
            if !walk.found[k] {
                continue;
            }
            let original = picked.image(k);
            let best = &walk.best[k * size..(k + 1) * size];
            let delta: Vec<f32> = best.iter().zip(original.iter()).map(|(a, x)| a - x).collect();
            let length = f64::from(crate::attack::Norm::L2.size(delta.iter().copied()));
            if length > 0.0 {
                deltas.push((delta, length));
            }
        }
        let peaks: Vec<f64> = deltas.iter().map(|(d, _)| peak(d, channels, plane)).collect();
        let statistic = if peaks.is_empty() { 0.0 } else { peaks.iter().sum::<f64>() / peaks.len() as f64 };
        let sizes: Vec<f64> = deltas.iter().map(|(_, l)| *l).collect();
        let median = crate::stats::median(&sizes).unwrap_or(f64::NAN);
        // The mean unit direction: its length says how alike the perturbations are.
        let mut direction = vec![0f64; size];
        for (d, l) in &deltas {
            for (m, v) in direction.iter_mut().zip(d) {
                *m += f64::from(*v) / l / deltas.len() as f64;
            }
        }
        let universality = direction.iter().map(|v| v * v).sum::<f64>().sqrt();
        let trigger = trigger(&direction, channels, h, w);
        let found = deltas.len();
        let description = format!(
            "peak {statistic:.3}, median L2 {median:.3}, universality {universality:.2}, \
             {found}/{attempted} inputs reached, {} px",
            trigger.mask_l1()
        );
        candidates.push(ClassCandidate {
            class: t,
            trigger,
            attack_success_rate: if attempted == 0 { 0.0 } else { found as f64 / attempted as f64 },
            statistic,
            description,
        });
    }
    let statistics: Vec<f64> = candidates.iter().map(|c| c.statistic).collect();
    let anomaly_index = anomaly(&statistics, true);
    let chosen = (0..classes).fold(0, |best, k| if anomaly_index[k] > anomaly_index[best] { k } else { best });
    Ok(SearchOutcome {
        method: "adversarial-peak",
        statistic: "mean adversarial peak",
        candidates,
        anomaly_index,
        chosen,
        queries,
        coverage: None,
    })
}

/// The trigger a class's mean perturbation direction points at: the pixels holding
/// `TRIGGER_MASS` of its mass (at least one, at most 1/16 of the image), each channel set to
/// the end of the range the direction pushes it towards.
fn trigger(direction: &[f64], channels: usize, h: usize, w: usize) -> MaskedTrigger {
    let plane = h * w;
    let mass: Vec<f64> = (0..plane).map(|p| (0..channels).map(|c| direction[c * plane + p].abs()).sum()).collect();
    let total: f64 = mass.iter().sum();
    let mut order: Vec<usize> = (0..plane).collect();
    order.sort_by(|&a, &b| mass[b].total_cmp(&mass[a]).then(a.cmp(&b)));
    let most = (plane / 16).max(1);
    let mut mask = Array2::<f32>::zeros((h, w));
    let mut held = 0.0;
    for &p in order.iter().take(most) {
        if total > 0.0 && held >= TRIGGER_MASS * total {
            break;
        }
        mask[[p / w, p % w]] = 1.0;
        held += mass[p];
    }
    let pattern =
        Array3::from_shape_fn(
            (channels, h, w),
            |(c, y, x)| {
                if direction[c * plane + y * w + x] > 0.0 { 1.0 } else { 0.0 }
            },
        );
    MaskedTrigger::new(mask, pattern).expect("a mask and pattern in [0, 1] of one size")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_take_each_other_class_in_turn() {
        let clean = [0, 0, 1, 1, 2, 2, 2];
        assert_eq!(sources(&clean, 3, 0, 3), vec![2, 4, 3]);
        assert_eq!(sources(&clean, 3, 1, 10), vec![0, 4, 1, 5, 6]);
        assert_eq!(sources(&clean, 3, 2, 0), Vec::<usize>::new());
    }

    #[test]
    fn the_peak_is_the_share_of_the_two_largest_pixels() {
        // Two channels of four pixels: per-pixel mass 3, 1, 4, 2 (total 10); top two 4 + 3.
        let delta = [1.0, -1.0, 2.0, 0.0, -2.0, 0.0, 2.0, 2.0];
        assert!((peak(&delta, 2, 4) - 0.7).abs() < 1e-12);
        assert_eq!(peak(&[0.0; 4], 1, 4), 0.0);
    }

    #[test]
    fn the_trigger_covers_the_heaviest_pixels_and_pushes_each_channel_its_way() {
        // 1 channel, 8x8: three heavy pixels hold most of the mass; the cap is 4 pixels.
        let mut direction = vec![0.01; 64];
        direction[9] = 0.5;
        direction[10] = -0.4;
        direction[17] = 0.3;
        let t = trigger(&direction, 1, 8, 8);
        let on: Vec<usize> = (0..64).filter(|&p| t.mask[[p / 8, p % 8]] > 0.0).collect();
        // 0.5 + 0.4 is just short of half of 1.81; the third pixel makes it.
        assert_eq!(on, vec![9, 10, 17]);
        assert_eq!((t.pattern[[0, 1, 1]], t.pattern[[0, 1, 2]], t.pattern[[0, 2, 1]]), (1.0, 0.0, 1.0));
    }
}
